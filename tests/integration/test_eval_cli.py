"""`facetrail eval ...` and `facetrail calibrate` end to end on a small LFW subset, and
stored calibrations used by search and verify on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import facetrail
from facetrail.biometrics.calibration import load_calibration
from facetrail.services import calibrations

PEOPLE_WITH_SEVERAL = 24
SINGLE_PEOPLE = 24
IMAGES_PER_PERSON = 4


@pytest.fixture(scope="module")
def subset(faces_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small folder-per-person set linking to lfw-dev photos (nothing copied)."""
    source = faces_dir / "lfw-dev"
    if not source.is_dir():
        pytest.skip("lfw-dev not found in the shared data")
    root = tmp_path_factory.mktemp("lfw-subset")
    several = single = 0
    for person in sorted(p for p in source.iterdir() if p.is_dir()):
        photos = sorted(person.glob("*.jpg"))
        if len(photos) >= 2 and several < PEOPLE_WITH_SEVERAL:
            several += 1
        elif len(photos) == 1 and single < SINGLE_PEOPLE:
            single += 1
        else:
            continue
        (root / person.name).mkdir()
        for photo in photos[:IMAGES_PER_PERSON]:
            (root / person.name / photo.name).symlink_to(photo)
        if several >= PEOPLE_WITH_SEVERAL and single >= SINGLE_PEOPLE:
            break
    return root


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "facetrail", "--home", str(home), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "FACETRAIL_USER": "analyst"},
        timeout=300,
    )


def _json(result: subprocess.CompletedProcess[str]) -> dict:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _pairs_file(subset: Path, target: Path) -> Path:
    """Two folds of 3 same + 3 different pairs from the subset's people."""
    several = sorted(p.name for p in subset.iterdir() if len(list(p.iterdir())) >= 2)
    lines = ["2\t3"]
    for fold in range(2):
        people = several[fold * 6 : fold * 6 + 6]
        lines += [f"{name}\t1\t2" for name in people[:3]]
        lines += [f"{a}\t1\t{b}\t1" for a, b in zip(people[:3], people[3:], strict=True)]
    target.write_text("\n".join(lines) + "\n")
    return target


@pytest.mark.slow
def test_eval_and_calibrate_commands(subset: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    identify = _json(_cli(home, "eval", "identify", "--images", str(subset), "--json"))
    assert identify["protocol"] == "identify"
    assert set(identify["cmc"]) == {"1", "5", "10", "20", "50"}
    assert set(identify["fnir_at_fpir"]) == {"0.1", "0.03", "0.01", "0.003", "0.001"}
    assert identify["images_embedded"] == identify["images"] > 0
    assert Path(identify["saved_to"]).is_file()

    pairs = _pairs_file(subset, tmp_path / "pairs.txt")
    result = _json(
        _cli(home, "eval", "pairs", "--pairs", str(pairs), "--images", str(subset), "--json")
    )
    assert {"accuracy", "std", "folds", "eer"} <= set(result)
    assert result["folds"] == 2 and result["folds_from"] == "pairs file"
    assert result["images_embedded"] == 0  # the subset's templates are cached

    watch = _json(
        _cli(
            home, "eval", "watchlist", "--images", str(subset), "--threshold", "0.35",
            "--watchlist-size", "9756", "--json",
        )
    )  # fmt: skip
    assert watch["sentence"].startswith("With a 9,756-image watchlist at threshold 0.350")
    assert watch["fpir"] >= watch["fpir_predicted_at_measured_size"]  # bigger list, more alerts
    points = watch["thresholds_for_false_alerts"]
    assert [p["false_alerts_per_10000"] for p in points] == [100, 10, 1]
    measured = [p["threshold"] for p in points if p["threshold"] is not None]
    assert measured == sorted(measured)  # fewer false alerts need a higher threshold

    report = _json(_cli(home, "eval", "report", "--json"))
    assert Path(report["html"]).is_file()
    assert {p["protocol"] for p in report["runs"]} == {"identify", "pairs", "watchlist"}

    refused = _cli(home, "calibrate", "--images", str(subset))
    assert refused.returncode != 0
    assert "exactly one of --target-fpir and --target-fmr" in refused.stderr

    stored = _json(
        _cli(home, "calibrate", "--target-fpir", "0.1", "--images", str(subset), "--json")
    )
    assert stored["target_kind"] == "fpir" and stored["pipeline"] == "yunet+sface"
    assert f"stored #{stored['id']}" in stored["label"]
    listed = _json(_cli(home, "calibrate", "--list", "--json"))
    assert [c["id"] for c in listed["calibrations"]] == [stored["id"]]

    photos = next(
        sorted(p.iterdir()) for p in sorted(subset.iterdir()) if len(list(p.iterdir())) >= 2
    )
    verify = _json(_cli(home, "verify", str(photos[0]), str(photos[1]), "--json"))
    assert verify["threshold"] == pytest.approx(stored["threshold"])
    assert f"stored #{stored['id']}" in verify["calibration"]

    audit = _json(_cli(home, "audit", "list", "--json"))["entries"]
    entry = next(e for e in audit if e["action"] == "calibration.store")
    assert entry["details"]["calibration_id"] == stored["id"]
    assert entry["actor"] == "analyst"


@pytest.mark.slow
def test_eval_fusion_with_flip_averaged_templates(subset: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    pairs = _pairs_file(subset, tmp_path / "pairs.txt")
    base = ("eval", "fusion", "--pairs", str(pairs), "--images", str(subset), "--json")
    plain = _json(_cli(home, *base))
    flipped = _json(_cli(home, *base, "--flip"))
    assert plain["pipeline"] == "yunet+sface|dlib" and not plain["flip_averaged_templates"]
    assert flipped["pipeline"] == "yunet+sface|dlib+flip" and flipped["flip_averaged_templates"]
    for result in (plain, flipped):
        assert result["folds"] == 2 and result["genuine_pairs"] == 6
        methods = {"sface", "dlib", "fixed fusion", "learned fusion"}
        assert set(result["missed_mates"]) == set(result["fnmr_at_fmr"]) == methods
        for method, points in result["fnmr_at_fmr"].items():
            for target, rate in points.items():
                missed = result["missed_mates"][method][target]
                assert missed == round(rate * result["genuine_pairs"])
    cached = sorted(p.name for p in (home / "cache" / "templates").glob("*.npz"))
    assert len(cached) == 2 and sum("flip" in name for name in cached) == 1
    # the spec form is the same measurement, its templates from the same cache
    spec = _json(_cli(home, *base, "--pipeline", "yunet+sface|dlib+flip"))
    assert spec["pipeline"] == flipped["pipeline"]
    assert spec["fnmr_at_fmr"] == flipped["fnmr_at_fmr"]
    assert spec["learned_weights"] == flipped["learned_weights"]


def test_stored_calibration_is_used_by_verify(
    database_url: str, tmp_path: Path, faces_dir: Path
) -> None:
    people = faces_dir / "lfw-dev" / "Aaron_Peirsol"
    if not people.is_dir():
        pytest.skip("lfw-dev not found in the shared data")
    photos = sorted(people.glob("*.jpg"))
    with facetrail.open(tmp_path / "home", database_url=database_url) as app:
        before = app.verify(photos[0], photos[1])
        assert "packaged default" in before.calibration
        assert before.threshold == pytest.approx(load_calibration("yunet+sface").threshold)

        packaged = load_calibration("yunet+sface")
        parameters = {
            "threshold": 0.5,
            "score_kind": "cosine",
            "models": {
                m.name: {
                    "version": m.version,
                    "weight": m.weight,
                    "impostor_mean": m.normalisation.impostor_mean,
                    "impostor_std": m.normalisation.impostor_std,
                    "genuine_mean": m.normalisation.genuine_mean,
                    "genuine_std": m.normalisation.genuine_std,
                }
                for m in packaged.models
            },
            "fmr_thresholds": packaged.fmr_thresholds,
            "dataset": "test-set",
            "measured_at": "2026-11-22",
            "method": "test",
            "results": {},
        }
        info = calibrations.store(
            app.database,
            actor=app.actor,
            spec="yunet+sface",
            target_kind="fmr",
            target=0.001,
            parameters=parameters,
        )
        app.analyzers.invalidate()
        after = app.verify(photos[0], photos[1])
        assert after.threshold == 0.5
        assert after.calibration == (
            f"yunet+sface FMR 0.001 on test-set (2026-11-22, stored #{info.id})"
        )
        assert after.score == pytest.approx(before.score)
        actions = [e["action"] for e in app.audit_entries()]
        assert "calibration.store" in actions
        assert app.verify_audit().ok
