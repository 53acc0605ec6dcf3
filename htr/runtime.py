"""Fast Easter2 inference: folded batch norm, one compiled graph, truncated layout.

:func:`htr.model.build_easter2` is the Keras model that trains. For reading
lines this module runs the same weights as a lean TensorFlow graph:

* every batch normalisation is folded into the convolution before it, dropout
  (the identity at inference) is gone, and the whole pass is one
  ``tf.function``, traced once, so a line costs one call into TensorFlow's
  runtime and nothing of Keras' ``predict`` machinery;
* the convolutions can run in bfloat16 (AVX-512 BF16 / AMX on recent x86),
  with the SE modules, biases and softmax in float32;
* **the 2000-column layout without computing it.** Easter2 was trained on
  lines padded to 2000 columns, and its Squeeze-and-Excitation (SE) modules
  average each unit over the *whole* width, padding included, so reading a
  line at its true width changes the gates and costs accuracy. But far from
  the ink and from the layout's right edge every padded column holds the same
  vector at every layer (a convolution of a constant is a constant). So the
  network runs on the layout truncated a little past the ink (:data:`MARGIN`
  columns: the part of the padding that differs from that constant, plus the
  right-edge effect), carries the constant "pad state" along as one extra
  column, and each SE average counts the columns it did not compute as copies
  of it. The result equals the full 2000-column pass to float rounding.

Modes (see :class:`FastEaster2`): ``"layout"`` (exact, above) and ``"true"``
(the line's true width, the padding of a batch masked out after every layer
so lines of different widths share a batch and still read as if alone).
Cutting the layout right at the ink instead (and assuming the cut-off
columns constant) was measured too: up to 0.26 off in a probability, so it
is not offered.

**int8** (:class:`LiteEaster2`): the float32 "layout" graph above, converted
in memory to TensorFlow Lite with dynamic-range int8 weights and run by
XNNPACK, is the engine's default reading path on a CPU (2-3x faster than
bfloat16 here, same CER to about 0.1 point); the "inside the model" views
keep :class:`FastEaster2` (they need the gates and exact probabilities).
**int8-full** (an option, precision ``"int8-full"``): the same graph with
activations quantised too, calibrated on training-split lines
(:mod:`htr.calibration`), for CPUs without int8 dot-product instructions
(AVX2 only), where dynamic range quantises every layer's input per call.

Nothing here imports Streamlit; TensorFlow is imported when a
:class:`FastEaster2` or :class:`LiteEaster2` is built.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass

import numpy as np

from htr.preprocess import HEIGHT, STRIDE, WIDTH

#: Width buckets are multiples of this many input columns.
BUCKET = 128
#: Columns of the layout kept right of the ink in "layout" mode. Measured on
#: all 56 IAM lines of ../shared/iam against the full 2000-column pass: max
#: |Δp| 8.6e-5 with 128, 4.7e-6 with 160 and 5.3e-6 with 192 (float rounding).
MARGIN = 160
#: Easter units as in htr.model.UNITS: (filters, kernel).
_UNITS = ((256, 5), (256, 7), (256, 9))
MODES = ("layout", "true")


def bucket_width(columns: int, bucket: int = BUCKET, cap: int | None = WIDTH) -> int:
    """The input width (a multiple of ``bucket``, at most ``cap``) that holds ``columns``."""
    w = max(bucket, -(-int(columns) // bucket) * bucket)
    if cap is not None and w > cap:
        w = max(cap, -(-int(columns) // STRIDE) * STRIDE)
    return w


def compute_width(content: int, mode: str = "layout", layout: int = WIDTH, bucket: int = BUCKET) -> int:
    """Input columns to compute for a line with ``content`` ink columns."""
    if mode == "layout":
        need = content + MARGIN
        # near the full layout the truncation saves little and stops being exact
        return layout if need + bucket > layout else bucket_width(need, bucket, layout)
    return bucket_width(content, bucket, None)


def bf16_supported() -> bool:
    """Whether this CPU computes bfloat16 dot products natively (else bf16 is emulated, slow)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16"})
    except OSError:
        pass
    return False


#: Precisions of Easter2's reading path: "int8" (:class:`LiteEaster2`, dynamic range: int8 weights,
#: activations quantised on the fly), "int8-full" (:class:`LiteEaster2` with a calibration set:
#: int8 weights *and* activations, ranges calibrated on training-split lines; an option, not a
#: default) and the float ones (:class:`FastEaster2`).
PRECISIONS = ("int8", "int8-full", "bfloat16", "float32")
#: The int8 precisions (both read through TensorFlow Lite, layout policy only).
INT8_PRECISIONS = ("int8", "int8-full")
_PRECISION_NAMES = {"int8": "int8", "float32": "float32", "fp32": "float32", "bfloat16": "bfloat16", "bf16": "bfloat16",
                    "int8-full": "int8-full", "int8full": "int8-full", "int8_full": "int8-full",
                    "full-int8": "int8-full"}


def requested_precision() -> str | None:
    """``$HTR_PRECISION`` as one of :data:`PRECISIONS`; None when unset or not understood (automatic)."""
    return _PRECISION_NAMES.get(os.environ.get("HTR_PRECISION", "").strip().lower())


def default_dtype() -> str:
    """The float dtype: ``$HTR_PRECISION`` (float32 | bfloat16) if set, else bfloat16 where the CPU has it.

    With ``HTR_PRECISION=int8`` (or ``int8-full``) this is the float dtype beside
    it (the model views, and the fallback where the int8 path cannot be built).
    """
    env = requested_precision()
    if env in ("float32", "bfloat16"):
        return env
    return "bfloat16" if bf16_supported() else "float32"


def _env_threads(name: str) -> int:
    """A thread count from the environment; 0 (the default) where unset or not a positive integer."""
    value = os.environ.get(name, "").strip()
    return int(value) if value.isdigit() else 0


def lite_threads() -> int:
    """Threads of the int8 interpreter: ``$HTR_INTRA_THREADS`` when set, else :data:`LITE_THREADS`.

    The same variable as TensorFlow's intra-op pool (:func:`configure_threads`),
    capped at the cores this process may use.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    n = _env_threads("HTR_INTRA_THREADS") or LITE_THREADS
    return max(1, min(n, cores))


def configure_threads(intra: int | None = None, inter: int | None = None) -> bool:
    """Set TensorFlow's thread pools (before its runtime starts); False if too late.

    Defaults: ``$HTR_INTRA_THREADS`` / ``$HTR_INTER_THREADS`` when set, else
    leave TensorFlow's own choice.
    """
    import tensorflow as tf

    intra = intra if intra is not None else _env_threads("HTR_INTRA_THREADS")
    inter = inter if inter is not None else _env_threads("HTR_INTER_THREADS")
    try:
        if intra:
            tf.config.threading.set_intra_op_parallelism_threads(intra)
        if inter:
            tf.config.threading.set_inter_op_parallelism_threads(inter)
    except RuntimeError:  # the runtime is already initialised
        return False
    return True


@dataclass(frozen=True)
class _Conv:
    w: object  # (1, k, cin, cout) in the compute dtype, batch norm folded in (see FastEaster2.__init__)
    b: object  # (cout,) in the compute dtype
    wsum: object  # (cin, cout) float32: the kernel summed over taps, for a constant input
    bf: object  # (cout,) float32
    k: int
    stride: int = 1
    dilation: int = 1


def _fold(model, conv: str, bn: str | None):
    """Kernel and bias of ``conv`` with the batch norm ``bn`` folded in (float64 math)."""
    k, b = (np.asarray(a, np.float64) for a in model.get_layer(conv).get_weights())
    if bn is not None:
        layer = model.get_layer(bn)
        gamma, beta, mean, var = (np.asarray(a, np.float64) for a in layer.get_weights())
        scale = gamma / np.sqrt(var + layer.epsilon)
        k = k * scale
        b = (b - mean) * scale + beta
    return k, b


class FastEaster2:
    """Easter2's forward pass for reading lines.

    ``run(x, aux, mode)``: ``x`` (B, W, 80) float32 with W a multiple of 4.
    ``mode="layout"``: ``aux`` is the layout's number of time
    steps (500 for 2000 columns) that each SE module averages over; ``x`` is
    the layout's first W columns. ``mode="true"``: ``aux`` (B,) int32 holds
    each line's own width in input columns; columns past it are ignored.
    Returns the softmax (B, W/4, 80), float32; with ``inspect=True`` a dict
    that adds ``unit{u}_gate`` (B, 256) and ``unit{u}_out`` (B, W/4, 256).
    """

    def __init__(self, model, dtype: str = "float32", jit_compile: bool = False, fixed_shapes: bool = False):
        import tensorflow as tf

        self.tf = tf
        self.dtype = tf.as_dtype(dtype)
        self.jit_compile = jit_compile
        self.fixed_shapes = fixed_shapes
        cd = self.dtype

        def conv(name, bn, stride=1):
            layer = model.get_layer(name)
            k, b = _fold(model, name, bn)
            w = tf.constant(k[None], cd)
            if cd == tf.bfloat16:
                # A kernel given as a numpy array is traced into the graph as a constant, and
                # TensorFlow's oneDNN convolution then keeps it in its blocked layout: a captured
                # tensor is reordered on every call (1.5 ms of an 11 ms pass at 1024 columns).
                # Same bits, same results. float32 keeps the captured tensors: there the constants
                # saved under 0.4 ms and moved the probabilities by up to 2e-6.
                w = w.numpy()
            return _Conv(
                w,
                tf.constant(b, cd),
                tf.constant(k.sum(axis=0), tf.float32),
                tf.constant(b, tf.float32),
                k.shape[0],
                stride,
                int(layer.dilation_rate[0]),
            )

        def dense(name):
            k, b = model.get_layer(name).get_weights()
            return tf.constant(k, tf.float32), tf.constant(b, tf.float32)

        self.stem = [conv(f"stem_conv{i}", f"stem_bn{i}", stride=2) for i in (1, 2)]
        self.units = []
        for u in range(1, len(_UNITS) + 1):
            p = f"unit{u}"
            self.units.append(
                dict(
                    res_old=conv(f"{p}_res_old", f"{p}_res_old_bn"),
                    res_in=conv(f"{p}_res_in", f"{p}_res_in_bn"),
                    convs=[conv(f"{p}_conv{i}", f"{p}_bn{i}") for i in (1, 2, 3)],
                    se_reduce=dense(f"{p}_se_reduce"),
                    se_gate=dense(f"{p}_se_gate"),
                )
            )
        self.head = [conv("head_conv1", "head_bn1"), conv("head_conv2", "head_bn2"), conv("logits", None)]
        self._fns: dict[tuple, object] = {}
        self._lock = threading.Lock()

    # -- the graph ---------------------------------------------------------
    # Tensors are NHWC (B, 1, T, C) in the compute dtype so that TensorFlow's
    # grappler fuses each Conv2D + BiasAdd (+ Relu) into one oneDNN call.
    def _conv(self, x, pad, c: _Conv, relu: bool, mask=None):
        """'same' convolution (zero padding, as Keras) of ``x``; ``pad`` (B, C) float32 follows along."""
        tf = self.tf
        if c.stride == 1:
            y = tf.nn.conv2d(x, c.w, 1, "SAME", dilations=(1, c.dilation))
        else:  # Keras 'same' for a length divisible by the stride: pad (k - stride) on the right
            total = max((c.k - 1) * c.dilation + 1 - c.stride, 0)
            xp = tf.pad(x, [[0, 0], [0, 0], [total // 2, total - total // 2], [0, 0]])
            y = tf.nn.conv2d(xp, c.w, (1, c.stride), "VALID", dilations=(1, c.dilation))
        y = tf.nn.bias_add(y, c.b)
        if relu:
            y = tf.nn.relu(y)
        if mask is not None:
            y = y * mask
        if pad is not None:
            pad = tf.matmul(pad, c.wsum) + c.bf
            if relu:
                pad = tf.nn.relu(pad)
        return y, pad

    def _forward(self, x, aux, mode: str, inspect: bool, logits: bool = False):
        """The pass; ``logits=True`` stops before the softmax (float32 logits, not with ``inspect``)."""
        tf = self.tf
        cd = self.dtype
        f32 = tf.float32
        t_in = tf.shape(x)[1]
        if mode == "true":
            lengths = tf.cast(aux, tf.int32)
            steps2 = (lengths + 1) // 2
            steps4 = (steps2 + 1) // 2
            mask2 = tf.cast(tf.sequence_mask(steps2, (t_in + 1) // 2), cd)[:, None, :, None]
            mask4 = tf.cast(tf.sequence_mask(steps4, (t_in + 3) // 4), cd)[:, None, :, None]
            pad = None
        else:
            mask2 = mask4 = None
            # padded input columns are blank paper: zeros; (1, C) so that the pad state stays a
            # constant (folded when the graph is built) until the first SE gate makes it per line
            pad = tf.zeros([1, HEIGHT], f32)
        h = tf.cast(x, cd)[:, None]
        for c, m in zip(self.stem, (mask2, mask4)):
            h, pad = self._conv(h, pad, c, True, m)
        old, pad_old = h, pad
        t = tf.cast(tf.shape(h)[2], f32)
        if mode == "true":
            count = tf.cast(steps4, f32)[:, None]
        else:
            count = tf.maximum(tf.cast(aux, f32), t)
        out = {}
        for u, unit in enumerate(self.units, start=1):
            o1, po1 = self._conv(old, pad_old, unit["res_old"], False)
            o2, po2 = self._conv(h, pad, unit["res_in"], False)
            old = o1 + o2
            pad_old = None if pad is None else po1 + po2
            for i, c in enumerate(unit["convs"]):
                h, pad = self._conv(h, pad, c, i < 2, mask4)
            # Squeeze-and-Excitation over the layout: uncomputed columns equal ``pad``
            total = tf.reduce_sum(tf.cast(h, f32), axis=[1, 2])
            if pad is not None:
                total = total + (count - t) * pad
            s = total / count
            w1, b1 = unit["se_reduce"]
            w2, b2 = unit["se_gate"]
            gate = tf.sigmoid(tf.matmul(tf.nn.relu(tf.matmul(s, w1) + b1), w2) + b2)
            h = tf.nn.relu(old + h * tf.cast(gate, cd)[:, None, None, :])
            if mask4 is not None:  # the 1x1 residual path left values past each line's end
                h = h * mask4
            if pad is not None:
                pad = tf.nn.relu(pad_old + pad * gate)
            if inspect:
                out[f"unit{u}_gate"] = gate
                out[f"unit{u}_out"] = tf.cast(h[:, 0], f32)
        for i, c in enumerate(self.head):
            h, pad = self._conv(h, pad, c, i < 2, None)
        if logits and not inspect:
            return tf.cast(h[:, 0], f32)
        probs = tf.nn.softmax(tf.cast(h[:, 0], f32), axis=-1)
        if inspect:
            out["probs"] = probs
            return out
        return probs

    def function(self, mode: str = "layout", inspect: bool = False, batch: int | None = None,
                 width: int | None = None):
        """The compiled forward pass; traced once per key (mode, inspect[, batch, width])."""
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}: use one of {MODES}")
        if not self.fixed_shapes:
            batch = width = None
        key = (mode, inspect, batch, width)
        fn = self._fns.get(key)
        if fn is None:
            with self._lock:
                fn = self._fns.get(key)
                if fn is None:
                    tf = self.tf
                    aux = tf.TensorSpec([batch] if mode == "true" else [], tf.int32)
                    sig = [tf.TensorSpec([batch, width, HEIGHT], tf.float32), aux]
                    fn = tf.function(
                        lambda x, a: self._forward(x, a, mode, inspect),
                        input_signature=sig,
                        jit_compile=self.jit_compile,
                    ).get_concrete_function()
                    self._fns[key] = fn
        return fn

    def run(self, x: np.ndarray, aux, mode: str = "layout", inspect: bool = False):
        if x.ndim != 3 or x.shape[2] != HEIGHT or x.shape[1] % STRIDE:
            raise ValueError(f"expected (B, W, {HEIGHT}) with W a multiple of {STRIDE}, got {x.shape}")
        tf = self.tf
        fn = self.function(mode, inspect, x.shape[0], x.shape[1])
        aux = np.asarray(aux, np.int32)
        out = fn(tf.constant(np.ascontiguousarray(x, np.float32)), tf.constant(aux))
        if inspect:
            return {k: v.numpy() for k, v in out.items()}
        return out.numpy()

    def warm_up(self, modes=("layout",), widths=(WIDTH,)) -> None:
        """Trace and run the graph once per mode/width so the first real call is fast."""
        for mode in modes:
            for w in widths:
                x = np.zeros((1, w, HEIGHT), np.float32)
                aux = [w] if mode == "true" else WIDTH // STRIDE
                self.run(x, aux, mode)


#: The int8 interpreter's threads unless ``$HTR_INTRA_THREADS`` says otherwise (see :func:`lite_threads`).
LITE_THREADS = 2


class LiteUnavailable(RuntimeError):
    """The int8 path cannot be built here (no ``tf.lite``, or the conversion failed)."""


class LiteEaster2:
    """Easter2's "layout" pass through TensorFlow Lite with dynamic-range int8 weights.

    Built from :class:`FastEaster2`'s float32 "layout" graph (batch norm
    folded, pad-state column, each SE module averaging over ``layout_steps``
    time steps), converted when the model loads (about 1-2 s; the flatbuffer
    stays in memory, nothing is downloaded; TensorFlow's converter itself
    passes the graph through a temporary SavedModel under ``$TMPDIR``) with
    ``optimizations=[tf.lite.Optimize.DEFAULT]``: int8 weights, activations
    quantised per row on the fly, run by XNNPACK (TFLite's default CPU
    delegate; VNNI where the CPU has it). On a 2-core AVX-512 CPU it reads a
    typical line 2-3x faster than the bfloat16 graph, with the per-step argmax
    agreeing with float32 on about 99.7 % of real-line steps (softmax values
    move by up to about 0.6 at single steps: the model views keep the float
    path). Batch and width are free: the input is resized per call shape, and
    a line reads the same in a batch as alone (activations are quantised per
    row). One interpreter per instance; calls are serialised by a lock
    (TFLite interpreters are not thread-safe).

    ``run(x, aux)``: as :meth:`FastEaster2.run` in "layout" mode, ``aux``
    must equal ``layout_steps``; returns the softmax (B, W/4, 80), float32.
    Raises :class:`LiteUnavailable` when ``tf.lite`` is missing or the
    conversion fails.

    **Full int8** (``calibration``: layout inputs, each (1, W, 80) float32, of
    training-split lines — :func:`htr.calibration.calibration_inputs`): the
    converter is also given these lines as its representative data set, so
    every activation gets a fixed int8 scale (per tensor, from the minimum
    and maximum it took over them) and the convolutions, SE modules and adds
    run int8 in, int8 out (XNNPACK's QS8 kernels; no per-call quantisation of
    each layer's input, the point on CPUs without VNNI). Only the logits leave
    the graph (dequantised); the softmax is taken here in float32, so
    probabilities are not rounded to 1/256 (what a beam or LM decoder reads).
    Building calibrates by running the float graph over the lines, so it
    takes longer than the dynamic-range conversion (tens of seconds; about a
    second more per calibration line). The flatbuffer stays in memory like
    the dynamic-range one. A line's reading depends only on itself and on the
    calibration set, never on other lines of its batch.
    """

    mode = "layout"

    def __init__(self, model, layout_steps: int = WIDTH // STRIDE, threads: int | None = None,
                 calibration=None):
        import warnings

        import tensorflow as tf

        self.steps = int(layout_steps)
        self.threads = threads or lite_threads()
        self.full = calibration is not None
        if self.full:
            calibration = [np.ascontiguousarray(c, np.float32) for c in calibration]
            if not calibration:
                raise LiteUnavailable("full int8 needs calibration lines, and none were given")
            for c in calibration:
                if c.ndim != 3 or c.shape[0] != 1 or c.shape[2] != HEIGHT or c.shape[1] % STRIDE:
                    raise ValueError(f"a calibration input must be (1, W, {HEIGHT}) with W a multiple of "
                                     f"{STRIDE}, got {c.shape}")
        self.calibration_lines = len(calibration) if self.full else 0
        lite = getattr(tf, "lite", None)
        if lite is None or not hasattr(lite, "TFLiteConverter") or not hasattr(lite, "Interpreter"):
            raise LiteUnavailable(f"this TensorFlow ({tf.__version__}) has no tf.lite")
        t0 = time.perf_counter()
        try:
            fast = FastEaster2(model, "float32")
            steps = tf.constant(self.steps, tf.int32)
            module = tf.Module()  # what the converter tracks the traced function by
            full = self.full
            module.fn = tf.function(
                lambda x: fast._forward(x, steps, "layout", False, logits=full),
                input_signature=[tf.TensorSpec([None, None, HEIGHT], tf.float32)],
            )
            converter = lite.TFLiteConverter.from_concrete_functions([module.fn.get_concrete_function()], module)
            converter.optimizations = [lite.Optimize.DEFAULT]
            if full:
                # a representative data set makes the converter quantise activations too (float
                # input and output kept: the graph quantises the input and dequantises the logits)
                converter.representative_dataset = lambda: ([c] for c in calibration)
            self.blob = converter.convert()
        except Exception as exc:  # the converter's errors are many and version-dependent
            what = "full int8" if self.full else "int8"
            raise LiteUnavailable(f"{what} conversion failed: {type(exc).__name__}: {str(exc)[:200]}") from exc
        self.convert_s = time.perf_counter() - t0
        try:
            with warnings.catch_warnings():
                # tf.lite.Interpreter announces its move to the ai_edge_litert package (it still works)
                warnings.filterwarnings("ignore", message=r"(?s).*tf\.lite\.Interpreter is deprecated")
                self._it = lite.Interpreter(model_content=self.blob, num_threads=self.threads)
        except Exception as exc:
            raise LiteUnavailable(f"int8 interpreter failed: {type(exc).__name__}: {str(exc)[:200]}") from exc
        self._in = self._it.get_input_details()[0]["index"]
        self._out = self._it.get_output_details()[0]["index"]
        self._shape: tuple | None = None
        self._lock = threading.Lock()
        self.dtype_name = "int8-full" if self.full else "int8"

    def describe(self) -> str:
        threads = f"{self.threads} thread{'s' if self.threads > 1 else ''}"
        if self.full:
            return (f"full int8 (weights and activations, calibrated on {self.calibration_lines} training-split "
                    f"lines; TensorFlow Lite, XNNPACK, {threads})")
        return f"int8 (TensorFlow Lite, XNNPACK, {threads})"

    def run(self, x: np.ndarray, aux, mode: str = "layout", inspect: bool = False) -> np.ndarray:
        if mode != "layout" or inspect:
            raise ValueError("the int8 path reads lines in 'layout' mode only (no gates or activations)")
        if int(np.asarray(aux)) != self.steps:
            raise ValueError(f"this int8 graph averages over {self.steps} steps, not {aux}")
        if x.ndim != 3 or x.shape[2] != HEIGHT or x.shape[1] % STRIDE or x.shape[0] < 1:
            raise ValueError(f"expected (B, W, {HEIGHT}) with W a multiple of {STRIDE}, got {x.shape}")
        x = np.ascontiguousarray(x, np.float32)
        with self._lock:
            if x.shape != self._shape:
                self._it.resize_tensor_input(self._in, list(x.shape))
                self._it.allocate_tensors()
                self._shape = x.shape
            self._it.set_tensor(self._in, x)
            self._it.invoke()
            out = self._it.get_tensor(self._out)  # a copy
        if self.full:  # logits: the softmax in float32
            out = np.exp(out - out.max(axis=-1, keepdims=True))
            out /= out.sum(axis=-1, keepdims=True)
        return out

    def warm_up(self, widths=(1024,)) -> None:
        """Allocate and run once per width (XNNPACK packs the weights on the first call)."""
        for w in widths:
            self.run(np.zeros((1, w, HEIGHT), np.float32), self.steps)


def model_flops(width: int, classes: int = 80) -> int:
    """Floating-point operations (multiplies and adds counted apart) of one forward pass.

    Counted from the layer shapes of :mod:`htr.model` at ``width`` input
    columns: each convolution costs 2·k·cin·cout per output step. Batch norm
    (folded away), biases, ReLU, the SE modules and the softmax add under
    0.1 % and are left out.
    """
    t2 = -(-width // 2)
    t4 = -(-t2 // 2)
    f = 2 * 3 * HEIGHT * 128 * t2 + 2 * 3 * 128 * 128 * t4
    cin = 128
    for filters, k in _UNITS:
        f += 2 * (cin * filters + cin * filters) * t4  # the two 1x1 residual convolutions
        f += 2 * k * (cin * filters + 2 * filters * filters) * t4
        cin = filters
    f += 2 * 11 * 256 * 512 * t4 + 2 * 512 * 512 * t4 + 2 * 512 * classes * t4
    return int(f)
