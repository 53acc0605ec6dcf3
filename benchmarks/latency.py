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
   CER of each engine on these lines. In the same rounds: Easter2 without its
   lean check (``deskew=False``: what the check costs, same lines, same run),
   and each engine reading the line's *file* as ``python -m htr recognize``
   does (decode the file, choose line or page, recognize), with the seconds
   the CLI reports beside the wall clock;
3. where Easter2's time goes, stage by stage, on the same lines and rounds:
   the CLI's path (file decode, line-or-page check, lean check, framing,
   resize and normalise, model, CTC decoding) and what the app's Recognize
   page adds or does otherwise (decoding the upload's bytes, the content hash
   that keys its cache, the hand-off to its worker thread);
4. Easter2 inference paths side by side (the Keras ``predict_on_batch`` of
   the full 2000-column layout it started with, the fast runtime in float32
   and bfloat16, the int8 reader, TensorFlow Lite: the default on a CPU, and
   the full-int8 reader, precision ``int8-full``: activations int8 too,
   calibrated on training-split lines, an option built for AVX2-only CPUs;
   ``--no-int8-full`` leaves it out), per real line and for a typical line:
   the real e06 line of median width;
5. Easter2 throughput at batch 1, 8 and 32 (lines/s), its achieved FLOP rate
   (FLOPs counted from the layer shapes: :func:`htr.runtime.model_flops`),
   and this CPU's plain matrix-multiply rate measured in the same run;
6. compile levers: ``jit_compile`` (XLA) on/off, fixed vs dynamic shapes.

The output names the CPU and its vector flags (AVX2, AVX-512, VNNI, BF16,
AMX: what decides which kernels TensorFlow and XNNPACK run). ``--limit N``
reads only the first N lines (a smoke test; the committed output uses all).

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

#: The CPU flags that decide which kernels run (AVX2 only, AVX-512, its int8 VNNI and bf16, AMX).
VECTOR_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16", "amx_int8")


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


def cpu_flags() -> dict[str, bool]:
    """Which of :data:`VECTOR_FLAGS` this CPU has (``/proc/cpuinfo``; empty where it cannot be read)."""
    try:
        for line in open("/proc/cpuinfo", encoding="ascii", errors="replace"):
            if line.startswith("flags"):
                have = set(line.split(":", 1)[1].split())
                return {f: f in have for f in VECTOR_FLAGS}
    except OSError:
        pass
    return {}


def cpu_kind(flags: dict[str, bool]) -> str:
    if not flags:
        return "vector flags unknown"
    if flags.get("avx512f"):
        return "AVX-512"
    return "AVX2 only (no AVX-512)" if flags.get("avx2") else "no AVX2"


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


def line_files(iam_dir, ids: list[str], images: list[np.ndarray], tmp: Path) -> list[str]:
    """Each line's image file, as the CLI is given it: the IAM copy's own PNG, else its pixels written as one."""
    from benchmarks.eval_lines import open_iam
    from htr.images import to_png_bytes

    iam = open_iam(iam_dir)
    out = []
    for line, g in zip(ids, images):
        p = iam.line_image_path(line)
        if p is None:  # a line cut from its form scan: the same pixels as a file
            p = tmp / f"{line}.png"
            p.write_bytes(to_png_bytes(g))
        out.append(str(p))
    return out


#: Easter2's stages on the CLI's path (``python -m htr recognize``), in order.
CLI_STAGES = ("image decode (file to array)", "line or page check", "lean check", "framing",
              "resize + normalise", "model", "CTC decoding")
#: What the app's Recognize page does otherwise or besides, for an uploaded line.
APP_STAGES = ("image decode (upload bytes to array)", "content hash (its cache key)",
              "hand-off to its worker thread")


def easter2_stages(engine, path: str, data: bytes, pool) -> tuple[dict[str, float], str, str]:
    """Seconds of each stage of Easter2 reading one line file, called one by one as
    ``Easter2Engine.recognize`` and the CLI call them; the reading; the layout chosen."""
    from htr import preprocess as pp
    from htr.images import image_hash, load_image
    from htr.segment import is_single_line

    clock = time.perf_counter
    t = {}
    t0 = clock()
    gray = load_image(path, name=path)
    t1 = clock()
    layout = "line" if is_single_line(gray) else "page"  # the CLI's --layout auto, the app's guess
    t2 = clock()
    straight = pp.deskew_line(gray)[0] if engine.deskew else gray
    t3 = clock()
    framed = pp.frame_line(straight)[0]
    t4 = clock()
    prep = pp.prepare_line(framed, engine.width, frame=False)
    t5 = clock()
    (probs,) = engine._forward([prep])
    t6 = clock()
    dec = engine._decode(probs[: prep.content_steps])
    t7 = clock()
    for name, a, b in zip(CLI_STAGES, (t0, t1, t2, t3, t4, t5, t6), (t1, t2, t3, t4, t5, t6, t7)):
        t[name] = b - a
    t0 = clock()
    upload = load_image(data, name=Path(path).name)
    t1 = clock()
    image_hash(upload)
    t2 = clock()
    pool.submit(int).result()  # what the thread hop costs beside the reading it carries
    t3 = clock()
    for name, a, b in zip(APP_STAGES, (t0, t1, t2), (t1, t2, t3)):
        t[name] = b - a
    return t, dec.text, layout


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    from benchmarks.eval_lines import add_iam_dir, e06_lines

    add_iam_dir(ap)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--engines", default="easter2,easyocr,tesseract")
    ap.add_argument("--limit", type=int, default=0,
                    help="read only the first N lines (a smoke test; the committed output uses all)")
    ap.add_argument("--no-int8-full", action="store_true",
                    help="leave out the full-int8 reader (precision int8-full: activations calibrated on "
                         "training-split lines, tens of seconds to build)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "latency"))
    args = ap.parse_args()
    e06 = e06_lines(args.iam_dir)
    ids, refs, images = e06.ids, e06.refs, e06.images
    if args.limit:
        ids, refs, images = ids[: args.limit], refs[: args.limit], images[: args.limit]
    import tempfile
    from concurrent.futures import ThreadPoolExecutor

    from htr import ctc
    from htr.engines import get_engine
    from htr.images import load_image
    from htr.metrics import aggregate
    from htr.preprocess import STRIDE, WIDTH, prepare_line
    from htr.segment import is_single_line

    tmp = Path(tempfile.mkdtemp(prefix="latency-"))
    files = line_files(args.iam_dir, ids, images, tmp)
    file_bytes = [Path(f).read_bytes() for f in files]
    flags = cpu_flags()
    load_start = loadavg()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(f"{cpu_name()}, {os.cpu_count()} cores; {cpu_kind(flags)}; "
          + " ".join(f"{f}={'yes' if v else 'no'}" for f, v in flags.items()), flush=True)

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

    def on_array(fn):
        return lambda k: fn(images[k])

    cli_seconds: dict[str, list[float]] = {}  # the "seconds" the CLI prints, per file-to-text path

    def file_to_text(name, eng):
        """What ``python -m htr recognize --engine NAME FILE`` does for one file, model loaded."""
        p = f"{name}: file to text, as the CLI"
        cli_seconds[p] = [float("inf")] * len(images)

        def read(k):
            gray = load_image(files[k], name=files[k])
            rec = eng.recognize(gray, layout="line" if is_single_line(gray) else "page")
            cli_seconds[p][k] = min(cli_seconds[p][k], float(rec.seconds))
            return rec

        return p, read

    paths = {name: on_array(eng.recognize) for name, eng in engines.items()}
    default_prec = engines["easter2"].reading_precision if "easter2" in engines else "n/a"
    precisions = ("int8", "bfloat16", "float32") + (() if args.no_int8_full else ("int8-full",))
    readers = {}  # precision -> the engine reading in it (int8-full: only where it could be built)
    if "easter2" in engines:
        readers[default_prec] = engines["easter2"]
        e_level = Easter2Engine(deskew=False)  # the same reader without the lean check
        e_level.warm_up()
        paths["easter2 (no lean check)"] = on_array(e_level.recognize)
        for other in precisions:
            if other != default_prec:
                t = time.perf_counter()
                e_other = Easter2Engine(precision=other)
                e_other.warm_up()
                if e_other.reading_precision != other:  # e.g. int8-full with nothing to calibrate on
                    print(f"easter2 {other}: not measured: {e_other.availability()[1]}", flush=True)
                    continue
                print(f"easter2 {other}: built in {time.perf_counter() - t:.1f} s", flush=True)
                readers[other] = e_other
                paths[f"easter2 ({other})"] = on_array(e_other.recognize)
        e_true = Easter2Engine(width=None)
        e_true.warm_up()
        keras_reference(images[0])
        paths[f"easter2 (true width, {e_true.reading_precision})"] = on_array(e_true.recognize)
        paths["easter2 (Keras predict, 2000 cols)"] = on_array(keras_reference)
    for name, eng in engines.items():
        p, fn = file_to_text(name, eng)
        paths[p] = fn
    stage_names = CLI_STAGES + APP_STAGES
    stage_t = {s: [float("inf")] * len(images) for s in stage_names}
    stage_text, stage_layout = [""] * len(images), [""] * len(images)
    pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="htr-engine")  # as app/resources.py
    # Each path reads every line in turn, and the round is repeated: interleaving engines
    # line by line would let one engine's idle-spinning worker threads (torch's OpenMP,
    # TensorFlow's Eigen pool) slow the next engine's call; repeating rounds still spreads
    # the machine's load drift over all of them. A line's time is its fastest round.
    times = {p: [float("inf")] * len(images) for p in paths}
    hyps = {p: [""] * len(images) for p in paths}
    for rnd in range(args.repeats):
        for p, fn in paths.items():
            for k in range(len(images)):
                t = time.perf_counter()
                r = fn(k)
                times[p][k] = min(times[p][k], time.perf_counter() - t)
                hyps[p][k] = r if isinstance(r, str) else r.text
            print(f"round {rnd + 1}: {p} median {np.median(times[p]) * 1e3:.1f} ms", flush=True)
        if "easter2" in engines:  # Easter2 stage by stage, in the same round
            for k in range(len(images)):
                st, stage_text[k], stage_layout[k] = easter2_stages(engines["easter2"], files[k], file_bytes[k],
                                                                     pool)
                for s, v in st.items():
                    stage_t[s][k] = min(stage_t[s][k], v)
            print(f"round {rnd + 1}: easter2 stages, model median "
                  f"{np.median(stage_t['model']) * 1e3:.1f} ms", flush=True)
    pool.shutdown()
    load_mid = loadavg()
    stats = {}
    for p in paths:
        ts = np.array(times[p])
        s = aggregate(zip(refs, hyps[p]))
        stats[p] = (float(np.median(ts)), float(np.percentile(ts, 90)), s.cer)
    cli_med = {p: float(np.median(v)) for p, v in cli_seconds.items()}

    # ---- 3./4. Easter2 model paths, throughput, FLOP rate ----------------------
    rows_thr, typical, levers, peaks = [], {}, [], {}
    typ_id, typ_cols, cw = "", 0, 0
    if "easter2" in engines:
        fast32 = FastEaster2(keras_model, "float32")
        fast16 = FastEaster2(keras_model, "bfloat16")
        lite8 = LiteEaster2(keras_model)
        lites = {"int8": lite8}
        if "int8-full" in readers:  # the engine's own full-int8 reader (built once: it calibrates)
            lites["int8-full"] = readers["int8-full"]._reader()
        vs = WIDTH // STRIDE
        # the typical line: the real e06 line whose ink is of median width at height 80
        widths = [prepare_line(g, None, deskew=True).content for g in images]
        k_typ = sorted(range(len(images)), key=lambda k: (widths[k], ids[k]))[len(images) // 2]
        typ_id, typ_cols, line_in = ids[k_typ], widths[k_typ], images[k_typ]
        x_typ = prepare_line(line_in, WIDTH, deskew=True)
        cw = compute_width(x_typ.content, "layout")
        xt = prepare_line(line_in, None, deskew=True)
        full = x_typ.x[None]
        typical["Keras predict_on_batch, 2000 cols"] = (
            median_time(lambda: keras_model.predict_on_batch(full), 15), WIDTH)
        for fname, f in (("float32", fast32), ("bfloat16", fast16)):
            typical[f"fast {fname}, layout cut to {cw} cols"] = (
                median_time(lambda: f.run(x_typ.x[None, :cw], vs), 15), cw)
            typical[f"fast {fname}, true width {xt.width} cols"] = (
                median_time(lambda: f.run(xt.x[None], [xt.width], "true"), 15), xt.width)
        for lname, lt in lites.items():
            typical[f"{lname} TFLite ({lt.threads} threads), layout cut to {cw} cols"] = (
                median_time(lambda: lt.run(x_typ.x[None, :cw], vs), 15), cw)
        for fname in ("float32", "bfloat16", *lites):
            eng = Easter2Engine(precision=fname)
            typical[f"engine.recognize {fname} (prep + model + decode)"] = (
                median_time(lambda: eng.recognize(line_in), 15), cw)
        typical[f"engine.recognize {default_prec}, no lean check"] = (
            median_time(lambda: e_level.recognize(line_in), 15), cw)

        # throughput on real lines (each batch cut past its widest line) and on the full layout
        preps = [prepare_line(g, WIDTH) for g in images]
        for fname, f in (("float32", fast32), ("bfloat16", fast16), *lites.items()):
            for bs in (1, 8, 32):
                if bs > len(preps):
                    continue
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
        x = x_typ.x[None, :cw]
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
    stage_med = {s: float(np.median(v)) for s, v in stage_t.items()} if "easter2" in engines else {}
    flag_text = ", ".join(f"{f} {'yes' if v else 'no'}" for f, v in flags.items()) or "unknown"

    # ---- write ----------------------------------------------------------------
    out = Path(args.out)
    with out.with_suffix(".csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["section", "what", "batch", "value", "unit"])
        w.writerow(["cpu", cpu_name(), "", cpu_kind(flags), flag_text])
        for p, (med, p90, c) in stats.items():
            w.writerow(["per-line", p, 1, round(med * 1e3, 2), "ms median"])
            w.writerow(["per-line", p, 1, round(p90 * 1e3, 2), "ms p90"])
            w.writerow(["per-line", p, 1, round(c * 100, 2), "% CER"])
        for p, med in cli_med.items():
            w.writerow(["per-line", p, 1, round(med * 1e3, 2), "ms median, as the CLI reports it"])
        for s, med in stage_med.items():
            w.writerow(["stage-app" if s in APP_STAGES else "stage-cli", s, 1, round(med * 1e3, 3), "ms median"])
        for name, s in load_s.items():
            w.writerow(["load", name, "", round(s, 3), "s"])
        for k, (s, cols) in typical.items():
            w.writerow(["typical-real", k, 1, round(s * 1e3, 2), "ms"])
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
        for s in stage_med:
            for k, line in enumerate(ids):
                w.writerow(["line-stage", f"{s} {line}", 1, round(stage_t[s][k] * 1e3, 3), "ms"])

    import tensorflow as tf

    limit = f" --limit {args.limit}" if args.limit else ""
    md = [
        "# Latency: Easter2 beside EasyOCR and Tesseract, and Easter2's speed levers",
        "",
        f"Command `python benchmarks/latency.py --repeats {args.repeats}{limit}`; {started}; "
        f"{cpu_name()}, {os.cpu_count()} cores, **{cpu_kind(flags)}**; TensorFlow {tf.__version__}; "
        f"Easter2 default precision **{default_prec}**. "
        f"Load average (1/5/15 min) at start {load_start}, after the per-line part {load_mid}, "
        f"at the end {load_end}: each line's time is the fastest of "
        f"{args.repeats} rounds (each engine reads all lines per round, engines one after another). "
        f"{code_state()}.",
        "",
        f"CPU vector flags (`/proc/cpuinfo`): {flag_text}.",
        "",
        f"## Per line, batch 1 ({len(ids)} real IAM e06 lines, ink {np.median([prepare_line(g, None).content for g in images]):.0f} "
        "columns median at height 80)",
        "",
        "`recognize(line)` as the app and CLI call it: preprocessing (the lean check included unless "
        "said), model, greedy decoding. Model loading is excluded (next table). \"file to text, as the "
        "CLI\": decode the line's PNG file, choose line or page, recognize (what `python -m htr "
        "recognize` does per file once the model is loaded).",
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
    if "easter2 (no lean check)" in stats and e2:
        lean = e2 - stats["easter2 (no lean check)"][0]
        md += ["", f"The lean check, same lines and rounds: Easter2 {e2 * 1e3:.1f} ms with it, "
               f"{stats['easter2 (no lean check)'][0] * 1e3:.1f} ms without (difference of the medians "
               f"{lean * 1e3:.1f} ms; the check alone, stage by stage below, "
               f"{stage_med.get('lean check', float('nan')) * 1e3:.2f} ms median)."]
    if e2:
        md += ["", "Targets: Easter2 median ≤ 0.15 × each other engine's median (issue 8), "
               "≤ 0.10 × (issue 21, file to text as the CLI reports it):"]
        for other in ("tesseract", "easyocr"):
            if other in stats:
                r = e2 / stats[other][0]
                md.append(f"- vs {other}, `recognize(line)`: {r:.3f} × "
                          f"({'met' if r <= 0.15 else 'NOT met'} at 0.15, {'met' if r <= 0.10 else 'NOT met'} at 0.10)")
                a, b = "easter2: file to text, as the CLI", f"{other}: file to text, as the CLI"
                if a in cli_med and b in cli_med:
                    r = cli_med[a] / cli_med[b]
                    rw = stats[a][0] / stats[b][0]
                    md.append(f"- vs {other}, file to text: {r:.3f} × as the CLI reports it "
                              f"({cli_med[a] * 1e3:.1f} vs {cli_med[b] * 1e3:.1f} ms; "
                              f"{'met' if r <= 0.10 else 'NOT met'} at 0.10), {rw:.3f} × wall clock "
                              f"with the file's decoding ({stats[a][0] * 1e3:.1f} vs {stats[b][0] * 1e3:.1f} ms)")
    if stage_med:
        total_cli = sum(stage_med[s] for s in CLI_STAGES)
        same = sum(t == h for t, h in zip(stage_text, hyps["easter2"]))
        md += ["", f"## Where Easter2's time goes, stage by stage ({default_prec}, {len(ids)} real lines)", "",
               "Each stage timed alone on every line in the same rounds (fastest round per line, median over "
               "lines): the CLI's path for one file, then what the app's Recognize page does otherwise for "
               "an uploaded line (it also checks line or page, and runs the same `recognize`). "
               f"Stage by stage the lines read as `recognize` reads them: {same} of {len(ids)}; "
               f"layout chosen: {sum(x == 'line' for x in stage_layout)} line, "
               f"{sum(x == 'page' for x in stage_layout)} page.", "",
               "| path | stage | median ms | share of the CLI path |", "|---|---|---|---|"]
        for s in CLI_STAGES:
            md.append(f"| CLI | {s} | {stage_med[s] * 1e3:.2f} | {stage_med[s] / total_cli:.0%} |")
        md.append(f"| CLI | sum of the stages' medians | {total_cli * 1e3:.2f} | 100% |")
        for s in APP_STAGES:
            md.append(f"| app | {s} | {stage_med[s] * 1e3:.2f} | |")
        pre = sum(stage_med[s] for s in ("lean check", "framing", "resize + normalise"))
        md += ["", f"Preprocessing in `recognize` (lean check + framing + resize and normalise): "
               f"{pre * 1e3:.2f} ms; model {stage_med['model'] * 1e3:.2f} ms; CTC decoding "
               f"{stage_med['CTC decoding'] * 1e3:.2f} ms. The app differs from the CLI by decoding the "
               "upload's bytes instead of a file, hashing the pixels for its cache, and handing the reading "
               "to a worker thread; a cached image is not read again."]
    if typical:
        md += ["", f"## A typical line (the real e06 line of median width: {typ_id}, {typ_cols} columns at "
               "height 80), batch 1, model only unless said",
               "", "| path | computed columns | median ms | GFLOP/s |", "|---|---|---|---|"]
        for k, (s, cols) in typical.items():
            md.append(f"| {k} | {cols} | {s * 1e3:.1f} | {model_flops(cols) / s / 1e9:.0f} |")
        model_key = (f"{default_prec} TFLite ({lites[default_prec].threads} threads), layout cut to {cw} cols"
                     if default_prec in lites else f"fast {default_prec}, layout cut to {cw} cols")
        model_s = typical[model_key][0]
        end_s = typical[f"engine.recognize {default_prec} (prep + model + decode)"][0]
        bound = 0.008 if flags.get("avx512f") else 0.015
        md.append("")
        md.append(f"Targets (issue 21) on this CPU ({cpu_kind(flags)}): the model path ≤ {bound * 1e3:.0f} ms a "
                  f"typical line: {model_s * 1e3:.1f} ms in {default_prec} "
                  f"({'met' if model_s <= bound else 'NOT met'}); end to end {end_s * 1e3:.1f} ms "
                  f"(issue 8's ≤ 10 ms: {'met' if end_s <= 0.010 else 'NOT met'}).")
    if rows_thr:
        md += ["", "## Easter2 throughput (model only, float32 input in, softmax out)", "",
               "int8: TensorFlow Lite, dynamic-range int8 weights (its FLOPs are integer multiply-adds "
               "for the convolutions, counted the same way); int8-full: int8 weights and activations "
               "(calibrated on training-split lines), logits out and the softmax in NumPy.", "",
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
    md += ["", "Raw numbers, per-line and per-stage times included: `latency.csv`. Plot: `latency.png`.", ""]
    out.with_suffix(".md").write_text("\n".join(md))

    from benchmarks.plot import bar_panels

    panels = [("Per-line latency, batch 1 (real IAM lines)", "ms",
               [(p, [stats[p][0] * 1e3, stats[p][1] * 1e3]) for p in stats], ["median", "p90"])]
    if stage_med:
        panels.append(("Easter2 stage by stage (CLI path, real lines)", "ms",
                       [(s, [stage_med[s] * 1e3]) for s in CLI_STAGES], ["median"]))
    if typical:
        panels.append((f"Typical real line ({typ_cols} columns)", "ms",
                       [(k.split(" (")[0][:40], [s * 1e3]) for k, (s, _) in typical.items()], ["median"]))
    real = [r for r in rows_thr if r[2] == "real lines"]
    sizes = sorted({r[1] for r in real})
    if real:
        measured = list(dict.fromkeys(r[0] for r in real))  # float32, bfloat16, int8[, int8-full]
        panels.append(("Easter2 throughput on real lines", "lines/s",
                       [(f"batch {bs}", [next(r[3] for r in real if r[0] == f and r[1] == bs)
                                         for f in measured]) for bs in sizes],
                       measured))
    bar_panels(panels, out.with_suffix(".png"))
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
