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

Nothing here imports Streamlit; TensorFlow is imported when a
:class:`FastEaster2` is built.
"""

from __future__ import annotations

import os
import threading
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


def default_dtype() -> str:
    """``$HTR_PRECISION`` (float32 | bfloat16) if set, else bfloat16 where the CPU has it."""
    env = os.environ.get("HTR_PRECISION", "").strip().lower()
    if env in ("float32", "fp32"):
        return "float32"
    if env in ("bfloat16", "bf16"):
        return "bfloat16"
    return "bfloat16" if bf16_supported() else "float32"


def configure_threads(intra: int | None = None, inter: int | None = None) -> bool:
    """Set TensorFlow's thread pools (before its runtime starts); False if too late.

    Defaults: ``$HTR_INTRA_THREADS`` / ``$HTR_INTER_THREADS`` when set, else
    leave TensorFlow's own choice.
    """
    import tensorflow as tf

    intra = intra if intra is not None else int(os.environ.get("HTR_INTRA_THREADS", "0") or 0)
    inter = inter if inter is not None else int(os.environ.get("HTR_INTER_THREADS", "0") or 0)
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

    def _forward(self, x, aux, mode: str, inspect: bool):
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
