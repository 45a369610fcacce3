"""Detection that does not give up: tight, dark, flat and side-lit chips of real faces."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facetrail.biometrics.hard_faces import VARIANTS, low_contrast, tight_crop
from facetrail.biometrics.pipeline import FaceAnalyzer, mirror_face
from facetrail.biometrics.retry import EQUALISED, PADDED, RetryingDetector, pad
from facetrail.media.images import load_image

PEOPLE = 80
TARGET_FOUND = 0.95


@pytest.fixture(scope="module")
def analyzers() -> tuple[FaceAnalyzer, FaceAnalyzer]:
    retrying = FaceAnalyzer.from_spec("yunet+sface").load()
    bare = FaceAnalyzer.from_spec("yunet+sface").load()
    assert isinstance(bare.detector, RetryingDetector)
    bare.detector = bare.detector.inner
    return retrying, bare


def _chips(faces_dir: Path, bare: FaceAnalyzer, count: int) -> list[np.ndarray]:
    chips = []
    for folder in sorted((faces_dir / "lfw-dev").iterdir()):
        photos = sorted(folder.glob("*.jpg")) if folder.is_dir() else []
        if len(photos) < 2:
            continue
        pixels = load_image(photos[1]).pixels
        found = bare.detector.detect(pixels)
        if found:
            chips.append(tight_crop(pixels, found[0].box))
        if len(chips) == count:
            return chips
    return chips


def test_a_flat_chip_missed_by_the_bare_detector_is_found_by_a_retry(
    faces_dir: Path, analyzers: tuple[FaceAnalyzer, FaceAnalyzer]
) -> None:
    retrying, bare = analyzers
    missed = [c for c in map(low_contrast, _chips(faces_dir, bare, 40)) if not bare.detect(c)]
    assert missed, "no flat chip is missed without retries: the test set is too easy"
    for chip in missed:
        faces = retrying.detect(chip)
        assert faces, "a retry should find the face"
        assert faces[0].found_by in (PADDED, EQUALISED, f"{PADDED}+{EQUALISED}")
        x, y, w, h = faces[0].box
        height, width = chip.shape[:2]
        assert -0.5 * w < x < width and -0.5 * h < y < height  # in the chip's own pixels


def test_a_face_found_padded_maps_back_to_the_original_pixels(
    faces_dir: Path, analyzers: tuple[FaceAnalyzer, FaceAnalyzer]
) -> None:
    _, bare = analyzers
    photo = load_image(next((faces_dir / "lfw-dev").glob("*/*_0001.jpg"))).pixels
    direct = bare.detector.detect(photo)[0]
    padded, border = pad(photo)
    inner = bare.detector
    mapped = RetryingDetector(inner)._detect_padded(photo, PADDED)[0]
    assert border > 0 and padded.shape[0] == photo.shape[0] + 2 * border
    # Detected at another scale (the padded photo is not enlarged): the same face, in the
    # original photo's pixels, within a tenth of its width.
    tolerance = 0.1 * direct.box[2]

    def centre(box: tuple[float, float, float, float]) -> np.ndarray:
        return np.array([box[0] + box[2] / 2, box[1] + box[3] / 2])

    assert np.allclose(centre(mapped.box), centre(direct.box), atol=tolerance)
    assert np.allclose(mapped.landmarks, direct.landmarks, atol=tolerance)
    assert mapped.found_by == PADDED


@pytest.mark.slow
def test_found_rate_on_every_hard_variant_and_the_controls(
    faces_dir: Path, analyzers: tuple[FaceAnalyzer, FaceAnalyzer]
) -> None:
    retrying, bare = analyzers
    chips = _chips(faces_dir, bare, PEOPLE)
    assert len(chips) == PEOPLE
    rates = {}
    for variant, make in VARIANTS.items():
        found = sum(bool(retrying.detect(make(chip))) for chip in chips)
        rates[variant] = found / len(chips)
    assert all(rate >= TARGET_FOUND for rate in rates.values()), rates
    for control in ("dlib_johns", "orl_faces"):
        files = [p for p in (faces_dir / control).rglob("*") if p.suffix in {".jpg", ".pgm"}]
        assert files
        assert all(retrying.detect(load_image(p).pixels) for p in files), control


def test_a_flip_pipeline_averages_with_the_mirror_image(faces_dir: Path) -> None:
    photo = load_image(next((faces_dir / "lfw-dev").glob("*/*_0001.jpg"))).pixels
    plain = FaceAnalyzer.from_spec("yunet+sface").load()
    flipping = FaceAnalyzer.from_spec("yunet+sface+flip").load()
    face = plain.detect(photo)[0]
    a = plain.embed(photo, face).template("sface")
    b = flipping.embed(photo, face).template("sface")
    mirror = plain.embed(np.ascontiguousarray(photo[:, ::-1]), mirror_face(face, photo.shape[1]))
    expected = a + mirror.template("sface")
    assert np.allclose(b, expected / np.linalg.norm(expected), atol=1e-5)
    assert abs(float(np.linalg.norm(b)) - 1.0) < 1e-5 and float(a @ b) < 0.9999
