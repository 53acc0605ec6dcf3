"""The one interface every recognizer implements."""

from __future__ import annotations

import abc

import numpy as np

from htr.errors import EngineFailed
from htr.types import Recognition


class Engine(abc.ABC):
    """A recognizer of handwriting.

    ``recognize`` takes an 8-bit gray image (ink dark on white, shape (H, W))
    as produced by :func:`htr.images.load_image` and returns a
    :class:`~htr.types.Recognition` whose ``seconds`` is the recognition time
    of that image alone (model loading excluded). ``layout='line'`` reads the
    image as one text line; ``layout='page'`` finds lines first.
    """

    #: Short identifier used on the command line (``--engine NAME``).
    name: str = ""
    #: Name to show people.
    title: str = ""

    @abc.abstractmethod
    def availability(self) -> tuple[bool, str]:
        """Whether the engine can run here, and why not (or a version string)."""

    def is_available(self) -> bool:
        return self.availability()[0]

    @abc.abstractmethod
    def recognize(self, image: np.ndarray, layout: str = "line") -> Recognition:
        """Read ``image``; raises EngineUnavailable or EngineFailed."""


def as_gray(image) -> np.ndarray:
    """The uint8 (H, W) array the engines take; a clear EngineFailed otherwise."""
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[2] in (1, 3, 4):
        a = a[..., :3].mean(axis=2) if a.shape[2] >= 3 else a[..., 0]
    if a.ndim != 2:
        raise EngineFailed(f"expected a gray image of shape (H, W), got shape {a.shape}")
    if a.size == 0:
        raise EngineFailed("empty image (0 pixels)")
    if a.dtype != np.uint8:
        a = np.clip(np.rint(a.astype(np.float64)), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(a)
