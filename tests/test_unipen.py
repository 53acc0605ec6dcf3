"""The UNIPEN reader (htr.data.unipen) and the stroke geometry and renderer (htr.data.strokes).

Small UNIPEN files written here check the format rules one by one; the real
data (``../shared/hands/unipen``, skipped where absent) checks that every set
reads, that ranges land on their ink, and that nothing comes out upside down.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from htr.data import unipen
from htr.data.lines import DataError
from htr.data.strokes import (RenderStyle, close_gaps, join_lines, letter_height, render_strokes,
                              split_lines, vertical_gap)


# --------------------------------------------------------------------------- synthetic files

DOC = """.VERSION 1.0
.COMMENT a header: three columns, 100 points per inch
.COORD X Y T
.X_POINTS_PER_INCH 100
.Y_POINTS_PER_INCH 100
"""


def _block(kind: str, pts) -> str:
    return f".{kind}\n" + "".join(f"{x} {y} {t}\n" for t, (x, y) in enumerate(pts))


def _word(x0: float, y0: float = 100, n: int = 4) -> list:
    """A zigzag 'word': n strokes up and down between y0 and y0 + 20 (y up, as UNIPEN)."""
    return [[(x0 + 10 * i, y0), (x0 + 10 * i + 5, y0 + 20), (x0 + 10 * i + 10, y0)] for i in range(n)]


def _unipen(tmp_path: Path, set_name: str, stroke_text: str, index_tail: str) -> Path:
    root = tmp_path / "unipen"
    (root / "include" / set_name / "data").mkdir(parents=True)
    (root / "data" / "8" / set_name).mkdir(parents=True)
    (root / "include" / set_name / "set.doc").write_text(DOC)
    (root / "include" / set_name / "data" / "w1.dat").write_text(stroke_text)
    (root / "data" / "8" / set_name / "w1.dat").write_text(
        f".VERSION 1.0\n.INCLUDE {set_name}/set.doc\n.INCLUDE {set_name}/data/w1.dat\n" + index_tail)
    return root


def test_include_columns_scale_and_flip(tmp_path):
    strokes = _word(0) + _word(100)
    text = ".WRITER_ID Jane_Doe_2\n" + "".join(_block("PEN_DOWN", s) + ".PEN_UP\n" for s in strokes)
    root = _unipen(tmp_path, "tst", text, '.SEGMENT TEXT 0-3 ? "mm"\n.SEGMENT TEXT 4-7 OK "nn"\n')
    recs = unipen.read_unipen(root)
    assert [r.text for r in recs] == ["mm", "nn"]
    r = recs[0]
    assert r.source == "unipen" and r.image is None and r.page == "tst/w1"
    assert r.hand == "unipen-tst-janedoe"  # lower case, no "_", session suffix dropped
    assert len(r.strokes) == 4 and all(s.dtype == np.float32 and s.shape[1] == 2 for s in r.strokes)
    # 100 points per inch -> 0.254 mm a point; the time column is not a coordinate
    first = r.strokes[0]
    assert first[:, 0].max() == pytest.approx(10 * 0.254, abs=1e-4)
    # y grew upwards in the file: the stroke's peak (y0 + 20) is now at the top, y = 0
    assert first[1, 1] == pytest.approx(0.0) and first[0, 1] == pytest.approx(20 * 0.254, abs=1e-4)


def test_pen_up_blocks_with_points_are_numbered(tmp_path):
    """As in sta: hover points in .PEN_UP blocks are components; empty blocks (most sets) are not."""
    ws = _word(0, n=2)
    text = (_block("PEN_UP", [(0, 200), (5, 210)])          # 0: hover
            + _block("PEN_DOWN", ws[0])                      # 1
            + _block("PEN_UP", [(10, 110)])                  # 2: hover
            + _block("PEN_DOWN", ws[1])                      # 3
            + ".PEN_UP\n"                                    # empty: not numbered
            + ".PEN_DOWN\n"                                  # empty: not numbered
            + ".PEN_UP\n"
            + _block("PEN_DOWN", [(50, 100), (55, 120)]))    # 4
    root = _unipen(tmp_path, "sta", text, '.SEGMENT TEXT 0-3 ? "ab"\n.SEGMENT TEXT 4 ? "c"\n')
    recs = unipen.read_unipen(root)
    assert [r.text for r in recs] == ["ab", "c"]
    assert len(recs[0].strokes) == 2  # only the pen-down blocks are ink
    assert len(recs[1].strokes) == 1 and recs[1].strokes[0][:, 0].max() == pytest.approx(5 * 0.254, abs=1e-4)


def test_out_of_range_bad_and_commented_segments(tmp_path):
    text = "".join(_block("PEN_DOWN", s) for s in _word(0))
    tail = ('.SEGMENT TEXT 0-3 ? "mm"\n'
            '.COMMENT .SEGMENT TEXT 0-1 ? "commented out"\n'
            '.SEGMENT TEXT 2-9 ? "past the end"\n'
            '.SEGMENT TEXT 3-2 ? "reversed"\n'
            '.SEGMENT TEXT 0-1 BAD "bad"\n'
            '.SEGMENT TEXT 0-3 ? "Word!"\n')
    root = _unipen(tmp_path, "tst", text, tail)
    assert [r.text for r in unipen.read_unipen(root)] == ["mm"]
    count = unipen.unipen_counts(root)["tst"]
    assert (count.files, count.segments, count.kept) == (1, 5, 1)
    assert count.dropped == {"range past the last component": 1, "reversed range": 1, "labelled BAD": 1,
                             "placeholder text": 1}


def test_placeholder_points_and_point_ranges(tmp_path):
    ws = _word(0, n=3)
    text = (_block("PEN_DOWN", [(0, 0)])  # 0: a placeholder component (lex, hpb, ced)
            + "".join(_block("PEN_DOWN", s) for s in ws))
    root = _unipen(tmp_path, "tst", text, '.SEGMENT TEXT 0 ? "x"\n.SEGMENT TEXT 1:1-3:1 ? "mmm"\n')
    recs = unipen.read_unipen(root)
    assert [r.text for r in recs] == ["mmm"]
    assert [len(s) for s in recs[0].strokes] == [2, 3, 2]  # from point 1 of the first to point 1 of the last
    assert unipen.unipen_counts(root)["tst"].dropped == {"no ink": 1}


def test_writer_missing_uses_file_name_and_groups(tmp_path):
    text = "".join(_block("PEN_DOWN", s) for s in _word(0))
    root = _unipen(tmp_path, "apb", text, '.SEGMENT TEXT 0-3 ? "mm"\n')
    assert unipen.read_unipen(root)[0].hand == "unipen-app-w1"  # Apple sets share writers: one group


@pytest.mark.parametrize("stroke_text, tail, message", [
    (".PEN_DOWN\n1 2 3\n4 five 6\n", '.SEGMENT TEXT 0 ? "a"\n', "not numbers"),
    (".PEN_DOWN\n1 2 3\n", '.SEGMENT TEXT zero ? "a"\n', "cannot read .SEGMENT"),
    (".PEN_DOWN\n1 2 3\n", '.SEGMENT TEXT 0 ? "a"\n.INCLUDE tst/missing.dat\n', "not found"),
    (".PEN_DOWN\n1 2 3\n", '.INCLUDE ../../etc/passwd\n', "outside"),
    (".COORD T P\n.PEN_DOWN\n1 2\n", '.SEGMENT TEXT 0 ? "a"\n', "lacks X or Y"),
    (".X_POINTS_PER_INCH 0\n", "", "must be positive"),
])
def test_malformed_files_name_the_file(tmp_path, stroke_text, tail, message):
    root = _unipen(tmp_path, "tst", stroke_text, tail)
    with pytest.raises(DataError, match=message) as err:
        unipen.read_unipen(root)
    assert "w1.dat" in str(err.value)


def test_a_short_row_drops_only_its_segment(tmp_path):
    ws = _word(0, n=2)
    text = _block("PEN_DOWN", ws[0]) + ".PEN_DOWN\n10 100 0\n12 110\n15 120 2\n"
    root = _unipen(tmp_path, "tst", text, '.SEGMENT TEXT 0 ? "a"\n.SEGMENT TEXT 1 ? "b"\n')
    assert [r.text for r in unipen.read_unipen(root)] == ["a"]
    assert unipen.unipen_counts(root)["tst"].dropped == {"malformed point row": 1}


def test_not_a_unipen_folder(tmp_path):
    with pytest.raises(DataError, match="not a UNIPEN folder"):
        unipen.read_unipen(tmp_path)
    root = _unipen(tmp_path, "tst", ".PEN_DOWN\n1 2 3\n", "")
    with pytest.raises(DataError, match="no set xyz"):
        unipen.read_unipen(root, sets=["xyz"])


def test_multi_line_segment_is_laid_side_by_side(tmp_path):
    """Word lists written one under the other (apb..ape) become one line, in order."""
    line1 = _word(0, y0=300)
    line2 = _word(0, y0=200)  # written second, lower on the page (y up)
    text = "".join(_block("PEN_DOWN", s) for s in line1 + line2)
    root = _unipen(tmp_path, "tst", text, '.SEGMENT TEXT 0-7 ? "mm nn"\n')
    (rec,) = unipen.read_unipen(root)
    pts = np.concatenate(rec.strokes)
    assert np.ptp(pts[:, 1]) == pytest.approx(20 * 0.254, abs=1e-3)  # one line high
    assert rec.strokes[4][:, 0].min() > rec.strokes[3][:, 0].max()  # second line to the right
    assert unipen.unipen_counts(root)["tst"].lines == {2: 1}


# --------------------------------------------------------------------------- the real data

@pytest.fixture(scope="module")
def unipen_root() -> Path:
    from htr.data.hands import default_hands_dir

    hands = default_hands_dir()
    root = hands / "unipen" if hands else None
    if root is None or not (root / "data" / "8").is_dir():
        pytest.skip(f"UNIPEN not found at {root or '../shared/hands/unipen'} "
                    "(set HANDS_DIR or place the shared hands folder beside the project)")
    return root


@pytest.fixture(scope="module")
def real(unipen_root):
    return unipen.read_unipen(unipen_root), unipen.unipen_counts(unipen_root)


SETS = ("apa", "apb", "apc", "apd", "ape", "app", "art", "ced", "hpb", "lex", "scr", "sta")


def test_every_set_yields_lines(real):
    recs, counts = real
    assert tuple(counts) == SETS
    for name, c in counts.items():
        assert c.kept > 0.95 * c.segments, (name, c)
        assert c.kept + sum(c.dropped.values()) == c.segments
    assert sum(c.segments for c in counts.values()) == 8557
    assert len(recs) == sum(c.kept for c in counts.values()) > 8400
    assert len({r.id for r in recs}) == len(recs)
    by_set = {r.page.split("/")[0] for r in recs}
    assert by_set == set(SETS)
    for r in recs:
        assert r.hand.startswith("unipen-") and r.text.strip() and r.strokes
        lo = np.min([s.min(axis=0) for s in r.strokes], axis=0)
        assert np.allclose(lo, 0, atol=1e-4)


def test_hands_are_writers_not_sets(real):
    recs, _ = real
    hands = {r.hand for r in recs}
    assert 200 < len(hands) < 245
    pages = {}
    for r in recs:
        pages.setdefault(r.hand, set()).add(r.page.split("/")[0])
    # Apple's writers wrote in several of its sets: one hand each, not one per set
    assert pages["unipen-app-billcleveland"] >= {"apb", "apd"}


def test_cached_per_process(unipen_root, real):
    import time

    t = time.perf_counter()
    again = unipen.read_unipen(unipen_root)
    assert time.perf_counter() - t < 0.5
    assert [r.id for r in again] == [r.id for r in real[0]]


def _range(rec) -> tuple[int, int]:
    first, last = re.search(r"-(\d+)-(\d+)$", rec.id).groups()
    return int(first), int(last)


def test_ranges_fit_and_strokes_are_the_range_pen_downs(unipen_root, real):
    """For every kept segment of some files of each set: b - a + 1 components, its pen-downs the strokes."""
    recs, _ = real
    by_page = {}
    for r in recs:
        by_page.setdefault(r.page, []).append(r)
    for name in SETS:
        for path in unipen.index_files(unipen_root, name)[:3]:
            index = unipen.read_index(path, unipen_root / "include")
            page = path.relative_to(unipen_root / "data" / "8").with_suffix("").as_posix()
            whole = {(s.first, s.last) for s in index.segments if s.first_point is None and s.last_point is None}
            for rec in by_page.get(page, []):
                a, b = _range(rec)
                part = index.components[a:b + 1]
                assert len(part) == b - a + 1, rec.id
                downs = [c for c in part if c.down and len(c.points)]
                assert len(rec.strokes) == len(downs), rec.id
                if (a, b) in whole:  # not "a:point-b": every point of the range is drawn
                    assert sum(len(s) for s in rec.strokes) == sum(len(c.points) for c in downs), rec.id


def test_lex_segments_start_where_the_stroke_files_say(unipen_root):
    """lex's stroke files mark each text with a comment; the rule "a component is a pen block
    with points" puts every index segment there (counting pen-downs only does not)."""
    checked = 0
    for path in unipen.index_files(unipen_root, "lex"):
        stroke_file = unipen_root / "include" / "lex" / "data" / "lex0" / path.name
        marks, n, kind, rows = {}, 0, None, 0
        for line in stroke_file.read_text(encoding="latin-1").split("\n") + [".END"]:
            if line.startswith("."):
                if kind in (".PEN_DOWN", ".PEN_UP") and rows:
                    n += 1
                kind, rows = line.split()[0], 0
                m = re.match(r'\.COMMENT \.SEGMENT TEXT \S+ \S+ "(.*)"', line)
                if m:
                    marks.setdefault(m[1], set()).add(n)
            elif line.strip():
                rows += 1
        for seg in unipen.read_index(path, unipen_root / "include").segments:
            assert seg.first in marks[seg.text.replace('"', '\\"')], (path.name, seg)
            checked += 1
    assert checked == 1937


def test_no_set_is_upside_down(real):
    """Lowercase lines with ascenders and no descenders have more ink above their median than below."""
    recs, counts = real
    by_set = {}
    for r in recs:
        by_set.setdefault(r.page.split("/")[0], []).append(r)
    for name, rs in by_set.items():
        evidence = unipen.y_up_evidence(rs)
        if name == "scr":  # no telling lowercase line: its lines were cut at carriage returns going down
            assert sum(v for k, v in counts[name].lines.items() if k > 1) > 50
            continue
        assert evidence < 0.3, (name, evidence)
        flipped = [r.__class__(id=r.id, text=r.text, hand=r.hand, source=r.source,
                               strokes=tuple(s * np.float32((1, -1)) for s in r.strokes)) for r in rs]
        assert unipen.y_up_evidence(flipped) > 0.7, name


# --------------------------------------------------------------------------- geometry

def _zigzag(x0: float, y0: float, n: int = 5, h: float = 1.0) -> list[np.ndarray]:
    """n strokes like a 'v' upside down, x-height h, sampled every 0.05 like a tablet."""
    t = np.linspace(0, 1, 21)[:, None]
    out = []
    for i in range(n):
        a, m, b = np.array([x0 + i, y0 + h]), np.array([x0 + i + 0.5, y0]), np.array([x0 + i + 1, y0 + h])
        out.append(np.concatenate([a + (m - a) * t, (m + (b - m) * t)[1:]]))
    return out


def test_letter_height():
    assert letter_height(_zigzag(0, 0)) == pytest.approx(0.5 / 0.6, rel=0.05)
    assert letter_height(_zigzag(0, 0, h=3.0)) == pytest.approx(3 * 0.5 / 0.6, rel=0.05)
    with pytest.raises(ValueError):
        letter_height([np.array([[1.0, 1.0]])])


def test_split_join_and_close_gaps():
    one = _zigzag(0, 0, n=6)
    assert len(split_lines(one)) == 1
    two = _zigzag(0, 0, n=6) + _zigzag(0, 3, n=6)  # second line under the first, written after it
    lines = split_lines(two)
    assert [len(l) for l in lines] == [6, 6]
    joined = join_lines(lines)
    pts = np.concatenate(joined)
    assert np.ptp(pts[:, 1]) == pytest.approx(1.0)
    assert vertical_gap(two) > 1.0 and vertical_gap(joined) == 0.0
    boxed = [s + (3.0 * k, 0) for k, s in enumerate(_zigzag(0, 0, n=4))]  # letters 2 apart
    close = close_gaps(boxed, n_spaces=1)
    gaps = [b[:, 0].min() - a[:, 0].max() for a, b in zip(close, close[1:])]
    assert max(gaps) == pytest.approx(1.0) and sorted(gaps)[:2] == pytest.approx([0.25, 0.25])


# --------------------------------------------------------------------------- renderer

def _line() -> list[np.ndarray]:
    return [s + (6.0 * w, 0) for w in range(4) for s in _zigzag(0, 0, n=4)]


def test_render_shape_and_ink():
    img = render_strokes(_line(), np.random.default_rng(0))
    assert img.dtype == np.uint8 and img.ndim == 2
    assert 30 < img.shape[0] < 120 and img.shape[1] > 3 * img.shape[0]
    paper, ink = np.percentile(img, 90), np.percentile(img, 1)
    assert paper - ink > 80


def test_render_is_drawn_from_the_generator():
    a = render_strokes(_line(), np.random.default_rng(1))
    b = render_strokes(_line(), np.random.default_rng(1))
    c = render_strokes(_line(), np.random.default_rng(2))
    assert np.array_equal(a, b)
    assert a.shape != c.shape or not np.array_equal(a, c)


def test_render_letter_height_in_iam_band():
    style = RenderStyle(rotate_deg=0.0, slant_deg=(0.0, 0.0), noise=(0.5, 0.5), ruled_p=0.0, margin=(0, 0))
    for seed in range(10):
        img = render_strokes(_zigzag(0, 0, n=12), np.random.default_rng(seed), style)
        rows = np.flatnonzero((img < np.percentile(img, 95) - 60).any(axis=1))
        ink_height = rows[-1] - rows[0] + 1
        # x-height 24..36 px; this zigzag is 1.2 letter heights tall, plus the pen
        assert 26 <= ink_height <= 52, (seed, ink_height)


@pytest.mark.parametrize("bad", [[], [np.zeros((0, 2))], [np.array([[1.0, 2.0]])],
                                 [np.array([[1.0, 2.0], [1.0, 2.0]])], [np.zeros((3, 3))],
                                 [np.array([[0.0, 0.0], [np.nan, 1.0]])]])
def test_render_refuses_degenerate_strokes(bad):
    with pytest.raises(ValueError):
        render_strokes(bad, np.random.default_rng(0))


def test_render_real_lines_fast_and_sized(real):
    import time

    recs, _ = real
    rng = np.random.default_rng(0)
    pick = [recs[i] for i in rng.choice(len(recs), 40, replace=False)]
    t = time.process_time()
    imgs = [render_strokes(r.strokes, rng) for r in pick]
    per_line = (time.process_time() - t) / len(pick)
    assert per_line < 0.1  # about 10 ms on one free core; generous for a shared machine
    heights = np.array([i.shape[0] for i in imgs])
    assert 50 <= np.median(heights) <= 160
