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

    def step_to_column(self, t) -> np.ndarray:
        """Original-image column at the centre of time step(s) ``t``."""
        t = np.asarray(t, dtype=np.float64)
        return np.clip((t * STRIDE + STRIDE / 2) / self.sx, 0, self.orig_shape[1])

    def step_edges_to_columns(self, start, end) -> tuple[np.ndarray, np.ndarray]:
        """Original-image column span [left, right) of time steps start..end (inclusive)."""
        start = np.asarray(start, dtype=np.float64)
        end = np.asarray(end, dtype=np.float64)
        left = np.clip(start * STRIDE / self.sx, 0, self.orig_shape[1])
        right = np.clip((end + 1) * STRIDE / self.sx, 0, self.orig_shape[1])
        return left, right

    def column_to_step(self, col) -> np.ndarray:
        """Time step that sees original column(s) ``col``."""
        col = np.asarray(col, dtype=np.float64)
        return np.clip(np.floor(col * self.sx / STRIDE), 0, self.steps - 1).astype(int)

    def image(self) -> np.ndarray:
        """The model input back as an 8-bit image (80, width), ink dark."""
        return (255 - np.clip(self.x.T * 255, 0, 255)).astype(np.uint8)


def normalize_ink(gray: np.ndarray) -> np.ndarray:
    """Map an 8-bit gray line to float ink in [0, 1]: paper 0, darkest ink 1.

    Paper brightness and ink darkness differ between scans, pens and our
    synthetic renders; stretching between a high percentile (paper) and a low
    one (ink) makes them look alike to the model.
    """
    g = gray.astype(np.float32)
    paper = float(np.percentile(g, 90))
    ink = float(np.percentile(g, 0.5))
    if paper - ink < 16:  # very little ink (a single stroke): use the darkest pixel
        ink = float(g.min())
    span = paper - ink
    if span < 16:  # blank or nearly uniform: no ink to find
        return np.zeros_like(g)
    return np.clip((paper - g) / span, 0.0, 1.0)


def prepare_line(gray: np.ndarray, width: int | None = WIDTH) -> Prepared:
    """Turn a gray line image (H, W) uint8, ink dark, into the model input.

    ``width=2000`` (default) pads to Easter2's fixed layout, squeezing lines
    that would be wider; ``width=None`` keeps the line's true width (rounded
    up to a multiple of the stride).
    """
    if gray.ndim != 2 or gray.shape[0] < 1 or gray.shape[1] < 1:
        raise ValueError(f"expected a 2-D gray image, got shape {gray.shape}")
    h, w = gray.shape
    sy = HEIGHT / h
    new_w = max(1, int(round(w * sy)))
    if width is not None and new_w > width:
        new_w = width
    sx = new_w / w
    img = Image.fromarray(gray).resize((new_w, HEIGHT), Image.Resampling.BILINEAR)
    ink = normalize_ink(np.asarray(img))
    total = width if width is not None else -(-new_w // STRIDE) * STRIDE
    x = np.zeros((total, HEIGHT), dtype=np.float32)
    x[:new_w] = ink.T
    return Prepared(x=x, content=new_w, sx=sx, sy=sy, orig_shape=(h, w))


def prepare_batch(grays, width: int | None = WIDTH) -> tuple[np.ndarray, list[Prepared]]:
    """Prepare several lines and stack them, padding to the widest."""
    preps = [prepare_line(g, width) for g in grays]
    total = max(p.width for p in preps)
    batch = np.zeros((len(preps), total, HEIGHT), dtype=np.float32)
    for i, p in enumerate(preps):
        batch[i, : p.width] = p.x
    return batch, preps
