"""Atomic file writes: outputs appear complete or not at all, never truncated."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str], suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``target``; move it onto ``target`` only on success.

    The temporary file lives in the same folder so the final ``os.replace`` is atomic.
    On any exception (or a kill before the replace) ``target`` is untouched and the
    temporary file is removed (or left with a ``.tmp-`` name that no stage reads).
    ``suffix`` keeps an extension some writers insist on (``.keras``, ``.npz``).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.tmp-", suffix=suffix, dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    os.chmod(tmp, _new_file_mode())  # mkstemp makes 0600; outputs get the mode any new file would
    try:
        yield tmp
        _fsync(tmp)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_folder(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a new temporary folder beside ``target``; it replaces ``target`` (and all it held) only on success."""
    import shutil

    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        yield tmp
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        if target.exists():
            os.replace(target, old)  # a folder cannot be replaced in one step: the old one moves aside first
        os.replace(tmp, target)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _new_file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _fsync(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def write_text(target: str | os.PathLike[str], text: str) -> None:
    """Write UTF-8 text atomically."""
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(target: str | os.PathLike[str], data: Any) -> None:
    """Write JSON atomically, indented with sorted keys so diffs stay readable."""
    write_text(target, json.dumps(data, indent=2, sort_keys=True) + "\n")


def write_arrays(target: str | os.PathLike[str], arrays: dict[str, Any]) -> None:
    """Write named NumPy arrays to one ``.npz`` atomically (loadable with ``allow_pickle=False``)."""
    import numpy as np

    with atomic_path(target, suffix=".npz") as tmp:
        np.savez(tmp, **{name: np.asarray(values) for name, values in arrays.items()})


def write_summary(metrics_path: str | os.PathLike[str], stage: str, figures: dict[str, Any]) -> Path:
    """Write a stage's headline figures to ``summary/<stage>.json`` beside its metrics file; return the path.

    ``dvc.yaml`` declares only these summaries as metrics, so ``dvc exp show`` gets a
    column for each headline figure, while the full metrics files stay committed reports.
    """
    path = Path(metrics_path).parent / "summary" / f"{stage}.json"
    write_json(path, figures)
    return path
