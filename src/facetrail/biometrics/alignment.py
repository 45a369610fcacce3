"""Five-point similarity alignment to the standard 112x112 ArcFace crop."""

from __future__ import annotations

import cv2
import numpy as np

from facetrail.errors import InvalidInputError

ALIGNED_SIZE = 112
# The ArcFace / insightface reference landmarks for a 112x112 crop, in LANDMARK_NAMES
# order (right eye, left eye, nose, right mouth, left mouth; image-left first).
REFERENCE_LANDMARKS = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float32,
)


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 2x3 least-squares similarity (Umeyama) mapping points `src` onto `dst`."""
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 2 or len(src) < 2:
        raise InvalidInputError(
            f"need two matching (N>=2, 2) point arrays, got {src.shape} and {dst.shape}"
        )
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    src_var = (src_c**2).sum() / len(src)
    if src_var <= 0:
        raise InvalidInputError("landmarks are all at one point: cannot align")
    cov = dst_c.T @ src_c / len(src)
    u, s, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[1] = -1.0  # no reflections: a face seen in a mirror is not the same face
    rotation = u @ np.diag(d) @ vt
    scale = (s * d).sum() / src_var
    matrix = np.empty((2, 3), dtype=np.float64)
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = dst_mean - scale * rotation @ src_mean
    return matrix


def alignment_matrix(landmarks: np.ndarray, size: int = ALIGNED_SIZE) -> np.ndarray:
    """The 2x3 transform taking image pixels to the `size` x `size` aligned crop."""
    points = np.asarray(landmarks, dtype=np.float32).reshape(-1, 2)
    if points.shape != (5, 2):
        raise InvalidInputError(f"alignment needs 5 landmarks, got shape {points.shape}")
    return similarity_transform(points, REFERENCE_LANDMARKS * (size / ALIGNED_SIZE))


def align_face(image: np.ndarray, landmarks: np.ndarray, size: int = ALIGNED_SIZE) -> np.ndarray:
    """The face warped so its 5 landmarks land on the reference points (size x size)."""
    if image.ndim not in (2, 3) or image.size == 0:
        raise InvalidInputError(f"expected an HxW or HxWxC image, got shape {image.shape}")
    matrix = alignment_matrix(landmarks, size)
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderValue=0)


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """`points` (N, 2) mapped through the 2x3 affine `matrix`."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    return (points @ matrix[:, :2].T + matrix[:, 2]).astype(np.float32)
