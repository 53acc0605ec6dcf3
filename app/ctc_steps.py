"""Inside the model, live: the best path at every time step, blanks and repeats shown,
collapsing step by step into the text read (after distill.pub's "Sequence Modeling
with CTC"). The stages are :func:`htr.ctc.collapse_stages`; this is only the view."""

from __future__ import annotations

import html

import numpy as np
import streamlit as st

from htr.ctc import BLANK_MARK, collapse_stages

_ROW = ('<div style="margin:0.2em 0 0.6em 0"><b>{title}</b><div class="htr-steps" style="font-family:'
        '\'DejaVu Sans Mono\',monospace;font-size:1.05rem;line-height:1.7;word-break:break-all">{body}</div></div>')


def _token(ch: str, repeat: bool) -> str:
    shown = "␣" if ch == " " else ch
    if ch == BLANK_MARK:
        return f'<span style="color:#b0b0b0">{BLANK_MARK}</span>'
    style = "background:#ffe3a8" if repeat else "background:#c8f0c8"
    return f'<span style="{style}">{html.escape(shown)}</span>'


def stages_html(steps, merged, text: str) -> str:
    """The three stages as HTML (every character escaped): steps with repeats marked, merged, read."""
    first = "".join(_token(c, i > 0 and steps[i - 1] == c and c != BLANK_MARK) for i, c in enumerate(steps))
    second = "".join(_token(c, False) for c in merged)
    return (_ROW.format(title=f"1 · The best character at each of {len(steps)} steps (∅ = blank; "
                              "orange = the same character again)", body=first or "&nbsp;")
            + _ROW.format(title=f"2 · Repeats merged: {len(merged)} left", body=second or "&nbsp;")
            + _ROW.format(title="3 · Blanks removed: the text read",
                          body=f'<span class="htr-collapsed">{html.escape(text)}</span>' if text else "&nbsp;"))


def show(probs: np.ndarray, key: str, full: bool = False) -> str:
    """The stages of ``probs`` up to a step the reader chooses (all of them where ``full``); the text so far."""
    stages = collapse_stages(probs)
    total = len(stages.steps)
    st.markdown(
        "**The decoding, step by step.** At every time step the network's most likely symbol is taken "
        "(the *best path*); then equal neighbours are merged; then the blanks are dropped. Slide to watch "
        "the text grow as the steps go by from left to right."
    )
    upto = total if full or total < 2 else st.slider("Steps read so far", 1, total, total, key=key)
    part = stages.upto(upto)
    st.html(stages_html(part.steps, part.merged, part.text))
    return part.text
