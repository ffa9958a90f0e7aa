"""Slow: `dvc repro` and `dvc exp run` on the real mirror in a temporary git repository."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.project import MIRROR_SHA256, copy_project, subprocess_env, write_params

pytestmark = pytest.mark.slow

SMALL = {
    "prepare": {"vocab_size": 2000, "max_len": 64, "limit": 2000},
    "model": {"cell": "lstm", "bidirectional": False, "units": 8, "embedding_dim": 16, "pooling": "last"},
    "train": {"epochs": 1, "batch_size": 64},
    # prepare.limit also limits the unlabeled text; a few steps on it, perplexity on a few thousand tokens
    "lm": {"units": 8, "embedding_dim": 16, "window": 16, "batch_size": 32, "epochs": 0.0005, "eval_tokens": 2000},
    "embeddings": {"dim": 16, "epochs": 1},
}


ENV = subprocess_env()


def run(repo: Path, *args: str) -> subprocess.CompletedProcess:
    """Run a command in ``repo`` with the test's Python first on PATH."""
    return subprocess.run(args, cwd=repo, env=ENV, capture_output=True, text=True)


def sh(repo: Path, *args: str) -> str:
    """Run a command in ``repo``; fail with its output unless it succeeds."""
    done = run(repo, *args)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def repo(tmp_path_factory, request) -> Path:
    """A git copy of the project with small params, pointed at the mirror, after one `dvc repro`."""
    from tests.project import MIRROR

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
    for stage in (
        "validate",
        "download",
        "prepare",
        "lm",
        "embeddings",
        "train",
        "baseline",
        "evaluate",
        "blend",
        "plot",
        "export",
    ):
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
    assert lm_metrics["data"]["reviews"]["unlabeled"] <= 2000  # prepare.limit limits the unlabeled text too
    from stages.io.corpus import pretraining_text

    full = pretraining_text(
        repo / "data/raw/reviews.parquet", repo / "data/raw/unlabeled.parquet", repo / "data/prepared"
    )
    assert full.stats["left_out"]["unlabeled"]["copies_of_test"] == 270  # as the data's README says
    assert lm_metrics["lm"]["val_perplexity"]["forward"] > 1


def test_status_clean_and_second_repro_does_nothing(repo):
    assert "up to date" in sh(repo, "dvc", "status")
    output = sh(repo, "dvc", "repro")
    assert "Running stage" not in output


def test_invalid_param_in_exp_run_fails_before_any_output_is_removed(repo):
    done = run(repo, "dvc", "exp", "run", "-S", "model.cell=lsmt")
    try:
        output = done.stdout + done.stderr
        assert done.returncode != 0
        errors = [line for line in output.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1 and "model.cell: 'lsmt' is not allowed, expected one of" in errors[0]
        assert "git checkout params.yaml" in errors[0]
        assert "Running stage 'train'" not in output
        assert sh(repo, "git", "status", "--porcelain").splitlines() == [" M params.yaml"]  # outputs untouched
        status = sh(repo, "dvc", "status")
        assert "deleted" not in status and "model.cell" in status  # only the params changed
        assert (repo / "reports/plots/history.tsv").is_file() and (repo / "data/model/model.keras").is_file()
    finally:
        sh(repo, "git", "checkout", "params.yaml")
    assert "up to date" in sh(repo, "dvc", "status")


def test_a_second_repro_while_one_runs_fails_fast_and_corrupts_nothing(repo, tmp_path):
    model = repo / "data/model/model.keras"
    before = model.read_bytes()
    log = tmp_path / "first.log"
    with open(log, "w") as out:
        first = subprocess.Popen(["dvc", "repro", "--force", "--single-item", "train"], cwd=repo, env=ENV, stdout=out,
                                 stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while "Running stage 'train'" not in log.read_text() and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert first.poll() is None, log.read_text()  # still training: the second run overlaps it
        began = time.monotonic()
        second = run(repo, "dvc", "repro")
        message = second.stdout + second.stderr
        # DVC's lock messages: the repository lock, or (while a stage runs) the lock on the files it reads
        assert second.returncode != 0 and ("Unable to acquire lock" in message or "is busy" in message), message
        assert time.monotonic() - began < 60
    finally:
        assert first.wait(timeout=600) == 0, log.read_text()
    assert model.read_bytes() == before  # the same params retrain the same bytes: nothing half-written
    assert "up to date" in sh(repo, "dvc", "status")


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
    assert (
        "Running stage 'lm'" not in output and "Running stage 'embeddings'" not in output
    )  # model.* never retrains them
    shown = json.loads(sh(repo, "dvc", "exp", "show", "--json"))
    experiments = [exp for rev in shown for exp in (rev.get("experiments") or []) if exp.get("name") == "gru-small"]
    assert len(experiments) == 1
    data = experiments[0]["revs"][0]["data"]
    assert data["params"]["params.yaml"]["data"]["model"]["cell"] == "gru"
    assert 0 <= data["metrics"]["reports/summary/evaluate.json"]["data"]["test"]["accuracy"] <= 1
    diff = json.loads(sh(repo, "dvc", "metrics", "diff", "HEAD", "gru-small", "--json"))
    assert "reports/summary/evaluate.json" in diff or diff == {}
    params_diff = json.loads(sh(repo, "dvc", "params", "diff", "HEAD", "gru-small", "--json"))
    assert params_diff["params.yaml"]["model.cell"] == {"old": "lstm", "new": "gru"}
    plots = sh(repo, "dvc", "plots", "diff", "HEAD", "gru-small", "-o", "plots_out", "--json")
    assert "ROC" in plots and "Confusion-Matrix" in plots
    assert (repo / "plots_out" / "index.html").is_file() or json.loads(plots)


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
    settings = ["-S", "train.epochs=12", "-S", "train.patience=0", "-S", "train.ensemble=1", "-S", "train.seed=3"]
    with open(log, "w") as out:
        running = subprocess.Popen(["dvc", "exp", "run", *settings, "-n", "live"], cwd=repo, env=ENV, stdout=out,
                                   stderr=subprocess.STDOUT, text=True)  # fmt: skip
    seen = set()
    try:
        while running.poll() is None:
            shown = run(repo, "dvc", "exp", "show", "--json")
            if shown.returncode == 0 and (step := running_step(json.loads(shown.stdout))) is not None:
                seen.add(step)
            time.sleep(0.5)
        assert running.returncode == 0, log.read_text()
        assert any(step < 11 for step in seen), (seen, log.read_text())  # seen before the last epoch
        plots = json.loads(sh(repo, "dvc", "plots", "show", "--json"))["data"]
        live = [name for name in plots if name.startswith("reports/live/plots/metrics/")]
        assert "reports/live/plots/metrics/val_loss.tsv" in live and "reports/live/plots/metrics/accuracy.tsv" in live
    finally:  # back to the committed results (the experiment's DVCLive files included)
        sh(repo, "git", "checkout", "--", ".")
        sh(repo, "git", "clean", "-fdq", "reports")
        sh(repo, "dvc", "checkout", "--force")
    assert "up to date" in sh(repo, "dvc", "status")


def test_compare_trains_variants_over_seeds_as_experiments_without_rerunning_shared_stages(repo):
    output = sh(repo, "stages", "compare", "--cell", "gru", "--bidirectional", "false", "--seeds", "2", "--prefix", "t",
                "--yes")  # fmt: skip
    assert output.count("Running stage 'train'") == 2  # one variant x 2 seeds
    for shared in ("download", "prepare", "lm", "embeddings", "baseline"):
        assert f"Running stage '{shared}'" not in output and f"Stage '{shared}' didn't change, skipping" in output
    table = pd.read_csv(repo / "reports/compare/variants.csv").set_index("variant")
    assert list(table.index) == ["gru-wv", "baseline"] and table.loc["gru-wv", "seeds"] == 2
    assert table["ci_low"].notna().all() and table.loc["gru-wv", "best"] and pd.notna(table.loc["baseline", "p_holm"])
    for figure in ("accuracy.png", "val_curves.png"):
        assert (repo / "reports/compare" / figure).read_bytes()[:4] == b"\x89PNG"
    shown = sh(repo, "dvc", "exp", "show", "--no-pager", "--csv")
    assert "t-gru-wv-s42" in shown and "t-gru-wv-s43" in shown


def test_shared_remote_push_pull_and_experiments_between_clones(repo, tmp_path):
    remote = tmp_path / "dvc-remote"
    sh(repo, "dvc", "remote", "add", "-d", "shared", str(remote))
    sh(repo, "git", "add", ".dvc/config")
    sh(repo, "git", "commit", "-qm", "use a shared DVC remote")
    sh(repo, "dvc", "push")
    clone = tmp_path / "clone"
    sh(tmp_path, "git", "clone", "-q", str(repo), str(clone))
    sh(clone, "dvc", "pull")
    assert "up to date" in sh(clone, "dvc", "status")  # nothing to recompute
    predicted = sh(clone, "stages", "predict", "A moving, beautifully acted film.")
    assert predicted.split()[0] in ("pos", "neg")

    sh(repo, "git", "tag", "-a", "imdb-rnn-classifier@v1.0.0", "-m", "register the classifier")  # a GTO version
    downstream = tmp_path / "downstream"  # a user of the model, outside any repository
    downstream.mkdir()
    sh(downstream, "dvc", "artifacts", "get", str(repo), "imdb-rnn-classifier", "--rev", "v1.0.0", "-o", "export")
    for name in ("classifier.keras", "vocab.txt", "encoding.json", "tokenizer.json"):
        assert (downstream / "export" / name).read_bytes() == (repo / "data/export" / name).read_bytes(), name
    same = sh(downstream, "stages", "predict", "--model", "export/classifier.keras", "--prepared", "export",
              "A moving, beautifully acted film.")  # fmt: skip
    assert same.split()[:2] == predicted.split()[:2]  # label and probability: the stock model is the same function

    sh(clone, "dvc", "exp", "run", "-S", "train.seed=5", "-n", "shared-seed")
    sh(clone, "dvc", "exp", "push", "origin", "shared-seed")  # git refs to the repository, outputs to the remote
    other = tmp_path / "other"
    sh(tmp_path, "git", "clone", "-q", str(repo), str(other))
    sh(other, "dvc", "exp", "pull", "origin", "shared-seed")
    sh(other, "dvc", "exp", "apply", "shared-seed")
    sh(other, "dvc", "pull")
    pushed = json.loads((clone / "reports/metrics.json").read_text())
    assert json.loads((other / "reports/metrics.json").read_text()) == pushed
    assert (other / "data/model/model.keras").read_bytes() == (clone / "data/model/model.keras").read_bytes()
    assert "up to date" in sh(other, "dvc", "status")


def test_exp_run_dry_with_the_data_copied_in_lists_what_a_setting_reruns(repo):
    copies = [arg for folder in ("raw", "prepared", "lm", "embeddings", "model", "predictions")
              for arg in ("-C", f"data/{folder}")]  # fmt: skip
    before = (repo / "params.yaml").read_text()
    output = sh(repo, "dvc", "exp", "run", "--dry", *copies, "-S", "model.units=4")
    assert "Running stage 'train'" in output  # what the setting changes (a dry run shows no stage after it)
    for stage in ("download", "prepare", "lm", "embeddings", "baseline"):
        assert f"Running stage '{stage}'" not in output
    assert (repo / "params.yaml").read_text() == before  # a dry run leaves the params alone
