"""A quiet console: TensorFlow's native start-up lines never reach the user unless asked for."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from stages.io.console import SHOW_ENV, is_native_log
from tests.project import ROOT

NATIVE = [
    b"I0000 00:00:1795451276.010529    1087 port.cc:153] oneDNN custom operations are on. You may see slightly",
    b"E0000 00:00:1795451277.977821    1087 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error",
    b"W0000 00:00:1795451277.181746    1087 cudart_stub.cc:31] Could not find cuda drivers on your machine",
    b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
]
OURS = [
    b"INFO stages.train: training gru (2,345 params) on 30 reviews",
    b"error: params.yaml: model.cell: 'lsmt' is not allowed, expected one of simple_rnn, lstm, gru",
    b"language model:  10%|#         | 3/30 [00:01<00:09, 2.9 steps/s]",
    b"Traceback (most recent call last):",
    b"E1 is not a log line]",
    b"F0000 00:00:1795451277.977821    1087 check.cc:1] a fatal native error stays visible",
]


@pytest.mark.parametrize("line", NATIVE)
def test_tensorflow_native_lines_are_recognised(line):
    assert is_native_log(line)


@pytest.mark.parametrize("line", OURS)
def test_project_python_and_fatal_lines_are_kept(line):
    assert not is_native_log(line)


def predict(folder, show: str | None) -> subprocess.CompletedProcess:
    """``stages predict`` in a fresh process on the session's tiny classifier (``folder``)."""
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", SHOW_ENV)}
    env["PYTHONPATH"] = str(ROOT)
    if show:
        env[SHOW_ENV] = show
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "stages",
            "predict",
            "a great film",
            "--model",
            str(folder / "model.keras"),
            "--prepared",
            str(folder / "prepared"),
        ],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
    )


@pytest.mark.slow
def test_predict_prints_no_tensorflow_start_up_lines(tiny_classifier):
    done = predict(tiny_classifier, show=None)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[0] in ("pos", "neg")
    native = [line for line in done.stderr.splitlines() if is_native_log(line.encode())]
    assert native == [] and "cuInit" not in done.stderr and "absl" not in done.stderr, done.stderr


@pytest.mark.slow
def test_the_switch_brings_tensorflow_lines_back(tiny_classifier):
    done = predict(tiny_classifier, show="1")
    assert done.returncode == 0, done.stderr
    assert any(is_native_log(line.encode()) for line in done.stderr.splitlines()), done.stderr
