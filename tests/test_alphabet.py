"""htr.alphabet: the 79 IAM characters, the blank, and the text <-> index maps."""

from __future__ import annotations

import numpy as np
import pytest

from htr.alphabet import BLANK, CHARS, NUM_CLASSES, decode, encode, label, normalize


def test_sizes_and_blank_is_last_class():
    assert len(CHARS) == 79
    assert len(set(CHARS)) == 79
    assert BLANK == 79 == NUM_CLASSES - 1
    assert NUM_CLASSES == 80
    assert list(CHARS) == sorted(CHARS)
    assert " " in CHARS and "|" not in CHARS


def test_encode_decode_round_trip_of_every_character():
    idx = encode(CHARS)
    assert idx.dtype == np.int32
    assert idx.tolist() == list(range(79))
    assert decode(idx) == CHARS
    text = "A PLAN to meet Mr. Brown at noon"
    assert decode(encode(text)) == text


def test_encode_drops_characters_outside_the_alphabet():
    # é, ~, ï and | are not IAM characters; everything else is kept in order
    assert decode(encode("café ~ naïve|x")) == "caf  navex"
    assert encode("é~|€").size == 0
    assert decode(encode("a€b")) == "ab"


def test_decode_skips_blank_and_out_of_range_indices():
    a, b = CHARS.index("a"), CHARS.index("b")
    assert decode([a, BLANK, b, -1, 1000]) == "ab"
    assert decode(np.array([BLANK, BLANK])) == ""
    assert decode([]) == ""


def test_normalize_replaces_unknown_characters_and_collapses_whitespace():
    assert normalize("  hello\t\tworld \n") == "hello world"
    assert normalize("café~bar") == "caf bar"
    assert normalize("a|b") == "a b"
    assert normalize("") == ""
    assert normalize("€€€") == ""


def test_label_names_blank_and_space():
    assert label(BLANK) == "∅"
    assert label(CHARS.index(" ")) == "␣"
    assert label(CHARS.index("Q")) == "Q"


def test_alphabet_covers_iam_ground_truth(iam_dir):
    """Every character of IAM's line ground truth is one of ours (IAM's '|' is a word gap)."""
    seen = set()
    with open(iam_dir / "ascii" / "lines.txt", encoding="utf-8", errors="replace") as f:
        for row in f:
            if row.startswith("#") or not row.strip():
                continue
            seen.update(row.rstrip("\n").split(" ", 8)[8].replace("|", " "))
    assert seen <= set(CHARS), sorted(seen - set(CHARS))
    assert len(seen) >= 75  # the full ground truth uses (nearly) all of them
