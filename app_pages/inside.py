"""Inside the model: what Easter2 computes for one line, explained."""

import numpy as np
import streamlit as st

from app import ctc_steps, glossary, resources, scores, widgets
from app.state import presentation
from htr import viz
from htr.alphabet import label
from htr.errors import HTRError
from htr.preprocess import slant_angle

#: Why hot spots can sit on blank paper at the image's edges (the classroom review asked).
SALIENCY_EDGES = (
    "Hot spots on blank paper at the very top, bottom or ends of the line are not letters it looked at. "
    "Saliency measures what *would* change the answer if it changed, not only where the letter is: a "
    "stroke appearing near the edge of the network's 80-pixel-high input would change its reading, so "
    "the gradient can be large where nothing is written. Read them as \"sensitive here\", not "
    "\"looked here\"."
)

st.title("Inside the model")
st.markdown(
    "Easter2 slides along the line from left to right. Every 4 pixel columns of its "
    "80-pixel-high input it outputs one **time step**: a probability for each of the 79 "
    "characters and for one extra symbol, the **blank**. Pick a line and see those steps."
)

image = widgets.image_input("in", sources=("Example", "IAM line", "Upload", "Draw"), kinds=("line",))
if image is None:
    st.stop()
if scores.input_blocked(image.gray, "line"):  # blank, or too small to hold writing
    st.stop()  # said; the pictures of a reading of nothing would explain nothing

ok, why = resources.availability().get("easter2", (False, "not registered"))
if not ok:
    widgets.show_image(image.gray, caption=widgets.md_literal(image.name))
    st.warning(f"Easter2 cannot run here, so there is nothing to look inside yet: {why}.")
    st.stop()

try:
    with st.spinner("Running the network once and keeping every intermediate result…"):
        analysis = resources.analyze(image.digest, image.gray)
except Exception as exc:  # shown, not raised: the page must stay usable
    st.error(f"Easter2 could not analyse this image: {exc}")
    st.stop()

prep = analysis.prepared
probs = analysis.probs
lean = slant_angle(image.gray)
if lean <= -3:
    st.caption(f"The writing leans {-lean:.0f}° back, to the left. Easter2 learnt from synthetic lines that lean "
               "right far more often than back, so a backhand is harder for it: the Stress test page shows what "
               "shearing a line does to each reader.")
elif lean >= 3:
    st.caption(f"The writing leans {lean:.0f}° to the right.")
else:
    st.caption("The writing stands about upright.")
if prep.angle:
    st.caption(f"This line leans {prep.angle:+.1f}°: Easter2 turned it level before reading it (its 80 rows "
               "are the network's channels, so a climbing line would cross them). Everything below is placed "
               "back on the image as you gave it.")
steps = np.arange(probs.shape[0])
columns = prep.step_to_column(steps)
decoded = viz.spans_to_columns(analysis.greedy.spans, prep.step_edges_to_columns)
aligned = []
truth = image.truth
if not presentation():
    truth = st.text_input("True text (for the alignment)", value=image.truth or "",
                          key=f"in_truth_{image.digest}", help=glossary.help("forced alignment")) or None
if truth:
    from htr.ctc import forced_align

    try:
        aligned = viz.spans_to_columns(forced_align(probs, truth).spans, prep.step_edges_to_columns)
    except ValueError as exc:
        st.caption(f"The true text cannot be aligned to this line: {widgets.md_literal(str(exc))}")

# ---------------------------------------------------------------- 1. CTC
st.header("1 · What the network outputs at each step", help=glossary.help("time step", "blank", "CTC", "greedy"))
st.html(widgets.labelled_text_html("Read", analysis.greedy.text)  # typed text: escaped, never Markdown
        + (widgets.labelled_text_html("True", truth) if truth else ""))
scores.reading_findings(analysis.greedy.text, analysis.greedy.char_probs)  # nothing read, doubtful
widgets.show_figure(viz.plot_ctc(image.gray, probs, columns, decoded, aligned,  # every row labelled, even in large type
                                 row_px=30 if presentation() else 18), key="in_ctc")
if not presentation() and resources.lm_available():
    with st.expander("What a language model changes"):
        try:  # the same probabilities as above, so only the decoder differs
            lm_read, lm_error = resources.lm_reading(image.digest, probs), None
        except HTRError as exc:
            lm_read, lm_error = None, str(exc)
        if lm_error:
            st.error(lm_error)
        else:
            st.markdown(
                "The same probabilities, decoded by beam search that also asks a character 5-gram model "
                "of English (learnt from the transcriptions of IAM's training lines) how likely each next "
                "character is. Marked: where that reading departs from the greedy one above "
                "(changed, added, dropped).",
                help=glossary.help("beam search", "language model", "5-gram"),
            )
            st.html(widgets.marked_html(analysis.greedy.text, lm_read.text))
            if lm_read.text == analysis.greedy.text:
                st.caption("Here the language model agrees with the greedy reading: nothing marked.")
            if truth:
                st.caption(f"Greedy: {scores.cer_text(truth, analysis.greedy.text)} · "
                           f"with the language model: {scores.cer_text(truth, lm_read.text)}")
with st.expander("How to read this picture", expanded=presentation()):
    st.markdown(
        f"""
* **Bottom:** one column per time step ({len(steps)} steps for this line), one row per
  character. Bright = likely. Hover to see the probability and the top 3 at each step.
* **Blank (∅)** means "no new character here". Most steps are blank: a letter usually
  shows up as one or two bright steps between blanks.
* **Why repeats collapse:** a letter wider than one step may be predicted at two steps in
  a row (`ll` at steps 10 and 11). The decoder merges equal neighbours, then removes the
  blanks, so `h e e ∅ l l ∅ l o` becomes **hello**. A real double letter needs a blank in
  between — that is why the blank exists.
* **Top boxes (blue):** where each character it read sits. **Bottom boxes (red):** where
  the *true* text fits best (forced alignment), when the true text is known.
"""
    )

ctc_steps.show(probs, key=f"in_steps_{image.digest}", full=presentation())  # the best path, collapsing

# ---------------------------------------------------------------- 2. SE gates
st.header("2 · Squeeze-and-Excitation: which features this line turns up",
          help=glossary.help("Squeeze-and-Excitation", "gate", "channel"))
others = [e for e in resources.examples() if e.kind == "line" and e.name != image.name]
gates_other = None
other_name = "other line"
if others:
    names = [e.name for e in others]
    choice = st.selectbox("Compare with", names, key="in_other")
    other = others[names.index(choice)]
    other_gray = resources.example_image(str(other.path))
    st.image(other_gray, caption=f"the other line: {widgets.md_literal(other.text)}", width=480)
    try:
        gates_other = resources.analyze(widgets.digest_of(other_gray), other_gray).gates
        other_name = choice.split(":")[0]
    except Exception as exc:
        st.caption(f"Could not analyse {choice}: {exc}")
widgets.show_figure(
    viz.plot_se_gates(analysis.gates, gates_other, names=("this line", other_name),
                      unit_names=["unit 1", "unit 2", "unit 3"]),
    key="in_gates",
)
st.markdown(
    "Each Easter unit computes 256 feature channels. Its **Squeeze-and-Excitation** block "
    "first *squeezes* every channel to one number (its average over the whole line), then "
    "learns a **gate** between 0 and 1 per channel from those numbers, and multiplies the "
    "channel by it: channels useful for *this* writing are turned up (near 1), others are "
    "turned down (near 0). Two lines in different hands get different gates."
)

# ---------------------------------------------------------------- 3. activations
st.header("3 · Chosen channels along the line", help=glossary.help("channel", "gate"))
unit = st.radio("Unit", [1, 2, 3], horizontal=True, key="in_unit", format_func=lambda u: f"unit {u}")
acts = analysis.activations[unit - 1]
gates_u = analysis.gates[unit - 1]
default = viz.top_channels(gates_u, None if gates_other is None else gates_other[unit - 1], k=3)
if presentation():
    channels = default
else:
    channels = st.multiselect("Channels", list(range(acts.shape[1])), default=default,
                              key=f"in_channels_{unit}", max_selections=6,
                              help="Preselected: the channels whose gates differ most from the other line.")
if channels:
    widgets.show_figure(viz.plot_activations(image.gray, acts, columns, channels), key="in_acts")
    st.caption(
        "A channel's activation rises where its feature appears in the writing — for "
        "example a loop, a tall stroke or the gap between words."
    )

# ---------------------------------------------------------------- 4. saliency
st.header("4 · Which pixels made it read a character", help=glossary.help("saliency"))
spans = analysis.greedy.spans
if not spans:
    st.info("The network read no characters here, so there is nothing to explain.")
    st.stop()
options = list(range(len(spans)))
pick = st.selectbox(
    "Character",
    options,
    index=0,
    key=f"in_char_{image.digest}",
    format_func=lambda i: f"#{i + 1}: '{label(analysis.greedy.indices[i])}' (p = {spans[i].prob:.2f})",
)
span = spans[pick]
with st.spinner("Computing the gradient…"):
    sal = resources.saliency(image.digest, span.start, span.end,
                             int(analysis.greedy.indices[pick]), image.gray)
widgets.show_figure(viz.plot_saliency(image.gray, sal), key="in_saliency")
st.caption(
    "Saliency: how much the probability of this character would change if each pixel "
    "changed (the gradient). Hot pixels are the ones the network looked at; usually the "
    "letter itself and a little of its neighbours."
)
st.caption(SALIENCY_EDGES)
