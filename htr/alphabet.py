"""The 79 characters of IAM's ground truth and the CTC blank.

One blank index, defined once here and passed explicitly to every CTC call.
"""

from __future__ import annotations

import numpy as np

#: The 79 distinct characters of IAM ``ascii/lines.txt`` (space included), sorted.
CHARS = (
    " !\"#&'()*+,-./0123456789:;?"
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "abcdefghijklmnopqrstuvwxyz"
)
assert len(CHARS) == 79 and len(set(CHARS)) == 79

#: Index of the CTC blank in the model's output: the last class.
BLANK = len(CHARS)
#: Number of output classes (79 characters + blank).
NUM_CLASSES = len(CHARS) + 1

_INDEX = {c: i for i, c in enumerate(CHARS)}


def encode(text: str) -> np.ndarray:
    """Map text to class indices, dropping characters outside the alphabet."""
    return np.array([_INDEX[c] for c in text if c in _INDEX], dtype=np.int32)


def decode(indices) -> str:
    """Map class indices (no blanks, no repeats collapsed here) back to text."""
    return "".join(CHARS[int(i)] for i in indices if 0 <= int(i) < BLANK)


def normalize(text: str) -> str:
    """Keep only characters the model can produce, and collapse whitespace."""
    kept = "".join(c if c in _INDEX else " " for c in text)
    return " ".join(kept.split())


def label(index: int) -> str:
    """Human label for a class index: the character, or '∅' for blank."""
    if index == BLANK:
        return "∅"
    return "␣" if CHARS[index] == " " else CHARS[index]
