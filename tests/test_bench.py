"""The benchmark scripts start: their imports follow the package (`make bench` is never run by CI)."""

import subprocess
import sys

import pytest

from tests.project import ROOT, subprocess_env


@pytest.mark.slow
@pytest.mark.parametrize("script", ["bench/benchmark.py", "bench/over_seeds.py"])
def test_benchmark_scripts_start(script):
    done = subprocess.run([sys.executable, script, "--help"], cwd=ROOT, env=subprocess_env(), capture_output=True,
                          text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("usage:")
