"""htr.ctc on hand-made posteriors whose answers are known or brute-forced.

The brute force enumerates every frame-level path over the few classes that
carry probability, collapses it by the CTC rule (merge repeats, drop blanks)
and sums (or maximises) path probabilities. That is CTC's definition, so it
checks decoding, alignment and the blank convention independently of the code.
"""

from __future__ import annotations

import itertools
import math
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pytest

from htr.alphabet import BLANK, CHARS, NUM_CLASSES, encode
from htr.ctc import Decoded, beam_decode, best_path, forced_align, greedy_decode

A, B, C = CHARS.index("a"), CHARS.index("b"), CHARS.index("c")
SYM = {"a": A, "b": B, "c": C, "_": BLANK}


def posteriors(rows: list[dict[str, float]], floor: float = 0.0) -> np.ndarray:
    """(T, 80) probabilities from rows like {'a': 0.6, '_': 0.4}; other classes get ``floor``."""
    p = np.full((len(rows), NUM_CLASSES), floor, np.float64)
    for t, row in enumerate(rows):
        for k, v in row.items():
            p[t, SYM[k]] = v
    p /= p.sum(axis=1, keepdims=True)
    return p.astype(np.float32)


def one_hot_path(path: str, peak: float = 0.9) -> np.ndarray:
    """Posteriors whose argmax follows ``path`` ('_' = blank), the rest spread over a, b, c, blank."""
    rows = []
    for ch in path:
        rest = (1 - peak) / 3
        rows.append({k: (peak if k == ch else rest) for k in "abc_"})
    return posteriors(rows)


def collapse(path) -> tuple[int, ...]:
    out, prev = [], None
    for c in path:
        if c != prev and c != BLANK:
            out.append(c)
        prev = c
    return tuple(out)


def brute_force(probs: np.ndarray, classes: list[int]):
    """Sum and max of path probabilities per labelling, over all paths through ``classes``."""
    total: dict[tuple[int, ...], float] = {}
    best: dict[tuple[int, ...], float] = {}
    T = probs.shape[0]
    for path in itertools.product(classes, repeat=T):
        p = float(np.prod([probs[t, c] for t, c in enumerate(path)], dtype=np.float64))
        key = collapse(path)
        total[key] = total.get(key, 0.0) + p
        lp = float(sum(math.log(float(probs[t, c]) + 1e-12) for t, c in enumerate(path)))
        best[key] = max(best.get(key, -math.inf), lp)
    return total, best


# ---------------------------------------------------------------- greedy / best path
def test_repeats_collapse_and_blanks_drop():
    d = greedy_decode(one_hot_path("aaa__bb_c"))
    assert isinstance(d, Decoded)
    assert d.text == "abc"
    assert d.indices == (A, B, C)


def test_blank_separates_double_letters():
    assert greedy_decode(one_hot_path("a_a")).text == "aa"
    assert greedy_decode(one_hot_path("aa")).text == "a"
    assert greedy_decode(one_hot_path("_aa__aaa_")).text == "aa"


def test_all_blank_gives_empty_text():
    d = greedy_decode(one_hot_path("______"))
    assert d.text == "" and d.indices == () and d.spans == () and d.char_probs == ()


def test_spans_on_a_hand_made_path():
    probs = one_hot_path("_aa__bbb_c")
    probs[2, A] = 0.95  # the most confident 'a' frame
    probs[2] /= probs[2].sum()
    d = greedy_decode(probs)
    assert d.text == "abc"
    assert [(s.char, s.start, s.end) for s in d.spans] == [("a", 1, 2), ("b", 5, 7), ("c", 9, 9)]
    assert d.char_probs[0] == pytest.approx(float(probs[1:3, A].max()))
    assert d.char_probs[1] == pytest.approx(0.9)
    assert len(d.char_probs) == len(d.text)
    assert all(0.0 <= p <= 1.0 for p in d.char_probs)


def test_best_path_score_is_the_log_probability_of_the_argmax_path():
    probs = one_hot_path("_ab_c", peak=0.7)
    d = best_path(probs)
    assert d.score == pytest.approx(5 * math.log(0.7), rel=1e-5)


def test_greedy_agrees_with_numpy_argmax_on_random_posteriors():
    rng = np.random.default_rng(1)
    for _ in range(5):
        logits = rng.normal(size=(40, NUM_CLASSES)) * 3
        logits[:, BLANK] += 2
        probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
        expect = "".join(CHARS[c] for c in collapse(probs.argmax(1)))
        assert greedy_decode(probs).text == expect


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError):
        greedy_decode(np.ones((5, 10)) / 10)  # fewer classes than the blank index
    with pytest.raises(ValueError):
        greedy_decode(np.ones(80) / 80)


# ---------------------------------------------------------------- beam search
def test_beam_finds_the_most_probable_labelling_where_best_path_does_not():
    # classic example: each frame 'a' 0.4, blank 0.6. Best path '__' -> "" (0.36),
    # but "a" collects aa + a_ + _a = 0.16 + 0.24 + 0.24 = 0.64.
    probs = posteriors([{"a": 0.4, "_": 0.6}] * 2)
    total, _ = brute_force(probs, [A, BLANK])
    assert total[()] == pytest.approx(0.36, abs=1e-6)
    assert total[(A,)] == pytest.approx(0.64, abs=1e-6)
    assert greedy_decode(probs).text == ""
    beam = beam_decode(probs)
    assert beam.text == "a"
    assert beam.score == pytest.approx(math.log(0.64), abs=1e-3)


def test_beam_matches_brute_force_on_random_tiny_posteriors():
    rng = np.random.default_rng(7)
    differed = 0
    for _ in range(12):
        rows = [dict(zip("ab_", rng.dirichlet([1.0, 1.0, 1.5]))) for _ in range(5)]
        probs = posteriors(rows)
        total, _ = brute_force(probs, [A, B, BLANK])
        best = max(total, key=total.get)
        beam = beam_decode(probs)
        assert beam.indices == best
        differed += greedy_decode(probs).indices != best
    assert differed > 0  # the set includes cases where greedy is wrong


# ---------------------------------------------------------------- forced alignment
def test_forced_align_places_text_where_it_is_most_probable():
    # "ab" is likely at frames 3 (a) and 6-7 (b); elsewhere blank dominates
    rows = [{"_": 0.8, "a": 0.1, "b": 0.1}] * 10
    rows = [dict(r) for r in rows]
    rows[3] = {"a": 0.9, "_": 0.05, "b": 0.05}
    rows[6] = {"b": 0.7, "_": 0.2, "a": 0.1}
    rows[7] = {"b": 0.8, "_": 0.1, "a": 0.1}
    d = forced_align(posteriors(rows), "ab")
    assert d.text == "ab"
    assert [(s.char, s.start, s.end) for s in d.spans] == [("a", 3, 3), ("b", 6, 7)]
    assert d.char_probs == pytest.approx((0.9, 0.8))


def test_forced_align_can_place_text_the_argmax_does_not_read():
    probs = one_hot_path("__________")  # the model saw nothing
    d = forced_align(probs, "cab")
    assert d.text == "cab"
    starts = [s.start for s in d.spans]
    assert starts == sorted(starts) and len(set(starts)) == 3
    for s in d.spans:
        assert 0 <= s.start <= s.end < 10


def test_forced_align_handles_double_letters():
    probs = one_hot_path("_aa_a__", peak=0.6)
    d = forced_align(probs, "aa")
    assert d.text == "aa"
    first, second = d.spans
    assert first.end < second.start - 1  # a blank frame must separate them
    assert (first.start, first.end, second.start, second.end) == (1, 2, 4, 4)
    # "aa" in exactly 3 frames: a, blank, a
    d3 = forced_align(one_hot_path("a_a"), "aa")
    assert [(s.start, s.end) for s in d3.spans] == [(0, 0), (2, 2)]


def test_forced_align_refuses_text_too_long_for_the_frames():
    probs = one_hot_path("____")
    with pytest.raises(ValueError):
        forced_align(probs, "abcab")  # 5 characters, 4 frames
    with pytest.raises(ValueError):
        forced_align(one_hot_path("__"), "aa")  # doubled letter needs 3 frames
    assert forced_align(one_hot_path("___"), "aa").text == "aa"


def test_forced_align_drops_out_of_alphabet_characters():
    probs = one_hot_path("_a_b_")
    d = forced_align(probs, "a€b|")
    assert d.text == "ab"
    assert [s.char for s in d.spans] == ["a", "b"]
    assert forced_align(probs, "€").text == ""


@pytest.mark.parametrize("text", ["ab", "aa", "aba", "b"])
def test_forced_align_score_is_the_brute_force_best_alignment(text):
    rng = np.random.default_rng(len(text) * 31 + ord(text[0]))
    rows = [dict(zip("ab_", rng.dirichlet([1.0, 1.0, 1.0]))) for _ in range(6)]
    probs = posteriors(rows)
    _, best = brute_force(probs, [A, B, BLANK])
    d = forced_align(probs, text)
    key = tuple(encode(text).tolist())
    assert d.score == pytest.approx(best[key], abs=1e-4)
    # the alignment it returns is a maximising path: frames outside the spans are
    # blank, so spans determine the path; rebuild its score
    states = np.full(probs.shape[0], BLANK)
    for s, c in zip(d.spans, key):
        states[s.start : s.end + 1] = c
    assert collapse(states) == key
    rebuilt = sum(math.log(float(probs[t, c]) + 1e-12) for t, c in enumerate(states))
    assert rebuilt == pytest.approx(best[key], abs=1e-4)


# ---------------------------------------------------------------- the blank convention in Keras' loss
def test_keras_ctc_loss_is_minus_log_sum_of_paths_with_blank_last():
    from keras import ops

    rng = np.random.default_rng(3)
    rows = [dict(zip("ab_", rng.dirichlet([1.0, 1.0, 1.0]))) for _ in range(5)]
    probs = posteriors(rows, floor=0.0)
    total, _ = brute_force(probs, [A, B, BLANK])
    for text in ("ab", "aa", "b"):
        label = encode(text)[None]
        loss = ops.ctc_loss(
            label,
            np.log(np.clip(probs, 1e-8, 1.0))[None],
            np.array([label.shape[1]], np.int32),
            np.array([probs.shape[0]], np.int32),
            mask_index=BLANK,
        )
        expect = -math.log(total[tuple(encode(text).tolist())])
        assert float(np.asarray(loss).ravel()[0]) == pytest.approx(expect, rel=1e-3)


def test_beam_agrees_with_greedy_when_one_path_dominates():
    probs = one_hot_path("_aa_b_cc_c_a__", peak=0.97)
    g, b = greedy_decode(probs), beam_decode(probs)
    assert g.text == b.text == "abcca"
    # beam's spans come from forced alignment and fall on the same frames here
    assert [(s.start, s.end) for s in b.spans] == [(s.start, s.end) for s in g.spans]
    assert len(b.char_probs) == len(b.text)


def test_empty_text_aligns_to_all_blank():
    probs = one_hot_path("_a__", peak=0.7)
    d = forced_align(probs, "")
    assert d.text == "" and d.spans == ()
    expect = sum(math.log(float(probs[t, BLANK])) for t in range(4))
    assert d.score == pytest.approx(expect, abs=1e-5)
