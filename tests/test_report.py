"""Tests of stages/report.py in a temporary git repository with two commits, and of the PR workflow."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from stages.cli import app
from tests.conftest import ROOT, default_params, write_params


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def commit_results(repo: Path, accuracy: float, units: int, message: str) -> None:
    params = default_params()
    params["model"]["units"] = units
    write_params(repo, params)
    reports = repo / "reports"
    reports.mkdir(exist_ok=True)
    (reports / "metrics.json").write_text(json.dumps({"test": {"accuracy": accuracy, "f1": accuracy - 0.01}}))
    (reports / "train_metrics.json").write_text(json.dumps({"train": {"epochs_run": 3, "params": 1000 + units}}))
    (reports / "lm_metrics.json").write_text(json.dumps({"lm": {"val_perplexity": {"forward": 10_000 / units}}}))
    (reports / "lm_generations.md").write_text(
        f"# Language model generations\n\n- **this movie was** → {units} stars\n"
    )
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)


@pytest.fixture
def repo(tmp_path, monkeypatch) -> Path:
    (tmp_path / "dvc.yaml").write_text((ROOT / "dvc.yaml").read_text())
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "config", "user.email", "t@example.org")
    git(tmp_path, "config", "user.name", "t")
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    subprocess.run(["dvc", "init", "-q"], cwd=tmp_path, check=True, env=env)
    commit_results(tmp_path, 0.85, 32, "base")
    git(tmp_path, "checkout", "-qb", "feature")
    commit_results(tmp_path, 0.875, 64, "bigger model")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", env["PATH"])
    return tmp_path


def test_report_shows_both_values_and_the_delta(repo):
    result = CliRunner().invoke(app, ["report", "--base", "main", "--out", "reports/report.md"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report = (repo / "reports/report.md").read_text()
    assert "| `model.units` | `32` | `64` |" in report
    assert "| `test.accuracy` | 0.8500 | 0.8750 | +0.0250 |" in report
    assert "| `train.params` | 1,032 | 1,064 | +32 |" in report
    assert "model.cell" not in report  # unchanged params are left out
    assert "| `lm.val_perplexity.forward` | 312.5000 | 156.2500 | -156.2500 |" in report
    assert "- **this movie was** → 64 stars" in report


def test_report_on_unknown_base_is_a_clear_error(repo):
    result = CliRunner().invoke(app, ["report", "--base", "nope"], catch_exceptions=False)
    assert result.exit_code == 1
    assert "base revision 'nope' not found" in result.output


def test_pr_workflow_has_the_steps_a_reviewer_relies_on():
    workflow = yaml.safe_load((ROOT / ".github/workflows/pr-report.yml").read_text())
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert "pull_request" in triggers
    assert workflow["permissions"]["pull-requests"] == "write"
    steps = workflow["jobs"]["report"]["steps"]
    checkout = next(step for step in steps if step.get("uses", "").startswith("actions/checkout"))
    assert checkout["with"]["fetch-depth"] == 0
    commands = "\n".join(step.get("run", "") for step in steps)
    assert "make repro" in commands and "dvc pull" in commands
    assert "stages report --base" in commands and "cml comment" in commands
    installed = (ROOT / "Makefile").read_text()
    assert ".venv/bin/.installed" in commands and "$(BIN)/.installed:" in installed
