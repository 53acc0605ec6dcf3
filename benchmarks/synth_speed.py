"""Lines per second of the synthetic line renderer on one core.

    .venv/bin/python benchmarks/synth_speed.py [--n 600]

Writes benchmarks/synth_speed.md. One process, no threads: the number is per
core, the rate a data-loader worker can feed the trainer.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from htr.data.synth import LineRenderer, corrupt, font_paths  # noqa: E402
from htr.data.synth.corpus import training_texts  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--warm", type=int, default=2000, help="lines rendered first (cache warm-up)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "synth_speed.md")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    texts = training_texts(None, rng)  # built-in text only: the benchmark needs no IAM
    r = LineRenderer(seed=0)
    t0 = time.perf_counter()
    for i in range(len(r.paths)):
        r.font(i)
    warm = time.perf_counter() - t0
    c0 = time.process_time()
    for t in texts[:args.warm]:  # fill the glyph caches, as a long-running worker has them
        r.render(t, rng)
    cold = args.warm / (time.process_time() - c0)
    chars = pixels = 0
    c0 = time.process_time()
    t0 = time.perf_counter()
    for i in range(args.n):
        img = r.render(texts[i % len(texts)], rng)
        chars += len(texts[i % len(texts)])
        pixels += img.size
    dt = time.perf_counter() - t0
    cpu = time.process_time() - c0
    t1 = time.process_time()
    for i in range(args.n):
        corrupt(img, rng)
    dtc = time.process_time() - t1
    rate = args.n / cpu
    lines = [
        "# Synthetic line renderer speed",
        "",
        f"`benchmarks/synth_speed.py --n {args.n} --warm {args.warm}` on one core ({platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} logical CPUs, Python {platform.python_version()}).",
        "",
        "| what | value |",
        "|---|---|",
        f"| fonts | {len(font_paths())} |",
        f"| lines rendered | {args.n} (mean {chars / args.n:.0f} chars, mean {pixels / args.n / 1000:.0f} kpx) |",
        f"| **lines/s per core** (CPU time: render incl. all augmentation) | **{rate:.0f}** |",
        f"| ms CPU per line | {1000 / rate:.1f} |",
        f"| lines/s wall clock (machine shared with other jobs, load {os.getloadavg()[0]:.1f}) | {args.n / dt:.0f} |",
        f"| lines/s per core over the first {args.warm} lines (glyph caches filling) | {cold:.0f} |",
        f"| peak memory of the process (glyph caches) | {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MB |",
        f"| TACo `corrupt` per line (CPU) | {1000 * dtc / args.n:.2f} ms |",
        f"| first load of all fonts (per worker, once) | {warm:.2f} s |",
        "",
    ]
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
