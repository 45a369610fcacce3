"""Opening a home: never created by a read, never migrated silently, older schemas refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from typer.testing import CliRunner

import facetrail
from facetrail.config import Settings
from facetrail.core.kernel import Kernel
from facetrail.errors import NotFoundError, StoreError
from facetrail.interfaces.cli import app as cli_app
from facetrail.store.database import Database, _alembic_config


def test_a_read_on_a_missing_home_fails_and_creates_nothing(tmp_path: Path) -> None:
    home = tmp_path / "typo-home"
    with pytest.raises(NotFoundError, match=r"no facetrail home at .*typo-home.*facetrail init"):
        facetrail.open(home, create=False)
    assert not home.exists()


def test_audit_verify_on_a_mistyped_home_exits_non_zero(tmp_path: Path) -> None:
    home = tmp_path / "typo-home"
    result = CliRunner().invoke(cli_app, ["--home", str(home), "audit", "verify"])
    assert result.exit_code != 0
    assert "intact" not in result.output
    assert isinstance(result.exception, NotFoundError)
    assert not home.exists()


def test_init_creates_a_home_that_reads_then_open(tmp_path: Path) -> None:
    home = tmp_path / "home"
    result = CliRunner().invoke(cli_app, ["--home", str(home), "init"])
    assert result.exit_code == 0, result.output
    assert (home / "facetrail.db").is_file()
    listed = CliRunner().invoke(cli_app, ["--home", str(home), "galleries", "list", "--json"])
    assert listed.exit_code == 0 and listed.output.strip() == "[]"


def test_an_older_schema_is_refused_with_the_upgrade_command(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    database = Database(f"sqlite:///{home / 'facetrail.db'}")
    config = _alembic_config()
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")  # an older facetrail's schema
    database.dispose()
    with pytest.raises(StoreError, match=r"older.*facetrail db upgrade --home"):
        Kernel(Settings(home=home))
    with pytest.raises(StoreError, match="older"):
        Kernel(Settings(home=home), create=True)  # writing commands do not migrate either
    result = CliRunner().invoke(cli_app, ["--home", str(home), "db", "upgrade", "--json"])
    assert result.exit_code == 0, result.output
    kernel = Kernel(Settings(home=home))
    try:
        assert kernel.database.current_revisions() == kernel.database.head_revisions()
    finally:
        kernel.close()
