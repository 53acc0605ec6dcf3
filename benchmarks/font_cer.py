"""CER of the shipped weights font by font: hands it trained on against hands it never saw.

    python benchmarks/font_cer.py [--weights models/easter2.weights.h5] [--per-font 12]

Every vendored font draws the same number of held-back synthetic lines (a
seed training never used, generated English text, the training renderer's
default style). The fonts are split by ``models/training/fonts.txt``, the list
of those the shipped weights were trained on: CER on the others measures what
real lines measure too, reading a hand the model has not seen, with no IAM
data involved. Greedy decoding, Keras float32, lines padded to 2000 columns
(as ``model_cer.py``).

Writes benchmarks/font_cer.md and benchmarks/font_cer.csv.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.eval_lines import SYNTH_SEED, font_synthetic  # noqa: E402
from benchmarks.report import write_csv, write_md  # noqa: E402
from htr import ctc  # noqa: E402
from htr.metrics import aggregate  # noqa: E402
from htr.weights import DEFAULT_WEIGHTS, fonts_seen_by_shipped_weights  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weights", default=str(DEFAULT_WEIGHTS))
    ap.add_argument("--per-font", type=int, default=12)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "font_cer"))
    args = ap.parse_args(argv)
    seen = fonts_seen_by_shipped_weights()
    if not seen:
        print("skipped: models/training/fonts.txt is missing: which fonts were trained on is unknown",
              file=sys.stderr)
        return 2
    from benchmarks.inference_cer import keras_probs
    from htr.model import load_model

    t0 = time.perf_counter()
    names, texts, images = font_synthetic(args.per_font)
    model = load_model(args.weights)
    rows, pairs = [], {"trained on": [], "never seen": []}
    for name, ts, ims in zip(names, texts, images):
        hyps = [ctc.greedy_decode(p).text for p in keras_probs(model, ims, 2000)]
        group = "trained on" if name in seen else "never seen"
        pairs[group] += list(zip(ts, hyps))
        s = aggregate(zip(ts, hyps))
        rows.append({"font": name, "group": group, "lines": len(ts), "chars": sum(map(len, ts)),
                     "cer": round(s.cer, 4), "wer": round(s.wer, 4)})
    write_csv(args.out, rows)

    def pct(v: float) -> str:
        return f"{100 * v:.2f} %"

    md = [
        "# CER by font: hands the shipped model trained on, and hands it never saw",
        "",
        f"Weights `{Path(args.weights).name}`; command `python benchmarks/font_cer.py --per-font {args.per_font}`; "
        f"date {time.strftime('%Y-%m-%d')}; {time.perf_counter() - t0:.0f} s on this CPU. "
        f"{args.per_font} held-back synthetic lines per font (seed {SYNTH_SEED + 1}, generated English), "
        "greedy, Keras float32, padded to 2000 columns. Trained on: `models/training/fonts.txt`.",
        "",
        "| fonts | how many | lines | CER | WER |",
        "|---|---|---|---|---|",
    ]
    for group, ps in pairs.items():
        if ps:
            s = aggregate(ps)
            n = sum(r["group"] == group for r in rows)
            md.append(f"| {group} | {n} | {len(ps)} | {pct(s.cer)} | {pct(s.wer)} |")
    md += ["", "Fonts never seen, and the ten hardest fonts of all:", "",
           "| font | group | CER | WER |", "|---|---|---|---|"]
    shown = [r for r in rows if r["group"] == "never seen"]
    shown += [r for r in sorted(rows, key=lambda r: -r["cer"])[:10] if r not in shown]
    md += [f"| {r['font']} | {r['group']} | {pct(r['cer'])} | {pct(r['wer'])} |" for r in shown]
    md += ["", "Per font: `font_cer.csv`."]
    write_md(args.out, md)
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
