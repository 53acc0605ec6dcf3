"""Line sets (htr.data.lines): write_line_set and read_line_set give the same records back; bad tables are refused."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from htr.data.lines import COLUMNS, DataError, LineRecord, read_line_set, write_line_set


def _gray(seed: int, shape=(40, 120)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)


def _table(folder, *rows, header="\t".join(COLUMNS)):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "lines.tsv").write_text(header + "\n" + "".join(r + "\n" for r in rows), encoding="utf-8")
    return folder


def test_round_trip_keeps_ids_texts_hands_pages_and_pixels(tmp_path):
    rows = [
        (LineRecord(id="p1-a", text="Déjà  vu,\tl'été", hand="writer 1", source="x", page="p1"), _gray(1)),
        (LineRecord(id="p1-b", text="œuvre « citée »", hand="writer 1", source="x", page="p1"), _gray(2, (30, 90))),
        (LineRecord(id="p2-a", text="second page", hand="w/2", source="x", page=""), _gray(3)),
    ]
    table = write_line_set(tmp_path / "set", rows)
    assert table == tmp_path / "set" / "lines.tsv"
    back = read_line_set(tmp_path / "set", source="mine")
    assert [r.id for r in back] == ["p1-a", "p1-b", "p2-a"]
    assert [r.text for r in back] == ["Déjà vu, l'été", "œuvre « citée »", "second page"]  # white space collapsed
    assert [r.hand for r in back] == ["writer 1", "writer 1", "w_2"]  # a hand names a folder: '/' replaced
    assert [r.page for r in back] == ["p1", "p1", ""]
    assert {r.source for r in back} == {"mine"}
    assert read_line_set(tmp_path / "set")[0].source == "set"  # the folder's name by default
    for (_, gray), rec in zip(rows, back):
        assert rec.image.is_file() and rec.image.suffix == ".png"
        assert np.array_equal(rec.gray(), gray)  # lossless


def test_writing_again_replaces_the_table(tmp_path):
    write_line_set(tmp_path, [(LineRecord("a", "one", "h", "s"), _gray(1))])
    write_line_set(tmp_path, [(LineRecord("b", "two", "h", "s"), _gray(2))])
    assert [r.id for r in read_line_set(tmp_path)] == ["b"]


@pytest.mark.parametrize("bad_id", ["", ".", ".."])
def test_an_id_that_cannot_name_a_file_is_refused(tmp_path, bad_id):
    with pytest.raises(DataError, match="cannot name a file"):
        write_line_set(tmp_path, [(LineRecord(bad_id, "t", "h", "s"), _gray(1))])


def test_a_line_without_an_image_says_so():
    with pytest.raises(DataError, match="no image"):
        LineRecord("s1", "strokes", "h", "unipen").gray()


def test_a_listed_image_that_is_missing_or_broken_is_reported_when_read(tmp_path):
    _table(tmp_path, "a\tlines/a.png\th\tp\ttext", "b\tlines/b.png\th\tp\ttext")
    (tmp_path / "lines").mkdir()
    (tmp_path / "lines" / "b.png").write_bytes(b"not a png")
    a, b = read_line_set(tmp_path)
    with pytest.raises(DataError, match="line a"):
        a.gray()
    with pytest.raises(DataError, match="line b"):
        b.gray()


def test_the_shared_layout_reads(tmp_path):
    """hand and page are optional columns; other columns are ignored; webp images are fine."""
    _table(tmp_path, "x1\tlines/h/x1.webp\tsome text\textra", header="id\timage\ttext\tnote")
    (tmp_path / "lines" / "h").mkdir(parents=True)
    Image.fromarray(_gray(4)).save(tmp_path / "lines" / "h" / "x1.webp", lossless=True)
    (rec,) = read_line_set(tmp_path)
    assert (rec.id, rec.text, rec.hand, rec.page) == ("x1", "some text", "", "")
    assert rec.gray().shape == (40, 120)


def _empty(folder):
    folder.mkdir()
    (folder / "lines.tsv").write_text("")
    return folder


@pytest.mark.parametrize("make, needle", [
    (lambda d: d, "no such folder"),
    (lambda d: d.mkdir() or d, "no lines.tsv"),
    (lambda d: _empty(d), "empty file"),
    (lambda d: _table(d, "a\tx.png", header="id\timage"), "lacks column(s) text"),
    (lambda d: _table(d, "a\tx.png\th"), "3 fields where the header has 5"),
    (lambda d: _table(d, " \tx.png\th\tp\tt"), "empty id"),
    (lambda d: _table(d, "a\tx.png\th\tp\tt", "a\ty.png\th\tp\tt"), "id a appears twice"),
    (lambda d: _table(d, "a\t../x.png\th\tp\tt"), "is not inside"),
    (lambda d: _table(d, "a\t/etc/passwd\th\tp\tt"), "is not inside"),
    (lambda d: _table(d, "a\t\th\tp\tt"), "is not inside"),
])
def test_malformed_line_sets_are_refused_naming_the_file(tmp_path, make, needle):
    folder = make(tmp_path / "set")
    with pytest.raises(DataError) as err:
        read_line_set(folder)
    assert needle in str(err.value)
    assert str(tmp_path / "set") in str(err.value)


def test_a_table_that_is_not_utf8_is_refused(tmp_path):
    (tmp_path / "lines.tsv").write_bytes("id\timage\ttext\na\tx.png\tr\xe9sum\xe9\n".encode("latin-1"))
    with pytest.raises(DataError, match="not UTF-8"):
        read_line_set(tmp_path)
