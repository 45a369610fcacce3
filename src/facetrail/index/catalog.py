"""The index catalogue: vector indexes per (gallery, model), in step with the templates table.

The database is the source of truth. Every template insert or delete bumps
`index_state.generation` in the same transaction; a saved index records the generation
it reflects. Opening an index whose generation differs (a crash between commit and
save, another process enrolling) reconciles it from the database first, so an index
never serves a template the database does not hold.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from filelock import FileLock
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from facetrail.errors import StoreError
from facetrail.index.faiss_index import FaissIndex
from facetrail.index.locks import ReadWriteLock
from facetrail.security.sealing import PLAINTEXT, Sealer
from facetrail.store.database import Database
from facetrail.store.files import private_dirs, write_atomic
from facetrail.store.models import IndexState, Template

RECONCILE_BATCH = 50_000


def bump_generation(session: Session, gallery_id: int, model: str) -> int:
    """Increase the (gallery, model) generation in the caller's transaction; returns it."""
    state = session.get(IndexState, (gallery_id, model))
    if state is None:
        state = IndexState(gallery_id=gallery_id, model=model, generation=0)
        session.add(state)
        session.flush()
    session.execute(
        update(IndexState)
        .where(IndexState.gallery_id == gallery_id, IndexState.model == model)
        .values(generation=IndexState.generation + 1)
    )
    session.refresh(state)
    return state.generation


def vector_to_bytes(vector: np.ndarray, sealer: Sealer = PLAINTEXT) -> bytes:
    """How a template vector is stored in the templates table (sealed if a key is set)."""
    return sealer.seal(np.ascontiguousarray(vector, dtype=np.float32).tobytes())


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


def vector_from_bytes(blob: bytes, dim: int, sealer: Sealer = PLAINTEXT) -> np.ndarray:
    """A stored template's float32 vector (inverse of `vector_to_bytes`)."""
    vector = np.frombuffer(sealer.unseal(blob, "a stored template"), dtype=np.float32)
    if vector.shape != (dim,):
        raise StoreError(f"stored template has {vector.size} values, expected {dim}")
    return vector


class IndexCatalog:
    """Loads, reconciles, updates, searches and saves the index of each (gallery, model).

    Searches run under a shared lock and every change (apply, reconcile, rebuild) under an
    exclusive one, so an index is never mutated while another thread searches it.
    """

    def __init__(self, database: Database, directory: Path, sealer: Sealer = PLAINTEXT) -> None:
        self.database = database
        self.directory = directory
        self.sealer = sealer
        self._open: dict[tuple[int, str], FaissIndex] = {}
        self._lock = threading.RLock()
        self._access = ReadWriteLock()

    def path(self, gallery_id: int, model: str) -> Path:
        return self.directory / f"gallery-{gallery_id}-{model}.faiss"

    def _file_lock(self, gallery_id: int, model: str) -> FileLock:
        private_dirs(self.directory)
        return FileLock(str(self.path(gallery_id, model)) + ".lock", mode=0o600)

    def _generation(self, gallery_id: int, model: str) -> int:
        with self.database.reader() as session:
            state = session.get(IndexState, (gallery_id, model))
            return state.generation if state else 0

    def get(self, gallery_id: int, model: str, dim: int, factory: str = "Flat") -> FaissIndex:
        """The index for (gallery, model), reconciled with the database if it is stale."""
        key = (gallery_id, model)
        with self._lock:
            generation = self._generation(gallery_id, model)
            index = self._open.get(key)
            if index is not None and index.version == generation:
                return index
            with self._access.writing(), self._file_lock(gallery_id, model):
                index = self._load_or_create(gallery_id, model, dim, factory)
                if index.version != generation:
                    self._reconcile(index, gallery_id, model)
                    index.version = generation
                    save_index(index, self.path(gallery_id, model), self.sealer)
                self._open[key] = index
            return index

    def search(
        self,
        gallery_id: int,
        model: str,
        dim: int,
        queries: np.ndarray,
        depth: int,
        factory: str = "Flat",
    ) -> tuple[np.ndarray, np.ndarray, int]:
        """Top-`depth` (scores, ids) per query and the index size, safe against changes."""
        index = self.get(gallery_id, model, dim, factory)
        with self._access.reading():
            size = len(index)
            if size == 0:
                empty = np.empty((len(queries), 0))
                return empty.astype(np.float32), empty.astype(np.int64), 0
            scores, ids = index.search(queries, min(depth, size))
            return scores, ids, size

    def _load_or_create(self, gallery_id: int, model: str, dim: int, factory: str) -> FaissIndex:
        path = self.path(gallery_id, model)
        if path.exists():
            try:
                index = load_index(path, self.sealer)
                if index.dim == dim:
                    return index
            except StoreError:
                pass  # unreadable: rebuilt from the database below
        index = FaissIndex(dim, factory=factory)
        index.version = -1
        return index

    def _reconcile(self, index: FaissIndex, gallery_id: int, model: str) -> None:
        """Make the index hold exactly the database's template ids for (gallery, model)."""
        with self.database.reader() as session:
            db_ids = np.fromiter(
                session.scalars(
                    select(Template.id).where(
                        Template.gallery_id == gallery_id, Template.model == model
                    )
                ),
                dtype=np.int64,
            )
        held = index.ids()
        extra = np.setdiff1d(held, db_ids, assume_unique=True)
        if extra.size:
            index.remove(extra)
        missing = np.setdiff1d(db_ids, held, assume_unique=True)
        for start in range(0, missing.size, RECONCILE_BATCH):
            batch = missing[start : start + RECONCILE_BATCH]
            ids, vectors = self._load_vectors(batch.tolist(), index.dim)
            if ids.size:
                index.add(ids, vectors)

    def _load_vectors(self, ids: Iterable[int], dim: int) -> tuple[np.ndarray, np.ndarray]:
        with self.database.reader() as session:
            rows = session.execute(
                select(Template.id, Template.vector).where(Template.id.in_(list(ids)))
            ).all()
        if not rows:
            return np.empty(0, np.int64), np.empty((0, dim), np.float32)
        ids_array = np.array([row[0] for row in rows], dtype=np.int64)
        vectors = np.stack([vector_from_bytes(row[1], dim, self.sealer) for row in rows])
        return ids_array, vectors

    def apply(
        self,
        gallery_id: int,
        model: str,
        generation: int,
        *,
        add: tuple[np.ndarray, np.ndarray] | None = None,
        remove: np.ndarray | None = None,
    ) -> None:
        """Mirror a committed change in the in-memory index (saved later by `save`).

        If the committed generation is not exactly one past the index's, someone else
        changed the database meanwhile: the index is left stale and reconciled on next use.
        """
        with self._lock, self._access.writing():
            index = self._open.get((gallery_id, model))
            if index is None:
                return
            if index.version != generation - 1:
                index.version = -1
                return
            if remove is not None and remove.size:
                index.remove(remove)
            if add is not None and add[0].size:
                index.add(add[0], add[1])
            index.version = generation

    def save(self, gallery_id: int | None = None) -> None:
        """Write the open indexes (of one gallery, or all) to disk atomically."""
        with self._lock:
            for (open_gallery, model), index in self._open.items():
                if gallery_id is not None and open_gallery != gallery_id:
                    continue
                if index.version < 0:
                    continue
                with self._access.reading(), self._file_lock(open_gallery, model):
                    save_index(index, self.path(open_gallery, model), self.sealer)

    def rebuild(self, gallery_id: int, model: str, dim: int, factory: str = "Flat") -> int:
        """Recreate the index from the database alone; returns how many templates it holds."""
        with self._lock, self._access.writing(), self._file_lock(gallery_id, model):
            generation = self._generation(gallery_id, model)
            index = FaissIndex(dim, factory=factory)
            self._reconcile(index, gallery_id, model)
            index.version = generation
            save_index(index, self.path(gallery_id, model), self.sealer)
            self._open[(gallery_id, model)] = index
            return len(index)

    def forget(self) -> None:
        """Drop every open index from memory (they are reloaded from disk on next use)."""
        with self._lock:
            self._open.clear()
