"""`facetrail serve`: the REST API and the web console over HTTP."""

from __future__ import annotations

from typing import Annotated

import typer

from facetrail.interfaces.cli.support import HomeOption, err, resolved_home


def serve(
    host: Annotated[str, typer.Option("--host", help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port", min=1, max=65535)] = 8080,
    workers: Annotated[
        int, typer.Option("--workers", help="worker processes (each loads its own kernel)", min=1)
    ] = 1,
    home: HomeOption = None,
) -> None:
    """Serve the API (/api/v1, OpenAPI at /api/v1/openapi.json) and the console (/)."""
    from facetrail.interfaces.api.server import serve as run_server

    err.print(f"facetrail: serving on http://{host}:{port}/ (Ctrl-C stops)")
    run_server(resolved_home(home), host, port, workers)
