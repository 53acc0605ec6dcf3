"""Per-session state shared by all pages: presentation mode, the Easter2 weights in use."""

from __future__ import annotations

import streamlit as st

PRESENTATION_KEY = "presentation"
WEIGHTS_KEY = "weights"

# Large type and big images for a projector. Streamlit's own font sizes are in
# rem, so raising the root size scales the whole page.
_PRESENTATION_CSS = """
<style>
html { font-size: 22px; }
[data-testid="stMarkdownContainer"] p, [data-testid="stMarkdownContainer"] li { font-size: 1.15rem; }
[data-testid="stMain"] .block-container { max-width: 100%; padding-left: 2rem; padding-right: 2rem; }
.htr-text { font-size: 2.2rem !important; }
</style>
"""

_BASE_CSS = """
<style>
.htr-text { font-size: 1.5rem; line-height: 2.2; font-family: "DejaVu Sans Mono", monospace;
            white-space: pre-wrap; word-break: break-word; }
.htr-text span { padding: 0.05em 0.02em; border-radius: 0.15em; }
</style>
"""


def presentation() -> bool:
    """Whether this session is in presentation mode (large type, fewer controls)."""
    return bool(st.session_state.get(PRESENTATION_KEY, False))


def sidebar_controls() -> None:
    """The sidebar switch for presentation mode, and the CSS it implies."""
    st.sidebar.toggle(
        "Presentation mode",
        key=PRESENTATION_KEY,
        help="Large type, big images, only the controls that matter and curated examples: "
        "for a projector.",
    )
    st.html(_BASE_CSS + (_PRESENTATION_CSS if presentation() else ""))


def weights_choice() -> str:
    """The Easter2 weights file this session reads with ("" = the shipped default)."""
    return str(st.session_state.get(WEIGHTS_KEY) or "")
