"""CTC loss and its gradient on the CPU: keras.ops.ctc_loss against htr.train.ctc_loss.

    python benchmarks/ctc_speed.py [--batches 4,16] [--steps 394,500] [--repeats 5] [--out benchmarks/ctc_speed]

Why: under TensorFlow, ``keras.ops.ctc_loss`` passes its labels dense, and
TensorFlow then computes CTC with a loop of graph ops; given the same labels
as a sparse tensor ``tf.nn.ctc_loss`` runs its compiled CTC kernel. Both are
timed here, loss and gradient with respect to the logits the log-softmax is taken of, each in
one ``tf.function`` (as a training step runs them), on random posteriors over
the 80 classes and random labels of IAM-like lengths; the largest difference
between the two losses and gradients is printed beside the times. Under JAX
``htr.train.ctc_loss`` is ``keras.ops.ctc_loss`` itself, so there is nothing
to compare.

Output: one JSON line per measurement; ``--out`` writes OUT.md and OUT.csv
with the CPU model and its vector flags.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from benchmarks.latency import cpu_flags, cpu_name, loadavg  # noqa: E402
from benchmarks.report import write_csv, write_md  # noqa: E402


def measure(batch: int, steps: int, repeats: int, seed: int = 0) -> dict:
    import tensorflow as tf
    from keras import ops

    from htr.alphabet import BLANK
    from htr.train import MAX_LABEL, ctc_loss

    rng = np.random.default_rng(seed)
    y = np.full((batch, MAX_LABEL), -1, np.int32)
    for b in range(batch):
        n = int(rng.integers(20, min(60, steps // 2)))  # IAM lines: about 40 characters
        y[b, :n] = rng.integers(0, BLANK, n)
    logits = tf.Variable(rng.normal(0, 2, (batch, steps, BLANK + 1)).astype(np.float32))
    target = np.where(y >= 0, y, 0)
    lengths = (y >= 0).sum(1).astype(np.int32)
    out_len = np.full(batch, steps, np.int32)

    @tf.function
    def dense():
        with tf.GradientTape() as tape:
            loss = ops.ctc_loss(target, tf.nn.log_softmax(logits), lengths, out_len, mask_index=BLANK)
            total = tf.reduce_sum(loss)
        return loss, tape.gradient(total, logits)

    @tf.function
    def kernel():
        with tf.GradientTape() as tape:
            loss = ctc_loss(y, tf.nn.log_softmax(logits))
            total = tf.reduce_sum(loss)
        return loss, tape.gradient(total, logits)

    row = {"batch": batch, "steps": steps}
    results = {}
    for name, fn in (("keras_ops_dense", dense), ("htr_sparse_kernel", kernel)):
        results[name] = [np.asarray(v) for v in fn()]  # trace and warm up
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            loss, grad = fn()
            np.asarray(grad)
            times.append(time.perf_counter() - t)
        row[f"{name}_ms"] = round(1000 * float(np.median(times)), 2)
    (l0, g0), (l1, g1) = results["keras_ops_dense"], results["htr_sparse_kernel"]
    row["speedup"] = round(row["keras_ops_dense_ms"] / row["htr_sparse_kernel_ms"], 1)
    row["max_loss_rel_diff"] = float(f"{np.max(np.abs(l0 - l1) / np.abs(l0)):.2e}")
    row["max_grad_abs_diff"] = float(f"{np.max(np.abs(g0 - g1)):.2e}")
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batches", default="4,16")
    ap.add_argument("--steps", default="394,500", help="time steps (input width / 4)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", help="write OUT.md and OUT.csv")
    args = ap.parse_args(argv)

    import keras

    if keras.backend.backend() != "tensorflow":
        print("error: this compares TensorFlow's two CTC paths; run it with KERAS_BACKEND=tensorflow",
              file=sys.stderr)
        return 2
    flags = [f for f, have in cpu_flags().items() if have]
    rows = []
    for b in (int(v) for v in args.batches.split(",")):
        for t in (int(v) for v in args.steps.split(",")):
            rows.append(measure(b, t, args.repeats))
            print(json.dumps(rows[-1]), flush=True)
    if args.out:
        cmd = "python benchmarks/ctc_speed.py " + " ".join(argv if argv is not None else sys.argv[1:])
        lines = [
            "# CTC loss and gradient on the CPU: keras.ops.ctc_loss (dense labels) vs htr.train.ctc_loss "
            "(sparse labels, TensorFlow's kernel)",
            "",
            f"Command: `{cmd}`; date {time.strftime('%Y-%m-%d', time.gmtime())}; TensorFlow backend, "
            f"Keras {keras.__version__}; CPU {cpu_name()}, {len(os.sched_getaffinity(0))} cores, vector flags: "
            f"{', '.join(flags) or 'unknown'}; load average at the end {loadavg()}.",
            "",
            "Median of the repeats, loss and gradient of one batch in one compiled function; the differences are "
            "between the two paths' losses (relative) and gradients (absolute).",
            "",
            "| batch | steps | keras.ops.ctc_loss ms | htr.train.ctc_loss ms | speed-up | loss rel. diff | grad abs. diff |",
            "|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in rows:
            lines.append(f"| {r['batch']} | {r['steps']} | {r['keras_ops_dense_ms']} | {r['htr_sparse_kernel_ms']} "
                         f"| {r['speedup']}× | {r['max_loss_rel_diff']:.1e} | {r['max_grad_abs_diff']:.1e} |")
        write_md(args.out, lines)
        write_csv(args.out, rows)
        print(f"wrote {args.out}.md and .csv")
    return 0


if __name__ == "__main__":
    sys.exit(main())
