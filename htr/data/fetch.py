"""Download and unpack the IAM files a registered user may get.

``python -m htr iam fetch`` calls :func:`fetch_iam`. The IAM Handwriting
Database is free for non-commercial research to registered users and may not be
redistributed, so this project ships none of it: each user fetches their own
copy with their own registration (https://fki.tic.heia-fr.ch/register).

Credentials come from ``IAM_USERNAME`` / ``IAM_PASSWORD`` or a prompt. They
live only in memory: never written to disk, printed, logged, or put into an
exception message. They are sent only to the host of the base URL, over HTTPS
(plain HTTP is allowed to a loopback address only, for tests).

Two ways of logging in are tried, so the same code works with the FKI site and
with a plain mirror: HTTP basic authentication (sent with every request to the
base URL), and, where the server answers with an HTML login page instead of an
archive, the FKI site's login form (``POST <origin>/login`` with ``email`` and
``password``; the session cookie is kept in memory only).

Archives are unpacked with :mod:`tarfile`'s ``data`` filter after every member
was checked first: an archive with a member that would land outside the
destination (``../``, an absolute path, a link out) is refused whole, before
anything of it is written.
"""

from __future__ import annotations

import getpass
import http.cookiejar
import ipaddress
import json
import os
import shutil
import socket
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from htr.errors import IAMError

DEFAULT_BASE_URL = "https://fki.tic.heia-fr.ch/DBs/iamDB/data/"

#: part name -> (archives on the server, folder under the destination).
PARTS: dict[str, tuple[tuple[str, ...], str]] = {
    "ascii": (("ascii.tgz",), "ascii"),
    "lines": (("lines.tgz",), "lines"),
    "forms": (("formsA-D.tgz", "formsE-H.tgz", "formsI-Z.tgz"), "forms"),
    "sentences": (("sentences.tgz",), "sentences"),
    "words": (("words.tgz",), "words"),
    "xml": (("xml.tgz",), "xml"),
}
DEFAULT_PARTS = ("ascii", "lines")

#: Seconds without data before a download is given up.
TIMEOUT = 60
#: Marker file (in the destination) listing the archives already unpacked.
MARKER = ".htr-fetched.json"
#: Seconds between two progress lines of one download.
PROGRESS_EVERY = 5.0
_CHUNK = 1 << 16


class FetchError(IAMError):
    """Downloading or unpacking IAM failed (the message never holds credentials)."""


@dataclass(frozen=True)
class Credentials:
    """A username and password; the password never shows in repr or str."""

    username: str
    password: str = field(repr=False)

    def __str__(self) -> str:  # pragma: no cover - trivial
        return f"Credentials(username={self.username!r})"


# --------------------------------------------------------------------------
# credentials


def read_credentials(environ=None, stdin=None) -> Credentials:
    """From ``IAM_USERNAME``/``IAM_PASSWORD``, else a prompt on the terminal."""
    environ = os.environ if environ is None else environ
    stdin = sys.stdin if stdin is None else stdin
    username = environ.get("IAM_USERNAME", "").strip()
    password = environ.get("IAM_PASSWORD", "")
    interactive = bool(stdin) and hasattr(stdin, "isatty") and stdin.isatty()
    if (not username or not password) and not interactive:
        raise FetchError(
            "no IAM credentials: set IAM_USERNAME and IAM_PASSWORD "
            "(register at https://fki.tic.heia-fr.ch/register), or run in a terminal to be asked"
        )
    if not username:
        sys.stderr.write("IAM username (e-mail): ")
        sys.stderr.flush()
        username = stdin.readline().strip()
    if not password:
        password = getpass.getpass("IAM password: ")
    if not username or not password:
        raise FetchError("an IAM username and password are needed")
    return Credentials(username, password)


# --------------------------------------------------------------------------
# HTTP


def _check_base_url(base_url: str) -> urllib.parse.SplitResult:
    parts = urllib.parse.urlsplit(base_url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise FetchError(f"not an http(s) URL: {_safe_url(base_url)}")
    if parts.username is not None or parts.password is not None:
        raise FetchError("do not put credentials into the URL; use IAM_USERNAME and IAM_PASSWORD")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise FetchError(
            f"refusing to send IAM credentials over plain HTTP to {parts.hostname}; use an https:// URL"
        )
    return parts


def _safe_url(url: str) -> str:
    """The URL without any user:password part (for messages)."""
    parts = urllib.parse.urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Session:
    """An opener that sends basic auth to the base URL and keeps cookies in memory."""

    def __init__(self, base_url: str, creds: Credentials, login_url: str | None = None):
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        parts = _check_base_url(self.base_url)
        self.host = parts.hostname
        self.login_url = login_url or urllib.parse.urlunsplit((parts.scheme, parts.netloc, "/login", "", ""))
        self._creds = creds
        passwords = urllib.request.HTTPPasswordMgrWithPriorAuth()
        passwords.add_password(None, self.base_url, creds.username, creds.password, is_authenticated=True)
        self._cookies = http.cookiejar.CookieJar()  # in memory only
        self._opener = urllib.request.build_opener(
            urllib.request.HTTPBasicAuthHandler(passwords),
            urllib.request.HTTPCookieProcessor(self._cookies),
        )
        self._logged_in = False

    def open_archive(self, name: str):
        """An open HTTP response for archive ``name`` (logging in by form if asked to)."""
        url = urllib.parse.urljoin(self.base_url, name)
        response = self._open(url)
        if _looks_like_html(response):
            response.close()
            if self._logged_in:
                raise FetchError(f"wrong IAM username or password (the site sent a login page for {name})")
            self._form_login()
            response = self._open(url)
            if _looks_like_html(response):
                response.close()
                raise FetchError("wrong IAM username or password (the site's login did not accept them)")
        return response

    def _form_login(self) -> None:
        _check_base_url(self.login_url)
        if urllib.parse.urlsplit(self.login_url).hostname != self.host:
            raise FetchError("the login URL must be on the same host as the base URL")
        data = urllib.parse.urlencode({"email": self._creds.username, "password": self._creds.password}).encode()
        request = urllib.request.Request(self.login_url, data=data, method="POST")
        self._open(request).close()
        self._logged_in = True

    def _open(self, target):
        url = target.full_url if isinstance(target, urllib.request.Request) else target
        try:
            return self._opener.open(target, timeout=TIMEOUT)
        except urllib.error.HTTPError as exc:
            code = exc.code
            exc.close()
            if code == 401:
                raise FetchError("wrong IAM username or password (the server answered 401 Unauthorized)") from None
            if code == 403:
                raise FetchError(f"access denied (403) to {_safe_url(url)}: is your IAM registration active?") from None
            if code == 404:
                raise FetchError(f"not found (404): {_safe_url(url)} (check --url)") from None
            raise FetchError(f"the server answered {code} for {_safe_url(url)}") from None
        except urllib.error.URLError as exc:
            reason = exc.reason
            why = reason.strerror if isinstance(reason, OSError) and reason.strerror else str(reason)
            raise FetchError(
                f"cannot reach {self.host}: {why} (is the network up? --url selects another server)"
            ) from None
        except (socket.timeout, TimeoutError):
            raise FetchError(f"{self.host} did not answer within {TIMEOUT} s") from None
        except OSError as exc:
            raise FetchError(f"connection to {self.host} failed: {exc.strerror or type(exc).__name__}") from None


def _looks_like_html(response) -> bool:
    ctype = response.headers.get("Content-Type", "")
    return ctype.split(";")[0].strip().lower() in ("text/html", "application/xhtml+xml")


# --------------------------------------------------------------------------
# download and unpack


def _download(response, target: Path, label: str, progress) -> int:
    total = int(response.headers.get("Content-Length") or 0)
    done = 0
    last = 0.0
    with open(target, "wb") as out:
        while True:
            try:
                chunk = response.read(_CHUNK)
            except (socket.timeout, TimeoutError):
                raise FetchError(f"{label}: the download stalled for {TIMEOUT} s") from None
            except OSError as exc:
                raise FetchError(f"{label}: the download broke off ({exc.strerror or type(exc).__name__})") from None
            if not chunk:
                break
            out.write(chunk)
            done += len(chunk)
            now = time.monotonic()
            if now - last >= PROGRESS_EVERY:
                last = now
                progress(label, done, total)
    if total and done != total:
        raise FetchError(f"{label}: the download broke off ({done} of {total} bytes)")
    progress(label, done, total or done)
    return done


def check_members(archive: tarfile.TarFile, dest: Path, label: str) -> None:
    """Refuse the archive if any member would be written outside ``dest`` (or is special)."""
    for member in archive.getmembers():
        if member.name.startswith(("/", "\\")):  # the data filter would strip the slash; refuse instead
            raise FetchError(f"{label}: refused, member {member.name!r} is unsafe (absolute path)")
        try:
            tarfile.data_filter(member, str(dest))
        except tarfile.FilterError as exc:
            raise FetchError(f"{label}: refused, member {member.name!r} is unsafe ({_filter_reason(exc)})") from None


def _filter_reason(exc: tarfile.FilterError) -> str:
    kind = type(exc).__name__
    return {
        "AbsolutePathError": "absolute path",
        "OutsideDestinationError": "it would be written outside the destination",
        "AbsoluteLinkError": "link to an absolute path",
        "LinkOutsideDestinationError": "link pointing outside the destination",
        "SpecialFileError": "device or other special file",
    }.get(kind, kind)


def unpack(archive_path: Path, dest: Path, label: str) -> int:
    """Safely unpack a .tgz into ``dest``; returns the number of members."""
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive_path, "r:*") as archive:
            check_members(archive, dest, label)
            count = len(archive.getmembers())
            archive.extractall(dest, filter="data")
    except FetchError:
        raise
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise FetchError(f"{label}: not a readable .tgz archive ({type(exc).__name__}: {exc})") from None
    _flatten(dest, dest.name)
    return count


def _flatten(dest: Path, name: str) -> None:
    """``dest/<name>/...`` alone (an archive that holds its own folder) -> ``dest/...``."""
    inner = dest / name
    entries = list(dest.iterdir())
    if entries == [inner] and inner.is_dir():
        for child in inner.iterdir():
            shutil.move(str(child), str(dest / child.name))
        inner.rmdir()


def _default_dest() -> Path:
    from htr.data.iam import default_iam_dir

    return default_iam_dir() or Path.home() / "iam"


def _read_marker(dest: Path) -> dict:
    try:
        return json.loads((dest / MARKER).read_text())
    except (OSError, ValueError):
        return {}


def _stderr_progress(label: str, done: int, total: int) -> None:
    mb = done / 1e6
    if total:
        msg = f"fetch: {label} {mb:.1f} of {total / 1e6:.1f} MB ({100 * done / total:.0f}%)"
    else:
        msg = f"fetch: {label} {mb:.1f} MB"
    print(msg, file=sys.stderr, flush=True)


def fetch_iam(
    dest=None,
    base_url: str | None = None,
    parts=None,
    force: bool = False,
    credentials: Credentials | None = None,
    login_url: str | None = None,
    progress=_stderr_progress,
) -> Path:
    """Download and unpack ``parts`` of IAM into ``dest``; returns ``dest``.

    Archives already unpacked there (listed in ``dest/.htr-fetched.json``) are
    skipped unless ``force``. Progress goes to ``progress(label, done, total)``.
    """
    dest = Path(dest).expanduser() if dest else _default_dest()
    base_url = base_url or DEFAULT_BASE_URL
    parts = list(parts or DEFAULT_PARTS)
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        raise FetchError(f"unknown part {unknown[0]!r}: choose from {', '.join(PARTS)}")
    _check_base_url(base_url)
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FetchError(f"cannot create {dest}: {exc.strerror or exc}") from None

    done = {} if force else _read_marker(dest)
    todo = [(name, folder) for part in parts for name in PARTS[part][0] for folder in [PARTS[part][1]]
            if name not in done]
    if not todo:
        print(f"fetch: {', '.join(parts)} already in {dest} (--force to fetch again)", file=sys.stderr)
        return dest

    session = _Session(base_url, credentials or read_credentials(), login_url=login_url)
    for name, folder in todo:
        response = session.open_archive(name)
        fd, tmp = tempfile.mkstemp(prefix=".htr-fetch-", suffix=".part", dir=dest)
        os.close(fd)
        tmp_path = Path(tmp)
        try:
            with response:
                size = _download(response, tmp_path, name, progress)
            print(f"fetch: unpacking {name} into {dest / folder}", file=sys.stderr, flush=True)
            count = unpack(tmp_path, dest / folder, name)
        finally:
            tmp_path.unlink(missing_ok=True)
        done[name] = {"bytes": size, "members": count, "folder": folder}
        (dest / MARKER).write_text(json.dumps(done, indent=1, sort_keys=True) + "\n")
    return dest
