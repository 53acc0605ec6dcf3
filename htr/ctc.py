"""CTC decoding and alignment over Easter2's per-time-step probabilities.

Every function takes ``probs`` of shape (T, C) for one line (softmax output,
rows sum to 1) and the blank index explicitly (default: the alphabet's). Greedy
and beam search use Keras' ``ops.ctc_decode`` (TensorFlow's decoders under the
TensorFlow backend); the time spans of a decoded string and the forced
(Viterbi) alignment of a given text are computed here, since neither ships.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from htr.alphabet import BLANK, decode, encode

_EPS = 1e-12


@dataclass(frozen=True)
class Span:
    """One character placed on the time axis: steps ``start``..``end`` inclusive."""

    char: str
    start: int
    end: int
    prob: float


@dataclass(frozen=True)
class Decoded:
    """A decoded line: text, class indices, and one span per character."""

    text: str
    indices: tuple[int, ...]
    spans: tuple[Span, ...]
    score: float = 0.0

    @property
    def char_probs(self) -> tuple[float, ...]:
        return tuple(s.prob for s in self.spans)


def _check(probs: np.ndarray, blank: int) -> np.ndarray:
    probs = np.asarray(probs, dtype=np.float32)
    if probs.ndim != 2 or probs.shape[1] <= blank:
        raise ValueError(f"probs must be (T, C) with C > blank={blank}, got {probs.shape}")
    if probs.shape[0] == 0:
        raise ValueError("probs has no time steps")
    return probs


def best_path(probs: np.ndarray, blank: int = BLANK) -> Decoded:
    """Greedy (best-path) decoding with spans: argmax per step, merge repeats, drop blanks.

    Each character's span is the run of steps where the argmax path emits it;
    its probability is the highest posterior of that class inside the run.
    """
    probs = _check(probs, blank)
    path = probs.argmax(axis=1)
    spans, idx = [], []
    t, T = 0, len(path)
    while t < T:
        c = int(path[t])
        end = t
        while end + 1 < T and path[end + 1] == c:
            end += 1
        if c != blank:
            idx.append(c)
            spans.append(Span(decode([c]), t, end, float(probs[t : end + 1, c].max())))
        t = end + 1
    score = float(np.log(probs[np.arange(T), path] + _EPS).sum())
    return Decoded(decode(idx), tuple(idx), tuple(spans), score)


#: How :func:`collapse_stages` shows a blank step.
BLANK_MARK = "∅"


@dataclass(frozen=True)
class Collapse:
    """Greedy decoding shown step by step: the best class at every time step, then
    equal neighbours merged, then blanks dropped. Entries are one character each
    (:data:`BLANK_MARK` for a blank)."""

    steps: tuple[str, ...]  # the best class at every time step
    merged: tuple[str, ...]  # runs of the same class merged into one
    text: str  # the blanks dropped: the text read

    def upto(self, t: int) -> "Collapse":
        """The same stages over the first ``t`` steps only (what has been read by step ``t``)."""
        steps = self.steps[: max(0, int(t))]
        merged = tuple(c for i, c in enumerate(steps) if i == 0 or steps[i - 1] != c)
        return Collapse(steps, merged, "".join(c for c in merged if c != BLANK_MARK))


def collapse_stages(probs: np.ndarray, blank: int = BLANK) -> Collapse:
    """The best path of ``probs`` and its two collapsing steps (its ``text`` is :func:`best_path`'s)."""
    probs = _check(probs, blank)
    path = probs.argmax(axis=1)
    steps = tuple(BLANK_MARK if int(c) == blank else decode([int(c)]) for c in path)
    return Collapse(steps, (), "").upto(len(steps))


def _keras_decode(probs: np.ndarray, blank: int, strategy: str, beam_width: int):
    from keras import ops

    logp = np.log(probs + _EPS)[None]
    decoded, scores = ops.ctc_decode(
        logp,
        np.array([probs.shape[0]], dtype=np.int32),
        strategy=strategy,
        beam_width=beam_width,
        top_paths=1,
        mask_index=blank,
    )
    seq = np.asarray(ops.convert_to_numpy(decoded))[0, 0]
    score = float(np.asarray(ops.convert_to_numpy(scores)).ravel()[0])
    return [int(i) for i in seq if i >= 0 and i != blank], score


def greedy_decode(probs: np.ndarray, blank: int = BLANK) -> Decoded:
    """Greedy CTC decoding through Keras, with per-character spans and confidences."""
    probs = _check(probs, blank)
    idx, _ = _keras_decode(probs, blank, "greedy", 1)
    path = best_path(probs, blank)
    if list(path.indices) != idx:  # cannot happen for one argmax path; guard anyway
        return forced_align(probs, decode(idx), blank)
    return path


def beam_decode(probs: np.ndarray, beam_width: int = 16, blank: int = BLANK) -> Decoded:
    """Beam-search CTC decoding through Keras; spans come from forced alignment."""
    probs = _check(probs, blank)
    idx, score = _keras_decode(probs, blank, "beam_search", beam_width)
    aligned = forced_align(probs, decode(idx), blank)
    return Decoded(aligned.text, aligned.indices, aligned.spans, score)


def forced_align(probs: np.ndarray, text: str, blank: int = BLANK) -> Decoded:
    """Viterbi alignment of ``text`` to ``probs``: where each character sits in time.

    Runs over CTC's extended label sequence (blank, c1, blank, c2, …, blank),
    allowing skips over a blank between two different characters. Characters
    outside the alphabet are dropped. Raises ValueError when the text needs
    more time steps than there are.
    """
    probs = _check(probs, blank)
    labels = encode(text)
    T = probs.shape[0]
    if len(labels) == 0:
        return Decoded("", (), (), float(np.log(probs[:, blank] + _EPS).sum()))
    need = len(labels) + int(np.sum(labels[1:] == labels[:-1]))
    if need > T:
        raise ValueError(f"text of {len(labels)} characters needs {need} time steps, only {T}")

    ext = np.full(2 * len(labels) + 1, blank, dtype=np.int64)
    ext[1::2] = labels
    S = len(ext)
    logp = np.log(probs[:, ext] + _EPS)  # (T, S)
    can_skip = np.zeros(S, dtype=bool)
    can_skip[3::2] = ext[3::2] != ext[1:-2:2]

    NEG = -np.inf
    score = np.full(S, NEG)
    score[0], score[1] = logp[0, 0], logp[0, 1]
    back = np.zeros((T, S), dtype=np.int8)  # 0 stay, 1 from s-1, 2 from s-2
    for t in range(1, T):
        stay = score
        prev1 = np.concatenate(([NEG], score[:-1]))
        prev2 = np.where(can_skip, np.concatenate(([NEG, NEG], score[:-2])), NEG)
        cand = np.stack([stay, prev1, prev2])
        choice = cand.argmax(axis=0)
        back[t] = choice
        score = cand[choice, np.arange(S)] + logp[t]

    s = S - 1 if score[S - 1] >= score[S - 2] else S - 2
    total = float(score[s])
    states = np.empty(T, dtype=np.int64)
    for t in range(T - 1, -1, -1):
        states[t] = s
        s -= int(back[t, s])

    spans = []
    for k, c in enumerate(labels):
        steps = np.nonzero(states == 2 * k + 1)[0]
        spans.append(Span(decode([c]), int(steps[0]), int(steps[-1]), float(probs[steps, c].max())))
    return Decoded(decode(labels), tuple(int(c) for c in labels), tuple(spans), total)
