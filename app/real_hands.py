"""The "Real hands" tab of the How-it-learned page: lines of real handwriting under
CC BY 4.0 (../shared/hands), each beside a font line of the same text, all read by Easter2.

A view only: the line tables, the split, the sampling and the rendering of pen
strokes are :mod:`htr.data.hands`; the cached loading is :mod:`app.resources`.
Every text from the data (transcriptions, hand names, readings) is shown through
``html.escape`` (never as Markdown).
"""

from __future__ import annotations

import html

import streamlit as st

from app import resources, scores, widgets

TITLES = {
    "copiste": "Copiste d'un jour",
    "poilus": "Testaments de Poilus",
    "unipen": "UNIPEN (pen strokes)",
}
ABOUT = {
    "copiste": "Québec volunteers copying Wikipedia summaries by hand (2024), in French; 300 dpi scans.",
    "poilus": "Wills of French soldiers of the First World War (1914–1918): archival scans, in French.",
    "unipen": "Pen strokes captured on tablets in the 1990s, mostly American and British English; "
              "drawn into an image here, with a pen width, paper and slant drawn anew each time.",
}
#: Lines shown at once.
N_LINES = 2
SPLITS_MD = (
    "Each writer's hand sits in one **split**, fixed before any training by the writer's name "
    "alone: **train** — a model trained on real hands learns from it; **validation** — chooses "
    "checkpoints (which epoch is kept, whether a model ships); **report** — only measured, never "
    "used to choose anything. Stages 1–5 learned from none of them (fonts and 14 IAM lines "
    "only); stages 6 to 11, shipped on 2026-12-03 and 04, learned from the train hands of all three, so a line "
    "of a train hand is one the model has seen: pick a validation or report hand to see it read a stranger."
)


def _html_text(rows: list[tuple[str, str]]) -> str:
    """``label: text`` lines as HTML, every text escaped and in a monospace span."""
    return "".join(f'<p style="margin:0.1em 0"><b>{html.escape(label)}:</b> <code>{html.escape(text)}</code></p>'
                   for label, text in rows)


def _image(gray) -> None:
    """A line image: as wide as the page where it is long, at its own size where it is short."""
    st.image(gray, width="stretch" if gray.shape[1] > 600 else "content")


def _read(image, truth: str, side: bool = True) -> None:
    """Easter2's reading of ``image``, marked against ``truth``, and its CER (beside it where ``side``)."""
    result, err = resources.try_recognize("easter2", widgets.digest_of(image), "line", image)
    if err:
        st.warning(f"Easter2 cannot read here: {err}")
        return
    read, score = st.columns([4, 1], vertical_alignment="center") if side else (st.container(), st.container())
    read.html(widgets.marked_html(truth, result.text))
    scores.cer_metrics(truth, result.text, score, score)


def _absent(root) -> None:
    import os

    from htr.data.hands import CREDITS

    where = (f"HANDS_DIR={os.environ['HANDS_DIR']!r} holds none of copiste/, poilus/ or unipen/"
             if os.environ.get("HANDS_DIR") else "there is no ../shared/hands beside the project")
    st.info(
        f"No real hands here ({where}). This tab shows lines of real handwriting read from that "
        "folder (set HANDS_DIR to another place): Copiste d'un jour and the Testaments de Poilus "
        "(line images with their transcriptions) and UNIPEN (pen strokes, drawn into images), "
        "each beside a font line of the same text. A few Copiste and Poilus lines ship with the "
        "app: pick a \"Real hand\" example on the Recognize page."
    )
    st.caption("Where they come from, all CC BY 4.0: "
               + "; ".join(CREDITS[s] for s in ("copiste", "poilus", "unipen")) + ".")


def show(font: str | None, seed: int, knobs: dict) -> None:
    """The tab: a source, a hand, a few of its lines, each read beside its font twin."""
    from htr.data.hands import CREDITS, SPLIT_MEANING, available_sources, hands_of, sample_lines
    from htr.data.lines import DataError

    st.markdown(
        "Lines written by real people, from three openly licensed collections, each beside the "
        "same text drawn from a font (with the knobs of the first tab). Easter2 reads both; the "
        "French texts are compared with what the model can write: accents stripped, `œ` → `oe`, "
        "typographic quotes straightened."
    )
    root = resources.hands_dir()
    sources = available_sources(root) if root is not None else []
    if not sources:
        _absent(root)
        return
    st.markdown(SPLITS_MD)
    by_title = {TITLES[s]: s for s in sources}
    source = by_title[st.radio("Collection", list(by_title), horizontal=True, key="hands_source")]
    st.caption(ABOUT[source])
    try:
        table, committed = resources.hand_table(str(root), source)
    except ImportError as exc:
        st.info(f"The reader of {TITLES[source]} is not installed here ({exc}).")
        return
    except DataError as exc:
        st.error(f"Cannot read {TITLES[source]}:")
        st.text(str(exc))
        return
    hands = hands_of(table)
    if not hands:
        st.info(f"{TITLES[source]} has no line the model's alphabet can write.")
        return
    about = {h: (split, n) for h, split, n in hands}
    pick_key, draw_key = f"hands_pick_{source}", "hands_draw"
    st.session_state.setdefault(pick_key, 0)
    st.session_state.setdefault(draw_key, 0)

    def another():
        st.session_state[pick_key] = int(st.session_state[pick_key]) + 1

    def draw_again():
        st.session_state[draw_key] = int(st.session_state[draw_key]) + 2

    hand_col, button_col = st.columns([3, 1], vertical_alignment="bottom")
    hand = hand_col.selectbox(
        "Hand (writer)", [h for h, _, _ in hands], key=f"hands_hand_{source}",
        format_func=lambda h: f"{h} — {about[h][0]}, {about[h][1]} lines",
        help="Every writer of the collection whose lines the model's alphabet can write.")
    button_col.button("Another line", on_click=another, key=f"hands_another_{source}", width="stretch")
    split = about[hand][0]
    st.html(f"<p>Hand <code>{html.escape(hand)}</code> is in the <b>{split}</b> split: "
            f"{html.escape(SPLIT_MEANING[split])}.</p>")
    if not committed:
        st.caption(f"{TITLES[source]} is not in models/training/hands_split.json yet: its splits here are "
                   "the same rule applied to its writers' names.")
    strokes = source == "unipen"
    if strokes:
        st.button("Draw again", on_click=draw_again, key="hands_redraw",
                  help="The same pen strokes drawn again: a new pen width, paper and slant.")
    draw = int(st.session_state[draw_key])

    for line in sample_lines(table, n=N_LINES, seed=int(st.session_state[pick_key]), hand=hand):
        st.divider()
        st.html(_html_text([("Transcription as given", line.text)]
                           + ([("In the model's 79 characters", line.mapped)] if line.mapped != line.text else [])
                           + [("Line", line.id)]))
        # the real line (UNIPEN: drawn twice, side by side), then its font twin, each read
        columns = st.columns(2) if strokes else [st.container()]
        for col, s in zip(columns, (draw, draw + 1) if strokes else (0,)):
            with col:
                st.markdown(f"**Drawn from pen strokes** — seed {s}" if strokes else "**Written by a person**")
                try:
                    image = resources.hand_line_image(str(root), source, line.id, s, line)
                except ImportError as exc:
                    st.info(f"The pen-stroke renderer is not installed here ({exc}).")
                    continue
                except DataError as exc:
                    st.error("Cannot show this line:")
                    st.text(str(exc))
                    continue
                _image(image)
                _read(image, line.mapped, side=not strokes)
        twin, used, why = resources.try_specimen(line.mapped, font, int(seed), **knobs)
        if why:
            st.error("Cannot draw its font twin:")
            st.text(why)
        else:
            st.markdown(f"**Drawn from a font** — {used}")
            _image(twin)
            _read(twin, line.mapped)
    st.caption(f"Lines: {CREDITS[source]}.")
