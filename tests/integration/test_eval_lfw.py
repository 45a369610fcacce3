"""Measured accuracy on the shared LFW development set (real models, real faces).

Identification and the default-pipeline pairs protocol run on all of lfw-dev and share
one template cache, so the pairs run (whose images are a subset) costs no embedding.
The fusion pipeline needs dlib (about 0.1 s a face): on all 3,443 pair images it takes
about 4 minutes here, too slow for CI, so its full-set figure (99.73%) is measured for
the closing note and this suite runs it on a documented subset: the first 100 same and
first 100 different pairs of pairsDevTrain.txt.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facetrail.evaluation.identification import run_identification
from facetrail.evaluation.pairs import run_pairs
from facetrail.evaluation.runs import RunOptions

FUSION_SUBSET_PER_CLASS = 100


@pytest.fixture(scope="module")
def lfw_dev(faces_dir: Path) -> Path:
    root = faces_dir / "lfw-dev"
    if not (root / "pairsDevTrain.txt").is_file():
        pytest.skip("lfw-dev with pairsDevTrain.txt not found in the shared data")
    return root


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("eval-cache")


@pytest.mark.slow
def test_identification_on_lfw_dev_and_cache_reuse(lfw_dev: Path, cache_dir: Path) -> None:
    options = RunOptions("yunet+sface", cache_dir=cache_dir)
    result, scores = run_identification(lfw_dev, options, enrolled_fraction=0.5, seed=0)
    assert result["rank1"] >= 0.98, result["cmc"]
    cmc = [result["cmc"][r] for r in ("1", "5", "10", "20", "50")]
    assert cmc == sorted(cmc)
    # stricter FPIR targets need higher thresholds and miss more mates
    points = list(result["fnir_at_fpir"].values())
    thresholds = [p["threshold"] for p in points]
    assert None not in thresholds and thresholds == sorted(thresholds)
    errors = [p["error"] for p in points]
    assert errors == sorted(errors)
    for point in points:
        assert point["achieved"] <= point["target"]
    assert result["mated_searches"] == scores["mate_rank"].size > 2000
    assert result["nonmated_searches"] == scores["nonmated_top"].size >= 1000
    assert result["images_embedded"] == result["images"] == 9525

    again, _ = run_identification(lfw_dev, options, enrolled_fraction=0.5, seed=0)
    assert again["images_embedded"] == 0  # every template came from the cache
    assert again["cmc"] == result["cmc"]


@pytest.mark.slow
def test_pairs_default_pipeline_on_lfw_dev(lfw_dev: Path, cache_dir: Path) -> None:
    result, scores = run_pairs(
        lfw_dev / "pairsDevTrain.txt", lfw_dev, RunOptions("yunet+sface", cache_dir=cache_dir)
    )
    assert result["folds"] == 10 and result["pairs"] == 2200
    # measured 99.27% +- 0.36 (issue target 99.3%; 99.36% with --flip, see closing note)
    assert result["accuracy"] >= 0.99
    assert result["eer"] < 0.015
    assert result["images_without_face"] == 0
    assert scores["genuine"].size == scores["impostor"].size == 1100
    wide = result["fnmr_at_fmr_all_impostors"]
    assert result["all_impostor_comparisons"] > 5_000_000
    assert wide["0.0001"]["achieved"] <= 1e-4
    assert wide["0.01"]["error"] <= wide["0.001"]["error"] <= wide["0.0001"]["error"]
    assert result["fnmr_at_fmr"]["0.0001"]["error"] is None  # 1,100 impostors cannot say


@pytest.mark.slow
def test_fusion_pairs_on_a_subset(lfw_dev: Path, tmp_path: Path, cache_dir: Path) -> None:
    lines = (lfw_dev / "pairsDevTrain.txt").read_text().splitlines()
    per_class = int(lines[0])
    same = lines[1 : 1 + FUSION_SUBSET_PER_CLASS]
    different = lines[1 + per_class : 1 + per_class + FUSION_SUBSET_PER_CLASS]
    subset = tmp_path / "pairs-subset.txt"
    subset.write_text("\n".join([str(FUSION_SUBSET_PER_CLASS), *same, *different]) + "\n")
    fused, fused_scores = run_pairs(subset, lfw_dev, RunOptions("yunet+sface|dlib"))
    single, single_scores = run_pairs(
        subset, lfw_dev, RunOptions("yunet+sface", cache_dir=cache_dir)
    )
    assert fused["pairs"] == 2 * FUSION_SUBSET_PER_CLASS
    assert fused["accuracy"] >= 0.99
    assert fused["eer"] <= single["eer"]
    # fusion separates the classes further: fewer impostors above the weakest genuine pair
    margin_fused = np.mean(fused_scores["impostor"] >= np.min(fused_scores["genuine"]))
    margin_single = np.mean(single_scores["impostor"] >= np.min(single_scores["genuine"]))
    assert margin_fused <= margin_single
