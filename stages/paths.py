"""Every file the pipeline reads or writes, named once (relative to the project root)."""

import dataclasses
from pathlib import Path
from typing import Self

PARAMS = Path("params.yaml")
README = Path("README.md")
DOCS = Path("docs")
RESULTS_DOC = DOCS / "results.md"
PARAMS_DOC = DOCS / "params.md"

DATA = Path("data")
REVIEWS_TABLE = DATA / "raw" / "reviews.parquet"
UNLABELED_TABLE = DATA / "raw" / "unlabeled.parquet"

PREPARED = DATA / "prepared"
SPLITS = ("train", "val", "test")
VOCAB = PREPARED / "vocab.txt"
ENCODING = PREPARED / "encoding.json"


def split_arrays(split: str, prepared: Path = PREPARED) -> Path:
    """Path of the padded integer arrays of one split (``train``, ``val`` or ``test``)."""
    return prepared / f"{split}.npz"


LM = DATA / "lm"  # forward.keras and backward.keras
LM_STATE = DATA / "lm_state"  # resumable state, outside DVC's outputs


def language_model(direction: str, folder: Path = LM) -> Path:
    """Path of the ``forward`` or ``backward`` language model."""
    return folder / f"{direction}.keras"


FORWARD_LM = language_model("forward")

WORD_VECTORS = DATA / "embeddings" / "vectors.npy"  # row i: the vector of vocabulary id i
UNLABELED_ARRAYS = DATA / "embeddings" / "unlabeled.npz"  # the unlabeled reviews encoded (train.adversarial: vat)


MODEL = DATA / "model" / "model.keras"
EXPORT = DATA / "export"  # the classifier as stock Keras and a SavedModel, with its vocabulary
PREDICTIONS = DATA / "predictions"  # val and test probabilities, for the blend
RNN_PREDICTIONS = PREDICTIONS / "rnn.npz"
BASELINE_PREDICTIONS = PREDICTIONS / "baseline.npz"
TRAIN_STATE = DATA / "train_state"  # resumable state, outside DVC's outputs

REPORTS = Path("reports")
PREPARE_STATS = REPORTS / "prepare_stats.json"
TRAIN_METRICS = REPORTS / "train_metrics.json"
MODEL_SUMMARY = REPORTS / "model_summary.txt"
HISTORY = REPORTS / "plots" / "history.tsv"
LIVE = REPORTS / "live"  # DVCLive's per-epoch metrics, written while training runs
LM_METRICS = REPORTS / "lm_metrics.json"
EMBEDDINGS_METRICS = REPORTS / "embeddings_metrics.json"
EMBEDDINGS_REPORT = REPORTS / "embeddings.md"
BASELINE_METRICS = REPORTS / "baseline_metrics.json"
BLEND_METRICS = REPORTS / "blend_metrics.json"
LM_HISTORY = REPORTS / "plots" / "lm_history.tsv"
LM_GENERATIONS = REPORTS / "lm_generations.md"
METRICS = REPORTS / "metrics.json"
PLOT_DATA = REPORTS / "plots"
ROC_CURVE = PLOT_DATA / "roc.csv"
PR_CURVE = PLOT_DATA / "precision_recall.csv"
CONFUSION = PLOT_DATA / "confusion.csv"
LENGTH_ACCURACY = PLOT_DATA / "length_accuracy.csv"
EXAMPLES = REPORTS / "examples.md"
FIGURES = REPORTS / "figures"
COMPARE = REPORTS / "compare"
REPORT = REPORTS / "report.md"


@dataclasses.dataclass(frozen=True)
class StagePaths:
    """Base of each stage's paths type (``PreparePaths`` ...): the files one stage reads and writes, the pipeline's
    by default."""

    def under(self, folder: Path) -> Self:
        """The same files below ``folder`` instead of the project root (a test's tiny project)."""
        return dataclasses.replace(self, **{f.name: folder / getattr(self, f.name) for f in dataclasses.fields(self)})
