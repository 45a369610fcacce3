"""Logging for the command line: standard `logging`, plain or JSON lines, on stderr.

Log lines name operations, actors, ids and timings only, never biometric data.
"""

from __future__ import annotations

import json
import logging
import os
import sys

from facetrail.errors import InvalidInputError

_PLAIN = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonLines(logging.Formatter):
    """One JSON object per record: time, level, logger, message."""

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(
            {
                "time": self.formatTime(record),
                "level": record.levelname,
                "logger": record.name,
                "message": record.getMessage(),
            },
            ensure_ascii=False,
        )


def configure_logging(level: str | None, as_json: bool) -> None:
    """Send facetrail's log records to stderr at `level` (default $FACETRAIL_LOG_LEVEL)."""
    chosen = (level or os.environ.get("FACETRAIL_LOG_LEVEL") or "WARNING").upper()
    numeric = logging.getLevelName(chosen)
    if not isinstance(numeric, int):
        raise InvalidInputError(f"--log-level must be DEBUG, INFO, WARNING or ERROR, got {level!r}")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLines() if as_json else logging.Formatter(_PLAIN))
    logger = logging.getLogger("facetrail")
    logger.handlers = [handler]
    logger.setLevel(numeric)
    logger.propagate = False
