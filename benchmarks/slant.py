"""How the writing leans, and what shearing it does to Easter2's CER: the writers of the e06 lines against the fonts.

    python benchmarks/slant.py [--iam-dir DIR] [--out benchmarks/slant]

1. The slant of every e06-* line (:func:`htr.preprocess.slant_angle`: degrees
   the upright strokes lean right, negative for a backhand), per Aachen split,
   beside the slant of 300 held-back synthetic lines in the renderer's default
   style (slants drawn from −12° to 28°: the training lines of stages 1–4b;
   stage 5 drew them from −32°).
2. Easter2's CER (default reading: greedy, int8 on a CPU) per split with every
   line sheared by a fixed angle (:func:`htr.perturb.perturb` ``slant``), from
   −10° to +30°. This is a measurement, not a tuning step: reading does not
   shear, and a shear chosen here would be chosen with the test form in view.

Writes markdown and a CSV of numbers (no IAM text or image).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from benchmarks.report import write_csv, write_md  # noqa: E402

from eval_lines import add_iam_dir, e06_lines, heldback_synthetic  # noqa: E402

SHEARS = (-10, -5, 0, 5, 10, 15, 20, 25, 30)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_iam_dir(ap)
    ap.add_argument("--synthetic", type=int, default=300, help="held-back synthetic lines to measure (default 300)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "slant"), help="path prefix of the .md/.csv")
    args = ap.parse_args(argv)

    from htr.engines import get_engine
    from htr.metrics import aggregate
    from htr.perturb import perturb
    from htr.preprocess import slant_angle

    t0 = time.time()
    lines = e06_lines(args.iam_dir)
    groups = lines.groups()
    slants = [slant_angle(g) for g in lines.images]
    _texts, synth = heldback_synthetic(args.synthetic)
    synth_slants = [slant_angle(g) for g in synth]

    def spread(values) -> dict:
        v = np.asarray(values, float)
        return {"n": len(v), "min": round(float(v.min()), 1), "p10": round(float(np.percentile(v, 10)), 1),
                "median": round(float(np.median(v)), 1), "p90": round(float(np.percentile(v, 90)), 1),
                "max": round(float(v.max()), 1)}

    lean = {name: spread([slants[k] for k in idx]) for name, idx in groups.items()}
    lean["synthetic lines, default style (stages 1–4b)"] = spread(synth_slants)

    engine = get_engine("easter2")
    ok, why = engine.availability()
    if not ok:
        print(f"skipped: easter2 is not available ({why}); nothing measured", file=sys.stderr)
        return 2
    rows = []
    for shear in SHEARS:
        hyps = [engine.recognize(perturb(g, "slant", shear) if shear else g, layout="line").text for g in lines.images]
        for name, idx in groups.items():
            score = aggregate((lines.refs[k], hyps[k]) for k in idx)
            rows.append({"shear_deg": shear, "set": name, "lines": score.lines, "cer": round(score.cer, 5),
                         "char_edits": score.char_edits})
        print("shear", shear, {r["set"]: r["cer"] for r in rows[-len(groups):]}, flush=True)

    out = Path(args.out)
    cols = ("kind", "set", "n", "min", "p10", "median", "p90", "max", "shear_deg", "lines", "cer", "char_edits")
    write_csv(out, [{c: row.get(c, "") for c in cols} for row in
                    [{"kind": "slant", "set": k, **v} for k, v in lean.items()] + [{"kind": "shear", **r} for r in rows]])
    names = list(groups)
    md = [
        "# Slant: how the writing leans, and Easter2's CER when it is sheared",
        "",
        f"Command `python benchmarks/slant.py`; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
        f"{os.cpu_count()} cores; {time.time() - t0:.0f} s. Slant by `htr.preprocess.slant_angle` (degrees the "
        "upright strokes lean right; negative: a backhand), on the real e06-* lines and on "
        f"{args.synthetic} held-back synthetic lines in the renderer's default style (slants drawn from −12° "
        "to 28°, as the training lines of stages 1–4b; stage 5 drew them from −32°).",
        "",
        "| lines | n | min | 10 % | median | 90 % | max |",
        "|---|---|---|---|---|---|---|",
        *[f"| {k} | {v['n']} | {v['min']}° | {v['p10']}° | {v['median']}° | {v['p90']}° | {v['max']}° |"
          for k, v in lean.items()],
        "",
        "Easter2 (default reading) with every line sheared by a fixed angle first (`htr.perturb` `slant`); "
        "character errors in brackets. Reading does not shear: this only measures how the model's errors "
        "depend on the lean.",
        "",
        "| shear | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for shear in SHEARS:
        cells = {r["set"]: r for r in rows if r["shear_deg"] == shear}
        md.append(f"| {shear:+d}° | " + " | ".join(f"{100 * cells[n]['cer']:.2f}% ({cells[n]['char_edits']})"
                                                   for n in names) + " |")
    md += ["", "Per set: `slant.csv` (numbers only)."]
    write_md(out, md)
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
