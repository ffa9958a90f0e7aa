"""Tests of stages/train.py on a tiny prepared dataset."""

import json

import numpy as np
import pytest

from stages import train
from stages.errors import PipelineError
from stages.model import load
from tests.tiny import TINY_MODEL, TINY_TRAIN, make_prepared


def train_tiny(folder, prepared, **overrides):
    settings = {**TINY_TRAIN, **overrides}
    return train.run(prepared, folder / "model.keras", folder / "history.tsv", folder / "metrics.json", folder / "summary.txt",
                     model=dict(TINY_MODEL), train=settings)  # fmt: skip


def test_training_writes_model_history_metrics_and_summary(tmp_path):
    prepared = make_prepared(tmp_path)
    metrics = train_tiny(tmp_path, prepared)
    history = (tmp_path / "history.tsv").read_text().splitlines()
    assert history[0].split("\t") == ["epoch", "loss", "accuracy", "val_loss", "val_accuracy"]
    assert len(history) == 1 + metrics["train"]["epochs_run"]
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved == metrics and set(saved["train"]) >= {
        "best_epoch",
        "epochs_run",
        "wall_time_s",
        "samples_per_s",
        "params",
    }
    assert saved["train"]["params"] == load(tmp_path / "model.keras").count_params()
    assert "embedding" in (tmp_path / "summary.txt").read_text()


def test_same_params_give_identical_weights_and_metrics(tmp_path):
    prepared = make_prepared(tmp_path)
    runs = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        metrics = train_tiny(tmp_path / name, prepared, epochs=3)
        runs.append((metrics, load(tmp_path / name / "model.keras").get_weights()))
    (m1, w1), (m2, w2) = runs
    drop = ("wall_time_s", "samples_per_s")
    assert {k: v for k, v in m1["train"].items() if k not in drop} == {
        k: v for k, v in m2["train"].items() if k not in drop
    }
    for a, b in zip(w1, w2):
        np.testing.assert_array_equal(a, b)
    assert (tmp_path / "a" / "history.tsv").read_text() == (tmp_path / "b" / "history.tsv").read_text()


def test_tiny_model_learns_the_synthetic_task(tmp_path):
    prepared = make_prepared(tmp_path, per_label=40)
    metrics = train_tiny(tmp_path, prepared, epochs=8)
    assert metrics["train"]["best_val_accuracy"] >= 0.9


def test_inconsistent_inputs_name_the_stage_to_rerun(tmp_path):
    prepared = make_prepared(tmp_path)
    (prepared / "val.npz").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(PipelineError, match=r"val.npz is truncated.*rerun `dvc repro prepare`"):
        train_tiny(tmp_path, prepared)
    prepared = make_prepared(tmp_path / "other", max_len=20)
    (prepared / "encoding.json").write_text('{"max_len": 30, "padding": "post", "truncating": "pre"}')
    with pytest.raises(PipelineError, match="max_len 30"):
        train_tiny(tmp_path, prepared)
    assert not (tmp_path / "model.keras").exists()


def test_jit_choice():
    assert train.choose_jit("on", "lstm", True, gpu=True) is True
    assert train.choose_jit("off", "gru", False, gpu=False) is False
    assert train.choose_jit("auto", "gru", False, gpu=True) is False  # XLA would block cuDNN
