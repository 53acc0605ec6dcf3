"""The app's layout and help, page by page in AppTest (issue 15's layout half): presentation
mode kept by the address and results first, the glossary and its tooltips, slow steps that say so.
The same views measured in a real browser: tests/test_browser_layout.py."""

from __future__ import annotations

import time

import pytest
from streamlit.testing.v1 import AppTest

from app import glossary
from tests.test_app import APP, PAGES, TIMEOUT, easter2, open_page, rerun, weights  # noqa: F401 - fixtures

pytestmark = pytest.mark.slow



def _walk(node):
    """``node`` and every element under it (AppTest's tree)."""
    yield node
    for child in getattr(node, "children", {}).values():
        yield from _walk(child)




def test_presentation_mode_is_kept_across_a_reload_by_the_address(easter2):
    """A new session (a reload, or the link opened on the classroom computer) with ?present=1."""
    at = AppTest.from_file(APP, default_timeout=3 * TIMEOUT)  # Home loads the model: slow on a busy machine
    at.query_params["present"] = "1"
    rerun(at)
    assert at.sidebar.toggle[0].value is True
    assert any("font-size: 22px" in h.proto.body for h in at.get("html"))
    at.switch_page(PAGES["glossary"]).run()  # and on the next page
    assert not at.exception
    assert at.sidebar.toggle[0].value is True
    assert at.query_params.get("present") in ("1", ["1"])
    plain = AppTest.from_file(APP, default_timeout=3 * TIMEOUT)
    rerun(plain)
    assert plain.sidebar.toggle[0].value is False


def test_compare_in_presentation_mode_puts_results_first_one_row_per_reader(easter2):
    normal = open_page("compare")
    at = open_page("compare", presentation=True)
    top = list(at.main.children.values())  # the page's top-level elements and blocks, in order
    kinds = [type(e).__name__ for e in top]

    def first(of):
        return next(i for i, e in enumerate(top) if of(e))

    # the readers' CERs come before the choice of image
    assert [m for m in at.metric if m.label == "CER"] and [m for m in normal.metric if m.label == "CER"], kinds
    assert at.radio(key="cmp_source").options == normal.radio(key="cmp_source").options  # every source
    source = first(lambda e: any(getattr(w, "key", None) == "cmp_source" for w in _walk(e)))
    scores = first(lambda e: any(getattr(w, "label", None) == "CER" and type(w).__name__ == "Metric"
                                 for w in _walk(e)))
    assert scores < source, kinds


#: About as many characters of a metric label as a quarter of a 1280 px projector holds in presentation
#: mode's type beside a help icon (measured in tests/test_browser_layout.py: "Character err…" was cut).
PROJECTOR_LABEL_CHARS = 14


def test_metric_labels_fit_their_column_in_presentation_mode(easter2, monkeypatch):
    """Recognize's four metrics and Compare's score column: short labels, the full name in the help, and
    labels that wrap rather than end in "…" (normal mode keeps the long names)."""
    from app import resources, scores
    from htr.types import Recognition

    def reading(name, digest, layout, gray, decoder="greedy", **kw):
        return Recognition("the dog .", 0.01, name, (0.95,) * 9), None

    monkeypatch.setattr(resources, "try_recognize", reading)
    normal = open_page("recognize")
    assert [m.label for m in normal.metric][2:] == ["Character error rate", scores.FAIR_LABEL]
    at = open_page("recognize", presentation=True)
    labels = [m.label for m in at.metric]
    assert labels == ["Time", "Characters", "CER", scores.FAIR_SHORT], labels
    fair = next(m for m in at.metric if m.label == scores.FAIR_SHORT)
    assert scores.FAIR_LABEL in fair.help and scores.FAIR_HELP in fair.help  # the whole name, on hover
    at.switch_page(PAGES["compare"]).run()
    assert not at.exception
    labels = [m.label for m in at.metric]
    assert "CER" in labels and scores.FAIR_SHORT in labels and scores.FAIR_LABEL not in labels, labels
    for label in labels:
        assert len(label) <= PROJECTOR_LABEL_CHARS, label
    # any label still too long wraps onto a second row instead of being cut
    css = "\n".join(h.proto.body for h in at.get("html"))
    assert '[data-testid="stMetricLabel"]' in css and "white-space: normal" in css


# ---------------------------------------------------------------- glossary


def test_glossary_page_explains_every_term_and_finds_one(easter2):
    at = open_page("glossary")
    shown = "\n".join(m.value for m in at.markdown)
    for term, text in glossary.TERMS.items():
        assert f"**{term}** — {text}" in shown, term
    at.text_input(key="gl_query").input("blank")
    rerun(at)
    found = [m.value for m in at.markdown]
    assert any(v.startswith("**blank**") for v in found) and len(found) < len(glossary.TERMS)
    assert any(p.label == "**Glossary**" for p in open_page("home").get("page_link"))


def test_terms_are_explained_in_tooltips_where_they_appear(easter2):
    rec = open_page("recognize")
    (decoding,) = [r for r in rec.radio if r.key == "rec_decoder"]
    for term in ("greedy", "beam search", "5-gram"):
        assert glossary.TERMS[term] in decoding.help, term
    inside = open_page("inside")
    helps = "\n".join(h.proto.help for h in inside.header)
    for term in ("time step", "blank", "Squeeze-and-Excitation", "gate", "channel"):
        assert glossary.TERMS[term] in helps, term
    (truth_box,) = [t for t in inside.text_input if t.label.startswith("True text")]
    assert glossary.TERMS["forced alignment"] in truth_box.help
    # saliency's hot spots on blank paper at the edges are explained
    assert any("at the very top, bottom or ends" in c.value for c in inside.caption)
    home = open_page("home")
    details = " ".join(home.table[0].value["Details"])
    notes = "\n".join(c.value for c in home.caption)
    for term in glossary.terms_in(details):  # int8, XNNPACK, bfloat16 where the status names them
        assert glossary.TERMS[term] in notes, term


# ---------------------------------------------------------------- slow steps say so


def _long_reading():
    import numpy as np
    import streamlit as st

    from app import slow

    gray = np.full((2000, 3000), 255, np.uint8)  # 6 megapixels: a page
    if slow.confirm_long("easyocr", "page", gray, "d1", "t"):
        result, error = slow.read_with_progress("easyocr", "d1", "page", gray, "t")
        st.write("stopped" if result is None and error is None else f"read: {result}")


def test_a_long_reading_warns_first_then_runs_and_can_be_stopped(monkeypatch):
    from app import resources, slow

    calls = []

    def fake_read(name, digest, layout, gray, decoder="greedy", cancel=None, progress=None):
        calls.append(name)
        time.sleep(1.2)  # long enough for the progress bar to tick
        return "the page", None

    monkeypatch.setattr(resources, "try_recognize", fake_read)
    monkeypatch.setattr(slow, "is_loaded", lambda name: True)
    assert slow.is_long("easyocr", "page", __import__("numpy").zeros((2000, 3000)))
    assert not slow.is_long("easyocr", "line", __import__("numpy").zeros((2000, 3000)))
    at = AppTest.from_function(_long_reading, default_timeout=60).run()
    assert not at.exception
    (warning,) = at.warning
    assert "about 18 s" in warning.value and "stop" in warning.value  # an estimate, and the way out
    assert calls == [] and not at.markdown  # nothing read until asked
    at.button(key="t_start").click().run()
    assert calls == ["easyocr"] and any("read: the page" in m.value for m in at.markdown)
    # stopped (the Stop button's callback): the page says so and does not start again by itself
    at.session_state["t_stopped"] = "d1"
    at.run()
    assert calls == ["easyocr"] and any("Stopped" in i.value for i in at.info)
    assert any(m.value == "stopped" for m in at.markdown)
    at.button(key="t_again").click().run()
    assert calls == ["easyocr", "easyocr"]


def test_a_cold_reader_says_what_it_loads_and_about_how_long(monkeypatch):
    from app import slow

    monkeypatch.setattr(slow, "is_loaded", lambda name: False)
    assert "loading TensorFlow and the Easter2 model" in slow.reading_message("easter2")
    assert "about 6 s" in slow.reading_message("easter2")
    assert "about 3 s" in slow.reading_message("easyocr")  # benchmarks/latency.md: 3.42 s loading EasyOCR
    monkeypatch.setattr(slow, "is_loaded", lambda name: True)
    assert slow.reading_message("easyocr") == "EasyOCR is reading…"
