"""Writing files under a home atomically and privately (temp file, fsync, rename, 0600)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

TEMP_PREFIX = ".incoming-"


def write_atomic(path: Path, data: bytes) -> None:
    """Write bytes to path via a temp file in the same folder, fsync and rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(dir=path.parent, prefix=TEMP_PREFIX)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
