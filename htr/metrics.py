"""Character and word error rates, and a character diff for display.

``cer`` and ``wer`` are Levenshtein distances (``editdistance``) divided by the
length of the reference, in characters or in whitespace-separated words.
Strings are compared exactly as given (no case folding, no whitespace
normalisation); normalise before calling if you want that.

An empty reference has no length to divide by. We define: the error rate is
0.0 when the hypothesis is empty too, and 1.0 otherwise (everything the
recogniser produced is wrong, but a single line never counts more than 100%).
Corpus-level figures (:func:`aggregate`) divide total edits by total reference
length instead, so there an empty reference adds its insertions to the edits.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Iterable

import editdistance
import numpy as np

#: Above this many DP cells :func:`char_diff` falls back to difflib (not minimal).
MAX_DIFF_CELLS = 16_000_000

OPS = ("equal", "replace", "delete", "insert")


def _rate(edits: int, ref_len: int, hyp_len: int) -> float:
    if ref_len == 0:
        return 0.0 if hyp_len == 0 else 1.0
    return edits / ref_len


def char_edits(ref: str, hyp: str) -> int:
    """Levenshtein distance between two strings, in characters."""
    return int(editdistance.eval(ref, hyp))


def word_edits(ref: str, hyp: str) -> int:
    """Levenshtein distance between the whitespace-separated words of two strings."""
    return int(editdistance.eval(ref.split(), hyp.split()))


def unspace_punctuation(text: str) -> str:
    """``text`` with the spaces around punctuation taken out, and runs of space made one.

    IAM's transcriptions write punctuation as separate tokens (``dog .``,
    ``" the outset "``, ``did n't``) and so does Easter2, trained on them;
    EasyOCR and Tesseract write English spacing (``dog.``). Scoring both
    sides after this function compares what was read, not which convention
    the engine follows. Quotes lose the spaces on both sides (whether one
    opens or closes is not known), the same on both sides of a comparison.
    """
    text = _SPACE_BEFORE.sub(r"\1", text)
    text = _SPACE_AFTER.sub(r"\1", text)
    text = _SPACE_AROUND.sub(r"\1", text)
    return " ".join(text.split())


_SPACE_BEFORE = re.compile(r"\s+([.,;:?!)]|n't\b|'(?:s|d|ll|re|ve|m)\b)")
_SPACE_AFTER = re.compile(r"([(])\s+")
_SPACE_AROUND = re.compile(r'\s*(")\s*')


def cer(ref: str, hyp: str) -> float:
    """Character error rate: edits / len(ref). Empty ref: 0.0 if hyp empty else 1.0."""
    return _rate(char_edits(ref, hyp), len(ref), len(hyp))


def fair_cer(ref: str, hyp: str) -> float:
    """:func:`cer` after :func:`unspace_punctuation` on both sides: the punctuation-fair CER.

    IAM's ``dog .`` against a reader's ``dog.`` costs one edit in :func:`cer` and
    none here; every other difference (a wrong, missing or extra character,
    punctuation included) counts the same in both.
    """
    return cer(unspace_punctuation(ref), unspace_punctuation(hyp))


def wer(ref: str, hyp: str) -> float:
    """Word error rate over whitespace-separated words; empty ref as in :func:`cer`."""
    return _rate(word_edits(ref, hyp), len(ref.split()), len(hyp.split()))


@dataclass(frozen=True)
class Score:
    """Corpus-level error rates: total edits over total reference length."""

    lines: int
    chars: int
    char_edits: int
    words: int
    word_edits: int
    exact: int  # lines read exactly right

    @property
    def cer(self) -> float:
        return _rate(self.char_edits, self.chars, self.char_edits)

    @property
    def wer(self) -> float:
        return _rate(self.word_edits, self.words, self.word_edits)

    @property
    def line_accuracy(self) -> float:
        return self.exact / self.lines if self.lines else 0.0


def aggregate(pairs: Iterable[tuple[str, str]]) -> Score:
    """Score many (ref, hyp) pairs at once: CER = total char edits / total ref chars."""
    n = chars = cedits = words = wedits = exact = 0
    for ref, hyp in pairs:
        n += 1
        chars += len(ref)
        cedits += char_edits(ref, hyp)
        words += len(ref.split())
        wedits += word_edits(ref, hyp)
        exact += ref == hyp
    return Score(n, chars, cedits, words, wedits, exact)


def char_diff(ref: str, hyp: str) -> list[tuple[str, str, str]]:
    """A minimal character alignment of ``hyp`` against ``ref``, as runs.

    Returns ``[(op, ref_text, hyp_text), ...]`` with ``op`` one of
    ``"equal"``, ``"replace"`` (ref_text read as hyp_text), ``"delete"``
    (ref_text missing from hyp, hyp_text == "") and ``"insert"`` (hyp_text
    not in ref, ref_text == ""). Concatenating the ref_texts gives ``ref``,
    the hyp_texts give ``hyp``. Replace runs pair characters one to one, so
    the edited characters (see :func:`diff_edits`) add up to the Levenshtein
    distance. Adjacent runs of the same op are merged. Inputs longer than
    ``MAX_DIFF_CELLS`` allows fall back to difflib, which is not minimal.
    """
    # common prefix and suffix never need the DP
    p = 0
    while p < len(ref) and p < len(hyp) and ref[p] == hyp[p]:
        p += 1
    s = 0
    while s < len(ref) - p and s < len(hyp) - p and ref[-1 - s] == hyp[-1 - s]:
        s += 1
    a, b = ref[p : len(ref) - s], hyp[p : len(hyp) - s]
    steps: list[tuple[str, str, str]] = [("equal", ref[:p], hyp[:p])] if p else []
    if (len(a) + 1) * (len(b) + 1) > MAX_DIFF_CELLS:
        steps += _difflib_steps(a, b)
    else:
        steps += _levenshtein_steps(a, b)
    if s:
        steps.append(("equal", ref[len(ref) - s :], hyp[len(hyp) - s :]))
    return _merge(steps)


def _levenshtein_steps(a: str, b: str) -> list[tuple[str, str, str]]:
    n, m = len(a), len(b)
    if n == 0 or m == 0:
        out = []
        if n:
            out.append(("delete", a, ""))
        if m:
            out.append(("insert", "", b))
        return out
    bv = np.frombuffer(b.encode("utf-32-le"), dtype=np.uint32)
    av = np.frombuffer(a.encode("utf-32-le"), dtype=np.uint32)
    d = np.empty((n + 1, m + 1), dtype=np.int32)
    d[0] = np.arange(m + 1)
    j = np.arange(m + 1, dtype=np.int32)
    for i in range(1, n + 1):
        prev = d[i - 1]
        t = np.empty(m + 1, dtype=np.int32)
        t[0] = i
        cost = (bv != av[i - 1]).astype(np.int32)
        t[1:] = np.minimum(prev[1:] + 1, prev[:-1] + cost)
        # insertions along the row: d[i][j] = min_k<=j (t[k] + j - k)
        d[i] = np.minimum.accumulate(t - j) + j
    # backtrace from the end, preferring match/replace, then delete, then insert
    out: list[tuple[str, str, str]] = []
    i, k = n, m
    while i > 0 or k > 0:
        if i > 0 and k > 0:
            same = a[i - 1] == b[k - 1]
            if d[i, k] == d[i - 1, k - 1] + (0 if same else 1):
                out.append(("equal" if same else "replace", a[i - 1], b[k - 1]))
                i, k = i - 1, k - 1
                continue
        if i > 0 and d[i, k] == d[i - 1, k] + 1:
            out.append(("delete", a[i - 1], ""))
            i -= 1
        else:
            out.append(("insert", "", b[k - 1]))
            k -= 1
    out.reverse()
    return out


def _difflib_steps(a: str, b: str) -> list[tuple[str, str, str]]:
    out = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        out.append((op, a[i1:i2], b[j1:j2]))
    return out


def _merge(steps: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    merged: list[list[str]] = []
    for op, r, h in steps:
        if not r and not h:
            continue
        if merged and merged[-1][0] == op:
            merged[-1][1] += r
            merged[-1][2] += h
        else:
            merged.append([op, r, h])
    return [(op, r, h) for op, r, h in merged]


def diff_edits(diff: list[tuple[str, str, str]]) -> int:
    """Number of character edits a :func:`char_diff` result stands for."""
    total = 0
    for op, r, h in diff:
        if op == "replace":
            total += max(len(r), len(h))
        elif op in ("delete", "insert"):
            total += len(r) + len(h)
    return total


#: How a missing or an extra character is written in a confusion (``("e", MISSING)``: an
#: ``e`` of the truth that the reading lacks; ``(MISSING, "e")``: an ``e`` the truth lacks).
MISSING = ""


@dataclass(frozen=True)
class Confusions:
    """Which true characters were read as what, over many lines (from :func:`char_diff`).

    ``pairs`` counts every edit: ``(true, read)`` for a substitution,
    ``(true, MISSING)`` for a deletion, ``(MISSING, read)`` for an insertion.
    ``truth`` counts each character of the references and ``correct`` those
    read right, so ``1 - correct[c] / truth[c]`` is how often ``c`` goes wrong.
    The edits add up to the Levenshtein distance of each line (where the
    alignment is minimal; see :func:`char_diff`).
    """

    pairs: dict[tuple[str, str], int]
    truth: dict[str, int]
    correct: dict[str, int]

    @property
    def edits(self) -> int:
        return sum(self.pairs.values())

    def top(self, n: int = 10) -> list[tuple[str, str, int]]:
        """The ``n`` most frequent edits as ``(true, read, count)``, most frequent first (ties by characters)."""
        ranked = sorted(self.pairs.items(), key=lambda kv: (-kv[1], kv[0]))
        return [(t, r, c) for (t, r), c in ranked[:n]]

    def error_rate(self, char: str) -> float:
        """Share of ``char``'s occurrences in the truth that were not read as ``char`` (0.0 if it never occurs)."""
        n = self.truth.get(char, 0)
        return 1.0 - self.correct.get(char, 0) / n if n else 0.0


def char_confusions(pairs: Iterable[tuple[str, str]]) -> Confusions:
    """Count the character edits of many ``(ref, hyp)`` pairs, aligned as :func:`char_diff` aligns them."""
    from collections import Counter

    edits: Counter = Counter()
    truth: Counter = Counter()
    correct: Counter = Counter()
    for ref, hyp in pairs:
        truth.update(ref)
        for op, r, h in char_diff(ref, hyp):
            if op == "equal":
                correct.update(r)
            elif op == "delete":
                edits.update((c, MISSING) for c in r)
            elif op == "insert":
                edits.update((MISSING, c) for c in h)
            else:  # replace: one to one, any surplus (only after the difflib fallback) as deletions/insertions
                k = min(len(r), len(h))
                edits.update(zip(r[:k], h[:k]))
                edits.update((c, MISSING) for c in r[k:])
                edits.update((MISSING, c) for c in h[k:])
    return Confusions(dict(edits), dict(truth), dict(correct))
