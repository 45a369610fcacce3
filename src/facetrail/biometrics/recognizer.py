"""Face recognizers: a face in an image to an L2-normalised float32 template."""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np

from facetrail.biometrics import models
from facetrail.biometrics.alignment import ALIGNED_SIZE, align_face
from facetrail.biometrics.detector import dlib_rectangle, ensure_bgr
from facetrail.biometrics.face import Face
from facetrail.errors import InvalidInputError, ModelError

# dlib's own default padding around the face chip it feeds the ResNet (dlib docs).
DLIB_CHIP_PADDING = 0.25


def l2_normalise(vector: np.ndarray) -> np.ndarray:
    """`vector` flattened, as float32, scaled to unit length (ModelError if all zeros)."""
    flat = np.asarray(vector, dtype=np.float32).reshape(-1)
    norm = float(np.linalg.norm(flat))
    if not np.isfinite(norm) or norm == 0.0:
        raise ModelError("the recognizer returned a zero or non-finite template")
    return flat / norm


def _face_row(face: Face) -> np.ndarray:
    """The 1x15 YuNet row (box, 5 landmarks, score) OpenCV's SFace alignment expects."""
    row = np.empty((1, 15), dtype=np.float32)
    row[0, :4] = face.box
    row[0, 4:14] = np.asarray(face.landmarks, dtype=np.float32).reshape(10)
    row[0, 14] = face.detector_score
    return row


class _SharedSFace:
    """One SFace network per process, its forward pass under a lock.

    Each loaded copy costs about 105 MB (weights unpacked to float32 and the inference
    buffers); a second one for a second enrolment thread bought little on 2 cores, where
    the embedding is about a quarter of a photo's time, and pushed enrolment past its
    memory target.
    """

    _load_lock = threading.Lock()
    _net: cv2.FaceRecognizerSF | None = None
    lock = threading.Lock()

    @classmethod
    def get(cls) -> cv2.FaceRecognizerSF:
        """The process's SFace network, read from its ONNX file on first use (about 20 ms)."""
        with cls._load_lock:
            if cls._net is None:
                try:
                    cls._net = cv2.FaceRecognizerSF.create(str(models.sface_path()), "")
                except cv2.error as exc:
                    raise ModelError(f"cannot load SFace: {exc}") from exc
            return cls._net


class SFaceRecognizer:
    """SFace via cv2.FaceRecognizerSF (128-d). Thread-safe: instances share one network."""

    name = "sface"
    version = "2021dec-int8bq"
    dim = 128

    def __init__(self) -> None:
        self._net: cv2.FaceRecognizerSF | None = None

    def load(self) -> None:
        """Read the ONNX file, once per process."""
        if self._net is None:
            self._net = _SharedSFace.get()

    def embed(self, image: np.ndarray, face: Face) -> np.ndarray:
        """The unit-length 128-d SFace template of `face` in `image`."""
        image = ensure_bgr(image)
        self.load()
        assert self._net is not None
        try:
            with _SharedSFace.lock:
                aligned = self._net.alignCrop(image, _face_row(face))
                feature = self._net.feature(aligned)
            return l2_normalise(feature)
        except cv2.error as exc:
            raise ModelError(f"SFace failed: {exc}") from exc


class DlibRecognizer:
    """dlib ResNet v1 (128-d, normalised for cosine). Not thread-safe: one per thread."""

    name = "dlib"
    version = "resnet-v1"
    dim = 128

    def __init__(self) -> None:
        self._net = None
        self._shape = None

    def load(self) -> None:
        """Read the ResNet weights and the 5-point shape predictor (about 0.3 s)."""
        if self._net is None:
            import dlib

            try:
                self._shape = dlib.shape_predictor(str(models.dlib_shape_predictor_path()))
                self._net = dlib.face_recognition_model_v1(str(models.dlib_recognizer_path()))
            except RuntimeError as exc:
                raise ModelError(f"cannot load the dlib recognizer: {exc}") from exc

    def embed(self, image: np.ndarray, face: Face) -> np.ndarray:
        """The unit-length dlib template, from the 5-point shape fitted in `face.box`."""
        image = ensure_bgr(image)
        self.load()
        assert self._net is not None and self._shape is not None
        rgb = np.ascontiguousarray(image[:, :, ::-1])
        shape = self._shape(rgb, dlib_rectangle(face.box))
        descriptor = self._net.compute_face_descriptor(rgb, shape, 0, DLIB_CHIP_PADDING)
        return l2_normalise(np.array(descriptor))


class OnnxRecognizer:
    """Any ONNX recognizer taking a 112x112 five-point aligned crop, run with cv2.dnn.

    Defaults suit insightface ArcFace models: RGB, (pixel - 127.5) / 127.5. Not
    thread-safe: one instance per thread.
    """

    version = "file"

    def __init__(
        self,
        path: str | Path,
        *,
        mean: float = 127.5,
        scale: float = 1 / 127.5,
        swap_rb: bool = True,
        name: str | None = None,
    ) -> None:
        self.path = Path(path)
        self.mean = mean
        self.scale = scale
        self.swap_rb = swap_rb
        self.name = name or f"onnx:{self.path.stem}"
        self.dim = 0  # known once loaded
        self._net: cv2.dnn.Net | None = None

    def load(self) -> None:
        """Read the ONNX file and find its output size with one blank crop."""
        if self._net is not None:
            return
        if not self.path.is_file():
            raise ModelError(f"ONNX model file not found: {self.path}")
        try:
            net = cv2.dnn.readNetFromONNX(str(self.path))
        except cv2.error as exc:
            raise ModelError(f"cannot load ONNX model {self.path}: {exc}") from exc
        self._net = net
        self.dim = int(self._forward(np.zeros((ALIGNED_SIZE, ALIGNED_SIZE, 3), np.uint8)).size)

    def _forward(self, aligned: np.ndarray) -> np.ndarray:
        """The raw output for one aligned crop."""
        assert self._net is not None
        blob = cv2.dnn.blobFromImage(
            aligned,
            self.scale,
            (ALIGNED_SIZE, ALIGNED_SIZE),
            (self.mean, self.mean, self.mean),
            self.swap_rb,
            False,
        )
        self._net.setInput(blob)
        try:
            return np.asarray(self._net.forward()).reshape(-1)
        except cv2.error as exc:
            raise ModelError(f"ONNX model {self.path} failed: {exc}") from exc

    def embed(self, image: np.ndarray, face: Face) -> np.ndarray:
        """The unit-length template of the 112x112 aligned crop of `face`."""
        image = ensure_bgr(image)
        self.load()
        return l2_normalise(self._forward(align_face(image, face.landmarks)))


Recognizer = SFaceRecognizer | DlibRecognizer | OnnxRecognizer


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two L2-normalised templates (their inner product)."""
    a = np.asarray(a, dtype=np.float32).reshape(-1)
    b = np.asarray(b, dtype=np.float32).reshape(-1)
    if a.shape != b.shape:
        raise InvalidInputError(f"templates differ in size: {a.size} vs {b.size}")
    return float(a @ b)
