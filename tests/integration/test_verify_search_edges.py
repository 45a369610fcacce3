"""Verify never silently picks one of several faces; search returns the authorised cap."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import facetrail
from facetrail.errors import InvalidInputError

from .helpers import link_gallery, person_images

AUTH = {
    "purpose": "identify an unknown suspect",
    "case": "OP-EDGE-1",
    "legal_basis": "common law policing powers",
    "necessity": "no other means of identification",
    "proportionality": "one probe",
    "officer": "R. Patel",
    "rank": "Superintendent",
}


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, faces_dir: Path) -> Iterator[dict[str, Any]]:
    people = {name: photos[:1] for name, photos in person_images(faces_dir / "deepface").items()}
    folder = link_gallery(tmp_path_factory.mktemp("gallery"), people)
    home = tmp_path_factory.mktemp("home")
    app = facetrail.open(home, create=True)
    app.enrol(folder, gallery="g", legal_basis="test")
    yield {"app": app, "home": home, "faces": faces_dir}
    app.close()


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "facetrail", "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_verify_with_several_faces_needs_a_choice(setup: dict[str, Any]) -> None:
    app, faces = setup["app"], setup["faces"]
    scene = faces / "scenes" / "two_people.jpg"
    obama = sorted((faces / "face_recognition" / "Barack_Obama").iterdir())[0]
    with pytest.raises(InvalidInputError, match=r"image A .* holds 2 faces.*--face-a N"):
        app.verify(scene, obama)
    with pytest.raises(InvalidInputError, match=r"--face-a 3: image A .* holds 2 face"):
        app.verify(scene, obama, face_a=3)
    results = [app.verify(scene, obama, face_a=n) for n in (1, 2)]
    assert [r.faces_used for r in results] == [[1, 1], [2, 1]]
    assert sorted(r.same_person for r in results) == [False, True]  # Obama is one of them
    entries = [e for e in app.audit_entries() if e["action"] == "verify"]
    assert [e["details"].get("faces_used") for e in entries[-2:]] == [[1, 1], [2, 1]]

    refused = _cli(setup["home"], "verify", str(obama), str(scene), "--json")
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert "image B" in refused.stderr and "--face-b N" in refused.stderr
    both = [
        json.loads(
            _cli(
                setup["home"], "verify", str(obama), str(scene), "--face-b", str(n), "--json"
            ).stdout
        )
        for n in (1, 2)
    ]
    assert sorted(r["same_person"] for r in both) == [False, True]
    single = sorted((faces / "deepface" / "Jeff_Bezos").glob("*.jpg"))
    plain = _cli(setup["home"], "verify", str(single[0]), str(single[1]), "--json")
    assert plain.returncode == 0 and json.loads(plain.stdout)["same_person"] is True


def test_search_above_the_authorised_cap_returns_the_cap_and_says_so(
    setup: dict[str, Any],
) -> None:
    app, faces = setup["app"], setup["faces"]
    auth = app.authorise(**AUTH, galleries=["g"], max_candidates=5).id
    probe = sorted((faces / "deepface" / "Matt_Damon").glob("*.jpg"))[1]
    result = app.search(probe, gallery="g", authorisation=auth, top=10)
    assert result.top_capped_to == 5
    assert [len(face.candidates) for face in result.faces] == [5]
    assert result.faces[0].candidates[0].subject == "Matt_Damon"
    entry = [e for e in app.audit_entries() if e["action"] == "search"][-1]
    assert (entry["details"]["top"], entry["details"]["top_requested"]) == (5, 10)
    within = app.search(probe, gallery="g", authorisation=auth, top=3)
    assert within.top_capped_to is None and len(within.faces[0].candidates) == 3

    cli = _cli(setup["home"], "search", str(probe), "--gallery", "g", "--authorisation",
               str(auth), "--top", "10", "--json")  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    assert json.loads(cli.stdout)["top_capped_to"] == 5
