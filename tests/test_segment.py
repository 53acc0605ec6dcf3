"""htr.segment: line boxes of IAM forms against lines.txt, and of pages the tests draw."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from htr.data.iam import IAM
from htr.segment import (
    binarize,
    estimate_skew,
    iou,
    is_single_line,
    match_rate,
    otsu_threshold,
    segment_page,
)
from htr.types import Box

TEXTS = [
    "The quick brown fox jumps over",
    "the lazy dog, while the cat",
    "sleeps in the warm afternoon sun.",
    "Nobody knows why it is so.",
    "Short.",
    "And the last line of the page here",
]


def draw_page(n, size=28, spacing=1.8, bg=255, ink=20, width=900, margin=60):
    """A page of ``n`` printed lines and the bounding box of each."""
    font = ImageFont.load_default(size=size)
    img = Image.new("L", (width, int(2 * margin + n * size * spacing)), bg)
    draw = ImageDraw.Draw(img)
    boxes = []
    for i in range(n):
        y = margin + int(i * size * spacing)
        text = TEXTS[i % len(TEXTS)]
        draw.text((margin, y), text, fill=ink, font=font)
        left, top, right, bottom = draw.textbbox((margin, y), text, font=font)
        boxes.append(Box(left, top, right - left, bottom - top))
    return np.asarray(img, dtype=np.uint8).copy(), boxes


@pytest.fixture(scope="module")
def iam(iam_dir) -> IAM:
    return IAM(iam_dir)


@pytest.fixture(scope="module")
def form_ids(iam):
    ids = sorted(f.id for f in iam.forms.values() if f.has_image)
    assert ids, "no form scans in the IAM folder"
    return ids


# ------------------------------------------------------------ real IAM forms


def test_forms_match_lines_txt(iam, form_ids):
    """Our boxes against the handwritten lines of lines.txt (IoU >= 0.5, one to one).

    Measured on the six shared forms: 56/56 lines matched, mean best IoU 0.89.
    """
    matched = total = 0
    report = []
    for fid in form_ids:
        truth = [iam.lines[i].box for i in iam.forms[fid].line_ids]
        found = segment_page(iam.form_image(fid))
        rate = match_rate(found, truth)
        matched += rate * len(truth)
        total += len(truth)
        report.append(f"{fid}: {len(found)} found / {len(truth)} true, {rate:.0%} matched")
        assert abs(len(found) - len(truth)) <= 1, report[-1]
    assert matched / total >= 0.9, "\n".join(report)


def test_printed_header_is_skipped(iam, form_ids):
    fid = form_ids[0]
    first_true = min(iam.lines[i].box.y for i in iam.forms[fid].line_ids)
    found = segment_page(iam.form_image(fid))
    assert min(b.y for b in found) > first_true - 100  # nothing from the printed part above


@pytest.mark.parametrize("angle", [-3, 3])
def test_rotated_form(iam, form_ids, angle):
    fid = form_ids[-1]
    gray = iam.form_image(fid)
    rotated = np.asarray(Image.fromarray(gray).rotate(angle, resample=Image.BICUBIC, fillcolor=255))
    cx, cy = gray.shape[1] / 2, gray.shape[0] / 2
    th = np.deg2rad(angle)
    rot = np.array([[np.cos(th), np.sin(th)], [-np.sin(th), np.cos(th)]])
    truth = []
    for lid in iam.forms[fid].line_ids:
        b = iam.lines[lid].box
        corners = np.array([[b.x, b.y], [b.x + b.w, b.y], [b.x, b.y + b.h], [b.x + b.w, b.y + b.h]], float)
        q = (corners - (cx, cy)) @ rot.T + (cx, cy)
        truth.append(Box(int(q[:, 0].min()), int(q[:, 1].min()), int(np.ptp(q[:, 0])), int(np.ptp(q[:, 1]))))
    found = segment_page(rotated)
    assert match_rate(found, truth) >= 0.8, (found, truth)


def test_line_versus_page_on_iam(iam, form_ids):
    for lid in iam.available_lines()[::4]:
        line = iam.line_image(lid)
        assert is_single_line(line), lid
        assert len(segment_page(line)) == 1, lid
    for fid in form_ids[:2]:
        assert not is_single_line(iam.form_image(fid))


def test_stacked_iam_lines(iam):
    ids = iam.available_lines()[:3]
    crops = [iam.line_image(i) for i in ids]
    width = max(c.shape[1] for c in crops) + 40
    page = np.full((sum(c.shape[0] for c in crops) + 80, width), 255, np.uint8)
    truth, y = [], 20
    for c in crops:
        page[y : y + c.shape[0], 20 : 20 + c.shape[1]] = c
        truth.append(Box(20, y, c.shape[1], c.shape[0]))
        y += c.shape[0] + 20
    assert match_rate(segment_page(page), truth) == 1.0


# ------------------------------------------------------------ drawn pages


@pytest.mark.parametrize(
    "kw",
    [
        dict(n=2),
        dict(n=5),
        dict(n=6, size=16),
        dict(n=6, size=60, width=2000),
        dict(n=5, bg=190),  # gray paper
        dict(n=4, spacing=1.3),  # tight lines
        dict(n=3, spacing=3.0),  # loose lines
    ],
    ids=str,
)
def test_drawn_paragraphs(kw):
    page, truth = draw_page(**kw)
    found = segment_page(page)
    assert len(found) == len(truth)
    assert match_rate(found, truth) == 1.0
    assert found == sorted(found, key=lambda b: b.y)
    assert not is_single_line(page)


def test_uneven_lighting_and_dark_background():
    page, truth = draw_page(5)
    lit = (page.astype(float) * np.linspace(0.7, 1.0, page.shape[1])[None, :]).astype(np.uint8)
    assert match_rate(segment_page(lit), truth) == 1.0
    assert match_rate(segment_page(255 - page), truth) == 1.0  # chalk on a blackboard


def test_single_line_gives_one_box():
    page, truth = draw_page(1)
    found = segment_page(page)
    assert len(found) == 1 and iou(found[0], truth[0]) > 0.7
    assert is_single_line(page)


def test_blank_and_degenerate_pages():
    assert segment_page(np.full((500, 400), 255, np.uint8)) == []
    assert segment_page(np.zeros((500, 400), np.uint8)) == []
    noise = np.random.default_rng(0).normal(235, 8, (800, 600)).clip(0, 255).astype(np.uint8)
    assert segment_page(noise) == []
    assert segment_page(np.full((3, 400), 255, np.uint8)) == []
    assert is_single_line(np.full((500, 400), 255, np.uint8))
    with pytest.raises(ValueError):
        segment_page(np.zeros((4, 4, 3), np.uint8))


def test_very_wide_line():
    line, truth = draw_page(1)
    wide = np.tile(line, (1, 40))  # 36,000 px wide
    found = segment_page(wide)
    assert len(found) == 1
    assert found[0].w > 30_000 and abs(found[0].y - truth[0].y) < 6
    assert is_single_line(wide)


# ------------------------------------------------------------ pieces


def test_otsu_threshold_separates_two_levels():
    img = np.full((10, 10), 200, np.uint8)
    img[:3] = 50
    t, gap = otsu_threshold(img)
    assert 50 <= t < 200 and gap == pytest.approx(150)
    assert otsu_threshold(np.full((5, 5), 128, np.uint8))[1] == 0.0
    mask = binarize(img)
    assert mask[:3].all() and not mask[3:].any()


@pytest.mark.parametrize("degrees", [-4.0, -1.5, 0.0, 2.5])
def test_estimate_skew(degrees):
    page, _ = draw_page(5, width=1000)
    ink = page < 128
    ys, xs = np.nonzero(ink)
    shifted = np.rint(ys + xs * np.tan(np.radians(degrees))).astype(int)
    shifted -= min(0, shifted.min())
    skewed = np.zeros((shifted.max() + 1, page.shape[1]), bool)
    skewed[shifted, xs] = True
    assert estimate_skew(skewed) == pytest.approx(degrees, abs=0.5)


def test_iou_and_match_rate():
    a = Box(0, 0, 10, 10)
    assert iou(a, a) == 1.0
    assert iou(a, Box(5, 0, 10, 10)) == pytest.approx(50 / 150)
    assert iou(a, Box(20, 20, 5, 5)) == 0.0
    truth = [Box(0, 0, 10, 10), Box(0, 20, 10, 10)]
    assert match_rate([Box(0, 0, 10, 10)], truth) == 0.5
    assert match_rate([Box(0, 0, 10, 10), Box(0, 0, 10, 10)], truth) == 0.5  # one to one
    assert match_rate([], []) == 1.0 and match_rate([a], []) == 0.0
