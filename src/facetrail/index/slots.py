"""Open indexes as the catalogue holds them: a FAISS file or a Milvus collection.

A slot wraps one backend index with what the catalogue needs on every search without a
round trip: the generation it reflects (`version`) and how many templates it holds
(`size`). `record` makes a generation durable where the backend keeps it (the FAISS
file's header on `persist`, the Milvus collection's properties at once).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from facetrail.errors import IndexError_, StoreError
from facetrail.index.faiss_index import FaissIndex
from facetrail.index.milvus_index import MilvusIndex
from facetrail.security.sealing import PLAINTEXT, Sealer
from facetrail.store.files import write_atomic

STALE = -1
# A compressed index is asked for at least this many results: its PQ scan shortlists
# REFINE_FACTOR (2) times that for the SQ8 refine store, whose best `k` go on to exact
# re-ranking, so near neighbours PQ ranks badly are not lost (1000 PQ candidates).
COMPRESSED_SHORTLIST = 500


def save_index(index: FaissIndex, path: Path, sealer: Sealer = PLAINTEXT) -> None:
    """Write an index file atomically, sealed when encryption at rest is on."""
    if not sealer.enabled:
        index.save(path)
        return
    try:
        write_atomic(path, sealer.seal(index.to_bytes()))
    except OSError as error:
        raise StoreError(f"cannot write index file {path}: {error}") from error


def load_index(path: Path, sealer: Sealer = PLAINTEXT) -> FaissIndex:
    """Read an index file written by `save_index` (sealed or not)."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise StoreError(f"cannot read index file {path}: {error}") from error
    return FaissIndex.from_bytes(sealer.unseal(data, f"index file {path}"), path)


@dataclass(frozen=True)
class MilvusOptions:
    """Where the Milvus server is and how its collections are indexed and searched."""

    url: str | None = None
    index_type: str = "FLAT"
    build_params: dict[str, int | float | str] = field(default_factory=dict)
    search_params: dict[str, int | float | str] = field(default_factory=dict)
    namespace: str = ""  # the home's: homes sharing a server never share a collection


class FaissSlot:
    """A FAISS index in memory, saved to its own (optionally sealed) file."""

    remote = False

    def __init__(self, index: FaissIndex, path: Path, sealer: Sealer) -> None:
        self.index = index
        self.path = path
        self.sealer = sealer

    @property
    def version(self) -> int:
        """The generation the index reflects (STALE: unknown)."""
        return self.index.version

    @version.setter
    def version(self, generation: int) -> None:
        self.index.version = generation

    @property
    def size(self) -> int:
        """Templates held."""
        return len(self.index)

    def __len__(self) -> int:
        return len(self.index)

    @property
    def factory(self) -> str:
        """The FAISS factory of the index."""
        return self.index.factory

    @property
    def exact(self) -> bool:
        """Whether search scores are exact inner products."""
        return self.index.factory == "Flat"

    def ids(self) -> np.ndarray:
        return self.index.ids()

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        self.index.add(ids, vectors)

    def remove(self, ids: np.ndarray) -> int:
        return self.index.remove(ids)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k; compressed indexes shortlist deeper (COMPRESSED_SHORTLIST) and keep k."""
        if self.exact:
            return self.index.search(queries, k)
        deeper = min(max(k, COMPRESSED_SHORTLIST), len(self.index))
        scores, ids = self.index.search(queries, deeper)
        return scores[:, :k], ids[:, :k]

    def record(self, generation: int) -> None:
        """Note the generation (written with the file by `persist`)."""
        self.index.version = generation

    def persist(self) -> None:
        """Write the file atomically (skipped while stale: it is rebuilt on next use)."""
        if self.index.version >= 0:
            save_index(self.index, self.path, self.sealer)


class MilvusSlot:
    """A Milvus collection; its generation lives in the collection's properties."""

    remote = True
    factory = "milvus"

    def __init__(self, index: MilvusIndex) -> None:
        self.index = index
        self.version = index.version
        self.size = len(index)

    @property
    def exact(self) -> bool:
        """Whether search scores are exact inner products (FLAT collections)."""
        return self.index.index_type == "FLAT"

    def __len__(self) -> int:
        return self.size

    def refresh(self) -> None:
        """Re-read generation and size from the server (another process may have written)."""
        self.version = self.index.version
        self.size = len(self.index)

    def ids(self) -> np.ndarray:
        return self.index.ids()

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        self.index.add(ids, vectors)
        self.size += len(ids)

    def remove(self, ids: np.ndarray) -> int:
        removed = self.index.remove(ids)
        self.size -= removed
        return removed

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return self.index.search(queries, k)

    def record(self, generation: int) -> None:
        """Store the generation on the server (after the writes it covers returned)."""
        self.index.version = generation
        self.version = generation

    def persist(self) -> None:
        """Seal what a reconcile or rebuild wrote into segments (searched much faster)."""
        self.index.flush()

    def close(self) -> None:
        self.index.close()


Slot = FaissSlot | MilvusSlot


def open_milvus(options: MilvusOptions, gallery_id: int, model: str, dim: int) -> MilvusSlot:
    """The collection of (gallery, model) on the configured server (created if missing)."""
    if not options.url:
        raise IndexError_(
            "this gallery is indexed on Milvus but no server is configured: set"
            " FACETRAIL_INDEX_URL=milvus://host:port or pass --index-url"
        )
    index = MilvusIndex(
        options.url,
        gallery_id,
        model,
        dim,
        index_type=options.index_type,
        build_params=options.build_params,
        search_params=options.search_params,
        namespace=options.namespace,
    )
    try:
        return MilvusSlot(index)
    except BaseException:
        index.close()
        raise
