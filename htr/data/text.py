"""One mapping of any transcription into IAM's 79 characters.

Easter2 reads the 79 characters of IAM's ground truth (:mod:`htr.alphabet`).
The real hands of ``../shared/hands`` are French, archival or pen strokes, and
their transcriptions use more. :func:`to_iam` maps a text or says why the line
has to be dropped; :func:`map_lines` counts what each rule did per source
(``python -m htr data mapping`` prints the table; ``benchmarks/text_mapping.md``
is its committed output).

The rules, in order:

1. **Drop** a line with a crossed-out (``>words<``) or unreadable (``><``) mark
   (Copiste's convention): its ink holds strokes the text does not.
2. **Remove** Poilus' superscript marker ``^`` (``M^r`` → ``Mr``): the letters
   are there, raised.
3. **Replace** letters and signs with their nearest IAM spelling: ligatures
   (``œ`` → ``oe``, ``æ`` → ``ae``), long s (``ſ`` → ``s``), typographic
   quotes (``’`` → ``'``, ``«`` ``»`` ``“`` ``”`` → ``"``), dashes (``–`` ``—`` → ``-``),
   the degree/ordinal sign (``°`` → ``o``, as in ``N°``, ``1°``), the ellipsis
   (``…`` → ``...``).
4. **Strip accents** (``é`` → ``e``, ``Ç`` → ``C``): Unicode decomposition
   (NFKD), the combining marks removed.
5. **Drop** a line that still has a character outside the 79 (``%``, ``€``,
   ``[``, ``_``, ``π``…): naming the characters in the reason, so the count
   shows which ones cost lines.
6. Collapse runs of white space; **drop** a line left empty.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from dataclasses import dataclass, field

from htr.alphabet import CHARS

_ALLOWED = frozenset(CHARS)

#: Rule 3: characters with an IAM spelling that is not their decomposition.
REPLACE = {
    "œ": "oe", "Œ": "OE", "æ": "ae", "Æ": "AE", "ß": "ss", "ſ": "s",
    "’": "'", "‘": "'", "‚": "'", "′": "'", "`": "'", "´": "'",
    "«": '"', "»": '"', "“": '"', "”": '"', "„": '"', "″": '"',
    "–": "-", "—": "-", "‐": "-", "‑": "-", "−": "-",
    "°": "o", "º": "o", "ª": "a", "…": "...", "\u00a0": " ", "\u202f": " ",
}


@dataclass(frozen=True)
class Mapped:
    """A text mapped into the alphabet (``text``), or why it was dropped (``dropped``)."""

    text: str | None
    changed: bool = False
    dropped: str = ""


def to_iam(text: str) -> Mapped:
    """Map ``text`` into IAM's 79 characters by the rules above."""
    if "><" in text or ("<" in text and ">" in text and text.find(">") < text.rfind("<")):
        return Mapped(None, dropped="crossed-out or unreadable mark (>…<)")
    out = text.replace("^", "")
    out = "".join(REPLACE.get(c, c) for c in out)
    out = "".join(c for c in unicodedata.normalize("NFKD", out) if not unicodedata.combining(c))
    out = " ".join(out.split())
    bad = sorted({c for c in out if c not in _ALLOWED})
    if bad:
        return Mapped(None, dropped="outside the alphabet: " + " ".join(bad))
    if not out:
        return Mapped(None, dropped="empty")
    return Mapped(out, changed=out != " ".join(text.split()))


@dataclass
class MappingCount:
    """What :func:`to_iam` did to one source's lines."""

    source: str
    lines: int = 0
    kept_as_is: int = 0
    mapped: int = 0
    dropped: int = 0
    reasons: Counter = field(default_factory=Counter)
    characters: Counter = field(default_factory=Counter)  # characters that caused a drop

    def add(self, m: Mapped) -> None:
        self.lines += 1
        if m.text is None:
            self.dropped += 1
            reason = m.dropped.split(":")[0]
            self.reasons[reason] += 1
            if ":" in m.dropped:
                self.characters.update(m.dropped.split(":", 1)[1].split())
        elif m.changed:
            self.mapped += 1
        else:
            self.kept_as_is += 1


def map_lines(records, source: str | None = None):
    """Map every record's text; returns ([(record, mapped text)], MappingCount) — dropped lines left out."""
    count = MappingCount(source or "")
    kept = []
    for rec in records:
        m = to_iam(rec.text)
        count.source = count.source or rec.source
        count.add(m)
        if m.text is not None:
            kept.append((rec, m.text))
    return kept, count
