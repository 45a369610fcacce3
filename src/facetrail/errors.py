"""One exception tree for facetrail: every error says what was wrong and what to do."""

from __future__ import annotations


class FacetrailError(Exception):
    """Base of every error facetrail raises on purpose; the CLI prints it as one line."""

    exit_code = 2
    http_status = 400  # what the API answers (RFC 9457 problem+json) when this is raised


class InvalidInputError(FacetrailError):
    """Input given by the user (an argument, a value, a spec) is not acceptable."""

    http_status = 422


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

    http_status = 422


class ModelError(FacetrailError):
    """A biometric model could not be loaded or run."""

    http_status = 503


class NonFiniteValueError(ModelError):
    """A computed value (box, score, quality, template) is NaN or infinite, so unusable."""


class NotFoundError(FacetrailError):
    """A named record (gallery, subject, authorisation, ...) does not exist."""

    http_status = 404


class AuthorisationError(FacetrailError):
    """The operation is not covered by a valid authorisation."""

    exit_code = 3
    http_status = 403


class StoreError(FacetrailError):
    """The database or the vector index is unusable or inconsistent."""

    http_status = 503


class IndexError_(StoreError):
    """A vector index operation failed (wrong shape, unknown id, corrupt file)."""


class ConflictError(InvalidInputError):
    """The record to create already exists (a gallery, user, watchlist or DPIA of that name)."""

    http_status = 409


class PayloadTooLargeError(InvalidInputError):
    """An upload is larger than the limits allow (media/images.py ImageLimits)."""

    http_status = 413


class UnsupportedMediaError(InvalidInputError):
    """An upload is not of a type facetrail reads (JPEG, PNG, WEBP, BMP, PGM/PPM, GIF)."""

    http_status = 415


class AuthenticationError(AuthorisationError):
    """No valid credentials were given (no token, a bad or expired token, a failed sign-in)."""

    http_status = 401


class BusyError(FacetrailError):
    """The server's model-work pool is full: try again after `retry_after` seconds."""

    http_status = 503

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after
