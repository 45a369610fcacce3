"""Signed audit exports (Ed25519) that an external auditor can check without the database.

An export is one JSON document: every audit entry with its `prev_hash` and `entry_hash`,
the audit head, the signer's public key, and an Ed25519 signature over the canonical
JSON of everything else (keys sorted, no spaces, UTF-8). `verify_export` needs only this
module's standard-library code and the `cryptography` package: it checks the signature
(against a public key given out of band, else the embedded one), recomputes each entry's
SHA-256 over its canonical encoding, follows the chain and compares its end with the head.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel
from sqlalchemy import select

from facetrail.core.access import ADMINISTRATOR, AUDITOR, declare, requires
from facetrail.core.audit import (
    GENESIS_HASH,
    HASHED_FIELDS,
    append_audit,
    canonical_json,
    hashed_payload,
    verify_chain,
)
from facetrail.core.context import Context
from facetrail.core.kernel import Kernel
from facetrail.errors import InvalidInputError
from facetrail.store.files import private_dirs, write_atomic
from facetrail.store.models import AuditEntry
from facetrail.store.oversight_models import AuditHead
from facetrail.store.types import utcnow

AUDIT_EXPORT = declare("audit.export", "write a signed export of the audit trail", (AUDITOR,))
AUDIT_CHECKPOINT = declare(
    "audit.checkpoint",
    "sign a statement of the audit trail's head for an overseer",
    (AUDITOR, ADMINISTRATOR),
)


EXPORT_FORMAT = "facetrail-audit-export/1"
CHECKPOINT_FORMAT = "facetrail-audit-checkpoint/1"
SIGNING_KEY_NAME = "audit-signing.key"


def entry_hash(entry: dict[str, Any]) -> str:
    """SHA-256 of an exported entry's canonical encoding (every field but its hash)."""
    return hashlib.sha256(canonical_json({k: entry[k] for k in HASHED_FIELDS})).hexdigest()


def _exported(entry: AuditEntry) -> dict[str, Any]:
    return {**hashed_payload(entry), "entry_hash": entry.entry_hash}


def load_or_create_signing_key(path: Path) -> Ed25519PrivateKey:
    """The Ed25519 key in `path` (PEM), created with mode 0600 (and a .pub) if missing."""
    if path.exists():
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (ValueError, TypeError) as error:
            raise InvalidInputError(f"{path} is not a PEM private key: {error}") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise InvalidInputError(f"{path} is not an Ed25519 key")
        if not public_path(path).exists():
            write_atomic(public_path(path), (public_key_text(key.public_key()) + "\n").encode())
        return key
    key = Ed25519PrivateKey.generate()
    private_dirs(path.parent)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as stream:
        stream.write(pem)
    write_atomic(public_path(path), (public_key_text(key.public_key()) + "\n").encode())
    return key


def public_path(key_path: Path) -> Path:
    return key_path.with_suffix(".pub")


def public_key_text(key: Ed25519PublicKey) -> str:
    """The raw public key, base64 (what an auditor is given out of band)."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def key_fingerprint(public_b64: str) -> str:
    """A short fingerprint of a public key for comparing by eye."""
    return hashlib.sha256(base64.b64decode(public_b64)).hexdigest()[:16]


class ExportInfo(BaseModel):
    path: str
    entries: int
    chain_ok: bool
    public_key: str
    key_fingerprint: str
    public_key_file: str


class ExportCheck(BaseModel):
    ok: bool
    entries: int
    signature_ok: bool
    key_source: str  # "given" or "embedded"
    key_fingerprint: str
    first_bad_id: int | None = None
    problem: str = ""


def sign_document(document: dict[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    """The document with its public key and Ed25519 signature added."""
    body = {**document, "public_key": public_key_text(key.public_key())}
    body["signature"] = base64.b64encode(key.sign(canonical_json(body))).decode()
    return body


def _chain_problem(entries: list[dict[str, Any]], head: dict[str, Any] | None) -> tuple[int, str]:
    """(first bad entry id, problem) or (0, '') when the exported chain is whole."""
    previous, previous_id = GENESIS_HASH, 0
    for entry in entries:
        if entry["prev_hash"] != previous:
            return entry["id"], f"entry {entry['id']} does not follow entry {previous_id}"
        if entry_hash(entry) != entry["entry_hash"]:
            return entry["id"], f"entry {entry['id']}: content does not match its hash"
        previous, previous_id = entry["entry_hash"], entry["id"]
    if head is not None and (head["last_id"] != previous_id or head["last_hash"] != previous):
        return (
            previous_id + 1,
            f"the chain ends at entry {previous_id}, the head at {head['last_id']}",
        )
    return 0, ""


def verify_export(
    path: Path, public_key: str | None = None, fingerprint: str | None = None
) -> ExportCheck:
    """Check a signed export offline: signature, every entry's hash, the chain and its head.

    The signer must be known: a public key given out of band, or the fingerprint of the
    embedded one pinned. Without either the export is never accepted (anyone can re-sign
    an edited export with a key of their own); the chain is still checked and reported.
    """
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
        signature = base64.b64decode(document.pop("signature"))
        embedded = document["public_key"]
        entries = document["entries"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise InvalidInputError(f"{path} is not a facetrail audit export: {error}") from None
    if document.get("format") != EXPORT_FORMAT:
        raise InvalidInputError(
            f"{path} has format {document.get('format')!r}, not {EXPORT_FORMAT}"
        )
    key_b64 = public_key.strip() if public_key else embedded
    try:
        verifier = Ed25519PublicKey.from_public_bytes(base64.b64decode(key_b64))
        verifier.verify(signature, canonical_json(document))
        signature_ok = True
    except (InvalidSignature, ValueError):
        signature_ok = False
    try:
        first_bad, problem = _chain_problem(entries, document.get("head"))
    except (KeyError, TypeError) as error:
        first_bad, problem = 0, f"an entry is malformed ({error})"
    if not signature_ok:
        problem = "the signature does not match the document" + (f"; {problem}" if problem else "")
    signer = _unknown_signer(key_b64, public_key, fingerprint)
    if signer:
        problem = signer + (f"; {problem}" if problem else "")
    return ExportCheck(
        ok=signature_ok and not problem,
        entries=len(entries),
        signature_ok=signature_ok,
        key_source="given" if public_key else ("pinned" if fingerprint else "embedded"),
        key_fingerprint=key_fingerprint(key_b64),
        first_bad_id=first_bad or None,
        problem=problem,
    )


def _unknown_signer(key_b64: str, public_key: str | None, fingerprint: str | None) -> str:
    """Why the signer is not established ("" when it is)."""
    if public_key:
        return ""
    if not fingerprint:
        return (
            "no public key (--public-key) or pinned fingerprint (--fingerprint) given: an"
            " export re-signed with any key would pass, so it is not accepted"
        )
    if key_fingerprint(key_b64) != fingerprint.strip().lower():
        return f"signed by key {key_fingerprint(key_b64)}, not the pinned {fingerprint.strip()}"
    return ""


def read_checkpoint(
    path: Path, public_key: str | None = None, fingerprint: str | None = None
) -> dict[str, Any]:
    """A checkpoint file's statement (last_id, last_hash, entries, at) once its signature
    and, when given, its signer (public key or pinned fingerprint) check out."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
        signature = base64.b64decode(document.pop("signature"))
        embedded = document["public_key"]
        statement = {k: document[k] for k in ("last_id", "last_hash", "entries", "at")}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise InvalidInputError(f"{path} is not a facetrail audit checkpoint: {error}") from None
    if document.get("format") != CHECKPOINT_FORMAT:
        raise InvalidInputError(f"{path} is not a {CHECKPOINT_FORMAT} document")
    key_b64 = public_key.strip() if public_key else embedded
    try:
        Ed25519PublicKey.from_public_bytes(base64.b64decode(key_b64)).verify(
            signature, canonical_json(document)
        )
    except (InvalidSignature, ValueError):
        raise InvalidInputError(
            f"{path}: the checkpoint's signature does not match (altered, or another signer)"
        ) from None
    if fingerprint and key_fingerprint(key_b64) != fingerprint.strip().lower():
        raise InvalidInputError(
            f"{path} is signed by key {key_fingerprint(key_b64)}, not the pinned {fingerprint}"
        )
    return {**statement, "key_fingerprint": key_fingerprint(key_b64)}


def read_public_key(path: Path) -> str:
    """A public key file: raw base64 (from `.pub`) or a PEM public key."""
    data = Path(path).read_bytes()
    if data.lstrip().startswith(b"-----BEGIN"):
        key = serialization.load_pem_public_key(data)
        if not isinstance(key, Ed25519PublicKey):
            raise InvalidInputError(f"{path} is not an Ed25519 public key")
        return public_key_text(key)
    return data.decode().strip()


class AuditExportService:
    """Write signed exports of the audit trail."""

    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel

    def default_key_path(self) -> Path:
        """$FACETRAIL_AUDIT_KEY_FILE (best kept outside the home), else <home>/keys/."""
        configured = self.kernel.settings.audit_key_file
        return Path(configured) if configured else self.kernel.home / "keys" / SIGNING_KEY_NAME

    @requires(AUDIT_CHECKPOINT)
    def checkpoint(self, context: Context, key_path: Path | None = None) -> dict[str, Any]:
        """A signed statement of the audit head (id, hash, count, time) to hand to an
        overseer; `audit verify --checkpoint` later proves the trail still holds it."""
        key = load_or_create_signing_key(key_path or self.default_key_path())
        with self.kernel.database.reader() as session:
            check = verify_chain(session)
            head = session.get(AuditHead, 1)
        if not check.ok:
            raise InvalidInputError(
                f"the audit trail is broken at entry {check.first_bad_id} ({check.problem}):"
                " no checkpoint is signed over it"
            )
        statement = {
            "format": CHECKPOINT_FORMAT,
            "last_id": head.last_id if head else 0,
            "last_hash": head.last_hash if head else GENESIS_HASH,
            "entries": head.entries if head else 0,
            "at": utcnow().isoformat(),
            "signed_by": context.actor,
        }
        document = sign_document(statement, key)
        with self.kernel.database.transaction() as session:
            append_audit(
                session,
                actor=context.actor,
                action="audit.checkpoint",
                outcome="ok",
                details={
                    "last_id": statement["last_id"],
                    "last_hash": statement["last_hash"],
                    "key_fingerprint": key_fingerprint(document["public_key"]),
                },
            )
        return document

    @requires(AUDIT_EXPORT)
    def export(self, context: Context, path: Path, key_path: Path | None = None) -> ExportInfo:
        """Write every audit entry, signed, to `path`; the export itself is audited."""
        signing_path = key_path or self.default_key_path()
        key = load_or_create_signing_key(signing_path)
        with self.kernel.database.reader() as session:
            check = verify_chain(session)
            head = session.get(AuditHead, 1)
            entries = [
                _exported(e) for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))
            ]
            head_data = (
                {"last_id": head.last_id, "last_hash": head.last_hash, "entries": head.entries}
                if head
                else None
            )
        document = sign_document(
            {
                "format": EXPORT_FORMAT,
                "exported_at": utcnow().isoformat(),
                "exported_by": context.actor,
                "hashing": "sha256 over canonical JSON of " + ",".join(HASHED_FIELDS),
                "chain_verified_at_export": check.ok,
                "head": head_data,
                "entries": entries,
            },
            key,
        )
        write_atomic(Path(path), canonical_json(document))
        with self.kernel.database.transaction() as session:
            append_audit(
                session,
                actor=context.actor,
                action="audit.export",
                outcome="ok",
                target=str(path),
                details={
                    "entries": len(entries),
                    "key_fingerprint": key_fingerprint(document["public_key"]),
                },
            )
        return ExportInfo(
            path=str(path),
            entries=len(entries),
            chain_ok=check.ok,
            public_key=document["public_key"],
            key_fingerprint=key_fingerprint(document["public_key"]),
            public_key_file=str(public_path(signing_path)),
        )
