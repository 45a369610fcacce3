"""Encryption at rest: AES-256-GCM for template vectors, photos, index files and alert crops.

The key comes from `$FACETRAIL_KEY` or the file named by `$FACETRAIL_KEY_FILE`: one or more
keys (url-safe base64 of 32 random bytes, `facetrail keys generate`), separated by commas
or newlines, the first being the current one. Each sealed item names the key that sealed
it, so after putting a new key first, `facetrail keys rotate` re-seals everything under
it while the old keys still open what is not yet re-sealed; then the old keys can go.

Sealed format: MAGIC (6 bytes) | key id (8) | nonce (12) | AES-GCM ciphertext + tag; the
first 14 bytes are authenticated too. Without a key nothing is sealed and stored bytes
stay exactly as before; bytes that do not start with MAGIC are read as plaintext.

The keyring is process-wide (`install` / `uninstall`): one key configuration per process.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import secrets
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import BaseModel
from sqlalchemy import LargeBinary, column, inspect, select, table, update

from facetrail.errors import InvalidInputError, StoreError
from facetrail.services.audit import append_audit
from facetrail.store.database import Database

if TYPE_CHECKING:
    from facetrail.services.app import Facetrail

MAGIC = b"FTENC1"
KEY_BYTES = 32
KEY_ID_BYTES = 8
NONCE_BYTES = 12
HEADER_BYTES = len(MAGIC) + KEY_ID_BYTES
_KEY_SEPARATORS = re.compile(r"[\s,]+")


def generate_key() -> str:
    """A new random key, url-safe base64 (store it like a password)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode()


def key_id(key: bytes) -> bytes:
    """A short public name for a key (does not reveal it)."""
    return hashlib.sha256(b"facetrail-key-id:" + key).digest()[:KEY_ID_BYTES]


@dataclass(frozen=True)
class Keyring:
    """Keys by id; the first given is the one new data is sealed with."""

    keys: tuple[bytes, ...]

    def __post_init__(self) -> None:
        if not self.keys:
            raise InvalidInputError("an encryption keyring needs at least one key")

    @property
    def current_id(self) -> bytes:
        return key_id(self.keys[0])

    @property
    def fingerprints(self) -> list[str]:
        """Key ids as hex, current first (safe to print)."""
        return [key_id(k).hex() for k in self.keys]

    def seal(self, data: bytes) -> bytes:
        """Encrypt and authenticate `data` under the current key."""
        header = MAGIC + self.current_id
        nonce = secrets.token_bytes(NONCE_BYTES)
        return header + nonce + AESGCM(self.keys[0]).encrypt(nonce, data, header)

    def open(self, blob: bytes, what: str = "data") -> bytes:
        """Decrypt a sealed blob with whichever key sealed it (plaintext passes through)."""
        if not is_sealed(blob):
            return blob
        wanted = blob[len(MAGIC) : HEADER_BYTES]
        for key in self.keys:
            if key_id(key) == wanted:
                nonce = blob[HEADER_BYTES : HEADER_BYTES + NONCE_BYTES]
                try:
                    return AESGCM(key).decrypt(
                        nonce, blob[HEADER_BYTES + NONCE_BYTES :], blob[:HEADER_BYTES]
                    )
                except InvalidTag:
                    raise StoreError(
                        f"{what} is corrupt or was altered (decryption failed)"
                    ) from None
        raise StoreError(
            f"{what} is encrypted with key {wanted.hex()}, which is not in the configured"
            " keyring ($FACETRAIL_KEY / $FACETRAIL_KEY_FILE)"
        )

    def sealed_with_current(self, blob: bytes) -> bool:
        return is_sealed(blob) and blob[len(MAGIC) : HEADER_BYTES] == self.current_id


def is_sealed(blob: bytes) -> bool:
    """Whether bytes are in the sealed format."""
    return len(blob) > HEADER_BYTES + NONCE_BYTES and blob[: len(MAGIC)] == MAGIC


def parse_keyring(text: str, source: str) -> Keyring:
    """Keys from text (comma/newline separated, '#' comments); names the source on error."""
    lines = [line.split("#", 1)[0] for line in text.splitlines()]
    tokens = [t for t in _KEY_SEPARATORS.split(" ".join(lines)) if t]
    keys = []
    for number, token in enumerate(tokens, 1):
        try:
            raw = base64.urlsafe_b64decode(token.encode())
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) != KEY_BYTES:
            raise InvalidInputError(
                f"key {number} in {source} is not url-safe base64 of {KEY_BYTES} bytes"
                " (make one with `facetrail keys generate`)"
            )
        keys.append(raw)
    if not keys:
        raise InvalidInputError(f"{source} holds no key")
    return Keyring(tuple(keys))


def load_keyring(key: str | None, key_file: Path | None) -> Keyring | None:
    """The keyring from a key string or a key file (the string wins); None when neither."""
    if key:
        return parse_keyring(key, "$FACETRAIL_KEY")
    if key_file is not None:
        try:
            text = Path(key_file).expanduser().read_text()
        except OSError as error:
            raise InvalidInputError(f"cannot read key file {key_file}: {error.strerror}") from None
        return parse_keyring(text, f"key file {key_file}")
    return None


_lock = threading.Lock()
_installed: list[Keyring] = []


def install(keyring: Keyring) -> None:
    """Make `keyring` the process's keyring (until `uninstall`)."""
    with _lock:
        _installed.append(keyring)


def uninstall(keyring: Keyring) -> None:
    """Undo one `install` of `keyring`."""
    with _lock:
        for position in range(len(_installed) - 1, -1, -1):
            if _installed[position] is keyring:
                del _installed[position]
                return


def active() -> Keyring | None:
    """The process's keyring, or None when encryption at rest is off."""
    with _lock:
        return _installed[-1] if _installed else None


def seal(data: bytes) -> bytes:
    """`data` sealed under the active keyring, unchanged when encryption is off."""
    keyring = active()
    return keyring.seal(data) if keyring else data


def unseal(blob: bytes, what: str = "data") -> bytes:
    """The plaintext of a stored blob (sealed or not)."""
    if not is_sealed(blob):
        return blob
    keyring = active()
    if keyring is None:
        raise StoreError(
            f"{what} is encrypted at rest; set $FACETRAIL_KEY or $FACETRAIL_KEY_FILE to read it"
        )
    return keyring.open(blob, what)


def write_atomic(path: Path, data: bytes) -> None:
    """Write bytes to path via a temp file in the same folder, fsync and rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(dir=path.parent, prefix=".incoming-")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


# -- rotation ---------------------------------------------------------------------------

ROTATE_BATCH = 1000  # templates re-sealed per transaction
# Folders under the home whose files hold biometric data (alert crops included).
SEALED_FOLDERS = ("photos", "index", "alerts", "watchlists")
# Tables whose blob column holds sealed template vectors (the second is live recognition's).
SEALED_COLUMNS = (("templates", "vector"), ("frozen_templates", "vector"))
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

    def __init__(self, app: Facetrail) -> None:
        self.app = app

    def rotate(self) -> RotationReport:
        """Re-seal everything under the first key of the configured keyring (audited)."""
        self.app.require("keys.rotate")
        keyring = self.app.keyring
        if keyring is None:
            raise InvalidInputError(
                "no encryption key is configured: set $FACETRAIL_KEY or $FACETRAIL_KEY_FILE"
                " (new key first, old keys after it)"
            )
        report = rotate(self.app.database, self.app.settings.home, keyring)
        with self.app.database.transaction() as session:
            append_audit(
                session,
                actor=self.app.actor,
                action="keys.rotate",
                outcome="ok",
                details=report.model_dump(),
            )
        return report
