"""Benchmarks that print figures (never timed tests): prepare time, training throughput, predict latency.

Run from the project root after `dvc repro download` (or `make repro`):

    .venv/bin/python bench/benchmark.py                 # everything
    .venv/bin/python bench/benchmark.py --only prepare  # one section
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from stages import paths  # noqa: E402
from stages.params import load_sections  # noqa: E402


def bench_prepare(repeats: int) -> None:
    """Time the whole prepare stage on all 50,000 reviews with the project's params."""
    from stages import prepare

    settings = load_sections("prepare", paths.PARAMS)["prepare"] | {"limit": 0}
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(repeats):
            started = time.perf_counter()
            prepare.run(paths.REVIEWS_TABLE, Path(tmp) / "prepared", Path(tmp) / "stats.json", **settings)
            times.append(time.perf_counter() - started)
    print(f"prepare, all 50,000 reviews: best {min(times):.1f} s, median {sorted(times)[len(times) // 2]:.1f} s over {repeats} runs "
          f"(target < 20 s; {os.cpu_count()} CPUs)")  # fmt: skip


SECTIONS = {"prepare": bench_prepare}


def main() -> None:
    """Parse arguments and run the chosen sections."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated sections: {', '.join(SECTIONS)}")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if not paths.REVIEWS_TABLE.is_file():
        sys.exit(f"error: {paths.REVIEWS_TABLE} not found: run `dvc repro download` first")
    for name in args.only.split(","):
        if name not in SECTIONS:
            sys.exit(f"error: unknown section {name!r}, expected one of {', '.join(SECTIONS)}")
        SECTIONS[name](args.repeats)


if __name__ == "__main__":
    main()
