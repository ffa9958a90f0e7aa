"""The benchmark scripts start: their imports follow the package (`make bench` is never run by CI)."""

import runpy
import sys

import pytest

from tests.project import ROOT


@pytest.mark.parametrize("script", ["bench/benchmark.py", "bench/over_seeds.py"])
def test_benchmark_scripts_start(script, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", [script, "--help"])
    with pytest.raises(SystemExit) as exited:  # argparse's --help: the usage, then exit 0
        runpy.run_path(str(ROOT / script), run_name="__main__")
    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith("usage:")
