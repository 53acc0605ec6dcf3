"""benchmarks/hands_cer.py on a line set drawn here: per-set rows, CER = edits / characters of the
per-line file, --reuse reads nothing twice, an engine that cannot run is named and the others go on."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import hands_cer  # noqa: E402
from htr.errors import EngineUnavailable  # noqa: E402
from htr.metrics import char_edits, word_edits  # noqa: E402
from htr.types import Recognition  # noqa: E402

#: (id, hand, text as the source writes it): hand-c trains, so it is never read; one line is dropped.
LINES = [
    ("a-1", "hand-a", "the quick brown fox"),
    ("a-2", "hand-a", "Il était là"),  # read as "Il etait la"
    ("a-3", "hand-a", "struck >out< here"),  # crossed out: dropped before reading
    ("b-1", "hand-b", "jumps over the dog"),
    ("b-2", "hand-b", "seven lazy cats"),
    ("c-1", "hand-c", "never read at all"),
]


def draw(text: str) -> np.ndarray:
    from PIL import Image, ImageDraw, ImageFont

    img = Image.new("L", (760, 70), 255)
    ImageDraw.Draw(img).text((14, 10), text, fill=0, font=ImageFont.load_default(size=40))
    return np.asarray(img)


def write_set(hands: Path, lines=LINES) -> None:
    from PIL import Image

    root = hands / "copiste"
    rows = ["id\timage\thand\tpage\ttext"]
    for lid, hand, text in lines:
        rel = Path("lines") / hand / f"{lid}.png"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(draw(text)).save(root / rel)
        rows.append(f"{lid}\t{rel.as_posix()}\t{hand}\t\t{text}")
    (root / "lines.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")


@pytest.fixture
def tiny(tmp_path):
    hands = tmp_path / "hands"
    write_set(hands)
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"sources": {"copiste": {"validation": [], "report": ["hand-a", "hand-b"],
                                                          "train": ["hand-c"]}}}), encoding="utf-8")
    base = ["--sources", "copiste", "--hands-dir", str(hands), "--split", str(split)]
    return tmp_path, base


class Counting:
    """An engine that counts the lines it is asked to read."""

    def __init__(self, inner):
        self.inner, self.calls = inner, 0

    def availability(self):
        return self.inner.availability()

    def recognize(self, image, layout="line"):
        self.calls += 1
        return self.inner.recognize(image, layout=layout)


def counting_factory():
    from htr.engines import get_engine

    made: dict[str, Counting] = {}

    def make(name, **opts):
        made[name] = Counting(get_engine(name, **opts))
        return made[name]

    return make, made


def read_csv(path: Path) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def needs_tesseract():
    from htr.engines import get_engine

    ok, why = get_engine("tesseract").availability()
    if not ok:
        pytest.skip(f"tesseract not available: {why}")


def test_tesseract_on_two_report_hands_and_reuse(tiny):
    needs_tesseract()
    tmp, base = tiny
    out = tmp / "res"
    make, made = counting_factory()
    assert hands_cer.main(base + ["--engines", "tesseract", "--out", str(out)], make_engine=make) == 0
    assert made["tesseract"].calls == 4  # the 4 mapped lines of the report hands: not hand-c, not the crossed-out

    per_line = read_csv(out.with_name("res_lines.csv"))
    assert sorted(r["line"] for r in per_line) == ["a-1", "a-2", "b-1", "b-2"]
    truths = {r["line"]: r["truth"] for r in per_line}
    assert truths["a-2"] == "Il etait la"  # mapped by htr.data.text.to_iam
    for r in per_line:  # each line's numbers are those of its reading
        assert int(r["edits"]) == char_edits(r["truth"], r["read"])
        assert int(r["word_edits"]) == word_edits(r["truth"], r["read"])
        assert int(r["chars"]) == len(r["truth"])
        assert r["engine"] == "tesseract" and r["version"].startswith("tesseract")

    (row,) = read_csv(out.with_suffix(".csv"))
    assert (row["set"], row["engine"], row["lines"], row["hands"]) == ("copiste", "tesseract", "4", "2")
    edits, chars = sum(int(r["edits"]) for r in per_line), sum(int(r["chars"]) for r in per_line)
    assert int(row["char_edits"]) == edits and int(row["chars"]) == chars
    assert float(row["cer"]) == round(edits / chars, 5)
    words = sum(int(r["words"]) for r in per_line)
    assert float(row["wer"]) == round(sum(int(r["word_edits"]) for r in per_line) / words, 5)
    per_hand = [sum(int(r["edits"]) for r in per_line if r["hand"] == h)
                / sum(int(r["chars"]) for r in per_line if r["hand"] == h) for h in ("hand-a", "hand-b")]
    assert float(row["median_writer_cer"]) == round(float(np.median(per_hand)), 5)

    md = out.with_suffix(".md").read_text(encoding="utf-8")
    assert "copiste report hands" in md and "| 2 (2) | 4 (5) | 1 crossed-out" in md
    assert f"{float(row['cer']) * 100:.1f} %" in md
    assert "chose nothing" in md and "chose the checkpoints" in md and "shaped earlier recipes" in md
    assert "Copiste d'un jour" in md and "CC BY 4.0" in md  # the source's credit
    assert "split.json" in md and "--engines tesseract" in md

    # --reuse: nothing is read again, the same numbers come out
    make, made = counting_factory()
    assert hands_cer.main(base + ["--engines", "tesseract", "--reuse", "--out", str(out)], make_engine=make) == 0
    assert made["tesseract"].calls == 0
    assert read_csv(out.with_suffix(".csv")) == [row]
    assert "0 lines read now, 4 taken from earlier readings" in out.with_suffix(".md").read_text(encoding="utf-8")

    # a line whose truth changed is read again, the rest reused
    write_set(tmp / "hands", [(i, h, "seven lazy dogs" if i == "b-2" else t) for i, h, t in LINES])
    make, made = counting_factory()
    assert hands_cer.main(base + ["--engines", "tesseract", "--reuse", "--out", str(out)], make_engine=make) == 0
    assert made["tesseract"].calls == 1


def test_limit_takes_hands_in_turn_and_reuse_reads_only_the_new_lines(tiny):
    needs_tesseract()
    tmp, base = tiny
    out = tmp / "quick"
    make, made = counting_factory()
    assert hands_cer.main(base + ["--engines", "tesseract", "--limit", "2", "--out", str(out)],
                          make_engine=make) == 0
    assert made["tesseract"].calls == 2
    assert sorted(r["line"] for r in read_csv(out.with_name("quick_lines.csv"))) == ["a-1", "b-1"]
    assert "A quick try (`--limit 2`)" in out.with_suffix(".md").read_text(encoding="utf-8")
    make, made = counting_factory()
    assert hands_cer.main(base + ["--engines", "tesseract", "--reuse", "--out", str(out)], make_engine=make) == 0
    assert made["tesseract"].calls == 2  # a-2 and b-2


class FakeEaster2:
    """Stands in for Easter2 (no TensorFlow): reads every line as the text its weights file holds."""

    def __init__(self, weights=None, decoder="greedy", **_):
        self.text = Path(weights).read_text() if weights else ""
        self.calls = 0

    def availability(self):
        return True, "weights (fake)"

    def recognize(self, image, layout="line"):
        self.calls += 1
        return Recognition(self.text, 0.001, "easter2")


def test_two_easter2_weights_side_by_side_and_a_new_one_reread_alone(tiny):
    tmp, base = tiny
    out = tmp / "two"
    w5, w6 = tmp / "stage5.weights.h5", tmp / "stage6.weights.h5"
    w5.write_text("the quick brown fox")
    w6.write_text("")
    made = []

    def make(name, **opts):
        assert name == "easter2" and opts["decoder"] == "greedy"
        made.append(FakeEaster2(**opts))
        return made[-1]

    five = ["--weights", str(w5), "--label", "stage 5 (shipped before)"]
    assert hands_cer.main(base + ["--engines", "easter2", *five, "--out", str(out)], make_engine=make) == 0
    assert [e.calls for e in made] == [4]
    made.clear()
    assert hands_cer.main(base + ["--engines", "easter2", *five, "--weights", str(w6), "--label", "stage 6",
                                  "--reuse", "--out", str(out)], make_engine=make) == 0
    assert [e.calls for e in made] == [0, 4]  # only the new weights read

    rows = read_csv(out.with_suffix(".csv"))
    assert [r["label"] for r in rows] == ["Easter2: stage 5 (shipped before)", "Easter2: stage 6"]
    assert len({r["weights_sha256"] for r in rows}) == 2
    assert rows[0]["weights_sha256"] == hands_cer.sha256_file(w5)
    assert float(rows[1]["cer"]) == 1.0  # read nothing: every character an edit
    md = out.with_suffix(".md").read_text(encoding="utf-8")
    assert "| set | Easter2: stage 5 (shipped before) | Easter2: stage 6 |" in md
    assert hands_cer.sha256_file(w6) in md and "not the shipped file" in md


def test_an_engine_that_cannot_run_is_named_and_the_others_go_on(tiny):
    tmp, base = tiny
    out = tmp / "missing"

    class Unavailable:
        def availability(self):
            return False, "no such binary"

    class BreaksAtLoad(FakeEaster2):
        def recognize(self, image, layout="line"):
            raise EngineUnavailable("weights do not load")

    def make(name, **opts):
        if name == "easyocr":
            return Unavailable()
        if name == "tesseract":
            return BreaksAtLoad()
        return FakeEaster2(**opts)

    good = tmp / "good.weights.h5"
    good.write_text("seven lazy cats")
    argv = base + ["--engines", "easter2,easyocr,tesseract", "--weights", str(tmp / "absent.h5"),
                   "--weights", str(good), "--out", str(out)]
    assert hands_cer.main(argv, make_engine=make) == 0
    md = out.with_suffix(".md").read_text(encoding="utf-8")
    assert "EasyOCR: **not available here** (no such binary)" in md
    assert "not available here** (no weights file at" in md and "absent.h5" in md
    assert "Tesseract: **not available here** (EngineUnavailable: weights do not load)" in md
    rows = read_csv(out.with_suffix(".csv"))
    assert [r["engine"] for r in rows] == ["easter2"] and rows[0]["label"].startswith("Easter2 (good.weights.h5")
    assert {r["engine"] for r in read_csv(out.with_name("missing_lines.csv"))} == {"easter2"}


def test_iam_rows_carry_numbers_only(tiny, iam_dir):
    needs_tesseract()
    tmp, _ = tiny
    out = tmp / "iam"
    assert hands_cer.main(["--sources", "iam", "--iam-dir", str(iam_dir), "--engines", "tesseract",
                           "--limit", "2", "--out", str(out)]) == 0
    rows = read_csv(out.with_suffix(".csv"))
    assert [(r["set"], r["lines"]) for r in rows] == [("iam-validation", "2"), ("iam-test", "2")]
    per_line = read_csv(out.with_name("iam_lines.csv"))
    assert len(per_line) == 4 and all(r["read"] == "" and r["truth"] == "" for r in per_line)
    assert all(int(r["chars"]) > 0 for r in per_line)
    md = out.with_suffix(".md").read_text(encoding="utf-8")
    assert "IAM validation e06 (chose checkpoints)" in md and "IAM test e06-033" in md


def test_unipen_lines_render_the_same_every_time():
    strokes_mod = pytest.importorskip("htr.data.strokes", reason="the stroke renderer has not landed yet")
    if not hasattr(strokes_mod, "render_strokes"):
        pytest.skip("htr.data.strokes has no render_strokes yet")
    from htr.data.lines import LineRecord

    t = np.linspace(0, 1, 60, dtype=np.float32)
    strokes = (np.stack([t * 40, 5 + 3 * np.sin(t * 12)], axis=1), np.stack([t * 10 + 45, t * 8], axis=1))
    rec = LineRecord(id="unipen-x-1-2", text="hi", hand="h", source="unipen", strokes=strokes)
    a, b = hands_cer.render_unipen(rec), hands_cer.render_unipen(rec)
    assert a.dtype == np.uint8 and a.ndim == 2 and np.array_equal(a, b)
    other = LineRecord(id="unipen-x-1-3", text="hi", hand="h", source="unipen", strokes=strokes)
    assert hands_cer.unipen_seed(rec.id) != hands_cer.unipen_seed(other.id)


def test_two_weights_with_one_label_are_refused(tiny):
    tmp, base = tiny
    w = tmp / "w.h5"
    w.write_text("x")
    argv = base + ["--engines", "easter2", "--weights", str(w), "--label", "same", "--weights", str(w),
                   "--label", "same", "--out", str(tmp / "dup")]
    assert hands_cer.main(argv, make_engine=lambda name, **o: FakeEaster2(**o)) == 2
    assert not (tmp / "dup.md").exists()
