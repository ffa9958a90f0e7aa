"""Distributed training: mirrored on a CPU split into two devices, multi-worker as two processes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stages.errors import PipelineError
from stages.nn import distribute
from tests.project import ROOT, default_params, subprocess_env, write_params
from tests.tiny import TINY_MODEL, TINY_TRAIN, make_prepared

SCRIPT = """
import json, sys
from pathlib import Path
from tests.tiny import make_prepared, train_tiny
folder = Path(sys.argv[1])
prepared = make_prepared(folder, per_label=40)
results = {}
for strategy in ("none", "mirrored"):
    results[strategy] = train_tiny(folder / strategy, prepared, epochs=8, distribute=strategy)["train"]
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def one_process(tmp_path_factory) -> dict:
    """The tiny classifier trained in one process on a CPU split into two devices, without and with mirroring."""
    env = subprocess_env(**{distribute.CPU_DEVICES_ENV: "2"})
    folder = tmp_path_factory.mktemp("one-process")
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(folder)], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_mirrored_on_two_cpu_devices_trains_as_well(one_process):
    assert one_process["none"]["replicas"] == 1
    assert one_process["mirrored"]["replicas"] == 2
    assert one_process["mirrored"]["best_val_accuracy"] >= 0.9
    assert abs(one_process["mirrored"]["best_val_accuracy"] - one_process["none"]["best_val_accuracy"]) <= 0.05


def test_multi_worker_without_tf_config_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(PipelineError, match="TF_CONFIG"):
        distribute.make_strategy("multi_worker")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_workers(project: Path, count: int = 2) -> list[subprocess.Popen]:
    """``stages train`` as ``count`` workers of one loopback cluster, each on its own share of the CPU."""
    cluster = {"worker": [f"127.0.0.1:{free_port()}" for _ in range(count)]}
    cpus = sorted(os.sched_getaffinity(0))
    workers = []
    for index in range(count):
        task = {"cluster": cluster, "task": {"type": "worker", "index": index}}
        env = subprocess_env(TF_CONFIG=json.dumps(task))
        share = {cpus[index % len(cpus)]}
        workers.append(
            subprocess.Popen(
                [sys.executable, "-m", "stages", "train"],
                cwd=project,
                env=env,
                text=True,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                preexec_fn=lambda share=share: os.sched_setaffinity(0, share),
            )
        )
    return workers


@pytest.fixture
def cluster_project(tmp_path) -> Path:
    """A project folder with tiny prepared data and params for multi-worker training."""
    make_prepared(tmp_path / "data", per_label=40)
    params = default_params()
    params["model"].update(TINY_MODEL)
    params["train"].update(TINY_TRAIN, epochs=8, distribute="multi_worker")
    write_params(tmp_path, params)
    return tmp_path


@pytest.mark.slow
def test_two_worker_processes_train_as_one_and_only_the_chief_writes(cluster_project, one_process):
    workers = start_workers(cluster_project)
    results = [worker.communicate(timeout=300) for worker in workers]
    for worker, (_, err) in zip(workers, results):
        assert worker.returncode == 0, err[-3000:]
    metrics = json.loads((cluster_project / "reports/train_metrics.json").read_text())["train"]
    assert metrics["replicas"] == 2
    written = sorted(str(p.relative_to(cluster_project)) for p in cluster_project.rglob("*") if p.is_file())
    assert written == sorted(
        ["params.yaml", "data/reviews.parquet", "data/prepare_stats.json"]
        + [f"data/prepared/{name}" for name in ("train.npz", "val.npz", "test.npz", "vocab.txt", "encoding.json")]
        + [
            "data/model/model.keras",
            "reports/plots/history.tsv",
            "reports/train_metrics.json",
            "reports/summary/train.json",
            "reports/model_summary.txt",
            "reports/live/metrics.json",
        ]
        + [f"reports/live/plots/metrics/{key}.tsv" for key in ("loss", "accuracy", "val_loss", "val_accuracy")]
    )  # the chief's outputs, no second worker's files or state left behind
    assert metrics["best_val_accuracy"] >= 0.9
    assert abs(metrics["best_val_accuracy"] - one_process["none"]["best_val_accuracy"]) <= 0.05


@pytest.mark.slow
def test_a_killed_worker_makes_the_other_fail_with_a_clear_message(cluster_project):
    params = default_params()
    params["model"].update(TINY_MODEL)
    params["train"].update(TINY_TRAIN, epochs=1000, distribute="multi_worker")
    write_params(cluster_project, params)
    chief, other = start_workers(cluster_project)
    state = cluster_project / "data/train_state/state.json"
    deadline = time.monotonic() + 240
    while not state.exists() and chief.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert state.exists(), chief.stderr.read()[-3000:] if chief.poll() is not None else "no epoch finished in 240 s"
    other.send_signal(signal.SIGKILL)
    other.wait()
    _, err = chief.communicate(timeout=120)  # bounded: a refused connection fails the next all-reduce at once
    assert chief.returncode == 1
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: multi-worker training lost another worker") and "Restart every worker" in last
    assert not (cluster_project / "data/model/model.keras").exists()
    assert json.loads(state.read_text())["epochs_done"] >= 1  # a restart resumes from here
