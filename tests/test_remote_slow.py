"""Slow: a shared DVC remote, clones, a registered artifact and experiments pushed between clones."""

from __future__ import annotations

import json

import pytest

from tests.project import sh

pytestmark = pytest.mark.slow


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
    assert (clone / "data/model/model.keras").read_bytes() == (repo / "data/model/model.keras").read_bytes()

    sh(repo, "git", "tag", "-a", "imdb-rnn-classifier@v1.0.0", "-m", "register the classifier")  # a GTO version
    downstream = tmp_path / "downstream"  # a user of the model, outside any repository
    downstream.mkdir()
    sh(downstream, "dvc", "artifacts", "get", str(repo), "imdb-rnn-classifier", "--rev", "v1.0.0", "-o", "export")
    for name in ("classifier.keras", "vocab.txt", "encoding.json", "tokenizer.json"):
        # what the export stage wrote (test_export.py: it predicts as `stages predict` does)
        assert (downstream / "export" / name).read_bytes() == (repo / "data/export" / name).read_bytes(), name

    sh(clone, "dvc", "exp", "run", "-S", "train.seed=5", "-n", "shared-seed", "train")  # a new model, nothing after it
    sh(clone, "dvc", "exp", "push", "origin", "shared-seed")  # git refs to the repository, outputs to the remote
    other = tmp_path / "other"
    sh(tmp_path, "git", "clone", "-q", str(repo), str(other))
    sh(other, "dvc", "exp", "pull", "origin", "shared-seed")
    sh(other, "dvc", "exp", "apply", "shared-seed")
    sh(other, "dvc", "pull")
    pushed = json.loads((clone / "reports/train_metrics.json").read_text())
    assert json.loads((other / "reports/train_metrics.json").read_text()) == pushed
    assert (other / "data/model/model.keras").read_bytes() == (clone / "data/model/model.keras").read_bytes()
    assert "up to date" in sh(other, "dvc", "status", "train")  # what the experiment ran is all there
