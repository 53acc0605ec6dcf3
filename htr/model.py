"""Easter2 in backend-agnostic Keras 3.

Follows Chaudhary & Bali 2022 (arXiv 2205.14879) and their reference code:
the line image enters as 80 channels over its width; two strided Conv1D(128)
reduce the width fourfold; three Easter units (256 filters, kernels 5/7/9) of
three conv/BN/ReLU/dropout blocks each, with dense residual connections and a
1-D Squeeze-and-Excitation module; a dilated Conv1D(512, 11), a 1×1
Conv1D(512) and a 1×1 Conv1D to 79 characters + blank, softmax.

The network is fully convolutional: the input width is free (``None``), so the
same weights run on the 2000-column layout or on a line's true width.

Layers carry names so that :func:`inspector` can return, from one call, the
softmax, every SE gate vector and the activations the views need.
"""

from __future__ import annotations

import os

import keras
from keras import layers

from htr.alphabet import NUM_CLASSES
from htr.errors import EngineUnavailable
from htr.preprocess import HEIGHT
from htr.weights import DEFAULT_WEIGHTS, MODELS_DIR, weights_path  # noqa: F401  (re-exported)

#: Easter units: (filters, kernel, dropout), as in the paper.
UNITS = ((256, 5, 0.2), (256, 7, 0.2), (256, 9, 0.3))

BN_MOMENTUM = 0.99
BN_EPSILON = 1e-5


def _bn(name: str) -> layers.Layer:
    return layers.BatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=name)


def _squeeze_excite(x, filters: int, prefix: str):
    """1-D Squeeze-and-Excitation: gate each channel by a global summary of the line."""
    s = layers.GlobalAveragePooling1D(name=f"{prefix}_se_pool")(x)
    s = layers.Dense(filters // 8, activation="relu", name=f"{prefix}_se_reduce")(s)
    gate = layers.Dense(filters, activation="sigmoid", name=f"{prefix}_se_gate")(s)
    gated = layers.Multiply(name=f"{prefix}_se_scale")([x, layers.Reshape((1, filters))(gate)])
    return gated


def _easter_unit(old, data, filters: int, kernel: int, dropout: float, prefix: str):
    """One Easter unit; ``old`` carries the dense residual path between units."""
    old = layers.Conv1D(filters, 1, padding="same", name=f"{prefix}_res_old")(old)
    old = _bn(f"{prefix}_res_old_bn")(old)
    this = layers.Conv1D(filters, 1, padding="same", name=f"{prefix}_res_in")(data)
    this = _bn(f"{prefix}_res_in_bn")(this)
    old = layers.Add(name=f"{prefix}_res")([old, this])

    for block in (1, 2, 3):
        data = layers.Conv1D(filters, kernel, padding="same", name=f"{prefix}_conv{block}")(data)
        data = _bn(f"{prefix}_bn{block}")(data)
        if block < 3:
            data = layers.ReLU(name=f"{prefix}_relu{block}")(data)
            data = layers.Dropout(dropout, name=f"{prefix}_drop{block}")(data)

    data = _squeeze_excite(data, filters, prefix)
    data = layers.Add(name=f"{prefix}_sum")([old, data])
    data = layers.ReLU(name=f"{prefix}_out")(data)
    data = layers.Dropout(dropout, name=f"{prefix}_drop_out")(data)
    return data, old


def build_easter2(num_classes: int = NUM_CLASSES, width: int | None = None) -> keras.Model:
    """The Easter2 network: input (batch, width, 80) → softmax (batch, width/4, classes)."""
    inputs = keras.Input(shape=(width, HEIGHT), name="image")
    x = inputs
    for i in (1, 2):
        x = layers.Conv1D(128, 3, strides=2, padding="same", name=f"stem_conv{i}")(x)
        x = _bn(f"stem_bn{i}")(x)
        x = layers.ReLU(name=f"stem_relu{i}")(x)
        x = layers.Dropout(0.2, name=f"stem_drop{i}")(x)

    old = x
    for u, (filters, kernel, dropout) in enumerate(UNITS, start=1):
        x, old = _easter_unit(old, x, filters, kernel, dropout, f"unit{u}")

    x = layers.Conv1D(512, 11, dilation_rate=2, padding="same", name="head_conv1")(x)
    x = _bn("head_bn1")(x)
    x = layers.ReLU(name="head_relu1")(x)
    x = layers.Dropout(0.4, name="head_drop1")(x)
    x = layers.Conv1D(512, 1, padding="same", name="head_conv2")(x)
    x = _bn("head_bn2")(x)
    x = layers.ReLU(name="head_relu2")(x)
    x = layers.Dropout(0.4, name="head_drop2")(x)
    logits = layers.Conv1D(num_classes, 1, padding="same", name="logits")(x)
    probs = layers.Activation("softmax", dtype="float32", name="probs")(logits)
    return keras.Model(inputs, probs, name="easter2")


def inspector(model: keras.Model) -> keras.Model:
    """A model sharing ``model``'s weights that returns what the views need.

    Outputs a dict: ``probs`` (B, T, C), ``logits``, ``unit{u}_gate`` (B, 256)
    SE gates, ``unit{u}_out`` (B, T, 256) unit activations, for u = 1..3.
    """
    outputs = {
        "probs": model.get_layer("probs").output,
        "logits": model.get_layer("logits").output,
    }
    for u in range(1, len(UNITS) + 1):
        outputs[f"unit{u}_gate"] = model.get_layer(f"unit{u}_se_gate").output
        outputs[f"unit{u}_out"] = model.get_layer(f"unit{u}_out").output
    return keras.Model(model.input, outputs, name="easter2_inspector")


def load_model(path: str | os.PathLike | None = None) -> keras.Model:
    """Build Easter2 and load trained weights (Keras ``.weights.h5``: HDF5, no pickle).

    Raises :class:`EngineUnavailable` with a clear reason when the file is
    missing, is not a Keras weights file, or does not fit the architecture.
    """
    p = weights_path(path)
    if not p.is_file():
        raise EngineUnavailable(
            f"no trained Easter2 weights at {p} (train them with `python -m htr train`, "
            "or pass --weights)"
        )
    if not p.name.endswith(".weights.h5"):
        raise EngineUnavailable(f"{p}: expected a Keras weights file named *.weights.h5")
    model = build_easter2()
    try:
        model.load_weights(p)
    except Exception as exc:  # h5py/keras raise many types for a bad file
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise EngineUnavailable(f"{p}: cannot load Easter2 weights: {first}") from None
    return model


class LayoutTrainer(keras.Model):
    """Train ``easter`` (shared weights) on the first W columns of its 2000-column layout.

    Easter2 reads every line padded to :data:`~htr.preprocess.WIDTH` columns,
    and two of its parts look at the whole width: each Squeeze-and-Excitation
    module averages its unit over all 500 time steps, and in training every
    batch normalisation takes its statistics over all of them, padding
    included. A typical training line has ink in about half the layout, so
    half of every step went into computing blank paper. Far from the ink a
    padded column holds the same vector at every layer (a convolution of a
    constant is a constant: :mod:`htr.runtime` reads lines this way). This
    model computes a batch on its first W columns only (W a multiple of 4,
    a little past the widest line's ink: :func:`htr.train.bucket_for`), carries
    that constant "pad state" along as one extra vector per line, and counts
    the columns it did not compute as copies of it in every SE average and in
    every batch-normalisation statistic (and so in the moving statistics it
    updates). With dropout off, its output over the ink equals the full
    layout's to float rounding (``tests/test_layout_trainer.py``); with
    dropout on, the uncomputed padding is the expectation of what dropout
    would have made of it. The weights saved are ``easter``'s: reading a
    line is unchanged.

    Grouping by width has one side effect the statistics cannot undo: a
    batch of short lines is mostly padding, a batch of long ones mostly ink,
    so batch statistics swing with the group more than in a mixed batch.
    ``frozen_bn=True`` normalises with the moving statistics in training too
    (a fine-tune then keeps the scale the weights were read with).

    Input: uint8 pixels (B, W, 80), scaled by 1/255 in the graph as
    :func:`htr.train.pixel_model` does; output: the softmax (B, W/4, classes).
    """

    def __init__(self, easter: keras.Model, layout: int = 2000, frozen_bn: bool = False, **kwargs):
        super().__init__(name="easter2_layout_trainer", **kwargs)
        self.easter = easter
        self.layout = int(layout)
        #: Normalise with the moving statistics in training too (and leave them as they are): a batch
        #: of one width group then trains on the same scale as reading does, whatever its width.
        self.frozen_bn = bool(frozen_bn)

    # -- one layer and its pad state ---------------------------------------
    def _conv(self, name, h, pad):
        from keras import ops

        layer = self.easter.get_layer(name)
        y = layer(h)
        k = ops.sum(ops.convert_to_tensor(layer.kernel), axis=0)  # a constant column meets every tap
        return y, ops.matmul(pad, k) + layer.bias

    def _bn(self, name, h, pad, full: int, training):
        from keras import ops

        layer = self.easter.get_layer(name)
        f32 = ops.cast(h, "float32")
        if training and not self.frozen_bn:
            # uncomputed columns of each line, all equal to its pad state
            missing = ops.cast(full - ops.shape(h)[1], "float32")
            n = ops.cast(ops.shape(h)[0] * full, "float32")
            # one pass over the batch, as Keras' own batch norm takes its moments
            mean = (ops.sum(f32, axis=(0, 1)) + missing * ops.sum(pad, axis=0)) / n
            square = (ops.sum(ops.square(f32), axis=(0, 1)) + missing * ops.sum(ops.square(pad), axis=0)) / n
            var = ops.maximum(square - ops.square(mean), 0.0)
            m = layer.momentum
            layer.moving_mean.assign(layer.moving_mean * m + mean * (1.0 - m))
            layer.moving_variance.assign(layer.moving_variance * m + var * (1.0 - m))
        else:
            mean, var = layer.moving_mean, layer.moving_variance
        scale = layer.gamma * ops.rsqrt(var + layer.epsilon)
        shift = layer.beta - mean * scale
        return ops.cast(f32 * scale + shift, h.dtype), pad * scale + shift

    def _drop(self, name, h, training):
        return self.easter.get_layer(name)(h, training=training)

    def _block(self, conv, bn, h, pad, full, training, relu=True, drop=None):
        from keras import ops

        h, pad = self._conv(conv, h, pad)
        h, pad = self._bn(bn, h, pad, full, training)
        if relu:
            h, pad = ops.relu(h), ops.relu(pad)
        if drop:
            h = self._drop(drop, h, training)
        return h, pad

    def call(self, pixels, training=False):
        from keras import ops

        h = ops.cast(pixels, "float32") / 255.0
        pad = ops.zeros((ops.shape(h)[0], HEIGHT), "float32")  # padded input columns are blank paper
        full = self.layout
        for i in (1, 2):
            full = -(-full // 2)
            h, pad = self._block(f"stem_conv{i}", f"stem_bn{i}", h, pad, full, training, drop=f"stem_drop{i}")
        old, pad_old = h, pad
        for u in range(1, len(UNITS) + 1):
            p = f"unit{u}"
            o1, po1 = self._block(f"{p}_res_old", f"{p}_res_old_bn", old, pad_old, full, training, relu=False)
            o2, po2 = self._block(f"{p}_res_in", f"{p}_res_in_bn", h, pad, full, training, relu=False)
            old, pad_old = o1 + o2, po1 + po2
            for b in (1, 2, 3):
                h, pad = self._block(f"{p}_conv{b}", f"{p}_bn{b}", h, pad, full, training, relu=b < 3,
                                     drop=f"{p}_drop{b}" if b < 3 else None)
            # Squeeze-and-Excitation over the whole layout: uncomputed columns equal the pad state
            missing = ops.cast(full - ops.shape(h)[1], "float32")
            s = (ops.sum(ops.cast(h, "float32"), axis=1) + missing * pad) / full
            gate = self.easter.get_layer(f"{p}_se_gate")(self.easter.get_layer(f"{p}_se_reduce")(s))
            gate = ops.cast(gate, "float32")
            h = ops.relu(old + h * ops.cast(gate[:, None, :], h.dtype))
            pad = ops.relu(pad_old + pad * gate)
            h = self._drop(f"{p}_drop_out", h, training)
        h, pad = self._block("head_conv1", "head_bn1", h, pad, full, training, drop="head_drop1")
        h, pad = self._block("head_conv2", "head_bn2", h, pad, full, training, drop="head_drop2")
        logits = self.easter.get_layer("logits")(h)
        return self.easter.get_layer("probs")(logits)


#: The head: what :class:`HeadTrainer` trains, (conv, batch norm, dropout) per block, then ``logits``.
HEAD_BLOCKS = (("head_conv1", "head_bn1", "head_drop1"), ("head_conv2", "head_bn2", "head_drop2"))
#: The last layer before the head; its output (B, T, 256) is what the head reads.
TRUNK_OUT = f"unit{len(UNITS)}_drop_out"
#: Time steps on either side that the head looks at (head_conv1: kernel 11, dilation 2).
HEAD_REACH = 10


def trunk(easter: keras.Model) -> keras.Model:
    """The stem and the Easter units of ``easter`` (shared weights): pixels (B, W, 80) in 0..1 → (B, W/4, 256)."""
    return keras.Model(easter.input, easter.get_layer(TRUNK_OUT).output, name="easter2_trunk")


class HeadTrainer(keras.Model):
    """Train only the head of ``easter`` (shared weights) on trunk outputs computed beforehand.

    Input: (B, steps + :data:`HEAD_REACH`, 256), the output of :func:`trunk`
    on the whole layout, cut :data:`HEAD_REACH` steps past ``steps`` so that
    the head's widest convolution sees, at every step it returns, what it
    sees on the whole layout. Output: the softmax over the first ``steps``
    steps. Batch normalisation uses the learned statistics (frozen); dropout
    follows ``training``. The trunk's layers should be marked not trainable
    so that only the head's weights are in ``trainable_variables``.
    """

    def __init__(self, easter: keras.Model, steps: int, **kwargs):
        super().__init__(name="easter2_head_trainer", **kwargs)
        self.easter = easter
        self.steps = int(steps)

    def call(self, h, training=False):
        from keras import ops

        h = ops.cast(h, "float32")
        for conv, bn, drop in HEAD_BLOCKS:
            h = self.easter.get_layer(conv)(h)
            h = self.easter.get_layer(bn)(h, training=False)
            h = ops.relu(h)
            h = self.easter.get_layer(drop)(h, training=training)
        probs = self.easter.get_layer("probs")(self.easter.get_layer("logits")(h))
        return probs[:, : self.steps]
