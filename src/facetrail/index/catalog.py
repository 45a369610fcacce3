"""The index catalogue: vector indexes per (gallery, model), in step with the templates table.

The database is the source of truth. Every template insert or delete bumps
`index_state.generation` in the same transaction; an index records the generation it
reflects (a FAISS file in its header, a Milvus collection in its properties). Opening or
searching an index whose generation differs (a crash between commit and save, another
process enrolling, a Milvus server that was down during a change) reconciles it from
the database first, so an index never serves a template the database does not hold.

Each gallery's kind (index/kinds.py) picks the store: FAISS files (exact, compressed,
auto) or a collection per (gallery, model) on the configured Milvus server.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from filelock import FileLock
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from facetrail.errors import IndexError_, StoreError
from facetrail.index.faiss_index import TRAIN_SEED, FaissIndex
from facetrail.index.kinds import (
    COMPRESSED_FACTORY,
    DEFAULT_COMPRESS_ABOVE,
    DEFAULT_PARTITION_ABOVE,
    EXACT,
    PARTITIONED_FACTORY,
    PARTITIONED_NPROBE,
    faiss_factory,
    is_milvus,
    ivf_lists,
)
from facetrail.index.locks import ReadWriteLock
from facetrail.index.milvus_connect import collection_name, connect, parse_url
from facetrail.index.rerank import RerankStore, store_path
from facetrail.index.slots import (
    STALE,
    FaissSlot,
    MilvusOptions,
    MilvusSlot,
    Slot,
    load_index,
    open_milvus,
    save_index,
)
from facetrail.security.sealing import PLAINTEXT, Sealer
from facetrail.store.database import Database
from facetrail.store.files import private_dirs
from facetrail.store.models import Gallery, IndexState, Template

__all__ = [
    "IndexCatalog",
    "MilvusOptions",
    "bump_generation",
    "load_index",
    "save_index",
    "vector_from_bytes",
    "vector_to_bytes",
]

log = logging.getLogger(__name__)

# Templates read per query when reconciling (below SQLite's bound-parameter limit).
RECONCILE_BATCH = 10_000
# Rows per chunk when a whole (gallery, model) is streamed from the database.
STREAM_BATCH = 50_000


# Read before every search; built once (SQLAlchemy memoises its cache key).
_GENERATION = select(IndexState.generation).where(
    IndexState.gallery_id == bindparam("gallery"), IndexState.model == bindparam("model")
)


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


def vector_from_bytes(blob: bytes, dim: int, sealer: Sealer = PLAINTEXT) -> np.ndarray:
    """A stored template's float32 vector (inverse of `vector_to_bytes`)."""
    vector = np.frombuffer(sealer.unseal(blob, "a stored template"), dtype=np.float32)
    if vector.shape != (dim,):
        raise StoreError(f"stored template has {vector.size} values, expected {dim}")
    return vector


def _stored_vectors(
    rows: Iterator[tuple[int, bytes]], dim: int, sealer: Sealer
) -> tuple[np.ndarray, np.ndarray]:
    """(ids, vectors) of (id, stored blob) rows."""
    pairs = list(rows)
    if not pairs:
        return np.empty(0, np.int64), np.empty((0, dim), np.float32)
    ids = np.array([row[0] for row in pairs], dtype=np.int64)
    vectors = np.stack([vector_from_bytes(row[1], dim, sealer) for row in pairs])
    return ids, vectors


class IndexCatalog:
    """Loads, reconciles, updates, searches and saves the index of each (gallery, model).

    `kind` arguments are a gallery's stored `index_factory` (see index/kinds.py). Searches
    run under a shared lock and every change (apply, reconcile, rebuild) under an
    exclusive one, so an index is never mutated while another thread searches it; a
    file lock per (gallery, model) keeps processes on one host from reconciling at once.
    """

    def __init__(
        self,
        database: Database,
        directory: Path,
        sealer: Sealer = PLAINTEXT,
        *,
        milvus: MilvusOptions | None = None,
        compress_above: int = DEFAULT_COMPRESS_ABOVE,
        compressed_factory: str = COMPRESSED_FACTORY,
        partition_above: int | None = DEFAULT_PARTITION_ABOVE,
        partitioned_factory: str = PARTITIONED_FACTORY,
        partitioned_nprobe: int = PARTITIONED_NPROBE,
    ) -> None:
        self.database = database
        self.directory = directory
        self.sealer = sealer
        self.milvus = milvus or MilvusOptions()
        self.compress_above = compress_above
        self.compressed_factory = compressed_factory
        self.partition_above = partition_above
        self.partitioned_factory = partitioned_factory
        self.partitioned_nprobe = partitioned_nprobe
        self._open: dict[tuple[int, str], Slot] = {}
        self._kinds: dict[tuple[int, str], str] = {}
        self._lock = threading.RLock()
        self._access = ReadWriteLock()

    def path(self, gallery_id: int, model: str) -> Path:
        return self.directory / f"gallery-{gallery_id}-{model}.faiss"

    def _file_lock(self, gallery_id: int, model: str) -> FileLock:
        private_dirs(self.directory)
        return FileLock(str(self.path(gallery_id, model)) + ".lock", mode=0o600)

    def _generation(self, gallery_id: int, model: str, session: Session | None = None) -> int:
        """The (gallery, model) generation in the database: read on the caller's session
        when given (one statement on its connection, in its snapshot), else on a new one."""
        params = {"gallery": gallery_id, "model": model}
        if session is not None:
            return int(session.connection().execute(_GENERATION, params).scalar() or 0)
        with self.database.reader() as own:
            return int(own.connection().execute(_GENERATION, params).scalar() or 0)

    def _factory(self, kind: str, size: int) -> str:
        """The FAISS factory a FAISS-backed gallery of `kind` and `size` is indexed with."""
        return faiss_factory(
            kind,
            size,
            self.compress_above,
            self.compressed_factory,
            partition_above=self.partition_above,
            partitioned=self.partitioned_factory,
        )

    def _nprobe(self, factory: str) -> int | None:
        """IVF lists a probe visits in an index of `factory` (None: not partitioned)."""
        lists = ivf_lists(factory)
        return min(self.partitioned_nprobe, lists) if lists else None

    def _count(self, gallery_id: int, model: str) -> int:
        with self.database.reader() as session:
            return len(self._db_ids(session, gallery_id, model))

    @staticmethod
    def _db_ids(session: Session, gallery_id: int, model: str) -> np.ndarray:
        return np.fromiter(
            session.scalars(
                select(Template.id).where(
                    Template.gallery_id == gallery_id, Template.model == model
                )
            ),
            dtype=np.int64,
        )

    # -- opening -----------------------------------------------------------------------

    def _stored_kind(self, gallery_id: int) -> str:
        """The gallery's stored index kind (`galleries.index_factory`)."""
        with self.database.reader() as session:
            stored = session.scalar(select(Gallery.index_factory).where(Gallery.id == gallery_id))
        return stored or EXACT

    def get(
        self,
        gallery_id: int,
        model: str,
        dim: int,
        kind: str | None = None,
        session: Session | None = None,
    ) -> Slot:
        """The index for (gallery, model), reconciled with the database if it is stale.

        `kind`: the gallery's stored `index_factory` (read from the database when None);
        `session`: the caller's, to read the generation on (else a session of its own).
        """
        kind = kind or self._stored_kind(gallery_id)
        key = (gallery_id, model)
        with self._lock:
            generation = self._generation(gallery_id, model, session)
            slot = self._open.get(key)
            if slot is not None and slot.version == generation and self._kinds[key] == kind:
                return slot
            with self._access.writing(), self._file_lock(gallery_id, model):
                slot = self._settled(gallery_id, model, dim, kind, slot, generation)
                self._open[key] = slot
                self._kinds[key] = kind
            return slot

    def _settled(
        self, gallery_id: int, model: str, dim: int, kind: str, slot: Slot | None, generation: int
    ) -> Slot:
        """slot (or the stored index) made to reflect `generation` with the kind's store."""
        if is_milvus(kind):
            if isinstance(slot, MilvusSlot):
                slot.refresh()
            else:
                slot = open_milvus(self.milvus, gallery_id, model, dim)
        else:
            if isinstance(slot, MilvusSlot):
                slot.close()  # the gallery moved off Milvus
            faiss_slot = slot if isinstance(slot, FaissSlot) else None
            if faiss_slot is None or faiss_slot.version != generation:
                faiss_slot = self._load_faiss(gallery_id, model, dim)
            wanted = self._factory(kind, self._count(gallery_id, model))
            if faiss_slot.factory != wanted:  # the kind changed, or auto crossed its size
                faiss_slot = self._new_faiss(gallery_id, model, dim, wanted)
            slot = faiss_slot
        if slot.version != generation:
            self._reconcile(slot, gallery_id, model, dim)
            slot.record(generation)
            slot.persist()
        return slot

    def _new_faiss(self, gallery_id: int, model: str, dim: int, factory: str) -> FaissSlot:
        index = FaissIndex(dim, factory=factory, nprobe=self._nprobe(factory))
        index.version = STALE
        return FaissSlot(index, self.path(gallery_id, model), self.sealer)

    def _load_faiss(self, gallery_id: int, model: str, dim: int) -> FaissSlot:
        path = self.path(gallery_id, model)
        if path.exists():
            try:
                index = load_index(path, self.sealer)
                nprobe = self._nprobe(index.factory)
                if nprobe is not None and index.nprobe != nprobe:
                    index.nprobe = nprobe  # a search setting: the configured one applies
                if index.dim == dim:
                    store = None
                    if index.factory != "Flat":
                        store = self._load_store(index, path, gallery_id, model, dim)
                    return FaissSlot(index, path, self.sealer, store)
            except StoreError:
                pass  # unreadable: rebuilt from the database
        return self._new_faiss(gallery_id, model, dim, "Flat")

    def _load_store(
        self, index: FaissIndex, path: Path, gallery_id: int, model: str, dim: int
    ) -> RerankStore:
        """The re-ranking store saved with a compressed index, or one rebuilt from the
        database when it is missing, unreadable or disagrees with the index (a crash
        between the two writes): the same templates the index holds, never others."""
        try:
            store = RerankStore.load(store_path(path), self.sealer, dim)
            if store.version == index.version and np.array_equal(store.ids(), index.ids()):
                return store
            log.warning("re-ranking store of gallery %s / %s is stale: rebuilt", gallery_id, model)
        except StoreError as error:
            log.warning("re-ranking store of gallery %s / %s rebuilt: %s", gallery_id, model, error)
        held = index.ids()
        store = RerankStore(dim)
        store.version = index.version
        store.reserve(len(held))
        for ids, vectors in self._stream(gallery_id, model, dim):
            keep = np.isin(ids, held)
            store.add(ids[keep], vectors[keep])
        # Templates the index holds but the database no longer does: the index is
        # reconciled (they leave it) before any search, so none is served unscored.
        extra = np.setdiff1d(held, store.ids())
        if extra.size:
            index.remove(extra)
            index.version = STALE
        store.dirty = True
        return store

    # -- searching -----------------------------------------------------------------------

    def search(
        self,
        gallery_id: int,
        model: str,
        dim: int,
        queries: np.ndarray,
        depth: int,
        kind: str | None = None,
        session: Session | None = None,
    ) -> tuple[np.ndarray, np.ndarray, int, bool]:
        """Top-`depth` (scores, ids) per query, the index size and whether the scores are
        exact (FAISS slots re-rank from their exact templates; Milvus scores are the
        server's), safe against changes. `session`: the caller's, for the generation check.

        A Milvus call that fails (collection lost, server restarted) drops the open
        collection and tries once more from a fresh, reconciled one.
        """
        try:
            return self._search(self.get(gallery_id, model, dim, kind, session), queries, depth)
        except IndexError_:
            slot = self._open.get((gallery_id, model))
            if not isinstance(slot, MilvusSlot):
                raise
            self._drop_open(gallery_id, model)
        return self._search(self.get(gallery_id, model, dim, kind, session), queries, depth)

    def _search(
        self, slot: Slot, queries: np.ndarray, depth: int
    ) -> tuple[np.ndarray, np.ndarray, int, bool]:
        with self._access.reading():
            size = slot.size
            if size == 0:
                empty = np.empty((len(queries), 0))
                return empty.astype(np.float32), empty.astype(np.int64), 0, slot.rescored
            scores, ids = slot.search(queries, min(depth, size))
            return scores, ids, size, slot.rescored

    def _drop_open(self, gallery_id: int, model: str) -> None:
        with self._lock, self._access.writing():
            slot = self._open.pop((gallery_id, model), None)
            self._kinds.pop((gallery_id, model), None)
            if isinstance(slot, MilvusSlot):
                slot.close()

    # -- reconciling ---------------------------------------------------------------------

    def _reconcile(self, slot: Slot, gallery_id: int, model: str, dim: int) -> None:
        """Make the index hold exactly the database's template ids for (gallery, model)."""
        with self.database.reader() as session:
            db_ids = self._db_ids(session, gallery_id, model)
        held = slot.ids()
        extra = np.setdiff1d(held, db_ids)
        if extra.size:
            slot.remove(extra)
        missing = np.setdiff1d(db_ids, held)
        if missing.size and missing.size == db_ids.size:
            if isinstance(slot, FaissSlot) and slot.store is not None:
                slot.store.reserve(int(missing.size))
            self._train_on_sample(slot, db_ids, dim)
            for ids, vectors in self._stream(gallery_id, model, dim):
                slot.add(ids, vectors)
            return
        for start in range(0, missing.size, RECONCILE_BATCH):
            ids, vectors = self._load_vectors(missing[start : start + RECONCILE_BATCH], dim)
            if ids.size:
                slot.add(ids, vectors)

    def _train_on_sample(self, slot: Slot, db_ids: np.ndarray, dim: int) -> None:
        """Train an untrained FAISS index that needs more vectors than one stream chunk
        holds (IVF lists: 319,488 for 8,192) on a random sample of the gallery's templates,
        read by id; its first add would otherwise refuse to train on one chunk."""
        index = slot.index if isinstance(slot, FaissSlot) else None
        if index is None or index.is_trained or index.min_train_vectors <= STREAM_BATCH:
            return
        if db_ids.size < index.min_train_vectors:
            return  # the first add names the shortfall
        take = min(index.train_sample_size, db_ids.size)
        pick = np.sort(np.random.default_rng(TRAIN_SEED).choice(db_ids, take, replace=False))
        parts = [
            self._load_vectors(pick[start : start + RECONCILE_BATCH], dim)[1]
            for start in range(0, pick.size, RECONCILE_BATCH)
        ]
        index.train(np.concatenate(parts))

    def _stream(
        self, gallery_id: int, model: str, dim: int
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Every (ids, vectors) of (gallery, model), in chunks, in one read."""
        with self.database.reader() as session:
            rows = session.execute(
                select(Template.id, Template.vector)
                .where(Template.gallery_id == gallery_id, Template.model == model)
                .execution_options(yield_per=STREAM_BATCH)
            )
            for chunk in rows.tuples().partitions():
                yield _stored_vectors(iter(chunk), dim, self.sealer)

    def _load_vectors(self, ids: np.ndarray, dim: int) -> tuple[np.ndarray, np.ndarray]:
        with self.database.reader() as session:
            rows = session.execute(
                select(Template.id, Template.vector).where(Template.id.in_(ids.tolist()))
            ).tuples()
            return _stored_vectors(iter(rows), dim, self.sealer)

    # -- changes -------------------------------------------------------------------------

    def apply(
        self,
        gallery_id: int,
        model: str,
        generation: int,
        *,
        add: tuple[np.ndarray, np.ndarray] | None = None,
        remove: np.ndarray | None = None,
    ) -> None:
        """Mirror a committed change in the open index (FAISS: saved later by `save`).

        If the committed generation is not exactly one past the index's, someone else
        changed the database meanwhile: the index is left stale and reconciled on next use.
        A Milvus server that fails the change (down, restarting) leaves it stale too: the
        database already holds the change, and the next use reconciles the collection.
        """
        with self._lock, self._access.writing():
            slot = self._open.get((gallery_id, model))
            if slot is None:
                return
            if slot.version != generation - 1:
                slot.version = STALE
                return
            try:
                if remove is not None and remove.size:
                    slot.remove(remove)
                if add is not None and add[0].size:
                    slot.add(add[0], add[1])
                slot.record(generation)
            except IndexError_ as error:
                if not isinstance(slot, MilvusSlot):
                    raise
                slot.version = STALE
                log.warning(
                    "index of gallery %s / %s left stale (reconciled on next use): %s",
                    gallery_id,
                    model,
                    error,
                )
                return
            if isinstance(slot, FaissSlot) and slot.factory != self._factory(
                self._kinds[(gallery_id, model)], slot.size
            ):
                slot.version = STALE  # grown past its kind's size: rebuilt on next use

    def settle(self, gallery_id: int, model: str, dim: int, kind: str) -> None:
        """Bring a stored index up to date now if it can be; else it is on next use.

        Used after erasure: an index file or collection not open in this process is
        reconciled (and saved), so deleted templates leave it now, not at the next search.
        """
        if not is_milvus(kind) and not self.path(gallery_id, model).exists():
            return
        try:
            self.get(gallery_id, model, dim, kind)
        except IndexError_ as error:
            if not is_milvus(kind):
                raise
            log.warning(
                "Milvus index of gallery %s / %s not reconciled now (on next use): %s",
                gallery_id,
                model,
                error,
            )

    def save(self, gallery_id: int | None = None) -> None:
        """Write the open FAISS indexes (of one gallery, or all) to disk atomically."""
        with self._lock:
            for (open_gallery, model), slot in self._open.items():
                if gallery_id is not None and open_gallery != gallery_id:
                    continue
                if slot.remote or slot.version < 0:
                    continue
                with self._access.reading(), self._file_lock(open_gallery, model):
                    slot.persist()

    def rebuild(self, gallery_id: int, model: str, dim: int, kind: str | None = None) -> int:
        """Recreate the index from the database alone; returns how many templates it holds."""
        kind = kind or self._stored_kind(gallery_id)
        with self._lock, self._access.writing(), self._file_lock(gallery_id, model):
            generation = self._generation(gallery_id, model)
            old = self._open.pop((gallery_id, model), None)
            if isinstance(old, MilvusSlot):
                old.close()
            if is_milvus(kind):
                slot: Slot = self._fresh_collection(gallery_id, model, dim)
            else:
                wanted = self._factory(kind, self._count(gallery_id, model))
                slot = self._new_faiss(gallery_id, model, dim, wanted)
            self._reconcile(slot, gallery_id, model, dim)
            slot.record(generation)
            slot.persist()
            self._open[(gallery_id, model)] = slot
            self._kinds[(gallery_id, model)] = kind
            return slot.size

    def _fresh_collection(self, gallery_id: int, model: str, dim: int) -> MilvusSlot:
        """An empty collection for (gallery, model): whatever was there is dropped."""
        try:
            open_milvus(self.milvus, gallery_id, model, dim).index.drop()
        except IndexError_:
            # A collection of another index type or dim cannot be opened; drop it by name.
            assert self.milvus.url
            client = connect(parse_url(self.milvus.url), 5.0)
            try:
                client.drop_collection(collection_name(gallery_id, model, self.milvus.namespace))
            finally:
                client.close()
        return open_milvus(self.milvus, gallery_id, model, dim)

    def adopt(
        self,
        gallery_id: int,
        model: str,
        dim: int,
        kind: str,
        ids: np.ndarray,
        vectors: np.ndarray,
    ) -> int:
        """Bulk loading (benchmarks): build the index from vectors the caller just stored.

        The caller guarantees `ids` / `vectors` are exactly the database's templates of
        (gallery, model); the index records the current generation without reading them
        back. Returns the templates held.
        """
        with self._lock, self._access.writing(), self._file_lock(gallery_id, model):
            generation = self._generation(gallery_id, model)
            old = self._open.pop((gallery_id, model), None)
            if isinstance(old, MilvusSlot):
                old.close()
            if is_milvus(kind):
                slot: Slot = self._fresh_collection(gallery_id, model, dim)
                slot.add(ids, vectors)
            else:
                faiss_slot = self._new_faiss(gallery_id, model, dim, self._factory(kind, len(ids)))
                faiss_slot.index.add(ids, vectors)
                if faiss_slot.store is not None:  # saved (and mapped) below, no copy kept
                    faiss_slot.store = RerankStore.borrowing(ids, vectors, generation)
                slot = faiss_slot
            slot.record(generation)
            slot.persist()
            self._open[(gallery_id, model)] = slot
            self._kinds[(gallery_id, model)] = kind
            return slot.size

    def close(self) -> None:
        """Save the open FAISS indexes and close Milvus connections."""
        try:
            self.save()
        finally:
            self.forget()

    def forget(self) -> None:
        """Drop every open index from memory (they are reloaded from their store on next use)."""
        with self._lock:
            for slot in self._open.values():
                if isinstance(slot, MilvusSlot):
                    slot.close()
            self._open.clear()
            self._kinds.clear()
