"""Readability fixes of the classroom review (issue 15), below the app: the glossary's text,
tables that fit, training-curve stage labels that do not overlap, histograms that hide no bar."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from app import glossary

ROOT = Path(__file__).resolve().parent.parent


def test_every_reviewed_term_has_a_short_plain_explanation():
    for term in glossary.REVIEWED:
        text = glossary.explain(term)
        sentences = [s for s in text.replace("e.g.", "eg").split(". ") if s.strip()]
        assert 1 <= len(sentences) <= 3 and len(text) < 330, (term, text)
    assert glossary.explain("wer") == glossary.TERMS["WER"]  # any case
    with pytest.raises(KeyError):
        glossary.explain("flux capacitor")


def test_glossary_finds_the_terms_a_text_uses_as_whole_words():
    details = "reads in int8 through TensorFlow Lite (XNNPACK); bfloat16 where the CPU has it"
    assert glossary.terms_in(details) == ["int8", "XNNPACK", "bfloat16"]
    assert glossary.terms_in("a blanket, a gateway") == []  # not inside other words
    assert "**int8**: " + glossary.TERMS["int8"] in glossary.notes_for(details)
    assert glossary.notes_for("nothing technical") == ""


def _help_terms(path: Path) -> set[str]:
    """The terms a page passes to glossary.help(...)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "help"
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "glossary"):
            found |= {a.value for a in node.args if isinstance(a, ast.Constant)}
    return found


def test_every_reviewed_term_has_a_tooltip_on_a_page_that_uses_it():
    """Each term is explained where it appears: a glossary.help tooltip on a page whose text uses it
    (int8, XNNPACK and bfloat16 appear in Home's readers table: explained in the note under it)."""
    pages = {p.name: (p.read_text(), _help_terms(p)) for p in (ROOT / "app_pages").glob("*.py")}
    home_notes = "glossary.notes_for(" in pages["home.py"][0]
    for term in glossary.REVIEWED:
        if term in ("int8", "XNNPACK", "bfloat16"):
            assert home_notes
            continue
        where = [name for name, (_, terms) in pages.items() if term in terms]
        assert where, f"no page explains {term!r} in a tooltip"
        for name in where:
            assert term.lower() in pages[name][0].lower(), (term, name)


def test_stress_tables_keep_the_numbers_narrow_and_the_readings_apart():
    from app import tables
    from htr.metrics import cer

    results = {("easter2", 0.0): "a cat", ("tesseract", 0.0): "a bat",
               ("easter2", 1.0): None, ("tesseract", 1.0): "a long reading " * 5}
    cer_rows = tables.stress_cer_table(results, "a cat", [0.0, 1.0], ["original", "1 px"],
                                       ["easter2", "tesseract"])
    assert cer_rows == [{"Strength": "original", "Easter2 (ours) CER %": 0.0, "Tesseract CER %": 20.0},
                        {"Strength": "1 px", "Easter2 (ours) CER %": None,
                         "Tesseract CER %": round(100 * cer("a cat", "a long reading " * 5), 1)}]
    reads = tables.stress_readings_table(results, [0.0, 1.0], ["original", "1 px"], ["easter2", "tesseract"])
    assert [r["Read"] for r in reads] == ["a cat", "a bat", "(failed)", "a long reading " * 5]


def test_stage_labels_of_the_training_curves_never_overlap():
    from htr import viz

    # many short stages side by side (as the shipped log has), then a long one
    stages = ["stage 1"] * 3 + ["stage 2"] * 2 + ["stage 3"] * 2 + ["stage 4"] * 40 + ["stage 5"]
    starts, levels = viz._stage_label_levels(stages)
    assert [s for _, s in starts] == ["stage 1", "stage 2", "stage 3", "stage 4", "stage 5"]
    per_epoch = 1000 / len(stages)
    boxes = [(i + 0.6, i + 0.6 + (len(s) * 7 + 6) / per_epoch, lv) for (i, s), lv in zip(starts, levels)]
    for a in range(len(boxes)):
        for b in range(a + 1, len(boxes)):
            (x0, x1, la), (y0, y1, lb) = boxes[a], boxes[b]
            assert la != lb or x1 <= y0 or y1 <= x0, (starts[a], starts[b], levels)
    assert levels[0] == 0 and max(levels) >= 1 and levels[-1] == 0  # stacked only where needed
    rows = [{"epoch": i + 1, "loss": 1.0, "val_cer_real": 0.1, "stage": s} for i, s in enumerate(stages)]
    fig = viz.plot_training_log(rows)
    ys = sorted({round(a.y, 3) for a in fig.layout.annotations})
    assert len(ys) == max(levels) + 1


def test_cer_histogram_puts_readers_side_by_side_with_the_legend_above():
    from htr import viz

    fig = viz.plot_cer_histogram({"easter2": [0.0, 0.1], "tesseract": [0.0, 0.3]})
    assert fig.layout.barmode == "group"  # an overlay hid one reader's bars behind another's
    assert fig.layout.legend.orientation == "h" and fig.layout.legend.y > 1


def test_ctc_heatmap_labels_every_character_row():
    import numpy as np

    from htr import viz

    probs = np.full((40, 80), 0.5 / 79, np.float32)
    probs[:, 79] = 0.5
    probs[np.arange(40), np.arange(40) % 30] += 0.4  # 30 characters reach 2 %
    fig = viz.plot_ctc(np.full((60, 160), 255, np.uint8), probs, np.arange(40) * 4.0, row_px=30)
    axis = fig.layout.yaxis2
    assert list(axis.tickvals) == list(axis.categoryarray) and len(axis.tickvals) == 31
    assert fig.layout.height >= 30 * 31
