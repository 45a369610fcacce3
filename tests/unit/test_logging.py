"""Logging: one line per use case with operation, caller, request id and time; no secrets."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from facetrail.interfaces.cli import app as cli_app


def test_json_log_lines_name_the_use_case_actor_and_time(tmp_path: Path) -> None:
    home = tmp_path / "home"
    runner = CliRunner()
    created = runner.invoke(cli_app, ["--home", str(home), "galleries", "create", "custody"])
    assert created.exit_code == 0, created.output
    result = runner.invoke(
        cli_app,
        [
            "--home",
            str(home),
            "--user",
            "pc1",
            "--log-level",
            "INFO",
            "--log-json",
            "galleries",
            "list",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    uses = [r["message"] for r in records if r["message"].startswith("use_case=")]
    assert any("use_case=Galleries.list actor=pc1" in m and "outcome=ok" in m for m in uses)
    assert all("ms=" in m and "request=" in m for m in uses)


def test_a_bad_log_level_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli_app, ["--home", str(tmp_path), "--log-level", "LOUD", "galleries", "list"]
    )
    assert result.exit_code != 0
    assert "--log-level" in str(result.exception)
