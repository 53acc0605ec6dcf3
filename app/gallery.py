"""The example gallery: thumbnails of lines to pick by clicking, real handwriting first.

Groups, in this order:

* **Real handwriting** — lines of real writers under CC BY 4.0 shipped in
  ``examples/`` (Copiste d'un jour, Testaments de Poilus, and UNIPEN pen strokes
  drawn by the project's renderer), each with its credit; all from hands no model
  of the project trained on (the split is said under each line).
* **IAM, never trained on** — where IAM is installed (``IAM_DIR``): line images of
  IAM forms the shipped Easter2 did not learn from. Never shipped.
* **Computer fonts** — the project's own font-drawn lines and paragraphs.

A "pick by name" box lists every item as well (keyboard, and the same choice).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st

from app import resources
from app.state import presentation

REAL, IAM_GROUP, FONTS = "Real handwriting", "IAM, never trained on", "Computer fonts"
#: IAM lines shown at most (a full copy has thousands).
MAX_IAM = 12
COLUMNS = 3


@dataclass(frozen=True)
class Item:
    name: str
    group: str
    text: str  # the true text, in the model's 79 characters
    kind: str  # "line" or "page"
    path: str = ""  # a shipped example's file
    iam_line: str = ""  # an IAM line's id
    credit: str = ""
    given: str = ""  # a real hand's transcription as given
    note: str = ""  # where it comes from and which split, in one sentence


def _iam_items(kinds) -> list[Item]:
    if "line" not in kinds:
        return []
    iam, _ = resources.get_iam()
    if iam is None:
        return []
    from htr.weights import iam_line_seen_by_shipped_weights

    ids = [i for i in iam.available_lines() if not iam_line_seen_by_shipped_weights(i)]
    if len(ids) > MAX_IAM:  # spread over the copy: several forms and writers
        ids = [ids[round(k * (len(ids) - 1) / (MAX_IAM - 1))] for k in range(MAX_IAM)]
    return [Item(f"IAM {i}: {iam.lines[i].text[:30]}…", IAM_GROUP, iam.lines[i].text, "line", iam_line=i,
                 note=f"IAM line {i}, writer {iam.lines[i].writer}: a form the shipped Easter2 never trained on.")
            for i in ids]


def _note(e) -> str:
    """Which writer and split a real line comes from, in one sentence."""
    if e.split == "report":
        return (f"Report hand {e.hand}: only ever measured; no model of this project trained on this writer "
                "or was chosen by them.")
    if e.split == "validation":
        return (f"Validation hand {e.hand}: never trained on (it only helped choose which checkpoint "
                "shipped).")
    return f"Hand {e.hand}, {e.split or 'no'} split."


def items(kinds=("line", "page")) -> list[Item]:
    """Every item of the gallery of the wanted kinds, real handwriting first.

    In presentation mode only the curated ones (and the IAM lines), where there are any.
    """
    examples = [e for e in resources.examples() if e.kind in kinds]
    if presentation():
        examples = [e for e in examples if e.curated] or examples
    real = [Item(e.name, REAL, e.text, e.kind, path=str(e.path), credit=e.credit, given=e.given, note=_note(e))
            for e in examples if e.credit]
    real.sort(key=lambda i: not i.note.startswith("Report"))  # writers never used for anything first
    fonts = [Item(e.name, FONTS, e.text, e.kind, path=str(e.path),
                  note=f"Drawn by the project from the font {e.font}." if e.font else "Drawn by the project.")
             for e in examples if not e.credit]
    return real + _iam_items(kinds) + fonts


def image_of(item: Item) -> np.ndarray:
    """The item's image (raises HTRError where it cannot be read)."""
    if item.iam_line:
        iam, _ = resources.get_iam()
        return resources.iam_line_image(str(iam.root), item.iam_line)
    return resources.example_image(item.path)


def pick(key: str, kinds=("line", "page")) -> Item | None:
    """The gallery: a group, its thumbnails (click one to pick it), and the item picked."""
    from app.widgets import md_literal

    all_items = items(kinds)
    if not all_items:
        st.warning("No example images found in examples/ — run `python tools/make_examples.py`.")
        return None
    names = [i.name for i in all_items]
    by_name = dict(zip(names, all_items))
    choice_key = f"{key}_example"
    if st.session_state.get(choice_key) not in by_name:
        st.session_state[choice_key] = names[0]  # real handwriting first
    groups = [g for g in (REAL, IAM_GROUP, FONTS) if any(i.group == g for i in all_items)]
    group_key = f"{key}_group"
    if st.session_state.get(group_key) not in groups:
        st.session_state[group_key] = by_name[st.session_state[choice_key]].group

    def choose(name: str) -> None:
        st.session_state[choice_key] = name

    def follow_choice() -> None:  # picked by name: show its group's thumbnails
        st.session_state[group_key] = by_name[st.session_state[choice_key]].group

    group = st.radio("Gallery", groups, horizontal=True, key=group_key,
                     help="Real handwriting first: lines of writers the model never trained on. The "
                          "computer-font lines are the project's own drawings, easy for every reader.")
    shown = [i for i in all_items if i.group == group]
    chosen = st.session_state[choice_key]
    for start in range(0, len(shown), COLUMNS):
        for col, item in zip(st.columns(COLUMNS), shown[start:start + COLUMNS]):
            with col:
                try:
                    st.image(image_of(item), width="stretch")
                except Exception as exc:  # an unreadable file: say so, keep the others
                    st.caption(f"(cannot show it: {type(exc).__name__})")
                st.button(("✓ " if item.name == chosen else "") + md_literal(item.name),
                          key=f"{key}_pick_{names.index(item.name)}", on_click=choose, args=(item.name,), width="stretch",
                          type="primary" if item.name == chosen else "secondary")
    st.selectbox("Or pick by name", names, key=choice_key, on_change=follow_choice,
                 help="Every example of every group; picking one shows its group's pictures.")
    return by_name[st.session_state[choice_key]]
