"""The reading of an uploaded image as the files archives keep: text, PAGE-XML and ALTO downloads.

The files are :mod:`htr.export`'s (the same as ``python -m htr batch --format page|alto`` writes): they
name the image by its file name, so eScriptorium or Transkribus match them to the image uploaded with them.
"""

from __future__ import annotations

import numpy as np

from htr.export import FORMATS, file_name, page_reading, render
from htr.types import Recognition

LABELS = {"text": "Text", "page": "PAGE-XML", "alto": "ALTO"}


def export_files(result: Recognition, image_name: str, gray: np.ndarray, formats=tuple(FORMATS)):
    """``[(format, label, file name, bytes, MIME type)]`` of ``result`` read from ``gray`` (named ``image_name``)."""
    page = page_reading(result, image_name or "image.png", gray.shape[1], gray.shape[0])
    return [(fmt, LABELS[fmt], file_name(page.image, fmt), render(page, fmt).encode("utf-8"), FORMATS[fmt][1])
            for fmt in formats]


def download_buttons(st, result: Recognition, image_name: str, gray: np.ndarray, key: str,
                     formats=tuple(FORMATS)) -> None:
    """One download button per format, side by side (keys ``{key}_{format}``)."""
    files = export_files(result, image_name, gray, formats)
    for col, (fmt, label, name, data, mime) in zip(st.columns(len(files)), files):
        col.download_button(f"Download {label}", data=data, file_name=name, mime=mime, key=f"{key}_{fmt}",
                            help=None if fmt == "text" else
                            f"{label} with the line boxes and text, for eScriptorium, Transkribus or kraken")
