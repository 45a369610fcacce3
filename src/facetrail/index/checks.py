"""Input checks shared by every vector index backend, so all refuse bad input alike."""

from __future__ import annotations

import numpy as np

from facetrail.errors import IndexError_

MAX_K = 10_000
SHOWN_IDS = 5


def shown(ids: np.ndarray | list[int]) -> str:
    """A short, readable list of ids for error messages."""
    listed = [int(i) for i in list(ids)[:SHOWN_IDS]]
    more = len(ids) - len(listed)
    return f"{listed}" + (f" and {more} more" if more > 0 else "")


def as_matrix(values: np.ndarray, dim: int, name: str) -> np.ndarray:
    """values as a C-contiguous float32 (n, dim) matrix of finite numbers."""
    arr = np.asarray(values)
    if arr.dtype.kind not in "fiu":
        raise IndexError_(f"{name} must be real numbers, got dtype {arr.dtype}")
    if arr.ndim != 2 or arr.shape[1] != dim:
        raise IndexError_(
            f"{name} must have shape (n, {dim}), got {arr.shape}"
            + (" (wrong dim)" if arr.ndim == 2 else "; reshape a single vector to (1, dim)")
        )
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    if not np.isfinite(arr).all():
        bad = np.flatnonzero(~np.isfinite(arr).all(axis=1))
        raise IndexError_(f"{name} contain NaN or infinite values in rows {shown(bad)}")
    return arr


def as_ids(ids: np.ndarray) -> np.ndarray:
    """ids as a 1-D int64 array of non-negative integers."""
    arr = np.asarray(ids)
    if arr.ndim != 1:
        raise IndexError_(f"ids must be a 1-D array, got shape {arr.shape}")
    if arr.size and arr.dtype.kind not in "iu":
        raise IndexError_(f"ids must be integers, got dtype {arr.dtype}")
    if arr.dtype.kind == "u" and arr.size and arr.max() > np.iinfo(np.int64).max:
        raise IndexError_("ids must fit in int64")
    arr = np.ascontiguousarray(arr, dtype=np.int64)
    if arr.size and arr.min() < 0:
        raise IndexError_(f"ids must be >= 0 (-1 marks padding), got {shown(arr[arr < 0])}")
    return arr


def as_k(k: int) -> int:
    """k as an int in 1..MAX_K."""
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 1 <= k <= MAX_K:
        raise IndexError_(f"k must be an integer in 1..{MAX_K}, got {k!r}")
    return int(k)


def as_threshold(threshold: float) -> np.float32:
    """A range-search threshold as float32; NaN, infinities and booleans are refused."""
    if isinstance(threshold, bool) or not np.isfinite(threshold):
        raise IndexError_(f"threshold must be a finite number, got {threshold!r}")
    return np.float32(threshold)


def padded(n_queries: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Search output of only padding: (-inf scores float32, -1 ids int64), shape (nq, k)."""
    return (
        np.full((n_queries, k), -np.inf, dtype=np.float32),
        np.full((n_queries, k), -1, dtype=np.int64),
    )
