"""Tests of stages/commands/predict.py: any text gives a probability in [0, 1] or a clear error."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stages.commands.predict import Predictor, check_argument, decode_utf8, reviews_from_lines
from stages.errors import PipelineError


@pytest.fixture(scope="module")
def predictor(tiny_classifier) -> Predictor:
    return Predictor(tiny_classifier / "model.keras", tiny_classifier / "prepared")


def check(predictor: Predictor, text: str) -> None:
    try:
        [prediction] = predictor.predict([text])
    except PipelineError as exc:
        assert "review 1 is" in str(exc)
        return
    assert 0.0 <= prediction.probability <= 1.0
    assert prediction.label in ("pos", "neg")


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=300))
def test_arbitrary_unicode_gives_probability_or_clear_error(predictor, text):
    check(predictor, text)


@settings(max_examples=30, deadline=None)
@given(st.text(alphabet=st.characters(whitelist_categories=("Cc", "Cf", "Zs", "Zl", "Zp")), max_size=50))
def test_control_and_whitespace_only_text_is_an_error_not_a_crash(predictor, text):
    check(predictor, text)


@pytest.mark.parametrize("text", ["", "   ", "\n\t", "\x00\x01\x02", "<br /><br />"])
def test_empty_texts_are_errors(predictor, text):
    with pytest.raises(PipelineError, match="review 1 is"):
        predictor.predict([text])


def test_ten_megabyte_review(predictor):
    [prediction] = predictor.predict(["great film, loved it. " * 480_000])  # ~10.5 MB
    assert prediction.tokens == 6 * 480_000 and 0 <= prediction.probability <= 1


def test_unknown_words_are_reported(predictor):
    [prediction] = predictor.predict(["zxqv wqrt"])
    assert prediction.unknown_share == 1.0


def test_input_decoding_helpers():
    assert decode_utf8("héllo".encode(), "stdin") == "héllo"
    with pytest.raises(PipelineError, match="stdin is not UTF-8 text"):
        decode_utf8(b"\xff\xfe", "stdin")
    with pytest.raises(PipelineError, match="review 3 is not UTF-8"):
        check_argument("bad \udcff byte", "review 3")
    assert reviews_from_lines("a\n\n  \nb\r\n") == ["a", "b"]


def test_predictions_are_batched_in_input_order(predictor):
    texts = ["great wonderful superb loved", "awful boring terrible", "great"]
    together = [p.probability for p in predictor.predict(texts)]
    alone = [predictor.predict([t])[0].probability for t in texts]
    assert together == pytest.approx(alone, abs=1e-6)
