"""Tests of stages/compare.py: variant naming, the table, and the command's argument checks."""

import pandas as pd
import pytest
from typer.testing import CliRunner

from stages import compare
from stages.cli import app


def test_variants_and_names():
    assert compare.variants(["lstm", "gru"], "both") == [("lstm", False), ("lstm", True), ("gru", False), ("gru", True)]
    assert compare.variants(["gru"], "true") == [("gru", True)]
    assert compare.variant_name("cmp", "simple_rnn", True) == "cmp-bisimplernn"


def test_table_markdown_lists_every_variant():
    table = pd.DataFrame(
        [
            {"variant": "cmp-gru", "test_accuracy": 0.88, "test_f1": 0.87, "test_roc_auc": 0.95, "train_time_s": 100.4,
             "epochs_run": 3, "params": 1234567},
        ]
    )  # fmt: skip
    markdown = compare.table_markdown(table, ["train.epochs=2"])
    assert "| cmp-gru | 0.8800 | 0.8700 | 0.9500 | 100 | 3 | 1,234,567 |" in markdown
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
    table, histories = compare.collect({"cmp-gru": ("gru", False)})
    assert table.iloc[0].to_dict() | {} == {
        "variant": "cmp-gru", "cell": "gru", "bidirectional": False, "test_accuracy": 0.9, "test_f1": 0.91,
        "test_roc_auc": 0.95, "train_time_s": 12.0, "epochs_run": 2, "params": 99,
    }  # fmt: skip
    assert histories["cmp-gru"]["val_accuracy"].tolist() == [0.8, 0.85]
    with pytest.raises(Exception, match="cmp-lstm not found"):
        compare.collect({"cmp-lstm": ("lstm", False)})


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cells", "lstm,transformer"], "expected a comma-separated list of simple_rnn, lstm, gru"),
        (["--bidirectional", "maybe"], "expected both, true or false"),
        (["-S", "train.epochs"], "expected KEY=VALUE"),
    ],
)
def test_bad_arguments_are_one_line_errors(args, message):
    result = CliRunner().invoke(app, ["compare", *args], catch_exceptions=False)
    assert result.exit_code == 1
    assert message in result.output
