"""Outputs are complete or absent: atomic writes, and stages killed with SIGKILL at several moments."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stages import paths
from stages.io.atomic import atomic_path, write_json
from tests.project import default_params, subprocess_env, write_params
from tests.synthetic import review_table
from tests.tiny import TINY_MODEL, TINY_TRAIN


def test_outputs_get_the_permissions_of_any_new_file(tmp_path):
    umask = os.umask(0o022)
    try:
        write_json(tmp_path / "metrics.json", {"a": 1})
    finally:
        os.umask(umask)
    assert (tmp_path / "metrics.json").stat().st_mode & 0o777 == 0o644  # readable by reviewers, not 0600


def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "metrics.json"
    write_json(target, {"old": 1})
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text('{"new": ')
        raise RuntimeError("killed halfway")
    assert json.loads(target.read_text()) == {"old": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def check_outputs_load(folder: Path) -> int:
    """Open every stage output that exists; return how many there were."""
    checked = 0
    for split in paths.SPLITS:
        path = folder / paths.split_arrays(split)
        if path.exists():
            with np.load(path, allow_pickle=False) as data:
                assert {"x", "y", "length", "full_length", "row"} <= set(data.files)
                assert len(data["x"]) == len(data["y"])
            checked += 1
    for path in (paths.PREPARE_STATS, paths.ENCODING, paths.TRAIN_METRICS):
        if (folder / path).exists():
            json.loads((folder / path).read_text())
            checked += 1
    if (folder / paths.VOCAB).exists():
        assert (folder / paths.VOCAB).read_text().startswith("<pad>\n<oov>\n")
        checked += 1
    if (folder / paths.MODEL).exists():
        from stages.nn.saving import load

        load(folder / paths.MODEL)
        checked += 1
    if (folder / paths.HISTORY).exists():
        assert (folder / paths.HISTORY).read_text().startswith("epoch\t")
        checked += 1
    return checked


def kill_after(folder: Path, stage: str, seconds: float) -> int | None:
    """Start ``stage``, SIGKILL it after ``seconds`` (unless it ended); return its exit code."""
    env = subprocess_env()
    process = subprocess.Popen(
        [sys.executable, "-m", "stages", "-q", stage],
        cwd=folder,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        return process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGKILL)
        process.wait()
        return None


@pytest.mark.slow
def test_prepare_and_train_killed_at_any_moment_leave_only_complete_outputs(tmp_path):
    params = default_params()
    params["prepare"].update(vocab_size=500, max_len=40)
    params["model"].update(TINY_MODEL)
    params["train"].update(TINY_TRAIN, epochs=4)
    write_params(tmp_path, params)
    (tmp_path / paths.REVIEWS_TABLE).parent.mkdir(parents=True)
    big = pd.concat([review_table(per_label=40)] * 30, ignore_index=True)  # 4,800 reviews
    big.to_parquet(tmp_path / paths.REVIEWS_TABLE, index=False)
    outcomes = []
    for stage, moments in (("prepare", (0.7, 1.2, 1.8, 2.4)), ("train", (9.0,))):
        for seconds in moments:
            code = kill_after(tmp_path, stage, seconds)
            outcomes.append((stage, seconds, code))
            check_outputs_load(tmp_path)
            leftovers = [p.name for p in tmp_path.rglob(".*.tmp-*")]
            # A SIGKILL can strand a hidden temporary file; no stage ever reads one.
            assert all(name.startswith(".") for name in leftovers)
        env = subprocess_env()
        done = subprocess.run(
            [sys.executable, "-m", "stages", stage], cwd=tmp_path, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, f"{stage} did not finish after the kills: {done.stderr[-1500:]}"
        assert check_outputs_load(tmp_path) >= (6 if stage == "prepare" else 9)
    assert any(code is None for _, _, code in outcomes), outcomes
