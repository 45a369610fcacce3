"""MilvusIndex across server crashes (SIGKILL, restart on the same data dir) and vs exact FAISS."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from facetrail.errors import IndexError_
from facetrail.index import FaissIndex
from facetrail.index.milvus_index import MilvusIndex
from tests.milvus_server import MilvusServer, started_server

DIM = 16
MODEL = "sface"
BATCH = 50
BATCHES = 400
KILL_AFTER = 40  # acknowledged adds before the server is killed
MATE_COS = 0.7


def unit(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit norm, float32."""
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[MilvusServer]:
    """A milvus-lite server this test may kill and restart."""
    server = started_server(tmp_path / "data")
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize("delay_s", [0.0, 0.004, 0.02])  # where in an add the kill lands
def test_sigkill_during_adds_keeps_an_acknowledged_prefix(
    own_server: MilvusServer, delay_s: float
) -> None:
    rng = np.random.default_rng(0)
    ids = np.arange(BATCH * BATCHES, dtype=np.int64) + 1_000
    vectors = unit(rng.standard_normal((len(ids), DIM)))
    index = MilvusIndex(own_server.url, 1, MODEL, DIM)
    index.version = 5
    acked: list[int] = []
    errors: list[Exception] = []

    def writer() -> None:
        for b in range(BATCHES):
            part = slice(b * BATCH, (b + 1) * BATCH)
            try:
                index.add(ids[part], vectors[part])
            except IndexError_ as exc:
                errors.append(exc)
                return
            acked.append(b)

    thread = threading.Thread(target=writer)
    thread.start()
    while len(acked) < KILL_AFTER and thread.is_alive():
        time.sleep(0.001)
    time.sleep(delay_s)
    own_server.kill()
    thread.join(60)
    assert not thread.is_alive() and errors, "the adds should fail once the server is gone"
    assert str(own_server.port) in str(errors[0])  # the error names the server
    assert KILL_AFTER <= len(acked) < BATCHES
    own_server.start()
    survived = index.ids()  # same client: the restarted server reloads the collection
    prefixes = [ids[: BATCH * m] for m in (len(acked), len(acked) + 1)]
    assert any(np.array_equal(survived, p) for p in prefixes), (len(acked), len(survived))
    assert len(index) == len(survived)
    assert index.version == 5  # stale against the database: reconcile from SQL
    _, found = index.search(vectors[: len(survived)][-3:], 1)
    np.testing.assert_array_equal(found[:, 0], survived[-3:])
    index.close()


@pytest.mark.parametrize("flushed", [True, False])
def test_removed_ids_never_come_back_after_a_crash(own_server: MilvusServer, flushed: bool) -> None:
    rng = np.random.default_rng(1)
    ids = np.arange(1_200, dtype=np.int64)
    vectors = unit(rng.standard_normal((len(ids), DIM)))
    index = MilvusIndex(own_server.url, 2, MODEL, DIM)
    index.add(ids[:1_000], vectors[:1_000])
    if flushed:
        index.flush()  # the removed rows are in sealed segments, not only the WAL
    gone = np.concatenate([ids[:1_000:3], ids[1_000::4]])
    index.add(ids[1_000:], vectors[1_000:])
    assert index.remove(gone) == len(gone)
    index.version = 8
    own_server.kill()
    own_server.start()
    with MilvusIndex(own_server.url, 2, MODEL, DIM) as reopened:
        kept = np.setdiff1d(ids, gone)
        np.testing.assert_array_equal(reopened.ids(), kept)
        assert reopened.version == 8 and len(reopened) == len(kept)
        _, found = reopened.search(vectors[gone], 5)
        assert not np.isin(found, gone).any()
        assert not any(np.isin(f, gone).any() for f, _ in reopened.range_search(vectors, 0.5))
    own_server.restart()  # a clean restart after the crash changes nothing either
    np.testing.assert_array_equal(index.ids(), np.setdiff1d(ids, gone))
    index.close()


def test_top10_equals_exact_faiss_on_10k_with_planted_mates(milvus_url: str) -> None:
    rng = np.random.default_rng(2)
    dim, n, n_probes = 128, 10_000, 200
    gallery = unit(rng.standard_normal((n, dim)))
    ids = rng.choice(10**9, n, replace=False).astype(np.int64)
    mates = rng.choice(n, n_probes, replace=False)
    noise = rng.standard_normal((n_probes, dim))
    noise -= (noise * gallery[mates]).sum(axis=1, keepdims=True) * gallery[mates]
    probes = unit(MATE_COS * gallery[mates] + np.sqrt(1 - MATE_COS**2) * unit(noise))
    exact = FaissIndex(dim)
    exact.add(ids, gallery)
    # A gallery id no app test uses: the session's server also holds their collections.
    index = MilvusIndex(milvus_url, 900_003, MODEL, dim)
    try:
        index.add(ids, gallery)
        assert len(index) == n
        np.testing.assert_array_equal(index.ids(), np.sort(ids))
        want_scores, want = exact.search(probes, 10)
        got_scores, got = index.search(probes, 10)
        np.testing.assert_allclose(got_scores, want_scores, atol=1e-5)
        differ = got != want  # allowed only where two scores tie to float precision
        assert np.abs(got_scores - want_scores)[differ].max(initial=0) < 1e-5
        assert differ.sum() <= 2, f"{differ.sum()} of {differ.size} top-10 entries differ"
        assert (got[:, 0] == ids[mates]).all() and (want[:, 0] == ids[mates]).all()
    finally:
        index.drop()
        index.close()
