"""Compare engines: one image through every reader, side by side."""

import streamlit as st

from app import resources, widgets
from htr import viz
from htr.metrics import cer, wer

st.title("Compare the readers")
st.caption(
    "The same image through Easter2 (ours), EasyOCR and Tesseract. Give the true text "
    "to see each reader's mistakes."
)

image = widgets.image_input("cmp", sources=("Example", "IAM line", "Upload", "Draw", "Camera"))
if image is None:
    st.stop()
widgets.show_image(image.gray, caption=widgets.md_literal(image.name))

layout = "page" if image.kind == "page" else "line"
truth = st.text_area(
    "True text (optional — type it, or it comes from the example / IAM line)",
    value=image.truth or "",
    key=f"cmp_truth_{image.digest}",
    height=68 if layout == "line" else 140,
).strip("\n")

rows = []
cols = st.columns(len(resources.engine_names()))
for col, name in zip(cols, resources.engine_names()):
    with col:
        st.subheader(resources.engine_title(name))
        ok, reason = resources.availability().get(name, (False, "unknown engine"))
        if not ok:
            st.warning(f"Not available: {reason}")
            rows.append({"engine": name, "seconds": None, "cer": None})
            continue
        with st.spinner("reading…"):
            result, error = resources.try_recognize(name, image.digest, layout, image.gray)
        if error:
            st.error(error)
            rows.append({"engine": name, "seconds": None, "cer": None})
            continue
        row = {"engine": name, "label": resources.engine_title(name), "seconds": result.seconds,
               "cer": None, "text": result.text}
        if truth:
            row["cer"] = cer(truth, result.text)
            row["wer"] = wer(truth, result.text)
            st.html(widgets.marked_html(truth, result.text))
            st.metric("CER", f"{100 * row['cer']:.1f} %",
                      help="Character error rate: edits per true character.")
            st.markdown(f"WER **{100 * row['wer']:.1f} %** · time **{result.seconds:.2f} s**")
        else:
            widgets.show_text(result.text, result.char_probs)
            st.metric("Time", f"{result.seconds:.2f} s")
        rows.append(row)

if truth:
    st.html(f"<p>Marks in the readings: {viz.DIFF_LEGEND_HTML} (hover a mark to see the true text)</p>")
    st.caption("CER: character error rate — edits per true character. WER: the same for words.")

ran = [r for r in rows if r["seconds"] is not None]
if ran:
    widgets.show_figure(viz.plot_engine_bars(ran), key="cmp_bars")
