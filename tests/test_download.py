"""Tests of stages/download.py on tiny synthetic archives (the real mirror: test_pipeline_slow.py)."""

import gzip
import tarfile
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from stages import download, paths
from stages.cli import app
from stages.errors import PipelineError
from stages.io.tables import LABELED_COLUMNS, UNLABELED_COLUMNS
from tests.project import default_params, write_params
from tests.synthetic import sha256, write_archive


def run_stage(archive: Path, digest: str) -> tuple[int, str]:
    """Run the download command on ``archive`` in the current folder; return exit code and output."""
    params = default_params()
    params["download"].update(url=str(archive), sha256=digest, size=0, mirror="")
    write_params(Path.cwd(), params)
    result = CliRunner().invoke(app, ["download"], catch_exceptions=False)
    return result.exit_code, result.output


def test_read_archive_builds_table_and_keeps_unlabeled_apart(tmp_path):
    archive = tmp_path / "a.tar.gz"
    write_archive(archive, per_folder=3, unsup=5)
    table, unlabeled = download.read_archive(archive)
    assert list(table.columns) == LABELED_COLUMNS
    assert list(unlabeled.columns) == UNLABELED_COLUMNS
    assert unlabeled["id"].tolist() == [0, 1, 2, 3, 4] and set(unlabeled["text"]) == {"unlabeled review"}
    assert len(table) == 12
    assert table.groupby(["split", "label"]).size().tolist() == [3, 3, 3, 3]
    assert set(table["rating"][table["label"] == 1]) == {9}
    assert table.loc[0, "movie"] == "tt0001000"
    assert "unlabeled review" not in set(table["text"])
    assert table["text"].iloc[0].startswith("This ")


def test_table_does_not_depend_on_member_order(tmp_path):
    a, b = tmp_path / "a.tar.gz", tmp_path / "b.tar.gz"
    write_archive(a, per_folder=3)
    with tarfile.open(a) as src, tarfile.open(b, "w:gz") as dst:
        for member in reversed(src.getmembers()):
            dst.addfile(member, src.extractfile(member) if member.isreg() else None)
    pd.testing.assert_frame_equal(download.read_archive(a)[0], download.read_archive(b)[0])


def test_counts_must_be_the_full_balanced_dataset(workdir):
    archive = workdir / "small.tar.gz"
    digest = write_archive(archive, per_folder=3)
    code, output = run_stage(archive, digest)
    assert code == 1
    assert "expected 12,500 reviews in each of train/test pos/neg, found train/neg 3" in output
    assert not paths.REVIEWS_TABLE.exists()


def test_missing_split_folder_is_named(tmp_path):
    archive = tmp_path / "a.tar.gz"
    write_archive(archive, per_folder=2, skip_folders=("test/pos",))
    with pytest.raises(PipelineError, match="test/pos 0"):
        download.check_counts(download.read_archive(archive)[0])


def test_wrong_checksum_is_refused_without_output(workdir):
    archive = workdir / "a.tar.gz"
    write_archive(archive)
    code, output = run_stage(archive, "0" * 64)
    assert code == 1
    assert "expected 0000" in output and "SHA-256" in output
    assert [line for line in output.splitlines() if line.startswith("error:")] == [output.splitlines()[-1]]
    assert not paths.REVIEWS_TABLE.exists()


def test_wrong_size_reports_truncation(tmp_path):
    archive = tmp_path / "a.tar.gz"
    digest = write_archive(archive)
    with pytest.raises(PipelineError, match="truncated"):
        download.verify(archive, digest, archive.stat().st_size + 10)


@pytest.mark.parametrize("damage", ["truncated", "not_gzip", "gzip_not_tar"])
def test_unreadable_archives_fail_cleanly(workdir, damage):
    archive = workdir / "a.tar.gz"
    write_archive(archive)
    data = archive.read_bytes()
    if damage == "truncated":
        archive.write_bytes(data[: len(data) // 2])
    elif damage == "not_gzip":
        archive.write_bytes(b"<html>404 Not Found</html>")
    else:
        archive.write_bytes(gzip.compress(b"just text, not a tar archive" * 100))
    code, output = run_stage(archive, sha256(archive))
    assert code == 1
    assert "is not a readable .tar.gz" in output
    assert not paths.REVIEWS_TABLE.exists()


@pytest.mark.parametrize(
    ("name", "info", "message"),
    [
        ("aclImdb/../../evil.txt", {}, "would escape"),
        ("/etc/evil.txt", {}, "would escape"),
        ("elsewhere/x.txt", {}, "outside aclImdb/"),
        ("aclImdb/train/pos/99_9.txt", {"type": tarfile.SYMTYPE, "linkname": "/etc/passwd"}, "is a link"),
        ("aclImdb/train/pos/98_9.txt", {"type": tarfile.LNKTYPE, "linkname": "aclImdb/README"}, "is a link"),
        ("aclImdb/dev", {"type": tarfile.CHRTYPE}, "device or special file"),
        ("aclImdb/fifo", {"type": tarfile.FIFOTYPE}, "device or special file"),
    ],
)
def test_hostile_members_are_refused(workdir, name, info, message):
    archive = workdir / "a.tar.gz"
    digest = write_archive(archive, extra=[(name, b"x", info)])
    code, output = run_stage(archive, digest)
    assert code == 1
    assert message in output
    assert not paths.REVIEWS_TABLE.exists()
    assert not (workdir.parent / "evil.txt").exists()


def test_non_utf8_review_is_named(tmp_path):
    archive = tmp_path / "a.tar.gz"
    write_archive(archive, extra=[("aclImdb/train/pos/77_8.txt", b"caf\xe9 \xff", {})])
    with pytest.raises(PipelineError, match=r"77_8.txt' is not UTF-8"):
        download.read_archive(archive)[0]


def test_oversized_member_is_refused_without_reading_it(tmp_path, monkeypatch):
    monkeypatch.setattr(download, "MAX_REVIEW_BYTES", 100)
    archive = tmp_path / "a.tar.gz"
    write_archive(archive, extra=[("aclImdb/train/pos/66_8.txt", b"a" * 5000, {})])
    with pytest.raises(PipelineError, match="more than the 100 allowed"):
        download.read_archive(archive)[0]


def test_gzip_bomb_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(download, "MAX_ARCHIVE_BYTES", 1 << 20)
    archive = tmp_path / "a.tar.gz"
    write_archive(archive, extra=[("aclImdb/imdb.vocab", b"\0" * (4 << 20), {})])
    assert archive.stat().st_size < 64 << 10
    with pytest.raises(PipelineError, match="gzip bomb"):
        download.read_archive(archive)[0]


def test_source_prefers_existing_mirror_and_falls_back_to_url(tmp_path):
    mirror = tmp_path / "m.tar.gz"
    mirror.write_bytes(b"x")
    source = download.choose_source("https://example.org/a.tar.gz", "a" * 64, 5, f"file://{mirror}", "B" * 64)
    assert source == download.Source(str(mirror), "b" * 64, 0, True)
    source = download.choose_source("https://example.org/a.tar.gz", "a" * 64, 5, str(tmp_path / "absent"), "b" * 64)
    assert source == download.Source("https://example.org/a.tar.gz", "a" * 64, 5, False)
    with pytest.raises(PipelineError, match="unsupported archive location"):
        download.choose_source("ftp://example.org/a", "a" * 64, 0, "", "")


def test_stage_logs_source_and_writes_table(workdir, monkeypatch):
    archive = workdir / "a.tar.gz"
    digest = write_archive(archive, per_folder=2)
    monkeypatch.setattr(download, "REVIEWS_PER_FOLDER", 2)
    monkeypatch.setattr(download, "UNLABELED_REVIEWS", 2)
    code, output = run_stage(archive, digest)
    assert code == 0, output
    assert f"source: local file {archive}" in output
    table = pd.read_parquet(paths.REVIEWS_TABLE)
    assert len(table) == 8 and table["label"].tolist().count(1) == 4
    assert pd.read_parquet(paths.UNLABELED_TABLE)["id"].tolist() == [0, 1]


def test_archive_without_unlabeled_reviews_is_refused_without_output(workdir, monkeypatch):
    archive = workdir / "labeled-only.tar.gz"
    digest = write_archive(archive, per_folder=2, unsup=0)
    monkeypatch.setattr(download, "REVIEWS_PER_FOLDER", 2)
    code, output = run_stage(archive, digest)
    assert code == 1
    assert "expected 50,000 unlabeled reviews in train/unsup, found 0" in output and "aclImdb_v1-text" in output
    assert len(output.strip().splitlines()[-1]) > 0 and "Traceback" not in output
    assert not paths.REVIEWS_TABLE.exists() and not paths.UNLABELED_TABLE.exists()


def test_cached_download_is_reused(tmp_path, monkeypatch):
    archive = tmp_path / "a.tar.gz"
    digest = write_archive(archive)
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / f"{digest}.tar.gz").write_bytes(archive.read_bytes())
    monkeypatch.setattr(download, "download", lambda *a, **k: pytest.fail("downloaded again"))
    source = download.Source("https://example.org/a.tar.gz", digest, 0, False)
    assert download.fetch(source, retries=0, timeout_s=1, cache=cache) == cache / f"{digest}.tar.gz"
