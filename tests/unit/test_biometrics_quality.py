"""Quality components move the right way on synthetic faces (no model files needed)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from facetrail.biometrics.alignment import REFERENCE_LANDMARKS
from facetrail.biometrics.face import Face
from facetrail.biometrics.quality import QualityAssessor


def _synthetic_face(scale: float = 3.0, size: int = 400) -> tuple[np.ndarray, Face]:
    """A textured mid-grey 'face' with landmarks at the reference layout times `scale`."""
    rng = np.random.default_rng(7)
    image = np.full((size, size, 3), 110, np.uint8)
    texture = rng.integers(0, 60, (size, size), dtype=np.uint8)
    image = cv2.add(image, cv2.merge([texture] * 3))
    landmarks = (REFERENCE_LANDMARKS * scale + (size / 2 - 56 * scale)).astype(np.float32)
    for x, y in landmarks:
        cv2.circle(image, (int(x), int(y)), max(1, int(2 * scale)), (30, 30, 30), -1)
    box = (
        float(landmarks[:, 0].min() - 20 * scale),
        float(landmarks[:, 1].min() - 40 * scale),
        float(90 * scale),
        float(110 * scale),
    )
    return image, Face(box=box, landmarks=landmarks, detector_score=0.99)


def test_report_has_all_components_in_range() -> None:
    image, face = _synthetic_face()
    report = QualityAssessor().assess(image, face)
    assert set(report.components) == {"size", "sharpness", "pose", "exposure"}
    assert all(0 <= v <= 100 for v in report.components.values())
    assert 0 <= report.score <= 100
    assert report.components["pose"] == pytest.approx(100, abs=1)  # reference layout


def test_blurred_scores_lower_than_sharp() -> None:
    image, face = _synthetic_face()
    blurred = cv2.GaussianBlur(image, (0, 0), 3)
    sharp = QualityAssessor().assess(image, face)
    soft = QualityAssessor().assess(blurred, face)
    assert soft.components["sharpness"] < sharp.components["sharpness"] - 30
    assert soft.score < sharp.score


def test_tiny_face_scores_lower_than_big_face() -> None:
    big = QualityAssessor().assess(*_synthetic_face(scale=2.0))
    tiny = QualityAssessor().assess(*_synthetic_face(scale=0.25))
    assert big.components["size"] == 100
    assert tiny.components["size"] < 20
    assert tiny.score < big.score


def test_dark_scores_lower_than_well_exposed() -> None:
    image, face = _synthetic_face()
    dark = (image * 0.15).astype(np.uint8)
    assert (
        QualityAssessor().assess(dark, face).components["exposure"]
        < QualityAssessor().assess(image, face).components["exposure"] - 40
    )


def test_turned_head_scores_lower_pose() -> None:
    _, face = _synthetic_face()
    turned = face.landmarks.copy()
    eye_distance = turned[1, 0] - turned[0, 0]
    turned[2, 0] += 0.35 * eye_distance  # nose far off the eye midpoint: head turned
    frontal = QualityAssessor.pose_score(face.landmarks)
    side = QualityAssessor.pose_score(turned)
    assert side < frontal - 40


def test_rolled_head_scores_lower_pose() -> None:
    _, face = _synthetic_face()
    centre = face.landmarks.mean(axis=0)
    angle = np.radians(40)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    rolled = (face.landmarks - centre) @ rot.T + centre
    assert QualityAssessor.pose_score(rolled) < QualityAssessor.pose_score(face.landmarks) - 50
