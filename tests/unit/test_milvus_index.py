"""MilvusIndex against a real milvus-lite server: the FaissIndex protocol tests, mirrored."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from facetrail.errors import IndexError_
from facetrail.index import VectorIndex
from facetrail.index import milvus_index as milvus_module
from facetrail.index.checks import MAX_K
from facetrail.index.milvus_connect import collection_name, parse_url
from facetrail.index.milvus_index import MilvusIndex
from tests.milvus_server import free_port

DIM = 32
N = 2_000
ID_OFFSET = 10_000  # ids differ from row numbers so a mix-up shows
MODEL = "yunet+sface"
# Approximate types with parameters that make them exhaustive on N vectors.
INDEX_TYPES: dict[str, tuple[dict[str, int], dict[str, int]]] = {
    "FLAT": ({}, {}),
    "HNSW": ({"M": 16, "efConstruction": 200}, {"ef": 256}),
    "IVF_FLAT": ({"nlist": 8}, {"nprobe": 8}),
}
_galleries = itertools.count(1)

MakeIndex = Callable[..., MilvusIndex]


def unit(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit norm, float32."""
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    """(ids, vectors) of a random unit gallery."""
    rng = np.random.default_rng(0)
    return np.arange(N, dtype=np.int64) + ID_OFFSET, unit(rng.standard_normal((N, DIM)))


@pytest.fixture(scope="module")
def queries() -> np.ndarray:
    """Random unit queries."""
    return unit(np.random.default_rng(1).standard_normal((25, DIM)))


@pytest.fixture
def make_index(milvus_url: str) -> Iterator[MakeIndex]:
    """Builds indexes on fresh collections (a new gallery id each) and drops them after."""
    made: list[MilvusIndex] = []

    def make(index_type: str = "FLAT", gallery_id: int | None = None, **kw: object) -> MilvusIndex:
        build, search = INDEX_TYPES.get(index_type, ({}, {}))
        kw.setdefault("build_params", build)
        kw.setdefault("search_params", search)
        gallery = next(_galleries) if gallery_id is None else gallery_id
        index = MilvusIndex(milvus_url, gallery, MODEL, DIM, index_type=index_type, **kw)  # type: ignore[arg-type]
        made.append(index)
        return index

    yield make
    for index in made:
        index.drop()
        index.close()


def built(make_index: MakeIndex, data: tuple[np.ndarray, np.ndarray], kind: str = "FLAT"):
    """An index of the given type holding the whole gallery."""
    index = make_index(kind)
    index.add(*data)
    return index


def test_implements_protocol_except_file_save(make_index: MakeIndex) -> None:
    index = make_index()
    members = {"dim", "add", "remove", "search", "range_search", "reconstruct", "ids"}
    assert all(hasattr(VectorIndex, m) for m in [*members, "save", "__len__"])
    assert all(hasattr(index, m) for m in [*members, "__len__"])
    assert not hasattr(index, "save")  # the server persists it; flush() seals segments
    assert index.dim == DIM and len(index) == 0 and index.version == -1


def test_exact_search_equals_numpy(
    make_index: MakeIndex, data: tuple[np.ndarray, np.ndarray], queries: np.ndarray
) -> None:
    ids, vectors = data
    index = built(make_index, data)
    scores, found = index.search(queries, 10)
    truth = queries @ vectors.T
    order = np.argsort(-truth, axis=1)[:, :10]
    assert found.dtype == np.int64 and scores.dtype == np.float32
    np.testing.assert_array_equal(found, ids[order])
    np.testing.assert_allclose(scores, np.take_along_axis(truth, order, axis=1), atol=1e-5)
    one_scores, one_found = index.search(queries[3:4], 10)
    np.testing.assert_array_equal(one_found[0], found[3])
    np.testing.assert_allclose(one_scores[0], scores[3], atol=1e-5)


def test_k_beyond_size_pads_and_empty_index_is_all_padding(
    make_index: MakeIndex, queries: np.ndarray
) -> None:
    index = make_index()
    scores, found = index.search(queries, 5)
    assert (found == -1).all() and np.isneginf(scores).all()
    index.add(np.array([7, 8, 9]), unit(np.random.default_rng(2).standard_normal((3, DIM))))
    scores, found = index.search(queries[:2], 5)
    assert sorted(found[0, :3]) == [7, 8, 9]
    assert (found[:, 3:] == -1).all() and np.isneginf(scores[:, 3:]).all()
    assert np.isfinite(scores[:, :3]).all()
    assert index.search(queries[:0], 5)[1].shape == (0, 5)


@pytest.mark.parametrize("kind", list(INDEX_TYPES))
def test_removed_ids_never_returned(
    kind: str, make_index: MakeIndex, data: tuple[np.ndarray, np.ndarray], queries: np.ndarray
) -> None:
    ids, vectors = data
    index = built(make_index, data, kind)
    gone = ids[::2]
    assert index.remove(np.concatenate([gone, [1, 2, 3]])) == len(gone)  # unknown count 0
    assert index.remove(gone) == 0
    assert len(index) == N - len(gone)
    np.testing.assert_array_equal(index.ids(), ids[1::2])
    _, found = index.search(np.concatenate([queries, vectors[::2][:20]]), 50)
    assert not np.isin(found, gone).any()
    _, found = index.search(vectors[1:2], 1)
    assert found[0, 0] == ids[1]
    assert ids[1] in index and ids[0] not in index


def test_duplicate_ids_refused_and_index_unchanged(
    make_index: MakeIndex, data: tuple[np.ndarray, np.ndarray], queries: np.ndarray
) -> None:
    ids, _ = data
    index = built(make_index, data)
    before = index.search(queries, 5)
    extra = unit(np.random.default_rng(3).standard_normal((2, DIM)))
    with pytest.raises(IndexError_, match=r"already in the index: \[10005\]"):
        index.add(np.array([99_999, ids[5]]), extra)
    with pytest.raises(IndexError_, match=r"duplicate ids within one add: \[42\]"):
        index.add(np.array([42, 42]), extra)
    assert len(index) == N and 99_999 not in index and 42 not in index
    after = index.search(queries, 5)
    np.testing.assert_array_equal(after[1], before[1])
    np.testing.assert_array_equal(after[0], before[0])


def test_bad_input_refused_with_a_message_naming_the_problem(
    make_index: MakeIndex, milvus_url: str
) -> None:
    index = make_index()
    good = unit(np.ones((2, DIM)))
    with pytest.raises(IndexError_, match=r"shape \(n, 32\), got \(2, 16\) \(wrong dim\)"):
        index.add(np.array([1, 2]), good[:, :16])
    with pytest.raises(IndexError_, match=r"got \(32,\); reshape"):
        index.search(good[0], 1)
    nan = good.copy()
    nan[1, 4] = np.nan
    with pytest.raises(IndexError_, match=r"NaN or infinite values in rows \[1\]"):
        index.add(np.array([1, 2]), nan)
    with pytest.raises(IndexError_, match="got 3 ids for 2 vectors"):
        index.add(np.array([1, 2, 3]), good)
    with pytest.raises(IndexError_, match="ids must be >= 0"):
        index.add(np.array([1, -4]), good)
    with pytest.raises(IndexError_, match="ids must be integers"):
        index.add(np.array([1.0, 2.0]), good)
    with pytest.raises(IndexError_, match="must be real numbers"):
        index.add(np.array([1, 2]), np.full((2, DIM), "x"))
    for k in (0, MAX_K + 1, 2.5):
        with pytest.raises(IndexError_, match=f"k must be an integer in 1..{MAX_K}"):
            index.search(good, k)  # type: ignore[arg-type]
    with pytest.raises(IndexError_, match="threshold must be a finite number"):
        index.range_search(good, float("nan"))
    with pytest.raises(IndexError_, match="unsupported Milvus index type 'DISKANN'"):
        MilvusIndex(milvus_url, 1, MODEL, DIM, index_type="DISKANN")
    with pytest.raises(IndexError_, match="dim must be a positive integer"):
        MilvusIndex(milvus_url, 1, MODEL, 0)
    with pytest.raises(IndexError_, match="build params must map names"):
        MilvusIndex(milvus_url, 1, MODEL, DIM, build_params={"M": [16]})  # type: ignore[dict-item]
    with pytest.raises(IndexError_, match="generation must be an integer"):
        index.version = "3"  # type: ignore[assignment]
    assert len(index) == 0


def test_range_search_equals_numpy_thresholding(
    make_index: MakeIndex, data: tuple[np.ndarray, np.ndarray], queries: np.ndarray
) -> None:
    ids, vectors = data
    index = built(make_index, data)
    threshold = 0.45
    results = index.range_search(queries, threshold)
    truth = queries @ vectors.T
    assert len(results) == len(queries)
    assert sum(len(found) for found, _ in results) > 0
    for row, (found, scores) in zip(truth, results, strict=True):
        clear = np.abs(row - threshold) > 1e-5  # ignore float ties at the threshold
        expected = set(ids[(row >= threshold) & clear])
        assert set(found[clear[found - ID_OFFSET]]) == expected
        assert (scores >= threshold).all()
        assert (np.diff(scores) <= 0).all()  # best first
        np.testing.assert_allclose(scores, row[found - ID_OFFSET], atol=1e-5)
    assert all(len(f) == 0 for f, _ in index.range_search(queries, 1.01))
    exact_score = float(index.search(vectors[:1], 2)[0][0, 1])
    found, _ = index.range_search(vectors[:1], exact_score)[0]
    assert len(found) == 2 and found[0] == ids[0]  # a score equal to the threshold is kept


def test_range_search_refuses_to_truncate(make_index: MakeIndex, monkeypatch) -> None:
    index = make_index()
    vectors = unit(np.random.default_rng(5).standard_normal((50, DIM)))
    index.add(np.arange(50), vectors)
    monkeypatch.setattr(milvus_module, "MAX_LIMIT", 20)
    with pytest.raises(IndexError_, match="matched 20 or more vectors"):
        index.range_search(vectors[:1], -1.0)


def test_reconstruct_returns_stored_vectors(
    make_index: MakeIndex, data: tuple[np.ndarray, np.ndarray]
) -> None:
    ids, vectors = data
    index = built(make_index, data)
    pick = np.array([5, 0, 1999, 77, 5])
    got = index.reconstruct(ids[pick])
    assert got.shape == (5, DIM) and got.dtype == np.float32
    np.testing.assert_array_equal(got, vectors[pick])
    with pytest.raises(IndexError_, match=r"ids not in the index: \[3\]"):
        index.reconstruct(np.array([ids[0], 3]))


def test_ids_pages_through_the_whole_collection(make_index: MakeIndex, monkeypatch) -> None:
    index = make_index()
    rng = np.random.default_rng(6)
    ids = rng.choice(10**12, 2_500, replace=False).astype(np.int64)
    index.add(ids, unit(rng.standard_normal((2_500, DIM))))
    monkeypatch.setattr(milvus_module, "ITER_BATCH", 300)
    np.testing.assert_array_equal(index.ids(), np.sort(ids))


def test_version_and_rows_are_shared_with_every_connection(
    make_index: MakeIndex, milvus_url: str, data: tuple[np.ndarray, np.ndarray]
) -> None:
    index = make_index()
    assert index.version == -1  # never recorded: stale for any database generation
    index.add(data[0][:10], data[1][:10])
    index.version = 41
    with MilvusIndex(milvus_url, int(index.name.split("_")[1][1:]), MODEL, DIM) as other:
        assert other.name == index.name
        assert other.version == 41
        np.testing.assert_array_equal(other.ids(), data[0][:10])
        other.remove(data[0][:3])
        other.version = 42
    assert index.version == 42 and len(index) == 7  # strong reads see the other's writes
    assert index.search(data[1][:3], 1)[1][:, 0].tolist() != data[0][:3].tolist()


def test_existing_collection_with_other_dim_or_index_refused(
    make_index: MakeIndex, milvus_url: str
) -> None:
    index = make_index("HNSW")
    gallery = int(index.name.split("_")[1][1:])
    with pytest.raises(IndexError_, match=r"holds dim 32, expected 64; drop it"):
        MilvusIndex(milvus_url, gallery, MODEL, 64, index_type="HNSW")
    with pytest.raises(IndexError_, match=r"has a HNSW/IP index, asked for FLAT/IP; drop it"):
        MilvusIndex(milvus_url, gallery, MODEL, DIM, index_type="FLAT")


def test_drop_removes_the_collection(make_index: MakeIndex, data) -> None:
    index = make_index()
    gallery = int(index.name.split("_")[1][1:])
    index.add(data[0][:5], data[1][:5])
    index.version = 9
    index.drop()
    again = make_index(gallery_id=gallery)
    assert len(again) == 0 and again.version == -1


def test_collection_names_are_valid_and_distinct() -> None:
    names = {collection_name(g, m) for g in (1, 2, 10) for m in ("a+b", "a|b", "a-b", "é")}
    assert len(names) == 12
    for name in names:
        assert name.startswith("facetrail_g") and name.replace("_", "").isalnum()
        assert name.isascii() and len(name) <= 255
    assert collection_name(3, "yunet+sface").startswith("facetrail_g3_yunet_sface_")
    for bad in (-1, True, "3"):
        with pytest.raises(IndexError_, match="gallery id must be a non-negative integer"):
            collection_name(bad, "m")  # type: ignore[arg-type]
    with pytest.raises(IndexError_, match="model must be a non-empty string"):
        collection_name(1, "")


def test_urls_parsed_and_bad_ones_refused() -> None:
    assert parse_url("milvus://127.0.0.1:19530").grpc_uri == "http://127.0.0.1:19530"
    assert parse_url("milvus://[::1]:7").url == "milvus://[::1]:7"
    cases = {
        "http://h:1": "must start with milvus://",
        "milvus://h": "needs a port",
        "milvus://h:0": "needs a port",
        "milvus://h:99999": "invalid Milvus URL",
        "milvus://:5": "names no host",
        "milvus://u:p@h:5": "must not carry credentials",
        "milvus://h:5/db": "no path or query",
        "": "must be a non-empty string",
    }
    for url, message in cases.items():
        with pytest.raises(IndexError_, match=message):
            parse_url(url)


def test_unreachable_server_is_a_clear_error_within_the_timeout() -> None:
    url = f"milvus://127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(IndexError_, match=rf"cannot reach Milvus at {url} within 2 s.*running"):
        MilvusIndex(url, 1, MODEL, DIM, connect_timeout_s=2)
    assert time.monotonic() - started < 2 + 3


def test_homes_sharing_a_server_get_their_own_collections(tmp_path: Path) -> None:
    from facetrail.core.kernel import home_namespace

    url = "sqlite:///x"
    a, b = home_namespace(tmp_path / "a", url), home_namespace(tmp_path / "b", url)
    assert a != b and a.isalnum() and a == home_namespace(tmp_path / "a", url)
    assert collection_name(1, "sface", a) != collection_name(1, "sface", b)
    assert collection_name(1, "sface") != collection_name(1, "sface", a)
    with pytest.raises(IndexError_, match="namespace"):
        collection_name(1, "sface", "a-b")
