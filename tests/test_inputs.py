"""The pure helpers of the classroom pass (issue 15): odd inputs (htr/inputs.py), the
punctuation-fair CER, which IAM lines the shipped weights trained on, the best path
collapsing step by step, and the gallery's real lines and their credit."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from htr.images import load_image
from htr.inputs import LOW_CONFIDENCE, check_image, check_reading, mean_confidence

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def codes(found) -> list[str]:
    return [f.code for f in found]


@pytest.mark.parametrize("shape", [(4, 6), (4, 90), (9, 400), (300, 8)])
def test_an_image_too_small_to_hold_writing_is_said_and_not_read(shape):
    gray = np.full(shape, 255, np.uint8)
    gray[: shape[0] // 2, : shape[1] // 2] = 0  # ink is there; room for writing is not
    (f,) = check_image(gray)
    assert f.code == "too_small" and f.blocking and f"{shape[1]}×{shape[0]}" in f.sentence


def test_a_blank_page_has_no_ink_even_with_scanner_noise_and_a_line_has_ink():
    rng = np.random.default_rng(0)
    for blank in (np.full((3508, 2480), 255, np.uint8),
                  np.clip(rng.normal(246, 3, (3508, 2480)), 0, 255).astype(np.uint8),
                  np.clip(rng.normal(200, 6, (600, 800)), 0, 255).astype(np.uint8)):  # gray paper, JPEG-ish
        assert codes(check_image(blank, "page")) == ["no_ink"]
    for name in ("line-01.png", "hands/poilus-1.png", "gallery/copiste-report-1.png"):
        assert check_image(load_image(EXAMPLES / name)) == [], name


def test_several_lines_given_as_one_line_are_said_and_not_blocked():
    page = load_image(EXAMPLES / "paragraph-1.png")
    (f,) = check_image(page, "line")
    assert f.code == "several_lines" and not f.blocking and "read it as a page" in f.sentence
    assert check_image(page, "page") == []


def test_a_reading_with_nothing_or_with_low_confidence_is_said():
    assert codes(check_reading("")) == ["nothing_read"] == codes(check_reading("  \n"))
    assert codes(check_reading("M m", (0.3, 0.5, 0.4))) == ["low_confidence"]
    assert check_reading("M m", (0.9, 0.95, 0.99)) == [] == check_reading("hello")  # no confidences: no claim
    assert mean_confidence((LOW_CONFIDENCE, LOW_CONFIDENCE)) == pytest.approx(LOW_CONFIDENCE)
    assert check_reading("ab", (LOW_CONFIDENCE, LOW_CONFIDENCE)) == []
    assert mean_confidence(()) is None


def test_the_fair_cer_ignores_only_iam_punctuation_spacing():
    from htr.metrics import cer, fair_cer

    truth = 'He said " yes . " and did n\'t go .'
    assert cer(truth, 'He said "yes." and didn\'t go.') > 0.1
    assert fair_cer(truth, 'He said "yes." and didn\'t go.') == 0.0
    assert fair_cer(truth, 'He said "yes." and didn\'t og.') == pytest.approx(2 / len('He said"yes."and didn\'t go.'),
                                                                           rel=0.2)
    assert fair_cer("dog.", "dog,") == cer("dog.", "dog,")  # a wrong mark still counts


def test_the_lines_the_shipped_weights_trained_on_are_those_of_its_two_iam_forms():
    from htr.weights import SHIPPED_IAM_FORMS, iam_line_seen_by_shipped_weights

    assert SHIPPED_IAM_FORMS == ("a01-000u", "e04-068")
    assert iam_line_seen_by_shipped_weights("a01-000u-00") and iam_line_seen_by_shipped_weights("e04-068-06")
    assert not iam_line_seen_by_shipped_weights("a01-000x-00")
    assert not iam_line_seen_by_shipped_weights("e06-006-01") and not iam_line_seen_by_shipped_weights("")


def test_the_best_path_collapses_repeats_then_blanks_into_the_greedy_text():
    from htr.alphabet import BLANK, encode
    from htr.ctc import BLANK_MARK, best_path, collapse_stages

    path = [BLANK, *encode("hh"), BLANK, *encode("e"), *encode("ll"), BLANK, *encode("l"), *encode("o"), BLANK]
    probs = np.full((len(path), BLANK + 1), 0.01, np.float32)
    probs[np.arange(len(path)), path] = 1.0
    probs /= probs.sum(axis=1, keepdims=True)
    c = collapse_stages(probs)
    assert "".join(c.steps) == f"{BLANK_MARK}hh{BLANK_MARK}ell{BLANK_MARK}lo{BLANK_MARK}"
    assert "".join(c.merged) == f"{BLANK_MARK}h{BLANK_MARK}el{BLANK_MARK}lo{BLANK_MARK}"
    assert c.text == "hello" == best_path(probs).text  # the blank keeps the double l
    assert [c.upto(t).text for t in (0, 2, 4, 6, 8, 10)] == ["", "h", "h", "hel", "hel", "hello"]
    rng = np.random.default_rng(3)
    for _ in range(5):
        p = rng.dirichlet(np.full(BLANK + 1, 0.05), size=60)
        assert collapse_stages(p).text == best_path(p).text


def _gallery() -> list[dict]:
    return json.loads((EXAMPLES / "gallery" / "gallery.json").read_text(encoding="utf-8"))


def test_the_gallery_lines_are_credited_report_hands_never_iam():
    from htr.data import hands as H
    from htr.data.gallery import GALLERY_LINES
    from htr.data.text import to_iam

    rows = _gallery()
    assert 3 <= len(rows) <= 6 and [r["line"] for r in rows] == [g[1] for g in GALLERY_LINES]
    credits = (EXAMPLES / "gallery" / "CREDITS.md").read_text(encoding="utf-8")
    assert "CC BY 4.0" in credits and "creativecommons.org/licenses/by/4.0" in credits
    split = H.load_split()
    for r in rows:
        path = EXAMPLES / r["file"]
        assert path.is_file() and path.stat().st_size < 60_000  # a small committed image
        assert r["credit"] == H.CREDITS[r["source"]] and r["credit"] in credits
        assert path.name in credits and r["given"] in credits
        assert r["text"] == to_iam(r["given"]).text
        assert r["split"] == "report" == H.which_split(split[r["source"]], r["hand"])  # never trained or chosen on
    assert not [p for p in (EXAMPLES / "gallery").iterdir() if "iam" in p.name.lower()]
    assert rows[0]["curated"]  # the first, the default, is offered in presentation mode too


def test_the_gallery_lines_are_those_of_the_hands_folder():
    from htr.data import hands as H

    root = H.default_hands_dir()
    if root is None or not (root / "copiste" / "lines.tsv").is_file():
        pytest.skip("no hands folder (../shared/hands or HANDS_DIR)")
    from htr.data.gallery import _unipen_lines, line_picture

    rows = _gallery()
    strokes = _unipen_lines([r["line"] for r in rows if r["source"] == "unipen"])
    tables = {"unipen": {i: row for i, (row, _) in strokes.items()}}
    for r in rows:
        if r["source"] not in tables:
            tables[r["source"]] = {x.id: x for x in H.line_table(r["source"])[0]}
        row = tables[r["source"]][r["line"]]
        assert row.hand == r["hand"] and row.text == r["given"] and row.split == "report"
        record = strokes[r["line"]][1] if r["source"] == "unipen" else None
        shipped, made = load_image(EXAMPLES / r["file"]), line_picture(r["source"], row, record, r["seed"])
        if r["file"].endswith(".png"):  # a lossless copy
            assert np.array_equal(shipped, made)
        else:  # drawn, then saved as lossy WebP
            assert shipped.shape == made.shape and np.abs(shipped.astype(int) - made).mean() < 3
