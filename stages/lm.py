"""Stage ``lm``: word-level recurrent language models of the reviews, one reading forward, one backward.

Each direction is the textbook next-word model, ``Embedding -> RNN -> Dense(vocabulary)``,
saved as its own ``.keras`` file. The two are trained together and share the embedding and
the output layer (as ELMo does), so a bidirectional classifier gets one embedding that both
of its directions were pretrained with.

What keeps it fast on a CPU: the full softmax over 20,000 words costs far more per token
than the recurrent layer, so training uses a sampled softmax (a few hundred classes drawn
from a log-uniform distribution, which suits ids ranked by frequency); the full softmax is
used only to measure perplexity. Windows of ``window`` tokens start from a zero state, as
the classifier's reviews do.

The text: the training split (validation excluded) and the unlabeled reviews, without any
review whose text is also a test or validation review, so the validation perplexity is an
honest held-out figure and no test text reaches training.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
from tqdm import tqdm

from stages import paths
from stages.errors import PipelineError
from stages.io.atomic import atomic_path, write_json, write_summary, write_text
from stages.io.corpus import pretraining_text
from stages.io.tables import tsv_text
from stages.nn import checkpoint
from stages.nn.determinism import seed_everything
from stages.nn.language_model import (
    DIRECTIONS,
    build_language_models,
    encoder,
    flops_per_token,
    full_cross_entropy,
    next_word_loss,
)
from stages.params import LM, Prepare
from stages.text import OOV_ID, encode, read_vocabulary, token_index

log = logging.getLogger(__name__)

CHECKPOINT_EVERY_S = 60.0  # a kill loses at most this much training
HISTORY_POINTS = 100  # rows of the loss curve
HISTORY_COLUMNS = ("step", "tokens", "forward_loss", "backward_loss")


# --- the text -------------------------------------------------------------------------


@dataclass
class Corpus:
    """Token id streams: the training text, and the held-out validation text."""

    train: np.ndarray
    val: np.ndarray
    stats: dict


def build_corpus(reviews: Path, unlabeled: Path, prepared: Path, limit: int = 0) -> Corpus:
    """The pretraining text (``stages/io/corpus.py``: no held-out review in it) as one id stream per part, in table order."""
    index = token_index(read_vocabulary(prepared / paths.VOCAB.name))
    text = pretraining_text(reviews, unlabeled, prepared, limit)
    train, val = stream(text.train, index), stream(text.val, index)
    stats = text.stats | {"tokens": {"train": len(train), "val": len(val)}}
    stats["oov_rate"] = {"train": float(np.mean(train == OOV_ID)) if len(train) else 0.0}
    return Corpus(train, val, stats)


def stream(token_lists: list[list[str]], index: dict[str, int]) -> np.ndarray:
    """Concatenate the reviews' ids (unknown words are the OOV id) into one int32 stream."""
    ids = [encode(tokens, index, max(len(tokens), 1), "post") for tokens in token_lists]
    return np.fromiter((i for review in ids for i in review), dtype=np.int32)


def window_starts(tokens: int, window: int) -> np.ndarray:
    """First position of every window of ``window + 1`` tokens (inputs and their next words), back to back."""
    return np.arange(max(tokens - 1, 0) // window, dtype=np.int64) * window


def batch_windows(ids: np.ndarray, starts: np.ndarray, window: int) -> np.ndarray:
    """The windows at ``starts`` as a ``(len(starts), window + 1)`` int32 matrix."""
    return ids[starts[:, None] + np.arange(window + 1)[None, :]]


def epoch_order(count: int, seed: int, epoch: int) -> np.ndarray:
    """The order of the windows in ``epoch``: depends only on the seed and the epoch, so a resumed run sees the same."""
    return np.random.default_rng([seed, epoch]).permutation(count)


# --- training -------------------------------------------------------------------------


@dataclass
class LMState:
    """What a rerun needs to continue: steps done, the loss curve, the running sums of the current interval."""

    fingerprint: str
    step: int = 0
    history: list[list[float]] = field(default_factory=list)
    running: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])  # forward sum, backward sum, steps
    wall_time_s: float = 0.0
    variables_file: str = ""


class Trainer:
    """The two language models, their optimizer and one compiled training step."""

    def __init__(self, vocab_size: int, params: LM, compiled_loss: bool = True):
        import keras
        import tensorflow as tf

        seed_everything(params.seed)  # same params, same machine: same models
        self.params = params
        self.compiled_loss = compiled_loss  # False: TensorFlow's own sampled softmax (the benchmark's reference)
        self.models = build_language_models(vocab_size, params.cell, params.units, params.layers, params.embedding_dim)
        self.encoders = [encoder(model) for model in self.models]
        self.output = self.models[0].get_layer("next_word")
        self.variables = unique_variables([v for model in self.models for v in model.trainable_variables])
        self.optimizer = keras.optimizers.Adam(params.learning_rate, clipnorm=params.clipnorm or None)
        self.optimizer.build(self.variables)
        self._compiled_step = tf.function(self._step)

    def train_step(self, windows: np.ndarray, step: int):
        """One optimizer step on a batch of windows; returns the forward and backward losses."""
        import tensorflow as tf

        return self._compiled_step(tf.constant(windows), tf.constant(step, tf.int64))  # tensors: traced once

    def _step(self, windows, step):
        import tensorflow as tf

        p = self.params
        kernel, bias = self.output.kernel, self.output.bias
        reverse = tf.reverse(windows, axis=[1])
        losses = []
        with tf.GradientTape() as tape:
            for direction, (enc, ids) in enumerate(zip(self.encoders, (windows, reverse))):
                features = enc(ids[:, :-1], training=True)
                seed = tf.stack([tf.constant(p.seed, tf.int64), step * 2 + direction])
                losses.append(
                    next_word_loss(
                        tf.reshape(features, [-1, p.units]),
                        tf.reshape(ids[:, 1:], [-1]),
                        kernel,
                        bias,
                        p.sampled,
                        seed,
                        self.compiled_loss,
                    )
                )
            total = losses[0] + losses[1]
        self.optimizer.apply(tape.gradient(total, self.variables), self.variables)
        return losses[0], losses[1]

    def groups(self) -> dict[str, list]:
        """Variables that define the training state, in a stable order."""
        return {"model": self.variables, "optimizer": list(self.optimizer.variables)}

    def perplexity(self, ids: np.ndarray, eval_tokens: int, batch_size: int = 64) -> dict[str, float]:
        """Full-softmax perplexity of each direction on the first ``eval_tokens`` tokens of ``ids`` (0 = all).

        At least one window is scored, however small ``eval_tokens`` is.
        """
        import tensorflow as tf

        window = self.params.window
        scored = len(ids) if not eval_tokens else min(len(ids), max(eval_tokens, window) + 1)  # at least one window
        starts = window_starts(scored, window)
        if not len(starts):
            raise PipelineError(f"validation text has fewer than {window + 1} tokens: lower lm.window")
        kernel, bias = self.output.kernel, self.output.bias

        @tf.function
        def losses(windows):
            out = []
            for enc, seq in zip(self.encoders, (windows, tf.reverse(windows, axis=[1]))):
                features = tf.reshape(enc(seq[:, :-1], training=False), [-1, self.params.units])
                out.append(tf.reduce_sum(full_cross_entropy(features, tf.reshape(seq[:, 1:], [-1]), kernel, bias)))
            return out

        totals = np.zeros(2)
        for i in range(0, len(starts), batch_size):
            totals += [float(x) for x in losses(batch_windows(ids, starts[i : i + batch_size], window))]
        scored = len(starts) * window
        return {direction: float(np.exp(total / scored)) for direction, total in zip(DIRECTIONS, totals)} | {
            "tokens": scored
        }


def unique_variables(variables: list) -> list:
    """Variables in order, each once (the two models share the embedding and the output layer)."""
    seen, out = set(), []
    for variable in variables:
        if id(variable) not in seen:
            seen.add(id(variable))
            out.append(variable)
    return out


class Schedule(NamedTuple):
    """Which windows each step reads: window starts, whole batches per pass over the text, steps in all."""

    starts: np.ndarray
    per_epoch: int
    total: int


def schedule(corpus: Corpus, params: LM) -> Schedule:
    """``params.epochs`` passes over the text in batches of ``params.batch_size`` windows (at least one step)."""
    starts = window_starts(len(corpus.train), params.window)
    per_epoch = len(starts) // params.batch_size
    if per_epoch == 0:
        raise PipelineError(
            f"the language model's text has {len(corpus.train):,} tokens, fewer than one batch of "
            f"{params.batch_size} windows of {params.window}: lower lm.batch_size or lm.window"
        )
    return Schedule(starts, per_epoch, max(1, round(params.epochs * per_epoch)))


def train_language_models(
    corpus: Corpus, vocab_size: int, params: LM, state_dir: Path, fingerprint_parts: tuple
) -> tuple[Trainer, LMState]:
    """Train both directions for ``params.epochs`` passes over the text, resuming from ``state_dir``."""
    trainer = Trainer(vocab_size, params)
    plan = schedule(corpus, params)
    state = resume(
        trainer,
        state_dir,
        checkpoint.fingerprint(params.model_dump(), fingerprint_parts, vocab_size, len(corpus.train)),
        plan.total,
    )
    log.info(
        "training forward and backward %s(%d) x %d language models: %s tokens of text, %d steps of %d windows "
        "of %d tokens (%.2f epochs), %s",
        params.cell,
        params.units,
        params.layers,
        f"{len(corpus.train):,}",
        plan.total,
        params.batch_size,
        params.window,
        plan.total / plan.per_epoch,
        f"sampled softmax over {params.sampled} classes" if params.sampled else "full softmax",
    )
    log_every = max(1, plan.total // HISTORY_POINTS)
    began, saved_at, wall_before = time.perf_counter(), time.perf_counter(), state.wall_time_s
    order, order_epoch = None, -1
    with (
        checkpoint.StopOnSignal().installed() as stop,
        tqdm(total=plan.total, initial=state.step, desc="language model", unit=" steps", disable=None) as bar,
    ):
        while state.step < plan.total:
            epoch, position = divmod(state.step, plan.per_epoch)
            if epoch != order_epoch:
                order, order_epoch = epoch_order(len(plan.starts), params.seed, epoch), epoch
            chosen = plan.starts[order[position * params.batch_size : (position + 1) * params.batch_size]]
            forward, backward = trainer.train_step(batch_windows(corpus.train, chosen, params.window), state.step)
            record_step(state, float(forward), float(backward), log_every, params, plan.total, bar)
            state.wall_time_s = wall_before + time.perf_counter() - began
            if stop.received or time.perf_counter() - saved_at > CHECKPOINT_EVERY_S:
                save_state(state_dir, state, trainer)
                saved_at = time.perf_counter()
            if stop.received:
                raise PipelineError(
                    f"language-model training interrupted at step {state.step} of {plan.total}; its state is in "
                    f"{state_dir}: rerun `dvc repro lm` (or `stages lm`) with the same params to resume"
                )
    return trainer, state


def resume(trainer: Trainer, state_dir: Path, print_: str, total: int) -> LMState:
    """The saved state with its variables restored into ``trainer``, or a fresh one (none saved, or another run's)."""
    state = checkpoint.load_state(state_dir, print_, LMState) or LMState(print_)
    if state.step:
        checkpoint.load_variables(state_dir / state.variables_file, trainer.groups())
        log.info("resuming the language models at step %d of %d from %s", state.step, total, state_dir)
    return state


def record_step(state: LMState, forward: float, backward: float, log_every: int, params: LM, total: int, bar) -> None:
    """Count a step; every ``log_every`` steps add the mean losses to the history (and the bar, or a log line)."""
    state.step += 1
    state.running = [state.running[0] + forward, state.running[1] + backward, state.running[2] + 1]
    if state.step % log_every == 0 or state.step == total:
        f, b, n = state.running
        tokens = state.step * params.batch_size * params.window
        state.history.append([state.step, tokens, f / n, b / n])
        state.running = [0.0, 0.0, 0.0]
        bar.set_postfix(loss=f"{f / n:.3f}/{b / n:.3f}", refresh=False)
        if bar.disable and state.step % (log_every * HISTORY_POINTS // 10) == 0:  # no terminal: a line a tenth
            log.info("step %d of %d: sampled loss forward %.3f, backward %.3f", state.step, total, f / n, b / n)
    bar.update()


def save_state(folder: Path, state: LMState, trainer: Trainer) -> None:
    """Write the variables of this step, then commit the state naming them."""
    folder.mkdir(parents=True, exist_ok=True)
    previous = checkpoint.named(state)
    state.variables_file = f"step-{state.step}.npz"
    checkpoint.save_variables(folder / state.variables_file, trainer.groups())
    checkpoint.commit(folder, state, previous)


# --- the stage ------------------------------------------------------------------------


def history_tsv(history: list[list[float]]) -> str:
    """The loss curve as TSV (DVC plot data): sampled-softmax training loss of each direction per interval."""
    return tsv_text(
        HISTORY_COLUMNS, [[int(step), int(tokens), f"{f:.5f}", f"{b:.5f}"] for step, tokens, f, b in history]
    )


@dataclass(frozen=True)
class LMPaths(paths.StagePaths):
    """What the stage reads and writes, and where it keeps its resumable state."""

    reviews: Path = paths.REVIEWS_TABLE
    unlabeled: Path = paths.UNLABELED_TABLE
    prepared: Path = paths.PREPARED
    models: Path = paths.LM  # forward.keras and backward.keras
    metrics: Path = paths.LM_METRICS
    history: Path = paths.LM_HISTORY
    generations: Path = paths.LM_GENERATIONS
    state: Path = paths.LM_STATE


def run(params: LM, prepare: Prepare, files: LMPaths = LMPaths()) -> dict:
    """The whole stage: build the text, train both directions (resumable), measure, save; returns the metrics.

    Of ``prepare`` it reads ``limit`` only: a quick run's limit also shrinks the unlabeled reviews read here.
    """
    from stages.commands.generate import generations_markdown
    from stages.nn.saving import save

    prepared = files.prepared
    vocabulary = read_vocabulary(prepared / paths.VOCAB.name)
    vocab_size = len(vocabulary)
    corpus = build_corpus(files.reviews, files.unlabeled, prepared, prepare.limit)
    inputs = (paths.split_arrays("train", prepared), paths.split_arrays("val", prepared), prepared / paths.VOCAB.name)
    text_print = checkpoint.fingerprint(prepare.limit, files=(*inputs, files.unlabeled))
    trainer, state = train_language_models(corpus, vocab_size, params, files.state, (text_print,))
    log.info("measuring full-softmax perplexity on the validation text")
    perplexity = trainer.perplexity(corpus.val, params.eval_tokens)
    tokens_trained = state.step * params.batch_size * params.window
    metrics = {
        "lm": {
            "val_perplexity": {direction: round(perplexity[direction], 3) for direction in DIRECTIONS},
            "val_tokens_scored": int(perplexity["tokens"]),
            "tokens_trained": int(tokens_trained),
            "epochs": round(tokens_trained / max(len(corpus.train), 1), 3),
            "wall_time_s": round(state.wall_time_s, 1),
            "tokens_per_s": round(tokens_trained / state.wall_time_s, 1) if state.wall_time_s else 0.0,
            "flops_per_token": flops_per_token(params, vocab_size),
            "params": int(sum(int(np.prod(v.shape)) for v in trainer.variables)),
            "final_loss": {direction: round(state.history[-1][2 + i], 4) for i, direction in enumerate(DIRECTIONS)},
        },
        "data": corpus.stats,
    }
    for direction, model in zip(DIRECTIONS, trainer.models):
        with atomic_path(paths.language_model(direction, files.models), suffix=".keras") as tmp:
            save(model, tmp)
    write_text(files.history, history_tsv(state.history))
    write_text(files.generations, generations_markdown(trainer.models[0], vocabulary))
    write_json(files.metrics, metrics)
    write_summary(files.metrics, "lm", {"lm": {"perplexity": metrics["lm"]["val_perplexity"]["forward"]}})
    checkpoint.clear(files.state)
    log.info(
        "language models: validation perplexity forward %.1f, backward %.1f; %s tokens in %.0f s (%.0f tokens/s)",
        perplexity["forward"],
        perplexity["backward"],
        f"{tokens_trained:,}",
        state.wall_time_s,
        metrics["lm"]["tokens_per_s"],
    )
    return metrics
