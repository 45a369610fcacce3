"""A real facetrail server on a free loopback port (uvicorn in a thread), and its clients."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from facetrail.config import Settings
from facetrail.interfaces.api import create_app

PASSWORD = "a long enough password"


def free_port() -> int:
    """A TCP port nothing listens on now (the OS picks it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class LiveServer:
    """uvicorn serving the app for one home, in a thread, on 127.0.0.1:<free port>."""

    def __init__(self, settings: Settings, **app_options: Any) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.app = create_app(settings, **app_options)
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="uvicorn", daemon=True)

    def start(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)

    @property
    def state(self) -> Any:
        return self.app.state.facetrail

    def client(self, token: str | None = None, **options: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=120, **options)


@contextmanager
def live_server(settings: Settings, **app_options: Any) -> Iterator[LiveServer]:
    """A started LiveServer, stopped afterwards."""
    server = LiveServer(settings, **app_options).start()
    try:
        yield server
    finally:
        server.stop()


def settings_for(home: Path, database_url: str | None = None) -> Settings:
    """Settings of a test home (SQLite under it, or the given database)."""
    return Settings(home=home, database_url=database_url)


def photo(faces_dir: Path, person: str, number: int = 1) -> Path:
    """The person's n-th photo (sorted by name) in the deepface set."""
    return sorted((faces_dir / "deepface" / person).glob("*.jpg"))[number - 1]
