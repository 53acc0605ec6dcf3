"""ALTO / PAGE-XML pages (htr.data.pagexml): one page object from either format, lines cut by polygon.

The real pages of ``../shared/hands/pages`` check the reader against data it
must agree with: the register page exported in both formats, and the Copiste
pages whose lines are in ``copiste/lines.tsv`` (texts, and line images cut the
same way). Small files written here check every format variant and every way
a file can be refused.
"""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
from PIL import Image, ImageDraw

from htr.data.hands import default_hands_dir
from htr.data.lines import DataError, read_line_set
from htr.data.pagexml import MAX_HEIGHT, PAD, cut_line, import_pages, read_page
from htr.preprocess import gray_percentile


@pytest.fixture(scope="module")
def pages_dir():
    root = default_hands_dir()
    pages = root / "pages" if root else None
    if pages is None or not pages.is_dir():
        pytest.skip(f"the real pages are not here ({pages or 'no hands folder: set HANDS_DIR or put ../shared/hands beside the project'})")
    return pages


def _bbox(polygon):
    pts = np.asarray(polygon, dtype=float)
    return (math.floor(pts[:, 0].min()), math.floor(pts[:, 1].min()),
            math.ceil(pts[:, 0].max()), math.ceil(pts[:, 1].max()))


def _mask(polygon, x0, y0, w, h):
    m = Image.new("1", (w, h), 0)
    ImageDraw.Draw(m).polygon([(x - x0, y - y0) for x, y in polygon], fill=1, outline=1)
    return np.asarray(m, dtype=bool)


# ------------------------------------------------------------------ real pages


def test_the_register_page_reads_the_same_from_alto_and_page(pages_dir):
    alto = read_page(pages_dir / "lectaurep-bronod" / "0001.alto.xml")
    page = read_page(pages_dir / "lectaurep-bronod" / "0001.page.xml")
    assert (alto.format, page.format) == ("alto", "page")
    assert alto.image == page.image and alto.name == page.name == "0001"
    assert (alto.width, alto.height) == (page.width, page.height) == (5680, 4180)
    assert len(alto.lines) == len(page.lines) == 8
    for a, p in zip(alto.lines, page.lines):
        assert (a.id, a.text) == (p.id, p.text)
        assert len(a.polygon) == len(p.polygon)
        assert np.abs(np.subtract(a.polygon, p.polygon)).max() <= 1
        assert a.baseline is not None and np.abs(np.subtract(a.baseline, p.baseline)).max() <= 1
    assert alto.lines[-1].text == "depuis Le 1^er Janvier 1742 Jusques au d^er X^bre 1750."
    assert not alto.skipped and not page.skipped


def test_the_copiste_pages_give_the_texts_and_images_of_the_copiste_line_set(pages_dir, tmp_path):
    """The strong check: the importer reproduces the shared line set (texts exactly, images up to WebP)."""
    copiste = pages_dir.parent / "copiste"
    with (copiste / "lines.tsv").open(encoding="utf-8", newline="") as f:
        table = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    xmls = sorted((pages_dir / "copiste").glob("*.xml"))
    assert xmls
    records, report = import_pages(xmls, tmp_path / "set", source="copiste")
    assert not report.failed and not report.skipped
    for xml in xmls:
        name = xml.stem
        theirs = [row for row in table if row["page"] == name]
        assert theirs, f"{name} is not in copiste/lines.tsv"
        as_read = [line.text for line in read_page(xml).lines if line.text != name]  # the page label was dropped there
        assert as_read == [row["text"] for row in theirs]
        mine = [r for r in records if r.page == name and r.text != name]
        # write_line_set collapses runs of white space (the TSV keeps them; the text mapping collapses them anyway)
        assert [r.text for r in mine] == [" ".join(row["text"].split()) for row in theirs]
        for rec, row in zip(mine, theirs):
            ref = np.asarray(Image.open(copiste / row["image"]).convert("L"), dtype=float)
            got = rec.gray().astype(float)
            assert got.shape == ref.shape, rec.id
            assert np.abs(got - ref).mean() < 3, rec.id  # WebP quality 75 against lossless PNG
            assert np.corrcoef(got.ravel(), ref.ravel())[0, 1] > 0.98, rec.id


def test_every_cut_lies_in_its_polygons_box_and_outside_the_polygon_is_paper(pages_dir):
    from htr.images import load_image

    for xml in sorted(pages_dir.glob("*/*.xml")):
        try:
            page = read_page(xml)
        except DataError:
            continue  # the refused Poilus page: tested below
        gray = load_image(page.image)
        for line in page.lines:
            x0, y0, x1, y1 = _bbox(line.polygon)
            x0, y0, x1, y1 = max(0, x0), max(0, y0), min(page.width, x1), min(page.height, y1)
            crop = cut_line(gray, line.polygon, max_height=None, pad=0)
            assert crop.shape == (y1 - y0, x1 - x0)
            inside = _mask(line.polygon, x0, y0, x1 - x0, y1 - y0)
            box = gray[y0:y1, x0:x1]
            assert np.array_equal(crop[inside], box[inside])
            assert np.all(crop[~inside] == round(gray_percentile(box, 90)))
            padded = min(page.height, y1 + PAD) - max(0, y0 - PAD)
            assert cut_line(gray, line.polygon).shape[0] == min(MAX_HEIGHT, padded)


def test_a_scan_turned_by_exif_whose_xml_declares_the_stored_size_is_refused(pages_dir):
    """Its only line lies above the text in the upright image and across it in the stored one."""
    xml = pages_dir / "poilus" / "TestamentsDePoilus_will_AD78_0005-0.xml"
    with pytest.raises(DataError, match="EXIF quarter turn") as err:
        read_page(xml)
    assert str(xml) in str(err.value)


# ------------------------------------------------------------------ small files written here

W, H = 400, 200
LINES = [  # id, text, polygon
    ("l1", "Hello wörld", [(20, 20), (380, 20), (380, 80), (20, 80)]),
    ("l2", "second line", [(20, 100), (200, 95), (380, 110), (380, 170), (20, 170)]),
]
ALTO_NS = {
    "v2": "http://www.loc.gov/standards/alto/ns-v2#",
    "v3": "http://www.loc.gov/standards/alto/ns-v3#",
    "v4": "http://www.loc.gov/standards/alto/ns-v4#",
    "none": "",
}
PAGE_NS = {
    "2013": "http://schema.primaresearch.org/PAGE/gts/pagecontent/2013-07-15",
    "2019": "http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15",
}


def _page_image(folder, name="page.png", size=(W, H)):
    img = Image.new("L", size, 235)
    d = ImageDraw.Draw(img)
    for _, _, poly in LINES:
        x0, y0, x1, y1 = _bbox(poly)
        d.rectangle((x0 + 10, y0 + 15, x1 - 10, y1 - 15), fill=30)
    img.save(folder / name)
    return folder / name


def _pts(poly, sep=" "):
    return " ".join(f"{x}{sep}{y}" for x, y in poly)


def _alto(lines=LINES, ns="http://www.loc.gov/standards/alto/ns-v4#", image="page.png", size=(W, H),
          sep=" ", strings=None, unit="pixel", shape=True):
    xmlns = f' xmlns="{ns}"' if ns else ""
    body = []
    for lid, text, poly in lines:
        x0, y0, x1, y1 = _bbox(poly) if len(poly) else (0, 0, 0, 0)
        words = strings(text) if strings else f'<String CONTENT="{text}"/>'
        geo = f'<Shape><Polygon POINTS="{_pts(poly, sep)}"/></Shape>' if shape else ""
        body.append(f'<TextLine ID="{lid}" BASELINE="{x0} {y1 - 5} {x1} {y1 - 5}" HPOS="{x0}" VPOS="{y0}" '
                    f'WIDTH="{x1 - x0}" HEIGHT="{y1 - y0}">{geo}{words}</TextLine>')
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<alto{xmlns}><Description>'
            f'<MeasurementUnit>{unit}</MeasurementUnit><sourceImageInformation><fileName>{image}</fileName>'
            f'</sourceImageInformation></Description><Layout><Page WIDTH="{size[0]}" HEIGHT="{size[1]}" ID="p">'
            f'<PrintSpace><TextBlock ID="b">{"".join(body)}</TextBlock></PrintSpace></Page></Layout></alto>')


def _page(lines=LINES, ns=PAGE_NS["2019"], image="page.png", size=(W, H), text=None):
    body = []
    for lid, t, poly in lines:
        x0, y0, x1, y1 = _bbox(poly)
        content = text(t) if text else f"<TextEquiv><Unicode>{t}</Unicode></TextEquiv>"
        body.append(f'<TextLine id="{lid}"><Coords points="{_pts(poly, ",")}"/>'
                    f'<Baseline points="{x0},{y1 - 5} {x1},{y1 - 5}"/>{content}</TextLine>')
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<PcGts xmlns="{ns}"><Metadata/>'
            f'<Page imageFilename="{image}" imageWidth="{size[0]}" imageHeight="{size[1]}">'
            f'<TextRegion id="r"><Coords points="0,0 {W},0 {W},{H} 0,{H}"/>{"".join(body)}</TextRegion>'
            f"</Page></PcGts>")


def _write(folder, name, text):
    (folder / name).write_text(text, encoding="utf-8")
    return folder / name


def _same_as_expected(page):
    assert [(line.id, line.text) for line in page.lines] == [(lid, text) for lid, text, _ in LINES]
    for line, (_, _, poly) in zip(page.lines, LINES):
        assert np.array_equal(np.asarray(line.polygon), np.asarray(poly, dtype=float))
    assert (page.width, page.height) == (W, H) and page.name == "page"


@pytest.mark.parametrize("version", sorted(ALTO_NS))
@pytest.mark.parametrize("sep", [" ", ","])
def test_alto_of_every_version_and_both_point_forms(tmp_path, version, sep):
    _page_image(tmp_path)
    page = read_page(_write(tmp_path, "p.xml", _alto(ns=ALTO_NS[version], sep=sep)))
    assert page.format == "alto"
    _same_as_expected(page)
    assert page.lines[0].baseline == ((20.0, 75.0), (380.0, 75.0))


@pytest.mark.parametrize("version", sorted(PAGE_NS))
def test_page_xml_of_both_versions(tmp_path, version):
    _page_image(tmp_path)
    page = read_page(_write(tmp_path, "p.xml", _page(ns=PAGE_NS[version])))
    assert page.format == "page"
    _same_as_expected(page)


def test_page_xml_of_another_version_and_the_2010_point_elements(tmp_path):
    _page_image(tmp_path)
    xml = _page(ns="http://schema.primaresearch.org/PAGE/gts/pagecontent/2010-03-19")
    for lid, _, poly in LINES:  # the old schema's <Coords><Point x y/></Coords>
        points = "".join(f'<Point x="{x}" y="{y}"/>' for x, y in poly)
        xml = xml.replace(f'<TextLine id="{lid}"><Coords points="{_pts(poly, ",")}"/>',
                          f'<TextLine id="{lid}"><Coords>{points}</Coords>')
    _same_as_expected(read_page(_write(tmp_path, "p.xml", xml)))


def test_alto_words_join_with_sp_or_with_one_space_and_the_box_stands_in_for_a_missing_polygon(tmp_path):
    _page_image(tmp_path)
    with_sp = _alto(strings=lambda t: '<SP/>'.join(f'<String CONTENT="{w}"/>' for w in t.split()))
    bare = _alto(strings=lambda t: "".join(f'<String CONTENT="{w}"/>' for w in t.split()), shape=False)
    a = read_page(_write(tmp_path, "a.xml", with_sp))
    b = read_page(_write(tmp_path, "b.xml", bare))
    assert [line.text for line in a.lines] == [line.text for line in b.lines] == ["Hello wörld", "second line"]
    x0, y0, x1, y1 = _bbox(LINES[1][2])
    assert b.lines[1].polygon == ((x0, y0), (x1, y0), (x1, y1), (x0, y1))


def test_page_text_prefers_the_lines_own_first_textequiv_then_its_words(tmp_path):
    _page_image(tmp_path)
    own = _page(text=lambda t: '<Word id="w"><TextEquiv><Unicode>no</Unicode></TextEquiv></Word>'
                f'<TextEquiv index="2"><Unicode>later</Unicode></TextEquiv>'
                f'<TextEquiv index="1"><Unicode>{t}</Unicode></TextEquiv>')
    words = _page(text=lambda t: "".join(f'<Word id="w{i}"><TextEquiv><Unicode>{w}</Unicode></TextEquiv></Word>'
                                         for i, w in enumerate(t.split())))
    for xml in (own, words):
        assert [line.text for line in read_page(_write(tmp_path, "p.xml", xml)).lines] == ["Hello wörld", "second line"]


def test_import_writes_a_line_set_with_page_and_line_ids(tmp_path):
    _page_image(tmp_path)
    xml = _write(tmp_path, "p.xml", _alto())
    records, report = import_pages([xml], tmp_path / "out", source="mine")
    assert report.written == 2 and report.pages == [str(xml)] and not report.skipped and not report.failed
    back = read_line_set(tmp_path / "out", source="mine")
    assert back == records
    assert [(r.id, r.hand, r.page, r.text, r.source) for r in back] == [
        ("page-l1", "page", "page", "Hello wörld", "mine"), ("page-l2", "page", "page", "second line", "mine")]
    assert back[0].gray().shape[0] <= MAX_HEIGHT
    again, _ = import_pages([xml], tmp_path / "out2", hand="writer-7")
    assert {r.hand for r in again} == {"writer-7"} and again[0].source == "out2"


# ------------------------------------------------------------------ refusals


def _refused(path, *needles):
    with pytest.raises(DataError) as err:
        read_page(path)
    msg = str(err.value)
    assert str(path) in msg
    for needle in needles:
        assert needle in msg, msg
    return msg


def test_truncated_xml_is_refused_with_where(tmp_path):
    _page_image(tmp_path)
    _refused(_write(tmp_path, "p.xml", _alto()[:300]), "not well-formed XML", "line")


def test_a_doctype_or_entities_are_refused_not_expanded(tmp_path):
    _page_image(tmp_path)
    bomb = ('<?xml version="1.0"?>\n<!DOCTYPE alto [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">'
            '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>\n'
            + _alto().split("\n", 1)[1].replace('CONTENT="Hello wörld"', 'CONTENT="&d;"'))
    _refused(_write(tmp_path, "bomb.xml", bomb), "DOCTYPE")
    external = ('<?xml version="1.0"?>\n<!DOCTYPE alto [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
                + _alto().split("\n", 1)[1].replace('CONTENT="Hello wörld"', 'CONTENT="&x;"'))
    _refused(_write(tmp_path, "ext.xml", external), "DOCTYPE")
    utf16 = ('<?xml version="1.0" encoding="UTF-16"?>\n<!DOCTYPE alto [<!ENTITY a "x">]>\n'
             + _alto().split("\n", 1)[1])
    (tmp_path / "u16.xml").write_bytes(utf16.encode("utf-16"))
    _refused(tmp_path / "u16.xml", "DOCTYPE")  # a byte search for "<!DOCTYPE" would miss this one


def test_an_oversized_file_is_refused_before_it_is_read(tmp_path, monkeypatch):
    import htr.data.pagexml as pagexml

    _page_image(tmp_path)
    monkeypatch.setattr(pagexml, "MAX_XML_BYTES", 100)
    _refused(_write(tmp_path, "p.xml", _alto()), "larger than")


def test_an_unknown_root_element_is_refused(tmp_path):
    _page_image(tmp_path)
    _refused(_write(tmp_path, "p.xml", '<?xml version="1.0"?><TEI xmlns="http://www.tei-c.org/ns/1.0"/>'),
             "neither ALTO nor PAGE-XML", "<TEI>")


def test_a_missing_or_unnamed_image_is_refused(tmp_path):
    _refused(_write(tmp_path, "p.xml", _alto(image="nowhere.jpg")), "'nowhere.jpg'", "is not in")
    _refused(_write(tmp_path, "q.xml", _page(image="")), "names no image")
    _page_image(tmp_path)
    (tmp_path / "sub").mkdir()
    _refused(_write(tmp_path / "sub", "r.xml", _alto(image="../page.png")), "is not in")  # outside the XML's folder


def test_an_image_name_with_a_foreign_path_is_found_by_its_file_name(tmp_path):
    _page_image(tmp_path)
    assert read_page(_write(tmp_path, "p.xml", _alto(image="C:\\scans\\page.png"))).image == tmp_path / "page.png"


def test_a_page_size_that_disagrees_with_the_image_is_refused(tmp_path):
    _page_image(tmp_path)
    _refused(_write(tmp_path, "p.xml", _page(size=(800, 400))), "declares a 800×400 page", "400×200")


def test_alto_in_other_units_than_pixels_is_refused(tmp_path):
    _page_image(tmp_path)
    _refused(_write(tmp_path, "p.xml", _alto(unit="mm10")), "'mm10'")


def test_bad_lines_are_skipped_with_their_reason_and_the_good_ones_kept(tmp_path):
    _page_image(tmp_path)
    bad = LINES + [
        ("two", "two points", [(10, 10), (50, 10)]),
        ("out", "outside", [(300, 150), (460, 150), (460, 190), (300, 190)]),
        ("flat", "flat", [(10, 10), (50, 10), (90, 10)]),
        ("blank", " ", [(20, 20), (380, 20), (380, 80)]),
        ("l1", "again", [(20, 20), (380, 20), (380, 80)]),
    ]
    page = read_page(_write(tmp_path, "p.xml", _page(lines=bad)))
    assert [line.id for line in page.lines] == ["l1", "l2"]
    why = dict(page.skipped)
    assert "2 point(s)" in why["two"] and "at least 3" in why["two"]
    assert "outside the 400×200 image" in why["out"]
    assert "no area" in why["flat"]
    assert "no transcription" in why["blank"]
    assert "twice" in why["l1"]
    assert len(page.skipped) == 5


def test_vertical_writing_is_skipped(tmp_path):
    _page_image(tmp_path)
    xml = _page().replace('<Baseline points="20,75 380,75"/>', '<Baseline points="30,20 32,190"/>')
    page = read_page(_write(tmp_path, "p.xml", xml))
    assert [line.id for line in page.lines] == ["l2"] and "top to bottom" in dict(page.skipped)["l1"]


def test_import_keeps_going_past_a_bad_file_and_writes_nothing_without_lines(tmp_path):
    _page_image(tmp_path)
    good = _write(tmp_path, "good.xml", _alto())
    broken = _write(tmp_path, "broken.xml", "<alto")
    only_bad = _write(tmp_path, "bad.xml", _page(lines=[("two", "x", [(1, 1), (5, 5)])]))
    records, report = import_pages([broken, good, only_bad], tmp_path / "out")
    assert len(records) == 2 and report.written == 2
    assert [f for f, _ in report.failed] == [str(broken)] and "not well-formed" in report.failed[0][1]
    assert report.skipped == [(str(only_bad), "two", "polygon has 2 point(s); a line needs at least 3")]
    records, report = import_pages([only_bad], tmp_path / "empty")
    assert records == [] and report.written == 0 and not (tmp_path / "empty").exists()


def test_cut_line_refuses_a_polygon_off_the_page_and_scales_tall_lines():
    page = np.full((300, 500), 220, dtype=np.uint8)
    with pytest.raises(DataError, match="does not overlap"):
        cut_line(page, [(600, 10), (700, 10), (700, 50)])
    with pytest.raises(DataError, match="at least 3"):
        cut_line(page, [(1, 1), (4, 4)])
    tall = cut_line(page, [(10, 10), (410, 10), (410, 250), (10, 250)], max_height=96, pad=0)
    assert tall.shape == (96, 160)
    assert cut_line(page, [(10, 10), (410, 10), (410, 250), (10, 250)], max_height=None, pad=4).shape == (248, 408)
