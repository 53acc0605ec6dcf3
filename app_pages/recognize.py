"""Recognize: read an uploaded, drawn or photographed line or page."""

import streamlit as st

from app import glossary, resources, scores, slow, widgets
from app.state import presentation
from htr import viz

st.title("Recognize handwriting")
st.caption("Pick an example, upload a scan or photo, draw with the mouse, or use the camera.")

# In presentation mode the results come first, above the controls: the class sees them without scrolling.
results = st.container() if presentation() else None

image = widgets.image_input("rec", sources=("Example", "IAM line", "Upload", "Draw", "Camera"))
if image is None:
    st.stop()

engines = resources.available_engines()
if engines and "easter2" not in engines:
    reason = resources.availability().get("easter2", (False, "not registered"))[1]
    st.info(f"Our model Easter2 cannot run here ({reason}); the other readers can.")
left, right = st.columns([3, 1]) if not presentation() else (st.container(), st.container())
LAYOUTS = ["one line", "a page (several lines)"]
DECODER_TITLES = {"greedy": "greedy (fast)", "beam": "beam search", "lm": "beam + language model"}
if st.session_state.get("rec_image") != image.digest:  # a new image: guess its layout afresh
    st.session_state["rec_image"] = image.digest
    st.session_state["rec_layout"] = LAYOUTS[1] if image.kind == "page" else LAYOUTS[0]
with right:
    layout_label = st.radio("The image holds", LAYOUTS, key="rec_layout")
    layout = "page" if layout_label.startswith("a page") else "line"
    engine = None
    decoder = "greedy"
    if engines:
        engine = st.selectbox(
            "Reader", engines, format_func=resources.engine_title, key="rec_engine"
        )
        if engine == "easter2" and not presentation():
            decoder = st.radio(
                "Decoding",
                list(DECODER_TITLES) if resources.lm_available() else ["greedy", "beam"],
                format_func=DECODER_TITLES.get,
                key="rec_decoder",
                help=glossary.help("greedy", "beam search", "language model", "5-gram"),
            )
            if not resources.lm_available():
                st.caption("Set IAM_DIR to an IAM copy to decode with a language model as well.")
    # the true text: from the example or IAM line, or typed; any text gives a CER
    truth = st.text_area("True text (optional: type it to get the error rate)", value=image.truth or "",
                         key=f"rec_truth_{image.digest}", height=68).strip("\n") or None

with left:
    if layout == "line":
        widgets.show_image(image.gray, caption=widgets.md_literal(image.name))


def _as_page() -> None:
    st.session_state["rec_layout"] = LAYOUTS[1]


findings = scores.input_findings(image.gray, layout)  # blank, too small, several lines as one: said
if any(f.blocking for f in findings):
    st.stop()  # nothing meaningful to read (and no empty file to download)
if any(f.code == "several_lines" for f in findings):
    st.button("Read it as a page", key="rec_as_page", on_click=_as_page)

if not engines:
    reasons = "; ".join(f"{resources.engine_title(n)}: {r}" for n, (_, r) in resources.availability().items())
    st.warning(f"No reader can run here yet ({reasons}).")
    if layout == "page":
        boxes = resources.segment(image.digest, image.gray)
        with left:
            widgets.show_figure(viz.plot_page(image.gray, boxes), key="rec_page_only")
    st.stop()

if not slow.confirm_long(engine, layout, image.gray, image.digest, "rec"):  # EasyOCR on a page: asked first
    st.stop()
result, error = slow.read_with_progress(engine, image.digest, layout, image.gray, "rec", decoder)
if result is None and error is None:  # stopped
    st.stop()
if error:
    st.error(error)
    st.stop()

if layout == "page":
    boxes = [r.box for r in result.lines if r.box is not None]
    if not boxes:
        boxes = resources.segment(image.digest, image.gray)
    labels = [r.text for r in result.lines] if result.lines else None
    with left:
        widgets.show_figure(viz.plot_page(image.gray, boxes, labels), key="rec_page")
        st.caption(f"{len(boxes)} text lines found; hover a number to see what was read there.")

with results if results is not None else st.container():
    st.subheader("Text read")
    widgets.show_text(result.text, result.char_probs)
    if result.char_probs:
        st.markdown(widgets.CONFIDENCE_LEGEND)
    cols = st.columns(4)
    cols[0].metric("Time", f"{result.seconds:.2f} s")
    cols[1].metric("Characters", len(result.text))
    if truth is not None:
        # on a projector a quarter of the screen holds "CER", not "Character error rate" (the help has it)
        scores.cer_metrics(truth, result.text, cols[2], cols[3],
                           label="CER" if presentation() else "Character error rate", help=glossary.help("CER"))
        st.caption(f"True text: {widgets.md_literal(truth)}")
    said = scores.reading_findings(result.text, result.char_probs)  # nothing read, low confidence

if "nothing_read" not in said:  # never an empty file
    import json

    from htr.reading import reading_record

    stem = image.name.rsplit(".", 1)[0]
    down_text, down_json = st.columns(2)
    down_text.download_button("Download the text", data=result.text.encode("utf-8"), file_name=f"{stem}.txt",
                              mime="text/plain", key="rec_download")
    record = reading_record(result, image=image.name, size=(image.gray.shape[1], image.gray.shape[0]),
                            layout=layout, truth=truth)
    down_json.download_button("Download as JSON (line boxes, confidences)",
                              data=json.dumps(record, ensure_ascii=False, indent=1).encode("utf-8"),
                              file_name=f"{stem}.json", mime="application/json", key="rec_download_json")
    from app.exports import download_buttons  # PAGE-XML and ALTO, as `python -m htr batch --format` writes

    download_buttons(st, result, image.name, image.gray, "rec_export", formats=("page", "alto"))

if result.char_probs and len(result.char_probs) == len(result.text) and layout == "line":
    widgets.show_figure(viz.plot_char_confidence(result.text, result.char_probs), key="rec_conf")

if engine == "easter2" and layout == "line" and not presentation():
    if st.toggle("Compare the decoders", key="rec_compare_decoders"):
        # Every reading through the guarded, cached path (time limit, clear errors).
        names = list(DECODER_TITLES) if resources.lm_available() else ["greedy", "beam"]
        blurbs = {"greedy": "the best character at every step",
                  "beam": "the best whole line among many candidates",
                  "lm": "the best whole line, judged by the model and by English"}
        readings = {d: resources.try_recognize("easter2", image.digest, "line", image.gray, d) for d in names}
        columns = st.columns(len(names))
        for col, d in zip(columns, names):
            rec, err = readings[d]
            with col:
                st.markdown(f"**{DECODER_TITLES[d].capitalize()}** — {blurbs[d]}")
                if err:
                    st.error(err)
                    continue
                widgets.show_text(rec.text, rec.char_probs)
                if truth is not None:
                    st.caption(scores.cer_text(truth, rec.text))
