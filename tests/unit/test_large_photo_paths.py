"""Paths that keep big photos cheap: blank refusals, libpng decoding, small retries, one SFace."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from facetrail.biometrics.detector import YuNetDetector
from facetrail.biometrics.hard_faces import low_contrast, tight_crop
from facetrail.biometrics.pipeline import FaceAnalyzer
from facetrail.biometrics.recognizer import SFaceRecognizer
from facetrail.biometrics.retry import DIRECT, RETRY_MAX_SIDE, RetryingDetector
from facetrail.errors import ImageError
from facetrail.media.images import _to_bgr, load_image


def _encoded(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def _lfw(faces_dir: Path, index: int = 0) -> np.ndarray:
    pixels = cv2.imread(str(sorted((faces_dir / "lfw-dev").rglob("*.jpg"))[index]))
    assert pixels is not None
    return pixels


@pytest.mark.parametrize(("mode", "fmt"), [("L", "PNG"), ("RGB", "PNG"), ("RGB", "JPEG")])
def test_a_blank_image_is_refused_as_blank_not_searched_for_faces(mode: str, fmt: str) -> None:
    data = _encoded(Image.new(mode, (1200, 900), 128 if mode == "L" else (90, 90, 90)), fmt)
    with pytest.raises(ImageError, match=r"blank\.\w+: image is blank: all 1200x900 pixels"):
        load_image(data, name=f"blank.{fmt.lower()}")


@pytest.mark.parametrize("mode", ["L", "RGB", "P"])
def test_png_decoded_by_libpng_gives_pillows_pixels(faces_dir: Path, mode: str) -> None:
    photo = Image.fromarray(_lfw(faces_dir, 5)[:, :, ::-1]).convert(mode)
    data = _encoded(photo, "PNG")
    reference = Image.open(io.BytesIO(data))
    reference.load()
    assert np.array_equal(load_image(data).pixels, _to_bgr(reference))


def test_a_retry_on_a_large_photo_finds_the_face_in_the_photos_own_pixels(
    faces_dir: Path,
) -> None:
    """A flat chip at 2x the retry size is retried on a half-size copy, mapped back to full."""
    photo = _lfw(faces_dir, 1)
    plain = YuNetDetector()
    plain.load()
    chip = low_contrast(tight_crop(photo, plain.detect(photo)[0].box))  # found only equalised
    scale = RETRY_MAX_SIDE / chip.shape[0]
    base = cv2.resize(chip, (round(chip.shape[1] * scale), RETRY_MAX_SIDE), cv2.INTER_CUBIC)
    large = np.ascontiguousarray(np.repeat(np.repeat(base, 2, axis=0), 2, axis=1))
    detector = RetryingDetector(YuNetDetector())
    detector.load()
    reference = detector.detect(base)
    found = detector.detect(large)  # 2,560 px: its retries run on `base`'s exact pixels
    assert reference and reference[0].found_by != DIRECT
    assert found and found[0].found_by == reference[0].found_by
    assert np.allclose(found[0].box, np.array(reference[0].box) * 2, atol=0.5)
    assert np.allclose(found[0].landmarks, reference[0].landmarks * 2, atol=0.5)


def test_sface_shared_by_threads_gives_each_the_single_thread_template(faces_dir: Path) -> None:
    photos = [_lfw(faces_dir, index) for index in range(6)]
    analyzer = FaceAnalyzer.from_spec("yunet+sface").load()
    faces = [analyzer.detector.detect(photo)[0] for photo in photos]
    pairs = list(zip(photos, faces, strict=True))
    expected = [SFaceRecognizer().embed(photo, face) for photo, face in pairs]
    results: dict[tuple[int, int], np.ndarray] = {}

    def embed_all(worker: int) -> None:
        recognizer = SFaceRecognizer()
        for _ in range(5):
            for index, (photo, face) in enumerate(zip(photos, faces, strict=True)):
                results[(worker, index)] = recognizer.embed(photo, face)

    threads = [threading.Thread(target=embed_all, args=(worker,)) for worker in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 18
    for (_, index), template in results.items():
        assert np.array_equal(template, expected[index])
