"""CER/WER and seconds per line of Tesseract and EasyOCR on the shared IAM lines.

    .venv/bin/python benchmarks/engines_ocr.py [--iam DIR] [--repeat N] [--detector] [--out benchmarks/engines_ocr]

Every line image under ``lines/`` of the IAM folder (``$IAM_DIR``, else
``../shared/iam``; the shared subset has 56) is read by each engine after one
warm-up call (model loading excluded). ``seconds`` is what the engine reports
(its recognition of that image alone); with ``--repeat N`` each line is read N
times and the median kept. ``--detector`` also measures EasyOCR with its text
detector (``readtext`` = detection + recognition) on each line, to compare with
the whole-line mode the engine uses.

Writes ``<out>.csv`` (one row per engine and line: line id, CER, seconds — no
IAM text, no images) and ``<out>.md`` (the summary). The machine's load average
is recorded beside the timings: on a shared 2-core machine they vary with it.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from htr.engines.easyocr_engine import EasyOCREngine  # noqa: E402
from htr.engines.tesseract import TesseractEngine  # noqa: E402
from htr.data.iam import IAM  # noqa: E402
from htr.metrics import aggregate, cer  # noqa: E402


def _iam_dir(arg: str | None) -> Path:
    if arg:
        return Path(arg)
    env = os.environ.get("IAM_DIR")
    return Path(env) if env else ROOT.parent / "shared" / "iam"


def _quantile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    if len(xs) == 1:
        return xs[0]
    pos = q * (len(xs) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


class _EasyOCRDetector:
    """EasyOCR's detection + recognition (``readtext``) on a line, for comparison."""

    name = "easyocr+detector"

    def __init__(self, engine: EasyOCREngine):
        self.engine = engine

    def availability(self):
        return self.engine.availability()

    def recognize(self, image):
        r = self.engine.recognize(image, layout="page")
        return type(r)(text=" ".join(line.text for line in r.lines), seconds=r.seconds, engine=self.name)


def run(engine, items, repeat: int):
    engine.recognize(items[0][2])  # warm-up: loads the model, first-call costs
    rows = []
    for line_id, ref, image in items:
        times, text = [], None
        for _ in range(repeat):
            r = engine.recognize(image)
            times.append(r.seconds)
            text = r.text
        rows.append((line_id, ref, text, statistics.median(times)))
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iam", help="IAM folder (default $IAM_DIR, else ../shared/iam)")
    ap.add_argument("--repeat", type=int, default=1, help="reads per line; the median time is kept")
    ap.add_argument("--detector", action="store_true", help="also EasyOCR with its text detector")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "engines_ocr"), help="output path without suffix")
    args = ap.parse_args(argv)

    root = _iam_dir(args.iam)
    if not (root / "ascii" / "lines.txt").is_file():
        print(f"error: IAM data not found at {root} (set IAM_DIR or use --iam)", file=sys.stderr)
        return 2
    iam = IAM(root)
    ids = sorted(iam.available_lines())
    items = [(i, iam.line(i).text, iam.line_image(i)) for i in ids if iam.line_image_path(i) is not None]
    if not items:
        print(f"error: no line images under {root / 'lines'}", file=sys.stderr)
        return 2

    easy = EasyOCREngine()
    engines = [TesseractEngine(), easy]
    if args.detector:
        engines.append(_EasyOCRDetector(easy))

    load_before = os.getloadavg()
    results = {}
    versions = {}
    for engine in engines:
        ok, why = engine.availability()
        versions[engine.name] = why
        if not ok:
            print(f"skip {engine.name}: {why}", file=sys.stderr)
            continue
        t0 = time.perf_counter()
        results[engine.name] = run(engine, items, args.repeat)
        print(f"{engine.name}: {len(items)} lines in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    load_after = os.getloadavg()

    out = Path(args.out)
    with open(out.with_suffix(".csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["engine", "line_id", "cer", "seconds"])
        for name, rows in results.items():
            for line_id, ref, hyp, sec in rows:
                w.writerow([name, line_id, f"{cer(ref, hyp):.4f}", f"{sec:.4f}"])

    lines = [
        "# Tesseract and EasyOCR on the shared IAM lines",
        "",
        f"Made by `benchmarks/engines_ocr.py{' --detector' if args.detector else ''}"
        f"{f' --repeat {args.repeat}' if args.repeat > 1 else ''}` on "
        f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC; per-line numbers in `engines_ocr.csv`.",
        "",
        f"- Lines: {len(items)} (every line image under `lines/` of the IAM folder; "
        "forms a01-000u, e04-068 are IAM training split, e06-* validation/test).",
        f"- Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"load average {load_before[0]:.1f} before, {load_after[0]:.1f} after "
        "(a shared machine: other work ran at the same time, so the times are upper bounds).",
    ]
    for name, why in versions.items():
        lines.append(f"- `{name}`: {why}")
    lines += [
        "- CER/WER: total edits over total reference length (htr.metrics.aggregate); ",
        "  seconds: the engine's own recognition time of one line, model loading excluded.",
        "",
        "| engine | mode | CER | WER | exact lines | median s/line | p90 s/line |",
        "|---|---|---|---|---|---|---|",
    ]
    modes = {
        "tesseract": "`--psm 7`, one OpenMP thread",
        "easyocr": "recognizer on the whole line, no detector, 1 torch thread",
        "easyocr+detector": "`readtext`: CRAFT detection + recognition",
    }
    for name, rows in results.items():
        s = aggregate((ref, hyp) for _, ref, hyp, _ in rows)
        secs = [r[3] for r in rows]
        lines.append(
            f"| {name} | {modes.get(name, '')} | {s.cer:.3f} | {s.wer:.3f} | {s.exact}/{s.lines} "
            f"| {statistics.median(secs):.3f} | {_quantile(secs, 0.9):.3f} |"
        )
    by_form: dict[str, dict[str, list]] = {}
    for name, rows in results.items():
        for line_id, ref, hyp, _ in rows:
            by_form.setdefault(line_id.rsplit("-", 1)[0], {}).setdefault(name, []).append((ref, hyp))
    lines += ["", "CER by form:", "", "| form | " + " | ".join(results) + " |",
              "|---|" + "---|" * len(results)]
    for form in sorted(by_form):
        cells = [f"{aggregate(by_form[form][n]).cer:.3f}" if n in by_form[form] else "" for n in results]
        lines.append(f"| {form} | " + " | ".join(cells) + " |")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
