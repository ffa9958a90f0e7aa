"""Command ``report``: a Markdown report for a pull request, against a base git revision.

It lists the params that differ from the base (``dvc params diff``), the metrics with
their deltas (``dvc metrics diff``) and embeds the plot PNGs by relative path. Metrics and
plots are committed (``cache: false``), so it works in a fresh clone without ``dvc pull``.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from stages import paths
from stages.errors import PipelineError
from stages.io.atomic import write_text
from stages.io.dvc_cli import dvc_json

METRIC_FILES = (paths.METRICS, paths.TRAIN_METRICS, paths.LM_METRICS, paths.BASELINE_METRICS)
FIGURES = (
    ("Loss", "loss.png"),
    ("Accuracy", "accuracy.png"),
    ("Confusion matrix", "confusion.png"),
    ("ROC", "roc.png"),
    ("Accuracy by review length", "length_accuracy.png"),
    ("Language models: training loss", "lm_loss.png"),
)


def check_revision(revision: str) -> None:
    """Fail clearly when ``revision`` is not a git revision of this repository."""
    done = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}"], capture_output=True)
    if done.returncode:
        raise PipelineError(
            f"base revision {revision!r} not found: fetch it (CI needs full history, fetch-depth: 0) or pass --base"
        )


def _number(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 1000 else f"{value:,.1f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _param(value) -> str:
    return "—" if value is None else f"`{json.dumps(value)}`"


def _delta(old, new) -> str:
    if old is None or new is None:
        return "new" if old is None else "removed"
    if (
        isinstance(old, bool)
        or isinstance(new, bool)
        or not isinstance(old, (int, float))
        or not isinstance(new, (int, float))
    ):
        return "" if old == new else "changed"
    diff = new - old
    if diff == 0:
        return "0"
    return f"{diff:+.4f}" if isinstance(diff, float) else f"{diff:+,}"


def params_section(diff: dict, base: str) -> list[str]:
    """Markdown lines for the params that differ from ``base``."""
    rows = [
        (f"{file}:{key}" if file != "params.yaml" else key, change)
        for file, keys in diff.items()
        for key, change in keys.items()
    ]
    if not rows:
        return [f"No params differ from `{base}`.", ""]
    lines = [f"| param | {base} | this revision |", "|---|---|---|"]
    lines += [
        f"| `{key}` | {_param(change.get('old'))} | {_param(change.get('new'))} |" for key, change in sorted(rows)
    ]
    return [*lines, ""]


def metrics_section(diff: dict, base: str) -> list[str]:
    """Markdown lines for every metric with its value at ``base``, now, and the delta."""
    lines = [f"| metric | {base} | this revision | change |", "|---|---|---|---|"]
    for file in METRIC_FILES:
        for key, change in sorted(diff.get(str(file), {}).items()):
            old, new = change.get("old"), change.get("new")
            lines.append(f"| `{key}` | {_number(old)} | {_number(new)} | {_delta(old, new)} |")
    if len(lines) == 2:
        return ["No metrics found: run `dvc repro` first.", ""]
    return [*lines, ""]


def figures_section(report_path: Path, figures_url: str = "") -> list[str]:
    """Markdown images of the plot PNGs by path relative to the report, or a link to where they were uploaded."""
    present = [(title, paths.FIGURES / name) for title, name in FIGURES if (paths.FIGURES / name).exists()]
    if not present:
        return ["No figures found: run `dvc repro plot`.", ""]
    if figures_url:  # a PR comment cannot show the runner's files: link the uploaded artifact instead
        names = ", ".join(f"{title} (`{figure.name}`)" for title, figure in present)
        return [
            f"The figures ({names}) and the interactive `dvc plots diff` are in [the run's artifact]({figures_url}).",
            "",
        ]
    lines = []
    for title, figure in present:
        relative = os.path.relpath(figure, report_path.parent)
        lines += [f"### {title}", "", f"![{title}]({relative})", ""]
    return lines


def compare_section(report_path: Path, figures_url: str = "") -> list[str]:
    """The committed ``stages compare`` table (its mean ± std, interval and significance) and its two figures."""
    table = paths.COMPARE / "variants.md"
    if not table.is_file():
        return ["No comparison found: run `stages compare`.", ""]
    lines = [line for line in table.read_text(encoding="utf-8").splitlines() if not line.startswith("# ")]
    from stages.commands.compare import FIGURES as COMPARE_FIGURES

    present = [(title, paths.COMPARE / name) for title, name in COMPARE_FIGURES if (paths.COMPARE / name).exists()]
    if figures_url:
        return [*lines, "", f"Its figures are in [the run's artifact]({figures_url}).", ""]
    for title, figure in present:
        lines += ["", f"![{title}]({os.path.relpath(figure, report_path.parent)})"]
    return [*lines, ""]


def generations_section() -> list[str]:
    """The language model's generations from fixed prompts, as the lm stage wrote them."""
    if not paths.LM_GENERATIONS.is_file():
        return ["No generations found: run `dvc repro lm`.", ""]
    return [line for line in paths.LM_GENERATIONS.read_text(encoding="utf-8").splitlines() if not line.startswith("# ")]


def build(base: str, report_path: Path, figures_url: str = "") -> str:
    """The whole report as Markdown."""
    check_revision(base)
    params = dvc_json("params", "diff", base, "--all") or {}
    changed_params = {f: {k: v for k, v in keys.items() if v.get("old") != v.get("new")} for f, keys in params.items()}
    changed_params = {f: keys for f, keys in changed_params.items() if keys}
    metrics = dvc_json("metrics", "diff", base, "--all", "--targets", *map(str, METRIC_FILES)) or {}
    lines = [
        "# Pipeline report",
        "",
        f"Compared with `{base}`. Regenerate with `stages report --base {base}`.",
        "",
        "## Params that differ",
        "",
        *params_section(changed_params, base),
        "## Metrics",
        "",
        *metrics_section(metrics, base),
        "## Plots",
        "",
        *figures_section(report_path, figures_url),
        "## Cell variants (`stages compare`)",
        *compare_section(report_path, figures_url),
        "## Language model generations",
        *generations_section(),
    ]
    return "\n".join(lines)


def run(base: str, report_path: Path, figures_url: str = "") -> str:
    """Build the report and write it atomically; returns the Markdown."""
    markdown = build(base, report_path, figures_url)
    write_text(report_path, markdown)
    return markdown
