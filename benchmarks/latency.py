"""Per-line latency of every engine on the same real IAM lines, and Easter2's speed levers.

    python benchmarks/latency.py [--iam-dir ../shared/iam] [--repeats 3] [--engines easter2,easyocr,tesseract]

One run measures, on the e06-* line images of the IAM copy (the lines whose
CER ``model_cer.md`` / ``inference_cer.md`` report):

1. each engine's loading time (engine built + ``warm_up``), apart;
2. per-line latency of each engine at batch 1 (``recognize(line)``, wall
   clock around the call: preprocessing, model and decoding): each engine
   reads all lines, then the next engine, and the round is repeated
   ``--repeats`` times; each line keeps its fastest time (the machine is
   shared: the minimum is the least disturbed), then median and p90 over lines;
   CER of each engine on these lines;
3. Easter2 inference paths side by side (the Keras ``predict_on_batch`` of
   the full 2000-column layout it started with, the fast runtime in float32
   and bfloat16, and the int8 reader, TensorFlow Lite: the default on a CPU),
   per real line and for a typical 850-column line;
4. Easter2 throughput at batch 1, 8 and 32 (lines/s), its achieved FLOP rate
   (FLOPs counted from the layer shapes: :func:`htr.runtime.model_flops`),
   and this CPU's plain matrix-multiply rate measured in the same run;
5. compile levers: ``jit_compile`` (XLA) on/off, fixed vs dynamic shapes.

Writes ``benchmarks/latency.md``, ``latency.csv`` and ``latency.png`` (line
ids and numbers only: no IAM text or image). Skips with a message when the
IAM copy is absent; an engine that is not installed is reported as such.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

TYPICAL = 850  # columns at height 80 of a "typical" line in the target


def loadavg() -> str:
    try:
        return " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def code_state() -> str:
    """The commit measured, and which library files differed from it (others work in this tree)."""
    import subprocess

    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "htr"], cwd=ROOT, capture_output=True,
                               text=True, timeout=10).stdout.split("\n")
    except (OSError, subprocess.SubprocessError):
        return "code: unknown (no git)"
    changed = sorted(line[3:] for line in dirty if line.strip())
    return f"code: commit {head}" + (f" plus uncommitted changes to {', '.join(changed)}" if changed else "")


def cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo", encoding="ascii", errors="replace"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def best_of(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def time_calls(fn, n: int, warm: int = 2) -> list[float]:
    """Seconds of each of ``n`` calls of ``fn``, after ``warm`` untimed ones."""
    for _ in range(warm):
        fn()
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return ts


def median_time(fn, n: int, warm: int = 2) -> float:
    return float(np.median(time_calls(fn, n, warm)))


def typical_line(width: int = TYPICAL, seed: int = 0) -> np.ndarray:
    """A synthetic gray line that prepares to about ``width`` columns at height 80.

    The ink spans rows 4-76 and columns 8 to width-8, so the engine's framing
    (crop to the ink, margins of 5 % / 10 % of its height) keeps the size.
    """
    rng = np.random.default_rng(seed)
    g = np.full((80, width), 248, np.uint8)
    g[4:76, 8:12] = 30  # a tall first stroke fixes the ink's height
    x = 18
    while x < width - 20:
        w = int(rng.integers(3, 12))
        top = int(rng.integers(10, 30))
        g[top : top + int(rng.integers(15, 40)), x : x + w] = int(rng.integers(0, 60))
        x += w + int(rng.integers(3, 20))
    g[4:76, width - 12 : width - 8] = 30
    return g


def matmul_rates(n: int = 2048) -> dict[str, float]:
    """GFLOP/s of a plain n×n×n matrix multiply: numpy float32, TensorFlow float32 and bfloat16."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    a = rng.random((n, n), dtype=np.float32)
    flops = 2 * n**3
    out = {"numpy float32": flops / median_time(lambda: a @ a, 5, 1) / 1e9}
    ta = tf.constant(a)
    mm = tf.function(lambda x: tf.matmul(x, x))
    out["tf.matmul float32"] = flops / median_time(lambda: mm(ta).numpy(), 5, 1) / 1e9
    tb = tf.cast(ta, tf.bfloat16)
    out["tf.matmul bfloat16"] = flops / median_time(lambda: mm(tb).numpy(), 5, 1) / 1e9
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    from benchmarks.eval_lines import add_iam_dir, e06_lines

    add_iam_dir(ap)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--engines", default="easter2,easyocr,tesseract")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "latency"))
    args = ap.parse_args()
    e06 = e06_lines(args.iam_dir)
    ids, refs, images = e06.ids, e06.refs, e06.images
    from htr import ctc
    from htr.engines import get_engine
    from htr.metrics import aggregate
    from htr.preprocess import STRIDE, WIDTH, prepare_line

    load_start = loadavg()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())

    # ---- 1. loading ---------------------------------------------------------
    engines, load_s, status = {}, {}, {}
    for name in args.engines.split(","):
        t = time.perf_counter()
        try:
            eng = get_engine(name)
            ok, why = eng.availability()
            if ok:
                warm = getattr(eng, "warm_up", None)
                if warm is not None:
                    warm()
                    why = eng.availability()[1]  # after loading: how Easter2 reads
                engines[name] = eng
                load_s[name] = time.perf_counter() - t
            status[name] = why
        except Exception as exc:  # an engine that cannot even be built is reported, not fatal
            status[name] = f"unavailable: {type(exc).__name__}: {exc}"
        print(f"{name}: {status[name]}" + (f", loaded in {load_s[name]:.2f} s" if name in load_s else ""),
              flush=True)

    # ---- 2. per-line latency, engines taking turns --------------------------
    from htr.engines.easter2 import Easter2Engine
    from htr.model import load_model
    from htr.runtime import FastEaster2, LiteEaster2, compute_width, model_flops

    keras_model = load_model()

    def keras_reference(g):
        p = prepare_line(g, WIDTH)
        probs = np.asarray(keras_model.predict_on_batch(p.x[None]))[0, : p.content_steps]
        return ctc.greedy_decode(probs).text

    paths = {name: eng.recognize for name, eng in engines.items()}
    default_prec = engines["easter2"].reading_precision if "easter2" in engines else "n/a"
    if "easter2" in engines:
        for other in ("int8", "bfloat16", "float32"):
            if other != default_prec:
                e_other = Easter2Engine(precision=other)
                e_other.warm_up()
                paths[f"easter2 ({other})"] = e_other.recognize
        e_true = Easter2Engine(width=None)
        e_true.warm_up()
        keras_reference(images[0])
        paths[f"easter2 (true width, {e_true.reading_precision})"] = e_true.recognize
        paths["easter2 (Keras predict, 2000 cols)"] = keras_reference
    # Each path reads every line in turn, and the round is repeated: interleaving engines
    # line by line would let one engine's idle-spinning worker threads (torch's OpenMP,
    # TensorFlow's Eigen pool) slow the next engine's call; repeating rounds still spreads
    # the machine's load drift over all of them. A line's time is its fastest round.
    times = {p: [float("inf")] * len(images) for p in paths}
    hyps = {p: [""] * len(images) for p in paths}
    for rnd in range(args.repeats):
        for p, fn in paths.items():
            for k, g in enumerate(images):
                t = time.perf_counter()
                r = fn(g)
                times[p][k] = min(times[p][k], time.perf_counter() - t)
                hyps[p][k] = r if isinstance(r, str) else r.text
            print(f"round {rnd + 1}: {p} median {np.median(times[p]) * 1e3:.1f} ms", flush=True)
    load_mid = loadavg()
    stats = {}
    for p in paths:
        ts = np.array(times[p])
        s = aggregate(zip(refs, hyps[p]))
        stats[p] = (float(np.median(ts)), float(np.percentile(ts, 90)), s.cer)

    # ---- 3./4. Easter2 model paths, throughput, FLOP rate ----------------------
    rows_thr, typical, levers, peaks = [], {}, [], {}
    if "easter2" in engines:
        fast32 = FastEaster2(keras_model, "float32")
        fast16 = FastEaster2(keras_model, "bfloat16")
        lite8 = LiteEaster2(keras_model)
        vs = WIDTH // STRIDE
        x850 = prepare_line(typical_line(), WIDTH)
        cw = compute_width(x850.content, "layout")
        xt = prepare_line(typical_line(), None)
        full = x850.x[None]
        typical["Keras predict_on_batch, 2000 cols"] = (
            median_time(lambda: keras_model.predict_on_batch(full), 15), WIDTH)
        for fname, f in (("float32", fast32), ("bfloat16", fast16)):
            typical[f"fast {fname}, layout cut to {cw} cols"] = (
                median_time(lambda: f.run(x850.x[None, :cw], vs), 15), cw)
            typical[f"fast {fname}, true width {xt.width} cols"] = (
                median_time(lambda: f.run(xt.x[None], [xt.width], "true"), 15), xt.width)
        typical[f"int8 TFLite ({lite8.threads} threads), layout cut to {cw} cols"] = (
            median_time(lambda: lite8.run(x850.x[None, :cw], vs), 15), cw)
        line_in = typical_line()
        for fname in ("float32", "bfloat16", "int8"):
            eng = Easter2Engine(precision=fname)
            typical[f"engine.recognize {fname} (prep + model + decode)"] = (
                median_time(lambda: eng.recognize(line_in), 15), cw)

        # throughput on real lines (each batch cut past its widest line) and on the full layout
        preps = [prepare_line(g, WIDTH) for g in images]
        for fname, f in (("float32", fast32), ("bfloat16", fast16), ("int8", lite8)):
            for bs in (1, 8, 32):
                for where in ("real lines", "full 2000 layout"):
                    n_lines, secs, flops = 0, 0.0, 0
                    for start in range(0, len(preps) - bs + 1, bs):
                        chunk = preps[start : start + bs]
                        w = WIDTH if where != "real lines" else max(
                            compute_width(p.content, "layout") for p in chunk)
                        x = np.stack([p.x[:w] for p in chunk])
                        f.run(x, vs)  # shapes warm
                        t = best_of(lambda: f.run(x, vs), 2)
                        n_lines += bs
                        secs += t
                        flops += bs * model_flops(w)
                        if where != "real lines" and n_lines >= 32:
                            break
                    rows_thr.append((fname, bs, where, n_lines / secs, flops / secs / 1e9))
                    print(f"throughput {fname} batch {bs} {where}: {n_lines / secs:.1f} lines/s, "
                          f"{flops / secs / 1e9:.0f} GFLOP/s", flush=True)
        peaks = matmul_rates()
        print("matmul:", {k: round(v) for k, v in peaks.items()}, flush=True)

        # ---- 5. compile levers, at the typical line's compute width ----------
        x = x850.x[None, :cw]
        for fname in ("float32", "bfloat16"):
            for jit in (False, True):
                for fixed in (False, True):
                    if jit and not fixed:
                        continue  # XLA needs static shapes to pay off; dynamic = retrace per shape
                    f = FastEaster2(keras_model, fname, jit_compile=jit, fixed_shapes=fixed)
                    t0 = time.perf_counter()
                    f.run(x, vs)
                    first = time.perf_counter() - t0
                    levers.append((fname, jit, fixed, first, median_time(lambda: f.run(x, vs), 15)))
                    print("lever", levers[-1], flush=True)
    load_end = loadavg()

    # ---- write ----------------------------------------------------------------
    out = Path(args.out)
    with out.with_suffix(".csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["section", "what", "batch", "value", "unit"])
        for p, (med, p90, c) in stats.items():
            w.writerow(["per-line", p, 1, round(med * 1e3, 2), "ms median"])
            w.writerow(["per-line", p, 1, round(p90 * 1e3, 2), "ms p90"])
            w.writerow(["per-line", p, 1, round(c * 100, 2), "% CER"])
        for name, s in load_s.items():
            w.writerow(["load", name, "", round(s, 3), "s"])
        for k, (s, cols) in typical.items():
            w.writerow(["typical-850", k, 1, round(s * 1e3, 2), "ms"])
        for fname, bs, where, lps, gf in rows_thr:
            w.writerow(["throughput", f"{fname} {where}", bs, round(lps, 2), "lines/s"])
            w.writerow(["flop-rate", f"{fname} {where}", bs, round(gf, 1), "GFLOP/s"])
        for k, v in peaks.items():
            w.writerow(["matmul", k, "", round(v, 1), "GFLOP/s"])
        for fname, jit, fixed, first, med in levers:
            w.writerow(["compile", f"{fname} jit={jit} fixed_shapes={fixed}", 1, round(med * 1e3, 2), "ms"])
        for i, p in enumerate(paths):
            for k, line in enumerate(ids):
                w.writerow(["line", f"{p} {line}", 1, round(times[p][k] * 1e3, 2), "ms"])

    import tensorflow as tf

    md = [
        "# Latency: Easter2 beside EasyOCR and Tesseract, and Easter2's speed levers",
        "",
        f"Command `python benchmarks/latency.py` (repeats {args.repeats}); {started}; "
        f"{cpu_name()}, {os.cpu_count()} cores; TensorFlow {tf.__version__}; Easter2 default precision "
        f"**{default_prec}**. "
        f"Load average (1/5/15 min) at start {load_start}, after the per-line part {load_mid}, "
        f"at the end {load_end}: this 2-core machine is shared, so each line's time is the fastest of "
        f"{args.repeats} rounds (each engine reads all lines per round, engines one after another). "
        f"{code_state()}.",
        "",
        f"## Per line, batch 1 ({len(ids)} real IAM e06 lines, ink {np.median([prepare_line(g, None).content for g in images]):.0f} "
        "columns median at height 80)",
        "",
        "`recognize(line)` as the app and CLI call it: preprocessing, model, greedy decoding. "
        "Model loading is excluded (next table).",
        "",
        "| engine / path | median ms | p90 ms | CER | median vs Easter2 |",
        "|---|---|---|---|---|",
    ]
    e2 = stats.get("easter2", (None,))[0]
    for p, (med, p90, c) in stats.items():
        ratio = f"{med / e2:.1f}×" if e2 else ""
        md.append(f"| {p} | {med * 1e3:.1f} | {p90 * 1e3:.1f} | {c:.2%} | {ratio} |")
    for name, why in status.items():
        if name not in engines:
            md.append(f"| {name} | — | — | — | not measured: {why} |")
    md += ["", "| engine | loading (build + warm-up), s | status |", "|---|---|---|"]
    for name, why in status.items():
        md.append(f"| {name} | {load_s[name]:.2f} | {why} |" if name in load_s else f"| {name} | — | {why} |")
    if e2:
        md += ["", "Targets (issue 8): Easter2 median ≤ 0.15 × each other engine's median:"]
        for other in ("tesseract", "easyocr"):
            if other in stats:
                r = e2 / stats[other][0]
                md.append(f"- vs {other}: {r:.3f} × ({'met' if r <= 0.15 else 'NOT met'})")
    if typical:
        md += ["", f"## A typical line ({TYPICAL} columns at height 80), batch 1, model only unless said",
               "", "| path | computed columns | median ms | GFLOP/s |", "|---|---|---|---|"]
        for k, (s, cols) in typical.items():
            md.append(f"| {k} | {cols} | {s * 1e3:.1f} | {model_flops(cols) / s / 1e9:.0f} |")
        best = min(s for k, (s, _) in typical.items() if k.startswith("engine"))
        md.append("")
        md.append(f"Target ≤ 10 ms for a typical line: {best * 1e3:.1f} ms end to end "
                  f"({'met' if best <= 0.010 else 'NOT met'}).")
    if rows_thr:
        md += ["", "## Easter2 throughput (model only, float32 input in, softmax out)", "",
               "int8: TensorFlow Lite, dynamic-range int8 weights (its FLOPs are integer multiply-adds "
               "for the convolutions, counted the same way).", "",
               "| precision | batch | lines | lines/s | achieved GFLOP/s |", "|---|---|---|---|---|"]
        for fname, bs, where, lps, gf in rows_thr:
            md.append(f"| {fname} | {bs} | {where} | {lps:.1f} | {gf:.0f} |")
        md += ["", f"FLOPs counted from the layer shapes (`htr.runtime.model_flops`): "
               f"{model_flops(WIDTH) / 1e9:.2f} GFLOP for the 2000-column layout, "
               f"{model_flops(cw) / 1e9:.2f} GFLOP at {cw} columns. Plain matrix multiply "
               "(2048³) on this CPU, same run:", ""]
        for k, v in peaks.items():
            md.append(f"- {k}: {v:.0f} GFLOP/s")
    if levers:
        md += ["", f"## Compile levers ({cw} columns, batch 1)", "",
               "| precision | jit_compile (XLA) | fixed shapes | first call s (trace) | median ms |",
               "|---|---|---|---|---|"]
        for fname, jit, fixed, first, med in levers:
            md.append(f"| {fname} | {jit} | {fixed} | {first:.2f} | {med * 1e3:.1f} |")
    md += ["", "Raw numbers, per-line times included: `latency.csv`. Plot: `latency.png`.", ""]
    out.with_suffix(".md").write_text("\n".join(md))

    from benchmarks.plot import bar_panels

    panels = [("Per-line latency, batch 1 (real IAM lines)", "ms",
               [(p, [stats[p][0] * 1e3, stats[p][1] * 1e3]) for p in stats], ["median", "p90"])]
    if typical:
        panels.append((f"Typical {TYPICAL}-column line", "ms",
                       [(k.split(" (")[0][:40], [s * 1e3]) for k, (s, _) in typical.items()], ["median"]))
    if rows_thr:
        real = [r for r in rows_thr if r[2] == "real lines"]
        panels.append(("Easter2 throughput on real lines", "lines/s",
                       [(f"batch {bs}", [next(r[3] for r in real if r[0] == f and r[1] == bs)
                                         for f in ("float32", "bfloat16", "int8")]) for bs in (1, 8, 32)],
                       ["float32", "bfloat16", "int8"]))
    bar_panels(panels, out.with_suffix(".png"))
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
