"""The biometric engine with real models on real faces (shared data; skips without it)."""

from __future__ import annotations

import csv
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pytest

from facetrail.biometrics import models
from facetrail.biometrics.calibration import accuracy_at, kfold_accuracy
from facetrail.biometrics.detector import HogDetector, YuNetDetector
from facetrail.biometrics.face import Face
from facetrail.biometrics.pipeline import FaceAnalyzer
from facetrail.biometrics.recognizer import OnnxRecognizer, SFaceRecognizer, cosine
from facetrail.config import DEFAULT_PIPELINE
from facetrail.errors import NoFaceError

SCENES = {  # file -> fewest faces that must be found (README: who is where)
    "two_people.jpg": 2,
    "obama_and_biden.jpg": 2,
    "kit_with_rose.jpg": 2,
    "couple.jpg": 2,
    "longoria-cooper.jpg": 2,
    "selfie-many-people.jpg": 5,
}


def _read(path: Path) -> np.ndarray:
    image = cv2.imread(str(path))
    assert image is not None, f"cannot read {path}"
    return image


def _inside(face: Face) -> bool:
    """Landmarks within the box, give or take 10% (YuNet extrapolates cut-off faces)."""
    x, y, w, h = face.box
    margin = 0.1 * max(w, h)
    lm = face.landmarks
    return bool(
        (lm[:, 0] >= x - margin).all()
        and (lm[:, 0] <= x + w + margin).all()
        and (lm[:, 1] >= y - margin).all()
        and (lm[:, 1] <= y + h + margin).all()
    )


@pytest.fixture(scope="module")
def analyzer() -> FaceAnalyzer:
    return FaceAnalyzer.from_spec(DEFAULT_PIPELINE).load()


@pytest.fixture(scope="module")
def fused() -> FaceAnalyzer:
    return FaceAnalyzer.from_spec("yunet+sface|dlib").load()


def test_exactly_two_faces_in_two_people(faces_dir: Path, analyzer: FaceAnalyzer) -> None:
    faces = analyzer.detect(_read(faces_dir / "scenes" / "two_people.jpg"))
    assert len(faces) == 2
    assert faces[0].area >= faces[1].area
    for face in faces:
        assert _inside(face)
        assert face.quality is not None and face.quality.score > 30
        assert face.landmarks.shape == (5, 2) and face.landmarks.dtype == np.float32


@pytest.mark.parametrize("detector", [YuNetDetector, HogDetector])
@pytest.mark.parametrize(("scene", "least"), SCENES.items())
def test_every_face_in_scenes(faces_dir: Path, detector: type, scene: str, least: int) -> None:
    if detector is HogDetector and scene == "selfie-many-people.jpg":
        least = 3  # HOG is frontal-only: it misses the turned heads in the selfie
    image = _read(faces_dir / "scenes" / scene)
    faces = detector().detect(image)
    assert len(faces) >= least
    assert [f.area for f in faces] == sorted((f.area for f in faces), reverse=True)
    assert all(_inside(f) for f in faces)
    for face in faces:  # boxes are in original pixels even when detection ran smaller
        x, y, w, h = face.box
        assert -w / 2 < x < image.shape[1] and -h / 2 < y < image.shape[0]


def test_downscaled_detection_maps_back_to_original_pixels(faces_dir: Path) -> None:
    image = _read(faces_dir / "scenes" / "couple.jpg")  # 2280 px wide
    # (at full size YuNet misplaces these 600 px faces: it was trained on smaller ones)
    small_side = YuNetDetector(max_side=640).detect(image)
    full = YuNetDetector(max_side=1280).detect(image)
    assert len(small_side) == len(full) == 2
    for a, b in zip(small_side, full, strict=True):
        eye_distance = np.linalg.norm(b.landmarks[1] - b.landmarks[0])
        assert np.abs(a.landmarks - b.landmarks).max() < 0.15 * eye_distance


def test_scene_faces_are_identified(faces_dir: Path, fused: FaceAnalyzer) -> None:
    obama = fused.analyze_largest(_read(faces_dir / "face_recognition/Barack_Obama/obama.jpg"))
    biden = fused.analyze_largest(_read(faces_dir / "face_recognition/Joe_Biden/biden.jpg"))
    faces = fused.analyze(_read(faces_dir / "scenes" / "two_people.jpg"))
    left, right = sorted(faces, key=lambda f: f.box[0])  # README: Obama left, Biden right
    threshold = fused.calibration.threshold
    assert fused.compare(left, obama) > threshold > fused.compare(left, biden)
    assert fused.compare(right, biden) > threshold > fused.compare(right, obama)


def test_templates_are_unit_float32_per_model(faces_dir: Path, fused: FaceAnalyzer) -> None:
    face = fused.analyze_largest(_read(faces_dir / "face_recognition/Rose_Leslie/img1.jpg"))
    assert set(face.templates) == {"sface", "dlib"}
    for vector in face.templates.values():
        assert vector.dtype == np.float32 and vector.shape == (128,)
        assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)


def test_onnx_recognizer_with_own_alignment_reproduces_sface(
    faces_dir: Path, analyzer: FaceAnalyzer
) -> None:
    # SFace's ONNX file takes the standard 112x112 crop, RGB, unscaled pixels.
    onnx = OnnxRecognizer(models.sface_path(), mean=0.0, scale=1.0, swap_rb=True)
    image = _read(faces_dir / "face_recognition/Kit_Harington/john1.jpeg")
    face = analyzer.detect(image)[0]
    assert cosine(onnx.embed(image, face), SFaceRecognizer().embed(image, face)) > 0.999
    assert onnx.dim == 128


def test_no_face_raises(analyzer: FaceAnalyzer) -> None:
    with pytest.raises(NoFaceError, match="no face"):
        analyzer.analyze_largest(np.full((300, 300, 3), 127, np.uint8))


@pytest.fixture(scope="module")
def deepface_scores(faces_dir: Path, fused: FaceAnalyzer) -> tuple[np.ndarray, np.ndarray]:
    """Fused score and same-person label for each pair in deepface/pairs.csv."""
    root = faces_dir / "deepface"
    with open(root / "pairs.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    faces = {
        name: fused.analyze_largest(_read(root / name))
        for name in sorted({r["path_a"] for r in rows} | {r["path_b"] for r in rows})
    }
    scores = np.array([fused.compare(faces[r["path_a"]], faces[r["path_b"]]) for r in rows])
    return scores, np.array([r["same"] == "1" for r in rows])


@pytest.mark.slow
def test_deepface_same_person_scores_above_different(
    deepface_scores: tuple[np.ndarray, np.ndarray], fused: FaceAnalyzer
) -> None:
    scores, same = deepface_scores
    assert same.any() and (~same).any()
    assert np.median(scores[same]) > np.percentile(scores[~same], 99)
    # ranking: a random same pair outscores a random different pair almost always
    auc = (scores[same][:, None] > scores[~same][None, :]).mean()
    assert auc > 0.98
    assert accuracy_at(scores[same], scores[~same], fused.calibration.threshold) > 0.95


def _lfw_pairs(root: Path) -> list[tuple[str, str, bool]]:
    pairs = []
    for line in (root / "pairsDevTrain.txt").read_text().splitlines()[1:]:
        p = line.split("\t")
        if len(p) == 3:
            pairs.append(
                (f"{p[0]}/{p[0]}_{int(p[1]):04d}.jpg", f"{p[0]}/{p[0]}_{int(p[2]):04d}.jpg", True)
            )
        elif len(p) == 4:
            pairs.append(
                (f"{p[0]}/{p[0]}_{int(p[1]):04d}.jpg", f"{p[2]}/{p[2]}_{int(p[3]):04d}.jpg", False)
            )
    return pairs


def _centre_face(analyzer: FaceAnalyzer, path: Path) -> np.ndarray | None:
    """The default template of the face nearest the centre (LFW centres its subject)."""
    image = _read(path)
    faces = analyzer.detector.detect(image)
    if not faces:
        return None
    cx, cy = image.shape[1] / 2, image.shape[0] / 2
    face = min(
        faces,
        key=lambda f: (f.box[0] + f.box[2] / 2 - cx) ** 2 + (f.box[1] + f.box[3] / 2 - cy) ** 2,
    )
    return analyzer.embed(image, face).template(analyzer.model_names[0])


@pytest.fixture(scope="module")
def lfw_scores(faces_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """Default-pipeline cosine score and label of each pairsDevTrain pair (2 threads)."""
    root = faces_dir / "lfw-dev"
    pairs = _lfw_pairs(root)
    assert len(pairs) == 2200
    names = sorted({p[0] for p in pairs} | {p[1] for p in pairs})
    half = len(names) // 2

    def work(chunk: list[str]) -> list[np.ndarray | None]:
        mine = FaceAnalyzer.from_spec(DEFAULT_PIPELINE).load()  # one analyzer per thread
        return [_centre_face(mine, root / n) for n in chunk]

    with ThreadPoolExecutor(2) as pool:
        parts = list(pool.map(work, [names[:half], names[half:]]))
    templates = dict(zip(names, parts[0] + parts[1], strict=True))
    missed = sum(t is None for t in templates.values())
    assert missed <= 5, f"{missed} LFW images without a detected face"
    scores = np.array(
        [
            -1.0
            if templates[a] is None or templates[b] is None
            else cosine(templates[a], templates[b])
            for a, b, _ in pairs
        ]
    )
    return scores, np.array([p[2] for p in pairs])


@pytest.mark.slow
def test_lfw_10fold_accuracy_at_least_99_percent(lfw_scores: tuple[np.ndarray, np.ndarray]) -> None:
    scores, same = lfw_scores
    mean, _, _ = kfold_accuracy(scores, same, folds=10)
    assert mean >= 0.99


@pytest.mark.slow
def test_lfw_accuracy_with_shipped_threshold_at_least_99_percent(
    lfw_scores: tuple[np.ndarray, np.ndarray],
) -> None:
    scores, same = lfw_scores
    threshold = FaceAnalyzer.from_spec(DEFAULT_PIPELINE).calibration.threshold
    assert accuracy_at(scores[same], scores[~same], threshold) >= 0.99
