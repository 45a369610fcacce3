"""Face sanity: only finite, in-image, face-shaped detections count; NaN/inf never get stored."""

from __future__ import annotations

import math

import numpy as np
import pytest

from facetrail.biometrics.face import Face, QualityReport
from facetrail.biometrics.finite import require_finite
from facetrail.biometrics.sanity import is_plausible_face, plausible_faces
from facetrail.errors import NonFiniteValueError

SHAPE = (250, 250, 3)


def face(box: tuple[float, float, float, float], landmarks: np.ndarray | None = None) -> Face:
    """A face with the given box and landmarks (default: placed inside the box)."""
    x, y, w, h = box
    if landmarks is None:
        relative = np.array([[0.3, 0.4], [0.7, 0.4], [0.5, 0.6], [0.35, 0.8], [0.65, 0.8]])
        with np.errstate(invalid="ignore", over="ignore"):  # the infinite boxes
            landmarks = (relative * [w, h] + [x, y]).astype(np.float32)
    return Face(box=box, landmarks=landmarks, detector_score=0.9)


def test_an_ordinary_face_is_plausible() -> None:
    assert is_plausible_face(face((70, 60, 100, 120)), SHAPE)


def test_a_face_cut_by_the_frame_edge_is_plausible() -> None:
    assert is_plausible_face(face((-30, 150, 100, 120)), SHAPE)


@pytest.mark.parametrize(
    "box",
    [
        (3.2e30, -math.inf, 0.0, math.inf),  # what YuNet gave for a blank 40:1 strip
        (-2.6e11, -1.0e11, 0.0, 0.0),
        (math.nan, 10.0, 50.0, 50.0),
        (10.0, 10.0, 2.0, 2.0),  # too small
        (10.0, 10.0, 200.0, 20.0),  # 10:1 is no face
        (400.0, 10.0, 50.0, 60.0),  # outside the image
        (-100.0, -100.0, 600.0, 600.0),  # far larger than the image
    ],
)
def test_impossible_boxes_are_no_face(box: tuple[float, float, float, float]) -> None:
    assert not is_plausible_face(face(box), SHAPE)


def test_non_finite_or_stray_landmarks_are_no_face() -> None:
    good = face((70, 60, 100, 120))
    stray = good.landmarks.copy()
    stray[2] = (1000.0, 80.0)
    broken = good.landmarks.copy()
    broken[0, 1] = np.nan
    assert not is_plausible_face(face(good.box, stray), SHAPE)
    assert not is_plausible_face(face(good.box, broken), SHAPE)
    assert plausible_faces([face(good.box, broken), good], SHAPE) == [good]


def test_require_finite_passes_finite_values_through() -> None:
    value = {"box": [1.0, 2.0, 3.0, 4.0], "score": np.float32(0.5), "ok": True, "name": "x"}
    assert require_finite(value, "result") is value
    assert require_finite(face((70, 60, 100, 120)), "face").box == (70, 60, 100, 120)


@pytest.mark.parametrize(
    ("value", "where"),
    [
        ({"box": [0.0, -math.inf, 0.0, 1.0]}, "result.box[1]"),
        ({"faces": [{"quality": math.nan}]}, "result.faces[0].quality"),
        (np.array([[0.0, np.inf]], np.float32), "result[0, 1]"),
        (QualityReport(score=90.0, components={"sharpness": math.nan}), "components.sharpness"),
    ],
)
def test_require_finite_names_where_the_nan_or_infinity_is(value: object, where: str) -> None:
    with pytest.raises(NonFiniteValueError) as caught:
        require_finite(value, "result")
    assert where in str(caught.value)
    assert "not a finite number" in str(caught.value)
