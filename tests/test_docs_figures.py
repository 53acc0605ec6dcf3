"""Every published figure names its source, and the source says it.

The convention (also in benchmarks/README.md, "Figures in the docs"):

* **What counts as a figure**: in README.md, models/MODEL_CARD.md and
  docs/*.md, outside code blocks and inline code, every number directly
  followed by a unit — ``%``, ``ms``, ``s`` (seconds), ``lines/s`` — both
  ends of a range written with one unit (``0.145–0.182 s``, ``2.4 to 4.7 %``),
  and every number in a table column whose header names one of these units
  (``median s/line``).
* **Where its source is named**: a path to a committed file that holds the
  number — ``benchmarks/…`` or ``models/training/…`` (a measurement), or a
  code or config file (``htr/….py``, ``app/….py``, ``.streamlit/config.toml``:
  a setting) — written in the same *block*: the table row, the list item or
  the paragraph. A table row or list item may also rely on the paragraph just
  above its table or list. Links count (``[page.md](benchmarks/page.md)``,
  ``../benchmarks/…`` from docs/).
* **How it is checked**: the number must appear in one of the named sources,
  as written or rounded half up to the doc's decimals (``6.8 %`` matches
  ``6.82%``, ``28.0 %`` matches ``27.95%``), in the same unit. A Markdown
  source is read like a doc (a number's unit is written after it or named in
  its table column's header; a table cell without a unit matches any unit;
  prose numbers without a unit — dates, load averages — match nothing). A
  CSV or code file has no units: a CER fraction ``0.068`` matches ``6.8 %``,
  ``0.007`` s matches ``7 ms``. A figure with no source in its block fails,
  and so does one its sources do not hold.
* **Exempt**, and only so: a figure just after ``≤ ≥ < >`` (a bound or target,
  not a measurement), and a figure followed within its sentence by
  ``(paper)`` (quoted from the literature). Keep these few.

It checks membership, not position: a changed figure that happens to equal
another number of the same unit in a named source still passes (README's
page time changed to 0.192 s passes, since page.md has a 0.192 s elsewhere).
So name the narrowest source, not every file that might do.

When a benchmark is rerun, its committed output changes and any doc figure
quoting the old number fails here until the doc is updated: that is the point.
Historic figures (what an older stage measured) need a committed source too:
models/training/stage_benchmarks.md and models/training/validate_decisions.md
quote the old outputs and decisions with their commits.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", ROOT / "models" / "MODEL_CARD.md", *sorted((ROOT / "docs").glob("*.md"))]

NUM = r"(?<![\w.])\d+(?:,\d{3})*(?:\.\d+)?"  # not the 2 of "Easter2" or the 5 of "MD5s"
UNIT = r"(?:lines/s\b|%|ms\b|s\b|seconds\b)"
# a range: "0.12–0.16 s", "2.4 to 4.7 %", "10.2–10.4 ms"; or one number with its unit
FIGURE = re.compile(rf"(?P<bound>[≤≥<>]\s*)?(?:(?P<a>{NUM})\s*(?:–|-|to)\s*)?(?P<b>{NUM})\s?(?P<unit>{UNIT})")
# in a table, a column whose header names a unit makes every number in its cells a figure
HEADER_UNIT = re.compile(r"(lines/s|%|\bms\b|\bs/line\b|\(s\)|\bs\b|\bseconds\b)")
CELL_NUMBER = re.compile(rf"(?P<bound>[≤≥<>]\s*)?(?P<n>{NUM})")
SOURCE = re.compile(r"(?<![\w/.-])(?:\.\./)?((?:benchmarks|models/training|htr|app|app_pages|tools)/[\w./-]+"
                    r"\.(?:md|csv|json|txt|py|toml)|\.streamlit/config\.toml)")
PAPER = re.compile(r"^[^.;]*?\(paper\)")


@dataclass
class Block:
    doc: str
    line: int  # first line of the block, 1-based
    text: str
    kind: str  # "para", "item" or "row"
    context: str = ""  # the paragraph just above a table or list
    header: str = ""  # a table row's header row


def blocks(path: Path) -> list[Block]:
    """Paragraphs, list items and table rows of a Markdown file, code blocks and inline code left out."""
    out: list[Block] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    fenced = False
    cur: list[str] = []
    start = 0
    kind = "para"
    last_para = ""  # the most recent paragraph, for a table or list right under it
    run_context = ""  # the context of the table or list being read
    header = ""  # the header row of the table being read
    in_table = False

    def flush():
        nonlocal cur, last_para, run_context
        if cur:
            text = " ".join(cur)
            out.append(Block(path.name if path.parent == ROOT else str(path.relative_to(ROOT)), start, text, kind,
                             run_context if kind != "para" else "", header if kind == "row" else ""))
            if kind == "para":
                last_para = text
        cur = []

    for i, raw in enumerate(lines, 1):
        line = raw.rstrip()
        if line.lstrip().startswith("```"):
            flush()
            fenced = not fenced
            continue
        if fenced:
            continue
        stripped = line.strip()
        if not stripped:
            flush()
            if kind == "para":
                run_context = last_para
            in_table = False
            continue
        if stripped.startswith("|"):
            flush()
            if not in_table:  # a new table: its first row is the header
                header, in_table = stripped, True
            if kind == "para":
                run_context = last_para
            if re.fullmatch(r"[|:\-\s]+", stripped):  # the |---| line
                kind = "row"
                continue
            kind, start, cur = "row", i, [stripped]
            flush()
            continue
        in_table = False
        if re.match(r"^\s*(?:[-*+]|\d+\.)\s", line):
            flush()
            if kind == "para":
                run_context = last_para
            kind, start, cur = "item", i, [stripped]
            continue
        if kind == "row" or not cur:
            if not cur and kind != "item":
                kind = "para"
            if kind == "row":
                kind = "para"
            start = i if not cur else start
        cur.append(stripped)
    flush()
    return out


def _without_code(text: str) -> str:
    return re.sub(r"(`+)(.+?)\1", " ", text)


def _value(s: str) -> Decimal:
    return Decimal(s.replace(",", ""))


def _rounds_to(x: Decimal, want: Decimal, decimals: int) -> bool:
    """``x`` written with ``decimals`` decimals, rounding half up as people do (27.95 → 28.0), is ``want``."""
    return x.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP) == want


def _decimals(s: str) -> int:
    return len(s.split(".")[1]) if "." in s else 0


@dataclass
class Figure:
    block: Block
    number: str
    unit: str
    exempt: str | None

    def __str__(self):
        return f"{self.block.doc}:{self.block.line}: {self.number} {self.unit}"


def _cells(row: str) -> list[str]:
    return [c.strip() for c in row.strip().strip("|").split("|")]


def figures(block: Block) -> list[Figure]:
    text = _without_code(block.text)
    out = []
    if block.kind == "row" and block.header and block.text != block.header:
        units = [HEADER_UNIT.search(_without_code(h)) for h in _cells(block.header)]
        for cell, unit in zip(_cells(text), units):
            if unit is None or FIGURE.search(cell):  # a cell that writes its own unit is read below
                continue
            u = {"(s)": "s", "s/line": "s", "seconds": "s"}.get(unit.group(1), unit.group(1))
            for m in CELL_NUMBER.finditer(cell):
                out.append(Figure(block, m.group("n"), u, "bound" if m.group("bound") else None))
    for m in FIGURE.finditer(text):
        unit = m.group("unit")
        exempt = None
        if m.group("bound"):
            exempt = "bound"
        elif PAPER.match(text[m.end():]):
            exempt = "paper"
        for key in ("a", "b"):
            if m.group(key):
                out.append(Figure(block, m.group(key), unit, exempt))
    return out


def sources(block: Block) -> list[Path]:
    names = SOURCE.findall(block.text) + SOURCE.findall(block.context)
    return [ROOT / n for n in dict.fromkeys(names)]


@lru_cache(maxsize=None)
def numbers_in(path: Path) -> tuple[tuple[Decimal, str | None], ...]:
    """(value, unit) of every number in a source. A Markdown source is read like a doc: a number
    counts with the unit written after it or named in its table column's header (unit None where
    it has none: it then matches no figure). Any other file (CSV, code, config) has no units: its
    numbers match a figure of any unit."""
    if path.suffix == ".md":
        out = []
        for b in blocks(path):
            found = figures(b)
            out += [(_value(f.number), f.unit) for f in found]
            if b.kind == "row":  # a table cell's number without a unit (prose numbers without one: dates, loads)
                with_unit = {f.number for f in found}
                out += [(_value(n), None) for n in re.findall(NUM, _without_code(b.text)) if n not in with_unit]
        return tuple(out)
    text = path.read_text(encoding="utf-8", errors="replace")
    return tuple((_value(n), None) for n in re.findall(NUM, text))


# a figure's unit, and what a source number in a unit is multiplied by to compare with it
_SCALES = {"%": {"%": 1}, "ms": {"ms": 1, "s": 1000}, "s": {"s": 1, "ms": Decimal("0.001")},
           "lines/s": {"lines/s": 1}}
_UNITLESS = {"%": (1, 100), "ms": (1, 1000), "s": (1,), "lines/s": (1,)}  # a CSV keeps CER as a fraction


def holds(path: Path, number: str, unit: str) -> bool:
    unit = "s" if unit == "seconds" else unit
    want, d = _value(number), _decimals(number)
    for x, u in numbers_in(path):
        u = "s" if u == "seconds" else u
        scales = _UNITLESS[unit] if u is None else (_SCALES[unit].get(u),)
        if any(k is not None and _rounds_to(x * k, want, d) for k in scales):
            return True
    return False


def all_figures() -> list[Figure]:
    return [f for doc in DOCS for b in blocks(doc) for f in figures(b)]


def check(fig: Figure) -> str | None:
    """Why ``fig`` fails the convention, or None."""
    if fig.exempt:
        return None
    named = sources(fig.block)
    if not named:
        return f"{fig}: no source named in its block ({fig.block.text[:120]}…)"
    missing = [p for p in named if not p.is_file()]
    if missing:
        return f"{fig}: source {missing[0].relative_to(ROOT)} does not exist"
    if not any(holds(p, fig.number, fig.unit) for p in named):
        return f"{fig}: not in {', '.join(str(p.relative_to(ROOT)) for p in named)}"
    return None


# ---------------------------------------------------------------- the tests


def test_every_figure_in_the_docs_is_in_its_named_source():
    failures = [why for f in all_figures() if (why := check(f))]
    assert not failures, f"{len(failures)} figure(s) without a source that holds them:\n" + "\n".join(failures)


def test_exemptions_stay_few():
    exempt = [f for f in all_figures() if f.exempt]
    assert len(exempt) <= 12, [str(f) for f in exempt]


def test_the_checker_finds_figures_and_catches_an_altered_one(tmp_path):
    """The checker itself: it sees ranges and units, skips code, and fails a changed or unsourced figure."""
    src = tmp_path / "benchmarks" / "x.md"
    src.parent.mkdir()
    src.write_text("| a | 6.82% | 0.145 | 0.182 | 11.1 |\n")
    doc = tmp_path / "d.md"
    doc.write_text("A page takes 0.145–0.182 s and a line 11.1 ms, 6.8 % CER (benchmarks/x.md).\n\n"
                   "`7.5 %` in code is not a figure. The goal is ≤ 10 % (a target).\n\n"
                   "| set | CER |\n|---|---|\n| all | 6.8 % |\n\n"
                   "The paper's 6.21 % (paper) is quoted.\n")
    global ROOT
    saved = ROOT
    try:
        ROOT = tmp_path
        figs = [f for b in blocks(doc) for f in figures(b)]
        assert [(f.number, f.unit) for f in figs] == [("0.145", "s"), ("0.182", "s"), ("11.1", "ms"), ("6.8", "%"),
                                                      ("10", "%"), ("6.8", "%"), ("6.21", "%")]
        verdicts = [check(f) for f in figs]
        assert verdicts[:5] == [None] * 5 and verdicts[6] is None  # sourced, bound, paper
        assert "no source" in verdicts[5]  # the table has no source in its row or above it
        doc.write_text("A page takes 0.145–0.192 s (benchmarks/x.md).\n")
        numbers_in.cache_clear()
        (bad,) = [check(f) for b in blocks(doc) for f in figures(b) if check(f)]
        assert "0.192 s: not in benchmarks/x.md" in bad
    finally:
        ROOT = saved
        numbers_in.cache_clear()


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_docs_have_figures_to_check(doc):
    """The checker reads each doc (a parser that found nothing would pass everything)."""
    if doc.name == "security.md":
        pytest.skip("security.md quotes few figures")
    assert figures_of(doc), doc


def figures_of(doc: Path) -> list[Figure]:
    return [f for b in blocks(doc) for f in figures(b)]
