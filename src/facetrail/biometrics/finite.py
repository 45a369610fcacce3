"""Refuse NaN and infinity in values headed for storage or JSON (json.dumps writes -Infinity)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import TypeVar

import numpy as np

from facetrail.errors import NonFiniteValueError

T = TypeVar("T")


def _first_non_finite(value: object, path: str) -> str | None:
    """The path of the first NaN/infinite number inside `value`, or None."""
    if isinstance(value, bool | int | str | bytes | None):
        return None
    if isinstance(value, float | np.floating):
        return None if math.isfinite(value) else path
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "fc" and not np.isfinite(value).all():
            first = tuple(int(i) for i in np.argwhere(~np.isfinite(value))[0])
            return f"{path}{list(first)}"
        return None
    if isinstance(value, Mapping):
        for key, item in value.items():
            found = _first_non_finite(item, f"{path}.{key}")
            if found:
                return found
        return None
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        return _first_non_finite(fields, path)
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = _first_non_finite(item, f"{path}[{index}]")
            if found:
                return found
    return None


def require_finite(value: T, what: str) -> T:
    """`value` unchanged, or NonFiniteValueError naming where inside it a NaN/infinity is.

    Walks floats, numpy scalars and arrays, mappings, lists, tuples and dataclasses (a
    Face, a QualityReport); `what` names the
    value in the message (e.g. "face box", "verify result").
    """
    found = _first_non_finite(value, what)
    if found is not None:
        raise NonFiniteValueError(
            f"{found} is not a finite number (NaN or infinity); refusing to store or "
            "print it - the model output for this image is unusable, try another photo"
        )
    return value
