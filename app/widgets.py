"""Widgets several pages share: choosing an image, showing text with confidence."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

import numpy as np
import streamlit as st

from app import resources
from app.state import presentation
from htr.errors import HTRError


@dataclass(frozen=True)
class InputImage:
    """An image chosen on a page, already read into 8-bit gray."""

    gray: np.ndarray
    name: str
    digest: str
    truth: str | None = None  # ground truth where known (examples, IAM)
    kind: str = "line"  # what the source suggests: "line" or "page"
    iam_line: str = ""  # the IAM line's id where it is one (a line Easter2 may have trained on)


_MD_PUNCT = re.compile(r"([!-/:-@\[-`{-~])")  # every ASCII punctuation character


def md_literal(text: str) -> str:
    """``text`` made safe for an element that renders Markdown (``st.markdown``, captions,
    ``st.error`` and the other alerts, widget labels, image captions): shown as typed.

    Every ASCII punctuation character is backslash-escaped (CommonMark lets any of them be),
    so no link, image, emphasis, heading, HTML tag, Streamlit directive (``:red[…]``,
    ``:material/…:``), math or bare-URL autolink (``http\\:\\/\\/…``) can form; line breaks
    become spaces. For user text: typed true text, file names, readings, IAM transcriptions.
    """
    return _MD_PUNCT.sub(r"\\\1", " ".join(str(text).splitlines()))


def digest_of(gray: np.ndarray) -> str:
    """Content hash of an image: the key of every per-image cache."""
    from htr.images import image_hash

    return image_hash(gray)


def max_upload_bytes() -> int:
    return int(st.get_option("server.maxUploadSize")) * 1024 * 1024


def read_upload(name: str, data: bytes) -> np.ndarray | None:
    """Read uploaded bytes into gray, or show why not (``st.error``) and return None."""
    limit = max_upload_bytes()
    if len(data) > limit:
        st.error(
            f"{md_literal(name)}: the file is {len(data) / 2**20:.1f} MB; the limit is "
            f"{limit / 2**20:.0f} MB."
        )
        return None
    try:
        from htr.images import load_image

        return load_image(bytes(data), name=name)
    except HTRError as exc:  # the message names the file: user text
        st.error(md_literal(str(exc)))
    except Exception as exc:  # Pillow oddities the reader did not foresee
        st.error(f"{md_literal(name)}: could not read this image ({type(exc).__name__}: {md_literal(str(exc))})")
    return None


def _from_example(key: str, kinds: tuple[str, ...]) -> InputImage | None:
    """The gallery (:mod:`app.gallery`): thumbnails to click, real handwriting first."""
    from app import gallery, scores

    ex = gallery.pick(key, kinds)
    if ex is None:
        return None
    try:
        gray = gallery.image_of(ex)
    except HTRError as exc:
        st.error(str(exc))
        return None
    if ex.credit:  # a real hand (CC BY 4.0): its credit wherever it is shown
        st.caption(f"Real handwriting: {ex.credit}. {ex.note} Its text as written:")
        st.text(ex.given or ex.text)
    elif ex.note:
        st.caption(ex.note)
    scores.trained_badge(ex.iam_line)
    return InputImage(gray, ex.iam_line or ex.name, digest_of(gray), truth=ex.text, kind=ex.kind,
                      iam_line=ex.iam_line)


def _from_iam(key: str) -> InputImage | None:
    """An IAM line: the lines Easter2 never trained on first (the default), the others badged."""
    from app import scores

    iam, reason = resources.get_iam()
    if iam is None:
        st.info(f"No IAM database here ({reason}). See the IAM browser page for how to get it.")
        return None
    ids = scores.unseen_first(iam.available_lines())
    if not ids:
        st.warning(f"{iam.root}: no line images found.")
        return None
    unseen = [i for i in ids if not scores.trained_on(i)] or ids
    state_key = f"{key}_iam_line"
    if st.button("Random IAM line", key=f"{key}_iam_random",
                 help="A line of a form the shipped Easter2 never trained on."):
        import random

        st.session_state[state_key] = random.choice(unseen)
    line_id = st.selectbox(
        "IAM line", ids, key=state_key,
        format_func=lambda i: f"{i} — {iam.lines[i].text[:50]}" + (" · trained on" if scores.trained_on(i) else ""),
        help="Lines Easter2 never trained on come first; the ones it learnt from are marked \"trained on\".",
    )
    scores.trained_badge(line_id)
    try:
        gray = resources.iam_line_image(str(iam.root), line_id)
    except HTRError as exc:
        st.error(str(exc))
        return None
    return InputImage(gray, line_id, digest_of(gray), truth=iam.lines[line_id].text, kind="line", iam_line=line_id)


def _from_upload(key: str) -> InputImage | None:
    # No type= filter: Streamlit would raise on an unlisted extension (a traceback, the
    # uploader gone) where load_image explains what is wrong with the file instead.
    up = st.file_uploader(
        "Upload an image of handwriting (a line or a page)",
        key=f"{key}_upload",
        help="PNG, JPEG, TIFF, BMP, GIF or WebP, up to "
        f"{st.get_option('server.maxUploadSize')} MB.",
    )
    if up is None:
        return None
    gray = read_upload(up.name, up.getvalue())
    if gray is None:
        return None
    return InputImage(gray, up.name, digest_of(gray), kind=guess_kind(gray))


def guess_kind(gray: np.ndarray) -> str:
    """'line' or 'page': the library's rule, shared with the CLI's --layout auto."""
    from htr.segment import is_single_line

    return "line" if is_single_line(gray) else "page"


#: The drawing canvas's width in pixels: a phone's screen (390 px, less the page's margins),
#: a tablet's, a computer's. The canvas has a fixed width; a wider one is cut off at the screen edge.
CANVAS_WIDTHS = {"phone": 340, "tablet": 640, "computer": 900}


def screen_kind() -> str:
    """'phone', 'tablet' or 'computer', from the browser's User-Agent (Streamlit knows no screen width).

    Phones say "Mobi" in it (the convention browsers follow); Android and iPad tablets do not.
    """
    try:
        agent = str(st.context.headers.get("User-Agent") or "")
    except Exception:  # no browser (AppTest) or no headers: a computer
        agent = ""
    if "Mobi" in agent:
        return "phone"
    if any(word in agent for word in ("iPad", "Android", "Tablet")):
        return "tablet"
    return "computer"


def canvas_line(key: str, height: int = 160, width: int | None = None) -> np.ndarray | None:
    """A drawing canvas; what is written on it as gray, cropped to the ink with a margin.

    ``width`` defaults to one that fits the screen (:data:`CANVAS_WIDTHS`). The canvas's
    toolbar appears above its top edge: a spacer keeps it off what is written above.

    None until something is drawn (the canvas is blank or sends nothing yet); errors
    of the component are shown (``st.error``) and give None too.
    """
    try:
        from streamlit_drawable_canvas import st_canvas
    except Exception as exc:
        st.error(f"The drawing canvas is not available: {exc}")
        return None
    width = width or CANVAS_WIDTHS[screen_kind()]
    st.space(42)  # the toolbar's room (it floats 2.65rem above the canvas, over whatever is there)
    try:
        result = st_canvas(
            stroke_width=5,
            stroke_color="#000000",
            background_color="#ffffff",
            height=height,
            width=width,
            drawing_mode="freedraw",
            return_image_data=True,
            key=key,
        )
        data = result.image_bytes if result is not None else None
    except Exception as exc:  # the component's protocol changed under us: say so, keep the page
        st.error(f"The drawing canvas failed: {type(exc).__name__}: {exc}")
        return None
    if not data:
        return None
    gray = read_upload("drawing", data)
    if gray is None:
        return None
    ink = np.argwhere(gray < 128)
    if len(ink) == 0:
        return None
    (y0, x0), (y1, x1) = ink.min(axis=0), ink.max(axis=0)
    pad = 12
    return np.ascontiguousarray(gray[max(0, y0 - pad) : y1 + pad + 1, max(0, x0 - pad) : x1 + pad + 1])


def _from_canvas(key: str) -> InputImage | None:
    st.caption("Write one line with the mouse, a pen or a finger.")
    gray = canvas_line(f"{key}_canvas")
    if gray is None:
        st.info("Draw something on the canvas first.")
        return None
    return InputImage(gray, "drawing", digest_of(gray), kind="line")


def _from_camera(key: str) -> InputImage | None:
    shot = st.camera_input("Hold a line of handwriting up to the camera", key=f"{key}_camera")
    if shot is None:
        return None
    gray = read_upload("camera photo", shot.getvalue())
    if gray is None:
        return None
    return InputImage(gray, "camera photo", digest_of(gray), kind="line")


SOURCES = {
    "Example": _from_example,
    "IAM line": _from_iam,
    "Upload": _from_upload,
    "Draw": _from_canvas,
    "Camera": _from_camera,
}


def image_input(
    key: str,
    sources: tuple[str, ...] = ("Example", "Upload", "Draw", "Camera"),
    kinds: tuple[str, ...] = ("line", "page"),
) -> InputImage | None:
    """Let the user pick an image from ``sources``; returns it, or None.

    In presentation mode the examples offered are the curated ones; every source stays
    (drawing a word and a real IAM line are the best live demos).
    """
    source = st.radio("Image from", sources, horizontal=True, key=f"{key}_source")
    if source == "Example":
        return _from_example(key, kinds)
    return SOURCES[source](key)


def read_each(items, readers: list[str]):
    """Read several line images with several readers under one progress bar.

    ``items`` are ``(label, make_image)`` pairs; ``make_image()`` returns the
    gray image or raises (:class:`HTRError` or ``ValueError``: a bad image).
    Yields ``(label, reader, result, error)`` for each reading, in order, and
    ``(label, None, None, message)`` once for an image that could not be made;
    the others are still read. Readings are cached per image like everywhere.
    """
    items = list(items)
    total, done = max(1, len(items) * len(readers)), 0
    bar = st.progress(0.0, text="Starting…")
    for label, make in items:
        try:
            gray = make()
        except (HTRError, ValueError) as exc:
            done += len(readers)
            yield label, None, None, str(exc)
            continue
        digest = digest_of(gray)
        for reader in readers:
            bar.progress(done / total, text=f"{resources.reader_title(reader)} reads {label} ({done + 1}/{total})")
            result, error = resources.try_read(reader, digest, "line", gray)
            done += 1
            yield label, reader, result, error
    bar.progress(1.0, text="Done.")


def show_figure(fig, key: str) -> None:
    """A Plotly figure, with larger type in presentation mode."""
    if presentation():
        fig.update_layout(font={"size": 20}, hoverlabel={"font_size": 20})
    st.plotly_chart(fig, key=key, config={"displaylogo": False})


def show_image(gray: np.ndarray, caption: str | None = None) -> None:
    """A gray image. ``caption`` is Markdown: pass user text (a file name) through :func:`md_literal`."""
    st.image(gray, caption=caption, width="stretch" if presentation() or gray.shape[1] > 700 else "content")


def reader_slots(n: int, where=None) -> list[tuple]:
    """``n`` (name, reading, score) places for readers shown side by side.

    Normally ``n`` columns (all three places the same column). In presentation
    mode ``n`` full-width rows in ``where`` (name | reading | score), so a short
    line in large type stays on one line and every score is on the first screen.
    """
    if presentation():
        box = where if where is not None else st.container()
        return [tuple(box.columns([1.2, 4, 1.4], vertical_alignment="center")) for _ in range(n)]
    return [(c, c, c) for c in st.columns(n)]


# --------------------------------------------------------------------------
# text rendering


def confidence_colour(p: float) -> str:
    """Background colour for a character read with confidence ``p``."""
    if p >= 0.9:
        return "#c8f0c8"  # green: sure
    if p >= 0.6:
        return "#fff0a8"  # yellow: unsure
    return "#ffc4c4"  # red: doubtful


def confidence_html(text: str, char_probs) -> str:
    """``text`` as HTML spans coloured by each character's confidence (escaped)."""
    probs = list(char_probs or ())
    if len(probs) != len(text):
        return f'<div class="htr-text">{html.escape(text) or "&nbsp;"}</div>'
    spans = []
    for ch, p in zip(text, probs):
        spans.append(
            f'<span style="background:{confidence_colour(float(p))}" '
            f'title="{html.escape(repr(ch))}: {float(p):.2f}">{html.escape(ch)}</span>'
        )
    return f'<div class="htr-text">{"".join(spans) or "&nbsp;"}</div>'


def show_text(text: str, char_probs=()) -> None:
    st.html(confidence_html(text, char_probs))


def labelled_text_html(label: str, text: str) -> str:
    """``label: text`` as HTML, ``text`` escaped and in a monospace span: user text shown as typed."""
    return f'<p><b>{html.escape(label)}:</b> <code>{html.escape(text)}</code></p>'


def marked_html(truth: str, read: str) -> str:
    """``read`` with its differences from ``truth`` marked (wrong, extra, missing), as one text block."""
    from htr import viz
    from htr.metrics import char_diff

    return f'<div class="htr-text">{viz.diff_html(char_diff(truth, read)) or "&nbsp;"}</div>'


CONFIDENCE_LEGEND = (
    "Colour = the model's confidence in each character: "
    ":green-background[≥ 0.9] :orange-background[0.6 – 0.9] :red-background[< 0.6]"
)
