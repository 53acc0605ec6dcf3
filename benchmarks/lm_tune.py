"""Choose the character language model's order and weights on the validation lines; report CER.

    python benchmarks/lm_tune.py [--iam-dir DIR] [--out benchmarks/lm_tune]

The model reads every e06-* line once (the shipped weights, as
``Easter2Engine`` runs them); its probabilities are then decoded greedily,
by Keras' beam search, and by :func:`htr.lm.lm_beam_decode` with a
:class:`htr.lm.CharLM` fitted on the Aachen-train transcriptions only.

Chosen on the 32 *validation* lines alone, by rules fixed before looking:
the n-gram order with the lowest per-character perplexity of the validation
text; then ``alpha`` (LM weight) and ``beta`` (per-character bonus) with the
lowest validation CER, ties to the smaller ``alpha``, then the smaller
``beta`` (the choice closest to no language model). The test form e06-033 is
only reported. Writes markdown and a CSV of numbers (no IAM text).
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import sys
import time
from pathlib import Path

import editdistance
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from eval_lines import add_iam_dir, e06_lines  # noqa: E402

ORDERS = (3, 4, 5, 6, 7, 8)
ALPHAS = (0.2, 0.35, 0.5, 0.65, 0.8, 1.0)
BETAS = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0)


def cer_of(refs, hyps, idx) -> float:
    errors = sum(editdistance.eval(refs[k], hyps[k]) for k in idx)
    return errors / max(1, sum(len(refs[k]) for k in idx))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_iam_dir(ap)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "lm_tune"), help="path prefix of the .md/.csv")
    ap.add_argument("--beam", type=int, default=16)
    args = ap.parse_args(argv)

    from htr import ctc
    from htr.engines.easter2 import Easter2Engine
    from htr.lm import CharLM
    from htr.data.synth.corpus import iam_train_texts

    lines = e06_lines(args.iam_dir)
    groups = lines.groups()
    val, test = groups["real e06 validation"], groups["real e06 test"]
    refs = lines.refs

    t0 = time.perf_counter()
    texts = iam_train_texts(Path(args.iam_dir))
    engine = Easter2Engine()
    probs = [engine.analyze(im, beam=False).probs for im in lines.images]
    print(f"{len(probs)} lines read in {time.perf_counter() - t0:.1f} s; {len(texts)} train texts", flush=True)

    # 1. order: validation perplexity
    ppl = {}
    for order in ORDERS:
        t = time.perf_counter()
        lm = CharLM.fit(texts, order)
        fit_s = time.perf_counter() - t
        ppl[order] = (lm.perplexity([refs[k] for k in val]), lm.perplexity([refs[k] for k in test]), fit_s)
        print(f"order {order}: val ppl {ppl[order][0]:.3f}, fit {fit_s:.2f} s", flush=True)
    order = min(ORDERS, key=lambda o: (round(ppl[o][0], 3), o))
    lm = CharLM.fit(texts, order)

    from htr.lm import lm_beam_decode

    # 2. alpha, beta: validation CER
    grid = []
    for a in ALPHAS:
        for b in BETAS:
            hyps = {k: lm_beam_decode(probs[k], lm, args.beam, a, b).text for k in val}
            grid.append((a, b, cer_of(refs, hyps, val)))
    best_a, best_b, _ = min(grid, key=lambda r: (round(r[2], 6), r[0], r[1]))

    # 3. report every line with the chosen setting
    rows, timing = [], {}
    decoders = {
        "greedy": lambda p: ctc.best_path(p).text,
        "beam (Keras, no LM)": lambda p: ctc.beam_decode(p, args.beam).text,
        f"beam + {order}-gram LM": lambda p: lm_beam_decode(p, lm, args.beam, best_a, best_b).text,
    }
    hyps_by = {}
    for name, fn in decoders.items():
        t = time.perf_counter()
        hyps_by[name] = [fn(p) for p in probs]
        timing[name] = (time.perf_counter() - t) / len(probs)
    for name, hyps in hyps_by.items():
        for gname, idx in groups.items():
            rows.append({"decoder": name, "set": gname, "lines": len(idx), "cer": round(cer_of(refs, hyps, idx), 5),
                         "ms_per_line": round(timing[name] * 1000, 1)})

    out = Path(args.out)
    with open(out.with_suffix(".csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
        for a, b, c in grid:
            w.writerow({"decoder": f"grid alpha={a} beta={b}", "set": "real e06 validation", "lines": len(val),
                        "cer": round(c, 5), "ms_per_line": ""})

    load = os.getloadavg()
    md = [
        "# A character language model in beam search: tuned on validation, reported on test",
        "",
        f"Command `python benchmarks/lm_tune.py`; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
        f"{platform.machine()}, {os.cpu_count()} cores, load average {load[0]:.2f}; weights "
        f"`models/easter2.weights.h5`; beam width {args.beam}.",
        "",
        f"Language model: `htr.lm.CharLM` (interpolated Witten-Bell character n-grams) fitted on the "
        f"{len(texts)} Aachen-**train** transcriptions of the IAM copy at run time (nothing of it is stored); "
        "the e06 forms are Aachen validation/test and none of their text is in the train split.",
        "",
        "## 1. Order, by validation perplexity (per character)",
        "",
        "| order | validation | test | fit s |",
        "|---|---|---|---|",
        *[f"| {o}{' (chosen)' if o == order else ''} | {ppl[o][0]:.3f} | {ppl[o][1]:.3f} | {ppl[o][2]:.2f} |"
          for o in ORDERS],
        "",
        "## 2. LM weight alpha and bonus beta, by validation CER",
        "",
        "| alpha \\ beta | " + " | ".join(f"{b:g}" for b in BETAS) + " |",
        "|---|" + "---|" * len(BETAS),
        *["| " + f"{a:g} | " + " | ".join(
            f"{'**' if (a, b) == (best_a, best_b) else ''}{c * 100:.2f}%{'**' if (a, b) == (best_a, best_b) else ''}"
            for (aa, b, c) in grid if aa == a) + " |" for a in ALPHAS],
        "",
        f"Chosen: order {order}, alpha {best_a:g}, beta {best_b:g} (lowest validation CER; ties to the "
        "smaller alpha, then the smaller beta).",
        "",
        "## 3. CER with the chosen setting",
        "",
        "| decoder | all 42 e06 lines | 32 validation | 10 test (e06-033) | ms per line (decoding only) |",
        "|---|---|---|---|---|",
    ]
    for name in decoders:
        c = {r["set"]: r["cer"] for r in rows if r["decoder"] == name}
        md.append(f"| {name} | {c['real e06 (all)'] * 100:.2f}% | {c['real e06 validation'] * 100:.2f}% | "
                  f"{c['real e06 test'] * 100:.2f}% | {timing[name] * 1000:.1f} |")
    md += ["", "Per set and the whole grid: `lm_tune.csv` (numbers only)."]
    out.with_suffix(".md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
