"""The real hands of ``../shared/hands`` and their fixed split by writer.

Which writers choose and which only report is fixed *before* any run, by a rule
that looks at nothing but the writers' names: within each source the hands are
ordered by the SHA-256 of their name; the first :data:`N_VALIDATION` are
**validation** (they choose checkpoints, recipes and ship decisions), the next
:data:`N_REPORT` are **report** (measured only after a decision, never used to
make one), and the rest **train**. A writer is on one side only (split by hand,
never by line). ``models/training/hands_split.json`` is the committed result
(``python -m htr data split`` rewrites it and a test checks it still agrees).

IAM keeps its own writer-independent Aachen split: the validation lines choose,
the test form e06-033 reports (see the model card on what it was already used for).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from htr.data.lines import DataError, LineRecord, read_line_image, read_line_set

N_VALIDATION = 15
N_REPORT = 15
SPLITS = ("train", "validation", "report")
#: What each split is for, in one phrase (for pages and reports that name a hand's split).
SPLIT_MEANING = {
    "train": "a model trained on real hands learns from it",
    "validation": "chooses checkpoints (which epoch is kept, whether a model ships); never trained on",
    "report": "only measured, never used to choose anything",
}
#: Sources with line images (line sets) and with pen strokes.
IMAGE_SOURCES = ("copiste", "poilus")
STROKE_SOURCES = ("unipen",)
SOURCES = IMAGE_SOURCES + STROKE_SOURCES

CREDITS = {
    "copiste": "Copiste d'un jour, Bibliothèque et Archives nationales du Québec (BAnQ), CC BY 4.0 — "
               "github.com/banq-dcn/Copiste-d-un-jour",
    "poilus": "CREMMA-AN Testaments de Poilus, Archives nationales / École nationale des chartes / Inria, "
              "CC BY 4.0 — doi:10.5281/zenodo.10177106",
    "unipen": "UNIPEN train_r01_v07, International Unipen Foundation; Guyon et al., ICPR 1994; CC BY 4.0 — "
              "doi:10.5281/zenodo.1195803",
    "lectaurep": "LECTAUREP Bronod, Archives nationales / Inria / EPHE, CC BY 4.0 — "
                 "github.com/HTR-United/lectaurep-bronod",
}

SPLIT_FILE = Path(__file__).resolve().parents[2] / "models" / "training" / "hands_split.json"


def default_hands_dir() -> Path | None:
    """``$HANDS_DIR``, else ``../shared/hands`` beside the project, if it exists."""
    env = os.environ.get("HANDS_DIR")
    if env:
        return Path(env)
    p = Path(__file__).resolve().parents[3] / "shared" / "hands"
    return p if p.is_dir() else None


def split_hands(hands, n_validation: int = N_VALIDATION, n_report: int = N_REPORT) -> dict[str, list[str]]:
    """The rule: hands ordered by SHA-256 of the name; validation, report, then train."""
    order = sorted(set(hands), key=lambda h: hashlib.sha256(h.encode("utf-8")).hexdigest())
    if len(order) <= n_validation + n_report:
        raise DataError(f"{len(order)} hands are too few to keep {n_validation} for validation "
                        f"and {n_report} for the report and still train on some")
    return {
        "validation": sorted(order[:n_validation]),
        "report": sorted(order[n_validation:n_validation + n_report]),
        "train": sorted(order[n_validation + n_report:]),
    }


def load_split(path: Path = SPLIT_FILE) -> dict[str, dict[str, list[str]]]:
    """The committed split: {source: {split: [hands]}}."""
    import json

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read the hand split ({exc})") from None
    return data["sources"]


def which_split(split: dict[str, list[str]], hand: str) -> str:
    """'train', 'validation' or 'report' for ``hand`` (a hand not in the file trains)."""
    for name in ("validation", "report"):
        if hand in split.get(name, ()):
            return name
    return "train"


def source_lines(source: str, hands_dir: str | Path | None = None) -> list[LineRecord]:
    """Every line of one source of the hands folder (images or strokes), unsplit."""
    root = Path(hands_dir) if hands_dir else default_hands_dir()
    if root is None or not root.is_dir():
        raise DataError("no hands folder: set HANDS_DIR or put ../shared/hands beside the project")
    if source in IMAGE_SOURCES:
        return read_line_set(root / source, source=source)
    if source == "unipen":
        from htr.data.unipen import read_unipen

        return read_unipen(root / "unipen")
    raise DataError(f"unknown source {source!r} (known: {', '.join(SOURCES)})")


def lines_of(source: str, split: str, hands_dir: str | Path | None = None,
             splits: dict | None = None) -> list[tuple[LineRecord, str]]:
    """(record, text mapped into the alphabet) for one source's ``split``, dropped lines left out."""
    from htr.data.text import map_lines

    if split not in SPLITS:
        raise DataError(f"unknown split {split!r} (known: {', '.join(SPLITS)})")
    table = (splits if splits is not None else load_split())[source]
    recs = [r for r in source_lines(source, hands_dir) if which_split(table, r.hand) == split]
    kept, _ = map_lines(recs, source)
    return kept


def make_split(hands_dir: str | Path | None = None, sources=SOURCES) -> dict:
    """Apply the rule to every source found under the hands folder: the content of the split file."""
    out = {}
    for source in sources:
        try:
            recs = source_lines(source, hands_dir)
        except (DataError, ImportError):
            continue
        out[source] = split_hands(r.hand for r in recs)
    return {
        "rule": (f"per source, hands ordered by sha256(hand name): the first {N_VALIDATION} validation "
                 f"(choose), the next {N_REPORT} report (only report), the rest train"),
        "sources": out,
    }


def write_split(path: Path = SPLIT_FILE, hands_dir: str | Path | None = None, sources=SOURCES) -> dict:
    import json

    data = make_split(hands_dir, sources)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return data


# ---------------------------------------------------------------------------
# showing lines (the app's "Real hands" tab): a light table, a few lines at a time

#: Where each source lives under the hands folder (what :func:`available_sources` looks for).
_MARKER = {"copiste": "copiste/lines.tsv", "poilus": "poilus/lines.tsv", "unipen": "unipen/data"}


def available_sources(hands_dir: str | Path | None = None) -> list[str]:
    """The sources whose data is under the hands folder (none where there is no folder)."""
    root = Path(hands_dir) if hands_dir else default_hands_dir()
    if root is None or not root.is_dir():
        return []
    return [s for s in SOURCES if (root / _MARKER[s]).exists()]


def source_split(source: str, hands, splits: dict | None = None) -> tuple[dict[str, list[str]], bool]:
    """(the split of ``source``'s hands, whether it is the committed one).

    The committed split where ``models/training/hands_split.json`` has the source;
    else the same rule applied to ``hands`` (a source added to the folder before
    the file was rewritten gets the split ``python -m htr data split`` would write).
    """
    table = (splits if splits is not None else load_split()).get(source)
    if table is not None:
        return table, True
    return split_hands(hands), False


@dataclass(frozen=True)
class HandLine:
    """One line of a hands source as a table row: no pixels, no strokes (cheap to keep and copy)."""

    id: str
    source: str
    hand: str
    split: str  # "train", "validation" or "report"
    text: str  # the transcription as the source gives it
    mapped: str | None  # the text in the model's 79 characters, None where the mapping drops it
    dropped: str = ""  # why, where it does
    image: str = ""  # path of the line image ("" for pen strokes)

    @property
    def usable(self) -> bool:
        return self.mapped is not None


def line_table(source: str, hands_dir: str | Path | None = None,
               splits: dict | None = None) -> tuple[list[HandLine], bool]:
    """Every line of ``source`` with its hand's split and its mapped text; and whether the
    split is the committed one (see :func:`source_split`). Raises :class:`DataError`
    (and ImportError where a source's reader is not installed)."""
    from htr.data.text import to_iam

    records = source_lines(source, hands_dir)
    split, committed = source_split(source, {r.hand for r in records}, splits)
    rows = []
    for r in records:
        m = to_iam(r.text)
        rows.append(HandLine(id=r.id, source=source, hand=r.hand, split=which_split(split, r.hand),
                             text=r.text, mapped=m.text, dropped=m.dropped,
                             image=str(r.image) if r.image is not None else ""))
    return rows, committed


def hands_of(table: list[HandLine]) -> list[tuple[str, str, int]]:
    """(hand, split, usable lines) for every hand of a table with a usable line, by name."""
    count: dict[str, int] = {}
    split: dict[str, str] = {}
    for row in table:
        if row.usable:
            count[row.hand] = count.get(row.hand, 0) + 1
            split[row.hand] = row.split
    return [(h, split[h], count[h]) for h in sorted(count)]


def sample_lines(source: str | list[HandLine], split: str | None = None, n: int = 3, seed: int = 0, *,
                 hand: str | None = None, hands_dir: str | Path | None = None) -> list[HandLine]:
    """``n`` usable lines of one source (a name, or its :func:`line_table`), of ``split`` and/or
    ``hand`` where given.

    The candidates are shuffled once, by a generator seeded with the source, split and hand
    (not ``seed``); ``seed`` picks the window: seed 0 the first ``n``, seed 1 the next ``n``,
    and so on around. Consecutive seeds thus show different lines until a hand's lines are
    exhausted, and the same seed always shows the same lines. Fewer than ``n`` where there
    are fewer; none where there are none.
    """
    import random

    if split is not None and split not in SPLITS:
        raise DataError(f"unknown split {split!r} (known: {', '.join(SPLITS)})")
    table = line_table(source, hands_dir)[0] if isinstance(source, str) else source
    rows = [r for r in table if r.usable and (split is None or r.split == split)
            and (hand is None or r.hand == hand)]
    if not rows or n <= 0:
        return []
    name = rows[0].source
    random.Random(f"{name}/{split}/{hand}").shuffle(rows)
    n = min(n, len(rows))
    start = (int(seed) * n) % len(rows)
    return [rows[(start + k) % len(rows)] for k in range(n)]


@lru_cache(maxsize=2)
def _stroke_records(root: str) -> dict[str, LineRecord]:
    from htr.data.unipen import read_unipen

    return {r.id: r for r in read_unipen(Path(root) / "unipen")}


def line_image(line: HandLine, seed: int = 0, hands_dir: str | Path | None = None):
    """The line as a uint8 gray image: the line set's image, or the pen strokes rendered with
    a generator seeded by ``seed`` (pen width, paper and slant drawn anew for each seed).

    Raises :class:`DataError`; ImportError where the pen-stroke reader or renderer
    (:mod:`htr.data.unipen`, :mod:`htr.data.strokes`) is not installed.
    """
    import numpy as np

    if line.image:
        return read_line_image(line.image, line.id)
    root = Path(hands_dir) if hands_dir else default_hands_dir()
    if root is None:
        raise DataError("no hands folder: set HANDS_DIR or put ../shared/hands beside the project")
    record = _stroke_records(str(root)).get(line.id)
    if record is None or not record.strokes:
        raise DataError(f"line {line.id}: no pen strokes under {root / 'unipen'}")
    return record.draw(np.random.default_rng(int(seed)))
