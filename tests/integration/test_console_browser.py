"""The console in a real browser (Playwright driving Debian's chromium): every role signs in;
an investigator searches a real photo and records an outcome; an operator runs the shared
clip and sees each alert within 2 s of the server raising it, decides one, and the report
shows it; an auditor sees the audit trail verify. Screenshots go to the test's tmp folder."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

import facetrail
from facetrail.core import access
from facetrail.store.live_models import Alert
from facetrail.store.models import AuditEntry
from tests.integration.api_support import PASSWORD, LiveServer, live_server, photo, settings_for
from tests.integration.console_support import home_with_roles

CLIP = "video/short_hamilton_clip.mp4"
REFERENCES = "video/references"
ALERT_WITHIN_S = 2.0
PEOPLE = ("Elon_Musk", "Jeff_Bezos", "Katy_Perry")
REASON = "wanted on warrant W-2291 <b>assault</b>"  # shown as text, never as HTML

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def console(
    tmp_path_factory: pytest.TempPathFactory, faces_dir: Path, shared_data: Path
) -> Iterator[tuple[LiveServer, dict[str, str], dict[str, int]]]:
    """A home with a user per role, a custody gallery, a watchlist and two authorisations."""
    home = tmp_path_factory.mktemp("console") / "home"
    names = home_with_roles(home)
    admin = facetrail.open(home, user="admin", token=_token(home, "admin"))
    for person in PEOPLE:
        admin.enrol(photo(faces_dir, person), gallery="custody", subject=person, source="custody")
    admin.enrol(shared_data / REFERENCES, gallery="watch", legal_basis="test", source="refs")
    admin.watchlists.create("hamilton", gallery="watch", reason=REASON)
    admin.close()
    officer_name = names[access.AUTHORISING_OFFICER]
    officer = facetrail.open(home, user=officer_name, token=_token(home, officer_name))
    common = {
        "legal_basis": "common law",
        "necessity": "no other lead",
        "proportionality": "one probe / one camera",
    }
    search = officer.authorise(
        purpose="identify a suspect", case="OP-WEB-1", galleries=["custody"],
        for_user=names[access.INVESTIGATOR], **common,
    ).id  # fmt: skip
    live = officer.authorise(
        purpose="locate wanted people", case="OP-WEB-2", galleries=["watch"],
        kind="live_deployment", watchlists=["hamilton"], for_user=names[access.OPERATOR],
        **common,
    ).id  # fmt: skip
    officer.close()
    with live_server(settings_for(home)) as server:
        yield server, names, {"search": search, "live": live}


def _token(home: Path, name: str) -> str:
    with facetrail.open(home) as app:
        return app.users.token(name, PASSWORD).token


def _signed_in(browser: Any, server: LiveServer, name: str, shots: Path) -> Any:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(server.url + "/")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("#signin button")
    page.wait_for_url("**/home")
    assert name in page.inner_text("#who")
    page.screenshot(path=str(shots / f"home-{name}.png"), full_page=True)
    return page


def test_every_role_signs_in_and_sees_only_its_pages(
    browser: Any, console: tuple[LiveServer, dict[str, str], dict[str, int]], tmp_path: Path
) -> None:
    server, names, _ = console
    expected = {
        access.INVESTIGATOR: "Search",
        access.OPERATOR: "Live",
        access.AUTHORISING_OFFICER: "Authorisations",
        access.AUDITOR: "Audit trail",
        access.ADMINISTRATOR: "Administration",
    }
    for role, name in names.items():
        page = _signed_in(browser, server, name, tmp_path)
        links = page.locator("#pages a").all_inner_texts()
        assert expected[role] in links, (role, links)
        for other, title in expected.items():
            if other != role and title != "Audit trail":
                assert title not in links, (role, title)
        if role != access.ADMINISTRATOR:
            assert "Administration" not in links
        page.close()
    assert len(list(tmp_path.glob("home-*.png"))) == len(names)


def test_investigator_searches_a_real_photo_and_records_an_outcome(
    browser: Any,
    console: tuple[LiveServer, dict[str, str], dict[str, int]],
    faces_dir: Path,
    tmp_path: Path,
) -> None:
    server, names, auths = console
    page = _signed_in(browser, server, names[access.INVESTIGATOR], tmp_path)
    page.goto(server.url + "/search")
    assert "leads, not identifications" in page.inner_text("main")
    page.set_input_files("input[name=probe]", str(photo(faces_dir, "Elon_Musk", 2)))
    page.select_option("select[name=gallery]", "custody")
    page.select_option("select[name=authorisation]", str(auths["search"]))
    page.click("#search-form button")
    page.wait_for_selector("#results")
    assert page.locator("#probe rect.box").count() >= 1
    first = page.locator(".candidates tr.above td.subject").first.inner_text()
    assert first == "Elon_Musk"
    assert "threshold" in page.inner_text("#results h2")
    page.locator(".candidates tr.above summary").first.click()
    page.wait_for_function(
        "[...document.querySelectorAll('img.candidate-photo')].some(i => i.naturalWidth > 0)"
    )
    page.screenshot(path=str(tmp_path / "search.png"), full_page=True)
    page.check("input[value=potential_candidate]")
    page.fill("input[name=subject]", "Elon_Musk")
    page.fill("textarea[name=note]", "same ear shape and scar; refer to examiner two")
    page.click("#outcome-form button")
    page.wait_for_selector("#message")
    assert "outcome recorded" in page.inner_text("#message")
    page.screenshot(path=str(tmp_path / "search-outcome.png"), full_page=True)
    page.close()


def test_operator_sees_alerts_within_two_seconds_decides_and_the_report_shows_it(
    browser: Any,
    console: tuple[LiveServer, dict[str, str], dict[str, int]],
    shared_data: Path,
    tmp_path: Path,
) -> None:
    server, names, auths = console
    page = _signed_in(browser, server, names[access.OPERATOR], tmp_path)
    page.goto(server.url + "/live")
    page.fill("input[name=source]", str(shared_data / CLIP))
    page.select_option("select[name=watchlist]", "hamilton")
    page.select_option("select[name=authorisation]", str(auths["live"]))
    page.fill("input[name=place]", "theatre")
    page.click("#start-form button")
    page.wait_for_url("**/live/*")
    deployment_id = int(page.url.rsplit("/", 1)[1])
    page.wait_for_selector("#queue[data-ready='1']")
    deadline = time.monotonic() + 300
    while server.state.deployments.status(deployment_id).running:
        assert time.monotonic() < deadline, "the deployment did not end"
        time.sleep(0.5)
    raised = server.state.deployments.raised_at(deployment_id)
    assert raised, "the clip raised no alert"
    page.wait_for_function(
        f"document.querySelectorAll('#queue .alert').length >= {len(raised)}", timeout=10_000
    )
    shown = page.evaluate(
        "Object.fromEntries([...document.querySelectorAll('#queue .alert')]"
        ".map(a => [a.dataset.alert, parseFloat(a.dataset.shownAt || 'NaN')]))"
    )
    delays = {alert_id: shown[str(alert_id)] - at for alert_id, at in raised.items()}
    assert all(0 <= delay <= ALERT_WITHIN_S for delay in delays.values()), delays
    # Each queued alert (rendered from its SSE event) says why the subject is watched.
    reasons = page.locator("#queue .alert .reason .why").all_inner_texts()
    assert reasons == [REASON] * len(raised), reasons
    assert page.locator("#queue .alert .reason b").count() == 0
    page.screenshot(path=str(tmp_path / "live.png"), full_page=True)
    first = page.locator("#queue .alert form").first
    first.locator("select[name=outcome]").select_option("confirmed")
    first.locator("input[name=note]").fill("compared face and tattoo: same person")
    first.locator("button").click()
    page.wait_for_url(f"**/live/{deployment_id}")
    assert page.locator(".decided").count() == 1
    # The page as the server renders it (after the decision): the reason still beside each.
    assert page.locator("#queue .alert .reason .why").all_inner_texts() == [REASON] * len(raised)
    page.screenshot(path=str(tmp_path / "live-decided.png"), full_page=True)
    page.close()
    officer = _signed_in(browser, server, names[access.AUTHORISING_OFFICER], tmp_path)
    officer.goto(f"{server.url}/deployments/{deployment_id}/report")
    report = officer.inner_text("#report")
    assert f"alerts\t{len(raised)}" in report and "confirmed\t1" in report
    officer.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    officer.goto(server.url + "/authorise")
    officer.screenshot(path=str(tmp_path / "authorise.png"), full_page=True)
    officer.goto(server.url + "/deletions")
    officer.screenshot(path=str(tmp_path / "deletions.png"), full_page=True)
    officer.close()


def _truth_by_day(server: LiveServer) -> dict[str, Counter[str]]:
    """Straight from the tables: per UTC day, alerts by outcome, searches, images enrolled."""
    days: dict[str, Counter[str]] = defaultdict(Counter)
    outcome_series = {"confirmed": "true_positives", "rejected": "false_positives",
                      "no-action": "no_action", None: "undecided"}  # fmt: skip
    with server.state.services.kernel.database.reader() as session:
        for created_at, outcome in session.execute(select(Alert.created_at, Alert.outcome)):
            day = created_at.astimezone(UTC).date().isoformat()
            days[day]["alerts"] += 1
            days[day][outcome_series[outcome]] += 1
        for occurred_at, action in session.execute(
            select(AuditEntry.occurred_at, AuditEntry.action).where(
                AuditEntry.outcome == "ok", AuditEntry.action.in_(("search", "enrol"))
            )
        ):
            day = occurred_at.astimezone(UTC).date().isoformat()
            days[day]["searches" if action == "search" else "images_enrolled"] += 1
    return days


def test_foi_charts_show_the_real_counts_over_time(
    browser: Any,
    console: tuple[LiveServer, dict[str, str], dict[str, int]],
    shared_data: Path,
    tmp_path: Path,
) -> None:
    server, names, auths = console
    # Alerts of a deployment of this test's own, decided two ways over the REST API.
    signed = server.client().post(
        "/api/v1/tokens", json={"name": names[access.OPERATOR], "password": PASSWORD}
    )
    token = signed.json()["token"]
    with server.client(token) as op:
        body = {"source": str(shared_data / CLIP), "watchlist": "hamilton",
                "authorisation": auths["live"], "place": "foyer"}  # fmt: skip
        started = op.post("/api/v1/deployments", json=body)
        assert started.status_code == 201, started.text
        deployment = started.json()["deployment_id"]
        deadline = time.monotonic() + 300
        while op.get(f"/api/v1/deployments/{deployment}").json()["running"]:
            assert time.monotonic() < deadline, "the deployment did not end"
            time.sleep(0.5)
        alerts = op.get("/api/v1/alerts", params={"deployment": deployment}).json()
        assert alerts, "the clip raised no alert"
        note = {"note": "compared the faces"}
        for alert, outcome in zip(alerts, ("rejected", "no-action"), strict=False):
            decided = op.post(f"/api/v1/alerts/{alert['alert_id']}/decision",
                              json={"outcome": outcome, **note})  # fmt: skip
            assert decided.status_code == 200, decided.text
    truth = _truth_by_day(server)
    today = datetime.now(UTC).date()
    week = [(today - timedelta(days=n)).isoformat() for n in range(6, -1, -1)]
    assert truth[today.isoformat()]["false_positives"] >= 1

    page = _signed_in(browser, server, names[access.AUDITOR], tmp_path)
    page.goto(f"{server.url}/foi?start={week[0]}&end={week[-1]}")
    charts = {
        "alerts-over-time": ("alerts", "true_positives", "false_positives", "no_action"),
        "work-over-time": ("searches", "images_enrolled"),
    }
    for chart_id, series in charts.items():
        chart = page.locator(f"#{chart_id}")
        assert chart.get_attribute("data-bucket") == "day"
        bars = chart.locator("rect.bar")
        assert bars.count() == len(week) * len(series)
        drawn = page.evaluate(
            f"[...document.querySelectorAll('#{chart_id} rect.bar')].map(b => [b.dataset.period,"
            " b.dataset.series, Number(b.dataset.value), b.getBoundingClientRect().height])"
        )
        values = {(period, name): value for period, name, value, _ in drawn}
        heights = {(period, name): height for period, name, _, height in drawn}
        assert values == {(d, s): truth[d][s] for d in week for s in series}
        top = max(values.values())
        assert top >= 1
        for key, value in values.items():  # each bar's drawn height is its count's share
            assert abs(heights[key] - value / top * heights[max(values, key=values.get)]) < 1.0
        labels = page.evaluate(
            f"[...document.querySelectorAll('#{chart_id} text.bar-value')].map(t =>"
            " [t.dataset.period, t.dataset.series, Number(t.textContent)])"
        )
        assert {(p, s): v for p, s, v in labels} == {k: v for k, v in values.items() if v}
        for name in series:  # the legend's totals
            total = chart.locator(f".legend li[data-series={name}] .total").inner_text()
            assert int(total) == sum(truth[d][name] for d in week)
        assert week[-1] in chart.locator("text.period").all_text_contents()
    page.locator("#alerts-over-time").screenshot(path=str(tmp_path / "foi-alerts-chart.png"))
    # The default year: one bar group per month, this month's bars the month's counts.
    page.goto(f"{server.url}/foi")
    chart = page.locator("#alerts-over-time")
    assert chart.get_attribute("data-bucket") == "month"
    month = f"{today:%Y-%m}"
    for name in charts["alerts-over-time"]:
        bar = chart.locator(f"rect.bar[data-period='{month}'][data-series={name}]")
        expected = sum(c[name] for day, c in truth.items() if day.startswith(month))
        assert int(bar.get_attribute("data-value") or -1) == expected
    page.screenshot(path=str(tmp_path / "foi-year.png"), full_page=True)
    page.close()


def test_auditor_sees_the_audit_trail_verify(
    browser: Any, console: tuple[LiveServer, dict[str, str], dict[str, int]], tmp_path: Path
) -> None:
    server, names, _ = console
    page = _signed_in(browser, server, names[access.AUDITOR], tmp_path)
    page.goto(server.url + "/audit")
    page.wait_for_selector("#chain-status.ok")
    assert "hash chain verified" in page.inner_text("#chain-status")
    assert page.locator("#entries tr").count() > 1
    page.screenshot(path=str(tmp_path / "audit.png"), full_page=True)
    page.goto(server.url + "/foi")
    assert page.locator("figure.chart").count() >= 1
    page.screenshot(path=str(tmp_path / "foi.png"), full_page=True)
    page.close()
    admin = _signed_in(browser, server, names[access.ADMINISTRATOR], tmp_path)
    admin.goto(server.url + "/admin")
    assert "hamilton" not in admin.inner_text("#users")
    admin.screenshot(path=str(tmp_path / "admin.png"), full_page=True)
    admin.close()
