"""Pipelines named by spec strings, and FaceAnalyzer: detect, assess, embed, compare."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facetrail.biometrics.calibration import Calibration, calibrated_specs, load_calibration
from facetrail.biometrics.detector import Detector, HogDetector, YuNetDetector
from facetrail.biometrics.face import Face
from facetrail.biometrics.quality import QualityAssessor
from facetrail.biometrics.recognizer import (
    DlibRecognizer,
    OnnxRecognizer,
    Recognizer,
    SFaceRecognizer,
    cosine,
)
from facetrail.biometrics.retry import RetryingDetector
from facetrail.errors import InvalidInputError, ModelError, NoFaceError

DETECTORS: dict[str, type[YuNetDetector | HogDetector]] = {
    "yunet": YuNetDetector,
    "hog": HogDetector,
}
RECOGNIZERS: dict[str, type[SFaceRecognizer | DlibRecognizer]] = {
    "sface": SFaceRecognizer,
    "dlib": DlibRecognizer,
}
ONNX_PREFIX = "onnx:"
FLIP_SUFFIX = "+flip"
# Mirror image landmark order: the right eye becomes the left, the mouth corners swap.
FLIP_ORDER = (1, 0, 2, 4, 3)
SPEC_HELP = (
    "a pipeline spec is DETECTOR+RECOGNIZER[|RECOGNIZER...], e.g. 'yunet+sface', "
    "'yunet+sface|dlib', 'hog+dlib', 'yunet+onnx:/path/model.onnx'; detectors: "
    f"{', '.join(DETECTORS)}; recognizers: {', '.join(RECOGNIZERS)}, onnx:PATH"
)


def mirror_face(face: Face, width: int) -> Face:
    """`face` as it lies in the horizontally flipped image `width` pixels wide."""
    x, y, w, h = face.box
    landmarks = np.asarray(face.landmarks, dtype=np.float32).copy()
    landmarks[:, 0] = width - 1 - landmarks[:, 0]
    return Face(
        box=(width - x - w, y, w, h),
        landmarks=landmarks[list(FLIP_ORDER)],
        detector_score=face.detector_score,
        quality=face.quality,
    )


@dataclass(frozen=True, slots=True)
class PipelineSpec:
    """A parsed pipeline spec: one detector and one or more recognizers (fused)."""

    detector: str
    recognizers: tuple[str, ...]
    flip: bool = False  # templates averaged with the mirror image's ("+flip")

    @classmethod
    def parse(cls, spec: str) -> PipelineSpec:
        """Parse 'DETECTOR+RECOGNIZER[|RECOGNIZER...][+flip]'; InvalidInputError says why not."""
        if not isinstance(spec, str) or not spec.strip():
            raise InvalidInputError(f"empty pipeline spec: {SPEC_HELP}")
        text = spec.strip()
        flip = text.lower().endswith(FLIP_SUFFIX)
        if flip:
            text = text[: -len(FLIP_SUFFIX)]
        detector, plus, rest = text.partition("+")
        detector = detector.strip().lower()
        if not plus or not rest.strip():
            raise InvalidInputError(f"pipeline spec {spec!r} names no recognizer: {SPEC_HELP}")
        if detector not in DETECTORS:
            raise InvalidInputError(
                f"unknown detector {detector!r} in pipeline spec {spec!r}: {SPEC_HELP}"
            )
        recognizers = []
        for part in rest.split("|"):
            name = part.strip()
            if name.lower().startswith(ONNX_PREFIX):
                path = name[len(ONNX_PREFIX) :].strip()
                if not path:
                    raise InvalidInputError(f"'onnx:' needs a model file path in {spec!r}")
                name = ONNX_PREFIX + path
            else:
                name = name.lower()
                if name not in RECOGNIZERS:
                    raise InvalidInputError(
                        f"unknown recognizer {name!r} in pipeline spec {spec!r}: {SPEC_HELP}"
                    )
            if name in recognizers:
                raise InvalidInputError(f"recognizer {name!r} appears twice in {spec!r}")
            recognizers.append(name)
        return cls(detector=detector, recognizers=tuple(recognizers), flip=flip)

    @property
    def unflipped(self) -> PipelineSpec:
        """The same pipeline without flip averaging."""
        return PipelineSpec(self.detector, self.recognizers)

    def __str__(self) -> str:
        return f"{self.detector}+{'|'.join(self.recognizers)}{FLIP_SUFFIX if self.flip else ''}"

    @property
    def fused(self) -> bool:
        """Whether scores of several recognizers are fused."""
        return len(self.recognizers) > 1


def _make_recognizer(name: str) -> Recognizer:
    """A fresh (unloaded) recognizer for a parsed recognizer name."""
    if name.startswith(ONNX_PREFIX):
        path = Path(name[len(ONNX_PREFIX) :]).expanduser()
        return OnnxRecognizer(path, name=name)
    return RECOGNIZERS[name]()


class FaceAnalyzer:
    """Detector + quality + recognizers of one pipeline, and score fusion.

    NOT thread-safe: the OpenCV/dlib model objects keep per-call state. Create one per
    worker thread; construction and `load()` are cheap (model paths and calibration are
    cached, the models themselves are not shared).
    """

    def __init__(
        self,
        spec: PipelineSpec,
        calibration: Calibration | None = None,
        *,
        detector: Detector | None = None,
    ) -> None:
        self.spec = spec
        # Photos retry a missed face padded and equalised (video replaces this detector).
        self.detector: Detector = detector or RetryingDetector(DETECTORS[spec.detector]())
        self.quality = QualityAssessor()
        self.recognizers: tuple[Recognizer, ...] = tuple(
            _make_recognizer(n) for n in spec.recognizers
        )
        self._calibration = calibration
        if spec.fused:
            if calibration is None:
                raise InvalidInputError(
                    f"pipeline {spec} fuses scores but has no calibration; calibrated: "
                    f"{', '.join(calibrated_specs())}"
                )
            fused_models = set(calibration.fusion.models)
            if fused_models != set(self.model_names):
                raise InvalidInputError(
                    f"calibration {calibration.spec!r} covers {sorted(fused_models)}, "
                    f"pipeline {spec} has {list(self.model_names)}"
                )

    @classmethod
    def from_spec(
        cls, spec: str | PipelineSpec, calibration: Calibration | None = None
    ) -> FaceAnalyzer:
        """The analyzer of `spec`, with its packaged calibration when there is one."""
        parsed = spec if isinstance(spec, PipelineSpec) else PipelineSpec.parse(spec)
        if calibration is None:
            # A flip pipeline without its own measurement uses its unflipped pipeline's.
            for candidate in (parsed, parsed.unflipped):
                if str(candidate) in calibrated_specs():
                    calibration = load_calibration(str(candidate))
                    break
        return cls(parsed, calibration)

    @property
    def model_names(self) -> tuple[str, ...]:
        """The recognizers' model names, in spec order (keys of Face.templates)."""
        return tuple(r.name for r in self.recognizers)

    @property
    def model_versions(self) -> dict[str, str]:
        """Model name -> version, as stored beside templates."""
        return {r.name: r.version for r in self.recognizers}

    @property
    def calibration(self) -> Calibration:
        """The pipeline's calibration (ModelError if it has none: decide nothing then)."""
        if self._calibration is None:
            raise ModelError(
                f"pipeline {self.spec} has no calibration, so no decision threshold; "
                f"calibrated pipelines: {', '.join(calibrated_specs())}"
            )
        return self._calibration

    def load(self) -> FaceAnalyzer:
        """Load every model now (otherwise each loads on first use); returns self."""
        self.detector.load()
        for recognizer in self.recognizers:
            recognizer.load()
        return self

    def detect(self, image: np.ndarray) -> list[Face]:
        """All faces in `image`, largest first, with quality assessed."""
        return [
            face.with_quality(self.quality.assess(image, face))
            for face in self.detector.detect(image)
        ]

    def embed(self, image: np.ndarray, face: Face) -> Face:
        """`face` with every recognizer's template filled in.

        A "+flip" pipeline averages each template with the mirror image's (normalised).
        """
        mirror = mirror_face(face, image.shape[1]) if self.spec.flip else None
        flipped = np.ascontiguousarray(image[:, ::-1]) if self.spec.flip else None
        for recognizer in self.recognizers:
            vector = recognizer.embed(image, face)
            if mirror is not None and flipped is not None:
                total = vector + recognizer.embed(flipped, mirror)
                vector = (total / np.linalg.norm(total)).astype(np.float32)
            face = face.with_template(recognizer.name, vector)
        return face

    def analyze(self, image: np.ndarray) -> list[Face]:
        """All faces in `image`, largest first, with quality and templates."""
        return [self.embed(image, face) for face in self.detect(image)]

    def analyze_largest(self, image: np.ndarray) -> Face:
        """The largest face in `image`, embedded; NoFaceError when there is none."""
        faces = self.detector.detect(image)
        if not faces:
            raise NoFaceError(
                "no face found in the image: use a photo where the face is visible, "
                "at least about 40 pixels wide"
            )
        face = faces[0]
        return self.embed(image, face.with_quality(self.quality.assess(image, face)))

    def compare(self, a: Face, b: Face) -> float:
        """How similar two embedded faces are: raw cosine, or the fused score."""
        return self.score_templates(
            {m: cosine(a.template(m), b.template(m)) for m in self.model_names}
        )

    def score_templates(self, per_model_scores: dict[str, float]) -> float:
        """One score from each model's cosine score (fused when there are several)."""
        if not self.spec.fused:
            name = self.model_names[0]
            try:
                return float(per_model_scores[name])
            except KeyError:
                raise InvalidInputError(
                    f"need a {name!r} score, got {sorted(per_model_scores)}"
                ) from None
        return float(self.calibration.fusion.fuse(per_model_scores))
