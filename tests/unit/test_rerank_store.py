"""The re-ranking store beside compressed indexes: exact, consistent, sealed, erasable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

import facetrail
from facetrail.biometrics.face import Face
from facetrail.biometrics.pipeline import FaceAnalyzer
from facetrail.errors import StoreError
from facetrail.index.bulk import bulk_load
from facetrail.index.faiss_index import FaissIndex
from facetrail.index.rerank import RerankStore, store_path
from facetrail.index.slots import FaissSlot
from facetrail.security import keyring as crypto
from facetrail.security.keyring import is_sealed
from facetrail.security.sealing import Sealer
from facetrail.services.matching import rank_subjects_batch
from facetrail.store.models import Gallery, Image, Subject

DIM = 128
PIPELINE = "yunet+sface"


def _unit(rng: np.random.Generator, n: int) -> np.ndarray:
    x = rng.standard_normal((n, DIM), dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _face(vector: np.ndarray) -> Face:
    return Face(
        (0.0, 0.0, 1.0, 1.0), np.zeros((5, 2), np.float32), 1.0, templates={"sface": vector}
    )


def _search(app: facetrail.Facetrail, gallery_id: int, probes: np.ndarray) -> list[list[str]]:
    kernel = app.kernel
    with kernel.reader() as session:
        gallery = session.get(Gallery, gallery_id)
        assert gallery is not None
        ranked = rank_subjects_batch(
            session,
            kernel.catalog,
            gallery,
            FaceAnalyzer.from_spec(PIPELINE),
            [_face(p) for p in probes],
            10,
        )
    return [[m.subject for m in row] for row in ranked]


@pytest.mark.parametrize("stride", [1, 3, 7])  # dense, dense with gaps, too sparse
def test_saved_store_finds_rows_by_position_table_or_search(tmp_path: Path, stride: int) -> None:
    """A saved segment of dense ids finds rows through a position table (span at most
    DENSE_SPAN_FACTOR rows per id), a sparse one by binary search: both must give the
    rows the ids were stored with, miss ids outside or between them, and skip removed ones."""
    from facetrail.index import rerank

    rng = np.random.default_rng(5)
    n = rerank.DENSE_MIN_ROWS + 500
    ids = 1_000 + stride * np.arange(n, dtype=np.int64)
    vectors = _unit(rng, n)
    store = RerankStore(DIM)
    store.add(ids, vectors)
    store.save(tmp_path / "s.vectors")
    store.remove(ids[[3, 40, n - 1]])
    wanted = np.concatenate(
        [ids[rng.integers(0, n, 1_993)], ids[[3, 40, n - 1]], [0, 999, ids[-1] + 1, 1_001]]
    )
    found, held = store.lookup(wanted.reshape(4, -1))
    found, held = found.reshape(-1, DIM), held.ravel()
    rows = {int(i): r for r, i in enumerate(ids)}
    removed = {int(i) for i in ids[[3, 40, n - 1]]}
    for key, vector, is_held in zip(wanted.tolist(), found, held.tolist(), strict=True):
        expected = key in rows and key not in removed
        assert is_held == expected, key
        if expected:
            assert np.array_equal(vector, vectors[rows[key]])
        else:
            assert not vector.any()
    table = store._segments[0]._table
    assert (table is not None) == (stride <= rerank.DENSE_SPAN_FACTOR)


def test_store_adds_removes_looks_up_and_round_trips(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    vectors = _unit(rng, 300)
    store = RerankStore(DIM)
    store.add(np.arange(100, 200), vectors[100:200])
    store.add(np.arange(0, 100)[::-1], vectors[:100][::-1])  # out of order: own segment
    store.reserve(100)
    store.add(np.arange(200, 300), vectors[200:])
    assert len(store) == 300
    assert store.remove(np.array([5, 150, 250, 999])) == 3
    got, held = store.lookup(np.array([[5, 6], [150, 299]]))
    assert held.tolist() == [[False, True], [False, True]]
    assert np.array_equal(got[0, 1], vectors[6]) and np.array_equal(got[1, 1], vectors[299])
    assert not got[0, 0].any()
    path = tmp_path / "s.vectors"
    store.version = 7
    store.save(path)
    raw = path.read_bytes()
    for gone in (5, 150, 250):  # nothing of a removed template is written
        assert vectors[gone].tobytes() not in raw
    loaded = RerankStore.load(path, dim=DIM)
    assert loaded.version == 7 and len(loaded) == 297
    assert np.array_equal(loaded.ids(), np.setdiff1d(np.arange(300), [5, 150, 250]))
    got, held = loaded.lookup(np.arange(300))
    assert np.array_equal(got[held], vectors[held])
    loaded.remove(np.array([7]))  # the mapped rows are copy-on-write: the file is not touched
    assert path.read_bytes() == raw
    assert not loaded.lookup(np.array([7]))[0].any()
    path.write_bytes(raw[:-10])
    with pytest.raises(StoreError, match="truncated"):
        RerankStore.load(path, dim=DIM)
    path.write_bytes(raw[:-4] + b"\x00\x00\x00\x01")
    with pytest.raises(StoreError, match="checksum"):
        RerankStore.load(path, dim=DIM)


def test_store_is_sealed_when_the_home_is_encrypted(tmp_path: Path) -> None:
    key = crypto.generate_key()
    sealer = Sealer(crypto.parse_keyring(key, "test"))
    vectors = _unit(np.random.default_rng(2), 50)
    store = RerankStore(DIM)
    store.add(np.arange(50), vectors)
    path = tmp_path / "s.vectors"
    store.save(path, sealer)
    raw = path.read_bytes()
    assert is_sealed(raw) and vectors[0].tobytes() not in raw
    with pytest.raises(StoreError, match="FACETRAIL_KEY"):
        RerankStore.load(path, dim=DIM)
    again = RerankStore.load(path, sealer, DIM)
    assert np.array_equal(again.lookup(np.arange(50))[0], vectors)

    # Through the app: an encrypted home's compressed gallery writes only sealed files.
    app = facetrail.open(tmp_path / "h", key=key)
    try:
        loaded = bulk_load(
            app.kernel.catalog, "pq", _unit(np.random.default_rng(3), 2_000), kind="compressed"
        )
        index_file = app.kernel.catalog.path(loaded.gallery_id, "sface")
        for written in (index_file, store_path(index_file)):
            assert is_sealed(written.read_bytes()[:64]), written
    finally:
        app.close()


# The partitioned compressed kind (IVF lists of PQ codes), every list probed so its
# results are comparable with the plain kind's.
PARTITIONED = {
    "partition_above": 0,
    "partitioned_factory": "IVF16,PQ64x4fs",
    "partitioned_nprobe": 16,
}


@pytest.mark.parametrize("settings", [{}, PARTITIONED], ids=["plain", "partitioned"])
def test_crash_between_store_and_index_writes_rebuilds_the_store(
    tmp_path: Path, settings: dict[str, Any]
) -> None:
    rng = np.random.default_rng(4)
    vectors = _unit(rng, 3_000)
    probes = vectors[:20] * 0.7 + _unit(rng, 20) * 0.7
    probes /= np.linalg.norm(probes, axis=1, keepdims=True)
    home = tmp_path / "h"
    app = facetrail.open(home, **settings)
    wanted = "IVF16,PQ64x4fs" if settings else "PQ64x4fs"
    try:
        loaded = bulk_load(app.kernel.catalog, "pq", vectors, kind="compressed")
        before = _search(app, loaded.gallery_id, probes)
        index_file = app.kernel.catalog.path(loaded.gallery_id, "sface")
        stale_store = store_path(index_file).read_bytes()
        # Erase one subject: the store and the index are both rewritten at the new generation.
        victim = before[0][0]
        app.delete_subject("pq", victim)
        victim_row = loaded.subject_names.index(victim)
        after = _search(app, loaded.gallery_id, probes)
        assert all(victim not in row for row in after)
        assert vectors[victim_row].tobytes() not in store_path(index_file).read_bytes()
        slot = app.kernel.catalog.get(loaded.gallery_id, "sface", DIM, "compressed")
        assert isinstance(slot, FaissSlot) and slot.store is not None
        assert slot.factory == wanted
        assert not slot.store.lookup(loaded.template_ids[victim_row : victim_row + 1])[1].any()
        assert loaded.template_ids[victim_row] not in set(slot.index.ids().tolist())
        new_generation = slot.version
    finally:
        app.close()
    # A crash after the index file was written but before the store was: the store on
    # disk is a generation behind and still holds the erased template.
    store_path(index_file).write_bytes(stale_store)
    assert FaissIndex.load(index_file).version == new_generation
    app = facetrail.open(home, **settings)
    try:
        again = _search(app, loaded.gallery_id, probes)
        assert again == after
        slot = app.kernel.catalog.get(loaded.gallery_id, "sface", DIM, "compressed")
        assert isinstance(slot, FaissSlot) and slot.store is not None
        assert slot.store.version == slot.version == new_generation
        assert np.array_equal(slot.store.ids(), slot.index.ids())
        assert victim_row + 1 not in set(slot.store.ids().tolist())
        app.kernel.catalog.save()
        assert vectors[victim_row].tobytes() not in store_path(index_file).read_bytes()
    finally:
        app.close()
    # A store deleted outright is rebuilt from the database too.
    store_path(index_file).unlink()
    app = facetrail.open(home, **settings)
    try:
        assert _search(app, loaded.gallery_id, probes) == after
    finally:
        app.close()


def test_images_not_usable_are_skipped_and_the_next_subjects_fill_in(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    vectors = _unit(rng, 2_000)
    probes = vectors[:5] * 0.7 + _unit(rng, 5) * 0.7
    probes /= np.linalg.norm(probes, axis=1, keepdims=True)
    app = facetrail.open(tmp_path / "h")
    try:
        loaded = bulk_load(app.kernel.catalog, "pq", vectors, kind="compressed")
        before = _search(app, loaded.gallery_id, probes)
        hidden = {row[0] for row in before} | {row[3] for row in before}
        with app.kernel.database.transaction() as session:
            for image in session.scalars(
                select(Image).join(Subject).where(Subject.external_id.in_(hidden))
            ):
                image.lawfully_held = False
        after = _search(app, loaded.gallery_id, probes)
        truth = [
            [loaded.subject_names[i] for i in np.argsort(-(vectors @ p), kind="stable")]
            for p in probes
        ]
        for row, expected in zip(after, truth, strict=True):
            assert len(row) == 10 and not hidden & set(row)
            assert row == [name for name in expected if name not in hidden][:10]
    finally:
        app.close()
