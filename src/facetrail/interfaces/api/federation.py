"""The federation endpoint as a FastAPI router, and a small app serving only it.

`facetrail serve` includes `router` (outside its OpenAPI document) and sets
`app.state.federation` to a `Facetrail` on its kernel; `facetrail federation serve` (or
`python -m facetrail.interfaces.api.federation --home H --port P`) serves only this router.
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from starlette.concurrency import run_in_threadpool

import facetrail
from facetrail.facade import Facetrail
from facetrail.security.messages import MAX_BODY, SENDER_HEADER, SIGNATURE_HEADER, Signed
from facetrail.services.federation_wire import MESSAGES_PATH

router = APIRouter(tags=["federation"])


def _application(request: Request) -> Facetrail:
    return request.app.state.federation  # type: ignore[no-any-return]


@router.post(MESSAGES_PATH, summary="a partner's signed step-1 or step-2 message")
async def messages(request: Request) -> Response:
    """Check and answer one message; the exact bytes received are what is verified."""
    body = await request.body()
    if len(body) > MAX_BODY:
        return Response("message too large", status_code=413)
    signed = Signed(
        body, request.headers.get(SENDER_HEADER, ""), request.headers.get(SIGNATURE_HEADER)
    )
    application = _application(request)
    answer = await run_in_threadpool(application.answering.answer, signed)
    return Response(
        content=answer.signed.body,
        status_code=answer.http_status,
        headers=answer.signed.headers(),
        media_type="application/json",
    )


@router.get("/federation/v1/node", summary="this node's public identity")
def node(request: Request) -> dict[str, Any]:
    """Name, Ed25519 public key and fingerprints (what partners register)."""
    info = _application(request).node.service.published()
    return info.model_dump(include={"name", "public_key", "fingerprint", "tls_fingerprint"})


def create_app(home: Path) -> FastAPI:
    """An app serving only the federation router for the home (opened, never created)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.federation = facetrail.open(home, create=False)
        try:
            yield
        finally:
            app.state.federation.close()

    app = FastAPI(title="facetrail federation node", lifespan=lifespan)
    app.include_router(router)
    return app


def serve(home: Path, host: str, port: int, tls: bool = False) -> None:
    """Run the federation app under uvicorn until interrupted."""
    import uvicorn

    options: dict[str, Any] = {}
    if tls:
        folder = home / "federation"
        options = {
            "ssl_certfile": str(folder / "tls_cert.pem"),
            "ssl_keyfile": str(folder / "tls_key.pem"),
        }
    uvicorn.run(create_app(home), host=host, port=port, log_level="warning", **options)


def main(argv: list[str] | None = None) -> None:
    """`python -m facetrail.interfaces.api.federation --home H --port P`."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tls", action="store_true")
    options = parser.parse_args(argv)
    serve(options.home, options.host, options.port, options.tls)


if __name__ == "__main__":
    main()
