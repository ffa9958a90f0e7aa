"""The project as tests see it: its root, the data mirrors, its params file, a child process's environment.

Plain helpers (fixtures live in ``conftest.py``); tiny params and prepared data are in
``tiny.py``, synthetic review text and archives in ``synthetic.py``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
# The full text of the official archive (labeled and unlabeled reviews), the project's default mirror...
MIRROR = (ROOT / ".." / "shared" / "data" / "aclImdb_v1-text.tar.gz").resolve()
MIRROR_SHA256 = "18860a094ab22ece975d0cf0c29762fdb4a70e02ac83e7528b569f606a2f699f"
# ...and its labeled part alone, whose labeled reviews are byte-identical.
LABELED_MIRROR = (ROOT / ".." / "shared" / "data" / "aclImdb_v1-labeled.tar.gz").resolve()


def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment for running the project in a child process: this Python's tools first, the checkout importable."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return dict(os.environ, PATH=path, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3", DVC_NO_ANALYTICS="1") | extra


def default_params() -> dict:
    """The project's params.yaml as a dict."""
    return yaml.safe_load((ROOT / "params.yaml").read_text())


def write_params(folder: Path, params: dict) -> Path:
    """Write a params file into ``folder``."""
    path = folder / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


def copy_project(target: Path) -> Path:
    """Copy the tracked project files (no data, no venv) into ``target``."""
    ignore = shutil.ignore_patterns(
        ".venv",
        "data",
        ".git",
        "__pycache__",
        "*.egg-info",
        ".pytest_cache",
        ".ruff_cache",
        "tmp",
        "cache",
        "config.local",  # this machine's DVC settings (a shared cache, credentials) stay out of the copies
    )
    shutil.copytree(ROOT, target, ignore=ignore, dirs_exist_ok=True)
    return target


# Params of the small real-data project the slow pipeline tests run DVC on (see ``pipeline_repo``).
SMALL = {
    "prepare": {"vocab_size": 2000, "max_len": 64, "limit": 2000},
    "model": {"cell": "lstm", "bidirectional": False, "units": 8, "embedding_dim": 16, "pooling": "last"},
    "train": {"epochs": 1, "batch_size": 64, "ensemble": 1},
    # prepare.limit also limits the unlabeled text; a few steps on it, perplexity on a few thousand tokens
    "lm": {"units": 8, "embedding_dim": 16, "window": 16, "batch_size": 32, "epochs": 0.0005, "eval_tokens": 2000},
    "embeddings": {"dim": 16, "epochs": 1},
    "baseline": {"ngrams": 1},
}


def run(folder: Path, *args: str) -> subprocess.CompletedProcess:
    """Run a command in ``folder`` with the test's Python first on PATH."""
    return subprocess.run(args, cwd=folder, env=subprocess_env(), capture_output=True, text=True)


def sh(folder: Path, *args: str) -> str:
    """Run a command in ``folder``; fail with its output unless it succeeds."""
    done = run(folder, *args)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def build_pipeline_repo(repo: Path) -> Path:
    """A git copy of the project with ``SMALL`` params, pointed at the mirror, after one `dvc repro` (committed)."""
    copy_project(repo)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["download"].update(mirror=str(MIRROR), mirror_sha256=MIRROR_SHA256)
    for section, values in SMALL.items():
        params[section].update(values)
    write_params(repo, params)
    for stale in ("dvc.lock", "reports"):
        shutil.rmtree(repo / stale, ignore_errors=True)
        (repo / stale).unlink(missing_ok=True)
    sh(repo, "git", "init", "-q", "-b", "main")
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "commit", "-qm", "base")
    output = sh(repo, "dvc", "repro")
    stages = (
        "validate",
        "download",
        "prepare",
        "lm",
        "embeddings",
        "train",
        "baseline",
        "evaluate",
        "blend",
        "plot",
        "export",
    )
    missing = [stage for stage in stages if f"Running stage '{stage}'" not in output]
    assert not missing and f"source: local file {MIRROR}" in output, (missing, output)
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "commit", "-qm", "baseline results")
    return repo
