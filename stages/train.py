"""Stage ``train``: fit one recurrent cell variant on the prepared arrays, validating on val.

Writes the model (``.keras``), the per-epoch history (plot data), training metrics
(best epoch, epochs run, wall time, samples per second, parameter count) and a
per-layer model summary. The stage reads as four steps: load the data, fit each member
(one unless ``train.ensemble`` asks for more), combine the members, write the outputs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import sys
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import NamedTuple

import numpy as np

from stages import paths
from stages.errors import PipelineError
from stages.io.arrays import Encoding, Split, load_split
from stages.io.atomic import atomic_path, write_json, write_summary, write_text
from stages.io.tables import tsv_text
from stages.nn import checkpoint, distribute
from stages.nn.determinism import seed_everything
from stages.params import Model, Train
from stages.text import read_vocabulary

log = logging.getLogger(__name__)

HISTORY_COLUMNS = ("epoch", *checkpoint.HISTORY_KEYS)


@dataclass(frozen=True)
class TrainPaths(paths.StagePaths):
    """What the stage reads (the prepared splits, pretrained weights, unlabeled reviews) and writes."""

    prepared: Path = paths.PREPARED
    lm_dir: Path = paths.LM  # model.init: lm, lm_embedding
    vectors: Path = paths.WORD_VECTORS  # model.init: word_vectors
    unlabeled: Path = paths.UNLABELED_ARRAYS  # what train.adversarial: vat reads
    model: Path = paths.MODEL
    history: Path = paths.HISTORY
    metrics: Path = paths.TRAIN_METRICS
    summary: Path = paths.MODEL_SUMMARY
    live: Path = paths.LIVE  # DVCLive's folder, updated after every epoch
    state: Path = paths.TRAIN_STATE  # resumable state, outside DVC's outputs

    OUTPUTS = ("model", "history", "metrics", "summary", "live")

    def pretrained(self, init: str) -> tuple[Path, ...]:
        """The files ``init`` starts from (a resumed run must see the same bytes)."""
        if init == "word_vectors":
            return (self.vectors,)
        if init in ("lm_embedding", "lm"):
            return tuple(paths.language_model(direction, self.lm_dir) for direction in ("forward", "backward"))
        return ()


class TrainingData(NamedTuple):
    """The prepared train and val arrays with what the model needs to know about them."""

    train: Split
    val: Split
    encoding: Encoding
    vocab_size: int
    arrays: tuple[Path, ...]  # the files they came from (a resumed run must see the same bytes)


def use_xla(setting: str) -> bool:
    """``train.jit_compile``: ``auto`` is off (measured no faster on this CPU, ``bench/README.md``; on a GPU it would
    keep LSTM and GRU off their cuDNN kernels)."""
    return setting == "on"


def make_optimizer(name: str, learning_rate: float, clipnorm: float, weight_decay: float = 0.0, decay_steps: int = 0):
    """Build the Keras optimizer named in ``train.optimizer``; ``decay_steps`` > 0 adds cosine decay."""
    import keras

    classes = {"adam": keras.optimizers.Adam, "rmsprop": keras.optimizers.RMSprop, "sgd": keras.optimizers.SGD}
    rate = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps) if decay_steps else learning_rate
    return classes[name](learning_rate=rate, clipnorm=clipnorm or None, weight_decay=weight_decay or None)


def history_tsv(history: dict[str, list[float]]) -> str:
    """Per-epoch history as TSV with a header (DVC plot data)."""
    rows = [
        [epoch + 1, *(f"{history[key][epoch]:.6f}" for key in HISTORY_COLUMNS[1:])]
        for epoch in range(len(history["loss"]))
    ]
    return tsv_text(HISTORY_COLUMNS, rows)


def run(model: Model, train: Train, files: TrainPaths = TrainPaths()) -> dict:
    """The whole stage: load data, fit each member (resuming an interrupted run), combine, write; returns the metrics.

    With ``train.ensemble`` N > 1 it trains N members one after another, member i with
    seed ``seed + i`` (so member 0 is the single model of the same params), each resumable
    in its own folder, and saves one model that averages their probabilities.
    """
    from stages.io.live import log_history, open_live

    data = load_data(files.prepared)
    strategy = distribute.make_strategy(train.distribute)
    outputs = tuple(getattr(files, name) for name in files.OUTPUTS)
    with distribute.worker_paths(strategy, outputs, files.state) as (written, state_dir):
        written = dataclasses.replace(files, state=state_dir, **dict(zip(files.OUTPUTS, written)))
        folders = [state_dir] if train.ensemble == 1 else [state_dir / f"member-{i + 1}" for i in range(train.ensemble)]
        live = open_live(written.live, resume=any(state_dir.rglob(checkpoint.STATE_FILE)))
        fitted = [
            fit_member(data, model, train, strategy, member, folder, written, live)
            for member, folder in enumerate(folders)
        ]
        net, history, summary = combine(fitted, data.val, data.encoding, strategy)
        if train.ensemble > 1:
            log_history(live, history)
        metrics = training_metrics(summary, fitted, net, len(data.train.y), strategy)
        write_outputs(written, net, fitted[0][0], history, metrics)
        live.end()
        checkpoint.clear(state_dir)
    log.info(
        "%s: val_loss %.4f, val_accuracy %.4f, %d epochs, %.0f s",
        net.name,
        summary["best_val_loss"],
        summary["best_val_accuracy"],
        metrics["train"]["epochs_run"],
        metrics["train"]["wall_time_s"],
    )
    return metrics


def load_data(prepared: Path) -> TrainingData:
    """The prepared train and val splits, checked against the vocabulary and encoding they were written with."""
    encoding = Encoding.load(prepared / paths.ENCODING.name)
    vocab_size = len(read_vocabulary(prepared / paths.VOCAB.name))
    arrays = tuple(paths.split_arrays(split, prepared) for split in ("train", "val"))
    train_split, val_split = (load_split(path, encoding.max_len, vocab_size) for path in arrays)
    if not len(train_split.y) or not len(val_split.y):
        raise PipelineError("train or val split is empty: lower prepare.limit's restriction or check the data")
    return TrainingData(train_split, val_split, encoding, vocab_size, arrays)


def fit_member(
    data: TrainingData,
    model: Model,
    train: Train,
    strategy,
    member: int,
    state_dir: Path,
    files: TrainPaths,
    live,
):
    """Build and fit one model with seed ``train.seed + member``, resuming from ``state_dir``, logging to ``live``.

    Returns the model with its best weights and its training state. The state stays on
    disk, so a rerun after an interruption in a later member restores this one without
    training it again; ``run`` clears it once the outputs are written.
    """
    seed = train.seed + member
    jit = use_xla(train.jit_compile)
    seed_everything(seed, deterministic_ops=not jit)
    with precision_policy(train.precision):
        return _fit(data, model, train, strategy, member, state_dir, files, live, seed, jit)


@contextlib.contextmanager
def precision_policy(name: str):
    """Keras's dtype policy ``name`` (``train.precision``) while a member is built and trained, float32 after."""
    import keras

    keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy("float32")


class MemberBatches(NamedTuple):
    """What one member trains and validates on (and the files a resumed run must find unchanged)."""

    train: object  # ReviewBatches of the training reviews (or their pieces)
    val: object  # ReviewBatches of the validation reviews
    unlabeled: object | None  # VAT's batches, or None
    files: tuple[Path, ...]


def _fit(data, model, train, strategy, member, state_dir, files, live, seed, jit):
    """``fit_member`` under the chosen precision: build, batch, resume, fit, restore the best weights."""
    from stages.io.live import forget_after, log_epoch

    net = compile_member(data, model, train, strategy, member, files, jit)
    batches = member_batches(data, model, train, files, seed, jit=bool(net.jit_compile))  # Keras may turn XLA off
    state = resume(net, state_dir, model, train, data.encoding, batches.files, seed)
    prefix = member_prefix(member, train.ensemble)
    forget_after(live, prefix, state.epochs_done)
    saver = checkpoint.Checkpoint(
        state_dir, state, train.patience or train.epochs, state.wall_time_s, partial(log_epoch, live, prefix)
    )
    saver.set_model(net)  # restore_best needs it even when no epoch is left to fit
    which = f"member {member + 1} of {train.ensemble}" if train.ensemble > 1 else ""
    log.info(
        "training %s%s (%s params) on %d reviews%s, validating on %d; XLA %s, %s batches of mean width %.0f",
        f"{which}: " if which else "",
        net.name,
        f"{net.count_params():,}",
        len(data.train.y),
        f" ({len(batches.train.y):,} pieces of at most {train.chop} tokens)" if train.chop else "",
        len(data.val.y),
        "on" if net.jit_compile else "off",
        "length-bucketed" if train.bucket_by_length else "fixed-width",
        batches.train.mean_width(),
    )
    finished = state.epochs_done >= train.epochs or (train.patience and state.wait >= train.patience)
    if not finished:
        fit_epochs(net, batches, state, train, strategy, saver, state_dir, which)
    saver.restore_best()
    return net, state


def member_batches(data: TrainingData, model: Model, train: Train, files: TrainPaths, seed: int, jit: bool):
    """The member's training, validation and (for VAT) unlabeled batches, shuffled with ``seed``."""
    from stages.nn.adversarial import needs_unlabeled
    from stages.nn.batching import WIDTH_STEP, XLA_WIDTH_STEP, ReviewBatches

    step = XLA_WIDTH_STEP if jit else WIDTH_STEP
    padding, val = data.encoding.padding, data.val
    batches = ReviewBatches(
        *training_rows(data.train, train.chop, data.encoding),
        train.batch_size,
        padding,
        train.bucket_by_length,
        seed,
        step,
    )
    val_batches = ReviewBatches(val.x, val.y, val.length, 256, padding, True, None, step)
    read = data.arrays + files.pretrained(model.init)
    unlabeled = None
    if needs_unlabeled(train.adversarial):
        unlabeled = unlabeled_batches(data.train, files.unlabeled, train, data, seed, step, len(batches))
        read += (files.unlabeled,)
    return MemberBatches(batches, val_batches, unlabeled, read)


def resume(net, state_dir: Path, model: Model, train: Train, encoding: Encoding, read: tuple[Path, ...], seed: int):
    """The member's saved state, its weights and optimizer restored into ``net``; a fresh state when there is none
    (or when it was saved under other params, data or starting weights)."""
    print_ = checkpoint.fingerprint(
        model.model_dump(),
        {k: v for k, v in train.model_dump().items() if k not in ("epochs", "ensemble")} | {"seed": seed},
        vars(encoding),
        files=read,
    )
    state = checkpoint.load_state(state_dir, print_)
    if state is None:
        return checkpoint.TrainingState(print_)
    checkpoint.restore(net, state_dir, state)
    log.info("resuming after epoch %d from %s", state.epochs_done, state_dir)
    return state


def fit_epochs(net, batches: MemberBatches, state, train: Train, strategy, saver, state_dir: Path, which: str) -> None:
    """Keras's ``fit`` from the first epoch not done to ``train.epochs``; a signal saves the state and ends the run
    with a message that says how to resume."""
    from stages.nn.batching import with_unlabeled

    dataset = batches.train.dataset(first_epoch=state.epochs_done, last_epoch=train.epochs)
    if batches.unlabeled is not None:
        dataset = with_unlabeled(dataset, batches.unlabeled.dataset(state.epochs_done, train.epochs))
    try:
        with checkpoint.StopOnSignal().installed() as stop_on_signal, distribute.keras_multi_worker_fixes(strategy):
            net.fit(
                dataset,
                steps_per_epoch=len(batches.train),
                validation_data=batches.val.dataset(),
                validation_steps=len(batches.val),
                initial_epoch=state.epochs_done,
                epochs=train.epochs,
                shuffle=False,  # the batches are already shuffled, reproducibly
                callbacks=[saver, stop_on_signal],
                verbose=1 if sys.stdout.isatty() else 2,  # one line per epoch in CI and dvc logs
            )
    except KeyboardInterrupt:
        done = state.epochs_done
        where = f"after epoch {done}; its state is in {state_dir}" if done else "before the first epoch ended"
        raise PipelineError(
            f"training interrupted{f' in {which}' if which else ''} {where}: rerun `dvc repro` (or `stages train`) "
            "with the same params to resume"
        ) from None


def training_rows(split: Split, chop: int, encoding: Encoding) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ids, labels and lengths ``fit`` trains on: the split's reviews, or their pieces of ``train.chop`` tokens."""
    from stages.nn.batching import chop as chopped

    if not chop:
        return split.x, split.y, split.length
    return chopped(split.x, split.y, split.length, min(chop, encoding.max_len), encoding.padding)


def unlabeled_batches(
    train_split: Split, path: Path, train: Train, data: TrainingData, seed: int, step: int, count: int
):
    """VAT's batches: ``count`` per epoch, drawn from the training reviews and the unlabeled ones (chopped alike)."""
    from stages.nn.batching import ReviewBatches

    extra = load_split(path, data.encoding.max_len, data.vocab_size)
    columns = ("x", "y", "length", "full_length", "row")
    pool = Split(*(np.concatenate([getattr(train_split, f), getattr(extra, f)]) for f in columns))
    x, y, lengths = training_rows(pool, train.chop, data.encoding)
    batches = ReviewBatches(
        x, np.zeros(len(y)), lengths, train.batch_size, data.encoding.padding, True, seed + 7919, step, per_epoch=count
    )
    if len(batches) < count:
        raise PipelineError(
            f"{path} holds too few reviews for {count} VAT batches an epoch: rerun `dvc repro embeddings`"
        )
    return batches


def member_prefix(member: int, ensemble: int) -> str:
    """``member_2_`` for an ensemble's second member (its layer and live-metric names), ``""`` for a single model."""
    return f"member_{member + 1}_" if ensemble > 1 else ""


def compile_member(data: TrainingData, model: Model, train: Train, strategy, member: int, files: TrainPaths, jit: bool):
    """The textbook classifier of ``stages/nn/model.py`` with its starting weights, compiled with the optimizer.

    With ``train.adversarial: at`` its training step also adds the adversarial loss (``stages/nn/adversarial.py``).
    """
    from stages.nn import adversarial
    from stages.nn.model import build_model
    from stages.nn.pretrained import transfer

    prefix = member_prefix(member, train.ensemble)
    steps_per_epoch = -(-len(training_rows(data.train, train.chop, data.encoding)[1]) // train.batch_size)
    with strategy.scope():
        net = build_model(data.vocab_size, model, seed=train.seed + member, prefix=prefix)
        transfer(net, model.init, files.lm_dir, prefix, files.vectors)
        decay_steps = train.epochs * steps_per_epoch if train.lr_schedule == "cosine" else 0
        net.compile(
            optimizer=make_optimizer(
                train.optimizer, train.learning_rate, train.clipnorm, train.weight_decay, decay_steps
            ),
            loss="binary_crossentropy",
            metrics=["accuracy"],
            jit_compile=jit,
        )
        if train.adversarial != "none":
            adversarial.enable(
                net,
                train.adversarial_epsilon,
                train.adversarial_weight,
                prefix,
                train.adversarial,
                train.vat_xi,
                train.seed + member,
            )
        build_training_variables(net)
    return net


def build_training_variables(net) -> None:
    """Create the optimizer's and the metrics' variables before ``fit``, so TensorFlow traces the training step
    once: variables created inside the first trace make it trace the step again. Keras does this itself under
    a distribution strategy (its symbolic build), so that case is left to it."""
    import tensorflow as tf

    if tf.distribute.has_strategy():
        return
    net.optimizer.build(net.trainable_variables)
    # One made-up prediction shapes the metrics; calling the model instead would change its dropout's seeds.
    net.compute_metrics(np.ones((1, 1), "int32"), np.zeros(1, "float32"), np.full((1, 1), 0.5, "float32"))
    net.reset_metrics()


def combine(fitted: list, val: Split, encoding: Encoding, strategy):
    """The saved model, its history and its validation summary: the single model, or the members' average."""
    from stages.nn import ensemble
    from stages.nn.batching import predict_probabilities
    from stages.scores import log_loss

    nets = [net for net, _ in fitted]
    states = [state for _, state in fitted]
    if len(fitted) == 1:
        history = states[0].history
        best = int(np.argmin(history["val_loss"]))
        summary = {
            "best_epoch": best + 1,
            "best_val_loss": float(history["val_loss"][best]),
            "best_val_accuracy": float(history["val_accuracy"][best]),
        }
        return nets[0], history, summary
    with strategy.scope():
        net = ensemble.average_members(nets)
    probabilities = predict_probabilities(net, val.x, val.length, encoding.padding)
    summary = {
        "best_val_loss": log_loss(val.y, probabilities),
        "best_val_accuracy": float(np.mean((probabilities >= 0.5) == val.y)),
        "members": {
            str(member + 1): {
                "best_epoch": state.best_epoch,
                "best_val_loss": float(state.best_val_loss),
                "epochs_run": len(state.history["loss"]),
            }
            for member, state in enumerate(states)
        },
    }
    return net, ensemble.mean_history([state.history for state in states]), summary


def training_metrics(summary: dict, fitted: list, net, train_reviews: int, strategy) -> dict:
    """``train_metrics.json``: the validation summary plus epochs, wall time, throughput and size."""
    states = [state for _, state in fitted]
    wall = sum(state.wall_time_s for state in states)
    epochs_run = sum(len(state.history["loss"]) for state in states)
    return {
        "train": summary
        | {
            "epochs_run": epochs_run,
            "wall_time_s": round(wall, 1),
            "samples_per_s": round(epochs_run * train_reviews / wall, 1),
            "params": int(net.count_params()),
            "xla": bool(fitted[0][0].jit_compile),
            "replicas": int(strategy.num_replicas_in_sync),
        }
    }


def write_outputs(outputs: TrainPaths, net, first_member, history: dict, metrics: dict) -> None:
    """Write the model, history, layer summary and metrics, each atomically."""
    from stages.nn.model import layer_table
    from stages.nn.saving import save as save_model

    with atomic_path(outputs.model, suffix=".keras") as tmp:
        save_model(net, tmp)
    write_text(outputs.history, history_tsv(history))
    table = layer_table(net)
    if first_member is not net:
        table += f"\neach member:\n{layer_table(first_member)}"
    write_text(outputs.summary, table)
    write_json(outputs.metrics, metrics)
    train = metrics["train"]
    val = {"accuracy": train["best_val_accuracy"], "loss": train["best_val_loss"]}
    write_summary(outputs.metrics, "train", {"val": val, "train_s": train["wall_time_s"]})
