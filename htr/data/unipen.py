"""UNIPEN pen strokes (``../shared/hands/unipen``, category 8: free text) as line records.

The files under ``data/8/<set>/`` are indexes: ``.INCLUDE`` names files under
``include/`` (header ``.doc`` first, then the stroke file) and
``.SEGMENT TEXT a-b quality "text"`` labels a range of *components*, numbered
from 0 across everything included, in order. What the reader does about the
traps of this format (each checked by drawing segments of every set):

* a component is a pen block (``.PEN_DOWN`` or ``.PEN_UP``) with at least
  one point row: in most sets pen-up blocks are empty and so only pen-downs
  count, in ``sta`` (and part of ``lex``) pen-up blocks hold hover points and
  count too, and ``lex`` has empty pen-down blocks that do not. This one rule
  puts every segment of every set where the stroke file's own comments (``lex``)
  and the drawings say it is; counting pen-downs only sends 65 ``lex`` segments
  past the end and hundreds more onto the wrong ink. Only pen-down blocks
  become strokes;
* a range that does not fit the file, a reversed range, a ``BAD`` label, a
  placeholder text standing in for a transcription (:data:`PLACEHOLDER_TEXTS`), a
  range touching a malformed point row, or one without ink is dropped and
  counted (:func:`unipen_counts`);
* ``.COORD`` names the columns of a point row: X and Y are taken from there;
* coordinates are scaled to millimetres by ``.X_POINTS_PER_INCH`` / ``_MM``;
* y grows upwards (the UNIPEN convention) in all twelve sets, the Apple ones
  included; the reader flips it so every record has y down (a set listed in
  :data:`Y_DOWN` would be left as it is). :func:`y_up_evidence` measures the
  direction from the data (ascenders of the labelled text) and the tests check
  every set with it;
* a segment written on several lines (word lists in ``apb``…``ape``, long
  sentences in ``scr``) is cut at its carriage returns and its lines laid side
  by side (:func:`htr.data.strokes.split_lines`), so every record is one line;
* letters written into the boxes of a comb (``ced``) are brought together,
  the text's spaces kept as the widest gaps (:func:`htr.data.strokes.close_gaps`);
* points at exactly (0, 0) are placeholders (``lex``, ``hpb``, ``ced``) and are dropped;
* ``.COMMENT`` blocks are ignored, including commented-out ``.SEGMENT`` lines;
* the writer is ``.WRITER_ID`` of the stroke file (the file's name without
  one); the Apple sets ``apa``…``ape``, ``app`` share writers, so a hand is
  named by the group (``unipen-app-<writer>``), never by the set alone.

Parsing all of it (about 70 MB) takes a few seconds; :func:`read_unipen` keeps
the result in the process (training workers call it once each).
"""

from __future__ import annotations

import copy
import os
import re
import warnings
from collections import Counter
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from htr.data.lines import DataError, LineRecord
from htr.data.strokes import close_gaps, join_lines, split_lines, vertical_gap

#: Sets whose y axis grows downwards, against the UNIPEN convention: none of
#: the twelve here (each checked by drawing and by :func:`y_up_evidence`).
Y_DOWN: frozenset = frozenset()
#: Sets written letter by letter into the boxes of a comb (CEDAR): letters are brought together.
COMB = frozenset({"ced"})
#: Sets that share writers (and a header): their hands are named by the group.
WRITER_GROUP = {"apa": "app", "apb": "app", "apc": "app", "apd": "app", "ape": "app"}
CATEGORY = "8"
MM_PER_INCH = 25.4

_KEYWORD = re.compile(r"\n\.(?=[A-Z_])")
_SEGMENT = re.compile(r'^(\S+)\s+(\d+(?::\d+)?)(?:-(\d+(?::\d+)?))?\s+(\S+)\s+"((?:[^"\\]|\\.)*)"\s*$')


@dataclass(frozen=True)
class _State:
    """Header values in force where a component was read."""

    x_col: int = 0
    y_col: int = 1
    n_cols: int = 2
    x_scale: float = 1.0  # millimetres per point (1 where the header gives no resolution)
    y_scale: float = 1.0
    writer: str = ""
    stroke_file: str = ""


@dataclass
class _Component:
    down: bool
    points: np.ndarray  # (N, 2) float32 millimetres, as recorded (y not flipped)
    state: _State
    bad_row: bool = False
    rows: int = 0  # point rows as written, placeholders included: what numbering counts


@dataclass(frozen=True)
class Segment:
    """One ``.SEGMENT`` of an index, before it is checked against the components."""

    kind: str
    first: int
    last: int
    first_point: int | None
    last_point: int | None
    quality: str
    text: str
    line: int


@dataclass
class SetCount:
    """What one set gave: segments listed, kept, and dropped with the reason."""

    files: int = 0
    segments: int = 0
    kept: int = 0
    dropped: Counter = field(default_factory=Counter)
    lines: Counter = field(default_factory=Counter)  # kept segments by lines of ink (>1: laid side by side)
    writers: set = field(default_factory=set)


@dataclass(frozen=True)
class IndexFile:
    """An index file read: its components (in order) and its text segments."""

    path: Path
    components: tuple
    segments: tuple


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return "\n" + text.replace("\r\n", "\n").replace("\r", "\n")


def _rows(body: str, n_cols: int, where: str) -> tuple[np.ndarray, int, bool]:
    """One pen block read row by row: (rows, rows written, a row had the wrong number of columns)."""
    rows, written, bad = [], 0, False
    for line in body.split("\n"):
        parts = line.split()
        if not parts:
            continue
        written += 1
        try:
            nums = [float(p) for p in parts]
        except ValueError:
            raise DataError(f"{where}: point row {line.strip()!r} is not numbers") from None
        if len(nums) == n_cols:
            rows.append(nums)
        else:
            bad = True
    return np.asarray(rows, dtype=np.float64).reshape(-1, n_cols), written, bad


def _fill_points(pending: list) -> None:
    """Convert the rows of pen blocks read under one header state at once.

    ``pending``: (component, body, where). One C call reads the numbers of all
    the blocks and each block's share is counted by its non-blank lines; if the
    numbers do not add up (a blank line inside a block, a short row, a word),
    the blocks are read row by row instead.
    """
    if not pending:
        return
    st = pending[0][0].state
    stripped = [b.strip() for _, b, _ in pending]
    written = [t.count("\n") + 1 if t else 0 for t in stripped]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            vals = np.fromstring("\n".join(stripped), sep=" ")  # text mode
        except (ValueError, DeprecationWarning):
            vals = None
    if vals is not None and vals.size == sum(written) * st.n_cols:
        rows, counts, bads = vals.reshape(-1, st.n_cols), written, [False] * len(pending)
    else:
        parts, written, bads = zip(*(_rows(b, st.n_cols, w) for _, b, w in pending))
        rows, counts = np.concatenate(parts), [len(p) for p in parts]
    xy = rows[:, (st.x_col, st.y_col)]
    keep = (xy[:, 0] != 0) | (xy[:, 1] != 0)  # (0, 0): placeholder points
    xy = (xy[keep] * (st.x_scale, st.y_scale)).astype(np.float32)
    kept = np.concatenate(([0], np.cumsum(keep)))[np.concatenate(([0], np.cumsum(counts)))]
    for (comp, _, _), i, j, n, bad in zip(pending, kept[:-1], kept[1:], written, bads):
        comp.points, comp.rows, comp.bad_row = xy[i:j], n, bad


def _include(path: Path, include_dir: Path, arg: str, line_no: int) -> Path:
    name = arg.split()[0] if arg.split() else ""
    if not name:
        raise DataError(f"{path}, line {line_no}: .INCLUDE without a file name")
    inc = Path(os.path.normpath(include_dir / name))
    if Path(name).is_absolute() or ".." in Path(name).parts:
        raise DataError(f"{path}, line {line_no}: included file {name} is outside {include_dir}")
    if not inc.is_file():
        raise DataError(f"{path}, line {line_no}: included file {name} not found under {include_dir}")
    return inc


def _parse(path: Path, include_dir: Path, state: _State, comps: list, segs: list,
           stack: tuple, cache: dict) -> _State:
    """Read one file (index or included), appending its pen blocks and segments.

    Returns the header state in force at its end: what an included ``.doc``
    file declares stays in force for the files included after it. ``cache``
    holds files already split into keyword chunks (the shared header files).
    """
    if path in stack:
        raise DataError(f"{path}: includes itself (through {', '.join(p.name for p in stack)})")
    if path not in cache:
        pieces = _KEYWORD.split(_read_text(path))
        cache[path] = (pieces[0].count("\n"), pieces[1:])
    line_no, chunks = cache[path]  # line_no: the line of the first keyword, less one
    pending: list = []
    for chunk in chunks:
        line_no += 1
        first, _, body = chunk.partition("\n")
        kw, *rest = first.split(None, 1)
        arg = rest[0].strip() if rest else ""
        if kw in ("PEN_DOWN", "PEN_UP"):
            if pending and pending[-1][0].state is not state:
                _fill_points(pending)
                pending = []
            comp = _Component(kw == "PEN_DOWN", None, state)
            comps.append(comp)
            pending.append((comp, arg + "\n" + body, f"{path}, line {line_no}"))
        elif kw == "INCLUDE":
            inc = _include(path, include_dir, arg, line_no)
            inner = replace(state, stroke_file=inc.stem, writer="")
            after = _parse(inc, include_dir, inner, comps, segs, stack + (path,), cache)
            state = replace(after, writer=after.writer or state.writer, stroke_file=state.stroke_file)
        elif kw == "SEGMENT":
            m = _SEGMENT.match(arg)
            if not m:
                raise DataError(f"{path}, line {line_no}: cannot read .SEGMENT {arg[:60]!r} "
                                "(expected: TYPE a-b quality \"text\")")
            a, _, ap = m[2].partition(":")
            b, _, bp = (m[3] or m[2]).partition(":")
            text = re.sub(r"\\(.)", r"\1", m[5])
            segs.append(Segment(m[1], int(a), int(b), int(ap) if ap else None,
                                int(bp) if bp else None, m[4], text, line_no))
        elif kw == "COORD":
            cols = arg.split()
            if "X" not in cols or "Y" not in cols:
                raise DataError(f"{path}, line {line_no}: .COORD {arg!r} lacks X or Y")
            state = replace(state, x_col=cols.index("X"), y_col=cols.index("Y"), n_cols=len(cols))
        elif kw in ("X_POINTS_PER_INCH", "Y_POINTS_PER_INCH", "X_POINTS_PER_MM", "Y_POINTS_PER_MM"):
            try:
                per = float(arg.split()[0])
            except (ValueError, IndexError):
                raise DataError(f"{path}, line {line_no}: .{kw} {arg!r} is not a number") from None
            if not per > 0:
                raise DataError(f"{path}, line {line_no}: .{kw} must be positive (is {arg})")
            mm = (MM_PER_INCH if kw.endswith("INCH") else 1.0) / per
            state = replace(state, **{"x_scale" if kw[0] == "X" else "y_scale": mm})
        elif kw == "WRITER_ID":
            state = replace(state, writer=arg.split()[0] if arg else "")
        line_no += body.count("\n")
    _fill_points(pending)
    return state


def read_index(path: str | Path, include_dir: str | Path, cache: dict | None = None) -> IndexFile:
    """Parse one index file and what it includes into components and segments.

    A component is a pen block with at least one point row (see the module's
    docstring); raises :class:`DataError` naming the file for what cannot be read.
    """
    comps: list = []
    segs: list = []
    path = Path(os.path.abspath(path))
    _parse(path, Path(os.path.abspath(include_dir)), _State(), comps, segs, (), {} if cache is None else cache)
    return IndexFile(path, tuple(c for c in comps if c.rows), tuple(segs))


#: Labels that stand in for a transcription nobody made: 20 segments of the Apple sets are labelled
#: "Word!" (18 of Chuck_Chaffee_1 in ``apd06``/``apd07``, 2 of Eric_Behnke_1 in ``apd11``) while their ink
#: is a line of several words (found when adapting to that writer made the readings far worse: benchmarks/adapt.md of 6c19012).
PLACEHOLDER_TEXTS = frozenset({"Word!"})


def _check(seg: Segment, comps: tuple) -> str | None:
    """Why a segment cannot be used, or None."""
    if seg.kind != "TEXT":
        return f"not a TEXT segment ({seg.kind})"
    if seg.quality.upper() == "BAD":
        return "labelled BAD"
    if seg.last < seg.first:
        return "reversed range"
    if seg.last >= len(comps):
        return "range past the last component"
    if not seg.text.strip():
        return "empty text"
    if seg.text.strip() in PLACEHOLDER_TEXTS:
        return "placeholder text"
    part = comps[seg.first:seg.last + 1]
    if any(c.bad_row for c in part):
        return "malformed point row"
    if seg.first_point is not None and seg.first_point >= max(len(part[0].points), 1):
        return "point index past its component"
    return None


def _writer_hand(set_name: str, comp: _Component) -> str:
    writer = comp.state.writer or comp.state.stroke_file or "unknown"
    w = writer.lower()
    w = re.sub(r"(?<=[a-z])_\d+$", "", w)  # session suffix: Chuck_Chaffee_1, _2
    w = re.sub(r"[^a-z0-9.-]", "", w) or "unknown"
    return f"unipen-{WRITER_GROUP.get(set_name, set_name)}-{w}"


def _segment_strokes(seg: Segment, comps: tuple, set_name: str) -> tuple[tuple, int]:
    """The pen-down strokes of a segment as one line, y down, ink from (0, 0); and its ink lines."""
    part = list(comps[seg.first:seg.last + 1])
    pts = [c.points for c in part]
    if seg.first_point is not None:
        pts[0] = pts[0][seg.first_point:]
    if seg.last_point is not None:
        pts[-1] = pts[-1][:seg.last_point + 1]
    strokes = [p.astype(np.float64) for c, p in zip(part, pts) if c.down and len(p)]
    if not strokes:
        return (), 0
    if set_name not in Y_DOWN:
        strokes = [p * (1.0, -1.0) for p in strokes]
    lines = split_lines(strokes)
    if len(lines) > 1:
        strokes = join_lines(lines)
    if set_name in COMB:
        strokes = close_gaps(strokes, seg.text.count(" "))
    if vertical_gap(strokes) > 1.0:
        return (), -1
    lo = np.min([s.min(axis=0) for s in strokes], axis=0)
    out = []
    for s in strokes:
        s = (s - lo).astype(np.float32)
        s.setflags(write=False)
        out.append(s)
    return tuple(out), len(lines)


def index_files(root: Path, set_name: str) -> list[Path]:
    """The index files of one set of category 8, sorted."""
    return sorted(p for p in (root / "data" / CATEGORY / set_name).rglob("*") if p.is_file())


def set_names(root: str | Path) -> list[str]:
    """The sets of category 8 under ``root`` (``apa`` … ``sta``)."""
    base = Path(root) / "data" / CATEGORY
    if not base.is_dir():
        raise DataError(f"{root}: not a UNIPEN folder (no data/{CATEGORY}/ inside)")
    return sorted(p.name for p in base.iterdir() if p.is_dir())


def _read_set(root: Path, set_name: str) -> tuple[list[LineRecord], SetCount]:
    count = SetCount()
    recs: list[LineRecord] = []
    include_dir = root / "include"
    cache: dict = {}
    seen: set = set()
    for path in index_files(root, set_name):
        index = read_index(path, include_dir, cache)
        # header files are shared by a set's indexes; stroke files are read once
        cache = {k: v for k, v in cache.items() if k.suffix != ".dat"}
        comps = index.components
        segs = index.segments
        count.files += 1
        rel = path.relative_to(root / "data" / CATEGORY).with_suffix("").as_posix()
        for seg in segs:
            count.segments += 1
            why = _check(seg, comps)
            strokes, n_lines = ((), 0) if why else _segment_strokes(seg, comps, set_name)
            if not why and not strokes:
                why = "ink on several lines, not in writing order" if n_lines < 0 else "no ink"
            if why:
                count.dropped[why] += 1
                continue
            hand = _writer_hand(set_name, comps[seg.first])
            rid = f"unipen-{rel.replace('/', '-')}-{seg.first}-{seg.last}"
            n = 2
            while rid in seen:
                rid = f"unipen-{rel.replace('/', '-')}-{seg.first}-{seg.last}-{n}"
                n += 1
            seen.add(rid)
            count.kept += 1
            count.lines[n_lines] += 1
            count.writers.add(hand)
            recs.append(LineRecord(id=rid, text=seg.text, hand=hand, source="unipen",
                                   image=None, page=rel, strokes=strokes))
    return recs, count


@lru_cache(maxsize=4)
def _read_all(root: Path, sets: tuple | None) -> tuple[tuple, dict]:
    """Read (and keep, per process) the records and counts of ``sets`` under a resolved root."""
    known = set_names(root)
    names = known if sets is None else list(sets)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise DataError(f"{root}: no set {', '.join(unknown)} in data/{CATEGORY} (there are {', '.join(known)})")
    recs: list = []
    counts: dict = {}
    for name in names:
        r, c = _read_set(root, name)
        recs += r
        counts[name] = c
    return tuple(recs), counts


def read_unipen(root: str | Path, sets=None) -> list[LineRecord]:
    """Every usable text segment of UNIPEN category 8 under ``root``, as line records.

    Strokes are float32 (N, 2) arrays in millimetres, x right and y down, the
    ink starting at (0, 0). ``sets`` limits the sets read (names under
    ``data/8``). Raises :class:`DataError` naming the file for what cannot be read.
    """
    root = Path(root).resolve()
    set_names(root)
    return list(_read_all(root, tuple(sets) if sets is not None else None)[0])


def unipen_counts(root: str | Path, sets=None) -> dict[str, SetCount]:
    """Per set: index files, segments listed, kept, dropped by reason, lines of ink, writers.

    For reports; reads (or takes from the process's cache) what :func:`read_unipen` reads.
    """
    root = Path(root).resolve()
    set_names(root)
    return copy.deepcopy(_read_all(root, tuple(sets) if sets is not None else None)[1])


_ASC = set("bdfhklt")
_NOT_LOWER_LINE = set("gjpqy,;()[]{}/|0123456789")


def y_up_evidence(records) -> float:
    """Fraction of the telling records that look upside down (y drawn as if it grew up).

    Telling: texts of mostly lowercase letters with ascenders (b d f h k l t)
    and no descenders, digits or brackets. Drawn right, their ink reaches
    further above its median than below it (the x-height band sits at the
    bottom); upside down, the other way. Near 0: right; near 1: flipped; 0.5
    when no record tells.
    """
    votes = []
    for r in records:
        letters = [c for c in r.text if c.isalpha()]
        if (len(letters) < 3 or sum(c.islower() for c in letters) < 0.8 * len(letters)
                or not set(r.text) & _ASC or set(r.text) & _NOT_LOWER_LINE or not r.strokes):
            continue
        y = np.concatenate([np.asarray(s)[:, 1] for s in r.strokes])
        lo, med, hi = np.percentile(y, (2, 50, 98))
        if hi > lo:
            votes.append((med - lo) < (hi - med))
    return float(np.mean(votes)) if votes else 0.5
