"""The width-grouped training step (:class:`htr.model.LayoutTrainer`) computes what the full layout does.

Easter2 trains on lines padded to a fixed layout; its SE modules and, in
training, its batch normalisations look at the whole width. LayoutTrainer
computes only the first W columns and counts the rest as copies of a carried
"pad state". These tests build a small layout (768 columns, so they run in
seconds), give every batch norm non-trivial statistics, and compare against the
plain Keras model on the whole layout: the readings over the ink, and the
moving statistics a training call leaves behind.
"""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from htr.model import LayoutTrainer, build_easter2  # noqa: E402

LAYOUT = 768
INK = 200  # ink columns; the computed width leaves the 160-column margin htr.runtime measured
WIDTH = 384


def _model(seed: int = 0):
    keras.utils.set_random_seed(seed)
    model = build_easter2(width=None)
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.gamma.shape[0]
            layer.gamma.assign(rng.uniform(0.5, 1.5, n).astype("float32"))
            layer.beta.assign(rng.normal(0, 0.2, n).astype("float32"))
            layer.moving_mean.assign(rng.normal(0, 0.3, n).astype("float32"))
            layer.moving_variance.assign(rng.uniform(0.3, 2.0, n).astype("float32"))
    for u in (1, 2, 3):  # gates that respond to the line's summary, as trained ones do
        for part in ("se_reduce", "se_gate"):
            layer = model.get_layer(f"unit{u}_{part}")
            layer.kernel.assign(np.asarray(layer.kernel) * 4)
    return model


def _no_dropout(model):
    for layer in model.layers:
        if isinstance(layer, keras.layers.Dropout):
            layer.rate = 0.0


def _pixels(batch: int = 2, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = np.zeros((batch, LAYOUT, 80), np.uint8)
    for b in range(batch):
        ink = INK - 40 * b  # lines of different widths in one batch
        x[b, :ink] = (rng.random((ink, 80)) < 0.15) * rng.integers(100, 256, (ink, 80))
    return x


def _steps(b: int) -> int:
    return (INK - 40 * b) // 4


def test_inference_over_the_ink_equals_the_full_layout():
    model = _model()
    x = _pixels()
    want = np.asarray(model(x.astype(np.float32) / 255.0, training=False))
    got = np.asarray(LayoutTrainer(model, LAYOUT)(x[:, :WIDTH], training=False))
    assert got.shape == (2, WIDTH // 4, want.shape[2])
    for b in range(2):
        np.testing.assert_allclose(got[b, : _steps(b)], want[b, : _steps(b)], atol=1e-5)
    # without the pad state the SE averages would see a different line
    cut = np.asarray(model(x[:, :WIDTH].astype(np.float32) / 255.0, training=False))
    assert np.abs(cut[0, : _steps(0)] - want[0, : _steps(0)]).max() > 1e-4


def test_a_training_call_equals_the_full_layout_and_updates_the_same_statistics():
    full, part = _model(), _model()  # same weights
    _no_dropout(full)
    _no_dropout(part)
    x = _pixels()
    want = np.asarray(full(x.astype(np.float32) / 255.0, training=True))
    got = np.asarray(LayoutTrainer(part, LAYOUT)(x[:, :WIDTH], training=True))
    for b in range(2):
        np.testing.assert_allclose(got[b, : _steps(b)], want[b, : _steps(b)], atol=1e-5)
    moved = checked = 0
    before = _model()
    for lf, lp, l0 in zip(full.layers, part.layers, before.layers):
        if isinstance(lf, keras.layers.BatchNormalization):
            for a, c, o in ((lf.moving_mean, lp.moving_mean, l0.moving_mean),
                            (lf.moving_variance, lp.moving_variance, l0.moving_variance)):
                a, c, o = (np.asarray(v) for v in (a, c, o))
                np.testing.assert_allclose(c, a, rtol=1e-3, atol=1e-4)
                moved += int(np.abs(a - o).max() > 1e-4)
                checked += 1
    assert checked == 38 and moved == checked  # 19 batch norms, every statistic moved: equality means something


def test_training_steps_share_the_weights_and_accept_any_grouped_width():
    from htr.train import focal_ctc_loss, MAX_LABEL

    model = _model()
    trainer = LayoutTrainer(model, LAYOUT)
    trainer.compile(optimizer=keras.optimizers.Adam(1e-3), loss=focal_ctc_loss(0.25, 0.5))
    y = np.full((2, MAX_LABEL), -1, np.int32)
    y[:, :5] = [[1, 2, 3, 4, 5], [6, 7, 8, 9, 10]]
    before = np.asarray(model.get_layer("logits").kernel).copy()
    losses = [float(trainer.train_on_batch(_pixels()[:, :w], y, return_dict=True)["loss"]) for w in (256, WIDTH, LAYOUT)]
    assert all(np.isfinite(losses))
    assert [v.path for v in trainer.trainable_variables] == [v.path for v in model.trainable_variables]
    assert np.abs(np.asarray(model.get_layer("logits").kernel) - before).max() > 0  # the shared model learned


# ---------------------------------------------------------------- grouping lines by width
def _line(ink: int, width: int = 2000) -> np.ndarray:
    x = np.zeros((width, 80), np.uint8)
    x[:ink, 10:70] = 200
    return x


def test_bucket_for_leaves_the_margin_and_room_for_the_label():
    from htr.runtime import MARGIN
    from htr.train import bucket_for

    buckets = [512, 768, 1024, 2000]
    assert bucket_for(_line(300), np.array([1, 2, 3]), buckets) == 512  # 300 + 160 fits
    assert bucket_for(_line(512 - MARGIN + 1), np.array([1]), buckets) == 768  # one column too many
    assert bucket_for(_line(100), np.array([5] * 120), buckets) == 1024  # 120 letters, 119 blanks between, 1 spare: 960 columns
    assert bucket_for(_line(1990), np.array([1]), buckets) == 2000  # the whole layout
    assert bucket_for(_line(1990), np.array([1]), [512]) == 2000
    assert bucket_for(_line(0), np.array([1]), buckets) == 512


def test_buffer_draws_each_batch_from_one_bucket_and_cuts_it_there():
    from htr.train import ReplayBuffer

    buf = ReplayBuffer(capacity=64, width=2000, seed=0, buckets=[512, 1024])
    inks = [200, 300, 700, 800, 1900]
    for i, ink in enumerate(inks * 4):
        x = _line(ink)
        x[0, 0] = i  # which sample it is
        buf.add(x[None], [np.array([1, 2])])
    widths = {200: 512, 300: 512, 700: 1024, 800: 1024, 1900: 2000}
    seen = set()
    for _ in range(60):
        x, _y = buf.batch(8)
        w = x.shape[1]
        seen.add(w)
        for row in x:
            assert widths[inks[int(row[0, 0]) % 5]] == w  # every line of the batch belongs to its bucket
    assert seen == {512, 1024, 2000}


def test_config_rejects_buckets_that_are_not_input_widths():
    from htr.train import Config, check_config

    for bad in ([500, 3], [4000], "512", [True]):
        with pytest.raises(ValueError, match="buckets"):
            check_config(Config(buckets=bad))
    check_config(Config(buckets=[512, 1024]))
    with pytest.raises(ValueError, match="frozen_bn"):
        check_config(Config(frozen_bn=True))  # the whole-layout step has no frozen variant
    check_config(Config(buckets=[512], frozen_bn=True))


def test_frozen_batch_norm_trains_on_the_reading_scale_and_keeps_the_statistics():
    model = _model()
    _no_dropout(model)
    x = _pixels()[:, :WIDTH]
    trainer = LayoutTrainer(model, LAYOUT, frozen_bn=True)
    stats = [np.asarray(v).copy() for v in model.non_trainable_variables]
    read = np.asarray(trainer(x, training=False))
    trained = np.asarray(trainer(x, training=True))
    np.testing.assert_allclose(trained, read, atol=1e-6)
    for v, before in zip(model.non_trainable_variables, stats):
        np.testing.assert_array_equal(np.asarray(v), before)
    # batch statistics would have read it differently
    assert np.abs(np.asarray(LayoutTrainer(model, LAYOUT)(x, training=True)) - read).max() > 1e-3


def test_head_trainer_on_trunk_outputs_reads_as_the_whole_model():
    """HeadTrainer, fed the trunk's output on the whole layout cut HEAD_REACH steps past its steps, returns
    the whole model's softmax over those steps; cut at the steps themselves, the edge would differ."""
    from htr.model import HEAD_REACH, HeadTrainer, trunk

    model = _model()
    x = _pixels().astype(np.float32) / 255.0
    want = np.asarray(model(x, training=False))
    feats = np.asarray(trunk(model)(x, training=False))
    steps = WIDTH // 4
    got = np.asarray(HeadTrainer(model, steps)(feats[:, : steps + HEAD_REACH], training=False))
    assert got.shape == (2, steps, want.shape[2])
    np.testing.assert_allclose(got, want[:, :steps], atol=1e-5)
    # the head's widest convolution reaches HEAD_REACH steps: without them the last steps change
    short = np.asarray(HeadTrainer(model, steps)(feats[:, :steps], training=False))
    assert np.abs(short[:, -1] - want[:, steps - 1]).max() > 1e-5
    np.testing.assert_allclose(short[:, : steps - HEAD_REACH], want[:, : steps - HEAD_REACH], atol=1e-5)
