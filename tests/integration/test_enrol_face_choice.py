"""A multi-face photo under a named subject: refused unless --face or --box picks the face."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import facetrail
from facetrail.biometrics.pipeline import FaceAnalyzer
from facetrail.errors import InvalidInputError
from facetrail.media.images import load_image

AUTH = {
    "purpose": "p", "case": "c", "legal_basis": "l", "necessity": "n",
    "proportionality": "p", "officer": "O", "rank": "Inspector",
}  # fmt: skip


def _left_face(photo: Path) -> tuple[int, tuple[float, float, float, float]]:
    """(1-based number, box) of the leftmost face: Angelina Jolie in couple.jpg."""
    faces = FaceAnalyzer.from_spec("yunet+sface").load().detect(load_image(photo).pixels)
    assert len(faces) == 2
    index = min(range(2), key=lambda i: faces[i].box[0])
    return index + 1, faces[index].box


def test_multi_face_photo_is_refused_then_enrolled_as_chosen(
    tmp_path: Path, faces_dir: Path
) -> None:
    couple = faces_dir / "scenes" / "couple.jpg"
    number, box = _left_face(couple)
    probe = sorted((faces_dir / "deepface" / "Angelina_Jolie").glob("*.jpg"))[0]
    app = facetrail.open(tmp_path / "home")
    try:
        refused = app.enrol(couple, gallery="g", subject="Angelina_Jolie", legal_basis="t")
        assert refused.enrolled == 0 and refused.failed == 1
        reason = refused.items[0].reason
        assert "holds 2 faces" in reason and "--face" in reason and "x=" in reason
        missed = app.enrol(couple, gallery="g", subject="A", box=(0, 0, 5, 5))
        assert missed.failed == 1 and "no detected face overlaps" in missed.items[0].reason
        by_box = app.enrol(
            couple, gallery="g", subject="Angelina_Jolie", legal_basis="t",
            box=tuple(round(v) for v in box),
        )  # fmt: skip
        assert by_box.enrolled == 1 and f"enrolled face {number}" in by_box.items[0].warnings[0]
        other = 3 - number
        by_number = app.enrol(couple, gallery="g", subject="Man_Right", legal_basis="t", face=other)
        assert by_number.enrolled == 1
        auth = app.authorise(**AUTH, galleries=["g"]).id
        result = app.search(probe, gallery="g", authorisation=auth, top=2)
        top = result.faces[0].candidates[0]
        assert top.subject == "Angelina_Jolie" and top.above_threshold
        beyond = app.enrol(couple, gallery="g", subject="X", face=3)
        assert beyond.failed == 1 and "--face 3: " in beyond.items[0].reason
    finally:
        app.close()


def test_folders_take_the_largest_face_and_say_which(tmp_path: Path, faces_dir: Path) -> None:
    folder = tmp_path / "in" / "Barack_Obama"
    folder.mkdir(parents=True)
    shutil.copy(faces_dir / "scenes" / "two_people.jpg", folder / "two.jpg")
    single = sorted((faces_dir / "face_recognition").rglob("*obama*"))[0]
    shutil.copy(single, folder / single.name)
    app = facetrail.open(tmp_path / "home")
    try:
        report = app.enrol(tmp_path / "in", gallery="g", legal_basis="t")
        status = {Path(i.path).name: i for i in report.items}
        assert status[single.name].status == "enrolled"
        assert status["two.jpg"].status == "enrolled"
        warning = status["two.jpg"].warnings[0]
        assert "2 faces found" in warning and "enrolled face 1" in warning and "--face" in warning
        with pytest.raises(InvalidInputError, match="enrol that photo on its own"):
            app.enrol(tmp_path / "in", gallery="g", face=1)
    finally:
        app.close()
