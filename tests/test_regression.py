"""The shipped weights still read the 42 shared e06 lines as the committed benchmarks say.

A worse model must not land silently, and a published figure must not drift
from the weights it describes. The bounds are read FROM the committed
benchmark output, not written here, so rerunning the benchmark with new
weights moves the test with it:

* ``benchmarks/model_cer.csv`` (``python benchmarks/model_cer.py``): per line,
  its characters and greedy CER at the 2000-column layout through Keras. The
  recorded total of character errors is ``sum(round(cer * chars))``; the
  weights measured here must make that many errors, give or take
  ``SLACK`` characters (of about 1,610), through the same path.
* ``benchmarks/inference_cer.csv`` (``python benchmarks/inference_cer.py``):
  the same for the int8 reader (``path = engine int8``), and its excess over
  float32 (int8 errors minus Keras errors) at most the recorded excess plus
  ``SLACK``.

Either way, a difference beyond the slack means: the weights changed and the
benchmarks were not rerun, or the weights got worse.

``HTR_REGRESSION_WEIGHTS=/path/to.weights.h5`` points the test at other
weights (to show that it fails, e.g. with stage 3's file from git history:
``git show e4fe8cd~1:models/easter2.weights.h5 > /tmp/stage3.weights.h5``).
Needs the IAM lines (``$IAM_DIR``, else ``../shared/iam``; skipped without).
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
SLACK = 3  # characters of the ~1,610 in the 42 lines (about 0.2 points of CER)
WIDTH = 2000

pytestmark = pytest.mark.slow


def recorded_errors(csv_path: Path, **match: str) -> dict[str, int]:
    """Character errors per line id, from a committed per-line benchmark CSV (rows matching ``match``)."""
    out = {}
    with csv_path.open() as f:
        for row in csv.DictReader(f):
            if all(row[k] == v for k, v in match.items()):
                out[row["line"]] = round(float(row["cer"]) * int(row["chars"]))
    assert out, f"no rows matching {match} in {csv_path}"
    return out


def weights_under_test() -> Path:
    return Path(os.environ.get("HTR_REGRESSION_WEIGHTS") or ROOT / "models" / "easter2.weights.h5")


@pytest.fixture(scope="module")
def e06(iam_dir):
    from htr.data.iam import IAM

    iam = IAM(iam_dir)
    ids = sorted(i for i in iam.lines if i.startswith("e06-") and iam.has_line_image(i))
    want = set(recorded_errors(ROOT / "benchmarks" / "model_cer.csv", width="fit-2000", decoder="greedy"))
    if set(ids) != want:
        pytest.skip(f"the IAM copy at {iam_dir} does not hold the {len(want)} e06 lines the benchmark measured")
    return ids, [iam.lines[i].text for i in ids], [iam.line_image(i) for i in ids]


def _errors(ids, refs, readings) -> dict[str, int]:
    from htr.metrics import char_edits

    return {i: char_edits(r, h) for i, r, h in zip(ids, refs, readings)}


@pytest.fixture(scope="module")
def keras_errors(e06):
    """Character errors per line of the weights under test, greedy, Keras path, 2000 columns (as model_cer.py)."""
    from htr import ctc
    from htr.model import load_model
    from htr.preprocess import prepare_line

    ids, refs, images = e06
    model = load_model(weights_under_test())
    reads = []
    for g in images:
        p = prepare_line(g, WIDTH)
        reads.append(ctc.best_path(np.asarray(model.predict_on_batch(p.x[None]))[0, : p.content_steps]).text)
    return _errors(ids, refs, reads)


def _report(got: dict[str, int], want: dict[str, int]) -> str:
    moved = {i: (want[i], got[i]) for i in sorted(got) if got[i] != want[i]}
    return f"{sum(got.values())} errors measured, {sum(want.values())} recorded; lines that moved (recorded, now): {moved}"


def test_greedy_cer_of_the_weights_is_the_one_the_benchmark_recorded(e06, keras_errors):
    want = recorded_errors(ROOT / "benchmarks" / "model_cer.csv", width="fit-2000", decoder="greedy")
    assert abs(sum(keras_errors.values()) - sum(want.values())) <= SLACK, (
        "the weights read the 42 e06 lines differently from benchmarks/model_cer.csv: worse weights, or "
        "new weights without a rerun of benchmarks/model_cer.py. " + _report(keras_errors, want))


def test_int8_reader_agrees_with_float32_as_the_benchmark_recorded(e06, keras_errors):
    from htr.engines.easter2 import Easter2Engine
    from htr.preprocess import prepare_line

    source = ROOT / "benchmarks" / "inference_cer.csv"
    want8 = recorded_errors(source, width="fit-2000", path="engine int8", decoder="greedy")
    want32 = recorded_errors(source, width="fit-2000", path="keras", decoder="greedy")
    engine = Easter2Engine(weights=weights_under_test(), width=WIDTH, precision="int8")
    if engine.reading_precision != "int8":
        pytest.skip(f"no int8 reader here: {engine.availability()[1]}")
    ids, refs, images = e06
    from htr import ctc

    preps = [prepare_line(g, WIDTH) for g in images]
    probs = engine._forward(preps)
    got8 = _errors(ids, refs, [ctc.best_path(pr[: p.content_steps]).text for pr, p in zip(probs, preps)])
    assert abs(sum(got8.values()) - sum(want8.values())) <= SLACK, (
        "the int8 reader reads the 42 e06 lines differently from benchmarks/inference_cer.csv: "
        + _report(got8, want8))
    excess, recorded_excess = sum(got8.values()) - sum(keras_errors.values()), sum(want8.values()) - sum(want32.values())
    assert excess <= recorded_excess + SLACK, (
        f"int8 makes {excess} more errors than float32 here; the benchmark recorded {recorded_excess}")


def test_the_benchmarks_measured_the_shipped_file():
    """model_cer.md names the sha256 of the weights it measured: the shipped file's."""
    text = (ROOT / "benchmarks" / "model_cer.md").read_text()
    found = re.search(r"sha256 ([0-9a-f]{12})", text)
    assert found, "benchmarks/model_cer.md does not say which weights it measured"
    shipped = hashlib.sha256((ROOT / "models" / "easter2.weights.h5").read_bytes()).hexdigest()
    assert shipped.startswith(found.group(1)), (
        f"models/easter2.weights.h5 is {shipped[:12]}…, benchmarks/model_cer.md measured {found.group(1)}…: "
        "rerun benchmarks/model_cer.py (and inference_cer.py) for the new weights")
