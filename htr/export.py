"""A reading as the files archives keep: plain text, PAGE-XML 2019-07-15 and ALTO 4.4.

:class:`PageReading` is what these writers need of one page: the image's file
name and size, and its text lines in reading order, each with a box on the
page, its text and a confidence where the engine gives one.
:func:`page_reading` builds it from a :class:`~htr.types.Recognition` (a page
read line by line, or one line), :func:`to_text`, :func:`to_page_xml` and
:func:`to_alto` write it.

Both XML files name the image by its bare file name (eScriptorium, Transkribus
and kraken match an imported XML to the image uploaded with it by that name;
:func:`htr.data.pagexml.read_page` looks for it beside the XML). A line's
polygon is its box (the segmenter finds boxes); its baseline is a straight
line across the box at :data:`BASELINE_AT` of its height, where the lowest
ink of most letters rests, so that baseline-based tools (eScriptorium,
kraken) can take the lines as they are. Confidence goes to PAGE's
``TextEquiv/@conf`` and ALTO's ``String/@WC``. The files validate against the
published schemas (``tests/data/schemas``; tests/test_export.py checks) and
read back through :func:`~htr.data.pagexml.read_page` to the same lines and
text.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import PurePath
from xml.sax.saxutils import escape, quoteattr

from htr.types import Box, Recognition

PAGE_NS = "http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15"
ALTO_NS = "http://www.loc.gov/standards/alto/ns-v4#"
#: Where a line's baseline is drawn, as a fraction of its box's height from the top.
BASELINE_AT = 0.8
#: The creator named in the files.
CREATOR = "htr (Easter2 handwriting recognition demo)"
#: The download formats: name -> (file suffix, MIME type).
FORMATS = {
    "text": (".txt", "text/plain"),
    "page": (".page.xml", "application/xml"),
    "alto": (".alto.xml", "application/xml"),
}


@dataclass(frozen=True)
class LineReading:
    """One text line: its box on the page, the text read and the mean confidence (None: not given)."""

    box: Box
    text: str
    confidence: float | None = None


@dataclass(frozen=True)
class PageReading:
    """One page: the image's file name (only its last part is written) and size, and its lines in order."""

    image: str
    width: int
    height: int
    lines: tuple[LineReading, ...]
    engine: str = ""


def mean_confidence(char_probs) -> float | None:
    """The mean of the per-character confidences, or None when there are none."""
    probs = [float(p) for p in char_probs or ()]
    return sum(probs) / len(probs) if probs else None


def page_reading(rec: Recognition, image: str, width: int, height: int) -> PageReading:
    """A :class:`PageReading` of ``rec``: its lines with their boxes, or (a line, or a page read without
    lines) one line covering the whole image."""
    whole = Box(0, 0, int(width), int(height))
    parts = rec.lines or (rec,)
    lines = tuple(LineReading(r.box or whole, r.text, mean_confidence(r.char_probs)) for r in parts)
    return PageReading(str(image), int(width), int(height), lines, rec.engine)


# --------------------------------------------------------------------------
# geometry


def _clipped(box: Box, width: int, height: int) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of ``box`` inside the page, at least one pixel each way."""
    x0 = min(max(0, int(box.x)), max(0, width - 1))
    y0 = min(max(0, int(box.y)), max(0, height - 1))
    x1 = max(x0 + 1, min(width, int(box.x) + int(box.w)))
    y1 = max(y0 + 1, min(height, int(box.y) + int(box.h)))
    return x0, y0, x1, y1


def _polygon(x0: int, y0: int, x1: int, y1: int) -> list[tuple[int, int]]:
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]


def _baseline(x0: int, y0: int, x1: int, y1: int) -> list[tuple[int, int]]:
    y = y0 + int(round(BASELINE_AT * (y1 - y0)))
    return [(x0, y), (x1, y)]


def _points(pts) -> str:
    return " ".join(f"{x},{y}" for x, y in pts)


def _conf(value: float | None) -> str | None:
    if value is None or not math.isfinite(value):
        return None
    return f"{min(1.0, max(0.0, float(value))):.4f}"


def _bare_name(image: str) -> str:
    return PurePath(str(image).replace("\\", "/")).name or "image"


def _now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%S")


# --------------------------------------------------------------------------
# writers


def to_text(page: PageReading) -> str:
    """The lines' text, one a line, ending with a newline."""
    return "".join(line.text + "\n" for line in page.lines)


def to_page_xml(page: PageReading) -> str:
    """PAGE-XML (2019-07-15): one TextRegion around all lines, a TextLine per line with Coords, Baseline and
    TextEquiv, in reading order."""
    w, h = page.width, page.height
    boxes = [_clipped(line.box, w, h) for line in page.lines]
    stamp = _now()
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<PcGts xmlns="{PAGE_NS}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        f'xsi:schemaLocation="{PAGE_NS} {PAGE_NS}/pagecontent.xsd">',
        "  <Metadata>",
        f"    <Creator>{escape(CREATOR + (f', engine {page.engine}' if page.engine else ''))}</Creator>",
        f"    <Created>{stamp}</Created>",
        f"    <LastChange>{stamp}</LastChange>",
        "  </Metadata>",
        f'  <Page imageFilename={quoteattr(_bare_name(page.image))} imageWidth="{w}" imageHeight="{h}">',
    ]
    if page.lines:
        out.append('    <ReadingOrder>\n      <OrderedGroup id="ro1">\n'
                   '        <RegionRefIndexed index="0" regionRef="r1"/>\n      </OrderedGroup>\n    </ReadingOrder>')
        rx0, ry0 = min(b[0] for b in boxes), min(b[1] for b in boxes)
        rx1, ry1 = max(b[2] for b in boxes), max(b[3] for b in boxes)
        out.append(f'    <TextRegion id="r1" type="paragraph">')
        out.append(f'      <Coords points="{_points(_polygon(rx0, ry0, rx1, ry1))}"/>')
        for n, (line, b) in enumerate(zip(page.lines, boxes), 1):
            conf = _conf(line.confidence)
            out += [
                f'      <TextLine id="r1l{n}">',
                f'        <Coords points="{_points(_polygon(*b))}"/>',
                f'        <Baseline points="{_points(_baseline(*b))}"/>',
                f"        <TextEquiv{'' if conf is None else f' conf={quoteattr(conf)}'}>",
                f"          <Unicode>{escape(line.text)}</Unicode>",
                "        </TextEquiv>",
                "      </TextLine>",
            ]
        text = "\n".join(line.text for line in page.lines)
        out += ["      <TextEquiv>", f"        <Unicode>{escape(text)}</Unicode>", "      </TextEquiv>",
                "    </TextRegion>"]
    out += ["  </Page>", "</PcGts>", ""]
    return "\n".join(out)


def to_alto(page: PageReading) -> str:
    """ALTO 4.4 in pixels: one TextBlock around all lines, a TextLine per line with its box, BASELINE, a
    Shape/Polygon and the whole line as one String (CONTENT, WC), as eScriptorium writes its own."""
    w, h = page.width, page.height
    boxes = [_clipped(line.box, w, h) for line in page.lines]
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<alto xmlns="{ALTO_NS}" xmlns:xlink="http://www.w3.org/1999/xlink" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        f'xsi:schemaLocation="{ALTO_NS} http://www.loc.gov/standards/alto/v4/alto-4-4.xsd">',
        "  <Description>",
        "    <MeasurementUnit>pixel</MeasurementUnit>",
        "    <sourceImageInformation>",
        f"      <fileName>{escape(_bare_name(page.image))}</fileName>",
        "    </sourceImageInformation>",
        "  </Description>",
        "  <Layout>",
        f'    <Page ID="p1" PHYSICAL_IMG_NR="1" WIDTH="{w}" HEIGHT="{h}">',
        f'      <PrintSpace HPOS="0" VPOS="0" WIDTH="{w}" HEIGHT="{h}">',
    ]
    if page.lines:
        rx0, ry0 = min(b[0] for b in boxes), min(b[1] for b in boxes)
        rx1, ry1 = max(b[2] for b in boxes), max(b[3] for b in boxes)
        out.append(f'        <TextBlock ID="r1" HPOS="{rx0}" VPOS="{ry0}" WIDTH="{rx1 - rx0}" HEIGHT="{ry1 - ry0}">')
        for n, (line, (x0, y0, x1, y1)) in enumerate(zip(page.lines, boxes), 1):
            conf = _conf(line.confidence)
            box = f'HPOS="{x0}" VPOS="{y0}" WIDTH="{x1 - x0}" HEIGHT="{y1 - y0}"'
            out += [
                f'          <TextLine ID="r1l{n}" {box} BASELINE="{_points(_baseline(x0, y0, x1, y1))}">',
                f'            <Shape><Polygon POINTS="{_points(_polygon(x0, y0, x1, y1))}"/></Shape>',
                f"            <String CONTENT={quoteattr(line.text)} {box}"
                f"{'' if conf is None else f' WC={quoteattr(conf)}'}/>",
                "          </TextLine>",
            ]
        out.append("        </TextBlock>")
    out += ["      </PrintSpace>", "    </Page>", "  </Layout>", "</alto>", ""]
    return "\n".join(out)


def render(page: PageReading, fmt: str) -> str:
    """``page`` in one of :data:`FORMATS` (``text``, ``page``, ``alto``)."""
    if fmt == "text":
        return to_text(page)
    if fmt == "page":
        return to_page_xml(page)
    if fmt == "alto":
        return to_alto(page)
    raise ValueError(f"unknown format {fmt!r}: choose from {', '.join(FORMATS)}")


def file_name(image: str, fmt: str) -> str:
    """The download's file name: the image's name without its extension, and the format's suffix."""
    stem = PurePath(_bare_name(image)).stem or "reading"
    return stem + FORMATS[fmt][0]
