"""htr.perturb: each distortion does what it says, by the amount it says, and refuses bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image, ImageDraw

from htr.perturb import DISTORTIONS, identity_level, paper_level, perturb


def line(h: int = 80, w: int = 400, paper: int = 235) -> np.ndarray:
    """A vertical bar and a horizontal bar of ink on gray paper."""
    img = Image.new("L", (w, h), paper)
    d = ImageDraw.Draw(img)
    d.rectangle([100, 10, 105, h - 10], fill=20)  # 6 px wide, vertical
    d.rectangle([200, h // 2, 300, h // 2 + 5], fill=20)  # 6 px high, horizontal
    return np.asarray(img)


def ink(gray: np.ndarray, below: int = 128) -> np.ndarray:
    return gray < below


@pytest.mark.parametrize("name", list(DISTORTIONS))
def test_the_first_level_is_the_original_and_the_input_is_untouched(name):
    g = line()
    before = g.copy()
    d = DISTORTIONS[name]
    assert d.levels[0] == identity_level(name) and d.label(d.levels[0]) == "original"
    np.testing.assert_array_equal(perturb(g, name, d.levels[0]), g)
    for level in d.levels[1:]:
        out = perturb(g, name, level, seed=3)
        assert out.dtype == np.uint8 and out.ndim == 2
        assert not np.array_equal(out, g) or out.shape != g.shape, (name, level)
        np.testing.assert_array_equal(perturb(g, name, level, seed=3), out)  # seeded: repeatable
    np.testing.assert_array_equal(g, before)


def test_slant_shears_the_top_right_by_the_angle():
    g = line()
    out = perturb(g, "slant", 30)
    k = math.tan(math.radians(30))
    assert out.shape == (80, 400 + math.ceil(k * 80))
    cols = lambda row: np.flatnonzero(ink(out[row]))  # noqa: E731
    top, bottom = cols(12), cols(68)  # rows through the vertical bar only
    assert bottom.min() == pytest.approx(100 + k * 12, abs=2)  # near the bottom it barely moves
    assert top.min() == pytest.approx(100 + k * 68, abs=2)  # near the top it moved by k * height
    left = perturb(g, "slant", -30)  # a left lean is shifted so nothing is cut off
    assert ink(left).sum() == pytest.approx(ink(g).sum(), rel=0.05)


def test_rotation_grows_the_canvas_and_keeps_the_ink():
    g = line()
    out = perturb(g, "rotate", 10)
    assert out.shape[0] > 80 and out.shape[1] > 400
    assert ink(out).sum() == pytest.approx(ink(g).sum(), rel=0.1)
    assert paper_level(out) == pytest.approx(235, abs=2)  # the uncovered corners are paper


def test_squeeze_scales_the_width_only():
    out = perturb(line(), "squeeze", 0.5)
    assert out.shape == (80, 200)
    with pytest.raises(ValueError, match="width factor"):
        perturb(line(), "squeeze", 1.5)


def test_blur_and_bold_scale_with_the_line_height():
    small, big = line(h=80), np.asarray(Image.fromarray(line(h=80)).resize((800, 160), Image.Resampling.NEAREST))
    # bold: 2 px a side at height 80 is 4 px a side at height 160; this row crosses both bars
    assert ink(perturb(small, "bold", 2)[40]).sum() == ink(small[40]).sum() + 2 * (2 + 2)
    assert ink(perturb(big, "bold", 2)[80]).sum() == ink(big[80]).sum() + 2 * (4 + 4)
    soft = perturb(small, "blur", 3)
    assert np.abs(np.diff(soft.astype(int), axis=1)).max() < np.abs(np.diff(small.astype(int), axis=1)).max() / 2


def test_noise_has_the_asked_spread_and_fade_lifts_the_ink():
    blank = np.full((80, 400), 128, np.uint8)
    assert perturb(blank, "noise", 40, seed=1).astype(float).std() == pytest.approx(40, rel=0.05)
    g = line()
    faded = perturb(g, "fade", 75)
    # ink at 20 on paper at 235 keeps a quarter of its contrast: 235 - 0.25 * 215
    assert int(faded[40, 102]) == pytest.approx(235 - 0.25 * 215, abs=1)
    assert int(faded[5, 5]) == 235  # paper stays paper


@pytest.mark.parametrize("args, message", [
    ((line(), "smudge", 1), "no distortion named 'smudge'"),
    ((np.zeros((0, 5), np.uint8), "blur", 1), "too small"),
    ((np.zeros((10, 10), np.float32), "blur", 1), "gray uint8"),
    ((np.zeros((10, 10, 3), np.uint8), "blur", 1), "gray uint8"),
    ((line(), "slant", 89), "at most 80 degrees"),
    ((line(), "fade", 120), "within 0 and 100"),
    ((line(), "noise", float("nan")), "finite"),
    ((line(), "noise", -3), "within 0 and 255"),
])
def test_bad_input_is_one_clear_error(args, message):
    with pytest.raises(ValueError, match=message):
        perturb(*args)


def test_a_huge_image_is_refused_before_any_work(monkeypatch):
    from htr import perturb as mod

    monkeypatch.setattr(mod, "MAX_PIXELS", 1000)
    with pytest.raises(ValueError, match="too large"):
        perturb(line(), "blur", 1)
