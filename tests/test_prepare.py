"""Tests of stages/prepare.py on a tiny synthetic reviews table."""

import json

import numpy as np
import pytest

from stages import paths, prepare
from stages.errors import PipelineError
from stages.text import OOV_ID, read_vocabulary
from tests.synthetic import review_table


def run_prepare(tmp_path, table=None, **overrides):
    table = review_table(per_label=20) if table is None else table
    tmp_path.mkdir(parents=True, exist_ok=True)
    table_path = tmp_path / "reviews.parquet"
    table.to_parquet(table_path, index=False)
    settings = dict(
        vocab_size=30, skip_top=0, max_len=8, padding="post", truncating="pre", val_fraction=0.25, seed=1, limit=0
    )
    settings.update(overrides)
    stats = prepare.run(table_path, tmp_path / "prepared", tmp_path / "stats.json", **settings)
    arrays = {}
    for split in paths.SPLITS:
        with np.load(paths.split_arrays(split, tmp_path / "prepared"), allow_pickle=False) as data:
            arrays[split] = {key: data[key] for key in data.files}
    return stats, arrays


def test_outputs_shapes_dtypes_and_split_sizes(tmp_path):
    stats, arrays = run_prepare(tmp_path)
    assert {s: len(a["y"]) for s, a in arrays.items()} == {"train": 30, "val": 10, "test": 40}
    for data in arrays.values():
        assert data["x"].dtype == np.int32 and data["x"].shape[1] == 8
        assert (data["length"] == np.minimum(data["full_length"], 8)).all()
        assert ((data["x"] != 0).sum(axis=1) == data["length"]).all()
    assert arrays["val"]["y"].mean() == 0.5  # stratified
    assert json.loads((tmp_path / "stats.json").read_text()) == stats
    assert set(stats["splits"]) == {"train", "val", "test"}
    assert 0 < stats["splits"]["train"]["length"]["truncated_share"] <= 1
    assert (tmp_path / "prepared" / "vocab.txt").read_text().startswith("<pad>\n<oov>\n")


def test_validation_rows_come_from_train_only_and_are_seeded(tmp_path):
    _, first = run_prepare(tmp_path / "a")
    _, again = run_prepare(tmp_path / "b")
    _, other = run_prepare(tmp_path / "c", seed=2)
    table = review_table(per_label=20)
    assert set(table["split"].iloc[first["val"]["row"]]) == {"train"}
    assert set(table["split"].iloc[first["test"]["row"]]) == {"test"}
    assert not set(first["val"]["row"]) & set(first["train"]["row"])
    assert (first["val"]["row"] == again["val"]["row"]).all()
    assert set(first["val"]["row"]) != set(other["val"]["row"])


def test_vocabulary_comes_from_training_rows_only(tmp_path):
    table = review_table(per_label=20)
    table.loc[table["split"] == "test", "text"] = "zebra zebra zebra zebra"
    _, arrays = run_prepare(tmp_path, table=table, vocab_size=1000)
    vocab = read_vocabulary(tmp_path / "prepared" / "vocab.txt")
    assert "zebra" not in vocab
    assert set(arrays["test"]["x"][:, :4].ravel()) == {OOV_ID}


@pytest.mark.parametrize(("padding", "truncating"), [("post", "pre"), ("pre", "post")])
def test_padding_and_truncating_follow_params(tmp_path, padding, truncating):
    _, arrays = run_prepare(tmp_path, padding=padding, truncating=truncating, max_len=40)
    x, lengths = arrays["train"]["x"], arrays["train"]["length"]
    short = np.flatnonzero(lengths < 40)[0]
    if padding == "post":
        assert (x[short, lengths[short] :] == 0).all() and x[short, 0] != 0
    else:
        assert (x[short, : 40 - lengths[short]] == 0).all() and x[short, -1] != 0


def test_limit_samples_balanced_subset(tmp_path):
    stats, arrays = run_prepare(tmp_path, limit=10)
    assert len(arrays["test"]["y"]) == 10 and arrays["test"]["y"].mean() == 0.5
    assert len(arrays["train"]["y"]) + len(arrays["val"]["y"]) == 10


def test_missing_or_broken_table_names_the_stage_to_rerun(tmp_path):
    with pytest.raises(PipelineError, match="run `dvc repro download` first"):
        prepare.run(tmp_path / "absent.parquet", tmp_path, tmp_path / "s.json", 30, 0, 8, "post", "pre", 0.2, 1, 0)
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1 not really")
    with pytest.raises(PipelineError, match="unreadable"):
        prepare.run(broken, tmp_path, tmp_path / "s.json", 30, 0, 8, "post", "pre", 0.2, 1, 0)
    assert not (tmp_path / "s.json").exists()
