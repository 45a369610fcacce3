"""Reading an input file safely: say what a path is before opening it, never block on it.

A path is looked at with lstat first so a dangling symbolic link, a named pipe, a socket
or a device is named as such; it is then opened non-blocking (a FIFO swapped in after the
check cannot hang the reader) and checked again with fstat on the open descriptor.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from facetrail.errors import ImageError

# What a non-regular file is, by its stat type test; the reason says what to pass instead.
SPECIAL_FILE_KINDS: tuple[tuple[str, str], ...] = (
    ("S_ISDIR", "is a directory, not an image file; pass a file inside it"),
    ("S_ISFIFO", "is a named pipe (FIFO), not a regular file; pass an image file"),
    ("S_ISSOCK", "is a socket, not a regular file; pass an image file"),
    ("S_ISCHR", "is a character device, not a regular file; pass an image file"),
    ("S_ISBLK", "is a block device, not a regular file; pass an image file"),
)
OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)


def _refuse_special(info: os.stat_result, label: str) -> None:
    """ImageError naming the kind of file when `info` is not a regular file."""
    if stat.S_ISREG(info.st_mode):
        return
    for test, reason in SPECIAL_FILE_KINDS:
        if getattr(stat, test)(info.st_mode):
            raise ImageError(label, reason)
    raise ImageError(label, "is not a regular file; pass an image file")


def stat_regular(path: Path, label: str) -> os.stat_result:
    """The stat of the file `path` names, or an ImageError saying what it is instead."""
    try:
        link = path.lstat()
    except (FileNotFoundError, NotADirectoryError) as error:
        raise ImageError(label, "file not found; check the path") from error
    except OSError as error:
        raise ImageError(
            label, f"cannot access the file ({error.strerror}); check permissions"
        ) from error
    if not stat.S_ISLNK(link.st_mode):
        _refuse_special(link, label)
        return link
    try:
        info = path.stat()
    except (FileNotFoundError, NotADirectoryError) as error:
        raise ImageError(
            label, "is a symbolic link to a file that does not exist; fix or remove the link"
        ) from error
    except OSError as error:  # ELOOP, EACCES on the target
        raise ImageError(
            label, f"symbolic link cannot be followed ({error.strerror}); fix the link"
        ) from error
    _refuse_special(info, label)
    return info


def _open_descriptor(path: Path) -> int:
    """A read-only, non-blocking descriptor for `path` (a seam for permission tests)."""
    return os.open(path, OPEN_FLAGS)


def read_regular(path: Path, label: str, expected: os.stat_result, head: int = 0) -> bytes:
    """The bytes (the first `head` only, if given) of the file `stat_regular` vouched for."""
    try:
        descriptor = _open_descriptor(path)
    except OSError as error:
        raise ImageError(
            label, f"cannot read the file ({error.strerror}); check permissions"
        ) from error
    with os.fdopen(descriptor, "rb") as handle:
        info = os.fstat(descriptor)
        _refuse_special(info, label)  # something else was swapped in after the check
        try:
            # read(n) allocates n bytes up front: ask for the stat size, +1 to notice growth
            data = handle.read(head or expected.st_size + 1)
        except OSError as error:
            raise ImageError(
                label, f"cannot read the file ({error.strerror}); check permissions"
            ) from error
    if not head and (len(data) != expected.st_size or info.st_size != expected.st_size):
        raise ImageError(
            label, "file changed while it was being read; try again once it is written"
        )
    return data
