"""Easter2 per-line latency under TensorFlow's thread settings (intra-op / inter-op pools).

    python benchmarks/threads.py

Thread pools can only be set before TensorFlow's runtime starts, so each
setting runs in a fresh process: 12 real IAM e06 lines read by the engine
(bfloat16 and float32), each line's fastest of 3 reads, median over lines.
"0" is TensorFlow's own choice (all cores). Writes ``benchmarks/threads.md``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.eval_lines import default_iam_dir, require_iam_dir  # noqa: E402
from benchmarks.latency import cpu_name, loadavg  # noqa: E402

CHILD = r"""
import os, sys, json
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np
from htr.runtime import configure_threads
ok = configure_threads(int(sys.argv[1]), int(sys.argv[2]))
from htr.engines.easter2 import Easter2Engine
from htr.data.iam import IAM
from benchmarks.eval_lines import default_iam_dir, e06_ids
iam = IAM(default_iam_dir())
ids = e06_ids(iam)[:12]
imgs = [iam.line_image(i) for i in ids]
out = {"set": ok}
for prec in ("bfloat16", "float32"):
    e = Easter2Engine(precision=prec)
    e.warm_up()
    for g in imgs:
        e.recognize(g)
    out[prec] = float(np.median([min(e.recognize(g).seconds for _ in range(3)) for g in imgs]))
print(json.dumps(out))
"""


def main() -> int:
    require_iam_dir(default_iam_dir())
    rows = []
    started, load_start = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), loadavg()
    for intra, inter in ((0, 0), (2, 1), (1, 1), (2, 2), (1, 2), (0, 0)):
        res = subprocess.run([sys.executable, "-c", CHILD, str(intra), str(inter)], cwd=ROOT,
                             capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
        if res.returncode:
            print(res.stderr[-2000:], file=sys.stderr)
            return 1
        r = json.loads(res.stdout.strip().splitlines()[-1])
        rows.append((intra, inter, r["bfloat16"], r["float32"], loadavg().split(" / ")[0]))
        print(rows[-1], flush=True)
    md = ["# Easter2 and TensorFlow's thread pools", "",
          f"Command `python benchmarks/threads.py`; {started}; {cpu_name()}, {os.cpu_count()} cores; "
          f"load average at start {load_start}, at the end {loadavg()}. A fresh process per row; "
          "12 real IAM lines, `recognize` per line (fastest of 3), median. 0 = TensorFlow's default "
          "(measured first and again last, to show the drift of the shared machine).", "",
          "| intra-op | inter-op | bfloat16 ms | float32 ms | 1-min load after |", "|---|---|---|---|---|"]
    for intra, inter, b, f, la in rows:
        md.append(f"| {intra or 'default'} | {inter or 'default'} | {b * 1e3:.1f} | {f * 1e3:.1f} | {la} |")
    md += ["", "The engine keeps TensorFlow's default unless `HTR_INTRA_THREADS` / `HTR_INTER_THREADS` "
           "are set (`htr.runtime.configure_threads`).", ""]
    (ROOT / "benchmarks" / "threads.md").write_text("\n".join(md))
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
