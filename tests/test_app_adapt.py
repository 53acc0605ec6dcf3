"""The "Your handwriting" page in AppTest: a page of prompts uploaded, a short adaptation, the readings after.

The drawing canvas is a component AppTest cannot draw on (it sends nothing), so
the end-to-end path here uploads a page written from the prompts (synthetic
handwriting); ``tests/test_browser.py`` draws on the canvases.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import streamlit as st
from PIL import Image
from streamlit.testing.v1 import AppTest

from htr.adapt import PROMPTS
from tests.test_adapt import writer_lines
from tests.test_app import APP, TIMEOUT

pytestmark = pytest.mark.slow
PAGE = "app_pages/adapt.py"


@pytest.fixture(scope="module")
def easter2(random_weights):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HTR_WEIGHTS", str(random_weights))
        mp.delenv("IAM_DIR", raising=False)
        st.cache_resource.clear()
        st.cache_data.clear()
        yield
    st.cache_resource.clear()
    st.cache_data.clear()


def page_png(n: int, gap: int = 40) -> bytes:
    """The first ``n`` prompts written one per line on a white page (one synthetic writer), as PNG."""
    lines = [g for g, _ in writer_lines(list(PROMPTS[:n]))]
    w = max(g.shape[1] for g in lines) + 80
    rows = [np.full((gap, w), 255, np.uint8)]
    for g in lines:
        r = np.full((g.shape[0], w), 255, np.uint8)
        r[:, 40:40 + g.shape[1]] = g
        rows += [r, np.full((gap, w), 255, np.uint8)]
    buf = io.BytesIO()
    Image.fromarray(np.vstack(rows)).save(buf, format="PNG")
    return buf.getvalue()


def open_page(**state) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for key, value in state.items():
        at.session_state[key] = value
    at.switch_page(PAGE).run()  # straight to the page: Home would load and convert the model first
    assert not at.exception, [e.value for e in at.exception]
    return at


def run(at: AppTest, timeout: float | None = None) -> AppTest:
    at.run(timeout=timeout)
    assert not at.exception, [e.value for e in at.exception]
    return at


def upload(at: AppTest, n_lines: int, n_written: int) -> AppTest:
    at.slider(key="yh_lines").set_value(n_lines)
    at.slider(key="yh_seconds").set_value(5)
    at.radio(key="yh_source").set_value("Upload a photo of a page")
    run(at)
    at.file_uploader(key="yh_upload").upload("my page.png", page_png(n_written), "image/png")
    return run(at)


@pytest.mark.parametrize("shape, says", [((4, 6), "too small to hold writing"), ((1200, 900), "No ink found")])
def test_an_odd_uploaded_page_gets_the_sentence_not_a_line_count(easter2, shape, says):
    """A blank page or a 6x4 image: said as on Recognize, not "0 line(s) of writing found"."""
    gray = np.clip(np.random.default_rng(1).normal(246, 3, shape), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(gray).save(buf, format="PNG")
    at = open_page()
    at.radio(key="yh_source").set_value("Upload a photo of a page")
    run(at)
    at.file_uploader(key="yh_upload").upload("odd.png", buf.getvalue(), "image/png")
    run(at)
    assert any(says in w.value for w in at.warning), [w.value for w in at.warning]
    assert not at.error and not at.expander  # no line count, no lines matched to the sentences


def test_upload_a_page_adapt_and_see_before_and_after(easter2):
    at = upload(open_page(), 4, 4)
    assert not at.error
    assert at.title[0].value == "Your handwriting"
    at.button(key="yh_go").click()
    run(at, timeout=900)  # loads the model and compiles the training step (slow on a busy 2-core CPU)
    assert not at.error, [e.value for e in at.error]
    labels = [m.label for m in at.metric]
    assert labels == ["Error before (held-back lines)", "Error after", "Training"]
    html = " ".join(h.proto.body for h in at.html)
    assert PROMPTS[3] in html  # the held-back sentence, shown as text beside its readings
    assert at.get("download_button")
    result = at.session_state["yh_result"]
    summary = result["summary"]
    assert summary["held_texts"] == [PROMPTS[3]] and summary["steps"] >= 1
    assert summary["stopped"] in ("time", "early")  # the 5 s budget (the first, compiling step always runs)
    assert summary["cer_after"] <= summary["cer_before"]
    # the adapted model stays with the session: a rerun shows it again without training
    run(at)
    assert [m.label for m in at.metric] == labels


def test_a_page_with_fewer_lines_than_sentences_says_so(easter2):
    at = upload(open_page(), 4, 2)
    assert len(at.error) == 1
    assert "2 line(s) of writing found" in at.error[0].value and "fewer than the 4 sentences" in at.error[0].value
    at.button(key="yh_go").click()
    run(at)
    assert any("Nothing to learn from" in e.value for e in at.error)
    assert "yh_result" not in at.session_state


def test_sentences_left_unwritten_are_named(easter2):
    at = open_page()
    at.slider(key="yh_lines").set_value(4)
    run(at)
    at.button(key="yh_go").click()
    run(at)
    (error,) = at.error
    assert "Sentence 1, 2, 3, 4 have no writing yet" in error.value
    assert "yh_result" not in at.session_state


def test_presentation_mode_keeps_only_what_matters(easter2):
    at = open_page(presentation=True)
    assert not at.slider  # 8 sentences, a minute: no knobs
    assert at.button(key="yh_go")
    assert sum(m.value.endswith("— *held back*") for m in at.markdown) == 2  # the last two of eight


def test_prompts_cover_the_alphabet_and_the_model_can_write_them():
    import string

    from htr.alphabet import CHARS

    for prompt in PROMPTS:
        assert set(string.ascii_lowercase) <= set(prompt.lower())
        assert set(prompt) <= set(CHARS)


def _result(best_step: int) -> dict:
    """A finished adaptation as the page keeps it (no model needed until a canvas is drawn on)."""
    curve = [{"step": 0, "seconds": 1.0, "loss": None, "cer": 0.2},
             {"step": 3, "seconds": 4.0, "loss": 9.5, "cer": 0.2 if best_step == 0 else 0.1}]
    return {"model": None, "summary": {
        "cer_before": 0.2, "cer_after": 0.2 if best_step == 0 else 0.1, "seconds": 5.0, "steps": 3,
        "best_step": best_step, "held_texts": ["abc"], "before": ["abd"], "after": ["abd" if best_step == 0 else "abc"],
        "curve": curve}}


@pytest.mark.parametrize("best_step", [0, 3])
def test_says_when_no_step_beat_the_model_it_started_from(easter2, best_step):
    at = open_page(yh_result=_result(best_step))
    said = [i.value for i in at.info if "keeps the weights it started with" in i.value]
    assert len(said) == (1 if best_step == 0 else 0)
    if said:
        assert "None of the 3 training steps" in said[0]
