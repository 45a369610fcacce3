"""Milvus backend of the vector index protocol: one collection per (gallery, model).

Each collection holds `id` (INT64 primary key, our template id, no auto id) and `vector`
(FLOAT_VECTOR), searched with the inner-product metric on L2-normalised float32 vectors,
so scores equal FaissIndex's. Index type (`FLAT`, `HNSW`, `HNSW_SQ`, `IVF_FLAT`, `IVF_SQ8`),
build and search parameters are configurable; `FLAT` is exact.

Reads are strongly consistent: collections are created with, and every read asks for,
`consistency_level="Strong"`, so an id `remove` returned for is never served again.
`add` refuses ids already present (Milvus itself would silently upsert or duplicate) and
`remove` deletes only ids present; neither is atomic across processes, and an `add` of
more than `INSERT_BATCH` rows is several inserts: the service layer reconciles from SQL.

The index persists on the server (no `save`); `flush()` seals written rows into segments.
`version` is the database generation the collection reflects, stored in the collection's
properties (`facetrail.generation`, -1 when never set) so another process or a restart
sees it: set it only after the writes it covers have returned, and compare it with
`index_state.generation` before searching, as IndexCatalog does with FAISS files.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import numpy as np
from pymilvus import DataType, MilvusClient
from pymilvus.exceptions import MilvusException

from facetrail.errors import IndexError_
from facetrail.index.checks import as_ids, as_k, as_matrix, as_threshold, padded, shown
from facetrail.index.milvus_connect import (
    DEFAULT_CONNECT_TIMEOUT_S,
    DEFAULT_REQUEST_TIMEOUT_S,
    MilvusAddress,
    call,
    collection_name,
    connect,
    failure,
    parse_url,
)

ID_FIELD = "id"
VECTOR_FIELD = "vector"
METRIC = "IP"
STRONG = "Strong"
GENERATION_KEY = "facetrail.generation"
GALLERY_KEY = "facetrail.gallery_id"
MODEL_KEY = "facetrail.model"
NO_GENERATION = -1
INDEX_TYPES = ("FLAT", "HNSW", "HNSW_SQ", "IVF_FLAT", "IVF_SQ8")
# Rows per insert RPC (128-d: about 5 MB) and ids per `id in [...]` expression.
INSERT_BATCH = 10_000
ID_BATCH = 10_000
# Milvus caps limit (top-k) and offset + limit at 16384; range search uses that cap.
MAX_LIMIT = 16_384
# Rows per page when ids() walks the collection.
ITER_BATCH = MAX_LIMIT
NOT_LOADED_CODE = 101
_REBUILD = "drop it (MilvusIndex.drop) and rebuild it from the database (facetrail index rebuild)"

T = TypeVar("T")
Params = Mapping[str, int | float | str]


def _params(value: Params | None, what: str) -> dict[str, int | float | str]:
    """A copy of index build/search parameters, checked to be a str -> number/str mapping."""
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, int | float | str) and not isinstance(v, bool)
        for k, v in value.items()
    ):
        raise IndexError_(f"Milvus {what} must map names to numbers or strings, got {value!r}")
    return dict(value)


class MilvusIndex:
    """A Milvus collection of (template id, vector) for one (gallery, model)."""

    def __init__(
        self,
        url: str,
        gallery_id: int,
        model: str,
        dim: int,
        *,
        index_type: str = "FLAT",
        build_params: Params | None = None,
        search_params: Params | None = None,
        connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
        request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S,
        namespace: str = "",
    ) -> None:
        if isinstance(dim, bool) or not isinstance(dim, int | np.integer) or dim <= 0:
            raise IndexError_(f"index dim must be a positive integer, got {dim!r}")
        if index_type not in INDEX_TYPES:
            raise IndexError_(
                f"unsupported Milvus index type {index_type!r}: use one of {', '.join(INDEX_TYPES)}"
            )
        if not isinstance(request_timeout_s, int | float) or not request_timeout_s > 0:
            raise IndexError_(f"request timeout must be positive, got {request_timeout_s!r}")
        self._address: MilvusAddress = parse_url(url)
        self._name = collection_name(gallery_id, model, namespace)
        self._dim = int(dim)
        self._index_type = index_type
        self._build_params = _params(build_params, "build params")
        self._search_params = _params(search_params, "search params")
        self._timeout = float(request_timeout_s)
        self._write_lock = threading.Lock()  # milvus-lite: one writer per collection
        self._client: MilvusClient = connect(self._address, connect_timeout_s)
        try:
            if self._call("check the collection", lambda c: c.has_collection(self._name)):
                self._check_existing()
            else:
                self._create(gallery_id, model)
            self._load()
        except BaseException:
            self._client.close()
            raise

    # -- properties -------------------------------------------------------------------

    @property
    def dim(self) -> int:
        """Vector dimension."""
        return self._dim

    @property
    def url(self) -> str:
        """The server's `milvus://host:port` URL."""
        return self._address.url

    @property
    def name(self) -> str:
        """The Milvus collection name."""
        return self._name

    @property
    def index_type(self) -> str:
        """The Milvus index type of the vector field."""
        return self._index_type

    @property
    def search_params(self) -> dict[str, int | float | str]:
        """Parameters sent with every search (e.g. `ef` for HNSW, `nprobe` for IVF)."""
        return dict(self._search_params)

    @search_params.setter
    def search_params(self, value: Params) -> None:
        """Replace the search parameters."""
        self._search_params = _params(value, "search params")

    @property
    def version(self) -> int:
        """The database generation this collection reflects (-1: never recorded)."""
        described = self._call("describe the collection", self._describe)
        raw = described.get("properties", {}).get(GENERATION_KEY, str(NO_GENERATION))
        try:
            return int(raw)
        except ValueError as exc:
            raise IndexError_(
                f"collection {self._name} at {self.url} has a corrupt {GENERATION_KEY} "
                f"{raw!r}; {_REBUILD}"
            ) from exc

    @version.setter
    def version(self, generation: int) -> None:
        """Record the generation (call after the writes it covers have returned)."""
        if isinstance(generation, bool) or not isinstance(generation, int | np.integer):
            raise IndexError_(f"generation must be an integer, got {generation!r}")
        if generation < NO_GENERATION:
            raise IndexError_(f"generation must be >= {NO_GENERATION}, got {generation}")
        props = {GENERATION_KEY: str(int(generation))}
        self._call(
            "record the generation",
            lambda c: c.alter_collection_properties(self._name, props, timeout=self._timeout),
        )

    def __len__(self) -> int:
        rows = self._call(
            "count rows",
            lambda c: c.query(
                self._name,
                output_fields=["count(*)"],
                timeout=self._timeout,
                consistency_level=STRONG,
            ),
        )
        return int(rows[0]["count(*)"])

    def __contains__(self, id_: object) -> bool:
        if isinstance(id_, bool) or not isinstance(id_, int | np.integer) or id_ < 0:
            return False
        return bool(self._present(np.array([id_], dtype=np.int64)).size)

    def __repr__(self) -> str:
        return f"MilvusIndex({self.url}, {self._name!r}, dim={self._dim}, {self._index_type})"

    def __enter__(self) -> MilvusIndex:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- server calls -----------------------------------------------------------------

    def _call(self, what: str, fn: Callable[[MilvusClient], T]) -> T:
        """One client call; a collection the server released (a restart) is reloaded once."""
        try:
            return fn(self._client)
        except MilvusException as exc:
            if exc.code != NOT_LOADED_CODE:
                raise failure(self._address, what, exc) from exc
        self._load()
        return call(self._address, what, lambda: fn(self._client))

    def _describe(self, client: MilvusClient) -> dict[str, Any]:
        """The collection's description (schema, properties)."""
        return dict(client.describe_collection(self._name, timeout=self._timeout))

    def _load(self) -> None:
        """Load the collection for search (needed after create and after a restart)."""
        call(
            self._address,
            f"load collection {self._name}",
            lambda: self._client.load_collection(self._name, timeout=self._timeout),
        )

    def _create(self, gallery_id: int, model: str) -> None:
        """Create the collection, its vector index and its properties."""
        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field(ID_FIELD, DataType.INT64, is_primary=True)
        schema.add_field(VECTOR_FIELD, DataType.FLOAT_VECTOR, dim=self._dim)
        index = MilvusClient.prepare_index_params()
        index.add_index(
            field_name=VECTOR_FIELD,
            index_type=self._index_type,
            metric_type=METRIC,
            params=dict(self._build_params),
        )
        properties = {
            GENERATION_KEY: str(NO_GENERATION),
            GALLERY_KEY: str(gallery_id),
            MODEL_KEY: model,
        }
        self._call(
            f"create collection {self._name}",
            lambda c: c.create_collection(
                self._name,
                schema=schema,
                index_params=index,
                consistency_level=STRONG,
                properties=properties,
                timeout=self._timeout,
            ),
        )

    def _check_existing(self) -> None:
        """Refuse an existing collection whose schema or index differs from the one asked."""
        fields = {f["name"]: f for f in self._call("describe", self._describe)["fields"]}
        pk, vec = fields.get(ID_FIELD), fields.get(VECTOR_FIELD)
        ok = (
            pk is not None
            and pk.get("is_primary")
            and pk["type"] == DataType.INT64
            and vec is not None
            and vec["type"] == DataType.FLOAT_VECTOR
        )
        if not ok:
            raise IndexError_(f"collection {self._name} at {self.url} is not a facetrail index")
        if int(vec["params"]["dim"]) != self._dim:  # type: ignore[index]
            raise IndexError_(
                f"collection {self._name} at {self.url} holds dim {vec['params']['dim']}, "  # type: ignore[index]
                f"expected {self._dim}; {_REBUILD}"
            )
        info = self._call(
            "describe the index",
            lambda c: c.describe_index(self._name, VECTOR_FIELD, timeout=self._timeout),
        )
        have = (info.get("index_type"), info.get("metric_type"))
        if have != (self._index_type, METRIC):
            raise IndexError_(
                f"collection {self._name} at {self.url} has a {have[0]}/{have[1]} index, "
                f"asked for {self._index_type}/{METRIC}; {_REBUILD}"
            )

    def _present(self, ids: np.ndarray) -> np.ndarray:
        """Which of ids the collection holds (sorted, unique)."""
        found: list[int] = []
        unique = np.unique(ids)
        for start in range(0, unique.size, ID_BATCH):
            batch = unique[start : start + ID_BATCH].tolist()
            rows = self._call(
                "look up ids",
                lambda c, b=batch: c.get(  # type: ignore[misc]
                    self._name,
                    ids=b,
                    output_fields=[ID_FIELD],
                    timeout=self._timeout,
                    consistency_level=STRONG,
                ),
            )
            found.extend(int(row[ID_FIELD]) for row in rows)
        return np.unique(np.array(found, dtype=np.int64))

    # -- mutation ---------------------------------------------------------------------

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add vectors under the given ids (ids must not be present already)."""
        id_arr = as_ids(ids)
        x = as_matrix(vectors, self._dim, "vectors")
        if len(id_arr) != len(x):
            raise IndexError_(f"got {len(id_arr)} ids for {len(x)} vectors; they must match")
        if len(id_arr) == 0:
            return
        unique, counts = np.unique(id_arr, return_counts=True)
        if len(unique) != len(id_arr):
            raise IndexError_(f"duplicate ids within one add: {shown(unique[counts > 1])}")
        with self._write_lock:
            clash = self._present(id_arr)
            if clash.size:
                raise IndexError_(f"ids already in the index: {shown(clash)}; remove them first")
            for start in range(0, len(id_arr), INSERT_BATCH):
                rows = [
                    {ID_FIELD: int(i), VECTOR_FIELD: v}
                    for i, v in zip(
                        id_arr[start : start + INSERT_BATCH].tolist(),
                        x[start : start + INSERT_BATCH],
                        strict=True,
                    )
                ]
                self._call(
                    "insert",
                    lambda c, r=rows: c.insert(self._name, r, timeout=self._timeout),  # type: ignore[misc]
                )

    def remove(self, ids: np.ndarray) -> int:
        """Remove ids; returns how many were present and removed (unknown ids count 0)."""
        id_arr = as_ids(ids)
        if len(id_arr) == 0:
            return 0
        with self._write_lock:
            found = self._present(id_arr)
            for start in range(0, found.size, ID_BATCH):
                batch = found[start : start + ID_BATCH].tolist()
                self._call(
                    "delete",
                    lambda c, b=batch: c.delete(self._name, ids=b, timeout=self._timeout),  # type: ignore[misc]
                )
        return int(found.size)

    def flush(self) -> None:
        """Seal written rows into segments on the server (they are durable before this)."""
        self._call("flush", lambda c: c.flush(self._name, timeout=self._timeout))

    def drop(self) -> None:
        """Delete the collection and everything in it from the server."""
        with self._write_lock:
            self._call("drop", lambda c: c.drop_collection(self._name, timeout=self._timeout))

    def close(self) -> None:
        """Close the connection (the collection stays on the server)."""
        self._client.close()

    # -- queries ----------------------------------------------------------------------

    def _search(self, q: np.ndarray, limit: int, extra: Params) -> list[Any]:
        """Raw Milvus search hits per query (ids and scores only)."""
        params = {**self._search_params, **extra}
        if "ef" in params and self._index_type.startswith("HNSW"):
            params["ef"] = max(int(params["ef"]), limit)  # Milvus needs ef >= limit
        request = {"metric_type": METRIC, "params": params}
        return self._call(
            "search",
            lambda c: c.search(
                self._name,
                data=q,
                limit=limit,
                output_fields=[ID_FIELD],
                search_params=request,
                timeout=self._timeout,
                consistency_level=STRONG,
            ),
        )

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k per query: (scores (nq, k) float32, ids (nq, k) int64); -1 ids, -inf pad."""
        q = as_matrix(queries, self._dim, "queries")
        k = as_k(k)
        scores, found = padded(len(q), k)
        if len(q) == 0:
            return scores, found
        for row, hits in enumerate(self._search(q, k, {})):
            n = min(len(hits), k)
            found[row, :n] = [int(h["id"]) for h in hits[:n]]
            scores[row, :n] = [float(h["distance"]) for h in hits[:n]]
        return scores, found

    def range_search(
        self, queries: np.ndarray, threshold: float
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per query, (ids, scores) of every vector scoring >= threshold, best first."""
        q = as_matrix(queries, self._dim, "queries")
        t = as_threshold(threshold)
        if len(q) == 0:
            return []
        # Milvus keeps scores strictly above the radius for IP; step one ulp down.
        radius = float(np.nextafter(t, np.float32(-np.inf)))
        out: list[tuple[np.ndarray, np.ndarray]] = []
        for hits in self._search(q, MAX_LIMIT, {"radius": radius, "range_filter": math.inf}):
            if len(hits) >= MAX_LIMIT:
                raise IndexError_(
                    f"range search at threshold {threshold} matched {MAX_LIMIT} or more "
                    f"vectors in {self._name}, Milvus's limit; raise the threshold"
                )
            f = np.array([int(h["id"]) for h in hits], dtype=np.int64)
            s = np.array([h["distance"] for h in hits], dtype=np.float32)
            keep = s >= t
            f, s = f[keep], s[keep]
            order = np.lexsort((f, -s))
            out.append((f[order], s[order]))
        return out

    def reconstruct(self, ids: np.ndarray) -> np.ndarray:
        """The stored vectors for ids, (n, dim) float32."""
        id_arr = as_ids(ids)
        stored: dict[int, np.ndarray] = {}
        unique = np.unique(id_arr)
        for start in range(0, unique.size, ID_BATCH):
            batch = unique[start : start + ID_BATCH].tolist()
            rows = self._call(
                "read vectors",
                lambda c, b=batch: c.get(  # type: ignore[misc]
                    self._name,
                    ids=b,
                    output_fields=[VECTOR_FIELD],
                    timeout=self._timeout,
                    consistency_level=STRONG,
                ),
            )
            stored.update((int(r[ID_FIELD]), np.asarray(r[VECTOR_FIELD], np.float32)) for r in rows)
        missing = [i for i in id_arr.tolist() if i not in stored]
        if missing:
            raise IndexError_(f"ids not in the index: {shown(missing)}")
        if len(id_arr) == 0:
            return np.empty((0, self._dim), dtype=np.float32)
        return np.stack([stored[i] for i in id_arr.tolist()])

    def ids(self) -> np.ndarray:
        """Every id held, int64, ascending (what reconciliation compares with SQL)."""
        iterator = self._call(
            "list ids",
            lambda c: c.query_iterator(
                self._name,
                batch_size=ITER_BATCH,
                output_fields=[ID_FIELD],
                timeout=self._timeout,
                consistency_level=STRONG,
            ),
        )
        chunks: list[np.ndarray] = []
        try:
            while rows := call(self._address, "list ids", iterator.next):
                chunks.append(np.array([int(r[ID_FIELD]) for r in rows], dtype=np.int64))
        finally:
            iterator.close()
        arr = np.concatenate(chunks) if chunks else np.empty(0, dtype=np.int64)
        arr.sort()
        return arr
