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
