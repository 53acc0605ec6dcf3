"""Threads for Easter2's int8 reader (TensorFlow Lite, XNNPACK): 1 or 2, quiet and beside a busy neighbour.

    python benchmarks/int8_threads.py [--iam-dir ../shared/iam] [--calls 30]

The int8 interpreter's thread count is fixed when it is built
(:func:`htr.runtime.lite_threads`: ``$HTR_INTRA_THREADS``, else
:data:`htr.runtime.LITE_THREADS`). On a 2-core machine a second thread only
helps while the other core is free; an app server shares its cores with
other sessions and processes. So each count is measured twice, in this one
process: on the quiet machine, and while a neighbour process spins one core
(a pure-Python busy loop, the cost of another session's work). Measured:
the typical 850-column line at batch 1 (median and p90 of ``--calls`` calls)
and the 42 real e06 lines through ``Easter2Engine.read_lines`` one at a time
(median over lines, each line's fastest of 3). Writes
``benchmarks/int8_threads.md`` and ``.csv``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.report import write_csv, write_md  # noqa: E402

import numpy as np  # noqa: E402

from benchmarks.eval_lines import add_iam_dir, e06_lines  # noqa: E402
from benchmarks.latency import code_state, cpu_name, loadavg, typical_line  # noqa: E402

SPIN = "import time\nt = time.time() + 600\nwhile time.time() < t:\n    pass\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_iam_dir(ap)
    ap.add_argument("--calls", type=int, default=30)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "int8_threads"))
    args = ap.parse_args()
    lines = e06_lines(args.iam_dir)

    from htr.engines.easter2 import Easter2Engine
    from htr.model import load_model
    from htr.preprocess import WIDTH, prepare_line
    from htr.runtime import LiteEaster2, compute_width

    started, load = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), {"start": loadavg()}
    model = load_model()
    lites = {n: LiteEaster2(model, threads=n) for n in (1, 2)}
    prep = prepare_line(typical_line(), WIDTH)
    x = np.ascontiguousarray(prep.x[None, : compute_width(prep.content, "layout")])
    eng = Easter2Engine(precision="int8")
    eng.warm_up()
    preps = [prepare_line(g, WIDTH) for g in lines.images]

    def measure(n: int) -> dict:
        lite = lites[n]
        eng._lite = lite  # this engine reads through the interpreter with n threads
        for _ in range(3):
            lite.run(x, WIDTH // 4)
        ts = []
        for _ in range(args.calls):
            t = time.perf_counter()
            lite.run(x, WIDTH // 4)
            ts.append(time.perf_counter() - t)
        per_line = []
        for p in preps:
            eng._forward([p])
            best = float("inf")
            for _ in range(3):
                t = time.perf_counter()
                eng._forward([p])
                best = min(best, time.perf_counter() - t)
            per_line.append(best)
        return {"typical_median": float(np.median(ts)), "typical_p90": float(np.percentile(ts, 90)),
                "lines_median": float(np.median(per_line))}

    rows = []
    for rnd in range(2):  # twice, to see the drift
        for busy in (False, True):
            spin = subprocess.Popen([sys.executable, "-c", SPIN]) if busy else None
            try:
                if spin:
                    time.sleep(1.0)
                for n in (1, 2):
                    r = measure(n)
                    rows.append({"round": rnd + 1, "neighbour": "one core busy" if busy else "quiet",
                                 "threads": n, **r, "load1": loadavg().split(" / ")[0]})
                    print(rows[-1], flush=True)
            finally:
                if spin:
                    spin.kill()
                    spin.wait()
    load["end"] = loadavg()

    out = Path(args.out)
    write_csv(out, rows)
    md = ["# Threads of Easter2's int8 reader (TensorFlow Lite, XNNPACK)", "",
          f"Command `python benchmarks/int8_threads.py` ({args.calls} calls); {started}; {cpu_name()}, "
          f"{os.cpu_count()} cores; load average (1/5/15 min) at start {load['start']}, at the end {load['end']}; "
          f"{code_state()}. One process, both interpreters built from the same weights; 'one core busy': a "
          "separate process spinning a pure-Python loop meanwhile.", "",
          f"Typical line: {x.shape[1]} computed columns, batch 1, model only (median, p90). Real lines: "
          f"{len(preps)} e06 lines, prepared, each read alone (model only, fastest of 3), median over lines.", "",
          "| round | neighbour | threads | typical median ms | typical p90 ms | real lines median ms | 1-min load |",
          "|---|---|---|---|---|---|---|"]
    for r in rows:
        md.append(f"| {r['round']} | {r['neighbour']} | {r['threads']} | {r['typical_median'] * 1e3:.1f} | "
                  f"{r['typical_p90'] * 1e3:.1f} | {r['lines_median'] * 1e3:.1f} | {r['load1']} |")
    md += ["", "Raw numbers: `int8_threads.csv`.", ""]
    write_md(out, md)
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
