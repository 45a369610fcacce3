"""The narrow, FAISS-style vector index protocol every backend implements."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class VectorIndex(Protocol):
    """ID-based inner-product index over L2-normalised float32 vectors.

    Shapes: `ids` int64 (n,), `vectors` float32 (n, dim), `queries` float32 (nq, dim).
    Scores are inner products (cosine similarity for normalised vectors), higher is
    more similar. Wrong shapes, dtypes that cannot be cast, duplicate or unknown ids
    raise `facetrail.errors.IndexError_` with a message naming the problem.
    """

    @property
    def dim(self) -> int: ...

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add vectors under the given ids (ids must not be present already)."""

    def remove(self, ids: np.ndarray) -> int:
        """Remove ids; returns how many were present and removed."""

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k per query: (scores (nq, k) float32, ids (nq, k) int64), -1 ids pad."""

    def range_search(
        self, queries: np.ndarray, threshold: float
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per query, (ids, scores) of every vector scoring >= threshold, best first."""

    def reconstruct(self, ids: np.ndarray) -> np.ndarray:
        """The stored vectors for ids, (n, dim) float32 (approximate for compressed)."""

    def ids(self) -> np.ndarray:
        """Every id held, int64, ascending."""

    def save(self, path: Path) -> None:
        """Write atomically to path (temp file + rename)."""

    def __len__(self) -> int: ...
