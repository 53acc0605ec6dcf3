"""Honest numbers, shared by every page that shows a reading against a true text.

* The CER beside the punctuation-fair CER (:func:`htr.metrics.fair_cer`): IAM writes
  ``dog .`` where most readers write ``dog.``, so a perfect reading of an IAM line can
  score 3.5 % on the standard CER; both are shown wherever a CER is.
* A badge on every IAM line the shipped Easter2 trained on
  (:func:`htr.weights.iam_line_seen_by_shipped_weights`): reading it is no test.
* A sentence for an odd input or a doubtful reading (:mod:`htr.inputs`).
"""

from __future__ import annotations

import streamlit as st

from htr.metrics import cer, fair_cer

FAIR_LABEL = "CER, punctuation spacing ignored"
FAIR_HELP = ("The same character error rate after taking out the spaces around punctuation on both sides: IAM "
             "writes \"dog .\" and \"did n't\", most readers \"dog.\" and \"didn't\"; this one does not count "
             "that convention as an error (as Evaluate's fair column).")
CER_HELP = "Character error rate: edits needed to turn the reading into the true text, per true character."
#: The fair CER's label on a projector, where a quarter of a 1280 px screen holds about 14 large
#: characters: short, with the whole name and its reason in the help (no label cut to "CER, punctua…").
FAIR_SHORT = "Fair CER"


def fair_label() -> str:
    """The fair CER's label: :data:`FAIR_LABEL`, or :data:`FAIR_SHORT` in presentation mode."""
    from app.state import presentation

    return FAIR_SHORT if presentation() else FAIR_LABEL


def cer_pair(truth: str, read: str) -> tuple[float, float]:
    """(standard CER, punctuation-fair CER) of ``read`` against ``truth``, as fractions."""
    return cer(truth, read), fair_cer(truth, read)


def cer_text(truth: str, read: str) -> str:
    """``CER 3.5 % (0.0 % with punctuation spacing ignored)``: for a caption or a line of HTML."""
    c, f = cer_pair(truth, read)
    return f"CER {100 * c:.1f} % ({100 * f:.1f} % with punctuation spacing ignored)"


def cer_metrics(truth: str, read: str, first=None, second=None, label: str = "CER", help: str | None = None) -> None:
    """The two CERs as two metrics, in the containers given (else one after the other)."""
    c, f = cer_pair(truth, read)
    (st if first is None else first).metric(label, f"{100 * c:.1f} %", help=help or CER_HELP)
    fair_metric(st if second is None else second, f)


def fair_metric(where, fair: float) -> None:
    """The fair CER (a fraction) as a metric in ``where``: the short label on a projector, the whole name
    and its reason in the help."""
    where.metric(fair_label(), f"{100 * fair:.1f} %", help=f"{FAIR_LABEL}. {FAIR_HELP}")


TRAINED_BADGE = ":orange-badge[:material/school: Easter2 trained on this line]"


def trained_on(line_id: str | None) -> bool:
    """Whether ``line_id`` names an IAM line the shipped weights learnt from."""
    from htr.weights import iam_line_seen_by_shipped_weights

    return bool(line_id) and iam_line_seen_by_shipped_weights(line_id)


def trained_badge(line_id: str | None) -> bool:
    """Show the badge and what it means where ``line_id`` is an IAM line Easter2 trained on; say whether it was."""
    if not trained_on(line_id):
        return False
    st.markdown(TRAINED_BADGE)
    from htr.weights import SHIPPED_IAM_FORMS

    st.caption(f"The shipped Easter2 trained on this form's lines (the IAM lines of forms "
               f"{' and '.join(SHIPPED_IAM_FORMS)}): a good reading here shows what it remembers, not how it "
               "reads a stranger's hand. Pick a line it never saw for a fair test.")
    return True


def unseen_first(line_ids) -> list[str]:
    """``line_ids`` with the lines Easter2 never trained on first (each group in its own order)."""
    ids = list(line_ids)
    return [i for i in ids if not trained_on(i)] + [i for i in ids if trained_on(i)]


def input_findings(gray, layout: str) -> list:
    """Say what is odd about an input (:func:`htr.inputs.check_image`); the findings said."""
    from htr.inputs import check_image

    found = check_image(gray, layout)
    for f in found:
        (st.warning if f.blocking else st.info)(f.sentence)
    return found


def input_blocked(gray, layout: str) -> bool:
    """:func:`input_findings`, and whether one of them stops the reading (blank, too small to hold writing)."""
    return any(f.blocking for f in input_findings(gray, layout))


def reading_findings(text: str, char_probs=()) -> list[str]:
    """Say what is odd about a reading (nothing read, low confidence); the codes said."""
    from htr.inputs import check_reading

    found = check_reading(text, char_probs)
    for f in found:
        st.warning(f.sentence)
    return [f.code for f in found]
