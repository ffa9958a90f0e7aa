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
