"""Per-session state shared by all pages: presentation mode, the Easter2 weights in use."""

from __future__ import annotations

import streamlit as st

PRESENTATION_KEY = "presentation"
WEIGHTS_KEY = "weights"

# Large type and big images for a projector. Streamlit's own font sizes are in
# rem, so raising the root size scales the whole page. What a class must read
# (the text read, the metric values) grows more than the rest; what only takes
# room (the top padding, the page title) shrinks, so the results fit a 1280×720
# projector without scrolling. The paragraph rule leaves metric values alone
# (they are paragraphs too, and would shrink below their normal size).
_PRESENTATION_CSS = """
<style>
html { font-size: 22px; }
[data-testid="stMarkdownContainer"] p, [data-testid="stMarkdownContainer"] li { font-size: 1.15rem; }
[data-testid="stMetricValue"], [data-testid="stMetricValue"] [data-testid="stMarkdownContainer"] p {
  font-size: 2.6rem !important; line-height: 1.2; }
[data-testid="stMain"] .block-container { max-width: 100%; padding: 1.2rem 2rem 2rem 2rem; }
[data-testid="stMain"] h1 { font-size: 1.9rem; padding-top: 0.2rem; padding-bottom: 0.4rem; }
.htr-text { font-size: 2.2rem !important; line-height: 1.6; }
[data-testid="stPageLink"] p { white-space: normal; overflow: visible; text-overflow: clip; }
[data-testid="stSidebar"] { width: 16rem !important; min-width: 16rem; }
[data-testid="stSidebar"] [data-testid="stTextInputRootElement"] { width: 100%; min-width: 0; }
/* Compare's readers, one row each: the three rows fit under the title on a 720 px screen */
.st-key-reader_rows [data-testid="stVerticalBlock"] { gap: 0.3rem; }
.st-key-reader_rows h3 { font-size: 1.25rem; line-height: 1.3; padding: 0 0 0.2rem 0; }
.st-key-reader_rows .htr-text { font-size: 1.6rem !important; line-height: 1.35; }
.st-key-reader_rows [data-testid="stMetricValue"],
.st-key-reader_rows [data-testid="stMetricValue"] [data-testid="stMarkdownContainer"] p { font-size: 2.1rem !important; }
</style>
"""

_BASE_CSS = """
<style>
/* A metric's label wraps onto a second row instead of ending in "…": "CER, punctuation spacing
   ignored" in a quarter of the page (Streamlit cuts labels to one row; issue 15). */
[data-testid="stMetricLabel"] [data-testid="stMarkdownContainer"],
[data-testid="stMetricLabel"] [data-testid="stMarkdownContainer"] p {
  white-space: normal !important; overflow: visible !important; text-overflow: clip !important; }
.htr-text { font-size: 1.5rem; line-height: 2.2; font-family: "DejaVu Sans Mono", monospace;
            white-space: pre-wrap; word-break: break-word; }
.htr-text span { padding: 0.05em 0.02em; border-radius: 0.15em; }
</style>
"""


#: The address parameter that keeps presentation mode across a reload or a shared link: ``?present=1``.
PRESENT_PARAM = "present"


def presentation() -> bool:
    """Whether this session is in presentation mode (large type, fewer controls)."""
    return bool(st.session_state.get(PRESENTATION_KEY, False))


def sidebar_controls() -> None:
    """The sidebar switch for presentation mode, and the CSS it implies.

    The mode is written into the address (``?present=1``) on every run, so a
    reload, or the link opened on the classroom computer, starts in it.
    """
    if PRESENTATION_KEY not in st.session_state:  # a new session (or a reload): the address decides
        st.session_state[PRESENTATION_KEY] = st.query_params.get(PRESENT_PARAM) == "1"
    st.sidebar.toggle(
        "Presentation mode",
        key=PRESENTATION_KEY,
        help="Large type, results first, only the controls that matter and curated examples: "
        "for a projector. The address keeps it (?present=1), so a reload stays in it.",
    )
    if presentation():
        st.query_params[PRESENT_PARAM] = "1"
    elif PRESENT_PARAM in st.query_params:
        del st.query_params[PRESENT_PARAM]
    st.html(_BASE_CSS + (_PRESENTATION_CSS if presentation() else ""))


def weights_choice() -> str:
    """The Easter2 weights file this session reads with ("" = the shipped default)."""
    return str(st.session_state.get(WEIGHTS_KEY) or "")
