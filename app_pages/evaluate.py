"""Evaluate: every engine over many lines, with error rates and the hardest lines."""

import csv
import io

import streamlit as st

from app import glossary, resources, widgets
from htr import viz
from htr.errors import HTRError
from htr.metrics import MISSING, aggregate, cer, char_confusions, unspace_punctuation, wer

st.title("Evaluate the readers")
st.caption(
    "Read many lines whose true text is known and count the mistakes. CER = character "
    "error rate (edits per true character), WER = word error rate.",
    help=glossary.help("CER", "WER"),
)

iam, reason = resources.get_iam()
sources: dict[str, tuple[str, str]] = {}  # label → ("iam", line id) / ("example", path)
if iam is None:
    st.info(f"No IAM database here ({reason}); evaluating on the example lines shipped with the app.")
    items = [("example", str(e.path), e.name, e.text) for e in resources.examples() if e.kind == "line"]
else:
    c1, c2 = st.columns(2)
    scheme = c1.selectbox("Split scheme", iam.split_schemes() or ["aachen"], key="ev_scheme",
                          help=glossary.help("Aachen split", "validation"))
    try:
        splits = iam.splits(scheme)
    except HTRError as exc:
        st.error(str(exc))
        st.stop()
    default_split = next((s for s in ("test", "testset", "validation") if s in splits), list(splits)[0])
    split = c2.selectbox("Split", list(splits), index=list(splits).index(default_split), key="ev_split")
    if split in ("train", "trainset"):
        st.caption("A training split: Easter2 trained on these lines and the language model learnt "
                   "their text, so their error rates say little about new handwriting.")
    have = set(iam.available_lines())
    ids = [i for i in splits[split] if i in have]
    if not ids:
        st.warning(f"None of the {len(splits[split])} lines of '{split}' has an image here.")
        st.stop()
    items = [("iam", i, i, iam.lines[i].text) for i in ids]

if not items:
    st.warning("Nothing to evaluate on.")
    st.stop()

available = resources.available_engines()
if not available:
    reasons = "; ".join(f"{resources.engine_title(n)}: {r}" for n, (_, r) in resources.availability().items())
    st.warning(f"No reader can run here yet ({reasons}).")
    st.stop()

readers = resources.readers(available)  # Easter2 + language model as one more, where it can run
reader_title = resources.reader_title

c1, c2 = st.columns(2)
if len(items) > 1:
    n = c1.slider("Lines", 1, len(items), min(20, len(items)), key="ev_n")
else:  # a slider needs two ends
    n = 1
    c1.write("1 line")
chosen = c2.multiselect("Readers", readers, default=readers, format_func=reader_title, key="ev_engines")

if st.button("Run the evaluation", type="primary", key="ev_run", disabled=not chosen):
    rows, errors = [], []
    lines = {name: (kind, ref, truth) for kind, ref, name, truth in items[:n]}

    def loader(kind: str, ref: str):
        return lambda: (resources.iam_line_image(str(iam.root), ref) if kind == "iam"
                        else resources.example_image(ref))

    for name, reader, result, error in widgets.read_each(
            [(name, loader(kind, ref)) for name, (kind, ref, _) in lines.items()], chosen):
        if error:
            errors.append(error if reader is None else f"{name}: {error}")
            continue
        kind, ref, truth = lines[name]
        rows.append({
            "line": name, "source": kind, "ref": ref, "engine": reader, "truth": truth,
            "read": result.text, "cer": cer(truth, result.text), "wer": wer(truth, result.text),
            "seconds": result.seconds, "length": len(truth),
        })
    st.session_state["ev_results"] = {"rows": rows, "errors": errors}

results = st.session_state.get("ev_results")
if not results:
    st.stop()
rows, errors = results["rows"], results["errors"]
for e in errors[:5]:
    st.error(e)
if len(errors) > 5:
    st.caption(f"… and {len(errors) - 5} more errors.")
if not rows:
    st.stop()

engines = list(dict.fromkeys(r["engine"] for r in rows))
summary = []
for engine in engines:
    mine = [r for r in rows if r["engine"] == engine]
    score = aggregate((r["truth"], r["read"]) for r in mine)
    unspaced = aggregate((unspace_punctuation(r["truth"]), unspace_punctuation(r["read"])) for r in mine)
    secs = sorted(r["seconds"] for r in mine)
    summary.append({
        "Reader": reader_title(engine), "Lines": score.lines,
        "CER %": round(100 * score.cer, 2), "CER % (punctuation spacing ignored)": round(100 * unspaced.cer, 2),
        "WER %": round(100 * score.wer, 2),
        "Exact lines": score.exact, "Median time (s)": round(secs[len(secs) // 2], 3),
    })
st.subheader("Results")
st.caption("IAM writes punctuation as separate words (\"dog .\"), and so does Easter2, which learnt "
           "from it; EasyOCR and Tesseract write \"dog.\". The second CER column takes the spaces around "
           "punctuation out of both texts first, so no reader is marked down for the convention.")
st.dataframe(summary, hide_index=True, width="stretch")
widgets.show_figure(viz.plot_engine_bars([
    {"engine": e, "label": s["Reader"], "seconds": s["Median time (s)"], "cer": s["CER %"] / 100}
    for e, s in zip(engines, summary)]), key="ev_bars")

titles = {e: reader_title(e) for e in engines}
c1, c2 = st.columns(2)
with c1:
    st.markdown("**How many lines at each error rate**")
    widgets.show_figure(viz.plot_cer_histogram(
        {e: [r["cer"] for r in rows if r["engine"] == e] for e in engines}, labels=titles), key="ev_hist")
with c2:
    st.markdown("**Are long lines harder?**")
    widgets.show_figure(viz.plot_cer_vs_length({
        e: ([r["length"] for r in rows if r["engine"] == e],
            [r["cer"] for r in rows if r["engine"] == e],
            [r["line"] for r in rows if r["engine"] == e]) for e in engines}, labels=titles),
        key="ev_scatter")

buf = io.StringIO()
writer = csv.DictWriter(buf, fieldnames=["line", "engine", "truth", "read", "cer", "wer", "seconds", "length"],
                        extrasaction="ignore")
writer.writeheader()
writer.writerows(rows)
st.download_button("Download all readings (CSV)", buf.getvalue().encode("utf-8"),
                   file_name="evaluation.csv", mime="text/csv", key="ev_csv")

st.subheader("Which characters go wrong")
st.caption("Each reading is aligned with the true text character by character (the alignment the CER "
           "counts): what was each wrong character read as, and which were dropped or added?")
conf_engine = st.selectbox("For reader", engines, format_func=reader_title, key="ev_conf_engine")
conf = char_confusions((r["truth"], r["read"]) for r in rows if r["engine"] == conf_engine)
if not conf.edits:
    st.success(f"{reader_title(conf_engine)} read every character of these lines right.")
else:
    widgets.show_figure(viz.plot_confusions(conf), key="ev_confusions")
    st.dataframe([{
        "True": "(nothing)" if t == MISSING else repr(t), "Read as": "(nothing)" if h == MISSING else repr(h),
        "Times": n, "Share of that character": "" if t == MISSING else f"{100 * n / conf.truth[t]:.1f} %",
    } for t, h, n in conf.top(10)], hide_index=True, width="stretch")

st.subheader("The hardest lines")
worst_engine = st.selectbox("Hardest lines for reader", engines, format_func=reader_title, key="ev_worst_engine")
worst = sorted((r for r in rows if r["engine"] == worst_engine), key=lambda r: -r["cer"])[:5]
for r in worst:
    try:
        gray = (resources.iam_line_image(str(iam.root), r["ref"]) if r["source"] == "iam"
                else resources.example_image(r["ref"]))
        widgets.show_image(gray, caption=f"{r['line']} — CER {100 * r['cer']:.1f} %")
    except HTRError as exc:
        st.error(str(exc))
    st.html(f'<p><b>True:</b></p><div class="htr-text">{viz.diff_html([("equal", r["truth"], r["truth"])])}</div>'
            f'<p><b>Read by {reader_title(r["engine"])}:</b></p>'
            + widgets.marked_html(r["truth"], r["read"]))
