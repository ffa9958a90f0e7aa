"""Downloads against a local HTTP server on loopback: drops, resumes, errors, timeouts, wrong bytes."""

from __future__ import annotations

import http.server
import threading
from pathlib import Path

import pytest

from stages import download
from stages.errors import PipelineError
from tests.synthetic import sha256, write_archive


class Server(http.server.ThreadingHTTPServer):
    """Serves one payload; ``behaviours`` lists what each successive request gets."""

    daemon_threads = True

    def __init__(self, payload: bytes, behaviours: list[str], ranges: bool = True):
        super().__init__(("127.0.0.1", 0), Handler)
        self.payload, self.behaviours, self.ranges = payload, list(behaviours), ranges
        self.requests: list[str | None] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/aclImdb_v1.tar.gz"


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        server: Server = self.server  # type: ignore[assignment]
        server.requests.append(self.headers.get("Range"))
        behaviour = server.behaviours.pop(0) if server.behaviours else "ok"
        if behaviour == "error":
            self.send_error(503, "busy")
            return
        if behaviour == "missing":
            self.send_error(404, "no such file")
            return
        if behaviour == "hang":
            threading.Event().wait(3)
            return
        start = 0
        requested = self.headers.get("Range")
        if requested and server.ranges:
            start = int(requested.removeprefix("bytes=").split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(server.payload) - 1}/{len(server.payload)}")
        else:
            self.send_response(200)
        body = server.payload[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if behaviour == "drop":
            self.wfile.write(body[: len(body) // 3])
            self.wfile.flush()
            self.connection.shutdown(2)  # close mid-transfer
            return
        if behaviour == "corrupt":
            body = bytes(b ^ 0xFF for b in body[:10]) + body[10:]
        self.wfile.write(body)


@pytest.fixture
def archive(tmp_path: Path) -> tuple[bytes, str]:
    path = tmp_path / "served.tar.gz"
    digest = write_archive(path, per_folder=30)
    return path.read_bytes(), digest


def serve(payload: bytes, behaviours: list[str], ranges: bool = True) -> Server:
    server = Server(payload, behaviours, ranges)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch):
    monkeypatch.setattr(download.time, "sleep", lambda seconds: None)


def fetch(server: Server, digest: str, cache: Path, retries: int = 3, timeout: float = 5.0) -> Path:
    source = download.Source(server.url, digest, 0, False)
    try:
        return download.fetch(source, retries, timeout, cache=cache)
    finally:
        server.shutdown()
        server.server_close()


def leftovers(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.iterdir()) if cache.exists() else []


def test_plain_download_lands_in_cache(archive, tmp_path):
    payload, digest = archive
    path = fetch(serve(payload, ["ok"]), digest, tmp_path / "cache")
    assert path.read_bytes() == payload and leftovers(tmp_path / "cache") == [f"{digest}.tar.gz"]


def test_dropped_connection_resumes_with_range(archive, tmp_path):
    payload, digest = archive
    server = serve(payload, ["drop", "ok"])
    path = fetch(server, digest, tmp_path / "cache")
    assert sha256(path) == digest
    assert server.requests[0] is None and server.requests[1].startswith("bytes=") and server.requests[1] != "bytes=0-"


def test_server_ignoring_range_restarts_cleanly(archive, tmp_path):
    payload, digest = archive
    server = serve(payload, ["drop", "ok"], ranges=False)
    assert sha256(fetch(server, digest, tmp_path / "cache")) == digest


def test_server_errors_give_up_after_bounded_retries_and_mention_mirror(archive, tmp_path):
    payload, digest = archive
    server = serve(payload, ["error"] * 10)
    with pytest.raises(PipelineError, match=r"failed after 3 attempts.*download.mirror"):
        fetch(server, digest, tmp_path / "cache", retries=2)
    assert len(server.requests) == 3
    assert leftovers(tmp_path / "cache") == []


@pytest.mark.slow
def test_timeout_is_retried_then_reported(archive, tmp_path):
    payload, digest = archive
    server = serve(payload, ["hang", "hang"])
    with pytest.raises(PipelineError, match="failed after 2 attempts"):
        fetch(server, digest, tmp_path / "cache", retries=1, timeout=0.5)
    assert leftovers(tmp_path / "cache") == []


def test_not_found_is_not_retried(archive, tmp_path):
    payload, digest = archive
    server = serve(payload, ["missing"])
    with pytest.raises(PipelineError, match="HTTP 404"):
        fetch(server, digest, tmp_path / "cache")
    assert len(server.requests) == 1


def test_wrong_bytes_are_caught_by_the_checksum(archive, tmp_path):
    payload, digest = archive
    with pytest.raises(PipelineError, match="SHA-256"):
        fetch(serve(payload, ["corrupt"]), digest, tmp_path / "cache")
    assert leftovers(tmp_path / "cache") == []
