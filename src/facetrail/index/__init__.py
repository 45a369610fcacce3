"""Vector search: the index protocol and its in-process FAISS backend."""

from facetrail.index.faiss_index import (
    COMPRESSED_FACTORY,
    COMPRESSED_NPROBE,
    EXACT_FACTORY,
    FaissIndex,
    recommended_factory,
)
from facetrail.index.protocol import VectorIndex

__all__ = [
    "COMPRESSED_FACTORY",
    "COMPRESSED_NPROBE",
    "EXACT_FACTORY",
    "FaissIndex",
    "VectorIndex",
    "recommended_factory",
]
