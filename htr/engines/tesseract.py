"""Tesseract (Debian's ``tesseract-ocr`` + ``tesseract-ocr-eng``) as an Engine.

Tesseract runs as a subprocess with a list argv (never a shell string), the
image on its stdin as PNG, and a time limit. ``OMP_THREAD_LIMIT=1`` is set for
that subprocess: on a 2-core machine Tesseract's OpenMP threads only fight each
other, and one thread halves the time per line with identical output.

* ``layout="line"``: ``--psm 7`` (treat the image as a single text line).
* ``layout="page"``: ``--psm 3`` (automatic layout analysis) with TSV output
  (what ``pytesseract.image_to_data`` parses); the words are grouped into
  Tesseract's own text lines, each returned with its box on the page.
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import subprocess
import threading
import time

import numpy as np

from htr.engines.base import Engine, as_gray
from htr.errors import EngineFailed, EngineUnavailable
from htr.types import Box, Recognition

#: Seconds one recognition may take before Tesseract is killed.
DEFAULT_TIMEOUT = 30.0
#: Seconds the ``--version`` / ``--list-langs`` probes may take.
PROBE_TIMEOUT = 10.0
#: Tesseract refuses images with a side over 32767 px; larger ones are scaled down to this.
MAX_SIDE = 32000
MISSING = "tesseract binary not found: install tesseract-ocr"


def _env() -> dict:
    env = dict(os.environ)
    env["OMP_THREAD_LIMIT"] = "1"
    return env


def _png(image: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image, mode="L").save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


class TesseractEngine(Engine):
    name = "tesseract"
    title = "Tesseract"

    def __init__(self, timeout: float = DEFAULT_TIMEOUT, binary: str | None = None, lang: str = "eng"):
        self.timeout = float(timeout)
        self.binary = binary
        self.lang = lang
        self._availability: tuple[bool, str] | None = None
        self._lock = threading.Lock()

    # -- availability --------------------------------------------------------
    def _binary(self) -> str | None:
        if self.binary:
            return self.binary if os.path.isfile(self.binary) and os.access(self.binary, os.X_OK) else None
        return shutil.which("tesseract")

    def _probe(self) -> tuple[bool, str]:
        exe = self._binary()
        if exe is None:
            return False, MISSING if not self.binary else f"tesseract binary not found at {self.binary}: install tesseract-ocr"
        try:
            ver = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=PROBE_TIMEOUT, env=_env())
            langs = subprocess.run([exe, "--list-langs"], capture_output=True, text=True, timeout=PROBE_TIMEOUT, env=_env())
        except subprocess.TimeoutExpired:
            return False, f"{exe} --version did not answer within {PROBE_TIMEOUT:.0f} s"
        except OSError as exc:
            return False, f"cannot run {exe}: {exc.strerror or exc}"
        m = re.search(r"tesseract\s+v?(\d+(?:\.\d+)*\S*)", ver.stdout + ver.stderr)
        if ver.returncode != 0 or not m:
            return False, f"{exe} --version failed (exit {ver.returncode}): is it Tesseract?"
        version = f"tesseract {m.group(1)}"
        available = {line.strip() for line in (langs.stdout + langs.stderr).splitlines()}
        if self.lang not in available:
            return False, f"{version} has no '{self.lang}' language data: install tesseract-ocr-{self.lang}"
        return True, version

    def availability(self) -> tuple[bool, str]:
        with self._lock:
            if self._availability is None:
                self._availability = self._probe()
            return self._availability

    def version(self) -> str | None:
        ok, why = self.availability()
        return why if ok else None

    # -- running -------------------------------------------------------------
    def _run(self, image: np.ndarray, args: list[str]) -> tuple[str, float]:
        ok, why = self.availability()
        if not ok:
            raise EngineUnavailable(why)
        exe = self._binary()
        if exe is None:  # removed since the probe
            raise EngineUnavailable(MISSING)
        data = _png(image)
        argv = [exe, "stdin", "stdout", "-l", self.lang, *args]
        start = time.perf_counter()
        try:
            proc = subprocess.run(argv, input=data, capture_output=True, timeout=self.timeout, env=_env())
        except subprocess.TimeoutExpired:
            raise EngineFailed(f"tesseract timed out after {self.timeout:g} s") from None
        except OSError as exc:
            raise EngineFailed(f"cannot run tesseract: {exc.strerror or exc}") from None
        seconds = time.perf_counter() - start
        if proc.returncode != 0:
            err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
            detail = err[-1] if err else "no message"
            raise EngineFailed(f"tesseract failed (exit {proc.returncode}): {detail}")
        return proc.stdout.decode("utf-8", "replace"), seconds

    def recognize(self, image: np.ndarray, layout: str = "line") -> Recognition:
        if layout not in ("line", "page"):
            raise ValueError(f"unknown layout {layout!r}: use 'line' or 'page'")
        gray = as_gray(image)
        scale = 1.0
        if max(gray.shape) > MAX_SIDE:
            gray, scale = _shrink(gray)
        if layout == "line":
            out, seconds = self._run(gray, ["--psm", "7"])
            text = " ".join(out.split())
            return Recognition(text=text, seconds=seconds, engine=self.name,
                               extra={"version": self.version(), "psm": 7})
        out, seconds = self._run(gray, ["--psm", "3", "tsv"])
        lines = parse_tsv(out, self.name)
        if scale != 1.0:  # boxes back on the image as given
            lines = [Recognition(text=r.text, seconds=0.0, engine=self.name, extra=r.extra,
                                 box=Box(*(int(round(v / scale)) for v in (r.box.x, r.box.y, r.box.w, r.box.h))))
                     for r in lines]
        h, w = np.asarray(image).shape[:2]
        return Recognition.page(lines, seconds, self.name, box=Box(0, 0, int(w), int(h)),
                                extra={"version": self.version(), "psm": 3})


def _shrink(gray: np.ndarray) -> tuple[np.ndarray, float]:
    from PIL import Image

    h, w = gray.shape
    scale = MAX_SIDE / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(gray).resize(size, Image.LANCZOS)), scale


def parse_tsv(tsv: str, engine: str = "tesseract") -> list[Recognition]:
    """Tesseract's TSV (``image_to_data``) → one Recognition per text line, in reading order.

    Words (level 5) with text are grouped by (page, block, paragraph, line);
    a line's box is its level-4 row where present, else the union of its words.
    Each line's ``extra['confidence']`` is the mean word confidence in [0, 1].
    """
    rows = list(csv.DictReader(io.StringIO(tsv), delimiter="\t", quoting=csv.QUOTE_NONE))
    line_boxes: dict[tuple, Box] = {}
    words: dict[tuple, list[tuple[int, str, float, Box]]] = {}
    order: list[tuple] = []
    for row in rows:
        try:
            level = int(row["level"])
            key = (int(row["page_num"]), int(row["block_num"]), int(row["par_num"]), int(row["line_num"]))
            box = Box(int(row["left"]), int(row["top"]), int(row["width"]), int(row["height"]))
        except (KeyError, TypeError, ValueError):
            continue
        if level == 4:
            line_boxes[key] = box
        elif level == 5:
            text = (row.get("text") or "").strip()
            if not text:
                continue
            try:
                conf = float(row.get("conf") or -1)
            except ValueError:
                conf = -1.0
            if key not in words:
                words[key] = []
                order.append(key)
            words[key].append((int(row.get("word_num") or 0), text, conf, box))
    out = []
    for key in order:
        ws = sorted(words[key], key=lambda w: w[0])
        box = line_boxes.get(key) or _union([w[3] for w in ws])
        confs = [w[2] for w in ws if w[2] >= 0]
        out.append(Recognition(
            text=" ".join(w[1] for w in ws),
            seconds=0.0,
            engine=engine,
            box=box,
            extra={"confidence": (sum(confs) / len(confs) / 100.0) if confs else None},
        ))
    return out


def _union(boxes: list[Box]) -> Box:
    x0 = min(b.x for b in boxes)
    y0 = min(b.y for b in boxes)
    x1 = max(b.x + b.w for b in boxes)
    y1 = max(b.y + b.h for b in boxes)
    return Box(x0, y0, x1 - x0, y1 - y0)
