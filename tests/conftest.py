"""Shared fixtures: where the real face data lives, skipping clearly when it is absent."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
# The milvus_server / milvus_url fixtures (a real milvus-lite server process).
pytest_plugins = ["tests.milvus_server"]


def shared_data_dir() -> Path | None:
    """`$FACETRAIL_TEST_DATA`, else `../shared/data` beside the repository, if present."""
    configured = os.environ.get("FACETRAIL_TEST_DATA")
    candidate = Path(configured) if configured else REPO_ROOT.parent / "shared" / "data"
    return candidate if candidate.is_dir() else None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real face data folder; skips the test with the reason when it is absent."""
    found = shared_data_dir()
    if found is None:
        pytest.skip(
            "real face data not found: set FACETRAIL_TEST_DATA or put shared/data "
            "beside the repository (see README)"
        )
    return found


@pytest.fixture(scope="session")
def faces_dir(shared_data: Path) -> Path:
    return shared_data / "faces"


def _postgres_admin_url() -> str | None:
    url = os.environ.get("FACETRAIL_TEST_PG_URL")
    if url:
        return url
    if os.environ.get("CI"):
        pytest.fail("FACETRAIL_TEST_PG_URL is not set: CI must test PostgreSQL for real")
    return None


@contextmanager
def _fresh_postgres_database(admin_url: str) -> Iterator[str]:
    """A new, empty PostgreSQL database for one test, dropped afterwards."""
    import psycopg

    name = f"facetrail_t_{uuid.uuid4().hex[:12]}"
    base, _, _ = admin_url.rpartition("/")
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The same test on a SQLite file and on a fresh database of a real PostgreSQL server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'facetrail.db'}"
        return
    admin_url = _postgres_admin_url()
    if admin_url is None:
        pytest.skip("no PostgreSQL server: set FACETRAIL_TEST_PG_URL (scripts/test does as root)")
    with _fresh_postgres_database(admin_url) as url:
        yield url
