"""The code reads files safely: no pickle, eval or exec; YAML, NumPy and Keras loads in their safe modes."""

import re

from tests.project import ROOT

SOURCES = sorted((ROOT / "stages").glob("*.py")) + [ROOT / "bench" / "benchmark.py"]


def test_no_unsafe_calls_in_the_code():
    forbidden = re.compile(
        r"\bpickle\b|\beval\(|\bexec\(|yaml\.load\(|allow_pickle=True|safe_mode=False|yaml\.unsafe_load"
    )
    offenders = [
        f"{path.name}:{n}"
        for path in SOURCES
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if forbidden.search(line)
    ]
    assert offenders == []


def test_every_numpy_and_keras_load_is_safe():
    for path in SOURCES:
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if "np.load(" in line:
                assert "allow_pickle=False" in line, f"{path.name}:{n}"
            if "load_model(" in line:
                assert "safe_mode=True" in line, f"{path.name}:{n}"
