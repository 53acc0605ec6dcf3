"""htr.model: Easter2's structure, shapes, inspector outputs and safe weight loading.

The model is built once per module (building costs seconds on this CPU).
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pytest

from htr.alphabet import NUM_CLASSES
from htr.errors import EngineUnavailable
from htr.preprocess import prepare_line

#: Trainable + non-trainable parameters of the reference Easter2 with 80 classes.
REFERENCE_PARAMS = 6_193_072


@pytest.fixture(scope="module")
def model():
    from htr.model import build_easter2

    return build_easter2()


@pytest.fixture(scope="module")
def line_input():
    rng = np.random.default_rng(0)
    g = np.full((60, 900), 250, np.uint8)
    for x0 in range(40, 860, 37):  # strokes at irregular heights, like letters
        y0 = int(rng.integers(10, 25))
        g[y0 : y0 + int(rng.integers(15, 30)), x0 : x0 + int(rng.integers(3, 12))] = 20
    return prepare_line(g).x[None]


def expected_param_count(classes: int = NUM_CLASSES) -> int:
    """Parameters of the architecture in the paper, counted by hand, layer by layer."""

    def conv(k, cin, cout):
        return k * cin * cout + cout

    def bn(c):
        return 4 * c  # gamma, beta, moving mean, moving variance

    def dense(cin, cout):
        return cin * cout + cout

    n = conv(3, 80, 128) + bn(128) + conv(3, 128, 128) + bn(128)
    old_ch, data_ch = 128, 128
    for kernel in (5, 7, 9):
        n += conv(1, old_ch, 256) + bn(256) + conv(1, data_ch, 256) + bn(256)  # dense residual
        n += conv(kernel, data_ch, 256) + bn(256) + 2 * (conv(kernel, 256, 256) + bn(256))
        n += dense(256, 256 // 8) + dense(256 // 8, 256)  # squeeze-and-excitation
        old_ch = data_ch = 256
    n += conv(11, 256, 512) + bn(512) + conv(1, 512, 512) + bn(512) + conv(1, 512, classes)
    return n


def test_parameter_count_matches_the_reference(model):
    n = model.count_params()
    assert 6_100_000 <= n <= 6_300_000
    assert expected_param_count() == REFERENCE_PARAMS  # our hand count agrees with the paper's code
    assert n == REFERENCE_PARAMS


def test_layer_structure(model):
    from keras import layers

    convs = [l for l in model.layers if isinstance(l, layers.Conv1D)]
    stem = [l for l in convs if l.name.startswith("stem")]
    assert [(l.filters, l.strides[0]) for l in stem] == [(128, 2), (128, 2)]
    for u, kernel in ((1, 5), (2, 7), (3, 9)):
        main = [l for l in convs if l.name.startswith(f"unit{u}_conv")]
        assert [(l.filters, l.kernel_size[0]) for l in main] == [(256, kernel)] * 3
        gate = model.get_layer(f"unit{u}_se_gate")
        assert gate.units == 256 and gate.activation.__name__ == "sigmoid"
    head = model.get_layer("head_conv1")
    assert (head.filters, head.kernel_size[0], head.dilation_rate[0]) == (512, 11, 2)
    logits = model.get_layer("logits")
    assert logits.filters == NUM_CLASSES == 80
    assert model.get_layer("probs").activation.__name__ == "softmax"
    assert model.input_shape == (None, None, 80)
    assert model.output_shape == (None, None, 80)


def test_fixed_layout_gives_500_steps_of_probabilities(model, line_input):
    probs = np.asarray(model.predict_on_batch(line_input))
    assert probs.shape == (1, 500, NUM_CLASSES)
    assert probs.min() >= 0.0
    assert np.allclose(probs.sum(axis=-1), 1.0, atol=1e-5)


@pytest.mark.parametrize("width", [301, 1001, 64, 7])
def test_any_width_runs_and_gives_a_quarter_as_many_steps(model, width):
    x = np.random.default_rng(width).random((1, width, 80)).astype(np.float32)
    probs = np.asarray(model.predict_on_batch(x))
    assert probs.shape == (1, -(-width // 4), NUM_CLASSES)  # two stride-2 "same" convs: ceil(W/4)
    assert np.allclose(probs.sum(axis=-1), 1.0, atol=1e-5)


def test_true_width_input_steps_match_prepared_steps(model):
    g = np.full((47, 513), 255, np.uint8)
    g[10:35, 100:110] = 0
    prep = prepare_line(g, width=None)
    probs = np.asarray(model.predict_on_batch(prep.x[None]))
    assert probs.shape[1] == prep.steps == prep.width // 4


def test_same_weights_same_input_same_output(model, line_input):
    a = np.asarray(model.predict_on_batch(line_input))
    b = np.asarray(model.predict_on_batch(line_input))
    assert np.array_equal(a, b)  # inference: dropout is off


def test_inspector_returns_probs_gates_and_activations(model, line_input):
    from htr.model import inspector

    out = inspector(model).predict_on_batch(line_input)
    probs = np.asarray(out["probs"])
    assert np.allclose(probs, np.asarray(model.predict_on_batch(line_input)), atol=1e-6)
    assert np.asarray(out["logits"]).shape == (1, 500, NUM_CLASSES)
    for u in (1, 2, 3):
        gate = np.asarray(out[f"unit{u}_gate"])
        assert gate.shape == (1, 256)
        assert gate.min() >= 0.0 and gate.max() <= 1.0
        act = np.asarray(out[f"unit{u}_out"])
        assert act.shape == (1, 500, 256)
        assert act.min() >= 0.0  # after the unit's ReLU
        assert act.max() > 0.0


# ---------------------------------------------------------------- weights on disk
def test_missing_weights_file_is_a_clear_engine_unavailable(tmp_path, monkeypatch):
    from htr.model import load_model

    monkeypatch.delenv("HTR_WEIGHTS", raising=False)
    missing = tmp_path / "nothing.weights.h5"
    with pytest.raises(EngineUnavailable) as err:
        load_model(missing)
    assert str(missing) in str(err.value)
    assert "weights" in str(err.value)
    # the environment variable is honoured the same way
    monkeypatch.setenv("HTR_WEIGHTS", str(tmp_path / "env.weights.h5"))
    with pytest.raises(EngineUnavailable) as err:
        load_model()
    assert "env.weights.h5" in str(err.value)
    # a directory is not a weights file
    (tmp_path / "dir.weights.h5").mkdir()
    with pytest.raises(EngineUnavailable):
        load_model(tmp_path / "dir.weights.h5")


def test_wrong_name_and_garbage_files_are_engine_unavailable(tmp_path):
    from htr.model import load_model

    wrong_name = tmp_path / "easter2.pkl"
    wrong_name.write_bytes(b"\x80\x04not a pickle we would ever load")
    with pytest.raises(EngineUnavailable) as err:
        load_model(wrong_name)
    assert "weights.h5" in str(err.value)

    for content in (b"", b"garbage" * 100, b"\x89HDF\r\n\x1a\n" + b"\0" * 64):
        bad = tmp_path / "bad.weights.h5"
        bad.write_bytes(content)
        with pytest.raises(EngineUnavailable) as err:
            load_model(bad)
        assert "bad.weights.h5" in str(err.value)


def test_weights_of_another_architecture_are_engine_unavailable(tmp_path):
    from htr.model import build_easter2, load_model

    other = tmp_path / "ten_classes.weights.h5"
    build_easter2(num_classes=10).save_weights(other)
    with pytest.raises(EngineUnavailable):
        load_model(other)


def test_save_and_load_round_trip_reproduces_outputs(model, line_input, tmp_path, monkeypatch):
    from htr.model import load_model

    # make the non-trainable statistics non-default so the round trip must carry them
    rng = np.random.default_rng(5)
    for layer in model.layers:
        if layer.name.endswith("_bn") or "_bn" in layer.name:
            mean, var = layer.moving_mean, layer.moving_variance
            mean.assign(rng.normal(0, 0.1, mean.shape).astype("float32"))
            var.assign(rng.uniform(0.5, 1.5, var.shape).astype("float32"))
    path = tmp_path / "easter2.weights.h5"
    model.save_weights(path)
    want = np.asarray(model.predict_on_batch(line_input))

    loaded = load_model(path)
    assert np.allclose(np.asarray(loaded.predict_on_batch(line_input)), want, atol=1e-5)



def test_weights_path_precedence(tmp_path, monkeypatch):
    from htr.model import DEFAULT_WEIGHTS, weights_path

    monkeypatch.delenv("HTR_WEIGHTS", raising=False)
    assert weights_path() == DEFAULT_WEIGHTS
    assert DEFAULT_WEIGHTS.name == "easter2.weights.h5" and DEFAULT_WEIGHTS.parent.name == "models"
    monkeypatch.setenv("HTR_WEIGHTS", str(tmp_path / "env.weights.h5"))
    assert weights_path() == tmp_path / "env.weights.h5"
    assert weights_path(tmp_path / "arg.weights.h5") == tmp_path / "arg.weights.h5"  # argument wins


def test_unloadable_weights_give_a_one_line_message(tmp_path):
    import keras

    from htr.model import load_model

    other = tmp_path / "small.weights.h5"
    keras.Sequential([keras.Input((5,)), keras.layers.Dense(3)]).save_weights(other)
    with pytest.raises(EngineUnavailable) as err:
        load_model(other)
    msg = str(err.value)
    assert "small.weights.h5" in msg
    assert "\n" not in msg and len(msg) < 400, msg
