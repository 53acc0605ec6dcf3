"""htr.preprocess: shapes, ink orientation, squeezing, and the step <-> column mapping.

Every image here is synthetic: paper plus dark bars at known columns, so where
the ink must land in the model input (and on which time step) is known exactly.
"""

from __future__ import annotations

import numpy as np
import pytest

import functools

from htr import preprocess
from htr.preprocess import HEIGHT, STRIDE, WIDTH, Prepared, frame_line, ink_box, normalize_ink

# The geometry tests below check scaling, padding and the step/column mapping
# on their own; framing (crop to ink + margins) is tested at the end.
prepare_line = functools.partial(preprocess.prepare_line, frame=False)


def prepare_batch(grays, width=WIDTH):
    return preprocess.prepare_batch(grays, width, frame=False)


def page(h: int, w: int, paper: int = 255) -> np.ndarray:
    return np.full((h, w), paper, np.uint8)


def with_bar(h: int, w: int, left: int, width: int, paper: int = 255, ink: int = 0) -> np.ndarray:
    g = page(h, w, paper)
    g[h // 4 : 3 * h // 4, left : left + width] = ink
    return g


def ink_per_step(prep: Prepared) -> np.ndarray:
    """Total ink each time step's STRIDE input columns hold."""
    cols = prep.x.sum(axis=1)
    cols = np.pad(cols, (0, -len(cols) % STRIDE))
    return cols.reshape(-1, STRIDE).sum(axis=1)


def test_fixed_layout_shape_dtype_and_range():
    prep = prepare_line(with_bar(100, 700, 300, 10))
    assert prep.x.shape == (WIDTH, HEIGHT) == (2000, 80)
    assert prep.x.dtype == np.float32
    assert prep.x.min() >= 0.0 and prep.x.max() <= 1.0
    assert prep.width == 2000 and prep.steps == 500
    # 700 columns at height 100 become 560 at height 80: the rest is padding
    assert prep.content == 560
    assert prep.content_steps == 140
    assert prep.sx == pytest.approx(0.8) and prep.sy == pytest.approx(0.8)
    assert prep.orig_shape == (100, 700)
    assert not prep.x[prep.content :].any()


@pytest.mark.parametrize("h,w", [(80, 401), (57, 333), (120, 1001), (30, 7)])
def test_true_width_mode_is_a_multiple_of_the_stride(h, w):
    prep = prepare_line(with_bar(h, w, w // 2, max(1, w // 20)), width=None)
    expected_content = max(1, round(w * HEIGHT / h))
    assert prep.content == expected_content
    assert prep.width % STRIDE == 0
    assert prep.content <= prep.width < prep.content + STRIDE
    assert prep.x.shape == (prep.width, HEIGHT)
    assert prep.steps == prep.width // STRIDE == prep.content_steps


def test_ink_is_one_and_paper_is_zero():
    g = with_bar(80, 400, 100, 20)  # height 80: no scaling at all
    prep = prepare_line(g, width=None)
    assert prep.sx == 1.0 and prep.content == 400
    x = prep.x  # (width, rows)
    assert np.allclose(x[105:115, 30:50], 1.0)  # inside the bar: full ink
    assert np.allclose(x[:95], 0.0) and np.allclose(x[125:], 0.0)  # paper
    assert np.allclose(x[105:115, :15], 0.0)  # paper above the bar (rows become channels)
    # rows became channels in order: channel r is image row r
    assert np.array_equal(x[110] > 0.5, g[:, 110] < 128)


def test_image_round_trip_shows_ink_dark():
    g = with_bar(80, 300, 50, 8)
    prep = prepare_line(g, width=None)
    back = prep.image()
    assert back.shape == (80, prep.width) and back.dtype == np.uint8
    assert back[40, 54] < 10 and back[40, 200] > 245


def test_lines_wider_than_the_layout_are_squeezed():
    g = with_bar(100, 3000, 1500, 12)  # 2400 columns at height 80 > 2000
    prep = prepare_line(g)
    assert prep.x.shape == (2000, 80)
    assert prep.content == 2000
    assert prep.sx == pytest.approx(2000 / 3000)
    assert prep.sy == pytest.approx(0.8)
    assert prep.steps == prep.content_steps == 500
    # the same line at its true width is not squeezed
    free = prepare_line(g, width=None)
    assert free.content == 2400 and free.sx == pytest.approx(0.8)


def test_blank_and_uniform_images_give_zeros():
    for value in (255, 0, 128):
        prep = prepare_line(page(60, 500, value))
        assert not prep.x.any(), value
    # faint texture (less than the ink threshold) is not ink either
    rng = np.random.default_rng(0)
    noisy = (245 + rng.integers(0, 8, (60, 500))).astype(np.uint8)
    assert not prepare_line(noisy).x.any()


def test_normalisation_does_not_depend_on_paper_brightness():
    bright = with_bar(64, 640, 200, 15, paper=250, ink=40)
    dim = with_bar(64, 640, 200, 15, paper=170, ink=10)  # grey scan, different pen
    a, b = prepare_line(bright).x, prepare_line(dim).x
    assert a.max() == pytest.approx(1.0) and b.max() == pytest.approx(1.0)
    assert np.abs(a - b).max() < 0.02
    # shifting every pixel by a constant changes nothing at all
    assert np.allclose(normalize_ink(bright), normalize_ink(bright - 30), atol=1e-6)


@pytest.mark.parametrize(
    "h,w,width",
    [
        (80, 800, WIDTH),  # no scaling
        (40, 600, WIDTH),  # upscaled x2
        (120, 900, WIDTH),  # downscaled
        (100, 3000, WIDTH),  # squeezed to fit 2000
        (55, 777, None),  # true width, odd geometry
    ],
)
def test_a_bar_maps_to_the_step_that_sees_it(h, w, width):
    for left in (w // 7, w // 2, (5 * w) // 6):
        bar = max(4, w // 50)  # at least ~1.5 % of the pixels are ink
        prep = prepare_line(with_bar(h, w, left, bar), width=width)
        ink = ink_per_step(prep)
        inked = np.nonzero(ink > 0.5 * ink.max())[0]
        centre = left + bar / 2
        step_cols = STRIDE / prep.sx  # original columns per time step
        # every step that sees the bar maps back onto it (within one step's columns)
        mapped = prep.step_to_column(inked)
        assert np.all(mapped >= left - step_cols) and np.all(mapped <= left + bar + step_cols), (left, inked)
        # the ink-weighted mean of the mapped columns is the bar's centre (a mapping
        # off by half a step, e.g. to a step's left edge, misses by step_cols / 2)
        mean = float((prep.step_to_column(np.arange(len(ink))) * ink).sum() / ink.sum())
        assert abs(mean - centre) <= step_cols / 8, (left, mean)
        # and the bar's centre column maps forward to a step that sees it
        assert int(prep.column_to_step(centre)) in set(inked.tolist())
        lo, hi = prep.step_edges_to_columns(inked[0], inked[-1])
        assert lo <= left + step_cols and hi >= left + bar - step_cols


@pytest.mark.parametrize("h,w,width", [(80, 800, WIDTH), (40, 600, WIDTH), (120, 900, None), (100, 3000, WIDTH), (33, 1234, None)])
def test_step_column_round_trip(h, w, width):
    prep = prepare_line(with_bar(h, w, w // 2, 5), width=width)
    steps = np.arange(prep.content_steps - 1)  # the last step may hang over the image edge
    cols = prep.step_to_column(steps)
    assert np.all(np.diff(cols) > 0)
    assert np.array_equal(prep.column_to_step(cols), steps)
    # consecutive step spans tile the image: right edge of t == left edge of t+1
    lo, hi = prep.step_edges_to_columns(steps, steps)
    assert np.allclose(hi[:-1], lo[1:])
    assert lo[0] == 0.0
    assert np.all((lo <= cols) & (cols <= hi))
    assert np.allclose(hi - lo, STRIDE / prep.sx)
    # a span over several steps covers them all
    l2, h2 = prep.step_edges_to_columns(3, 9)
    assert l2 == pytest.approx(lo[3]) and h2 == pytest.approx(hi[9])


def test_mapping_is_clipped_to_the_image():
    prep = prepare_line(with_bar(80, 400, 100, 5))  # 100 content steps, 500 in the layout
    assert float(prep.step_to_column(499)) == 400.0
    _, hi = prep.step_edges_to_columns(0, 499)
    assert float(hi) == 400.0
    assert int(prep.column_to_step(-50)) == 0
    assert int(prep.column_to_step(10_000)) == prep.steps - 1


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError):
        prepare_line(np.zeros((10, 10, 3), np.uint8))
    with pytest.raises(ValueError):
        prepare_line(np.zeros((0, 10), np.uint8))
    with pytest.raises(ValueError):
        prepare_line(np.zeros((10, 0), np.uint8))


def test_prepare_batch_pads_to_the_widest():
    a, b = with_bar(80, 200, 50, 5), with_bar(80, 520, 400, 5)
    batch, preps = prepare_batch([a, b], width=None)
    assert batch.shape == (2, 520, 80)
    assert np.array_equal(batch[0, :200], preps[0].x)
    assert not batch[0, 200:].any()
    assert np.array_equal(batch[1], preps[1].x)


def test_sparse_ink_is_not_erased():
    # a single pen stroke ("1") on a 1200x150 drawing canvas: 0.13 % of the pixels
    g = page(150, 1200)
    g[45:105, 600:604] = 0
    prep = prepare_line(g)
    assert prep.x.max() == pytest.approx(1.0)


def test_real_iam_lines_map_ink_back_to_their_columns(iam_dir):
    """On every shared IAM line: a (2000, 80) input whose ink sits where the image's ink is."""
    from htr.images import load_image

    files = sorted((iam_dir / "lines").glob("*/*/*.png"))
    if not files:
        pytest.skip(f"no IAM line images under {iam_dir / 'lines'}")
    for f in files:
        gray = load_image(f)
        prep = prepare_line(gray)
        assert prep.x.shape == (2000, 80)
        content = prep.x[: prep.content]
        ink = float((content > 0.5).mean())
        assert 0.02 < ink < 0.4, (f.name, ink)  # handwriting on paper, not inverted
        assert float(np.median(content)) < 0.1, f.name  # paper is ~0
        # the same ink measure along the original columns and along the time steps:
        # each decile of the ink falls on the step that the column mapping names
        cols = np.cumsum(normalize_ink(gray).sum(axis=0))
        steps = np.cumsum(ink_per_step(prep))
        for q in (0.1, 0.25, 0.5, 0.75, 0.9):
            col = int(np.searchsorted(cols / cols[-1], q))
            step = int(np.searchsorted(steps / steps[-1], q))
            assert abs(int(prep.column_to_step(col)) - step) <= 1, (f.name, q)


# ---------------------------------------------------------------- framing


def test_ink_box_and_frame_give_even_margins():
    g = np.full((200, 900), 235, np.uint8)
    g[60:120, 100:700] = 20  # the writing
    assert ink_box(g) == (100, 60, 700, 120)
    framed, x0, y0 = frame_line(g)
    # 5 % of the ink height above and below, 10 % left and right
    assert framed.shape == (60 + 2 * 3, 600 + 2 * 6)
    assert (x0, y0) == (100 - 6, 60 - 3)
    assert frame_line(np.full((50, 50), 240, np.uint8))[1:] == (0, 0)  # blank: unchanged


def test_a_wide_margin_does_not_change_the_input():
    g = np.full((100, 700), 240, np.uint8)
    g[20:80, 50:650:7] = 10
    padded = np.pad(g, 64, constant_values=240)
    a, b = preprocess.prepare_line(g), preprocess.prepare_line(padded)
    assert a.content == b.content
    np.testing.assert_allclose(a.x, b.x, atol=1e-6)


@pytest.mark.parametrize("margin", [0, 40])
def test_framed_columns_map_back_to_the_original_image(margin):
    g = np.full((100, 1000), 240, np.uint8)
    g[30:70, 100:900] = 200  # faint body of the line
    g[25:75, 500:504] = 0  # a dark bar at column 500-503
    g = np.pad(g, margin, constant_values=240)
    prep = preprocess.prepare_line(g, width=None)
    bar_step = int(np.argmax(prep.x.sum(axis=1))) // STRIDE
    col = float(prep.step_to_column(bar_step))
    assert abs(col - (502 + margin)) <= STRIDE / prep.sx + 1
    assert int(prep.column_to_step(502 + margin)) == bar_step


def test_to_image_places_a_map_over_the_ink():
    g = np.full((120, 800), 240, np.uint8)
    g[40:80, 200:600] = 0
    prep = preprocess.prepare_line(g, width=None)
    out = prep.to_image(np.ones((HEIGHT, prep.content), np.float32))
    assert out.shape == g.shape
    assert out[60, 400] == pytest.approx(1.0)
    assert out[5, 400] == 0 and out[60, 50] == 0  # far margins stay empty


# ---------------------------------------------------------------- percentiles from level counts


def test_gray_percentile_equals_numpy_to_the_bit():
    """The histogram percentile must give np.percentile's value exactly: the model input depends on it."""
    rng = np.random.default_rng(0)
    images = [np.full((3, 4), 7, np.uint8), np.array([[0, 255]], np.uint8), np.array([[9]], np.uint8)]
    for k in range(60):
        h, w = int(rng.integers(1, 40)), int(rng.integers(1, 400))
        lo, hi = sorted(rng.integers(0, 257, 2))
        images.append(rng.integers(lo, max(hi, lo + 1), (h, w)).astype(np.uint8))
    images.append(with_bar(91, 1810, 300, 900, paper=246, ink=35))
    # few pixels of spread-out levels: neighbouring order statistics differ, so the interpolation shows
    images += [rng.integers(0, 256, (1, int(rng.integers(2, 13)))).astype(np.uint8) for _ in range(300)]
    qs = (0, 0.5, 1, 10, 33.3, 50, 90, 99.5, 100, *rng.uniform(0, 100, 20).tolist())
    for g in images:
        levels = preprocess.gray_levels(g)
        assert levels.sum() == g.size
        for q in qs:
            want32 = np.percentile(g.astype(np.float32), q)
            assert preprocess.gray_percentile(g, q) == want32, (g.shape, q)
            assert preprocess.gray_percentile(g, q, levels=levels) == want32
            assert preprocess.gray_percentile(g, q, np.float64) == np.percentile(g, q), (g.shape, q)
    # not 8-bit: numpy itself
    f = rng.random((20, 30)).astype(np.float32)
    assert preprocess.gray_percentile(f, 90) == float(np.percentile(f, 90))


def test_normalize_ink_of_a_crop_and_of_its_copy_agree():
    g = with_bar(90, 700, 100, 300, paper=240, ink=30)
    crop = g[10:80, 50:600]  # not contiguous
    np.testing.assert_array_equal(normalize_ink(crop), normalize_ink(np.ascontiguousarray(crop)))


# ---------------------------------------------------------------- deskew


def _text_line(text: str = "a leaning line of text, to be set level", size: int = 48) -> np.ndarray:
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=size)
    left, top, right, bottom = font.getbbox(text)
    img = Image.new("L", (right - left + 60, bottom - top + 40), 245)
    ImageDraw.Draw(img).text((30 - left, 20 - top), text, fill=15, font=font)
    return np.asarray(img)


@pytest.mark.parametrize("degrees", [-8, -3, 2, 5, 12])
def test_skew_angle_finds_how_far_a_line_was_turned(degrees):
    from htr.perturb import perturb

    line = _text_line()
    assert abs(preprocess.skew_angle(line)) <= 0.5
    assert preprocess.skew_angle(perturb(line, "rotate", degrees)) == pytest.approx(degrees, abs=0.75)


def test_deskew_leaves_level_lines_alone_and_turns_leaning_ones_back():
    from htr.perturb import perturb

    line = _text_line()
    same, angle = preprocess.deskew_line(line)
    assert same is line and angle == 0.0
    turned, angle = preprocess.deskew_line(perturb(line, "rotate", 6))
    assert angle == pytest.approx(6, abs=0.75)
    rows = np.nonzero((turned < 128).sum(axis=1))[0]
    level_rows = np.nonzero((line < 128).sum(axis=1))[0]
    assert rows[-1] - rows[0] <= (level_rows[-1] - level_rows[0]) * 1.3  # the ink band is flat again
    assert preprocess.deskew_line(np.full((40, 300), 255, np.uint8))[1] == 0.0  # nothing to go by


def test_a_deskewed_line_maps_back_onto_the_image_as_given():
    from htr.perturb import perturb

    tilted = perturb(_text_line(), "rotate", 7)
    prep = preprocess.prepare_line(tilted, width=None, deskew=True)  # framed, as the engine reads
    assert prep.angle == pytest.approx(7, abs=0.75) and prep.straight_shape != tilted.shape
    steps = np.arange(prep.content_steps - 1)
    cols = prep.step_to_column(steps)
    assert np.all(np.diff(cols) > 0)
    assert np.array_equal(prep.column_to_step(cols), steps)
    # each decile of the ink along the image's columns falls on the step the mapping names
    cols_ink = np.cumsum(normalize_ink(tilted).sum(axis=0))
    steps_ink = np.cumsum(ink_per_step(prep))
    for q in (0.1, 0.25, 0.5, 0.75, 0.9):
        col = int(np.searchsorted(cols_ink / cols_ink[-1], q))
        step = int(np.searchsorted(steps_ink / steps_ink[-1], q))
        assert abs(int(prep.column_to_step(col)) - step) <= 2, q
    # a map over the whole input lands on the tilted ink, not beside it
    cover = prep.to_image(np.ones((HEIGHT, prep.content), np.float32))
    assert cover.shape == tilted.shape
    ink = tilted < 100
    assert (cover[ink] > 0.5).mean() > 0.95
    assert cover[0, 0] == 0 and cover[-1, -1] == 0  # the corners a rising line leaves empty stay empty


def test_deskew_is_off_unless_asked():
    from htr.perturb import perturb

    tilted = perturb(_text_line(), "rotate", 7)
    assert prepare_line(tilted).angle == 0.0
    assert prepare_line(tilted, deskew=True).angle != 0.0


@pytest.mark.parametrize("shear", [-15, 10, 25])
def test_slant_angle_follows_a_known_shear(shear):
    from htr.perturb import perturb
    from htr.data.synth.render import specimen

    line, _ = specimen("upright letters with tall strokes: hill, bell, kit", "patrick-hand", seed=2, slant=0)
    base = preprocess.slant_angle(line)
    assert abs(base) <= 6  # a print hand drawn without slant stands about upright
    assert preprocess.slant_angle(perturb(line, "slant", shear)) - base == pytest.approx(shear, abs=2.5)
    assert preprocess.slant_angle(np.full((40, 300), 255, np.uint8)) == 0.0  # no ink: no slant


# ---------------------------------------------------------------- the fast paths agree with the plain ones


def _plain_normalize_ink(gray: np.ndarray) -> np.ndarray:
    """normalize_ink as it was written per pixel, before the 256-level table."""
    g = gray.astype(np.float32)
    paper = preprocess.gray_percentile(gray, 90)
    ink = preprocess.gray_percentile(gray, 0.5)
    if paper - ink < 16:
        ink = float(g.min())
    span = paper - ink
    if span < 16:
        return np.zeros_like(g)
    return np.clip((paper - g) / span, 0.0, 1.0)


def _plain_skew_angle(gray: np.ndarray, max_deg: float = preprocess.DESKEW_MAX_DEG) -> float:
    """skew_angle as it was written, one angle at a time (``max`` keeps the first best on a tie)."""
    import math

    pts = preprocess._ink_points(gray)
    if pts is None:
        return 0.0
    xs, ys = pts

    def score(a):
        t = math.radians(a)
        bins = np.rint(ys * math.cos(t) + xs * math.sin(t)).astype(np.int64)
        counts = np.bincount(bins - bins.min())
        return float(np.dot(counts, counts))

    best = max(np.arange(-max_deg, max_deg + 1e-9, 1.0), key=score)
    return round(float(max(np.arange(best - 1.0, best + 1.0 + 1e-9, 0.25), key=score)), 2)


def _gray_cases() -> list[np.ndarray]:
    from htr.perturb import perturb

    rng = np.random.default_rng(5)
    line = _text_line()
    return [line, perturb(line, "rotate", 7), perturb(line, "rotate", -2), line[::2, ::3],
            rng.integers(0, 256, (40, 300), dtype=np.uint8), with_bar(90, 700, 100, 300, paper=240, ink=30),
            page(30, 200, 200), with_bar(60, 400, 10, 2, paper=250, ink=235)]


def test_normalize_ink_and_ink_mask_equal_the_per_pixel_arithmetic():
    for g in _gray_cases():
        want = _plain_normalize_ink(g)
        got = normalize_ink(g)
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(preprocess.ink_mask(g), want > preprocess.INK_THRESHOLD)


def test_the_angle_search_finds_what_one_angle_at_a_time_finds(monkeypatch):
    cases = _gray_cases()
    want = [_plain_skew_angle(g) for g in cases]
    assert [preprocess.skew_angle(g) for g in cases] == want
    monkeypatch.setattr(preprocess, "_SEARCH_BLOCK", 1)  # one angle a block: the same answers
    assert [preprocess.skew_angle(g) for g in cases] == want


def test_deskew_settles_early_only_where_the_fine_steps_cannot_turn_the_line():
    cases = _gray_cases()
    for g in cases:
        plain = _plain_skew_angle(g)
        quick = preprocess.skew_angle(g, settle_below=preprocess.DESKEW_MIN_DEG)
        assert (abs(quick) >= preprocess.DESKEW_MIN_DEG) == (abs(plain) >= preprocess.DESKEW_MIN_DEG)
        if abs(plain) >= preprocess.DESKEW_MIN_DEG:
            assert quick == plain
        straight, angle = preprocess.deskew_line(g)
        assert angle == (plain if abs(plain) >= preprocess.DESKEW_MIN_DEG else 0.0)
