"""`lamp data download` against a real HTTP server on loopback: layout, resume, size check, clear errors."""

from __future__ import annotations

import http.server
import socket
import threading
from pathlib import Path

import pytest

from lamp.cli.main import main
from lamp.core.download import download, remote_folder


class RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files from ``directory`` with HEAD and single-range GET support; counts requests."""

    requests: list[tuple[str, str, str | None]] = []
    truncate_once: set[str] = set()

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def _target(self) -> Path | None:
        path = Path(self.directory) / self.path.lstrip("/")
        return path if path.is_file() else None

    def do_HEAD(self) -> None:
        self.requests.append(("HEAD", self.path, None))
        target = self._target()
        if target is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(target.stat().st_size))
        self.end_headers()

    def do_GET(self) -> None:
        rng = self.headers.get("Range")
        self.requests.append(("GET", self.path, rng))
        target = self._target()
        if target is None:
            self.send_error(404)
            return
        data = target.read_bytes()
        start = int(rng.split("=")[1].split("-")[0]) if rng else 0
        body = data[start:]
        if self.path in self.truncate_once:  # announce the full length, send half, hang up
            self.truncate_once.discard(self.path)
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.send_response(206 if rng else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "host"
    for folder, files in {"LaMP_4/dev": ["dev_questions.json", "dev_outputs.json"],
                          "LaMP_2/new/test": ["test_questions.json"],
                          "time/LaMP_7/train": ["train_questions.json", "train_outputs.json"]}.items():
        (root / folder).mkdir(parents=True)
        for name in files:
            (root / folder / name).write_text(f'[{{"id": "{name}"}}]' + " " * 5000)
    RangeHandler.requests = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                            lambda *a, **k: RangeHandler(*a, directory=str(root), **k))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/", root
    httpd.shutdown()


def test_remote_folders_follow_the_official_url_patterns():
    assert remote_folder("LaMP_4", "dev") == "LaMP_4/dev"
    assert remote_folder("LaMP-2", "dev") == "LaMP_2/new/dev"
    assert remote_folder("LaMP-2-old", "dev") == "LaMP_2/dev"
    assert remote_folder("LaMP-2", "train", time_based=True) == "time/LaMP_2/new/train"
    assert remote_folder("LaMP-7", "test", time_based=True) == "time/LaMP_7/test"


def test_download_writes_the_official_layout(server, tmp_path):
    url, root = server
    dest = tmp_path / "dest"
    assert main(["data", "download", "--task", "LaMP_4", "--split", "dev", "--dest", str(dest),
                 "--base-url", url]) == 0
    for name in ("dev_questions.json", "dev_outputs.json"):
        assert (dest / "LaMP_4/dev" / name).read_bytes() == (root / "LaMP_4/dev" / name).read_bytes()
    paths = download("LaMP-7", "train", dest, time_based=True, base_url=url, progress=False)
    assert paths[0] == dest / "time/LaMP_7/train/train_questions.json"
    assert download("LaMP-2", "test", dest, base_url=url, progress=False) == [dest / "LaMP_2/test/test_questions.json"]


def test_interrupted_download_resumes_with_a_range_request(server, tmp_path):
    url, root = server
    dest = tmp_path / "dest"
    RangeHandler.truncate_once = {"/LaMP_4/dev/dev_questions.json"}
    assert main(["data", "download", "--task", "LaMP-4", "--dest", str(dest), "--base-url", url]) == 2
    part = dest / "LaMP_4/dev/dev_questions.json.part"
    assert 0 < part.stat().st_size < (root / "LaMP_4/dev/dev_questions.json").stat().st_size
    download("LaMP-4", "dev", dest, base_url=url, progress=False)
    assert (dest / "LaMP_4/dev/dev_questions.json").read_bytes() == (root / "LaMP_4/dev/dev_questions.json").read_bytes()
    assert not part.exists()
    ranges = [r for m, p, r in RangeHandler.requests if m == "GET" and p.endswith("dev_questions.json") and r]
    size = (root / "LaMP_4/dev/dev_questions.json").stat().st_size
    assert ranges == [f"bytes={size // 2}-"]


def test_finished_files_are_not_fetched_again(server, tmp_path):
    url, _ = server
    download("LaMP-4", "dev", tmp_path, base_url=url, progress=False)
    gets = sum(m == "GET" for m, _, _ in RangeHandler.requests)
    download("LaMP-4", "dev", tmp_path, base_url=url, progress=False)
    assert sum(m == "GET" for m, _, _ in RangeHandler.requests) == gets


def test_unreachable_host_names_the_url(tmp_path, capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert main(["data", "download", "--task", "LaMP-5", "--dest", str(tmp_path),
                 "--base-url", f"http://127.0.0.1:{port}/", "--timeout", "2"]) == 2
    err = capsys.readouterr().err
    assert f"http://127.0.0.1:{port}/LaMP_5/dev/dev_questions.json" in err and "Traceback" not in err


def test_missing_file_reports_http_status(server, tmp_path, capsys):
    url, _ = server
    assert main(["data", "download", "--task", "LaMP-1", "--dest", str(tmp_path), "--base-url", url]) == 2
    assert "HTTP 404" in capsys.readouterr().err
