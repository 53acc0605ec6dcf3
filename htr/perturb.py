"""Make a line harder to read on purpose: controlled distortions for stress-testing readers.

Each :class:`Distortion` changes one thing about a gray line image (ink dark on
light, uint8 (H, W)) by a ``level`` in its own unit, level 0 always returning
the image unchanged. Sizes that depend on the writing (blur radius, stroke
growth) are given in pixels *at height 80*, Easter2's input height, and scaled
to the image's height, so a level means the same on a 40-pixel and on a
200-pixel line. The paper colour is estimated from the image (its brightest
common gray), so what a distortion uncovers is paper, not white.

``DISTORTIONS[name].levels`` is the sweep the app and ``benchmarks/robustness.py``
use: from the original outward, far enough that every reader breaks.

Pure numpy and Pillow; nothing here imports Keras or Streamlit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
from PIL import Image, ImageFilter

from htr.preprocess import gray_percentile

#: Images with more pixels than this are refused (a distortion may enlarge them).
MAX_PIXELS = 20_000_000


def paper_level(gray: np.ndarray) -> int:
    """The paper's gray: the 90th percentile of the image (ink covers far less than 10 % of a line),
    as :func:`htr.preprocess.frame_line` pads with."""
    return int(gray_percentile(gray, 90, np.float64))


def _check(gray: np.ndarray) -> np.ndarray:
    gray = np.asarray(gray)
    if gray.ndim != 2 or gray.dtype != np.uint8:
        raise ValueError(f"a gray uint8 image of shape (H, W) is needed, not {gray.dtype} {gray.shape}")
    if gray.size == 0 or min(gray.shape) < 2:
        raise ValueError(f"the image is too small to distort ({gray.shape[1]}×{gray.shape[0]} pixels)")
    if gray.size > MAX_PIXELS:
        raise ValueError(f"the image is too large to distort ({gray.size:,} pixels; at most {MAX_PIXELS:,})")
    return gray


def _scaled(gray: np.ndarray, px_at_80: float) -> float:
    return px_at_80 * gray.shape[0] / 80.0


def _slant(gray: np.ndarray, degrees: float, rng) -> np.ndarray:
    """Shear to the right by ``degrees`` (the top moves right), widening the canvas to keep every pixel."""
    h, w = gray.shape
    k = math.tan(math.radians(degrees))
    extra = int(math.ceil(abs(k) * h))
    img = Image.fromarray(gray)
    # output (x, y) samples input (x - k * (h - y), y); a left lean is shifted right so nothing is cut
    coeffs = (1, k, -k * h - (extra if k < 0 else 0), 0, 1, 0)
    return np.asarray(img.transform((w + extra, h), Image.Transform.AFFINE, coeffs,
                                    resample=Image.Resampling.BILINEAR, fillcolor=paper_level(gray)))


def _rotate(gray: np.ndarray, degrees: float, rng) -> np.ndarray:
    """Rotate counter-clockwise by ``degrees``, the canvas grown to hold it all."""
    img = Image.fromarray(gray)
    return np.asarray(img.rotate(degrees, resample=Image.Resampling.BICUBIC, expand=True,
                                 fillcolor=paper_level(gray)))


def _squeeze(gray: np.ndarray, factor: float, rng) -> np.ndarray:
    """Narrower writing: the width times ``factor`` (height kept)."""
    h, w = gray.shape
    new_w = max(2, int(round(w * factor)))
    return np.asarray(Image.fromarray(gray).resize((new_w, h), Image.Resampling.LANCZOS))


def _blur(gray: np.ndarray, radius: float, rng) -> np.ndarray:
    """Out of focus: a Gaussian blur of ``radius`` pixels at height 80."""
    return np.asarray(Image.fromarray(gray).filter(ImageFilter.GaussianBlur(_scaled(gray, radius))))


def _noise(gray: np.ndarray, sigma: float, rng) -> np.ndarray:
    """Sensor grain: Gaussian noise of ``sigma`` gray levels on every pixel."""
    noisy = gray.astype(np.float32) + rng.normal(0.0, sigma, gray.shape).astype(np.float32)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


def _fade(gray: np.ndarray, percent: float, rng) -> np.ndarray:
    """A pale pencil: the ink's contrast against the paper cut by ``percent``."""
    paper = float(paper_level(gray))
    out = paper - (paper - gray.astype(np.float32)) * (1.0 - percent / 100.0)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _bold(gray: np.ndarray, px: float, rng) -> np.ndarray:
    """A felt pen: strokes grown by ``px`` pixels on each side at height 80 (a minimum filter)."""
    r = int(round(_scaled(gray, px)))
    if r < 1:
        return gray.copy()
    return np.asarray(Image.fromarray(gray).filter(ImageFilter.MinFilter(2 * r + 1)))


@dataclass(frozen=True)
class Distortion:
    name: str
    title: str
    unit: str
    levels: tuple[float, ...]  # the sweep, from 0 (the original) outward
    what: str  # one sentence for a teacher
    _apply: Callable[[np.ndarray, float, np.random.Generator], np.ndarray]

    def label(self, level: float) -> str:
        if level == identity_level(self.name):
            return "original"
        return f"{level:g}{'' if self.unit == '°' else ' '}{self.unit}".strip()


DISTORTIONS: dict[str, Distortion] = {d.name: d for d in (
    Distortion("slant", "Slant", "°", (0, 10, 20, 30, 40, 50),
               "Sheared to the right, as a writer in a hurry leans. Easter2's training lines leaned "
               "from −12° to 28°.", _slant),
    Distortion("rotate", "Rotation", "°", (0, 2, 4, 6, 8, 10),
               "The whole line turned, as a photo taken askew. Easter2 turns a leaning line level before "
               "reading it.", _rotate),
    Distortion("squeeze", "Squeeze", "× width", (1.0, 0.8, 0.65, 0.5, 0.4, 0.3),
               "The same words in less width: cramped handwriting.", _squeeze),
    Distortion("blur", "Blur", "px", (0, 1, 2, 3, 4, 6),
               "Out of focus (Gaussian radius, in pixels of an 80-pixel-high line).", _blur),
    Distortion("noise", "Noise", "gray levels", (0, 20, 40, 60, 90, 120),
               "Grain on every pixel, as a dim photo (standard deviation out of 255).", _noise),
    Distortion("fade", "Faded ink", "%", (0, 40, 60, 75, 85, 92),
               "A pale pencil: the ink's contrast against the paper reduced.", _fade),
    Distortion("bold", "Thick pen", "px", (0, 1, 2, 3, 4, 5),
               "Strokes grown on each side (pixels of an 80-pixel-high line), as a felt pen.", _bold),
)}

# squeeze's levels count down from 1: its "original" is factor 1, not 0
_IDENTITY = {"squeeze": 1.0}


def identity_level(name: str) -> float:
    """The level at which distortion ``name`` leaves the image as it is."""
    return _IDENTITY.get(name, 0.0)


def perturb(gray: np.ndarray, name: str, level: float, seed: int = 0) -> np.ndarray:
    """``gray`` with distortion ``name`` applied at ``level`` (a new array; the input is untouched).

    Raises ``ValueError`` for an unknown distortion, a level out of its range,
    or an image that is not gray uint8, is smaller than 2×2, or is too large.
    """
    if name not in DISTORTIONS:
        raise ValueError(f"no distortion named {name!r} (there are: {', '.join(DISTORTIONS)})")
    gray = _check(gray)
    level = float(level)
    if not math.isfinite(level):
        raise ValueError(f"{name}: the level must be a finite number, not {level}")
    if name == "squeeze":
        if not 0.05 <= level <= 1.0:
            raise ValueError(f"squeeze: the width factor must be within 0.05 and 1, not {level:g}")
    elif name in ("slant", "rotate"):
        if abs(level) > 80:
            raise ValueError(f"{name}: at most 80 degrees either way, not {level:g}")
    elif name == "fade":
        if not 0 <= level <= 100:
            raise ValueError(f"fade: a percentage within 0 and 100, not {level:g}")
    elif not 0 <= level <= 255:
        raise ValueError(f"{name}: the level must be within 0 and 255, not {level:g}")
    if level == identity_level(name):
        return gray.copy()
    out = DISTORTIONS[name]._apply(gray, level, np.random.default_rng(seed))
    return np.ascontiguousarray(out, dtype=np.uint8)
