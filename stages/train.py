"""Stage ``train``: fit one recurrent cell variant on the prepared arrays, validating on val.

Writes the model (``.keras``), the per-epoch history (plot data), training metrics
(best epoch, epochs run, wall time, samples per second, parameter count) and a
per-layer model summary.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from stages import paths
from stages.arrays import Encoding, Split, load_split
from stages.atomic import atomic_path, write_json, write_text
from stages.errors import PipelineError
from stages.text import read_vocabulary

log = logging.getLogger(__name__)

HISTORY_COLUMNS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy")


def choose_jit(setting: str, cell: str, bidirectional: bool, gpu: bool) -> bool:
    """Resolve ``train.jit_compile``; ``auto`` is off, following the measurements below.

    On a GPU, XLA would keep LSTM and GRU off their cuDNN kernels. On this project's CPU
    path (length-bucketed batches) ``bench/benchmark.py --only xla`` measured
    XLA at 1.03x for GRU, 1.07x for LSTM and 0.80x for SimpleRNN, and its compilation
    per batch shape costs more than that in a short run, so ``auto`` leaves it off for
    every cell. ``cell`` and ``bidirectional`` are kept so that a future measurement can
    turn it on per variant.
    """
    if setting != "auto":
        return setting == "on"
    return False


CPU_DEVICES_ENV = "IMDB_RNN_CPU_DEVICES"  # split the CPU into N logical devices (tests mirrored training on CPU)


def split_cpu(count: int) -> None:
    """Split the CPU into ``count`` logical devices; must run before TensorFlow initialises its devices."""
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(count)])


def make_strategy(name: str):
    """The ``tf.distribute`` strategy named by ``train.distribute``."""
    import tensorflow as tf

    if name == "none":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        if tf.config.list_logical_devices("GPU"):
            return tf.distribute.MirroredStrategy()
        return tf.distribute.MirroredStrategy([device.name for device in tf.config.list_logical_devices("CPU")])
    if not os.environ.get("TF_CONFIG"):
        raise PipelineError(
            "train.distribute: multi_worker needs the TF_CONFIG environment variable (cluster and task)"
        )
    return tf.distribute.MultiWorkerMirroredStrategy()


def is_chief(strategy) -> bool:
    """Whether this process writes the outputs (always, except on non-chief multi-worker tasks)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "chief" or (not has_chief and resolver.task_type == "worker" and resolver.task_id == 0)


def make_optimizer(name: str, learning_rate: float, clipnorm: float, weight_decay: float = 0.0, decay_steps: int = 0):
    """Build the Keras optimizer named in ``train.optimizer``; ``decay_steps`` > 0 adds cosine decay."""
    import keras

    classes = {"adam": keras.optimizers.Adam, "rmsprop": keras.optimizers.RMSprop, "sgd": keras.optimizers.SGD}
    rate = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps) if decay_steps else learning_rate
    return classes[name](learning_rate=rate, clipnorm=clipnorm or None, weight_decay=weight_decay or None)


def seed_everything(seed: int, deterministic_ops: bool = True) -> None:
    """Seed Python, NumPy and TensorFlow; optionally make TensorFlow's ops deterministic.

    Keras refuses XLA while op determinism is on, so an XLA run only seeds (XLA on CPU was
    measured to repeat its results exactly; see tests/test_train.py).
    """
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    if deterministic_ops:
        tf.config.experimental.enable_op_determinism()


def history_tsv(history: dict[str, list[float]]) -> str:
    """Per-epoch history as TSV with a header (DVC plot data)."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter="\t", lineterminator="\n")
    writer.writerow(HISTORY_COLUMNS)
    for epoch in range(len(history["loss"])):
        writer.writerow([epoch + 1, *(f"{history[key][epoch]:.6f}" for key in HISTORY_COLUMNS[1:])])
    return out.getvalue()


def run(
    prepared: Path,
    model_path: Path,
    history_path: Path,
    metrics_path: Path,
    summary_path: Path,
    model: dict,
    train: dict,
    state_dir: Path = paths.TRAIN_STATE,
    lm_dir: Path = paths.LM,
) -> dict:
    """The whole stage: load data, build, fit (resuming an interrupted run), save outputs; returns the metrics.

    With ``train.ensemble`` N > 1 it trains N members one after another, member i with
    seed ``seed + i`` (so member 0 is the single model of the same params), each resumable
    in its own folder, and saves one model that averages their probabilities.
    """
    import tensorflow as tf

    from stages import checkpoint
    from stages.batching import predict_probabilities
    from stages.model import average_members, layer_table
    from stages.saving import save as save_model

    if os.environ.get(CPU_DEVICES_ENV):
        split_cpu(int(os.environ[CPU_DEVICES_ENV]))
    encoding = Encoding.load(prepared / paths.ENCODING.name)
    vocab_size = len(read_vocabulary(prepared / paths.VOCAB.name))
    train_split = load_split(paths.split_arrays("train", prepared), encoding.max_len, vocab_size)
    val_split = load_split(paths.split_arrays("val", prepared), encoding.max_len, vocab_size)
    if not len(train_split.y) or not len(val_split.y):
        raise PipelineError("train or val split is empty: lower prepare.limit's restriction or check the data")

    gpu = bool(tf.config.list_physical_devices("GPU"))
    jit = choose_jit(train["jit_compile"], model["cell"], model["bidirectional"], gpu)
    strategy = make_strategy(train["distribute"])
    if not is_chief(strategy):  # other workers keep their own throwaway state and outputs
        scratch = Path(tempfile.mkdtemp(prefix="imdb-rnn-worker-"))
        state_dir = scratch / "state"
        model_path, history_path, summary_path, metrics_path = (
            scratch / p.name for p in (model_path, history_path, summary_path, metrics_path)
        )
    count = train["ensemble"]
    fitted = [
        fit_member(
            train_split, val_split, encoding, vocab_size, model, train, strategy, jit,
            member, state_dir if count == 1 else state_dir / f"member-{member + 1}", prepared, lm_dir,
        )
        for member in range(count)
    ]  # fmt: skip
    nets = [net for net, _ in fitted]
    states = [state for _, state in fitted]
    jit = bool(nets[0].jit_compile)
    wall = sum(state.wall_time_s for state in states)
    epochs_run = sum(len(state.history["loss"]) for state in states)
    if count == 1:
        net, history = nets[0], states[0].history
        best = int(np.argmin(history["val_loss"]))
        summary = {
            "best_epoch": best + 1,
            "best_val_loss": float(history["val_loss"][best]),
            "best_val_accuracy": float(history["val_accuracy"][best]),
        }
    else:
        with strategy.scope():
            net = average_members(nets)
        history = mean_history([state.history for state in states])
        probabilities = predict_probabilities(net, val_split.x, val_split.length, encoding.padding)
        summary = {
            "best_val_loss": binary_cross_entropy(val_split.y, probabilities),
            "best_val_accuracy": float(np.mean((probabilities >= 0.5) == val_split.y)),
            "members": {
                str(member + 1): {
                    "best_epoch": state.best_epoch,
                    "best_val_loss": float(state.best_val_loss),
                    "epochs_run": len(state.history["loss"]),
                }
                for member, state in enumerate(states)
            },
        }
    metrics = {
        "train": summary
        | {
            "epochs_run": epochs_run,
            "wall_time_s": round(wall, 1),
            "samples_per_s": round(epochs_run * len(train_split.y) / wall, 1),
            "params": int(net.count_params()),
            "xla": jit,
            "replicas": int(strategy.num_replicas_in_sync),
        }
    }
    with atomic_path(model_path, suffix=".keras") as tmp:
        save_model(net, tmp)
    write_text(history_path, history_tsv(history))
    table = layer_table(net)
    if count > 1:
        table += f"\neach member:\n{layer_table(nets[0])}"
    write_text(summary_path, table)
    write_json(metrics_path, metrics)
    checkpoint.clear(state_dir)
    log.info("%s: val_loss %.4f, val_accuracy %.4f, %d epochs, %.0f s", net.name, summary["best_val_loss"],
             summary["best_val_accuracy"], epochs_run, wall)  # fmt: skip
    return metrics


def fit_member(
    train_split: Split,
    val_split: Split,
    encoding: Encoding,
    vocab_size: int,
    model: dict,
    train: dict,
    strategy,
    jit: bool,
    member: int,
    state_dir: Path,
    prepared: Path,
    lm_dir: Path,
):
    """Build and fit one model with seed ``train.seed + member``, resuming from ``state_dir``.

    Returns the model with its best weights and its training state. The state stays on
    disk, so a rerun after an interruption in a later member restores this one without
    training it again; ``run`` clears it once the outputs are written.
    """
    from stages import checkpoint
    from stages.batching import WIDTH_STEP, XLA_WIDTH_STEP, ReviewBatches
    from stages.model import build_model
    from stages.pretrained import transfer

    seed = train["seed"] + member
    prefix = f"member_{member + 1}_" if train["ensemble"] > 1 else ""  # members need layer names of their own
    seed_everything(seed, deterministic_ops=not jit)
    steps_per_epoch = -(-len(train_split.y) // train["batch_size"])
    with strategy.scope():
        net = build_model(
            vocab_size,
            model["cell"],
            model["units"],
            model["embedding_dim"],
            layers_count=model["layers"],
            bidirectional=model["bidirectional"],
            dropout=model["dropout"],
            embedding_dropout=model["embedding_dropout"],
            pooling=model["pooling"],
            dense_units=model["dense_units"],
            dense_dropout=model["dense_dropout"],
            seed=seed,
            prefix=prefix,
        )
        transfer(net, model["init"], lm_dir, prefix)
        net.compile(
            optimizer=make_optimizer(
                train["optimizer"],
                train["learning_rate"],
                train["clipnorm"],
                train["weight_decay"],
                train["epochs"] * steps_per_epoch if train["lr_schedule"] == "cosine" else 0,
            ),
            loss="binary_crossentropy",
            metrics=["accuracy"],
            jit_compile=jit,
        )
    jit = bool(net.jit_compile)  # Keras turns XLA off where it cannot apply it
    step = XLA_WIDTH_STEP if jit else WIDTH_STEP
    batches = ReviewBatches(
        train_split.x,
        train_split.y,
        train_split.length,
        train["batch_size"],
        encoding.padding,
        train["bucket_by_length"],
        seed,
        step,
    )
    val_batches = ReviewBatches(val_split.x, val_split.y, val_split.length, 256, encoding.padding, True, None, step)
    arrays = tuple(paths.split_arrays(split, prepared) for split in ("train", "val"))
    if model["init"] != "random":  # a resumed run must start from the same language model
        arrays += tuple(paths.language_model(direction, lm_dir) for direction in ("forward", "backward"))
    print_ = checkpoint.fingerprint(
        model,
        {k: v for k, v in train.items() if k not in ("epochs", "ensemble")} | {"seed": seed},
        vars(encoding),
        files=arrays,
    )
    state = checkpoint.load_state(state_dir, print_)
    if state is not None:
        checkpoint.restore(net, state_dir, state)
        log.info("resuming after epoch %d from %s", state.epochs_done, state_dir)
    state = state or checkpoint.TrainingState(print_)
    saver = checkpoint.Checkpoint(state_dir, state, train["patience"] or train["epochs"], state.wall_time_s)
    saver.set_model(net)  # restore_best needs it even when no epoch is left to fit
    which = f"member {member + 1} of {train['ensemble']}: " if train["ensemble"] > 1 else ""
    log.info(
        "training %s%s (%s params) on %d reviews, validating on %d; XLA %s, %s batches of mean width %.0f",
        which, net.name, f"{net.count_params():,}", len(train_split.y), len(val_split.y), "on" if jit else "off",
        "length-bucketed" if train["bucket_by_length"] else "fixed-width", batches.mean_width(),
    )  # fmt: skip
    finished = state.epochs_done >= train["epochs"] or (train["patience"] and state.wait >= train["patience"])
    try:
        with checkpoint.StopOnSignal().installed() as stop_on_signal:
            if not finished:
                net.fit(
                    batches.dataset(first_epoch=state.epochs_done, last_epoch=train["epochs"]),
                    steps_per_epoch=len(batches),
                    validation_data=val_batches.dataset(),
                    validation_steps=len(val_batches),
                    initial_epoch=state.epochs_done,
                    epochs=train["epochs"],
                    shuffle=False,  # the batches are already shuffled, reproducibly
                    callbacks=[saver, stop_on_signal],
                    verbose=1 if sys.stdout.isatty() else 2,  # one line per epoch in CI and dvc logs
                )
    except KeyboardInterrupt:
        done = state.epochs_done
        where = f"after epoch {done}; its state is in {state_dir}" if done else "before the first epoch ended"
        in_member = f" in {which.rstrip(': ')}" if which else ""
        raise PipelineError(
            f"training interrupted{in_member} {where}: rerun `dvc repro` (or `stages train`) with the same params to resume"
        ) from None
    saver.restore_best()
    return net, state


def mean_history(histories: list[dict[str, list[float]]]) -> dict[str, list[float]]:
    """Per-epoch mean over the members that ran each epoch (members may stop early at different epochs)."""
    epochs = max(len(history["loss"]) for history in histories)
    return {
        key: [float(np.mean([h[key][e] for h in histories if e < len(h[key])])) for e in range(epochs)]
        for key in HISTORY_COLUMNS[1:]
    }


def binary_cross_entropy(y: np.ndarray, probabilities: np.ndarray) -> float:
    """Mean binary cross-entropy of probabilities (clipped as Keras clips them)."""
    p = np.clip(probabilities, 1e-7, 1 - 1e-7)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
