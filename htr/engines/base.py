"""The one interface every recognizer implements."""

from __future__ import annotations

import abc

import numpy as np

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
