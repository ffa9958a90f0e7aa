"""Tests of stages/commands/compare.py: variant naming, the table, and the command's argument checks."""

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from stages.cli import app
from stages.commands import compare


def test_variants_and_names():
    assert compare.variants(["lstm", "gru"], "both") == [
        ("lstm", False, "random"), ("lstm", True, "random"), ("gru", False, "random"), ("gru", True, "random")
    ]  # fmt: skip
    assert compare.variants(["gru"], "true") == [("gru", True, "random")]
    assert compare.variants(["gru"], "true", ("random", "lm")) == [("gru", True, "random"), ("gru", True, "lm")]
    assert compare.variant_name("cmp", "simple_rnn", True) == "cmp-bisimplernn"
    assert compare.variant_name("cmp", "gru", True, "lm_embedding") == "cmp-bigru-lmembedding"


def test_grid_is_queued_with_dvcs_sweep_syntax():
    assert compare.sweeps(["lstm", "gru"], "both", ("random", "lm_embedding"), "cmp") == [
        ["-n", "cmp", "-S", "model.cell=lstm,gru", "-S", "model.bidirectional=true,false",
         "-S", "model.init=random,lm_embedding"],
    ]  # fmt: skip


def test_lm_init_sweeps_language_models_of_the_variants_cell():
    assert compare.sweeps(["simple_rnn", "gru"], "true", ("lm",), "cmp") == [
        ["-n", "cmp-lm-simplernn", "-S", "model.cell=simple_rnn", "-S", "lm.cell=simple_rnn",
         "-S", "model.bidirectional=true", "-S", "model.init=lm"],
        ["-n", "cmp-lm-gru", "-S", "model.cell=gru", "-S", "lm.cell=gru", "-S", "model.bidirectional=true",
         "-S", "model.init=lm"],
    ]  # fmt: skip
    assert compare.is_ours("cmp-3", "cmp") and compare.is_ours("cmp-lm-gru-2", "cmp")
    assert not compare.is_ours("cmp-bigru", "cmp") and not compare.is_ours("other-1", "cmp")


def test_table_markdown_lists_every_variant():
    table = pd.DataFrame(
        [
            {"variant": "cmp-gru", "experiment": "cmp-2", "init": "random", "test_accuracy": 0.88, "test_f1": 0.87,
             "test_roc_auc": 0.95, "train_time_s": 100.4, "epochs_run": 3, "params": 1234567},
        ]
    )  # fmt: skip
    markdown = compare.table_markdown(table, ["train.epochs=2"])
    assert "| cmp-gru | cmp-2 | random | 0.8800 | 0.8700 | 0.9500 | 100 | 3 | 1,234,567 |" in markdown
    assert "`train.epochs=2`" in markdown


def test_collect_reads_params_metrics_and_history_through_dvc_api(monkeypatch):
    rows = [  # as dvc.api.exp_show gives them: values through text, numbers as floats
        {"Experiment": "cmp-2", "rev": "abc1234", "model.cell": "gru", "model.bidirectional": "False",
         "model.init": "random", "params.yaml:train.epochs": 4.0},
        {"Experiment": "cmp-1", "rev": "def5678", "model.cell": "gru", "model.bidirectional": "False",
         "model.init": "random"},  # an older run of the same variant: ignored
        {"Experiment": "elsewhere", "rev": "0", "model.cell": "lstm", "model.bidirectional": "False",
         "model.init": "random"},
    ]  # fmt: skip
    read = []
    figures = {"abc1234": {"test_accuracy": 0.9, "test_f1": 0.91, "test_roc_auc": 0.95, "train_time_s": 12.0,
                           "epochs_run": 2, "params": 99}}  # fmt: skip
    monkeypatch.setattr(compare, "experiment_rows", lambda: rows)
    monkeypatch.setattr(compare, "read_figures", lambda rev: figures[rev])
    monkeypatch.setattr(
        compare,
        "read_history",
        lambda rev: read.append(rev) or pd.DataFrame({"epoch": [1, 2], "val_accuracy": [0.8, 0.85]}),
    )
    table, histories = compare.collect([("gru", False, "random")], "cmp")
    assert table.iloc[0].to_dict() == {
        "variant": "cmp-gru", "experiment": "cmp-2", "cell": "gru", "bidirectional": False, "init": "random",
        "test_accuracy": 0.9, "test_f1": 0.91, "test_roc_auc": 0.95, "train_time_s": 12.0, "epochs_run": 2, "params": 99,
    }  # fmt: skip
    assert read == ["abc1234"] and histories["cmp-gru"]["val_accuracy"].tolist() == [0.8, 0.85]
    with pytest.raises(Exception, match="cmp-lstm not found"):
        compare.collect([("lstm", False, "random")], "cmp")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cells", "lstm,transformer"], "expected a comma-separated list of simple_rnn, lstm, gru"),
        (["--bidirectional", "maybe"], "expected both, true or false"),
        (["--inits", "random,glove"], "expected a comma-separated list of random, word_vectors, lm_embedding, lm"),
        (["-S", "train.epochs"], "expected KEY=VALUE"),
    ],
)
def test_bad_arguments_are_one_line_errors(args, message):
    result = CliRunner().invoke(app, ["compare", *args], catch_exceptions=False)
    assert result.exit_code == 1
    assert message in result.output


def test_baseline_is_a_reference_row_of_the_table(tmp_path):
    path = tmp_path / "baseline_metrics.json"
    assert compare.baseline_row(path) == {}  # the stage has not run: no row
    path.write_text(json.dumps({"baseline": {
        "model": "NB-weighted 1-2-gram logistic regression", "features": 1500000, "train_time_s": 31.2,
        "val": {"accuracy": 0.91}, "test": {"accuracy": 0.915, "f1": 0.914, "roc_auc": 0.97},
    }}))  # fmt: skip
    row = compare.baseline_row(path)
    table = pd.DataFrame([row])
    markdown = compare.table_markdown(table, [])
    assert ("| baseline | (baseline stage) | NB-weighted 1-2-gram logistic regression | 0.9150 | 0.9140 | 0.9700 "
            "| 31 | — | 1,500,000 |") in markdown  # fmt: skip
    assert row["val_accuracy"] == 0.91  # the dashed line of the curves figure
