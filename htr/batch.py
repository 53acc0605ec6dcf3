"""Read many images on Ray Data: ``python -m htr batch INPUT... --out DIR``.

The inputs (image files, folders, globs, or manifests: text files listing one
image a line) become one Ray Data dataset of paths per engine; a pool of Ray
actors, each holding one engine loaded once, reads them with ``map_batches``.
Each image is read exactly as ``python -m htr recognize`` reads it
(:func:`read_file`: decode, choose line or page as ``--layout auto`` does,
``engine.recognize``), so the texts are the same line for line.

Ray is started on this machine on demand (as many CPUs as the machine has
cores, one worker per core by default) or joined with ``ray_address``. Each
worker asks Ray for CPUs that one node can give (:func:`plan_workers`:
``threads``, but never more than the largest node has, and less when
``workers`` would not fit otherwise): an actor asking more than any node offers
is never placed and the run would wait for ever. The threads a worker reads
with are set inside it, whatever it reserved. A worker process that dies is
restarted and its tasks run again (Ray Data's actor pools retry them), so the
output still holds every line once.

DIR receives, as results come in:

* ``results.jsonl``: one JSON object per text line (:data:`COLUMNS`), all the
  lines of an image written together;
* ``errors.jsonl``: one object per image that could not be read
  (``{"image", "engine", "reason"}``);

and at the end of a run that finished: ``results.parquet`` (the same rows,
ordered by image, engine and line) and, with ``formats``, one PAGE-XML or
ALTO file per image and engine (``DIR/page/<engine>/<name>.page.xml``,
``DIR/alto/<engine>/<name>.alto.xml``; see :mod:`htr.export`).

``resume=True`` keeps the images already complete in ``results.jsonl`` and
reads only the others (an image cut short by Ctrl-C, and every image that
failed, is read again). Without it an existing ``results.jsonl`` is refused.

Two environment variables serve the fault tests: ``HTR_BATCH_TRACE=FILE``
makes each worker append ``<pid>\\t<image>`` to FILE after each image it reads,
and ``HTR_BATCH_PAUSE=S`` makes it wait S seconds after each image.
"""

from __future__ import annotations

import glob
import hashlib
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

#: Files taken as images when a folder is given (the formats :func:`htr.images.load_image` reads).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif", ".webp")
#: Files taken as manifests (one image path a line; blank lines and ``#`` comments skipped).
MANIFEST_SUFFIXES = (".txt", ".lst", ".list")
#: One row per text line. ``line`` counts from 0 within the image, ``lines`` is the image's line count;
#: ``x y w h`` the line's box in the image (the whole image for a line image); ``confidence`` the mean of the
#: characters' (null where the engine gives none); ``seconds`` the recognition time of this line (its share of
#: the page's); ``width``/``height`` the image's.
COLUMNS = ("image", "engine", "line", "lines", "x", "y", "w", "h", "text", "confidence", "seconds", "layout",
           "width", "height")
RESULTS = "results.jsonl"
ERRORS = "errors.jsonl"
PARQUET = "results.parquet"
#: The object store of a Ray started here: rows of text only travel through it (images are read by the workers).
LOCAL_OBJECT_STORE_BYTES = 256 * 2**20
#: Starts of a local Ray when its raylet gives up waiting for its agents (a machine too busy for Ray's 15 s).
LOCAL_START_TRIES = 2
# seconds to open a TCP connection to a named cluster before ray.init, which itself retries an unreachable GCS
# for about a minute (and, on some versions, for ever) before it says anything
CONNECT_TIMEOUT_S = 10.0


class BatchError(Exception):
    """Bad usage or a run that cannot go on (the message says why)."""


@dataclass
class BatchReport:
    """What a run did."""

    images: int = 0  # images read in this run (per engine)
    lines: int = 0  # lines written in this run
    skipped: int = 0  # (image, engine) pairs already complete in DIR (resume)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (image or input, reason)
    seconds: float = 0.0
    workers: int = 0
    files: list[str] = field(default_factory=list)  # PAGE/ALTO files written
    arrivals: list[tuple[float, int]] = field(default_factory=list)  # (perf_counter, lines) per block received

    @property
    def lines_per_second(self) -> float:
        return self.lines / self.seconds if self.seconds > 0 else 0.0


# --------------------------------------------------------------------------
# inputs


def _is_glob(text: str) -> bool:
    return any(c in text for c in "*?[")


def expand_inputs(inputs) -> tuple[list[str], list[tuple[str, str]]]:
    """The image paths named by ``inputs`` (files, folders searched recursively, globs, manifests), in order and
    without repeats, and ``(input, reason)`` for each input that names nothing readable."""
    images: list[str] = []
    problems: list[tuple[str, str]] = []
    for item in map(str, inputs):
        path = Path(item)
        if path.is_dir():
            found = sorted(str(p) for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                problems.append((item, "a folder without images (" + ", ".join(IMAGE_SUFFIXES) + ")"))
            images += found
        elif path.is_file() and path.suffix.lower() in MANIFEST_SUFFIXES:
            try:
                listed = path.read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError) as exc:
                problems.append((item, f"manifest cannot be read ({exc})"))
                continue
            for entry in (e.strip() for e in listed):
                if entry and not entry.startswith("#"):
                    images.append(entry if os.path.isabs(entry) else str(path.parent / entry))
        elif not path.exists() and _is_glob(item):
            found = sorted(p for p in glob.glob(item, recursive=True) if os.path.isfile(p))
            if not found:
                problems.append((item, "matches no file"))
            images += found
        else:
            images.append(item)  # a file, or a missing one: its reading says what is wrong
    return list(dict.fromkeys(images)), problems


# --------------------------------------------------------------------------
# reading one image (what `python -m htr recognize` does for each of its images)


def read_file(engine, path: str, layout: str = "auto"):
    """``(recognition, layout used, gray image)`` of one image file, as ``python -m htr recognize`` reads it."""
    from htr.images import load_image
    from htr.segment import is_single_line

    gray = load_image(path, name=path)
    if layout == "auto":
        layout = "line" if is_single_line(gray) else "page"
    return engine.recognize(gray, layout=layout), layout, gray


def recognition_rows(path: str, engine: str, rec, layout: str, width: int, height: int) -> list[dict]:
    """The :data:`COLUMNS` rows of one image's recognition: one per line (one for a line image)."""
    from htr.export import page_reading

    page = page_reading(rec, path, width, height)
    per_line = float(rec.seconds) / len(page.lines)
    rows = []
    for n, line in enumerate(page.lines):
        conf = line.confidence
        rows.append({
            "image": path, "engine": rec.engine or engine, "line": n, "lines": len(page.lines),
            "x": int(line.box.x), "y": int(line.box.y), "w": int(line.box.w), "h": int(line.box.h),
            "text": line.text, "confidence": None if conf is None else round(conf, 4),
            "seconds": round(per_line, 6), "layout": layout, "width": int(width), "height": int(height),
        })
    return rows


def open_engine(name: str, options: dict | None = None):
    """A loaded engine (built, checked, warmed up), or raises :class:`BatchError` saying why it cannot run."""
    from htr.engines import get_engine
    from htr.errors import HTRError

    try:
        engine = get_engine(name, **(options or {}))
        ok, reason = engine.availability()
        if not ok:
            raise BatchError(f"{name}: {reason or 'not available'}")
        warm = getattr(engine, "warm_up", None)
        if warm is not None:
            warm()
    except HTRError as exc:
        raise BatchError(f"{name}: {exc}") from None
    except ImportError as exc:
        raise BatchError(f"{name}: cannot be loaded ({type(exc).__name__}: {exc})") from None
    return engine


class ImageReader:
    """The Ray Data actor: one engine, loaded once; ``__call__`` reads a batch of image paths.

    Its output has :data:`COLUMNS` plus ``error`` (the reason an image could not be read; empty on a good
    row). A failed image gives one row with ``line = -1``.
    """

    def __init__(self, engine: str, options: dict | None = None, layout: str = "auto", threads: int | None = None):
        if threads:  # before the engine is built: it reads this when it makes its interpreter
            os.environ["HTR_INTRA_THREADS"] = str(int(threads))
        self.name = engine
        self.layout = layout
        self.engine = open_engine(engine, options)
        self.trace = os.environ.get("HTR_BATCH_TRACE")
        self.pause = float(os.environ.get("HTR_BATCH_PAUSE") or 0)

    def read(self, path: str) -> list[dict]:
        from htr.errors import EngineUnavailable, HTRError

        try:
            rec, layout, gray = read_file(self.engine, path, self.layout)
            rows = recognition_rows(path, self.name, rec, layout, gray.shape[1], gray.shape[0])
        except EngineUnavailable:  # the engine itself broke: the run stops
            raise
        except HTRError as exc:
            rows = [_error_row(path, self.name, _reason(exc, path))]
        except MemoryError:
            rows = [_error_row(path, self.name, "not enough memory to read this image")]
        except Exception as exc:  # noqa: BLE001 - one bad image costs only itself
            rows = [_error_row(path, self.name, f"internal error: {type(exc).__name__}: {exc}")]
        if self.trace:
            with open(self.trace, "a", encoding="utf-8") as f:
                f.write(f"{os.getpid()}\t{path}\n")
        if self.pause:
            time.sleep(self.pause)
        return rows

    def __call__(self, batch: dict):
        import pyarrow as pa

        rows = [row for path in batch["image"] for row in self.read(str(path))]
        schema = row_schema().append(pa.field("error", pa.string()))
        return pa.Table.from_pylist([{**r, "error": r.get("error", "")} for r in rows], schema=schema)


def _reason(exc: BaseException, subject: str) -> str:
    msg = " ".join(str(exc).split())
    return msg[len(subject) + 2:] if msg.startswith(f"{subject}: ") else msg


def _error_row(path: str, engine: str, reason: str) -> dict:
    row = {k: None for k in COLUMNS}
    row.update(image=path, engine=engine, line=-1, lines=0, text="", error=reason or "unknown error")
    return row


# --------------------------------------------------------------------------
# the output folder


def load_complete(out: Path) -> dict[tuple[str, str], list[dict]]:
    """The rows of ``results.jsonl`` grouped by (image, engine), only images whose every line is there; the file
    is rewritten with just those (a last line cut short by a stop, or an image half written, goes)."""
    path = out / RESULTS
    groups: dict[tuple[str, str], dict[int, dict]] = {}
    if path.is_file():
        with open(path, encoding="utf-8") as f:
            for text in f:
                try:
                    row = json.loads(text)
                    key = (str(row["image"]), str(row["engine"]))
                    groups.setdefault(key, {})[int(row["line"])] = row
                except (ValueError, KeyError, TypeError):
                    continue
    complete = {}
    for key, rows in groups.items():
        n = next(iter(rows.values())).get("lines")
        if isinstance(n, int) and n > 0 and sorted(rows) == list(range(n)):
            complete[key] = [rows[i] for i in range(n)]
    if path.is_file():
        tmp = path.with_suffix(".jsonl.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            for rows in complete.values():
                f.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
        os.replace(tmp, path)
    return complete


def output_names(images, fmt: str) -> dict[str, str]:
    """A file name per image for ``fmt`` (htr.export's), unique: names shared by two images get a hash of
    the path added."""
    from htr.export import file_name

    names = {image: file_name(image, fmt) for image in images}
    counts: dict[str, int] = {}
    for name in names.values():
        counts[name] = counts.get(name, 0) + 1
    for image, name in names.items():
        if counts[name] > 1:
            stem, _, rest = name.partition(".")
            names[image] = f"{stem}-{hashlib.sha1(image.encode()).hexdigest()[:8]}.{rest}"
    return names


def write_exports(out: Path, groups: dict[tuple[str, str], list[dict]], formats) -> list[str]:
    """One PAGE-XML / ALTO file per (image, engine) of ``groups``; returns the paths written."""
    from htr.export import LineReading, PageReading, render
    from htr.types import Box

    written = []
    for fmt in formats:
        names = output_names(sorted({image for image, _ in groups}), fmt)
        for (image, engine), rows in sorted(groups.items()):
            lines = tuple(LineReading(Box(r["x"], r["y"], r["w"], r["h"]), r["text"], r.get("confidence"))
                          for r in rows)
            page = PageReading(image, rows[0]["width"], rows[0]["height"], lines, engine)
            dest = out / fmt / engine / names[image]
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(render(page, fmt), encoding="utf-8")
            written.append(str(dest))
    return written


def row_schema():
    """The Arrow schema of :data:`COLUMNS` (Parquet's, and the workers' output's)."""
    import pyarrow as pa

    types = {"image": pa.string(), "engine": pa.string(), "text": pa.string(), "layout": pa.string(),
             "confidence": pa.float64(), "seconds": pa.float64()}
    return pa.schema([(k, types.get(k, pa.int32())) for k in COLUMNS])


def write_parquet(out: Path, groups: dict[tuple[str, str], list[dict]]) -> Path:
    """``results.parquet``: every row of ``groups``, ordered by image, engine and line."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [r for key in sorted(groups) for r in groups[key]]
    table = pa.Table.from_pylist([{k: r.get(k) for k in COLUMNS} for r in rows], schema=row_schema())
    tmp = out / (PARQUET + ".tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, out / PARQUET)
    return out / PARQUET


# --------------------------------------------------------------------------
# Ray


def _start_ray(address: str | None, cpus: int | None):
    """Join ``address`` or start Ray here; returns True when this call started it (so it shuts it down)."""
    import logging

    import ray

    if ray.is_initialized():
        return False
    kwargs = dict(log_to_driver=False, logging_level=logging.ERROR)
    if address:
        problem = unreachable(address)
        if problem:
            raise ClusterUnreachable(problem)
        ray.init(address=address, **kwargs)
        return True
    # one machine: Ray talks over loopback only, no dashboard, a small object store (rows of text), as many
    # CPUs as cores. A raylet that gave up waiting for its agents (a busy machine, see ray_start_problem) gets
    # LOCAL_START_TRIES tries in all; another failure goes up at once.
    for attempt in range(1, LOCAL_START_TRIES + 1):
        t0, before = time.time(), _children()
        try:
            # address="local": a new Ray of our own, never the last cluster named in /tmp/ray/ray_current_cluster
            # (a stale entry there made ray.init try to join it and refuse num_cpus)
            ray.init(address="local", num_cpus=cpus or os.cpu_count() or 1,
                     object_store_memory=LOCAL_OBJECT_STORE_BYTES, include_dashboard=False,
                     _node_ip_address="127.0.0.1", **kwargs)
            return True
        except Exception:
            ray.shutdown()  # what part of it did start, as far as Ray knows
            _end_ray_children(before)  # and what it does not: a failed start leaves its GCS and monitors
            if attempt == LOCAL_START_TRIES or not ray_start_problem(t0):
                raise


class ClusterUnreachable(ConnectionError):
    """The cluster named by --ray-address does not answer; its message is the whole sentence."""


def cluster_endpoint(address: str) -> tuple[str, int] | None:
    """(host, port) of a cluster address ``HOST:PORT`` or ``ray://HOST:PORT`` (Ray Client's default port
    10001 when none is given); None for ``auto``/``local`` and anything Ray resolves by itself."""
    text = address.strip()
    client = text.startswith("ray://")
    if client:
        text = text[len("ray://"):]
    if text in ("", "auto", "local") or "://" in text:
        return None
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = text, ("10001" if client else "6379")
    host = host.strip("[]")  # [::1]:6379
    if not host or not port.isdigit():
        return None
    return host, int(port)


def unreachable(address: str, timeout: float | None = None) -> str:
    """Why the cluster at ``address`` cannot be reached, in a sentence; empty when a TCP connection to it opens
    within ``timeout`` seconds (CONNECT_TIMEOUT_S) or the address is one Ray resolves itself (``auto``)."""
    import socket

    end = cluster_endpoint(address)
    if end is None:
        return ""
    timeout = CONNECT_TIMEOUT_S if timeout is None else timeout
    try:
        with socket.create_connection(end, timeout=timeout):
            return ""
    except socket.timeout:
        return f"no answer from {end[0]}:{end[1]} within {timeout:g} s (is the head node running, and reachable?)"
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        return f"cannot connect to {end[0]}:{end[1]}: {why}"


def _children() -> set[int]:
    """The ids of this process's child processes (Linux /proc; empty elsewhere)."""
    me, found = os.getpid(), set()
    try:
        entries = [e for e in os.listdir("/proc") if e.isdigit()]
    except OSError:
        return found
    for entry in entries:
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8", errors="replace") as f:
                stat = f.read()
            if int(stat.rsplit(")", 1)[1].split()[1]) == me:
                found.add(int(entry))
        except (OSError, ValueError, IndexError):
            continue
    return found


def _end_ray_children(before: set[int]) -> list[int]:
    """SIGKILL this process's Ray children born since ``before`` (a start that failed half-way leaves its GCS,
    monitor and dashboard running, which ray.shutdown does not know of); returns their ids."""
    import signal

    ended = []
    for pid in sorted(_children() - before):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
            if f"{os.sep}ray{os.sep}" in cmdline:
                os.kill(pid, signal.SIGKILL)
                ended.append(pid)
        except OSError:
            continue
    return ended


def ray_start_problem(since: float = 0.0) -> str:
    """Why the last Ray started on this machine (since ``since``, a ``time.time()``) stopped, from its raylet's
    log, in a sentence; empty when its log says nothing.

    On a machine whose cores are taken, Ray's raylet gives up on itself: it waits a fixed 15 s (not a setting
    in Ray 2.x) for its Python agents to start and write their ports, and a busy machine can need more.
    """
    import tempfile

    root = Path(os.environ.get("RAY_TMPDIR") or tempfile.gettempdir()) / "ray" / "session_latest" / "logs"
    err = root / "raylet.err"
    try:
        if err.stat().st_mtime < since:
            return ""
        text = err.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    if "Timed out waiting for file" in text:
        return ("Ray's raylet stopped after waiting 15 s for its agents to start (this machine is too busy to "
                "start Ray's helper processes in time; try again when it is less loaded)")
    for line in text.splitlines():
        if " C " in line or "Check failed" in line:
            return "Ray's raylet stopped: " + " ".join(line.split())[:300]
    return ""


def worker_env() -> dict:
    """The environment of a worker: this project importable and the settings it reads (its threads are set
    inside it, :class:`ImageReader`)."""
    project = str(Path(__file__).resolve().parent.parent)
    paths = [project] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    env = {"PYTHONPATH": os.pathsep.join(dict.fromkeys(paths)), "TF_CPP_MIN_LOG_LEVEL": "2"}
    for name in ("HTR_BATCH_TRACE", "HTR_BATCH_PAUSE", "HTR_WEIGHTS", "HTR_PRECISION", "IAM_DIR"):
        if os.environ.get(name):
            env[name] = os.environ[name]
    return env


def plan_workers(node_cpus, threads: int = 1, workers: int | None = None) -> tuple[int, float]:
    """``(workers, CPUs each worker reserves)`` on nodes with ``node_cpus`` CPUs each (alive nodes only).

    A worker reserves ``threads`` CPUs, but never more than the largest node has (Ray places an actor on one
    node: one asking more than any node offers waits for ever); ``workers`` defaults to as many as fit on the
    nodes. When ``workers`` is given and more than fit, each reserves less (a fraction of a CPU) until they
    all fit: they share the cores, and each still reads with ``threads`` threads.
    """
    nodes = [float(c) for c in node_cpus if c and c > 0]
    if not nodes:
        raise BatchError("the Ray cluster has no CPUs to run workers on")

    def fit(per: float) -> int:
        return sum(int(c / per + 1e-9) for c in nodes)

    per = float(min(threads, max(nodes)))
    per = float(int(per)) if per >= 1 else per  # Ray takes whole CPUs above one
    n = workers or max(1, fit(per))
    while fit(per) < n and per > 0.01:
        per = max(0.01, per / 2 if per <= 1 else float(int(per / 2)) or 1.0)
    return n, round(per, 4)


def _node_cpus() -> list[float]:
    import ray

    return [float(node.get("Resources", {}).get("CPU", 0)) for node in ray.nodes() if node.get("Alive")]


def _quiet_ray_data():
    import logging

    from ray.data import DataContext

    for name in ("ray.data", "ray"):
        logging.getLogger(name).setLevel(logging.ERROR)
    ctx = DataContext.get_current()
    ctx.enable_progress_bars = False
    for attr in ("print_on_execution_start", "enable_operator_progress_bars", "verbose_stats_logs"):
        if hasattr(ctx, attr):
            setattr(ctx, attr, False)
    return ctx


class Progress:
    """A one-line progress report on a stream: images, lines, lines/s and an ETA (from images/s)."""

    def __init__(self, total: int, stream=None):
        self.total, self.stream = total, stream
        self.done = self.lines = 0
        self.start = time.perf_counter()
        self.last = 0.0

    def update(self, images: int, lines: int, force: bool = False) -> None:
        self.done += images
        self.lines += lines
        now = time.perf_counter()
        if self.stream is None or (not force and now - self.last < 0.5):
            return
        self.last = now
        elapsed = max(now - self.start, 1e-9)
        rate = self.done / elapsed
        left = (self.total - self.done) / rate if rate > 0 else float("inf")
        eta = "--:--" if not math.isfinite(left) else f"{int(left) // 60:02d}:{int(left) % 60:02d}"
        width = 24
        fill = int(width * self.done / self.total) if self.total else width
        self.stream.write(f"\r[{'#' * fill}{'.' * (width - fill)}] {self.done}/{self.total} images, "
                          f"{self.lines} lines, {self.lines / elapsed:.1f} lines/s, ETA {eta} ")
        self.stream.flush()

    def close(self) -> None:
        if self.stream is not None:
            self.update(0, 0, force=True)
            self.stream.write("\n")
            self.stream.flush()


def run_batch(inputs, out_dir, engines=("easter2",), options: dict | None = None, layout: str = "auto",
              formats=(), resume: bool = False, workers: int | None = None, threads: int = 1,
              ray_address: str | None = None, gpus_per_worker: float = 0.0, batch_size: int = 8,
              progress=None, executor: str = "ray") -> BatchReport:
    """Read every image of ``inputs`` with each engine on Ray Data into ``out_dir`` (see the module's doc).

    ``workers``: actors per engine (default: as many as fit, :func:`plan_workers`); ``threads``: int8
    interpreter threads per actor, and the CPUs it reserves where a node has them; ``batch_size``: images per
    task (a killed worker's task is read again);
    ``progress``: a stream for the progress line, or None; ``executor``: ``"ray"``, or ``"local"`` (one engine
    in this process, a plain loop over the same reader: no Ray, for comparison and tests). Raises
    :class:`BatchError` for bad usage, a Ray that cannot start or an engine that cannot run; KeyboardInterrupt is let through after the files are closed (what was written
    stays, for ``resume``).
    """
    from htr.export import FORMATS

    engines = list(dict.fromkeys(engines))
    formats = list(dict.fromkeys(formats))
    for fmt in formats:
        if fmt not in FORMATS or fmt == "text":
            raise BatchError(f"unknown format {fmt!r}: choose page or alto")
    if executor not in ("ray", "local"):
        raise BatchError(f"unknown executor {executor!r}: ray or local")
    if threads < 1 or (workers is not None and workers < 1) or batch_size < 1 or gpus_per_worker < 0:
        raise BatchError("--workers, --threads and --batch-size must be at least 1, --gpus-per-worker at least 0")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise BatchError(f"{out} is not a folder")
    if (out / RESULTS).is_file() and not resume:
        raise BatchError(f"{out} already holds results ({RESULTS}): use --resume to go on with them, "
                         "or another --out")
    images, problems = expand_inputs(inputs)
    if not images and not problems:
        raise BatchError("no images to read")
    out.mkdir(parents=True, exist_ok=True)
    report = BatchReport()
    done = load_complete(out) if resume else {}
    todo = {e: [p for p in images if (p, e) not in done] for e in engines}
    report.skipped = sum(len(images) - len(v) for v in todo.values())
    t0 = time.perf_counter()
    with open(out / ERRORS, "w", encoding="utf-8") as errors, open(out / RESULTS, "a", encoding="utf-8") as results:
        for item, reason in problems:
            errors.write(json.dumps({"image": item, "engine": None, "reason": reason}, ensure_ascii=False) + "\n")
            report.failed.append((item, reason))
        errors.flush()
        if any(todo.values()) and executor == "local":
            _run_local(todo, options, layout, batch_size, results, errors, done, report, progress)
        elif any(todo.values()):
            _run_ray(todo, options, layout, workers, threads, ray_address, gpus_per_worker, batch_size,
                     results, errors, done, report, progress)
    report.seconds = time.perf_counter() - t0
    if done:
        write_parquet(out, done)
        report.files = write_exports(out, done, formats)
    return report


def _run_local(todo, options, layout, batch_size, results, errors, done, report, progress_stream):
    from htr.errors import HTRError

    progress = Progress(sum(len(v) for v in todo.values()), progress_stream)
    report.workers = 1
    try:
        for engine, paths in todo.items():
            if not paths:
                continue
            reader = ImageReader(engine, dict(options or {}) if engine == "easter2" else {}, layout)
            for i in range(0, len(paths), batch_size):
                try:
                    rows = reader({"image": paths[i:i + batch_size]}).to_pylist()
                except HTRError as exc:  # the engine itself broke
                    raise BatchError(f"{engine}: {_reason(exc, engine)}") from None
                _take(rows, results, errors, done, report, progress)
    finally:
        progress.close()


def _run_ray(todo, options, layout, workers, threads, ray_address, gpus, batch_size, results, errors, done,
             report, progress_stream):
    import ray

    t_start = time.time()
    try:
        started = _start_ray(ray_address, None)
    except Exception as exc:  # noqa: BLE001 - say why, never a traceback
        ray.shutdown()  # whatever part of it did start
        where = f"join the Ray cluster at {ray_address}" if ray_address else "start Ray on this machine"
        why = "" if ray_address else ray_start_problem(t_start)
        detail = " ".join(str(exc).split())
        if not isinstance(exc, ClusterUnreachable):
            detail = f"{type(exc).__name__}: {detail}"
        raise BatchError(f"could not {where}: {detail}"
                         + (f"; {why}" if why else "") + " (--executor local reads without Ray)") from None
    progress = Progress(sum(len(v) for v in todo.values()), progress_stream)
    try:
        _quiet_ray_data()
        n_workers, cpus_each = plan_workers(_node_cpus(), threads, workers)
        report.workers = n_workers
        for engine, paths in todo.items():
            if paths:
                _read_with(engine, paths, options, layout, n_workers, threads, cpus_each, gpus, batch_size,
                           results, errors, done, report, progress)
    finally:
        progress.close()
        if started:
            ray.shutdown()


def _read_with(engine, paths, options, layout, n_workers, threads, cpus_each, gpus, batch_size, results, errors,
               done, report, progress):
    import ray

    opts = dict(options or {}) if engine == "easter2" else {}
    ds = ray.data.from_items([{"image": p} for p in paths],
                             override_num_blocks=max(1, min(len(paths), math.ceil(len(paths) / batch_size))))
    remote = {"num_cpus": cpus_each, "runtime_env": {"env_vars": worker_env()}}
    if gpus:
        remote["num_gpus"] = gpus
    ds = ds.map_batches(ImageReader, fn_constructor_kwargs={"engine": engine, "options": opts, "layout": layout,
                                                            "threads": threads},
                        batch_size=batch_size, compute=ray.data.ActorPoolStrategy(size=n_workers),
                        batch_format="numpy", **remote)
    try:
        for batch in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
            _take(batch.to_pylist(), results, errors, done, report, progress)
    except (KeyboardInterrupt, BatchError):
        raise
    except Exception as exc:  # noqa: BLE001 - Ray wraps a worker's failure (an engine that cannot load or broke)
        raise BatchError(f"{engine}: {_reason(_ray_reason(exc), engine)}") from None


def _ray_reason(exc: BaseException) -> str:
    """The first line of the innermost cause Ray reports (a worker's own exception where it is there)."""
    cause = exc
    for _ in range(20):
        inner = getattr(cause, "cause", None) or cause.__cause__
        if inner is None or inner is cause:
            break
        cause = inner
    text = str(cause).strip().splitlines()
    for line in reversed(text):
        if "BatchError" in line or "Error:" in line:
            return " ".join(line.split(": ", 1)[-1].split()) if "BatchError" in line else " ".join(line.split())
    return f"{type(exc).__name__}: {' '.join(text[:1])}" if text else type(exc).__name__


def _take(rows, results, errors, done, report, progress):
    """Write one block of rows: each image's lines together, failures to the errors file."""
    by_key: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        by_key.setdefault((str(r["image"]), str(r["engine"])), []).append(r)
    lines = 0
    for key, group in by_key.items():
        if group[0].get("error"):
            errors.write(json.dumps({"image": key[0], "engine": key[1], "reason": group[0]["error"]},
                                    ensure_ascii=False) + "\n")
            report.failed.append((key[0], group[0]["error"]))
            continue
        clean = [{k: r[k] for k in COLUMNS} for r in sorted(group, key=lambda r: int(r["line"]))]
        results.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in clean))
        done[key] = clean
        lines += len(clean)
    results.flush()
    errors.flush()
    report.images += len(by_key)
    report.lines += lines
    report.arrivals.append((time.perf_counter(), lines))
    progress.update(len(by_key), lines)


def main_summary(report: BatchReport, out: Path, stream=None) -> None:
    """The closing lines the command prints (on ``stream``, default: stdout as it is now)."""
    stream = stream or sys.stdout
    print(f"read {report.images} image(s), {report.lines} line(s) in {report.seconds:.1f} s "
          f"({report.lines_per_second:.2f} lines/s, {report.workers} worker(s))"
          + (f"; {report.skipped} already done" if report.skipped else ""), file=stream)
    print(f"results: {out / RESULTS}, {out / PARQUET}" + (f"; {len(report.files)} PAGE/ALTO file(s)"
                                                           if report.files else ""), file=stream)
    if report.failed:
        print(f"{len(report.failed)} image(s) failed: see {out / ERRORS}", file=stream)
