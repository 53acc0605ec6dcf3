"""Compare engines: one image through every reader, side by side."""

import streamlit as st

from app import glossary, resources, scores, slow, widgets
from app.state import presentation
from htr import viz
from htr.metrics import cer, wer

st.title("Compare the readers")
if not presentation():  # on a projector the room goes to the results
    st.caption(
        "The same image through Easter2 (ours), EasyOCR and Tesseract. Give the true text "
        "to see each reader's mistakes."
    )

# In presentation mode the results come first, one full-width row per reader, above the controls.
results = st.container(key="reader_rows") if presentation() else None  # the key styles it (app/state.py)

image = widgets.image_input("cmp", sources=("Example", "IAM line", "Upload", "Draw", "Camera"))
if image is None:
    st.stop()
widgets.show_image(image.gray, caption=widgets.md_literal(image.name))

layout = "page" if image.kind == "page" else "line"
if scores.input_blocked(image.gray, layout):  # blank, or too small to hold writing
    st.stop()
truth = st.text_area(
    "True text (optional — type it, or it comes from the example / IAM line)",
    value=image.truth or "",
    key=f"cmp_truth_{image.digest}",
    height=68 if layout == "line" else 140,
).strip("\n")

rows = []
# (name, reading, score) slots per reader: one column each, or in presentation one row each
slots = widgets.reader_slots(len(resources.engine_names()), results)
readings = {}  # engine -> its reading, for the downloads below
for (head, body, score), name in zip(slots, resources.engine_names()):
    with head:
        st.subheader(resources.engine_title(name))
        ok, reason = resources.availability().get(name, (False, "unknown engine"))
        if not ok:
            st.warning(f"Not available: {reason}")
            rows.append({"engine": name, "seconds": None, "cer": None})
            continue
    with body:
        if not slow.confirm_long(name, layout, image.gray, image.digest, f"cmp_{name}"):
            rows.append({"engine": name, "seconds": None, "cer": None})
            continue
        result, error = slow.read_with_progress(name, image.digest, layout, image.gray, f"cmp_{name}")
        if error or result is None:
            if error:
                st.error(error)
            rows.append({"engine": name, "seconds": None, "cer": None})
            continue
    with body:
        scores.reading_findings(result.text, result.char_probs)  # nothing read, or read with low confidence
    row = {"engine": name, "label": resources.engine_title(name), "seconds": result.seconds,
           "cer": None, "text": result.text}
    if truth:
        row["cer"] = cer(truth, result.text)
        row["wer"] = wer(truth, result.text)
        body.html(widgets.marked_html(truth, result.text))
        score.metric("CER", f"{100 * row['cer']:.1f} %", help=glossary.help("CER"))
        row["fair_cer"] = scores.cer_pair(truth, result.text)[1]
        scores.fair_metric(score, row["fair_cer"])
        head.markdown(f"WER **{100 * row['wer']:.1f} %** · time **{result.seconds:.2f} s**",
                      help=glossary.help("WER"))
    else:
        with body:
            widgets.show_text(result.text, result.char_probs)
        score.metric("Time", f"{result.seconds:.2f} s")
    rows.append(row)
    readings[name] = result

if truth:
    st.html(f"<p>Marks in the readings: {viz.DIFF_LEGEND_HTML} (hover a mark to see the true text)</p>")
    st.caption("CER: character error rate — edits per true character. WER: the same for words.")

ran = [r for r in rows if r["seconds"] is not None]
if ran:
    widgets.show_figure(viz.plot_engine_bars(ran), key="cmp_bars")
if readings:
    from app.exports import download_buttons

    with st.expander("Download the readings: text, PAGE-XML, ALTO"):
        for name, reading in readings.items():
            st.markdown(f"**{resources.engine_title(name)}**")
            download_buttons(st, reading, image.name, image.gray, f"cmp_export_{name}")
