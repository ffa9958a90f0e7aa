"""Resumable training, one format for both trainings: ``state.json`` naming ``.npz`` files of variables.

A state is a dataclass (:class:`TrainingState` for the classifier's epochs, ``LMState`` in
``stages/lm.py`` for the language models' steps) with a ``fingerprint`` of its params and data
and the ``*_file`` names of the variables it needs. :func:`commit` writes it: the variables
first, then ``state.json`` naming them (the commit point), both atomically, then drops the
files it no longer names, so a kill at any moment leaves the last complete state.
:func:`load_state` gives it back only when the fingerprint matches and every named file
exists. The batch order depends only on the seed and the epoch (or step), so a resumed run
equals an uninterrupted one.

Keras's ``BackupAndRestore`` is not used: it keeps the weights, the optimizer and the epoch,
but not the history, the early-stopping bookkeeping or the DVCLive rows that a resumed run
must continue, and the language models train in their own loop, outside ``Model.fit``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import shutil
import signal
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import keras
import numpy as np

from stages.io.atomic import atomic_path, write_json

log = logging.getLogger(__name__)

STATE_FILE = "state.json"
HISTORY_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy")  # recorded per epoch (history, live metrics)


@dataclass
class TrainingState:
    """What a rerun needs to continue: epochs done, history, early-stopping bookkeeping."""

    fingerprint: str
    epochs_done: int = 0
    history: dict[str, list[float]] = field(default_factory=dict)
    best_val_loss: float = math.inf
    best_epoch: int = 0
    wait: int = 0
    wall_time_s: float = 0.0
    variables_file: str = ""
    best_file: str = ""


def fingerprint(*parts: object, files: tuple[Path, ...] = ()) -> str:
    """SHA-256 over JSON-able parts and the bytes of ``files``: a resume is allowed only when it matches."""
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode())
    for path in files:
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()


def load_state(folder: Path, expected_fingerprint: str, kind: type | None = None):
    """The saved state (a ``kind``, by default :class:`TrainingState`) if it matches and every file it names
    exists; a stale or damaged one is removed."""
    kind = kind or TrainingState
    path = folder / STATE_FILE
    if not path.is_file():
        return None
    try:
        state = kind(**json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, TypeError):
        state = None
    if (
        state is None
        or state.fingerprint != expected_fingerprint
        or not all((folder / n).is_file() for n in named(state))
    ):
        log.warning("resumable state in %s belongs to other params or data, or is damaged: starting over", folder)
        clear(folder)
        return None
    return state


def named(state) -> set[str]:
    """The files a state needs: the values of its ``*_file`` fields."""
    return {value for key, value in asdict(state).items() if key.endswith("_file") and value}


def commit(folder: Path, state, superseded: set[str]) -> None:
    """Write ``state.json`` (its variables are already written), then remove the files it no longer names."""
    write_json(folder / STATE_FILE, asdict(state))
    for name in superseded - named(state):
        (folder / name).unlink(missing_ok=True)


def clear(folder: Path) -> None:
    """Remove the resumable state (after a successful run, or when it is stale).

    ``state.json`` goes first: a kill halfway through leaves files that no state names.
    """
    (folder / STATE_FILE).unlink(missing_ok=True)
    shutil.rmtree(folder, ignore_errors=True)


def save_variables(path: Path, groups: dict[str, list]) -> None:
    """Write groups of variables to one ``.npz`` atomically (no pickles)."""
    arrays = {
        f"{group}/{i}": np.asarray(variable.numpy())
        for group, variables in groups.items()
        for i, variable in enumerate(variables)
    }
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, **arrays)


def load_variables(path: Path, groups: dict[str, list]) -> None:
    """Assign what :func:`save_variables` wrote back to the same groups of variables."""
    with np.load(path, allow_pickle=False) as data:
        for group, variables in groups.items():
            for i, variable in enumerate(variables):
                variable.assign(data[f"{group}/{i}"])


def model_groups(model: keras.Model, with_optimizer: bool = True) -> dict[str, list]:
    """The variables that define a training run's state, in a stable order."""
    groups = {"model": list(model.variables)}
    if with_optimizer:
        groups["optimizer"] = list(model.optimizer.variables)
    return groups


def restore(model: keras.Model, folder: Path, state: TrainingState) -> None:
    """Put the model and optimizer back into the state saved after ``state.epochs_done`` epochs."""
    model.optimizer.build(model.trainable_variables)
    load_variables(folder / state.variables_file, model_groups(model))


class Checkpoint(keras.callbacks.Callback):
    """Saves the state after each epoch, stops early on validation loss and restores the best weights at the end."""

    def __init__(
        self,
        folder: Path,
        state: TrainingState,
        patience: int,
        started_wall: float,
        log_epoch: Callable[[int, dict], None] | None = None,
    ):
        super().__init__()
        self.folder, self.state, self.patience = folder, state, patience
        self.wall_before = started_wall
        self.log_epoch = log_epoch  # e.g. live metrics, called before the state is saved

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        if self.log_epoch:
            self.log_epoch(epoch, logs)
        state = self.state
        for key in HISTORY_KEYS:
            state.history.setdefault(key, []).append(float(logs[key]))
        state.epochs_done = epoch + 1
        previous = named(state)
        if logs["val_loss"] < state.best_val_loss:
            state.best_val_loss, state.best_epoch, state.wait = float(logs["val_loss"]), epoch + 1, 0
            state.best_file = f"best-{epoch + 1}.npz"
            save_variables(self.folder / state.best_file, model_groups(self.model, with_optimizer=False))
        else:
            state.wait += 1
        state.variables_file = f"epoch-{epoch + 1}.npz"
        save_variables(self.folder / state.variables_file, model_groups(self.model))
        state.wall_time_s = self.wall_before + self.elapsed()
        commit(self.folder, state, previous)
        if state.wait >= self.patience:
            self.model.stop_training = True

    def on_train_begin(self, logs: dict | None = None) -> None:
        import time

        self.folder.mkdir(parents=True, exist_ok=True)
        self._began = time.perf_counter()

    def elapsed(self) -> float:
        """Seconds since this process began training."""
        import time

        return time.perf_counter() - self._began

    def restore_best(self) -> None:
        """Load the weights of the epoch with the lowest validation loss."""
        if self.state.best_file:
            load_variables(self.folder / self.state.best_file, model_groups(self.model, with_optimizer=False))


class StopOnSignal(keras.callbacks.Callback):
    """Ctrl-C or SIGTERM during training stops it with KeyboardInterrupt at the next batch boundary.

    Raising from the signal handler itself lets the exception surface anywhere in Keras or
    tf.data internals, and a SIGTERM that landed as an epoch began was seen to crash the
    process (SIGSEGV) instead of stopping it. So the handler only records the signal and
    the callback raises between batches, where nothing is half-done. A second signal
    raises at once, for a run that does not reach a batch boundary.
    """

    def __init__(self):
        super().__init__()
        self.received = ""

    @contextlib.contextmanager
    def installed(self) -> Iterator[StopOnSignal]:
        """Handle SIGINT and SIGTERM inside the block; a signal that came too late for a batch still stops it."""

        def record(signum, frame):
            if self.received:
                raise KeyboardInterrupt
            self.received = signal.Signals(signum).name
            log.warning(
                "%s received: stopping at the next batch boundary (send it again to stop at once)", self.received
            )

        previous = {number: signal.signal(number, record) for number in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
            self.stop_if_signalled()
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)

    def stop_if_signalled(self, *args, **kwargs) -> None:
        """Raise KeyboardInterrupt if a signal was received."""
        if self.received:
            raise KeyboardInterrupt

    # batch *begin* hooks: overriding the *end* ones would turn off Keras' asynchronous callbacks
    on_epoch_begin = on_train_batch_begin = on_test_batch_begin = stop_if_signalled
