"""Tests of stages/commands/results.py: the committed results tables are what the committed reports say."""

import json

import pytest

from stages.commands import results
from stages.errors import PipelineError
from tests.project import ROOT


def test_committed_readme_and_results_doc_match_the_reports():
    readme = (ROOT / "README.md").read_text()
    assert results.readme_with_results(readme, ROOT) == readme, "README results are stale: run `stages results`"
    doc = (ROOT / "docs" / "results.md").read_text()
    assert doc == results.results_markdown(ROOT), "docs/results.md is stale: run `stages results`"


def test_headline_reads_every_figure_from_the_reports(tmp_path):
    for name in ("params.yaml",):
        (tmp_path / name).write_text((ROOT / name).read_text())
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "metrics.json").write_text(json.dumps({"test": {"accuracy": 0.9123, "f1": 0.9, "roc_auc": 0.97}}))
    train = dict(params=1234, best_val_accuracy=0.91, best_epoch=2, epochs_run=3, wall_time_s=99.6, samples_per_s=600.0)
    (reports / "train_metrics.json").write_text(json.dumps({"train": train}))
    lm = dict(tokens_trained=1000, epochs=1.0, wall_time_s=10.0, tokens_per_s=100.0, val_tokens_scored=50)
    lm["val_perplexity"] = {"forward": 250.25, "backward": 260.0}
    (reports / "lm_metrics.json").write_text(json.dumps({"lm": lm}))
    table = results.headline(tmp_path)
    assert "**0.9123**" in table and "1,234 params" in table and "forward 250.2" in table and "100 s" in table


def test_readme_without_markers_is_a_clear_error():
    with pytest.raises(PipelineError, match="lacks the results markers"):
        results.readme_with_results("# no markers here", ROOT)
