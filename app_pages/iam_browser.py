"""IAM browser: splits, writers, forms and lines of the IAM database, read by every engine."""

import random

import streamlit as st

from app import glossary, resources, scores, widgets
from htr import viz
from htr.errors import HTRError
from htr.metrics import cer

st.title("IAM handwriting database")

iam, reason = resources.get_iam()


def engine_readings(image: widgets.InputImage, truth: str, key: str) -> None:
    """Each available engine's reading of ``image`` with its CER against ``truth``."""
    rows = []
    for name in resources.readers(resources.engine_names()):
        title = resources.reader_title(name)
        ok, why = resources.availability().get(resources.reader_engine(name)[0], (False, "unknown"))
        if not ok:
            st.markdown(f"**{title}** — not available: {why}")
            continue
        with st.spinner(f"{title} is reading…"):
            result, error = resources.try_read(name, image.digest, "line", image.gray)
        if error:
            st.markdown(f"**{title}** — :red[{widgets.md_literal(error)}]")
            continue
        c = cer(truth, result.text)
        rows.append({"engine": name, "label": title, "seconds": result.seconds, "cer": c})
        st.html(
            f"<p><b>{title}</b> — {scores.cer_text(truth, result.text)}, "
            f"{result.seconds:.2f} s</p>"
            + widgets.marked_html(truth, result.text)
        )
    if rows:
        st.html(f"<p>{viz.DIFF_LEGEND_HTML}</p>")
        widgets.show_figure(viz.plot_engine_bars(rows), key=f"{key}_bars")


if iam is None:
    if reason.startswith("IAM_DIR"):
        st.info(f"No IAM database is configured here: {reason}.")
    else:
        st.error(f"The IAM folder could not be read: {reason}")
    st.markdown(resources.IAM_HELP)
    st.subheader("Meanwhile: the example lines shipped with the app")
    examples = [e for e in resources.examples() if e.kind == "line"]
    if not examples:
        st.stop()
    names = [e.name for e in examples]
    ex = examples[names.index(st.selectbox("Example", names, key="iam_example"))]
    gray = resources.example_image(str(ex.path))
    image = widgets.InputImage(gray, ex.name, widgets.digest_of(gray), truth=ex.text)
    widgets.show_image(gray)
    st.markdown(f"**True text:** {widgets.md_literal(ex.text)}")
    engine_readings(image, ex.text, "iam_ex")
    st.stop()

# ---------------------------------------------------------------- choosing
available = set(iam.available_lines())
# the counts only: a folder of the server means nothing to a class (and is not theirs to see)
st.caption(f"{len(iam.lines):,} lines, of which {len(available):,} have an image here; "
           f"{len(iam.forms):,} forms, {len(iam.writers):,} writers.")
schemes = iam.split_schemes() or ["(none)"]


def _goto(line_id: str) -> None:
    """Select ``line_id`` in the split/writer/form/line boxes (an on_click callback)."""
    line = iam.lines[line_id]
    scheme = st.session_state.get("iam_scheme", schemes[0])
    split = iam.split_of(line_id, scheme) if scheme in iam.split_schemes() else None
    if split is not None:
        st.session_state["iam_split"] = split
    st.session_state["iam_only_images"] = line_id in available
    st.session_state["iam_writer"] = line.writer or "unknown"
    st.session_state["iam_form"] = line.form
    st.session_state["iam_line"] = line_id


with st.sidebar:
    st.markdown("### Find a line")
    query = st.text_input("Search the text", key="iam_query", placeholder="e.g. Labour")
    if query:
        # every match with an image (not only among the first few hundred), else any match
        hits = [l for l in iam.search(query, limit=len(iam.lines)) if l.id in available] \
            or iam.search(query, limit=50)
        hits.sort(key=lambda l: scores.trained_on(l.id))  # lines Easter2 never trained on first
        if hits:
            for hit in hits[:8]:
                st.button(f"{hit.id}: {widgets.md_literal(hit.text[:40])}", key=f"iam_hit_{hit.id}",
                          on_click=_goto, args=(hit.id,))
        else:
            st.caption("No line contains that text.")
    fair = sorted(i for i in available if not scores.trained_on(i)) or sorted(available)
    st.button("Random line", key="iam_random", on_click=lambda: _goto(random.choice(fair)) if fair else None,
              disabled=not fair, help="A line with an image, of a form the shipped Easter2 never trained on.")

c1, c2, c3 = st.columns(3)
scheme = c1.selectbox("Split scheme", schemes, key="iam_scheme",
                      help="original: the IAM authors' writer-independent split; "
                      "aachen: the split most papers since 2016 use.\n\n" + glossary.help("Aachen split"))
try:
    splits = iam.splits(scheme) if scheme != "(none)" else {"all": sorted(iam.lines)}
except HTRError as exc:
    st.error(str(exc))
    splits = {"all": sorted(iam.lines)}
split = c2.selectbox("Split", list(splits), key="iam_split")
only_images = c3.checkbox("Only lines with images here", value=True, key="iam_only_images")
line_ids = scores.unseen_first(i for i in splits.get(split, []) if i in iam.lines
                               and (i in available or not only_images))
if not line_ids:
    st.warning("No lines with images in this split here. Untick the box or pick another split.")
    st.stop()

forms_by_writer: dict[str, list[str]] = {}
for i in line_ids:
    line = iam.lines[i]
    forms = forms_by_writer.setdefault(line.writer or "unknown", [])
    if line.form not in forms:
        forms.append(line.form)
c1, c2, c3 = st.columns(3)
writer = c1.selectbox("Writer", sorted(forms_by_writer), key="iam_writer")
form_id = c2.selectbox("Form", forms_by_writer[writer], key="iam_form")
form_lines = [i for i in line_ids if iam.lines[i].form == form_id]
line_id = c3.selectbox("Line", form_lines, key="iam_line",
                       format_func=lambda i: f"{i[-2:]}: {iam.lines[i].text[:40]}")

# ---------------------------------------------------------------- showing
#: What the Form tab says for a form without its scan here: what is missing and how to get it, no server path.
FORM_MISSING = (
    "No scan of form {form} in this copy of IAM: it holds the transcriptions of all {forms:,} forms but the "
    "scans of only {scans:,}. The scans come with the IAM database itself, free for non-commercial research to "
    "registered users: fetch your own copy with `python -m htr iam fetch` and point IAM_DIR at it (see below); "
    "then every form can be shown here. Its text, line by line, as IAM transcribed it:"
)


def form_text(form: str) -> None:
    """The true text of ``form``'s lines, as plain text (IAM transcriptions: never Markdown)."""
    st.text("\n".join(f"{i[-2:]}: {iam.lines[i].text}" for i in iam.forms[form].line_ids if i in iam.lines))


line = iam.lines[line_id]
tab_line, tab_form, tab_all = st.tabs(["Line", "Form scan", "The database at a glance"])
with tab_line:
    scores.trained_badge(line_id)
    gray = None
    if line_id in available:
        try:
            gray = resources.iam_line_image(str(iam.root), line_id)
        except HTRError:  # its message names the file on the server: said without it
            st.warning(f"The image of line {line_id} is in this copy but could not be read (the file is "
                       "damaged or not an image). Its true text is below.")
    if gray is not None:
        widgets.show_image(gray, caption=f"{line_id} (writer {line.writer})")
    st.markdown(f"**True text:** {widgets.md_literal(line.text)}")
    if line.status == "err":
        st.caption("IAM marks this line's segmentation as doubtful (status 'err').")
    if gray is not None:
        engine_readings(widgets.InputImage(gray, line_id, widgets.digest_of(gray), truth=line.text),
                        line.text, "iam_line")
    elif line_id not in available:  # the text is in IAM's metadata; the image comes with a registered copy
        st.info(f"No image of line {line_id} in this copy: it holds the transcriptions of all "
                f"{len(iam.lines):,} lines but images of only {len(available):,}. The images come with the "
                "IAM database itself, free for non-commercial research to registered users: see below how "
                "to get your own copy; then every line can be read here.")
        with st.expander("How to get the IAM images"):
            st.markdown(resources.IAM_HELP)
with tab_form:
    if iam.forms[form_id].has_image:
        try:
            form_gray = resources.iam_form_image(str(iam.root), form_id)
            boxes = [iam.lines[i].box for i in iam.forms[form_id].line_ids]
            labels = [f"{i}: {iam.lines[i].text}" for i in iam.forms[form_id].line_ids]
            ids = list(iam.forms[form_id].line_ids)
            chosen = ids.index(line_id) if line_id in ids else None
            widgets.show_figure(viz.plot_page(form_gray, boxes, labels, highlight=chosen),
                                key="iam_form_fig")
            st.caption("The boxes are IAM's own line boxes (the chosen line in blue); "
                       "hover a number to see its text.")
        except HTRError:  # its message names the file on the server: said without it
            st.warning(f"The scan of form {form_id} is in this copy but could not be read (the file is "
                       "damaged or not an image). Fetching the IAM database again replaces it.")
            form_text(form_id)
    else:
        st.info(FORM_MISSING.format(form=form_id, forms=len(iam.forms),
                                    scans=sum(f.has_image for f in iam.forms.values())))
        form_text(form_id)
        with st.expander("How to get the IAM images"):
            st.markdown(resources.IAM_HELP)
with tab_all:
    if scheme == "(none)":
        st.info("This copy of IAM has no split lists (the files that divide its lines into training, "
                "validation and test sets): every line is shown as one set. `python -m htr iam fetch` "
                "fetches them with the rest of the database.")
    else:
        try:
            summary = resources.iam_split_summary(str(iam.root), scheme)
            texts = resources.iam_split_texts(str(iam.root), scheme)
        except HTRError as exc:
            st.error(str(exc))
        else:
            st.markdown(f"**The {scheme} split**, counted from the metadata of this copy:")
            st.dataframe(
                [{"split": r["split"], "lines": r["lines"], "forms": r["forms"], "writers": r["writers"],
                  "words": r["words"], "characters": r["characters"],
                  "lines with images here": r["with_images"],
                  "writers also in another split": "—" if r["shared_writers"] is None else str(r["shared_writers"])}
                 for r in summary],
                hide_index=True, width="stretch",
            )
            if any(r["shared_writers"] for r in summary):
                st.warning("Some writers have lines in more than one split (last column): this scheme is "
                           "not writer-independent, so a test score includes hands seen in training.")
            else:
                st.caption("No writer has lines in two splits: a model is tested on hands it never saw.")
            st.markdown("**Which characters the ground truth holds** — share of all characters, "
                        "log scale. Rare ones are where every reader struggles most.")
            widgets.show_figure(viz.plot_char_frequency(texts), key="iam_char_freq")
