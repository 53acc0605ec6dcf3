"""htr.export: text, PAGE-XML and ALTO files that validate against the published schemas (vendored in
tests/data/schemas, offline) and read back through the project's own importer (htr.data.pagexml.read_page)
to the same lines and text."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from htr.data.pagexml import read_page
from htr.export import (FORMATS, LineReading, PageReading, file_name, page_reading, render, to_alto,
                        to_page_xml, to_text)
from htr.types import Box, Recognition

SCHEMAS = Path(__file__).resolve().parent / "data" / "schemas"
#: What ALTO's xsd:import names, mapped to the vendored copy (nothing is fetched).
XLINK_URL = "http://www.loc.gov/standards/xlink/xlink.xsd"


@pytest.fixture(scope="module")
def schemas():
    xmlschema = pytest.importorskip("xmlschema", reason="xmlschema is in requirements-test.txt")
    page = xmlschema.XMLSchema(str(SCHEMAS / "pagecontent-2019-07-15.xsd"), allow="local")
    alto = xmlschema.XMLSchema(str(SCHEMAS / "alto-4-4.xsd"), allow="local",
                               uri_mapper={XLINK_URL: str(SCHEMAS / "xlink.xsd")})
    return {"page": page, "alto": alto}


def _page(image="scans/p1.png", lines=None) -> PageReading:
    lines = lines if lines is not None else (
        LineReading(Box(12, 20, 300, 40), 'He said "a < b" & <ok> \u00e9t\u00e9', 0.91),
        LineReading(Box(10, 70, 340, 44), "second line, no confidence", None),
        LineReading(Box(15, 125, 200, 38), "third: 1.5 % 'quoted'", 0.5),
    )
    return PageReading(image, 400, 200, tuple(lines), "easter2")


def _write_beside_image(tmp_path: Path, page: PageReading, fmt: str) -> Path:
    from PIL import Image

    Image.fromarray(np.full((page.height, page.width), 255, np.uint8)).save(tmp_path / Path(page.image).name)
    xml = tmp_path / file_name(page.image, fmt)
    xml.write_text(render(page, fmt), encoding="utf-8")
    return xml


def test_the_vendored_schemas_and_their_licences_are_there():
    names = {p.name for p in SCHEMAS.iterdir()}
    assert {"pagecontent-2019-07-15.xsd", "alto-4-4.xsd", "xlink.xsd", "LICENSE-PAGE-Apache-2.0.txt",
            "LICENSE-ALTO-CC-BY-SA-4.0.txt", "README.md"} <= names
    assert "Apache License" in (SCHEMAS / "LICENSE-PAGE-Apache-2.0.txt").read_text()
    assert "Attribution-ShareAlike 4.0" in (SCHEMAS / "LICENSE-ALTO-CC-BY-SA-4.0.txt").read_text()
    assert "CC BY-SA 4.0" in (SCHEMAS / "alto-4-4.xsd").read_text()


@pytest.mark.parametrize("fmt", ["page", "alto"])
def test_files_validate_against_the_published_schema(schemas, fmt):
    for page in (_page(), _page(lines=()), _page(lines=(LineReading(Box(0, 0, 400, 200), "", None),))):
        schemas[fmt].validate(render(page, fmt))  # raises with the reason when not valid


@pytest.mark.parametrize("fmt", ["page", "alto"])
def test_files_read_back_to_the_same_lines_and_text(tmp_path, fmt):
    page = _page()
    back = read_page(_write_beside_image(tmp_path, page, fmt))
    assert back.format == fmt and back.image.name == "p1.png" and (back.width, back.height) == (400, 200)
    assert not back.skipped
    assert [line.text for line in back.lines] == [line.text for line in page.lines]
    for line, got in zip(page.lines, back.lines):
        xs, ys = [p[0] for p in got.polygon], [p[1] for p in got.polygon]
        assert (min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)) == (line.box.x, line.box.y, line.box.w,
                                                                             line.box.h)
        assert got.baseline is not None and got.baseline[0][1] == got.baseline[1][1]  # horizontal, in the box
        assert line.box.y < got.baseline[0][1] <= line.box.y + line.box.h


def test_confidences_are_written(schemas):
    page_xml, alto = to_page_xml(_page()), to_alto(_page())
    assert 'conf="0.9100"' in page_xml and 'conf="0.5000"' in page_xml and page_xml.count("conf=") == 2
    assert 'WC="0.9100"' in alto and alto.count("WC=") == 2


def test_boxes_past_the_page_are_clipped_into_it(schemas, tmp_path):
    page = _page(lines=(LineReading(Box(-5, 190, 500, 30), "over the edge", 0.8),))
    for fmt in ("page", "alto"):
        schemas[fmt].validate(render(page, fmt))
        (line,) = read_page(_write_beside_image(tmp_path, page, fmt)).lines
        assert max(p[0] for p in line.polygon) <= 400 and max(p[1] for p in line.polygon) <= 200


def test_text_and_names():
    assert to_text(_page()).splitlines() == [line.text for line in _page().lines]
    assert file_name("a/b/scan.01.png", "page") == "scan.01.page.xml"
    assert file_name("C:\\x\\y.jpg", "alto") == "y.alto.xml"
    assert file_name("p.png", "text") == "p.txt"
    assert set(FORMATS) == {"text", "page", "alto"}
    with pytest.raises(ValueError):
        render(_page(), "hocr")


def test_page_reading_from_a_recognition():
    lines = (Recognition("one", 0.1, "easter2", (0.5, 1.0, 0.75), box=Box(1, 2, 30, 10)),
             Recognition("two", 0.1, "easter2", (), box=Box(1, 20, 30, 10)))
    page = page_reading(Recognition.page(lines, 0.2, "easter2"), "x.png", 50, 40)
    assert [(line.box, line.text) for line in page.lines] == [(Box(1, 2, 30, 10), "one"), (Box(1, 20, 30, 10), "two")]
    assert page.lines[0].confidence == pytest.approx(0.75) and page.lines[1].confidence is None
    single = page_reading(Recognition("a line", 0.1, "tesseract"), "l.png", 120, 30)
    assert single.lines == (LineReading(Box(0, 0, 120, 30), "a line", None),) and single.engine == "tesseract"


def test_the_app_offers_the_same_files():
    from app.exports import export_files

    rec = Recognition("a line", 0.1, "easter2", (0.9,) * 6)
    files = export_files(rec, "upload.png", np.full((40, 300), 255, np.uint8))
    assert [(f[0], f[2], f[4]) for f in files] == [("text", "upload.txt", "text/plain"),
                                                   ("page", "upload.page.xml", "application/xml"),
                                                   ("alto", "upload.alto.xml", "application/xml")]
    assert files[0][3] == b"a line\n"
    assert b'imageFilename="upload.png"' in files[1][3] and b"<fileName>upload.png</fileName>" in files[2][3]
