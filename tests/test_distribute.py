"""Mirrored training on a CPU split into two logical devices gives a model of the same quality."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from stages import train
from stages.errors import PipelineError
from tests.conftest import ROOT

SCRIPT = """
import json, sys
from pathlib import Path
from stages import train
from tests.tiny import TINY_MODEL, TINY_TRAIN, make_prepared
folder = Path(sys.argv[1])
prepared = make_prepared(folder, per_label=40)
results = {}
for strategy in ("none", "mirrored"):
    out = folder / strategy
    out.mkdir()
    metrics = train.run(prepared, out / "m.keras", out / "h.tsv", out / "t.json", out / "s.txt", model=dict(TINY_MODEL),
                        train=dict(TINY_TRAIN, epochs=8, distribute=strategy), state_dir=out / "state")
    results[strategy] = metrics["train"]
print(json.dumps(results))
"""


def test_mirrored_on_two_cpu_devices_trains_as_well(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3", **{train.CPU_DEVICES_ENV: "2"})
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    assert results["none"]["replicas"] == 1
    assert results["mirrored"]["replicas"] == 2
    assert results["mirrored"]["best_val_accuracy"] >= 0.9
    assert abs(results["mirrored"]["best_val_accuracy"] - results["none"]["best_val_accuracy"]) <= 0.05


def test_multi_worker_without_tf_config_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(PipelineError, match="TF_CONFIG"):
        train.make_strategy("multi_worker")
