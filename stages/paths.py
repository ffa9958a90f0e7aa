"""Every file the pipeline reads or writes, named once (relative to the project root)."""

from pathlib import Path

PARAMS = Path("params.yaml")

DATA = Path("data")
REVIEWS_TABLE = DATA / "raw" / "reviews.parquet"

PREPARED = DATA / "prepared"
SPLITS = ("train", "val", "test")
VOCAB = PREPARED / "vocab.txt"
ENCODING = PREPARED / "encoding.json"


def split_arrays(split: str, prepared: Path = PREPARED) -> Path:
    """Path of the padded integer arrays of one split (``train``, ``val`` or ``test``)."""
    return prepared / f"{split}.npz"


MODEL = DATA / "model" / "model.keras"
TRAIN_STATE = DATA / "train_state"  # resumable state, outside DVC's outputs

REPORTS = Path("reports")
PREPARE_STATS = REPORTS / "prepare_stats.json"
TRAIN_METRICS = REPORTS / "train_metrics.json"
MODEL_SUMMARY = REPORTS / "model_summary.txt"
HISTORY = REPORTS / "plots" / "history.tsv"
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
