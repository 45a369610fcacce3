"""Index kinds per gallery: the CLI option, stored kinds, auto switching, exact re-ranking."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

import facetrail
from facetrail.biometrics.face import Face
from facetrail.biometrics.pipeline import FaceAnalyzer
from facetrail.errors import InvalidInputError
from facetrail.facade import Facetrail
from facetrail.index.bulk import bulk_load
from facetrail.index.faiss_index import EXACT_FACTORY
from facetrail.index.kinds import (
    COMPRESSED_FACTORY,
    DEFAULT_PARTITION_ABOVE,
    PARTITIONED_FACTORY,
    faiss_factory,
    ivf_lists,
    kind_of,
)
from facetrail.index.slots import FaissSlot
from facetrail.interfaces.cli.main import app as cli
from facetrail.services.matching import rank_subjects_batch
from facetrail.store.models import Gallery

DIM = 128
PIPELINE = "yunet+sface"
# A partitioned gallery small enough for a unit test: 32 IVF lists past 4,000 templates.
SMALL_PARTITIONED = {"partition_above": 4_000, "partitioned_factory": "IVF32,PQ64x4fs"}


def _unit(rng: np.random.Generator, n: int) -> np.ndarray:
    x = rng.standard_normal((n, DIM), dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _face(vector: np.ndarray) -> Face:
    return Face(
        box=(0, 0, 1, 1),
        landmarks=np.zeros((5, 2), np.float32),
        detector_score=1.0,
        templates={"sface": vector.astype(np.float32)},
    )


def _message(result: object) -> str:
    """What a refused CLI call says (main() prints the exception; the runner keeps it)."""
    return f"{result.output}{result.exception}"  # type: ignore[attr-defined]


def _galleries(app: Facetrail) -> dict[str, str]:
    with app.kernel.reader() as session:
        return dict(session.execute(select(Gallery.name, Gallery.index_factory)).tuples().all())


def test_kinds_resolve_to_faiss_factories() -> None:
    assert faiss_factory("exact", 5_000_000, 1000) == EXACT_FACTORY
    assert faiss_factory("Flat", 5_000_000, 1000) == EXACT_FACTORY  # stored by older versions
    assert faiss_factory("compressed", 5_000, 10**9) == COMPRESSED_FACTORY
    assert faiss_factory("compressed", 999, 10**9) == EXACT_FACTORY  # too few to train PQ
    assert faiss_factory("auto", 2_000, 2_000) == EXACT_FACTORY
    assert faiss_factory("auto", 2_001, 2_000) == COMPRESSED_FACTORY
    assert kind_of("Flat") == "exact"
    assert kind_of("milvus") == "milvus"


def test_compressed_galleries_are_partitioned_past_the_configured_size() -> None:
    big, cut = 3_000_000, 2_000_000
    assert ivf_lists(PARTITIONED_FACTORY) == 8192 and ivf_lists(COMPRESSED_FACTORY) == 0
    # the defaults: a 1M compressed gallery is partitioned (issue 15's 1M target)
    default = DEFAULT_PARTITION_ABOVE
    assert (
        faiss_factory("compressed", 1_000_000, 10**9, partition_above=default)
        == PARTITIONED_FACTORY
    )
    assert faiss_factory("compressed", big, 10**9, partition_above=cut) == PARTITIONED_FACTORY
    assert faiss_factory("compressed", cut, 10**9, partition_above=cut) == COMPRESSED_FACTORY
    assert faiss_factory("auto", big, 1_000_000, partition_above=cut) == PARTITIONED_FACTORY
    assert faiss_factory("auto", big, 10**9, partition_above=0) == EXACT_FACTORY
    assert faiss_factory("exact", big, 0, partition_above=0) == EXACT_FACTORY
    assert faiss_factory("compressed", big, 10**9) == COMPRESSED_FACTORY  # None: never
    # Too few templates to train 8192 lists (39 each): plain PQ until the gallery grows.
    assert faiss_factory("compressed", 100_000, 10**9, partition_above=0) == COMPRESSED_FACTORY
    small = "IVF16,PQ64x4fs"
    assert faiss_factory("compressed", 5_000, 0, partition_above=0, partitioned=small) == small
    # A FAISS factory stored by an older facetrail is kept as it is.
    legacy = "PQ32x4fs,Refine(SQ8)"
    assert faiss_factory(legacy, big, 0, partition_above=0) == legacy


def test_partitioned_gallery_probes_the_configured_lists(tmp_path: Path) -> None:
    rng = np.random.default_rng(12)
    vectors = _unit(rng, 5_000)
    settings = SMALL_PARTITIONED
    application = facetrail.open(tmp_path / "h", partitioned_nprobe=8, **settings)
    try:
        catalog = application.kernel.catalog
        loaded = bulk_load(catalog, "ivf", vectors, kind="compressed")
        slot = catalog.get(loaded.gallery_id, "sface", DIM, "compressed")
        assert isinstance(slot, FaissSlot) and slot.factory == "IVF32,PQ64x4fs"
        assert slot.index.nprobe == 8 and slot.store is not None
        assert np.array_equal(slot.ids(), loaded.template_ids)
    finally:
        application.close()
    # nprobe is a search setting: a new one applies to the saved index without a rebuild.
    application = facetrail.open(tmp_path / "h", create=False, partitioned_nprobe=64, **settings)
    try:
        slot = application.kernel.catalog.get(loaded.gallery_id, "sface", DIM, "compressed")
        assert isinstance(slot, FaissSlot) and slot.index.nprobe == 32  # capped at nlist
        probes = vectors[:20] * 0.7 + _unit(rng, 20) * 0.7
        probes /= np.linalg.norm(probes, axis=1, keepdims=True)
        with application.kernel.reader() as session:
            gallery = session.get(Gallery, loaded.gallery_id)
            ranked = rank_subjects_batch(
                session,
                application.kernel.catalog,
                gallery,
                FaceAnalyzer.from_spec(PIPELINE),
                [_face(p) for p in probes],
                10,
            )
        for probe, matches in zip(probes, ranked, strict=True):
            top = np.sort(vectors @ probe)[::-1][:10]  # every list probed: the true top 10
            assert [m.score for m in matches] == pytest.approx(top.tolist(), abs=1e-6)
    finally:
        application.close()


def test_rebuild_trains_a_partitioned_index_on_more_than_one_stream_chunk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rebuild streams templates in chunks; an IVF index needs more vectors to train
    than one chunk holds (8,192 lists: 319,488 against 50,000 at real sizes). It used to
    refuse with 'needs at least ... vectors to train'."""
    import facetrail.index.catalog as catalog_module

    monkeypatch.setattr(catalog_module, "STREAM_BATCH", 500)  # IVF32 needs 1,248
    rng = np.random.default_rng(13)
    vectors = _unit(rng, 5_000)
    settings = SMALL_PARTITIONED
    application = facetrail.open(tmp_path / "h", partitioned_nprobe=32, **settings)
    try:
        catalog = application.kernel.catalog
        loaded = bulk_load(catalog, "ivf", vectors, kind="compressed")
        assert catalog.rebuild(loaded.gallery_id, "sface", DIM, "compressed") == 5_000
        slot = catalog.get(loaded.gallery_id, "sface", DIM, "compressed")
        assert isinstance(slot, FaissSlot) and slot.factory == "IVF32,PQ64x4fs"
        assert np.array_equal(slot.ids(), loaded.template_ids)
        scores, ids = slot.search(vectors[:5], 1)
        assert ids[:, 0].tolist() == loaded.template_ids[:5].tolist()
        assert scores[:, 0] == pytest.approx(1.0, abs=1e-5)
    finally:
        application.close()


def test_cli_galleries_create_index_option(tmp_path: Path) -> None:
    runner = CliRunner()
    home = str(tmp_path / "home")
    made = runner.invoke(
        cli, ["galleries", "create", "pq", "--index", "compressed", "--json", "--home", home]
    )
    assert made.exit_code == 0, made.output
    assert json.loads(made.stdout)["index"] == "compressed"
    plain = runner.invoke(cli, ["galleries", "create", "plain", "--json", "--home", home])
    assert json.loads(plain.stdout)["index"] == "auto"  # the Settings default

    bogus = runner.invoke(cli, ["galleries", "create", "bad", "--index", "annoy", "--home", home])
    assert bogus.exit_code != 0
    assert "unknown index kind 'annoy'" in _message(bogus)
    assert "auto, exact, compressed, milvus" in _message(bogus)
    no_server = runner.invoke(
        cli, ["galleries", "create", "mv", "--index", "milvus", "--home", home]
    )
    assert no_server.exit_code != 0
    assert "FACETRAIL_INDEX_URL" in _message(no_server)
    bad_url = runner.invoke(cli, ["--index-url", "http://x:1", "galleries", "list", "--home", home])
    assert bad_url.exit_code != 0
    assert "milvus://" in _message(bad_url)

    listed = runner.invoke(cli, ["galleries", "list", "--json", "--home", home])
    assert {g["name"]: g["index"] for g in json.loads(listed.stdout)} == {
        "plain": "auto",
        "pq": "compressed",
    }
    application = facetrail.open(tmp_path / "home", create=False)
    try:
        assert _galleries(application) == {"plain": "auto", "pq": "compressed"}
    finally:
        application.close()


def test_index_kind_default_comes_from_settings(tmp_path: Path) -> None:
    application = facetrail.open(tmp_path / "h", index_kind="exact")
    try:
        assert application.create_gallery("g").index == "exact"
        with pytest.raises(InvalidInputError, match="needs a Milvus server"):
            application.create_gallery("m", index="milvus")
        assert "m" not in _galleries(application)
    finally:
        application.close()


def test_compressed_gallery_scores_are_reranked_exactly(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    vectors = _unit(rng, 5_000)
    application = facetrail.open(tmp_path / "h")
    try:
        catalog = application.kernel.catalog
        loaded = bulk_load(catalog, "pq", vectors, kind="compressed")
        slot = catalog.get(loaded.gallery_id, "sface", DIM, "compressed")
        assert isinstance(slot, FaissSlot) and slot.factory == COMPRESSED_FACTORY
        probes = vectors[:20] * 0.7 + _unit(rng, 20) * 0.7
        probes /= np.linalg.norm(probes, axis=1, keepdims=True)
        raw_scores, raw_ids = slot.index.search(probes, 10)  # the FAISS index's own scores
        with application.kernel.reader() as session:
            gallery = session.get(Gallery, loaded.gallery_id)
            ranked = rank_subjects_batch(
                session,
                catalog,
                gallery,
                FaceAnalyzer.from_spec(PIPELINE),
                [_face(p) for p in probes],
                10,
            )
        row_of = {name: i for i, name in enumerate(loaded.subject_names)}
        worst_raw = 0.0
        for probe, matches, scores, ids in zip(probes, ranked, raw_scores, raw_ids, strict=True):
            exact = [float(np.dot(vectors[row_of[m.subject]], probe)) for m in matches]
            assert [m.score for m in matches] == pytest.approx(exact, abs=1e-6)
            assert exact == sorted(exact, reverse=True)
            truth = vectors @ probe
            top = np.sort(truth)[::-1][:10]
            assert exact == pytest.approx(top.tolist(), abs=1e-6)  # the true top 10
            found = {int(i): float(s) for i, s in zip(ids, scores, strict=True)}
            for template_id, score in found.items():
                worst_raw = max(worst_raw, abs(score - float(truth[template_id - 1])))
        # The index's own (SQ8) scores are not exact: the re-ranking is what made them so.
        assert worst_raw > 1e-5
        # The slot re-ranks from its store: the same exact scores, no database read.
        exact_scores, exact_ids = slot.search(probes, 10)
        for probe, scores, ids in zip(probes, exact_scores, exact_ids, strict=True):
            truth = vectors[ids - 1] @ probe
            assert scores.tolist() == pytest.approx(truth.tolist(), abs=1e-6)
    finally:
        application.close()


def test_auto_kind_switches_to_compressed_past_the_configured_size(tmp_path: Path) -> None:
    vectors = _unit(np.random.default_rng(5), 3_000)
    application = facetrail.open(tmp_path / "h", compress_above=5_000)
    try:
        loaded = bulk_load(application.kernel.catalog, "g", vectors, kind="auto")
        slot = application.kernel.catalog.get(loaded.gallery_id, "sface", DIM, "auto")
        assert isinstance(slot, FaissSlot) and slot.factory == EXACT_FACTORY
    finally:
        application.close()
    # The same gallery opened with a lower threshold (as if it had grown past it).
    application = facetrail.open(tmp_path / "h", create=False, compress_above=2_000)
    try:
        slot = application.kernel.catalog.get(loaded.gallery_id, "sface", DIM, "auto")
        assert isinstance(slot, FaissSlot) and slot.factory == COMPRESSED_FACTORY
        assert np.array_equal(slot.ids(), loaded.template_ids)
        rebuilt = application.rebuild_index("g")
        assert [r.templates for r in rebuilt] == [3_000]
    finally:
        application.close()
