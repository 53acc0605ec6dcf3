"""The Streamlit app, page by page, through streamlit.testing's AppTest.

Every page is opened from the entry script (as a browser would), with IAM
(``$IAM_DIR`` as given, else ``../shared/iam`` from the project root; skipped
where neither holds IAM) and
without, with Easter2 available (randomly initialised weights: the text is
nonsense but every view is exercised) and without weights, and with bad
uploads. AppTest runs the scripts in this process, so the app's
``st.cache_resource`` engines are shared by the tests, as by real sessions.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
import streamlit as st
from PIL import Image
from streamlit.testing.v1 import AppTest

from app.widgets import md_literal
from tests.markdown_text import shown

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "streamlit_app.py")
SHARED_IAM = ROOT.parent / "shared" / "iam"
# The IAM copy: $IAM_DIR as the suite was started with (resolved as the app does, from the
# project root), else the shared subset beside the project; its tests skip where neither is.
IAM_SETTING = os.environ.get("IAM_DIR", "").strip() or "../shared/iam"
IAM_ROOT = (ROOT / Path(IAM_SETTING).expanduser()).resolve()
EXAMPLES = ROOT / "examples"
TIMEOUT = 180

PAGES = {
    "home": "app_pages/home.py",
    "recognize": "app_pages/recognize.py",
    "compare": "app_pages/compare.py",
    "stress": "app_pages/stress.py",
    "iam": "app_pages/iam_browser.py",
    "inside": "app_pages/inside.py",
    "evaluate": "app_pages/evaluate.py",
    "adapt": "app_pages/adapt.py",
    "training": "app_pages/training.py",
    "glossary": "app_pages/glossary.py",
}

pytestmark = pytest.mark.slow  # every test runs the app (and Easter2) in AppTest

needs_iam = pytest.mark.skipif(
    not (IAM_ROOT / "ascii" / "lines.txt").is_file(),
    reason=f"IAM data not found at {IAM_ROOT} (set IAM_DIR or place the shared subset at ../shared/iam; "
    "tests read it in place, it is never shipped)",
)


def _clear_caches():
    st.cache_resource.clear()
    st.cache_data.clear()


@pytest.fixture(scope="module")
def weights(random_weights):
    """Easter2 weights with the right architecture but random values."""
    return random_weights


@pytest.fixture(scope="module")
def easter2(weights):
    """Easter2 available (random weights) for the whole module; IAM off by default."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HTR_WEIGHTS", str(weights))
        mp.delenv("IAM_DIR", raising=False)
        _clear_caches()
        yield
    _clear_caches()


@pytest.fixture
def with_iam(monkeypatch, easter2):
    if not (IAM_ROOT / "ascii" / "lines.txt").is_file():
        pytest.skip(f"IAM data not found at {IAM_ROOT} (set IAM_DIR or place the shared subset at ../shared/iam)")
    monkeypatch.setenv("IAM_DIR", IAM_SETTING)  # as given (by default relative to the project root, as documented)


def open_page(name: str, **state) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    at.switch_page(PAGES[name]).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def rerun(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(at: AppTest) -> str:
    """Everything written on the page, as one string to search in."""
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption]
    parts += [h.proto.body for h in at.html]
    parts += [str(x.value) for x in (*at.info, *at.warning, *at.error, *at.success)]
    return "\n".join(parts)


def reading_html(at: AppTest) -> list[str]:
    return [h.proto.body for h in at.html if 'class="htr-text"' in h.proto.body]


def plotly_keys(at: AppTest) -> list[str]:
    return [e.key for e in at.get("plotly_chart")]


def example_bytes(name: str = "line-01.png", fmt: str = "PNG") -> bytes:
    img = Image.open(EXAMPLES / name)
    buf = io.BytesIO()
    img.convert("RGB" if fmt == "JPEG" else img.mode).save(buf, format=fmt)
    return buf.getvalue()


# ---------------------------------------------------------------- navigation


def test_entry_script_declares_every_page_and_the_presentation_switch(easter2):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert not at.exception
    assert at.title[0].value.startswith("Reading handwriting")  # Home is the default page
    assert [t.label for t in at.sidebar.toggle] == ["Presentation mode"]
    for path in PAGES.values():
        assert (ROOT / path).is_file()


# ---------------------------------------------------------------- home


def test_home_lists_every_engine_with_a_reason_and_the_device(easter2):
    at = open_page("home")
    (table,) = at.table  # a static table: each reader's details shown whole, not cut at a column width
    df = table.value
    assert list(df.index) == ["Easter2 (ours)", "EasyOCR", "Tesseract"]
    assert df["Details"].map(len).min() > 0  # a reason or version for each
    assert df.loc["Easter2 (ours)", "Available"] == "yes"
    page = texts(at)
    assert "CPU" in page or "GPU" in page
    assert "IAM_DIR is not set" in page
    assert "Model loaded" in page
    links = [l.label for l in at.get("page_link")]
    assert len(links) == len(PAGES) - 1 and links[0] == "**Recognize**"


def test_home_without_weights_says_why(monkeypatch, tmp_path, easter2):
    monkeypatch.setenv("HTR_WEIGHTS", str(tmp_path / "missing.weights.h5"))
    _clear_caches()
    try:
        at = open_page("home")
        assert any("Easter2 cannot run here" in w.value and "missing.weights.h5" in w.value
                   for w in at.warning)
        for name in ("recognize", "inside", "compare", "evaluate"):
            at.switch_page(PAGES[name]).run()
            assert not at.exception
            if name != "evaluate":  # evaluate simply offers the readers that run
                shown = [str(x.value) for x in (*at.warning, *at.info)]
                assert any("missing.weights.h5" in m for m in shown), f"{name}: {shown}"
    finally:
        monkeypatch.undo()
        _clear_caches()


# ---------------------------------------------------------------- recognize


def test_recognize_reads_an_example_line_with_confidence_and_download(easter2):
    at = open_page("recognize")
    assert at.radio(key="rec_source").value == "Example"
    assert at.radio(key="rec_layout").value == "one line"
    (reading,) = reading_html(at)
    assert reading.count("<span") > 0  # one coloured span per character
    labels = [m.label for m in at.metric]
    assert {"Time", "Characters", "Character error rate"} <= set(labels)
    assert at.get("download_button"), "no download of the text"
    assert "rec_conf" in plotly_keys(at)
    # greedy vs beam: switching the decoder reruns with beam search, and the comparison shows both
    at.radio(key="rec_decoder").set_value("beam")
    rerun(at)
    at.toggle(key="rec_compare_decoders").set_value(True)
    rerun(at)
    assert "Beam search" in texts(at) and len(reading_html(at)) == 3
    # without an IAM copy there is no language model to offer, and the page says how to get one
    assert at.radio(key="rec_decoder").options == ["greedy (fast)", "beam search"]
    assert "Set IAM_DIR" in texts(at)


def test_recognize_with_the_language_model_where_iam_is_there(with_iam):
    at = open_page("recognize")
    assert at.radio(key="rec_decoder").options == ["greedy (fast)", "beam search", "beam + language model"]
    at.radio(key="rec_decoder").set_value("lm")
    rerun(at)
    assert not at.error and len(reading_html(at)) == 1
    at.toggle(key="rec_compare_decoders").set_value(True)
    rerun(at)
    assert "Beam + language model" in texts(at) and len(reading_html(at)) == 4


def test_home_status_says_how_easter2_reads_once_it_has_read(easter2):
    at = open_page("recognize")  # reads the first example: the model loads
    at.switch_page(PAGES["home"]).run()
    assert not at.exception
    assert "reads in int8" in texts(at) or "int8 unavailable" in texts(at)


def test_recognize_a_page_draws_line_boxes_and_reads_each_line(easter2):
    at = open_page("recognize")
    names = at.selectbox(key="rec_example").options
    para = next(n for n in names if n.startswith("Paragraph 1"))
    at.selectbox(key="rec_example").set_value(para)
    rerun(at)
    assert at.radio(key="rec_layout").value.startswith("a page")
    assert "rec_page" in plotly_keys(at)
    found = [c.value for c in at.caption if "text lines found" in c.value]
    assert found and int(found[0].split()[0]) == 4  # the paragraph has four lines


def test_recognize_upload_of_a_good_image(easter2):
    at = open_page("recognize")
    at.radio(key="rec_source").set_value("Upload")
    rerun(at)
    at.file_uploader(key="rec_upload").upload("my line.jpg", example_bytes(fmt="JPEG"), "image/jpeg")
    rerun(at)
    assert not at.error
    assert reading_html(at)
    assert any(m.label == "Time" for m in at.metric)


@pytest.mark.parametrize("source", ["Draw", "Camera"])
def test_recognize_canvas_and_camera_wait_for_input(easter2, source):
    at = open_page("recognize")
    at.radio(key="rec_source").set_value(source)
    rerun(at)
    assert not at.error and not reading_html(at)  # nothing drawn or shot yet: nothing read
    if source == "Camera":
        assert at.camera_input(key="rec_camera")


@pytest.mark.parametrize(
    "name, data, reason",
    [
        ("empty.png", b"", "empty"),
        ("notes.png", b"just some text, not a picture\n" * 20, "not an image"),
        ("cut.png", example_bytes()[:300], ""),  # truncated: the reader says how
        ("huge.png", b"\x89PNG\r\n\x1a\n" + b"\0" * (21 * 1024 * 1024), "limit is 20 mb"),
    ],
)
def test_recognize_bad_upload_shows_the_reason_and_stays_usable(easter2, name, data, reason):
    at = open_page("recognize")
    at.radio(key="rec_source").set_value("Upload")
    rerun(at)
    at.file_uploader(key="rec_upload").upload(name, data, "image/png")
    rerun(at)
    assert len(at.error) == 1
    message = shown(at.error[0].value)  # the file name is escaped Markdown: compare what is shown
    assert message.startswith(name) and reason in message.lower()
    assert not reading_html(at)
    # still usable: a good file after the bad one is read
    at.file_uploader(key="rec_upload").clear().upload("good.png", example_bytes(), "image/png")
    rerun(at)
    assert not at.error and reading_html(at)


def test_an_engine_that_hangs_is_skipped_after_the_time_limit(easter2, monkeypatch):
    """One stuck engine must not take the page down: it is reported, the others answer."""
    import threading

    from app import resources
    from htr.engines.easter2 import Easter2Engine

    release = threading.Event()

    def stuck(self, image, layout="line"):
        release.wait(30)
        raise RuntimeError("released")

    monkeypatch.setenv("HTR_APP_TIMEOUT", "1")
    monkeypatch.setattr(Easter2Engine, "recognize", stuck)
    st.cache_data.clear()
    try:
        at = open_page("recognize")
        assert len(at.error) == 1 and "took longer than 1 s" in at.error[0].value
        assert at.radio(key="rec_source").value == "Example"  # still usable
    finally:
        release.set()
        monkeypatch.undo()
        st.cache_data.clear()
    assert resources.time_limit() == 60.0


# ---------------------------------------------------------------- compare


def test_compare_shows_every_engine_with_cer_against_the_examples_truth(easter2):
    at = open_page("compare")
    truth = at.text_area[0].value
    import json

    first = json.loads((EXAMPLES / "gallery" / "gallery.json").read_text(encoding="utf-8"))[0]
    assert truth == first["text"]  # the gallery opens on real handwriting, with its true text
    for title in ("Easter2 (ours)", "EasyOCR", "Tesseract"):
        assert any(s.value == title for s in at.subheader)
    cer_metrics = [m for m in at.metric if m.label == "CER"]
    assert cer_metrics and all(m.value.endswith("%") for m in cer_metrics)
    assert "cmp_bars" in plotly_keys(at)
    assert "should be:" in texts(at) or "missing" in texts(at)  # random weights make errors
    # typed ground truth replaces the example's
    at.text_area[0].set_value("")
    rerun(at)
    assert not [m for m in at.metric if m.label == "CER"]


@needs_iam
def test_compare_an_iam_line_uses_its_ground_truth(with_iam):
    at = open_page("compare")
    at.radio(key="cmp_source").set_value("IAM line")
    rerun(at)
    line_id = at.selectbox(key="cmp_iam_line").value
    assert line_id.startswith(("a01", "e04", "e06"))
    assert at.text_area[0].value  # the IAM transcription
    assert [m for m in at.metric if m.label == "CER"]


# ---------------------------------------------------------------- IAM browser


def test_iam_browser_without_iam_explains_and_falls_back_to_examples(easter2):
    at = open_page("iam")
    page = texts(at)
    assert "IAM_DIR is not set" in page
    assert "python -m htr iam fetch" in page and "register" in page.lower()
    assert at.selectbox(key="iam_example").options  # the shipped examples instead
    assert "CER" in page


@needs_iam
def test_iam_browser_with_iam_browses_splits_forms_and_lines(with_iam):
    at = open_page("iam")
    assert at.selectbox(key="iam_scheme").options == ["aachen", "original"]
    at.selectbox(key="iam_scheme").set_value("original")
    rerun(at)
    assert "validationset2" in at.selectbox(key="iam_split").options
    at.selectbox(key="iam_split").set_value("trainset")
    rerun(at)
    assert at.selectbox(key="iam_form").value in ("a01-000u", "e04-068")
    line_id = at.selectbox(key="iam_line").value
    page = texts(at)
    assert "True text:" in page and "CER" in page
    assert "<b>Easter2 (ours) + language model</b> — CER" in page  # the LM reading beside the engines
    assert "iam_form_fig" in plotly_keys(at)
    # the database at a glance: the chosen scheme counted, writer-independence checked
    table = at.dataframe[0].value
    assert list(table["split"]) == ["testset", "trainset", "validationset1", "validationset2", "(in no split)"]
    assert table.set_index("split").loc["trainset", "lines"] == 6161
    from htr.data.iam import IAM

    iam = IAM(IAM_ROOT)
    assert table.set_index("split").loc["validationset2", "lines with images here"] == \
        len(set(iam.splits("original")["validationset2"]) & set(iam.available_lines()))  # e06-*: 41 of 42
    assert "No writer has lines in two splits" in page and not at.warning
    assert "iam_char_freq" in plotly_keys(at)
    # search by text jumps to the line that contains it
    at.sidebar.text_input(key="iam_query").set_value("Labour")
    rerun(at)
    hits = [b for b in at.sidebar.button if b.key and b.key.startswith("iam_hit_")]
    assert hits
    hits[0].click()
    rerun(at)
    assert "labour" in at.selectbox(key="iam_line").format_func(at.selectbox(key="iam_line").value).lower() \
        or at.selectbox(key="iam_line").value == hits[0].key.removeprefix("iam_hit_")
    # the random button always lands on a line with an image
    at.sidebar.button(key="iam_random").click()
    rerun(at)
    assert at.selectbox(key="iam_line").value
    assert line_id  # the first selection was valid too


# ---------------------------------------------------------------- inside


def test_inside_the_model_shows_all_four_views(easter2):
    at = open_page("inside")
    keys = plotly_keys(at)
    assert {"in_ctc", "in_gates", "in_acts", "in_saliency"} <= set(keys), keys
    assert len(at.multiselect(key="in_channels_1").value) == 3
    page = texts(at)
    assert "blank" in page.lower() and "repeats collapse" in page.lower()
    assert "Squeeze-and-Excitation" in page
    at.radio(key="in_unit").set_value(3)
    rerun(at)
    assert "in_acts" in plotly_keys(at)
    assert not [e for e in at.expander if e.label == "What a language model changes"]  # no IAM, no LM


def test_inside_the_model_says_when_it_straightened_a_leaning_line(easter2):
    from htr.images import load_image
    from htr.perturb import perturb

    at = open_page("inside")
    assert "turned it level" not in texts(at)  # the example lines are level
    tilted = perturb(load_image(EXAMPLES / "line-01.png"), "rotate", 6)
    buf = io.BytesIO()
    Image.fromarray(tilted).save(buf, format="PNG")
    at.radio(key="in_source").set_value("Upload")
    rerun(at)
    at.file_uploader(key="in_upload").upload("askew.png", buf.getvalue(), "image/png")
    rerun(at)
    assert any(c.value.startswith("The writing ") for c in at.caption)  # its slant, in words
    (note,) = [c.value for c in at.caption if "turned it level" in c.value]
    assert "leans +6." in note or "leans +5." in note  # the angle it found, about the 6° given
    assert "in_ctc" in plotly_keys(at)


def test_inside_the_model_shows_what_the_language_model_changes(with_iam):
    at = open_page("inside")
    (lm,) = [e for e in at.expander if e.label == "What a language model changes"]
    assert not lm.error
    assert "character 5-gram model" in " ".join(m.value for m in lm.markdown)
    # both CERs of both readings against the line's true text (the page's default line has one)
    assert any(c.value.startswith("Greedy: CER ") and "with the language model: CER " in c.value
               and "punctuation spacing ignored" in c.value for c in lm.caption)


# ---------------------------------------------------------------- evaluate


def test_evaluate_on_examples_without_iam(easter2):
    at = open_page("evaluate")
    assert "No IAM database here" in texts(at)
    assert "Easter2 (ours) + language model" not in at.multiselect(key="ev_engines").options  # no LM text
    at.slider(key="ev_n").set_value(3)
    at.multiselect(key="ev_engines").set_value(["easter2"])
    at.button(key="ev_run").click()
    rerun(at)
    summary = at.dataframe[0]
    row = summary.value.iloc[0]
    assert row["Reader"] == "Easter2 (ours)" and row["Lines"] == 3
    from htr.metrics import aggregate, unspace_punctuation

    read = [(r["truth"], r["read"]) for r in at.session_state["ev_results"]["rows"]]
    assert len(read) == 3  # the summary is these three readings' CER, as given and unspaced
    assert row["CER %"] == round(100 * aggregate(read).cer, 2)
    assert row["CER % (punctuation spacing ignored)"] == round(
        100 * aggregate((unspace_punctuation(t), unspace_punctuation(h)) for t, h in read).cer, 2)
    assert {"ev_bars", "ev_hist", "ev_scatter"} <= set(plotly_keys(at))
    assert any(b.label.startswith("Download") for b in at.get("download_button"))
    assert sum("CER" in c.value for c in at.caption) >= 1  # the worst lines, with images
    assert at.image
    assert_confusions_match_the_readings(at, "easter2")


def assert_confusions_match_the_readings(at, engine):
    """The page's character confusions are those of the readings it just made."""
    from htr.metrics import MISSING, char_confusions

    rows = [r for r in at.session_state["ev_results"]["rows"] if r["engine"] == engine]
    conf = char_confusions((r["truth"], r["read"]) for r in rows)
    if not conf.edits:
        assert any("read every character" in m.value for m in at.success)
        return
    assert "ev_confusions" in plotly_keys(at)
    table = at.dataframe[1].value
    want = [("(nothing)" if t == MISSING else repr(t), "(nothing)" if h == MISSING else repr(h), n)
            for t, h, n in conf.top(10)]
    assert list(zip(table["True"], table["Read as"], table["Times"])) == want


@needs_iam
def test_evaluate_on_an_iam_split(with_iam):
    at = open_page("evaluate")
    assert at.selectbox(key="ev_split").value in ("test", "testset", "validation")
    at.slider(key="ev_n").set_value(2)
    assert "Easter2 (ours) + language model" in at.multiselect(key="ev_engines").options  # where IAM is there
    at.multiselect(key="ev_engines").set_value(["easter2", "easter2+lm"])
    at.button(key="ev_run").click()
    rerun(at)
    summary = at.dataframe[0]
    assert list(summary.value["Reader"]) == ["Easter2 (ours)", "Easter2 (ours) + language model"]
    assert list(summary.value["Lines"]) == [2, 2]
    assert_confusions_match_the_readings(at, "easter2")
    at.selectbox(key="ev_conf_engine").set_value("easter2+lm")
    rerun(at)
    assert_confusions_match_the_readings(at, "easter2+lm")
    assert not any("A training split" in c.value for c in at.caption)
    at.selectbox(key="ev_split").set_value("train")
    rerun(at)
    assert any("A training split" in c.value for c in at.caption)  # not a fair test, and the page says so


# ---------------------------------------------------------------- stress test


def test_stress_test_reads_the_line_at_every_strength(easter2):
    import json

    from htr.metrics import cer
    from htr.perturb import DISTORTIONS

    at = open_page("stress")
    assert at.radio(key="st_source").value == "Example"
    (truth_box,) = at.text_input
    truth = truth_box.value
    assert truth  # the example comes with its text
    at.selectbox(key="st_kind").set_value("blur")
    rerun(at)
    blur = DISTORTIONS["blur"]
    labels = [blur.label(v) for v in blur.levels]
    shown = at.select_slider(key="st_level_blur").value
    assert shown in labels and f"Blur: {shown}" in [c for im in at.image for c in im.captions]  # the preview
    at.multiselect(key="st_readers").set_value(["easter2"])
    at.button(key="st_run").click()
    rerun(at)
    table, readings = at.dataframe[0].value, at.dataframe[1].value
    assert list(table["Strength"]) == labels and labels[0] == "original"
    # narrow columns of numbers (a reading beside each CER pushed the last reader off the right)
    assert list(table.columns) == ["Strength", "Easter2 (ours) CER %"]
    assert list(readings["Strength"]) == labels and set(readings["Reader"]) == {"Easter2 (ours)"}
    cers = []
    for pct, text in zip(table["Easter2 (ours) CER %"], readings["Read"]):
        assert float(pct) == round(100 * cer(truth, text), 1)  # the CER shown is the reading's
        cers.append(cer(truth, text))
    (chart,) = [c for c in at.get("plotly_chart") if c.key == "st_curve"]
    (curve,) = json.loads(chart.proto.spec)["data"]
    assert curve["y"] == pytest.approx([100 * c for c in cers])
    # without a true text there is nothing to count: the page says what it needs
    at.text_input[0].set_value("")
    rerun(at)
    assert any("Type the true text" in i.value for i in at.info)
    assert "st_curve" not in plotly_keys(at)


def test_stress_test_says_why_it_cannot_distort_an_image(monkeypatch, easter2):
    from htr import perturb

    monkeypatch.setattr(perturb, "MAX_PIXELS", 100)  # every example line is now "too large"
    at = open_page("stress")
    (err,) = at.error
    assert "too large to distort" in err.value
    assert "st_run" not in [b.key for b in at.button]


def test_read_each_reports_an_image_it_cannot_make_and_reads_the_rest(easter2):
    def script():
        import numpy as np
        import streamlit as st

        from app import widgets

        def bad():
            raise ValueError("no such image")

        def good():
            return np.full((40, 200), 255, np.uint8)

        st.session_state["out"] = [(label, reader, error, None if result is None else result.text)
                                   for label, reader, result, error in
                                   widgets.read_each([("a", bad), ("b", good)], ["easter2"])]

    at = AppTest.from_function(script, default_timeout=TIMEOUT).run()
    assert not at.exception, [e.value for e in at.exception]
    (first, second) = at.session_state["out"]
    assert first == ("a", None, "no such image", None)  # once, not once per reader
    assert second[:3] == ("b", "easter2", None) and isinstance(second[3], str)


# ---------------------------------------------------------------- presentation mode


def test_presentation_mode_enlarges_type_and_reduces_controls(easter2):
    at = open_page("recognize", presentation=True)
    assert at.sidebar.toggle[0].value is True
    # every source, the two best live demos (drawing, a real IAM line) included
    sources = at.radio(key="rec_source").options
    assert "Draw" in sources
    assert at.query_params.get("present") in ("1", ["1"])  # kept in the address: a reload stays in the mode
    import json

    curated = {e["name"] for index in ("examples.json", "gallery/gallery.json")
               for e in json.loads((EXAMPLES / index).read_text()) if e.get("curated")}
    assert 0 < len(at.selectbox(key="rec_example").options) == len(curated)
    assert set(at.selectbox(key="rec_example").options) == curated
    assert not [r for r in at.radio if r.key == "rec_decoder"]
    assert any("font-size: 22px" in h.proto.body for h in at.get("html"))
    at.sidebar.toggle[0].set_value(False)
    rerun(at)
    assert at.radio(key="rec_source").options == sources  # the same sources in both modes
    assert "present" not in at.query_params


# ---------------------------------------------------------------- user text is shown as text

TYPED = "[x](http://e.com) ![i](http://e.com/i.png) <b>x</b>"


def assert_nothing_typed_renders(at: AppTest, where: str) -> None:
    """No Markdown or HTML on the page turns typed text into a link, an image or bold type."""
    from html.parser import HTMLParser

    from tests.markdown_text import html_sources, markdown_sources, rendered

    for md in markdown_sources(at):
        out = rendered(md)
        assert "<a" not in out and "<img" not in out and "<b>" not in out, (where, md, out)

    class Tags(HTMLParser):
        def __init__(self):
            super().__init__()
            self.tags = []

        def handle_starttag(self, tag, attrs):
            self.tags.append(tag)

    for body in html_sources(at):
        parser = Tags()
        parser.feed(body)
        assert "a" not in parser.tags and "img" not in parser.tags, (where, body)
        assert "<b>x</b>" not in body, (where, body)


def assert_shown_as_text(at: AppTest, where: str, typed: str = TYPED) -> None:
    """``typed`` is on the page, as text: escaped HTML, or Markdown that shows it character for character."""
    import html as html_lib

    from tests.markdown_text import html_sources, markdown_sources, shown

    assert_nothing_typed_renders(at, where)
    assert any(typed in shown(md) for md in markdown_sources(at)) \
        or any(html_lib.escape(typed) in body for body in html_sources(at)), \
        f"{where}: the typed text is not on the page"


def _typed_into(at: AppTest, label_start: str, widgets: str = "text_input", typed: str = TYPED) -> AppTest:
    (box,) = [w for w in getattr(at, widgets) if w.label.startswith(label_start)]
    box.input(typed)
    return rerun(at)


@pytest.mark.parametrize("typed", [TYPED, "a` " + TYPED + " `b"])  # a backtick ends a code span
def test_typed_true_text_is_shown_as_text_on_inside_the_model(easter2, typed):
    at = _typed_into(open_page("inside"), "True text", typed=typed)
    assert_shown_as_text(at, "inside", typed)
    assert any("<b>True:</b>" in h.proto.body for h in at.html)


def test_typed_true_text_is_shown_as_text_on_compare(easter2):
    at = _typed_into(open_page("compare"), "True text", "text_area")
    marked = "".join(reading_html(at))  # each reading, marked against the typed text
    assert "&lt;" in marked  # the typed '<' the readers missed, shown (escaped) as missing
    assert_nothing_typed_renders(at, "compare")


def test_typed_true_text_is_shown_as_text_on_the_stress_test(easter2):
    at = _typed_into(open_page("stress"), "True text")
    assert "Type the true text" not in texts(at)  # it took the text
    assert_nothing_typed_renders(at, "stress")


def test_typed_text_on_the_training_page_is_shown_as_text(easter2):
    # the training page draws only IAM's 79 characters ([, ], <, > are refused, and the message
    # quotes them), but a bare URL and emphasis can be typed: drawn, read, marked, all as text
    at = open_page("training")
    at.text_input(key="tr_text").input("Go to http://e.com *now* #1")
    rerun(at)
    assert not at.error and reading_html(at)
    assert_nothing_typed_renders(at, "training")
    at.text_input(key="tr_text").input(TYPED)
    rerun(at)
    assert any("outside the 79" in e.value for e in at.error)
    assert_nothing_typed_renders(at, "training, refused")


def test_a_file_name_is_shown_as_text_on_recognize(easter2):
    at = open_page("recognize")
    at.radio(key="rec_source").set_value("Upload")
    rerun(at)
    at.file_uploader(key="rec_upload").upload(TYPED + ".png", example_bytes(), "image/png")
    rerun(at)
    assert reading_html(at)
    assert_shown_as_text(at, "recognize, a good file")  # the image's caption
    at.file_uploader(key="rec_upload").clear().upload(TYPED + ".png", b"not a picture", "image/png")
    rerun(at)
    assert len(at.error) == 1
    assert_shown_as_text(at, "recognize, a refused file")  # the error names the file


# ---------------------------------------------------------------- an IAM-layout folder of our own


@pytest.fixture
def tiny_iam(tmp_path, monkeypatch, easter2):
    """An IAM-layout folder built from OUR example lines (no IAM data): one form, one test line."""
    import json
    import shutil

    rows = json.loads((EXAMPLES / "examples.json").read_text())
    line = next(r for r in rows if r["file"] == "line-02.png")
    root = tmp_path / "iam"
    (root / "ascii").mkdir(parents=True)
    (root / "lines" / "r99" / "r99-901").mkdir(parents=True)
    (root / "splits" / "aachen").mkdir(parents=True)
    shutil.copy(EXAMPLES / line["file"], root / "lines" / "r99" / "r99-901" / "r99-901-00.png")
    w, h = Image.open(EXAMPLES / line["file"]).size
    (root / "ascii" / "forms.txt").write_text("r99-901 999 1 1 1 1 1 1\n")
    (root / "ascii" / "lines.txt").write_text(
        f"r99-901-00 ok 180 5 0 0 {w} {h} {line['text'].replace(' ', '|')}\n")
    (root / "splits" / "aachen" / "test.lines.txt").write_text("r99-901-00\n")
    (root / "splits" / "aachen" / "train.lines.txt").write_text("r99-901-00\n")
    monkeypatch.setenv("IAM_DIR", str(root))
    return line["text"]


def test_iam_pages_on_a_one_line_iam_folder(tiny_iam):
    at = open_page("iam")
    (said,) = [i.value for i in at.info]  # what is missing and how to get it, no path of the server
    assert said.startswith("No scan of form r99-901 in this copy of IAM") and "python -m htr iam fetch" in said
    assert os.environ["IAM_DIR"] not in said
    assert [t.value for t in at.text] == [f"00: {tiny_iam}"]  # the form's true text, as plain text
    assert at.selectbox(key="iam_line").value == "r99-901-00"
    assert f"**True text:** {md_literal(tiny_iam)}" in texts(at)  # IAM text shown as text
    table = at.dataframe[0].value.set_index("split")  # its one line is listed in test and in train
    assert list(table["writers also in another split"]) == ["1", "1"]
    assert [w.value for w in at.warning] and "not writer-independent" in at.warning[0].value
    at.switch_page(PAGES["evaluate"]).run()
    assert not at.exception
    assert not [s for s in at.slider if s.key == "ev_n"]  # one line: no slider to draw
    at.multiselect(key="ev_engines").set_value(["easter2"])
    at.button(key="ev_run").click()
    rerun(at)
    assert at.dataframe[0].value.iloc[0]["Lines"] == 1


def test_iam_browser_on_a_folder_without_split_lists(tiny_iam):
    import shutil

    shutil.rmtree(Path(os.environ["IAM_DIR"]) / "splits")
    at = open_page("iam")
    assert at.selectbox(key="iam_scheme").options == ["(none)"]
    assert at.selectbox(key="iam_line").value == "r99-901-00"  # every line, as one set
    (said,) = [i.value for i in at.info if "no split lists" in i.value]
    assert os.environ["IAM_DIR"] not in said and not at.dataframe


def test_a_session_can_choose_other_weights(easter2, tmp_path):
    """The weights setting: a missing file makes Easter2 unavailable for that session
    only (with the reason); the default weights still read in another session."""
    missing = str(tmp_path / "mine.weights.h5")
    at = open_page("home", weights=missing)
    assert not at.exception
    assert any("mine.weights.h5" in w.value for w in at.warning), [w.value for w in at.warning]
    assert at.selectbox(key="weights").value == missing

    other = open_page("recognize")  # a fresh session keeps the default weights
    assert not other.exception
    assert not any("mine.weights.h5" in e.value for e in other.error)


# ---------------------------------------------------------------- how it learned


def test_training_page_draws_a_line_reads_it_and_scores_it(easter2):
    at = open_page("training")
    assert [t.label for t in at.tabs] == ["Make a training line", "Fonts beside a real hand", "Real hands",
                                         "A batch as training sees it", "Training curves", "Model card"]
    typed = at.text_input(key="tr_text").value
    metric, fair = at.tabs[0].metric  # the other tabs read lines of their own
    assert metric.label == "CER" and metric.value.endswith(" %") and fair.label == "CER, punctuation spacing ignored"
    (reading,) = [h.proto.body for h in at.tabs[0].get("html") if 'class="htr-text"' in h.proto.body]
    assert "htr-text" in reading
    # a font the shipped model never trained on is named so, and reading goes on with it
    seen = resources_seen()
    options = at.selectbox(key="tr_font").options[1:]  # after "any (drawn by the seed)"
    unseen = [f for f in options if f.split(" — ")[0] not in seen]
    assert unseen and all(f.endswith("never seen by the shipped model") for f in unseen)
    assert len(options) - len(unseen) == len(seen)  # every other font is one it trained on
    # "Another" draws a new line with the next seed: a different image, read again
    before = at.session_state["tr_seed"]
    at.button(key="tr_another").click()
    rerun(at)
    assert at.session_state["tr_seed"] == before + 1
    assert at.text_input(key="tr_text").value == typed and len(at.tabs[0].metric) == 2


def resources_seen() -> frozenset:
    from htr.weights import fonts_seen_by_shipped_weights

    return fonts_seen_by_shipped_weights()


def test_training_page_says_what_it_cannot_draw(easter2):
    at = open_page("training")
    at.text_input(key="tr_text").input("costs 5 € or 2 £")
    rerun(at)
    assert any("outside the 79-character alphabet" in shown(e.value) for e in at.error)
    assert not at.tabs[0].metric  # nothing read, nothing scored
    at.text_input(key="tr_text").input("   ")
    rerun(at)
    assert any("Type some text" in i.value for i in at.info)


def test_training_page_shows_the_log_batch_and_model_card(easter2):
    at = open_page("training")
    assert "tr_curves" in plotly_keys(at)
    page = texts(at)
    import csv

    from app import resources

    with resources.TRAINING_LOG.open(newline="") as f:
        stages = {r["stage"] for r in csv.DictReader(f)}
    assert len(stages) >= 4 and f"{len(stages)} stage(s)" in page  # the shipped log's stages, counted
    assert "Model card" in page and "6,193,072" in page  # the card itself, rendered
    # the batch tab: four model inputs as training makes them
    assert len(at.tabs[3].get("image")) == 4
    # without IAM, the real-hand tab says what it needs
    assert any("Set IAM_DIR" in i.value for i in at.tabs[1].info)


def test_training_page_copes_without_its_log(monkeypatch, tmp_path, easter2):
    from app import resources

    monkeypatch.setattr(resources, "TRAINING_LOG", tmp_path / "gone.csv")
    monkeypatch.setattr(resources, "MODEL_CARD", tmp_path / "gone.md")
    at = open_page("training")
    errors = " ".join(e.value for e in at.error)
    assert "training log gone.csv cannot be read" in errors and "model card" in errors


def test_training_batch_is_what_training_feeds_the_model(easter2):
    from app import resources

    batch = resources.training_batch(0, n=3)
    assert len(batch) == 3
    for x, label in batch:
        assert x.dtype == np.uint8 and x.shape == (80, 2000)  # rows are the 80 input channels
        assert label.strip() and (x < 128).any()  # a label, and ink to read it from
    assert resources.training_batch(0, n=3)[0][1] == batch[0][1]  # same seed, same lines


@needs_iam
def test_training_page_reads_a_real_line_beside_its_synthetic_twin(with_iam):
    at = open_page("training")
    tab = at.tabs[1]
    ids = tab.selectbox(key="tr_real_line").options
    assert ids and all(" split" in i for i in ids)
    first = tab.selectbox(key="tr_real_line").value
    assert not first.startswith(("a01-000u", "e04-068"))  # opens on a line it never trained on
    e06 = next(i for i in ids if i.startswith("e06-"))
    tab.selectbox(key="tr_real_line").select(e06)
    rerun(at)
    tab = at.tabs[1]
    fair = "CER, punctuation spacing ignored"
    assert [m.label for m in tab.metric] == ["CER", fair, "CER", fair]  # the real line and its twin, both read
    names = [m.value for m in tab.markdown if m.value.startswith("**")]
    assert names[0] == "**Written by a person**" and names[1].startswith("**Drawn from a font** — ")
    assert not any("trained on this form" in c.value for c in tab.caption)
    a01 = next(i for i in ids if i.startswith("a01-000u"))
    tab.selectbox(key="tr_real_line").select(a01)
    rerun(at)
    assert any("trained on this form" in c.value for c in at.tabs[1].caption)
