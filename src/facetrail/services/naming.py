"""Names people give records (subject ids): what is accepted, and why not."""

from __future__ import annotations

import os
import unicodedata
from dataclasses import dataclass

from facetrail.errors import InvalidInputError

MAX_SUBJECT_ID_LENGTH = 200
# Unicode categories a name must not hold: controls, format characters (zero-width, bidi
# overrides, BOM, soft hyphen), lone surrogates (bytes that were not UTF-8), line and
# paragraph separators, private use and unassigned code points.
REFUSED_CATEGORIES = {
    "Cc": "control characters",
    "Cf": "invisible format characters (zero-width or bidirectional controls)",
    "Cs": "bytes that are not valid UTF-8",
    "Zl": "line separators",
    "Zp": "paragraph separators",
    "Co": "private-use characters",
    "Cn": "unassigned characters",
}
# Scripts whose letters look alike: a name mixing two of them is a likely homoglyph spoof.
CONFUSABLE_SCRIPTS = ("LATIN", "CYRILLIC", "GREEK")


@dataclass(frozen=True, slots=True)
class NormalisedName:
    """A name as accepted (NFC, trimmed) and whether that changed what was given."""

    name: str
    given: str

    @property
    def changed(self) -> bool:
        return self.name != self.given


def displayable(text: str) -> str:
    """`text` with bytes that were not UTF-8 (surrogate escapes) written as \\xNN escapes."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(text).decode("utf-8", "backslashreplace")
    return text


def _scripts(text: str) -> set[str]:
    """The confusable scripts whose letters appear in `text`."""
    found = set()
    for ch in text:
        if ch.isalpha():
            script = unicodedata.name(ch, "").split(" ", 1)[0]
            if script in CONFUSABLE_SCRIPTS:
                found.add(script)
    return found


def normalise_subject_id(subject: str) -> NormalisedName:
    """The accepted form of a subject id (NFC, trimmed), or InvalidInputError saying why not.

    Refuses empty and over-long names, names that are not valid UTF-8, that hold control,
    zero-width, bidirectional or other invisible characters, compatibility look-alikes
    (fullwidth letters, ligatures) or letters of two look-alike scripts (Latin and Cyrillic).
    """
    shown = ascii(displayable(subject))
    for ch in subject:
        category = unicodedata.category(ch)
        if category in REFUSED_CATEGORIES:
            raise InvalidInputError(
                f"subject id {shown} contains {REFUSED_CATEGORIES[category]}"
                f" (U+{ord(ch):04X}); rename it"
            )
    cleaned = unicodedata.normalize("NFC", subject).strip()
    if not cleaned:
        raise InvalidInputError(f"subject id {shown} is empty")
    if len(cleaned) > MAX_SUBJECT_ID_LENGTH:
        raise InvalidInputError(
            f"subject id {cleaned[:40]!a}... is {len(cleaned)} characters,"
            f" over the {MAX_SUBJECT_ID_LENGTH}-character limit"
        )
    if unicodedata.normalize("NFKC", cleaned) != cleaned:
        raise InvalidInputError(
            f"subject id {shown} contains compatibility characters (fullwidth letters,"
            " ligatures, superscripts) that look like others; use plain characters"
        )
    scripts = _scripts(cleaned)
    if len(scripts) > 1:
        raise InvalidInputError(
            f"subject id {shown} mixes letters of {' and '.join(sorted(scripts))} scripts"
            " (look-alike characters); use one script"
        )
    return NormalisedName(cleaned, subject)


def validate_subject_id(subject: str) -> str:
    """A subject identifier, normalised (NFC, trimmed); refuses what normalise_subject_id does."""
    return normalise_subject_id(subject).name
