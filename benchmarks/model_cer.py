"""CER/WER of the shipped Easter2 weights on real IAM lines and held-back synthetic lines.

    python benchmarks/model_cer.py [--weights models/easter2.weights.h5] [--iam-dir ../shared/iam]

Real lines: every e06-* line image of the IAM copy (validation/test forms; the
shipped model never trained on them). They are reported together and by
Aachen split, since the validation lines chose the checkpoint and the test
lines did not. Synthetic: 300 lines rendered with a seed the training never
used. Both decoders (greedy, beam) and both width policies (padded to the
2000-column layout, and the line's true width) are measured.

Writes benchmarks/model_cer.md and benchmarks/model_cer.csv (line ids and
numbers only: no IAM text or image is written).
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

from benchmarks.report import write_csv, write_md  # noqa: E402

from benchmarks.eval_lines import add_iam_dir, e06_lines, heldback_synthetic  # noqa: E402
from htr import ctc  # noqa: E402
from htr.metrics import aggregate, cer  # noqa: E402
from htr.model import DEFAULT_WEIGHTS, load_model  # noqa: E402
from inference_cer import keras_probs as read_all  # noqa: E402  (the Keras reference path)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weights", default=str(DEFAULT_WEIGHTS))
    add_iam_dir(ap)
    ap.add_argument("--synthetic", type=int, default=300)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "model_cer"))
    args = ap.parse_args()
    e06 = e06_lines(args.iam_dir)
    ids, refs, images, split = e06.ids, e06.refs, e06.images, e06.split
    model = load_model(args.weights)
    syn_texts, syn_images = heldback_synthetic(args.synthetic)

    rows, summary = [], []
    for width, wname in ((2000, "fit-2000"), (None, "true-width")):
        t0 = time.perf_counter()
        real_probs = read_all(model, images, width)
        secs = (time.perf_counter() - t0) / len(images)
        syn_probs = read_all(model, syn_images, width)
        for dec in ("greedy", "beam"):
            f = ctc.greedy_decode if dec == "greedy" else ctc.beam_decode
            hyps = [f(p).text for p in real_probs]
            syn_hyps = [f(p).text for p in syn_probs]
            for g, ks in e06.groups().items():
                if ks:
                    s = aggregate((refs[k], hyps[k]) for k in ks)
                    summary.append((g, len(ks), wname, dec, s.cer, s.wer, secs))
            s = aggregate(zip(syn_texts, syn_hyps))
            summary.append(("synthetic held-back", len(syn_texts), wname, dec, s.cer, s.wer, None))
            for k, i in enumerate(ids):
                rows.append({"line": i, "split": split[i], "width": wname, "decoder": dec,
                             "chars": len(refs[k]), "cer": round(cer(refs[k], hyps[k]), 4)})

    out = Path(args.out)
    write_csv(out, rows)
    shipped = Path(args.weights).resolve() == Path(DEFAULT_WEIGHTS).resolve()
    digest = hashlib.sha256(Path(args.weights).read_bytes()).hexdigest()[:12]
    flags = "" if shipped else f" --weights {Path(args.weights).name} --out {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}"
    lines = [
        f"# Easter2 ({'shipped weights' if shipped else 'candidate weights, not shipped'}): CER / WER",
        "",
        f"Weights: `{Path(args.weights).name}` (sha256 {digest}…); command: `python benchmarks/model_cer.py{flags}`; "
        f"date {time.strftime('%Y-%m-%d')}; CPU, TensorFlow {__import__('tensorflow').__version__}.",
        "",
        "| set | lines | width policy | decoder | CER | WER | s/line (CPU, batch 1) |",
        "|---|---|---|---|---|---|---|",
    ]
    for g, n, wname, dec, c, wr, secs in summary:
        lines.append(f"| {g} | {n} | {wname} | {dec} | {c:.2%} | {wr:.2%} | {'' if secs is None else f'{secs:.3f}'} |")
    lines += ["", f"Per-line CER: `{out.name}.csv` (ids and numbers only)."]
    write_md(out, lines)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
