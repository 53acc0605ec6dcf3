"""Training lines per second on real training lines: every step on the whole layout, or grouped by width.

    KERAS_BACKEND=jax python benchmarks/train_speed.py --config tools/finetune_hands_stage7_cpu.json \\
        --iam-dir ../shared/iam --out benchmarks/train_speed

Why (issue #19, item 5): on this 2-core CPU a training step on the
2000-column layout made 3-8 lines a second, but a typical training line has
ink in about half the layout. ``buckets`` in a training config groups lines by
width and computes only the first W columns of the layout
(:class:`htr.model.LayoutTrainer`, equal to the whole layout to float rounding:
``tests/test_layout_trainer.py``), with batch statistics or, ``frozen_bn``, with
the moving ones (how stage 7 trained, see ``models/training/stage7_plan.md``).
Same recipe every way: the config's sources
and augmentation fill one replay buffer (``--lines`` samples made by
:class:`htr.train.SampleMaker`, as the render worker makes them), and each way
draws its batches from it with the training loop's own code
(:class:`htr.train.ReplayBuffer`) and runs the training loop's own step
(``train_on_batch``: focal CTC, Adam with EMA, clipping). Every width is
compiled before the clock starts; then steps are timed for ``--seconds``.
Rendering is not in the timed loop (on the CPU it runs in its own process,
about 12 ms a line: see the output's ``render_ms``).

Output: one JSON line per measurement; ``--out`` writes OUT.md and OUT.csv,
with the CPU model and its vector flags.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from benchmarks.latency import VECTOR_FLAGS, cpu_flags, cpu_name  # noqa: E402
from benchmarks.report import write_csv, write_md  # noqa: E402

DEFAULT_BUCKETS = "512,768,1024,1280,1536,1792"


def make_lines(cfg, iam_dir: str | None, n: int, seed: int):
    from htr.train import SampleMaker

    maker = SampleMaker(cfg, iam_dir, seed)
    t = time.perf_counter()
    samples = [maker.make() for _ in range(n)]
    return samples, (time.perf_counter() - t) / n


def measure(cfg, samples, buckets: list[int], seconds: float, frozen_bn: bool = False) -> dict:
    import keras

    from htr.model import LayoutTrainer, build_easter2
    from htr.train import ReplayBuffer, focal_ctc_loss, pixel_model, MAX_LABEL

    keras.utils.set_random_seed(0)
    model = build_easter2()
    trainer = LayoutTrainer(model, cfg.width, frozen_bn=frozen_bn) if buckets else pixel_model(model, cfg.width)
    trainer.compile(optimizer=keras.optimizers.Adam(1e-4, clipnorm=5.0, use_ema=cfg.ema > 0,
                                                    ema_momentum=cfg.ema or 0.99),
                    loss=focal_ctc_loss(cfg.focal_alpha, cfg.focal_gamma),
                    jit_compile=keras.backend.backend() == "jax")
    buf = ReplayBuffer(len(samples), cfg.width, 0, buckets)
    xs, ys = zip(*samples)
    buf.add(np.stack(xs), list(ys))

    def step(x, y):
        yy = np.full((len(y), MAX_LABEL), -1, np.int32)
        yy[:, : y.shape[1]] = y
        return float(trainer.train_on_batch(x, yy, return_dict=True)["loss"])

    t = time.perf_counter()
    for w in sorted(set(buf.w[: buf.size].tolist())):  # compile every width before the clock starts
        group = np.flatnonzero(buf.w[: buf.size] == w)[: cfg.batch]
        x, y = buf.x[group, :w], buf.y[group]
        step(x, y[:, : max(1, int((y >= 0).sum(axis=1).max()))])
    compile_s = time.perf_counter() - t
    n = lines = 0
    widths = []
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        x, y = buf.batch(cfg.batch)
        loss = step(x, y)
        n += 1
        lines += len(x)
        widths.append(x.shape[1])
    dt = time.perf_counter() - t0
    mode = "grouped " + "/".join(map(str, buckets)) + (", frozen batch norm" if frozen_bn else "") if buckets \
        else "whole layout"
    return {"mode": mode,
            "batch": cfg.batch, "steps": n, "seconds": round(dt, 1), "steps_per_s": round(n / dt, 3),
            "lines_per_s": round(lines / dt, 2), "mean_width": round(float(np.mean(widths)), 0),
            "compile_s": round(compile_s, 1), "loss_finite": bool(np.isfinite(loss))}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", required=True, help="training config (JSON) whose sources make the lines")
    ap.add_argument("--iam-dir", default=os.environ.get("IAM_DIR"))
    ap.add_argument("--hands-dir", default=None)
    ap.add_argument("--lines", type=int, default=800, help="training lines to make for the buffer")
    ap.add_argument("--buckets", default=DEFAULT_BUCKETS, help="comma-separated input widths")
    ap.add_argument("--batches", default="16", help="comma-separated batch sizes")
    ap.add_argument("--seconds", type=float, default=120.0, help="timing window per measurement")
    ap.add_argument("--out", help="write OUT.md and OUT.csv")
    args = ap.parse_args(argv)

    import keras

    from htr.data.hands import default_hands_dir
    from htr.train import PRESETS

    cfg = replace(PRESETS["cpu"], **json.loads(Path(args.config).read_text()))
    cfg = replace(cfg, hands_dir=str(args.hands_dir or default_hands_dir()), buckets=[])
    samples, render_s = make_lines(cfg, args.iam_dir, args.lines, seed=123)
    buckets = [int(b) for b in args.buckets.split(",")]
    head = {"backend": keras.backend.backend(), "keras": keras.__version__, "cpu": cpu_name(),
            "cores": len(os.sched_getaffinity(0)), "flags": [f for f, have in cpu_flags().items() if have],
            "lines": len(samples),
            "render_ms": round(render_s * 1000, 1)}
    print(json.dumps(head), flush=True)
    rows = []
    for b in (int(v) for v in args.batches.split(",")):
        for bk, frozen in (([], False), (buckets, False), (buckets, True)):
            r = measure(replace(cfg, batch=b), samples, bk, args.seconds, frozen)
            rows.append(r)
            print(json.dumps(r), flush=True)
    if args.out:
        out = Path(args.out)
        write_csv(out, rows)
        md = [
            "# Training lines per second: the whole layout or grouped by width (`benchmarks/train_speed.py`)",
            "",
            f"Command: `KERAS_BACKEND={head['backend']} python benchmarks/train_speed.py --config {args.config} "
            f"{'--iam-dir IAM ' if args.iam_dir else ''}--lines {args.lines} --seconds {args.seconds:g} "
            f"--batches {args.batches} --buckets {args.buckets}`; "
            f"date {time.strftime('%Y-%m-%d')}; Keras {head['keras']}; CPU {head['cpu']}, {head['cores']} cores, "
            f"vector flags: {', '.join(head['flags']) or 'none of ' + ', '.join(VECTOR_FLAGS)}. "
            f"{head['lines']} training lines made by the config's sources (rendering: {head['render_ms']} ms a line, "
            "in its own process during training, not timed here); the training step of `htr train` on them.",
            "",
            "| mode | batch | steps/s | lines/s | mean input width | compile s |",
            "|---|---|---|---|---|---|",
            *(f"| {r['mode']} | {r['batch']} | {r['steps_per_s']} | {r['lines_per_s']} | {r['mean_width']:.0f} | "
              f"{r['compile_s']} |" for r in rows),
            "",
        ]
        write_md(out, md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
