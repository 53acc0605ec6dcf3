"""Easter2 preprocessing: a gray line image to the model's (width, 80) input.

As in Easter2: scale the line to height 80 keeping its aspect ratio, squeeze it
horizontally only where it would be wider than the layout, invert (ink = 1,
paper = 0) and normalise, then transpose so the 80 rows become channels over
the width. Zero columns on the right are blank paper, so a line can be padded
to the fixed 2000-column layout or run at its true width.

:class:`Prepared` keeps what is needed to map a model time step back to a
column of the original image, so visualisations can place characters there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

#: Height of the model input (rows become the 80 input channels).
HEIGHT = 80
#: Width of Easter2's fixed input layout.
WIDTH = 2000
#: Input columns per output time step (two stride-2 convolutions).
STRIDE = 4


@dataclass(frozen=True)
class Prepared:
    """A line ready for the model, with the geometry to undo it.

    ``x`` has shape (width, 80), float32, ink 1 and paper 0. Columns
    ``[0, content)`` hold the scaled line; the rest is padding.
    ``sx`` is input columns per original column (``sy`` likewise for rows).
    """

    x: np.ndarray
    content: int
    sx: float
    sy: float
    orig_shape: tuple[int, int]
    #: Where the framed line's top-left corner lies in the original image
    #: (negative where a margin was added beyond the image's edge); with
    #: ``angle``, in the straightened image instead.
    x_off: float = 0.0
    y_off: float = 0.0
    #: Degrees the line was turned back by (:func:`deskew_line`; 0: not at all),
    #: and the shape of the straightened image the offsets refer to.
    angle: float = 0.0
    straight_shape: tuple[int, int] | None = None

    @property
    def width(self) -> int:
        return int(self.x.shape[0])

    @property
    def steps(self) -> int:
        """Number of model time steps for this input."""
        return -(-self.width // STRIDE)

    @property
    def content_steps(self) -> int:
        """Time steps that cover the line itself (not the padding)."""
        return -(-self.content // STRIDE)

    def _rotation(self) -> tuple[float, float, float, float, float, float]:
        """(cos, sin, centre column of the original, centre column and row of the straightened image,
        the line's middle row in it)."""
        sh, sw = self.straight_shape or self.orig_shape
        t = math.radians(self.angle)
        mid = self.y_off + HEIGHT / self.sy / 2
        return math.cos(t), math.sin(t), self.orig_shape[1] / 2, sw / 2, sh / 2, mid

    def _to_original_x(self, u: np.ndarray) -> np.ndarray:
        """Column ``u`` of the straightened image, on the line's middle row, as a column of the original."""
        if not self.angle:
            return u
        c, s, cx, cu, cv, mid = self._rotation()
        return cx + (u - cu) * c + (mid - cv) * s

    def _from_original_x(self, x: np.ndarray) -> np.ndarray:
        if not self.angle:
            return x
        c, s, cx, cu, cv, mid = self._rotation()
        return cu + (x - cx - (mid - cv) * s) / c

    def step_to_column(self, t) -> np.ndarray:
        """Original-image column at the centre of time step(s) ``t``."""
        t = np.asarray(t, dtype=np.float64)
        return np.clip(self._to_original_x(self.x_off + (t * STRIDE + STRIDE / 2) / self.sx), 0, self.orig_shape[1])

    def step_edges_to_columns(self, start, end) -> tuple[np.ndarray, np.ndarray]:
        """Original-image column span [left, right) of time steps start..end (inclusive)."""
        start = np.asarray(start, dtype=np.float64)
        end = np.asarray(end, dtype=np.float64)
        left = np.clip(self._to_original_x(self.x_off + start * STRIDE / self.sx), 0, self.orig_shape[1])
        right = np.clip(self._to_original_x(self.x_off + (end + 1) * STRIDE / self.sx), 0, self.orig_shape[1])
        return left, right

    def column_to_step(self, col) -> np.ndarray:
        """Time step that sees original column(s) ``col``."""
        col = self._from_original_x(np.asarray(col, dtype=np.float64))
        return np.clip(np.floor((col - self.x_off) * self.sx / STRIDE), 0, self.steps - 1).astype(int)

    def to_image(self, values: np.ndarray) -> np.ndarray:
        """Place a map over the input's content, shape (80, content), on the original image (H, W).

        Used to draw e.g. a saliency map over the line as the user gave it.
        """
        h, w = self.straight_shape or self.orig_shape
        fw = max(1, int(round(self.content / self.sx)))
        fh = max(1, int(round(HEIGHT / self.sy)))
        img = Image.fromarray(np.asarray(values, np.float32), mode="F").resize((fw, fh), Image.Resampling.BILINEAR)
        framed = np.asarray(img)
        out = np.zeros((h, w), np.float32)
        x0, y0 = int(round(self.x_off)), int(round(self.y_off))
        sx0, sy0 = max(0, -x0), max(0, -y0)
        dx0, dy0 = max(0, x0), max(0, y0)
        cw, ch = min(fw - sx0, w - dx0), min(fh - sy0, h - dy0)
        if cw > 0 and ch > 0:
            out[dy0 : dy0 + ch, dx0 : dx0 + cw] = framed[sy0 : sy0 + ch, sx0 : sx0 + cw]
        if self.angle:  # turn the map with the line, back onto the original's pixels
            turned = np.asarray(Image.fromarray(out, mode="F").rotate(self.angle, Image.Resampling.BILINEAR,
                                                                      expand=True))
            oh, ow = self.orig_shape
            top, left = (turned.shape[0] - oh) // 2, (turned.shape[1] - ow) // 2
            out = np.zeros((oh, ow), np.float32)
            src = turned[max(0, top): max(0, top) + oh, max(0, left): max(0, left) + ow]
            out[: src.shape[0], : src.shape[1]] = src
        return out

    def image(self) -> np.ndarray:
        """The model input back as an 8-bit image (80, width), ink dark."""
        return (255 - np.clip(self.x.T * 255, 0, 255)).astype(np.uint8)


def gray_levels(gray: np.ndarray) -> np.ndarray:
    """How many pixels of an 8-bit gray image have each of the 256 levels."""
    return np.asarray(Image.fromarray(np.ascontiguousarray(gray, np.uint8)).histogram())


def gray_percentile(gray: np.ndarray, q: float, dtype=np.float32, levels=None) -> float:
    """``float(np.percentile(gray.astype(dtype), q))``, for an 8-bit image from its level counts.

    Counting 256 levels costs a fraction of numpy's partial sort of every pixel
    (that ran five times per line and was most of the preprocessing time). The
    two order statistics around the q-th percentile are read off the cumulative
    counts and interpolated as numpy's default "linear" method does, in
    ``dtype``, so the result is the same to the bit (``q`` a Python number:
    numpy's arithmetic depends on its type). ``levels``: the counts of
    :func:`gray_levels`, when already known. Images that are not 8-bit go
    through ``np.percentile``.
    """
    if gray.dtype != np.uint8:
        return float(np.percentile(gray.astype(dtype), q))
    cum = np.cumsum(gray_levels(gray) if levels is None else levels)
    n = int(cum[-1])

    def order_stat(k: int):  # the k-th smallest pixel (0-based)
        return dtype(np.searchsorted(cum, k, side="right"))

    v = (n - 1) * (q / 100)
    if v >= n - 1:
        return float(order_stat(n - 1))
    i = int(np.floor(v))
    t = v - i
    a, b = order_stat(i), order_stat(i + 1)
    d = b - a
    return float(b - d * dtype(1 - t) if t >= 0.5 else a + d * dtype(t))  # numpy's _lerp


def _ink_lut(gray: np.ndarray, levels=None) -> np.ndarray | None:
    """:func:`normalize_ink`'s map from each of the 256 gray levels to float32 ink, for an 8-bit image;
    None where the image has no ink to find (blank or nearly uniform)."""
    if levels is None:
        levels = gray_levels(gray)
    paper = gray_percentile(gray, 90, levels=levels)
    ink = gray_percentile(gray, 0.5, levels=levels)
    if paper - ink < 16:  # very little ink (a single stroke): use the darkest pixel
        ink = float(np.flatnonzero(levels)[0])
    span = paper - ink
    if span < 16:
        return None
    # the same float32 arithmetic as on the image's pixels, once per level instead of per pixel
    return np.clip((paper - np.arange(256, dtype=np.float32)) / span, 0.0, 1.0)


def normalize_ink(gray: np.ndarray, levels=None) -> np.ndarray:
    """Map an 8-bit gray line to float ink in [0, 1]: paper 0, darkest ink 1.

    Paper brightness and ink darkness differ between scans, pens and our
    synthetic renders; stretching between a high percentile (paper) and a low
    one (ink) makes them look alike to the model. ``levels``: the image's
    :func:`gray_levels`, when already known. An 8-bit image is mapped through
    a 256-entry table (the values are those of the per-pixel arithmetic, to
    the bit, at a fraction of its passes over the pixels).
    """
    if gray.dtype == np.uint8 and gray.size:
        lut = _ink_lut(gray, levels)
        return np.zeros(gray.shape, np.float32) if lut is None else lut[gray]
    g = gray.astype(np.float32)
    paper = gray_percentile(gray, 90, levels=levels)
    ink = gray_percentile(gray, 0.5, levels=levels)
    if paper - ink < 16:  # very little ink (a single stroke): use the darkest pixel
        ink = float(g.min())
    span = paper - ink
    if span < 16:  # blank or nearly uniform: no ink to find
        return np.zeros_like(g)
    return np.clip((paper - g) / span, 0.0, 1.0)


#: Where :func:`normalize_ink` is above this, a pixel is ink (framing, the lean check).
INK_THRESHOLD = 0.35


def ink_mask(gray: np.ndarray, levels=None) -> np.ndarray:
    """``normalize_ink(gray, levels) > INK_THRESHOLD``; for an 8-bit image through a 256-entry table."""
    if gray.dtype == np.uint8 and gray.size:
        lut = _ink_lut(gray, levels)
        if lut is None:
            return np.zeros(gray.shape, bool)
        # the table falls with the level (float rounding keeps it monotone): ink is every level below
        # the first that is not, so one comparison of the 8-bit pixels does what the table would
        darkest_paper = int(np.count_nonzero(lut > INK_THRESHOLD))
        return gray < darkest_paper if darkest_paper < 256 else np.ones(gray.shape, bool)
    return normalize_ink(gray, levels) > INK_THRESHOLD


#: Margins around the ink after framing, as fractions of the ink's height
#: (about what the synthetic training lines and IAM's crops have).
FRAME_V, FRAME_H = 0.05, 0.1


def ink_box(gray: np.ndarray, levels=None) -> tuple[int, int, int, int] | None:
    """(left, top, right, bottom) of the ink, or None for a blank image.

    A row counts when at least 0.2 % of its pixels are ink, so scanner specks in
    a margin don't hold the box open; any inked column counts.
    """
    ink = ink_mask(gray, levels)
    rows = np.nonzero(np.count_nonzero(ink, axis=1) >= max(1, int(0.002 * gray.shape[1])))[0]
    cols = np.nonzero(ink.any(axis=0))[0]
    if len(rows) == 0 or len(cols) == 0:
        return None
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def frame_line(gray: np.ndarray) -> tuple[np.ndarray, int, int]:
    """Crop a line to its ink and give it even paper margins.

    Uploads and photos come with any amount of white around the writing, and
    at height 80 a wide margin shrinks the letters the model reads (a 32-pixel
    border cost 6 CER points on the real IAM lines). Returns the framed image
    and where its top-left corner lies in ``gray`` (negative: margin added).
    """
    levels = gray_levels(gray) if gray.dtype == np.uint8 else None
    box = ink_box(gray, levels)
    if box is None:
        return gray, 0, 0
    x0, y0, x1, y1 = box
    ih = y1 - y0
    py, px = int(round(FRAME_V * ih)), int(round(FRAME_H * ih))
    paper = int(gray_percentile(gray, 90, np.float64, levels))  # as np.percentile of the 8-bit image
    framed = np.pad(gray[y0:y1, x0:x1], ((py, py), (px, px)), constant_values=paper)
    return framed, x0 - px, y0 - py


#: Lines leaning less than this many degrees are read as they are (IAM's lean at most 0.5°).
DESKEW_MIN_DEG = 1.0
#: The steepest lean :func:`skew_angle` looks for, either way.
DESKEW_MAX_DEG = 15.0


def _sharpness(u: np.ndarray, v: np.ndarray, a, b) -> np.ndarray:
    """How much ink piles up at the same (rounded) positions ``u·a + v·b``: the sum of squared counts,
    for each pair of coefficients (one pair per angle tried; all counted by one ``bincount``)."""
    a = np.asarray(a, np.float64)[:, None]
    b = np.asarray(b, np.float64)[:, None]
    pos = u * a
    pos += v * b
    np.rint(pos, out=pos)
    bins = pos.astype(np.int64)
    # |u·a + v·b| <= |a|·max|u| + |b|·max|v|: an offset that keeps every row's bins >= 0
    reach = int(math.ceil(float(np.max(np.abs(a) * np.abs(u).max() + np.abs(b) * np.abs(v).max())))) + 1
    span = 2 * reach + 1
    bins += (np.arange(len(a), dtype=np.int64) * span + reach)[:, None]  # each row its own range of bins
    counts = np.bincount(bins.ravel(), minlength=len(a) * span).reshape(len(a), span)
    return np.einsum("ij,ij->i", counts, counts)


#: At most this many (angle, ink pixel) positions are scored at once by the angle search (a block
#: that stays in cache: one large block is no faster than one angle at a time).
_SEARCH_BLOCK = 1 << 15


def skew_angle(gray: np.ndarray, max_deg: float = DESKEW_MAX_DEG, settle_below: float = 0.0) -> float:
    """How many degrees a line of text rises to the right (counter-clockwise, as Pillow turns images).

    Projection-profile method: the ink of a straight line piles into few rows,
    so the angle whose row profile is sharpest (largest sum of squared counts)
    wins; 1° steps over ±``max_deg``, then 0.25° steps around the best. Run
    on the line scaled to 48 rows, with each ink pixel jittered within its
    pixel so that 0° gets no advantage from the pixel grid. About 2 ms a line.
    Returns 0.0 where there is too little ink to tell. ``settle_below``: a caller
    that only acts on angles at least this large gets the coarse angle where the
    fine steps cannot reach that size (:func:`_sharpest`), without taking them.
    """
    pts = _ink_points(gray)
    if pts is None:
        return 0.0
    xs, ys = pts

    def rows(angles) -> np.ndarray:  # how sharp the ink's rows are once the line is turned by each angle
        t = [math.radians(a) for a in angles]
        return _sharpness(ys, xs, [math.cos(a) for a in t], [math.sin(a) for a in t])

    return round(_sharpest(rows, len(xs), -max_deg, max_deg, 1.0, 0.25, settle_below), 2)


def _ink_points(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Ink pixel coordinates of the line scaled to 48 rows, centred and jittered within their pixels
    (so that no angle gets help from the pixel grid); None where there is too little ink."""
    h, w = gray.shape
    scale = 48 / h
    small = np.asarray(Image.fromarray(gray).resize((max(1, int(round(w * scale))), 48), Image.Resampling.BILINEAR))
    ys, xs = np.nonzero(ink_mask(small, gray_levels(small)))
    if len(xs) < 30:
        return None
    jitter = np.random.default_rng(0)
    return (xs - xs.mean() + jitter.uniform(-0.5, 0.5, len(xs)),
            ys - ys.mean() + jitter.uniform(-0.5, 0.5, len(ys)))


def _sharpest(sharpness, n: int, lo: float, hi: float, coarse: float, fine: float,
              settle_below: float = 0.0) -> float:
    """The angle whose ink profile is sharpest (``sharpness``: angles → their scores, over ``n`` ink pixels):
    ``coarse`` steps over [lo, hi], then ``fine`` steps around the best; the first on a tie.

    Each angle is scored once (the fine steps reuse the coarse scores they share), many angles a call.

    The fine answer lies strictly within one coarse step of the coarse best ``b``: ``b - coarse``
    scored below ``b`` (``b`` is the first best) and ``b + coarse`` no higher, after ``b`` in the
    fine steps. So where ``|b| + coarse <= settle_below`` the answer is smaller than
    ``settle_below`` whatever the fine steps find, and ``b`` is returned without taking them.
    """
    scores: dict[float, int] = {}
    block = max(1, _SEARCH_BLOCK // max(1, n))

    def best_of(angles: np.ndarray) -> float:
        todo = [a for a in angles if float(a) not in scores]
        for k in range(0, len(todo), block):
            chunk = todo[k : k + block]
            for a, v in zip(chunk, sharpness(chunk)):
                scores[float(a)] = int(v)
        return angles[int(np.argmax([scores[float(a)] for a in angles]))]

    best = best_of(np.arange(lo, hi + 1e-9, coarse))
    if abs(best) + coarse <= settle_below:
        return float(best)
    return float(best_of(np.arange(best - coarse, best + coarse + 1e-9, fine)))


def slant_angle(gray: np.ndarray, max_deg: float = 45.0) -> float:
    """How many degrees the writing's upright strokes lean to the right (negative: a backhand).

    The same projection idea as :func:`skew_angle`, on columns: shearing the
    ink by the right angle stands the strokes upright, so the column profile
    is sharpest (2.5° then 0.5° steps over ±``max_deg``). A measure for people
    and benchmarks (``benchmarks/slant.py``); reading does not use it.
    """
    pts = _ink_points(gray)
    if pts is None:
        return 0.0
    xs, ys = pts

    def columns(angles) -> np.ndarray:  # how sharp the ink's columns are, the strokes sheared upright by each
        return _sharpness(xs, ys, [1.0] * len(angles), [math.tan(math.radians(a)) for a in angles])

    return round(_sharpest(columns, len(xs), -max_deg, max_deg, 2.5, 0.5), 2)


def deskew_line(gray: np.ndarray, min_deg: float = DESKEW_MIN_DEG) -> tuple[np.ndarray, float]:
    """The line turned level, and the angle it was turned back by (0.0 and the image itself below ``min_deg``).

    Easter2 reads the 80 rows of a line as channels: a line that climbs across
    them (a photo taken askew) is a different input, and its CER grows fast
    with the angle (``benchmarks/robustness.md``). The canvas grows to keep
    every pixel; what it uncovers is paper.
    """
    angle = skew_angle(gray, settle_below=min_deg)  # an angle below min_deg: no need to know it finely
    if abs(angle) < min_deg:
        return gray, 0.0
    paper = int(gray_percentile(gray, 90, np.float64))
    turned = Image.fromarray(gray).rotate(-angle, Image.Resampling.BILINEAR, expand=True, fillcolor=paper)
    return np.asarray(turned), angle


def prepare_line(gray: np.ndarray, width: int | None = WIDTH, frame: bool = True,
                 deskew: bool = False) -> Prepared:
    """Turn a gray line image (H, W) uint8, ink dark, into the model input.

    ``width=2000`` (default) pads to Easter2's fixed layout, squeezing lines
    that would be wider; ``width=None`` keeps the line's true width (rounded
    up to a multiple of the stride). ``frame`` first crops the line to its ink
    with even margins (:func:`frame_line`); ``deskew`` first turns a leaning
    line level (:func:`deskew_line`; the engines do, training does not). The
    mapping back to columns of ``gray`` accounts for both.
    """
    if gray.ndim != 2 or gray.shape[0] < 1 or gray.shape[1] < 1:
        raise ValueError(f"expected a 2-D gray image, got shape {gray.shape}")
    orig_shape = gray.shape
    x_off = y_off = 0
    angle = 0.0
    if deskew and gray.dtype == np.uint8 and min(gray.shape) >= 2:
        gray, angle = deskew_line(gray)
    straight_shape = gray.shape if angle else None
    if frame:
        gray, x_off, y_off = frame_line(gray)
    h, w = gray.shape
    sy = HEIGHT / h
    new_w = max(1, int(round(w * sy)))
    if width is not None and new_w > width:
        new_w = width
    sx = new_w / w
    img = Image.fromarray(gray).resize((new_w, HEIGHT), Image.Resampling.BILINEAR)
    ink = normalize_ink(np.asarray(img), img.histogram())
    total = width if width is not None else -(-new_w // STRIDE) * STRIDE
    x = np.zeros((total, HEIGHT), dtype=np.float32)
    x[:new_w] = ink.T
    return Prepared(x=x, content=new_w, sx=sx, sy=sy, orig_shape=orig_shape, x_off=x_off, y_off=y_off,
                    angle=angle, straight_shape=straight_shape)


def prepare_batch(grays, width: int | None = WIDTH, frame: bool = True,
                  deskew: bool = False) -> tuple[np.ndarray, list[Prepared]]:
    """Prepare several lines and stack them, padding to the widest."""
    preps = [prepare_line(g, width, frame, deskew) for g in grays]
    total = max(p.width for p in preps)
    batch = np.zeros((len(preps), total, HEIGHT), dtype=np.float32)
    for i, p in enumerate(preps):
        batch[i, : p.width] = p.x
    return batch, preps
