"""Benchmarks that print figures (never timed tests): prepare time, training throughput, predict latency, memory.

Run from the project root after `dvc repro` (or `make repro`), on an otherwise idle machine:

    .venv/bin/python bench/benchmark.py                        # every section
    .venv/bin/python bench/benchmark.py --only training,xla    # some sections
    .venv/bin/python bench/benchmark.py --only training --train-samples 5000 --rounds 1   # quicker

Sections:
  prepare   the whole prepare stage on all 50,000 reviews
  training  the pipeline's path (length-bucketed batches, length-aware unmasked model, its XLA choice)
            against the classic tutorial baseline (plain `model.fit` on front-padded arrays),
            same architecture and data, epoch by epoch in turn, for simple_rnn, lstm, gru and
            bidirectional lstm at max_len 256 and 512: steady-state samples/s, ratio (median
            and range over the rounds), ratio over whole epochs, validation accuracy
  xla       the pipeline path with XLA on and off per cell, in turn (what `train.jit_compile: auto` uses)
  predict   single-review latency (p50, p95, warm) and batch throughput of `stages predict`
  memory    peak resident memory of a full `dvc repro -f` in a temporary copy of the project
  classifier the default member's training speed against one change at a time (bf16 precisions, frozen
            embedding, adversarial modes, chopped reviews, batch sizes, units, embedding size,
            vocabulary size), each against the reference in the same round
  generate  words/s of `stages generate` stepping the model's state, against re-running the model over the
            whole text for every word (the generator before), and the time of a 12,500-word prompt
  startup   a command's start at Python's default collector threshold and at the one `stages` sets: a fresh
            process imports Keras and fits a tiny GRU; wall time, time in the collector, collections;
            and the import of ml_dtypes alone
  lm        language-model training speed (tokens/s, both directions) on the real text, as a share of
            this machine's matrix-multiply FLOP rate measured in the same run, for the params.yaml
            language model and the larger ones given with --lm-configs
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from stages import paths  # noqa: E402
from stages.io.params_file import load_sections  # noqa: E402

VARIANTS = (("simple_rnn", False), ("lstm", False), ("gru", False), ("lstm", True))
MAX_LENS = (256, 512)
VOCAB_SIZE = 10_000
UNITS = 32
EMBEDDING_DIM = 32
BATCH_SIZE = 128


def name_of(cell: str, bidirectional: bool) -> str:
    """Variant name as printed."""
    return f"bi-{cell}" if bidirectional else cell


def bench_prepare(args: argparse.Namespace) -> None:
    """Time the whole prepare stage on all 50,000 reviews with the project's params."""
    from stages import prepare

    settings = load_sections("prepare", paths.PARAMS)["prepare"] | {"limit": 0}
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):
            started = time.perf_counter()
            prepare.run(
                prepare.Prepare(**settings),
                prepare.PreparePaths(prepared=Path(tmp) / "prepared", stats=Path(tmp) / "stats.json"),
            )
            times.append(time.perf_counter() - started)
    print(
        f"prepare, all 50,000 reviews: best {min(times):.1f} s, median {np.median(times):.1f} s "
        f"over {args.repeats} runs (target < 20 s; {os.cpu_count()} CPUs)"
    )


def prepared_arrays(max_len: int, padding: str, folder: Path, train_samples: int):
    """Train and val splits prepared with ``padding`` (vocabulary of VOCAB_SIZE), train cut to ``train_samples``."""
    from stages import prepare
    from stages.io.arrays import load_split

    target = folder / f"{max_len}-{padding}"
    if not (target / "val.npz").exists():
        params = prepare.Prepare(vocab_size=VOCAB_SIZE, max_len=max_len, padding=padding, val_grouping="random")
        prepare.run(params, prepare.PreparePaths(prepared=target, stats=target / "stats.json"))
    train, val = load_split(target / "train.npz"), load_split(target / "val.npz")
    keep = np.random.default_rng(0).permutation(len(train.y))[:train_samples]
    return train, keep, val


class CallTimer(keras.callbacks.Callback):
    """Times one ``fit`` call of one epoch: as a whole, and from the end of its first batch.

    The first batch carries one-off work (starting the input iterator, and for the
    baseline's numpy input Keras's own per-epoch setup), so the steady-state speed
    leaves it out; that is the speed of the training steps themselves.
    """

    def on_train_begin(self, logs=None):
        self.started = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        if batch == 0:
            self.after_first = time.perf_counter()

    def on_train_end(self, logs=None):
        self.ended = time.perf_counter()

    def speeds(self, samples: int, first_batch: int) -> tuple[float, float]:
        """Samples/s at steady state (after the first batch) and over the whole call."""
        return (samples - first_batch) / (self.ended - self.after_first), samples / (self.ended - self.started)


class BaselineRun:
    """The tutorial way: no mask, front-padded fixed-width arrays, plain ``model.fit``."""

    def __init__(self, cell: str, bidirectional: bool, train, keep, seed: int):
        from stages.nn.model import CELLS

        keras.utils.set_random_seed(seed)
        layer = CELLS[cell](UNITS)
        self.model = keras.Sequential(
            [
                keras.Input((None,), dtype="int32"),
                keras.layers.Embedding(VOCAB_SIZE, EMBEDDING_DIM),
                keras.layers.Bidirectional(layer) if bidirectional else layer,
                keras.layers.Dense(1, activation="sigmoid"),
            ]
        )
        self.model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
        self.x, self.y = train.x[keep], train.y[keep]

    def epoch(self, epoch: int) -> tuple[float, float]:
        """Train epoch ``epoch``; return its steady-state and whole-call samples/s."""
        timer = CallTimer()
        self.model.fit(
            self.x, self.y, batch_size=BATCH_SIZE, epochs=epoch + 1, initial_epoch=epoch, verbose=0, callbacks=[timer]
        )
        return timer.speeds(len(self.y), min(BATCH_SIZE, len(self.y)))

    def accuracy(self, val) -> float:
        """Validation accuracy (front-padded, as trained)."""
        return float(self.model.evaluate(val.x, val.y, batch_size=256, verbose=0)[1])


class PipelineRun:
    """The pipeline's path: right padding, length buckets built in-graph, the length-aware model."""

    def __init__(self, cell: str, bidirectional: bool, train, keep, seed: int, jit: bool | None = None):

        from stages.nn.batching import WIDTH_STEP, XLA_WIDTH_STEP, ReviewBatches
        from stages.nn.model import build_model
        from stages.params import Model
        from stages.train import use_xla

        keras.utils.set_random_seed(seed)
        if jit is None:  # what `train.jit_compile: auto` picks
            jit = use_xla("auto")
        bare = dict(embedding_dropout=0.0, dropout=0.0, pooling="last", init="random")
        shape = Model(cell=cell, units=UNITS, embedding_dim=EMBEDDING_DIM, bidirectional=bidirectional, **bare)
        self.model = build_model(VOCAB_SIZE, shape)
        self.model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"], jit_compile=jit)
        step = XLA_WIDTH_STEP if jit else WIDTH_STEP
        self.batches = ReviewBatches(
            train.x[keep], train.y[keep], train.length[keep], BATCH_SIZE, "post", True, seed, step
        )

    def epoch(self, epoch: int) -> tuple[float, float]:
        """Train epoch ``epoch``; return its steady-state and whole-call samples/s."""
        timer = CallTimer()
        data = self.batches.dataset(epoch, epoch + 1)
        self.model.fit(
            data, steps_per_epoch=len(self.batches), epochs=epoch + 1, initial_epoch=epoch, verbose=0, callbacks=[timer]
        )
        return timer.speeds(len(self.batches.y), len(self.batches.plan(epoch)[0][0]))

    def accuracy(self, val) -> float:
        """Validation accuracy through the pipeline's batched prediction."""
        from stages.nn.batching import predict_probabilities

        probabilities = predict_probabilities(self.model, val.x, val.length, "post")
        return float(np.mean((probabilities >= 0.5) == val.y))


def interleave(first, second, rounds: int) -> dict[str, float]:
    """Train ``first`` and ``second`` epoch by epoch, alternating, after one untimed epoch each (tracing).

    Alternating epochs keeps the two exposed to the same machine: on a shared machine
    the speed drifts over tens of seconds, so each round's ratio compares like with like.
    Returns median steady speeds, the median, lowest and highest of the rounds' ratios,
    and the median ratio of whole-call speeds.
    """
    first.epoch(0)
    second.epoch(0)
    rounds_ = [(first.epoch(epoch), second.epoch(epoch)) for epoch in range(1, rounds + 1)]
    steady = np.array([[a[0], b[0]] for a, b in rounds_])
    whole = np.array([[a[1], b[1]] for a, b in rounds_])
    ratios = steady[:, 1] / steady[:, 0]
    return {
        "first": float(np.median(steady[:, 0])),
        "second": float(np.median(steady[:, 1])),
        "ratio": float(np.median(ratios)),
        "low": float(ratios.min()),
        "high": float(ratios.max()),
        "whole_ratio": float(np.median(whole[:, 1] / whole[:, 0])),
    }


def bench_training(args: argparse.Namespace) -> None:
    """Pipeline path vs tutorial baseline, epochs interleaved, per cell and max_len."""
    print(
        f"training throughput: Embedding({VOCAB_SIZE}, {EMBEDDING_DIM}) + cell({UNITS}) + Dense(1), batch {BATCH_SIZE}, "
        f"{args.train_samples} train reviews; 1 untimed epoch, then {args.rounds} interleaved epochs each; "
        "samples/s after each epoch's first batch (median), ratio = median of the rounds' ratios [lowest-highest], "
        "whole = the same over whole epochs; validation accuracy on 5,000 after all epochs"
    )
    print(
        f"{'variant':<12}{'max_len':>8}{'baseline/s':>12}{'pipeline/s':>12}{'ratio':>8}{'range':>13}{'whole':>8}"
        f"{'base val':>10}{'pipe val':>10}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for max_len in args.max_lens:
            front = prepared_arrays(max_len, "pre", Path(tmp), args.train_samples)
            right = prepared_arrays(max_len, "post", Path(tmp), args.train_samples)
            for cell, bidirectional in args.variants:
                baseline = BaselineRun(cell, bidirectional, *front[:2], args.seed)
                pipeline = PipelineRun(cell, bidirectional, *right[:2], args.seed)
                result = interleave(baseline, pipeline, args.rounds)
                print(
                    f"{name_of(cell, bidirectional):<12}{max_len:>8}{result['first']:>12.0f}{result['second']:>12.0f}"
                    f"{result['ratio']:>7.2f}x{result['low']:>7.2f}-{result['high']:.2f}x{result['whole_ratio']:>7.2f}x"
                    f"{baseline.accuracy(front[2]):>10.4f}{pipeline.accuracy(right[2]):>10.4f}",
                    flush=True,
                )


def bench_xla(args: argparse.Namespace) -> None:
    """The pipeline path with XLA off and on, epochs interleaved, per cell."""
    print(
        f"XLA on the pipeline path: {args.train_samples} train reviews, 1 untimed epoch, then {args.rounds} "
        "interleaved epochs each; steady samples/s (median), on/off = median of the rounds' ratios"
    )
    print(f"{'variant':<12}{'max_len':>8}{'off/s':>10}{'on/s':>10}{'on/off':>8}{'range':>13}")
    with tempfile.TemporaryDirectory() as tmp:
        for max_len in args.max_lens:
            right = prepared_arrays(max_len, "post", Path(tmp), args.train_samples)
            for cell, bidirectional in args.variants:
                off = PipelineRun(cell, bidirectional, *right[:2], args.seed, jit=False)
                on = PipelineRun(cell, bidirectional, *right[:2], args.seed, jit=True)
                result = interleave(off, on, args.rounds)
                print(
                    f"{name_of(cell, bidirectional):<12}{max_len:>8}{result['first']:>10.0f}{result['second']:>10.0f}"
                    f"{result['ratio']:>7.2f}x{result['low']:>7.2f}-{result['high']:.2f}x",
                    flush=True,
                )


def bench_predict(args: argparse.Namespace) -> None:
    """Latency of one review (warm) and throughput of a batch, with the trained model."""
    import pandas as pd

    from stages.commands.predict import Predictor

    predictor = Predictor()
    texts = pd.read_parquet(paths.REVIEWS_TABLE, columns=["split", "text"]).query("split == 'test'")["text"].tolist()
    predictor.predict(texts[:2])  # warm up: tracing
    latencies = []
    for text in texts[:200]:
        started = time.perf_counter()
        predictor.predict([text])
        latencies.append(time.perf_counter() - started)
    p50, p95 = np.percentile(latencies, [50, 95]) * 1000
    batch = texts[:5000]
    started = time.perf_counter()
    predictor.predict(batch)
    rate = len(batch) / (time.perf_counter() - started)
    print(
        f"predict: single review p50 {p50:.1f} ms, p95 {p95:.1f} ms (warm, 200 reviews); batch {rate:,.0f} reviews/s (5,000)"
    )


def bench_memory(args: argparse.Namespace) -> None:
    """Peak resident memory of any process of a full `dvc repro -f`, in a temporary git copy of the project."""
    import yaml

    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "project"
        ignore = shutil.ignore_patterns(".venv", "data", "__pycache__", "*.egg-info", ".pytest_cache", "cache", "tmp")
        shutil.copytree(ROOT, copy, ignore=ignore)
        params = yaml.safe_load((copy / "params.yaml").read_text())
        mirror = params["download"]["mirror"]
        if mirror and not Path(mirror).is_absolute():  # relative to the project root, not to the copy
            params["download"]["mirror"] = str((ROOT / mirror).resolve())
        (copy / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
        subprocess.run(["git", "init", "-q"], cwd=copy, check=True)
        started = time.perf_counter()
        done = subprocess.run(["dvc", "repro", "-f"], cwd=copy, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - started
        if done.returncode:
            sys.exit(f"error: dvc repro failed in the copy:\n{done.stderr[-2000:]}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"memory: peak RSS of a full `dvc repro -f` (default params) {peak:,.0f} MiB; it took {wall:.0f} s")


def matmul_gflops(size: int = 2048, seconds: float = 2.0) -> float:
    """This machine's float32 matrix-multiply rate: the best of three timed runs of size x size products."""
    import tensorflow as tf

    a = tf.random.stateless_normal([size, size], seed=[1, 2])
    b = tf.random.stateless_normal([size, size], seed=[3, 4])

    @tf.function
    def products(n):
        total = tf.zeros([size, size])
        for _ in tf.range(n):
            total += tf.matmul(a, b)
        return total

    products(tf.constant(1)).numpy()
    best = 0.0
    for _ in range(3):
        started, n = time.perf_counter(), 0
        while time.perf_counter() - started < seconds:
            products(tf.constant(4)).numpy()
            n += 4
        best = max(best, 2 * size**3 * n / (time.perf_counter() - started) / 1e9)
    return best


def lm_tokens_per_s(text, vocab_size: int, params, compiled: bool, steps: int) -> float:
    """Training tokens per second of both language-model directions, after three warm-up steps."""
    from stages import lm

    trainer = lm.Trainer(vocab_size, params, compiled_loss=compiled)
    starts = lm.window_starts(len(text), params.window)
    order = lm.epoch_order(len(starts), params.seed, 0)

    def windows(step):
        return lm.batch_windows(
            text, starts[order[step * params.batch_size : (step + 1) * params.batch_size]], params.window
        )

    for step in range(3):  # tracing and warm-up
        trainer.train_step(windows(step), step)
    started = time.perf_counter()
    for step in range(3, 3 + steps):
        forward, _ = trainer.train_step(windows(step), step)
    float(forward)
    return steps * params.batch_size * params.window / (time.perf_counter() - started)


def bench_lm(args: argparse.Namespace) -> None:
    """Language-model training speed on the real text and its share of the machine's FLOP rate."""
    from stages import lm
    from stages.nn import language_model
    from stages.text import read_vocabulary

    vocab_size = len(read_vocabulary(paths.VOCAB))
    corpus = lm.build_corpus(paths.REVIEWS_TABLE, paths.UNLABELED_TABLE, paths.PREPARED)
    base = lm.LM(**load_sections("lm", paths.PARAMS)["lm"])
    configs = [base]
    for text in filter(None, args.lm_configs.split(",")):
        cell, units, embedding_dim, *batch = text.split(":")
        size = {
            "units": int(units),
            "embedding_dim": int(embedding_dim),
            "batch_size": int(batch[0]) if batch else base.batch_size,
        }
        configs.append(lm.LM(**{**vars(base), "cell": cell, **size}))
    rate = matmul_gflops()
    print(f"lm: matrix multiply (float32, 2048 x 2048) at {rate:.0f} GFLOPS on {os.cpu_count()} CPUs")
    runs = [(base, False)] + [(params, True) for params in configs]  # the first: TensorFlow's own sampled softmax
    speeds = []
    for params, compiled in runs:
        tokens_per_s = lm_tokens_per_s(corpus.train, vocab_size, params, compiled, args.lm_steps)
        speeds.append(tokens_per_s)
        flops = language_model.flops_per_token(params, vocab_size) * tokens_per_s / 1e9
        loss = "XLA-compiled sampled softmax" if compiled else "tf.nn.sampled_softmax_loss"
        print(
            f"lm: {params.cell}({params.units}) x {params.layers}, embedding {params.embedding_dim}, batch "
            f"{params.batch_size} x {params.window}, sampled {params.sampled} ({loss}): {tokens_per_s:,.0f} tokens/s "
            f"(both directions), {language_model.flops_per_token(params, vocab_size) / 1e6:.2f} MFLOP/token, {flops:.0f} GFLOPS = "
            f"{flops / rate:.0%} of the matrix-multiply rate; one epoch of {len(corpus.train):,} tokens "
            f"{len(corpus.train) / tokens_per_s / 60:.1f} min"
        )
    print(f"lm: the compiled sampled softmax trains the params.yaml model {speeds[1] / speeds[0]:.2f}x as fast")
    print(f"lm: matrix multiply again at {matmul_gflops():.0f} GFLOPS (the spread says how noisy the machine was)")


CLASSIFIER_CHILD = """
import json, sys, time
import numpy as np, keras
from stages import paths
from stages.nn import adversarial
from stages.io.arrays import load_split
from stages.nn.batching import ReviewBatches, chop, with_unlabeled
from stages.nn.model import build_model
from stages.params import Model
from stages.text import read_vocabulary
from stages.train import make_optimizer, precision_policy
config, samples, epochs = json.loads(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
train = load_split(paths.split_arrays("train"))
keep = np.random.default_rng(0).permutation(len(train.y))[:samples]
x, y, lengths = train.x[keep], train.y[keep], train.length[keep]
if config["chop"]:
    x, y, lengths = chop(x, y, lengths, config["chop"], "post")
with precision_policy(config["precision"]):
    keras.utils.set_random_seed(1)
    vocab_size = max(config["vocab"], len(read_vocabulary(paths.VOCAB)))  # a larger table: Adam updates every row
    shape = Model(cell="gru", units=config["units"], embedding_dim=config["dim"], bidirectional=True, dropout=0.3,
                  embedding_dropout=0.3, pooling="max", embedding_trainable=config["trainable"], init="random")
    net = build_model(vocab_size, shape, seed=1)
    net.compile(optimizer=make_optimizer("adam", 0.002, 1.0), loss="binary_crossentropy", metrics=["accuracy"])
    if config["adversarial"] != "none":
        adversarial.enable(net, 0.02, 1.0, mode=config["adversarial"])
    batches = ReviewBatches(x, y, lengths, config["batch"], "post", True, 1)
    data = batches.dataset(0, epochs + 1)
    if adversarial.needs_unlabeled(config["adversarial"]):  # unlabeled reviews of the same lengths: the training ones
        data = with_unlabeled(data, ReviewBatches(x, y, lengths, config["batch"], "post", True, 2).dataset(0, epochs + 1))
    ends = []
    timer = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: ends.append(time.perf_counter()))
    net.fit(data, steps_per_epoch=len(batches), epochs=epochs + 1, verbose=0, callbacks=[timer])
print("RESULT", json.dumps({"reviews_per_s": samples * epochs / (ends[-1] - ends[0])}))
"""

# the default member (params.yaml): BiGRU(64), 100-d embedding, float32, trained embedding, AT, batch 64
CLASSIFIER_REFERENCE = {
    "units": 64,
    "dim": 100,
    "precision": "float32",
    "onednn_bf16": False,
    "trainable": True,
    "adversarial": "at",
    "batch": 64,
    "chop": 0,
    "vocab": 0,
}
CLASSIFIER_CHANGES = {
    "mixed_bfloat16": {"precision": "mixed_bfloat16"},
    "oneDNN bf16 math": {"onednn_bf16": True},
    "frozen embedding": {"trainable": False},
    "no adversarial": {"adversarial": "none"},
    "vat": {"adversarial": "vat"},
    "at_vat": {"adversarial": "at_vat"},
    "chop 50": {"chop": 50},
    "batch 128": {"batch": 128},
    "batch 256": {"batch": 256},
    "units 32": {"units": 32},
    "units 128": {"units": 128},
    "embedding 300": {"dim": 300},
    "vocabulary 50000": {"vocab": 50000},
}


def start_classifier(config: dict, samples: int, epochs: int, cpu: int | None = None) -> subprocess.Popen:
    """One classifier setting training in a fresh process (oneDNN's math mode is read at start); with ``cpu``,
    single-threaded and pinned to that core."""
    import json

    env = os.environ | ({"TF_SET_ONEDNN_FPMATH_MODE": "BF16"} if config["onednn_bf16"] else {})
    if cpu is not None:
        env |= {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-c", CLASSIFIER_CHILD, json.dumps(config), str(samples), str(epochs)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=None if cpu is None else (lambda: os.sched_setaffinity(0, {cpu})),
    )


def reviews_per_s(child: subprocess.Popen, config: dict) -> float:
    """The training reviews/s a ``start_classifier`` child printed."""
    import json

    out, err = child.communicate()
    lines = [line for line in out.splitlines() if line.startswith("RESULT ")]
    if child.returncode or not lines:
        raise SystemExit(f"classifier benchmark child failed for {config}:\n{err[-2000:]}")
    return json.loads(lines[-1].removeprefix("RESULT "))["reviews_per_s"]


def classifier_speed(config: dict, samples: int, epochs: int) -> float:
    """Training reviews/s of one classifier setting, in a fresh process on every core."""
    return reviews_per_s(start_classifier(config, samples, epochs), config)


def bench_members(args: argparse.Namespace) -> None:
    """Ensemble members side by side: one process on every core against one single-threaded process per core,
    the same member (params.yaml's batch) in each; the ratio is the pair's total reviews/s over the one process's."""
    cpus = sorted(os.sched_getaffinity(0))
    samples, epochs = min(args.train_samples, 2048), args.rounds
    config = CLASSIFIER_REFERENCE | {"batch": load_sections("train", paths.PARAMS)["train"]["batch_size"]}
    print(
        f"members: one process on {len(cpus)} cores against {len(cpus)} single-core processes side by side, "
        f"{samples} training reviews, 1 untimed epoch then {epochs} timed"
    )
    for round_ in range(args.classifier_rounds):
        one = classifier_speed(config, samples, epochs)
        children = [start_classifier(config, samples, epochs, cpu) for cpu in cpus]
        side = [reviews_per_s(child, config) for child in children]
        print(
            f"round {round_ + 1}: one process {one:.1f} reviews/s; side by side "
            f"{' + '.join(f'{v:.1f}' for v in side)} = {sum(side):.1f}; ratio {sum(side) / one:.2f}x",
            flush=True,
        )


def bench_classifier(args: argparse.Namespace) -> None:
    """The word-vector classifier's training speed for each precision, adversarial and batch setting, side by side.

    Each setting changes one thing of the reference (the default member: bidirectional GRU(64),
    embedding 100, float32, trainable embedding, adversarial training, batch 64) and runs in its own process right after the reference, round
    by round, on the same training reviews (length-bucketed, as the stage batches them); the
    ratio is the median over rounds of setting/reference.
    """
    samples, epochs = min(args.train_samples, 2048), args.rounds
    print(
        f"classifier: the default member and one change at a time, {samples} training reviews, 1 untimed epoch then {epochs} "
        "timed; reviews/s and the ratio to the reference in the same round (median of rounds)"
    )
    print(f"{'units':>6}  {'setting':<20}{'reviews/s':>11}{'reference/s':>13}{'ratio':>8}")
    for units in args.classifier_units:
        reference = CLASSIFIER_REFERENCE | {"units": units}
        rounds = []
        for _ in range(args.classifier_rounds):  # the reference, then every setting, in turn
            base = classifier_speed(reference, samples, epochs)
            rounds.append(
                {
                    name: (classifier_speed(reference | CLASSIFIER_CHANGES[name], samples, epochs), base)
                    for name in args.classifier_settings
                }
            )
        for name in args.classifier_settings:
            pairs = [found[name] for found in rounds]
            ratios = sorted(a / b for a, b in pairs)
            speed, base = np.median([a for a, _ in pairs]), np.median([b for _, b in pairs])
            print(f"{units:>6}  {name:<20}{speed:>11.1f}{base:>13.1f}{ratios[len(ratios) // 2]:>7.2f}x", flush=True)


def rerun_generate(model, vocabulary, prompt: str, words: int, seed: int = 0) -> None:
    """The generator before the step model: the whole text through the model again for every new word."""
    from stages.commands.generate import sample
    from stages.text import token_index, tokenize

    index = token_index(vocabulary)
    ids = [index.get(token, 1) for token in tokenize(prompt)]
    rng = np.random.default_rng(seed)
    for _ in range(words):
        logits = np.asarray(model(np.array([ids], dtype=np.int32), training=False))[0, -1].astype(np.float64)
        ids.append(sample(logits, 0.8, 40, rng))


def bench_generate(args: argparse.Namespace) -> None:
    """``stages generate``: words per second of the step model and of re-running the model, and a long prompt."""
    from stages.commands.generate import generate, load_language_model
    from stages.text import read_vocabulary

    model = load_language_model(paths.FORWARD_LM)
    vocabulary = read_vocabulary(paths.VOCAB)
    for words in args.generate_words:
        began = time.perf_counter()
        generate(model, vocabulary, "this movie was", words, 0.8, 40, 0)
        stepped = time.perf_counter() - began
        rerun_words = min(words, args.generate_rerun_words)
        began = time.perf_counter()
        rerun_generate(model, vocabulary, "this movie was", rerun_words)
        rerun = time.perf_counter() - began
        print(
            f"generate --words {words}: {words / stepped:,.1f} words/s stepping the state; re-running the model "
            f"over the whole text (the generator before): {rerun_words / rerun:,.1f} words/s over its first "
            f"{rerun_words} words",
            flush=True,
        )
    prompt = " ".join(["the movie was long and the acting was fine"] * (args.generate_prompt_words // 9))
    began = time.perf_counter()
    generate(model, vocabulary, prompt, 10, 0.8, 40, 0)
    print(f"generate with a {len(prompt.split()):,}-word prompt and --words 10: {time.perf_counter() - began:.1f} s")


STARTUP_PROBE = """
import gc, sys, time
gc.set_threshold(int(sys.argv[1]))
spent, count, started = 0.0, 0, 0.0
def timer(phase, info):
    global spent, count, started
    if phase == "start":
        started = time.perf_counter()
    else:
        spent, count = spent + time.perf_counter() - started, count + 1
gc.callbacks.append(timer)
began = time.perf_counter()
import keras, numpy as np
keras.utils.set_random_seed(0)
net = keras.Sequential([keras.Input((64,), dtype="int32"), keras.layers.Embedding(2000, 16), keras.layers.GRU(8),
                        keras.layers.Dense(1, activation="sigmoid")])
net.compile(optimizer="adam", loss="binary_crossentropy")
x = np.random.default_rng(0).integers(1, 2000, (512, 64))
net.fit(x, x[:, 0] % 2, epochs=1, batch_size=64, verbose=0)
print(time.perf_counter() - began, spent, count)
"""


ML_DTYPES_PROBE = """
import time, numpy
began = time.perf_counter()
import ml_dtypes
print(ml_dtypes.__version__, time.perf_counter() - began)
"""


def probe(code: str, *args: str) -> list[str]:
    """Run ``code`` in a fresh Python process; the words it prints."""
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"error: the startup probe failed: {done.stderr.strip().splitlines()[-1]}")
    return done.stdout.split()


def bench_startup(args: argparse.Namespace) -> None:
    """A fresh process's import of Keras and a tiny fit, at the default collector threshold and at `stages`'s;
    then the import of ml_dtypes alone."""
    from stages.cli import GC_THRESHOLD

    default = gc.get_threshold()[0]  # Python's: this script does not change it
    thresholds = (default, GC_THRESHOLD)
    runs: dict[int, list[list[float]]] = {t: [] for t in thresholds}
    for _ in range(args.rounds):
        for threshold in thresholds:  # in turn, so that both see the same machine
            runs[threshold].append([float(v) for v in probe(STARTUP_PROBE, str(threshold))])
    print(f"startup: import keras + a tiny GRU fit in a fresh process, {args.rounds} rounds in turn, medians")
    print(f"{'threshold':>10}{'wall s':>9}{'collector s':>13}{'collections':>13}")
    medians = {t: np.median(np.array(rows), axis=0) for t, rows in runs.items()}
    for threshold, (wall, spent, count) in medians.items():
        print(f"{threshold:>10}{wall:>9.2f}{spent:>13.2f}{count:>13.0f}")
    print(f"wall ratio {medians[default][0] / medians[GC_THRESHOLD][0]:.2f}x (default / stages)")
    imports = [probe(ML_DTYPES_PROBE) for _ in range(args.rounds)]
    seconds = np.median([float(took) for _, took in imports])
    print(f"ml_dtypes {imports[0][0]} (TensorFlow's numpy dtypes; pyproject.toml): {seconds:.2f} s to import, median")


SECTIONS = {
    "prepare": bench_prepare,
    "training": bench_training,
    "xla": bench_xla,
    "predict": bench_predict,
    "memory": bench_memory,
    "lm": bench_lm,
    "members": bench_members,
    "classifier": bench_classifier,
    "generate": bench_generate,
    "startup": bench_startup,
}


def main() -> None:
    """Parse arguments and run the chosen sections."""
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated sections: {', '.join(SECTIONS)}")
    parser.add_argument("--repeats", type=int, default=3, help="prepare runs")
    parser.add_argument("--train-samples", type=int, default=20_000, help="training reviews per run (training, xla)")
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="timed epochs per model after the untimed first (training, xla); startup runs",
    )
    parser.add_argument("--max-lens", default=",".join(map(str, MAX_LENS)), help="comma-separated max_len values")
    parser.add_argument(
        "--variants", default="simple_rnn,lstm,gru,bi-lstm", help="comma-separated: simple_rnn, lstm, gru, bi-CELL"
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--lm-steps", type=int, default=30, help="timed training steps per language model (lm)")
    parser.add_argument(
        "--lm-configs",
        default="gru:256:128,lstm:256:128:512,lstm:512:128",
        help="extra language models as CELL:UNITS:EMBEDDING[:BATCH] (lm)",
    )
    parser.add_argument("--generate-words", default="100,1000", help="comma-separated --words values (generate)")
    parser.add_argument("--generate-rerun-words", type=int, default=200, help="words timed re-running (generate)")
    parser.add_argument("--generate-prompt-words", type=int, default=12_500, help="long prompt length (generate)")
    parser.add_argument(
        "--classifier-units", default="64", help="comma-separated GRU sizes of the reference (classifier)"
    )
    parser.add_argument(
        "--classifier-settings", default=",".join(CLASSIFIER_CHANGES), help="comma-separated settings (classifier)"
    )
    parser.add_argument("--classifier-rounds", type=int, default=2, help="rounds per setting (classifier)")
    args = parser.parse_args()
    args.classifier_units = [int(v) for v in args.classifier_units.split(",")]
    args.classifier_settings = args.classifier_settings.split(",")
    unknown = [name for name in args.classifier_settings if name not in CLASSIFIER_CHANGES]
    if unknown:
        sys.exit(f"error: unknown classifier settings {unknown}, expected some of {', '.join(CLASSIFIER_CHANGES)}")
    args.generate_words = [int(v) for v in args.generate_words.split(",")]
    args.max_lens = [int(v) for v in args.max_lens.split(",")]
    args.variants = [(v.removeprefix("bi-"), v.startswith("bi-")) for v in args.variants.split(",")]
    if args.train_samples < 2 * BATCH_SIZE:
        sys.exit(
            f"error: --train-samples {args.train_samples} is too small, expected at least {2 * BATCH_SIZE} (two batches)"
        )
    if args.rounds < 1:
        sys.exit(f"error: --rounds {args.rounds} is not allowed, expected 1 or more")
    if set(args.only.split(",")) - {"startup"} and not paths.REVIEWS_TABLE.is_file():
        sys.exit(f"error: {paths.REVIEWS_TABLE} not found: run `dvc repro download` first")
    for name in args.only.split(","):
        if name not in SECTIONS:
            sys.exit(f"error: unknown section {name!r}, expected one of {', '.join(SECTIONS)}")
        SECTIONS[name](args)


if __name__ == "__main__":
    main()
