"""Names people give records (subject ids): what is accepted, and why not."""

from __future__ import annotations

from facetrail.errors import InvalidInputError

MAX_SUBJECT_ID_LENGTH = 200


def validate_subject_id(subject: str) -> str:
    """A subject identifier, stripped; refuses empty, over-long or control characters."""
    cleaned = subject.strip()
    if not cleaned:
        raise InvalidInputError("subject id is empty")
    if len(cleaned) > MAX_SUBJECT_ID_LENGTH:
        raise InvalidInputError(f"subject id is over {MAX_SUBJECT_ID_LENGTH} characters")
    if any(ord(ch) < 32 for ch in cleaned):
        raise InvalidInputError(f"subject id {cleaned!r} contains control characters")
    return cleaned
