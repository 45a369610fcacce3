"""FaissIndex: exact results equal numpy, ids stay ours, bad input and files are refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facetrail.errors import IndexError_
from facetrail.index import (
    COMPRESSED_FACTORY,
    EXACT_FACTORY,
    FaissIndex,
    VectorIndex,
    recommended_factory,
)
from facetrail.index.faiss_index import EXACT_MAX_VECTORS, MAX_K

DIM = 32
N = 2_000
ID_OFFSET = 10_000  # ids differ from row numbers so a mix-up shows
FACTORIES = [EXACT_FACTORY, "SQ8", "IVF8,SQ8", "IVF8,Flat", "PQ8x4fs,Refine(SQ8)"]
# IVF lists of fast-scan PQ codes (the partitioned compressed kind): no reconstruct.
FAST_SCAN_IVF = "IVF8,PQ16x4fs"
SQ8_ATOL = 0.01
MATE_COS = 0.7


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


def built(factory: str, data: tuple[np.ndarray, np.ndarray]) -> FaissIndex:
    """An index of the given factory holding the whole gallery."""
    index = FaissIndex(DIM, factory)
    index.add(*data)
    return index


def test_implements_protocol() -> None:
    assert isinstance(FaissIndex(DIM), VectorIndex)


def test_exact_search_equals_numpy(data: tuple[np.ndarray, np.ndarray], queries: np.ndarray):
    ids, vectors = data
    index = built(EXACT_FACTORY, data)
    scores, found = index.search(queries, 10)
    truth = queries @ vectors.T
    order = np.argsort(-truth, axis=1)[:, :10]
    assert found.dtype == np.int64 and scores.dtype == np.float32
    np.testing.assert_array_equal(found, ids[order])
    np.testing.assert_allclose(scores, np.take_along_axis(truth, order, axis=1), atol=1e-5)
    one_scores, one_found = index.search(queries[3:4], 10)  # the one-thread path
    np.testing.assert_array_equal(one_found[0], found[3])
    np.testing.assert_allclose(one_scores[0], scores[3], atol=1e-5)


def test_k_beyond_size_pads_and_empty_index_is_all_padding(queries: np.ndarray) -> None:
    index = FaissIndex(DIM)
    scores, found = index.search(queries, 5)
    assert (found == -1).all() and np.isneginf(scores).all()
    index.add(np.array([7, 8, 9]), unit(np.random.default_rng(2).standard_normal((3, DIM))))
    scores, found = index.search(queries[:2], 5)
    assert sorted(found[0, :3]) == [7, 8, 9]
    assert (found[:, 3:] == -1).all() and np.isneginf(scores[:, 3:]).all()
    assert np.isfinite(scores[:, :3]).all()


@pytest.mark.parametrize("factory", [*FACTORIES, FAST_SCAN_IVF])
def test_removed_ids_never_returned(
    factory: str, data: tuple[np.ndarray, np.ndarray], queries: np.ndarray
) -> None:
    ids, vectors = data
    index = built(factory, data)
    gone = ids[::2]
    assert index.remove(np.concatenate([gone, [1, 2, 3]])) == len(gone)  # unknown count 0
    assert index.remove(gone) == 0
    assert len(index) == N - len(gone)
    np.testing.assert_array_equal(index.ids(), ids[1::2])
    _, found = index.search(np.concatenate([queries, vectors[::2][:20]]), 50)
    assert not np.isin(found, gone).any()
    _, found = index.search(vectors[1:2], 1)
    assert found[0, 0] == ids[1]


@pytest.mark.parametrize("factory", [EXACT_FACTORY, "IVF8,SQ8"])
def test_duplicate_ids_refused_and_index_unchanged(
    factory: str, data: tuple[np.ndarray, np.ndarray], queries: np.ndarray
) -> None:
    ids, _ = data
    index = built(factory, data)
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


def test_bad_input_refused_with_a_message_naming_the_problem() -> None:
    index = FaissIndex(DIM)
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
    with pytest.raises(IndexError_, match="unsupported index factory 'HNSW32'"):
        FaissIndex(DIM, "HNSW32")
    with pytest.raises(IndexError_, match="dim must be a positive integer"):
        FaissIndex(0)
    with pytest.raises(IndexError_, match="nprobe only applies to IVF"):
        FaissIndex(DIM, "SQ8", nprobe=4)
    assert len(index) == 0


def test_range_search_equals_numpy_thresholding(
    data: tuple[np.ndarray, np.ndarray], queries: np.ndarray
) -> None:
    ids, vectors = data
    index = built(EXACT_FACTORY, data)
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


def test_range_search_keeps_scores_equal_to_threshold(data: tuple[np.ndarray, np.ndarray]):
    ids, vectors = data
    index = built(EXACT_FACTORY, data)
    exact_score = float(index.search(vectors[:1], 2)[0][0, 1])
    found, _ = index.range_search(vectors[:1], exact_score)[0]
    assert len(found) == 2 and found[0] == ids[0]


@pytest.mark.parametrize("factory", [*FACTORIES, FAST_SCAN_IVF])
def test_save_load_round_trip(
    factory: str, data: tuple[np.ndarray, np.ndarray], queries: np.ndarray, tmp_path: Path
) -> None:
    index = built(factory, data)
    index.remove(data[0][:10])
    index.version = 41
    path = tmp_path / "gallery.faiss"
    index.save(path)
    assert not path.with_suffix(".tmp").exists()
    loaded = FaissIndex.load(path)
    assert (loaded.version, loaded.factory, loaded.dim, loaded.nprobe, len(loaded)) == (
        41,
        factory,
        DIM,
        index.nprobe,
        N - 10,
    )
    np.testing.assert_array_equal(loaded.ids(), index.ids())
    for got, want in zip(loaded.search(queries, 10), index.search(queries, 10), strict=True):
        np.testing.assert_array_equal(got, want)
    with pytest.raises(IndexError_, match="already in the index"):
        loaded.add(data[0][10:11], data[1][10:11])
    assert loaded.remove(data[0][10:20]) == 10  # the id set and FAISS agree after load


def test_corrupt_files_refused_naming_the_file(
    data: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    path = tmp_path / "gallery.faiss"
    built(EXACT_FACTORY, data).save(path)
    raw = path.read_bytes()
    flipped = bytearray(raw)
    flipped[-100] ^= 0xFF
    cases = {
        "flipped.faiss": bytes(flipped),
        "truncated.faiss": raw[: len(raw) // 2],
        "header-only.faiss": raw[:20],
        "garbage.faiss": b"not an index at all",
        "empty.faiss": b"",
    }
    for name, content in cases.items():
        bad = tmp_path / name
        bad.write_bytes(content)
        with pytest.raises(IndexError_, match=f"{name}.*rebuild"):
            FaissIndex.load(bad)
    with pytest.raises(IndexError_, match=r"missing\.faiss"):
        FaissIndex.load(tmp_path / "missing.faiss")


@pytest.mark.parametrize("factory", [COMPRESSED_FACTORY, "IVF16,SQ8", "IVF16,PQ32x4fs"])
def test_compressed_recall_of_true_mate(factory: str) -> None:
    rng = np.random.default_rng(4)
    dim, n, n_probes = 128, 5_000, 200
    gallery = unit(rng.standard_normal((n, dim)))
    mates = rng.choice(n, n_probes, replace=False)
    noise = rng.standard_normal((n_probes, dim))
    noise -= (noise * gallery[mates]).sum(axis=1, keepdims=True) * gallery[mates]
    probes = unit(MATE_COS * gallery[mates] + np.sqrt(1 - MATE_COS**2) * unit(noise))
    index = FaissIndex(dim, factory)
    index.add(np.arange(n), gallery)
    _, found = index.search(probes, 10)
    recall = np.mean((found == mates[:, None]).any(axis=1))
    assert recall >= 0.99, f"{factory} recall@10 {recall:.3f}"
    assert np.mean(found[:, 0] == mates) >= 0.99


@pytest.mark.parametrize("factory", FACTORIES)
def test_reconstruct_returns_stored_vectors(
    factory: str, data: tuple[np.ndarray, np.ndarray]
) -> None:
    ids, vectors = data
    index = built(factory, data)
    pick = np.array([5, 0, 1999, 77])
    got = index.reconstruct(ids[pick])
    assert got.shape == (4, DIM) and got.dtype == np.float32
    exact = factory == EXACT_FACTORY or factory.endswith(",Flat")
    np.testing.assert_allclose(got, vectors[pick], atol=0 if exact else SQ8_ATOL)
    with pytest.raises(IndexError_, match=r"ids not in the index: \[3\]"):
        index.reconstruct(np.array([ids[0], 3]))


def test_training_needs_enough_vectors_and_can_be_explicit(
    data: tuple[np.ndarray, np.ndarray],
) -> None:
    ids, vectors = data
    index = FaissIndex(DIM, "IVF64,SQ8")
    assert index.min_train_vectors == 64 * 39
    with pytest.raises(IndexError_, match=r"needs at least 2496 vectors to train, got 2000"):
        index.add(ids, vectors)
    assert len(index) == 0 and not index.is_trained
    with pytest.raises(IndexError_, match="needs at least 1000 vectors"):
        FaissIndex(DIM, "SQ8").add(ids[:10], vectors[:10])
    index = FaissIndex(DIM, "IVF8,SQ8", nprobe=8)
    index.train(vectors)
    index.add(ids[:1], vectors[:1])  # small adds work once trained
    assert index.is_trained and len(index) == 1
    assert index.search(vectors[:1], 1)[1][0, 0] == ids[0]


def test_nprobe_validated_and_full_probe_is_exact(
    data: tuple[np.ndarray, np.ndarray], queries: np.ndarray
) -> None:
    index = built("IVF8,Flat", data)
    for bad in (0, 9, True):
        with pytest.raises(IndexError_, match="nprobe must be"):
            index.nprobe = bad
    index.nprobe = 8
    exact = built(EXACT_FACTORY, data)
    np.testing.assert_array_equal(index.search(queries, 10)[1], exact.search(queries, 10)[1])


def test_recommended_factory() -> None:
    assert recommended_factory(10_000) == EXACT_FACTORY
    assert recommended_factory(EXACT_MAX_VECTORS) == EXACT_FACTORY
    assert recommended_factory(EXACT_MAX_VECTORS + 1) == COMPRESSED_FACTORY
    FaissIndex(128, recommended_factory(EXACT_MAX_VECTORS + 1))  # the default builds


def test_fast_scan_ivf_lists_take_no_direct_map_and_refuse_reconstruct(
    data: tuple[np.ndarray, np.ndarray],
) -> None:
    index = built(FAST_SCAN_IVF, data)
    assert index.nprobe == 8  # COMPRESSED_NPROBE capped at nlist
    with pytest.raises(IndexError_, match="re-ranking store"):
        index.reconstruct(data[0][:3])
    assert index.remove(data[0][:100]) == 100  # lists scanned: no hashtable needed
    assert len(index) == N - 100
    index.nprobe = 8
    _, found = index.search(data[1][100:120], 1)
    np.testing.assert_array_equal(found[:, 0], data[0][100:120])
