"""dvc.yaml lists exactly the params each stage reads, and declares sensible outputs."""

import yaml

from stages.params import STAGE_SECTIONS, dvc_params
from tests.conftest import ROOT


def load_dvc_yaml() -> dict:
    return yaml.safe_load((ROOT / "dvc.yaml").read_text())


def test_each_stage_lists_exactly_the_params_it_reads():
    stages = load_dvc_yaml()["stages"]
    assert set(stages) >= set(STAGE_SECTIONS)
    for name in STAGE_SECTIONS:
        assert sorted(stages[name].get("params", [])) == sorted(dvc_params(name)), name


def test_each_stage_runs_its_own_module_and_lists_it_as_a_dependency():
    for name, stage in load_dvc_yaml()["stages"].items():
        assert stage["cmd"].startswith(f"python -m stages {name}"), name
        assert f"stages/{name}.py" in stage["deps"], name
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
    """Every ``stages`` module that ``stages/<name>.py`` runs, following imports (function-level ones too)."""
    import ast

    seen: set[str] = set()
    todo = [name]
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        tree = ast.parse((ROOT / "stages" / f"{module}.py").read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "stages":
                todo += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("stages."):
                todo.append(node.module.split(".")[1])
            elif isinstance(node, ast.Import):
                todo += [a.name.split(".")[1] for a in node.names if a.name.startswith("stages.")]
    return {module for module in seen if module not in NOT_SHAPING}


def test_code_deps_are_exactly_the_modules_each_stage_runs():
    for name, stage in load_dvc_yaml()["stages"].items():
        listed = {dep[len("stages/") : -len(".py")] for dep in stage["deps"] if dep.startswith("stages/")}
        assert listed == imported_stage_modules(name), name
