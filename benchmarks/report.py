"""How a benchmark writes its results: OUT.csv (one row a measurement) and OUT.md (the table people read)."""

from __future__ import annotations

import csv
from pathlib import Path


def write_csv(out: str | Path, rows: list[dict], digits: int | None = None) -> Path:
    """``rows`` to ``OUT.csv``, columns in the first row's order; floats rounded to ``digits`` if given."""
    path = Path(out).with_suffix(".csv")
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        for r in rows:
            w.writerow(r if digits is None else {k: round(v, digits) if isinstance(v, float) else v
                                                 for k, v in r.items()})
    return path


def write_md(out: str | Path, lines: list[str]) -> Path:
    """``lines`` to ``OUT.md``, ending in one newline."""
    path = Path(out).with_suffix(".md")
    path.write_text("\n".join(lines).rstrip("\n") + "\n")
    return path
