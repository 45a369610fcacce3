"""Console sessions: an encrypted HttpOnly SameSite=Strict cookie, idle expiry, CSRF tokens.

The cookie holds, sealed with a key kept in the home (shared by every worker process), the
short-lived API token the sign-in issued, the CSRF token and when it was last used. It is
never a bearer token (the API reads only the Authorization header), and the API's bearer
tokens are never accepted as a cookie (they do not decrypt).
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from fastapi import Request, Response

SESSION_COOKIE = "ft_session"
CSRF_COOKIE = "ft_csrf"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
KEY_FILE = "console-session.key"
DEFAULT_IDLE_S = 15 * 60
MAX_FAILED_SIGN_INS = 5
LOCKOUT_S = 15 * 60


def idle_limit_s() -> float:
    """How long a console session may sit unused ($FACETRAIL_SESSION_IDLE_S, default 15 min)."""
    return float(os.environ.get("FACETRAIL_SESSION_IDLE_S", DEFAULT_IDLE_S))


@dataclass(frozen=True, slots=True)
class Session:
    token: str
    csrf: str
    seen: float


class SessionCodec:
    """Seals and opens session cookies with the home's console key."""

    def __init__(self, home: Path) -> None:
        self._fernet = Fernet(self._key(home))

    @staticmethod
    def _key(home: Path) -> bytes:
        path = home / KEY_FILE
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_bytes().strip()
        key = Fernet.generate_key()
        with os.fdopen(descriptor, "wb") as sink:
            sink.write(key)
        return key

    def seal(self, session: Session) -> str:
        payload = {"token": session.token, "csrf": session.csrf, "seen": session.seen}
        return self._fernet.encrypt(json.dumps(payload).encode()).decode()

    def open(self, cookie: str | None) -> Session | None:
        """The session in a cookie, or None if absent, forged or idle too long."""
        if not cookie:
            return None
        try:
            payload = json.loads(self._fernet.decrypt(cookie.encode()))
        except (InvalidToken, ValueError):
            return None
        session = Session(str(payload["token"]), str(payload["csrf"]), float(payload["seen"]))
        if time.time() - session.seen > idle_limit_s():
            return None
        return session


def new_csrf() -> str:
    return secrets.token_urlsafe(24)


def csrf_of(request: Request) -> str:
    """The CSRF token of this browser (set by `ensure_csrf_cookie`)."""
    return request.cookies.get(CSRF_COOKIE) or request.state.csrf


def ensure_csrf_cookie(request: Request, response: Response) -> None:
    """Give the browser a CSRF cookie if it has none (double-submit, SameSite=Strict)."""
    if not request.cookies.get(CSRF_COOKIE):
        response.set_cookie(
            CSRF_COOKIE,
            request.state.csrf,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )


def csrf_matches(request: Request, sent: str | None, session: Session | None) -> bool:
    """Whether a state-changing request carries this browser's (and session's) CSRF token."""
    cookie = request.cookies.get(CSRF_COOKIE)
    if not sent or not cookie or not hmac.compare_digest(sent, cookie):
        return False
    return session is None or hmac.compare_digest(sent, session.csrf)


def set_session_cookie(request: Request, response: Response, value: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        value,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
