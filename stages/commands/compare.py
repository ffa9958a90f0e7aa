"""Command ``compare``: train every cell variant as a DVC experiment and write one comparison.

The variants (``simple_rnn``, ``lstm``, ``gru``, each with and without ``bidirectional``,
and each initialisation asked for: ``random``, ``lm_embedding``, ``lm``) are queued with
DVC's own sweep syntax, ``dvc exp run --queue -n cmp -S 'model.cell=lstm,gru'
-S 'model.bidirectional=true,false' -S 'model.init=random,lm_embedding'`` (experiments
``cmp-1``, ``cmp-2``, ...); ``model.init=lm`` also trains language models of the variant's
cell, so it is swept once per cell with ``lm.cell`` set to match. The queue runs with one
worker (``dvc exp run --run-all -j 1``); download and prepare are restored from DVC's
cache, not rerun. Results are read back with ``dvc.api.exp_show`` (params and metrics of
every experiment) and ``dvc.api.read`` (each one's committed ``history.tsv``), and written
as a Markdown/CSV table and one figure overlaying the validation accuracy curves.
"""

from __future__ import annotations

import io
import json
import logging
import re
from pathlib import Path

import pandas as pd

from stages import paths
from stages.errors import PipelineError
from stages.io.atomic import write_text
from stages.io.dvc_cli import dvc

log = logging.getLogger(__name__)


Variant = tuple[str, bool, str]  # cell, bidirectional, init


def variant_name(prefix: str, cell: str, bidirectional: bool, init: str = "random") -> str:
    """Experiment name of one variant, e.g. ``cmp-bigru`` or ``cmp-bigru-lm``."""
    suffix = "" if init == "random" else f"-{init.replace('_', '')}"
    return f"{prefix}-{'bi' if bidirectional else ''}{cell.replace('_', '')}{suffix}"


def variants(cells: list[str], bidirectional: str, inits: tuple[str, ...] = ("random",)) -> list[Variant]:
    """(cell, bidirectional, init) to train; ``bidirectional`` is ``both``, ``true`` or ``false``."""
    flags = {"both": [False, True], "true": [True], "false": [False]}[bidirectional]
    return [(cell, flag, init) for cell in cells for flag in flags for init in inits]


def sweeps(cells: list[str], bidirectional: str, inits: tuple[str, ...], prefix: str) -> list[list[str]]:
    """The ``dvc exp run --queue`` arguments that queue the grid, one sweep per group of experiments."""
    flags = {"both": "true,false", "true": "true", "false": "false"}[bidirectional]
    grid = [f"model.bidirectional={flags}"]
    commands = []
    shared = [init for init in inits if init != "lm"]
    if shared:
        commands.append(
            ["-n", prefix, "-S", f"model.cell={','.join(cells)}", *_set(grid), "-S", f"model.init={','.join(shared)}"]
        )
    if "lm" in inits:  # the language models must have the variant's cell: one sweep per cell
        for cell in cells:
            commands.append(["-n", f"{prefix}-lm-{cell.replace('_', '')}", "-S", f"model.cell={cell}", "-S", f"lm.cell={cell}",
                             *_set(grid), "-S", "model.init=lm"])  # fmt: skip
    return commands


def _set(settings: list[str]) -> list[str]:
    return [arg for value in settings for arg in ("-S", value)]


def is_ours(name: str | None, prefix: str) -> bool:
    """Whether an experiment was queued by ``stages compare --prefix PREFIX`` (``PREFIX-3``, ``PREFIX-lm-gru-1``)."""
    return bool(name) and re.fullmatch(rf"{re.escape(prefix)}(-lm-[a-z]+)?-\d+", name) is not None


def run_experiments(
    cells: list[str], bidirectional: str, inits: tuple[str, ...], settings: list[str], prefix: str
) -> None:
    """Queue the grid with DVC's sweep syntax (replacing earlier experiments of this prefix) and run the queue."""
    stale = [row["Experiment"] for row in experiment_rows() if is_ours(row.get("Experiment"), prefix)]
    if stale:
        dvc("exp", "remove", *stale)
    for sweep in sweeps(cells, bidirectional, inits, prefix):
        dvc("exp", "run", "--queue", *sweep, *_set(settings))
    log.info("running the queued experiments with one worker")
    dvc("exp", "run", "--run-all", "-j", "1")


def experiment_rows() -> list[dict]:
    """Every experiment's row of ``dvc.api.exp_show``: name, revision, params and metrics."""
    import dvc.api

    return [row for row in dvc.api.exp_show() if row.get("Experiment")]


def _value(row: dict, file: str, key: str):
    """A flattened ``exp_show`` value; DVC prefixes the file name when two files share a key."""
    return row.get(f"{file}:{key}", row.get(key))


def variant_of(row: dict) -> Variant:
    """(cell, bidirectional, init) from an experiment's params (``exp_show`` gives them as text)."""
    params = paths.PARAMS.as_posix()
    bidirectional = str(_value(row, params, "model.bidirectional")).lower() == "true"
    return _value(row, params, "model.cell"), bidirectional, _value(row, params, "model.init")


def read_history(revision: str) -> pd.DataFrame:
    """An experiment's committed per-epoch history."""
    import dvc.api

    return pd.read_csv(io.StringIO(dvc.api.read(paths.HISTORY.as_posix(), rev=revision)), sep="\t")


def read_figures(revision: str) -> dict:
    """An experiment's test scores, training time, epochs and size, from its committed reports."""
    import dvc.api

    test = json.loads(dvc.api.read(paths.METRICS.as_posix(), rev=revision))["test"]
    train = json.loads(dvc.api.read(paths.TRAIN_METRICS.as_posix(), rev=revision))["train"]
    return {
        "test_accuracy": test["accuracy"], "test_f1": test["f1"], "test_roc_auc": test["roc_auc"],
        "train_time_s": train["wall_time_s"], "epochs_run": int(train["epochs_run"]), "params": int(train["params"]),
    }  # fmt: skip


def collect(wanted: list[Variant], prefix: str) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """The comparison table and each variant's history, read from this prefix's experiments (newest first)."""
    found: dict[Variant, dict] = {}
    for row in experiment_rows():
        if is_ours(row["Experiment"], prefix):
            found.setdefault(variant_of(row), row)
    missing = [variant_name(prefix, *variant) for variant in wanted if variant not in found]
    if missing:
        raise PipelineError(f"experiments {', '.join(missing)} not found: run `stages compare` without --no-run first")
    rows, histories = [], {}
    for cell, bidirectional, init in wanted:
        row = found[(cell, bidirectional, init)]
        name = variant_name(prefix, cell, bidirectional, init)
        table_row = {"variant": name, "experiment": row["Experiment"], "cell": cell, "bidirectional": bidirectional,
                     "init": init}  # fmt: skip
        rows.append(table_row | read_figures(row["rev"]))
        histories[name] = read_history(row["rev"])
    return pd.DataFrame(rows), histories


def baseline_row(path: Path) -> dict:
    """The ``baseline`` stage's reference row for the table (empty when it has not run)."""
    if not path.is_file():
        return {}
    result = json.loads(path.read_text(encoding="utf-8"))["baseline"]
    return {
        "variant": "baseline", "experiment": "(baseline stage)", "cell": None, "bidirectional": None,
        "init": result["model"], "test_accuracy": result["test"]["accuracy"], "test_f1": result["test"]["f1"],
        "test_roc_auc": result["test"]["roc_auc"], "train_time_s": result["train_time_s"], "epochs_run": None,
        "params": result["features"], "val_accuracy": result["val"]["accuracy"],
    }  # fmt: skip


def table_markdown(table: pd.DataFrame, settings: list[str]) -> str:
    """The comparison as a Markdown table."""
    lines = [
        "# Cell variants compared",
        "",
        "Produced by `stages compare` (one DVC experiment per variant, queued as a sweep) with params.yaml"
        + (f" and {', '.join(f'`{s}`' for s in settings)}" if settings else "")
        + ".",
        "",
        "| variant | experiment | init | test accuracy | test F1 | test ROC AUC | training time (s) | epochs | params |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in table.itertuples():
        epochs = "—" if pd.isna(row.epochs_run) else f"{int(row.epochs_run)}"
        lines.append(
            f"| {row.variant} | {row.experiment} | {row.init} | {row.test_accuracy:.4f} | {row.test_f1:.4f} | {row.test_roc_auc:.4f} "
            f"| {row.train_time_s:.0f} | {epochs} | {int(row.params):,} |"
        )
    return "\n".join(lines) + "\n"


def curves_figure(
    histories: dict[str, pd.DataFrame], target: Path, reference: float | None = None, dpi: int = 100
) -> None:
    """One figure overlaying every variant's validation accuracy per epoch (and the baseline's, dashed)."""
    from stages.plot import plt, save

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, history in histories.items():
        ax.plot(history["epoch"], history["val_accuracy"], "o-", label=name)
    if reference is not None:
        ax.axhline(reference, color="grey", linestyle="--", label="baseline (n-gram LR)")
    ax.set(title="Validation accuracy per epoch", xlabel="epoch", ylabel="validation accuracy")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(alpha=0.3)
    ax.legend()
    save(fig, target, dpi)


def run(
    cells: list[str],
    bidirectional: str,
    settings: list[str],
    prefix: str,
    out_dir: Path,
    train: bool = True,
    inits: tuple[str, ...] = ("random",),
) -> pd.DataFrame:
    """The whole command: run the experiments (unless ``train`` is False), then write the comparison."""
    if train:
        run_experiments(cells, bidirectional, inits, settings, prefix)
    table, histories = collect(variants(cells, bidirectional, inits), prefix)
    reference = baseline_row(paths.BASELINE_METRICS)
    if reference:
        table = pd.concat([table, pd.DataFrame([reference])], ignore_index=True)
    write_text(out_dir / "variants.md", table_markdown(table, settings))
    write_text(out_dir / "variants.csv", table.to_csv(index=False, lineterminator="\n"))
    curves_figure(histories, out_dir / "val_accuracy.png", reference.get("val_accuracy") if reference else None)
    log.info("wrote %s", ", ".join(str(out_dir / n) for n in ("variants.md", "variants.csv", "val_accuracy.png")))
    return table
