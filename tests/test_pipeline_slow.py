"""Slow: `dvc repro` on the real mirror in a temporary git repository (the ``repo`` fixture, conftest.py):
outputs, status, locks, params that fail early, what a change reruns."""

from __future__ import annotations

import json
import subprocess
import time

import pandas as pd
import pytest
import yaml

from stages import download
from stages.io.tables import write_table
from tests.project import LABELED_MIRROR, run, sh, subprocess_env, write_params

pytestmark = pytest.mark.slow

ENV = subprocess_env()


def test_repro_reads_the_full_dataset_and_writes_every_output(repo, tmp_path):
    table = pd.read_parquet(repo / "data/raw/reviews.parquet")
    assert table.groupby(["split", "label"]).size().tolist() == [12_500] * 4
    assert (table["movie"] != "").all() and not table["text"].str.contains("\x00").any()
    unlabeled = pd.read_parquet(repo / "data/raw/unlabeled.parquet")
    assert unlabeled["id"].tolist() == list(range(50_000)) and (unlabeled["movie"] != "").all()
    if LABELED_MIRROR.is_file():  # its labeled reviews are byte-identical: switching source never reruns prepare
        write_table(download.read_archive(LABELED_MIRROR)[0], tmp_path / "labeled.parquet")
        assert (tmp_path / "labeled.parquet").read_bytes() == (repo / "data/raw/reviews.parquet").read_bytes()
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


def test_a_second_repro_while_one_retrains_fails_fast_and_the_retrained_model_is_the_same(repo, tmp_path):
    model = repo / "data/model/model.keras"
    before = model.read_bytes()
    log = tmp_path / "first.log"
    with open(log, "w") as out:
        first = subprocess.Popen(
            ["dvc", "repro", "--force", "--single-item", "train"],
            cwd=repo,
            env=ENV,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
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
    # the same params retrain the same bytes (no save time inside): nothing half-written, later stages up to date
    assert model.read_bytes() == before
    assert "up to date" in sh(repo, "dvc", "status")


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


def test_exp_run_dry_with_the_data_copied_in_lists_what_a_setting_reruns(repo):
    copies = [
        arg
        for folder in ("raw", "prepared", "lm", "embeddings", "model", "predictions")
        for arg in ("-C", f"data/{folder}")
    ]
    before = (repo / "params.yaml").read_text()
    output = sh(repo, "dvc", "exp", "run", "--dry", *copies, "-S", "model.units=4")
    assert "Running stage 'train'" in output  # what the setting changes (a dry run shows no stage after it)
    for stage in ("download", "prepare", "lm", "embeddings", "baseline"):
        assert f"Running stage '{stage}'" not in output
    assert (repo / "params.yaml").read_text() == before  # a dry run leaves the params alone
