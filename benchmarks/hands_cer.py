"""CER / WER of every engine on the report hands of each source and on the 42 IAM e06 lines.

    python benchmarks/hands_cer.py [--engines easter2,easyocr,tesseract]
        [--weights W.h5 [--label NAME]]... [--decoder greedy]
        [--sources copiste,poilus,unipen,iam] [--limit N] [--reuse [LINES.csv]]
        [--out benchmarks/hands_cer]

Sets: for each source of ``../shared/hands`` (``--hands-dir``), every line of
its **report** hands in the committed writer split (``--split``, default
``models/training/hands_split.json``), the text mapped into IAM's 79
characters by :func:`htr.data.text.to_iam` (lines it drops are counted, not
read); UNIPEN's pen strokes are rendered by
:func:`htr.data.strokes.render_strokes` with a seed fixed by the line id
(``zlib.crc32``), so every engine and every run sees the same image. And the
42 real IAM e06 lines, apart: the Aachen validation lines (32, they chose
checkpoints) and the test form e06-033 (10, it shaped earlier recipes).

Per engine and set: pooled CER = total character edits / total characters
(as :func:`htr.metrics.aggregate`), WER likewise in words, and the median
writer CER (each hand's pooled CER, then the median over hands).

``--weights`` may be given more than once (each with its ``--label``, in
order): each Easter2 weights file is a column of its own. Every reading goes to
the per-line file ``OUT_lines.csv`` (set, hand, line, engine, weights sha256,
image sha256, text read, truth, edits, characters, seconds); ``--reuse`` takes
the readings of an (engine, version or weights, decoder, line, image, truth)
already there instead of reading again, so a new weights file re-reads only
Easter2. A run rewrites ``OUT_lines.csv`` with the readings it reported (name
every engine and weights you want kept). An engine that cannot run here is
named with the reason and the others go on.

Writes OUT.md, OUT.csv (one row per set and engine) and OUT_lines.csv. IAM's
text is never written: its rows carry numbers and hashes only.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
import shlex
import sys
import time
import zlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from benchmarks.eval_lines import default_iam_dir  # noqa: E402
from benchmarks.latency import code_state, cpu_name, loadavg  # noqa: E402
from benchmarks.report import write_csv, write_md  # noqa: E402
from htr.metrics import Score, char_edits, word_edits  # noqa: E402

HAND_SOURCES = ("copiste", "poilus", "unipen")
SOURCES = HAND_SOURCES + ("iam",)
ENGINES = ("easter2", "easyocr", "tesseract")
TITLES = {"easter2": "Easter2", "easyocr": "EasyOCR", "tesseract": "Tesseract"}
IAM_CREDIT = ("IAM Handwriting Database (Marti & Bunke, IJDAR 2002), under its non-commercial research "
              "licence: line ids and numbers only are written here")
LINE_COLUMNS = ("set", "hand", "line", "engine", "label", "version", "weights_sha256", "decoder",
                "image_sha256", "truth_sha256", "read", "truth", "edits", "chars", "word_edits", "words",
                "seconds", "error")
#: What makes a cached reading the same reading: the engine as configured, the image and the truth.
KEY = ("line", "engine", "version", "weights_sha256", "decoder", "image_sha256", "truth_sha256")


@dataclass
class Item:
    """One line to read: where it belongs, its truth (mapped), and how to get its image."""

    set: str
    hand: str
    id: str
    truth: str
    load: Callable[[], np.ndarray]
    public: bool = True  # False: IAM, whose text may not be written


@dataclass
class LineSet:
    key: str  # short name in the CSVs
    title: str
    items: list[Item]
    hands_total: int = 0
    lines_total: int = 0  # before mapping
    dropped: Counter = field(default_factory=Counter)  # mapping / image reasons -> lines
    credit: str = ""


@dataclass
class Spec:
    """One engine column: an engine name with its options (Easter2: which weights, which decoder)."""

    engine: str
    label: str
    weights: Path | None = None
    sha: str = ""
    shipped: bool = False
    same_as_shipped: bool = False
    decoder: str = ""
    version: str = ""
    available: bool = True
    why: str = ""
    instance: object = None


# -- the sets ------------------------------------------------------------------------------------

def round_robin(items: list[Item], n: int | None) -> list[Item]:
    """The first ``n`` lines taking each hand in turn (all where ``n`` is None), in a fixed order."""
    if n is None or n >= len(items):
        return items
    by_hand: dict[str, list[Item]] = defaultdict(list)
    for it in items:
        by_hand[it.hand].append(it)
    out, k = [], 0
    while len(out) < n:
        for h in sorted(by_hand):
            if k < len(by_hand[h]) and len(out) < n:
                out.append(by_hand[h][k])
        k += 1
    return out


def unipen_seed(line_id: str) -> int:
    return zlib.crc32(line_id.encode("utf-8"))


def render_unipen(rec) -> np.ndarray:
    """A UNIPEN line's strokes drawn as ink on paper, the same on every call (seed from its id)."""
    from htr.data.strokes import render_strokes

    return np.asarray(render_strokes(rec.strokes, np.random.default_rng(unipen_seed(rec.id))))


def hand_set(source: str, hands_dir, splits: dict, limit: int | None, notes: list[str]) -> LineSet | None:
    from htr.data.hands import CREDITS, source_lines, split_hands
    from htr.data.lines import DataError
    from htr.data.text import to_iam

    if source == "unipen":
        try:
            from htr.data.strokes import render_strokes  # noqa: F401
        except ImportError as exc:
            notes.append(f"unipen: skipped, no stroke renderer yet ({exc})")
            return None
    try:
        recs = source_lines(source, hands_dir)
    except ImportError as exc:
        notes.append(f"{source}: skipped, its reader is not importable ({exc})")
        return None
    except DataError as exc:
        notes.append(f"{source}: skipped ({exc})")
        return None
    if source in splits:
        report = set(splits[source].get("report", ()))
    else:  # the rule itself, on names alone: what `python -m htr data split` would write for it
        try:
            report = set(split_hands(r.hand for r in recs)["report"])
        except DataError as exc:
            notes.append(f"{source}: skipped, not in the split file and {exc}")
            return None
        notes.append(f"{source}: not in the split file yet; its report hands are those the same rule gives "
                     "(hands ordered by the SHA-256 of their names), what `python -m htr data split` would write")
    recs = [r for r in recs if r.hand in report]
    ls = LineSet(source, f"{source} report hands", [], hands_total=len({r.hand for r in recs}),
                 lines_total=len(recs), credit=CREDITS.get(source, ""))
    for r in recs:
        m = to_iam(r.text)
        if m.text is None:
            ls.dropped[m.dropped.split(":")[0]] += 1
            continue
        load = (lambda r=r: render_unipen(r)) if r.image is None else r.gray
        ls.items.append(Item(source, r.hand, r.id, m.text, load))
    ls.items = round_robin(ls.items, limit)
    return ls


def iam_sets(iam_dir, limit: int | None, notes: list[str]) -> list[LineSet]:
    from benchmarks.eval_lines import e06_ids
    from htr.errors import IAMError
    from htr.data.iam import IAM

    if not iam_dir or not Path(iam_dir).is_dir():
        notes.append("iam: skipped, no IAM copy here (set IAM_DIR or --iam-dir)")
        return []
    try:
        iam = IAM(Path(iam_dir))
        ids = e06_ids(iam)
    except IAMError as exc:
        notes.append(f"iam: skipped ({exc})")
        return []
    if not ids:
        notes.append(f"iam: skipped, no e06-* line images under {iam_dir}")
        return []
    out = []
    for key, split, title in (("iam-validation", "validation", "IAM validation e06 (chose checkpoints)"),
                              ("iam-test", "test", "IAM test e06-033 (shaped earlier recipes)")):
        items = []
        for i in ids:
            if (iam.split_of(i, "aachen") or "?") != split:
                continue
            line = iam.lines[i]
            hand = f"iam-{line.writer}" if line.writer else f"iam-form-{line.form}"
            items.append(Item(key, hand, i, line.text, lambda i=i: iam.line_image(i), public=False))
        ls = LineSet(key, title, round_robin(items, limit), hands_total=len({it.hand for it in items}),
                     lines_total=len(items), credit=IAM_CREDIT)
        out.append(ls)
    return out


# -- the engines ---------------------------------------------------------------------------------

def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def engine_specs(args) -> list[Spec]:
    from htr.weights import DEFAULT_WEIGHTS, weights_path

    specs = []
    for name in args.engines:
        if name != "easter2":
            specs.append(Spec(name, TITLES[name]))
            continue
        paths = args.weights or [None]
        shipped_sha = sha256_file(DEFAULT_WEIGHTS) if DEFAULT_WEIGHTS.is_file() else ""
        for k, w in enumerate(paths):
            p = weights_path(w)
            spec = Spec("easter2", "", weights=p, decoder=args.decoder)
            spec.shipped = p.resolve() == DEFAULT_WEIGHTS.resolve()
            if p.is_file():
                spec.sha = sha256_file(p)
            else:
                spec.available, spec.why = False, f"no weights file at {p}"
            if args.label and k < len(args.label):
                spec.label = f"Easter2: {args.label[k]}"
            elif spec.shipped:
                spec.label = "Easter2 (shipped)"
            else:
                spec.label = f"Easter2 ({p.name}, {spec.sha[:8] or 'missing'})"
            spec.same_as_shipped = bool(spec.sha) and spec.sha == shipped_sha
            specs.append(spec)
    return specs


def open_engine(spec: Spec, make_engine) -> None:
    """Build the engine and ask whether it can run (sets ``available``, ``why``, ``version``)."""
    if not spec.available:
        return
    opts = {"weights": str(spec.weights), "decoder": spec.decoder} if spec.engine == "easter2" else {}
    try:
        spec.instance = make_engine(spec.engine, **opts)
        ok, why = spec.instance.availability()
    except Exception as exc:  # an engine that cannot even be built is one that cannot run here
        ok, why = False, f"{type(exc).__name__}: {exc}"
    spec.available, spec.why = ok, why
    if ok:
        # what identifies the engine's readings: the weights for Easter2, the version for the others
        spec.version = "" if spec.engine == "easter2" else why.split(";")[0].strip()


# -- reading ---------------------------------------------------------------------------------------

def text_sha(s: str) -> str:
    return hashlib.sha256(s.encode("utf-8")).hexdigest()[:16]


def image_sha(img: np.ndarray) -> str:
    a = np.ascontiguousarray(img)
    return hashlib.sha256(f"{a.shape}{a.dtype}".encode() + a.tobytes()).hexdigest()[:16]


def read_cache(path: Path) -> dict[tuple, dict]:
    if not path.is_file():
        return {}
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    return {tuple(r.get(k, "") for k in KEY): r for r in rows if not r.get("error")}


def write_lines(path: Path, rows: list[dict]) -> None:
    """The per-line file (UTF-8: the hands' texts are French), written whole and then moved into place."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=LINE_COLUMNS, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()})
    tmp.replace(path)


def read_line(spec: Spec, item: Item, img: np.ndarray, ish: str, tsh: str) -> dict:
    from htr.errors import EngineFailed

    error, text, secs = "", "", 0.0
    try:
        rec = spec.instance.recognize(img, layout="line")
        text, secs = rec.text, rec.seconds
    except EngineFailed as exc:  # counted as read empty, and never reused
        error = str(exc)[:200] or "failed"
    return {
        "set": item.set, "hand": item.hand, "line": item.id, "engine": spec.engine, "label": spec.label,
        "version": spec.version, "weights_sha256": spec.sha, "decoder": spec.decoder,
        "image_sha256": ish, "truth_sha256": tsh,
        "read": text if item.public else "", "truth": item.truth if item.public else "",
        "edits": char_edits(item.truth, text), "chars": len(item.truth),
        "word_edits": word_edits(item.truth, text), "words": len(item.truth.split()),
        "seconds": round(float(secs), 4), "error": error,  # as the per-line file keeps it, reused or not
    }


# -- scoring ---------------------------------------------------------------------------------------

def score(rows: list[dict]) -> Score:
    return Score(len(rows), sum(int(r["chars"]) for r in rows), sum(int(r["edits"]) for r in rows),
                 sum(int(r["words"]) for r in rows), sum(int(r["word_edits"]) for r in rows),
                 sum(int(r["edits"]) == 0 for r in rows))


def median_writer_cer(rows: list[dict]) -> float:
    by_hand: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by_hand[r["hand"]].append(r)
    return float(np.median([score(rs).cer for rs in by_hand.values()])) if by_hand else float("nan")


def pct(x: float) -> str:
    return "–" if x != x else f"{x * 100:.1f} %"


# -- main ------------------------------------------------------------------------------------------

def parse_args(argv):
    from htr.data.hands import SPLIT_FILE, default_hands_dir
    from htr.engines.easter2 import DECODERS

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--engines", default=",".join(ENGINES), help="comma-separated: " + ", ".join(ENGINES))
    ap.add_argument("--weights", action="append", help="Easter2 weights (default: the shipped file); repeat "
                    "for several, each its own column")
    ap.add_argument("--label", action="append", help="the name of the column of the --weights of the same "
                    "position (e.g. 'stage 6')")
    ap.add_argument("--decoder", default="greedy", choices=DECODERS, help="Easter2's decoder (default greedy)")
    ap.add_argument("--sources", default=",".join(SOURCES), help="comma-separated: " + ", ".join(SOURCES))
    ap.add_argument("--limit", type=int, default=None, help="at most N lines per set, hands in turn (quick tries)")
    ap.add_argument("--reuse", nargs="?", const="", default=None, metavar="LINES.csv",
                    help="take the readings already in this per-line file (default OUT_lines.csv)")
    ap.add_argument("--hands-dir", default=default_hands_dir(), help="default $HANDS_DIR, else ../shared/hands")
    ap.add_argument("--split", default=str(SPLIT_FILE), help="the writer split (JSON)")
    ap.add_argument("--iam-dir", default=default_iam_dir(), help="default $IAM_DIR, else ../shared/iam")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "hands_cer"), help="path prefix of .md/.csv")
    args = ap.parse_args(argv)
    args.engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    args.sources = [s.strip() for s in args.sources.split(",") if s.strip()]
    bad = [e for e in args.engines if e not in ENGINES] + [s for s in args.sources if s not in SOURCES]
    if bad:
        ap.error(f"unknown engine or source: {', '.join(bad)}")
    if (args.weights or args.label) and "easter2" not in args.engines:
        ap.error("--weights / --label are Easter2's: add easter2 to --engines")
    if args.label and len(args.label) > len(args.weights or [None]):
        ap.error("more --label than --weights")
    if args.limit is not None and args.limit < 1:
        ap.error("--limit must be at least 1")
    return args


def rel(p) -> str:
    p = Path(p).resolve()
    return str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else str(p)


def main(argv=None, make_engine=None) -> int:
    from htr.data.hands import load_split
    from htr.data.lines import DataError

    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if make_engine is None:
        from htr.engines import get_engine as make_engine
    out = Path(args.out)
    lines_path = out.with_name(out.name + "_lines.csv")
    out.parent.mkdir(parents=True, exist_ok=True)
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load_start = loadavg()

    notes: list[str] = []
    sets: list[LineSet] = []
    wanted = [s for s in args.sources if s in HAND_SOURCES]
    if wanted:
        try:
            splits = load_split(Path(args.split))
        except DataError as exc:
            notes.append(f"{', '.join(wanted)}: skipped, no writer split ({exc})")
            wanted, splits = [], {}
        for source in wanted:
            ls = hand_set(source, args.hands_dir, splits, args.limit, notes)
            if ls is not None:
                sets.append(ls)
    if "iam" in args.sources:
        sets += iam_sets(args.iam_dir, args.limit, notes)
    for n in notes:
        print(n, file=sys.stderr)

    specs = engine_specs(args)
    labels = Counter(s.label for s in specs)
    if any(n > 1 for n in labels.values()):
        print(f"error: two columns named alike ({', '.join(l for l, n in labels.items() if n > 1)}): "
              "give each --weights its own --label", file=sys.stderr)
        return 2
    for spec in specs:
        open_engine(spec, make_engine)
        if not spec.available:
            print(f"{spec.label}: not available here ({spec.why}); the others go on", file=sys.stderr)
    running = [s for s in specs if s.available]

    cache: dict[tuple, dict] = {}
    if args.reuse is not None:
        src = Path(args.reuse) if args.reuse else lines_path
        cache = read_cache(src)
        print(f"reuse: {len(cache)} readings in {src}", file=sys.stderr)
    rows: list[dict] = []
    counts = Counter()  # (spec label, "read" | "reused")

    def flush(final: bool) -> None:
        # while running, readings not yet reached stay in the file (a crash loses nothing)
        done = {tuple(str(r[k]) for k in KEY) for r in rows}
        keep = [] if final else [r for k, r in cache.items() if k not in done]
        write_lines(lines_path, rows + keep)

    for ls in sets:
        images, shas = [], []
        kept_items = []
        for it in ls.items:
            try:
                img = np.asarray(it.load())
            except Exception as exc:  # a line whose image cannot be had is counted, not read
                ls.dropped[f"image unreadable ({type(exc).__name__})"] += 1
                continue
            kept_items.append(it)
            images.append(img)
            shas.append(image_sha(img))
        ls.items = kept_items
        for spec in running:
            if not spec.available:
                continue
            t0 = time.perf_counter()
            for it, img, ish in zip(ls.items, images, shas):
                tsh = text_sha(it.truth)
                key = (it.id, spec.engine, spec.version, spec.sha, spec.decoder, ish, tsh)
                hit = cache.get(key)
                if hit is not None:
                    rows.append({**hit, "set": it.set, "hand": it.hand, "label": spec.label})
                    counts[spec.label, "reused"] += 1
                    continue
                try:
                    rows.append(read_line(spec, it, img, ish, tsh))
                except Exception as exc:  # EngineUnavailable at load, or a broken engine: say so, go on
                    spec.available, spec.why = False, f"{type(exc).__name__}: {exc}"
                    print(f"{spec.label}: stopped ({spec.why}); the others go on", file=sys.stderr)
                    rows[:] = [r for r in rows if r["label"] != spec.label]
                    break
                counts[spec.label, "read"] += 1
            print(f"{ls.key}: {spec.label} done, {len(ls.items)} lines, {time.perf_counter() - t0:.1f} s",
                  file=sys.stderr, flush=True)
            flush(final=False)
    running = [s for s in running if s.available]
    if rows:  # a run that read nothing leaves the per-line file as it was
        flush(final=True)

    # summary: one row per set and engine column
    summary = []
    for ls in sets:
        for spec in running:
            rs = [r for r in rows if r["set"] == ls.key and r["label"] == spec.label]
            if not rs:
                continue
            s = score(rs)
            secs = [float(r["seconds"]) for r in rs]
            summary.append({
                "set": ls.key, "engine": spec.engine, "label": spec.label, "weights_sha256": spec.sha,
                "decoder": spec.decoder, "version": spec.version, "hands": len({r["hand"] for r in rs}),
                "lines": s.lines, "chars": s.chars, "char_edits": s.char_edits, "cer": round(s.cer, 5),
                "words": s.words, "word_edits": s.word_edits, "wer": round(s.wer, 5),
                "median_writer_cer": round(median_writer_cer(rs), 5),
                "failed": sum(bool(r["error"]) for r in rs),
                "median_seconds": round(float(np.median(secs)), 4),
            })
    if summary:
        write_csv(out, summary)
    cmd = "python benchmarks/hands_cer.py" + (" " + shlex.join(argv) if argv else "")
    md = render_md(args, cmd, started, load_start, sets, specs, running, summary, notes, counts, lines_path)
    write_md(out, md)
    print("\n".join(md))
    return 0 if summary else 2


def render_md(args, cmd, started, load_start, sets, specs, running, summary, notes, counts, lines_path):
    from htr.data.hands import CREDITS

    split_path = Path(args.split)
    cols = [s.label for s in running]
    by = {(r["set"], r["label"]): r for r in summary}
    md = [
        "# Every engine on writers that chose nothing: the report hands of each source, and IAM e06",
        "",
        f"Command `{cmd}`; {started}; {cpu_name()}, {os.cpu_count()} cores; load average {load_start} at the "
        f"start, {loadavg()} at the end; {code_state()}.",
        "",
        f"Writer split: `{rel(split_path)}` (sha256 {sha256_file(split_path)[:12] if split_path.is_file() else '?'}…):"
        " within each source the hands were ordered by the SHA-256 of their names before any run; the "
        "**report** hands measured here **chose nothing** — no checkpoint, recipe or ship decision looked at "
        "them. The **IAM validation** lines (Aachen validation forms of e06, 32 lines) **chose the checkpoints** "
        "of every shipped stage, and the **IAM test form e06-033** (10 lines, one writer) chose no checkpoint "
        "but **shaped earlier recipes** (stage 5's backhand slants were drawn after its lean was measured): "
        "neither IAM row is a clean test number.",
        "",
        "CER is pooled: total character edits / total characters of the truth (`htr.metrics.aggregate`); WER "
        "the same in words; the median writer CER is each hand's pooled CER, then the median over the hands. "
        "Truths are mapped into IAM's 79 characters by `htr.data.text.to_iam`; lines it cannot map are "
        "dropped before reading and counted below. UNIPEN's pen strokes are drawn by "
        "`htr.data.strokes.render_strokes` with the seed `zlib.crc32(line id)`, the same image for every "
        "engine and run. Every engine reads a line image as one line (`layout='line'`), default settings.",
        "",
    ]
    if args.limit is not None:
        md += [f"**A quick try (`--limit {args.limit}`): at most {args.limit} lines per set, not the result.**", ""]
    md += ["## Engines", ""]
    for s in specs:
        if not s.available:
            md.append(f"- {s.label}: **not available here** ({s.why}); not measured.")
            continue
        if s.engine == "easter2":
            ship = ("the shipped file `models/easter2.weights.h5`" if s.shipped else
                    "not the shipped file" + (" (same content as the shipped file)" if s.same_as_shipped else ""))
            how = s.instance.availability()[1].partition("; ")[2]  # past "weights NAME (SIZE)"
            desc = (f"weights `{rel(s.weights)}`, {ship}, sha256 `{s.sha}`; decoder {s.decoder}"
                    + (f"; {how}" if how else ""))
        else:
            desc = s.why
        md.append(f"- {s.label}: {desc}; {counts[s.label, 'read']} lines read now, "
                  f"{counts[s.label, 'reused']} taken from earlier readings (`--reuse`).")
    md.append("")
    if notes:
        md += ["## Notes", "", *[f"- {n}" for n in notes], ""]

    md += ["## Sets", "", "| set | hands read (of) | lines read (of) | dropped before reading |", "|---|---|---|---|"]
    for ls in sets:
        drop = "; ".join(f"{n} {why}" for why, n in ls.dropped.most_common()) or "none"
        md.append(f"| {ls.title} | {len({it.hand for it in ls.items})} ({ls.hands_total}) | {len(ls.items)} "
                  f"({ls.lines_total}) | {drop} |")
    md.append("")
    if not summary:
        md += ["Nothing was measured (no engine could run, or no set was found).", ""]
    else:
        for metric, title in (("cer", "CER (pooled)"), ("wer", "WER (pooled)"),
                              ("median_writer_cer", "Median writer CER")):
            md += [f"## {title}", "", "| set | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
            for ls in sets:
                cells = [pct(by[ls.key, c][metric]) if (ls.key, c) in by else "–" for c in cols]
                md.append(f"| {ls.title} | " + " | ".join(cells) + " |")
            md.append("")
        md += ["## Seconds a line (median; readings taken from earlier runs keep their own time)", "",
               "| set | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
        for ls in sets:
            cells = [f"{by[ls.key, c]['median_seconds']:.3f}" if (ls.key, c) in by else "–" for c in cols]
            md.append(f"| {ls.title} | " + " | ".join(cells) + " |")
        md.append("")
        failed = [r for r in summary if r["failed"]]
        if failed:
            md += ["Lines an engine failed on (counted as read empty): "
                   + ", ".join(f"{r['label']} {r['failed']} in {r['set']}" for r in failed) + ".", ""]
    md += ["## Credits", ""]
    for ls in sets:
        if ls.key in CREDITS:
            md.append(f"- {ls.key}: {CREDITS[ls.key]}")
    if any(ls.key.startswith("iam") for ls in sets):
        md.append(f"- IAM: {IAM_CREDIT}")
    md += ["", f"Per set and engine: `{Path(args.out).name}.csv`; per line: `{lines_path.name}` (set, hand, line, "
           "engine, weights sha256, text read and truth — empty for IAM lines —, edits, characters, seconds)."]
    return md


if __name__ == "__main__":
    sys.exit(main())
