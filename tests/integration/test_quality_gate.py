"""The quality gate at enrolment: under the gallery's minimum, refused with the failing
components, or enrolled flagged with --allow-low-quality."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

import facetrail
from facetrail.media.images import load_image
from facetrail.services.gallery_records import DEFAULT_MIN_QUALITY


def _variants(photo: Path, folder: Path) -> dict[str, Path]:
    """The photo tiny (face about 20 px), blurred, and dark, as files."""
    pixels = load_image(photo).pixels
    made = {
        "tiny": cv2.resize(pixels, (48, 48), interpolation=cv2.INTER_AREA),
        "blurred": cv2.GaussianBlur(pixels, (0, 0), 20),
        "dark": (pixels.astype(np.float32) * 0.08).astype(np.uint8),
    }
    paths = {}
    for name, image in made.items():
        path = folder / name / f"{name}.png"
        path.parent.mkdir(parents=True)
        cv2.imwrite(str(path), image)
        paths[name] = path
    return paths


def test_poor_photos_are_refused_with_their_components_or_flagged(
    tmp_path: Path, faces_dir: Path
) -> None:
    photo = sorted((faces_dir / "deepface" / "Angelina_Jolie").glob("*.jpg"))[0]
    variants = _variants(photo, tmp_path / "in")
    app = facetrail.open(tmp_path / "home")
    try:
        good = app.enrol(photo, gallery="g", subject="good", legal_basis="t")
        assert good.enrolled == 1 and good.items[0].quality >= DEFAULT_MIN_QUALITY
        assert set(good.items[0].quality_components or {}) >= {"size", "sharpness"}
        assert app.galleries()[0].min_quality == DEFAULT_MIN_QUALITY
        refused = app.enrol(tmp_path / "in", gallery="g", legal_basis="t")
        by_name = {Path(i.path).stem: i for i in refused.items}
        gated = [n for n, i in by_name.items() if "under the gallery's minimum" in i.reason]
        assert len(gated) >= 2, {n: i.reason for n, i in by_name.items()}
        for name in gated:
            assert (
                by_name[name].status == "failed" and "components under it" in by_name[name].reason
            )
        assert "sharpness" in by_name["blurred"].reason
        flagged = app.enrol(
            variants["blurred"], gallery="g", subject="blurred", legal_basis="t",
            allow_low_quality=True,
        )  # fmt: skip
        item = flagged.items[0]
        assert item.status == "enrolled" and item.low_quality
        assert any("enrolled and flagged" in w for w in item.warnings)
        shown = app.subject("g", "blurred").image_records[0]
        assert shown.low_quality and shown.quality_components["sharpness"] < DEFAULT_MIN_QUALITY
        strict = app.create_gallery("strict", min_quality=99)
        assert strict.min_quality == 99
        assert app.enrol(photo, gallery="strict", subject="s", legal_basis="t").failed == 1
    finally:
        app.close()
