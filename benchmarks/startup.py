"""App and CLI cold start: from `streamlit run` to the first page and the first line read.

    python benchmarks/startup.py [--runs 3] [--cli-runs 5]

App (each run a fresh server): ``streamlit run streamlit_app.py`` headless on a
free localhost port, visited by Debian's headless Chromium through selenium
(the browser is started before the clock). Measured from launching the server:

* server health endpoint answers;
* first page rendered: the home page's title is in the browser's DOM;
* first line recognized: the Recognize page (opened right after) shows the
  text Easter2 read from the default example;

and the server's peak resident memory (VmHWM of the process and its
children, from /proc) at the end of the run.

CLI: ``python -m htr recognize --engine easter2 examples/line-01.png`` as a
whole process, ``--cli-runs`` times after one warm-up: wall time and peak RSS
(``os.wait4``), min / median / max, by default (int8 reading, converted at
load) and with ``HTR_PRECISION=bfloat16`` (no conversion); plus where a cold
start's time goes (importing TensorFlow, building and loading the model, the
int8 conversion, the first run, reading the line), measured in one fresh
process each run.

Skips (exit 2, with the reason) what cannot run here: no Chromium/selenium.
Writes ``benchmarks/startup.md`` and ``startup.csv``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.latency import cpu_name, loadavg  # noqa: E402
from tools.live_app import chromium, chromium_missing, running_server  # noqa: E402

PY = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable
LINE = ROOT / "examples" / "line-01.png"
HOME_TITLE = "Reading handwriting"


def tree_peak_rss_mb(pid: int) -> float:
    """Peak RSS (VmHWM) of ``pid`` plus the current peaks of its live descendants, MB."""
    total = 0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            for line in open(f"/proc/{p}/status"):
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
            kids = open(f"/proc/{p}/task/{p}/children").read().split()
            todo += [int(k) for k in kids]
        except OSError:
            continue
    return total / 1024


def app_run(driver, timeout: float = 300.0) -> dict:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.pop("IAM_DIR", None)
    out = {}
    with running_server(env, python=PY, timeout=timeout, poll=0.05) as server:
        out["health_s"] = time.monotonic() - server.started
        url = server.url
        driver.get(url)
        WebDriverWait(driver, timeout, poll_frequency=0.05).until(
            lambda d: any(HOME_TITLE in h.text for h in d.find_elements(By.CSS_SELECTOR, "h1")))
        out["first_page_s"] = time.monotonic() - server.started
        t1 = time.monotonic()
        driver.get(url + "/recognize")
        WebDriverWait(driver, timeout, poll_frequency=0.05).until(
            lambda d: any(e.text.strip() for e in d.find_elements(By.CSS_SELECTOR, ".htr-text")))
        out["first_line_s"] = time.monotonic() - server.started
        out["recognize_page_s"] = time.monotonic() - t1
        time.sleep(1.0)
        out["peak_rss_mb"] = tree_peak_rss_mb(server.proc.pid)
    return out


def cli_run(args: list[str], env: dict | None = None) -> tuple[float, float, int]:
    """Wall seconds, peak RSS MB and exit status of one whole process."""
    t = time.monotonic()
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=None if env is None else dict(os.environ, **env))
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - t
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_maxrss / 1024, proc.returncode


PHASES = r"""
import os, time, json
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
t = time.perf_counter(); out = {}
import tensorflow as tf; out["import tensorflow"] = time.perf_counter() - t
from htr.engines.easter2 import Easter2Engine
from htr.images import load_image
t = time.perf_counter(); e = Easter2Engine(); e._load(); out["build + load weights + fold (+ int8 conversion)"] = time.perf_counter() - t
out["… of which: int8 conversion (trace float32 graph, convert)"] = e._lite.convert_s if e._lite is not None else 0.0
t = time.perf_counter(); e.warm_up(); out["first run of the reading path (warm_up)"] = time.perf_counter() - t
g = load_image(%r)
t = time.perf_counter(); r = e.recognize(g); out["read the line"] = time.perf_counter() - t
print(json.dumps(out))
"""


def stats(xs):
    xs = sorted(xs)
    return xs[0], xs[len(xs) // 2] if len(xs) % 2 else (xs[len(xs) // 2 - 1] + xs[len(xs) // 2]) / 2, xs[-1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cli-runs", type=int, default=5)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "startup"))
    args = ap.parse_args()
    started, load_start = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), loadavg()
    notes, app_rows = [], []
    missing = chromium_missing()
    if missing:
        notes.append(f"App cold start not measured: {missing}.")
    else:
        driver = chromium(window="1400,1200")
        try:
            for i in range(args.runs):
                r = app_run(driver)
                app_rows.append(r)
                print(f"app run {i + 1}: " + ", ".join(f"{k} {v:.2f}" for k, v in r.items()), flush=True)
        finally:
            driver.quit()

    cli = [PY, "-m", "htr", "recognize", "--engine", "easter2", str(LINE)]
    cli_rows = []
    cli_run(cli)  # warm-up: file caches
    for i in range(args.cli_runs):
        cli_rows.append(cli_run(cli))
        print(f"cli run {i + 1}: wall {cli_rows[-1][0]:.2f} s, peak RSS {cli_rows[-1][1]:.0f} MB, "
              f"exit {cli_rows[-1][2]}", flush=True)
    bf16_rows = []  # the same CLI reading in bfloat16: what the int8 conversion costs a cold start
    for i in range(args.cli_runs):
        bf16_rows.append(cli_run(cli, {"HTR_PRECISION": "bfloat16"}))
        print(f"cli run {i + 1} (HTR_PRECISION=bfloat16): wall {bf16_rows[-1][0]:.2f} s", flush=True)
    phases = []
    for i in range(args.cli_runs):
        res = subprocess.run([PY, "-c", PHASES % str(LINE)], cwd=ROOT, capture_output=True, text=True,
                             env=dict(os.environ, PYTHONPATH=str(ROOT)))
        if res.returncode == 0:
            phases.append(json.loads(res.stdout.strip().splitlines()[-1]))
    load_end = loadavg()

    out = Path(args.out)
    with out.with_suffix(".csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["what", "run", "value", "unit"])
        for i, r in enumerate(app_rows):
            for k, v in r.items():
                w.writerow([f"app {k}", i + 1, round(v, 3), "MB" if k.endswith("mb") else "s"])
        for i, (wall, rss, code) in enumerate(cli_rows):
            w.writerow(["cli wall", i + 1, round(wall, 3), "s"])
            w.writerow(["cli peak_rss", i + 1, round(rss, 1), "MB"])
        for i, (wall, rss, code) in enumerate(bf16_rows):
            w.writerow(["cli bfloat16 wall", i + 1, round(wall, 3), "s"])
            w.writerow(["cli bfloat16 peak_rss", i + 1, round(rss, 1), "MB"])
        for i, ph in enumerate(phases):
            for k, v in ph.items():
                w.writerow([f"phase {k}", i + 1, round(v, 3), "s"])

    md = ["# Cold start: the app and the command line", "",
          f"Command `python benchmarks/startup.py` ({args.runs} app runs, {args.cli_runs} CLI runs); {started}; "
          f"{cpu_name()}, {os.cpu_count()} cores. Load average (1/5/15 min) at start {load_start}, "
          f"at the end {load_end}.", ""]
    if app_rows:
        md += ["## App: `streamlit run streamlit_app.py`, headless Chromium", "",
               "Seconds from launching the server (fresh process each run); min / median / max.", "",
               "| milestone | min | median | max |", "|---|---|---|---|"]
        names = {"health_s": "server answers /_stcore/health", "first_page_s": "**first page rendered**",
                 "first_line_s": "**first line recognized** (Recognize page, default example)",
                 "recognize_page_s": "… of which: opening Recognize until the text shows",
                 "peak_rss_mb": "server peak RSS, MB"}
        for k, label in names.items():
            lo, med, hi = stats([r[k] for r in app_rows])
            fmt = "{:.0f}" if k.endswith("mb") else "{:.2f}"
            md.append(f"| {label} | {fmt.format(lo)} | {fmt.format(med)} | {fmt.format(hi)} |")
        med_first = stats([r["first_page_s"] for r in app_rows])[1]
        md += ["", f"Target ≤ 5 s to the first page: {med_first:.2f} s median "
               f"({'met' if med_first <= 5 else 'NOT met'}). The model loads once per server process "
               "(`st.cache_resource`), and engines built for the two decoders share it "
               "(`htr.engines.easter2._shared_runtime`)."]
    md += notes
    if cli_rows:
        lo, med, hi = stats([r[0] for r in cli_rows])
        rlo, rmed, rhi = stats([r[1] for r in cli_rows])
        md += ["", "## CLI: `python -m htr recognize --engine easter2 examples/line-01.png`", "",
               "Whole process, after one warm-up run; min / median / max.", "",
               "| figure | min | median | max |", "|---|---|---|---|",
               f"| wall s | {lo:.2f} | {med:.2f} | {hi:.2f} |",
               f"| peak RSS MB | {rlo:.0f} | {rmed:.0f} | {rhi:.0f} |"]
        if bf16_rows:
            lo, med, hi = stats([r[0] for r in bf16_rows])
            rlo, rmed, rhi = stats([r[1] for r in bf16_rows])
            md += [f"| wall s, `HTR_PRECISION=bfloat16` (no int8 conversion) | {lo:.2f} | {med:.2f} | {hi:.2f} |",
                   f"| peak RSS MB, `HTR_PRECISION=bfloat16` | {rlo:.0f} | {rmed:.0f} | {rhi:.0f} |"]
    if phases:
        md += ["", "Where a cold start's time goes (one fresh process per run, median of runs):", "",
               "| phase | median s |", "|---|---|"]
        for k in phases[0]:
            md.append(f"| {k} | {stats([p[k] for p in phases])[1]:.2f} |")
    md += ["", "Raw numbers: `startup.csv`.", ""]
    out.with_suffix(".md").write_text("\n".join(md))
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
