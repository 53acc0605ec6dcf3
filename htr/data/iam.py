"""Reader for the IAM Handwriting Database in its official layout.

::

    root/ascii/lines.txt        required: one row per text line
    root/ascii/forms.txt        optional: form id → writer id
    root/ascii/sentences.txt    optional, read on first use
    root/ascii/words.txt        optional, read on first use
    root/lines/a01/a01-000u/a01-000u-00.png
    root/forms/a01-000u.png     (or .jpg / .jpeg / .tif / .tiff)
    root/splits/<scheme>/<name>.lines.txt, <name>.forms.txt

``IAM(root)`` validates the folder and parses the metadata (cached per root and
file modification time, so building a second reader for the same folder is
free). Every id handed in from outside is checked against a strict pattern and
every path built from it must resolve inside ``root`` (no ``../``, no absolute
paths, no symlink that leads out), else :class:`htr.errors.IAMError`.

Ground-truth text: IAM separates words with ``|``; :attr:`Line.text` has them
replaced by single spaces (``"A|MOVE|to"`` → ``"A MOVE to"``), the usual
convention of HTR papers; :attr:`Line.raw` keeps the original.

The IAM database may not be redistributed: this module only reads a copy the
user has (``IAM_DIR``), it never writes anything derived from it.
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from htr.errors import IAMError, ImageError
from htr.types import Box

FORM_RE = re.compile(r"^[a-r]\d\d-\d{3}[a-z]?$")
LINE_RE = re.compile(r"^[a-r]\d\d-\d{3}[a-z]?-\d\d$")
SENTENCE_RE = re.compile(r"^[a-r]\d\d-\d{3}[a-z]?-s\d\d-\d\d$")
WORD_RE = re.compile(r"^[a-r]\d\d-\d{3}[a-z]?-\d\d-\d\d$")

SCHEMES = ("original", "aachen")
FORM_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff")


@dataclass(frozen=True)
class Line:
    id: str
    form: str
    writer: str | None
    text: str  # words joined by spaces
    status: str  # "ok" or "err" (IAM's word segmentation flag)
    box: Box  # on the form scan
    graylevel: int  # IAM's binarisation threshold for this line
    raw: str = ""  # the transcription as in lines.txt, words separated by "|"

    @property
    def words(self) -> list[str]:
        return self.raw.split("|") if self.raw else self.text.split()


@dataclass(frozen=True)
class Form:
    id: str
    writer: str | None
    line_ids: tuple[str, ...]
    has_image: bool


@dataclass(frozen=True)
class Sentence:
    id: str
    form: str
    number: int
    status: str
    box: Box
    graylevel: int
    text: str


@dataclass(frozen=True)
class Word:
    id: str
    line: str
    status: str
    graylevel: int
    box: Box | None  # None where IAM gives -1 (no box)
    tag: str
    text: str


# ------------------------------------------------------------------ locating


def default_iam_dir(base: Path | None = None) -> Path | None:
    """The folder named by the ``IAM_DIR`` environment variable, or None when unset.

    The one rule for every reader of IAM_DIR (CLI, app, fetch, training): ``~``
    is expanded, and a relative path counts from ``base`` (the app passes the
    project root, where ``scripts/app`` starts it), else the current folder.
    """
    value = os.environ.get("IAM_DIR", "").strip()
    if not value:
        return None
    path = Path(value).expanduser()
    return (base / path).resolve() if base is not None and not path.is_absolute() else path


def shared_iam_dir() -> Path | None:
    """``<project root>/../shared/iam`` if it exists (for tests and benchmarks)."""
    path = Path(__file__).resolve().parents[3] / "shared" / "iam"
    return path if path.is_dir() else None


def form_of(line_id: str) -> str:
    """``a01-000u-00`` → ``a01-000u``."""
    return line_id.rsplit("-", 1)[0]


# ------------------------------------------------------------------ parsing

_cache: dict[tuple, "_Meta"] = {}
_cache_lock = threading.Lock()


@dataclass
class _Meta:
    lines: dict[str, Line]
    forms: dict[str, Form]
    writers: dict[str, list[str]]


def _rows(path: Path):
    """(line number, stripped row) of a metadata file, skipping comments and blanks."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise IAMError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    for number, row in enumerate(text.splitlines(), 1):
        row = row.strip()
        if row and not row.startswith("#"):
            yield number, row


def _box(parts: list[str], path: Path, number: int, allow_missing: bool = False) -> Box | None:
    try:
        x, y, w, h = (int(p) for p in parts)
    except ValueError:
        raise IAMError(f"{path}:{number}: malformed row: bounding box is not four integers") from None
    if allow_missing and (w <= 0 or h <= 0):
        return None
    if x < 0 or y < 0 or w <= 0 or h <= 0:
        raise IAMError(f"{path}:{number}: malformed row: bounding box {x} {y} {w} {h} is empty or negative")
    return Box(x, y, w, h)


def _parse_forms(path: Path) -> dict[str, str]:
    writers: dict[str, str] = {}
    for number, row in _rows(path):
        parts = row.split()
        if len(parts) < 2 or not FORM_RE.match(parts[0]) or not parts[1].isdigit():
            raise IAMError(f"{path}:{number}: malformed row: expected 'form-id writer-id ...', got {row[:60]!r}")
        writers[parts[0]] = parts[1]
    return writers


_LINE_ROW = re.compile(
    r"([a-r]\d\d-\d{3}[a-z]?)-\d\d\s+(ok|err)\s+(\d+)\s+\d+\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\S.*)"
)


def _line_row_error(path: Path, number: int, row: str) -> IAMError:
    """Explain why a lines.txt row did not match :data:`_LINE_ROW`."""
    parts = row.split(None, 8)
    where = f"{path}:{number}: malformed row"
    if len(parts) < 9:
        return IAMError(f"{where}: expected 'id status graylevel components x y w h text', got {row[:60]!r}")
    if not LINE_RE.match(parts[0]):
        return IAMError(f"{where}: {parts[0][:40]!r} is not an IAM line id")
    if parts[1] not in ("ok", "err"):
        return IAMError(f"{where}: status {parts[1][:20]!r} is not 'ok' or 'err'")
    if not parts[2].isdigit() or not parts[3].isdigit():
        return IAMError(f"{where}: graylevel and components must be integers")
    try:
        _box(parts[4:8], path, number)
    except IAMError as exc:
        return exc
    return IAMError(f"{where}: {row[:60]!r}")


def _parse_lines(path: Path, writer_of: dict[str, str]) -> dict[str, Line]:
    lines: dict[str, Line] = {}
    match = _LINE_ROW.fullmatch
    for number, row in _rows(path):
        m = match(row)
        if m is None:
            raise _line_row_error(path, number, row)
        form, status, gray, x, y, w, h, raw = m.groups()
        line_id = row.split(None, 1)[0]
        if line_id in lines:
            raise IAMError(f"{path}:{number}: duplicate line id {line_id}")
        if int(w) == 0 or int(h) == 0:
            raise IAMError(f"{path}:{number}: malformed row: bounding box {x} {y} {w} {h} is empty")
        raw = raw.strip()
        box = Box(int(x), int(y), int(w), int(h))
        lines[line_id] = Line(line_id, form, writer_of.get(form), raw.replace("|", " "), status, box, int(gray), raw)
    return lines


def _load_meta(root: Path) -> _Meta:
    lines_txt = root / "ascii" / "lines.txt"
    forms_txt = root / "ascii" / "forms.txt"
    stamp = tuple(
        (p.stat().st_mtime_ns, p.stat().st_size) if p.is_file() else None for p in (lines_txt, forms_txt)
    )
    key = (str(root), stamp)
    with _cache_lock:
        meta = _cache.get(key)
    if meta is not None:
        return meta
    for p in (lines_txt, forms_txt):
        if p.exists() and root not in p.resolve().parents:
            raise IAMError(f"refused {p.relative_to(root)}: it leads outside the IAM folder")
    writer_of = _parse_forms(forms_txt) if forms_txt.is_file() else {}
    lines = _parse_lines(lines_txt, writer_of)
    if not lines:
        raise IAMError(f"{lines_txt}: no line rows (is the file complete?)")
    by_form: dict[str, list[str]] = {f: [] for f in writer_of}
    for line_id in lines:
        by_form.setdefault(form_of(line_id), []).append(line_id)
    try:
        images = {p.stem for p in (root / "forms").iterdir() if p.suffix.lower() in FORM_EXTENSIONS}
    except OSError:
        images = set()
    forms = {
        f: Form(f, writer_of.get(f), tuple(sorted(ids)), f in images) for f, ids in sorted(by_form.items())
    }
    writers: dict[str, list[str]] = {}
    for f in forms.values():
        if f.writer is not None:
            writers.setdefault(f.writer, []).append(f.id)
    meta = _Meta(lines, forms, writers)
    with _cache_lock:
        if len(_cache) > 8:
            _cache.clear()
        _cache[key] = meta
    return meta


# ------------------------------------------------------------------ the reader


class IAM:
    """The IAM database at ``root``: lines, forms, writers, splits and images."""

    def __init__(self, root: str | os.PathLike | None = None):
        if root is None:
            root = default_iam_dir()
            if root is None:
                raise IAMError("no IAM folder given and IAM_DIR is not set")
        given = Path(root).expanduser()
        if not given.exists():
            raise IAMError(f"IAM folder not found: {given}")
        if not given.is_dir():
            raise IAMError(f"IAM folder is not a directory: {given}")
        self.root = given.resolve()
        if not (self.root / "ascii" / "lines.txt").is_file():
            raise IAMError(
                f"{given}: missing ascii/lines.txt — not an IAM folder "
                "(expected the official layout: ascii/, lines/, forms/)"
            )
        meta = _load_meta(self.root)
        self.lines: dict[str, Line] = meta.lines
        self.forms: dict[str, Form] = meta.forms
        self.writers: dict[str, list[str]] = meta.writers
        self._splits: dict[str, dict[str, list[str]]] = {}
        self._split_index: dict[str, dict[str, str]] = {}
        self._available: list[str] | None = None
        self._sentences: dict[str, Sentence] | None = None
        self._words: dict[str, Word] | None = None
        self._form_cache: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"IAM({str(self.root)!r}: {len(self.lines)} lines, {len(self.forms)} forms)"

    def __len__(self) -> int:
        return len(self.lines)

    # ---------------------------------------------------------- ids and paths

    def _safe(self, *parts: str) -> Path:
        """root/parts, refusing anything that resolves outside root."""
        for part in parts:
            if not part or "\x00" in part or part.startswith(("/", "\\")) or ".." in Path(part).parts:
                raise IAMError(f"refused path component {part!r}: outside the IAM folder")
        path = self.root.joinpath(*parts)
        resolved = path.resolve()
        if resolved != self.root and self.root not in resolved.parents:
            raise IAMError(f"refused {path.relative_to(self.root)}: it leads outside the IAM folder")
        return resolved

    def line(self, line_id: str) -> Line:
        """The :class:`Line` with this id, or IAMError (malformed or unknown id)."""
        if not isinstance(line_id, str) or not LINE_RE.match(line_id):
            raise IAMError(f"{str(line_id)[:60]!r} is not an IAM line id (like a01-000u-00)")
        try:
            return self.lines[line_id]
        except KeyError:
            raise IAMError(f"unknown line id {line_id} (not in ascii/lines.txt)") from None

    def form(self, form_id: str) -> Form:
        if not isinstance(form_id, str) or not FORM_RE.match(form_id):
            raise IAMError(f"{str(form_id)[:60]!r} is not an IAM form id (like a01-000u)")
        try:
            return self.forms[form_id]
        except KeyError:
            raise IAMError(f"unknown form id {form_id}") from None

    def line_image_path(self, line_id: str) -> Path | None:
        """The file ``lines/<a01>/<a01-000u>/<id>.png`` if it exists, else None."""
        line = self.line(line_id)
        path = self._safe("lines", line.form.split("-")[0], line.form, f"{line.id}.png")
        return path if path.is_file() else None

    def form_image_path(self, form_id: str) -> Path | None:
        self.form(form_id)
        for ext in FORM_EXTENSIONS:
            path = self._safe("forms", f"{form_id}{ext}")
            if path.is_file():
                return path
        return None

    # ---------------------------------------------------------- images

    def has_line_image(self, line_id: str) -> bool:
        """True if the line can be shown: its own file, or its form's scan."""
        line = self.line(line_id)
        return self.line_image_path(line_id) is not None or self.forms[line.form].has_image

    def available_lines(self) -> list[str]:
        """Ids of the lines with an image on disk (own file or form scan), sorted."""
        if self._available is None:
            have = set()
            lines_dir = self.root / "lines"
            if lines_dir.is_dir():
                for dirpath, _dirs, files in os.walk(lines_dir):
                    here = Path(dirpath)
                    for f in files:  # only files where line_image_path looks: lines/a01/a01-000u/
                        stem = f[:-4]
                        if f.endswith(".png") and here.name == form_of(stem) and here.parent.name == stem[:3]:
                            have.add(stem)
            self._available = sorted(
                i for i, line in self.lines.items() if i in have or self.forms[line.form].has_image
            )
        return list(self._available)

    def line_image(self, line_id: str) -> np.ndarray:
        """The line as uint8 gray: from ``lines/`` if there, else cut from its form scan."""
        from htr.images import load_image

        line = self.line(line_id)
        path = self.line_image_path(line_id)
        try:
            if path is not None:
                return load_image(path, name=str(path))
            form = self.form_image(line.form)
        except ImageError as exc:
            raise IAMError(str(exc)) from exc
        except IAMError as exc:  # name the line that was asked for, not only its form
            raise IAMError(f"{line_id}: no line image under {self.root / 'lines'}, and {exc}") from None
        b = line.box
        h, w = form.shape
        x0, y0, x1, y1 = max(0, b.x), max(0, b.y), min(w, b.x + b.w), min(h, b.y + b.h)
        if x1 - x0 < 2 or y1 - y0 < 2:
            raise IAMError(f"{line_id}: its box {b.x} {b.y} {b.w} {b.h} lies outside the form scan ({w}×{h})")
        return form[y0:y1, x0:x1].copy()

    def form_image(self, form_id: str) -> np.ndarray:
        """The full form scan as uint8 gray (the last two are kept in memory)."""
        from htr.images import load_image

        with self._lock:
            cached = self._form_cache.get(form_id)
        if cached is not None:
            return cached
        path = self.form_image_path(form_id)
        if path is None:
            raise IAMError(f"no scan of form {form_id} in {self.root / 'forms'}")
        try:
            gray = load_image(path, name=str(path))
        except ImageError as exc:
            raise IAMError(str(exc)) from exc
        gray.setflags(write=False)
        with self._lock:
            if len(self._form_cache) >= 2:
                self._form_cache.pop(next(iter(self._form_cache)))
            self._form_cache[form_id] = gray
        return gray

    # ---------------------------------------------------------- splits

    def split_schemes(self) -> list[str]:
        d = self.root / "splits"
        return sorted(p.name for p in d.iterdir() if p.is_dir()) if d.is_dir() else []

    def splits(self, scheme: str = "aachen", kind: str = "lines") -> dict[str, list[str]]:
        """{split name: ids} from ``splits/<scheme>/<name>.<kind>.txt`` (kind: lines|forms)."""
        if scheme not in SCHEMES and not re.fullmatch(r"[A-Za-z0-9_]+", scheme or ""):
            raise IAMError(f"unknown split scheme {scheme!r} (use one of {', '.join(SCHEMES)})")
        if kind not in ("lines", "forms"):
            raise IAMError(f"split kind must be 'lines' or 'forms', not {kind!r}")
        key = f"{scheme}/{kind}"
        if key in self._splits:
            return {k: list(v) for k, v in self._splits[key].items()}
        folder = self._safe("splits", scheme)
        if not folder.is_dir():
            raise IAMError(f"no split scheme {scheme!r}: {folder} is missing")
        pattern = LINE_RE if kind == "lines" else FORM_RE
        result: dict[str, list[str]] = {}
        for path in sorted(folder.glob(f"*.{kind}.txt")):
            path = self._safe("splits", scheme, path.name)  # a symlinked file must not lead out
            ids = []
            for number, row in _rows(path):
                if not pattern.match(row):
                    raise IAMError(f"{path}:{number}: malformed row: {row[:40]!r} is not an IAM {kind[:-1]} id")
                ids.append(row)
            result[path.name[: -len(f".{kind}.txt")]] = ids
        if not result:
            raise IAMError(f"no *.{kind}.txt files in {folder}")
        self._splits[key] = result
        return {k: list(v) for k, v in result.items()}

    def split_summary(self, scheme: str = "aachen") -> list[dict]:
        """One row per split of ``scheme``, then one for the lines in none of them.

        Each row: ``split``, ``lines``, ``forms``, ``writers``, ``words``,
        ``characters``, ``with_images`` (lines whose image is in this copy) and
        ``shared_writers``: writers of this split who also wrote lines of
        another split of the scheme (0 everywhere for a writer-independent split,
        as both IAM schemes are). Ids a split lists but ``lines.txt`` lacks
        count as lines only.
        """
        splits = self.splits(scheme)
        listed = {i for ids in splits.values() for i in ids}
        rest = [i for i in self.lines if i not in listed]
        have = set(self.available_lines())

        def writers_of(ids) -> set[str]:
            return {self.lines[i].writer for i in ids if i in self.lines and self.lines[i].writer}

        by_split = {name: writers_of(ids) for name, ids in splits.items()}
        rows = []
        for name, ids in [*splits.items(), *([("(in no split)", rest)] if rest else [])]:
            known = [self.lines[i] for i in ids if i in self.lines]
            writers = by_split[name] if name in splits else writers_of(ids)
            others = set().union(*(w for n, w in by_split.items() if n != name))
            rows.append({
                "split": name,
                "lines": len(ids),
                "forms": len({line.form for line in known}),
                "writers": len(writers),
                "words": sum(len(line.words) for line in known),
                "characters": sum(len(line.text) for line in known),
                "with_images": sum(i in have for i in ids),
                "shared_writers": len(writers & others) if name in splits else None,
            })
        return rows

    def split_of(self, line_id: str, scheme: str = "aachen") -> str | None:
        """The split name the line belongs to under ``scheme``, or None."""
        self.line(line_id)
        if scheme not in self._split_index:
            self._split_index[scheme] = {i: name for name, ids in self.splits(scheme).items() for i in ids}
        return self._split_index[scheme].get(line_id)

    # ---------------------------------------------------------- text

    def search(self, query: str, limit: int = 50) -> list[Line]:
        """Lines whose text (or id) contains ``query``, case-insensitive, in id order."""
        q = (query or "").strip().lower()
        out = []
        for line in self.lines.values():
            if not q or q in line.text.lower() or q in line.id:
                out.append(line)
                if len(out) >= limit:
                    break
        return out

    @property
    def sentences(self) -> dict[str, Sentence]:
        """Rows of ``ascii/sentences.txt`` (empty if the file is absent)."""
        if self._sentences is None:
            path = self._safe("ascii", "sentences.txt")
            result = {}
            if path.is_file():
                for number, row in _rows(path):
                    parts = row.split(None, 9)
                    if len(parts) < 10 or not SENTENCE_RE.match(parts[0]) or not parts[1].isdigit():
                        raise IAMError(f"{path}:{number}: malformed row: {row[:60]!r}")
                    box = _box(parts[5:9], path, number)
                    form = parts[0].rsplit("-", 2)[0]
                    result[parts[0]] = Sentence(
                        parts[0], form, int(parts[1]), parts[2], box, int(parts[3]) if parts[3].isdigit() else 0,
                        parts[9].replace("|", " "),
                    )
            self._sentences = result
        return self._sentences

    @property
    def words(self) -> dict[str, Word]:
        """Rows of ``ascii/words.txt`` (empty if the file is absent)."""
        if self._words is None:
            path = self._safe("ascii", "words.txt")
            result = {}
            if path.is_file():
                for number, row in _rows(path):
                    parts = row.split(None, 8)
                    if len(parts) < 9 or not WORD_RE.match(parts[0]):
                        raise IAMError(f"{path}:{number}: malformed row: {row[:60]!r}")
                    box = _box(parts[3:7], path, number, allow_missing=True)
                    result[parts[0]] = Word(
                        parts[0], form_of(parts[0]), parts[1], int(parts[2]) if parts[2].lstrip("-").isdigit() else 0,
                        box, parts[7], parts[8],
                    )
            self._words = result
        return self._words
