"""Tests of stages/export.py: the exported classifier works where only Keras (and TensorFlow) are installed."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from stages import export
from stages.commands.predict import Predictor
from stages.errors import PipelineError
from stages.params import Model
from tests.project import subprocess_env
from tests.tiny import TINY_BIDIRECTIONAL

REVIEWS = [
    "A great film, GREAT acting.<br /><br />Loved it!",
    "the worst movie zzzunknownword i've seen; awful awful",
    "good " * 40,  # longer than the tiny max_len: truncated as the pipeline truncates
]

# A downstream project: Keras, TensorFlow, numpy and the files of data/export/, never this package.
DOWNSTREAM = """
import json, re, sys
from pathlib import Path
sys.modules["stages"] = None  # this package cannot be imported here
try:
    import stages
    raise SystemExit("stages was importable")
except ImportError:
    pass
import keras, numpy as np, tensorflow as tf

folder, reviews = Path(sys.argv[1]), json.loads(sys.argv[2])
rules = json.loads((folder / "tokenizer.json").read_text())
encoding = json.loads((folder / "encoding.json").read_text())
index = {word: i for i, word in enumerate((folder / "vocab.txt").read_text(encoding="utf-8").splitlines())}
line_break = re.compile(rules["line_break"]["pattern"], re.IGNORECASE)
token = re.compile(rules["token"]["pattern"])

def encode(text):
    ids = [index.get(word, rules["oov_id"]) for word in token.findall(line_break.sub(" ", text).lower())]
    n = encoding["max_len"]
    ids = ids[-n:] if encoding["truncating"] == "pre" else ids[:n]
    row = [rules["pad_id"]] * (n - len(ids))
    return row + ids if encoding["padding"] == "pre" else ids + row

x = np.array([encode(text) for text in reviews], dtype="int32")
model = keras.saving.load_model(folder / "classifier.keras", safe_mode=True)
saved = tf.saved_model.load(str(folder / "saved_model"))  # keep it: its variables live as long as it does
served = saved.serve(tf.constant(x))
print(json.dumps({"keras": model.predict_on_batch(x).ravel().tolist(), "saved_model": np.ravel(served).tolist()}))
"""


@pytest.fixture(scope="module")
def exported(tiny_classifier, tmp_path_factory):
    files = export.ExportPaths(
        tiny_classifier / "model.keras", tiny_classifier / "prepared", tmp_path_factory.mktemp("export") / "export"
    )
    export.run(Model(**TINY_BIDIRECTIONAL), files)
    return files


@pytest.mark.slow
def test_the_export_loads_without_this_package_and_predicts_as_stages_predict(exported):
    done = subprocess.run(
        [sys.executable, "-c", DOWNSTREAM, str(exported.export), json.dumps(REVIEWS)],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    expected = [p.probability for p in Predictor(exported.model, exported.prepared).predict(REVIEWS)]
    np.testing.assert_allclose(found["keras"], expected, atol=1e-5)
    np.testing.assert_allclose(found["saved_model"], expected, atol=1e-5)


def test_the_export_holds_only_stock_keras_layers(exported):
    config = json.loads(__import__("zipfile").ZipFile(exported.export / "classifier.keras").read("config.json"))
    assert "stages" not in json.dumps(config)
    assert {path.name for path in exported.export.iterdir()} == {
        "classifier.keras",
        "saved_model",
        "vocab.txt",
        "encoding.json",
        "tokenizer.json",
    }


def test_params_that_do_not_describe_the_trained_model_are_refused_and_keep_the_last_export(exported):
    before = (exported.export / "classifier.keras").read_bytes()
    with pytest.raises(PipelineError, match="differs from"):
        export.run(Model(**TINY_BIDIRECTIONAL | {"pooling": "mean"}), exported)
    assert (exported.export / "classifier.keras").read_bytes() == before
    assert not list(exported.export.parent.glob(".export.tmp-*"))
