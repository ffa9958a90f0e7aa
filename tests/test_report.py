"""Tests of stages/commands/report.py in a temporary git repository with two commits, and of the PR workflow."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from stages.cli import app
from tests.project import ROOT, default_params, subprocess_env, write_params


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
    env = subprocess_env()
    subprocess.run(["dvc", "init", "-q"], cwd=tmp_path, check=True, env=env)
    commit_results(tmp_path, 0.85, 32, "base")
    git(tmp_path, "checkout", "-qb", "feature")
    commit_results(tmp_path, 0.875, 64, "bigger model")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", env["PATH"])
    return tmp_path


@pytest.mark.slow
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


@pytest.mark.slow
def test_report_links_uploaded_figures_instead_of_runner_paths(repo):
    (repo / "reports/figures").mkdir(parents=True)
    (repo / "reports/figures/roc.png").write_bytes(b"\x89PNG")
    local = CliRunner().invoke(app, ["report", "--base", "main", "--out", "reports/report.md"], catch_exceptions=False)
    assert local.exit_code == 0 and "![ROC](figures/roc.png)" in (repo / "reports/report.md").read_text()
    url = "https://github.com/o/r/actions/runs/1#artifacts"
    args = ["report", "--base", "main", "--out", "reports/report.md", "--figures-url", url]
    assert CliRunner().invoke(app, args, catch_exceptions=False).exit_code == 0
    report = (repo / "reports/report.md").read_text()
    assert f"[the run's artifact]({url})" in report and "ROC (`roc.png`)" in report and "![" not in report


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
    assert "stages report --base" in commands and "--figures-url" in commands and "cml" not in commands
    assert "gh pr comment" in commands and "--edit-last --create-if-none --body-file reports/report.md" in commands
    assert "dvc params diff" in commands and "dvc metrics diff" in commands and "$GITHUB_STEP_SUMMARY" in commands
    upload = next(step for step in steps if step.get("uses", "").startswith("actions/upload-artifact"))
    assert (
        "reports/figures/" in upload["with"]["path"]
        and "reports/compare/" in upload["with"]["path"]
        and "reports/plots-diff/" in upload["with"]["path"]
    )
    installed = (ROOT / "Makefile").read_text()
    assert ".venv/bin/.installed" in commands and "$(BIN)/.installed:" in installed


def test_report_shows_the_committed_comparison_with_its_figures(tmp_path, monkeypatch):
    from stages.commands import report

    monkeypatch.chdir(tmp_path)
    out = tmp_path / "reports" / "report.md"
    assert report.compare_section(out) == ["No comparison found: run `stages compare`.", ""]
    (tmp_path / "reports/compare").mkdir(parents=True)
    (tmp_path / "reports/compare/variants.md").write_text("# Cell variants compared\n\n| variant |\n| bigru |\n")
    (tmp_path / "reports/compare/accuracy.png").write_bytes(b"\x89PNG")
    lines = report.compare_section(out)
    assert "| bigru |" in lines and "# Cell variants compared" not in lines
    assert "![Test accuracy per variant](compare/accuracy.png)" in lines
    linked = report.compare_section(out, "https://example.org/run#artifacts")
    assert not any(line.startswith("![") for line in linked) and "[the run's artifact]" in linked[-2]
