"""Pipeline spec parsing: good specs round-trip, bad ones say what is wrong."""

from __future__ import annotations

import pytest

from facetrail.biometrics.pipeline import PipelineSpec
from facetrail.errors import InvalidInputError


@pytest.mark.parametrize(
    ("text", "detector", "recognizers"),
    [
        ("yunet+sface", "yunet", ("sface",)),
        ("yunet+sface|dlib", "yunet", ("sface", "dlib")),
        ("hog+dlib", "hog", ("dlib",)),
        (" YuNet + SFace ", "yunet", ("sface",)),
        ("yunet+onnx:/models/arc face.onnx", "yunet", ("onnx:/models/arc face.onnx",)),
        ("yunet+sface|onnx:/m/x.onnx", "yunet", ("sface", "onnx:/m/x.onnx")),
    ],
)
def test_good_specs_parse(text: str, detector: str, recognizers: tuple[str, ...]) -> None:
    spec = PipelineSpec.parse(text)
    assert spec.detector == detector
    assert spec.recognizers == recognizers
    assert PipelineSpec.parse(str(spec)) == spec
    assert spec.fused == (len(recognizers) > 1)


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("yunet", "names no recognizer"),
        ("yunet+", "names no recognizer"),
        ("mtcnn+sface", "unknown detector 'mtcnn'"),
        ("yunet+arcface", "unknown recognizer 'arcface'"),
        ("yunet+sface|", "unknown recognizer ''"),
        ("yunet+sface|sface", "appears twice"),
        ("yunet+onnx:", "needs a model file path"),
    ],
)
def test_bad_specs_are_rejected_with_the_reason(text: str, complaint: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        PipelineSpec.parse(text)
    assert complaint in str(caught.value)


def test_flip_pipelines_parse_print_and_borrow_the_unflipped_calibration() -> None:
    from facetrail.biometrics.pipeline import FaceAnalyzer

    spec = PipelineSpec.parse("yunet+sface+flip")
    assert spec.flip and str(spec) == "yunet+sface+flip"
    assert spec.unflipped == PipelineSpec.parse("yunet+sface")
    assert not PipelineSpec.parse("yunet+sface|dlib").flip
    analyzer = FaceAnalyzer.from_spec("yunet+sface+flip")
    assert analyzer.calibration.spec == "yunet+sface"
