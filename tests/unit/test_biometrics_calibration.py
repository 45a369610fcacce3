"""The packaged calibration: present for the shipped pipelines, clear about the rest."""

from __future__ import annotations

import pytest

from facetrail.biometrics.calibration import calibrated_specs, load_calibration
from facetrail.biometrics.pipeline import FaceAnalyzer
from facetrail.config import DEFAULT_PIPELINE
from facetrail.errors import InvalidInputError, ModelError


@pytest.mark.parametrize("spec", [DEFAULT_PIPELINE, "yunet+dlib", "yunet+sface|dlib"])
def test_shipped_pipelines_are_calibrated_with_provenance(spec: str) -> None:
    calibration = load_calibration(spec)
    assert calibration.spec == spec
    assert "pairsDevTrain" in calibration.dataset
    assert len(calibration.measured_at) == 10  # ISO date
    assert calibration.method
    assert set(calibration.fmr_thresholds) == {"1e-2", "1e-3", "1e-4"}
    # a stricter false match rate needs a higher threshold
    fmr = calibration.fmr_thresholds
    assert fmr["1e-2"] <= fmr["1e-3"] <= fmr["1e-4"]
    for model in calibration.models:
        assert model.normalisation.genuine_mean > model.normalisation.impostor_mean
        assert model.normalisation.impostor_std > 0


def test_single_model_threshold_is_a_cosine() -> None:
    calibration = load_calibration(DEFAULT_PIPELINE)
    assert calibration.score_kind == "cosine"
    assert -1 < calibration.threshold < 1
    assert calibration.models[0].name == "sface"


def test_fused_weights_sum_to_one() -> None:
    calibration = load_calibration("yunet+sface|dlib")
    assert calibration.score_kind == "fused-z"
    assert sum(m.weight for m in calibration.models) == pytest.approx(1.0, abs=1e-3)


def test_unknown_pipeline_names_the_calibrated_ones() -> None:
    with pytest.raises(InvalidInputError, match="no calibration") as caught:
        load_calibration("yunet+arcface")
    assert DEFAULT_PIPELINE in str(caught.value)
    assert DEFAULT_PIPELINE in calibrated_specs()


def test_uncalibrated_single_model_pipeline_scores_but_does_not_decide() -> None:
    analyzer = FaceAnalyzer.from_spec("yunet+onnx:/nowhere/model.onnx")
    assert analyzer.score_templates({"onnx:/nowhere/model.onnx": 0.42}) == 0.42
    with pytest.raises(ModelError, match="no calibration"):
        _ = analyzer.calibration


def test_uncalibrated_fusion_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="fuses scores but has no calibration"):
        FaceAnalyzer.from_spec("hog+sface|dlib")


def test_fused_analyzer_scores_through_the_calibration() -> None:
    analyzer = FaceAnalyzer.from_spec("yunet+sface|dlib")
    calibration = analyzer.calibration
    at_impostor_means = {m.name: m.normalisation.impostor_mean for m in calibration.models}
    assert analyzer.score_templates(at_impostor_means) == pytest.approx(0.0, abs=1e-9)
    at_genuine_means = {m.name: m.normalisation.genuine_mean for m in calibration.models}
    assert analyzer.score_templates(at_genuine_means) > calibration.threshold
