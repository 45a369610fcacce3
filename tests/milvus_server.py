"""A real `milvus-lite server` process for tests: start, wait until it answers, kill, restart."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

STARTUP_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0
POLL_S = 0.05
HOST = "127.0.0.1"


def milvus_lite_command() -> str | None:
    """The `milvus-lite` console script beside this Python, else on PATH."""
    beside = Path(sys.executable).with_name("milvus-lite")
    return str(beside) if beside.exists() else shutil.which("milvus-lite")


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class MilvusServer:
    """One `milvus-lite server --data-dir DIR --port PORT` process (loopback only)."""

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.startup_s = 0.0

    @property
    def url(self) -> str:
        """The `milvus://host:port` URL MilvusIndex takes."""
        return f"milvus://{HOST}:{self.port}"

    @property
    def log_path(self) -> Path:
        """Where the server's stdout and stderr go."""
        return self.data_dir.with_name(self.data_dir.name + ".log")

    def command(self) -> list[str]:
        """The contract command line, bound to loopback."""
        exe = milvus_lite_command()
        if exe is None:
            raise RuntimeError("milvus-lite is not installed (pip install milvus-lite)")
        contract = [exe, "server", "--data-dir", str(self.data_dir), "--port", str(self.port)]
        return [*contract, "--host", HOST]

    def start(self) -> MilvusServer:
        """Start the process and wait until it answers a version request."""
        from pymilvus import MilvusClient

        started = time.monotonic()
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT)
        deadline = started + STARTUP_TIMEOUT_S
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"milvus-lite server exited with {self.process.returncode}: {self.log()}"
                )
            try:
                client = MilvusClient(uri=f"http://{HOST}:{self.port}", timeout=1.0)
                client.get_server_version()
                client.close()
                break
            except Exception as exc:
                if time.monotonic() > deadline:
                    self.kill()
                    raise RuntimeError(f"milvus-lite server did not answer: {exc}") from exc
                time.sleep(POLL_S)
        self.startup_s = time.monotonic() - started
        return self

    def log(self) -> str:
        """The tail of the server's log."""
        return self.log_path.read_text(errors="replace")[-2000:] if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL the process (a crash: no shutdown, no flush) and reap it."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process = None

    def stop(self) -> None:
        """Stop gracefully (SIGINT: the server drains and closes its data dir), else kill."""
        if self.process is None or self.process.poll() is not None:
            self.process = None
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.kill()
        self.process = None

    def restart(self) -> MilvusServer:
        """Start a new process on the same data dir and port."""
        self.stop()
        return self.start()


def started_server(data_dir: Path) -> MilvusServer:
    """A started server on data_dir, or a pytest skip saying why milvus-lite cannot run."""
    if milvus_lite_command() is None:
        pytest.skip("milvus-lite is not installed: pip install milvus-lite (see pyproject.toml)")
    server = MilvusServer(data_dir)
    try:
        return server.start()
    except (RuntimeError, OSError) as exc:
        pytest.skip(f"milvus-lite server cannot start on this machine: {exc}")


@pytest.fixture(scope="session")
def milvus_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MilvusServer]:
    """A session-wide milvus-lite server on a free loopback port and a temp data dir."""
    server = started_server(tmp_path_factory.mktemp("milvus") / "data")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def milvus_url(milvus_server: MilvusServer) -> str:
    """The session server's `milvus://127.0.0.1:PORT` URL."""
    return milvus_server.url
