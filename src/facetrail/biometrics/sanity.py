"""Face sanity: a detection is a face only if its geometry could be one in this image.

On blank or degenerate input (a 40:1 grey strip) YuNet returns score 1.0 with boxes such
as (3.2e30, -inf, 0, inf). Every detector passes its output through `plausible_faces`,
so no caller ever sees a box or landmark that is not finite, not inside the image, of
no size, or of a shape no face has.
"""

from __future__ import annotations

import math

import numpy as np

from facetrail.biometrics.face import Face

# A box may stick out of the image by this fraction of its own width/height per side:
# YuNet and HOG boxes of faces cut by the frame edge overhang it (chins, foreheads).
BOX_OVERHANG = 0.5
# Landmarks may lie this fraction of the box size outside the box (profile noses, open
# mouths) and of the image size outside the image (a cut-off face's hidden eye).
LANDMARK_MARGIN = 0.5
# Width over height of a face box: YuNet's lie near 0.75-0.9, HOG's are square; a box
# beyond 1:3 either way is no face.
MIN_BOX_ASPECT = 1 / 3
MAX_BOX_ASPECT = 3.0
# Smallest box side in pixels: below this neither detector finds faces, nor can the
# 112 px alignment of a recognizer make anything of one.
MIN_BOX_SIDE = 4.0


def _box_is_plausible(box: tuple[float, float, float, float], width: int, height: int) -> bool:
    """Finite, sized, face-shaped and mostly inside a width x height image."""
    x, y, w, h = box
    if not all(math.isfinite(v) for v in box) or min(w, h) < MIN_BOX_SIDE:
        return False
    if not MIN_BOX_ASPECT <= w / h <= MAX_BOX_ASPECT:
        return False
    if w > (1 + 2 * BOX_OVERHANG) * width or h > (1 + 2 * BOX_OVERHANG) * height:
        return False
    inside_x = -BOX_OVERHANG * w <= x and x + w <= width + BOX_OVERHANG * w
    inside_y = -BOX_OVERHANG * h <= y and y + h <= height + BOX_OVERHANG * h
    return inside_x and inside_y


def _landmarks_are_plausible(face: Face, width: int, height: int) -> bool:
    """Five finite points near the box and near the image."""
    points = np.asarray(face.landmarks, dtype=np.float64)
    if points.shape != (5, 2) or not np.isfinite(points).all():
        return False
    x, y, w, h = face.box
    left = max(x - LANDMARK_MARGIN * w, -LANDMARK_MARGIN * width)
    right = min(x + (1 + LANDMARK_MARGIN) * w, (1 + LANDMARK_MARGIN) * width)
    top = max(y - LANDMARK_MARGIN * h, -LANDMARK_MARGIN * height)
    bottom = min(y + (1 + LANDMARK_MARGIN) * h, (1 + LANDMARK_MARGIN) * height)
    xs, ys = points[:, 0], points[:, 1]
    return bool(
        (xs >= left).all() and (xs <= right).all() and (ys >= top).all() and (ys <= bottom).all()
    )


def is_plausible_face(face: Face, image_shape: tuple[int, ...]) -> bool:
    """Whether `face` has finite, in-image, face-sized geometry and a finite score."""
    height, width = int(image_shape[0]), int(image_shape[1])
    if not math.isfinite(face.detector_score):
        return False
    return _box_is_plausible(face.box, width, height) and _landmarks_are_plausible(
        face, width, height
    )


def plausible_faces(faces: list[Face], image_shape: tuple[int, ...]) -> list[Face]:
    """The faces that pass `is_plausible_face`, in their order."""
    return [face for face in faces if is_plausible_face(face, image_shape)]
