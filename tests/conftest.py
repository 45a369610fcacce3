"""Shared fixtures: where the real face data lives, skipping clearly when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


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
