"""A home with a user per role for console tests, and signing in over plain HTTP."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

import facetrail
from facetrail.core import access
from tests.integration.api_support import PASSWORD

CSRF_INPUT = re.compile(r'name="csrf" value="([^"]+)"')


def home_with_roles(home: Path, photos: dict[str, Path] | None = None) -> dict[str, str]:
    """A home with gallery 'custody' (holding `photos`, subject -> photo) and one user per
    role; role -> user name."""
    single = facetrail.open(home)
    single.create_gallery("custody")
    for subject, photo in (photos or {}).items():
        single.enrol(photo, gallery="custody", subject=subject, legal_basis="test")
    token = single.users.bootstrap("admin", PASSWORD).token
    single.close()
    admin = facetrail.open(home, user="admin", token=token)
    names = {access.ADMINISTRATOR: "admin"}
    for role in access.ROLES:
        if role != access.ADMINISTRATOR:
            names[role] = role.replace("_", "-")
            admin.users.create(names[role], role=role, password=PASSWORD, rank="Superintendent")
    admin.close()
    return names


def csrf_from(html: str) -> str:
    found = CSRF_INPUT.search(html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def sign_in(client: httpx.Client, name: str, password: str = PASSWORD) -> httpx.Response:
    """Load the sign-in page (CSRF cookie) and post the form."""
    csrf = csrf_from(client.get("/").text)
    return client.post("/login", data={"username": name, "password": password, "csrf": csrf})
