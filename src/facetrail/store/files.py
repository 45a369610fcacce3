"""Writing files under a home atomically and privately (temp file, fsync, rename, 0600).

Whatever the umask: files are created 0600 and folders 0700, so no other local user can
read a photo, a template, an index or the database.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

TEMP_PREFIX = ".incoming-"
STALE_TEMP_SECONDS = 3600.0  # a temp file untouched this long is left by a killed writer
FILE_MODE = 0o600
FOLDER_MODE = 0o700


def private_dirs(path: Path) -> None:
    """Create `path` and its missing parents as 0700 folders (umask notwithstanding)."""
    if path.is_dir():
        return
    missing = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):
            folder.mkdir(mode=FOLDER_MODE)
            os.chmod(folder, FOLDER_MODE)


def make_private(path: Path) -> None:
    """Tighten an existing file (0600) or folder (0700) we own; others are left as they are."""
    with contextlib.suppress(OSError):
        os.chmod(path, FOLDER_MODE if path.is_dir() else FILE_MODE)


def private_file(path: Path) -> None:
    """Create `path` empty as a 0600 file if missing (so later opens keep that mode)."""
    private_dirs(path.parent)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    make_private(path)


def write_atomic(path: Path, data: bytes) -> None:
    """Write bytes to path via a 0600 temp file in the same folder, fsync and rename."""
    with atomic_writer(path) as stream:
        stream.write(data)


@contextmanager
def atomic_writer(path: Path) -> Iterator[BinaryIO]:
    """A stream to a 0600 temp file beside `path`; on a clean exit it is fsynced and renamed
    over `path`, on an exception removed (`path` is never left half written)."""
    private_dirs(path.parent)
    handle, temp_name = tempfile.mkstemp(dir=path.parent, prefix=TEMP_PREFIX)
    try:
        os.fchmod(handle, FILE_MODE)
        with os.fdopen(handle, "wb") as stream:
            yield stream
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
