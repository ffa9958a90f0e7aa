"""The Typer app: one command per pipeline stage, each a thin layer over its module's ``run``."""

from __future__ import annotations

import enum
import functools
import gc
import logging
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from stages import paths
from stages.errors import PipelineError
from stages.io.params_file import (
    SCHEMA,
    load_sections,
    load_sections_of,
    params_table,
    stage_help,
    validate_file,
)
from stages.params import SECTIONS

app = typer.Typer(
    help="Train and compare recurrent networks on IMDB reviews; each command is one DVC stage.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

GC_THRESHOLD = 50_000  # allocations between two collections of the youngest generation (Python: 700)
VALID_STAMP = "params.yaml satisfies the schema in stages/params.py\n"  # constant: never reruns a later stage
ParamsOption = Annotated[Path, typer.Option("--params", help="The params file to read.", dir_okay=False)]


@app.callback()
def main_callback(
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Log warnings and errors only.")] = False,
) -> None:
    """Train and compare recurrent networks on IMDB reviews; each command is one DVC stage."""
    logging.basicConfig(
        level=logging.WARNING if quiet else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )


def reports_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a PipelineError into a one-line message on stderr and exit status 1."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except PipelineError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None

    return wrapper


def sections(stage: str, params: Path) -> tuple:
    """The params objects ``stage`` reads, checked, ready for ``run``: its sections in ``STAGE_SECTIONS`` order,
    then the sections of the keys it borrows (``BORROWED_KEYS``)."""
    return tuple(SECTIONS[name](**values) for name, values in load_sections(stage, params).items())


def _stage(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a stage command whose --help lists the params it reads."""
    return app.command(name=name, epilog=stage_help(name))


@_stage("download")
@reports_errors
def download_command(params: ParamsOption = paths.PARAMS) -> None:
    """Fetch and verify the aclImdb archive; write its 50,000 labeled and 50,000 unlabeled reviews to two tables."""
    from stages import download

    download.run(*sections("download", params))


@_stage("prepare")
@reports_errors
def prepare_command(params: ParamsOption = paths.PARAMS) -> None:
    """Tokenize, build the vocabulary from train, split off validation, pad to max_len."""
    from stages import prepare

    prepare.run(*sections("prepare", params))


@app.command("validate")
@reports_errors
def validate_command(
    params: ParamsOption = paths.PARAMS,
    stamp: Annotated[
        Path | None,
        typer.Option(
            help="Also write this file (the same bytes every time) when the params are valid.", dir_okay=False
        ),
    ] = None,
) -> None:
    """Check the whole params file against the schema without running anything.

    The first DVC stage runs it with --stamp: a value the schema refuses stops `dvc repro` and
    `dvc exp run` before DVC removes any stage's outputs.
    """
    problems = validate_file(params)
    if problems:
        raise PipelineError(
            f"{params}: " + "; ".join(problems) + f". Nothing ran and no output was removed: fix {params}, or put back "
            f"the committed one with `git checkout {params}`"
        )
    if stamp is not None:
        from stages.io.atomic import write_text

        write_text(stamp, VALID_STAMP)
    typer.echo(f"{params}: OK")


@app.command("params-table")
def params_table_command(
    write: Annotated[bool, typer.Option("--write", help=f"Rewrite {paths.PARAMS_DOC} instead of printing.")] = False,
) -> None:
    """Print the Markdown table of every param (the one in docs/params.md)."""
    from stages.io.atomic import write_text
    from stages.io.params_file import params_doc

    if write:
        write_text(paths.PARAMS_DOC, params_doc())
        typer.echo(f"wrote {paths.PARAMS_DOC}")
    else:
        typer.echo(params_table())


@_stage("lm")
@reports_errors
def lm_command(params: ParamsOption = paths.PARAMS) -> None:
    """Train forward and backward language models on the training and unlabeled text (never val or test)."""
    from stages import lm

    lm.run(*sections("lm", params))


@_stage("embeddings")
@reports_errors
def embeddings_command(params: ParamsOption = paths.PARAMS) -> None:
    """Train word vectors (gensim) on the training and unlabeled text (never val or test), aligned to vocab.txt."""
    from stages import embeddings

    embeddings.run(*sections("embeddings", params))


@app.command("generate")
@reports_errors
def generate_command(
    prompt: Annotated[str, typer.Argument(help='The words to continue, e.g. "this movie was".', show_default=False)],
    words: Annotated[int, typer.Option(help="Tokens (words and punctuation) to add, 1 to 100,000.")] = 40,
    temperature: Annotated[float, typer.Option(help="Above 1 more surprising, below 1 more predictable.")] = 0.8,
    top_k: Annotated[int, typer.Option(help="Draw only from the K most likely next words (0 = all).")] = 40,
    seed: Annotated[int, typer.Option(help="Seed of the sampling (0 or more): the same seed gives the same text.")] = 0,
    model: Annotated[Path, typer.Option(help="Forward language model.", dir_okay=False)] = paths.FORWARD_LM,
    prepared: Annotated[Path, typer.Option(help="Folder with vocab.txt.", file_okay=False)] = paths.PREPARED,
) -> None:
    """Continue a prompt with the forward language model, word by word.

    Not a DVC stage: it uses the language model the pipeline produced. The prompt is read
    once and each new word is one step of the model, so time grows linearly with the
    prompt and --words; on a terminal the words are printed as they come. Unknown prompt
    words are read as the out-of-vocabulary token (and said so on stderr).
    """
    from stages.commands.generate import check_settings, load_language_model, readable, stream, unknown_words
    from stages.commands.predict import check_argument
    from stages.text import read_vocabulary

    check_settings(check_argument(prompt, "prompt"), words, temperature, top_k, seed)
    vocabulary = read_vocabulary(prepared / paths.VOCAB.name)
    unknown = unknown_words(prompt, vocabulary)
    if unknown:
        typer.echo(f"note: {unknown} prompt word(s) are not in the vocabulary and were read as <oov>", err=True)
    pieces = readable(stream(load_language_model(model), vocabulary, prompt, words, temperature, top_k, seed))
    if sys.stdout.isatty():  # words as they come
        for piece in pieces:
            typer.echo(piece, nl=False)
        typer.echo()
    else:
        typer.echo("".join(pieces))


@_stage("train")
@reports_errors
def train_command(params: ParamsOption = paths.PARAMS) -> None:
    """Train the configured recurrent cell variant; validate on the val split, never on test."""
    from stages import train

    train.run(*sections("train", params))


@_stage("baseline")
@reports_errors
def baseline_command(params: ParamsOption = paths.PARAMS) -> None:
    """Fit the reference model (NB-weighted n-gram logistic regression) on train; score it on val and test."""
    from stages import baseline

    baseline.run(*sections("baseline", params))


@_stage("evaluate")
@reports_errors
def evaluate_command(params: ParamsOption = paths.PARAMS) -> None:
    """Score the trained model on the test split: metrics, curves, confusion counts, examples."""
    from stages import evaluate

    evaluate.run(*sections("evaluate", params))


@_stage("blend")
@reports_errors
def blend_command(params: ParamsOption = paths.PARAMS) -> None:
    """Mix the RNN's and the baseline's log-odds, the weight chosen on val; score test. Its own row, not an RNN."""
    from stages import blend

    blend.run(*sections("blend", params))


@_stage("plot")
@reports_errors
def plot_command(params: ParamsOption = paths.PARAMS) -> None:
    """Draw PNG figures: training curves, confusion matrix, ROC, precision-recall, accuracy by length."""
    from stages import plot

    plot.run(*sections("plot", params))


@_stage("export")
@reports_errors
def export_command(params: ParamsOption = paths.PARAMS) -> None:
    """Write the trained classifier as stock Keras and a TensorFlow SavedModel, with its vocabulary and tokenizer."""
    from stages import export

    export.run(*sections("export", params))


@app.command("predict")
@reports_errors
def predict_command(
    texts: Annotated[
        list[str] | None, typer.Argument(help="Review texts, one per argument.", show_default=False)
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option("--file", "-f", help="Read reviews from this file, one per line ('-' = stdin).", dir_okay=False),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list instead of one line per review.")] = False,
    threshold: Annotated[
        float | None,
        typer.Option(
            help="P(positive) above which a review is called pos [default: evaluate.threshold].", min=0, max=1
        ),
    ] = None,
    model: Annotated[Path, typer.Option(help="Trained model.", dir_okay=False)] = paths.MODEL,
    prepared: Annotated[
        Path, typer.Option(help="Folder with vocab.txt and encoding.json.", file_okay=False)
    ] = paths.PREPARED,
    params: ParamsOption = paths.PARAMS,
) -> None:
    """Print label and P(positive) for each review: arguments, --file, or lines on stdin.

    Not a DVC stage: it uses the model and vocabulary the pipeline produced.
    """
    import json

    from stages.commands.predict import Predictor, gather_reviews

    reviews = gather_reviews(texts or [], file, sys.stdin)
    if threshold is None:
        threshold = load_sections("evaluate", params)["evaluate"]["threshold"] if params.is_file() else 0.5
    predictions = Predictor(model, prepared).predict(reviews, threshold)
    if as_json:
        typer.echo(json.dumps([{"review": i, **vars(p)} for i, p in enumerate(predictions, start=1)], indent=2))
    else:
        for prediction in predictions:
            typer.echo(f"{prediction.label}\t{prediction.probability:.4f}")


def _choice(name: str, values) -> type[enum.Enum]:
    """An Enum of the given values (Typer checks and lists them in --help)."""
    return enum.Enum(name, {value: value for value in values}, type=str)


Cell = _choice("Cell", SCHEMA["model"]["cell"].choices)
Init = _choice("Init", SCHEMA["model"]["init"].choices)
Directions = _choice("Directions", ("both", "true", "false"))


@app.command("compare")
@reports_errors
def compare_command(
    cells: Annotated[
        list[Cell] | None,
        typer.Option("--cell", help="A cell to train (repeat for several).", show_default="all three"),
    ] = None,
    bidirectional: Annotated[Directions, typer.Option(help="Variants to train.")] = "both",
    inits: Annotated[
        list[Init] | None,
        typer.Option("--init", help="A starting point (model.init; repeat for several).", show_default="params.yaml's"),
    ] = None,
    seeds: Annotated[int, typer.Option(help="Seeds per variant: train.seed, train.seed + 1, ...")] = 3,
    headline: Annotated[
        bool,
        typer.Option(
            "--headline/--budget",
            help="Train each run as the headline classifier (params.yaml as committed) instead of the "
            "grid's budget settings (one model, no ensemble).",
        ),
    ] = False,
    settings: Annotated[
        list[str] | None,
        typer.Option("--set", "-S", help="Extra param override for every run, e.g. -S train.epochs=3."),
    ] = None,
    budget_minutes: Annotated[
        float, typer.Option(help="Refuse a grid estimated to take longer than this, unless --yes.")
    ] = 90.0,
    yes: Annotated[bool, typer.Option("--yes", help="Run even when the estimate is over the budget.")] = False,
    prefix: Annotated[str, typer.Option(help="Experiment names start with this.")] = "cmp",
    out_dir: Annotated[
        Path, typer.Option("--out", help="Folder for variants.md/.csv, accuracy.png, val_curves.png, run.json.")
    ] = paths.COMPARE,
    run_experiments: Annotated[
        bool, typer.Option("--run/--no-run", help="Train the grid, or only collect its experiments.")
    ] = True,
) -> None:
    """Train every cell variant over several seeds as DVC experiments; write the table with error bars."""
    from stages.commands import compare

    model, train = load_sections_of(("model", "train"), paths.PARAMS).values()
    chosen = list(dict.fromkeys(cell.value for cell in cells)) if cells else list(Cell.__members__)
    chosen_inits = list(dict.fromkeys(init.value for init in inits)) if inits else [model["init"]]
    if seeds < 1:
        raise PipelineError(f"--seeds {seeds}: expected a whole number of seeds per variant, 1 or more")
    if budget_minutes <= 0:
        raise PipelineError(f"--budget-minutes {budget_minutes:g}: expected a positive number of minutes")
    if not re.fullmatch(r"[a-z][a-z0-9]*", prefix):
        raise PipelineError(f"--prefix {prefix!r}: expected lower-case letters and digits, starting with a letter")
    for setting in settings or []:
        if "=" not in setting:
            raise PipelineError(f"--set {setting!r}: expected KEY=VALUE, e.g. train.epochs=3")
    grid_settings = ([] if headline else list(compare.BUDGET_SETTINGS)) + list(settings or [])
    runs = compare.grid(
        chosen, Directions(bidirectional).value, chosen_inits, [train["seed"] + i for i in range(seeds)]
    )
    compare.run(runs, grid_settings, prefix, out_dir, train=run_experiments, budget_minutes=budget_minutes, yes=yes)


@app.command("report")
@reports_errors
def report_command(
    base: Annotated[str, typer.Option(help="Git revision to compare with (branch, tag or commit).")] = "main",
    out: Annotated[Path, typer.Option(help="Where to write the Markdown report.", dir_okay=False)] = paths.REPORT,
    figures_url: Annotated[
        str, typer.Option(help="Link the figures here (e.g. a CI artifact) instead of embedding their paths.")
    ] = "",
) -> None:
    """Write a Markdown report for a pull request: changed params, metrics with deltas, plots."""
    from stages.commands import report

    report.run(base, out, figures_url)
    typer.echo(f"wrote {out}")


@app.command("results")
@reports_errors
def results_command() -> None:
    """Regenerate the README's results table and docs/results.md from the committed reports/."""
    from stages.commands import results

    results.run(paths.README, paths.RESULTS_DOC)
    typer.echo(f"wrote {paths.README} (results block) and {paths.RESULTS_DOC}")


def main() -> None:
    """Console-script entry point (``stages`` and ``python -m stages``): a quiet console, then the app."""
    from stages.io.console import quiet_native_logs

    # Importing TensorFlow and tracing models create millions of objects that live as long as the process: at
    # Python's default threshold the collector keeps scanning them, mostly for nothing (bench/README.md,
    # "Garbage collection"). Cycles are still collected, just in larger batches.
    gc.set_threshold(GC_THRESHOLD)
    quiet_native_logs()
    try:
        code = app(args=sys.argv[1:] or ["--help"], standalone_mode=False)
    except typer.Abort:
        typer.echo("aborted", err=True)
        code = 1
    except typer.TyperException as error:  # a bad flag or value: one line, like every other bad input
        command = error.ctx.command_path if getattr(error, "ctx", None) else "stages"
        typer.echo(f"error: {command}: {error.format_message()} (see `{command} --help`)", err=True)
        code = error.exit_code
    sys.exit(code if isinstance(code, int) else 0)
