"""Tests of stages/commands/generate.py and the `generate` command, on a tiny trained language model."""

import numpy as np
import pytest
from typer.testing import CliRunner

from stages import paths
from stages.cli import app
from stages.commands.generate import detokenize, generate, load_language_model, readable, sample
from stages.errors import PipelineError
from stages.text import read_vocabulary, token_index, tokenize


@pytest.fixture(scope="module")
def model_and_vocabulary(trained_lm, lm_data):
    return load_language_model(paths.language_model("forward", trained_lm / "lm")), read_vocabulary(
        lm_data / "prepared" / "vocab.txt"
    )


@pytest.mark.slow
def test_same_seed_same_text_other_seed_other_text(model_and_vocabulary):
    model, vocabulary = model_and_vocabulary
    first, _ = generate(model, vocabulary, "the movie was", 15, 1.0, 0, seed=3)
    again, _ = generate(model, vocabulary, "the movie was", 15, 1.0, 0, seed=3)
    others = {generate(model, vocabulary, "the movie was", 15, 1.0, 0, seed=s)[0] for s in range(4, 8)}
    assert first == again and first.startswith("The movie was")
    assert others - {first}


def test_generated_words_come_from_the_vocabulary_and_never_padding_or_oov(model_and_vocabulary):
    model, vocabulary = model_and_vocabulary
    text, _ = generate(model, vocabulary, "great", 30, 1.5, 0, seed=0)
    assert "<pad>" not in text and "<oov>" not in text
    logits = np.zeros(10)
    logits[0] = logits[1] = 100.0  # even when padding and OOV are the model's favourites
    assert {sample(logits.copy(), 1.0, 0, np.random.default_rng(s)) for s in range(50)} <= set(range(2, 10))


def test_top_k_keeps_only_the_most_likely_words():
    logits = np.array([0, 0, 5.0, 4.0, 1.0, 0.5, 0.2])
    draws = {sample(logits.copy(), 1.0, 2, np.random.default_rng(s)) for s in range(200)}
    assert draws == {2, 3}


def test_unknown_prompt_words_are_read_as_oov_not_fatal(model_and_vocabulary):
    model, vocabulary = model_and_vocabulary
    text, unknown = generate(model, vocabulary, "zxqv great qqqq", 5, 1.0, 0, seed=0)
    assert unknown == 2 and text.startswith("Zxqv great qqqq")


@pytest.mark.parametrize(
    ("prompt", "words", "temperature", "top_k", "message"),
    [
        ("", 5, 1.0, 0, "the prompt has no words"),
        ("   <br />  ", 5, 1.0, 0, "the prompt has no words"),
        ("the movie", 0, 1.0, 0, "--words 0: expected a number of words from 1 to 100,000"),
        ("the movie", 100_001, 1.0, 0, "--words 100001: expected a number of words from 1 to 100,000"),
        ("the movie", 5, 0.0, 0, "--temperature 0.0: expected a number above 0"),
        ("the movie", 5, -1.0, 0, "--temperature -1.0"),
        ("the movie", 5, 1.0, -3, "--top-k -3"),
    ],
)
def test_bad_input_is_a_one_line_error(model_and_vocabulary, prompt, words, temperature, top_k, message):
    model, vocabulary = model_and_vocabulary
    with pytest.raises(PipelineError, match=message):
        generate(model, vocabulary, prompt, words, temperature, top_k, seed=0)


def test_detokenize_reads_like_text():
    assert (
        detokenize(["i", "loved", "it", "!", "the", "end", "(", "really", ")", "."]) == "I loved it! The end (really)."
    )


def test_command_prints_a_continuation_and_notes_unknown_words(trained_lm, lm_data):
    args = [
        "generate",
        "zxqv the movie",
        "--words",
        "6",
        "--seed",
        "1",
        "--model",
        str(paths.language_model("forward", trained_lm / "lm")),
        "--prepared",
        str(lm_data / "prepared"),
    ]
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "Zxqv the movie" in result.stdout
    assert "1 prompt word(s) are not in the vocabulary" in result.stderr
    again = CliRunner().invoke(app, args, catch_exceptions=False)
    assert again.stdout == result.stdout


def test_command_without_a_model_names_the_command_that_builds_it(tmp_path, lm_data):
    result = CliRunner().invoke(
        app,
        ["generate", "the movie", "--model", str(tmp_path / "absent.keras"), "--prepared", str(lm_data / "prepared")],
    )
    assert result.exit_code == 1
    assert "run `dvc repro lm`" in result.output and "Traceback" not in result.output
    bad = CliRunner().invoke(app, ["generate", "the movie", "--words", "-2", "--model", str(tmp_path / "a.keras")])
    assert bad.exit_code == 1 and "--words -2: expected a number of words from 1 to 100,000" in bad.output
    negative = CliRunner().invoke(app, ["generate", "the movie", "--seed", "-7", "--model", str(tmp_path / "a.keras")])
    assert negative.exit_code == 1 and negative.output.strip() == "error: --seed -7: expected 0 or a positive integer"


def rerun_generate(model, vocabulary, prompt, words, temperature, top_k, seed):
    """The generator before the step model: the whole text through the model again for every new word."""
    index = token_index(vocabulary)
    ids = [index.get(token, 1) for token in tokenize(prompt)]
    rng = np.random.default_rng(seed)
    for _ in range(words):
        logits = np.asarray(model(np.array([ids], dtype=np.int32), training=False))[0, -1].astype(np.float64)
        ids.append(sample(logits, temperature, top_k, rng))
    return detokenize([vocabulary[i] for i in ids[len(tokenize(prompt)) :]])


@pytest.mark.slow
@pytest.mark.parametrize("cell", ["simple_rnn", "lstm", "gru"])
def test_the_step_model_gives_the_text_of_rerunning_the_whole_model(model_and_vocabulary, cell):
    from stages.nn.language_model import build_language_models

    trained, vocabulary = model_and_vocabulary
    models = [trained, build_language_models(len(vocabulary), cell, 6, 2, 5)[0]]  # and two untrained layers
    for model in models:
        for seed in (0, 1):
            text, _ = generate(model, vocabulary, "the movie was great", 12, 1.0, 0, seed)
            added = rerun_generate(model, vocabulary, "the movie was great", 12, 1.0, 0, seed)
            assert text.lower().endswith(added.lower())


def test_streamed_pieces_join_to_the_whole_text():
    tokens = ["(", "i", "loved", "it", ")", "!", "the", "end", ".", "$", "5", "%", "what", "?", "no"]
    for cut in range(1, len(tokens) + 1):
        assert "".join(readable(iter(tokens[:cut]))) == detokenize(tokens[:cut])
