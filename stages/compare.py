"""Command ``compare``: train every cell variant as a DVC experiment and write one comparison.

Each variant (``simple_rnn``, ``lstm``, ``gru``, each with and without ``bidirectional``,
and each initialisation asked for: ``random``, ``lm_embedding``, ``lm``) is queued with
``dvc exp run --queue -S ...`` and the queue is run with one worker
(``dvc exp run --run-all -j 1``). Download and prepare are restored from DVC's cache, not
rerun. The results are read back with ``dvc exp show --json`` and each experiment's
committed ``history.tsv``, and written as a Markdown/CSV table and one figure overlaying
the validation accuracy curves.
"""

from __future__ import annotations

import io
import logging
import subprocess
from pathlib import Path

import pandas as pd

from stages import paths
from stages.atomic import write_text
from stages.dvc_cli import dvc, dvc_json
from stages.errors import PipelineError

log = logging.getLogger(__name__)

COLUMNS = {
    "test_accuracy": (paths.METRICS.as_posix(), ("test", "accuracy")),
    "test_f1": (paths.METRICS.as_posix(), ("test", "f1")),
    "test_roc_auc": (paths.METRICS.as_posix(), ("test", "roc_auc")),
    "train_time_s": (paths.TRAIN_METRICS.as_posix(), ("train", "wall_time_s")),
    "epochs_run": (paths.TRAIN_METRICS.as_posix(), ("train", "epochs_run")),
    "params": (paths.TRAIN_METRICS.as_posix(), ("train", "params")),
}


Variant = tuple[str, bool, str]  # cell, bidirectional, init


def variant_name(prefix: str, cell: str, bidirectional: bool, init: str = "random") -> str:
    """Experiment name of one variant, e.g. ``cmp-bigru`` or ``cmp-bigru-lm``."""
    suffix = "" if init == "random" else f"-{init.replace('_', '')}"
    return f"{prefix}-{'bi' if bidirectional else ''}{cell.replace('_', '')}{suffix}"


def variants(cells: list[str], bidirectional: str, inits: tuple[str, ...] = ("random",)) -> list[Variant]:
    """(cell, bidirectional, init) to train; ``bidirectional`` is ``both``, ``true`` or ``false``."""
    flags = {"both": [False, True], "true": [True], "false": [False]}[bidirectional]
    return [(cell, flag, init) for cell in cells for flag in flags for init in inits]


def overrides_of(cell: str, bidirectional: bool, init: str) -> list[str]:
    """The ``-S`` settings of one variant; ``init: lm`` trains language models of the same cell (cached per cell)."""
    settings = [f"model.cell={cell}", f"model.bidirectional={str(bidirectional).lower()}", f"model.init={init}"]
    return settings + ([f"lm.cell={cell}"] if init == "lm" else [])


def run_experiments(names: dict[str, Variant], settings: list[str]) -> None:
    """Queue one experiment per variant (replacing earlier ones of the same name) and run the queue."""
    existing = set(experiment_revisions())
    stale = [name for name in names if name in existing]
    if stale:
        dvc("exp", "remove", *stale)
    for name, variant in names.items():
        overrides = [*overrides_of(*variant), *settings]
        dvc("exp", "run", "--queue", "-n", name, *(arg for value in overrides for arg in ("-S", value)))
    log.info("running %d queued experiments with one worker", len(names))
    dvc("exp", "run", "--run-all", "-j", "1")


def experiment_revisions() -> dict[str, dict]:
    """Every experiment in ``dvc exp show --json`` by name: its revision and data."""
    shown = dvc_json("exp", "show") or []
    found = {}
    for baseline in shown:
        for experiment in baseline.get("experiments") or []:
            revision = (experiment.get("revs") or [{}])[0]
            if experiment.get("name") and revision.get("data"):
                found[experiment["name"]] = revision
    return found


def _dig(data: dict, file: str, keys: tuple[str, ...]):
    value = (data.get("metrics") or {}).get(file, {}).get("data", {})
    for key in keys:
        value = value.get(key, {}) if isinstance(value, dict) else {}
    return value if value != {} else None


def collect(names: dict[str, Variant]) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """The comparison table and each variant's history, read from the experiments."""
    revisions = experiment_revisions()
    missing = [name for name in names if name not in revisions]
    if missing:
        raise PipelineError(f"experiments {', '.join(missing)} not found: run `stages compare` without --no-run first")
    rows, histories = [], {}
    for name, (cell, bidirectional, init) in names.items():
        revision = revisions[name]
        row = {"variant": name, "cell": cell, "bidirectional": bidirectional, "init": init}
        row |= {column: _dig(revision["data"], file, keys) for column, (file, keys) in COLUMNS.items()}
        rows.append(row)
        tsv = git_show(revision["rev"], paths.HISTORY.as_posix())
        histories[name] = pd.read_csv(io.StringIO(tsv), sep="\t")
    return pd.DataFrame(rows), histories


def git_show(revision: str, path: str) -> str:
    """A file's content at a git revision."""
    done = subprocess.run(["git", "show", f"{revision}:{path}"], capture_output=True, text=True)
    if done.returncode:
        raise PipelineError(f"{path} is not committed in experiment {revision[:7]}: {done.stderr.strip()}")
    return done.stdout


def table_markdown(table: pd.DataFrame, settings: list[str]) -> str:
    """The comparison as a Markdown table."""
    lines = [
        "# Cell variants compared",
        "",
        "Produced by `stages compare` (one `dvc exp run` per variant) with params.yaml"
        + (f" and {', '.join(f'`{s}`' for s in settings)}" if settings else "")
        + ".",
        "",
        "| variant | init | test accuracy | test F1 | test ROC AUC | training time (s) | epochs | params |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in table.itertuples():
        lines.append(
            f"| {row.variant} | {row.init} | {row.test_accuracy:.4f} | {row.test_f1:.4f} | {row.test_roc_auc:.4f} "
            f"| {row.train_time_s:.0f} | {row.epochs_run} | {row.params:,} |"
        )
    return "\n".join(lines) + "\n"


def curves_figure(histories: dict[str, pd.DataFrame], target: Path, dpi: int = 100) -> None:
    """One figure overlaying every variant's validation accuracy per epoch."""
    from stages.plot import plt, save

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, history in histories.items():
        ax.plot(history["epoch"], history["val_accuracy"], "o-", label=name)
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
    names = {variant_name(prefix, *variant): variant for variant in variants(cells, bidirectional, inits)}
    if train:
        run_experiments(names, settings)
    table, histories = collect(names)
    write_text(out_dir / "variants.md", table_markdown(table, settings))
    write_text(out_dir / "variants.csv", table.to_csv(index=False, lineterminator="\n"))
    curves_figure(histories, out_dir / "val_accuracy.png")
    log.info("wrote %s", ", ".join(str(out_dir / n) for n in ("variants.md", "variants.csv", "val_accuracy.png")))
    return table
