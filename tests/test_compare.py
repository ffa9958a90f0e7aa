"""Tests of stages/compare.py: variant naming, the table, and the command's argument checks."""

import pandas as pd
import pytest
from typer.testing import CliRunner

from stages import compare
from stages.cli import app


def test_variants_and_names():
    assert compare.variants(["lstm", "gru"], "both") == [
        ("lstm", False, "random"), ("lstm", True, "random"), ("gru", False, "random"), ("gru", True, "random")
    ]  # fmt: skip
    assert compare.variants(["gru"], "true") == [("gru", True, "random")]
    assert compare.variants(["gru"], "true", ("random", "lm")) == [("gru", True, "random"), ("gru", True, "lm")]
    assert compare.variant_name("cmp", "simple_rnn", True) == "cmp-bisimplernn"
    assert compare.variant_name("cmp", "gru", True, "lm_embedding") == "cmp-bigru-lmembedding"


def test_lm_init_trains_language_models_of_the_variants_cell():
    assert compare.overrides_of("lstm", True, "lm") == [
        "model.cell=lstm", "model.bidirectional=true", "model.init=lm", "lm.cell=lstm"
    ]  # fmt: skip
    assert "lm.cell=lstm" not in compare.overrides_of("lstm", True, "lm_embedding")


def test_table_markdown_lists_every_variant():
    table = pd.DataFrame(
        [
            {"variant": "cmp-gru", "init": "random", "test_accuracy": 0.88, "test_f1": 0.87, "test_roc_auc": 0.95, "train_time_s": 100.4,
             "epochs_run": 3, "params": 1234567},
        ]
    )  # fmt: skip
    markdown = compare.table_markdown(table, ["train.epochs=2"])
    assert "| cmp-gru | random | 0.8800 | 0.8700 | 0.9500 | 100 | 3 | 1,234,567 |" in markdown
    assert "`train.epochs=2`" in markdown


def test_collect_reads_metrics_and_history(monkeypatch):
    revisions = {
        "cmp-gru": {
            "rev": "abc1234",
            "data": {
                "metrics": {
                    "reports/metrics.json": {"data": {"test": {"accuracy": 0.9, "f1": 0.91, "roc_auc": 0.95}}},
                    "reports/train_metrics.json": {
                        "data": {"train": {"wall_time_s": 12.0, "epochs_run": 2, "params": 99}}
                    },
                }
            },
        }
    }
    monkeypatch.setattr(compare, "experiment_revisions", lambda: revisions)
    monkeypatch.setattr(compare, "git_show", lambda rev, path: "epoch\tval_accuracy\n1\t0.8\n2\t0.85\n")
    table, histories = compare.collect({"cmp-gru": ("gru", False, "random")})
    assert table.iloc[0].to_dict() | {} == {
        "variant": "cmp-gru", "cell": "gru", "bidirectional": False, "init": "random", "test_accuracy": 0.9, "test_f1": 0.91,
        "test_roc_auc": 0.95, "train_time_s": 12.0, "epochs_run": 2, "params": 99,
    }  # fmt: skip
    assert histories["cmp-gru"]["val_accuracy"].tolist() == [0.8, 0.85]
    with pytest.raises(Exception, match="cmp-lstm not found"):
        compare.collect({"cmp-lstm": ("lstm", False, "random")})


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cells", "lstm,transformer"], "expected a comma-separated list of simple_rnn, lstm, gru"),
        (["--bidirectional", "maybe"], "expected both, true or false"),
        (["--inits", "random,glove"], "expected a comma-separated list of random, lm_embedding, lm"),
        (["-S", "train.epochs"], "expected KEY=VALUE"),
    ],
)
def test_bad_arguments_are_one_line_errors(args, message):
    result = CliRunner().invoke(app, ["compare", *args], catch_exceptions=False)
    assert result.exit_code == 1
    assert message in result.output
