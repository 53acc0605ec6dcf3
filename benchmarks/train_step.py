"""Training-step throughput of `htr.train`, by batch size and by how batches are fed.

    python benchmarks/train_step.py [--batches 16,64] [--seconds 20] [--out benchmarks/train_step]
    KERAS_BACKEND=jax python benchmarks/train_step.py --batches 64,128,256   # on a GPU machine

Why: the shipped weights were trained at 10-11 optimiser steps/s at batch 64
on both an H100 and an H200, a sign that something other than the GPU set
the pace. This times the exact step `htr.train` runs (focal CTC, Adam,
gradient clipping, mixed bfloat16 on a GPU) with the batch already made, so
neither rendering nor the replay buffer is measured, two ways:

* ``float32``: the batch converted to float32 on the host (x / 255) and fed to
  the model (how training ran until 2026-11-26);
* ``uint8``: the uint8 batch fed to :func:`htr.train.pixel_model`, which scales
  it in the graph (how training runs now: 4x fewer bytes, no host conversion).

Each measurement warms up (compilation) for two steps, then counts steps for
``--seconds``. One JSON line per measurement on stdout; ``--out`` also writes
a markdown table and a CSV. Inputs are random pixels with random labels of
IAM-like lengths (they exercise the same shapes and work as real lines).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.report import write_csv, write_md  # noqa: E402

import numpy as np  # noqa: E402


def _batch(rng: np.random.Generator, n: int, width: int):
    from htr.train import MAX_LABEL

    x = (rng.random((n, width, 80)) < 0.08).astype(np.uint8) * 255  # sparse "ink"
    y = np.full((n, MAX_LABEL), -1, np.int32)
    for row in y:
        k = int(rng.integers(20, 80))  # IAM lines carry 20-80 characters
        row[:k] = rng.integers(0, 79, k)
    return x, y


def measure(batch: int, feed: str, seconds: float, width: int = 2000) -> dict:
    import keras

    from htr.model import build_easter2
    from htr.train import focal_ctc_loss, pixel_model

    model = build_easter2()
    net = pixel_model(model, width) if feed == "uint8" else model
    net.compile(optimizer=keras.optimizers.Adam(1e-4, clipnorm=5.0), loss=focal_ctc_loss(0.25, 0.5),
                jit_compile=keras.backend.backend() == "jax")
    rng = np.random.default_rng(batch)
    xs, ys = _batch(rng, batch, width)

    def step():
        x = xs if feed == "uint8" else xs.astype(np.float32) / 255.0
        return float(net.train_on_batch(x, ys, return_dict=True)["loss"])

    step()
    step()
    n, t0 = 0, time.perf_counter()
    while True:
        loss = step()
        n += 1
        dt = time.perf_counter() - t0
        if dt >= seconds:
            break
    return {"batch": batch, "feed": feed, "steps": n, "steps_per_s": round(n / dt, 2),
            "lines_per_s": round(n * batch / dt, 1), "loss_finite": bool(np.isfinite(loss))}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batches", default="16,64", help="comma-separated batch sizes")
    ap.add_argument("--feeds", default="float32,uint8")
    ap.add_argument("--seconds", type=float, default=20.0, help="timing window per measurement")
    ap.add_argument("--width", type=int, default=2000)
    ap.add_argument("--out", help="write OUT.md and OUT.csv")
    args = ap.parse_args(argv)
    import keras

    from htr.train import _has_gpu

    backend = keras.backend.backend()
    gpu = _has_gpu(backend)
    if gpu:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    device = "GPU" if gpu else "CPU"
    if backend == "jax":
        import jax

        device = getattr(jax.devices()[0], "device_kind", device)
    head = {"backend": backend, "device": device, "mixed_bfloat16": gpu, "keras": keras.__version__}
    print(json.dumps(head), flush=True)
    rows = []
    for b in (int(v) for v in args.batches.split(",")):
        for feed in args.feeds.split(","):
            r = measure(b, feed, args.seconds, args.width)
            rows.append(r)
            print(json.dumps(r), flush=True)
    if args.out:
        out = Path(args.out)
        write_csv(out, rows)
        md = [
            "# Training-step throughput (`htr.train`'s step, batch already made)",
            "",
            f"Command: `python benchmarks/train_step.py --batches {args.batches} --seconds {args.seconds:g}`; "
            f"date {time.strftime('%Y-%m-%d')}; backend {backend}, device {device}, Keras {keras.__version__}"
            f"{', mixed bfloat16' if gpu else ', float32'}; width {args.width}.",
            "",
            "| batch | feed | steps/s | lines/s |",
            "|---|---|---|---|",
            *(f"| {r['batch']} | {r['feed']} | {r['steps_per_s']} | {r['lines_per_s']} |" for r in rows),
            "",
        ]
        write_md(out, md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
