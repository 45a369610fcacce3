"""Shared path and query parameter types."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

# Record ids are database integers (64-bit); anything larger is no record, refused as such.
MAX_ID = 2**62
RecordId = Annotated[int, Path(ge=1, le=MAX_ID)]
OptionalRecordId = Annotated[int | None, Query(ge=1, le=MAX_ID)]
Name = Annotated[str, Path(min_length=1, max_length=200)]
