"""How each engine's CER grows as the real lines are made harder (the app's Stress test, over many lines).

    python benchmarks/robustness.py [--iam-dir DIR] [--distortions slant,blur,...] [--out benchmarks/robustness]

Every e06-* line of the IAM copy (the shipped weights never trained on them)
is distorted by each of :data:`htr.perturb.DISTORTIONS` at each level of its
sweep and read by every available engine with its default settings (Easter2:
greedy, the int8 reader on a CPU, leaning lines straightened first; EasyOCR
whole line; Tesseract ``--psm 7``), and by Easter2 without the straightening.
Writes the corpus CER per engine, distortion and level as markdown and CSV
(numbers only: no IAM text or image).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from benchmarks.report import write_csv, write_md  # noqa: E402

from eval_lines import add_iam_dir, e06_lines  # noqa: E402


def main(argv=None) -> int:
    from htr.perturb import DISTORTIONS

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_iam_dir(ap)
    ap.add_argument("--distortions", default=",".join(DISTORTIONS),
                    help=f"comma-separated, from: {', '.join(DISTORTIONS)} (default: all)")
    ap.add_argument("--engines", default=None, help="comma-separated engine names (default: every available one)")
    ap.add_argument("--lines", type=int, default=None, help="only the first N lines (a quick look)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "robustness"), help="path prefix of the .md/.csv")
    args = ap.parse_args(argv)
    names = [n.strip() for n in args.distortions.split(",") if n.strip()]
    unknown = [n for n in names if n not in DISTORTIONS]
    if unknown or not names:
        print(f"error: --distortions: unknown {', '.join(unknown) or '(none given)'}", file=sys.stderr)
        return 2

    from htr.engines import ENGINE_NAMES, get_engine
    from htr.metrics import aggregate
    from htr.perturb import perturb

    lines = e06_lines(args.iam_dir)
    if args.lines:
        n = args.lines
        lines.ids, lines.refs, lines.images = lines.ids[:n], lines.refs[:n], lines.images[:n]
    wanted = ENGINE_NAMES if args.engines is None else [e.strip() for e in args.engines.split(",") if e.strip()]
    if set(wanted) - set(ENGINE_NAMES) or not wanted:
        print(f"error: --engines: choose from {', '.join(ENGINE_NAMES)}", file=sys.stderr)
        return 2
    t0 = time.time()
    engines = {}
    for name in wanted:
        engine = get_engine(name)
        ok, why = engine.availability()
        if ok:
            engines[name] = engine
        else:
            print(f"{name}: not available ({why})", file=sys.stderr)
    if not engines:
        print("skipped: no engine can run here; nothing measured", file=sys.stderr)
        return 2
    if "easter2" in engines:  # the lever: the same engine without straightening leaning lines first
        engines["easter2 (no deskew)"] = get_engine("easter2", deskew=False)

    rows = []
    for dname in names:
        d = DISTORTIONS[dname]
        for level in d.levels:
            images = [perturb(im, dname, level, seed=k) for k, im in enumerate(lines.images)]
            for ename, engine in engines.items():
                hyps = [engine.recognize(im, layout="line").text for im in images]
                score = aggregate(zip(lines.refs, hyps))
                rows.append({"distortion": dname, "level": level, "label": d.label(level), "engine": ename,
                             "lines": score.lines, "cer": round(score.cer, 5), "wer": round(score.wer, 5)})
            print(dname, d.label(level), {r["engine"]: r["cer"] for r in rows[-len(engines):]}, flush=True)

    out = Path(args.out)
    write_csv(out, rows)
    order = list(engines)
    md = [
        "# Robustness: CER as the real lines are made harder",
        "",
        f"Command `python benchmarks/robustness.py`; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
        f"{os.cpu_count()} cores; {time.time() - t0:.0f} s. {len(lines.ids)} real IAM e06-* lines (never "
        "trained on), each distorted by `htr.perturb` (seeded per line) and read by every engine with its "
        "default settings (Easter2: greedy, the int8 reader on a CPU, a line leaning 1° or more straightened first; "
        "EasyOCR whole line; Tesseract `--psm 7`), and by Easter2 without the straightening (`deskew=False`). "
        "Corpus CER (edits over true characters); the first row of each distortion is the line as it is. "
        "The app's Stress test page does the same for one line.",
        "",
    ]
    for dname in names:
        d = DISTORTIONS[dname]
        md += [f"## {d.title}", "", d.what, "",
               "| level | " + " | ".join(order) + " |", "|---|" + "---|" * len(order)]
        for level in d.levels:
            cells = {r["engine"]: r["cer"] for r in rows if r["distortion"] == dname and r["level"] == level}
            md.append(f"| {d.label(level)} | " + " | ".join(f"{100 * cells[e]:.1f}%" for e in order) + " |")
        md.append("")
    md.append("Per engine, distortion and level (CER and WER): `robustness.csv` (numbers only).")
    write_md(out, md)
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
