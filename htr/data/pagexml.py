"""ALTO and PAGE-XML pages: one reader for both, line images cut apart from parsing.

:func:`read_page` turns an ALTO (v2, v3, v4 or no namespace) or PAGE-XML
(2013-07-15, 2019-07-15, other versions) file into the same :class:`Page`:
the image it names, the image's size, and its text lines, each with an id, the
transcription as written, a boundary polygon and a baseline where there is
one. The format is told by the root element (``alto`` or ``PcGts``), elements
are matched by local name, so the namespace's version does not matter.
:func:`cut_line` makes a line image from a page image and a polygon, the way
the line sets of ``../shared/hands`` were made; :func:`import_pages` does both
for many files and writes a line set (:mod:`htr.data.lines`).

XML is parsed with the standard library's expat, refusing any DOCTYPE: entity
declarations are the door to "billion laughs" and external-file attacks, and
ALTO/PAGE files need none. A file that cannot be used raises
:class:`~htr.data.lines.DataError`; a line that cannot is skipped and its
reason kept in :attr:`Page.skipped`.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from xml.parsers import expat

import numpy as np

from htr.data.lines import DataError, LineRecord

#: The largest XML file read (an eScriptorium page is well under 1 MB).
MAX_XML_BYTES = 64 * 1024 * 1024
#: Default height limit of a cut line (the scans are about 300 dpi, like IAM's).
MAX_HEIGHT = 96
#: Paper (pixels) kept around a line's bounding box: the line sets of ``../shared/hands`` were cut
#: with 4 (their line images have exactly the sizes this gives; tests/test_pagexml.py checks).
PAD = 4
#: How far (pixels) a polygon may reach past the image's edge before its line is skipped.
EDGE_TOLERANCE = 2


@dataclass(frozen=True)
class PageLine:
    """One text line: its id, text as written, polygon and baseline ((x, y) pixel pairs)."""

    id: str
    text: str
    polygon: tuple[tuple[float, float], ...]
    baseline: tuple[tuple[float, float], ...] | None = None


@dataclass(frozen=True)
class Page:
    """A page as read from ALTO or PAGE-XML, whatever the format.

    ``width`` × ``height`` is the image as displayed (EXIF orientation applied),
    the frame the coordinates refer to. ``skipped`` holds (line id, reason) for
    lines that could not be used.
    """

    path: Path
    format: str  # "alto" or "page"
    image: Path
    width: int
    height: int
    lines: tuple[PageLine, ...]
    skipped: tuple[tuple[str, str], ...] = ()

    @property
    def name(self) -> str:
        """The page's name: its image file's name without the extension."""
        return self.image.stem


# --------------------------------------------------------------------------
# reading


def read_page(path: str | Path) -> Page:
    """Read one ALTO or PAGE-XML file (raises :class:`DataError` naming the file and why)."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_XML_BYTES:
            raise DataError(f"{path}: larger than {MAX_XML_BYTES // 2**20} MB; not a page's XML")
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    root = _parse_xml(data, path)
    kind = _local(root.tag)
    if kind == "alto":
        image_name, declared, raw = _read_alto(root, path)
    elif kind == "PcGts":
        image_name, declared, raw = _read_page_xml(root, path)
    else:
        raise DataError(f"{path}: neither ALTO nor PAGE-XML (the root element is <{kind}>, "
                        "expected <alto> or <PcGts>)")
    image = _image_path(path, image_name)
    width, height = _image_size(image, declared, path)
    lines, skipped, seen = [], [], set()
    for lid, text, polygon, baseline in raw:
        reason = _line_problem(lid, text, polygon, width, height, seen) or _vertical(baseline)
        seen.add(lid)
        if reason:
            skipped.append((lid, reason))
        else:
            lines.append(PageLine(lid, text, polygon, baseline))
    return Page(path, "alto" if kind == "alto" else "page", image, width, height, tuple(lines), tuple(skipped))


def _parse_xml(data: bytes, path: Path) -> ET.Element:
    """The element tree of ``data``; a DOCTYPE or entity declaration is refused, never expanded."""

    def refuse(*_args):
        raise DataError(f"{path}: refused: the file declares a DOCTYPE or entities, which could expand "
                        "without bound or read other files (ALTO and PAGE-XML need none)")

    def qname(name: str) -> str:  # expat writes "namespace}local"; ElementTree wants "{namespace}local"
        return "{" + name if "}" in name else name

    builder = ET.TreeBuilder()
    parser = expat.ParserCreate(namespace_separator="}")
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.UnparsedEntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse
    parser.StartElementHandler = lambda name, attrs: builder.start(
        qname(name), {qname(k): v for k, v in attrs.items()})
    parser.EndElementHandler = lambda name: builder.end(qname(name))
    parser.CharacterDataHandler = builder.data
    parser.buffer_text = True
    try:
        parser.Parse(data, True)
        return builder.close()
    except expat.ExpatError as exc:
        raise DataError(f"{path}: not well-formed XML ({expat.ErrorString(exc.code)} at line {exc.lineno}, "
                        f"column {exc.offset + 1})") from None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _kids(el: ET.Element, name: str) -> list[ET.Element]:
    return [c for c in el if _local(c.tag) == name]


def _all(el: ET.Element, name: str) -> list[ET.Element]:
    return [d for d in el.iter() if _local(d.tag) == name]


def _int(value: str | None) -> int | None:
    try:
        return int(round(float(value))) if value is not None else None
    except ValueError:
        return None


def _points(text: str | None) -> tuple[tuple[float, float], ...]:
    """``"x y x y"`` or ``"x,y x,y"`` as (x, y) pairs (raises ValueError)."""
    nums = [float(v) for v in (text or "").replace(",", " ").split()]
    if len(nums) % 2:
        raise ValueError(f"an odd number of coordinates ({len(nums)})")
    if not all(math.isfinite(v) for v in nums):
        raise ValueError("a coordinate that is not a finite number")
    return tuple(zip(nums[0::2], nums[1::2]))


def _read_alto(root: ET.Element, path: Path):
    units = [u.text.strip() for u in _all(root, "MeasurementUnit") if u.text and u.text.strip()]
    if units and units[0] != "pixel":
        raise DataError(f"{path}: ALTO measurement unit {units[0]!r} (only 'pixel' is supported)")
    names = [f.text.strip() for f in _all(root, "fileName") if f.text and f.text.strip()]
    pages = _all(root, "Page")
    if len(pages) != 1:
        raise DataError(f"{path}: ALTO file with {len(pages)} <Page> elements (one page per file is supported)")
    page = pages[0]
    raw = []
    for n, line in enumerate(_all(page, "TextLine")):
        lid = line.get("ID") or f"line{n:04d}"
        raw.append((lid, _alto_text(line), *_alto_geometry(line)))
    return names[0] if names else "", (_int(page.get("WIDTH")), _int(page.get("HEIGHT"))), raw


def _alto_text(line: ET.Element) -> str:
    """``String/@CONTENT`` with ``SP`` as spaces (words without any SP: one space between), or the line's own."""
    parts = [c for c in line if _local(c.tag) in ("String", "SP", "HYP")]
    if not any(_local(c.tag) == "String" for c in parts):
        return (line.get("CONTENT") or line.text or "").strip()
    spaced = any(_local(c.tag) == "SP" for c in parts)
    out = []
    for c in parts:
        if _local(c.tag) == "SP":
            out.append(" ")
        else:
            if not spaced and _local(c.tag) == "String" and out:
                out.append(" ")
            out.append(c.get("CONTENT") or "")
    return "".join(out).strip()


def _alto_geometry(line: ET.Element):
    """(polygon or the reason it is unusable, baseline or None) of an ALTO TextLine."""
    polygon = None
    for shape in _kids(line, "Shape"):
        for poly in _kids(shape, "Polygon"):
            try:
                polygon = _points(poly.get("POINTS"))
            except ValueError as exc:
                polygon = f"polygon with {exc}"
            break
    if polygon is None:
        box = [_int(line.get(k)) for k in ("HPOS", "VPOS", "WIDTH", "HEIGHT")]
        if None in box:
            polygon = "no Shape/Polygon and no HPOS/VPOS/WIDTH/HEIGHT box"
        else:
            x, y, w, h = box
            polygon = ((x, y), (x + w, y), (x + w, y + h), (x, y + h))
    return polygon, _baseline(line.get("BASELINE"))


def _baseline(text: str | None):
    """A baseline's points, or None (ALTO v2/v3 give a single number there: no line to draw)."""
    try:
        pts = _points(text)
    except ValueError:
        return None
    return pts if len(pts) >= 2 else None


def _read_page_xml(root: ET.Element, path: Path):
    pages = _kids(root, "Page")
    if len(pages) != 1:
        raise DataError(f"{path}: PAGE-XML file with {len(pages)} <Page> elements (expected one)")
    page = pages[0]
    raw = []
    for n, line in enumerate(_all(page, "TextLine")):
        lid = line.get("id") or f"line{n:04d}"
        raw.append((lid, _page_text(line), _page_coords(line, "Coords"),
                    _page_coords(line, "Baseline", optional=True)))
    declared = (_int(page.get("imageWidth")), _int(page.get("imageHeight")))
    return (page.get("imageFilename") or "").strip(), declared, raw


def _page_text(line: ET.Element) -> str:
    """The TextLine's own ``TextEquiv/Unicode`` (the lowest ``index``), else its Words' joined by spaces."""

    def equiv(el: ET.Element) -> str:
        eqs = sorted(_kids(el, "TextEquiv"), key=lambda e: _int(e.get("index")) or 0)
        for eq in eqs:
            for u in _kids(eq, "Unicode"):
                if u.text and u.text.strip():
                    return u.text.strip()
        return ""

    own = equiv(line)
    if own:
        return own
    return " ".join(w for w in (equiv(word) for word in _kids(line, "Word")) if w)


def _page_coords(line: ET.Element, name: str, optional: bool = False):
    """``<name points="x,y ...">`` (or the 2010 schema's ``<Point x y>`` children) of a PAGE element."""
    els = _kids(line, name)
    if not els:
        return None if optional else f"no {name}"
    el = els[0]
    try:
        if el.get("points") is not None:
            pts = _points(el.get("points"))
        else:
            pts = tuple((float(p.get("x")), float(p.get("y"))) for p in _kids(el, "Point"))
    except (TypeError, ValueError) as exc:
        return None if optional else f"{name} with {exc}"
    if optional:
        return pts if len(pts) >= 2 else None
    return pts


def _line_problem(lid, text, polygon, width, height, seen) -> str:
    """Why a line cannot be used, or ''."""
    if lid in seen:
        return f"id {lid} appears twice on the page"
    if isinstance(polygon, str):
        return polygon
    if len(polygon) < 3:
        return f"polygon has {len(polygon)} point(s); a line needs at least 3"
    xs = [p[0] for p in polygon]
    ys = [p[1] for p in polygon]
    t = EDGE_TOLERANCE
    if min(xs) < -t or min(ys) < -t or max(xs) > width + t or max(ys) > height + t:
        return (f"polygon spans x {min(xs):g}–{max(xs):g}, y {min(ys):g}–{max(ys):g}, "
                f"outside the {width}×{height} image")
    if max(xs) - min(xs) < 1 or max(ys) - min(ys) < 1:
        return "polygon has no area"
    if not text.strip():
        return "no transcription"
    return ""


def _vertical(baseline) -> str:
    """Why a line written top to bottom (a margin note turned sideways) is not cut, or ''.

    Scaled to the line height, such a line would be a few pixels wide (the
    Poilus set holds some thirty like that).
    """
    if baseline:
        dx, dy = (baseline[-1][k] - baseline[0][k] for k in (0, 1))
        if abs(dy) > abs(dx):
            return "the baseline runs top to bottom: vertical writing is not cut"
    return ""


def _image_path(xml_path: Path, name: str) -> Path:
    """The image the XML names, looked for beside the XML (as given, then by its bare file name)."""
    if not name:
        raise DataError(f"{xml_path}: names no image file (ALTO <fileName>, PAGE imageFilename)")
    folder = xml_path.parent
    rel = name.replace("\\", "/")
    bare = rel.rstrip("/").rsplit("/", 1)[-1]
    candidates = []
    if "://" not in rel and not Path(rel).is_absolute():
        candidates.append(folder / rel)
    candidates.append(folder / bare)
    base = folder.resolve()
    for c in candidates:
        if c.is_file() and base in c.resolve().parents:
            return c
    raise DataError(f"{xml_path}: the image it names, {name!r}, is not in {folder}")


def _image_size(image: Path, declared, xml_path: Path) -> tuple[int, int]:
    """The image's (width, height) as displayed (EXIF orientation applied), checked against the XML's.

    A scan stored sideways with an EXIF quarter turn, whose XML declares the
    stored size, is refused: the coordinates could be in either frame (the
    Poilus page of ``../shared/hands/pages`` is such a file, and its lines fit
    neither), and a wrong guess cuts lines that do not hold their text.
    """
    from PIL import Image

    try:
        with Image.open(image) as img:
            stored = img.size
            turned = img.getexif().get(0x0112) in (5, 6, 7, 8)  # EXIF orientation: a quarter turn
    except Exception as exc:  # noqa: BLE001 - any reason the header cannot be read
        raise DataError(f"{xml_path}: its image {image.name} cannot be read ({type(exc).__name__}: {exc})") from None
    w, h = stored[::-1] if turned else stored
    dw, dh = declared
    if not (dw and dh) or (dw, dh) == (w, h):
        return w, h
    if turned and (dw, dh) == stored:
        raise DataError(f"{xml_path}: {image.name} is stored {stored[0]}×{stored[1]} with an EXIF quarter turn "
                        f"(shown {w}×{h}) and the XML declares the stored size, so its coordinates could be "
                        "in either frame; rotate the image's pixels and export the page again")
    raise DataError(f"{xml_path}: declares a {dw}×{dh} page but {image.name} is {w}×{h}")


# --------------------------------------------------------------------------
# cutting


def cut_line(page_gray: np.ndarray, polygon, max_height: int | None = MAX_HEIGHT, pad: int = PAD) -> np.ndarray:
    """The line inside ``polygon`` as a uint8 gray image.

    Cropped to the polygon's bounding box grown by ``pad`` pixels (clipped to
    the page), pixels outside the polygon set to the crop's paper level (its
    90th percentile, as kraken does, so neighbouring lines' ascenders do not
    show), then scaled down (Lanczos) so it is at most ``max_height`` pixels
    tall (None: not scaled). With the defaults this reproduces the line images
    of ``../shared/hands/copiste`` up to their WebP compression.
    """
    from PIL import Image, ImageDraw

    from htr.preprocess import gray_percentile

    pts = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
    if len(pts) < 3:
        raise DataError(f"polygon has {len(pts)} point(s); a line needs at least 3")
    h, w = page_gray.shape[:2]
    (lx, ly), (hx, hy) = pts.min(axis=0), pts.max(axis=0)
    if min(hx, w) <= max(lx, 0) or min(hy, h) <= max(ly, 0):
        raise DataError(f"polygon (x {lx:g}–{hx:g}, y {ly:g}–{hy:g}) does not overlap the {w}×{h} page")
    x0, y0 = max(0, math.floor(lx) - pad), max(0, math.floor(ly) - pad)
    x1, y1 = min(w, math.ceil(hx) + pad), min(h, math.ceil(hy) + pad)
    crop = np.array(page_gray[y0:y1, x0:x1], dtype=np.uint8)
    mask = Image.new("1", (x1 - x0, y1 - y0), 0)
    ImageDraw.Draw(mask).polygon([(x - x0, y - y0) for x, y in pts], fill=1, outline=1)
    crop[~np.asarray(mask, dtype=bool)] = int(round(gray_percentile(crop, 90)))
    if max_height and crop.shape[0] > max_height:
        scale = max_height / crop.shape[0]
        size = (max(1, round(crop.shape[1] * scale)), max_height)
        crop = np.asarray(Image.fromarray(crop).resize(size, Image.Resampling.LANCZOS), dtype=np.uint8)
    return crop


# --------------------------------------------------------------------------
# importing


@dataclass
class ImportReport:
    """What :func:`import_pages` did: files read, lines written, lines skipped and files that failed."""

    pages: list[str] = field(default_factory=list)
    written: int = 0
    skipped: list[tuple[str, str, str]] = field(default_factory=list)  # (file, line id, reason)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)


def import_pages(xml_paths, out_dir: str | Path, source: str | None = None, hand: str | None = None,
                 max_height: int | None = MAX_HEIGHT, pad: int = PAD) -> tuple[list[LineRecord], ImportReport]:
    """Cut every usable line of the ALTO/PAGE files into a line set at ``out_dir``.

    Line ids are ``<page>-<line id>``, the hand is the page's name unless
    ``hand`` is given, the source is ``source`` or the folder's name, the text
    is kept as in the file (:mod:`htr.data.text` maps it at training time). A
    file that cannot be used is listed in ``report.failed`` and the others are
    still imported; nothing is written when no line could be.
    """
    from htr.data.lines import read_line_set, write_line_set
    from htr.errors import ImageError
    from htr.images import load_image

    report = ImportReport()
    rows: list[tuple[LineRecord, np.ndarray]] = []
    origin: dict[str, str] = {}
    src = source or Path(out_dir).name
    for xml in map(str, xml_paths):
        try:
            page = read_page(xml)
            gray = load_image(page.image)
            if gray.shape != (page.height, page.width):
                raise DataError(f"{xml}: {page.image.name} reads as {gray.shape[1]}×{gray.shape[0]}, "
                                f"not {page.width}×{page.height}")
        except (DataError, ImageError) as exc:
            report.failed.append((xml, str(exc)))
            continue
        report.pages.append(xml)
        report.skipped.extend((xml, lid, why) for lid, why in page.skipped)
        for line in page.lines:
            rid = f"{page.name}-{line.id}"
            if rid in origin:
                report.skipped.append((xml, line.id, f"line {rid} was already imported from {origin[rid]}"))
                continue
            try:
                img = cut_line(gray, line.polygon, max_height, pad)
            except DataError as exc:
                report.skipped.append((xml, line.id, str(exc)))
                continue
            origin[rid] = xml
            rows.append((LineRecord(id=rid, text=line.text, hand=hand or page.name, source=src,
                                    page=page.name), img))
    if not rows:
        return [], report
    write_line_set(out_dir, rows)
    report.written = len(rows)
    return read_line_set(out_dir, source=src), report
