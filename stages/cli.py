"""The Typer app: one command per pipeline stage, each a thin layer over its module's ``run``."""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from stages import paths
from stages.errors import PipelineError
from stages.params import load_sections, params_table, stage_help, validate_file

app = typer.Typer(
    help="Train and compare recurrent networks on IMDB reviews; each command is one DVC stage.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

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


def _stage(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a stage command whose --help lists the params it reads."""
    return app.command(name=name, epilog=stage_help(name))


@_stage("download")
@reports_errors
def download_command(params: ParamsOption = paths.PARAMS) -> None:
    """Fetch and verify the aclImdb archive and write its 50,000 labeled reviews to one table."""
    from stages import download

    download.run(**load_sections("download", params)["download"], output=paths.REVIEWS_TABLE)


@_stage("prepare")
@reports_errors
def prepare_command(params: ParamsOption = paths.PARAMS) -> None:
    """Tokenize, build the vocabulary from train, split off validation, pad to max_len."""
    from stages import prepare

    prepare.run(paths.REVIEWS_TABLE, paths.PREPARED, paths.PREPARE_STATS, **load_sections("prepare", params)["prepare"])


@app.command("validate")
@reports_errors
def validate_command(params: ParamsOption = paths.PARAMS) -> None:
    """Check the whole params file against the schema without running anything."""
    problems = validate_file(params)
    if problems:
        for problem in problems:
            typer.echo(f"error: {params}: {problem}", err=True)
        raise typer.Exit(1)
    typer.echo(f"{params}: OK")


@app.command("params-table")
def params_table_command() -> None:
    """Print the Markdown table of every param (the one in the README)."""
    typer.echo(params_table())


def main() -> None:
    """Console-script entry point."""
    app()
