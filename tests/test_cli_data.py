"""``python -m htr data ...`` as a real subprocess: import, mapping, split --check, info.

The contract of every command: a problem prints ``error: <what>: <reason>`` on
stderr and exits 2, never a traceback.
"""

from __future__ import annotations

from PIL import Image, ImageDraw

from htr.data.hands import SPLIT_FILE

ALTO = """<?xml version="1.0" encoding="UTF-8"?>
<alto xmlns="http://www.loc.gov/standards/alto/ns-v4#"><Description><sourceImageInformation>
<fileName>page.png</fileName></sourceImageInformation></Description><Layout>
<Page WIDTH="400" HEIGHT="200" ID="p"><PrintSpace><TextBlock ID="b">
<TextLine ID="l1"><Shape><Polygon POINTS="{poly}"/></Shape><String CONTENT="Déjà vu"/></TextLine>
<TextLine ID="l2"><Shape><Polygon POINTS="20 100 380 100 380 170 20 170"/></Shape><String CONTENT="100 %"/></TextLine>
</TextBlock></PrintSpace></Page></Layout></alto>
"""
GOOD = "20 20 380 20 380 80 20 80"


def assert_clean(proc) -> None:
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr


def errors(proc) -> list[str]:
    return [line for line in proc.stderr.splitlines() if line.startswith("error: ")]


def _folder(tmp_path, poly=GOOD, name="p.xml"):
    img = Image.new("L", (400, 200), 230)
    ImageDraw.Draw(img).rectangle((40, 35, 360, 65), fill=20)
    img.save(tmp_path / "page.png")
    (tmp_path / name).write_text(ALTO.format(poly=poly), encoding="utf-8")
    return tmp_path / name


def test_data_help_lists_the_actions(run_cli):
    proc = run_cli("data", "--help")
    assert proc.returncode == 0
    for action in ("import", "mapping", "split", "info"):
        assert action in proc.stdout
    assert "data" in run_cli("--help").stdout


def test_import_then_info(run_cli, tmp_path):
    xml = _folder(tmp_path)
    proc = run_cli("data", "import", xml, "--out", tmp_path / "set", "--source", "mine")
    assert proc.returncode == 0, proc.stderr
    assert "2 lines written" in proc.stdout and "0 skipped" in proc.stdout
    assert proc.stderr == ""
    table = (tmp_path / "set" / "lines.tsv").read_text(encoding="utf-8").splitlines()
    assert table[1].split("\t") == ["page-l1", "lines/page/page-l1.png", "page", "page", "Déjà vu"]
    info = run_cli("data", "info", tmp_path / "set")
    assert info.returncode == 0, info.stderr
    for needle in ("lines:   2", "hands:   1", "pages:   1", "1 of 2", "outside the alphabet: 1", "% ×1"):
        assert needle in info.stdout, info.stdout


def test_import_reports_skipped_lines_and_bad_files_and_exits_2(run_cli, tmp_path):
    good = _folder(tmp_path)
    two = tmp_path / "two.xml"
    two.write_text(ALTO.format(poly="20 20 380 20"), encoding="utf-8")
    outside = tmp_path / "outside.xml"
    outside.write_text(ALTO.format(poly="20 20 900 20 900 80 20 80"), encoding="utf-8")
    truncated = tmp_path / "truncated.xml"
    truncated.write_text(ALTO.format(poly=GOOD)[:200], encoding="utf-8")
    bomb = tmp_path / "bomb.xml"
    bomb.write_text('<?xml version="1.0"?><!DOCTYPE alto [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><alto>&b;</alto>',
                    encoding="utf-8")
    unknown = tmp_path / "unknown.xml"
    unknown.write_text('<?xml version="1.0"?><html/>', encoding="utf-8")
    noimage = tmp_path / "noimage.xml"
    noimage.write_text(ALTO.format(poly=GOOD).replace("page.png", "gone.png"), encoding="utf-8")
    proc = run_cli("data", "import", good, two, outside, truncated, bomb, unknown, noimage, tmp_path / "absent.xml",
                   "--out", tmp_path / "set")
    assert_clean(proc)
    assert proc.returncode == 2
    errs = "\n".join(errors(proc))
    for path, needle in ((truncated, "not well-formed XML"), (bomb, "DOCTYPE"), (unknown, "neither ALTO nor PAGE-XML"),
                         (noimage, "'gone.png'"), (tmp_path / "absent.xml", "cannot read")):
        assert f"error: {path}: " in errs and needle in errs, errs
    assert len(errors(proc)) == 5
    assert f"skipped: {two}: line l1: polygon has 2 point(s)" in proc.stdout
    assert f"skipped: {outside}: line l1: polygon spans x 20–900" in proc.stdout
    # three files of the same page (same image): each line is imported once, from the first file that has it
    assert "2 lines written" in proc.stdout
    assert proc.stdout.count("was already imported") == 2


def test_import_with_no_usable_line_is_an_error(run_cli, tmp_path):
    xml = _folder(tmp_path, poly="1 1 2 2")
    xml.write_text(xml.read_text(encoding="utf-8").replace(
        'POINTS="20 100 380 100 380 170 20 170"', 'POINTS="1 1 3 3"'), encoding="utf-8")
    proc = run_cli("data", "import", xml, "--out", tmp_path / "set")
    assert_clean(proc)
    assert proc.returncode == 2 and errors(proc) == ["error: data import: no usable line in the given pages; nothing written"]
    assert not (tmp_path / "set").exists()


def test_info_on_a_folder_that_is_not_a_line_set(run_cli, tmp_path):
    proc = run_cli("data", "info", tmp_path)
    assert_clean(proc)
    assert proc.returncode == 2 and errors(proc) == [f"error: {tmp_path}: no lines.tsv (a line set is a folder with "
                                                     "lines.tsv: id, image, hand, page, text)"]


def _hands(tmp_path):
    for source, texts in (("copiste", ["Un été", "plain", "a >b< c", "5 €"]), ("poilus", ["M^r X", "100 %"])):
        (tmp_path / source).mkdir(parents=True)
        rows = "".join(f"{source}-{i}\tlines/{i}.webp\th{i}\tp\t{t}\n" for i, t in enumerate(texts))
        (tmp_path / source / "lines.tsv").write_text("id\timage\thand\tpage\ttext\n" + rows, encoding="utf-8")
    return tmp_path


def test_mapping_counts_each_source(run_cli, tmp_path):
    hands = _hands(tmp_path)
    proc = run_cli("data", "mapping", "--hands-dir", hands)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[1].split() == ["copiste", "4", "1", "1", "2"]
    assert any(line.split() == ["poilus", "2", "0", "1", "1"] for line in lines)
    assert "  characters that caused drops: € ×1" in lines
    assert "note: unipen: skipped" in proc.stdout
    md = run_cli("data", "mapping", "--hands-dir", hands, "--markdown")
    assert md.returncode == 0
    assert "| copiste | 4 | 1 | 1 | 2 | crossed-out or unreadable mark (>…<) 1, outside the alphabet 1 | `€` 1 |" \
        in md.stdout.splitlines()
    assert "| poilus | 2 | 0 | 1 | 1 | outside the alphabet 1 | `%` 1 |" in md.stdout.splitlines()


def test_mapping_without_a_hands_folder(run_cli, tmp_path):
    for folder in (tmp_path / "absent", tmp_path):
        proc = run_cli("data", "mapping", "--hands-dir", folder)
        assert_clean(proc)
        assert proc.returncode == 2 and len(errors(proc)) == 1


def test_split_check_compares_and_never_writes(run_cli, tmp_path):
    before = SPLIT_FILE.read_bytes() if SPLIT_FILE.exists() else None
    proc = run_cli("data", "split", "--check")
    assert_clean(proc)
    assert proc.returncode in (0, 1, 2), proc.stderr  # 1: would change (a source added since), 2: no hands here
    if proc.returncode == 0:
        assert "agrees with the rule" in proc.stdout
    elif proc.returncode == 1:
        assert "would change" in proc.stdout
    # a folder with too few hands for the rule: an error, not a traceback
    small = run_cli("data", "split", "--check", "--hands-dir", _hands(tmp_path))
    assert_clean(small)
    assert small.returncode in (1, 2)
    assert (SPLIT_FILE.read_bytes() if SPLIT_FILE.exists() else None) == before
