"""Key rotation: re-seal every stored template and biometric file under the current key."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel
from sqlalchemy import LargeBinary, column, inspect, select, table, update

from facetrail.core.access import ADMINISTRATOR, declare, requires
from facetrail.core.context import Context
from facetrail.core.kernel import Kernel
from facetrail.core.sealed_home import record_rotation
from facetrail.errors import InvalidInputError
from facetrail.security.keyring import Keyring
from facetrail.store.database import Database
from facetrail.store.files import write_atomic

ROTATE = declare(
    "keys.rotate", "re-encrypt stored biometric data under the current key", (ADMINISTRATOR,)
)

ROTATE_BATCH = 1000  # templates re-sealed per transaction
# Folders under the home whose files hold biometric data (alert crops included).
SEALED_FOLDERS = ("photos", "index", "alerts", "watchlists")
# Tables whose blob column holds sealed template vectors (the second is live recognition's).
SEALED_COLUMNS = (("templates", "vector"), ("watchlist_frozen_templates", "vector"))
_SKIPPED_SUFFIXES = (".lock", ".tmp")


class RotationReport(BaseModel):
    current_key: str
    templates_resealed: int
    files_resealed: int
    templates_total: int
    files_total: int


def reseal_file(path: Path, keyring: Keyring) -> bool:
    """Re-seal one file under the current key if it is not already; True if rewritten."""
    data = path.read_bytes()
    if keyring.sealed_with_current(data):
        return False
    write_atomic(path, keyring.seal(keyring.open(data, f"file {path}")))
    return True


def _reseal_column(
    database: Database, table_name: str, column_name: str, keyring: Keyring
) -> tuple[int, int]:
    """Re-seal one blob column in batches; returns (re-sealed, seen)."""
    rows_table = table(table_name, column("id"), column(column_name, LargeBinary()))
    key, blob_column = rows_table.c.id, rows_table.c[column_name]
    resealed = seen = last_id = 0
    while True:
        with database.transaction() as session:
            rows = session.execute(
                select(key, blob_column).where(key > last_id).order_by(key).limit(ROTATE_BATCH)
            ).all()
            for row_id, blob in rows:
                seen += 1
                if blob is not None and not keyring.sealed_with_current(blob):
                    plain = keyring.open(blob, f"{table_name} {row_id}")
                    session.execute(
                        update(rows_table)
                        .where(key == row_id)
                        .values({column_name: keyring.seal(plain)})
                    )
                    resealed += 1
        if len(rows) < ROTATE_BATCH:
            return resealed, seen
        last_id = rows[-1][0]


def rotate(database: Database, home: Path, keyring: Keyring) -> RotationReport:
    """Re-seal every template vector and biometric file not sealed under the current key.

    Crash-safe: each item names its key, so a rerun finishes what an interrupted one left.
    """
    resealed = total = 0
    for table_name, column_name in SEALED_COLUMNS:
        if inspect(database.engine).has_table(table_name):
            done, seen = _reseal_column(database, table_name, column_name, keyring)
            resealed += done
            total += seen
    files = files_resealed = 0
    for folder in SEALED_FOLDERS:
        root = home / folder
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*")):
            if not path.is_file() or path.name.startswith(".") or path.suffix in _SKIPPED_SUFFIXES:
                continue
            files += 1
            files_resealed += reseal_file(path, keyring)
    return RotationReport(
        current_key=keyring.fingerprints[0],
        templates_resealed=resealed,
        files_resealed=files_resealed,
        templates_total=total,
        files_total=files,
    )


class KeyService:
    """Key rotation for a home (administrators only)."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel

    @requires(ROTATE)
    def rotate(self, context: Context) -> RotationReport:
        """Re-seal everything under the first key of the configured keyring (audited)."""
        keyring = self.kernel.keyring
        if keyring is None:
            raise InvalidInputError(
                "no encryption key is configured: set $FACETRAIL_KEY or $FACETRAIL_KEY_FILE"
                " (new key first, old keys after it)"
            )
        report = rotate(self.kernel.database, self.kernel.home, keyring)
        record_rotation(self.kernel.home, keyring)
        with self.kernel.unit_of_work(context) as work:
            work.audit("keys.rotate", details=report.model_dump())
        return report
