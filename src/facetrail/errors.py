"""One exception tree for facetrail: every error says what was wrong and what to do."""

from __future__ import annotations


class FacetrailError(Exception):
    """Base of every error facetrail raises on purpose; the CLI prints it as one line."""

    exit_code = 2


class InvalidInputError(FacetrailError):
    """Input given by the user (an argument, a value, a spec) is not acceptable."""


class ImageError(InvalidInputError):
    """An image could not be accepted: unreadable, corrupt, too large, unsupported."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


class RecordError(InvalidInputError):
    """An ANSI/NIST-ITL transaction is malformed or incomplete; says which record and field."""

    def __init__(self, source: str, record: str, field: str | None, reason: str) -> None:
        where = f"{record}, field {field}" if field else record
        super().__init__(f"{source}: {where}: {reason}")
        self.source = source
        self.record = record
        self.field = field
        self.reason = reason


class NoFaceError(FacetrailError):
    """No usable face was found where one was required."""


class ModelError(FacetrailError):
    """A biometric model could not be loaded or run."""


class NonFiniteValueError(ModelError):
    """A computed value (box, score, quality, template) is NaN or infinite, so unusable."""


class NotFoundError(FacetrailError):
    """A named record (gallery, subject, authorisation, ...) does not exist."""


class AuthorisationError(FacetrailError):
    """The operation is not covered by a valid authorisation."""

    exit_code = 3


class StoreError(FacetrailError):
    """The database or the vector index is unusable or inconsistent."""


class IndexError_(StoreError):
    """A vector index operation failed (wrong shape, unknown id, corrupt file)."""
