"""Accuracy of every Easter2 inference path: the fast runtime must not lose CER.

    python benchmarks/inference_cer.py [--weights models/easter2.weights.h5] [--iam-dir ../shared/iam]

Same lines and measure as ``benchmarks/model_cer.py``: every e06-* line of the
IAM copy (validation/test forms, never trained on) and 300 held-back synthetic
lines, greedy, beam and language-model decoding (``lm``: :func:`htr.lm.lm_beam_decode`
with the LM fitted on the IAM copy's train transcriptions; left out where it
cannot be fitted), both width policies (fit to the 2000-column
layout, and the line's true width). Paths compared:

* ``keras``: the Keras model, ``predict_on_batch`` one line at a time (the
  reference: what ``model_cer.py`` measures);
* ``engine float32`` / ``engine bfloat16``: :class:`htr.engines.easter2.Easter2Engine`
  as the app and CLI run it (htr.runtime: folded batch norm, one compiled
  graph, the layout truncated past the ink, lines batched by width);
* ``engine int8``: the engine's default reading path on a CPU
  (:class:`htr.runtime.LiteEaster2`: the float32 layout graph through
  TensorFlow Lite with dynamic-range int8 weights); the layout policy only
  (there is no true-width int8 graph).

Besides CER/WER, the largest difference of any softmax probability from the
reference (over the real lines' content steps) and how many lines read
differently from it. Writes ``benchmarks/inference_cer.md`` and ``.csv``
(line ids and numbers only: no IAM text or image).
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

from benchmarks.report import write_csv, write_md  # noqa: E402

import numpy as np  # noqa: E402

from benchmarks.eval_lines import add_iam_dir, e06_lines, heldback_synthetic  # noqa: E402
from htr import ctc  # noqa: E402
from htr.metrics import aggregate, cer  # noqa: E402
from htr.model import DEFAULT_WEIGHTS  # noqa: E402
from htr.preprocess import prepare_line  # noqa: E402


def keras_probs(model, images, width):
    out = []
    for g in images:
        p = prepare_line(g, width)
        out.append(np.asarray(model.predict_on_batch(p.x[None]))[0, : p.content_steps])
    return out


def engine_probs(engine, images):
    preps = [prepare_line(g, engine.width) for g in images]
    probs = engine._forward(preps)
    return [pr[: p.content_steps] for pr, p in zip(probs, preps)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weights", default=str(DEFAULT_WEIGHTS))
    add_iam_dir(ap)
    ap.add_argument("--synthetic", type=int, default=300)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "inference_cer"))
    args = ap.parse_args()
    e06 = e06_lines(args.iam_dir)
    ids, refs, images, split = e06.ids, e06.refs, e06.images, e06.split
    from htr.engines.easter2 import Easter2Engine
    from htr.model import load_model

    syn_texts, syn_images = heldback_synthetic(args.synthetic)  # the same lines as model_cer.py

    model = load_model(args.weights)
    decoders = {"greedy": ctc.best_path, "beam": ctc.beam_decode}
    try:
        from htr.errors import EngineUnavailable
        from htr.lm import language_model, lm_beam_decode

        lm = language_model(args.iam_dir)
        decoders["lm"] = lambda p: lm_beam_decode(p, lm)
    except EngineUnavailable as exc:
        print(f"no lm decoder: {exc}", flush=True)
    summary, rows = [], []
    for width, wname in ((2000, "fit-2000"), (None, "true-width")):
        ref_real = keras_probs(model, images, width)
        ref_syn = keras_probs(model, syn_images, width)
        paths = {"keras": (ref_real, ref_syn)}
        for prec in ("float32", "bfloat16", "int8"):
            eng = Easter2Engine(weights=args.weights, width=width, precision=prec)
            if eng.reading_precision != prec:  # int8 at true width: the float path, already measured
                continue
            paths[f"engine {prec}"] = (engine_probs(eng, images), engine_probs(eng, syn_images))
        for path, (real, syn) in paths.items():
            dp = max(float(np.abs(a - b).max()) for a, b in zip(real, ref_real))
            for dec, f in decoders.items():
                hyps = [f(p).text for p in real]
                ref_hyps = [f(p).text for p in ref_real]
                differ = sum(h != r for h, r in zip(hyps, ref_hyps))
                for g, ks in e06.groups().items():
                    s = aggregate((refs[k], hyps[k]) for k in ks)
                    summary.append((g, len(ks), wname, path, dec, s.cer, s.wer, dp if g.endswith("(all)") else None,
                                    differ if g.endswith("(all)") else None))
                s = aggregate(zip(syn_texts, [f(p).text for p in syn]))
                summary.append(("synthetic held-back", len(syn_texts), wname, path, dec, s.cer, s.wer, None, None))
                for k, i in enumerate(ids):
                    rows.append({"line": i, "split": split[i], "width": wname, "path": path, "decoder": dec,
                                 "chars": len(refs[k]), "cer": round(cer(refs[k], hyps[k]), 4)})

    out = Path(args.out)
    write_csv(out, rows)
    import tensorflow as tf

    from htr.runtime import bf16_supported

    lines = [
        "# Easter2 accuracy per inference path",
        "",
        f"Weights `{Path(args.weights).name}`; command `python benchmarks/inference_cer.py`; "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; CPU with native bf16: {bf16_supported()}; "
        f"TensorFlow {tf.__version__}. Reference = `keras` (Keras `predict_on_batch`, "
        "as in `model_cer.md`). max |Δp|: the largest difference of any softmax probability from the "
        "reference over the real lines; lines ≠ ref: real lines whose reading differs from the reference's.",
        "",
        "| set | lines | width policy | path | decoder | CER | WER | max abs Δp | lines ≠ ref |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for g, n, wname, path, dec, c, wr, dp, differ in summary:
        dps = "" if dp is None else f"{dp:.1e}"
        dfs = "" if differ is None else str(differ)
        lines.append(f"| {g} | {n} | {wname} | {path} | {dec} | {c:.2%} | {wr:.2%} | {dps} | {dfs} |")
    lines += ["", "Per-line CER: `inference_cer.csv` (ids and numbers only)."]
    write_md(out, lines)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
