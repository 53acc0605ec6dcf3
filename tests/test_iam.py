"""htr.data.iam on the shared IAM subset and on broken copies of it.

Nothing from IAM is written into the repository: broken copies live in
pytest's tmp_path and are deleted with it.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from htr.data import iam as iam_module
from htr.errors import IAMError
from htr.data.iam import IAM, default_iam_dir, shared_iam_dir
from htr.images import load_image
from htr.types import Box



def _row(iam_dir: Path, line_id: str) -> str:
    """The raw row of ``line_id`` in the copy's lines.txt (read here, never written into the repo)."""
    with open(iam_dir / "ascii" / "lines.txt", encoding="utf-8") as f:
        return next(r.rstrip("\n") for r in f if r.startswith(line_id + " "))


@pytest.fixture(scope="module")
def first_row(iam_dir) -> str:
    return _row(iam_dir, "a01-000u-00")


@pytest.fixture(scope="module")
def iam(iam_dir) -> IAM:
    return IAM(iam_dir)


def _copy(iam_dir: Path, dest: Path, lines=True, forms=("a01-000u",)) -> Path:
    """A writable copy of the parts of the subset a test needs."""
    shutil.copytree(iam_dir / "ascii", dest / "ascii")
    shutil.copytree(iam_dir / "splits", dest / "splits")
    if lines:
        shutil.copytree(iam_dir / "lines" / "a01", dest / "lines" / "a01")
    (dest / "forms").mkdir()
    for f in forms:
        shutil.copy(iam_dir / "forms" / f"{f}.png", dest / "forms" / f"{f}.png")
    return dest


def _edit_lines(root: Path, fn) -> None:
    p = root / "ascii" / "lines.txt"
    p.write_text(fn(p.read_text()))


# ------------------------------------------------------------ the real subset


def test_metadata_counts(iam):
    assert len(iam.lines) == 13353
    assert len(iam.forms) == 1539
    assert len(iam.writers) == 657
    assert sum(1 for line in iam.lines.values() if line.status == "err") == 2009


def test_first_line_matches_its_row(iam, first_row):
    line = iam.line("a01-000u-00")
    _, status, gray, _, x, y, w, h, raw = first_row.split(" ", 8)
    assert line.form == "a01-000u" and line.writer == "000" and line.status == status == "ok"
    assert line.graylevel == int(gray)
    assert line.box == Box(int(x), int(y), int(w), int(h))
    assert line.raw == raw
    assert line.words == raw.split("|") and len(line.words) > 3
    assert line.text == " ".join(raw.split("|"))


def test_words_with_spaces_inside_keep_them(iam, iam_dir):
    # a token of this line holds a space (IAM writes some abbreviations so)
    raw = _row(iam_dir, "a01-000u-03").split(" ", 8)[8]
    spaced = [t for t in raw.split("|") if " " in t]
    assert spaced, "the subset's line a01-000u-03 should have a token with a space"
    line = iam.line("a01-000u-03")
    assert line.status == "err"
    assert line.words == raw.split("|") and spaced[0] in line.words
    assert line.text == " ".join(raw.split("|"))


def test_forms_and_writers(iam):
    form = iam.form("a01-000u")
    assert form.writer == "000" and form.has_image
    assert form.line_ids == tuple(f"a01-000u-{i:02d}" for i in range(7))
    assert "a01-000u" in iam.writers["000"]
    with_scan = sorted(f.id for f in iam.forms.values() if f.has_image)
    assert with_scan == ["a01-000u", "e04-068", "e06-006", "e06-033", "e06-037", "e06-041"]
    assert iam.writers["202"] and {"e06-006", "e06-037", "e06-041"} <= set(iam.writers["202"])


def test_splits_match_the_published_sizes(iam):
    original = {k: len(v) for k, v in iam.splits("original").items()}
    assert original == {"trainset": 6161, "validationset1": 900, "validationset2": 940, "testset": 1861}
    aachen = {k: len(v) for k, v in iam.splits("aachen").items()}
    assert aachen == {"train": 6161, "validation": 966, "test": 2915}
    assert "a01-000u" in iam.splits("aachen", kind="forms")["train"]


@pytest.mark.parametrize(
    "line_id, aachen, original",
    [
        ("a01-000u-00", "train", "trainset"),
        ("e04-068-03", "train", "trainset"),
        ("e06-006-00", "validation", "validationset2"),
        ("e06-033-09", "test", "validationset2"),
    ],
)
def test_split_of_agrees_with_the_readme(iam, line_id, aachen, original):
    assert iam.split_of(line_id) == aachen
    assert iam.split_of(line_id, "original") == original


def test_line_images(iam):
    assert len(iam.available_lines()) == 56
    assert all(iam.has_line_image(i) for i in iam.available_lines())
    assert not iam.has_line_image("a01-000x-00")
    for line_id in ("a01-000u-00", "e06-033-04"):
        img = iam.line_image(line_id)
        box = iam.line(line_id).box
        assert img.dtype == np.uint8 and img.shape == (box.h, box.w)
    with pytest.raises(IAMError, match="no scan of form a01-000x"):
        iam.line_image("a01-000x-00")


def test_form_image_is_cached_and_read_only(iam):
    a = iam.form_image("e04-068")
    assert a.shape == (3542, 2479)
    assert iam.form_image("e04-068") is a
    assert not a.flags.writeable


def test_search(iam):
    hits = iam.search("gaitskell")
    assert hits and all("gaitskell" in h.text.lower() for h in hits)
    assert "a01-000u-00" in [h.id for h in hits]
    assert len(iam.search("the", limit=5)) == 5
    assert iam.search("zzqxj no such text") == []
    assert [h.id for h in iam.search("a01-000u-0")][:2] == ["a01-000u-00", "a01-000u-01"]


def test_sentences(iam):
    s = iam.sentences["a01-000u-s00-00"]
    assert s.form == "a01-000u" and s.number == 0
    assert s.text == iam.line("a01-000u-00").text  # the first sentence starts with the first line
    assert iam.words == {}  # the subset has no words.txt


def test_loading_is_fast_and_cached(iam_dir):
    iam_module._cache.clear()
    t = time.perf_counter()
    IAM(iam_dir)
    first = time.perf_counter() - t
    t = time.perf_counter()
    again = IAM(iam_dir)
    second = time.perf_counter() - t
    assert len(again.lines) == 13353
    assert first < 0.5, f"parsing 13k lines took {first:.2f} s"
    assert second < first / 5


def test_bad_ids_refused(iam):
    for bad in ["../../etc/passwd", "/etc/passwd", "a01-000u-00/../../x", "a01-000u-00.png", "", "A01-000U-00"]:
        with pytest.raises(IAMError, match="not an IAM line id"):
            iam.line(bad)
        with pytest.raises(IAMError):
            iam.line_image(bad)
    with pytest.raises(IAMError, match="unknown line id a01-000u-99"):
        iam.line("a01-000u-99")  # well-formed, absent
    with pytest.raises(IAMError, match="not an IAM form id"):
        iam.form_image("../forms/a01-000u")
    with pytest.raises(IAMError, match="unknown split scheme"):
        iam.splits("../../etc")
    with pytest.raises(IAMError, match="no split scheme"):
        iam.splits("nosuchscheme")


# ------------------------------------------------------------ broken copies


def test_missing_folder_and_lines_txt(tmp_path):
    with pytest.raises(IAMError, match="IAM folder not found"):
        IAM(tmp_path / "nowhere")
    (tmp_path / "file").write_text("x")
    with pytest.raises(IAMError, match="not a directory"):
        IAM(tmp_path / "file")
    (tmp_path / "empty").mkdir()
    with pytest.raises(IAMError, match="missing ascii/lines.txt"):
        IAM(tmp_path / "empty")


def test_no_root_and_no_env(monkeypatch):
    monkeypatch.delenv("IAM_DIR", raising=False)
    assert default_iam_dir() is None
    with pytest.raises(IAMError, match="IAM_DIR is not set"):
        IAM()
    monkeypatch.setenv("IAM_DIR", "~/somewhere")
    assert default_iam_dir() == Path("~/somewhere").expanduser()


def test_shared_iam_dir_points_beside_the_project():
    found = shared_iam_dir()
    expected = Path(__file__).resolve().parents[2] / "shared" / "iam"
    assert found == (expected if expected.is_dir() else None)


@pytest.mark.parametrize(
    "bad_row, reason",
    [
        ("a01-000u-00 ok 154", "expected 'id status"),
        ("a01-000u-00 maybe 154 19 408 746 1661 89 A|LINE", "status 'maybe'"),
        ("../../etc/passwd ok 154 19 408 746 1661 89 A|LINE", "not an IAM line id"),
        ("/abs/path ok 154 19 408 746 1661 89 A|LINE", "not an IAM line id"),
        ("a01-000u-00 ok 154 19 408 746 wide 89 A|LINE", "four integers"),
        ("a01-000u-00 ok 154 19 408 746 0 89 A|LINE", "empty"),
        ("a01-000u-00 ok dark 19 408 746 1661 89 A|LINE", "integers"),
    ],
)
def test_malformed_row_names_file_and_line(iam_dir, tmp_path, bad_row, reason, first_row):
    root = _copy(iam_dir, tmp_path / "iam", lines=False, forms=())
    _edit_lines(root, lambda text: text.replace(first_row, bad_row))
    # the first data row follows 23 comment lines in the official file
    lineno = (iam_dir / "ascii" / "lines.txt").read_text().splitlines().index(first_row) + 1
    with pytest.raises(IAMError) as err:
        IAM(root)
    msg = str(err.value)
    assert f"lines.txt:{lineno}: malformed row" in msg, msg
    assert reason in msg, msg


def test_duplicate_and_forms_txt_errors(iam_dir, tmp_path, first_row):
    root = _copy(iam_dir, tmp_path / "dup", lines=False, forms=())
    _edit_lines(root, lambda text: text + first_row + "\n")
    with pytest.raises(IAMError, match="duplicate line id a01-000u-00"):
        IAM(root)
    root = _copy(iam_dir, tmp_path / "forms", lines=False, forms=())
    p = root / "ascii" / "forms.txt"
    p.write_text(p.read_text() + "../evil 000 2 prt 7 5 52 36\n")
    with pytest.raises(IAMError, match=r"forms\.txt:\d+: malformed row"):
        IAM(root)


def test_forms_txt_is_optional(iam_dir, tmp_path):
    root = _copy(iam_dir, tmp_path / "iam", lines=False, forms=())
    (root / "ascii" / "forms.txt").unlink()
    iam = IAM(root)
    assert len(iam.lines) == 13353 and iam.line("a01-000u-00").writer is None
    assert iam.writers == {}


def test_malformed_split_file(iam_dir, tmp_path):
    root = _copy(iam_dir, tmp_path / "iam", lines=False, forms=())
    p = root / "splits" / "aachen" / "test.lines.txt"
    p.write_text("c04-110-00\n../../../etc/passwd\n")
    iam = IAM(root)
    with pytest.raises(IAMError, match=r"test\.lines\.txt:2: malformed row"):
        iam.splits("aachen")


def test_line_cut_from_form_equals_the_line_file(iam_dir, tmp_path):
    root = _copy(iam_dir, tmp_path / "iam", lines=False, forms=("a01-000u",))
    iam = IAM(root)
    assert iam.line_image_path("a01-000u-02") is None
    assert iam.has_line_image("a01-000u-02")
    assert len(iam.available_lines()) == 7
    cut = iam.line_image("a01-000u-02")
    original = load_image(iam_dir / "lines" / "a01" / "a01-000u" / "a01-000u-02.png")
    assert np.array_equal(cut, original)


def test_box_outside_the_scan(iam_dir, tmp_path, first_row):
    root = _copy(iam_dir, tmp_path / "iam", lines=False, forms=("a01-000u",))
    bad = first_row.split(" ")
    bad[4:8] = ["5000", "9000", "100", "50"]
    _edit_lines(root, lambda t: t.replace(first_row, " ".join(bad)))
    with pytest.raises(IAMError, match="outside the form scan"):
        IAM(root).line_image("a01-000u-00")


def test_broken_image_file_gives_iam_error(iam_dir, tmp_path):
    root = _copy(iam_dir, tmp_path / "iam", lines=True, forms=())
    (root / "lines" / "a01" / "a01-000u" / "a01-000u-01.png").write_bytes(b"")
    with pytest.raises(IAMError, match="a01-000u-01.png: file is empty"):
        IAM(root).line_image("a01-000u-01")


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symlinks on this system")
def test_symlink_leading_outside_is_refused(iam_dir, tmp_path):
    root = _copy(iam_dir, tmp_path / "iam", lines=False, forms=())
    outside = tmp_path / "outside" / "a01-000u"
    outside.mkdir(parents=True)
    shutil.copy(iam_dir / "lines" / "a01" / "a01-000u" / "a01-000u-00.png", outside)
    (root / "lines").mkdir()
    (root / "lines" / "a01").symlink_to(tmp_path / "outside")
    iam = IAM(root)
    with pytest.raises(IAMError, match="outside the IAM folder"):
        iam.line_image("a01-000u-00")
    # a symlink that stays inside the folder is fine
    (root / "lines" / "a01").unlink()
    shutil.move(str(tmp_path / "outside"), str(root / "real"))
    (root / "lines" / "a01").symlink_to(root / "real")
    assert iam.line_image("a01-000u-00").shape == (89, 1661)


def test_cache_notices_a_changed_file(iam_dir, tmp_path):
    root = _copy(iam_dir, tmp_path / "iam", lines=False, forms=())
    assert IAM(root).line("a01-000u-00").text.startswith("A MOVE")
    time.sleep(0.01)
    _edit_lines(root, lambda t: t.replace("A|MOVE|to|stop", "A|MOVE|to|start"))
    assert "start" in IAM(root).line("a01-000u-00").text


def test_empty_lines_txt_and_misplaced_images(iam_dir, tmp_path):
    root = _copy(iam_dir, tmp_path / "empty", lines=False, forms=())
    _edit_lines(root, lambda t: "\n".join(r for r in t.splitlines() if r.startswith("#")))
    with pytest.raises(IAMError, match="no line rows"):
        IAM(root)
    root = _copy(iam_dir, tmp_path / "misplaced", lines=True, forms=())
    moved = root / "lines" / "a01" / "a01-000u" / "a01-000u-00.png"
    moved.rename(root / "lines" / "a01" / "a01-000u-00.png")  # one level too high
    iam = IAM(root)
    assert "a01-000u-00" not in iam.available_lines()
    assert len(iam.available_lines()) == 6
    assert not iam.has_line_image("a01-000u-00")


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symlinks on this system")
def test_metadata_symlinked_outside_is_refused(iam_dir, tmp_path):
    root = _copy(iam_dir, tmp_path / "iam", lines=False, forms=())
    outside = tmp_path / "elsewhere.txt"
    (root / "ascii" / "lines.txt").rename(outside)
    (root / "ascii" / "lines.txt").symlink_to(outside)
    with pytest.raises(IAMError, match="outside the IAM folder"):
        IAM(root)


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symlinks on this system")
def test_split_and_sentence_files_symlinked_outside_are_refused(iam_dir, tmp_path):
    """A split list or sentences.txt that is a link out of the folder is refused,
    and nothing of the outside file reaches the message."""
    root = _copy(iam_dir, tmp_path / "iam", lines=False, forms=())
    secret = tmp_path / "secret.txt"
    secret.write_text("secret-token-xyz\n")
    split = root / "splits" / "aachen" / "test.lines.txt"
    split.unlink()
    split.symlink_to(secret)
    iam = IAM(root)
    with pytest.raises(IAMError, match="outside the IAM folder") as err:
        iam.splits("aachen")
    assert "secret-token" not in str(err.value)

    sentences = root / "ascii" / "sentences.txt"
    if sentences.exists():
        sentences.unlink()
    sentences.symlink_to(secret)
    with pytest.raises(IAMError, match="outside the IAM folder"):
        IAM(root).sentences


def test_default_iam_dir_is_one_rule(monkeypatch, tmp_path):
    from htr.data.iam import default_iam_dir

    monkeypatch.delenv("IAM_DIR", raising=False)
    assert default_iam_dir() is None
    monkeypatch.setenv("IAM_DIR", "rel/iam")
    assert default_iam_dir() == Path("rel/iam")  # the CLI: from the current folder
    assert default_iam_dir(base=tmp_path) == (tmp_path / "rel" / "iam").resolve()  # the app: from the project root
    monkeypatch.setenv("IAM_DIR", "~/x")
    assert default_iam_dir(base=tmp_path) == Path.home() / "x"


# ------------------------------------------------------------ split summary
def test_split_summary_of_the_real_metadata(iam):
    rows = {r["split"]: r for r in iam.split_summary("aachen")}
    assert list(rows) == ["test", "train", "validation", "(in no split)"]
    forms = iam.splits("aachen", kind="forms")  # the published form lists agree with the line lists
    for name, ids in iam.splits("aachen").items():
        r = rows[name]
        assert r["lines"] == len(ids) and r["forms"] == len(forms[name])
        assert r["characters"] == sum(len(iam.lines[i].text) for i in ids)
        assert r["shared_writers"] == 0  # Aachen is writer-independent
    assert rows["(in no split)"]["lines"] == len(iam.lines) - 6161 - 966 - 2915
    assert rows["(in no split)"]["shared_writers"] is None
    assert {n: rows[n]["with_images"] for n in ("train", "validation", "test")} == \
        {"train": 14, "validation": 32, "test": 10}  # the README's table: 7+7, 11+11+10, 10
    assert sum(r["lines"] for r in rows.values()) == len(iam.lines)


def test_split_summary_counts_shared_writers_and_unknown_ids(iam_dir, tmp_path):
    root = _copy(iam_dir, tmp_path / "iam")
    src, dst = iam_dir / "splits" / "aachen", root / "splits" / "aachen"
    # a line of writer 202 (e06-006-00, validation) listed in train as well; an id lines.txt lacks
    (dst / "train.lines.txt").write_text((src / "train.lines.txt").read_text() + "e06-006-00\nr99-999-00\n")
    rows = {r["split"]: r for r in IAM(root).split_summary("aachen")}
    assert rows["train"]["lines"] == 6161 + 2 and rows["train"]["shared_writers"] == 1
    assert rows["validation"]["shared_writers"] == 1 and rows["test"]["shared_writers"] == 0
    assert rows["train"]["characters"] == IAM(iam_dir).split_summary("aachen")[1]["characters"] \
        + len(IAM(iam_dir).lines["e06-006-00"].text)  # the unknown id adds a line, no text
