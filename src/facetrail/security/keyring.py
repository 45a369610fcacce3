"""Keys for encryption at rest: AES-256-GCM for templates, photos, index files, alert crops.

The key comes from `$FACETRAIL_KEY` or the file named by `$FACETRAIL_KEY_FILE`: one or more
keys (url-safe base64 of 32 random bytes, `facetrail keys generate`), separated by commas
or newlines, the first being the current one. Each sealed item names the key that sealed
it, so after putting a new key first, `facetrail keys rotate` re-seals everything under
it while the old keys still open what is not yet re-sealed; then the old keys can go.

Sealed format: MAGIC (6 bytes) | key id (8) | nonce (12) | AES-GCM ciphertext + tag; the
first 14 bytes are authenticated too. Without a key nothing is sealed and stored bytes
stay exactly as before; bytes that do not start with MAGIC are read as plaintext.

A keyring is an instance held by the kernel of one home, never process-wide: two homes
with two keys can be open in one process.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from facetrail.errors import InvalidInputError, StoreError

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
