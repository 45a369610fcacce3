"""The re-ranking store: exact float32 templates beside a compressed FAISS index.

A compressed index scores approximately; every candidate it returns is re-scored
exactly against its stored template. Reading those templates from the database on
every search cost more than the index itself (a 250-row fetch per probe), so each
compressed index keeps its templates in this store, keyed by template id, saved with
the index (`<index>.vectors`) and carrying the same generation: a store whose
generation or ids differ from its index's is rebuilt from the database, never served.

Rows live in segments, each sorted by id: the one read from the file (memory-mapped
copy-on-write when the home is not encrypted, so it costs page cache, not heap; read
whole and unsealed when it is) and small in-memory ones for templates enrolled since.
A removed template's row is zeroed at once (nothing of an erased person stays in
memory) and left out of the next file written. `save` writes the live rows in id
order through a temp file, fsync and rename, then maps the new file.

File: `STORE_MAGIC`, a 4-byte little-endian header length, a JSON header (format, dim,
version, count, CRC32 of the payload), padded to HEADER_BYTES (256), the ids (int64) and the
vectors (float32, row-major). Sealed as a whole when encryption at rest is on.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from facetrail.errors import StoreError
from facetrail.security.keyring import is_sealed
from facetrail.security.sealing import PLAINTEXT, Sealer
from facetrail.store.files import atomic_writer, write_atomic

STORE_MAGIC = b"FTRRANK\x00"
STORE_FORMAT = 1
STORE_SUFFIX = ".vectors"
_HEADER_LEN = struct.Struct("<I")
# Header bytes before the ids (magic, length, padded JSON): a multiple of 64.
HEADER_BYTES = 256
_MAX_HEADER_BYTES = 1 << 16
# Rows gathered per write when a store is saved (bounds the extra memory of a save).
WRITE_CHUNK = 65_536
# In-memory segments merged into one past this many (keeps lookups a few searchsorted).
MAX_SEGMENTS = 4
# A sealed segment of at least DENSE_MIN_ROWS rows whose ids span at most
# DENSE_SPAN_FACTOR times its row count finds rows through a position table (4 B per id
# in the span: one memory access per candidate instead of a binary search's ~20).
DENSE_MIN_ROWS = 4096
DENSE_SPAN_FACTOR = 4


def template_scores(vectors: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Exact scores (inner products, float32) of (n, dim) templates against one query.

    The one way every index kind scores its final candidates, so they rank alike.
    """
    return np.asarray(vectors, dtype=np.float32) @ np.asarray(query, dtype=np.float32)


def exact_rerank(
    queries: np.ndarray, candidates: np.ndarray, vectors: np.ndarray, held: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per query, the k best held candidates by exact score (ties: lower id first);
    (scores (nq, k) float32, ids (nq, k) int64), -inf / -1 padded."""
    nq = len(queries)
    out_scores = np.full((nq, k), -np.inf, dtype=np.float32)
    out_ids = np.full((nq, k), -1, dtype=np.int64)
    for row in range(nq):
        mask = held[row]
        ids = candidates[row][mask]
        scores = template_scores(vectors[row][mask], queries[row])
        order = np.lexsort((ids, -scores))[:k]
        out_scores[row, : order.size] = scores[order]
        out_ids[row, : order.size] = ids[order]
    return out_scores, out_ids


def store_path(index_path: Path) -> Path:
    """Where the re-ranking store of the index file `index_path` lives."""
    return index_path.with_name(index_path.name + STORE_SUFFIX)


@dataclass
class _Segment:
    ids: np.ndarray  # int64, ascending, never changed in place
    vectors: np.ndarray  # float32 (n, dim), writable (zeroed on remove)
    live: np.ndarray  # bool (n,)
    _table: np.ndarray | None = field(default=None, repr=False)  # id - ids[0] -> row or -1

    def rows_of(self, keys: np.ndarray, dense: bool) -> tuple[np.ndarray, np.ndarray]:
        """(row of each key, clipped into range; whether that row holds the key live).

        `dense` allows the position table (built once, on first use) when the ids are
        dense enough; the caller passes False for the growable tail, rebuilt per add.
        """
        table = self._positions() if dense else None
        if table is None:
            rows = np.minimum(np.searchsorted(self.ids, keys), self.ids.size - 1)
            return rows, (self.ids[rows] == keys) & self.live[rows]
        offsets = keys - self.ids[0]
        inside = (offsets >= 0) & (offsets < table.size)
        rows = table[np.where(inside, offsets, 0)]
        held = inside & (rows >= 0)
        rows = np.maximum(rows, 0)
        return rows, held & self.live[rows]

    def _positions(self) -> np.ndarray | None:
        n = self.ids.size
        if n < DENSE_MIN_ROWS or n >= 2**31:
            return None
        if self._table is None:
            span = int(self.ids[-1] - self.ids[0]) + 1
            if span > DENSE_SPAN_FACTOR * n:
                return None
            table = np.full(span, -1, dtype=np.int32)
            table[self.ids - self.ids[0]] = np.arange(n, dtype=np.int32)
            self._table = table
        return self._table


def _sorted_rows(ids: np.ndarray, vectors: np.ndarray, copy: bool = True) -> _Segment:
    ids = np.asarray(ids, dtype=np.int64)
    vectors = np.asarray(vectors, dtype=np.float32)
    if ids.size > 1 and not bool(np.all(ids[1:] > ids[:-1])):
        order = np.argsort(ids, kind="stable")
        ids, vectors = ids[order], vectors[order]
    if copy:
        ids, vectors = ids.copy(), np.array(vectors, dtype=np.float32, order="C", copy=True)
    return _Segment(ids, vectors, np.ones(len(ids), dtype=bool))


class RerankStore:
    """Exact float32 templates by template id: lookup, add, remove, save, load."""

    def __init__(self, dim: int) -> None:
        self.dim = int(dim)
        self.version = 0
        self._segments: list[_Segment] = []
        self._count = 0
        # The growable tail: capacity buffers (ids, vectors, live), the used row count and
        # the segment viewing them (always the last segment while it exists).
        self._tail: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._tail_rows = 0
        self._tail_segment: _Segment | None = None
        self.dirty = True  # differs from (or was never written to) its file

    @classmethod
    def borrowing(cls, ids: np.ndarray, vectors: np.ndarray, version: int) -> RerankStore:
        """A store over the caller's (ascending ids, vectors) without copying them, for
        bulk loading: `save` it at once (it then maps its file and lets go of them)."""
        ids = np.asarray(ids, dtype=np.int64)
        if ids.size > 1 and not bool(np.all(ids[1:] > ids[:-1])):
            raise StoreError("a borrowed re-ranking store needs ascending ids")
        store = cls(vectors.shape[1])
        store.version = version
        store._segments = [_Segment(ids, vectors, np.ones(len(ids), dtype=bool))]
        store._count = len(ids)
        return store

    def __len__(self) -> int:
        return self._count

    @property
    def nbytes(self) -> int:
        """Bytes of vectors, ids and position tables held (mapped or in memory), live or not."""
        return sum(
            s.ids.nbytes
            + s.vectors.nbytes
            + s.live.nbytes
            + (0 if s._table is None else s._table.nbytes)
            for s in self._segments
        )

    def ids(self) -> np.ndarray:
        """Every live id, ascending."""
        parts = [s.ids[s.live] for s in self._segments]
        return np.sort(np.concatenate(parts)) if parts else np.empty(0, np.int64)

    def reserve(self, rows: int) -> None:
        """Make room for `rows` more templates in the growable tail (one allocation for
        a rebuild streaming a whole gallery in, instead of doublings)."""
        self._grow(rows, exact=True)

    def _grow(self, rows: int, exact: bool = False) -> None:
        used = self._tail_rows
        have = 0 if self._tail is None else len(self._tail[0])
        if used + rows <= have:
            return
        size = used + rows if exact else max(used + rows, 2 * have, 1024)
        ids = np.empty(size, np.int64)
        vectors = np.empty((size, self.dim), np.float32)
        live = np.zeros(size, bool)
        if self._tail is not None and used:
            ids[:used], vectors[:used], live[:used] = (part[:used] for part in self._tail)
        self._tail = (ids, vectors, live)
        self._sync_tail()

    def _sync_tail(self) -> None:
        """Point the last segment at the used part of the tail buffers."""
        assert self._tail is not None
        used = self._tail_rows
        view = _Segment(*(part[:used] for part in self._tail))
        if self._segments and self._segments[-1] is self._tail_segment:
            self._segments[-1] = view
        else:
            self._segments.append(view)
        self._tail_segment = view

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Hold vectors under ids (the index has already refused duplicates)."""
        if not len(ids):
            return
        if np.asarray(vectors).shape != (len(ids), self.dim):
            raise StoreError(f"re-ranking store needs ({len(ids)}, {self.dim}) vectors")
        rows = _sorted_rows(ids, vectors, copy=False)
        last = self._tail_segment
        if last is not None and last.ids.size and rows.ids[0] <= last.ids[-1]:
            # Out of order for the tail (rare: ids are allocated ascending): a segment of
            # its own; segments beyond MAX_SEGMENTS are merged.
            self._segments.append(_sorted_rows(rows.ids, rows.vectors, copy=True))
            self._tail_segment = None
            self._tail = None
            self._tail_rows = 0
            if len(self._segments) > MAX_SEGMENTS:
                self._merge_tail()
        else:
            self._grow(len(rows.ids))
            assert self._tail is not None
            used = self._tail_rows
            end = used + len(rows.ids)
            self._tail[0][used:end] = rows.ids
            self._tail[1][used:end] = rows.vectors
            self._tail[2][used:end] = True
            self._tail_rows = end
            self._sync_tail()
        self._count += len(ids)
        self.dirty = True

    def _merge_tail(self) -> None:
        """Merge every segment after the first (the big, file-backed one) into a new tail."""
        head, tail = self._segments[0], self._segments[1:]
        ids = np.concatenate([s.ids[s.live] for s in tail])
        vectors = np.concatenate([s.vectors[s.live] for s in tail])
        merged = _sorted_rows(ids, vectors, copy=False)
        self._segments = [head]
        self._tail, self._tail_segment, self._tail_rows = None, None, 0
        self._grow(len(merged.ids), exact=True)
        assert self._tail is not None
        n = len(merged.ids)
        self._tail[0][:n], self._tail[1][:n], self._tail[2][:n] = merged.ids, merged.vectors, True
        self._tail_rows = n
        self._sync_tail()

    def remove(self, ids: np.ndarray) -> int:
        """Forget ids, zeroing their rows now; returns how many were held."""
        wanted = np.unique(np.asarray(ids, dtype=np.int64))
        removed = 0
        for segment in self._segments:
            if not segment.ids.size:
                continue
            pos, hit = segment.rows_of(wanted, segment is not self._tail_segment)
            rows = pos[hit]
            if rows.size:
                segment.vectors[rows] = 0.0
                segment.live[rows] = False
                removed += int(rows.size)
        self._count -= removed
        if removed:
            self.dirty = True
        return removed

    def lookup(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(vectors ids.shape + (dim,), held mask ids.shape): zero rows where not held."""
        flat = np.asarray(ids, dtype=np.int64).ravel()
        # Sorted keys let searchsorted narrow each search from the previous one (fewer
        # cache misses in a 10M-id array) and the gather read the rows in file order.
        order = np.argsort(flat, kind="stable")
        keys = flat[order]
        found = np.zeros((flat.size, self.dim), dtype=np.float32)
        hits = np.zeros(flat.size, dtype=bool)
        for segment in self._segments:
            if not segment.ids.size:
                continue
            pos, hit = segment.rows_of(keys, segment is not self._tail_segment)
            hit &= ~hits
            if hit.any():
                found[hit] = segment.vectors[pos[hit]]
                hits |= hit
        out = np.empty_like(found)
        out[order] = found
        held = np.empty_like(hits)
        held[order] = hits
        return out.reshape(*np.shape(ids), self.dim), held.reshape(np.shape(ids))

    # -- persistence -------------------------------------------------------------------

    def _chunks(self) -> tuple[np.ndarray, Iterator[np.ndarray]]:
        """(live ids ascending, vector chunks in the same order): gathered one chunk at a
        time, so saving a 10M store needs WRITE_CHUNK rows of extra memory, not 5 GB."""
        ids = [s.ids[s.live] for s in self._segments]
        rows = [np.flatnonzero(s.live) for s in self._segments]
        all_ids = np.concatenate(ids) if ids else np.empty(0, np.int64)
        marks = [np.full(len(r), n, np.int32) for n, r in enumerate(rows)]
        seg = np.concatenate(marks) if marks else np.empty(0, np.int32)
        row = np.concatenate(rows) if rows else np.empty(0, np.int64)
        if len(self._segments) > 1:
            order = np.argsort(all_ids, kind="stable")
            all_ids, seg, row = all_ids[order], seg[order], row[order]

        def chunks() -> Iterator[np.ndarray]:
            for lo in range(0, len(all_ids), WRITE_CHUNK):
                s, r = seg[lo : lo + WRITE_CHUNK], row[lo : lo + WRITE_CHUNK]
                chunk = np.empty((len(s), self.dim), np.float32)
                for n, segment in enumerate(self._segments):
                    mine = s == n
                    if mine.any():
                        chunk[mine] = segment.vectors[r[mine]]
                yield chunk

        return all_ids, chunks()

    def _header(self, count: int, crc: int) -> bytes:
        """The file header, always HEADER_BYTES long (rewritten in place once the CRC of
        the streamed payload is known)."""
        head = json.dumps(
            {
                "format": STORE_FORMAT,
                "dim": self.dim,
                "version": int(self.version),
                "count": count,
                "crc32": crc,
            },
            sort_keys=True,
        ).encode()
        room = HEADER_BYTES - len(STORE_MAGIC) - _HEADER_LEN.size
        if len(head) > room:
            raise StoreError("re-ranking store header too long")
        return STORE_MAGIC + _HEADER_LEN.pack(room) + head + b" " * (room - len(head))

    def save(self, path: Path, sealer: Sealer = PLAINTEXT) -> None:
        """Write the live rows atomically (sealed if encryption is on), then map the file."""
        ids, chunks = self._chunks()
        try:
            if sealer.enabled:
                parts = [ids.tobytes(), *(c.tobytes() for c in chunks)]
                crc = 0
                for part in parts:
                    crc = zlib.crc32(part, crc)
                body = b"".join([self._header(len(ids), crc), *parts])
                write_atomic(path, sealer.seal(body))
            else:
                _write_plain(path, ids, chunks, lambda crc: self._header(len(ids), crc))
        except OSError as error:
            raise StoreError(f"cannot write re-ranking store {path}: {error}") from error
        loaded = RerankStore.load(path, sealer, self.dim)
        self._segments, self._count = loaded._segments, loaded._count
        self._tail, self._tail_rows, self._tail_segment = None, 0, None
        self.dirty = False

    @classmethod
    def load(cls, path: Path, sealer: Sealer = PLAINTEXT, dim: int | None = None) -> RerankStore:
        """A store written by `save`; raises StoreError when missing, corrupt or sealed
        without a key."""
        what = f"re-ranking store {path}"
        try:
            with path.open("rb") as stream:
                sealed = is_sealed(stream.read(64))
            if sealed:
                data: bytes | np.ndarray = sealer.unseal(path.read_bytes(), what)
                raw = np.frombuffer(data, dtype=np.uint8)
            else:
                raw = np.memmap(path, dtype=np.uint8, mode="c")
        except (OSError, ValueError) as error:
            raise StoreError(f"cannot read {what}: {error}") from error
        start = len(STORE_MAGIC) + _HEADER_LEN.size
        if raw.size < start or bytes(raw[: len(STORE_MAGIC)]) != STORE_MAGIC:
            raise StoreError(f"{what} is not a facetrail re-ranking store")
        (head_len,) = _HEADER_LEN.unpack(bytes(raw[len(STORE_MAGIC) : start]))
        if head_len > _MAX_HEADER_BYTES or start + head_len > raw.size:
            raise StoreError(f"{what} is truncated (header)")
        try:
            header = json.loads(bytes(raw[start : start + head_len]))
            fmt, count = int(header["format"]), int(header["count"])
            stored_dim, version, crc = (
                int(header["dim"]),
                int(header["version"]),
                int(header["crc32"]),
            )
        except (ValueError, KeyError, TypeError) as error:
            raise StoreError(f"{what} has a corrupt header ({error})") from error
        if fmt != STORE_FORMAT or (dim is not None and stored_dim != dim):
            raise StoreError(f"{what} has format {fmt} / dim {stored_dim}, not this index's")
        body = start + head_len
        if raw.size != body + count * (8 + 4 * stored_dim):
            raise StoreError(f"{what} is truncated or corrupt (length)")
        payload = raw[body:]
        check = 0
        for lo in range(0, payload.size, 1 << 26):
            check = zlib.crc32(payload[lo : lo + (1 << 26)].data, check)
        if check != crc:
            raise StoreError(f"{what} is corrupt (checksum mismatch)")
        ids = payload[: count * 8].view(np.int64)
        vectors = payload[count * 8 :].view(np.float32).reshape(count, stored_dim)
        if sealed:  # plaintext in our own memory, writable so removals can zero rows
            ids, vectors = ids.copy(), vectors.copy()
        else:
            ids = np.array(ids)  # small; the vectors stay mapped (copy-on-write)
            # A plain ndarray view of the mapping: np.memmap's Python __getitem__ would
            # run on every lookup's gather.
            vectors = vectors.view(np.ndarray)
        if count > 1 and not bool(np.all(ids[1:] > ids[:-1])):
            raise StoreError(f"{what} is corrupt (ids out of order)")
        store = cls(stored_dim)
        store.version = version
        store._segments = [_Segment(ids, vectors, np.ones(count, dtype=bool))]
        store._count = count
        store.dirty = False
        return store


def _write_plain(
    path: Path, ids: np.ndarray, chunks: Iterator[np.ndarray], header: Callable[[int], bytes]
) -> None:
    """Stream header, ids and vector chunks to a temp file beside `path`, write the header
    again with the payload's CRC, then fsync and rename (store.files.atomic_writer)."""
    with atomic_writer(path) as stream:
        stream.write(header(0))
        stream.write(ids.data)
        crc = zlib.crc32(ids.data)
        for chunk in chunks:
            stream.write(chunk.data)
            crc = zlib.crc32(chunk.data, crc)
        stream.seek(0)
        stream.write(header(crc))
