"""Slow: `dvc exp run`, `dvc exp show` while training, and `stages compare` on the small real-data project."""

from __future__ import annotations

import json
import subprocess
import time

import pandas as pd
import pytest

from tests.project import run, sh, subprocess_env

pytestmark = pytest.mark.slow

ENV = subprocess_env()


def running_step(shown: list) -> int | None:
    """The epoch the workspace's running experiment has reached, as ``dvc exp show --json`` reports it."""
    for baseline in shown:
        if baseline.get("rev") != "workspace":
            continue
        data = (baseline.get("data") or {}).get("metrics", {}).get("reports/live/metrics.json", {}).get("data", {})
        if "step" in data and "val_loss" in data:
            return data["step"]
    return None


def test_dvc_exp_show_reports_live_steps_while_training_and_plots_render(repo, tmp_path):
    log = tmp_path / "exp.log"
    epochs = 6
    settings = ["-S", f"train.epochs={epochs}", "-S", "train.patience=0", "-S", "train.seed=3"]
    with open(log, "w") as out:
        running = subprocess.Popen(
            ["dvc", "exp", "run", *settings, "-n", "live", "train"],
            cwd=repo,
            env=ENV,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    seen = set()

    def seen_before_the_last_epoch() -> bool:
        return any(step < epochs - 1 for step in seen)

    try:
        while running.poll() is None and not seen_before_the_last_epoch():  # each poll is a `dvc` process
            shown = run(repo, "dvc", "exp", "show", "--json")
            if shown.returncode == 0 and (step := running_step(json.loads(shown.stdout))) is not None:
                seen.add(step)
            time.sleep(0.5)
        assert running.wait() == 0, log.read_text()
        assert seen_before_the_last_epoch(), (seen, log.read_text())
        plots = json.loads(sh(repo, "dvc", "plots", "show", "--json"))["data"]
        live = [name for name in plots if name.startswith("reports/live/plots/metrics/")]
        assert "reports/live/plots/metrics/val_loss.tsv" in live and "reports/live/plots/metrics/accuracy.tsv" in live
    finally:  # back to the committed results (the experiment's DVCLive files included)
        sh(repo, "git", "checkout", "--", ".")
        sh(repo, "git", "clean", "-fdq", "reports")
        sh(repo, "dvc", "checkout", "--force")
    assert "up to date" in sh(repo, "dvc", "status")


def test_compare_trains_variants_over_seeds_as_experiments_that_dvc_shows_and_diffs(repo):
    """The variant is the committed model (SMALL's lstm): its seed 42 is the committed run, whose stages DVC skips
    as unchanged; seed 43 trains."""
    output = sh(
        repo,
        "stages",
        "compare",
        "--cell",
        "lstm",
        "--bidirectional",
        "false",
        "--seeds",
        "2",
        "--prefix",
        "t",
        "--yes",
    )
    assert output.count("Running stage 'train'") == 1 and output.count("Stage 'train' didn't change, skipping") == 1
    for shared in ("download", "prepare", "lm", "embeddings", "baseline"):
        assert f"Running stage '{shared}'" not in output and f"Stage '{shared}' didn't change, skipping" in output
    table = pd.read_csv(repo / "reports/compare/variants.csv").set_index("variant")
    assert list(table.index) == ["lstm-wv", "baseline"] and table.loc["lstm-wv", "seeds"] == 2
    assert table["ci_low"].notna().all() and table.loc["lstm-wv", "best"] and pd.notna(table.loc["baseline", "p_holm"])
    for figure in ("accuracy.png", "val_curves.png"):
        assert (repo / "reports/compare" / figure).read_bytes()[:4] == b"\x89PNG"
    shown = json.loads(sh(repo, "dvc", "exp", "show", "--json"))
    experiments = {exp["name"]: exp["revs"][0]["data"] for rev in shown for exp in (rev.get("experiments") or [])}
    assert {"t-lstm-wv-s42", "t-lstm-wv-s43"} <= set(experiments)
    data = experiments["t-lstm-wv-s43"]
    assert data["params"]["params.yaml"]["data"]["train"]["seed"] == 43
    assert 0 <= data["metrics"]["reports/summary/evaluate.json"]["data"]["test"]["accuracy"] <= 1
    committed = json.loads((repo / "reports/summary/evaluate.json").read_text())
    assert experiments["t-lstm-wv-s42"]["metrics"]["reports/summary/evaluate.json"]["data"] == committed
    diff = json.loads(sh(repo, "dvc", "metrics", "diff", "HEAD", "t-lstm-wv-s43", "--json"))
    assert "reports/summary/evaluate.json" in diff
    params_diff = json.loads(sh(repo, "dvc", "params", "diff", "HEAD", "t-lstm-wv-s43", "--json"))
    assert {key: params_diff["params.yaml"]["train.seed"][key] for key in ("old", "new")} == {"old": 42, "new": 43}
    plots = sh(repo, "dvc", "plots", "diff", "HEAD", "t-lstm-wv-s43", "-o", "plots_out", "--json")
    assert "ROC" in plots and "Confusion-Matrix" in plots
