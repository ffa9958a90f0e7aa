"""Slow: `dvc repro` and `dvc exp run` on the real mirror in a temporary git repository."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import MIRROR_SHA256, copy_project, write_params

pytestmark = pytest.mark.slow

SMALL = {
    "prepare": {"vocab_size": 2000, "max_len": 64, "limit": 2000},
    "model": {"cell": "lstm", "bidirectional": False, "units": 8, "embedding_dim": 16, "pooling": "last"},
    "train": {"epochs": 1, "batch_size": 64},
    # the unlabeled text is never limited: a few steps on it, perplexity on a few thousand tokens
    "lm": {"units": 8, "embedding_dim": 16, "window": 16, "batch_size": 32, "epochs": 0.0005, "eval_tokens": 2000},
}


def sh(repo: Path, *args: str) -> str:
    """Run a command in ``repo`` with the test's Python first on PATH; fail with its output."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", DVC_NO_ANALYTICS="1")
    done = subprocess.run(args, cwd=repo, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def repo(tmp_path_factory, request) -> Path:
    """A git copy of the project with small params, pointed at the mirror, after one `dvc repro`."""
    from tests.conftest import MIRROR

    if not MIRROR.is_file():
        pytest.skip(f"mirror {MIRROR} not present")
    repo = copy_project(tmp_path_factory.mktemp("repo"))
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["download"].update(mirror=str(MIRROR), mirror_sha256=MIRROR_SHA256)
    for section, values in SMALL.items():
        params[section].update(values)
    write_params(repo, params)
    for stale in ("dvc.lock", "reports"):
        subprocess.run(["rm", "-rf", str(repo / stale)], check=True)
    sh(repo, "git", "init", "-q", "-b", "main")
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "commit", "-qm", "base")
    output = sh(repo, "dvc", "repro")
    for stage in ("download", "prepare", "lm", "train", "evaluate", "plot"):
        assert f"Running stage '{stage}'" in output
    assert f"source: local file {MIRROR}" in output
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "commit", "-qm", "baseline results")
    return repo


def test_repro_reads_the_full_dataset_and_writes_every_output(repo):
    table = pd.read_parquet(repo / "data/raw/reviews.parquet")
    assert table.groupby("split").size().to_dict() == {"test": 25_000, "train": 25_000}
    assert table.groupby("split")["label"].mean().to_dict() == {"test": 0.5, "train": 0.5}
    stats = json.loads((repo / "reports/prepare_stats.json").read_text())
    assert {s: v["reviews"] for s, v in stats["splits"].items()} == {"train": 1600, "val": 400, "test": 2000}
    metrics = json.loads((repo / "reports/metrics.json").read_text())
    assert 0 <= metrics["test"]["accuracy"] <= 1
    assert (repo / "data/model/model.keras").is_file()
    assert len(list((repo / "reports/figures").glob("*.png"))) == 7
    lm_metrics = json.loads((repo / "reports/lm_metrics.json").read_text())
    assert lm_metrics["data"]["left_out"]["unlabeled"]["copies_of_test"] == 270  # as the data's README says
    assert lm_metrics["lm"]["val_perplexity"]["forward"] > 1


def test_status_clean_and_second_repro_does_nothing(repo):
    assert "up to date" in sh(repo, "dvc", "status")
    output = sh(repo, "dvc", "repro")
    assert "Running stage" not in output


def test_retraining_with_same_params_leaves_later_stages_up_to_date(repo):
    model = repo / "data/model/model.keras"
    before = model.read_bytes()
    assert "Running stage 'train'" in sh(repo, "dvc", "repro", "--force", "--single-item", "train")
    assert model.read_bytes() == before  # no save time inside, so the same hash
    assert "up to date" in sh(repo, "dvc", "status")
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "commit", "-qm", "retrained", "--allow-empty")


def test_prepare_param_change_reruns_prepare_but_not_download(repo):
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["prepare"]["max_len"] = 48
    write_params(repo, params)
    try:
        dry = sh(repo, "dvc", "repro", "--dry")
        # --dry cannot know that prepare's outputs will change, so it stops listing there.
        assert "Running stage 'prepare'" in dry
        assert "Running stage 'download'" not in dry and "Stage 'download' didn't change" in dry
    finally:
        sh(repo, "git", "checkout", "params.yaml")


def test_experiment_reruns_only_model_stages_and_compares(repo):
    output = sh(repo, "dvc", "exp", "run", "-S", "model.cell=gru", "-n", "gru-small")
    assert (
        "Running stage 'train'" in output and "Running stage 'evaluate'" in output and "Running stage 'plot'" in output
    )
    assert "Running stage 'download'" not in output and "Running stage 'prepare'" not in output
    assert "Running stage 'lm'" not in output  # model.* never retrains the language models
    shown = json.loads(sh(repo, "dvc", "exp", "show", "--json"))
    experiments = [exp for rev in shown for exp in (rev.get("experiments") or []) if exp.get("name") == "gru-small"]
    assert len(experiments) == 1
    data = experiments[0]["revs"][0]["data"]
    assert data["params"]["params.yaml"]["data"]["model"]["cell"] == "gru"
    assert 0 <= data["metrics"]["reports/metrics.json"]["data"]["test"]["accuracy"] <= 1
    diff = json.loads(sh(repo, "dvc", "metrics", "diff", "HEAD", "gru-small", "--json"))
    assert "reports/metrics.json" in diff or diff == {}
    params_diff = json.loads(sh(repo, "dvc", "params", "diff", "HEAD", "gru-small", "--json"))
    assert params_diff["params.yaml"]["model.cell"] == {"old": "lstm", "new": "gru"}
    plots = sh(repo, "dvc", "plots", "diff", "HEAD", "gru-small", "-o", "plots_out", "--json")
    assert "ROC" in plots and "Confusion-Matrix" in plots
    assert (repo / "plots_out" / "index.html").is_file() or json.loads(plots)


def test_compare_trains_variants_as_experiments(repo):
    output = sh(repo, "stages", "compare", "--cells", "simple_rnn,gru", "--bidirectional", "false", "--prefix", "t")
    assert "Running stage 'download'" not in output and "Running stage 'prepare'" not in output
    table = (repo / "reports/compare/variants.md").read_text()
    assert "| t-simplernn |" in table and "| t-gru |" in table
    assert (repo / "reports/compare/val_accuracy.png").read_bytes()[:4] == b"\x89PNG"
