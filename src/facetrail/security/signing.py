"""Ed25519 node identities: key pairs, fingerprints, signing and checking exact bytes."""

from __future__ import annotations

import base64
import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from facetrail.errors import AuthorisationError, InvalidInputError


class SignatureError(AuthorisationError):
    """A message whose signature is missing, malformed or made with another key."""

    http_status = 401


def new_private_key() -> bytes:
    """A fresh Ed25519 private key as unencrypted PKCS#8 PEM."""
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_private_key(pem: bytes) -> Ed25519PrivateKey:
    """The Ed25519 private key of a PEM, or InvalidInputError."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as error:
        raise InvalidInputError(f"not a PEM private key: {error}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise InvalidInputError("the node key is not an Ed25519 key")
    return key


def public_pem(private_pem: bytes) -> str:
    """The public half of a private key, as SubjectPublicKeyInfo PEM text."""
    return (
        load_private_key(private_pem)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def load_public_key(pem: str | bytes, what: str = "public key") -> Ed25519PublicKey:
    """The Ed25519 public key of a PEM, or InvalidInputError naming `what`."""
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError):
        raise InvalidInputError(f"{what} is not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise InvalidInputError(f"{what} is not an Ed25519 key")
    return key


def fingerprint(pem: str | bytes) -> str:
    """SHA-256 hex of the raw 32-byte public key (what partners compare by phone)."""
    raw = load_public_key(pem).public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return hashlib.sha256(raw).hexdigest()


def sign(private_pem: bytes, data: bytes) -> str:
    """The base64 Ed25519 signature of exactly `data`."""
    return base64.b64encode(load_private_key(private_pem).sign(data)).decode()


def verify(public: str | bytes, data: bytes, signature: str | None, signer: str) -> None:
    """Raise SignatureError unless `signature` is `signer`'s signature over exactly `data`."""
    if not signature:
        raise SignatureError(f"unsigned message claiming to be from {signer!r}: refused")
    try:
        raw = base64.b64decode(signature, validate=True)
    except ValueError:
        raise SignatureError(f"malformed signature on a message from {signer!r}") from None
    try:
        load_public_key(public, f"{signer}'s public key").verify(raw, data)
    except InvalidSignature:
        raise SignatureError(
            f"bad signature: the message was not signed with {signer!r}'s registered key"
        ) from None
