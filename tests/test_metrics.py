"""htr.metrics against values worked out by hand."""

from __future__ import annotations

import random

import editdistance
import pytest

from htr import metrics
from htr.metrics import aggregate, cer, char_diff, diff_edits, wer


def test_cer_known_values():
    assert cer("kitten", "sitting") == pytest.approx(3 / 6)
    assert cer("sitting", "kitten") == pytest.approx(3 / 7)
    assert cer("abc", "abc") == 0.0
    assert cer("abc", "") == 1.0
    assert cer("ab", "abcdef") == pytest.approx(4 / 2)  # insertions can exceed 100%
    assert cer("Mr. Foot", "Mr Foot") == pytest.approx(1 / 8)


def test_cer_is_case_and_space_sensitive():
    assert cer("Labour", "labour") == pytest.approx(1 / 6)
    assert cer("a b", "a  b") == pytest.approx(1 / 3)


def test_empty_reference_is_defined():
    assert cer("", "") == 0.0
    assert cer("", "x") == 1.0
    assert cer("", "a long hypothesis") == 1.0
    assert wer("", "") == 0.0
    assert wer("", "one two") == 1.0
    assert wer("   ", "") == 0.0


def test_wer_known_values():
    assert wer("the cat sat", "the bat sat") == pytest.approx(1 / 3)
    assert wer("A MOVE to stop", "A MOVE to stop") == 0.0
    assert wer("A MOVE to stop", "A MOVE stop") == pytest.approx(1 / 4)
    assert wer("a b", "a   b") == 0.0  # words, not spaces
    assert wer("a b c d", "x") == 1.0


def test_aggregate_is_corpus_level_not_mean_of_lines():
    score = aggregate([("kitten", "sitting"), ("abcdefghij", "abcdefghij")])
    assert score.lines == 2 and score.chars == 16 and score.char_edits == 3
    assert score.cer == pytest.approx(3 / 16)  # the mean of lines would be 0.25
    assert score.exact == 1 and score.line_accuracy == 0.5
    assert score.words == 2 and score.word_edits == 1 and score.wer == 0.5
    empty = aggregate([])
    assert empty.cer == 0.0 and empty.line_accuracy == 0.0


def _check(ref, hyp, diff):
    assert "".join(r for _, r, _ in diff) == ref
    assert "".join(h for _, _, h in diff) == hyp
    assert diff_edits(diff) == editdistance.eval(ref, hyp)
    for op, r, h in diff:
        assert op in metrics.OPS
        if op == "equal":
            assert r == h
        elif op == "replace":
            assert len(r) == len(h) and all(a != b for a, b in zip(r, h))
        elif op == "delete":
            assert r and not h
        else:
            assert h and not r
    ops = [op for op, _, _ in diff]
    assert all(a != b for a, b in zip(ops, ops[1:])), "runs must be merged"


def test_char_diff_kitten():
    diff = char_diff("kitten", "sitting")
    assert diff == [
        ("replace", "k", "s"),
        ("equal", "itt", "itt"),
        ("replace", "e", "i"),
        ("equal", "n", "n"),
        ("insert", "", "g"),
    ]


def test_char_diff_edge_cases():
    assert char_diff("", "") == []
    assert char_diff("abc", "abc") == [("equal", "abc", "abc")]
    assert char_diff("abc", "") == [("delete", "abc", "")]
    assert char_diff("", "abc") == [("insert", "", "abc")]
    assert char_diff("Mr. Foot", "Mr Foot") == [("equal", "Mr", "Mr"), ("delete", ".", ""), ("equal", " Foot", " Foot")]
    assert char_diff("naïve 手書き", "naive 手書") == [
        ("equal", "na", "na"),
        ("replace", "ï", "i"),
        ("equal", "ve 手書", "ve 手書"),
        ("delete", "き", ""),
    ]


def test_char_diff_is_minimal_where_difflib_is_not():
    # difflib matches the long common block and pays more edits elsewhere
    import difflib

    ref, hyp = "abcabba", "cbabac"
    ops = difflib.SequenceMatcher(None, ref, hyp, autojunk=False).get_opcodes()
    difflib_edits = sum(max(i2 - i1, j2 - j1) for op, i1, i2, j1, j2 in ops if op != "equal")
    diff = char_diff(ref, hyp)
    _check(ref, hyp, diff)
    assert diff_edits(diff) <= difflib_edits


def test_char_diff_random_against_editdistance():
    rng = random.Random(7)
    for _ in range(500):
        ref = "".join(rng.choice("ab c.") for _ in range(rng.randint(0, 15)))
        hyp = "".join(rng.choice("ab c.") for _ in range(rng.randint(0, 15)))
        _check(ref, hyp, char_diff(ref, hyp))


def test_char_diff_long_lines_fast_and_fallback(monkeypatch):
    rng = random.Random(3)
    ref = "".join(rng.choice("abcdefgh ") for _ in range(1500))
    hyp = "".join(rng.choice("abcdefgh ") for _ in range(1500))
    _check(ref, hyp, char_diff(ref, hyp))
    monkeypatch.setattr(metrics, "MAX_DIFF_CELLS", 10)
    diff = char_diff("xabcdefy", "zabcdefw")  # over the limit: difflib, still consistent
    assert "".join(r for _, r, _ in diff) == "xabcdefy"
    assert "".join(h for _, _, h in diff) == "zabcdefw"


def test_unspace_punctuation_makes_iam_and_english_spacing_meet():
    from htr.metrics import unspace_punctuation

    iam_style = 'he said " yes , it is n\'t mine " ( the man \'s ) .'
    english = 'he said "yes, it isn\'t mine" (the man\'s).'
    assert unspace_punctuation(iam_style) == unspace_punctuation(english)
    assert cer(unspace_punctuation(iam_style), unspace_punctuation(english)) == 0.0
    assert cer(iam_style, english) > 0.1  # raw, the conventions differ by many characters
    # it never hides a wrong letter or a missing word
    assert unspace_punctuation("the dog .") != unspace_punctuation("the dig.")
    assert unspace_punctuation("a b c") == "a b c" and unspace_punctuation("  ") == ""


# ---------------------------------------------------------------- character confusions
def test_char_confusions_count_substitutions_drops_and_additions():
    from htr.metrics import MISSING, char_confusions

    conf = char_confusions([("the cat", "tho cat"), ("dog .", "dog."), ("", "x"), ("mom", "mom")])
    assert conf.pairs == {("e", "o"): 1, (" ", MISSING): 1, (MISSING, "x"): 1}
    assert conf.edits == 3
    assert conf.truth["t"] == 2 and conf.correct["t"] == 2 and conf.truth["e"] == 1 and conf.correct.get("e", 0) == 0
    assert conf.error_rate("e") == 1.0 and conf.error_rate("t") == 0.0 and conf.error_rate("Q") == 0.0
    assert conf.error_rate(" ") == 0.5  # one of the two spaces dropped
    assert conf.top(2) == [(MISSING, "x", 1), (" ", MISSING, 1)]  # ties ordered by the characters


def test_char_confusions_add_up_to_the_levenshtein_distance():
    from collections import Counter

    from htr.metrics import MISSING, char_confusions

    rng = random.Random(7)
    pairs = [("".join(rng.choice("abc ") for _ in range(rng.randint(0, 12))),
              "".join(rng.choice("abcd ") for _ in range(rng.randint(0, 12)))) for _ in range(300)]
    conf = char_confusions(pairs)
    assert conf.edits == sum(editdistance.eval(r, h) for r, h in pairs)
    truth = Counter(c for r, _ in pairs for c in r)
    assert conf.truth == dict(truth)
    for c, n in truth.items():  # each true character is read right, read as another, or dropped
        wrong = sum(k for (t, _h), k in conf.pairs.items() if t == c)
        assert conf.correct.get(c, 0) + wrong == n
    # each read character is right, read for another, or added
    read = Counter(c for _, h in pairs for c in h)
    for c, n in read.items():
        assert conf.correct.get(c, 0) + sum(k for (t, h), k in conf.pairs.items() if h == c) == n
    assert all(t != MISSING or h != MISSING for t, h in conf.pairs)
