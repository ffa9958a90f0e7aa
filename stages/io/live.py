"""Per-epoch training metrics with DVCLive, visible while an experiment runs.

After every epoch the training callback logs ``loss``, ``accuracy``, ``val_loss`` and
``val_accuracy`` to ``reports/live`` with DVCLive: ``plots/metrics/<name>.tsv`` grows by one
row and ``metrics.json`` holds the step (the epoch, from 0) and the latest values, so
``dvc exp show`` and the VS Code extension show a running experiment's progress.

Where the stock ``DVCLiveCallback`` would go wrong, this stays right:
- an ensemble's members log under their own names (``member_1/val_loss``, ...), each with
  steps 0, 1, ... of its own epochs, so no two members write the same step of a metric;
  when all are done, the saved model's curve (the members' mean) is logged under the plain
  names, so ``loss.tsv``, ``val_loss.tsv``, ... always hold the saved model's curve;
- a resumed run keeps what the interrupted one logged and continues at the next epoch
  (rows logged after the last saved epoch are dropped and logged again, so the files equal
  an uninterrupted run's but for the timestamps);
- DVCLive never writes a ``dvc.yaml`` (``dvcyaml=None``): the project's hand-written one
  declares these files, and the final figures stay in ``reports/train_metrics.json`` only.
"""

from __future__ import annotations

import csv
import io
import logging
from pathlib import Path

from stages.io.tables import tsv_text
from stages.nn.checkpoint import HISTORY_KEYS

logging.getLogger("dvclive").setLevel(logging.WARNING)  # its "Logging to experiment ..." is noise in a stage


def open_live(directory: Path, resume: bool):
    """A DVCLive logger in ``directory``: a fresh one empties it, a resumed one keeps what is there."""
    from dvclive import Live

    return Live(str(directory), resume=resume, dvcyaml=None, save_dvc_exp=False, report=None)


def metric_name(member_prefix: str, key: str) -> str:
    """``val_loss`` for a single model, ``member_2/val_loss`` for an ensemble's second member."""
    return f"{member_prefix.rstrip('_')}/{key}" if member_prefix else key


SUMMARY_KEYS = ("val_loss", "val_accuracy")  # with the step: what `dvc exp show` shows of a running experiment


def log_epoch(live, member_prefix: str, epoch: int, logs: dict) -> None:
    """Log one finished epoch (0-based) of one model and write the summary ``dvc exp show`` reads.

    Every metric goes to its plot file; the summary holds only the step and the latest
    validation figures of the model in training (and which member it is), so that a running
    experiment adds three or four columns to ``dvc exp show``, not four per member.
    """
    live.step = epoch
    for key in HISTORY_KEYS:
        live.log_metric(metric_name(member_prefix, key), float(logs[key]))
    member = {"member": int(member_prefix.strip("_").split("_")[-1])} if member_prefix else {}
    live.summary = {key: float(logs[key]) for key in SUMMARY_KEYS} | member
    live.make_summary()


def log_history(live, history: dict[str, list[float]]) -> None:
    """Log a whole per-epoch history under the plain names (an ensemble's mean curve, once its members are done)."""
    forget_after(live, "", 0)  # a rerun after an interruption here logs it again, whole
    for epoch in range(len(history["loss"])):
        log_epoch(live, "", epoch, {key: history[key][epoch] for key in HISTORY_KEYS})


def forget_after(live, member_prefix: str, epochs_done: int) -> None:
    """Drop a member's rows from epoch ``epochs_done`` on: a resumed run logs them again."""
    for key in HISTORY_KEYS:
        path = Path(live.plots_dir) / "metrics" / f"{metric_name(member_prefix, key)}.tsv"
        if not path.is_file():
            continue
        rows = list(csv.DictReader(io.StringIO(path.read_text()), delimiter="\t"))
        kept = [row for row in rows if int(row["step"]) < epochs_done]
        if len(kept) < len(rows):
            path.write_text(tsv_text(list(rows[0]), [list(row.values()) for row in kept]))
