"""benchmarks/robustness.py and benchmarks/slant.py on real lines: their numbers are the engine's CER there."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_robustness_benchmark_scores_each_level(tmp_path, iam_dir):
    from htr.engines import get_engine
    from htr.data.iam import IAM
    from htr.metrics import aggregate
    from htr.perturb import DISTORTIONS, perturb

    out = tmp_path / "rob"
    proc = subprocess.run([sys.executable, "benchmarks/robustness.py", "--iam-dir", str(iam_dir), "--distortions",
                           "fade", "--engines", "easter2", "--lines", "2", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    if proc.returncode == 2 and "not available" in proc.stderr:
        pytest.skip(proc.stderr.strip())
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = list(csv.DictReader((out.with_suffix(".csv")).open()))
    levels = DISTORTIONS["fade"].levels
    engines = {"easter2": get_engine("easter2"), "easter2 (no deskew)": get_engine("easter2", deskew=False)}
    assert sorted((float(r["level"]), r["engine"]) for r in rows) == sorted((lv, e) for lv in levels for e in engines)
    iam = IAM(iam_dir)
    ids = sorted(i for i in iam.lines if i.startswith("e06-") and iam.has_line_image(i))[:2]
    for r in rows:  # the numbers are the engine's CER on those lines, so distorted
        level = float(r["level"])
        hyps = [engines[r["engine"]].recognize(perturb(iam.line_image(i), "fade", level, seed=k), layout="line").text
                for k, i in enumerate(ids)]
        assert float(r["cer"]) == round(aggregate(zip((iam.lines[i].text for i in ids), hyps)).cer, 5)
    md = out.with_suffix(".md").read_text()
    assert "## Faded ink" in md and "| original |" in md


def test_robustness_benchmark_refuses_an_unknown_distortion(tmp_path):
    proc = subprocess.run([sys.executable, "benchmarks/robustness.py", "--distortions", "smudge",
                           "--out", str(tmp_path / "x")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "unknown smudge" in proc.stderr and "Traceback" not in proc.stderr


def test_slant_benchmark_measures_leans_and_sheared_cer(tmp_path, iam_dir):
    from htr.engines import get_engine
    from htr.data.iam import IAM
    from htr.metrics import aggregate
    from htr.preprocess import slant_angle

    out = tmp_path / "slant"
    proc = subprocess.run([sys.executable, "benchmarks/slant.py", "--iam-dir", str(iam_dir), "--synthetic", "6",
                           "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=900)
    if proc.returncode == 2 and "not available" in proc.stderr:
        pytest.skip(proc.stderr.strip())
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = list(csv.DictReader(out.with_suffix(".csv").open()))
    iam = IAM(iam_dir)
    ids = sorted(i for i in iam.lines if i.startswith("e06-") and iam.has_line_image(i))
    lean = {r["set"]: r for r in rows if r["kind"] == "slant"}
    assert float(lean["real e06 (all)"]["median"]) == round(float(np.median([slant_angle(iam.line_image(i))
                                                                               for i in ids])), 1)
    assert lean["synthetic lines, default style (stages 1–4b)"]["n"] == "6"
    level = {r["set"]: r for r in rows if r["kind"] == "shear" and r["shear_deg"] == "0"}
    engine = get_engine("easter2")
    score = aggregate((iam.lines[i].text, engine.recognize(iam.line_image(i), layout="line").text) for i in ids)
    assert float(level["real e06 (all)"]["cer"]) == round(score.cer, 5)
    assert int(level["real e06 (all)"]["char_edits"]) == score.char_edits
    assert "| +15° |" in out.with_suffix(".md").read_text()
