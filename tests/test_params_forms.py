"""Every numeric param works in its integer and its float YAML form (``1`` and ``1.0``).

For each numeric key of the schema, a few allowed values (the tiny-run value and the
boundaries) are written to a params file in both forms, loaded as the stage loads them,
and what the stage builds from them is built on tiny data: the tables, the optimizer and
model, the batches, the language models' training step, the figures. A value the schema
accepts never crashes later (issue: ``train.learning_rate: 1`` once reached Keras as an int).
"""

from __future__ import annotations

import math
import socket
from pathlib import Path

import numpy as np
import pytest

from stages.errors import PipelineError
from stages.io.params_file import SCHEMA, STAGE_SECTIONS, load_sections
from tests.project import default_params, write_params
from tests.synthetic import review_table, sha256
from tests.tiny import TINY_MODEL, TINY_TRAIN, lm_params, make_prepared, train_tiny

COSTLY_ABOVE = (
    10  # boundaries above this (ensemble 20, lm.epochs 100) cost minutes on tiny data: the tiny value covers them
)
TINY_BASE = {
    "model": TINY_MODEL,
    "train": TINY_TRAIN | {"epochs": 1},
    "lm": {k: v for k, v in vars(lm_params()).items()} | {"epochs": 0.05},
    "prepare": {"vocab_size": 60, "max_len": 12, "val_fraction": 0.25, "val_grouping": "random"},
    "embeddings": {"dim": 8, "epochs": 1},
}
# a whole pass; fewer validation tokens than one window; an unchecked size
EXTRA = {("lm", "epochs"): [1], ("lm", "eval_tokens"): [1], ("download", "size"): [0]}


def allowed_values(section: str, key: str) -> dict[str, object]:
    """The tiny-run value and the boundaries of a numeric key, by name (``tiny``, ``low``, ``high``)."""
    spec = SCHEMA[section][key]
    tiny = TINY_BASE.get(section, {}).get(key, spec.default)
    low = spec.minimum if spec.minimum is not None and not spec.exclusive_minimum else tiny
    high = spec.maximum if spec.maximum is not None and spec.maximum <= COSTLY_ABOVE else tiny
    return {"tiny": tiny, "low": low, "high": high}


def in_form(value, form: str):
    """``value`` written as a YAML integer (where it is one) or as a float."""
    return int(value) if form == "int" and float(value).is_integer() else float(value)


NUMERIC = [(s, k) for s, keys in SCHEMA.items() for k, spec in keys.items() if spec.kind in (int, float)]


def numeric_cases() -> list[tuple[str, str, object]]:
    """(section, key, value) for every numeric key and allowed value, in both YAML forms where they differ."""
    cases = []
    for section, key in NUMERIC:
        values = set(allowed_values(section, key).values()) | set(EXTRA.get((section, key), []))
        for value in sorted(values):
            forms = ("int", "float") if float(value).is_integer() else ("float",)
            cases += [(section, key, in_form(value, form)) for form in forms]
    return cases


CASES = numeric_cases()


def params_with(section: str, key: str, value) -> dict:
    params = default_params()
    for name, base in TINY_BASE.items():
        params[name].update(base)
    params[section][key] = value
    return params


def stages_reading(section: str) -> list[str]:
    return [stage for stage, sections in STAGE_SECTIONS.items() if section in sections]


def integer_allowed(section: str, key: str) -> bool:
    """Whether any integer is an allowed value (``prepare.val_fraction``, in (0, 0.5], has none)."""
    spec = SCHEMA[section][key]
    minimum = spec.minimum or 0
    lowest = math.floor(minimum) + 1 if spec.exclusive_minimum else math.ceil(minimum)
    return spec.maximum is None or lowest <= spec.maximum


def test_every_numeric_key_is_covered_in_both_forms():
    covered = {(section, key, type(value)) for section, key, value in CASES}
    for section, key in NUMERIC:
        assert (section, key, float) in covered, f"{section}.{key}"
        assert (section, key, int) in covered or not integer_allowed(section, key), f"{section}.{key}"


@pytest.mark.parametrize(("section", "key", "value"), CASES, ids=[f"{s}.{k}={v!r}" for s, k, v in CASES])
def test_both_forms_load_as_the_schema_type(tmp_path, section, key, value):
    path = write_params(tmp_path, params_with(section, key, value))
    for stage in stages_reading(section):
        loaded = load_sections(stage, path)[section][key]
        assert type(loaded) is SCHEMA[section][key].kind and loaded == value, (stage, loaded)


@pytest.fixture(scope="module")
def tiny_prepared(tmp_path_factory) -> Path:
    return make_prepared(tmp_path_factory.mktemp("forms"), per_label=6)


def build_download(values: dict, tmp_path: Path) -> None:
    from stages import download

    archive = tmp_path / "archive.tar.gz"
    archive.write_bytes(b"not really an archive")
    size = values["size"] and archive.stat().st_size  # the size check compares ints either way
    download.fetch(download.Source(str(archive), sha256(archive), size, True), values["retries"], values["timeout_s"])
    with socket.socket() as probe:  # a closed port: every attempt fails at once, retries and timeout are used
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    with pytest.raises(PipelineError, match=r"failed after \d+ attempts"):
        download.download(f"http://127.0.0.1:{closed}/x", tmp_path / "part", values["retries"], values["timeout_s"])


def build_prepare(values: dict, tmp_path: Path) -> None:
    from stages import prepare

    table = tmp_path / "reviews.parquet"
    review_table(per_label=20).to_parquet(table, index=False)
    prepare.run(prepare.Prepare(**values), prepare.PreparePaths(table, tmp_path / "prepared", tmp_path / "stats.json"))


def build_lm(values: dict, tmp_path: Path) -> None:
    from stages import lm

    params = lm.LM(**values)
    ids = np.random.default_rng(0).integers(1, 60, size=400).astype(np.int32)
    trainer, state = lm.train_language_models(lm.Corpus(ids, ids, {}), 60, params, tmp_path / "state", ())
    assert state.step >= 1 and np.isfinite(state.history[-1][2])
    assert trainer.perplexity(ids, params.eval_tokens)["tokens"] >= params.window


def build_embeddings(values: dict, tmp_path: Path) -> None:
    from stages import embeddings

    params = embeddings.Embeddings(**values)
    sentences = [text.split() for text in review_table(per_label=6)["text"]]
    vocabulary = ["<pad>", "<oov>", *sorted({token for sentence in sentences for token in sentence})]
    vectors, _ = embeddings.aligned(embeddings.train_vectors(sentences, params), vocabulary, params.seed)
    assert vectors.shape == (len(vocabulary), params.dim) and np.isfinite(vectors).all()


def build_blend(values: dict, tmp_path: Path) -> None:
    from stages import blend

    y = np.array([0, 1, 1, 0, 1])
    weight, curve = blend.choose_weight(y, np.array([0.2, 0.8, 0.6, 0.3, 0.9]), np.full(5, 0.5), values["steps"])
    assert len(curve) == values["steps"] + 1 and 0 <= weight <= 1


def build_baseline(values: dict, tmp_path: Path) -> None:
    from stages import baseline

    table = review_table(per_label=6)
    texts, y = table["text"].tolist(), table["label"].to_numpy()
    model = baseline.NBLogisticRegression(values["ngrams"], values["min_df"], values["alpha"], values["c"]).fit(
        texts, y
    )
    assert model.predict_probability(texts).shape == (len(texts),)


def build_evaluate(values: dict, tmp_path: Path) -> None:
    from stages import evaluate, scores

    y = np.array([0, 1, 1, 0, 1])
    p = np.array([0.1, 0.9, 0.4, 0.6, 1.0])
    scores.binary_metrics(y, p, values["threshold"])
    evaluate.accuracy_by_length(
        y, p >= values["threshold"], np.array([5, 50, 150, 500, 900]), values["length_buckets"], 800
    )
    evaluate.examples_markdown(["a", "b", "c", "d", "e"], y, p, values["threshold"], values["examples"])


def build_plot(values: dict, tmp_path: Path) -> None:
    import matplotlib.pyplot as plt

    from stages import plot

    fig, _ = plt.subplots()
    plot.save(fig, tmp_path / "figure.png", values["dpi"])
    assert (tmp_path / "figure.png").read_bytes()[:4] == b"\x89PNG"


def build_export(values: dict, tmp_path: Path) -> None:
    from stages.nn.model import build_model
    from stages.params import Model

    net = build_model(60, Model(**values), textbook=True)  # the stock twin the export stage writes
    assert net.predict_on_batch(np.array([[3, 4, 5, 0]], dtype="int32")).shape == (1, 1)


BUILDS = [(stage, variant) for stage in STAGE_SECTIONS for variant in ("tiny", "low", "high")]


@pytest.mark.slow
@pytest.mark.parametrize(("stage", "variant"), BUILDS, ids=["-".join(case) for case in BUILDS])
def test_what_each_stage_builds_from_either_form_runs(tmp_path, tiny_prepared, monkeypatch, stage, variant):
    """Every numeric key the stage reads at once: all at the tiny value, all at their lowest or highest allowed value.
    Both spellings (``4`` or ``4.0``, ``1`` or ``1.0``) read as the same sections, so the stage runs once."""
    from stages import download

    monkeypatch.setattr(download.time, "sleep", lambda seconds: None)
    monkeypatch.setenv("IMDB_RNN_CACHE", str(tmp_path / "cache"))
    forms = {}
    for form in ("int", "float"):
        params = params_with("plot", "dpi", 100)
        for section, key in NUMERIC:
            if section in STAGE_SECTIONS[stage]:
                params[section][key] = in_form(allowed_values(section, key)[variant], form)
        (tmp_path / form).mkdir()
        forms[form] = load_sections(stage, write_params(tmp_path / form, params))
    sections = forms["int"]
    assert repr(sections) == repr(forms["float"])  # same values of the same types
    if stage == "train":
        metrics = train_tiny(tmp_path / "train", tiny_prepared, sections["model"], **sections["train"])
        assert metrics["train"]["epochs_run"] >= 1
    else:
        builder = {
            "download": build_download,
            "prepare": build_prepare,
            "lm": build_lm,
            "baseline": build_baseline,
            "evaluate": build_evaluate,
            "plot": build_plot,
            "embeddings": build_embeddings,
            "blend": build_blend,
            "export": build_export,
        }[stage]
        builder(sections[STAGE_SECTIONS[stage][0]], tmp_path)
