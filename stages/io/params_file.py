"""Reading ``params.yaml`` against the schema in ``stages/params.py``, every problem reported at once.

Pydantic validates; this module turns its errors into one line each, naming ``section.key``,
the value and what is allowed (``train.epochs: 0 is not allowed, expected int >= 1``),
describes each key (:data:`SCHEMA`) for those lines, ``--help`` and ``docs/params.md``, and names
the sections each stage reads (:data:`STAGE_SECTIONS`), the keys ``dvc.yaml`` lists for it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

import annotated_types
import yaml
from pydantic import ValidationError

from stages.errors import PipelineError
from stages.params import SECTIONS, Params

# Which params sections each stage reads; dvc.yaml lists exactly these keys.
STAGE_SECTIONS: dict[str, tuple[str, ...]] = {
    "download": ("download",),
    "prepare": ("prepare",),
    "lm": ("lm",),
    "embeddings": ("embeddings",),
    "train": ("model", "train"),
    "baseline": ("baseline",),
    "evaluate": ("evaluate",),
    "blend": ("blend",),
    "plot": ("plot",),
    "export": ("model",),
}

# Single keys a stage reads from another section: it receives that section (checked) after its own and reads only
# these keys, which dvc.yaml lists. A quick run's `prepare.limit` also shrinks the unlabeled text pretraining reads.
BORROWED_KEYS: dict[str, tuple[str, ...]] = {"lm": ("prepare.limit",), "embeddings": ("prepare.limit",)}


@dataclass(frozen=True)
class Key:
    """One key as the docs and errors describe it, read off its section's model."""

    kind: type | str  # str, int, float, bool, or "int_list"
    default: Any
    help: str
    choices: tuple[Any, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False

    def allowed(self) -> str:
        """The allowed values in words, for errors and the params table."""
        if self.choices is not None:
            return "one of " + ", ".join(show(c) for c in self.choices)
        kind = "list of integers" if self.kind == "int_list" else self.kind.__name__
        low = "" if self.minimum is None else (">" if self.exclusive_minimum else ">=") + f" {show(self.minimum)}"
        high = "" if self.maximum is None else f"<= {show(self.maximum)}"
        return f"{kind} {' and '.join(b for b in (low, high) if b)}".strip()


def _key(field) -> Key:
    annotation, bounds = field.annotation, {}
    for rule in field.metadata:
        if isinstance(rule, annotated_types.Ge):
            bounds["minimum"] = rule.ge
        elif isinstance(rule, annotated_types.Gt):
            bounds |= {"minimum": rule.gt, "exclusive_minimum": True}
        elif isinstance(rule, annotated_types.Le):
            bounds["maximum"] = rule.le
    if get_origin(annotation) is Literal:
        return Key(str, field.default, field.description, choices=get_args(annotation))
    base = get_args(annotation)[0] if get_origin(annotation) is Annotated else annotation
    if get_origin(base) is list:
        return Key("int_list", field.default, field.description, minimum=1)
    return Key(base, field.default, field.description, **bounds)


SCHEMA: dict[str, dict[str, Key]] = {
    name: {key: _key(field) for key, field in model.model_fields.items()} for name, model in SECTIONS.items()
}


def show(value: Any) -> str:
    return "true" if value is True else "false" if value is False else str(value)


def read_params_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a params YAML file safely; a missing or malformed file is a PipelineError."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PipelineError(f"params file {path} not found: run from the project root or pass --params") from None
    except UnicodeDecodeError:
        raise PipelineError(f"params file {path} is not UTF-8 text") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1}" if where is not None else ""
        raise PipelineError(f"params file {path} is not valid YAML{at}: {getattr(exc, 'problem', exc)}") from None
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise PipelineError(f"params file {path} must be a mapping of sections, found {type(data).__name__}")
    return data


def _problem(error: dict, data: dict[str, Any]) -> str:
    """One pydantic error as one line naming the key, the value and what is allowed."""
    where = [str(part) for part in error["loc"][:2]]
    if len(where) < 2:  # a rule over a section or several: its message names the keys
        if error["type"] == "extra_forbidden":
            return f"{where[0]}: unknown section, expected one of {', '.join(SECTIONS)}"
        return error["msg"]
    section, key = where
    if error["type"] == "extra_forbidden":
        return f"{section}.{key}: unknown key, expected one of {', '.join(SCHEMA[section])}"
    spec = SCHEMA[section][key]
    reason = error["msg"] if error["type"] == "rule" else f"expected {spec.allowed()}"
    return f"{section}.{key}: {data[section][key]!r} is not allowed, {reason}"


def problems_in(data: dict[str, Any], sections: tuple[str, ...] | None = None) -> list[str]:
    """Every problem of ``data`` against the schema, for ``sections`` (default: the whole file), one line each."""
    whole = sections is None
    sections = tuple(SECTIONS) if whole else sections
    problems = [f"{name}: section missing" for name in sections if data.get(name) is None]
    problems += [
        f"{name}: expected a mapping of keys, found {data[name]!r}"
        for name in sections
        if data.get(name) is not None and not isinstance(data[name], dict)
    ]
    chosen = {name: data[name] for name in sections if isinstance(data.get(name), dict)}
    # every key must be written out (the defaults document the schema; a file states each choice)
    problems += [
        f"{name}.{key}: missing ({spec.allowed()}, e.g. {show(spec.default)})"
        for name, values in chosen.items()
        for key, spec in SCHEMA[name].items()
        if key not in values
    ]
    if whole:
        chosen |= {name: values for name, values in data.items() if name not in SECTIONS}
    try:
        Params.model_validate(chosen)
    except ValidationError as exc:
        problems += list(dict.fromkeys(_problem(error, data) for error in exc.errors()))
    return problems


def section_problems(section: str, values: Any) -> list[str]:
    """Every problem of one section's values: missing, unknown and refused keys, one line each."""
    return problems_in({section: values}, (section,))


def load_sections_of(sections: tuple[str, ...], path: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """Read and check ``sections`` of the params file; raise one error listing all problems.

    Values come back in their key's type: ``1`` is ``1.0`` for a float key, ``4.0`` is ``4`` for an int key.
    """
    data = read_params_file(path)
    problems = problems_in(data, sections)
    if problems:
        raise PipelineError(f"{path}: " + "; ".join(problems))
    return {section: SECTIONS[section](**data[section]).model_dump() for section in sections}


def load_sections(stage: str, path: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """Read and check the params sections that ``stage`` reads (its own, then those it borrows a key of);
    raise one error listing all problems."""
    lenders = tuple(dict.fromkeys(name.split(".")[0] for name in BORROWED_KEYS.get(stage, ())))
    return load_sections_of(STAGE_SECTIONS[stage] + lenders, path)


def validate_file(path: str | os.PathLike[str]) -> list[str]:
    """Check the whole params file: every section, unknown sections and keys included."""
    return problems_in(read_params_file(path))


def dvc_params(stage: str) -> list[str]:
    """The ``section.key`` names ``stage`` reads, as dvc.yaml must list them."""
    own = [f"{section}.{key}" for section in STAGE_SECTIONS[stage] for key in SCHEMA[section]]
    return own + list(BORROWED_KEYS.get(stage, ()))


def params_table() -> str:
    """The params table in Markdown, generated from the schema."""
    rows = ["| key | default | allowed | what it does |", "|---|---|---|---|"]
    for section, keys in SCHEMA.items():
        for key, spec in keys.items():
            default = spec.default if spec.default != "" else '""'
            rows.append(f"| `{section}.{key}` | `{show(default)}` | {spec.allowed()} | {spec.help} |")
    return "\n".join(rows)


def params_doc() -> str:
    """The whole ``docs/params.md``: a short introduction and the table."""
    return "\n".join(
        [
            "# Params",
            "",
            "Every key of `params.yaml`, generated from the schema in `stages/params.py` by",
            "`stages params-table --write` (a test keeps this file in sync). Each stage reads only its own",
            "section(s), and `dvc.yaml` lists exactly those keys, so changing one reruns only the stages that",
            "read it. `stages validate` checks a whole file; every stage checks its sections before any work.",
            "",
            params_table(),
            "",
        ]
    )


def stage_help(stage: str) -> str:
    """The params a stage reads, one per line, for its ``--help``."""
    lines = [f"Reads these params from params.yaml ({', '.join(STAGE_SECTIONS[stage])}):"]
    for section in STAGE_SECTIONS[stage]:
        for key, spec in SCHEMA[section].items():
            lines.append(f"{section}.{key}: {spec.help} [{spec.allowed()}]")
    for name in BORROWED_KEYS.get(stage, ()):
        section, key = name.split(".")
        lines.append(
            f"{name}: also limits the unlabeled reviews read here (0 = all) [{SCHEMA[section][key].allowed()}]"
        )
    return "\n\n".join(lines)
