"""Tests of stages/commands/compare.py: the grid, the checks before it runs, the summary and table, the CLI."""

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from stages.cli import app, main
from stages.commands import compare
from stages.commands.compare import Run
from stages.errors import PipelineError
from stages.io.console import SHOW_ENV


def test_grid_runs_every_variant_over_every_seed_with_readable_names():
    runs = compare.grid(["lstm", "gru"], "both", ["random"], [42, 43])
    assert [one.name("cmp") for one in runs] == [
        "cmp-lstm-s42",
        "cmp-lstm-s43",
        "cmp-bilstm-s42",
        "cmp-bilstm-s43",
        "cmp-gru-s42",
        "cmp-gru-s43",
        "cmp-bigru-s42",
        "cmp-bigru-s43",
    ]
    assert Run("simple_rnn", True, "word_vectors", 44).name("cmp") == "cmp-bisimplernn-wv-s44"
    assert Run("gru", False, "lm_embedding", 1).variant == "gru-lmemb"


def test_each_run_sets_its_cell_direction_init_and_seed():
    assert Run("lstm", True, "random", 43).settings() == [
        "model.cell=lstm",
        "model.bidirectional=true",
        "model.init=random",
        "train.seed=43",
    ]
    # the language models must have the classifier's cell to transfer their recurrent weights
    assert Run("simple_rnn", False, "lm", 42).settings()[-1] == "lm.cell=simple_rnn"
    assert compare.is_ours("cmp-bigru-s42", "cmp") and compare.is_ours("cmp-lstm-lmemb-s7", "cmp")
    assert not compare.is_ours("cmp-3", "cmp") and not compare.is_ours("other-bigru-s42", "cmp")


def test_queue_runs_each_experiment_once_targeting_blend(monkeypatch):
    calls = []
    monkeypatch.setattr(compare, "experiment_rows", lambda: [{"Experiment": "cmp-gru-s1"}, {"Experiment": "mine"}])
    monkeypatch.setattr(compare, "dvc", lambda *args, **kwargs: calls.append(args) or "")
    compare.run_grid([Run("gru", False, "random", 1)], ["train.ensemble=1"], "cmp")
    settings = ["train.ensemble=1", "model.cell=gru", "model.bidirectional=false", "model.init=random", "train.seed=1"]
    options = [part for setting in settings for part in ("-S", setting)]
    assert calls == [
        ("exp", "remove", "cmp-gru-s1"),  # an earlier grid's run of the same name, not the user's own
        ("exp", "run", "--queue", "-n", "cmp-gru-s1", *options, "blend"),
        ("exp", "run", "--run-all", "-j", "1"),
    ]


@pytest.mark.parametrize(
    ("status", "remedy"), [("Failed", "dvc queue remove --failed"), ("Queued", "dvc queue remove --queued")]
)
def test_leftovers_in_the_queue_stop_the_grid_and_say_what_to_do(status, remedy):
    tasks = [{"name": "old-1", "status": status, "rev": "abc1234"}, {"name": "fine", "status": "Success"}]
    with pytest.raises(PipelineError, match=rf"1 {status.lower()} experiment.*old-1.*`dvc queue logs old-1`.*{remedy}"):
        compare.check_queue(tasks)
    compare.check_queue([{"name": "fine", "status": "Success"}])  # finished runs are no obstacle


def test_settings_that_change_a_shared_stage_are_named_with_the_stage_they_rerun(monkeypatch, caplog):
    from tests.project import default_params

    params = default_params()
    runs = compare.grid(["gru"], "true", ["word_vectors"], [42, 43])
    assert (
        compare.shared_changes(runs, params, ["train.epochs=3", f"embeddings.dim={params['embeddings']['dim']}"]) == {}
    )
    assert compare.shared_changes(runs, params, ["embeddings.dim=300", "model.embedding_dim=300"]) == {
        "embeddings": ["embeddings.dim"]
    }
    assert compare.shared_changes(runs, params, ["prepare.limit=2000"]) == {
        stage: ["prepare.limit"] for stage in ("prepare", "lm", "embeddings")
    }
    other_cell = "lstm" if params["lm"]["cell"] != "lstm" else "gru"
    assert compare.shared_changes([Run(other_cell, False, "lm", 42)], params, []) == {"lm": ["lm.cell"]}
    monkeypatch.setattr(compare, "queue_tasks", lambda: [])
    with caplog.at_level("WARNING", logger=compare.log.name):
        compare.check(runs, params, ["embeddings.dim=300", "model.embedding_dim=300"], budget_minutes=1, yes=True)
    assert (
        "embeddings.dim changes stage 'embeddings', which then runs again in each of the 2 experiments" in caplog.text
    )


def test_estimate_scales_the_measured_rate_by_recurrent_cost():
    params = {
        "model": {"cell": "gru", "bidirectional": True, "units": 64, "embedding_dim": 100, "layers": 1},
        "train": {"adversarial": "at", "epochs": 2},
    }
    # the headline trains 100 reviews/s: a run like it takes 2 epochs x 1000 reviews / 100 plus the allowance
    same = compare.estimate_s([Run("gru", True, "random", 1)], params, [], 100.0, 1000)
    assert same == pytest.approx(20 + compare.OVERHEAD_S)
    one_way = compare.estimate_s([Run("gru", False, "random", 1)], params, [], 100.0, 1000)
    assert one_way == pytest.approx(10 + compare.OVERHEAD_S)  # half the recurrent work
    plain = compare.estimate_s([Run("gru", True, "random", 1)], params, ["train.adversarial=none"], 100.0, 1000)
    assert plain == pytest.approx(10 + compare.OVERHEAD_S)  # one pass per batch instead of two
    compare.check_budget(3600, 60, yes=False)
    with pytest.raises(PipelineError, match="about 61 minutes, over the 60-minute budget: pass --yes"):
        compare.check_budget(3660, 60, yes=False)
    compare.check_budget(3660, 60, yes=True)


def _run_result(accuracy, val_accuracy, correct, epochs=(0.5, 0.6)):
    return {
        "test_accuracy": accuracy,
        "test_f1": accuracy,
        "test_roc_auc": 0.9,
        "val_accuracy": val_accuracy,
        "val_loss": 0.3,
        "epoch_time_s": 10.0,
        "reviews_per_s": 100.0,
        "epochs_to_best": 2.0,
        "params": 1000,
        "history": pd.DataFrame({"epoch": [1, 2], "val_loss": [0.4, 0.3], "val_accuracy": list(epochs)}),
        "correct": np.asarray(correct, dtype=bool),
    }


@pytest.fixture(scope="module")
def summary():
    """Two variants over two seeds (one seed of ``gru`` failed) and the baseline, on 200 test reviews."""
    rng = np.random.default_rng(0)
    strong = rng.random((2, 200)) < 0.9
    weak = rng.random(200) < 0.6
    results = {
        Run("lstm", True, "random", 1): _run_result(strong[0].mean(), 0.80, strong[0]),
        Run("lstm", True, "random", 2): _run_result(strong[1].mean(), 0.82, strong[1]),
        # best on validation, worse on test: the reference of the paired test all the same
        Run("gru", False, "random", 1): _run_result(weak.mean(), 0.85, weak),
        Run("gru", False, "random", 2): {"failure": "failed: Killed (`dvc queue logs cmp-gru-s2`)"},
    }
    reference = {
        "variant": "baseline",
        "label": "n-grams",
        "test_accuracy": 0.9,
        "test_f1": 0.9,
        "test_roc_auc": 0.95,
        "val_accuracy": 0.9,
        "params": 50,
        "train_time_s": 1.0,
        "correct": strong[0],
    }
    return results, compare.summarise(results, reference, resamples=2000), strong, weak


def test_summary_gives_means_over_seeds_and_tests_against_the_best_on_validation(summary):
    _, table, strong, weak = summary
    rows = table.set_index("variant")
    assert rows.loc["bilstm", "seeds"] == 2 and rows.loc["gru", "seeds"] == 1 and rows.loc["gru", "failed"] == 1
    assert rows.loc["bilstm", "test_accuracy"] == pytest.approx(strong.mean())
    assert rows.loc["bilstm", "test_accuracy_std"] == pytest.approx(np.std(strong.mean(axis=1), ddof=1))
    assert rows.loc["gru", "best"] and not rows.loc["bilstm", "best"]  # chosen on validation, not test
    assert rows.loc["bilstm", "diff_vs_best"] == pytest.approx(strong.mean() - weak.mean())
    assert rows.loc["bilstm", "significant"] and rows.loc["baseline", "significant"]  # 30 points on 200 reviews
    assert rows.loc["bilstm", "ci_low"] < strong.mean() < rows.loc["bilstm", "ci_high"]
    assert "s2 failed: Killed" in rows.loc["gru", "failures"]


def test_table_shows_every_variant_its_failures_and_how_it_was_made(summary, tmp_path):
    results, table, _, _ = summary
    info = {"runs": 4, "seeds": [1, 2], "machine": "2 CPU cores (test), no GPU", "wall_minutes": 3}
    markdown = compare.table_markdown(table, ["train.ensemble=1"], info)
    assert "`train.ensemble=1`" in markdown and "seeds 1, 2" in markdown and "2 CPU cores (test), no GPU" in markdown
    assert "(**gru**)" in markdown  # the reference of the paired test is named
    bilstm = next(line for line in markdown.splitlines() if line.startswith("| bilstm |"))
    # no resample favours gru: p = 2 x 1 / 2001 (the smallest 2,000 resamples allow), x 2 comparisons (Holm)
    assert "0.8750 ± 0.0354" in bilstm and "**+27.50 pts (p 0.002)**" in bilstm
    assert "| gru | 1 (1 failed) |" in markdown and "Failed runs: gru s2 failed: Killed" in markdown
    assert "| baseline | 1 |" in markdown
    compare.write(table, results, ["train.ensemble=1"], info, tmp_path)
    assert (tmp_path / "accuracy.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "val_curves.png").read_bytes()[:4] == b"\x89PNG"
    csv = pd.read_csv(tmp_path / "variants.csv")
    assert list(csv["variant"]) == ["bilstm", "gru", "baseline"] and "p_holm" in csv.columns


def test_a_variant_whose_every_seed_failed_is_a_failed_row():
    results = {Run("gru", True, "random", 1): {"failure": "failed: out of memory (`dvc queue logs x`)"}}
    table = compare.summarise(results, None)
    markdown = compare.table_markdown(table, [], {})
    assert "| bigru | 0 | failed | s1 failed: out of memory (`dvc queue logs x`) |" in markdown


def test_collect_reads_named_experiments_and_marks_the_missing(monkeypatch):
    monkeypatch.setattr(compare, "experiment_commits", lambda since=0.0: {"cmp-gru-s1": "abc", "other": "def"})
    monkeypatch.setattr(compare, "read_run", lambda commit, labels, threshold: {"commit": commit})
    monkeypatch.setattr(compare, "queue_tasks", lambda: [{"name": "cmp-gru-s2", "status": "Failed"}])
    monkeypatch.setattr(compare, "dvc", lambda *args, **kwargs: "Running stage 'train'\nMemoryError: no room\n\n")
    runs = [Run("gru", False, "random", 1), Run("gru", False, "random", 2), Run("gru", False, "random", 3)]
    found = compare.collect(runs, "cmp", np.zeros(3), 0.5)
    assert found[runs[0]] == {"commit": "abc"}
    assert found[runs[1]] == {"failure": "failed: MemoryError: no room (`dvc queue logs cmp-gru-s2`)"}
    assert found[runs[2]]["failure"].startswith("not found: it never ran")


def test_epochs_to_best_reads_single_models_and_ensembles():
    assert compare.epochs_to_best({"best_epoch": 2}) == 2
    assert compare.epochs_to_best({"members": {"1": {"best_epoch": 1}, "2": {"best_epoch": 2}}}) == 1.5


def test_baseline_is_a_reference_row_with_its_predictions(tmp_path):
    metrics, predictions = tmp_path / "baseline_metrics.json", tmp_path / "baseline.npz"
    labels = np.array([1, 0, 1, 1], dtype=np.int8)
    assert compare.baseline_reference(metrics, predictions, labels, 0.5) is None  # the stage has not run
    metrics.write_text(
        json.dumps(
            {
                "baseline": {
                    "model": "NB-weighted 1-3-gram logistic regression",
                    "features": 1500,
                    "train_time_s": 3.0,
                    "val": {"accuracy": 0.91},
                    "test": {"accuracy": 0.75, "f1": 0.8, "roc_auc": 0.9},
                }
            }
        )
    )
    np.savez(predictions, val=np.zeros(2), test=np.array([0.9, 0.2, 0.4, 0.7]))
    row = compare.baseline_reference(metrics, predictions, labels, 0.5)
    assert row["correct"].tolist() == [True, True, False, True] and row["val_accuracy"] == 0.91


@pytest.mark.parametrize(
    ("args", "message", "status"),
    [
        (["--cell", "lstm", "--cell", "transformer"], "'transformer' is not one of 'simple_rnn', 'lstm', 'gru'", 2),
        (["--bidirectional", "maybe"], "'maybe' is not one of 'both', 'true', 'false'", 2),
        (["--init", "glove"], "'glove' is not one of 'random', 'word_vectors', 'lm_embedding', 'lm'", 2),
        (["--seeds", "0"], "--seeds 0: expected a whole number of seeds per variant, 1 or more", 1),
        (["--seeds", "-2"], "--seeds -2: expected", 1),
        (["--budget-minutes", "0"], "expected a positive number of minutes", 1),
        (["--prefix", "Cmp_1"], "expected lower-case letters and digits", 1),
        (["-S", "train.epochs"], "expected KEY=VALUE", 1),
    ],
)
def test_bad_arguments_are_one_line_errors(args, message, status, monkeypatch, capsys):
    monkeypatch.setenv(SHOW_ENV, "1")  # keep stderr where capsys reads it
    monkeypatch.setattr("sys.argv", ["stages", "compare", *args])
    with pytest.raises(SystemExit) as exit_:
        main()
    error = capsys.readouterr().err
    assert exit_.value.code == status
    assert message in error and len(error.strip().splitlines()) == 1


def test_a_grid_over_budget_or_behind_failed_runs_does_not_start(monkeypatch):
    queued = []
    monkeypatch.setattr(compare, "run_grid", lambda *args: queued.append(args))
    monkeypatch.setattr(compare, "queue_tasks", lambda: [])
    result = CliRunner().invoke(app, ["compare", "--budget-minutes", "1"], catch_exceptions=False)
    assert result.exit_code == 1 and "over the 1-minute budget: pass --yes" in result.output
    monkeypatch.setattr(compare, "queue_tasks", lambda: [{"name": "cmp-gru-s42", "status": "Failed"}])
    result = CliRunner().invoke(app, ["compare"], catch_exceptions=False)
    assert result.exit_code == 1 and "dvc queue remove --failed" in result.output
    assert queued == []
