"""Command ``compare``: every cell variant over several seeds, as DVC experiments, with error bars.

The steps, top-down (:func:`run`):

1. **Check** the grid before anything runs: the DVC queue holds no leftovers of an earlier run
   (failed or still queued experiments), and the estimated time fits the budget unless ``--yes``.
2. **Queue** one ``dvc exp run --queue`` per run (variant x seed), named ``PREFIX-VARIANT-sSEED``
   (``cmp-bigru-s42``), each with ``-S`` for its cell, direction, initialisation and ``train.seed``
   on top of the grid's settings, targeting ``blend`` (train, evaluate, blend; the shared stages
   are skipped as unchanged unless a setting changes their params: then they run in every
   experiment, which step 1 warns about). Then run the queue with one worker.
3. **Collect** every run through DVC's own API (``dvc.api.exp_show`` for names and revisions,
   ``dvc.api.read``/``open`` for each one's reports and test predictions); a run that failed is
   a row with its log's last line, and the others still count.
4. **Summarise** per variant: mean and standard deviation over seeds, a bootstrap interval over
   test reviews and a paired bootstrap test against the best variant (``statistics.py``); the
   best is the one with the highest mean *validation* accuracy, so the test split makes no choice.
5. **Write** ``variants.md``/``variants.csv``, ``accuracy.png`` (error bars, baseline line),
   ``val_curves.png`` (mean over seeds with a band) and ``run.json`` (machine, wall time).
"""

from __future__ import annotations

import io
import json
import logging
import os
import platform
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from stages import paths
from stages.commands import statistics
from stages.errors import PipelineError
from stages.io.atomic import write_text
from stages.io.dvc_cli import dvc
from stages.io.params_file import dvc_params
from stages.params import GATES

log = logging.getLogger(__name__)

# The default grid's settings on top of params.yaml: each run is one member of the headline
# classifier (no ensemble), so that 6 variants x 3 seeds fit about an hour on two cores.
BUDGET_SETTINGS = ("train.ensemble=1",)
PASSES = {"none": 1, "at": 2, "at_matrix": 2, "vat": 2, "at_vat": 3}  # forward-backward passes per batch
OVERHEAD_S = 40  # per run: DVC's start and checkout, evaluating, blending (a rough allowance)
LEVEL = 0.95
RESAMPLES = 10_000
INIT_TAGS = {"random": "", "word_vectors": "wv", "lm_embedding": "lmemb", "lm": "lm"}  # model.init in names
TARGET = "blend"  # what each experiment reproduces: train, evaluate and blend (figures and export are skipped)
SHARED = ("download", "prepare", "lm", "embeddings", "baseline")  # before train: the same for every run of a grid


@dataclass(frozen=True)
class Run:
    """One experiment of the grid: a variant (cell, direction, initialisation) and a seed."""

    cell: str
    bidirectional: bool
    init: str
    seed: int

    @property
    def variant(self) -> str:
        """``bigru`` (random weights), ``simplernn-wv`` (word vectors), ``bilstm-lmemb``, ``gru-lm`` ..."""
        suffix = f"-{INIT_TAGS[self.init]}" if INIT_TAGS[self.init] else ""
        return f"{'bi' if self.bidirectional else ''}{self.cell.replace('_', '')}{suffix}"

    def name(self, prefix: str) -> str:
        return f"{prefix}-{self.variant}-s{self.seed}"

    def settings(self) -> list[str]:
        """Its ``-S`` overrides; ``model.init=lm`` also needs language models of its own cell."""
        own = [
            f"model.cell={self.cell}",
            f"model.bidirectional={str(self.bidirectional).lower()}",
            f"model.init={self.init}",
            f"train.seed={self.seed}",
        ]
        return own + ([f"lm.cell={self.cell}"] if self.init == "lm" else [])


def grid(cells: list[str], bidirectional: str, inits: Iterable[str], seeds: list[int]) -> list[Run]:
    """Every run, variant by variant (seeds innermost); ``bidirectional`` is ``both``, ``true`` or ``false``."""
    flags = {"both": [False, True], "true": [True], "false": [False]}[bidirectional]
    return [Run(cell, flag, init, seed) for init in inits for cell in cells for flag in flags for seed in seeds]


def is_ours(name: str | None, prefix: str) -> bool:
    """Whether an experiment was queued by ``stages compare --prefix PREFIX`` (``PREFIX-bigru-s42``)."""
    return bool(name) and re.fullmatch(rf"{re.escape(prefix)}-[a-z]+(-[a-z]+)?-s\d+", name) is not None


# --- 1. check -------------------------------------------------------------------------------------


def queue_tasks() -> list[dict]:
    """The DVC queue's tasks as ``dvc queue status`` lists them: ``{"name", "status", ...}``."""
    from dvc.repo import Repo

    with Repo() as repo:
        return list(repo.experiments.celery_queue.status())


def check_queue(tasks: list[dict]) -> None:
    """Refuse to start while the queue holds experiments of an earlier run, saying how to clear them."""
    for status, remedy in (("Failed", "--failed"), ("Queued", "--queued"), ("Running", None)):
        names = [task.get("name") or task.get("rev", "?")[:7] for task in tasks if task.get("status") == status]
        if not names:
            continue
        shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
        if remedy is None:
            raise PipelineError(
                f"the DVC queue is running experiments ({shown}): wait for them or `dvc queue kill` them"
            )
        raise PipelineError(
            f"the DVC queue holds {len(names)} {status.lower()} experiment(s) from an earlier run ({shown}): "
            f"read one with `dvc queue logs {names[0]}`, clear them with `dvc queue remove {remedy}`, then run again"
        )


def apply_settings(params: dict, settings: Iterable[str]) -> dict:
    """``params`` with ``KEY=VALUE`` overrides applied, values read as YAML (as ``dvc exp run -S`` does)."""
    out = {section: dict(values) if isinstance(values, dict) else values for section, values in params.items()}
    for setting in settings:
        key, _, value = setting.partition("=")
        section, _, name = key.partition(".")
        out.setdefault(section, {})[name] = yaml.safe_load(value)
    return out


def recurrent_cost(params: dict) -> float:
    """Multiply-adds per token of the recurrent layers, times the forward-backward passes per batch."""
    model, train = params["model"], params["train"]
    directions = 2 if model["bidirectional"] else 1
    inputs = [model["embedding_dim"]] + [model["units"] * directions] * (model["layers"] - 1)
    per_token = sum(GATES[model["cell"]] * directions * model["units"] * (size + model["units"]) for size in inputs)
    return per_token * PASSES[train["adversarial"]]


def estimate_s(runs: list[Run], params: dict, settings: list[str], measured_rate: float, train_reviews: int) -> float:
    """Seconds the grid should take: each run's epochs at a rate scaled from the headline's measured
    reviews per second by recurrent cost (a guess that flatters the small cells), plus an allowance."""
    reference = recurrent_cost(params)
    total = 0.0
    for one in runs:
        mine = apply_settings(params, [*settings, *one.settings()])
        rate = measured_rate * reference / recurrent_cost(mine)
        total += mine["train"]["epochs"] * train_reviews / rate + OVERHEAD_S
    return total


def shared_changes(runs: list[Run], params: dict, settings: list[str]) -> dict[str, list[str]]:
    """The ``SHARED`` stages whose params the grid changes, with the keys.

    DVC keeps no run cache for our stages (their reports are ``cache: false`` outputs kept in git), so
    such a stage runs again in every experiment instead of once."""
    changed: dict[str, set[str]] = {}
    for one in runs:
        mine = apply_settings(params, [*settings, *one.settings()])
        for stage in SHARED:
            for name in dvc_params(stage):
                section, key = name.split(".")
                if mine.get(section, {}).get(key) != params.get(section, {}).get(key):
                    changed.setdefault(stage, set()).add(name)
    return {stage: sorted(keys) for stage, keys in changed.items()}


def check_budget(estimate: float, budget_minutes: float, yes: bool) -> None:
    if estimate > budget_minutes * 60 and not yes:
        raise PipelineError(
            f"the grid would take about {estimate / 60:.0f} minutes, over the {budget_minutes:g}-minute budget: "
            "pass --yes to run it anyway, or fewer --cell/--seeds, or a larger --budget-minutes"
        )


# --- 2. queue and run -----------------------------------------------------------------------------


def experiment_rows() -> list[dict]:
    """Every experiment's row of ``dvc.api.exp_show``: name, revision, params and metrics."""
    import dvc.api

    return [row for row in dvc.api.exp_show() if row.get("Experiment")]


def run_grid(runs: list[Run], settings: list[str], prefix: str) -> None:
    """Queue every run (replacing earlier experiments of this prefix) and run the queue with one worker."""
    stale = [row["Experiment"] for row in experiment_rows() if is_ours(row.get("Experiment"), prefix)]
    if stale:
        dvc("exp", "remove", *stale)
    for one in runs:
        overrides = [arg for setting in [*settings, *one.settings()] for arg in ("-S", setting)]
        dvc("exp", "run", "--queue", "-n", one.name(prefix), *overrides, TARGET, capture=True)
    log.info("running %d queued experiments with one worker", len(runs))
    try:
        dvc("exp", "run", "--run-all", "-j", "1")
    except PipelineError as exc:  # some runs failed: they become rows marked failed
        log.warning("%s; the failed runs are marked in the table", exc)


# --- 3. collect -----------------------------------------------------------------------------------


def _read(path: Path, revision: str) -> str:
    import dvc.api

    return dvc.api.read(path.as_posix(), rev=revision)


def epochs_to_best(train: dict) -> float:
    """The epoch of the lowest validation loss (the mean over an ensemble's members)."""
    members = train.get("members")
    return float(np.mean([m["best_epoch"] for m in members.values()])) if members else float(train["best_epoch"])


def read_run(revision: str, labels: np.ndarray, threshold: float) -> dict:
    """One finished run's figures, history and per-review correctness on the test split."""
    import dvc.api

    test = json.loads(_read(paths.METRICS, revision))["test"]
    train = json.loads(_read(paths.TRAIN_METRICS, revision))["train"]
    history = pd.read_csv(io.StringIO(_read(paths.HISTORY, revision)), sep="\t")
    with dvc.api.open(paths.RNN_PREDICTIONS.as_posix(), rev=revision, mode="rb") as file:
        probabilities = np.load(io.BytesIO(file.read()))["test"]
    return {
        "test_accuracy": test["accuracy"],
        "test_f1": test["f1"],
        "test_roc_auc": test["roc_auc"],
        "val_accuracy": train["best_val_accuracy"],
        "val_loss": train["best_val_loss"],
        "epoch_time_s": train["wall_time_s"] / max(1, int(train["epochs_run"])),
        "reviews_per_s": train["samples_per_s"],
        "epochs_to_best": epochs_to_best(train),
        "params": int(train["params"]),
        "history": history,
        "correct": (probabilities > threshold).astype(np.int8) == labels,
    }


def failure(name: str, tasks: list[dict]) -> str:
    """Why a run of the grid has no experiment: its log's last line, or that it never ran."""
    if not any(task.get("name") == name and task.get("status") == "Failed" for task in tasks):
        return "not found: it never ran (run `stages compare` without --no-run)"
    try:
        lines = [line for line in dvc("queue", "logs", name, capture=True).splitlines() if line.strip()]
    except PipelineError:
        lines = []
    return f"failed: {lines[-1].strip() if lines else 'no log'} (`dvc queue logs {name}`)"


def experiment_commits(since: float = 0.0) -> dict[str, str]:
    """Experiment name -> commit, newest first, over every baseline (DVC keeps experiments as git refs
    ``refs/exps/..../NAME``); ``since`` (unix time) leaves out older ones, e.g. an earlier grid's."""
    import subprocess

    listing = subprocess.run(
        [
            "git",
            "for-each-ref",
            "--sort=-committerdate",
            "refs/exps",
            "--format=%(refname:lstrip=4) %(objectname) %(committerdate:unix)",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found: dict[str, str] = {}
    for line in listing.splitlines():
        name, commit, when = line.rsplit(" ", 2)
        if float(when) >= since:
            found.setdefault(name, commit)
    return found


def collect(runs: list[Run], prefix: str, labels: np.ndarray, threshold: float, since: float = 0.0) -> dict[Run, dict]:
    """Every run's figures (``read_run``), or ``{"failure": why}`` for a run without an experiment."""
    found = {name: commit for name, commit in experiment_commits(since).items() if is_ours(name, prefix)}
    tasks = queue_tasks() if any(one.name(prefix) not in found for one in runs) else []
    return {
        one: read_run(found[one.name(prefix)], labels, threshold)
        if one.name(prefix) in found
        else {"failure": failure(one.name(prefix), tasks)}
        for one in runs
    }


def baseline_reference(metrics: Path, predictions: Path, labels: np.ndarray, threshold: float) -> dict | None:
    """The ``baseline`` stage's row, with its per-review correctness (None when it has not run)."""
    if not metrics.is_file() or not predictions.is_file():
        return None
    result = json.loads(metrics.read_text(encoding="utf-8"))["baseline"]
    probabilities = np.load(predictions)["test"]
    return {
        "variant": "baseline",
        "label": result["model"],
        "test_accuracy": result["test"]["accuracy"],
        "test_f1": result["test"]["f1"],
        "test_roc_auc": result["test"]["roc_auc"],
        "val_accuracy": result["val"]["accuracy"],
        "params": result["features"],
        "train_time_s": result["train_time_s"],
        "correct": (probabilities > threshold).astype(np.int8) == labels,
    }


# --- 4. summarise ---------------------------------------------------------------------------------

# The figures of a variant's row that are means over its seeds (test accuracy also gets its spread).
AVERAGED = ("test_f1", "test_roc_auc", "val_accuracy", "val_loss", "epoch_time_s", "reviews_per_s", "epochs_to_best")


def failures_text(members: list[tuple[Run, dict]]) -> str:
    """The failed seeds of a variant, grouped by reason: ``s42, s43: failed: ... (`dvc queue logs ...`)``."""
    reasons: dict[str, list[str]] = {}
    for one, result in members:
        if "failure" in result:
            reasons.setdefault(result["failure"], []).append(f"s{one.seed}")
    return "; ".join(f"{', '.join(seeds)} {reason}" for reason, seeds in reasons.items())


def summarise(results: dict[Run, dict], reference: dict | None, resamples: int = RESAMPLES) -> pd.DataFrame:
    """One row per variant (and the baseline): means over seeds, the interval, the paired test."""
    by_variant: dict[str, list[tuple[Run, dict]]] = {}
    for one, result in results.items():
        by_variant.setdefault(one.variant, []).append((one, result))
    rows, correct = [], {}
    for variant, members in by_variant.items():
        done = [result for _, result in members if "failure" not in result]
        first = members[0][0]
        row = {
            "variant": variant,
            "cell": first.cell,
            "bidirectional": first.bidirectional,
            "init": first.init,
            "seeds": len(done),
            "failed": len(members) - len(done),
            "failures": failures_text(members),
        }
        if done:
            accuracy = np.array([result["test_accuracy"] for result in done])
            row |= {
                "test_accuracy": accuracy.mean(),
                "test_accuracy_std": accuracy.std(ddof=1) if len(done) > 1 else np.nan,
                **{key: float(np.mean([result[key] for result in done])) for key in AVERAGED},
                "params": done[0]["params"],
            }
            correct[variant] = np.stack([result["correct"] for result in done])
        rows.append(row)
    if reference is not None:
        rows.append(
            {key: value for key, value in reference.items() if key not in ("correct", "label", "train_time_s")}
            | {
                "cell": None,
                "bidirectional": None,
                "init": reference["label"],
                "seeds": 1,
                "failed": 0,
                "failures": "",
                "test_accuracy_std": np.nan,
            }
        )
        correct["baseline"] = reference["correct"][None, :]
    table = pd.DataFrame(rows)
    return table if not correct else significance(table, correct, resamples)


def significance(table: pd.DataFrame, correct: dict[str, np.ndarray], resamples: int) -> pd.DataFrame:
    """Add the interval and, against the best variant by validation accuracy, the paired test."""
    samples = statistics.resampled_accuracies(correct, resamples)
    recurrent = table[(table["variant"] != "baseline") & table["variant"].isin(list(correct))]
    best = recurrent.loc[recurrent["val_accuracy"].idxmax(), "variant"] if len(recurrent) else None
    table = table.copy()
    for name in ("ci_low", "ci_high", "diff_vs_best", "p_value", "p_holm"):
        table[name] = np.nan
    table["best"] = table["variant"] == best
    p_values = {}
    for index, variant in table["variant"].items():
        if variant not in samples:
            continue
        table.loc[index, ["ci_low", "ci_high"]] = statistics.interval(samples[variant], LEVEL)
        if best is not None and variant != best:
            table.loc[index, "diff_vs_best"] = (
                table.loc[index, "test_accuracy"] - table.loc[table["best"], "test_accuracy"].item()
            )
            p_values[variant] = statistics.paired_p_value(samples[variant] - samples[best])
    for variant, adjusted in statistics.holm(p_values).items():
        table.loc[table["variant"] == variant, ["p_value", "p_holm"]] = (p_values[variant], adjusted)
    table["significant"] = table["p_holm"] < 1 - LEVEL
    return table


# --- 5. write -------------------------------------------------------------------------------------


def machine() -> str:
    """This machine in words: CPU cores and model, and its GPUs (none here means CPU training)."""
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        names = [
            line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if line.startswith("model name")
        ]
        model = names[0] if names else model
    gpus = []
    if Path("/proc/driver/nvidia").exists():  # without the driver TensorFlow sees no GPU: skip its start-up
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
    return f"{os.cpu_count()} CPU cores ({model}), " + (f"{len(gpus)} GPU(s)" if gpus else "no GPU")


def _pm(mean: float, std: float) -> str:
    return f"{mean:.4f}" + ("" if pd.isna(std) else f" ± {std:.4f}")


def _versus(row) -> str:
    if row.best:
        return "best"
    if pd.isna(row.p_holm):
        return "—"
    mark = "**" if row.significant else ""
    return f"{mark}{row.diff_vs_best * 100:+.2f} pts (p {row.p_holm:.2g}){mark}"


def table_markdown(table: pd.DataFrame, settings: list[str], run_info: dict) -> str:
    """The comparison as Markdown: how it was made, then one row per variant."""
    ok = table[table["seeds"] > 0]
    best = table.loc[table["best"], "variant"].tolist() if "best" in table else []
    setting_text = ", ".join(f"`{s}`" for s in settings) if settings else "nothing else"
    lines = [
        "# Cell variants compared",
        "",
        f"Produced by `stages compare`: one DVC experiment per variant and seed ({run_info.get('runs', '?')} runs, "
        f"seeds {', '.join(map(str, run_info.get('seeds', ['?'])))}), params.yaml with {setting_text}. "
        f"Ran on {run_info.get('machine', 'an unrecorded machine')} in {run_info.get('wall_minutes', '?')} minutes "
        "(queueing, training, evaluating).",
        "",
        f"Test accuracy is the mean ± standard deviation over seeds. The {LEVEL:.0%} interval is a two-level "
        f"bootstrap of the seed-mean accuracy ({RESAMPLES:,} resamples): the test reviews drawn with replacement "
        "(one draw shared by every variant) and each variant's seeds drawn with replacement, so it holds the test "
        "set's sampling error and the seed-to-seed spread. *vs best* is the difference from the variant with the "
        f"best mean validation accuracy{f' (**{best[0]}**)' if best else ''}, with the p-value of the same paired "
        f"bootstrap, Holm-adjusted over the comparisons (the smallest it can show is {2 / (RESAMPLES + 1):.2g} "
        "before adjustment); bold = significant at the 5% level. Speed is training only (fit and validation per "
        "epoch).",
        "",
        "| variant | seeds | test accuracy | 95% interval | F1 | ROC AUC | val accuracy | vs best | params "
        "| s/epoch | reviews/s | epochs to best |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in table.itertuples():
        if row.seeds == 0:
            lines.append(f"| {row.variant} | 0 | failed | {row.failures} |  |  |  |  |  |  |  |  |")
            continue
        seeds = f"{row.seeds}" + (f" ({row.failed} failed)" if row.failed else "")
        speed = (
            ("—", "—", "—")
            if row.variant == "baseline"
            else (f"{row.epoch_time_s:.0f}", f"{row.reviews_per_s:.0f}", f"{row.epochs_to_best:.1f}")
        )
        lines.append(
            f"| {row.variant} | {seeds} | {_pm(row.test_accuracy, row.test_accuracy_std)} "
            f"| {row.ci_low:.4f}–{row.ci_high:.4f} | {row.test_f1:.4f} | {row.test_roc_auc:.4f} | {row.val_accuracy:.4f} "
            f"| {_versus(row)} | {int(row.params):,} | {speed[0]} | {speed[1]} | {speed[2]} |"
        )
    failures = ok[ok["failed"] > 0]
    if len(failures):
        lines += ["", "Failed runs: " + "; ".join(f"{row.variant} {row.failures}" for row in failures.itertuples())]
    if "baseline" in set(table["variant"]):
        label = table.loc[table["variant"] == "baseline", "init"].item()
        lines += ["", f"The baseline row is the `baseline` stage ({label}; params = n-gram features), one fit."]
    return "\n".join(lines) + "\n"


def accuracy_figure(table: pd.DataFrame, results: dict[Run, dict], target: Path, dpi: int = 100) -> None:
    """Test accuracy per variant: each seed a dot, the mean with its standard deviation, the baseline a line."""
    from stages.plot import plt, save

    recurrent = table[(table["variant"] != "baseline") & (table["seeds"] > 0)].reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for position, row in recurrent.iterrows():
        seeds = [r["test_accuracy"] for one, r in results.items() if one.variant == row.variant and "failure" not in r]
        ax.plot([position] * len(seeds), seeds, "o", color="lightgrey", zorder=1)
        ax.errorbar(
            position,
            row.test_accuracy,
            yerr=0 if pd.isna(row.test_accuracy_std) else row.test_accuracy_std,
            fmt="o",
            color="C0",
            capsize=6,
            zorder=2,
        )
    baseline = table[table["variant"] == "baseline"]
    if len(baseline):
        ax.axhline(baseline["test_accuracy"].item(), color="grey", linestyle="--", label="baseline (n-gram LR)")
        ax.legend(loc="lower right")
    ax.set_xticks(range(len(recurrent)), recurrent["variant"])
    ax.set(title="Test accuracy per variant (mean ± std over seeds; dots: seeds)", ylabel="test accuracy")
    ax.grid(alpha=0.3, axis="y")
    save(fig, target, dpi)


def curves_figure(results: dict[Run, dict], target: Path, dpi: int = 100) -> None:
    """Validation loss and accuracy per epoch: each variant's mean over seeds, with a ±1 std band."""
    from stages.plot import plt, save

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    variants: dict[str, list[pd.DataFrame]] = {}
    for one, result in results.items():
        if "failure" not in result:
            variants.setdefault(one.variant, []).append(result["history"])
    for index, (variant, histories) in enumerate(variants.items()):
        frame = pd.concat(histories)
        for ax, column in zip(axes, ("val_loss", "val_accuracy"), strict=True):
            stats = frame.groupby("epoch")[column].agg(["mean", "std"]).fillna({"std": 0.0})
            ax.plot(stats.index, stats["mean"], "o-", color=f"C{index}", label=variant)
            ax.fill_between(
                stats.index, stats["mean"] - stats["std"], stats["mean"] + stats["std"], color=f"C{index}", alpha=0.2
            )
    for ax, label in zip(axes, ("validation loss", "validation accuracy"), strict=True):
        ax.set(title=f"{label.capitalize()} per epoch (mean ± std over seeds)", xlabel="epoch", ylabel=label)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
    if variants:
        axes[1].legend(fontsize="small")
    save(fig, target, dpi)


def write(table: pd.DataFrame, results: dict[Run, dict], settings: list[str], run_info: dict, out_dir: Path) -> None:
    """The table (Markdown and CSV) and the two figures; ``run.json`` was written when the grid ran."""
    columns = [c for c in table.columns if c != "correct"]
    write_text(out_dir / "variants.csv", table[columns].to_csv(index=False, lineterminator="\n", float_format="%.6g"))
    write_text(out_dir / "variants.md", table_markdown(table, settings, run_info))
    accuracy_figure(table, results, out_dir / FIGURES[0][1])
    curves_figure(results, out_dir / FIGURES[1][1])
    log.info("wrote %s", ", ".join(str(out_dir / n) for n in OUTPUTS))


# The figures, (title, file name): also shown by `stages report` and `stages results`.
FIGURES = (("Test accuracy per variant", "accuracy.png"), ("Validation curves per variant", "val_curves.png"))
OUTPUTS = ("variants.md", "variants.csv", *(name for _, name in FIGURES))


# --- the command ----------------------------------------------------------------------------------


def run(
    runs: list[Run],
    settings: list[str],
    prefix: str,
    out_dir: Path,
    train: bool = True,
    budget_minutes: float = 90,
    yes: bool = False,
) -> pd.DataFrame:
    """The whole command: check, queue and run the grid (unless ``train`` is False), collect, summarise, write."""
    params = yaml.safe_load(paths.PARAMS.read_text(encoding="utf-8"))
    run_info = json.loads((out_dir / "run.json").read_text()) if (out_dir / "run.json").is_file() else {}
    if train:
        estimate = check(runs, params, settings, budget_minutes, yes)
        started = time.time()
        run_grid(runs, settings, prefix)
        run_info = {
            "machine": machine(),
            "runs": len(runs),
            "seeds": sorted({one.seed for one in runs}),
            "settings": settings,
            "started": round(started),
            "wall_minutes": round((time.time() - started) / 60),
            "estimated_minutes": round(estimate / 60),
        }
        write_text(out_dir / "run.json", json.dumps(run_info, indent=2) + "\n")
    labels, threshold = read_test_labels(), params["evaluate"]["threshold"]
    results = collect(runs, prefix, labels, threshold, since=run_info.get("started", 0))
    reference = baseline_reference(paths.BASELINE_METRICS, paths.BASELINE_PREDICTIONS, labels, threshold)
    table = summarise(results, reference)
    write(table, results, settings, run_info, out_dir)
    return table


def check(runs: list[Run], params: dict, settings: list[str], budget_minutes: float, yes: bool) -> float:
    """Step 1: no leftovers in the queue, a warning for each shared stage the settings change (it would run in
    every experiment), and an estimate within the budget; returns the estimate in seconds."""
    check_queue(queue_tasks())
    headline, stats = (_committed(path) for path in (paths.TRAIN_METRICS, paths.PREPARE_STATS))
    estimate = estimate_s(
        runs, params, settings, headline["train"]["samples_per_s"], stats["splits"]["train"]["reviews"]
    )
    for stage, keys in shared_changes(runs, params, settings).items():
        log.warning(
            "%s changes stage '%s', which then runs again in each of the %d experiments (not counted in the "
            "estimate): to run it once, set it in params.yaml, `dvc repro` and commit before the grid",
            ", ".join(keys),
            stage,
            len(runs),
        )
    check_budget(estimate, budget_minutes, yes)
    log.info("%d runs, estimated %.0f minutes", len(runs), estimate / 60)
    return estimate


def _committed(path: Path) -> dict:
    if not path.is_file():
        raise PipelineError(f"{path} not found: run `dvc repro` first (the grid's estimate and shared stages need it)")
    return json.loads(path.read_text(encoding="utf-8"))


def read_test_labels() -> np.ndarray:
    """The test split's labels, shared by every run (prepare is never rerun by the grid)."""
    path = paths.PREPARED / "test.npz"
    if not path.is_file():
        raise PipelineError(f"{path} not found: run `dvc repro prepare` (or `dvc pull`) first")
    return np.load(path)["y"].astype(np.int8)
