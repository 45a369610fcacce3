"""Live deployments refuse unsafe parameters and still images; damaged packets are counted."""

from __future__ import annotations

import random
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

import facetrail
from facetrail.errors import InvalidInputError
from facetrail.facade import Facetrail
from facetrail.media.video import VideoError
from facetrail.services.live import WatchRequest
from facetrail.store.live_models import Deployment
from tests.unit.test_video_hostile import _plain_decode, _write_clip

CLIP = "video/short_hamilton_clip.mp4"
AUTH = {
    "purpose": "locate people wanted on warrant at a public event",
    "case": "OP-LIVE-H",
    "legal_basis": "common law policing powers",
    "necessity": "wanted persons expected at the venue",
    "proportionality": "one camera, one hour",
    "officer": "R. Patel",
    "rank": "Superintendent",
}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("live-hostile") / "home"
    app = facetrail.open(home, create=True)
    app.enrol(shared_data / "video/references", gallery="watch", legal_basis="test")
    auth = app.authorise(**AUTH, galleries=["watch"], kind="live_deployment").id
    app.watchlists.create("w", gallery="watch", reason="wanted on warrant")
    request = WatchRequest(
        source=str(shared_data / CLIP), watchlist="w", authorisation=auth, max_frames=4
    )
    yield {"app": app, "home": home, "request": request}
    app.close()


def _deployments(app: Facetrail) -> int:
    with app.database.reader() as session:
        return int(session.scalar(select(func.count()).select_from(Deployment)) or 0)


def _last_start_audit(app: Facetrail) -> dict[str, Any]:
    return [e for e in app.audit_entries() if e["action"] == "live.deployment.start"][-1]


def test_a_threshold_below_the_calibrated_one_needs_an_audited_reason(
    live: dict[str, Any],
) -> None:
    app, request = live["app"], live["request"]
    before = _deployments(app)
    with pytest.raises(InvalidInputError, match="below the calibrated 1:1 threshold"):
        app.deployments.runner(replace(request, threshold=-1.0)).start()
    assert _deployments(app) == before
    assert _last_start_audit(app)["outcome"] == "failed"

    reason = "test of the alerting path on a rehearsal video"
    runner = app.deployments.runner(
        replace(request, threshold=0.05, below_calibrated_reason=reason)
    )
    start = runner.start()
    assert reason in start.threshold_source and "BELOW" in start.threshold_source
    details = _last_start_audit(app)["details"]
    assert details["below_calibrated_threshold"] is True
    assert details["calibrated_threshold"] > 0.05 and reason in details["threshold_source"]
    assert runner.run().frames == 4


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"max_frames": 0}, "--max-frames must be at least 1"),
        ({"max_frames": -5}, "--max-frames must be at least 1"),
        ({"max_seconds": float("nan")}, "--max-seconds must be a positive"),
        ({"max_seconds": float("inf")}, "--max-seconds must be a positive"),
        ({"max_seconds": -1.0}, "--max-seconds must be a positive"),
        ({"threshold": float("nan")}, "--threshold must be a finite"),
        ({"stride": 0}, "--stride must be at least 1"),
        ({"below_calibrated_reason": "  "}, "needs --reason"),
    ],
)
def test_numeric_options_out_of_range_are_refused(
    live: dict[str, Any], change: dict[str, Any], message: str
) -> None:
    app, request = live["app"], live["request"]
    before = _deployments(app)
    with pytest.raises(InvalidInputError, match=message):
        app.deployments.runner(replace(request, **change)).start()
    assert _deployments(app) == before


def test_a_still_image_is_refused_and_no_deployment_is_recorded(
    live: dict[str, Any], shared_data: Path, tmp_path: Path
) -> None:
    app, request = live["app"], live["request"]
    photo = next((shared_data / "video/references").rglob("*.jpg"))
    disguised = tmp_path / "camera1.mp4"
    disguised.write_bytes(photo.read_bytes())
    before = _deployments(app)
    for source in (photo, disguised):
        with pytest.raises(VideoError, match="still JPEG image, not a video"):
            app.deployments.runner(replace(request, source=str(source))).start()
    assert _deployments(app) == before
    assert _last_start_audit(app)["outcome"] == "failed"


def test_damaged_packets_are_skipped_and_counted_in_the_summary(
    live: dict[str, Any], tmp_path: Path
) -> None:
    app, request = live["app"], live["request"]
    original = _write_clip(tmp_path / "clip.avi", "avi", "mpeg4")
    damaged = tmp_path / "damaged.avi"
    for seed in range(60):
        rng = random.Random(seed)
        data = bytearray(original)
        position = rng.randrange(len(data) // 4, 3 * len(data) // 4)
        for offset in range(rng.choice((8, 64, 400))):
            data[position + offset] = rng.randrange(256)
        damaged.write_bytes(bytes(data))
        if _plain_decode(damaged)[1]:
            break
    plain_frames = _plain_decode(damaged)[0]
    runner = app.deployments.runner(
        replace(request, source=str(damaged), max_frames=None, stride=1)
    )
    runner.start()
    summary = runner.run()
    assert summary.status == "ended" and summary.corrupt_packets_skipped >= 1
    assert summary.frames >= 35 and summary.frames > plain_frames  # decoding went on
    stop = [e for e in app.audit_entries() if e["action"] == "live.deployment.stop"][-1]
    assert stop["details"]["corrupt_packets_skipped"] == summary.corrupt_packets_skipped


def test_the_cli_refuses_bad_watch_options_without_a_traceback(
    live: dict[str, Any], shared_data: Path
) -> None:
    request = live["request"]
    base = ["watch", str(shared_data / CLIP), "--watchlist", "w"]
    base += ["--authorisation", str(request.authorisation)]
    for extra, message in (
        (["--max-frames", "0"], "--max-frames must be at least 1"),
        (["--max-seconds", "nan"], "--max-seconds must be a positive"),
        (["--threshold", "0.01"], "below the calibrated"),
        (["--threshold", "0.01", "--below-calibrated-threshold"], "needs --reason"),
    ):
        result = subprocess.run(
            [sys.executable, "-m", "facetrail", "--home", str(live["home"]), *base, *extra],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode != 0, extra
        assert "Traceback" not in result.stderr and message in result.stderr, result.stderr
