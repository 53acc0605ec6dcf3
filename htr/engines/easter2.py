"""Our Easter2 model as an Engine, plus what the "inside the model" views need."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np

from htr import ctc
from htr.engines.base import Engine
from htr.errors import EngineFailed, EngineUnavailable
from htr.preprocess import HEIGHT, STRIDE, WIDTH, Prepared, prepare_line
from htr.runtime import INT8_PRECISIONS, PRECISIONS, compute_width
from htr.types import Box, Recognition


@dataclass(frozen=True)
class Analysis:
    """Everything one forward pass tells about a line."""

    prepared: Prepared
    probs: np.ndarray  # (T, C) softmax over the content time steps
    gates: tuple[np.ndarray, ...]  # per Easter unit: (256,) SE gate values in [0, 1]
    activations: tuple[np.ndarray, ...]  # per Easter unit: (T, 256) after the unit's ReLU
    greedy: ctc.Decoded
    beam: ctc.Decoded | None = None


#: How probabilities become text: greedy (argmax path), CTC beam search, and
#: beam search with the character language model of :mod:`htr.lm`.
DECODERS = ("greedy", "beam", "lm")


class Easter2Engine(Engine):
    """Easter2 behind the Engine interface.

    ``width=2000`` (default) reads a line as if padded to Easter2's 2000-column
    training layout (squeezed if wider); ``width=None`` at its true width. Both
    run through :class:`htr.runtime.FastEaster2` (exact to float rounding for
    float32; the layout is computed only a little past the ink).

    ``precision`` of the *reading* (:meth:`recognize`, :meth:`read_lines`):
    "int8", "int8-full", "bfloat16" or "float32"; None (default) is ``$HTR_PRECISION`` if
    set, else int8 on a CPU (:class:`htr.runtime.LiteEaster2`: the same layout
    graph through TensorFlow Lite with int8 weights, built in memory when the
    model loads) and the float dtype where TensorFlow sees a GPU. The float
    dtype is :func:`htr.runtime.default_dtype` (bfloat16 where the CPU has
    native bf16, else float32). Where the int8 path cannot be built (no
    ``tf.lite``, a conversion error) the engine reads in the float dtype and
    :meth:`availability` says why. The int8 path covers the layout policy
    only: ``width=None`` reads in the float dtype. "int8-full" (never chosen
    by default) quantises activations too, calibrated on training-split lines
    of the IAM copy and the real hands (:mod:`htr.calibration`, read when the
    model loads); where there are none it reads in the float dtype and says so.

    The "inside the model" views (:meth:`analyze`: probabilities, SE gates,
    activations; :meth:`saliency`) always run the float path: int8 has no
    gates or activations to show and moves single probabilities (by up to
    about 0.6; the argmax agrees on about 99.7 % of steps), so the views'
    greedy reading can differ from :meth:`recognize`'s at a few characters.
    ``decoder``: one of :data:`DECODERS`; "lm" fits its language model on the
    train-split transcriptions of the IAM copy at ``lm_dir`` (default
    ``$IAM_DIR``, else ``../shared/iam``) and says so where there is none.
    ``deskew`` (default on) turns a line that leans 1° or more level before
    reading it (:func:`htr.preprocess.deskew_line`); the views map back onto
    the image as given.
    """

    name = "easter2"
    title = "Easter2 (ours)"

    def __init__(self, weights=None, decoder: str = "greedy", width: int | None = WIDTH,
                 precision: str | None = None, lm_dir=None, deskew: bool = True):
        if decoder not in DECODERS:
            raise ValueError(f"unknown decoder {decoder!r}: use one of {', '.join(DECODERS)}")
        if precision not in (None, *PRECISIONS):
            raise ValueError(f"unknown precision {precision!r}: use one of {', '.join(PRECISIONS)}")
        self.weights = weights
        self.decoder = decoder
        self.lm_dir = lm_dir
        self.width = width
        self.precision = precision
        self.deskew = deskew
        self._model = None
        self._fast = None
        self._lite = None  # the int8 reader, when it is this engine's reading path
        self._note = ""  # how this engine reads, once loaded (for availability)
        self._error: str | None = None
        self._error_stamp = None
        self._lock = threading.Lock()

    @property
    def mode(self) -> str:
        """The runtime mode of this engine's width policy."""
        return "true" if self.width is None else "layout"

    # -- loading -----------------------------------------------------------
    def _stamp(self):
        """(mtime, size) of the weights file, None if absent: a change retries a failed load."""
        from htr.weights import weights_path

        try:
            st = weights_path(self.weights).stat()
            return (st.st_mtime_ns, st.st_size)
        except OSError:
            return None

    def _load(self):
        with self._lock:
            if self._error is not None and self._stamp() != self._error_stamp:
                self._error = None  # the file was replaced or appeared: try again
            if self._model is None and self._error is None:
                try:
                    self._model, self._fast = _shared_runtime(self.weights, self.precision)
                    self._lite, self._note = _reading_path(self.weights, self.precision, self.mode,
                                                          self.width or WIDTH, self._model, self._fast)
                except EngineUnavailable as exc:
                    self._error, self._error_stamp = str(exc), self._stamp()
            if self._model is None:
                raise EngineUnavailable(self._error)
            return self._model

    def _runtime(self):
        """The float runtime (:class:`htr.runtime.FastEaster2`): the views, and reading without int8."""
        self._load()
        return self._fast

    def _reader(self):
        """The runtime that reads lines: the int8 one where it is in use, else the float one."""
        self._load()
        return self._lite or self._fast

    @property
    def reading_precision(self) -> str:
        """"int8", "int8-full", "bfloat16" or "float32": what :meth:`recognize` runs (loads the model)."""
        self._load()
        return self._lite.dtype_name if self._lite is not None else self._fast.dtype.name

    def availability(self) -> tuple[bool, str]:
        from htr.weights import weights_path  # no Keras import just to look for a file

        p = weights_path(self.weights)
        if self._error and self._stamp() == self._error_stamp:
            return False, self._error
        if not p.is_file():
            return False, f"no trained Easter2 weights at {p}"
        note = self._note or _reading_note(self.weights, self.precision, self.mode, self.width or WIDTH)
        return True, f"weights {p.name} ({p.stat().st_size / 1e6:.1f} MB)" + (f"; {note}" if note else "")

    def warm_up(self) -> None:
        """Load the model, run its reading path once and fit the language model of
        the "lm" decoder, so the first real call is fast.

        The float graph of the views is traced on their first use.
        """
        reader = self._reader()
        if reader is self._lite:
            reader.warm_up(widths=(1024,))
        else:
            reader.warm_up(modes=(self.mode,), widths=(self.width or 1024,))
        if self.decoder == "lm":  # fit the language model now (or say now what it lacks)
            from htr.lm import language_model

            language_model(self.lm_dir)

    # -- running -----------------------------------------------------------
    def _decode(self, probs: np.ndarray) -> ctc.Decoded:
        if self.decoder == "beam":
            return ctc.beam_decode(probs)
        if self.decoder == "lm":
            from htr.lm import language_model, lm_beam_decode

            return lm_beam_decode(probs, language_model(self.lm_dir))
        # greedy: the argmax path with spans (what ctc.greedy_decode returns, without its Keras cross-check)
        return ctc.best_path(probs)

    def _forward(self, preps: list[Prepared], inspect: bool = False):
        """Run prepared lines, batching lines of similar width; per line: probs or dict.

        The int8 reader where it is in use, except for ``inspect`` (gates and
        activations: the float path).
        """
        fast = self._runtime() if inspect else self._reader()
        mode = self.mode
        layout = self.width or WIDTH
        need = [compute_width(p.content if mode == "layout" else p.width, mode, layout) for p in preps]
        results: list = [None] * len(preps)
        for group in _width_groups(need):
            w = max(need[i] for i in group)
            x = np.zeros((len(group), w, HEIGHT), np.float32)
            for k, i in enumerate(group):
                n = min(w, preps[i].width)
                x[k, :n] = preps[i].x[:n]
            if mode == "layout":  # each SE module averages over the whole layout
                aux = -(-layout // STRIDE)
            else:
                aux = [preps[i].width for i in group]
            out = fast.run(x, aux, mode, inspect=inspect)
            for k, i in enumerate(group):
                if inspect:
                    results[i] = {key: v[k] for key, v in out.items()}
                else:
                    results[i] = out[k]
        return results

    def read_lines(self, grays: list[np.ndarray]) -> list[ctc.Decoded]:
        """Decode several line images, batched by similar width."""
        preps = [prepare_line(g, self.width, deskew=self.deskew) for g in grays]
        probs = self._forward(preps)
        return [self._decode(pr[: p.content_steps]) for pr, p in zip(probs, preps)]

    def recognize(self, image: np.ndarray, layout: str = "line") -> Recognition:
        if layout not in ("line", "page"):
            raise ValueError(f"unknown layout {layout!r}: use 'line' or 'page'")
        self._load()
        t0 = time.perf_counter()
        try:
            if layout == "page":
                from htr.segment import segment_page

                boxes = segment_page(image) or [Box(0, 0, image.shape[1], image.shape[0])]
                crops = [image[b.y : b.y + b.h, b.x : b.x + b.w] for b in boxes]
                decs = self.read_lines(crops)
                secs = time.perf_counter() - t0
                lines = tuple(
                    Recognition(d.text, secs / len(decs), self.name, d.char_probs, box=b)
                    for d, b in zip(decs, boxes)
                )
                return Recognition.page(lines, secs, self.name)
            (dec,) = self.read_lines([image])
        except EngineUnavailable:
            raise
        except Exception as exc:  # a backend failure on one input
            raise EngineFailed(f"easter2 failed: {type(exc).__name__}: {exc}") from None
        return Recognition(dec.text, time.perf_counter() - t0, self.name, dec.char_probs)

    def analyze(self, image: np.ndarray, beam: bool = True) -> Analysis:
        """One forward pass with the SE gates and unit activations, decoded both ways."""
        prep = prepare_line(image, self.width, deskew=self.deskew)
        (out,) = self._forward([prep], inspect=True)
        n = prep.content_steps
        probs = out["probs"][:n]
        gates = tuple(out[f"unit{u}_gate"] for u in (1, 2, 3))
        acts = tuple(out[f"unit{u}_out"][:n] for u in (1, 2, 3))
        return Analysis(
            prep, probs, gates, acts, ctc.best_path(probs), ctc.beam_decode(probs) if beam else None
        )

    def saliency(self, image: np.ndarray, step_start: int, step_end: int, char_index: int) -> np.ndarray:
        """|d log p(char at steps start..end) / d input| mapped back to image pixels (H, W)."""
        import tensorflow as tf

        model = self._load()
        prep = prepare_line(image, self.width, deskew=self.deskew)
        x = tf.convert_to_tensor(prep.x[None])
        with tf.GradientTape() as tape:
            tape.watch(x)
            probs = model(x, training=False)
            target = tf.reduce_sum(tf.math.log(probs[0, step_start : step_end + 1, char_index] + 1e-9))
        grad = np.abs(tape.gradient(target, x).numpy()[0])  # (W, 80)
        out = prep.to_image(grad[: prep.content].T)  # (80, content) → the image as given
        return out / out.max() if out.max() > 0 else out


#: One loaded model and compiled runtime per (weights file, precision), shared by
#: every engine of the process (the app builds one engine per decoder).
_RUNTIMES: dict = {}
_RUNTIMES_LOCK = threading.Lock()


def _weights_key(weights):
    from htr.weights import weights_path

    p = weights_path(weights)
    try:
        return str(p.resolve()), p.stat().st_mtime_ns
    except OSError:
        return str(p), None


def _shared_runtime(weights, precision):
    from htr.model import load_model, weights_path
    from htr.runtime import FastEaster2, configure_threads, default_dtype

    p = weights_path(weights)
    dtype = precision if precision in ("float32", "bfloat16") else default_dtype()
    try:
        key = (str(p.resolve()), p.stat().st_mtime_ns, dtype)
    except OSError:
        key = (str(p), None, dtype)
    with _RUNTIMES_LOCK:
        if key not in _RUNTIMES:
            configure_threads()  # $HTR_INTRA_THREADS / $HTR_INTER_THREADS, if set
            model = load_model(weights)  # raises EngineUnavailable with the reason
            _RUNTIMES[key] = (model, FastEaster2(model, dtype))
        return _RUNTIMES[key]


#: Cost of one more batch call, in input columns of one line (per-call overhead).
_CALL_COST = 384
_MAX_BATCH = 32


def _width_groups(widths: list[int]) -> list[list[int]]:
    """Split line indices into batches whose padded cost (lines × widest) plus a per-call cost is least.

    Lines are sorted by width; dynamic programming over contiguous runs, at most
    :data:`_MAX_BATCH` lines each.
    """
    order = sorted(range(len(widths)), key=lambda i: widths[i])
    n = len(order)
    best = [0.0] + [float("inf")] * n
    cut = [0] * (n + 1)
    for j in range(1, n + 1):
        for i in range(max(0, j - _MAX_BATCH), j):
            cost = best[i] + (j - i) * widths[order[j - 1]] + _CALL_COST
            if cost < best[j]:
                best[j], cut[j] = cost, i
    groups, j = [], n
    while j > 0:
        groups.append(order[cut[j] : j])
        j = cut[j]
    return groups[::-1]


#: The int8 reader per (weights file, layout steps, "int8" | "int8-full"): a LiteEaster2, or the
#: reason it could not be built.
_LITES: dict = {}


def _wants_int8(precision) -> tuple[str | None, str]:
    """Which int8 reader to use ("int8" by default on a CPU, "int8-full" only when asked for), or
    None and the reason."""
    from htr.runtime import requested_precision

    want = precision or requested_precision()
    if want is not None:
        return (want if want in INT8_PRECISIONS else None), f"precision {want} requested"
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        return None, "TensorFlow sees a GPU"
    return "int8", ""


def _build_lite(model, steps: int, kind: str):
    """A LiteEaster2 of ``kind``; raises LiteUnavailable (full int8: also where nothing calibrates it)."""
    from htr.runtime import LiteEaster2, LiteUnavailable

    if kind != "int8-full":
        return LiteEaster2(model, steps)
    from htr.calibration import calibration_inputs
    from htr.data.lines import DataError

    try:
        calibration = calibration_inputs()
    except DataError as exc:
        raise LiteUnavailable(str(exc)) from exc
    return LiteEaster2(model, steps, calibration=calibration)


def _reading_path(weights, precision, mode, layout, model, fast):
    """(the int8 reader or None, a note on how the engine reads) for an engine's settings."""
    kind, why = _wants_int8(precision)
    if kind is None:
        return None, ""
    if mode != "layout":
        return None, f"reads in {fast.dtype.name}: the int8 path covers the layout width policy only"
    from htr.runtime import LiteUnavailable

    steps = -(-layout // STRIDE)
    key = (*_weights_key(weights), steps, kind)
    with _RUNTIMES_LOCK:
        if key not in _LITES:
            try:
                _LITES[key] = _build_lite(model, steps, kind)
            except LiteUnavailable as exc:
                _LITES[key] = str(exc)
        lite = _LITES[key]
    if isinstance(lite, str):
        return None, f"{kind} unavailable ({lite}): reads in {fast.dtype.name}"
    return lite, f"reads in {lite.describe()}, views in {fast.dtype.name}"


def _reading_note(weights, precision, mode, layout) -> str:
    """The note of :func:`_reading_path` where this process already built (or failed) the int8 reader."""
    from htr.runtime import default_dtype, requested_precision

    kind = precision or requested_precision() or "int8"
    if mode != "layout" or kind not in INT8_PRECISIONS:
        return ""
    lite = _LITES.get((*_weights_key(weights), -(-layout // STRIDE), kind))
    if lite is None:
        return ""
    if isinstance(lite, str):
        return f"{kind} unavailable ({lite}): reads in {default_dtype()}"
    return f"reads in {lite.describe()}, views in {default_dtype()}"
