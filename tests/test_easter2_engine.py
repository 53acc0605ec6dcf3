"""The Easter2 engine with random (untrained) weights, and the engine registry.

Untrained weights read nonsense, so these tests check the contract — types,
shapes, timings, consistency between the engine's paths — not the text.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pytest

from htr.alphabet import CHARS, NUM_CLASSES
from htr.errors import EngineUnavailable
from htr.types import Recognition


from tests.drawing import synthetic_line  # noqa: E402


def synthetic_page(lines: int = 3) -> np.ndarray:
    page = np.full((120 * lines + 80, 900), 250, np.uint8)
    for i in range(lines):
        y = 60 + 120 * i
        page[y : y + 70, 60:760] = synthetic_line(700, 70, seed=i + 1)
    return page


@pytest.fixture(scope="module")
def weights(random_weights):
    return random_weights


@pytest.fixture(scope="module")
def engine(weights):
    from htr.engines.easter2 import Easter2Engine

    return Easter2Engine(weights=weights)


def test_available_with_weights(engine, weights):
    ok, reason = engine.availability()
    assert ok is True and engine.is_available()
    assert weights.name in reason


def test_recognize_returns_a_timed_recognition(engine):
    rec = engine.recognize(synthetic_line())
    assert isinstance(rec, Recognition)
    assert rec.engine == "easter2"
    assert rec.seconds > 0
    assert len(rec.char_probs) == len(rec.text)
    assert all(0.0 <= p <= 1.0 for p in rec.char_probs)
    assert set(rec.text) <= set(CHARS)
    assert rec.lines == () and rec.box is None


def test_recognize_agrees_with_analyze(weights):
    """On the float path the reading and the views' greedy reading are one computation."""
    from htr.engines.easter2 import Easter2Engine

    engine = Easter2Engine(weights=weights, precision="float32")
    assert engine.reading_precision == "float32"
    line = synthetic_line(seed=3)
    rec = engine.recognize(line)
    ana = engine.analyze(line)
    assert rec.text == ana.greedy.text
    assert rec.char_probs == pytest.approx(ana.greedy.char_probs, abs=1e-5)


def test_int8_reads_by_default_on_a_cpu_and_the_views_stay_float(weights, monkeypatch):
    import tensorflow as tf

    from htr.engines.easter2 import Easter2Engine
    from htr.runtime import default_dtype

    monkeypatch.delenv("HTR_PRECISION", raising=False)  # before the engine is built: its default
    if tf.config.list_physical_devices("GPU"):
        pytest.skip("TensorFlow sees a GPU: the engine keeps its float GPU path")
    engine = Easter2Engine(weights=weights)
    assert engine.reading_precision == "int8"
    ok, status = engine.availability()
    assert ok and "reads in int8" in status and f"views in {default_dtype()}" in status
    line = synthetic_line(900, 70, seed=11)
    probs_int8 = engine._forward([engine.analyze(line, beam=False).prepared])[0]
    ana = engine.analyze(line, beam=False)  # the float path: exact probabilities
    n = ana.prepared.content_steps
    assert ana.probs.shape == probs_int8[:n].shape
    assert not np.array_equal(ana.probs, probs_int8[:n])  # two different computations
    assert np.abs(ana.probs - probs_int8[:n]).max() < 0.05  # random weights: near-uniform, close


def test_int8_concurrent_reads_equal_serial_reads(engine):
    from concurrent.futures import ThreadPoolExecutor

    lines = [synthetic_line(300 + 150 * k, 60 + 5 * k, seed=30 + k) for k in range(6)]
    serial = [engine.recognize(g).text for g in lines]
    with ThreadPoolExecutor(4) as pool:
        parallel = list(pool.map(lambda g: engine.recognize(g).text, lines * 2))
    assert parallel == serial * 2


def test_int8_conversion_failure_falls_back_to_the_float_path(weights, tmp_path, monkeypatch):
    import shutil

    import tensorflow as tf

    from htr.engines.easter2 import Easter2Engine
    from htr.runtime import default_dtype

    def broken(*args, **kwargs):
        raise RuntimeError("converter broke on purpose")

    monkeypatch.setattr(tf.lite.TFLiteConverter, "from_concrete_functions", broken)
    own = tmp_path / "fallback.weights.h5"  # a file of its own: no int8 reader cached for it
    shutil.copyfile(weights, own)
    eng = Easter2Engine(weights=own, precision="int8")
    rec = eng.recognize(synthetic_line(seed=12))
    assert isinstance(rec.text, str) and len(rec.char_probs) == len(rec.text)
    assert eng.reading_precision == default_dtype()
    ok, status = eng.availability()
    assert ok is True
    assert "int8 unavailable" in status and "converter broke on purpose" in status
    assert f"reads in {default_dtype()}" in status
    ok2, status2 = Easter2Engine(weights=own).availability()  # another engine of the process knows too
    assert ok2 and "int8 unavailable" in status2


def test_precision_names(weights, monkeypatch):
    from htr.engines.easter2 import Easter2Engine

    with pytest.raises(ValueError, match="int8"):
        Easter2Engine(weights=weights, precision="int4")
    monkeypatch.setenv("HTR_PRECISION", "float32")
    assert Easter2Engine(weights=weights).reading_precision == "float32"
    monkeypatch.setenv("HTR_PRECISION", "int8")
    assert Easter2Engine(weights=weights).reading_precision == "int8"
    # the true-width policy has no int8 graph: it reads on the float path
    assert Easter2Engine(weights=weights, width=None, precision="int8").reading_precision != "int8"


def test_int8_full_without_training_lines_reads_in_float_and_says_why(weights, tmp_path, monkeypatch):
    """Full int8 is calibrated on training-split lines read when the model loads: where there are
    none (no IAM copy, no hands) the engine reads on the float path and its status says why."""
    import shutil

    from htr.engines.easter2 import Easter2Engine
    from htr.runtime import default_dtype

    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("IAM_DIR", str(empty))
    monkeypatch.setenv("HANDS_DIR", str(empty))
    own = tmp_path / "nocal.weights.h5"  # a file of its own: no reader cached for it
    shutil.copyfile(weights, own)
    eng = Easter2Engine(weights=own, precision="int8-full")
    rec = eng.recognize(synthetic_line(seed=13))
    assert isinstance(rec.text, str)
    assert eng.reading_precision == default_dtype()
    ok, status = eng.availability()
    assert ok and "int8-full unavailable" in status and "no training-split lines" in status


def test_analyze_shapes(engine):
    line = synthetic_line(900, 60, seed=4)
    ana = engine.analyze(line)
    prep = ana.prepared
    assert prep.x.shape == (2000, 80)
    n = prep.content_steps
    assert n == -(-prep.content // 4)  # the framed line's columns, 4 per step
    assert ana.probs.shape == (n, NUM_CLASSES)
    assert np.allclose(ana.probs.sum(axis=1), 1.0, atol=1e-5)
    assert len(ana.gates) == 3 and len(ana.activations) == 3
    for gate, act in zip(ana.gates, ana.activations):
        assert gate.shape == (256,)
        assert gate.min() >= 0.0 and gate.max() <= 1.0
        assert act.shape == (n, 256)
        assert act.min() >= 0.0
    assert ana.beam is not None
    assert engine.analyze(line, beam=False).beam is None
    # spans of the greedy reading lie inside the analysed steps
    for span in ana.greedy.spans:
        assert 0 <= span.start <= span.end < n


def test_saliency_is_an_image_sized_map(engine):
    line = synthetic_line(400, 50, seed=5)
    sal = engine.saliency(line, 10, 14, CHARS.index("e"))
    assert sal.shape == line.shape
    assert np.isfinite(sal).all()
    assert sal.min() >= 0.0 and sal.max() == pytest.approx(1.0)


def test_lines_read_alone_or_in_a_batch_agree(engine):
    lines = [synthetic_line(500, 60, seed=6), synthetic_line(800, 90, seed=7)]
    together = engine.read_lines(lines)
    alone = [engine.read_lines([g])[0] for g in lines]
    assert [d.text for d in together] == [d.text for d in alone]


def test_beam_decoder_engine(weights):
    from htr.engines.easter2 import Easter2Engine

    eng = Easter2Engine(weights=weights, decoder="beam", precision="float32")  # reading = the views' path
    line = synthetic_line(seed=8)
    rec = eng.recognize(line)
    assert rec.text == eng.analyze(line).beam.text
    assert len(rec.char_probs) == len(rec.text)


def test_true_width_engine(weights):
    from htr.engines.easter2 import Easter2Engine

    eng = Easter2Engine(weights=weights, width=None)
    line = synthetic_line(333, 47, seed=9)
    ana = eng.analyze(line, beam=False)
    assert ana.prepared.width % 4 == 0 and ana.prepared.width < 2000
    assert ana.probs.shape == (ana.prepared.content_steps, NUM_CLASSES)
    rec = eng.recognize(line)
    assert len(rec.char_probs) == len(rec.text)


def test_page_layout_reads_each_line(engine):
    segment = pytest.importorskip("htr.segment", reason="htr.segment (helper D) has not landed")
    page = synthetic_page(3)
    boxes = segment.segment_page(page)
    if len(boxes) != 3:
        pytest.fail(f"htr.segment found {len(boxes)} lines on a synthetic 3-line page: {boxes}")
    rec = engine.recognize(page, layout="page")
    assert isinstance(rec, Recognition)
    assert len(rec.lines) == 3
    tops = [r.box.y for r in rec.lines]
    assert tops == sorted(tops)
    for r, y in zip(rec.lines, (60, 180, 300)):
        rows = np.nonzero((page[y : y + 70] < 128).any(axis=1))[0] + y  # this line's ink
        assert r.box.y <= rows[0] + 3 and r.box.y + r.box.h >= rows[-1] - 3, (r.box, rows[0], rows[-1])
        assert len(r.char_probs) == len(r.text)
    assert rec.text == "\n".join(r.text for r in rec.lines)
    assert len(rec.char_probs) == len(rec.text)  # a newline counts as one sure character
    assert rec.seconds > 0


# ---------------------------------------------------------------- without weights
def test_without_weights_unavailable_with_reason(tmp_path, monkeypatch):
    from htr.engines.easter2 import Easter2Engine

    monkeypatch.delenv("HTR_WEIGHTS", raising=False)
    missing = tmp_path / "none.weights.h5"
    eng = Easter2Engine(weights=missing)
    ok, reason = eng.availability()
    assert ok is False and not eng.is_available()
    assert str(missing) in reason
    with pytest.raises(EngineUnavailable) as err:
        eng.recognize(synthetic_line())
    assert str(missing) in str(err.value)
    with pytest.raises(EngineUnavailable):
        eng.analyze(synthetic_line())


def test_unloadable_weights_become_unavailable(tmp_path):
    from htr.engines.easter2 import Easter2Engine

    bad = tmp_path / "bad.weights.h5"
    bad.write_bytes(b"not hdf5 at all" * 50)
    eng = Easter2Engine(weights=bad)
    with pytest.raises(EngineUnavailable):
        eng.recognize(synthetic_line())
    ok, reason = eng.availability()
    assert ok is False and "bad.weights.h5" in reason
    with pytest.raises(EngineUnavailable):  # and stays so, without retrying each time
        eng.recognize(synthetic_line())


# ---------------------------------------------------------------- registry
def test_registry():
    from htr.engines import ENGINE_NAMES, get_engine
    from htr.engines.easter2 import Easter2Engine

    assert ENGINE_NAMES == ("easter2", "easyocr", "tesseract")
    with pytest.raises(ValueError) as err:
        get_engine("nope")
    assert "nope" in str(err.value) and "easter2" in str(err.value)
    eng = get_engine("easter2", weights="x.weights.h5", decoder="beam", gpu=True, timeout=3)
    assert isinstance(eng, Easter2Engine)
    assert eng.name == "easter2" and eng.decoder == "beam" and str(eng.weights) == "x.weights.h5"
    with pytest.raises(ValueError):
        Easter2Engine(decoder="viterbi")


def test_a_replaced_weights_file_is_tried_again(tmp_path, weights):
    """A failed load is not remembered forever: once the file changes, the engine retries."""
    import shutil

    from htr.engines.easter2 import Easter2Engine

    path = tmp_path / "later.weights.h5"
    path.write_bytes(b"not weights")
    eng = Easter2Engine(weights=path)
    with pytest.raises(EngineUnavailable):
        eng.recognize(np.full((40, 200), 255, np.uint8))
    assert eng.availability()[0] is False
    shutil.copyfile(weights, path)  # a good file now (another size and time)
    assert eng.availability()[0] is True
    assert isinstance(eng.recognize(np.full((40, 200), 255, np.uint8)).text, str)


def test_lm_decoder_reads_real_lines_better_than_greedy(iam_dir):
    """On the test writer IAM's Aachen split keeps apart (e06-033), the language model must help."""
    from htr.engines.easter2 import Easter2Engine
    from htr.data.iam import IAM
    from htr.lm import language_model, lm_beam_decode
    from htr.metrics import cer

    iam = IAM(iam_dir)
    ids = [i for i in iam.splits("aachen")["test"] if iam.has_line_image(i)][:10]
    if not ids:
        pytest.skip(f"no Aachen test-split line images in {iam_dir}")
    # one computation for both (float32), so only the decoder differs
    greedy = Easter2Engine(precision="float32")
    lm = Easter2Engine(decoder="lm", lm_dir=iam_dir, precision="float32")
    refs = [iam.lines[i].text for i in ids]
    images = [iam.line_image(i) for i in ids]
    g = [greedy.recognize(im).text for im in images]
    w = [lm.recognize(im).text for im in images]
    assert w[0] == lm_beam_decode(greedy.analyze(images[0], beam=False).probs, language_model(iam_dir)).text
    chars = sum(map(len, refs))
    cer_g = sum(cer(r, h) * len(r) for r, h in zip(refs, g)) / chars
    cer_w = sum(cer(r, h) * len(r) for r, h in zip(refs, w)) / chars
    assert cer_w < cer_g - 0.02, (cer_g, cer_w)


def test_lm_decoder_without_an_iam_copy_says_so(weights, tmp_path):
    from htr.engines.easter2 import Easter2Engine

    eng = Easter2Engine(weights=weights, decoder="lm", lm_dir=tmp_path)
    with pytest.raises(EngineUnavailable, match="no language model: .*train.lines.txt"):
        eng.recognize(synthetic_line(seed=8))


def test_deskew_reads_leaning_real_lines_about_as_well_as_level_ones(iam_dir):
    """The shipped weights on 8 real validation lines, level and turned 6° (as a photo taken askew)."""
    from htr.engines import get_engine
    from htr.data.iam import IAM
    from htr.metrics import aggregate
    from htr.model import DEFAULT_WEIGHTS
    from htr.perturb import perturb

    if not DEFAULT_WEIGHTS.is_file():
        pytest.skip(f"no shipped weights at {DEFAULT_WEIGHTS}")
    iam = IAM(iam_dir)
    have = set(iam.available_lines())
    ids = [i for i in iam.splits("aachen")["validation"] if i in have][:8]
    if len(ids) < 4:
        pytest.skip(f"too few validation line images in {iam_dir}")
    refs = [iam.lines[i].text for i in ids]
    level = [iam.line_image(i) for i in ids]
    tilted = [perturb(g, "rotate", 6) for g in level]
    on, off = get_engine("easter2"), get_engine("easter2", deskew=False)

    def score(engine, images):
        return aggregate(zip(refs, (engine.recognize(g, layout="line").text for g in images))).cer

    assert score(on, level) == score(off, level)  # a level line is read as it is
    assert score(on, tilted) <= score(on, level) + 0.03
    assert score(off, tilted) > 2 * score(on, tilted) + 0.05  # without it, the model loses the line
