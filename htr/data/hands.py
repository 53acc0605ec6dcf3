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
from pathlib import Path

from htr.data.lines import DataError, LineRecord, read_line_set

N_VALIDATION = 15
N_REPORT = 15
SPLITS = ("train", "validation", "report")
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
