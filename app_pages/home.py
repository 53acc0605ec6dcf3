"""Home: what the app shows, which engines run here, the model and the device."""

import pandas as pd
import streamlit as st

from app import glossary, resources
from app.pages import HOME, PAGES
from app.state import WEIGHTS_KEY, presentation

st.title("Reading handwriting with a neural network")

st.markdown(
    "This app shows how a computer reads handwriting. **Easter2**, a small neural network "
    "that looks at a line of writing as a sequence of narrow columns, is compared with two "
    "well-known readers, **EasyOCR** and **Tesseract**."
)

for p in PAGES:
    if p is HOME:
        continue
    link, text = st.columns([2, 3] if presentation() else [1, 3], vertical_alignment="center")
    link.page_link(p.path, label=f"**{p.title}**", icon=p.icon)
    text.write(p.what)

if not presentation():
    st.caption(
        "Tip: switch on **Presentation mode** in the sidebar for large type on a projector."
    )

st.subheader("Readers available here")
rows = []
for name, (ok, reason) in resources.availability().items():
    rows.append(
        {
            "Reader": resources.engine_title(name),
            "Available": "yes" if ok else "no",
            "Details": reason,
        }
    )
# A static table: the details wrap and are read whole (a data grid cut them at its column width).
st.table(pd.DataFrame(rows).set_index("Reader"))
notes = glossary.notes_for(" ".join(r["Details"] for r in rows))
if notes:
    st.caption(notes)

st.subheader("Model and device")
easter2_ok, easter2_reason = resources.availability().get("easter2", (False, "not registered"))
col1, col2 = st.columns(2)
with col1:
    st.markdown("**Model in use**")
    if not presentation():
        from htr.weights import weights_path

        current = st.session_state.get(WEIGHTS_KEY) or ""
        choices = [""] + [f for f in resources.weights_files() if f != str(weights_path())]
        if current not in choices:  # a file chosen elsewhere (e.g. a test or a link)
            choices.append(current)
        st.selectbox(
            "Easter2 weights",
            choices,
            key=WEIGHTS_KEY,
            format_func=lambda f: f"default: {weights_path().name}" if not f else f.rsplit("/", 1)[-1],
            help="Any Keras *.weights.h5 file of Easter2 in models/ — e.g. one you trained on a full "
            "IAM copy with `python -m htr train --export models/mine.weights.h5`. Applies to this "
            "browser session, on every page.",
        )
    if easter2_ok:
        st.write(f"Easter2 — {easter2_reason}")
    else:
        st.warning(f"Easter2 cannot run here: {easter2_reason}")
with col2:
    st.markdown("**Device**")
    device_slot = st.empty()
    device_slot.caption("asking TensorFlow which device it sees…")

iam, reason = resources.get_iam()
if iam is None:
    st.info(
        f"The IAM handwriting database is not configured ({reason}); the pages use the "
        "example images shipped with the app. See **IAM browser** for how to get IAM."
    )
else:
    st.success(f"IAM database: {iam.root} ({len(iam.lines)} lines, {len(iam.forms)} forms).")

# Last, so the page is already on screen while TensorFlow starts (a few seconds, once
# per server process): the device, then the model, loaded for every session to share.
device_slot.write(resources.device_description())
if easter2_ok:
    with col1:
        with st.spinner("Loading the model…"):
            seconds = resources.warm_easter2()
        st.caption(f"Model loaded and warmed up ({seconds:.1f} s, once per server).")
