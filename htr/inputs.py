"""What is odd about an input image, in one sentence each, before and after it is read.

Pure functions over a gray image (uint8, dark ink on light paper) and a reading's
confidences, shared by the app's pages: a blank page, an image too small to hold
writing, several lines given as one, a reading the model itself doubts. A page
says the sentence instead of showing an empty or confident-looking reading.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Below this many rows or columns an image cannot hold a legible line of writing
#: (Easter2 scales a line to 80 rows; IAM's smallest lines are over 20 rows high).
MIN_ROWS, MIN_COLUMNS = 10, 10
#: Fewer inked pixels than this (after :func:`htr.preprocess.ink_mask`): no writing found.
MIN_INK_PIXELS = 12
#: Paper (90th percentile) less than this many gray levels brighter than the ink (the 20th
#: darkest pixel): no writing found. Scanner noise on a blank page stays within about 30
#: levels; pen and pencil strokes are 60 to 200 levels darker than their paper.
MIN_CONTRAST = 48
#: A reading whose mean character confidence is below this is shown as doubtful.
LOW_CONFIDENCE = 0.6


@dataclass(frozen=True)
class Finding:
    """One odd thing about an input: ``code`` for the program, ``sentence`` for the reader.

    ``blocking``: reading the image would only give a meaningless text (say the
    sentence instead of reading).
    """

    code: str  # "too_small", "no_ink", "several_lines", "low_confidence", "nothing_read"
    sentence: str
    blocking: bool = False


def check_image(gray: np.ndarray, layout: str = "line") -> list[Finding]:
    """What is odd about ``gray`` given as ``layout`` ("line" or "page"), most serious first.

    Too small and no ink block reading; several lines given as one line does not
    (the reader may still want it read as one line) but asks whether to read it as a page.
    """
    from htr.preprocess import ink_mask

    gray = np.asarray(gray)
    h, w = gray.shape[:2]
    if h < MIN_ROWS or w < MIN_COLUMNS:
        return [Finding("too_small", f"This image is {w}×{h} pixels: too small to hold writing (a line needs "
                                     f"at least {MIN_COLUMNS}×{MIN_ROWS}; a scanned line is usually 40 to 120 "
                                     "pixels high). Nothing was read.", blocking=True)]
    if _contrast(gray) < MIN_CONTRAST or int(np.count_nonzero(ink_mask(gray))) < MIN_INK_PIXELS:
        return [Finding("no_ink", "No ink found: the image is blank or nearly one even shade, so there is "
                                  "nothing to read.", blocking=True)]
    if layout == "line":
        from htr.segment import is_single_line

        if not is_single_line(gray):
            return [Finding("several_lines", "This looks like several lines of writing, but it is being read as "
                                             "one line: read it as a page instead?")]
    return []


def _contrast(gray: np.ndarray) -> float:
    """Gray levels between the paper (90th percentile) and the ink (the 20th darkest pixel)."""
    from htr.preprocess import gray_percentile

    flat = gray.reshape(-1)
    k = min(19, flat.size - 1)
    darkest = float(np.partition(flat, k)[k])
    return gray_percentile(gray, 90) - darkest


def mean_confidence(char_probs) -> float | None:
    """The mean of a reading's character confidences, or None where it has none."""
    probs = [float(p) for p in (char_probs or ())]
    return sum(probs) / len(probs) if probs else None


def check_reading(text: str, char_probs=()) -> list[Finding]:
    """What is odd about a reading: nothing read at all, or read with low confidence."""
    if not text.strip():
        return [Finding("nothing_read", "Nothing was read: the reader found no characters in this image.")]
    mean = mean_confidence(char_probs)
    if mean is not None and mean < LOW_CONFIDENCE:
        return [Finding("low_confidence", f"Low confidence: on average the model gives its characters "
                                          f"{100 * mean:.0f} % (below {100 * LOW_CONFIDENCE:.0f} %). "
                                          "Treat this reading as a guess.")]
    return []
