"""Writing files under a home atomically and privately (temp file, fsync, rename, 0600)."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

TEMP_PREFIX = ".incoming-"
STALE_TEMP_SECONDS = 3600.0  # a temp file untouched this long is left by a killed writer


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


def remove_stale_temp_files(folder: Path, older_than: float = STALE_TEMP_SECONDS) -> int:
    """Delete temp files under `folder` left by killed writers (untouched for `older_than` s)."""
    if not folder.is_dir():
        return 0
    cutoff = time.time() - older_than
    removed = 0
    for path in folder.rglob(f"{TEMP_PREFIX}*"):
        try:
            if path.is_file() and not path.is_symlink() and path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:  # another run cleaned or renamed it just now
            continue
    return removed
