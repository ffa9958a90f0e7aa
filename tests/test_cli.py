"""End-to-end tests of the CLI on tiny synthetic data: train, evaluate, plot, predict."""

import json
import re
import shutil

import pytest
import yaml
from typer.testing import CliRunner

from stages import paths
from stages.cli import app
from stages.io.params_file import SCHEMA, STAGE_SECTIONS
from tests.project import default_params, write_params
from tests.synthetic import held_out_text, review_table
from tests.tiny import TINY_MODEL, TINY_TRAIN, lm_params

runner = CliRunner()


def invoke(*args, **kwargs):
    return runner.invoke(app, list(args), catch_exceptions=False, **kwargs)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A working folder where every stage after download ran on tiny synthetic tables."""
    folder = tmp_path_factory.mktemp("project")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        params = default_params()
        params["prepare"].update(vocab_size=100, max_len=24, val_fraction=0.25)
        params["lm"].update(vars(lm_params()))
        params["model"].update(TINY_MODEL)
        params["train"].update(TINY_TRAIN)
        write_params(folder, params)
        paths.REVIEWS_TABLE.parent.mkdir(parents=True)
        table = review_table(per_label=24)
        is_test = table["split"] == "test"
        table.loc[is_test, "text"] = [held_out_text(i) for i in range(int(is_test.sum()))]
        table.to_parquet(paths.REVIEWS_TABLE, index=False)
        unlabeled = table.loc[~is_test, ["id", "movie", "text"]].reset_index(drop=True)
        unlabeled.assign(id=range(len(unlabeled))).to_parquet(paths.UNLABELED_TABLE, index=False)
        for stage in ("prepare", "lm", "train", "evaluate", "plot"):
            result = invoke(stage)
            assert result.exit_code == 0, result.output
    return folder


@pytest.mark.slow
def test_pipeline_outputs_exist(trained, monkeypatch):
    metrics = json.loads((trained / paths.METRICS).read_text())
    assert set(metrics["test"]) == {"loss", "accuracy", "precision", "recall", "f1", "roc_auc", "threshold"}
    for name in ("loss", "accuracy", "confusion", "roc", "precision_recall", "length_accuracy", "lm_loss"):
        assert (trained / paths.FIGURES / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
    assert "Most confidently wrong" in (trained / paths.EXAMPLES).read_text()
    assert set(json.loads((trained / paths.LM_METRICS).read_text())["lm"]["val_perplexity"]) == {"forward", "backward"}
    assert "**this movie was** → This movie was" in (trained / paths.LM_GENERATIONS).read_text()
    monkeypatch.chdir(trained)  # the default paths of `generate` are relative to the project
    generated = invoke("generate", "the movie", "--words", "5")
    assert generated.exit_code == 0 and generated.stdout.startswith("The movie")


def test_predict_arguments_json_file_and_stdin(trained, monkeypatch):
    monkeypatch.chdir(trained)
    result = invoke("predict", "great wonderful superb", "awful boring terrible")
    assert result.exit_code == 0, result.output
    lines = [line.split("\t") for line in result.stdout.strip().splitlines()]
    assert [label for label, _ in lines] == ["pos", "neg"]
    assert all(0 <= float(p) <= 1 for _, p in lines)
    as_json = json.loads(invoke("--quiet", "predict", "--json", "loved it").stdout)
    assert as_json[0]["label"] in ("pos", "neg") and 0 <= as_json[0]["probability"] <= 1
    reviews = trained / "reviews.txt"
    reviews.write_text("great film\n\nhated it\n")
    assert len(invoke("predict", "--file", str(reviews)).stdout.strip().splitlines()) == 2
    assert len(invoke("predict", input="superb\ndull\n").stdout.strip().splitlines()) == 2


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["   "], None, "review 1 is empty"),
        (["ok", "\x00\x01"], None, "review 2 is without any word"),
        (["--file", "-"], b"caf\xe9\n", "stdin is not UTF-8"),
        (["--file", "absent.txt"], None, "not found"),
        (["--model", "nowhere.keras", "text"], None, "run `dvc repro train`"),
    ],
)
def test_predict_errors_are_one_line(trained, monkeypatch, args, stdin, message):
    monkeypatch.chdir(trained)
    result = invoke("predict", *args, input=stdin)
    assert result.exit_code == 1
    assert message in result.output
    assert result.output.strip().splitlines()[-1].startswith("error:")


def test_evaluate_refuses_model_of_another_vocabulary(trained, tmp_path, monkeypatch):
    shutil.copytree(trained, tmp_path / "copy")
    monkeypatch.chdir(tmp_path / "copy")
    vocab = paths.VOCAB.read_text().splitlines()
    paths.VOCAB.write_text("\n".join(vocab[:-3]) + "\n")
    result = invoke("evaluate")
    assert result.exit_code == 1
    assert "rerun `dvc repro" in result.output


def test_bad_params_stop_a_stage_before_any_work(trained, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    params = yaml.safe_load((trained / "params.yaml").read_text())
    params["model"]["cell"] = "lstmm"
    params["train"]["batch_size"] = 0
    write_params(tmp_path, params)
    result = invoke("train")
    assert result.exit_code == 1
    assert "model.cell: 'lstmm' is not allowed, expected one of simple_rnn, lstm, gru" in result.output
    assert "train.batch_size: 0" in result.output
    assert not paths.MODEL.exists()


def test_every_stage_help_lists_its_params():
    for stage, sections in STAGE_SECTIONS.items():
        result = invoke(stage, "--help", env={"COLUMNS": "200"})
        assert result.exit_code == 0
        text = re.sub(r"\s+", " ", result.output)
        for section in sections:
            for key in SCHEMA[section]:
                assert f"{section}.{key}" in text, (stage, key)


def test_module_entry_point_matches_console_script():
    result = invoke("--help")
    assert result.exit_code == 0
    for command in ("download", "prepare", "train", "evaluate", "plot", "predict", "validate"):
        assert command in result.output
