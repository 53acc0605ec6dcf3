"""Pen strokes: their geometry, and a renderer that makes them look like a scanned IAM line.

Strokes are a sequence of float (N, 2) arrays, x right and y down, in any unit
(:mod:`htr.data.unipen` gives millimetres). Two groups of functions:

* geometry, used by the UNIPEN reader to make every record one line of
  writing: :func:`letter_height` (a robust x-height), :func:`split_lines`
  (a segment written on several lines, found by its carriage returns),
  :func:`join_lines` (the lines laid side by side), :func:`close_gaps` (letters
  written in the boxes of a comb brought together);
* :func:`render_strokes`, drawn anew at every call from a random generator:
  IAM's letter height, slant, rotation, spacing, pen width varying with the
  writer and along the strokes, ink, blur, paper, noise, sometimes a ruled line.

Pure numpy and Pillow, fast enough for a data-loader worker (about 10 ms a line).
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import median

import numpy as np


def _as_strokes(strokes) -> list[np.ndarray]:
    """The strokes as float64 (N, 2) arrays, empty ones left out (raises ValueError)."""
    out = []
    for s in strokes:
        a = np.asarray(s, dtype=np.float64)
        if a.ndim != 2 or a.shape[1] != 2:
            raise ValueError(f"a stroke must be an (N, 2) array of x, y points (got shape {a.shape})")
        if len(a):
            out.append(a)
    return out


def _weighted_quantiles(values: np.ndarray, weights: np.ndarray, qs) -> np.ndarray:
    order = np.argsort(values)
    cw = np.cumsum(weights[order])
    return np.interp(np.asarray(qs) * cw[-1], cw, values[order])


def _ink_y(strokes: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """y of the ink spread evenly along the pen's track, and its weights (ValueError if none).

    Each piece of track gives its points at 1/4 and 3/4, half its length each,
    so a slow pen or a dense tablet does not count more.
    """
    if not strokes:
        raise ValueError("no strokes")
    pts = np.concatenate(strokes)
    if not np.isfinite(pts).all():
        raise ValueError("a stroke has a point that is not a finite number")
    d = np.diff(pts, axis=0)
    seg = np.hypot(d[:, 0], d[:, 1])
    seg[np.cumsum([len(s) for s in strokes[:-1]]).astype(int) - 1] = 0.0  # no track between strokes
    if seg.sum() <= 0:
        raise ValueError("the strokes have no extent (no stroke of two distinct points)")
    y = np.concatenate([pts[:-1, 1] + 0.25 * d[:, 1], pts[:-1, 1] + 0.75 * d[:, 1]])
    return y, np.concatenate([seg, seg])


def letter_height(strokes) -> float:
    """A robust x-height of one line of writing, in the strokes' unit.

    The inter-quartile range of the ink's y (spread evenly along the pen's
    track) divided by 0.6: in lowercase writing half of the ink lies in the
    middle 60 % of the x-height band, and capitals and digits give about the
    same. Raises ValueError for strokes without extent.
    """
    y, w = _ink_y(_as_strokes(strokes))
    q1, q3 = _weighted_quantiles(y, w, (0.25, 0.75))
    if q3 - q1 <= 0:
        raise ValueError("the strokes have no height")
    return float((q3 - q1) / 0.6)


def _extents(strokes: list[np.ndarray]) -> tuple[np.ndarray, ...]:
    """x min, x max, y min, y max of each stroke (one numpy call each, not one per stroke)."""
    pts = np.concatenate(strokes)
    at = np.cumsum([0] + [len(s) for s in strokes[:-1]])
    return (np.minimum.reduceat(pts[:, 0], at), np.maximum.reduceat(pts[:, 0], at),
            np.minimum.reduceat(pts[:, 1], at), np.maximum.reduceat(pts[:, 1], at))


def _letter_size(strokes: list[np.ndarray]) -> float:
    """Median over strokes of their own y inter-quartile range / 0.6: about an x-height.

    Unlike the letter height of all the ink, it does not grow when the strokes
    lie on several lines; unlike the strokes' heights, it does not grow when a
    whole cursive word is one stroke. Points count as sampled (rough, fast).
    """
    n = np.array([len(s) for s in strokes])
    keep = n >= 4
    if not keep.any():
        return _stroke_height(strokes)
    big = [s for s, k in zip(strokes, keep) if k]
    n = n[keep]
    sid = np.repeat(np.arange(len(big)), n)
    y = np.concatenate([s[:, 1] for s in big])
    y = y[np.lexsort((y, sid))]
    start = np.concatenate(([0], np.cumsum(n)[:-1]))
    iqr = y[start + (3 * (n - 1)) // 4] - y[start + (n - 1) // 4]
    size = float(np.median(iqr)) / 0.6
    return size if size > 0 else _stroke_height(strokes)


def _stroke_height(strokes: list[np.ndarray], hs: np.ndarray | None = None) -> float:
    """Median height of the strokes taller than a dot: a rough letter size for finding lines."""
    if hs is None:
        hs = np.array([np.ptp(s[:, 1]) for s in strokes])
    if not len(hs) or hs.max() <= 0:
        return 1.0
    return float(np.median(hs[hs > 0.2 * hs.max()]))


def split_lines(strokes, back: float = 3.0, down: float = 1.0) -> list[list[np.ndarray]]:
    """Cut strokes written on several lines into lines, in writing order. One line in, one out.

    A letter size ``h`` here is the larger of an x-height (:func:`_letter_size`)
    and half the strokes' median height. A stroke starts a new line when

    * a carriage return: the current line is wider than 1.5 h (2.5 h if it is
      one stroke: not a lone capital, whose bar and stem go left and down),
      the stroke begins more than ``back`` h (or 60 % of the line's width, for
      a column of short words) left of the line's rightmost ink, its middle and
      the next stroke's lie more than ``down`` h below the line's middle (a late
      i-dot or t-bar goes back left but not down, a descender goes down but
      not far back, the foot of a capital I is followed by a stroke back up),
      and its top lies below the line's 90th percentile plus 0.3 h; or
    * a new column: it starts right of the line's ink and, with the next
      stroke, lies 1.5 h above the line's middle (a list in two columns).

    A line whose ink's median lies within the previous line's height (its
    98th percentile) is put back into it.
    """
    strokes = _as_strokes(strokes)
    if not strokes:
        return []
    x0, x1, y0, y1 = _extents(strokes)
    h = max(_letter_size(strokes), 0.5 * _stroke_height(strokes, y1 - y0))
    mid = (0.5 * (y0 + y1)).tolist()
    x0, x1, y0 = x0.tolist(), x1.tolist(), y0.tolist()
    start = [float(s[0, 0]) for s in strokes]
    lines = [[0]]
    left, right, mids = x0[0], x1[0], [mid[0]]
    for i in range(1, len(strokes)):
        returned = (right - left > (1.5 if len(lines[-1]) > 1 else 2.5) * h
                    and start[i] < right - min(back * h, 0.6 * (right - left))
                    and min(mid[i:i + 2]) > median(mids) + down * h
                    and y0[i] > np.percentile(np.concatenate([strokes[j][:, 1] for j in lines[-1]]), 90) + 0.3 * h)
        column = not returned and x0[i] > right and max(mid[i:i + 2]) < median(mids) - 1.5 * h
        if returned or column:
            lines.append([i])
            left, right, mids = x0[i], x1[i], [mid[i]]
        else:
            lines[-1].append(i)
            left, right = min(left, x0[i]), max(right, x1[i])
            mids.append(mid[i])
    merged = [[strokes[i] for i in lines[0]]]
    for line in lines[1:]:
        line = [strokes[i] for i in line]
        prev = np.concatenate(merged[-1])[:, 1]
        if np.median(np.concatenate(line)[:, 1]) <= np.percentile(prev, 98):
            merged[-1] = merged[-1] + line
        else:
            merged.append(line)
    return merged


def vertical_gap(strokes) -> float:
    """The tallest band without ink between pieces of writing, in stroke heights.

    Near 0 on one line of writing (an i-dot leaves a small one); above 1 where
    ink lies on two lines that :func:`split_lines` could not tell apart.
    """
    strokes = _as_strokes(strokes)
    _, _, y0, y1 = _extents(strokes)
    order = np.argsort(y0)
    top, gap = y1[order[0]], 0.0
    for i in order[1:]:
        gap = max(gap, y0[i] - top)
        top = max(top, y1[i])
    return float(gap / _stroke_height(strokes, y1 - y0)) if gap > 0 else 0.0


def join_lines(lines, gap: float = 1.0) -> list[np.ndarray]:
    """Lay lines of strokes side by side, in order, as one line.

    Each line is moved so that its left edge is ``gap`` letter heights right of
    the previous line's right edge and the 75th percentile of its ink's height
    (near the baseline, less swayed by capitals than the median) matches the
    first line's. Returns the strokes, in writing order.
    """
    out: list[np.ndarray] = []
    x_end = None
    y_ref = None
    for line in lines:
        line = _as_strokes(line)
        if not line:
            continue
        pts = np.concatenate(line)
        try:
            h = letter_height(line)
            y_base = float(_weighted_quantiles(*_ink_y(line), (0.75,))[0])  # near the baseline
        except ValueError:
            h, y_base = _stroke_height(line), float(np.median(pts[:, 1]))
        if x_end is None:
            dx, dy = 0.0, 0.0
            y_ref = y_base
        else:
            dx = x_end + gap * h - pts[:, 0].min()
            dy = y_ref - y_base
        moved = [s + (dx, dy) for s in line]
        out += moved
        x_end = max(s[:, 0].max() for s in moved)
    return out


def close_gaps(strokes, n_spaces: int, letter_gap: float = 0.25, word_gap: float = 1.0) -> list[np.ndarray]:
    """Bring together letters written in separate boxes (a comb), keeping word spaces.

    Strokes are grouped into letters by overlapping x ranges; the gaps between
    letters become ``letter_gap`` letter heights, except the ``n_spaces`` widest,
    which become ``word_gap`` (the text's spaces). Writing order is kept.
    """
    strokes = _as_strokes(strokes)
    if len(strokes) < 2:
        return strokes
    h = _stroke_height(strokes)
    lo = np.array([s[:, 0].min() for s in strokes])
    hi = np.array([s[:, 0].max() for s in strokes])
    order = np.argsort(lo)
    groups = []  # [x0, x1] of each letter, left to right
    for i in order:
        if groups and lo[i] <= groups[-1][1] + 0.05 * h:
            groups[-1][1] = max(groups[-1][1], hi[i])
        else:
            groups.append([lo[i], hi[i]])
    if len(groups) < 2:
        return strokes
    gaps = np.array([b[0] - a[1] for a, b in zip(groups, groups[1:])])
    new = np.full(len(gaps), letter_gap * h)
    if n_spaces > 0:
        new[np.argsort(-gaps)[:n_spaces]] = word_gap * h
    shift = np.concatenate(([0.0], np.cumsum(new - gaps)))
    starts = np.array([g[0] for g in groups])
    which = np.searchsorted(starts, lo, side="right") - 1
    return [s + (shift[k], 0.0) for s, k in zip(strokes, which)]


@dataclass(frozen=True)
class RenderStyle:
    """Ranges that :func:`render_strokes` draws from; the defaults aim at IAM line crops (300 dpi)."""

    x_height: tuple[float, float] = (24.0, 36.0)     # pixels (IAM: about 25-35)
    stretch: tuple[float, float] = (0.85, 1.25)      # horizontal spacing, times the writer's own
    slant_deg: tuple[float, float] = (-10.0, 18.0)   # added to the writer's own slant (positive leans right)
    rotate_deg: float = 1.5                          # sigma of a small rotation (clipped at 2 sigma)
    pen: tuple[float, float] = (0.07, 0.17)          # pen width, in x-heights (a writer's pen)
    pressure: tuple[float, float] = (0.0, 0.5)       # how much a slow pen thickens the stroke
    wobble: float = 0.15                             # smooth random width change along the line
    ink: tuple[float, float] = (0.0, 110.0)          # ink gray (0 = black), drawn towards dark
    paper: tuple[float, float] = (222.0, 254.0)      # paper gray, drawn towards light
    blur: tuple[float, float] = (0.0, 0.8)           # gaussian blur radius, pixels
    noise: tuple[float, float] = (0.5, 5.0)          # scanner noise sigma, gray levels
    ruled_p: float = 0.12                            # chance of a faint ruled line under the writing
    margin: tuple[int, int] = (1, 14)                # pixels of paper around the ink, each side (IAM crops are tight)


DEFAULT_STYLE = RenderStyle()
_SUPERSAMPLE = 2
_PIECE = 8  # points drawn at one pen width
#: Output images larger than this are refused (strokes far apart, or a wrong unit).
MAX_PIXELS = 6_000_000


def _pen_widths(pts: np.ndarray, lens: list[int], base: float, pressure: float, wobble: float,
                rng: np.random.Generator) -> np.ndarray:
    """Pen width at every point: the writer's pen, thicker where the pen moves slowly, a slow wobble."""
    step = np.zeros(len(pts))
    d = np.hypot(*np.diff(pts, axis=0).T)
    d[np.cumsum(lens[:-1]).astype(int) - 1] = np.nan  # no speed across a pen lift
    step[1:] = d
    step[0] = np.nan
    med = np.nanmedian(step) if np.isfinite(step).any() else 1.0
    speed = np.where(np.isfinite(step), step, med) / max(med, 1e-9)
    slow = np.clip(1.0 - speed, -1.0, 1.0)  # > 0 where slower than usual
    width = base * (1.0 + pressure * slow)
    # wobble: two slow sines along the writing (x), random phase and wavelength
    x = pts[:, 0]
    for _ in range(2):
        lam = rng.uniform(60.0, 400.0)
        width *= 1.0 + wobble * 0.5 * np.sin(2 * np.pi * x / lam + rng.uniform(0, 2 * np.pi))
    return np.maximum(width, 0.6 * _SUPERSAMPLE)


def _smooth(p: np.ndarray, lens: list[int]) -> tuple[np.ndarray, list[int]]:
    """One pass of Chaikin's corner cutting on every stroke (end points kept)."""
    out, new_lens, start = [], [], 0
    for n in lens:
        s = p[start:start + n]
        start += n
        if n < 3:
            out.append(s)
            new_lens.append(n)
            continue
        q = np.empty((2 * (n - 1), 2))
        q[0::2] = 0.75 * s[:-1] + 0.25 * s[1:]
        q[1::2] = 0.25 * s[:-1] + 0.75 * s[1:]
        q[0], q[-1] = s[0], s[-1]
        out.append(q)
        new_lens.append(len(q))
    return np.concatenate(out), new_lens


def render_strokes(strokes, rng: np.random.Generator, style: RenderStyle | None = None) -> np.ndarray:
    """Pen strokes drawn as ink on a scanned page: uint8 gray (H, W), ink dark on light paper.

    ``strokes``: (N, 2) arrays, x right and y down, any unit (the letter height
    is measured, :func:`letter_height`). Every call draws a new look from
    ``rng``: IAM's x-height, extra slant and a small rotation, horizontal
    stretch, a pen width of its own varying along the strokes (slower: wider),
    ink and paper gray, blur, scanner noise, sometimes a faint ruled line. The
    crop has a margin of paper around the ink, like an IAM line crop.

    Raises ValueError for no strokes, a single point, or strokes without height.
    """
    from PIL import Image, ImageDraw, ImageFilter

    st = style or DEFAULT_STYLE
    strokes = _as_strokes(strokes)
    if not strokes:
        raise ValueError("nothing to draw: no strokes (or only empty ones)")
    pts = np.concatenate(strokes)
    if not np.isfinite(pts).all():
        raise ValueError("a stroke has a point that is not a finite number")
    if np.ptp(pts[:, 0]) == 0 and np.ptp(pts[:, 1]) == 0:
        raise ValueError("nothing to draw: the strokes are a single point")
    lens = [len(s) for s in strokes]
    try:
        xh = letter_height(strokes)
    except ValueError as exc:
        raise ValueError(f"cannot size the strokes: {exc}") from None

    # geometry: scale to the x-height, stretch, slant (shear about the middle), rotate
    scale = rng.uniform(*st.x_height) / xh
    sx = rng.uniform(*st.stretch)
    shear = np.tan(np.radians(rng.uniform(*st.slant_deg)))
    rot = np.radians(np.clip(rng.normal(0, st.rotate_deg), -2 * st.rotate_deg, 2 * st.rotate_deg))
    c, s = np.cos(rot), np.sin(rot)
    m = np.array([[c, -s], [s, c]]) @ np.array([[1.0, -shear], [0.0, 1.0]]) @ np.diag([scale * sx, scale])
    p = (pts - np.median(pts, axis=0)) @ m.T

    xh_px = xh * scale
    if len(p) > 2 and np.median(np.hypot(*np.diff(p, axis=0).T)) > 0.08 * xh_px:
        p, lens = _smooth(p, lens)  # coarse tablets (145 ppi): corners cut, no jagged polygons
    pen = rng.uniform(*st.pen) * xh_px
    widths = _pen_widths(p * _SUPERSAMPLE, lens, pen * _SUPERSAMPLE, rng.uniform(*st.pressure), st.wobble, rng)

    margin = rng.integers(st.margin[0], st.margin[1] + 1, size=4)  # left, top, right, bottom
    lo = p.min(axis=0) - pen
    hi = p.max(axis=0) + pen
    w = int(np.ceil(hi[0] - lo[0])) + margin[0] + margin[2]
    h = int(np.ceil(hi[1] - lo[1])) + margin[1] + margin[3]
    if w * h > MAX_PIXELS:
        raise ValueError(f"the strokes would make a {w} x {h} image (more than {MAX_PIXELS} pixels): "
                         "are they one line of writing?")
    q = (p - lo + (margin[0], margin[1])) * _SUPERSAMPLE

    cov = Image.new("L", (w * _SUPERSAMPLE, h * _SUPERSAMPLE), 0)
    draw = ImageDraw.Draw(cov)
    start = 0
    for n in lens:
        seg, wd = q[start:start + n], widths[start:start + n]
        start += n
        r = wd[0] / 2
        draw.ellipse([seg[0, 0] - r, seg[0, 1] - r, seg[0, 0] + r, seg[0, 1] + r], fill=255)
        if n == 1:
            continue
        r = wd[-1] / 2
        draw.ellipse([seg[-1, 0] - r, seg[-1, 1] - r, seg[-1, 0] + r, seg[-1, 1] + r], fill=255)
        # pieces of constant width sharing their end points; a round dot where two meet
        # (Pillow's own round joints cost a Python call per point)
        for a in range(0, n - 1, _PIECE):
            piece = seg[a:a + _PIECE + 1]
            wa = max(1, int(round(wd[a:a + _PIECE + 1].mean())))
            draw.line(piece.ravel().tolist(), fill=255, width=wa)
            if a:
                r = wa / 2
                draw.ellipse([piece[0, 0] - r, piece[0, 1] - r, piece[0, 0] + r, piece[0, 1] + r], fill=255)
    cov = cov.resize((w, h), Image.Resampling.BOX)
    blur = rng.uniform(*st.blur)
    if blur > 0.25:
        cov = cov.filter(ImageFilter.GaussianBlur(blur))
    return _on_paper(np.asarray(cov, dtype=np.float32) / 255.0, p - lo + (margin[0], margin[1]), xh_px, rng, st)


def _on_paper(cov: np.ndarray, pts: np.ndarray, xh_px: float, rng: np.random.Generator,
              st: RenderStyle) -> np.ndarray:
    """Compose ink coverage (0..1) on paper: paper gray with slow gradients, uneven ink, ruled line, noise."""
    h, w = cov.shape
    lo_p, hi_p = st.paper
    base = hi_p - (hi_p - lo_p) * rng.random() ** 2
    xs = np.arange(w, dtype=np.float32)
    paper = (base + np.interp(xs, np.linspace(0, w, 5), rng.normal(0, rng.uniform(0, 4), 5))[None, :]
             + np.linspace(0, rng.normal(0, 3), h, dtype=np.float32)[:, None])
    if rng.random() < st.ruled_p:
        # a faint printed rule a little under the writing's baseline (the 80th percentile of its y)
        y_rule = np.percentile(pts[:, 1], 80) + rng.uniform(0.1, 0.6) * xh_px
        tilt = rng.normal(0, 0.004)
        dist = np.abs(np.arange(h, dtype=np.float32)[:, None] - (y_rule + tilt * (xs[None, :] - w / 2)))
        thick = rng.uniform(0.6, 1.6)
        paper = paper - rng.uniform(15, 60) * np.clip(thick - dist + 0.5, 0, 1)
    lo_i, hi_i = st.ink
    ink_level = lo_i + (hi_i - lo_i) * rng.random() ** 2
    ink = np.interp(xs, np.linspace(0, w, 7), ink_level + rng.normal(0, 12, 7))[None, :]
    out = paper + (ink - paper) * cov
    out += rng.standard_normal((h, w), dtype=np.float32) * rng.uniform(*st.noise)
    return np.clip(out, 0, 255).astype(np.uint8)
