"""dvc.yaml lists exactly the params each stage reads, and declares sensible outputs."""

import yaml

from stages.io.params_file import STAGE_SECTIONS, dvc_params
from tests.project import ROOT


def load_dvc_yaml() -> dict:
    return yaml.safe_load((ROOT / "dvc.yaml").read_text())


def test_each_stage_lists_exactly_the_params_it_reads():
    stages = load_dvc_yaml()["stages"]
    assert set(stages) == {"validate", *STAGE_SECTIONS}
    for name in STAGE_SECTIONS:
        assert sorted(stages[name].get("params", [])) == sorted(dvc_params(name)), name


def test_validation_reads_the_whole_params_file_and_runs_before_every_stage():
    stages = load_dvc_yaml()["stages"]
    assert list(stages)[0] == "validate"
    assert stages["validate"]["params"] == [{"params.yaml": None}]  # every key, unknown ones included
    assert stages["validate"]["outs"] == [
        {"data/params.ok": {"cache": False, "persist": True}}
    ]  # in git: dry runs see it
    for name in STAGE_SECTIONS:
        assert "data/params.ok" in stages[name]["deps"], name


def test_each_stage_runs_its_own_module_and_lists_it_as_a_dependency():
    for name, stage in load_dvc_yaml()["stages"].items():
        assert stage["cmd"].startswith(f"python -m stages {name}"), name
        assert f"stages/{'params' if name == 'validate' else name}.py" in stage["deps"], name
        for dep in stage["deps"]:
            assert (ROOT / dep).exists() or dep.startswith(("data/", "reports/")), dep


def test_unpacked_archive_is_never_an_output():
    for stage in load_dvc_yaml()["stages"].values():
        for out in stage.get("outs", []):
            name = out if isinstance(out, str) else next(iter(out))
            assert "aclImdb" not in name


# Modules that only parse, name or report; editing them never changes an output.
NOT_SHAPING = {"cli", "params", "errors", "paths", "__init__", "__main__"}


def imported_stage_modules(name: str) -> set[str]:
    """Every ``stages`` module (as a path below ``stages/``, no suffix) that ``stages/<name>.py`` runs, following
    imports (function-level ones too)."""
    import ast

    def module_path(dotted: str) -> str | None:
        """``stages.nn.model`` -> ``nn/model``; a package (``stages.nn``) -> None."""
        relative = dotted.split(".")[1:]
        return "/".join(relative) if (ROOT / "stages" / f"{'/'.join(relative)}.py").exists() else None

    seen: set[str] = set()
    todo = [name]
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        tree = ast.parse((ROOT / "stages" / f"{module}.py").read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("stages"):
                found = module_path(node.module) if node.module != "stages" else None
                if found:  # from stages.nn.model import build_model
                    todo.append(found)
                else:  # from stages import paths / from stages.nn import model
                    todo += [m for a in node.names if (m := module_path(f"{node.module}.{a.name}"))]
            elif isinstance(node, ast.Import):
                todo += [m for a in node.names if a.name.startswith("stages.") and (m := module_path(a.name))]
    return {module for module in seen if module not in NOT_SHAPING}


def test_code_deps_are_exactly_the_modules_each_stage_runs():
    for name, stage in load_dvc_yaml()["stages"].items():
        listed = {dep[len("stages/") : -len(".py")] for dep in stage["deps"] if dep.startswith("stages/")}
        # validate's output is the schema's verdict: the schema and the module that applies it
        expected = {"params", "io/params_file"} if name == "validate" else imported_stage_modules(name)
        assert listed == expected, name


def _outs(stage: dict) -> dict[str, dict]:
    return {
        next(iter(o)) if isinstance(o, dict) else o: (next(iter(o.values())) if isinstance(o, dict) else {})
        for o in stage.get("outs", [])
    }


def test_metrics_are_declared_at_the_top_level_and_committed():
    pipeline = load_dvc_yaml()
    assert all("metrics" not in stage for stage in pipeline["stages"].values())  # stage-level is deprecated
    outs = {path: options for stage in pipeline["stages"].values() for path, options in _outs(stage).items()}
    assert pipeline["metrics"]
    for path in pipeline["metrics"]:
        owner = next(out for out in outs if path == out or path.startswith(f"{out}/"))
        assert outs[owner].get("cache") is False, path  # in git, so `dvc metrics diff` works in a fresh clone


def test_the_classifier_is_a_registered_model_artifact():
    pipeline = load_dvc_yaml()
    artifact = pipeline["artifacts"]["imdb-rnn-classifier"]
    assert artifact["type"] == "model" and artifact["desc"] and artifact["labels"]
    assert artifact["path"] in _outs(pipeline["stages"]["export"])


def metric_columns() -> list[tuple[str, object]]:
    """The columns `dvc exp show` makes of the committed metrics: every leaf of every declared file, in order."""
    import json

    def leaves(prefix, value):
        if isinstance(value, dict):
            return [leaf for key, item in value.items() for leaf in leaves(f"{prefix}{key}.", item)]
        return [(prefix.rstrip("."), value)]

    config = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    return [leaf for path in config["metrics"] for leaf in leaves("", json.loads((ROOT / path).read_text()))]


def test_dvc_exp_show_has_a_few_metric_columns_test_accuracy_first():
    columns = metric_columns()
    names = [name for name, _ in columns]
    assert names[0] == "test.accuracy" and len(names) == len(set(names))  # no name needs its file's prefix
    # each column is as wide as its name or its value (5 significant digits), plus two spaces between
    width = sum(max(len(name), 7) + 2 for name in names)
    assert len(columns) <= 15 and width <= 200, (len(columns), width, names)
