"""Live deployments over the API on the shared clip: start, SSE alert stream, status, alert
image, decision, report, and stopping a paced deployment early."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

import facetrail
from tests.integration.api_support import PASSWORD, live_server, settings_for

CLIP = "video/short_hamilton_clip.mp4"
REFERENCES = "video/references"
REASON = "wanted on warrant W-2291 (assault)"
AUTH = {
    "purpose": "locate wanted people",
    "case": "OP-API-LIVE",
    "legal_basis": "common law",
    "necessity": "wanted persons expected",
    "proportionality": "one camera",
}


def _home(home: Path, shared_data: Path) -> dict[str, Any]:
    app = facetrail.open(home)
    app.enrol(shared_data / REFERENCES, gallery="watch", legal_basis="test", source="refs")
    app.watchlists.create("hamilton", gallery="watch", reason=REASON)
    admin_token = app.users.bootstrap("admin", PASSWORD).token
    app.close()
    admin = facetrail.open(home, user="admin", token=admin_token)
    for name, role in (("op", "operator"), ("ao", "authorising_officer")):
        admin.users.create(name, role=role, password=PASSWORD, rank="Superintendent")
    tokens = {n: admin.users.token(n, PASSWORD).token for n in ("op", "ao")}
    admin.close()
    officer = facetrail.open(home, user="ao", token=tokens["ao"])
    auth = officer.authorise(
        **AUTH, galleries=["watch"], kind="live_deployment", watchlists=["hamilton"]
    ).id
    officer.close()
    return {"tokens": tokens, "auth": auth}


def _listen(url: str, token: str, deployment: int, events: list[dict[str, Any]]) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    with (
        httpx.Client(base_url=url, headers=headers, timeout=None) as client,
        client.stream("GET", f"/api/v1/deployments/{deployment}/alerts/stream") as stream,
    ):
        assert stream.headers["content-type"].startswith("text/event-stream")
        kind = ""
        for line in stream.iter_lines():
            if line.startswith("event:"):
                kind = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and kind == "alert":
                events.append({**json.loads(line.split(":", 1)[1]), "received": time.time()})


@pytest.mark.slow
def test_deployment_over_the_api(tmp_path: Path, shared_data: Path) -> None:
    home = tmp_path / "home"
    setup = _home(home, shared_data)
    with live_server(settings_for(home)) as server:
        op = server.client(setup["tokens"]["op"])
        ao = server.client(setup["tokens"]["ao"])
        body = {"source": str(shared_data / CLIP), "watchlist": "hamilton",
                "authorisation": setup["auth"], "place": "theatre", "pace": True}  # fmt: skip
        started = op.post("/api/v1/deployments", json=body)
        assert started.status_code == 201, started.text
        deployment = started.json()["deployment_id"]
        assert started.json()["watchlist"]["name"] == "hamilton"
        events: list[dict[str, Any]] = []
        listener = threading.Thread(
            target=_listen, args=(server.url, setup["tokens"]["op"], deployment, events),
            daemon=True,
        )  # fmt: skip
        listener.start()
        deadline = time.monotonic() + 300
        while op.get(f"/api/v1/deployments/{deployment}").json()["running"]:
            assert time.monotonic() < deadline
            time.sleep(0.5)
        time.sleep(1.5)  # the stream looks at least once a second
        status = op.get(f"/api/v1/deployments/{deployment}").json()
        assert status["summary"]["status"] == "ended" and status["summary"]["alerts"] >= 1
        listed = op.get("/api/v1/alerts", params={"deployment": deployment}).json()
        assert sorted(a["alert_id"] for a in listed) == sorted(e["alert_id"] for e in events)
        raised = server.state.deployments.raised_at(deployment)
        delays = [e["received"] - raised[e["alert_id"]] for e in events]
        assert max(delays) < 2.0, delays
        # Each alert says why its subject is on the watchlist (the entry's frozen reason).
        assert {e["reason"] for e in events} == {a["reason"] for a in listed} == {REASON}
        first = listed[-1]["alert_id"]
        image = op.get(f"/api/v1/alerts/{first}/image")
        assert image.status_code == 200 and image.content[:3] == b"\xff\xd8\xff"
        decided = op.post(
            f"/api/v1/alerts/{first}/decision",
            json={"outcome": "confirmed", "note": "same face", "engagement": False},
        )
        assert decided.status_code == 200 and decided.json()["decided_by"] == "op"
        assert decided.json()["reason"] == op.get(f"/api/v1/alerts/{first}").json()["reason"]
        assert decided.json()["reason"] == REASON
        again = op.post(
            f"/api/v1/alerts/{first}/decision", json={"outcome": "rejected", "note": "x"}
        )
        assert again.status_code == 422 and "already decided" in again.json()["detail"]
        report = ao.get(f"/api/v1/deployments/{deployment}/report").json()
        assert report["alerts"] == len(listed) and report["confirmed"] == 1
        assert report["place"] == "theatre"
        # The FOI figures over time: today's period holds these alerts and the decision.
        today = datetime.now(UTC).date().isoformat()
        foi = ao.get("/api/v1/reports/foi", params={"start": today, "end": today}).json()
        assert foi["over_time"]["bucket"] == "day"
        (period,) = foi["over_time"]["periods"]
        assert period["period"] == today and period["alerts"] == len(listed)
        assert (period["true_positives"], period["false_positives"]) == (1, 0)
        assert period["undecided"] == len(listed) - 1

        second = op.post("/api/v1/deployments", json=body).json()["deployment_id"]
        time.sleep(2)
        stopped = op.post(f"/api/v1/deployments/{second}/stop")
        assert stopped.status_code == 200, stopped.text
        assert stopped.json()["running"] is False
        assert stopped.json()["summary"]["frames"] < status["summary"]["frames"]
        metrics = server.client().get("/metrics").text
        assert "facetrail_alerts_total" in metrics
        op.close()
        ao.close()
