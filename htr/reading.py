"""A reading as a JSON-ready record: the text, each line's box on the image and the
confidences, for a download beside the plain text (the app's Recognize page)."""

from __future__ import annotations

from htr.inputs import mean_confidence
from htr.metrics import cer, fair_cer
from htr.types import Recognition


def _line(rec: Recognition, box) -> dict:
    mean = mean_confidence(rec.char_probs)
    return {
        "text": rec.text,
        "box": None if box is None else {"x": int(box.x), "y": int(box.y), "w": int(box.w), "h": int(box.h)},
        "confidence": None if mean is None else round(mean, 4),
        "char_confidences": [round(float(p), 4) for p in rec.char_probs] if len(rec.char_probs) == len(rec.text)
        else None,
    }


def reading_record(rec: Recognition, *, image: str, size: tuple[int, int], layout: str,
                   truth: str | None = None) -> dict:
    """``rec`` (one engine's reading of the image ``image`` of ``size`` = (width, height)) as a dict.

    ``lines``: one entry per text line read, with its box in image pixels (x, y, w, h;
    a line read as one line has the whole image as its box), its mean confidence and
    one confidence per character where the engine gives them (else None). With
    ``truth``: the true text and both error rates (standard and punctuation-fair).
    """
    from htr.types import Box

    width, height = int(size[0]), int(size[1])
    if rec.lines:
        lines = [_line(r, r.box) for r in rec.lines]
    else:
        lines = [_line(rec, rec.box or Box(0, 0, width, height))] if rec.text else []
    mean = mean_confidence(rec.char_probs)
    record = {
        "image": image,
        "width": width,
        "height": height,
        "engine": rec.engine,
        "layout": layout,
        "seconds": round(float(rec.seconds), 4),
        "text": rec.text,
        "confidence": None if mean is None else round(mean, 4),
        "lines": lines,
    }
    if truth is not None:
        record["truth"] = truth
        record["cer"] = round(cer(truth, rec.text), 4)
        record["cer_punctuation_fair"] = round(fair_cer(truth, rec.text), 4)
    return record
