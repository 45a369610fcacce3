"""Transaction files on disk: recognise them and read them with the size checked first."""

from __future__ import annotations

import stat
from pathlib import Path

from facetrail.errors import RecordError
from facetrail.records.model import DEFAULT_RECORD_LIMITS, RecordLimits, Transaction
from facetrail.records.reader import read_transaction

EXTENSIONS = frozenset({".an2", ".eft", ".nist", ".int"})
MAGIC = b"1.001:"


def is_transaction_file(path: Path) -> bool:
    """True for a regular file named .an2/.eft/.nist/.int or starting with '1.001:'."""
    try:
        if not path.is_file():
            return False
        if path.suffix.lower() in EXTENSIONS:
            return True
        with path.open("rb") as handle:
            return handle.read(len(MAGIC)) == MAGIC
    except OSError:
        return False


def read_transaction_file(
    path: Path, *, limits: RecordLimits = DEFAULT_RECORD_LIMITS
) -> Transaction:
    """Read and validate the transaction in `path`; RecordError when it cannot be."""
    label = str(path)
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise RecordError(label, "file", None, "is not a regular file")
        if info.st_size > limits.max_bytes:
            raise RecordError(
                label, "file", None, f"is {info.st_size} bytes, over the {limits.max_bytes} limit"
            )
        with path.open("rb") as handle:
            data = handle.read(info.st_size + 1)
    except OSError as error:
        raise RecordError(label, "file", None, f"cannot be read ({error.strerror})") from error
    return read_transaction(data, label, limits=limits)
