"""Authorisation policy enforced: per-kind minimum rank and longest validity (settings;
live deployments: Superintendent or above, at most 24 h), a DPIA withdrawn or past review
blocks use, an unrecorded DPIA needs an explicit acknowledgement at grant."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

import facetrail
from facetrail.errors import AuthorisationError, ImageError, InvalidInputError
from facetrail.facade import Facetrail
from facetrail.store.oversight_models import Dpia

AUTH = {
    "purpose": "p",
    "case": "c",
    "legal_basis": "l",
    "necessity": "n",
    "proportionality": "p",
    "officer": "A. Officer",
    "galleries": ["custody"],
}


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Facetrail]:
    app = facetrail.open(tmp_path / "home")
    app.create_gallery("custody")
    yield app
    app.close()


def test_live_deployment_needs_a_superintendent_and_lasts_at_most_a_day(home: Facetrail) -> None:
    for rank in ("Inspector", "Chief Inspector", "r"):
        with pytest.raises(AuthorisationError, match="rank Superintendent or above"):
            home.authorise(**AUTH, rank=rank, kind="live_deployment")
    granted = home.authorise(**AUTH, rank="Chief Superintendent", kind="live_deployment")
    assert granted.valid_until - granted.valid_from == timedelta(days=1)
    with pytest.raises(InvalidInputError, match="at most 1 day"):
        home.authorise(**AUTH, rank="Superintendent", kind="live_deployment", valid_days=366)
    # Other kinds keep their default of 30 days, any rank.
    search = home.authorise(**AUTH, rank="Sergeant")
    assert search.valid_until - search.valid_from == timedelta(days=30)


def test_the_rules_come_from_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "FACETRAIL_AUTHORISATION_RULES",
        '{"retrospective_search": {"min_rank": "Inspector", "max_valid_days": 7}}',
    )
    app = facetrail.open(tmp_path / "home")
    try:
        app.create_gallery("custody")
        with pytest.raises(AuthorisationError, match="rank Inspector or above"):
            app.authorise(**AUTH, rank="Sergeant")
        granted = app.authorise(**AUTH, rank="DI")
        assert granted.valid_until - granted.valid_from == timedelta(days=7)
    finally:
        app.close()


def _verify(app: Facetrail, authorisation: int) -> None:
    with pytest.raises(ImageError):  # past the authorisation check, on to the photos
        app.verify(b"not an image", b"nor this", authorisation=authorisation)


def test_a_withdrawn_or_expired_dpia_blocks_use(home: Facetrail) -> None:
    today = date.today()
    home.dpias.add("D-1", title="t", version="1", approved_on=today - timedelta(days=9),
                   approver="DPO", review_by=today + timedelta(days=30))  # fmt: skip
    home.dpias.add("D-2", title="t", version="1", approved_on=today - timedelta(days=9),
                   approver="DPO", review_by=today + timedelta(days=30))  # fmt: skip
    first = home.authorise(**AUTH, rank="Inspector", kind="verification", dpia="D-1").id
    second = home.authorise(**AUTH, rank="Inspector", kind="verification", dpia="D-2").id
    _verify(home, first)
    _verify(home, second)
    home.dpias.withdraw("D-1", on=today, reason="superseded")
    with pytest.raises(AuthorisationError, match="DPIA D-1 was withdrawn"):
        home.verify(b"x", b"y", authorisation=first)
    with home.database.transaction() as session:  # its review date passes
        session.execute(
            update(Dpia).where(Dpia.reference == "D-2").values(review_by=today - timedelta(days=1))
        )
    with pytest.raises(AuthorisationError, match="DPIA D-2 expired"):
        home.verify(b"x", b"y", authorisation=second)


def test_an_unrecorded_dpia_needs_an_acknowledgement(home: Facetrail) -> None:
    with pytest.raises(InvalidInputError, match="DPIA D-9 is not recorded"):
        home.authorise(**AUTH, rank="Inspector", dpia="D-9")
    granted = home.authorise(**AUTH, rank="Inspector", dpia="D-9", unrecorded_dpia=True)
    assert granted.id
