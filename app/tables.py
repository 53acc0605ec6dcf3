"""Tables that fit the page: narrow columns of numbers, the long texts in a table of their own."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from app import resources
from htr.metrics import cer


def stress_cer_table(results: Mapping, truth: str, levels: Sequence[float], labels: Sequence[str],
                     readers: Sequence[str]) -> list[dict]:
    """One row per strength, one CER column (%, a number) per reader; None where it failed."""
    table = []
    for lv, lab in zip(levels, labels):
        row = {"Strength": lab}
        for r in readers:
            text = results.get((r, lv))
            row[f"{resources.reader_title(r)} CER %"] = None if text is None else round(100 * cer(truth, text), 1)
        table.append(row)
    return table


def stress_readings_table(results: Mapping, levels: Sequence[float], labels: Sequence[str],
                          readers: Sequence[str]) -> list[dict]:
    """One row per (strength, reader): what the reader read ("(failed)" where it did not)."""
    return [{"Strength": lab, "Reader": resources.reader_title(r),
             "Read": "(failed)" if results.get((r, lv)) is None else results[(r, lv)]}
            for lv, lab in zip(levels, labels) for r in readers]
