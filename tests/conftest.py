"""Shared fixtures: a working folder, tiny data and language models, the small real-data project
(helpers: project.py, tiny.py)."""

from __future__ import annotations

import os

os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# One TensorFlow thread per process (the workers, and the processes tests start, which inherit this): `make test`
# runs a pytest-xdist worker per core, and tiny models gain nothing from more threads, which would only spin
# against each other (bench/README.md, "The test suite"). Set before TensorFlow starts.
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")

import gc  # noqa: E402
import random  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from filelock import FileLock  # noqa: E402

from stages.cli import GC_THRESHOLD  # noqa: E402
from tests.project import MIRROR, build_pipeline_repo  # noqa: E402
from tests.tiny import TINY_BIDIRECTIONAL, make_prepared, run_tiny_lm, train_tiny  # noqa: E402

gc.set_threshold(GC_THRESHOLD)  # as every `stages` command does: the workers import TensorFlow too

# The longest modules first, so that the pytest-xdist workers finish together (`make test` keeps this
# order with --no-loadscope-reorder); test_pipeline_slow builds the small project the other dvc modules copy.
LONGEST_FIRST = (
    "test_pipeline_slow",
    "test_train",
    "test_experiments_slow",
    "test_distribute",
    "test_remote_slow",
    "test_atomic",
    "test_adversarial",
    "test_model",
    "test_params_forms",
    "test_export",
    "test_lm",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: place for place, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.stem, len(rank)))


@pytest.fixture(autouse=True)
def same_random_state() -> None:
    """Every test starts from the same global random state, whatever ran before it in its worker.

    Keras draws the seed of an initializer given none from Python's ``random``, so a model a test builds
    without a seed would otherwise get weights that depend on the order pytest-xdist ran the tests in, and a
    failure would not replay (one did: a tiny untrained model whose prediction a 1e-3 probe left unchanged at
    float32 resolution).
    """
    if "keras" in sys.modules:  # Python's, numpy's, TensorFlow's and Keras's own generator; never imports Keras
        sys.modules["keras"].utils.set_random_seed(0)
    else:
        random.seed(0)
        np.random.seed(0)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty folder made the current directory (stages use paths relative to it)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("IMDB_RNN_CACHE", str(tmp_path / "cache"))
    return tmp_path


def built_once(tmp_path_factory, worker_id: str, name: str, build: Callable[[Path], object]) -> Path:
    """A folder that ``build`` fills once per test run, shared by every pytest-xdist worker: the first
    worker that needs it builds it, the others wait for it (and would have spent as long building their
    own). Read it, or copy it before changing it."""
    if worker_id == "master":  # one process
        folder = tmp_path_factory.mktemp(name)
        build(folder)
        return folder
    shared = tmp_path_factory.getbasetemp().parent  # this run's folder, common to its workers
    folder, done = shared / name, shared / f"{name}.done"
    with FileLock(shared / f"{name}.lock"):
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)  # a build that failed in another worker
            folder.mkdir()
            build(folder)
            done.touch()
    return folder


@pytest.fixture(scope="session")
def lm_data(tmp_path_factory, worker_id) -> Path:
    """Tiny reviews, unlabeled reviews and prepared arrays for language-model tests.

    Test reviews say things no training review says (``held_out_text``); two unlabeled
    reviews and one training review are copies of test reviews, one unlabeled review is a
    copy of a validation review, as in the real data.
    """
    return built_once(tmp_path_factory, worker_id, "lm-data", _write_lm_data)


def _write_lm_data(folder: Path) -> None:
    import pandas as pd

    from tests.synthetic import held_out_text, review_table

    table = review_table(per_label=20)
    is_test = table["split"] == "test"
    table.loc[is_test, "text"] = [held_out_text(i) for i in range(int(is_test.sum()))]
    train_rows = table.index[~is_test]
    table.loc[train_rows[0], "text"] = table.loc[table.index[is_test][5], "text"]
    prepared = make_prepared(folder, max_len=30, table=table, vocab_size=60)
    val_row = int(np.load(prepared / "val.npz")["row"][0])
    texts = [table["text"].iloc[int(i)] for i in np.load(prepared / "train.npz")["row"][1:31]]
    texts += [table.loc[table.index[is_test][0], "text"], table.loc[table.index[is_test][1], "text"]]
    texts.append(table["text"].iloc[val_row])
    unlabeled = pd.DataFrame({"id": range(len(texts)), "movie": "", "text": texts}).astype({"id": "int32"})
    unlabeled.to_parquet(folder / "unlabeled.parquet", index=False)


@pytest.fixture(scope="session")
def trained_lm(lm_data, tmp_path_factory, worker_id) -> Path:
    """A folder with tiny forward and backward language models trained on ``lm_data`` (and their reports)."""
    return built_once(tmp_path_factory, worker_id, "language-models", lambda out: run_tiny_lm(lm_data, out))


@pytest.fixture(scope="session")
def tiny_classifier(tmp_path_factory, worker_id) -> Path:
    """One tiny project with a trained classifier (``TINY_BIDIRECTIONAL``, an ensemble of two, one epoch):
    ``prepared/`` and ``model.keras``, shared by the predict, console and export tests."""

    def train(folder: Path) -> None:
        train_tiny(folder, make_prepared(folder), TINY_BIDIRECTIONAL, epochs=1, ensemble=2)

    return built_once(tmp_path_factory, worker_id, "classifier", train)


@pytest.fixture(scope="session")
def pipeline_build(tmp_path_factory, worker_id) -> Path:
    """The small real-data project after one `dvc repro` (``build_pipeline_repo``), built once per test run."""
    if not MIRROR.is_file():
        pytest.skip(f"mirror {MIRROR} not present")
    return built_once(tmp_path_factory, worker_id, "pipeline-build", build_pipeline_repo)


@pytest.fixture(scope="module")
def repo(pipeline_build, tmp_path_factory) -> Path:
    """This test module's own copy of ``pipeline_build`` (git, DVC cache, outputs), free to change."""
    return shutil.copytree(pipeline_build, tmp_path_factory.mktemp("repo") / "project", symlinks=True)
