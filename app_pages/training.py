"""How it learned: the synthetic handwriting Easter2 trained on, real hands beside it, its training curves, its model card."""

import streamlit as st

from app import glossary, real_hands, resources, scores, widgets
from app.state import presentation
from htr import viz

DEFAULT_TEXT = "Meet me at 7 o'clock, by the old bridge - bring the maps!"
KNOBS = {"tr_slant": 8, "tr_width": 1.0, "tr_space": 1.6, "tr_jitter": 1.0}

st.title("How Easter2 learned to read")
st.markdown(
    "Easter2 had almost no real handwriting to learn from: 14 lines of IAM. Everything else it "
    "learned from **handwriting fonts**, drawn letter by letter with wobble, slant, smudges and "
    "paper texture so that they look like scanned pages — hundreds of thousands of lines, each "
    "made fresh while it trained. Make such a line yourself and see whether the model reads it."
)

make, real_tab, hands_tab, batch, curves, card = st.tabs(
    ["Make a training line", "Fonts beside a real hand", "Real hands", "A batch as training sees it",
     "Training curves", "Model card"])

# ---------------------------------------------------------------- make a line
with make:
    fonts = resources.font_names()
    seen = resources.seen_fonts()

    def font_label(name):
        if name is None:
            return "any (drawn by the seed)"
        return name if not seen or name in seen else f"{name} — never seen by the shipped model"

    def another():
        st.session_state["tr_seed"] = int(st.session_state.get("tr_seed", 0)) + 1

    picture = st.container()  # the line, full width above the knobs (filled once they are read)
    controls, shown = st.columns([1, 2], gap="large")
    with controls:
        text = st.text_input("Text", value=DEFAULT_TEXT, max_chars=120, key="tr_text",
                             help="Letters, digits and the punctuation of IAM's 79 characters.")
        font = st.selectbox("Font", [None, *fonts], format_func=font_label, key="tr_font",
                            help=f"{len(fonts)} openly licensed handwriting fonts ship with the project"
                            + (f"; the shipped model trained on {len(seen)} of them." if seen else "."))
        slant = st.slider("Slant (degrees)", -15, 30, KNOBS["tr_slant"], key="tr_slant")
        width = st.slider("Letter width (× a typical IAM writer's)", 0.6, 1.8, KNOBS["tr_width"], 0.05,
                          key="tr_width")
        space = st.slider("Word spacing (× the font's own space)", 0.3, 3.0, KNOBS["tr_space"], 0.1,
                          key="tr_space")
        jitter = st.slider("Wobble of each letter", 0.0, 2.0, KNOBS["tr_jitter"], 0.1, key="tr_jitter")
        shapes = st.checkbox("Bend the letters' shapes", value=True, key="tr_shapes")
        joined = st.checkbox("Draw whole words (keeps cursive joins)", value=False, key="tr_joined")
        neighbours = st.checkbox("Strokes of the lines above and below", value=False, key="tr_neighbours")
        taco = st.checkbox("TACo: corrupt some tiles", value=False, key="tr_taco",
                           help=glossary.help("TACo"))
        seed_col, button_col = st.columns([2, 1], vertical_alignment="bottom")
        st.session_state.setdefault("tr_seed", 0)  # set here, and by "Another"
        seed = seed_col.number_input("Seed", min_value=0, max_value=10**6, step=1, key="tr_seed",
                                     help="Paper, ink, blur and distortion are random, drawn from the seed.")
        button_col.button("Another", on_click=another, key="tr_another", width="stretch")

    knobs = dict(slant=float(slant), width=float(width), word_space=float(space), jitter=float(jitter),
                 shapes=shapes, joined=joined, neighbours=neighbours, taco=taco)  # both tabs draw with these
    with shown:
        if not text.strip():
            st.info("Type some text to draw.")
        else:
            image, used, error = resources.try_specimen(text, font, int(seed), **knobs)
            if error:
                st.error(f"Cannot draw this line: {widgets.md_literal(error)}")
            else:
                note = "" if not seen or used in seen else " — a font the shipped model never trained on"
                with picture:
                    st.image(image, caption=f"Font {used}, seed {seed}{note}", width="stretch")
                st.markdown("**What Easter2 reads in it**")
                result, err = resources.try_recognize("easter2", widgets.digest_of(image), "line", image)
                if err:
                    st.warning(f"Easter2 cannot read here: {err}")
                else:
                    st.html(widgets.marked_html(text, result.text))
                    scores.cer_metrics(text, result.text)
                    st.html(f"<p>Marks: {viz.DIFF_LEGEND_HTML}</p>")
                if not presentation():
                    st.caption(
                        "Try a slant the model rarely saw, squeeze the words together, or pick a font "
                        "it never trained on: the errors show what it has and has not learned."
                    )

# ---------------------------------------------------------------- fonts beside a real hand
with real_tab:
    st.markdown(
        "The same words twice: written by a person (a line of the IAM database) and drawn from a "
        "font with the knobs of the first tab. The model reads both; the difference in errors is "
        "the gap between the fonts it learned from and real hands."
    )
    iam, why = resources.get_iam()
    if iam is None:
        st.info(f"No IAM copy here ({why}). Set IAM_DIR to a copy of the IAM database to compare "
                "a real line with its synthetic twin; the IAM browser page says how to get one.")
    elif not iam.available_lines():
        st.warning("The IAM copy at IAM_DIR has no line images to show.")
    else:
        from htr.weights import SHIPPED_IAM_FORMS

        ids = iam.available_lines()

        def line_label(i):
            return f"{i} · {iam.split_of(i) or 'no split'} split"

        fair = next((k for k, i in enumerate(ids) if iam.line(i).form not in SHIPPED_IAM_FORMS), 0)
        line_id = st.selectbox("IAM line", ids, index=fair, format_func=line_label, key="tr_real_line",
                               help="Starts at the first line the shipped model never trained on.")
        record = iam.line(line_id)
        scores.trained_badge(line_id)  # the shipped model trained on this form's lines: said, badged
        pairs = []
        try:
            pairs.append(("Written by a person", resources.iam_line_image(str(resources.iam_dir()), line_id), ""))
        except Exception as exc:  # noqa: BLE001 - a broken IAM file is one message
            st.error(f"Cannot read {line_id}: {exc}")
        twin, twin_font, twin_error = resources.try_specimen(record.text, font, int(seed), **knobs)
        if twin_error:
            st.error(f"Cannot draw its twin: {widgets.md_literal(twin_error)}")
        else:
            pairs.append(("Drawn from a font", twin, twin_font))
        for title, image, used in pairs:
            st.markdown(f"**{title}**" + (f" — {used}" if used else ""))
            st.image(image, width="stretch")
            result, err = resources.try_recognize("easter2", widgets.digest_of(image), "line", image)
            if err:
                st.warning(f"Easter2 cannot read here: {err}")
                continue
            read, score = st.columns([4, 1], vertical_alignment="center")
            read.html(widgets.marked_html(record.text, result.text))
            scores.cer_metrics(record.text, result.text, score, score)

# ---------------------------------------------------------------- real hands (CC BY 4.0)
with hands_tab:
    real_hands.show(font, int(seed), knobs)

# ---------------------------------------------------------------- a batch
with batch:
    st.markdown(
        "Training draws lines like these, thousands a second on a GPU: a random font and text, "
        "random style, sometimes two lines joined into one long one, sometimes TACo. Each is "
        "scaled to **80 pixels high** — the rows become the network's 80 input channels — and "
        "padded to **2000 columns**, which the network reads as 500 time steps. They are shown as "
        "the network gets them: ink bright on dark, with the label it must learn to write."
    )
    if "tr_batch" not in st.session_state:
        st.session_state["tr_batch"] = 0
    if st.button("New batch", key="tr_new_batch"):
        st.session_state["tr_batch"] += 1
    try:
        samples = resources.training_batch(int(st.session_state["tr_batch"]))
    except Exception as exc:  # noqa: BLE001 - a broken renderer must not take the page down
        st.error(f"Could not make training lines here: {type(exc).__name__}: {exc}")
        samples = []
    for x, label in samples:
        st.image(x, caption=label, width="stretch")
    if samples and resources.iam_dir() is None:
        st.caption("Texts here are generated English; with IAM_DIR set they are the transcriptions "
                   "of IAM's training lines, as in real training.")

# ---------------------------------------------------------------- curves
with curves:
    rows, why = resources.training_log()
    if why:
        st.error(why)
    elif not rows:
        st.info("The training log is empty.")
    else:
        st.markdown("**Error on lines it never trained on, and the training loss, epoch by epoch**",
                    help=glossary.help("CER", "validation", "epoch", "focal CTC"))
        widgets.show_figure(viz.plot_training_log(rows), key="tr_curves")
        stages = list(dict.fromkeys(r.get("stage", "") for r in rows if r.get("stage")))
        st.caption(
            f"{len(rows)} epochs in {len(stages) or 1} stage(s) ({', '.join(stages)}). "
            "Red: the real IAM validation lines (which chose the checkpoint); blue: synthetic lines the "
            "model never trained on. Real CER stops falling long before synthetic CER does: the gap "
            "between fonts and real hands, not compute, is what limits a model trained on fonts."
        )

# ---------------------------------------------------------------- model card
with card:
    text_md = resources.model_card()
    if text_md is None:
        st.error("The model card (models/MODEL_CARD.md) is missing from this installation.")
    else:
        st.markdown(text_md)
