"""Shared fixtures: a project-like working folder with params and tiny data."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
MIRROR = (ROOT / ".." / "shared" / "data" / "aclImdb_v1-labeled.tar.gz").resolve()
MIRROR_SHA256 = "3c27c84c5b647935a2b44ee9c5b3fc302d26b6d268caf4c6a360aa7cb1f5fce7"

os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def default_params() -> dict:
    """The project's params.yaml as a dict."""
    return yaml.safe_load((ROOT / "params.yaml").read_text())


def write_params(folder: Path, params: dict) -> Path:
    """Write a params file into ``folder``."""
    path = folder / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty folder made the current directory (stages use paths relative to it)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("IMDB_RNN_CACHE", str(tmp_path / "cache"))
    return tmp_path


@pytest.fixture
def mirror() -> Path:
    """The labeled aclImdb mirror in ../shared/data (skip when it is absent)."""
    if not MIRROR.is_file():
        pytest.skip(f"mirror {MIRROR} not present")
    return MIRROR


def copy_project(target: Path) -> Path:
    """Copy the tracked project files (no data, no venv) into ``target``."""
    ignore = shutil.ignore_patterns(
        ".venv", "data", ".git", "__pycache__", "*.egg-info", ".pytest_cache", ".ruff_cache", "tmp", "cache"
    )
    shutil.copytree(ROOT, target, ignore=ignore, dirs_exist_ok=True)
    return target
