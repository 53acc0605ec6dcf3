"""Shared result types, in their own module so nothing depends on a loader."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Box:
    """An axis-aligned box in image pixels: left, top, width, height."""

    x: int
    y: int
    w: int
    h: int


@dataclass(frozen=True)
class Recognition:
    """What one engine read from one image.

    ``char_probs`` holds one confidence in [0, 1] per character of ``text``
    where the engine gives them (Easter2 does), else is empty. ``lines`` holds
    the per-line results of a page, each with its ``box`` on the page.
    """

    text: str
    seconds: float
    engine: str
    char_probs: tuple[float, ...] = ()
    box: Box | None = None
    lines: tuple["Recognition", ...] = ()
    extra: dict = field(default_factory=dict, compare=False)

    @classmethod
    def page(cls, lines, seconds: float, engine: str, box: Box | None = None,
             extra: dict | None = None) -> "Recognition":
        """A page read line by line: one text line per row, in the given order.

        ``char_probs`` joins the lines' confidences (each newline counted as
        certain) where every line has one per character, else is empty.
        """
        lines = tuple(lines)
        text = "\n".join(r.text for r in lines)
        probs: tuple[float, ...] = ()
        if lines and all(len(r.char_probs) == len(r.text) for r in lines):
            probs = tuple(p for r in lines for p in r.char_probs + (1.0,))[:-1]
        if len(probs) != len(text):
            probs = ()
        return cls(text, seconds, engine, probs, box=box, lines=lines, extra=dict(extra or {}))
