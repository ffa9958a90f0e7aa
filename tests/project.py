"""The project as tests see it: its root, the data mirrors, its params file, a child process's environment.

Plain helpers (fixtures live in ``conftest.py``); tiny params and prepared data are in
``tiny.py``, synthetic review text and archives in ``synthetic.py``.
"""

from __future__ import annotations

import os
import shutil
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
        ".venv", "data", ".git", "__pycache__", "*.egg-info", ".pytest_cache", ".ruff_cache", "tmp", "cache"
    )
    shutil.copytree(ROOT, target, ignore=ignore, dirs_exist_ok=True)
    return target
