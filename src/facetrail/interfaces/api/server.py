"""`facetrail serve`: uvicorn over the app, one kernel per worker process."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import uvicorn

from facetrail.config import Settings
from facetrail.core.kernel import Kernel
from facetrail.errors import InvalidInputError
from facetrail.interfaces.api.auth import SINGLE_OPERATOR_NOTICE, is_loopback

log = logging.getLogger(__name__)

FACTORY = "facetrail.interfaces.api.app:app_from_environment"


def check_serving(settings: Settings, host: str) -> str:
    """Refuse to serve a home without accounts beyond loopback; the mode line to print."""
    kernel = Kernel(settings)
    try:
        accounts = kernel.accounts_exist()
    finally:
        kernel.close()
    if accounts:
        return "accounts: every call needs a bearer token or a console sign-in"
    if not is_loopback(host):
        raise InvalidInputError(
            f"this home has no user accounts, so it serves loopback only (not --host {host}):"
            " create the first administrator with `facetrail users bootstrap`, or use"
            " --host 127.0.0.1"
        )
    return SINGLE_OPERATOR_NOTICE


def serve(home: Path | None, host: str, port: int, workers: int, log_level: str = "info") -> None:
    """Serve the home on host:port with `workers` processes (blocks until stopped)."""
    if home is not None:
        os.environ["FACETRAIL_HOME"] = str(Path(home).expanduser())
    settings = Settings()
    mode = check_serving(settings, host)
    log.warning("facetrail serving %s on http://%s:%d (%s)", settings.home, host, port, mode)
    uvicorn.run(
        FACTORY,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        access_log=False,  # our metrics count requests; URLs never carry secrets anyway
        proxy_headers=False,
    )
