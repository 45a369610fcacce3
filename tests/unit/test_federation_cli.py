"""The federation commands' public contracts: node, partners (policies versioned), reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import facetrail
from facetrail.errors import InvalidInputError
from facetrail.interfaces.cli import app

runner = CliRunner()


def run(*args: str) -> str:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture
def two_nodes(tmp_path: Path) -> tuple[Path, Path, Path]:
    a, b = tmp_path / "a", tmp_path / "b"
    run("node", "init", "--name", "UK-MPS", "--home", str(a))
    run("node", "init", "--name", "NL-POL", "--home", str(b))
    run("galleries", "create", "custody", "--home", str(a))
    (tmp_path / "nl.pem").write_text(run("node", "show", "--pem", "--home", str(b)))
    (tmp_path / "policy.toml").write_text(
        'galleries = ["custody"]\noffence_categories = ["burglary"]\n'
        'refused_purposes = ["immigration enforcement"]\nmax_candidates = 5\nstep2 = "approve"\n'
    )
    return a, b, tmp_path


def test_node_show_json_contract(two_nodes: tuple[Path, Path, Path]) -> None:
    a, _, _ = two_nodes
    shown = json.loads(run("node", "show", "--json", "--home", str(a)))
    assert {"name", "public_key", "fingerprint"} <= set(shown)
    assert shown["name"] == "UK-MPS" and shown["public_key"].startswith("-----BEGIN PUBLIC KEY")
    assert len(shown["fingerprint"]) == 64
    assert oct((a / "federation" / "node_key.pem").stat().st_mode & 0o777) == "0o600"
    with pytest.raises(InvalidInputError, match="already is node 'UK-MPS'"):
        runner.invoke(
            app, ["node", "init", "--name", "X", "--home", str(a)], catch_exceptions=False
        )


def test_partners_add_show_policy_versions_remove(two_nodes: tuple[Path, Path, Path]) -> None:
    a, _, work = two_nodes
    added = json.loads(
        run(
            "partners",
            "add",
            "NL-POL",
            "--url",
            "http://127.0.0.1:9",
            "--home",
            str(a),
            "--public-key",
            str(work / "nl.pem"),
            "--policy",
            str(work / "policy.toml"),
            "--json",
        )
    )
    assert added["policy_version"] == 1 and added["policy"]["max_candidates"] == 5
    assert added["policy"]["step2"] == "approve" and added["policy"]["deadline_hours"] == 48
    (work / "v2.toml").write_text('galleries = ["custody"]\nmax_candidates = 3\n')
    run("partners", "policy", "NL-POL", "--policy", str(work / "v2.toml"), "--home", str(a))
    history = json.loads(run("partners", "show", "NL-POL", "--history", "--json", "--home", str(a)))
    assert [v["version"] for v in history] == [1, 2]
    assert (
        history[0]["policy"]["max_candidates"] == 5 and history[1]["policy"]["max_candidates"] == 3
    )
    run("partners", "remove", "NL-POL", "--reason", "agreement ended", "--home", str(a))
    listed = json.loads(run("partners", "list", "--json", "--home", str(a)))
    assert listed[0]["active"] is False and listed[0]["removed_at"]
    with facetrail.open(a, create=False) as home:
        actions = [e["action"] for e in home.audit_entries()]
    for action in (
        "federation.partner.add",
        "federation.partner.policy",
        "federation.partner.remove",
    ):
        assert action in actions
    report = json.loads(
        run("report", "federation", "--partner", "NL-POL", "--json", "--home", str(a))
    )
    assert report["partner"] == "NL-POL" and report["asked_of_us"] == []


def test_bad_policy_is_refused_and_nothing_stored(two_nodes: tuple[Path, Path, Path]) -> None:
    a, _, work = two_nodes
    (work / "bad.toml").write_text('galleries = ["custody"]\nmax_candidates = 500\n')
    with pytest.raises(InvalidInputError, match="max_candidates must be an integer 1-100"):
        runner.invoke(
            app,
            ["partners", "add", "NL-POL", "--url", "http://x:1", "--home", str(a),
             "--public-key", str(work / "nl.pem"), "--policy", str(work / "bad.toml")],
            catch_exceptions=False,
        )  # fmt: skip
    (work / "ghost.toml").write_text('galleries = ["no-such"]\n')
    with pytest.raises(Exception, match="gallery no-such, which does not exist"):
        runner.invoke(
            app,
            ["partners", "add", "NL-POL", "--url", "http://x:1", "--home", str(a),
             "--public-key", str(work / "nl.pem"), "--policy", str(work / "ghost.toml")],
            catch_exceptions=False,
        )  # fmt: skip
    assert json.loads(run("partners", "list", "--json", "--home", str(a))) == []
