"""A character n-gram language model and CTC prefix beam search that uses it.

Easter2 reads each time step on its own; a language model knows which letter
sequences English allows. :class:`CharLM` is an interpolated Witten-Bell
character n-gram model (Witten & Bell 1991; the smoothing of SRILM's ``-wbdiscount``)
over the 79 IAM characters, and :func:`lm_beam_decode` is CTC prefix beam
search (Hannun et al. 2014, arXiv 1408.2873) that scores each extension with
``log p_ctc + alpha * log p_lm + beta``.

Where the text comes from decides what the model may know. :func:`iam_train_lm`
fits on the transcriptions of the IAM lines in the Aachen *train* split only,
read from the user's IAM copy at run time: nothing derived from IAM is stored
in this repository, and no validation or test text reaches the model.
``alpha`` and ``beta`` were chosen on the validation lines
(``benchmarks/lm_tune.py``).

Pure numpy; nothing here imports Keras or Streamlit.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from htr.alphabet import BLANK, CHARS, normalize

#: Context length + 1 (a 5-gram sees the 4 characters before); chosen by validation perplexity.
ORDER = 5
#: LM weight and per-character bonus; chosen on the validation lines for the shipped weights (benchmarks/lm_tune.py).
ALPHA = 0.2
BETA = 0.0
#: A character is tried at a time step only where the model gives it at least this.
PRUNE = 1e-3
#: Marks the start of a line in a context (not one of the 79 characters).
BOS = "\x02"

_LOG_EPS = -1e30
#: Contexts whose distributions are kept (79 floats each).
_CACHE_MAX = 20_000


@dataclass
class CharLM:
    """Interpolated Witten-Bell character n-gram model over :data:`htr.alphabet.CHARS`.

    ``P(c | h) = (C(h c) + T(h) * P(c | h')) / (C(h) + T(h))`` where ``T(h)`` is
    the number of distinct characters seen after ``h`` and ``h'`` is ``h``
    without its first character; the recursion ends in a uniform distribution.
    """

    order: int = ORDER
    ngrams: Counter = field(default_factory=Counter)  # "h" + "c" -> count, every length 1..order
    n_texts: int = 0
    _cache: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @classmethod
    def fit(cls, texts, order: int = ORDER) -> CharLM:
        if order < 1:
            raise ValueError(f"order must be at least 1, not {order}")
        lm = cls(order=order)
        padded = [BOS * (order - 1) + t for t in map(normalize, texts) if t]
        if not padded:
            raise ValueError("no text to fit a language model on")
        lm.n_texts = len(padded)
        for n in range(1, order + 1):  # n-grams ending at each real character
            lm.ngrams.update(s[i - n + 1: i + 1] for s in padded for i in range(order - 1, len(s)))
        return lm

    def probs(self, prefix: str) -> np.ndarray:
        """P(c | the last order-1 characters of ``prefix``) for the 79 characters."""
        h = (BOS * (self.order - 1) + prefix)[len(prefix):] if self.order > 1 else ""
        return self._dist(h)

    def _dist(self, h: str) -> np.ndarray:
        cached = self._cache.get(h)
        if cached is not None:
            return cached
        lower = self._dist(h[1:]) if h else np.full(len(CHARS), 1.0 / len(CHARS))
        seen = np.array([self.ngrams.get(h + c, 0) for c in CHARS], dtype=np.float64)
        total, types = seen.sum(), np.count_nonzero(seen)
        p = lower if total == 0 else (seen + types * lower) / (total + types)
        p.setflags(write=False)  # shared by every caller and the cache
        if len(self._cache) >= _CACHE_MAX:  # a server decodes many lines: bound the memory (~13 MB)
            self._cache.clear()
        self._cache[h] = p
        return p

    def logprob(self, text: str) -> float:
        """Natural-log probability of ``text`` from the start of a line."""
        text = normalize(text)
        return float(sum(math.log(self.probs(text[:i])[_INDEX[c]]) for i, c in enumerate(text)))

    def perplexity(self, texts) -> float:
        """Per-character perplexity over ``texts``."""
        total, n = 0.0, 0
        for t in texts:
            t = normalize(t)
            total += self.logprob(t)
            n += len(t)
        return math.exp(-total / max(n, 1))


_INDEX = {c: i for i, c in enumerate(CHARS)}


def iam_train_lm(iam_dir: str | Path, order: int = ORDER) -> CharLM:
    """A :class:`CharLM` fitted on the Aachen-train transcriptions of an IAM copy.

    Raises FileNotFoundError (with the path and what is missing) where the copy
    has no ``ascii/lines.txt`` or no ``splits/aachen/train.lines.txt``.
    """
    from htr.data.synth.corpus import iam_train_texts

    return CharLM.fit(iam_train_texts(Path(iam_dir)), order)


_LOADED: dict[tuple[str, int], CharLM] = {}
_LOCK = threading.Lock()


def language_model(iam_dir: str | Path | None = None) -> CharLM:
    """The process's language model for ``iam_dir`` (default: ``$IAM_DIR``, else
    ``../shared/iam`` beside the project), fitted once (about 0.3 s).

    Raises :class:`htr.errors.EngineUnavailable` saying what is missing where no
    IAM copy with the train split's transcriptions is there.
    """
    from htr.errors import EngineUnavailable
    from htr.data.iam import default_iam_dir, shared_iam_dir

    root = Path(iam_dir) if iam_dir else (default_iam_dir() or shared_iam_dir())
    if root is None:
        raise EngineUnavailable("the language model learns from an IAM copy's train-split transcriptions: "
                                "set IAM_DIR (see `python -m htr iam fetch --help`)")
    key = (str(root.resolve()), ORDER)
    with _LOCK:
        if key not in _LOADED:
            try:
                _LOADED[key] = iam_train_lm(root)
            except (OSError, ValueError) as exc:
                raise EngineUnavailable(f"no language model: {exc}") from None
        return _LOADED[key]


def lm_beam_decode(probs: np.ndarray, lm: CharLM, beam_width: int = 16, alpha: float = ALPHA,
                   beta: float = BETA, blank: int = BLANK, prune: float = PRUNE):
    """CTC prefix beam search with ``lm``; returns an :class:`htr.ctc.Decoded`.

    Each prefix keeps two log-probabilities: of the paths that end in a blank
    and of those that end in its last character. Extending a prefix by a
    character multiplies in ``p_lm(c | prefix) ** alpha * exp(beta)``. At each
    step only characters with probability >= ``prune`` are tried as new
    characters; a prefix's last character continuing (no blank between) is
    always kept. Spans come from forced alignment of the result.
    """
    from htr.ctc import Decoded, _check, forced_align

    if beam_width < 1:
        raise ValueError(f"beam_width must be at least 1, not {beam_width}")
    probs = _check(probs, blank)
    logp = np.log(np.maximum(probs, 1e-30))
    # prefix (a string) -> [log p ending in blank, log p ending in a character, lm+bonus score]
    beams: dict[str, list[float]] = {"": [0.0, _LOG_EPS, 0.0]}
    for t in range(probs.shape[0]):
        row = logp[t]
        cands = np.flatnonzero(probs[t] >= prune)
        cands = [int(c) for c in cands if c != blank]
        nxt: dict[str, list[float]] = {}

        def add(prefix: str, b: float, nb: float, ext: float) -> None:
            e = nxt.get(prefix)
            if e is None:
                nxt[prefix] = [b, nb, ext]
            else:
                e[0] = np.logaddexp(e[0], b)
                e[1] = np.logaddexp(e[1], nb)

        for prefix, (pb, pnb, ext) in beams.items():
            total = np.logaddexp(pb, pnb)
            add(prefix, total + row[blank], _LOG_EPS, ext)  # a blank: the prefix stays
            last = _INDEX[prefix[-1]] if prefix else -1
            if last >= 0:  # the last character again, without a blank between: still the prefix
                add(prefix, _LOG_EPS, pnb + row[last], ext)
            lm_p = None
            for c in cands:
                if lm_p is None:
                    lm_p = np.log(lm.probs(prefix))
                bonus = alpha * lm_p[c] + beta
                # after a character, the same one again needs a blank between
                src = pb if c == last else total
                add(prefix + CHARS[c], _LOG_EPS, src + row[c], ext + bonus)
        scored = sorted(nxt.items(), key=lambda kv: np.logaddexp(kv[1][0], kv[1][1]) + kv[1][2], reverse=True)
        beams = dict(scored[:beam_width])
    text, (pb, pnb, ext) = max(beams.items(), key=lambda kv: np.logaddexp(kv[1][0], kv[1][1]) + kv[1][2])
    text = " ".join(text.split())  # the model may start or end with a space
    aligned = forced_align(probs, text, blank)
    return Decoded(aligned.text, aligned.indices, aligned.spans, float(np.logaddexp(pb, pnb) + ext))
