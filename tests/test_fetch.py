"""``python -m htr iam fetch`` against a local HTTP server (never the network).

The server (127.0.0.1, a free port) serves small .tgz archives the tests build
from made-up content (nothing of IAM) behind HTTP basic authentication, or
behind an FKI-style login form with a session cookie.
"""

from __future__ import annotations

import base64
import io
import json
import os
import secrets
import socket
import tarfile
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from htr.data import fetch

USER = "reader@example.org"
PASSWORD = "s3cret-" + secrets.token_hex(8)  # unique, so a leak is found by search

ASCII_FILES = {
    "lines.txt": "#--- made-up test rows\nz01-000-00 ok 154 19 408 746 1661 89 A|MOVE|to|stop\n",
    "forms.txt": "z01-000 000 2 prt 7 5 52 36\n",
}
LINE_PNG_NAME = "z01/z01-000/z01-000-00.png"


def make_tgz(members: dict[str, bytes], top: str | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(f"{top}/{name}" if top else name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def make_tgz_with_symlink(name: str, target: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo(name)
        info.type = tarfile.SYMTYPE
        info.linkname = target
        tar.addfile(info)
    return buf.getvalue()


class Server:
    """A tiny IAM-like file server on 127.0.0.1; ``mode`` is 'basic' or 'form'."""

    def __init__(self, archives: dict[str, bytes], mode: str = "basic"):
        self.archives = archives
        self.mode = mode
        self.requests: list[str] = []
        self.sessions: set[str] = set()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def _basic_ok(self) -> bool:
                header = self.headers.get("Authorization", "")
                expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
                return header == expected

            def _cookie_ok(self) -> bool:
                cookie = self.headers.get("Cookie", "")
                return any(part.strip().removeprefix("session=") in server.sessions
                           for part in cookie.split(";") if part.strip().startswith("session="))

            def _html(self, code: int, body: str) -> None:
                data = body.encode()
                self.send_response(code)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                server.requests.append(self.path)
                name = self.path.rsplit("/", 1)[-1]
                if server.mode == "basic" and not self._basic_ok():
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="iam"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if server.mode == "form" and not self._cookie_ok():
                    if self.path == "/login":
                        return self._html(200, "<form method=post>login</form>")
                    self.send_response(302)
                    self.send_header("Location", "/login")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if self.path == "/":
                    return self._html(200, "<p>home</p>")
                if not self.path.startswith("/data/") or name not in server.archives:
                    return self._html(404, "not found")
                data = server.archives[name]
                self.send_response(200)
                self.send_header("Content-Type", "application/x-gzip")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                server.requests.append("POST " + self.path)
                length = int(self.headers.get("Content-Length") or 0)
                form = urllib.parse.parse_qs(self.rfile.read(length).decode())
                if self.path == "/login" and form.get("email") == [USER] and form.get("password") == [PASSWORD]:
                    token = secrets.token_hex(8)
                    server.sessions.add(token)
                    self.send_response(302)
                    self.send_header("Set-Cookie", f"session={token}; Path=/")
                    self.send_header("Location", "/")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self._html(200, "<p>wrong login</p>")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/data/"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def archives():
    return {
        "ascii.tgz": make_tgz({k: v.encode() for k, v in ASCII_FILES.items()}),
        "lines.tgz": make_tgz({LINE_PNG_NAME: b"\x89PNG fake bytes, not an image"}),
    }


@pytest.fixture
def no_proxy_env(monkeypatch):
    for key in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(key, raising=False)
    return {k: None for k in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")}


def creds_env(no_proxy_env, password=PASSWORD):
    return {**no_proxy_env, "IAM_USERNAME": USER, "IAM_PASSWORD": password}


def assert_no_secret(dest: Path, *texts: str) -> None:
    for text in texts:
        assert PASSWORD not in text
    for path in dest.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert PASSWORD.encode() not in data, path
            assert base64.b64encode(f"{USER}:{PASSWORD}".encode()) not in data, path


# -------------------------------------------------------------------- the CLI


@pytest.mark.parametrize("mode", ["basic", "form"])
def test_fetch_downloads_and_unpacks(run_cli, tmp_path, archives, no_proxy_env, mode):
    dest = tmp_path / "iam"
    with Server(archives, mode=mode) as server:
        proc = run_cli("iam", "fetch", "--dest", dest, "--url", server.base_url, env=creds_env(no_proxy_env),
                       timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    for name, text in ASCII_FILES.items():
        assert (dest / "ascii" / name).read_text() == text
    assert (dest / "lines" / LINE_PNG_NAME).read_bytes() == b"\x89PNG fake bytes, not an image"
    assert "ascii.tgz" in proc.stderr and "lines.tgz" in proc.stderr       # progress on stderr
    assert f"IAM_DIR={dest}" in proc.stderr
    assert not list(dest.glob(".htr-fetch-*"))                               # no partial downloads left
    assert_no_secret(dest, proc.stdout, proc.stderr)
    if mode == "form":
        assert "POST /login" in server.requests


def test_fetch_again_is_a_no_op(run_cli, tmp_path, archives, no_proxy_env):
    dest = tmp_path / "iam"
    with Server(archives) as server:
        first = run_cli("iam", "fetch", "--dest", dest, "--url", server.base_url, env=creds_env(no_proxy_env))
        assert first.returncode == 0, first.stderr
        count = len(server.requests)
        again = run_cli("iam", "fetch", "--dest", dest, "--url", server.base_url, env=creds_env(no_proxy_env))
        assert again.returncode == 0, again.stderr
        assert len(server.requests) == count                                 # nothing downloaded
        forced = run_cli("iam", "fetch", "--dest", dest, "--url", server.base_url, "--force",
                         env=creds_env(no_proxy_env))
        assert forced.returncode == 0 and len(server.requests) > count


@pytest.mark.parametrize("mode", ["basic", "form"])
def test_wrong_password(run_cli, tmp_path, archives, no_proxy_env, mode):
    dest = tmp_path / "iam"
    wrong = PASSWORD + "-wrong"
    with Server(archives, mode=mode) as server:
        proc = run_cli("iam", "fetch", "--dest", dest, "--url", server.base_url,
                       env=creds_env(no_proxy_env, password=wrong), timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: iam fetch: wrong IAM username or password"), proc.stderr
    assert wrong not in proc.stderr + proc.stdout
    assert not (dest / "ascii").exists()
    for path in dest.rglob("*"):
        assert wrong.encode() not in path.read_bytes() if path.is_file() else True


def test_credentials_missing_without_terminal(run_cli, tmp_path, archives, no_proxy_env):
    with Server(archives) as server:
        proc = run_cli("iam", "fetch", "--dest", tmp_path / "iam", "--url", server.base_url,
                       env={**no_proxy_env, "IAM_USERNAME": None, "IAM_PASSWORD": None})
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: iam fetch: no IAM credentials: set IAM_USERNAME and IAM_PASSWORD")
    assert server.requests == []


def test_unreachable_server_is_a_clear_error(run_cli, tmp_path, no_proxy_env):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = run_cli("iam", "fetch", "--dest", tmp_path / "iam", "--url", f"http://127.0.0.1:{port}/data/",
                   env=creds_env(no_proxy_env))
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: iam fetch: cannot reach 127.0.0.1: "), proc.stderr
    assert "Traceback" not in proc.stderr and PASSWORD not in proc.stderr


@pytest.mark.parametrize(
    "url, message",
    [
        ("http://example.org/data/", "refusing to send IAM credentials over plain HTTP"),
        ("https://someone:pw@example.org/data/", "do not put credentials into the URL"),
        ("ftp://example.org/data/", "not an http(s) URL"),
    ],
)
def test_unsafe_urls_are_refused_before_any_request(run_cli, tmp_path, no_proxy_env, url, message):
    proc = run_cli("iam", "fetch", "--dest", tmp_path / "iam", "--url", url, env=creds_env(no_proxy_env))
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "pw" not in proc.stderr.split(message, 1)[1]


def test_missing_archive_on_server(run_cli, tmp_path, archives, no_proxy_env):
    del archives["lines.tgz"]
    with Server(archives) as server:
        proc = run_cli("iam", "fetch", "--dest", tmp_path / "iam", "--url", server.base_url,
                       env=creds_env(no_proxy_env))
    assert proc.returncode == 2
    assert "not found (404)" in proc.stderr and "lines.tgz" in proc.stderr
    assert (tmp_path / "iam" / "ascii" / "lines.txt").exists()   # what could be fetched stays


# ------------------------------------------------------------ safe extraction


@pytest.mark.parametrize(
    "bad",
    [
        make_tgz({"../escaped.txt": b"x", "ok.txt": b"y"}),
        make_tgz({"/tmp/htr-absolute-escape.txt": b"x"}),
        make_tgz_with_symlink("link", "../../outside"),
    ],
    ids=["dotdot", "absolute", "symlink-out"],
)
def test_traversal_members_are_refused(tmp_path, no_proxy_env, bad):
    dest = tmp_path / "iam"
    archives = {"ascii.tgz": bad}
    with Server(archives) as server:
        with pytest.raises(fetch.FetchError, match=r"ascii.tgz: refused, member .* is unsafe"):
            fetch.fetch_iam(dest=dest, base_url=server.base_url, parts=["ascii"],
                            credentials=fetch.Credentials(USER, PASSWORD), progress=lambda *a: None)
    assert not (tmp_path / "escaped.txt").exists()
    assert not Path("/tmp/htr-absolute-escape.txt").exists()
    assert not (dest / "ascii").exists() or not any((dest / "ascii").iterdir())   # nothing of it written
    assert not list(dest.glob(".htr-fetch-*"))


def test_archive_with_its_own_folder_is_flattened(tmp_path, no_proxy_env):
    archives = {"ascii.tgz": make_tgz({"lines.txt": b"a\n"}, top="ascii")}
    with Server(archives) as server:
        fetch.fetch_iam(dest=tmp_path, base_url=server.base_url, parts=["ascii"],
                        credentials=fetch.Credentials(USER, PASSWORD), progress=lambda *a: None)
    assert (tmp_path / "ascii" / "lines.txt").read_text() == "a\n"


def test_not_an_archive(tmp_path, no_proxy_env):
    with Server({"ascii.tgz": b"this is not gzip"}) as server:
        with pytest.raises(fetch.FetchError, match="ascii.tgz: not a readable .tgz archive"):
            fetch.fetch_iam(dest=tmp_path, base_url=server.base_url, parts=["ascii"],
                            credentials=fetch.Credentials(USER, PASSWORD), progress=lambda *a: None)


def test_credentials_never_show_in_repr():
    creds = fetch.Credentials(USER, PASSWORD)
    assert PASSWORD not in repr(creds) and PASSWORD not in str(creds)


def test_read_credentials_from_environment():
    creds = fetch.read_credentials({"IAM_USERNAME": " u@x.org ", "IAM_PASSWORD": "p w"}, stdin=io.StringIO())
    assert (creds.username, creds.password) == ("u@x.org", "p w")
    with pytest.raises(fetch.FetchError, match="no IAM credentials"):
        fetch.read_credentials({"IAM_USERNAME": "u"}, stdin=io.StringIO())


def test_unknown_part(tmp_path):
    with pytest.raises(fetch.FetchError, match="unknown part 'pictures'"):
        fetch.fetch_iam(dest=tmp_path, parts=["pictures"], credentials=fetch.Credentials(USER, PASSWORD))


def test_password_prompt_on_a_terminal(venv_python, project_root, tmp_path, archives, no_proxy_env):
    """No IAM_PASSWORD but a terminal: getpass asks (without echo), and the fetch goes on."""
    import fcntl
    import select
    import subprocess
    import termios
    import time

    env = {k: v for k, v in os.environ.items() if k not in no_proxy_env and k != "IAM_PASSWORD"}
    env.update(IAM_USERNAME=USER, PYTHONPATH=str(project_root))
    master, slave = os.openpty()

    def take_terminal():  # runs in the child after setsid: make the pty its controlling terminal
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    with Server(archives) as server:
        proc = subprocess.Popen(
            [venv_python, "-m", "htr", "iam", "fetch", "--dest", str(tmp_path / "iam"), "--url", server.base_url],
            stdin=slave, stdout=slave, stderr=slave, env=env, cwd=project_root,
            start_new_session=True, preexec_fn=take_terminal,
        )
        os.close(slave)
        seen = b""
        sent = False
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # the child closed the terminal
                    break
                if not chunk:
                    break
                seen += chunk
            if not sent and b"IAM password:" in seen:
                os.write(master, PASSWORD.encode() + b"\n")
                sent = True
            if proc.poll() is not None and not ready:
                break
        proc.wait(timeout=30)
        os.close(master)
    text = seen.decode(errors="replace")
    assert sent, text
    assert proc.returncode == 0, text
    assert PASSWORD not in text                       # not echoed, not printed
    assert (tmp_path / "iam" / "ascii" / "lines.txt").is_file()
    assert_no_secret(tmp_path / "iam")
