"""Batch reading on Ray Data against a plain loop over ``recognize``: lines/s and memory per worker.

    python benchmarks/batch.py [--iam-dir ../shared/iam] [--quick] [--out benchmarks/batch]

In one run, on the IAM line images and on the form scans of the IAM copy
(pages: segmented, then read line by line), each measured the same way:

1. the plain loop: one process reading every image as ``python -m htr recognize``
   does (:func:`htr.batch.read_file`, engine loaded once), the int8 reader with
   as many threads as this machine has cores (``HTR_INTRA_THREADS``): one
   process using all the cores;
2. ``htr.batch.run_batch`` on a local Ray (started and stopped for each
   configuration) with workers × threads per worker of 1×1, 2×1 and 1×2
   (each worker one Ray actor holding one engine).

For each: lines read, wall clock from start to last result (Ray's start and
the models' loading included), the steady rate (lines/s between the first and
the last result: what a long run sees), its ratio to the plain loop, and the
peak resident memory of each worker process (sampled every 0.2 s). From the
best steady rate: the hours a million lines take on one such machine and on
N of them (Ray Data spreads the same actors over the nodes of a cluster; the
estimate assumes the rate adds up per node, as it does when the workers share
nothing but the input list).

The header names the CPU and its vector flags (:func:`benchmarks.latency.cpu_flags`).
Writes ``OUT.md`` and ``OUT.json``. ``--quick`` reads 3 lines and 1 form and writes to
``/tmp/batch_quick`` unless ``--out`` is given (a smoke test: its figures mean nothing).
Timing needs a quiet machine: run it when nothing else uses the cores.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.eval_lines import add_iam_dir, require_iam_dir  # noqa: E402
from benchmarks.latency import code_state, cpu_flags, cpu_kind, cpu_name, loadavg  # noqa: E402
from benchmarks.report import write_md  # noqa: E402

#: (workers, threads per worker) measured on Ray.
CONFIGS = ((1, 1), (2, 1), (1, 2))
MILLION = 1_000_000

#: The plain loop, in its own process (so its memory is its own): prints one JSON object.
PLAIN = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
from htr.batch import open_engine, read_file
paths = json.loads(sys.stdin.read())
t0 = time.perf_counter()
engine = open_engine("easter2")
t1 = time.perf_counter()
lines, first, last, first_lines = 0, None, None, 0
for p in paths:
    rec, layout, _ = read_file(engine, p)
    n = max(1, len(rec.lines))
    lines += n
    last = time.perf_counter()
    if first is None:
        first, first_lines = last, n
print(json.dumps({"lines": lines, "load_s": t1 - t0, "wall_s": last - t0,
                  "steady_lines": lines - first_lines, "steady_s": (last - first) if len(paths) > 1 else 0.0,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


class WorkerMemory:
    """Peak RSS (MB) of each Ray map worker process, sampled while a run goes on."""

    def __init__(self, interval: float = 0.2):
        self.interval, self.peaks, self._stop = interval, {}, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            for proc in Path("/proc").iterdir():
                if not proc.name.isdigit():
                    continue
                try:
                    cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                    if not (cmd.startswith("ray::") and ("MapWorker" in cmd or "ImageReader" in cmd)):
                        continue
                    rss = next(int(t.split()[1]) for t in (proc / "status").read_text().splitlines()
                               if t.startswith("VmRSS:")) / 1024
                except (OSError, StopIteration, ValueError):
                    continue
                self.peaks[int(proc.name)] = max(self.peaks.get(int(proc.name), 0.0), rss)
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def steady(arrivals, start: float) -> tuple[int, float, float]:
    """(lines, seconds) between the first and the last block received, and the wall clock to the last."""
    if not arrivals:
        return 0, 0.0, 0.0
    (t_first, n_first), t_last = arrivals[0], arrivals[-1][0]
    lines = sum(n for _, n in arrivals) - n_first
    return lines, t_last - t_first, t_last - start


def run_plain(paths: list[str], threads: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HTR_INTRA_THREADS": str(threads)}
    proc = subprocess.run([sys.executable, "-c", PLAIN, str(ROOT)], input=json.dumps(paths), capture_output=True,
                          text=True, timeout=3600, env=env)
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1]}
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"lines": r["lines"], "wall_s": r["wall_s"], "steady_lines": r["steady_lines"],
            "steady_s": r["steady_s"], "rss_per_worker_mb": [round(r["rss_mb"], 1)]}


def run_ray(paths: list[str], workers: int, threads: int, batch_size: int = 1) -> dict:
    from htr.batch import BatchError, run_batch

    with tempfile.TemporaryDirectory() as out, WorkerMemory() as mem:
        start = time.perf_counter()
        try:
            report = run_batch(paths, out, workers=workers, threads=threads, batch_size=batch_size)
        except BatchError as exc:
            return {"error": str(exc)}
        except Exception as exc:  # noqa: BLE001 - e.g. Ray cannot start here: say so, measure the rest
            return {"error": f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"}
    lines, secs, wall = steady(report.arrivals, start)
    return {"lines": report.lines, "wall_s": wall, "steady_lines": lines, "steady_s": secs,
            "rss_per_worker_mb": sorted(round(v, 1) for v in mem.peaks.values()),
            "failed": len(report.failed)}


def rate(r: dict) -> float | None:
    if r.get("error") or not r.get("steady_s"):
        return None
    return r["steady_lines"] / r["steady_s"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_iam_dir(ap)
    ap.add_argument("--quick", action="store_true", help="3 lines and 1 form: a smoke test of the script")
    ap.add_argument("--out", default=None, help="output prefix (default: benchmarks/batch; /tmp/batch_quick "
                    "with --quick)")
    ap.add_argument("--repeat", type=int, default=1, metavar="N",
                    help="read each line image N times (N links to it under a temporary folder, distinct names): "
                    "a longer run, where Ray's start and per-task overhead weigh less")
    ap.add_argument("--batch-sizes", default="1,8", metavar="B[,B...]",
                    help="images per Ray Data batch to try for each workers x threads (default 1,8: one image "
                    "a task, and the 8 `htr batch --batch-size` uses by default)")
    args = ap.parse_args()
    try:
        batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
        if args.repeat < 1 or min(batch_sizes) < 1:
            raise ValueError
    except ValueError:
        ap.error("--repeat and every --batch-sizes value must be whole numbers of at least 1")
    iam = require_iam_dir(args.iam_dir)
    out = Path(args.out or ("/tmp/batch_quick" if args.quick else ROOT / "benchmarks" / "batch"))
    sets = {"lines": sorted(str(p) for p in (iam / "lines").rglob("*.png")),
            "forms": sorted(str(p) for p in (iam / "forms").glob("*.png"))}
    if args.quick:
        sets = {"lines": sets["lines"][:3], "forms": sets["forms"][:1]}
    links = tempfile.TemporaryDirectory(prefix="batch_repeat_")
    if args.repeat > 1 and sets["lines"]:
        copies = []
        for k in range(args.repeat):
            for p in sets["lines"]:
                link = Path(links.name) / f"r{k:03d}_{Path(p).name}"
                link.symlink_to(p)
                copies.append(str(link))
        sets["lines"] = copies
    sets = {k: v for k, v in sets.items() if v}
    if not sets:
        print(f"skipped: no line images or form scans under {iam}; nothing measured", file=sys.stderr)
        return 2

    cores = os.cpu_count() or 1
    flags = cpu_flags()
    started, load_start = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), loadavg()
    results, ray_broken = [], None
    for name, paths in sets.items():
        print(f"{name}: {len(paths)} images: plain loop", file=sys.stderr, flush=True)
        results.append({"set": name, "images": len(paths), "how": "plain loop (recognize)", "workers": 1,
                        "threads": cores, **run_plain(paths, cores)})
        for workers, threads in CONFIGS:
            for bs in batch_sizes:
                print(f"{name}: Ray {workers}x{threads}, batch {bs}", file=sys.stderr, flush=True)
                r = {"error": f"not tried: {ray_broken}"} if ray_broken else run_ray(paths, workers, threads, bs)
                if r.get("error") and not ray_broken:  # Ray could not run here: the others cannot either
                    ray_broken = r["error"]
                results.append({"set": name, "images": len(paths), "how": f"ray, batch {bs}", "workers": workers,
                                "threads": threads, **r})
    for r in results:
        base = next(b for b in results if b["set"] == r["set"] and b["how"].startswith("plain"))
        r["lines_per_s"] = rate(r)
        r["vs_plain"] = (r["lines_per_s"] / rate(base)) if r["lines_per_s"] and rate(base) else None

    line_rows = [r for r in results if r["set"] == "lines" and r["lines_per_s"]]
    ray_rows = [r for r in line_rows if r["how"].startswith("ray")]  # the estimate is batch's; the plain loop if Ray failed
    best = max(ray_rows or line_rows, key=lambda r: r["lines_per_s"]) if line_rows else None
    estimate = {}
    if best:
        per_node = best["lines_per_s"]
        estimate = {"best": f"{best['how']} {best['workers']}x{best['threads']}", "lines_per_s_per_node": per_node,
                    "hours": {str(n): MILLION / (per_node * n) / 3600 for n in (1, 2, 10, 50, 100)},
                    "nodes_for_24h": MILLION / (per_node * 24 * 3600), "nodes_for_1h": MILLION / (per_node * 3600)}
    meta = {"started": started, "cpu": cpu_name(), "cores": cores, "cpu_flags": flags, "cpu_kind": cpu_kind(flags),
            "load_start": load_start, "load_end": loadavg(), "code": code_state(), "quick": args.quick,
            "iam_dir": str(iam), "repeat": args.repeat, "batch_sizes": batch_sizes}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps({"meta": meta, "results": results, "estimate": estimate},
                                                   indent=2) + "\n")

    def fmt(v, spec):
        return "–" if v is None else format(v, spec)

    have = ", ".join(f for f, v in flags.items() if v) or "unknown"
    md = [
        "# Batch reading on Ray Data vs a plain loop over recognize",
        "",
        f"Generated by `python benchmarks/batch.py{''.join(' ' + a for a in sys.argv[1:])}` ({started}). CPU: {cpu_name()}, "
        f"{cores} cores, {cpu_kind(flags)} (flags: {have}). Load average {load_start} at the start, "
        f"{loadavg()} at the end. {code_state()}.",
        "",
        "Lines/s is the steady rate between the first and the last result (a long run's rate); wall is from the "
        "start to the last result, Ray's start and the models' loading included. Memory: peak resident size of "
        "each worker process (the plain loop: its one process)."
        + (f" Line images: each of the {len(sets['lines']) // args.repeat} read {args.repeat} times (links under a "
           "temporary folder, distinct names), the plain loop and Ray alike." if args.repeat > 1 else "")
        + " Ray rows name the images per Ray Data batch (`--batch-size` of `htr batch`).",
        "",
        "| images | how | workers × threads | lines | wall s | lines/s | vs plain loop | MB per worker |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in results:
        if r.get("error"):
            md.append(f"| {r['set']} ({r['images']}) | {r['how']} | {r['workers']} × {r['threads']} | – | – | – | – | "
                      f"failed: {r['error']} |")
            continue
        md.append(f"| {r['set']} ({r['images']}) | {r['how']} | {r['workers']} × {r['threads']} | {r['lines']} | "
                  f"{r['wall_s']:.1f} | {fmt(r['lines_per_s'], '.2f')} | "
                  f"{fmt(r['vs_plain'] and 100 * r['vs_plain'], '.0f')}{' %' if r['vs_plain'] else ''} | "
                  f"{', '.join(f'{m:.0f}' for m in r['rss_per_worker_mb']) or '–'} |")
    md += ["", "## A million lines", ""]
    if estimate:
        md.append(f"At the best steady rate on the line images, {estimate['best']} "
                  f"({estimate['lines_per_s_per_node']:.2f} lines/s on one {cores}-core machine like this one), "
                  "a million lines take:")
        md.append("")
        md.append("| nodes like this one | hours |")
        md.append("| ---: | ---: |")
        md += [f"| {n} | {h:.1f} |" for n, h in estimate["hours"].items()]
        md.append("")
        md.append(f"{estimate['nodes_for_24h']:.1f} such nodes finish in a day, {estimate['nodes_for_1h']:.0f} "
                  "in an hour, if the rate adds up per node (each node's workers read their own share of the "
                  "input list; only paths and text rows cross the network).")
    else:
        md.append("No configuration finished on the line images: no estimate.")
    write_md(out, md)
    links.cleanup()
    print(f"wrote {out.with_suffix('.md')} and {out.with_suffix('.json')}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
