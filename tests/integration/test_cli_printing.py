"""The CLI prints every user-supplied name literally: no Rich markup, no raw control bytes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import facetrail
from facetrail.errors import NonFiniteValueError
from facetrail.interfaces.cli.support import json_line, printable

MARKUP_NAME = "[bold][/bold]Tony_Blair"


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(Path(facetrail.__file__).parents[1]), COLUMNS="200")
    return subprocess.run(
        [sys.executable, "-m", "facetrail.interfaces.cli.main", "--home", str(home), *args],
        capture_output=True,
        text=True,
        errors="surrogateescape",
        env=env,
        timeout=300,
    )


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, faces_dir: Path) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    photo = sorted((faces_dir / "deepface" / "Matt_Damon").glob("*.jpg"))[0]
    shutil.copy(photo, folder / "face.jpg")
    home = tmp_path_factory.mktemp("home")
    result = _cli(
        home, "enrol", str(folder / "face.jpg"), "--gallery", "g", "--subject", MARKUP_NAME
    )
    assert result.returncode == 0, result.stderr
    return home


def test_a_subject_named_with_markup_prints_literally(home: Path) -> None:
    listing = _cli(home, "subjects", "list")
    assert listing.returncode == 0, listing.stderr
    assert MARKUP_NAME in listing.stdout
    shown = _cli(home, "subjects", "show", MARKUP_NAME, "--gallery", "g")
    assert shown.returncode == 0, shown.stderr
    assert f"subject {MARKUP_NAME} in g" in shown.stdout


def test_a_markup_error_name_is_a_clean_not_found(home: Path) -> None:
    result = _cli(home, "subjects", "show", "[/]", "--gallery", "g")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr and "MarkupError" not in result.stderr
    assert "error:" in result.stderr and "[/]" in result.stderr


def test_escape_sequences_in_file_names_never_reach_the_terminal(
    home: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "in" / "Someone"
    folder.mkdir(parents=True)
    (folder / "bell\x07\x1b[31mred.jpg").write_bytes(b"\xff\xd8\xff" + bytes(300))
    (folder / os.fsdecode(b"caf\xe9\x1b]0;owned\x07.jpg")).write_bytes(b"junk" * 50)
    result = _cli(home, "enrol", str(tmp_path / "in"), "--gallery", "g", "--legal-basis", "t")
    assert result.returncode == 1  # both files failed, reported
    assert "Traceback" not in result.stderr
    assert "\x1b" not in result.stderr + result.stdout and "\x07" not in result.stderr
    assert "bell\\x07\\x1b[31mred.jpg" in result.stderr
    assert "caf\\xe9\\x1b]0;owned\\x07.jpg" in result.stderr
    as_json = _cli(home, "enrol", str(tmp_path / "in"), "--gallery", "g", "--json")
    report = json.loads(as_json.stdout)  # valid JSON, no lone surrogates
    assert {Path(item["path"]).name for item in report["items"]} == {
        "bell\x07\x1b[31mred.jpg",
        "caf\\xe9\x1b]0;owned\x07.jpg",
    }


def test_printable_escapes_controls_bidi_zero_width_and_non_utf8_bytes() -> None:
    assert printable("Tony_Blair") == "Tony_Blair"
    assert printable("a\x1b[2Jb\rc") == "a\\x1b[2Jb\\x0dc"
    assert printable("bidi-\u202egpj.exe") == "bidi-\\u202egpj.exe"
    assert printable("zero\u200bwidth") == "zero\\u200bwidth"
    assert printable(os.fsdecode(b"caf\xe9")) == "caf\\xe9"
    assert printable("two\nlines") == "two\\x0alines"
    assert printable("two\nlines", keep_newlines=True) == "two\nlines"


def test_json_output_refuses_nan_and_infinity() -> None:
    with pytest.raises(NonFiniteValueError, match=r"faces\[0\]\.box\[1\]"):
        json_line({"faces": [{"box": [1.0, float("-inf"), 2.0, 3.0]}]})
    with pytest.raises(NonFiniteValueError):
        json_line({"score": float("nan")})
    assert json_line({"score": 0.5}) == '{"score": 0.5}'
