"""In-process FAISS backend of the vector index protocol: exact and compressed variants.

Every variant uses the inner-product metric on L2-normalised float32 vectors and keeps
our own int64 ids (`IndexIDMap2` around flat indexes, the IVF's own id lists with a
hashtable direct map so `remove` and `reconstruct` work). Indexes that need training
(`SQ*`, `PQ*`, `IVF*`) are trained on the first `add`, or explicitly with `train()`; too
few vectors raise `IndexError_` naming the minimum (see `min_train_vectors`).

A factory may end in `,Refine(<Flat|SQ8|SQfp16>)`: a second store at that precision holds
every vector; `search` takes `max(REFINE_FACTOR * k, REFINE_MIN_CANDIDATES)` candidates from
the fast index and re-scores them against it, so returned scores have the refine store's
precision; `range_search` and `reconstruct` use the refine store (an exhaustive scan).
The compressed default, `PQ32x4fs,Refine(SQ8)` (160 bytes/vector), scans every 4-bit PQ
code with SIMD (1M in about 1.7 ms p50 on one thread, exact Flat 29 ms) and re-scores 100
candidates at SQ8 precision; it needs no partitioning, so noisy probes cannot miss their
mate's IVF list. On the benchmark it kept 100% of exact's mate recall; IVF4096,SQ8 needed
nprobe 512 (3.6 ms) and 40 s of training for 99.5%, IVF1024 reached 97.8% at nprobe 256.
`PQ32x4fs,Refine(Flat)` is as fast with exact scores but saves no memory.
`IVF<nlist>,PQ<m>x4fs` keeps fast-scan codes in IVF lists (the compressed kind past
`partition_above`, index/kinds.py): FAISS gives such lists no direct map, so `remove`
scans them (26-32 ms for 1-10 ids at 10M) and `reconstruct` is refused (the store
of exact templates beside the index holds the vectors).

FAISS threads are process-wide: `search`/`range_search` set one OpenMP thread for a single
query and two for batches (DESIGN.md "Storage"), each call.

File format (`save`/`load`): one file, `FILE_MAGIC`, a 4-byte little-endian header length,
a JSON header (format, dim, factory, nprobe, version, count, payload lengths and CRC32s),
then the FAISS-serialised indexes (searched one, refine store). Written to `<path>.tmp`,
fsynced, then `os.replace`d; `load` checks lengths, checksums and the id count.
"""

from __future__ import annotations

import json
import os
import re
import struct
import zlib
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from facetrail.errors import IndexError_
from facetrail.index.checks import MAX_K as MAX_K  # re-exported: tests and callers read it here
from facetrail.index.checks import as_ids, as_k, as_matrix, shown

EXACT_FACTORY = "Flat"
# Measured with benchmarks/search.py on 1M x 128-d (2 cores): see the module docstring.
COMPRESSED_FACTORY = "PQ32x4fs,Refine(SQ8)"
# Lists visited by IVF factories when nprobe is not given (capped at nlist).
COMPRESSED_NPROBE = 64
REFINE_FACTOR = 2
REFINE_MIN_CANDIDATES = 100
# Below this gallery size exact search is fast enough (about 28 ms at 1M, one thread).
EXACT_MAX_VECTORS = 1_000_000

SINGLE_QUERY_THREADS = 1
BATCH_THREADS = 2
# FAISS warns below 39 training points per IVF list; we refuse instead of training badly.
MIN_TRAIN_PER_LIST = 39
# k-means on more than this many points per list buys little and costs minutes.
TRAIN_SAMPLE_PER_LIST = 64
# Training uses a seeded sample of at most max(TRAIN_SAMPLE_PER_LIST * nlist, this).
TRAIN_SAMPLE_MIN = 100_000
# Quantisers learn ranges or codebooks; a handful of vectors gives ones too narrow.
MIN_TRAIN_QUANTISED = 1_000
TRAIN_SEED = 1234

FILE_MAGIC = b"FTFAISS\x00"
FILE_FORMAT = 1
_HEADER_LEN = struct.Struct("<I")
_MAX_HEADER_BYTES = 1 << 20

_SQ = r"SQ8|SQ6|SQ4|SQfp16"
_FACTORY_RE = re.compile(
    rf"^(?P<base>IVF(?P<nlist>\d+),(Flat|{_SQ}|PQ\d+(x8|x4fs)?)|Flat|{_SQ}|PQ\d+(x8)?|PQ\d+x4fs)"
    rf"(,Refine\((?P<refine>Flat|SQ8|SQfp16)\))?$"
)


def _fast_scan(index: Any) -> bool:
    """Whether a FAISS IVF index keeps fast-scan (block-packed 4-bit) lists."""
    return isinstance(faiss.downcast_index(index), faiss.IndexIVFFastScan)


def recommended_factory(n_vectors: int) -> str:
    """The factory to use for a gallery of n_vectors: exact up to EXACT_MAX_VECTORS."""
    return EXACT_FACTORY if n_vectors <= EXACT_MAX_VECTORS else COMPRESSED_FACTORY


class FaissIndex:
    """A FAISS inner-product index with our int64 ids; exact (`Flat`) or compressed."""

    def __init__(self, dim: int, factory: str = EXACT_FACTORY, nprobe: int | None = None) -> None:
        if isinstance(dim, bool) or not isinstance(dim, int | np.integer) or dim <= 0:
            raise IndexError_(f"index dim must be a positive integer, got {dim!r}")
        match = _FACTORY_RE.match(factory) if isinstance(factory, str) else None
        if match is None:
            raise IndexError_(
                f"unsupported index factory {factory!r}: use 'Flat', 'SQ8' (also SQ6, SQ4, "
                "SQfp16), 'PQ<m>', 'PQ<m>x4fs' or "
                "'IVF<nlist>,<Flat|SQ8|SQ6|SQ4|SQfp16|PQ<m>|PQ<m>x4fs>', "
                "optionally followed by ',Refine(<Flat|SQ8|SQfp16>)'"
            )
        self._dim = int(dim)
        self._factory = factory
        self._nlist = int(match["nlist"]) if match["nlist"] else 0
        if match["nlist"] is not None and self._nlist < 1:
            raise IndexError_(f"IVF needs at least one list, got {factory!r}")
        self._ivf: Any = None
        self._index: Any = self._build(match["base"])
        self._refine: Any = self._build(match["refine"]) if match["refine"] else None
        self._present: set[int] = set()
        self.version: int = 0
        self._nprobe = 0
        if self._ivf is not None:
            self.nprobe = min(COMPRESSED_NPROBE, self._nlist) if nprobe is None else nprobe
        elif nprobe is not None:
            raise IndexError_(f"nprobe only applies to IVF indexes, not {factory!r}")

    def _build(self, factory: str) -> Any:
        """A FAISS index for factory that takes our ids (IVF directly, others via IDMap2)."""
        try:
            inner = faiss.index_factory(self._dim, factory, faiss.METRIC_INNER_PRODUCT)
        except RuntimeError as exc:
            raise IndexError_(f"FAISS cannot build {factory!r} for dim {self._dim}: {exc}") from exc
        ivf = faiss.try_extract_index_ivf(inner)
        if ivf is None:
            return faiss.IndexIDMap2(inner)  # faiss keeps a reference to inner
        if not _fast_scan(inner):
            # A hashtable direct map lets remove() and reconstruct() find ids directly.
            ivf.set_direct_map_type(faiss.DirectMap.Hashtable)  # type: ignore[attr-defined]
        # Fast-scan IVF lists (4-bit codes packed in blocks) take no direct map: remove()
        # scans the lists, and the vectors are reconstructed from the re-ranking store.
        self._ivf = ivf
        return inner

    @property
    def _parts(self) -> list[Any]:
        """The FAISS indexes holding every vector: the searched one, then the refine store."""
        return [self._index] if self._refine is None else [self._index, self._refine]

    # -- properties -------------------------------------------------------------------

    @property
    def dim(self) -> int:
        """Vector dimension."""
        return self._dim

    @property
    def factory(self) -> str:
        """The FAISS index_factory string of the inner index."""
        return self._factory

    @property
    def nprobe(self) -> int | None:
        """IVF lists visited per query (None for non-IVF indexes)."""
        return self._nprobe if self._ivf is not None else None

    @nprobe.setter
    def nprobe(self, value: int) -> None:
        """Set the IVF lists visited per query (1..nlist)."""
        if self._ivf is None:
            raise IndexError_(f"nprobe only applies to IVF indexes, not {self._factory!r}")
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise IndexError_(f"nprobe must be an integer, got {value!r}")
        if not 1 <= value <= self._nlist:
            raise IndexError_(f"nprobe must be in 1..{self._nlist} for {self._factory!r}")
        self._nprobe = int(value)
        self._ivf.nprobe = self._nprobe

    @property
    def is_trained(self) -> bool:
        """Whether the index can accept vectors (always True for Flat)."""
        return all(part.is_trained for part in self._parts)

    @property
    def min_train_vectors(self) -> int:
        """Fewest vectors train() (or the first add) accepts; 0 when no training is needed."""
        if self._ivf is not None:
            return self._nlist * MIN_TRAIN_PER_LIST
        return 0 if self._factory == EXACT_FACTORY else MIN_TRAIN_QUANTISED

    @property
    def train_sample_size(self) -> int:
        """Vectors train() keeps of those it is given (a random sample past this many)."""
        return max(self._nlist * TRAIN_SAMPLE_PER_LIST, TRAIN_SAMPLE_MIN)

    def nbytes(self) -> int:
        """Serialised size of the FAISS data in bytes (close to its memory use)."""
        return sum(int(faiss.serialize_index(part).nbytes) for part in self._parts)

    def __len__(self) -> int:
        return len(self._present)

    def __contains__(self, id_: object) -> bool:
        return isinstance(id_, int | np.integer) and int(id_) in self._present

    def __repr__(self) -> str:
        probe = f", nprobe={self._nprobe}" if self._ivf is not None else ""
        return f"FaissIndex(dim={self._dim}, factory={self._factory!r}{probe}, n={len(self)})"

    # -- validation -------------------------------------------------------------------

    def _matrix(self, values: np.ndarray, name: str) -> np.ndarray:
        """values as a C-contiguous float32 (n, dim) matrix of finite numbers."""
        return as_matrix(values, self._dim, name)

    _id_array = staticmethod(as_ids)
    _check_k = staticmethod(as_k)

    # -- mutation ---------------------------------------------------------------------

    def train(self, vectors: np.ndarray) -> None:
        """Train the quantiser on representative vectors (needed once for SQ/IVF)."""
        x = self._matrix(vectors, "training vectors")
        if self.is_trained:
            if self._factory == EXACT_FACTORY:
                return
            raise IndexError_(f"{self._factory!r} index is already trained; build a new one")
        if len(x) < self.min_train_vectors:
            raise IndexError_(
                f"{self._factory!r} needs at least {self.min_train_vectors} vectors to train, "
                f"got {len(x)}: add more vectors in the first add() or call train() with a "
                "representative sample"
            )
        cap = self.train_sample_size
        if len(x) > cap:
            pick = np.random.default_rng(TRAIN_SEED).choice(len(x), cap, replace=False)
            x = x[np.sort(pick)]
        faiss.omp_set_num_threads(BATCH_THREADS)
        for part in self._parts:
            if not part.is_trained:
                part.train(x)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add vectors under the given ids (ids must not be present already)."""
        id_arr = self._id_array(ids)
        x = self._matrix(vectors, "vectors")
        if len(id_arr) != len(x):
            raise IndexError_(f"got {len(id_arr)} ids for {len(x)} vectors; they must match")
        if len(id_arr) == 0:
            return
        unique, counts = np.unique(id_arr, return_counts=True)
        if len(unique) != len(id_arr):
            raise IndexError_(f"duplicate ids within one add: {shown(unique[counts > 1])}")
        id_list = id_arr.tolist()
        present = self._present
        clash = [i for i in id_list if i in present]
        if clash:
            raise IndexError_(f"ids already in the index: {shown(clash)}; remove them first")
        if not self.is_trained:
            self.train(x)
        faiss.omp_set_num_threads(BATCH_THREADS)
        for part in self._parts:
            part.add_with_ids(x, id_arr)
        present.update(id_list)

    def remove(self, ids: np.ndarray) -> int:
        """Remove ids; returns how many were present and removed (unknown ids count 0)."""
        id_arr = self._id_array(ids)
        found = np.array(sorted({i for i in id_arr.tolist() if i in self._present}), dtype=np.int64)
        if len(found) == 0:
            return 0
        self._present.difference_update(found.tolist())
        for part in self._parts:
            # The IVF hashtable direct map only accepts an IDSelectorArray; IDMap2 scans all
            # its ids, so it gets the hashed IDSelectorBatch.
            selector: Any = (
                faiss.IDSelectorBatch(len(found), faiss.swig_ptr(found))
                if isinstance(part, faiss.IndexIDMap2) or _fast_scan(part)
                else faiss.IDSelectorArray(len(found), faiss.swig_ptr(found))
            )
            removed = part.remove_ids(selector)
            if removed != len(found):
                raise IndexError_(
                    f"FAISS removed {removed} of {len(found)} ids; the index is inconsistent, "
                    "rebuild it (facetrail index rebuild)"
                )
        return len(found)

    # -- queries ----------------------------------------------------------------------

    @staticmethod
    def _set_threads(n_queries: int) -> None:
        """One FAISS thread for a single query, two for a batch."""
        faiss.omp_set_num_threads(SINGLE_QUERY_THREADS if n_queries <= 1 else BATCH_THREADS)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k per query: (scores (nq, k) float32, ids (nq, k) int64); -1 ids, -inf pad."""
        q = self._matrix(queries, "queries")
        k = self._check_k(k)
        if len(self) == 0 or len(q) == 0:
            return (
                np.full((len(q), k), -np.inf, dtype=np.float32),
                np.full((len(q), k), -1, dtype=np.int64),
            )
        self._set_threads(len(q))
        if self._refine is not None:
            return self._refined_search(q, k)
        scores, found = self._index.search(q, k)
        scores[found < 0] = -np.inf
        return scores.astype(np.float32, copy=False), found.astype(np.int64, copy=False)

    def _refined_search(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Candidates from the fast index, re-scored against the refine store."""
        n_cand = min(max(REFINE_FACTOR * k, REFINE_MIN_CANDIDATES), len(self))
        _, cand = self._index.search(q, n_cand)
        valid = cand >= 0
        vectors = self._refine.reconstruct_batch(np.where(valid, cand, cand.max()).ravel())
        scores = np.einsum("qcd,qd->qc", vectors.reshape(*cand.shape, self._dim), q)
        scores[~valid] = -np.inf
        top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        out_scores = np.full((len(q), k), -np.inf, dtype=np.float32)
        out_ids = np.full((len(q), k), -1, dtype=np.int64)
        width = top.shape[1]
        out_scores[:, :width] = np.take_along_axis(scores, top, axis=1)
        out_ids[:, :width] = np.where(
            np.isfinite(out_scores[:, :width]), np.take_along_axis(cand, top, axis=1), -1
        )
        return out_scores, out_ids

    def range_search(
        self, queries: np.ndarray, threshold: float
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per query, (ids, scores) of every vector scoring >= threshold, best first."""
        q = self._matrix(queries, "queries")
        if isinstance(threshold, bool) or not np.isfinite(threshold):
            raise IndexError_(f"threshold must be a finite number, got {threshold!r}")
        t = np.float32(threshold)
        if len(self) == 0:
            empty = (np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32))
            return [(empty[0].copy(), empty[1].copy()) for _ in range(len(q))]
        self._set_threads(len(q))
        # FAISS keeps scores strictly above the radius for inner product; step one ulp down.
        radius = float(np.nextafter(t, np.float32(-np.inf)))
        exhaustive = self._index if self._refine is None else self._refine
        lims, scores, found = exhaustive.range_search(q, radius)
        out: list[tuple[np.ndarray, np.ndarray]] = []
        for i in range(len(q)):
            s = scores[lims[i] : lims[i + 1]].astype(np.float32, copy=False)
            f = found[lims[i] : lims[i + 1]].astype(np.int64, copy=False)
            keep = s >= t
            s, f = s[keep], f[keep]
            order = np.lexsort((f, -s))
            out.append((f[order], s[order]))
        return out

    def reconstruct(self, ids: np.ndarray) -> np.ndarray:
        """The stored vectors for ids, (n, dim) float32 (approximate for compressed)."""
        id_arr = self._id_array(ids)
        missing = [i for i in id_arr.tolist() if i not in self._present]
        if missing:
            raise IndexError_(f"ids not in the index: {shown(missing)}")
        if len(id_arr) == 0:
            return np.empty((0, self._dim), dtype=np.float32)
        store = self._index if self._refine is None else self._refine
        if self._ivf is not None and _fast_scan(store):
            raise IndexError_(
                f"{self._factory!r} cannot reconstruct vectors; read them from the re-ranking store"
            )
        return np.asarray(store.reconstruct_batch(id_arr), dtype=np.float32)

    def ids(self) -> np.ndarray:
        """Every id held, int64, ascending."""
        arr = np.fromiter(self._present, dtype=np.int64, count=len(self._present))
        arr.sort()
        return arr

    def _stored_ids(self, part: Any) -> np.ndarray:
        """The ids one FAISS index itself holds (used to rebuild the id set on load)."""
        if isinstance(part, faiss.IndexIDMap2):
            return faiss.vector_to_array(part.id_map).astype(np.int64)
        lists = part.invlists
        parts = [
            faiss.rev_swig_ptr(lists.get_ids(i), lists.list_size(i)).copy()
            for i in range(lists.nlist)
            if lists.list_size(i)
        ]
        return np.concatenate(parts).astype(np.int64) if parts else np.empty(0, np.int64)

    # -- persistence ------------------------------------------------------------------

    def save(self, path: Path) -> None:
        """Write atomically to path (temp file + fsync + rename), with dim/factory/version."""
        path = Path(path)
        tmp = path.with_suffix(".tmp")
        try:
            with open(tmp, "wb") as fh:
                fh.write(self.to_bytes())
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise IndexError_(f"cannot write index file {path}: {exc}") from exc

    def to_bytes(self) -> bytes:
        """The index in the file format `save` writes (for callers that store it elsewhere)."""
        payloads = [faiss.serialize_index(part) for part in self._parts]
        header = {
            "format": FILE_FORMAT,
            "dim": self._dim,
            "factory": self._factory,
            "nprobe": self.nprobe,
            "version": int(self.version),
            "count": len(self),
            "payload_bytes": [int(pl.nbytes) for pl in payloads],
            "payload_crc32": [zlib.crc32(pl.data) for pl in payloads],
        }
        head = json.dumps(header, sort_keys=True).encode()
        return b"".join(
            [FILE_MAGIC, _HEADER_LEN.pack(len(head)), head, *(pl.data for pl in payloads)]
        )

    @classmethod
    def load(cls, path: Path) -> FaissIndex:
        """Read an index written by save(); a corrupt or truncated file raises IndexError_."""
        path = Path(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise IndexError_(f"cannot read index file {path}: {exc}") from exc
        return cls.from_bytes(data, path)

    @classmethod
    def from_bytes(cls, data: bytes, path: Path | str = "<bytes>") -> FaissIndex:
        """An index from the bytes `to_bytes` made; `path` names the source in errors."""
        rebuild = "; rebuild it from the database (facetrail index rebuild)"
        start = len(FILE_MAGIC) + _HEADER_LEN.size
        if len(data) < start or data[: len(FILE_MAGIC)] != FILE_MAGIC:
            raise IndexError_(f"{path} is not a facetrail FAISS index file{rebuild}")
        (head_len,) = _HEADER_LEN.unpack_from(data, len(FILE_MAGIC))
        if head_len > _MAX_HEADER_BYTES or start + head_len > len(data):
            raise IndexError_(f"index file {path} is truncated or corrupt (header){rebuild}")
        try:
            header = json.loads(data[start : start + head_len])
            dim, factory = int(header["dim"]), str(header["factory"])
            nprobe, version = header["nprobe"], int(header["version"])
            count, fmt = int(header["count"]), int(header["format"])
            sizes = [int(n) for n in header["payload_bytes"]]
            crcs = [int(c) for c in header["payload_crc32"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise IndexError_(f"index file {path} has a corrupt header ({exc}){rebuild}") from exc
        if fmt != FILE_FORMAT:
            raise IndexError_(f"index file {path} has unknown format {fmt}{rebuild}")
        body = np.frombuffer(data, dtype=np.uint8, offset=start + head_len)
        if len(sizes) != len(crcs) or sum(sizes) != len(body):
            raise IndexError_(f"index file {path} is truncated or corrupt (length){rebuild}")
        offsets = np.cumsum([0, *sizes])
        payloads = [body[offsets[i] : offsets[i + 1]] for i in range(len(sizes))]
        if any(zlib.crc32(pl.data) != crc for pl, crc in zip(payloads, crcs, strict=True)):
            raise IndexError_(f"index file {path} is corrupt (checksum mismatch){rebuild}")
        loaded = cls(dim, factory, nprobe=nprobe)
        if len(payloads) != len(loaded._parts):
            raise IndexError_(f"index file {path} does not hold a {factory!r} index{rebuild}")
        try:
            parts = [faiss.deserialize_index(pl) for pl in payloads]
        except RuntimeError as exc:
            raise IndexError_(f"FAISS cannot read index file {path}: {exc}{rebuild}") from exc
        loaded._ivf = faiss.try_extract_index_ivf(parts[0])
        if any(part.d != dim for part in parts) or (loaded._ivf is None) != (loaded._nlist == 0):
            raise IndexError_(f"index file {path} does not hold a {factory!r} index{rebuild}")
        loaded._index = parts[0]
        loaded._refine = parts[1] if len(parts) > 1 else None
        if loaded._ivf is not None:
            loaded._ivf.nprobe = loaded._nprobe
        stored = [loaded._stored_ids(part) for part in parts]
        loaded._present = set(stored[0].tolist())
        if any(len(ids) != count for ids in stored) or len(loaded._present) != count:
            raise IndexError_(
                f"index file {path} holds {len(stored[0])} vectors, header says {count}{rebuild}"
            )
        loaded.version = version
        return loaded
