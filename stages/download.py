"""Stage ``download``: fetch the aclImdb archive, verify it, and turn its reviews into two tables.

The archive is never unpacked to disk: its members are streamed, checked (no links,
devices, absolute paths or ``..``) and the 50,000 labeled reviews are written to one
Parquet table (split, label, rating, id, movie, text), the 50,000 unlabeled reviews of
``train/unsup`` to another (id, movie, text). The two never mix: only the language model
reads the unlabeled ones.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import posixpath
import re
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from stages import paths
from stages.errors import PipelineError
from stages.io.tables import LABELED_COLUMNS, UNLABELED_COLUMNS, write_table
from stages.params import Download
from stages.text import LABEL_NAMES

log = logging.getLogger(__name__)

ROOT = "aclImdb"
SPLITS = ("train", "test")
LABELS = {name: label for label, name in enumerate(LABEL_NAMES)}
REVIEWS_PER_FOLDER = 12_500
UNLABELED_REVIEWS = 50_000
MAX_REVIEW_BYTES = 1 << 20  # a real review is at most ~14 kB: refuse anything far larger
MAX_ARCHIVE_BYTES = 2 << 30  # the official archive expands to ~0.5 GB: refuse gzip bombs
CHUNK = 1 << 20

_REVIEW = re.compile(rf"^{ROOT}/(train|test)/(pos|neg)/(\d+)_(\d+)\.txt$")
_URLS = re.compile(rf"^{ROOT}/(train|test)/urls_(pos|neg)\.txt$")
_UNLABELED = re.compile(rf"^{ROOT}/train/unsup/(\d+)_0\.txt$")
_UNLABELED_URLS = f"{ROOT}/train/urls_unsup.txt"
_MOVIE = re.compile(r"/title/(tt\d+)/")


@dataclass(frozen=True)
class Source:
    """Where the archive comes from: a remote URL or a local file, with its expected digest."""

    location: str
    sha256: str
    size: int  # 0 = unknown
    is_local: bool

    def describe(self) -> str:
        """How the source is named in logs."""
        return f"local file {self.location}" if self.is_local else f"URL {self.location}"


def local_path(location: str) -> Path | None:
    """Return the filesystem path of a plain path or ``file://`` URL, or None for http(s)."""
    parsed = urllib.parse.urlparse(location)
    if parsed.scheme in ("http", "https"):
        return None
    if parsed.scheme == "file":
        return Path(urllib.request.url2pathname(parsed.path))
    if parsed.scheme and len(parsed.scheme) > 1:
        raise PipelineError(
            f"unsupported archive location {location!r}: expected an http(s) URL, file:// URL or a path"
        )
    return Path(location)


def choose_source(url: str, sha256: str, size: int, mirror: str, mirror_sha256: str) -> Source:
    """Use the mirror when it is set and its file exists, otherwise the URL."""
    if mirror:
        path = local_path(mirror)
        if path is not None and path.is_file():
            return Source(str(path), mirror_sha256.lower(), 0, True)
        log.warning("mirror %s not found, falling back to %s", mirror, url)
    path = local_path(url)
    if path is not None:
        return Source(str(path), sha256.lower(), size, True)
    return Source(url, sha256.lower(), size, False)


def cache_dir() -> Path:
    """Download cache, outside DVC's outputs: ``$IMDB_RNN_CACHE`` or ``~/.cache/imdb-rnn``."""
    return Path(os.environ.get("IMDB_RNN_CACHE") or Path.home() / ".cache" / "imdb-rnn")


def sha256_of(path: Path) -> str:
    """SHA-256 hex digest of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify(path: Path, sha256: str, size: int) -> None:
    """Check an archive's size (when known) and SHA-256; raise a PipelineError naming both."""
    actual_size = path.stat().st_size
    if size and actual_size != size:
        raise PipelineError(
            f"{path} has {actual_size:,} bytes, expected {size:,} (truncated or a different file): delete it and download again"
        )
    actual = sha256_of(path)
    if actual != sha256:
        raise PipelineError(
            f"{path} has SHA-256 {actual}, expected {sha256}: the file is corrupt or not the aclImdb archive"
        )


def fetch(source: Source, retries: int, timeout_s: float, cache: Path | None = None) -> Path:
    """Return the path of a verified copy of the archive, downloading it into the cache if needed."""
    if source.is_local:
        path = Path(source.location)
        if not path.is_file():
            raise PipelineError(f"archive {path} not found: set download.url or download.mirror to an existing file")
        verify(path, source.sha256, source.size)
        return path
    cache = cache or cache_dir()
    cached = cache / f"{source.sha256}.tar.gz"
    if cached.is_file():
        try:
            verify(cached, source.sha256, source.size)
            log.info("using cached archive %s", cached)
            return cached
        except PipelineError as exc:
            log.warning("cached archive is unusable (%s): downloading again", exc)
            cached.unlink()
    cache.mkdir(parents=True, exist_ok=True)
    partial = cached.with_name(cached.name + ".part")
    try:
        download(source.location, partial, retries, timeout_s, source.size)
        verify(partial, source.sha256, source.size)
        os.replace(partial, cached)
    finally:
        partial.unlink(missing_ok=True)
    return cached


class _Retryable(Exception):
    """A transient network failure worth another attempt."""


def download(url: str, dest: Path, retries: int, timeout_s: float, expected_size: int = 0) -> None:
    """Stream ``url`` into ``dest`` with a progress bar, retrying transient errors.

    After a dropped connection the next attempt asks for the rest with an HTTP Range
    request; a server that ignores it sends the whole file again.
    """
    attempt = 0
    while True:
        try:
            _download_once(url, dest, timeout_s, expected_size)
            return
        except (_Retryable, urllib.error.URLError, http.client.HTTPException, TimeoutError, ConnectionError) as exc:
            if isinstance(exc, urllib.error.HTTPError) and exc.code < 500 and exc.code not in (408, 429):
                raise PipelineError(f"download of {url} failed: HTTP {exc.code} {exc.reason}") from None
            attempt += 1
            if attempt > retries:
                reason = getattr(exc, "reason", None) or exc
                raise PipelineError(
                    f"download of {url} failed after {attempt} attempts ({reason}); without internet, "
                    "set download.mirror (and download.mirror_sha256) to a local copy of the archive"
                ) from None
            wait = min(0.5 * 2**attempt, 10.0)
            log.warning("download attempt %d failed (%s); retrying in %.1f s", attempt, exc, wait)
            time.sleep(wait)


def _download_once(url: str, dest: Path, timeout_s: float, expected_size: int) -> None:
    have = dest.stat().st_size if dest.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "imdb-rnn"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout_s)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # we already hold every byte
            return
        raise
    with response:
        if have and response.status != 206:
            have = 0  # the server ignored the Range request: start over
        length = int(response.headers.get("Content-Length") or 0)
        total = have + length if length else (expected_size or None)
        received = 0
        with (
            open(dest, "ab" if have else "wb") as out,
            tqdm(total=total, initial=have, unit="B", unit_scale=True, desc="download", disable=None) as bar,
        ):
            while chunk := response.read(CHUNK):
                out.write(chunk)
                received += len(chunk)
                bar.update(len(chunk))
    if length and received < length:
        raise _Retryable(f"connection closed after {have + received:,} of {have + length:,} bytes")


def _check_member(member: tarfile.TarInfo) -> str:
    """Return the member's normalised name, or raise if it is unsafe to read."""
    name = member.name
    normal = posixpath.normpath(name)
    if name.startswith("/") or normal.startswith("/") or ".." in normal.split("/"):
        raise PipelineError(f"archive member {name!r} would escape its folder: refusing the archive")
    if normal != ROOT and not normal.startswith(ROOT + "/"):
        raise PipelineError(f"archive member {name!r} lies outside {ROOT}/: not an aclImdb archive")
    if not (member.isreg() or member.isdir()):
        kind = "link" if (member.issym() or member.islnk()) else "device or special file"
        raise PipelineError(f"archive member {name!r} is a {kind}: refusing the archive")
    return normal


def read_archive(archive: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read an aclImdb ``.tar.gz`` into its labeled and its unlabeled reviews table, without unpacking it."""
    rows: list[tuple[str, int, int, int, str]] = []
    unlabeled: list[tuple[int, str]] = []
    movies: dict[tuple[str, int, int], str] = {}
    unlabeled_movies: dict[int, str] = {}
    expanded = 0
    try:
        with tarfile.open(archive, "r:gz") as tar, tqdm(unit=" files", desc="read archive", disable=None) as bar:
            for member in tar:
                bar.update()
                name = _check_member(member)
                expanded += member.size
                if expanded > MAX_ARCHIVE_BYTES:
                    raise PipelineError(
                        f"{archive} expands to more than {MAX_ARCHIVE_BYTES:,} bytes: refusing a possible gzip bomb"
                    )
                if match := _REVIEW.match(name):
                    split, folder, review_id, rating = match.groups()
                    text = _read_text(tar, member, MAX_REVIEW_BYTES)
                    rows.append((split, LABELS[folder], int(rating), int(review_id), text))
                elif match := _UNLABELED.match(name):
                    unlabeled.append((int(match.group(1)), _read_text(tar, member, MAX_REVIEW_BYTES)))
                elif match := _URLS.match(name):
                    split, folder = match.groups()
                    for line_no, movie in enumerate(_movies(tar, member)):
                        movies[(split, LABELS[folder], line_no)] = movie
                elif name == _UNLABELED_URLS:
                    unlabeled_movies = dict(enumerate(_movies(tar, member)))
    except (tarfile.ReadError, EOFError, zlib.error, OSError) as exc:
        raise PipelineError(f"{archive} is not a readable .tar.gz (truncated or not gzip): {exc}") from None
    table = pd.DataFrame(rows, columns=["split", "label", "rating", "id", "text"])
    table["movie"] = [movies.get(key, "") for key in zip(table["split"], table["label"], table["id"])]
    table = table.astype({"label": "int8", "rating": "int8", "id": "int32"})
    extra = pd.DataFrame(unlabeled, columns=["id", "text"]).astype({"id": "int32"})
    extra["movie"] = [unlabeled_movies.get(review_id, "") for review_id in extra["id"]]
    # Sort so that every source (official archive or mirror, any member order) gives identical bytes.
    return (
        table[LABELED_COLUMNS].sort_values(["split", "label", "id"], ignore_index=True),
        extra[UNLABELED_COLUMNS].sort_values("id", ignore_index=True),
    )


def _movies(tar: tarfile.TarFile, member: tarfile.TarInfo) -> list[str]:
    """The IMDb title id on each line of a ``urls_*.txt`` member ("" where a line has none)."""
    lines = _read_text(tar, member, 64 * MAX_REVIEW_BYTES).splitlines()
    return [found.group(1) if (found := _MOVIE.search(url)) else "" for url in lines]


def _read_text(tar: tarfile.TarFile, member: tarfile.TarInfo, limit: int) -> str:
    if member.size > limit:
        raise PipelineError(
            f"archive member {member.name!r} has {member.size:,} bytes, more than the {limit:,} allowed"
        )
    handle = tar.extractfile(member)
    data = handle.read(limit + 1) if handle is not None else b""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PipelineError(
            f"archive member {member.name!r} is not UTF-8 text ({exc.reason} at byte {exc.start})"
        ) from None


def check_counts(table: pd.DataFrame) -> None:
    """Require 12,500 positive and 12,500 negative reviews in each of train and test, ratings matching labels."""
    counts = Counter(zip(table["split"], table["label"]))
    expected = {(split, label): REVIEWS_PER_FOLDER for split in SPLITS for label in LABELS.values()}
    if dict(counts) != expected:
        found = ", ".join(
            f"{split}/{folder} {counts.get((split, label), 0):,}"
            for split in SPLITS
            for folder, label in LABELS.items()
        )
        raise PipelineError(f"expected {REVIEWS_PER_FOLDER:,} reviews in each of train/test pos/neg, found {found}")
    duplicated = table.duplicated(["split", "label", "id"]).sum()
    if duplicated:
        raise PipelineError(f"archive holds {duplicated} duplicated review files")
    wrong = table[(table["label"] == 1) != (table["rating"] >= 7)]
    if len(wrong):
        first = wrong.iloc[0]
        raise PipelineError(
            f"{len(wrong)} reviews have a rating that contradicts their folder, e.g. {first['split']} id {first['id']} rating {first['rating']}"
        )


def check_unlabeled(table: pd.DataFrame) -> None:
    """Require the 50,000 unlabeled reviews of ``train/unsup``, ids 0 to 49,999 once each."""
    if len(table) != UNLABELED_REVIEWS or table["id"].nunique() != len(table):
        raise PipelineError(
            f"expected {UNLABELED_REVIEWS:,} unlabeled reviews in train/unsup, found {len(table):,} "
            f"({table['id'].nunique():,} distinct ids): use the full archive (official, or aclImdb_v1-text.tar.gz), "
            "not the labeled-only copy"
        )


@dataclass(frozen=True)
class DownloadPaths(paths.StagePaths):
    """What the stage writes."""

    reviews: Path = paths.REVIEWS_TABLE
    unlabeled: Path = paths.UNLABELED_TABLE


def run(params: Download, files: DownloadPaths = DownloadPaths()) -> pd.DataFrame:
    """The whole stage: choose a source, fetch and verify it, read, check and write both tables."""
    source = choose_source(params.url, params.sha256, params.size, params.mirror, params.mirror_sha256)
    log.info("source: %s", source.describe())
    archive = fetch(source, params.retries, params.timeout_s)
    log.info("verified %s (SHA-256 %s)", archive, source.sha256)
    table, unlabeled = read_archive(archive)
    check_counts(table)
    check_unlabeled(unlabeled)
    write_table(table, files.reviews)
    write_table(unlabeled, files.unlabeled)
    log.info(
        "wrote %s: %s; %s: %s unlabeled",
        files.reviews,
        ", ".join(f"{s} {n:,}" for s, n in table["split"].value_counts().sort_index().items()),
        files.unlabeled,
        f"{len(unlabeled):,}",
    )
    return table
