"""Tests of stages/params.py: the schema, validation and the generated docs."""

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from stages.cli import app
from stages.errors import PipelineError
from stages.io.params_file import SCHEMA, load_sections, params_doc, params_table, problems_in, section_problems
from tests.project import ROOT, default_params, write_params


def test_project_params_file_is_valid_and_uses_every_key():
    params = default_params()
    assert problems_in(params) == []
    assert {s: set(v) for s, v in params.items()} == {s: set(v) for s, v in SCHEMA.items()}


def test_schema_defaults_are_the_project_params():
    params = default_params()
    for section, keys in SCHEMA.items():
        for key, spec in keys.items():
            assert params[section][key] == spec.default or section == "download" and key.startswith("mirror"), (
                f"{section}.{key}"
            )


def test_schema_defaults_are_valid():
    for section, keys in SCHEMA.items():
        assert not section_problems(section, {key: spec.default for key, spec in keys.items()}), section


def test_all_problems_reported_at_once_with_key_value_and_allowed(tmp_path):
    params = default_params()
    params["model"]["cel"] = "gru"
    params["model"]["cell"] = "transformer"
    params["train"]["epochs"] = 0
    del params["train"]["seed"]
    path = write_params(tmp_path, params)
    with pytest.raises(PipelineError) as info:
        load_sections("train", path)
    message = str(info.value)
    assert "\n" not in message
    assert "model.cel: unknown key" in message
    assert "model.cell: 'transformer' is not allowed, expected one of simple_rnn, lstm, gru" in message
    assert "train.epochs: 0 is not allowed, expected int >= 1" in message
    assert "train.seed: missing" in message


def test_stage_checks_only_its_own_sections(tmp_path):
    params = default_params()
    params["model"]["cell"] = "nope"
    path = write_params(tmp_path, params)
    assert load_sections("prepare", path)["prepare"]["max_len"] == params["prepare"]["max_len"]
    with pytest.raises(PipelineError, match="model.cell"):
        load_sections("train", path)


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("prepare", "padding", "middle"),
        ("prepare", "val_fraction", 0.0),
        ("prepare", "val_fraction", 0.9),
        ("prepare", "vocab_size", 2),
        ("prepare", "max_len", "400"),
        ("model", "bidirectional", "yes"),
        ("model", "layers", 1.5),
        ("model", "dropout", float("nan")),
        ("train", "learning_rate", 0),
        ("train", "optimizer", "adagrad"),
        ("train", "batch_size", True),
        ("evaluate", "length_buckets", [200, 100]),
        ("evaluate", "threshold", 1.5),
        ("download", "sha256", "abc"),
    ],
)
def test_bad_values_are_rejected(section, key, value):
    params = default_params()
    params[section][key] = value
    problems = problems_in(params)
    assert any(p.startswith(f"{section}.{key}:") for p in problems), problems


@pytest.mark.slow
@given(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(), st.lists(st.integers())))
def test_any_value_is_accepted_or_named_in_a_problem(value):
    params = default_params()
    params["train"]["epochs"] = value
    problems = problems_in(params)
    integral = isinstance(value, int) and not isinstance(value, bool) or isinstance(value, float) and value.is_integer()
    ok = integral and value >= 1  # 4.0 means 4
    assert (problems == []) == ok
    if not ok:
        assert problems[0].startswith("train.epochs:")


def test_unknown_section_and_malformed_yaml(tmp_path):
    params = default_params()
    params["trian"] = {"epochs": 3}
    assert any(p.startswith("trian: unknown section") for p in problems_in(params))
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [unclosed\n")
    with pytest.raises(PipelineError, match="not valid YAML"):
        load_sections("train", bad)


def test_validate_command_exit_codes(tmp_path):
    runner = CliRunner()
    good = write_params(tmp_path, default_params())
    result = runner.invoke(app, ["validate", "--params", str(good)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    params = default_params()
    params["prepare"]["padding"] = "both"
    params["model"]["units"] = -1
    bad = write_params(tmp_path, params)
    result = runner.invoke(app, ["validate", "--params", str(bad)], catch_exceptions=False)
    assert result.exit_code == 1
    assert "prepare.padding" in result.output and "model.units" in result.output


def test_params_doc_matches_schema():
    doc = (ROOT / "docs" / "params.md").read_text()
    assert params_table() in doc
    assert doc == params_doc(), "docs/params.md is stale: run `stages params-table --write`"


def test_help_of_each_stage_lists_its_params():
    runner = CliRunner()
    for stage, sections in {"prepare": ["prepare"], "download": ["download"]}.items():
        result = runner.invoke(app, [stage, "--help"], catch_exceptions=False, env={"COLUMNS": "200"})
        assert result.exit_code == 0
        text = re.sub(r"\s+", " ", result.output)
        for section in sections:
            for key in SCHEMA[section]:
                assert f"{section}.{key}" in text


def test_integer_values_of_float_keys_reach_the_stage_as_floats(tmp_path):
    """YAML's `1` is an int; Keras refuses an int learning rate, so float keys are coerced on load."""
    params = default_params()
    params["train"]["learning_rate"] = 1
    params["lm"].update(learning_rate=1, epochs=2, clipnorm=0)
    path = write_params(tmp_path, params)
    train = load_sections("train", path)["train"]
    lm = load_sections("lm", path)["lm"]
    assert type(train["learning_rate"]) is float and train["learning_rate"] == 1.0
    assert all(type(lm[key]) is float for key in ("learning_rate", "epochs", "clipnorm"))
    assert type(train["epochs"]) is int  # int keys stay ints


def test_each_section_becomes_a_frozen_typed_object_with_the_schemas_keys():
    from pydantic import ValidationError

    from stages.params import SECTIONS

    for section, cls in SECTIONS.items():
        assert list(cls.model_fields) == list(SCHEMA[section]), section
        values = default_params()[section]
        instance = cls(**values)
        assert instance.model_dump() == values
        with pytest.raises(ValidationError, match="frozen"):
            instance.seed = 1
        with pytest.raises(ValidationError, match="extra"):
            cls(**values, colour="blue")


@pytest.mark.parametrize(
    ("init", "model", "named"),
    [
        ("lm_embedding", {"embedding_dim": 32}, "model.embedding_dim: 32 differs from lm.embedding_dim 64"),
        ("lm", {"cell": "lstm", "units": 128}, "model.cell 'lstm' do not fit lm.cell 'gru'"),
        ("lm", {"units": 32}, "model.units 32 do not fit lm.units 128"),
        ("lm", {"units": 128, "bidirectional": False, "layers": 2}, "model.layers 2 do not fit lm.layers 1"),
        ("lm", {"units": 128, "bidirectional": True, "layers": 2}, "model.layers 2 do not fit lm.layers 1"),
    ],
)
def test_a_classifier_that_cannot_take_the_language_models_weights_is_refused_up_front(init, model, named):
    params = default_params()
    params["model"].update({"embedding_dim": params["lm"]["embedding_dim"]} | model, init=init)
    problems = problems_in(params)
    assert len(problems) == 1 and named in problems[0] and "model.init" in problems[0], problems


def test_classifiers_that_fit_the_language_models_pass():
    params = default_params()
    params["model"].update(
        init="lm", units=128, embedding_dim=params["lm"]["embedding_dim"]
    )  # BiGRU(128) from GRU(128)
    assert problems_in(params) == []
    params["model"].update(init="random", units=7, embedding_dim=3)  # random weights: anything goes
    assert problems_in(params) == []
