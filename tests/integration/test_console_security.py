"""Console security over real HTTP: CSRF, escaping, lockout, cookie vs bearer, idle expiry,
and no token or password in any URL or log line."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from facetrail.interfaces.web.session import CSRF_COOKIE, MAX_FAILED_SIGN_INS, SESSION_COOKIE
from tests.integration.api_support import PASSWORD, LiveServer, live_server, settings_for
from tests.integration.console_support import csrf_from, home_with_roles, sign_in

SCRIPT = "<script>alert(1)</script>"


@pytest.fixture
def served(tmp_path: Path, faces_dir: Path) -> Iterator[tuple[LiveServer, dict[str, str]]]:
    home = tmp_path / "home"
    # A subject whose name is markup: deletion requests are only taken for subjects held.
    photo = sorted((faces_dir / "deepface" / "Angelina_Jolie").glob("*.jpg"))[0]
    names = home_with_roles(home, {SCRIPT: photo})
    with live_server(settings_for(home)) as server:
        yield server, names


def _client(server: LiveServer) -> httpx.Client:
    return httpx.Client(base_url=server.url, timeout=60, follow_redirects=False)


def test_sign_in_sets_a_strict_httponly_session_and_csrf_guards_every_change(
    served: tuple[LiveServer, dict[str, str]],
) -> None:
    server, _names = served
    with _client(server) as browser:
        page = browser.get("/")
        assert page.status_code == 200 and 'action="/login"' in page.text
        assert 'method="post"' in page.text  # the password never goes into a URL
        no_csrf = browser.post("/login", data={"username": "admin", "password": PASSWORD})
        assert no_csrf.status_code == 403 and SESSION_COOKIE not in no_csrf.cookies
        signed = sign_in(browser, "admin")
        assert signed.status_code == 303 and signed.headers["location"] == "/home"
        cookie = next(
            h for h in signed.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE)
        )
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
        admin_page = browser.get("/admin")
        assert admin_page.status_code == 200 and "Create user" in admin_page.text
        refused = browser.post("/admin/galleries", data={"name": "forged"})
        assert refused.status_code == 403 and "CSRF" in refused.text
        wrong = browser.post("/admin/galleries", data={"name": "forged", "csrf": "guess"})
        assert wrong.status_code == 403
        made = browser.post(
            "/admin/galleries", data={"name": "made", "csrf": csrf_from(admin_page.text)}
        )
        assert made.status_code == 303
        listed = browser.get("/admin").text
        assert "<td>made</td>" in listed and "forged" not in listed
        assert (
            browser.get("/login", params={"username": "admin", "password": "x"}).status_code == 405
        )


def test_role_pages_are_offered_and_refused_by_role(
    served: tuple[LiveServer, dict[str, str]],
) -> None:
    server, names = served
    with _client(server) as browser:
        sign_in(browser, names["auditor"])
        home = browser.get("/home").text
        assert 'href="/audit"' in home and 'href="/admin"' not in home
        assert 'href="/search"' not in home
        assert browser.get("/admin").status_code == 403
        assert browser.get("/search").status_code == 403
        assert "hash chain verified" in browser.get("/audit").text


def test_a_script_subject_is_shown_escaped(served: tuple[LiveServer, dict[str, str]]) -> None:
    server, names = served
    with _client(server) as browser:
        sign_in(browser, names["investigator"])
        token = httpx.post(
            f"{server.url}/api/v1/tokens",
            json={"name": names["investigator"], "password": PASSWORD},
        ).json()["token"]
        made = httpx.post(
            f"{server.url}/api/v1/deletion-requests",
            headers={"Authorization": f"Bearer {token}"},
            json={"gallery": "custody", "subject": SCRIPT, "requester": SCRIPT, "grounds": "x"},
        )
        assert made.status_code == 201, made.text
    with _client(server) as officer:
        sign_in(officer, names["authorising_officer"])
        html = officer.get("/deletions").text
        assert SCRIPT not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_repeated_failed_sign_ins_lock_the_account_and_are_audited(
    served: tuple[LiveServer, dict[str, str]],
) -> None:
    server, names = served
    with _client(server) as browser:
        for _ in range(MAX_FAILED_SIGN_INS):
            assert sign_in(browser, names["operator"], "wrong password").status_code == 401
        locked = sign_in(browser, names["operator"])  # the right password, but locked
        assert locked.status_code == 429 and "too many failed sign-ins" in locked.text
        assert SESSION_COOKIE not in locked.cookies
        assert sign_in(browser, names["auditor"]).status_code == 303  # others unaffected
        entries = browser.get("/audit", params={"action": "console.lockout"}).text
        assert "console.lockout" in entries and names["operator"] in entries
        failures = browser.get("/audit", params={"action": "users.token", "outcome": "refused"})
        assert failures.text.count("<td>users.token</td>") >= MAX_FAILED_SIGN_INS


def test_session_cookie_is_no_bearer_token_and_a_bearer_token_no_session(
    served: tuple[LiveServer, dict[str, str]],
) -> None:
    server, _names = served
    with _client(server) as browser:
        sign_in(browser, "admin")
        cookie = browser.cookies[SESSION_COOKIE]
        assert browser.get("/admin").status_code == 200
        as_bearer = httpx.get(
            f"{server.url}/api/v1/users", headers={"Authorization": f"Bearer {cookie}"}
        )
        assert as_bearer.status_code == 401
        cookie_on_api = httpx.get(f"{server.url}/api/v1/users", cookies={SESSION_COOKIE: cookie})
        assert cookie_on_api.status_code == 401
    token = httpx.post(
        f"{server.url}/api/v1/tokens", json={"name": "admin", "password": PASSWORD}
    ).json()["token"]
    with _client(server) as stranger:
        bearer_on_console = stranger.get("/admin", headers={"Authorization": f"Bearer {token}"})
        assert bearer_on_console.status_code == 303 and bearer_on_console.headers["location"] == "/"
        token_as_cookie = stranger.get("/admin", cookies={SESSION_COOKIE: token})
        assert token_as_cookie.status_code == 303


def test_idle_sessions_expire(
    served: tuple[LiveServer, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, _ = served
    monkeypatch.setenv("FACETRAIL_SESSION_IDLE_S", "1")
    with _client(server) as browser:
        sign_in(browser, "admin")
        assert browser.get("/admin").status_code == 200
        time.sleep(1.5)
        expired = browser.get("/admin")
        assert expired.status_code == 303 and expired.headers["location"] == "/"


def test_no_token_or_password_in_urls_or_log_lines(
    served: tuple[LiveServer, dict[str, str]], caplog: pytest.LogCaptureFixture
) -> None:
    server, names = served
    seen_urls: list[str] = []

    def record(request: httpx.Request) -> None:
        seen_urls.append(str(request.url))

    caplog.set_level(logging.DEBUG)
    with httpx.Client(
        base_url=server.url, timeout=60, event_hooks={"request": [record]}
    ) as browser:
        sign_in(browser, names["auditor"], "a wrong password!")
        sign_in(browser, names["auditor"])
        browser.get("/audit")
        issued = browser.post(
            "/api/v1/tokens", json={"name": "admin", "password": PASSWORD}
        ).json()["token"]
        browser.get("/api/v1/users", headers={"Authorization": f"Bearer {issued}"})
        browser.get("/api/v1/users", headers={"Authorization": "Bearer ft_1_forged"})
        session = browser.cookies[SESSION_COOKIE]
        csrf = browser.cookies[CSRF_COOKIE]
    secrets = [PASSWORD, "a wrong password!", issued, issued.split("_", 2)[2], session, csrf]
    # The server's log lines (this test's own HTTP client logs its traffic at DEBUG: not those).
    lines = [
        record.getMessage()
        for record in caplog.records
        if not record.name.startswith(("httpx", "httpcore"))
    ]
    assert any("use_case=" in line for line in lines)  # the server did log
    for secret in secrets:
        leaks = [line for line in lines if secret in line]
        assert not leaks, leaks[:2]
        assert not any(secret in url for url in seen_urls), secret
