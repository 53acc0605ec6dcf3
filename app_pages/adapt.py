"""Your handwriting: write a few prompted lines, watch Easter2 adapt to them, read held-back lines again."""

import streamlit as st

from app import resources, scores, widgets
from app.state import presentation
from htr.adapt import PROMPTS, default_held_out

RESULT_KEY = "yh_result"  # this session's adaptation (model, summary); gone when the session ends

st.title("Your handwriting")
st.markdown(
    "A model that has never seen your handwriting misreads some of your letters. Write the sentences "
    "below, and Easter2 trains on them **for about a minute, here on this computer**: a copy of the "
    "model, for this session only. The last sentences are **held back**: never trained on, they show "
    "the error before and after. Nothing you write is stored; the adapted model goes when you close "
    "the page (download it if you want to keep it)."
)



def _preset(name: str, default: int, lo: int, hi: int, step: int = 1) -> int:
    """A default from the address (``?lines=4&seconds=30``: a teacher's link), within bounds."""
    try:
        value = int(st.query_params.get(name, default))
    except ValueError:
        return default
    return min(hi, max(lo, lo + (value - lo) // step * step))


n_lines, seconds = _preset("lines", 8, 2, len(PROMPTS)), _preset("seconds", 60, 5, 180, 5)
if not presentation():
    left, right = st.columns(2)
    n_lines = left.slider("Sentences to write", 2, len(PROMPTS), n_lines, key="yh_lines",
                          help="More lines: more of your writing to learn from and to test on.")
    seconds = right.slider("Seconds of training at most", 5, 180, seconds, step=5, key="yh_seconds",
                           help="It stops earlier when the held-back lines stop improving.")
prompts = list(PROMPTS[:n_lines])
n_held = max(1, default_held_out(n_lines))  # at least one line to show before and after
source = st.radio("How", ["Write each sentence here", "Upload a photo of a page"], horizontal=True,
                  key="yh_source", help="On paper: write the sentences in order, one per line, and "
                  "photograph or scan the page.")

written: list = []  # per prompt: gray image or None
if source.startswith("Write"):
    for i, prompt in enumerate(prompts):
        held = i >= n_lines - n_held
        st.markdown(f"**{i + 1}.** {widgets.md_literal(prompt)}" + (" — *held back*" if held else ""))
        written.append(widgets.canvas_line(f"yh_canvas_{i}", height=120))
else:
    up = st.file_uploader("A page with the sentences written in order, one per line", key="yh_upload")
    st.caption("The sentences, in order: " + " / ".join(widgets.md_literal(p) for p in prompts))
    if up is not None:
        page = widgets.read_upload(up.name, up.getvalue())
        if page is not None and scores.input_blocked(page, "page"):
            page = None  # blank, or too small to hold writing: said, and nothing to cut into lines
        if page is not None:
            boxes = resources.segment(widgets.digest_of(page), page)
            if len(boxes) < n_lines:
                st.error(f"{widgets.md_literal(up.name)}: {len(boxes)} line(s) of writing found on the page, "
                         f"fewer than the {n_lines} sentences. Write each sentence on a line of its own, "
                         "with some space between the lines, or choose fewer sentences.")
            else:
                if len(boxes) > n_lines:
                    st.warning(f"{len(boxes)} lines found: the first {n_lines} are taken as the sentences, "
                               "in order, and the rest left out.")
                written = [page[b.y: b.y + b.h, b.x: b.x + b.w] for b in boxes[:n_lines]]
                with st.expander("The lines found, matched to the sentences", expanded=not presentation()):
                    for i, (prompt, gray) in enumerate(zip(prompts, written)):
                        widgets.show_image(gray, caption=f"{i + 1}. {widgets.md_literal(prompt)}")

go = st.button("Adapt the model to my handwriting", type="primary", key="yh_go")
if go:
    missing = [i + 1 for i, g in enumerate(written) if g is None]
    if not written:
        st.error("Nothing to learn from yet: write the sentences (or upload the page) first.")
    elif missing:
        st.error("Sentence " + ", ".join(map(str, missing)) + (" has" if len(missing) == 1 else " have")
                 + " no writing yet: write every sentence on its canvas (an empty canvas cannot teach "
                   "anything, and the held-back ones measure the result).")
    else:
        st.session_state.pop(RESULT_KEY, None)
        result, error = resources.adapt_session(list(zip(written, prompts)), seconds, n_held)
        if error:
            st.error(error)
        else:
            st.session_state[RESULT_KEY] = result

result = st.session_state.get(RESULT_KEY)
if result is not None:
    summary = result["summary"]
    st.subheader("Before and after")
    cols = st.columns(3)
    before, after = summary["cer_before"], summary["cer_after"]
    cols[0].metric("Error before (held-back lines)", f"{100 * before:.1f} %")
    cols[1].metric("Error after", f"{100 * after:.1f} %", delta_color="inverse",
                   delta=f"{100 * (after - before):+.1f} points" if after != before else None)
    cols[2].metric("Training", f"{summary['seconds']:.0f} s",
                   help=f"{summary['steps']} steps; the weights of step {summary['best_step']} were kept "
                   "(the best on the held-back lines).")
    if summary["best_step"] == 0:
        st.info(f"None of the {summary['steps']} training steps read the held-back lines better than the model "
                "you started from, so your copy keeps the weights it started with. More sentences, or more "
                "time, give it more to learn from.")
    for truth, b, a in zip(summary["held_texts"], summary["before"], summary["after"]):
        st.html(widgets.labelled_text_html("You wrote", truth))
        c1, c2 = st.columns(2)
        with c1:
            st.caption("Read before")
            st.html(widgets.marked_html(truth, b))
        with c2:
            st.caption("Read after")
            st.html(widgets.marked_html(truth, a))
    resources.adapt_curve(summary["curve"])
    if not presentation():
        st.caption("Errors are marked against what you wrote: wrong, extra and missing characters. "
                   "Two lines are few: the error moves by whole characters. The held-back lines also chose "
                   "which step's weights to keep, so the error after is the best of several readings and a "
                   "little flattering; the benchmark (benchmarks/adapt.md) measures on lines that chose nothing.")
    model = result["model"]
    st.subheader("Try it: write anything")
    st.caption("Read by the model you started from and by your adapted copy, side by side.")
    gray = widgets.canvas_line("yh_try", height=140)
    if gray is not None:
        base, error = resources.base_model()
        if error:
            st.error(error)
        else:
            from htr.adapt import read_lines

            c1, c2 = st.columns(2)
            with c1:
                st.caption("The model as it was")
                widgets.show_text(read_lines(base, [gray])[0])
            with c2:
                st.caption("Adapted to you")
                widgets.show_text(read_lines(model, [gray])[0])
    st.download_button("Download my adapted weights", data=lambda: resources.weights_bytes(model),
                       file_name="my-handwriting.weights.h5", mime="application/octet-stream",
                       key="yh_download",
                       help="A Keras weights file: `python -m htr recognize --weights my-handwriting.weights.h5 IMAGE`.")
