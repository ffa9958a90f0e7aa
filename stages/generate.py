"""Command ``generate``: continue a prompt word by word with the forward language model.

Sampling: the model's logits for the next word (padding and the out-of-vocabulary token
are never chosen), divided by ``temperature``, cut to the ``top_k`` most likely words, and
drawn from a NumPy generator seeded with ``seed``, so the same seed gives the same text.
"""

from __future__ import annotations

import re
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

_NO_SPACE_BEFORE = re.compile(r" ([.,!?;:)%])")
_NO_SPACE_AFTER = re.compile(r"([($]) ")
_SENTENCE_START = re.compile(r"(^|[.!?] )([a-z])")


def load_language_model(path: Path):
    """The forward language model, loaded in Keras safe mode; a missing one names the command that builds it."""
    from stages.saving import load

    if not path.is_file():
        raise PipelineError(f"language model {path} not found: run `dvc repro lm` (or `make repro`) first")
    try:
        return load(path)
    except Exception as exc:  # Keras raises many types for a damaged file
        raise PipelineError(f"language model {path} cannot be loaded ({exc}): rerun `dvc repro lm`") from None


def generate(
    model, vocabulary: list[str], prompt: str, words: int, temperature: float, top_k: int, seed: int
) -> tuple[str, int]:
    """Continue ``prompt`` by ``words`` tokens; return the text and how many prompt tokens were unknown."""
    tokens = check_settings(prompt, words, temperature, top_k)
    index = token_index(vocabulary)
    ids = [index.get(token, OOV_ID) for token in tokens]
    rng = np.random.default_rng(seed)
    out = list(tokens)
    for _ in range(words):
        logits = np.asarray(model(np.array([ids], dtype=np.int32), training=False))[0, -1].astype(np.float64)
        next_id = sample(logits, temperature, top_k, rng)
        ids.append(next_id)
        out.append(vocabulary[next_id])
    return detokenize(out), sum(i == OOV_ID for i in ids[: len(tokens)])


def check_settings(prompt: str, words: int, temperature: float, top_k: int) -> list[str]:
    """Refuse settings ``generate`` cannot use (before any model is loaded); return the prompt's tokens."""
    if words < 1:
        raise PipelineError(f"--words {words}: expected a positive number of words")
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
