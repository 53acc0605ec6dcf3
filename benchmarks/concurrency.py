"""Eight browsers at once on one Streamlit server: each its own answer, one model, memory.

    .venv/bin/python benchmarks/concurrency.py [--sessions 8] [--out benchmarks/concurrency.md]

Starts ``streamlit run streamlit_app.py`` on a free localhost port (through a
small launcher that logs every Easter2 model load to a file), opens N headless
Chromium browsers (Debian's chromium + chromium-driver, selenium), and in two
rounds has every browser, at the same moment, open the Recognize page, choose
Upload, send a different example line (examples/line-0N.png, made by the
project) and wait for the text. Round 2 sends new images (the same lines with
one corner pixel changed, so nothing comes from the app's per-image cache).

Measured: wall time of each round, per-session latency from the file being
handed to the browser to the text shown, the server's resident memory (before,
after each round, peak, sampled every 0.2 s), how many times the model was
loaded, whether every session was shown the text the CLI reads on its own
image (the concurrency property: no session gets another's answer or a
different one), and, apart, whether that text is right against the line's
true text (examples/examples.json; the spaces around punctuation ignored, as
Easter2 writes IAM's ``dog .``), with its CER. Writes a Markdown report.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tools.live_app import chromium, chromium_missing, start_server, stop_server, wait_idle, wait_ready  # noqa: E402

EXAMPLES = ROOT / "examples"
PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable

LAUNCHER = r"""
import os, sys, threading
import htr.model
_real = htr.model.load_model
_lock = threading.Lock()
def load_model(*args, **kwargs):
    model = _real(*args, **kwargs)
    with _lock, open(os.environ["HTR_BENCH_LOADLOG"], "a") as fh:
        fh.write(f"{threading.current_thread().name}\n")
    return model
htr.model.load_model = load_model
from streamlit.web import cli
sys.argv = ["streamlit", "run", *sys.argv[1:]]
sys.exit(cli.main())
"""


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and its children (Linux /proc), in MiB."""
    total = 0
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) the process ``pid`` has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Sampler(threading.Thread):
    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak, self.stop = pid, 0.0, threading.Event()

    def run(self):
        while not self.stop.is_set():
            self.peak = max(self.peak, rss_mb(self.pid))
            time.sleep(0.2)


def expected_texts(paths: list[Path]) -> dict[str, dict]:
    """What the CLI (a separate process) reads on each image, and its recognition time."""
    proc = subprocess.run([PYTHON, "-m", "htr", "recognize", "--engine", "easter2", "--layout", "line", "--json",
                           *map(str, paths)], cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    if proc.returncode != 0:
        raise SystemExit(f"CLI failed: {proc.stderr}")
    return {r["image"]: r for r in map(json.loads, proc.stdout.splitlines())}


def norm(text: str) -> str:
    return " ".join(text.split())


def against_truth(text: str, truth: str) -> tuple[bool, float]:
    """(right, CER) of a reading against the true text, the spaces around punctuation ignored on both sides."""
    from htr.metrics import cer, unspace_punctuation

    a, b = unspace_punctuation(truth), unspace_punctuation(text)
    return a == b, cer(a, b)


# ---------------------------------------------------------------- browser side


def make_driver():
    return chromium(window="1200,1000", extra=("--disable-background-timer-throttling",
                                               "--disable-renderer-backgrounding"))


def settle(driver) -> None:
    wait_idle(driver, timeout=300, poll=0.2)


def open_upload(driver, url: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(f"{url}/recognize")
    settle(driver)
    for label in driver.find_elements(By.CSS_SELECTOR, '[data-testid="stRadio"] label'):
        if label.text.strip() == "Upload":
            label.click()
            break
    else:
        raise RuntimeError("no Upload option on the Recognize page")
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 300, poll_frequency=0.2).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, 'input[type="file"]'))
    settle(driver)


def upload_and_read(driver, path: Path, barrier: threading.Barrier) -> dict:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    inp = driver.find_element(By.CSS_SELECTOR, 'input[type="file"]')
    barrier.wait()  # all sessions send their file at the same moment
    t0 = time.perf_counter()
    inp.send_keys(str(path))

    def shown(d):
        if d.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]'):
            return "EXCEPTION"
        caps = [c.text for c in d.find_elements(By.CSS_SELECTOR, '[data-testid="stImageCaption"], '
                                               '[data-testid="caption"]')]
        texts = d.find_elements(By.CSS_SELECTOR, ".htr-text")
        if texts and any(path.name in c for c in caps):  # the reading of *this* upload
            return texts[0].text
        return False

    text = WebDriverWait(driver, 300, poll_frequency=0.1).until(shown)
    latency = time.perf_counter() - t0
    settle(driver)
    errors = [e.text for e in driver.find_elements(By.CSS_SELECTOR, '[data-testid="stAlertContentError"]')]
    text = driver.find_elements(By.CSS_SELECTOR, ".htr-text")[0].text
    return {"image": path.name, "text": text, "latency_s": latency, "errors": errors}


# ---------------------------------------------------------------- main


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=8)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "concurrency.md"))
    args = ap.parse_args(argv)
    n = args.sessions
    missing = chromium_missing()
    if missing:
        raise SystemExit(f"needs a headless Chromium: {missing}")
    from PIL import Image

    rows = json.loads((EXAMPLES / "examples.json").read_text(encoding="utf-8"))
    lines = [EXAMPLES / r["file"] for r in rows if r.get("kind") == "line"][:n]
    truths = {f"r{k}-{r['file']}": r["text"] for r in rows if r.get("kind") == "line" for k in (1, 2)}
    if len(lines) < n:
        raise SystemExit(f"only {len(lines)} example lines in examples/")
    work = Path(tempfile.mkdtemp(prefix="htr-concurrency-"))
    round1 = []
    round2 = []
    for p in lines:
        a = work / f"r1-{p.name}"
        shutil.copy(p, a)
        round1.append(a)
        b = work / f"r2-{p.name}"
        img = Image.open(p).convert("L")
        img.putpixel((0, 0), 250)  # one pixel changed: a new image to the cache, the same line to read
        img.save(b)
        round2.append(b)
    t = time.perf_counter()
    cli = {Path(k).name: v for k, v in expected_texts(round1 + round2).items()}
    expected = {k: v["text"] for k, v in cli.items()}
    model_s = statistics.median(v["seconds"] for v in cli.values())
    print(f"expected texts from the CLI in {time.perf_counter() - t:.1f} s", flush=True)

    loadlog = work / "model-loads.log"
    loadlog.write_text("")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HTR_BENCH_LOADLOG": str(loadlog), "PYTHONUNBUFFERED": "1"}
    env.pop("IAM_DIR", None)
    env.pop("HTR_WEIGHTS", None)
    log = (work / "server.log").open("w+")
    server = start_server(env, python=PYTHON, runner=("-c", LAUNCHER), stdout=log)
    url, pid = server.url, server.proc.pid
    drivers = []
    report = {}
    try:
        try:
            wait_ready(server, timeout=90, poll=0.3)
        except RuntimeError as exc:
            raise SystemExit(f"server did not start: {exc}") from None
        rss_idle = rss_mb(pid)
        load_start = os.getloadavg()[0]
        sampler = Sampler(pid)
        sampler.start()
        t = time.perf_counter()
        with ThreadPoolExecutor(n) as pool:
            drivers = list(pool.map(lambda _: make_driver(), range(n)))
        print(f"{n} browsers started in {time.perf_counter() - t:.1f} s", flush=True)
        t = time.perf_counter()
        with ThreadPoolExecutor(n) as pool:
            list(pool.map(lambda d: open_upload(d, url), drivers))
        open_s = time.perf_counter() - t
        rss_open = rss_mb(pid)
        print(f"{n} sessions on the Recognize page in {open_s:.1f} s (first one loads the model)", flush=True)
        rounds = []
        for images in (round1, round2):
            barrier = threading.Barrier(n, timeout=600)
            cpu0 = cpu_s(pid)
            t = time.perf_counter()
            with ThreadPoolExecutor(n) as pool:
                results = list(pool.map(lambda di: upload_and_read(di[0], di[1], barrier), zip(drivers, images)))
            wall = time.perf_counter() - t
            for r in results:
                r["correct"] = norm(r["text"]) == norm(expected[r["image"]]) and not r["errors"]  # same as the CLI
                r["true"], r["cer"] = against_truth(r["text"], truths[r["image"]])
                r["true"] = r["true"] and not r["errors"]
            rounds.append({"wall_s": wall, "results": results, "rss_after": rss_mb(pid),
                           "server_cpu_s": cpu_s(pid) - cpu0})
            print(f"round: wall {wall:.1f} s, same as the CLI {sum(r['correct'] for r in results)}/{n}, "
                  f"right against the true text {sum(r['true'] for r in results)}/{n}, "
                  f"latencies {[round(r['latency_s'], 1) for r in results]}", flush=True)
        sampler.stop.set()
        loads = [x for x in loadlog.read_text().splitlines() if x]
        report = {"n": n, "rss_idle": rss_idle, "rss_open": rss_open, "rss_peak": sampler.peak,
                  "open_s": open_s, "rounds": rounds, "loads": len(loads),
                  "load_start": load_start, "model_s": model_s}
    finally:
        for d in drivers:
            try:
                d.quit()
            except Exception:
                pass
        stop_server(server)
        log.seek(0)
        server_log = log.read()
        log.close()
    if "Traceback" in server_log:
        print("server log has a traceback:\n" + server_log[-3000:])
    write_report(Path(args.out), report, traceback_in_log="Traceback" in server_log)
    shutil.rmtree(work, ignore_errors=True)
    ok = all(r["correct"] for rd in report["rounds"] for r in rd["results"]) and report["loads"] == 1
    return 0 if ok else 1


def write_report(out: Path, rep: dict, traceback_in_log: bool) -> None:
    n = rep["n"]
    load = os.getloadavg()
    lines = [
        "# Many users: eight browsers at once on one Streamlit server",
        "",
        "Made by `benchmarks/concurrency.py` (rerun it to refresh this file). One "
        "`streamlit run streamlit_app.py` on localhost, the trained Easter2 weights, "
        f"{n} headless Chromium browsers (selenium). Each round, all {n} send a different "
        "example line to the Recognize page at the same moment (a barrier) and wait for "
        "the text; round 2 sends new images (one corner pixel changed), so nothing "
        "comes from the per-image cache. Latency: from the file handed to the browser to "
        "the reading of that file shown (upload, script run, recognition, drawing).",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, no GPU use; 1-minute load average "
        f"{rep['load_start']:.1f} when the server started, {load[0]:.1f} at the end. The {n} browsers run "
        "on the same cores as the server (and on this shared machine other people's jobs ran too), "
        "so wall times and latencies are upper bounds; the server's own CPU time per round does "
        "not depend on that contention.",
        "",
        "**Same as the CLI**: the session was shown exactly the text `python -m htr recognize` reads on "
        "the same image in its own process (the property under test: no answer lost, mixed up or "
        "changed by the load). **Right against the true text**: that text equals the line's true text "
        "(examples/examples.json) with the spaces around punctuation ignored (Easter2 writes IAM's "
        "`dog .`); it measures the model, not the server.",
        "",
        "| round | wall time | latency min | median | max | server CPU time | same as the CLI "
        "| right against the true text |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for i, rd in enumerate(rep["rounds"], 1):
        lat = sorted(r["latency_s"] for r in rd["results"])
        lines.append(f"| {i} | {rd['wall_s']:.1f} s | {lat[0]:.2f} s | {statistics.median(lat):.2f} s | "
                     f"{lat[-1]:.2f} s | {rd['server_cpu_s']:.1f} s ({rd['server_cpu_s'] / n:.2f} s a session) | "
                     f"{sum(r['correct'] for r in rd['results'])}/{n} | {sum(r['true'] for r in rd['results'])}/{n} |")
    lines += [
        "",
        f"- Opening the Recognize page in all {n} browsers at once (the first run loads the model): "
        f"{rep['open_s']:.1f} s.",
        f"- Easter2 alone reads one of these lines in {1000 * rep['model_s']:.0f} ms (median, CLI, same "
        "machine): nearly all of the server's CPU time per session is Streamlit's page work "
        "(script reruns, figures, images), not the model.",
        f"- Easter2 model loads in the server process: **{rep['loads']}** (logged by a wrapper around "
        "`htr.model.load_model`).",
        f"- Server resident memory: {rep['rss_idle']:.0f} MiB idle → {rep['rss_open']:.0f} MiB with the "
        f"model and {n} sessions → " + " → ".join(f"{rd['rss_after']:.0f} MiB after round {i}"
                                                  for i, rd in enumerate(rep["rounds"], 1))
        + f"; peak {rep['rss_peak']:.0f} MiB.",
        f"- Tracebacks in the server log: {'YES' if traceback_in_log else 'none'}.",
        "",
        "Per session (round: image → latency, same as the CLI or not, right or wrong against the true text "
        "with its CER, text shown):",
        "",
    ]
    for i, rd in enumerate(rep["rounds"], 1):
        for r in rd["results"]:
            mark = "same as the CLI" if r["correct"] else "DIFFERS FROM THE CLI"
            truth = "right" if r["true"] else f"wrong (CER {100 * r['cer']:.1f} %)"
            lines.append(f"- {i}: `{r['image']}` → {r['latency_s']:.2f} s, {mark}, {truth}: {r['text']!r}")
    lines += ["", "The same property is tested without browsers in tests/test_concurrency.py "
              "(8 AppTest sessions in threads on one shared runtime).", ""]
    out.write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    sys.exit(main())
