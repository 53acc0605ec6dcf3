"""The classroom pass (issue 15), content half, through AppTest: real handwriting first in a
gallery, lines Easter2 trained on never the default and always badged, the punctuation-fair
CER beside every CER, a sentence for odd inputs, the IAM browser without dead ends, Recognize
with an IAM source, a true-text box and a JSON download, and the best path collapsing live.

Easter2 runs with random weights (as in tests/test_app.py): the text is nonsense, every
view is exercised. IAM tests read ``../shared/iam`` (or ``$IAM_DIR``) in place and skip
where it is absent.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from tests.test_app import (  # noqa: F401 - fixtures
    EXAMPLES,
    IAM_ROOT,
    PAGES,
    easter2,
    open_page,
    plotly_keys,
    reading_html,
    rerun,
    texts,
    weights,
    with_iam,
)

pytestmark = pytest.mark.slow

FAIR = "CER, punctuation spacing ignored"


def png(gray: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(gray).save(buf, format="PNG")
    return buf.getvalue()


def upload(at, name: str, data: bytes):
    at.radio(key="rec_source").set_value("Upload")
    rerun(at)
    at.file_uploader(key="rec_upload").upload(name, data, "image/png")
    return rerun(at)


def downloads(at) -> list[str]:
    return [b.proto.label for b in at.get("download_button")]


def shown_text(at) -> str:
    """The text of the (first) reading on the page, from its coloured spans."""
    import html
    import re

    body = reading_html(at)[0]
    spans = re.findall(r"<span [^>]*>(.*?)</span>", body)
    return html.unescape("".join(spans))


@pytest.fixture
def quick_readers(monkeypatch):
    """Every reader answers at once with one fixed text (tests about which line is shown, not
    about what is read: no EasyOCR run per click)."""
    from app import resources
    from htr.types import Recognition

    def reading(name, digest, layout, gray, decoder="greedy", **kw):  # kw: a long reading's cancel, progress
        return Recognition("the dog .", 0.01, name, (0.95,) * 9), None

    monkeypatch.setattr(resources, "try_recognize", reading)


def gallery_rows() -> list[dict]:
    return json.loads((EXAMPLES / "gallery" / "gallery.json").read_text(encoding="utf-8"))


# ---------------------------------------------------------------- (2) real handwriting first


def test_recognize_opens_on_a_gallery_of_real_hands_and_fonts_are_one_labelled_group(easter2):
    at = open_page("recognize")
    groups = at.radio(key="rec_group")
    assert groups.options[0] == "Real handwriting" and groups.value == "Real handwriting"
    assert "Computer fonts" in groups.options
    first = gallery_rows()[0]  # a report hand: a writer no model of the project ever used
    assert first["split"] == "report"
    assert at.selectbox(key="rec_example").value == first["name"]
    page = texts(at)
    assert first["credit"] in page and "Report hand" in page
    assert first["given"] in [t.value for t in at.text]
    assert any(m.label == "Character error rate" for m in at.metric)  # read against its true text
    thumbs = [b for b in at.button if b.key and b.key.startswith("rec_pick_")]
    assert len(thumbs) >= 5 and len(at.image) >= len(thumbs)  # one picture per button
    # the fonts are one group: its thumbnails are the font lines, and a click picks one
    groups.set_value("Computer fonts")
    rerun(at)
    font_thumbs = [b for b in at.button if b.key and b.key.startswith("rec_pick_")]
    assert all("Line" in b.label or "Paragraph" in b.label for b in font_thumbs)
    target = next(b for b in font_thumbs if "Line 3" in b.label)
    target.click()
    rerun(at)
    assert at.selectbox(key="rec_example").value.startswith("Line 3")
    truth = at.text_area(key=f"rec_truth_{at.session_state['rec_image']}").value
    assert truth == "Meet me at the station at 7 o'clock."  # its true text, for the CER
    assert any(b.label.startswith("✓") and "Line 3" in b.label for b in at.button)


def test_the_gallery_offers_iam_lines_easter2_never_trained_on(with_iam, quick_readers):
    at = open_page("compare")
    assert "IAM, never trained on" in at.radio(key="cmp_group").options
    at.radio(key="cmp_group").set_value("IAM, never trained on")
    rerun(at)
    names = [b.label for b in at.button if b.key and b.key.startswith("cmp_pick_")]
    assert names and not [n for n in names if "a01\\-000u" in n or "e04\\-068" in n]
    next(b for b in at.button if b.key and b.key.startswith("cmp_pick_")).click()
    rerun(at)
    assert at.text_area[0].value  # its IAM transcription is the true text
    assert "Easter2 trained on this line" not in texts(at)


# ---------------------------------------------------------------- (3) honesty: trained-on lines


@pytest.mark.parametrize("page, key", [("compare", "cmp"), ("stress", "st")])  # Inside: the same widget
def test_an_iam_line_easter2_trained_on_is_never_the_default_and_is_badged(with_iam, quick_readers, page, key):
    from htr.weights import iam_line_seen_by_shipped_weights

    at = open_page(page)
    at.radio(key=f"{key}_source").set_value("IAM line")
    rerun(at)
    box = at.selectbox(key=f"{key}_iam_line")
    assert not iam_line_seen_by_shipped_weights(box.value)  # the default: a line it never saw
    assert "Easter2 trained on this line" not in texts(at)
    ids = [o.split(" — ")[0] for o in box.options]  # the options as shown: "id — text[ · trained on]"
    trained = [i for i in ids if iam_line_seen_by_shipped_weights(i)]
    assert trained and ids.index(trained[0]) > 0  # listed after the fair ones
    assert [iam_line_seen_by_shipped_weights(i) for i in ids] == sorted(iam_line_seen_by_shipped_weights(i) for i in ids)
    box.set_value(trained[0])
    rerun(at)
    assert "Easter2 trained on this line" in texts(at)  # the badge
    assert "trained on" in at.selectbox(key=f"{key}_iam_line").format_func(trained[0])
    for _ in range(2):  # the random button lands on a fair line
        at.button(key=f"{key}_iam_random").click()
        rerun(at)
        assert not iam_line_seen_by_shipped_weights(at.selectbox(key=f"{key}_iam_line").value)


def test_iam_browser_random_line_and_search_put_unseen_lines_first(with_iam, quick_readers):
    from htr.weights import iam_line_seen_by_shipped_weights

    at = open_page("iam")
    assert not iam_line_seen_by_shipped_weights(at.selectbox(key="iam_line").value)
    for _ in range(2):
        at.sidebar.button(key="iam_random").click()
        rerun(at)
        assert not iam_line_seen_by_shipped_weights(at.selectbox(key="iam_line").value)
    at.sidebar.text_input(key="iam_query").set_value("the")  # in trained and untrained lines alike
    rerun(at)
    hits = [b.key.removeprefix("iam_hit_") for b in at.sidebar.button if b.key and b.key.startswith("iam_hit_")]
    assert hits and not iam_line_seen_by_shipped_weights(hits[0])
    flags = [iam_line_seen_by_shipped_weights(h) for h in hits]
    assert flags == sorted(flags)  # every unseen line before any trained one
    # a trained line, reached on purpose, carries the badge
    at.selectbox(key="iam_scheme").set_value("aachen")
    at.selectbox(key="iam_split").set_value("train")
    rerun(at)
    assert iam_line_seen_by_shipped_weights(at.selectbox(key="iam_line").value)
    assert "Easter2 trained on this line" in texts(at)


# ---------------------------------------------------------------- (4) the punctuation-fair CER


def test_recognize_and_compare_show_the_fair_cer_beside_the_cer(with_iam, quick_readers):
    from htr.metrics import fair_cer

    at = open_page("recognize")
    at.radio(key="rec_source").set_value("IAM line")
    rerun(at)
    line = at.selectbox(key="rec_iam_line").value
    labels = [m.label for m in at.metric]
    assert labels.index(FAIR) == labels.index("Character error rate") + 1
    truth = at.text_area(key=f"rec_truth_{at.session_state['rec_image']}").value
    assert truth and line
    read = shown_text(at)
    fair = next(m for m in at.metric if m.label == FAIR).value
    assert fair == f"{100 * fair_cer(truth, read):.1f} %"
    at.switch_page(PAGES["compare"]).run()
    assert not at.exception
    cers = [m for m in at.metric if m.label == "CER"]
    fairs = [m for m in at.metric if m.label == FAIR]
    assert cers and len(fairs) == len(cers)


def test_iam_browser_and_how_it_learned_show_the_fair_cer(with_iam):
    at = open_page("iam")
    page = texts(at)
    assert "<b>Easter2 (ours)</b> — CER" in page and "with punctuation spacing ignored" in page
    at.switch_page(PAGES["training"]).run()
    assert not at.exception
    tab = at.tabs[1]
    labels = [m.label for m in tab.metric]
    assert labels == ["CER", FAIR, "CER", FAIR]  # the real line and its font twin


# ---------------------------------------------------------------- (6) odd inputs get a sentence


@pytest.mark.parametrize("shape, says", [((4, 6), "too small to hold writing"),
                                         ((4, 90), "too small to hold writing"),
                                         ((3508, 2480), "No ink found")])
def test_odd_images_get_a_sentence_and_no_empty_download(easter2, shape, says):
    gray = np.full(shape, 250, np.uint8)
    if shape[0] > 100:  # a blank A4 scan: paper with scanner noise
        gray = np.clip(np.random.default_rng(0).normal(246, 3, shape), 0, 255).astype(np.uint8)
    else:  # a strip with a dark mark: ink, but no room for writing
        gray[1:3, 2:5] = 0
    at = open_page("recognize")
    upload(at, "odd.png", png(gray))
    assert any(says in w.value for w in at.warning), [w.value for w in at.warning]
    assert not reading_html(at) and not downloads(at)  # nothing read, nothing empty to download


ODD = {"blank": ("No ink found", lambda: np.clip(np.random.default_rng(0).normal(246, 3, (300, 900)), 0, 255)
                  .astype(np.uint8)),
       "6x4": ("too small to hold writing", lambda: np.where(np.arange(24).reshape(4, 6) % 5 == 0, 0, 250)
               .astype(np.uint8))}


@pytest.mark.parametrize("odd", list(ODD))
@pytest.mark.parametrize("page, key", [("stress", "st"), ("inside", "in")])
def test_stress_and_inside_say_what_is_odd_about_an_uploaded_image_and_read_nothing(easter2, page, key, odd):
    """Every page that reads a user's image says the sentence (not only Recognize and Compare)."""
    says, make = ODD[odd]
    at = open_page(page)
    at.radio(key=f"{key}_source").set_value("Upload")
    rerun(at)
    at.file_uploader(key=f"{key}_upload").upload("odd.png", png(make()), "image/png")
    rerun(at)
    assert any(says in w.value for w in at.warning), [w.value for w in at.warning]
    assert not plotly_keys(at) and not reading_html(at)  # no chart, no CTC picture, no reading of nothing
    if page == "stress":
        assert not [b for b in at.button if b.key == "st_run"]  # nothing offered to read step by step


def test_a_paragraph_read_as_one_line_asks_to_read_it_as_a_page(easter2):
    at = open_page("recognize")
    at.radio(key="rec_group").set_value("Computer fonts")
    rerun(at)
    name = next(n for n in at.selectbox(key="rec_example").options if n.startswith("Paragraph 1"))
    at.selectbox(key="rec_example").set_value(name)
    rerun(at)
    at.radio(key="rec_layout").set_value("one line")
    rerun(at)
    assert any("looks like several lines" in i.value for i in at.info)
    at.button(key="rec_as_page").click()
    rerun(at)
    assert at.radio(key="rec_layout").value.startswith("a page") and "rec_page" in plotly_keys(at)
    assert not any("looks like several lines" in i.value for i in at.info)


@pytest.mark.parametrize("probs, low", [((0.3, 0.5, 0.4), True), ((0.99, 0.97, 0.98), False)])
def test_a_doubtful_reading_is_called_low_confidence(easter2, monkeypatch, probs, low):
    from app import resources
    from htr.types import Recognition

    def reading(name, digest, layout, gray, decoder="greedy", **kw):  # kw: a long reading's cancel, progress
        return Recognition("M m", 0.01, name, probs), None

    monkeypatch.setattr(resources, "try_recognize", reading)
    at = open_page("recognize")
    assert any("Low confidence" in w.value for w in at.warning) is low
    spans = reading_html(at)[0]
    assert ("#c8f0c8" in spans) is not low  # green only where the model is sure


# ---------------------------------------------------------------- (7) IAM browser without dead ends


def test_iam_browser_shows_the_text_of_a_line_without_an_image_and_where_to_get_images(with_iam):
    from htr.data.iam import IAM

    iam = IAM(IAM_ROOT)
    have = set(iam.available_lines())
    scheme = iam.split_schemes()[0]
    split, ids = next(iter(iam.splits(scheme).items()))  # the split the page opens on
    with_images = {iam.lines[i].writer for i in have}
    writer = next(iam.lines[i].writer for i in ids
                  if i in iam.lines and iam.lines[i].writer and iam.lines[i].writer not in with_images)
    # straight to that writer with "only lines with images" unticked (no reading of the first line)
    at = open_page("iam", iam_scheme=scheme, iam_split=split, iam_only_images=False, iam_writer=writer)
    assert any(f"{len(iam.lines):,} lines, of which {len(have):,} have an image here" in c.value
               for c in at.caption)
    assert at.selectbox(key="iam_writer").value == writer
    line_id = at.selectbox(key="iam_line").value
    assert line_id not in have
    page = texts(at)
    from app.widgets import md_literal

    assert f"**True text:** {md_literal(iam.lines[line_id].text)}" in page
    (said,) = [i.value for i in at.info if f"No image of line {line_id}" in i.value]
    assert "registered" in said and str(IAM_ROOT) not in said and not at.error  # no server path, no red box


def test_iam_browser_form_tab_without_a_scan_says_what_is_missing_and_shows_the_text(with_iam):
    """A form whose scan is not here: a sentence (what is missing, how to get it), the form's true text,
    and no path of the server anywhere on the page (the review saw ``No scan of form … in /…/forms``)."""
    from htr.data.iam import IAM

    iam = IAM(IAM_ROOT)
    have = set(iam.available_lines())
    scheme = iam.split_schemes()[0]
    split, ids = next(iter(iam.splits(scheme).items()))
    with_images = {iam.lines[i].writer for i in have}
    writer = next(iam.lines[i].writer for i in ids
                  if i in iam.lines and iam.lines[i].writer and iam.lines[i].writer not in with_images)
    at = open_page("iam", iam_scheme=scheme, iam_split=split, iam_only_images=False, iam_writer=writer)
    form = at.selectbox(key="iam_form").value
    assert not iam.forms[form].has_image
    (said,) = [i.value for i in at.info if f"No scan of form {form}" in i.value]
    assert "IAM_DIR" in said and "python -m htr iam fetch" in said
    # the true text of every line of the form, as plain text (st.text: never Markdown)
    shown = "\n".join(t.value for t in at.text)
    for line_id in iam.forms[form].line_ids:
        assert f"{line_id[-2:]}: {iam.lines[line_id].text}" in shown, line_id
    page = texts(at) + "\n" + shown
    for path in {str(IAM_ROOT), str(IAM_ROOT.resolve()), "/forms", "/lines/", "/work/"}:
        assert path not in page, path
    assert not at.error


# ---------------------------------------------------------------- (9) Recognize: true text, JSON


def test_recognize_gives_a_cer_for_typed_true_text_and_downloads_text_and_json(easter2):
    at = open_page("recognize")
    assert "IAM line" in at.radio(key="rec_source").options
    upload(at, "my line.png", (EXAMPLES / "line-03.png").read_bytes())
    assert not [m for m in at.metric if m.label == "Character error rate"]  # no true text yet
    box = at.text_area(key=f"rec_truth_{at.session_state['rec_image']}")
    box.set_value("Meet me at the station at 7 o'clock.")
    rerun(at)
    assert [m.label for m in at.metric if "CER" in m.label or "error rate" in m.label] == \
        ["Character error rate", FAIR]
    assert downloads(at)[:2] == ["Download the text", "Download as JSON (line boxes, confidences)"]


def test_the_json_record_holds_boxes_confidences_and_both_cers():
    from htr.metrics import cer, fair_cer
    from htr.reading import reading_record
    from htr.types import Box, Recognition

    one = Recognition("dog .", 0.5, "easter2", (0.9, 0.8, 0.7, 0.6, 0.5))
    rec = reading_record(one, image="a.png", size=(300, 40), layout="line", truth="dog.")
    assert rec["lines"] == [{"text": "dog .", "box": {"x": 0, "y": 0, "w": 300, "h": 40}, "confidence": 0.7,
                             "char_confidences": [0.9, 0.8, 0.7, 0.6, 0.5]}]
    assert rec["cer"] == round(cer("dog.", "dog ."), 4) > rec["cer_punctuation_fair"] == fair_cer("dog.", "dog .") == 0
    page = Recognition.page([Recognition("a", 0, "x", (0.5,), box=Box(1, 2, 3, 4)),
                             Recognition("b", 0, "x", (), box=Box(5, 6, 7, 8))], 1.0, "x")
    rec = reading_record(page, image="p.png", size=(10, 20), layout="page")
    assert [r["box"]["y"] for r in rec["lines"]] == [2, 6]
    assert rec["lines"][1]["confidence"] is None and "cer" not in rec
    assert json.loads(json.dumps(rec)) == rec


# ---------------------------------------------------------------- distill: the best path, live


def test_inside_the_model_shows_the_best_path_collapsing_into_the_text_read(easter2):
    import html
    import re

    at = open_page("inside")
    read = next(h.proto.body for h in at.html if "<b>Read:</b>" in h.proto.body)
    read = html.unescape(re.search(r"<b>Read:</b> <code>(.*?)</code>", read).group(1))
    stages = next(h.proto.body for h in at.html if "Blanks removed" in h.proto.body)

    def collapsed(body: str) -> str:
        m = re.search(r'<span class="htr-collapsed">(.*?)</span>', body)
        return html.unescape(m.group(1)) if m else ""

    assert collapsed(stages) == read  # all steps: exactly the text read
    total = int(re.search(r"at each of (\d+) steps", stages).group(1))
    assert "∅" in stages and total > len(read)
    slider = next(s for s in at.slider if s.key and s.key.startswith("in_steps_"))
    assert slider.value == total
    slider.set_value(total // 2)
    rerun(at)
    half = next(h.proto.body for h in at.html if "Blanks removed" in h.proto.body)
    assert f"at each of {total // 2} steps" in half
    assert read.startswith(collapsed(half))  # what the first steps read is the start of the line
