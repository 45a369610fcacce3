"""Five-point alignment: output shape, landmarks landing on the reference points."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from facetrail.biometrics.alignment import (
    ALIGNED_SIZE,
    REFERENCE_LANDMARKS,
    align_face,
    alignment_matrix,
    similarity_transform,
    transform_points,
)
from facetrail.biometrics.detector import five_point_from_dlib
from facetrail.errors import InvalidInputError


def _moved_landmarks(scale: float, angle_deg: float, shift: tuple[float, float]) -> np.ndarray:
    a = math.radians(angle_deg)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    return (REFERENCE_LANDMARKS @ rot.T * scale + np.array(shift)).astype(np.float32)


def test_similarity_transform_recovers_a_known_similarity() -> None:
    points = _moved_landmarks(2.5, 20, (300, 150))
    matrix = similarity_transform(points, REFERENCE_LANDMARKS)
    np.testing.assert_allclose(transform_points(points, matrix), REFERENCE_LANDMARKS, atol=1e-3)
    assert math.hypot(*matrix[:, 0]) == pytest.approx(1 / 2.5, rel=1e-4)


def test_aligned_crop_has_the_standard_shape_and_puts_the_eye_on_its_reference() -> None:
    image = np.zeros((600, 800, 3), np.uint8)
    landmarks = _moved_landmarks(3.0, -15, (250, 200))
    eye = tuple(int(v) for v in np.rint(landmarks[0]))
    cv2.circle(image, eye, 6, (255, 255, 255), -1)  # a white dot on the right eye
    crop = align_face(image, landmarks)
    assert crop.shape == (ALIGNED_SIZE, ALIGNED_SIZE, 3) and crop.dtype == np.uint8
    ys, xs = np.nonzero(crop[:, :, 0] > 128)
    assert abs(xs.mean() - REFERENCE_LANDMARKS[0, 0]) < 1.0
    assert abs(ys.mean() - REFERENCE_LANDMARKS[0, 1]) < 1.0


def test_alignment_scales_to_other_crop_sizes() -> None:
    matrix = alignment_matrix(REFERENCE_LANDMARKS * 2, size=224)
    np.testing.assert_allclose(matrix[:, :2], np.eye(2), atol=1e-5)


def test_alignment_rejects_wrong_landmark_counts() -> None:
    with pytest.raises(InvalidInputError, match="5 landmarks"):
        alignment_matrix(np.zeros((4, 2)))
    with pytest.raises(InvalidInputError, match="one point"):
        alignment_matrix(np.zeros((5, 2)))


def test_dlib_points_become_yunet_order() -> None:
    # dlib order: image-right eye corners, image-left eye corners, nose base
    parts = np.array([[152, 112], [135, 113], [95, 113], [111, 114], [125, 148]], np.float32)
    five = five_point_from_dlib(parts)
    np.testing.assert_allclose(five[0], [103, 113.5])  # image-left eye first (YuNet order)
    np.testing.assert_allclose(five[1], [143.5, 112.5])
    assert five[2, 1] < 148  # the nose tip sits above the nose base
    assert five[3, 1] > 148 and five[4, 1] > 148  # mouth below the nose
    assert five[3, 0] < five[2, 0] < five[4, 0]
