"""Synthetic handwriting lines that look like IAM line crops.

Pure Pillow + numpy, built for speed in data-loader worker processes: glyph
bitmaps are cached per font, every geometric change of the whole line (size,
horizontal stretch, slant, baseline drift, elastic distortion, slight rotation)
is one Pillow MESH transform, and paper, ink and noise are composed with
Pillow's C operations.

    r = LineRenderer(seed=0)
    img = r.render("A PLAN to meet Mr. Brown", np.random.default_rng(1))

``img`` is uint8 gray (H, W): dark ink on light paper, H between about 60 and
140 pixels, the text filling most of the height like an IAM line crop.

``corrupt`` (TACo: tiling and corruption, from the Easter2 paper),
``join_lines`` (long-line augmentation) and ``LineRenderer.distort`` (slant,
stretch, drift, elastic warp, pen width, new paper: the synthetic recipe
applied to a real line, label unchanged) work on real lines too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont

from htr.alphabet import CHARS
from htr.data.synth.fonts import font_paths

#: Height in pixels from the top of "bdhklH" to the bottom of "gjpqy" at which
#: every font is rendered before the line is warped to its output size.
SPAN = 52
#: Width per character of a real IAM line crop, as a fraction of its height
#: (median of the shared real lines: 0.49; their 25-75 % range 0.38-0.53).
IAM_CHAR_ASPECT = 0.48

#: Per-glyph jitter is quantised so that jittered glyph bitmaps can be cached.
_SCALE_STEP, _NSCALE = 0.05, 4      # scale 0.8 .. 1.2
_ANGLE_STEP, _NANGLE = 2.5, 4       # rotation -10 .. 10 degrees
_NSHAPES = 3                        # bent shape variants per glyph (0 = as drawn)
_CACHE_MAX = 60000                  # cached glyph bitmaps per renderer (~100 MB)

_BILINEAR = Image.Resampling.BILINEAR
_MESH = Image.Transform.MESH


@dataclass(frozen=True)
class Style:
    """Knobs of the default distribution; the defaults aim at IAM crops."""

    height: tuple[int, int] = (60, 140)          # output height range
    char_aspect: float = IAM_CHAR_ASPECT         # median width/char / height
    aspect_sigma: float = 0.17                   # log-normal spread of it
    stretch: tuple[float, float] = (0.85, 1.9)   # limits of the horizontal stretch
    slant_deg: tuple[float, float] = (-12.0, 28.0)
    glyph_jitter: float = 1.0                    # scales all per-glyph jitter
    word_mode_p: float = 0.35                    # render whole words (cursive joins kept)
    shape_p: float = 0.7                         # lines whose glyphs get bent shape variants
    neighbours_p: float = 0.3                    # strokes of the lines above/below at the edges
    word_space: tuple[float, float] = (1.0, 2.6)  # word gap range, in the font's own space widths


class _Font:
    """One font at its normalised size, with a glyph bitmap cache."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.ident = sum(self.path.stem.encode())  # stable across processes (unlike hash())
        probe = ImageFont.truetype(str(self.path), 100)
        top = min(probe.getbbox(c, anchor="ls")[1] for c in "bdhklH")
        bottom = max(probe.getbbox(c, anchor="ls")[3] for c in "gjpqy")
        xh = max(1, -probe.getbbox("x", anchor="ls")[1])
        # size: between "ascender-to-descender = SPAN" and "x-height = 0.42 SPAN"
        # (IAM's typical proportion), so fonts with huge loops still show a
        # readable x-height and fonts with stubby ascenders are not blown up
        by_span = 100 * SPAN / max(1, bottom - top)
        by_xh = 100 * 0.42 * SPAN / xh
        self.size = max(8, round(math.sqrt(by_span * by_xh)))
        self.font = ImageFont.truetype(str(self.path), self.size)
        self.space = max(4.0, self.font.getlength(" "))
        self.xheight = -self.font.getbbox("x", anchor="ls")[1]
        self._glyphs: dict[str, tuple[Image.Image, int, int, float]] = {}
        self.variants: dict[tuple[str, int, int], tuple[np.ndarray, float, float, float]] = {}
        self.stroke = self._stroke_width()
        # may the renderer thin this font's strokes (3x3 min filter)? only if
        # the strokes are thick and no glyph (a comma, an i-dot) would vanish
        self.erodible = self.stroke >= 4.5 and all(
            np.asarray(self.glyph(c)[0].filter(ImageFilter.MinFilter(3))).max() >= 200
            for c in CHARS if c != " ")

    def glyph(self, ch: str) -> tuple[Image.Image, int, int, float]:
        """(bitmap 'L' ink=255, x offset, y offset from baseline, advance)."""
        g = self._glyphs.get(ch)
        if g is None:
            x0, y0, x1, y1 = self.font.getbbox(ch, anchor="ls")
            w, h = max(1, x1 - x0), max(1, y1 - y0)
            img = Image.new("L", (w + 2, h + 2), 0)
            ImageDraw.Draw(img).text((1 - x0, 1 - y0), ch, font=self.font, fill=255, anchor="ls")
            g = (img, x0 - 1, y0 - 1, self.font.getlength(ch))
            self._glyphs[ch] = g
        return g

    def _stroke_width(self) -> float:
        """Mean stroke width in pixels: 2 * ink area / ink outline length."""
        area = edge = 0
        for ch in "nmoealc":
            a = np.asarray(self.glyph(ch)[0]) > 127
            area += a.sum()
            inner = a[1:-1, 1:-1] & a[:-2, 1:-1] & a[2:, 1:-1] & a[1:-1, :-2] & a[1:-1, 2:]
            edge += a.sum() - inner.sum()
        return 2.0 * area / max(1, edge)


_CLOSE = set(".,;:?!)")
_ALPHABET = set(CHARS)


def _space_factors(text: str) -> list[bool]:
    """For each space in ``text``: is it a *narrow* one?

    IAM transcribes punctuation as separate words ("Peers .", "( see )",
    '" Yes , " he'), but on paper a writer leaves no gap there. These spaces
    are drawn narrow so that the label stays true and the picture stays real.
    """
    narrow = []
    quote_open = {'"': False, "'": False}
    opening_after: set[int] = set()
    def contraction(j: int) -> bool:  # "man 's", "did n't": an apostrophe, not a quote
        return text[j] in "'" and text[j + 1: j + 2].islower() and text[j - 1: j] in (" ", "n")

    for i, c in enumerate(text):
        if c in quote_open and not contraction(i):
            quote_open[c] = not quote_open[c]
            if quote_open[c]:
                opening_after.add(i + 1)
    for i, c in enumerate(text):
        if c != " ":
            continue
        nxt = text[i + 1] if i + 1 < len(text) else ""
        prev = text[i - 1] if i else ""
        closing_quote = nxt in quote_open and (i + 2) not in opening_after and not contraction(i + 1)
        narrow.append(nxt in _CLOSE or prev == "(" or i in opening_after or closing_quote
                      or (bool(nxt) and contraction(i + 1)))
    return narrow


class LineRenderer:
    """Renders text as an IAM-like handwritten line image."""

    def __init__(self, fonts: list[Path] | None = None, seed: int = 0, style: Style | None = None):
        self.paths = [Path(p) for p in (fonts if fonts is not None else font_paths())]
        if not self.paths:
            raise ValueError("LineRenderer needs at least one font file")
        self.style = style or Style()
        self.seed = seed
        self._fonts: dict[int, _Font] = {}
        self._cached = 0
        self._noise: Image.Image | None = None

    # Pickle only the recipe: caches (FreeType handles) are rebuilt per process.
    def __getstate__(self):
        return {"paths": self.paths, "style": self.style, "seed": self.seed}

    def __setstate__(self, state):
        self.__init__(state["paths"], state["seed"], state["style"])

    def font(self, index: int) -> _Font:
        f = self._fonts.get(index)
        if f is None:
            f = self._fonts[index] = _Font(self.paths[index])
        return f

    def _noise_tile(self) -> Image.Image:
        if self._noise is None:
            g = np.random.default_rng(self.seed + 7919)
            tile = np.clip(128 + 20 * g.standard_normal((160, 4096)), 0, 255).astype(np.uint8)
            self._noise = Image.fromarray(tile)
        return self._noise

    # ------------------------------------------------------------------ render
    def render(self, text: str, rng: np.random.Generator, font_index: int | None = None) -> np.ndarray:
        """One line image (uint8 gray, ink dark on light) showing exactly ``text``."""
        if not text or not text.strip():
            raise ValueError("render needs some non-space text")
        foreign = sorted(set(text) - _ALPHABET)
        if foreign:
            raise ValueError(f"render: characters outside the 79-character alphabet: {''.join(foreign)!r}")
        fi = int(rng.integers(len(self.paths))) if font_index is None else font_index
        font = self.font(fi)
        cov = self._compose(text, font, rng)                 # 'L', ink=255, cropped to ink
        cov = self._stroke(cov, font, rng)
        if rng.random() < 0.7:  # soft, scanned edges (the upscale softens them too)
            cov = cov.filter(ImageFilter.BoxBlur(rng.uniform(0.2, 0.7)))
        cov = self._warp(cov, len(text), rng)                # output size, cropped + margins
        return self._paper(cov, rng)

    def _compose(self, text: str, font: _Font, rng: np.random.Generator) -> Image.Image:
        """Place glyphs with jitter on a canvas; crop to the ink.

        Per-glyph mode jitters each glyph's size, rotation, height and spacing;
        word mode keeps the glyphs of a word exactly on the font's advances (so
        cursive joins stay joined) and jitters whole words instead.
        """
        j = self.style.glyph_jitter * rng.uniform(0.2, 1.0)
        word_mode = rng.random() < self.style.word_mode_p
        size_sd = 0.06 * j / _SCALE_STEP
        rot_sd = 3.0 * j / _ANGLE_STEP
        dy_sd = 0.03 * SPAN * j
        dx_sd = 0.04 * font.xheight * j
        track = rng.uniform(-0.03, 0.10) * font.xheight if not word_mode else rng.uniform(-0.02, 0.04) * font.xheight
        space_mult = rng.uniform(*self.style.word_space)
        narrow = iter(_space_factors(text))
        n = len(text)
        # all random draws at once (fast): scale and angle as cache indices
        si = np.clip(np.rint(rng.normal(0, size_sd, n)), -_NSCALE, _NSCALE).astype(int)
        ai = np.clip(np.rint(rng.normal(0, rot_sd, n)), -_NANGLE, _NANGLE).astype(int)
        dys = rng.normal(0, dy_sd, n)
        dxs = rng.normal(0, dx_sd, n)
        # shape variants: each writer bends letters a little differently
        vis = rng.integers(0, _NSHAPES + 1, n) if rng.random() < self.style.shape_p else np.zeros(n, int)
        if word_mode:  # one scale and height per word, no rotation inside words
            ai[:] = 0
            word_id = np.cumsum([c == " " for c in text])
            wsi = np.clip(np.rint(rng.normal(0, size_sd * 0.6, word_id[-1] + 1)), -_NSCALE, _NSCALE).astype(int)
            wdy = rng.normal(0, dy_sd, word_id[-1] + 1)
            si, dys, dxs = wsi[word_id], wdy[word_id], np.zeros(n)

        est = int(sum(font.glyph(c)[3] for c in text) * 1.35 + n * (abs(track) + 4)
                  + text.count(" ") * font.space * 3 + 4 * SPAN)
        height = 3 * SPAN
        base = int(1.8 * SPAN)
        canvas = np.zeros((height, est), np.uint8)
        x = float(SPAN)
        for k, ch in enumerate(text):
            if ch == " ":
                f = rng.uniform(0.05, 0.5) if next(narrow, False) else space_mult * rng.uniform(0.8, 1.25)
                x += font.space * f
                continue
            a, offx, offy, adv = self._variant(font, ch, int(si[k]), int(ai[k]), int(vis[k]))
            h, w = a.shape
            left = int(x + offx + 0.5)
            top = int(base + offy + dys[k] + 0.5)
            if left + w >= canvas.shape[1] - 1:  # rare: grow the canvas
                canvas = np.pad(canvas, ((0, 0), (0, left + w - canvas.shape[1] + SPAN)))
            top = min(max(top, 0), height - h) if h < height else 0
            a = a[: height - top]
            region = canvas[top: top + a.shape[0], left: left + w]
            np.maximum(region, a, out=region)
            x += adv + track + dxs[k]
        rows = np.flatnonzero(canvas.max(axis=1) > 40)
        cols = np.flatnonzero(canvas.max(axis=0) > 40)
        if rows.size == 0:
            raise ValueError(f"font {font.path.name} drew no ink for {text!r}")
        return Image.fromarray(canvas[rows[0]: rows[-1] + 1, cols[0]: cols[-1] + 1])

    def _variant(self, font: _Font, ch: str, si: int, ai: int, vi: int = 0
                 ) -> tuple[np.ndarray, float, float, float]:
        """A glyph scaled by 1 + si*_SCALE_STEP, rotated by ai*_ANGLE_STEP degrees
        and, for vi > 0, bent by a smooth random warp (shape variant vi; the
        warp is seeded by renderer seed, font, character and variant, so it is
        the same whenever it is rebuilt). Returns (bitmap, left and top offset
        from the pen position on the baseline, advance). Cached; the cache is
        halved (oldest first) when it holds more than _CACHE_MAX bitmaps."""
        key = (ch, si, ai, vi)
        v = font.variants.get(key)
        if v is not None:
            return v
        img, ox, oy, adv = font.glyph(ch)
        scale = 1.0 + si * _SCALE_STEP
        w0, h0 = img.size
        if vi:
            img = _bend(img, np.random.default_rng((self.seed, font.ident, ord(ch), vi)))
        if si:
            img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))), _BILINEAR)
        if ai:
            img = img.rotate(ai * _ANGLE_STEP, resample=_BILINEAR, expand=True)
        w, h = img.size
        # keep the bitmap's centre where the unscaled, unrotated one was
        v = (np.asarray(img), (ox + w0 / 2) * scale - w / 2, (oy + h0 / 2) * scale - h / 2, adv * scale)
        self._cached += 1
        if self._cached > _CACHE_MAX:  # forget the older half (dicts keep insertion order)
            self._cached = 1
            for f in self._fonts.values():
                items = list(f.variants.items())
                f.variants = dict(items[len(items) // 2:])
                self._cached += len(f.variants)
        font.variants[key] = v
        return v

    def _stroke(self, cov: Image.Image, font: _Font, rng: np.random.Generator) -> Image.Image:
        """Pen width: move the font's stroke width towards a random IAM-like one.

        Dilation (3x3 max filter) adds about 2 px; erosion is only applied to
        fonts whose strokes survive it (``_Font.erodible``: no glyph may vanish).
        """
        target = rng.uniform(1.8, 4.0)
        have = font.stroke
        if have < target - 1.2:
            times = 2 if have < target - 3.2 else 1
            return Image.fromarray(_filter3(np.asarray(cov), np.maximum, times))
        if have > target + 1.0 and font.erodible:
            return Image.fromarray(_filter3(np.asarray(cov), np.minimum, 1))
        return cov

    def _warp(self, cov: Image.Image, n_chars: int, rng: np.random.Generator) -> Image.Image:
        """Scale to the output size, stretch, slant, drift, distort: one MESH transform."""
        st = self.style
        sw, sh = cov.size
        out_height = int(rng.integers(st.height[0], st.height[1] + 1))
        ink_h = out_height * rng.uniform(0.8, 0.95)
        sy = ink_h / sh
        aspect = st.char_aspect * math.exp(rng.normal(0, st.aspect_sigma))
        # horizontal scale so that width/char/height matches the drawn IAM aspect
        sx = aspect * (ink_h / 0.87) * n_chars / sw
        sx = float(np.clip(sx, sy * st.stretch[0], sy * st.stretch[1]))
        slant = math.tan(math.radians(rng.uniform(*st.slant_deg) if rng.random() < 0.85 else 0.0))
        rot = math.radians(rng.normal(0, 0.6))
        # warp at (at most) the source resolution, then one cheap resize up:
        # Pillow's mesh transform costs ~10 ns per output pixel
        up = max(1.0, sy)
        sx, sy = sx / up, sy / up
        out_h = int(round(sh * sy))
        pad = int(abs(slant) * out_h) + int(0.1 * out_h) + 4
        out_w = int(round(sw * sx)) + 2 * pad
        out_h2 = out_h + int(0.2 * out_h) + 4
        oy0 = (out_h2 - out_h) / 2

        # smooth displacement fields on a coarse grid (in output pixels)
        # (Pillow runs one transform per mesh cell: keep the cells few and large)
        cell = max(16, int(out_h * rng.uniform(0.8, 1.4)))
        nx = max(1, math.ceil(out_w / cell))
        ny = 2
        xs = np.linspace(0, out_w, nx + 1)
        ys = np.linspace(0, out_h2, ny + 1)
        amp = out_h * rng.uniform(0.0, 0.045)
        dx = rng.normal(0, amp, (ny + 1, nx + 1))
        dy = rng.normal(0, amp, (ny + 1, nx + 1))
        # baseline drift: a slow wave along the line
        period = rng.uniform(300, 1500) * out_h / 80
        drift = out_h * rng.uniform(0, 0.05) * np.sin(2 * np.pi * xs / period + rng.uniform(0, 6.3))
        dy += drift[None, :]
        X, Y = np.meshgrid(xs, ys)
        Xc = X + dx - pad
        Yc = Y + dy - oy0
        # slant and a slight rotation around the line's middle, then output -> source
        ymid = out_h * 0.6
        Xs = Xc + slant * (Yc - ymid) - rot * (Yc - ymid)
        Ys = Yc + rot * (Xc - out_w / 2)
        U = Xs / sx
        V = Ys / sy
        data = []
        for i in range(ny):
            for k in range(nx):
                box = (int(xs[k]), int(ys[i]), int(xs[k + 1]), int(ys[i + 1]))
                quad = (U[i, k], V[i, k], U[i + 1, k], V[i + 1, k],
                        U[i + 1, k + 1], V[i + 1, k + 1], U[i, k + 1], V[i, k + 1])
                data.append((box, quad))
        img = cov.transform((out_w, out_h2), _MESH, data, resample=_BILINEAR)
        # crop to the ink, then IAM-like margins (tight boxes, a little slack)
        a = np.asarray(img)
        rows = np.flatnonzero(a.max(axis=1) > 60)
        cols = np.flatnonzero(a.max(axis=0) > 60)
        h = rows[-1] - rows[0] + 1
        m = lambda lo, hi: int(round(h * rng.uniform(lo, hi)))  # noqa: E731
        top, bottom = m(0.0, 0.05), m(0.0, 0.05)  # IAM boxes are tight: ink fills ~99 %
        left, right = m(0.0, 0.25), m(0.0, 0.25)
        box = (cols[0] - left, rows[0] - top, cols[-1] + 1 + right, rows[-1] + 1 + bottom)
        img = img.crop(box)  # outside the image crop pads with 0 (no ink)
        if rng.random() < st.neighbours_p:
            img = _neighbour_strokes(img, rng)
        up = out_height / img.height  # exactly the drawn output height
        img = img.resize((max(1, round(img.width * up)), out_height), _BILINEAR)
        return img

    def distort(self, image: np.ndarray, rng: np.random.Generator, strength: float = 1.0) -> np.ndarray:
        """Augment a REAL line image (uint8 gray, ink dark) the way synthetic
        lines are made: slant, horizontal stretch, baseline drift, smooth
        elastic warp, pen width, and new paper, ink and noise. The text stays
        the same, so the label does too. ``strength`` scales the geometry."""
        img = np.asarray(image)
        if img.ndim != 2 or min(img.shape) < 4:
            raise ValueError(f"distort needs a 2-D gray line image, got shape {img.shape}")
        h, w = img.shape
        bg = _background(img)
        ink = int(np.percentile(img[::2, ::2], 1))
        span = max(1, bg - ink)
        # ink coverage: paper -> 0, darkest ink -> 255
        lut = [int(min(255, max(0, (bg - 8 - i) * 255 / max(1, span - 8)))) for i in range(256)]
        cov = Image.fromarray(img).point(lut)
        slant = math.tan(math.radians(rng.normal(0, 7 * strength)))
        sx = math.exp(rng.normal(0, 0.12 * strength))
        pad = int(abs(slant) * h) + 2
        out_w = max(8, int(round(w * sx)) + 2 * pad)
        cell = max(16, int(h * rng.uniform(0.8, 1.4)))
        nx = max(1, math.ceil(out_w / cell))
        xs = np.linspace(0, out_w, nx + 1)
        ys = np.linspace(0, h, 3)
        X, Y = np.meshgrid(xs, ys)
        amp = h * rng.uniform(0, 0.03) * strength
        period = rng.uniform(300, 1500) * h / 80
        drift = h * rng.uniform(0, 0.04) * strength * np.sin(2 * np.pi * xs / period + rng.uniform(0, 6.3))
        U = (X - pad) / sx + slant * (Y - 0.6 * h) + rng.normal(0, amp, X.shape)
        V = Y + rng.normal(0, amp, Y.shape) - drift[None, :]
        data = [((int(xs[k]), int(ys[i]), int(xs[k + 1]), int(ys[i + 1])),
                 (U[i, k], V[i, k], U[i + 1, k], V[i + 1, k],
                  U[i + 1, k + 1], V[i + 1, k + 1], U[i, k + 1], V[i, k + 1]))
                for i in range(2) for k in range(nx)]
        cov = cov.transform((out_w, h), _MESH, data, resample=_BILINEAR)
        a = np.asarray(cov)
        cols = np.flatnonzero(a.max(axis=0) > 60)
        if cols.size:  # drop the slant padding, keep a margin like the original
            m = int(h * 0.1)
            cov = cov.crop((max(0, cols[0] - m), 0, min(out_w, cols[-1] + 1 + m), h))
        r = rng.random()
        if r < 0.2:
            cov = Image.fromarray(_filter3(np.asarray(cov), np.maximum)[1:-1, 1:-1])
        elif r < 0.3:
            cov = cov.filter(ImageFilter.BoxBlur(0.5))
        return self._paper(cov, rng)

    def _paper(self, cov: Image.Image, rng: np.random.Generator) -> np.ndarray:
        """Ink on paper: soft strokes, uneven ink, paper gradient, scanner noise."""
        w, h = cov.size
        # edge contrast: the upscale leaves soft ramps; a random sigmoid curve
        # makes them anywhere from crisp (a fine pen, sharp scan) to soft
        centre, width = rng.uniform(95, 165), rng.uniform(8, 40)
        lut = 255.0 / (1.0 + np.exp(-(np.arange(256) - centre) / width))
        lut = (lut - lut[0]) * (255.0 / (lut[255] - lut[0]))
        if rng.random() < 0.15:  # ink density: a soft pen leaves lighter strokes
            lut *= rng.uniform(0.8, 1.0)
        cov = cov.point(np.clip(lut, 0, 255).astype(np.uint8).tolist())
        # paper: a base gray with slow gradients along x and y; ink: darkness
        # varying slowly along the line (pen pressure, ink flow)
        base = 254 - 22 * rng.random() ** 2
        xs = np.arange(w, dtype=np.float32)
        knots = np.linspace(0, w, 5)
        rowp = np.interp(xs, knots, rng.normal(0, rng.uniform(0, 5), 5))
        colp = np.linspace(0, rng.normal(0, 3), h, dtype=np.float32)
        paper = np.clip(base + colp[:, None] + rowp[None, :], 0, 255).astype(np.uint8)
        ink_level = 100 * rng.random() ** 2  # mostly dark, like IAM's ballpoint and ink
        inkp = np.interp(xs, np.linspace(0, w, 7), ink_level + rng.normal(0, 15, 7))
        ink = np.repeat(np.clip(inkp, 0, 200).astype(np.uint8)[None, :], h, axis=0)
        paper, ink = Image.fromarray(paper), Image.fromarray(ink)
        out = Image.composite(ink, paper, cov)
        # scanner noise: a crop of a fixed gaussian tile, scaled to a random sigma
        sigma = rng.uniform(0.5, 5.0)
        noise = self._noise_tile()
        nw, nh = noise.size
        if w > nw or h > nh:
            noise = noise.resize((max(w, nw), max(h, nh)))
            nw, nh = noise.size
        x0 = int(rng.integers(0, nw - w + 1))
        y0 = int(rng.integers(0, nh - h + 1))
        k = sigma / 20.0
        n = noise.crop((x0, y0, x0 + w, y0 + h)).point([int(128 + (i - 128) * k) for i in range(256)])
        out = ImageChops.add(out, n, 1.0, -128)
        return np.asarray(out)


def _bend(img: Image.Image, rng: np.random.Generator, amount: float = 0.1) -> Image.Image:
    """Smoothly bend a glyph bitmap: a 3x3 mesh whose edge and centre points
    move by up to ``amount`` of the glyph size (corners stay). The result is
    padded symmetrically, so the glyph's centre stays where it was."""
    w, h = img.size
    d = amount * (w + h) / 2
    pad = int(d) + 2
    img = _pad(img, pad)
    W, H = img.size
    xs = np.linspace(0, W, 3)
    ys = np.linspace(0, H, 3)
    X, Y = np.meshgrid(xs, ys)
    U = X + rng.uniform(-d, d, X.shape)
    V = Y + rng.uniform(-d, d, Y.shape)
    for i, k in ((0, 0), (0, 2), (2, 0), (2, 2)):
        U[i, k], V[i, k] = X[i, k], Y[i, k]
    data = []
    for i in range(2):
        for k in range(2):
            box = (int(xs[k]), int(ys[i]), int(xs[k + 1]), int(ys[i + 1]))
            quad = (U[i, k], V[i, k], U[i + 1, k], V[i + 1, k],
                    U[i + 1, k + 1], V[i + 1, k + 1], U[i, k + 1], V[i, k + 1])
            data.append((box, quad))
    return img.transform((W, H), _MESH, data, resample=_BILINEAR)


def _pad(img: Image.Image, pad: int) -> Image.Image:
    out = Image.new("L", (img.width + 2 * pad, img.height + 2 * pad), 0)
    out.paste(img, (pad, pad))
    return out


def _neighbour_strokes(cov: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Descenders of the line above and ascenders of the line below poking into
    the crop, as in IAM's bounding-box crops: a shifted copy of the line's own
    bottom (top) rows is laid into its top (bottom) rows."""
    a = np.array(cov)
    h, w = a.shape
    for edge in ("top", "bottom"):
        if rng.random() < 0.5:
            continue
        k = int(h * rng.uniform(0.06, 0.18))
        if k < 2:
            continue
        shift = int(rng.integers(-w // 2, w // 2 + 1))
        if edge == "top":
            src = np.roll(a[h - k:], shift, axis=1)
            np.maximum(a[:k], src, out=a[:k])
        else:
            src = np.roll(a[:k], shift, axis=1)
            np.maximum(a[h - k:], src, out=a[h - k:])
    return Image.fromarray(a)


def _filter3(a: np.ndarray, op, times: int = 1) -> np.ndarray:
    """3x3 max (dilate) or min (erode) filter in numpy, ``times`` times; the
    image is padded with 0 (no ink) so that ink at the border can grow."""
    a = np.pad(a, times)
    for _ in range(times):
        b = a.copy()
        op(b[1:], a[:-1], out=b[1:])
        op(b[:-1], a[1:], out=b[:-1])
        c = b.copy()
        op(c[:, 1:], b[:, :-1], out=c[:, 1:])
        op(c[:, :-1], b[:, 1:], out=c[:, :-1])
        a = c
    return a


# ----------------------------------------------------------------- augmentations
def _background(image: np.ndarray) -> int:
    """Paper gray: the 90th percentile (of a subsample: this runs per line)."""
    if not image.size:
        return 255
    sample = image[::3, ::3] if image.size > 20000 else image
    return int(np.percentile(sample, 90))


def corrupt(image: np.ndarray, rng: np.random.Generator, fraction: tuple[float, float] = (0.05, 0.25),
            tile: tuple[float, float] = (0.1, 0.5)) -> np.ndarray:
    """TACo (tiling and corruption, Easter2): cut the line into vertical tiles of
    random width (``tile`` x the line height) and blank or noise a random
    ``fraction`` of them. Returns a new uint8 array of the same shape."""
    img = np.asarray(image)
    if img.ndim != 2 or img.size == 0:
        raise ValueError(f"corrupt needs a 2-D gray image, got shape {img.shape}")
    out = img.copy()
    h, w = out.shape
    bg = _background(img)
    edges = [0]
    while edges[-1] < w:
        edges.append(min(w, edges[-1] + max(2, int(h * rng.uniform(*tile)))))
    n = len(edges) - 1
    frac = rng.uniform(*fraction)
    picked = np.flatnonzero(rng.random(n) < frac)
    if picked.size == 0:
        return out
    noise = rng.integers(0, 256, (h, w), dtype=np.uint8)
    for i in picked:
        a, b = edges[i], edges[i + 1]
        kind = rng.random()
        if kind < 0.5:  # blank
            out[:, a:b] = bg
        elif kind < 0.8:  # noise
            out[:, a:b] = noise[:, a:b]
        else:  # half ink, half noise
            out[:, a:b] = out[:, a:b] // 2 + noise[:, a:b] // 2
    return out


def join_lines(images: list[np.ndarray], gap: int | tuple[int, int] = 40,
               rng: np.random.Generator | None = None) -> np.ndarray:
    """Long-line augmentation: scale line images to a common height (their
    median) and put them side by side with ``gap`` pixels of background between
    (a random gap in [lo, hi] when a tuple and an rng are given)."""
    if not images:
        raise ValueError("join_lines needs at least one image")
    imgs = [np.asarray(i) for i in images]
    if any(i.ndim != 2 or i.size == 0 for i in imgs):
        raise ValueError("join_lines needs 2-D gray images")
    height = int(np.median([i.shape[0] for i in imgs]))
    parts = []
    for k, img in enumerate(imgs):
        if img.shape[0] != height:
            w = max(1, round(img.shape[1] * height / img.shape[0]))
            img = np.asarray(Image.fromarray(img).resize((w, height), _BILINEAR))
        if k:
            g = gap if isinstance(gap, int) else int(
                (rng or np.random.default_rng()).integers(gap[0], gap[1] + 1))
            bg = (_background(parts[-1]) + _background(img)) // 2
            parts.append(np.full((height, max(0, g)), bg, np.uint8))
        parts.append(img.astype(np.uint8))
    return np.concatenate(parts, axis=1)


def specimen(text: str, font: str | None = None, *, seed: int = 0, slant: float = 8.0, width: float = 1.0,
             word_space: float = 1.6, jitter: float = 1.0, shapes: bool = True, joined: bool = False,
             neighbours: bool = False, taco: bool = False, height: int = 96) -> tuple[np.ndarray, str]:
    """One training-style line of ``text`` with its knobs set by hand: (uint8 gray image, font name).

    For showing how the synthetic training data is made (the app's "How it
    learned" page): the same renderer as training, with each of the ranges
    training samples from pinned to one value. ``font`` is a vendored font's
    name (``None``: one drawn by ``seed``); ``slant`` in degrees; ``width``
    scales IAM's median letter width; ``word_space`` in the font's own space
    widths; ``jitter`` scales per-letter wobble; ``shapes`` bends letters;
    ``joined`` draws whole words as the font joins them; ``neighbours`` adds
    strokes of the lines above and below; ``taco`` applies tiling-and-corruption.
    Paper, ink, blur and distortion stay random, drawn from ``seed``.
    Raises ValueError with a readable reason for text it cannot draw or an unknown font.
    """
    paths = font_paths()
    names = [p.stem for p in paths]
    if font is not None and font not in names:
        raise ValueError(f"no vendored font named {font!r}")
    style = Style(height=(height, height), char_aspect=IAM_CHAR_ASPECT * width, aspect_sigma=0.0,
                  stretch=(0.2, 5.0), slant_deg=(slant, slant), glyph_jitter=jitter,
                  word_mode_p=1.0 if joined else 0.0, shape_p=1.0 if shapes else 0.0,
                  neighbours_p=1.0 if neighbours else 0.0, word_space=(word_space, word_space))
    rng = np.random.default_rng(seed)
    index = names.index(font) if font is not None else int(rng.integers(len(paths)))
    image = LineRenderer(fonts=paths, seed=seed, style=style).render(text, rng, font_index=index)
    if taco:
        image = corrupt(image, rng)
    return image, names[index]
