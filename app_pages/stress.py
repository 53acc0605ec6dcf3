"""Stress test: make a line harder step by step and watch each reader's errors grow."""

import streamlit as st

from app import resources, scores, tables, widgets
from htr import viz
from htr.metrics import cer
from htr.perturb import DISTORTIONS, perturb

st.title("Stress test")
st.caption(
    "Lean the writing, blur it, fade the ink, squeeze it: the same line, a little harder at each "
    "step, through every reader. Where does each one break?"
)

image = widgets.image_input("st", sources=("Example", "IAM line", "Upload", "Draw"), kinds=("line",))
if image is None:
    st.stop()
if scores.input_blocked(image.gray, "line"):  # blank, or too small to hold writing
    st.stop()  # said; distorting nothing step by step would only chart meaningless readings

truth = st.text_input("True text (needed to count errors; it comes with examples and IAM lines)",
                      value=image.truth or "", key=f"st_truth_{image.digest}").strip()

c1, c2 = st.columns([1, 2])
name = c1.selectbox("Distortion", list(DISTORTIONS), format_func=lambda n: DISTORTIONS[n].title, key="st_kind")
dist = DISTORTIONS[name]
c1.caption(dist.what)
labels = [dist.label(v) for v in dist.levels]
shown = c2.select_slider("Strength (preview)", options=labels, value=labels[len(labels) // 2],
                         key=f"st_level_{name}")
level = dist.levels[labels.index(shown)]
try:
    preview = perturb(image.gray, name, level)
except ValueError as exc:
    st.error(widgets.md_literal(f"{image.name}: {exc}"))
    st.stop()
with c2:
    widgets.show_image(preview, caption=f"{dist.title}: {shown}")

available = resources.available_engines()
if not available:
    reasons = "; ".join(f"{resources.engine_title(n)}: {r}" for n, (_, r) in resources.availability().items())
    st.warning(f"No reader can run here yet ({reasons}).")
    st.stop()
readers = resources.readers(available)
chosen = st.multiselect("Readers", readers, default=readers, format_func=resources.reader_title, key="st_readers")
if not truth:
    st.info("Type the true text of the line to measure each reader's errors at every strength.")
    st.stop()

run_key = (image.digest, name, truth, tuple(chosen))
if st.button(f"Read the line at all {len(dist.levels)} strengths", type="primary", key="st_run",
             disabled=not chosen):
    results, errors = {}, []
    by_label = dict(zip(labels, dist.levels))

    def distorted(level: float):
        return lambda: perturb(image.gray, name, level)

    for lab, reader, result, error in widgets.read_each([(lab, distorted(lv)) for lv, lab in zip(dist.levels, labels)],
                                                        chosen):
        lv = by_label[lab]
        if reader is None:  # the image could not be made; the other strengths are still read
            errors.append(f"{dist.title} at {lab}: {error}")
            results.update({(r, lv): None for r in chosen})
        elif error:
            errors.append(f"{resources.reader_title(reader)} at {lab}: {error}")
            results[(reader, lv)] = None
        else:
            results[(reader, lv)] = result.text
    st.session_state["st_results"] = {"key": run_key, "results": results, "errors": errors}

saved = st.session_state.get("st_results")
if not saved or saved["key"] != run_key:
    st.stop()
results, errors = saved["results"], saved["errors"]
for e in errors[:5]:
    st.error(e)

curves = {r: (list(dist.levels), [None if results.get((r, lv)) is None else cer(truth, results[(r, lv)])
                                   for lv in dist.levels]) for r in chosen}
widgets.show_figure(viz.plot_robustness(curves, f"{dist.title} ({dist.unit})",
                                        labels={r: resources.reader_title(r) for r in chosen}, ticktext=labels),
                    key="st_curve")
# Two narrow tables, not one wide one: a reading beside each CER pushed the last reader off the right.
st.dataframe(tables.stress_cer_table(results, truth, dist.levels, labels, chosen), hide_index=True,
             width="stretch")
with st.expander("What each reader read at each strength"):
    st.dataframe(tables.stress_readings_table(results, dist.levels, labels, chosen), hide_index=True,
                 width="stretch")
with st.expander("The line at every strength, as the readers saw it"):
    for lv, lab in zip(dist.levels, labels):
        try:
            widgets.show_image(perturb(image.gray, name, lv), caption=lab)
        except ValueError as exc:
            st.error(f"{lab}: {exc}")
st.caption("Each cell: a reader's CER (%) at that strength; the first row is the line as it is. "
           "What each one read is in the first box below the table.")
