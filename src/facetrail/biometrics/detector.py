"""Face detectors: every face in a BGR image, largest first, in original pixels."""

from __future__ import annotations

from typing import Protocol

import cv2
import numpy as np

from facetrail.biometrics import models
from facetrail.biometrics.alignment import REFERENCE_LANDMARKS, similarity_transform
from facetrail.biometrics.face import Face
from facetrail.biometrics.sanity import plausible_faces
from facetrail.errors import InvalidInputError, ModelError

# Longest image side the detectors see; larger photos are shrunk for detection and the
# results mapped back. Measured (benchmarks/engine.py) on the shared deepface photos
# (0.2-5 MP) and scenes: 480-1280 all find every face found at any size, 640 costs half
# of 960, and full size is slower still AND worse (YuNet misses or misplaces faces much
# larger than those it was trained on: 55/61 photos).
DEFAULT_MAX_SIDE = 640
# Small photos are enlarged (at most UPSCALE_LIMIT times) so their longest side reaches
# DEFAULT_MIN_SIDE before YuNet sees them: its landmarks are more precise on larger faces,
# and alignment follows the landmarks. Measured on lfw-dev pairsDevTrain (250 px photos,
# 10-fold, default pipeline): 99.27% at 1x, 99.41% at 1.6x (400 px), 99.64% at 2x,
# 99.32% at 2.56x; YuNet costs 4.8 / 10.3 / 16.2 ms per photo at 1x / 1.6x / 2x (one
# thread). 400 px keeps enrolment of such photos above 40 photos/s on two cores (43 at
# 400 px, 37 at 500 px). Photos of DEFAULT_MIN_SIDE px or more and video frames of 640 px
# or more are not touched.
DEFAULT_MIN_SIDE = 400
UPSCALE_LIMIT = 2.0
# YuNet's confidence cut: OpenCV's sample uses 0.9; 0.7 recovers hard LFW faces (profile,
# occluded) without adding false faces on the shared test photos.
YUNET_SCORE_THRESHOLD = 0.7
# OpenCV's defaults for YuNet's non-maximum suppression and candidates kept before it.
YUNET_NMS_THRESHOLD = 0.3
YUNET_TOP_K = 5000

# dlib's 5-point model marks eye corners and the base of the nose (subnasale), YuNet the
# eye centres and nose tip. Measured on LFW, the nose base lies about 0.22 inter-eye
# distances below the tip; the reference crop's inter-eye distance is 35.24 px.
_NOSE_BASE_BELOW_TIP = 0.22 * 35.24
_REFERENCE_NOSE_BASE = REFERENCE_LANDMARKS[2] + np.array([0.0, _NOSE_BASE_BELOW_TIP], np.float32)


class Detector(Protocol):
    """Finds faces: every face in a BGR image, largest first, in its pixels."""

    name: str

    def load(self) -> None: ...

    def detect(self, image: np.ndarray) -> list[Face]: ...


def ensure_bgr(image: np.ndarray) -> np.ndarray:
    """`image` as a contiguous HxWx3 uint8 BGR array (grey and BGRA are converted)."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise InvalidInputError(
            f"expected a numpy uint8 image, got {type(image).__name__} "
            f"{getattr(image, 'dtype', '')}"
        )
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    elif image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    elif image.ndim == 3 and image.shape[2] == 1:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) < 1:
        raise InvalidInputError(f"expected an HxWx3 BGR image, got shape {image.shape}")
    return np.ascontiguousarray(image)


def _shrink(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """`image` shrunk so its longest side is at most `max_side`, and the scale used."""
    return _rescale(image, min_side=0, max_side=max_side)


def _rescale(image: np.ndarray, *, min_side: int, max_side: int) -> tuple[np.ndarray, float]:
    """`image` resized so its longest side lies in [min_side, max_side] (enlarging at most
    UPSCALE_LIMIT times), and the scale used."""
    longest = max(image.shape[:2])
    if longest > max_side:
        scale, interpolation = max_side / longest, cv2.INTER_AREA
    elif longest < min_side:
        scale, interpolation = min(UPSCALE_LIMIT, min_side / longest), cv2.INTER_CUBIC
    else:
        return image, 1.0
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    return cv2.resize(image, size, interpolation=interpolation), scale


def _sorted(faces: list[Face], image_shape: tuple[int, ...]) -> list[Face]:
    """The plausible faces (biometrics.sanity), largest first (ties: higher score first)."""
    kept = plausible_faces(faces, image_shape)
    return sorted(kept, key=lambda f: (-f.area, -f.detector_score))


class YuNetDetector:
    """YuNet (OpenCV FaceDetectorYN). Not thread-safe: one instance per thread."""

    name = "yunet"

    def __init__(
        self,
        max_side: int = DEFAULT_MAX_SIDE,
        score_threshold: float = YUNET_SCORE_THRESHOLD,
        min_side: int = DEFAULT_MIN_SIDE,
    ) -> None:
        self.max_side = max_side
        self.min_side = min_side
        self.score_threshold = score_threshold
        self._net: cv2.FaceDetectorYN | None = None

    def load(self) -> None:
        """Read the model file (cheap: about a millisecond)."""
        if self._net is None:
            try:
                self._net = cv2.FaceDetectorYN.create(
                    str(models.yunet_path()),
                    "",
                    (320, 320),
                    self.score_threshold,
                    YUNET_NMS_THRESHOLD,
                    YUNET_TOP_K,
                )
            except cv2.error as exc:
                raise ModelError(f"cannot load YuNet: {exc}") from exc

    def detect(self, image: np.ndarray) -> list[Face]:
        """All faces in `image`, largest first, boxes and landmarks in its pixels."""
        image = ensure_bgr(image)
        self.load()
        assert self._net is not None
        small, scale = _rescale(image, min_side=self.min_side, max_side=self.max_side)
        self._net.setInputSize((small.shape[1], small.shape[0]))
        try:
            _, rows = self._net.detect(small)
        except cv2.error as exc:
            raise ModelError(f"YuNet failed on a {small.shape} image: {exc}") from exc
        if rows is None:
            return []
        faces = []
        for row in np.asarray(rows, dtype=np.float64):
            values = row[:14] / scale
            faces.append(
                Face(
                    box=(float(values[0]), float(values[1]), float(values[2]), float(values[3])),
                    landmarks=values[4:14].reshape(5, 2).astype(np.float32),
                    detector_score=float(row[14]),
                )
            )
        return _sorted(faces, image.shape)


def five_point_from_dlib(parts: np.ndarray) -> np.ndarray:
    """YuNet-order landmarks (eye centres, nose tip, mouth corners) from dlib's 5 points.

    dlib gives the outer and inner corner of each eye (0-1: image-right eye, 2-3:
    image-left eye) and the nose base (4). Eye centres are the corner midpoints; the
    nose tip and mouth corners are the reference crop's, mapped through the similarity
    fitted on the eyes and nose base.
    """
    parts = np.asarray(parts, dtype=np.float32).reshape(5, 2)
    eye_a, eye_b = parts[0:2].mean(axis=0), parts[2:4].mean(axis=0)
    right_eye, left_eye = (eye_a, eye_b) if eye_a[0] <= eye_b[0] else (eye_b, eye_a)
    reference = np.stack([REFERENCE_LANDMARKS[0], REFERENCE_LANDMARKS[1], _REFERENCE_NOSE_BASE])
    to_image = similarity_transform(reference, np.stack([right_eye, left_eye, parts[4]]))
    mapped = REFERENCE_LANDMARKS @ to_image[:, :2].T + to_image[:, 2]
    nose_tip = parts[4] + (mapped[2] - (_REFERENCE_NOSE_BASE @ to_image[:, :2].T + to_image[:, 2]))
    return np.stack([right_eye, left_eye, nose_tip, mapped[3], mapped[4]]).astype(np.float32)


class HogDetector:
    """dlib HOG detector + 5-point shape predictor. Not thread-safe: one per thread."""

    name = "hog"

    def __init__(self, max_side: int = DEFAULT_MAX_SIDE, upsample: int = 0) -> None:
        self.max_side = max_side
        self.upsample = upsample
        self._detector = None
        self._shape = None

    def load(self) -> None:
        """Build the HOG detector and read the shape predictor (about 10 ms)."""
        if self._detector is None:
            import dlib

            try:
                self._shape = dlib.shape_predictor(str(models.dlib_shape_predictor_path()))
            except RuntimeError as exc:
                raise ModelError(f"cannot load the dlib shape predictor: {exc}") from exc
            self._detector = dlib.get_frontal_face_detector()

    def detect(self, image: np.ndarray) -> list[Face]:
        """All faces in `image`, largest first, boxes and landmarks in its pixels."""

        image = ensure_bgr(image)
        self.load()
        assert self._detector is not None and self._shape is not None
        small, scale = _shrink(image, self.max_side)
        rgb = np.ascontiguousarray(small[:, :, ::-1])
        rects, scores, _ = self._detector.run(rgb, self.upsample, 0.0)
        faces = []
        for rect, score in zip(rects, scores, strict=True):
            shape = self._shape(rgb, rect)
            parts = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)
            box = (rect.left(), rect.top(), rect.width(), rect.height())
            faces.append(
                Face(
                    box=tuple(float(v) / scale for v in box),  # type: ignore[arg-type]
                    landmarks=five_point_from_dlib(parts) / scale,
                    detector_score=float(score),
                )
            )
        return _sorted(faces, image.shape)


def dlib_rectangle(box: tuple[float, float, float, float]):
    """The dlib.rectangle for an (x, y, w, h) box."""
    import dlib

    x, y, w, h = box
    return dlib.rectangle(round(x), round(y), round(x + w), round(y + h))
