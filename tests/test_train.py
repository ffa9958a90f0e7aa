"""Tests of stages/train.py on a tiny prepared dataset."""

import json
import logging
import shutil
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

from stages import paths, train
from stages.errors import PipelineError
from stages.nn import checkpoint
from stages.nn.saving import load
from tests.project import ROOT, default_params, subprocess_env, write_params
from tests.tiny import TINY_MODEL, TINY_TRAIN, assert_same_run, make_prepared, train_tiny


@pytest.mark.slow
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


@pytest.mark.slow
def test_same_params_give_identical_weights_and_metrics(tmp_path):
    prepared = make_prepared(tmp_path)
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    m1, m2 = (train_tiny(tmp_path / name, prepared, epochs=3) for name in ("a", "b"))
    assert_same_run(m1, m2, tmp_path / "a" / "model.keras", tmp_path / "b" / "model.keras")
    assert (tmp_path / "a" / "history.tsv").read_text() == (tmp_path / "b" / "history.tsv").read_text()


@pytest.mark.slow
def test_tiny_model_learns_the_synthetic_task_tracing_its_training_step_once(tmp_path, monkeypatch):
    traces, original = [], keras.Model.train_step

    def counted(self, data):  # runs once per trace of the step, not per batch
        traces.append(data)
        return original(self, data)

    monkeypatch.setattr(keras.Model, "train_step", counted)
    prepared = make_prepared(tmp_path, per_label=40)
    metrics = train_tiny(tmp_path, prepared, {"dropout": 0.2}, epochs=8)
    assert metrics["train"]["best_val_accuracy"] >= 0.9
    assert len(traces) == 1  # variables created inside a first trace would make TensorFlow trace it again


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
    assert [train.use_xla(setting) for setting in ("on", "off", "auto")] == [True, False, False]


def live_rows(folder) -> dict[str, list[tuple[int, float]]]:
    """DVCLive's per-epoch files in ``folder/live`` as {metric: [(step, value), ...]}."""
    rows = {}
    for path in sorted((folder / "live" / "plots" / "metrics").rglob("*.tsv")):
        header, *lines = [line.split("\t") for line in path.read_text().splitlines()]
        assert header[0] == "step", header
        name = path.relative_to(folder / "live" / "plots" / "metrics").with_suffix("").as_posix()
        rows[name] = [(int(line[0]), float(line[-1])) for line in lines]
    return rows


@pytest.mark.slow
def test_live_metrics_are_logged_every_epoch_as_the_history(tmp_path):
    prepared = make_prepared(tmp_path)
    train_tiny(tmp_path, prepared, epochs=3)
    rows = live_rows(tmp_path)
    assert set(rows) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    history = (tmp_path / "history.tsv").read_text().splitlines()
    header = history[0].split("\t")
    for line in history[1:]:
        values = dict(zip(header, line.split("\t")))
        epoch = int(values["epoch"])
        for key in rows:
            assert rows[key][epoch - 1] == pytest.approx((epoch - 1, float(values[key])), abs=1e-6)
    summary = json.loads((tmp_path / "live" / "metrics.json").read_text())
    assert summary["step"] == 2 and summary["val_loss"] == rows["val_loss"][-1][1]
    assert not (tmp_path / "live" / "dvc.yaml").exists()  # DVCLive never writes a dvc.yaml


@pytest.mark.slow
def test_resumed_run_equals_uninterrupted_run(tmp_path, monkeypatch):
    prepared = make_prepared(tmp_path)
    model = {"dropout": 0.2, "embedding_dropout": 0.1}  # seed generators must resume too

    def run(folder):
        return train_tiny(folder, prepared, model, state_dir=tmp_path / f"state-{folder.name}", epochs=4)

    straight = run(tmp_path / "straight")
    assert not (tmp_path / "state-straight").exists()  # removed after success

    original = checkpoint.Checkpoint.on_epoch_end

    def interrupting(self, epoch, logs=None):
        original(self, epoch, logs)
        if epoch == 1:
            raise KeyboardInterrupt  # as Ctrl-C or SIGTERM would, after epoch 2 was saved

    with monkeypatch.context() as patch:
        patch.setattr(checkpoint.Checkpoint, "on_epoch_end", interrupting)
        with pytest.raises(PipelineError, match=r"interrupted after epoch 2.*rerun `dvc repro`"):
            run(tmp_path / "resumed")
    assert json.loads((tmp_path / "state-resumed" / "state.json").read_text())["epochs_done"] == 2
    assert not (tmp_path / "resumed" / "model.keras").exists()
    assert [step for step, _ in live_rows(tmp_path / "resumed")["val_loss"]] == [0, 1]  # kept for the resumed run
    resumed = run(tmp_path / "resumed")
    assert_same_run(straight, resumed, tmp_path / "straight" / "model.keras", tmp_path / "resumed" / "model.keras")
    assert (tmp_path / "straight" / "history.tsv").read_text() == (tmp_path / "resumed" / "history.tsv").read_text()
    assert live_rows(tmp_path / "resumed") == live_rows(tmp_path / "straight")  # steps continue, nothing wiped


@pytest.mark.slow
def test_state_of_other_params_is_not_resumed(tmp_path):
    prepared = make_prepared(tmp_path)
    state = tmp_path / "state"
    state.mkdir()
    (state / "state.json").write_text(
        json.dumps({"fingerprint": "other", "epochs_done": 1, "variables_file": "epoch-1.npz"})
    )
    (state / "epoch-1.npz").write_bytes(b"junk")
    metrics = train_tiny(tmp_path, prepared)
    assert metrics["train"]["epochs_run"] == TINY_TRAIN["epochs"]


@pytest.mark.slow
def test_sigterm_saves_state_and_rerun_resumes(tmp_path, caplog):
    prepared = make_prepared(tmp_path / "build", per_label=60)
    params = default_params()
    params["model"].update(TINY_MODEL)
    params["train"].update(TINY_TRAIN, epochs=12)
    folder = tmp_path / "interrupted"
    folder.mkdir()
    write_params(folder, params)
    shutil.copytree(prepared, folder / paths.PREPARED)
    env = subprocess_env()
    command = [sys.executable, "-m", "stages", "train"]
    process = subprocess.Popen(
        command, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    state = folder / paths.TRAIN_STATE / "state.json"
    deadline = time.time() + 120
    while time.time() < deadline and not (state.exists() and json.loads(state.read_text())["epochs_done"] >= 2):
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 1, output
    assert "training interrupted after epoch" in output and "to resume" in output
    assert state.exists() and not (folder / paths.MODEL).exists()
    with caplog.at_level(logging.INFO, logger="stages.train"):  # the rerun, here in this process
        resumed = train_tiny(tmp_path / "resumed", prepared, state_dir=folder / paths.TRAIN_STATE, epochs=12)
    assert "resuming after epoch" in caplog.text
    assert not (folder / paths.TRAIN_STATE).exists()
    straight = train_tiny(tmp_path / "straight", prepared, epochs=12)  # the same params, never interrupted
    assert_same_run(resumed, straight, tmp_path / "resumed" / "model.keras", tmp_path / "straight" / "model.keras")
    assert (tmp_path / "resumed" / "history.tsv").read_text() == (tmp_path / "straight" / "history.tsv").read_text()


def test_optimizer_options():
    optimizer = train.make_optimizer("adam", 0.01, clipnorm=1.0, weight_decay=0.001, decay_steps=10)
    assert optimizer.clipnorm == 1.0 and optimizer.weight_decay == 0.001
    assert float(optimizer.learning_rate) == pytest.approx(0.01)  # cosine: the full rate at the first step...
    optimizer.iterations.assign(10)
    assert float(optimizer.learning_rate) == pytest.approx(0.0, abs=1e-9)  # ...and none after decay_steps
    assert float(train.make_optimizer("sgd", 0.1, 0).learning_rate) == pytest.approx(0.1)


XLA_SCRIPT = """
import json, sys
from pathlib import Path
from stages import train
from stages.nn.saving import load
from tests.tiny import train_tiny
folder = Path(sys.argv[1])
prepared = folder / "prepared"
out = folder / sys.argv[2]
metrics = train_tiny(out, prepared, {"dropout": 0.2}, jit_compile="on", epochs=2)
weights = load(out / "model.keras").get_weights()
print(json.dumps({"xla": metrics["train"]["xla"], "checksum": [float(abs(w).sum()) for w in weights]}))
"""


@pytest.mark.slow
def test_xla_runs_repeat_exactly_across_processes(tmp_path):
    make_prepared(tmp_path)  # before the two processes, which then only read it
    env = subprocess_env()
    runs = {}
    for name in ("a", "b"):  # side by side: two processes, two cores
        with open(tmp_path / f"{name}.out", "w") as out, open(tmp_path / f"{name}.err", "w") as err:
            runs[name] = subprocess.Popen(
                [sys.executable, "-c", XLA_SCRIPT, str(tmp_path), name], cwd=ROOT, env=env, stdout=out, stderr=err
            )
    results = []
    for name, process in runs.items():
        assert process.wait(timeout=300) == 0, (tmp_path / f"{name}.err").read_text()[-2000:]
        results.append(json.loads((tmp_path / f"{name}.out").read_text().strip().splitlines()[-1]))
    assert results[0]["xla"] is True
    assert results[0] == results[1]


@pytest.mark.slow
def test_state_missing_a_file_it_names_is_not_resumed(tmp_path):
    prepared = make_prepared(tmp_path)
    state = tmp_path / "state"
    fingerprint_of_other = {
        "fingerprint": "x",
        "epochs_done": 2,
        "variables_file": "epoch-2.npz",
        "best_file": "best-1.npz",
    }
    state.mkdir()
    (state / "state.json").write_text(json.dumps(fingerprint_of_other))
    (state / "epoch-2.npz").write_bytes(b"")
    assert checkpoint.load_state(state, "x") is None  # best-1.npz is gone: start over
    assert not state.exists()
    assert train_tiny(tmp_path, prepared)["train"]["epochs_run"] == TINY_TRAIN["epochs"]


@pytest.mark.slow
def test_ensemble_averages_members_trained_as_single_models_with_successive_seeds(tmp_path):
    prepared = make_prepared(tmp_path)
    singles = []
    for seed in (7, 8):
        (tmp_path / f"seed{seed}").mkdir()
        train_tiny(tmp_path / f"seed{seed}", prepared, seed=seed, epochs=3)
        singles.append(load(tmp_path / f"seed{seed}" / "model.keras"))
    (tmp_path / "ensemble").mkdir()
    metrics = train_tiny(tmp_path / "ensemble", prepared, seed=7, ensemble=2, epochs=3)
    ensemble = load(tmp_path / "ensemble" / "model.keras")  # safe mode
    x = np.load(prepared / "val.npz")["x"]
    expected = (singles[0].predict_on_batch(x) + singles[1].predict_on_batch(x)) / 2
    np.testing.assert_allclose(ensemble.predict_on_batch(x), expected, atol=1e-6)
    assert metrics["train"]["params"] == 2 * singles[0].count_params()
    assert set(metrics["train"]["members"]) == {"1", "2"} and metrics["train"]["epochs_run"] == 6
    history = (tmp_path / "ensemble" / "history.tsv").read_text().splitlines()
    assert len(history) == 1 + 3  # per-epoch mean over the members
    assert "each member:" in (tmp_path / "ensemble" / "summary.txt").read_text()
    assert not (tmp_path / "ensemble" / "state").exists()
    from stages.commands.predict import Predictor

    [prediction] = Predictor(tmp_path / "ensemble" / "model.keras", prepared).predict(["a great film"])
    assert 0.0 <= prediction.probability <= 1.0  # predict (and evaluate) find the members' vocabulary


@pytest.mark.slow
def test_ensemble_interrupted_in_a_later_member_resumes_without_retraining_the_first(tmp_path, monkeypatch):
    """With adversarial training, the default's custom training step (resume with plain Keras steps: above)."""
    prepared = make_prepared(tmp_path)
    settings = {"ensemble": 2, "epochs": 2, "adversarial": "at", "adversarial_epsilon": 0.5}
    (tmp_path / "straight").mkdir()
    straight = train_tiny(tmp_path / "straight", prepared, **settings)
    original = checkpoint.Checkpoint.on_epoch_end
    epochs_seen = []

    def interrupting(self, epoch, logs=None):
        original(self, epoch, logs)
        epochs_seen.append(epoch)
        if len(epochs_seen) == 3:  # member 2, after its first epoch
            raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint.Checkpoint, "on_epoch_end", interrupting)
    with pytest.raises(PipelineError, match=r"interrupted in member 2 of 2 after epoch 1.*rerun"):
        train_tiny(tmp_path / "resumed", prepared, **settings)
    epochs_seen.clear()
    resumed = train_tiny(tmp_path / "resumed", prepared, **settings)
    assert epochs_seen == [1]  # only member 2's last epoch ran again
    rows = live_rows(tmp_path / "resumed")
    keys = ("loss", "accuracy", "val_loss", "val_accuracy")
    assert sorted(rows) == sorted([*keys, *(f"member_{m}/{k}" for m in (1, 2) for k in keys)])  # + the mean, plain
    assert all([step for step, _ in steps] == [0, 1] for steps in rows.values())  # each member its own steps
    history = (tmp_path / "resumed" / "history.tsv").read_text().splitlines()[1:]
    assert rows["val_loss"] == [(int(line.split()[0]) - 1, pytest.approx(float(line.split()[3]))) for line in history]
    assert rows == live_rows(tmp_path / "straight")
    assert_same_run(straight, resumed, tmp_path / "straight" / "model.keras", tmp_path / "resumed" / "model.keras")


@pytest.mark.slow
@pytest.mark.parametrize("chop", [8, 10_000])
def test_training_on_chopped_reviews_learns_and_predicts_whole_reviews(tmp_path, chop):
    prepared = make_prepared(tmp_path, per_label=40)
    metrics = train_tiny(tmp_path, prepared, epochs=8, chop=chop)  # 10,000 > max_len: pieces are whole reviews
    assert metrics["train"]["best_val_accuracy"] >= 0.8
    assert load(tmp_path / "model.keras").input_shape == (None, None)
