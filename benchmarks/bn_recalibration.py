"""Does an EMA model need its BatchNorm statistics re-estimated?

    python benchmarks/bn_recalibration.py --weights RUN/best.weights.h5 \
        [--config tools/finetune_stage4_cpu.json] [--lines 1024] [--iam-dir ../shared/iam]

With ``ema`` set, training validates and saves the moving average of the
trainable weights, but BatchNorm's moving mean and variance are not trainable:
they are the statistics of the raw weights' activations (Keras behaviour). SWA
and EMA write-ups often re-estimate them for the averaged weights. This script
measures the weights as saved and again after every BatchNorm layer's
statistics are re-estimated as the plain average over ``--lines`` training-style
lines (the run's own sample maker: fonts, real lines, TACo, joins; forward
passes in training mode), both on the config's validation sets (``htr.train.
validation_sets``: the same sets, seeds and code as every epoch and
``--validate``).

Writes benchmarks/bn_recalibration.md and .csv.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from benchmarks.report import write_csv, write_md  # noqa: E402
from htr import train  # noqa: E402
from htr.model import build_easter2  # noqa: E402


def reestimate_batchnorm(model, batches) -> int:
    """Set every BatchNorm layer's moving statistics to their mean over ``batches``; returns the layer count."""
    import keras

    layers = [l for l in model._flatten_layers() if isinstance(l, keras.layers.BatchNormalization)]
    for layer in layers:
        layer.moving_mean.assign(np.zeros(layer.moving_mean.shape, np.float32))
        layer.moving_variance.assign(np.ones(layer.moving_variance.shape, np.float32))
    momentum = {id(layer): layer.momentum for layer in layers}
    for k, x in enumerate(batches):
        for layer in layers:  # moving = m * moving + (1 - m) * batch, with m = k/(k+1): a running mean
            layer.momentum = k / (k + 1)
        model(x, training=True)
    for layer in layers:
        layer.momentum = momentum[id(layer)]
    return len(layers)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weights", required=True)
    ap.add_argument("--config", default=str(ROOT / "tools" / "finetune_stage4_cpu.json"))
    ap.add_argument("--lines", type=int, default=1024)
    ap.add_argument("--iam-dir", default=str(ROOT.parent / "shared" / "iam"))
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "bn_recalibration"))
    args = ap.parse_args(argv)
    if not Path(args.weights).is_file():
        print(f"error: no weights file {args.weights}", file=sys.stderr)
        return 2
    iam_dir = args.iam_dir if Path(args.iam_dir, "ascii", "lines.txt").is_file() else None
    cfg = train.config_from_args(train.build_parser().parse_args(
        ["--preset", "cpu", "--config", args.config, "--real-weight", "0.05"]))
    sets = train.validation_sets(cfg, iam_dir)
    model = build_easter2()
    model.load_weights(args.weights)
    rows = [dict(zip(("what", "synth", "real", "fonts", "selection"), ("as saved", *train.validate(model, cfg, sets))))]
    maker = train.SampleMaker(cfg, iam_dir, seed=4242)
    t0 = time.time()
    n_layers = reestimate_batchnorm(
        model, (np.stack([maker.make()[0] for _ in range(16)]).astype(np.float32) / 255.0
                for _ in range(args.lines // 16)))
    secs = time.time() - t0
    rows.append(dict(zip(("what", "synth", "real", "fonts", "selection"),
                         (f"BatchNorm re-estimated on {args.lines // 16 * 16} lines",
                          *train.validate(model, cfg, sets)))))
    write_csv(args.out, rows, digits=5)
    digest = hashlib.sha256(Path(args.weights).read_bytes()).hexdigest()[:12]

    def pct(v):
        return "—" if v is None else f"{100 * v:.2f} %"

    lines = [
        "# BatchNorm statistics of EMA weights: as saved, and re-estimated",
        "",
        f"Weights `{Path(args.weights).name}` (sha256 {digest}…); config `{Path(args.config).name}`; "
        f"{n_layers} BatchNorm layers re-estimated in {secs:.0f} s; date {time.strftime('%Y-%m-%d')}; "
        f"CPU, Keras {__import__('keras').__version__} ({__import__('keras').backend.backend()}).",
        "",
        f"Greedy CER on the config's validation sets: {len(sets['synth'])} synthetic lines in the training "
        f"fonts, {len(sets['real'])} real IAM validation lines, {len(sets['fonts'])} lines in the held-out "
        f"fonts; selection = `{cfg.select}`.",
        "",
        "| weights | synthetic | real validation | held-out fonts | selection |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {r['what']} | {pct(r['synth'])} | {pct(r['real'])} | {pct(r['fonts'])} | {pct(r['selection'])} |"
              for r in rows]
    write_md(args.out, lines)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
