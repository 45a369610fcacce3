"""Typed, checked access to the fields of one parsed nistitl record."""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import UTC, date, datetime
from typing import Any

from facetrail.errors import RecordError
from facetrail.records.model import FieldValue
from facetrail.records.standard import field_label, field_tag

DIGITS = re.compile(r"[0-9]{1,9}")
SIGNED = re.compile(r"[+-]?[0-9]{1,9}")
DATE = re.compile(r"[0-9]{8}")
GMT = re.compile(r"[0-9]{14}Z")


def normalise(value: Any) -> FieldValue:
    """A nistitl field value as a string or a tuple of subfields of items."""
    if isinstance(value, list):
        return tuple(
            tuple(str(item) for item in sub) if isinstance(sub, list) else (str(sub),)
            for sub in value
        )
    return str(value)


class RecordFields:
    """The fields of one record; every accessor raises RecordError naming record and field."""

    def __init__(self, record: Any, source: str, label: str, utf8: bool) -> None:
        self._record = record
        self._source = source
        self.label = label
        self._utf8 = utf8

    def error(self, number: int, reason: str) -> RecordError:
        """A RecordError for field `number` of this record."""
        tag = field_tag(self._record.type, number)
        return RecordError(self._source, self.label, field_label(tag), reason)

    def numbers(self) -> list[int]:
        """The field numbers present, in record order."""
        return [int(item.tag) for item in self._record._fields]

    def value(self, number: int) -> FieldValue | None:
        """The field as text or subfields (decoded), None when absent."""
        found = self._record[number]
        if found is None:
            return None
        value = normalise(found.value)
        if isinstance(value, str):
            return self._decode(number, value)
        return tuple(tuple(self._decode(number, item) for item in sub) for sub in value)

    def optional_text(self, number: int, max_length: int | None = None) -> str | None:
        """One text value, None when absent or empty; subfields are refused."""
        value = self.value(number)
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise self.error(number, "has subfields or items where one value is expected")
        if max_length is not None and len(value) > max_length:
            raise self.error(number, f"is {len(value)} characters, over the {max_length} allowed")
        return value

    def text(self, number: int, max_length: int | None = None) -> str:
        """One mandatory, non-empty text value."""
        value = self.optional_text(number, max_length)
        if value is None:
            raise self.error(number, "is missing or empty (mandatory)")
        return value

    def optional_number(self, number: int, low: int, high: int, signed: bool = False) -> int | None:
        """An integer in [low, high], None when absent."""
        value = self.optional_text(number)
        if value is None:
            return None
        if not (SIGNED if signed else DIGITS).fullmatch(value):
            raise self.error(number, f"{value!r} is not a whole number")
        result = int(value)
        if not low <= result <= high:
            raise self.error(number, f"{result} is outside {low}-{high}")
        return result

    def number(self, number: int, low: int, high: int) -> int:
        """A mandatory integer in [low, high]."""
        value = self.optional_number(number, low, high)
        if value is None:
            raise self.error(number, "is missing or empty (mandatory)")
        return value

    def choice(self, number: int, allowed: Collection[str]) -> str:
        """A mandatory code from `allowed`."""
        value = self.text(number)
        return self._check_choice(number, value, allowed)

    def optional_choice(self, number: int, allowed: Collection[str]) -> str | None:
        """An optional code from `allowed`."""
        value = self.optional_text(number)
        return None if value is None else self._check_choice(number, value, allowed)

    def date(self, number: int) -> date:
        """A mandatory YYYYMMDD date."""
        value = self.text(number)
        if not DATE.fullmatch(value):
            raise self.error(number, f"{value!r} is not a YYYYMMDD date")
        try:
            return datetime.strptime(value, "%Y%m%d").date()
        except ValueError as error:
            raise self.error(number, f"{value!r} is not a real date") from error

    def optional_gmt(self, number: int) -> datetime | None:
        """An optional YYYYMMDDhhmmssZ time, as an aware UTC datetime."""
        value = self.optional_text(number)
        if value is None:
            return None
        if not GMT.fullmatch(value):
            raise self.error(number, f"{value!r} is not a YYYYMMDDhhmmssZ time")
        try:
            return datetime.strptime(value[:-1], "%Y%m%d%H%M%S").replace(tzinfo=UTC)
        except ValueError as error:
            raise self.error(number, f"{value!r} is not a real time") from error

    def idc(self) -> int:
        """The 2.002 / 10.002 IDC (nistitl reads it as an int), 0-99."""
        found = self._record[2]
        value = None if found is None else found.value
        if value is None:
            raise self.error(2, "is missing (mandatory)")
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 99:
            raise self.error(2, f"{value!r} is not an IDC from 0 to 99")
        return value

    def binary(self, number: int) -> bytes:
        """The bytes of a binary field (10.999)."""
        found = self._record[number]
        value = None if found is None else found.value
        if not isinstance(value, bytes):
            raise self.error(number, "is missing (mandatory)")
        return value

    def _check_choice(self, number: int, value: str, allowed: Collection[str]) -> str:
        """`value` if it is one of `allowed`, else RecordError listing them."""
        if value not in allowed:
            raise self.error(number, f"{value!r} is not one of {', '.join(sorted(allowed))}")
        return value

    def _decode(self, number: int, value: str) -> str:
        """nistitl decodes latin-1; undo that for UTF-8 transactions (1.015 DCS)."""
        if not self._utf8:
            return value
        try:
            return value.encode("latin-1").decode("utf-8")
        except UnicodeDecodeError as error:
            raise self.error(number, "is not valid UTF-8 although 1.015 DCS says so") from error
