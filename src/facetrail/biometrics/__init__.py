"""The biometric engine: pixels -> faces -> templates -> scores (pure computation)."""

from facetrail.biometrics.calibration import Calibration, load_calibration
from facetrail.biometrics.detector import HogDetector, YuNetDetector
from facetrail.biometrics.face import Face, QualityReport
from facetrail.biometrics.fusion import ScoreFusion, ScoreNormalisation
from facetrail.biometrics.pipeline import FaceAnalyzer, PipelineSpec
from facetrail.biometrics.quality import QualityAssessor
from facetrail.biometrics.recognizer import (
    DlibRecognizer,
    OnnxRecognizer,
    SFaceRecognizer,
    cosine,
)

__all__ = [
    "Calibration",
    "DlibRecognizer",
    "Face",
    "FaceAnalyzer",
    "HogDetector",
    "OnnxRecognizer",
    "PipelineSpec",
    "QualityAssessor",
    "QualityReport",
    "SFaceRecognizer",
    "ScoreFusion",
    "ScoreNormalisation",
    "YuNetDetector",
    "cosine",
    "load_calibration",
]
