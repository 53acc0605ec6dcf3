"""Line sets: a folder of line images and a ``lines.tsv`` describing them.

::

    DIR/lines.tsv      UTF-8, tab-separated, one header row:
                       id  image  hand  page  text   (``page`` may be empty)
    DIR/lines/<hand>/<id>.webp (or .png/.jpg: ``image`` is relative to DIR)

This is the layout of ``../shared/hands/copiste`` and ``poilus`` and what
``python -m htr data import`` writes. Images are read only when asked for
(:meth:`LineRecord.gray`), so a set of thousands of lines costs only its table.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from htr.errors import HTRError

COLUMNS = ("id", "image", "hand", "page", "text")


class DataError(HTRError):
    """A data folder or file is missing or malformed (names the file and why)."""


@dataclass(frozen=True)
class LineRecord:
    """One line of handwriting from any source.

    ``image`` is a path to a line image, or None where the line is pen strokes
    (``strokes``: a list of (N, 2) float arrays, x right and y down). ``text``
    is the transcription as the source gives it; :mod:`htr.data.text` maps it
    into the model's alphabet.
    """

    id: str
    text: str
    hand: str
    source: str
    image: Path | None = None
    page: str = ""
    strokes: tuple = field(default=(), compare=False, repr=False)

    def gray(self) -> np.ndarray:
        """The line image as a 2-D uint8 array, ink dark (raises :class:`DataError`)."""
        if self.image is None:
            raise DataError(f"line {self.id} has no image (pen strokes: render them with htr.data.strokes)")
        return read_line_image(self.image, self.id)

    def draw(self, rng: np.random.Generator) -> np.ndarray:
        """The line as a gray image: its file, or its pen strokes rendered anew from ``rng``."""
        if self.image is None:
            from htr.data.strokes import render_strokes

            return render_strokes(self.strokes, rng)
        return self.gray()


def read_line_image(path: str | Path, line_id: str) -> np.ndarray:
    """A line's image file as uint8 gray; an unreadable one raises :class:`DataError` naming the line."""
    from htr.errors import ImageError
    from htr.images import load_image

    try:
        return load_image(path)
    except ImageError as exc:
        raise DataError(f"line {line_id}: {exc}") from None


def is_vertical(gray: np.ndarray, text: str) -> bool:
    """A line image narrower than it is tall that holds more than three characters: writing that
    runs down the page (a margin note), squeezed sideways when it was cut. Nobody can read it as a
    line; training and evaluation leave it out (margin notes of Poilus wills)."""
    return gray.shape[1] < gray.shape[0] and len(text.strip()) > 3


def read_line_set(folder: str | Path, source: str | None = None) -> list[LineRecord]:
    """Every line of a line set, in the table's order.

    Raises :class:`DataError` for a missing folder or table, a header without the
    required columns, a row with too few fields, a duplicate id, or an image path
    that leads outside the folder. A listed image that is missing is not checked
    here (thousands of stat calls); :meth:`LineRecord.gray` says so when read.
    """
    root = Path(folder)
    table = root / "lines.tsv"
    if not root.is_dir():
        raise DataError(f"{root}: no such folder")
    if not table.is_file():
        raise DataError(f"{root}: no lines.tsv (a line set is a folder with lines.tsv: {', '.join(COLUMNS)})")
    src = source or root.name
    base = root.resolve()
    out: list[LineRecord] = []
    seen: set[str] = set()
    try:
        with table.open(encoding="utf-8", newline="") as f:
            reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
            header = next(reader, None)
            if header is None:
                raise DataError(f"{table}: empty file (expected a header row: {', '.join(COLUMNS)})")
            header = [h.strip() for h in header]
            missing = [c for c in ("id", "image", "text") if c not in header]
            if missing:
                raise DataError(f"{table}: header lacks column(s) {', '.join(missing)} (has {', '.join(header)})")
            col = {c: header.index(c) for c in header}
            for n, row in enumerate(reader, start=2):
                if not row or not any(row):
                    continue
                if len(row) < len(header):
                    raise DataError(f"{table}, row {n}: {len(row)} fields where the header has {len(header)}")
                lid = row[col["id"]].strip()
                if not lid:
                    raise DataError(f"{table}, row {n}: empty id")
                if lid in seen:
                    raise DataError(f"{table}, row {n}: id {lid} appears twice")
                seen.add(lid)
                rel = row[col["image"]].strip()
                path = (base / rel).resolve()
                if not rel or Path(rel).is_absolute() or base not in path.parents:
                    raise DataError(f"{table}, row {n}: image path {rel!r} is not inside {root}")
                out.append(LineRecord(
                    id=lid,
                    text=row[col["text"]],
                    hand=row[col["hand"]].strip() if "hand" in col else "",
                    page=row[col["page"]].strip() if "page" in col else "",
                    source=src,
                    image=path,
                ))
    except UnicodeDecodeError as exc:
        raise DataError(f"{table}: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    return out


def write_line_set(folder: str | Path, rows: list[tuple[LineRecord, np.ndarray]]) -> Path:
    """Write (record, gray image) pairs as a line set under ``folder``; returns the table's path.

    Images are written as lossless PNG at ``lines/<hand>/<id>.png``; an existing
    table is replaced. Ids and hands become file names, so they are checked.
    """
    from PIL import Image

    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    table = root / "lines.tsv"
    safe = str.maketrans({c: "_" for c in '/\\:*?"<>|\t\n\r'})
    lines_out = []
    for rec, gray in rows:
        hand = (rec.hand or "unknown").translate(safe) or "unknown"
        name = rec.id.translate(safe)
        if name in ("", ".", "..") or hand in (".", ".."):
            raise DataError(f"line id {rec.id!r} cannot name a file")
        rel = Path("lines") / hand / f"{name}.png"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.asarray(gray, dtype=np.uint8)).save(root / rel)
        text = " ".join(rec.text.replace("\t", " ").split())
        lines_out.append("\t".join((rec.id.replace("\t", " "), rel.as_posix(), hand, rec.page, text)))
    table.write_text("\t".join(COLUMNS) + "\n" + "".join(l + "\n" for l in lines_out), encoding="utf-8")
    return table
