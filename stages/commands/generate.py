"""Command ``generate``: continue a prompt word by word with the forward language model.

Sampling: the model's logits for the next word (padding and the out-of-vocabulary token
are never chosen), divided by ``temperature``, cut to the ``top_k`` most likely words, and
drawn from a NumPy generator seeded with ``seed``, so the same seed gives the same text.

The model runs as recurrent models are meant to: the prompt once, through each recurrent
layer's own cell with its final state kept (:class:`Stepper`), then one step per new
word from that state, so the work grows linearly with the prompt and the words added.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from stages.errors import PipelineError
from stages.text import OOV_ID, PAD_ID, token_index, tokenize

# The prompts of the pipeline's report, continued with these settings, so that a reviewer
# sees in a pull request how the language model changed.
REPORT_PROMPTS = (
    "this movie was",
    "the acting in this film",
    "i have never seen",
    "the plot is",
    "if you like horror movies",
)
REPORT_WORDS, REPORT_TEMPERATURE, REPORT_TOP_K, REPORT_SEED = 40, 0.8, 40, 0
MAX_WORDS = 100_000  # --words above it is refused: a bound a user can wait for

_NO_SPACE_BEFORE = re.compile(r" ([.,!?;:)%])")
_NO_SPACE_AFTER = re.compile(r"([($]) ")
_SENTENCE_START = re.compile(r"(^|[.!?] )([a-z])")


def load_language_model(path: Path):
    """The forward language model, loaded in Keras safe mode; a missing one names the command that builds it."""
    from stages.nn.saving import load

    if not path.is_file():
        raise PipelineError(f"language model {path} not found: run `dvc repro lm` (or `make repro`) first")
    try:
        return load(path)
    except Exception as exc:  # Keras raises many types for a damaged file
        raise PipelineError(f"language model {path} cannot be loaded ({exc}): rerun `dvc repro lm`") from None


class Stepper:
    """The language model as a state machine: ``feed(ids)`` reads tokens and returns the next word's logits.

    Each recurrent layer's cell is wrapped once in ``keras.layers.RNN(cell, return_state=True)``,
    which shares the cell's weights, so a prompt of any length is one pass and every later
    word one step, each starting from the state the last one left.
    """

    def __init__(self, model):
        import keras
        import tensorflow as tf

        from stages.nn.model import recurrent_layers

        self.embedding = model.get_layer("embedding")
        self.output = model.layers[-1]
        cells = [layer.cell for layer in recurrent_layers(model)]
        self.layers = [keras.layers.RNN(cell, return_sequences=True, return_state=True) for cell in cells]
        self.states = [cell.get_initial_state(batch_size=1) for cell in cells]  # zeros, as training starts
        self._run = tf.function(self._logits_and_states, reduce_retracing=True)  # a graph: the prompt's loop is fast

    def _logits_and_states(self, ids, states):
        x = self.embedding(ids)
        after = []
        for layer, state in zip(self.layers, states):
            x, *state = layer(x, initial_state=state, training=False)
            after.append(state)
        return self.output(x[:, -1]), after

    def feed(self, ids: list[int]) -> np.ndarray:
        """Read ``ids`` after everything fed before; return the logits of the word that follows (float64)."""
        logits, self.states = self._run(np.array([ids], dtype=np.int32), self.states)
        return np.asarray(logits, dtype=np.float64)[0]


def stream(
    model, vocabulary: list[str], prompt: str, words: int, temperature: float, top_k: int, seed: int
) -> Iterator[str]:
    """Yield the prompt's tokens, then ``words`` new tokens one at a time as they are drawn."""
    tokens = check_settings(prompt, words, temperature, top_k, seed)
    index = token_index(vocabulary)
    rng = np.random.default_rng(seed)
    stepper = Stepper(model)
    yield from tokens
    logits = stepper.feed([index.get(token, OOV_ID) for token in tokens])
    for done in range(words):
        next_id = sample(logits, temperature, top_k, rng)
        yield vocabulary[next_id]
        if done + 1 < words:
            logits = stepper.feed([next_id])


def generate(
    model, vocabulary: list[str], prompt: str, words: int, temperature: float, top_k: int, seed: int
) -> tuple[str, int]:
    """Continue ``prompt`` by ``words`` tokens; return the text and how many prompt tokens were unknown."""
    return detokenize(list(stream(model, vocabulary, prompt, words, temperature, top_k, seed))), unknown_words(
        prompt, vocabulary
    )


def unknown_words(prompt: str, vocabulary: list[str]) -> int:
    """How many of the prompt's tokens the vocabulary lacks (they are read as ``<oov>``)."""
    known = set(vocabulary[OOV_ID + 1 :])
    return sum(token not in known for token in tokenize(prompt))


def readable(tokens: Iterator[str]) -> Iterator[str]:
    """The detokenized text in pieces as ``tokens`` arrive: what each token adds to the text before it.

    How a token is joined (its space, its capital) depends only on the token before it,
    so each piece comes from the last few tokens, and a long stream costs linear time.
    """
    context: list[str] = []
    for token in tokens:
        before = detokenize(context)
        after = detokenize([*context, token])
        yield after[len(before) :]
        context = [*context[-1:], token]


def check_settings(prompt: str, words: int, temperature: float, top_k: int, seed: int = 0) -> list[str]:
    """Refuse settings ``generate`` cannot use (before any model is loaded); return the prompt's tokens."""
    if not 1 <= words <= MAX_WORDS:
        raise PipelineError(f"--words {words}: expected a number of words from 1 to {MAX_WORDS:,}")
    if seed < 0:
        raise PipelineError(f"--seed {seed}: expected 0 or a positive integer")
    if not temperature > 0:
        raise PipelineError(f"--temperature {temperature}: expected a number above 0 (e.g. 0.8)")
    if top_k < 0:
        raise PipelineError(f"--top-k {top_k}: expected 0 (all words) or a positive number")
    tokens = tokenize(prompt)
    if not tokens:
        raise PipelineError('the prompt has no words: give a few words to continue, e.g. "this movie was"')
    return tokens


def sample(logits: np.ndarray, temperature: float, top_k: int, rng: np.random.Generator) -> int:
    """Draw one word id from ``logits`` (never padding or out-of-vocabulary)."""
    logits = logits / temperature
    logits[[PAD_ID, OOV_ID]] = -np.inf
    if top_k and top_k < len(logits) - 2:
        cutoff = np.partition(logits, -top_k)[-top_k]
        logits[logits < cutoff] = -np.inf
    p = np.exp(logits - logits.max())
    return int(rng.choice(len(p), p=p / p.sum()))


def detokenize(tokens: list[str]) -> str:
    """Join tokens into readable text: no space before punctuation, sentences capitalised, "i" as "I"."""
    text = " ".join("I" if token == "i" else token for token in tokens)
    text = _NO_SPACE_AFTER.sub(r"\1", _NO_SPACE_BEFORE.sub(r"\1", text))
    return _SENTENCE_START.sub(lambda m: m.group(1) + m.group(2).upper(), text)


def generations_markdown(model, vocabulary: list[str]) -> str:
    """The report of the pipeline: each fixed prompt continued with fixed settings."""
    lines = [
        "# Language model generations",
        "",
        f"The forward model continues each prompt by {REPORT_WORDS} tokens (temperature {REPORT_TEMPERATURE}, "
        f"top-k {REPORT_TOP_K}, seeds {REPORT_SEED}, {REPORT_SEED + 1}, ... in turn); `stages generate` makes more.",
        "",
    ]
    for seed, prompt in enumerate(REPORT_PROMPTS, start=REPORT_SEED):
        text, _ = generate(model, vocabulary, prompt, REPORT_WORDS, REPORT_TEMPERATURE, REPORT_TOP_K, seed)
        lines += [f"- **{prompt}** → {text}", ""]
    return "\n".join(lines)
