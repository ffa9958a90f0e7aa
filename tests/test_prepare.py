"""Tests of stages/prepare.py on a tiny synthetic reviews table."""

import json

import numpy as np
import pytest

from stages import paths, prepare
from stages.errors import PipelineError
from stages.prepare import PreparePaths
from stages.text import OOV_ID, read_vocabulary, tokenize
from tests.synthetic import review_table

# The tiny tables' settings; every other key keeps its default.
TINY = dict(vocab_size=30, max_len=8, val_fraction=0.25, val_grouping="random", seed=1)


def run_prepare(tmp_path, table=None, **overrides):
    table = review_table(per_label=20) if table is None else table
    tmp_path.mkdir(parents=True, exist_ok=True)
    table_path = tmp_path / "reviews.parquet"
    table.to_parquet(table_path, index=False)
    files = PreparePaths(table_path, tmp_path / "prepared", tmp_path / "stats.json")
    stats = prepare.run(prepare.Prepare(**(TINY | overrides)), files)
    arrays = {}
    for split in paths.SPLITS:
        with np.load(paths.split_arrays(split, tmp_path / "prepared"), allow_pickle=False) as data:
            arrays[split] = {key: data[key] for key in data.files}
    return stats, arrays


def run_prepare_at(table_path, folder):
    params = prepare.Prepare(**(TINY | {"val_fraction": 0.2}))
    return prepare.run(params, PreparePaths(table_path, folder, folder / "s.json"))


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


@pytest.mark.parametrize("limit", [0, 10])
def test_rows_point_at_each_review_in_the_full_table(tmp_path, limit):
    """evaluate and lm find a review's text by ``row``: it must index the table download wrote, not the sample."""
    table = review_table(per_label=20)
    _, arrays = run_prepare(tmp_path, table, limit=limit, max_len=200)
    vocabulary = read_vocabulary(tmp_path / "prepared" / "vocab.txt")
    for split, data in arrays.items():
        rows = table.iloc[data["row"]]
        assert (rows["label"].to_numpy() == data["y"]).all()
        assert set(rows["split"]) == {"test" if split == "test" else "train"}
        first = [vocabulary[i] for i in data["x"][0][: data["length"][0]]]
        assert first == [t if t in vocabulary else vocabulary[OOV_ID] for t in tokenize(rows["text"].iloc[0])]


def test_missing_or_broken_table_names_the_stage_to_rerun(tmp_path):
    with pytest.raises(PipelineError, match="run `dvc repro download` first"):
        run_prepare_at(tmp_path / "absent.parquet", tmp_path)
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1 not really")
    with pytest.raises(PipelineError, match="unreadable"):
        run_prepare_at(broken, tmp_path)
    assert not (tmp_path / "s.json").exists()


def movie_table(movies: int = 40, per_movie: int = 3):
    """Train reviews of ``movies`` movies, ``per_movie`` each, mixed labels; a small test split."""
    table = review_table(per_label=movies * per_movie // 2)
    train = table["split"] == "train"
    table.loc[train, "movie"] = [f"tt{i // per_movie:07d}" for i in range(int(train.sum()))]
    return table


def test_movie_grouped_validation_puts_each_movie_on_one_side(tmp_path):
    table = movie_table()
    _, arrays = run_prepare(tmp_path / "a", table=table, val_grouping="movie", val_fraction=0.25)
    train_movies = set(table["movie"].iloc[arrays["train"]["row"]])
    val_movies = set(table["movie"].iloc[arrays["val"]["row"]])
    assert val_movies and train_movies and not train_movies & val_movies
    assert abs(len(arrays["val"]["y"]) - 30) <= 3  # a quarter of 120 rows, in whole movies of 3
    assert set(table["split"].iloc[arrays["val"]["row"]]) == {"train"}
    _, again = run_prepare(tmp_path / "b", table=table, val_grouping="movie", val_fraction=0.25)
    assert (again["val"]["row"] == arrays["val"]["row"]).all()


def test_reviews_without_a_movie_are_groups_of_their_own():
    movies = np.array([""] * 10 + ["tt1"] * 10)
    mask = prepare.movie_validation_mask(movies, 0.5, seed=0)
    assert mask[10:].all() or not mask[10:].any()  # the movie stays whole
    assert 0 < mask[:10].sum() < 10  # the movieless rows are split one by one


def test_movie_grouping_that_leaves_one_side_empty_is_a_clear_error(tmp_path):
    table = movie_table(movies=1, per_movie=40)
    with pytest.raises(PipelineError, match="val_grouping: random"):
        run_prepare(tmp_path, table=table, val_grouping="movie")


def test_the_pipeline_layout_moved_under_a_folder_keeps_every_file_inside_it(tmp_path):
    files = PreparePaths().under(tmp_path)
    assert files.reviews == tmp_path / paths.REVIEWS_TABLE and files.stats == tmp_path / paths.PREPARE_STATS
    files.reviews.parent.mkdir(parents=True)
    review_table(per_label=20).to_parquet(files.reviews, index=False)
    prepare.run(prepare.Prepare(**TINY), files)
    written = {path.relative_to(tmp_path) for path in tmp_path.rglob("*") if path.is_file()}
    assert written == {paths.REVIEWS_TABLE, paths.PREPARE_STATS, paths.VOCAB, paths.ENCODING} | {
        paths.split_arrays(split) for split in paths.SPLITS
    }
