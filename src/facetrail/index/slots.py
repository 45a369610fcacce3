"""Open indexes as the catalogue holds them: a FAISS file or a Milvus collection.

A slot wraps one backend index with what the catalogue needs on every search without a
round trip: the generation it reflects (`version`) and how many templates it holds
(`size`). `record` makes a generation durable where the backend keeps it (the FAISS
file's header on `persist`, the Milvus collection's properties at once).

A FAISS slot answers with exact scores (`rescored`): its candidates are re-scored against
exact float32 templates held beside the index (an exact index's own vectors, a
compressed index's re-ranking store, index/rerank.py), so the matcher reads no template
from the database. A Milvus slot's scores are the server's; the matcher re-ranks them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from facetrail.errors import IndexError_, StoreError
from facetrail.index.faiss_index import FaissIndex
from facetrail.index.milvus_index import MilvusIndex
from facetrail.index.rerank import RerankStore, exact_rerank, store_path
from facetrail.security.sealing import PLAINTEXT, Sealer
from facetrail.store.files import write_atomic

STALE = -1
# A compressed index is asked for at least this many candidates, every one re-scored
# exactly from the re-ranking store, so near neighbours PQ ranks badly are not lost.
COMPRESSED_SHORTLIST = 1000


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
    """A FAISS index in memory, saved to its own (optionally sealed) file.

    A compressed index has a re-ranking store (`store`, same ids and generation, saved
    beside the file); an exact index re-scores from its own vectors.
    """

    remote = False
    rescored = True

    def __init__(
        self, index: FaissIndex, path: Path, sealer: Sealer, store: RerankStore | None = None
    ) -> None:
        self.index = index
        self.path = path
        self.sealer = sealer
        if store is None and index.factory != "Flat":
            store = RerankStore(index.dim)
            store.version = index.version
        self.store = store

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
        if self.store is not None:
            self.store.add(ids, np.asarray(vectors, dtype=np.float32))

    def remove(self, ids: np.ndarray) -> int:
        removed = self.index.remove(ids)
        if self.store is not None:
            self.store.remove(ids)
        return removed

    def exact_vectors(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(float32 vectors ids.shape + (dim,), held mask) of candidate ids (-1: not held)."""
        if self.store is not None:
            return self.store.lookup(ids)
        flat = np.asarray(ids, dtype=np.int64).ravel()
        held = np.fromiter((int(i) in self.index for i in flat), dtype=bool, count=flat.size)
        out = np.zeros((flat.size, self.index.dim), dtype=np.float32)
        if held.any():
            out[held] = self.index.reconstruct(flat[held])
        return out.reshape(*np.shape(ids), self.index.dim), held.reshape(np.shape(ids))

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k by exact score: candidates (compressed: COMPRESSED_SHORTLIST deep) re-scored
        against the exact templates."""
        deeper = k if self.exact else min(max(k, COMPRESSED_SHORTLIST), len(self.index))
        _, candidates = self.index.search(queries, deeper)
        vectors, held = self.exact_vectors(candidates)
        return exact_rerank(queries, candidates, vectors, held & (candidates >= 0), k)

    def record(self, generation: int) -> None:
        """Note the generation (written with the file by `persist`)."""
        self.index.version = generation
        if self.store is not None and self.store.version != generation:
            self.store.version = generation
            self.store.dirty = True

    @property
    def store_path(self) -> Path:
        """Where the re-ranking store is saved (beside the index file)."""
        return store_path(self.path)

    def persist(self) -> None:
        """Write the store, then the index, atomically (skipped while stale: rebuilt on
        next use). Each file carries the generation; on load a store that disagrees
        with its index (a crash between the two writes) is rebuilt from the database."""
        if self.index.version < 0:
            return
        if self.store is not None:
            if self.store.dirty or not self.store_path.exists():
                self.store.save(self.store_path, self.sealer)
        else:
            self.store_path.unlink(missing_ok=True)  # an exact index keeps no second copy
        save_index(self.index, self.path, self.sealer)


class MilvusSlot:
    """A Milvus collection; its generation lives in the collection's properties."""

    remote = True
    rescored = False  # the matcher re-ranks a collection's candidates from the database
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
