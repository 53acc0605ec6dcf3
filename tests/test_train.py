"""End-to-end smoke test of `python -m htr train`: a tiny run, then a resume.

Runs the real pipeline (render workers, replay buffer, focal CTC, validation,
checkpoints, CSV log, curves, export) on the 'smoke' preset, so it is short.
"""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def _run(args, env_extra=None):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1")
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-m", "htr", "train", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )


def test_train_smoke_then_resume(tmp_path):
    out = tmp_path / "run"
    export = tmp_path / "exported.weights.h5"
    r = _run(["--preset", "smoke", "--out", str(out), "--export", str(export)], {"IAM_DIR": ""})
    assert r.returncode == 0, r.stderr[-3000:]
    for name in ("log.csv", "curves.png", "best.weights.h5", "last.keras", "optimizer.npz", "state.json"):
        assert (out / name).is_file(), name
    rows = list(csv.DictReader((out / "log.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert all(np.isfinite(float(r["loss"])) and float(r["loss"]) > 0 for r in rows)
    assert all(np.isfinite(float(r["val_cer_synth"])) for r in rows)  # every epoch was validated (no blank, no nan)
    assert export.is_file()

    # the exported weights load through the app's loader (no pickle, right shapes)
    from htr.model import load_model

    model = load_model(export)
    probs = np.asarray(model.predict_on_batch(np.zeros((1, 2000, 80), np.float32)))
    assert probs.shape == (1, 500, 80)
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-4)

    # resume continues from epoch 2 up to the new epoch limit
    cfg = tmp_path / "more.json"
    # and from here on: validate the weights' average, and on two fonts kept out of training
    cfg.write_text(json.dumps({"epochs": 3, "ema": 0.9, "holdout_fonts": ["kristi", "zeyada"], "select": "real+fonts"}))
    r = _run(["--preset", "smoke", "--config", str(cfg), "--out", str(out), "--resume"], {"IAM_DIR": ""})
    assert r.returncode == 0, r.stderr[-3000:]
    assert "resumed from epoch 2" in r.stdout
    rows = list(csv.DictReader((out / "log.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert np.isfinite(float(rows[-1]["val_cer_fonts"]))  # the held-out fonts were read (a blank cell: not)
    assert "8 lines in 2 fonts never trained on" in r.stdout
    assert json.loads((out / "state.json").read_text())["epoch"] == 3


def test_an_epoch_above_real_max_is_never_the_best(tmp_path, iam_dir):
    """A ship rule's bound on the real validation lines: an untrained epoch cannot pass it."""
    out = tmp_path / "run"
    cfg = tmp_path / "bound.json"
    cfg.write_text(json.dumps({"epochs": 1, "real_max": 0.05}))
    r = _run(["--preset", "smoke", "--config", str(cfg), "--iam-dir", str(iam_dir), "--out", str(out)])
    assert r.returncode == 0, r.stderr[-3000:]
    rows = list(csv.DictReader((out / "log.csv").open()))
    assert float(rows[0]["val_cer_real"]) > 0.05
    assert "is above real_max 0.05: it cannot be the best epoch" in r.stdout
    assert (out / "last.weights.h5").is_file() and not (out / "best.weights.h5").exists()
    assert json.loads((out / "state.json").read_text())["best"] is None
