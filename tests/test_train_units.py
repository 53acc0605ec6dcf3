"""The pure pieces of htr.train: focal CTC loss, batch decoding, replay buffer, config, LR schedule.

No training runs here (that is the smoke test's job); every expected value is
worked out independently: the loss from a brute-force sum over all CTC paths.
"""

from __future__ import annotations

import itertools
import json
import math
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pytest

if not (Path(__file__).resolve().parent.parent / "htr" / "train.py").is_file():
    pytest.skip("htr/train.py has not landed yet", allow_module_level=True)

from htr import train  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
from htr.weights import DEFAULT_WEIGHTS  # noqa: E402
from htr.alphabet import BLANK, CHARS, NUM_CLASSES, encode  # noqa: E402
from htr.ctc import best_path  # noqa: E402

A, B = CHARS.index("a"), CHARS.index("b")


def tiny_posteriors(seed: int, T: int = 5) -> np.ndarray:
    """(T, 80) softmax rows whose mass is on 'a', 'b' and blank only."""
    rng = np.random.default_rng(seed)
    p = np.zeros((T, NUM_CLASSES), np.float64)
    p[:, [A, B, BLANK]] = rng.dirichlet([1.0, 1.0, 1.0], size=T)
    return p.astype(np.float32)


def label_probability(probs: np.ndarray, label: tuple[int, ...]) -> float:
    """P(label | probs) by CTC's definition: sum over every path that collapses to it."""
    total = 0.0
    for path in itertools.product([A, B, BLANK], repeat=probs.shape[0]):
        out, prev = [], None
        for c in path:
            if c != prev and c != BLANK:
                out.append(c)
            prev = c
        if tuple(out) == label:
            total += float(np.prod([probs[t, c] for t, c in enumerate(path)], dtype=np.float64))
    return total


# ---------------------------------------------------------------- focal CTC loss
def test_focal_ctc_loss_matches_a_hand_computation():
    alpha, gamma = 0.25, 0.5
    loss_fn = train.focal_ctc_loss(alpha, gamma)
    probs = np.stack([tiny_posteriors(1), tiny_posteriors(2)])
    texts = ["ab", "a"]
    y = np.full((2, 4), -1, np.int32)  # labels padded with -1, as the feeder does
    for i, t in enumerate(texts):
        y[i, : len(t)] = encode(t)
    got = np.asarray(loss_fn(y, probs), dtype=np.float64).ravel()
    assert got.shape == (2,)
    for i, t in enumerate(texts):
        p = label_probability(probs[i], tuple(encode(t).tolist()))
        ctc = -math.log(p)
        expect = alpha * (1 - p) ** gamma * ctc
        assert got[i] == pytest.approx(expect, rel=2e-3), (t, p)


def test_focal_ctc_loss_is_keras_ctc_reweighted():
    from keras import ops

    probs = tiny_posteriors(3, T=6)[None]
    y = np.array([[A, A, B, -1, -1]], np.int32)
    plain = float(
        np.asarray(
            ops.ctc_loss(
                y[:, :3], np.log(np.clip(probs, 1e-8, 1.0)), np.array([3]), np.array([6]), mask_index=BLANK
            )
        ).ravel()[0]
    )
    assert plain == pytest.approx(-math.log(label_probability(probs[0], (A, A, B))), rel=2e-3)
    for alpha, gamma in ((1.0, 0.0), (0.25, 0.5), (0.5, 2.0)):
        got = float(np.asarray(train.focal_ctc_loss(alpha, gamma)(y, probs)).ravel()[0])
        p = math.exp(-plain)
        assert got == pytest.approx(alpha * (1 - p) ** gamma * plain, rel=2e-3)


def test_ctc_loss_kernel_path_equals_keras_ctc_loss_in_value_and_gradient():
    """train.ctc_loss hands TensorFlow sparse labels (its compiled kernel); it must give the loss and the
    gradient keras.ops.ctc_loss gives, on a batch of labels of different lengths with repeats."""
    import keras
    from keras import ops

    if keras.backend.backend() != "tensorflow":
        pytest.skip("the sparse-label path is TensorFlow's; other backends call keras.ops.ctc_loss itself")
    import tensorflow as tf

    rng = np.random.default_rng(0)
    B, T, C = 3, 40, BLANK + 1
    y = np.full((B, 12), -1, np.int32)
    for b, n in enumerate((12, 5, 1)):
        y[b, :n] = rng.integers(0, BLANK, n)
    y[0, 3] = y[0, 2]  # a repeated character needs a blank between
    logits = tf.Variable(rng.normal(0, 2, (B, T, C)).astype(np.float32))

    def both():
        with tf.GradientTape(persistent=True) as tape:
            logp = tf.nn.log_softmax(logits)
            got = train.ctc_loss(y, logp)
            want = ops.ctc_loss(np.where(y >= 0, y, 0), logp, (y >= 0).sum(1), np.full(B, T), mask_index=BLANK)
            sums = tf.reduce_sum(got), tf.reduce_sum(want)
        gs = tape.gradient(sums[0], logits), tape.gradient(sums[1], logits)
        return np.asarray(got), np.asarray(want), [np.asarray(g) for g in gs]

    got, want, (g_got, g_want) = both()
    assert got.shape == (B,) and np.all(got > 0)
    np.testing.assert_allclose(got, want, rtol=1e-4)
    np.testing.assert_allclose(g_got, g_want, atol=1e-4)
    assert np.abs(g_want).max() > 1e-2  # a gradient worth comparing


def test_focal_weight_shrinks_the_loss_of_easy_samples():
    loss_fn = train.focal_ctc_loss(1.0, 2.0)
    sure = np.zeros((1, 4, NUM_CLASSES), np.float32)
    sure[0, :, BLANK] = 1.0
    sure[0, 1, BLANK], sure[0, 1, A] = 0.02, 0.98  # "a" with probability ~0.98
    unsure = np.zeros_like(sure)
    unsure[0, :, BLANK] = 0.6
    unsure[0, :, A] = 0.4
    y = np.array([[A]], np.int32)
    easy = float(np.asarray(loss_fn(y, sure)).ravel()[0])
    hard = float(np.asarray(loss_fn(y, unsure)).ravel()[0])
    assert 0.0 <= easy < 1e-3 < hard


# ---------------------------------------------------------------- batch decoding for validation
def test_greedy_texts_decodes_a_batch_like_best_path():
    def path(s: str) -> np.ndarray:
        p = np.full((len(s), NUM_CLASSES), 0.1 / (NUM_CLASSES - 1), np.float32)
        for t, ch in enumerate(s):
            p[t, BLANK if ch == "_" else CHARS.index(ch)] = 0.9
        return p

    batch = np.stack([path("hh_e_ll_l_oo_"), path("a_a__b_____aa"), path("_____________")])
    assert train.greedy_texts(batch) == ["hello", "aaba", ""]
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(4, 30, NUM_CLASSES)) * 3
    logits[..., BLANK] += 2
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    assert train.greedy_texts(probs) == [best_path(p).text for p in probs]


# ---------------------------------------------------------------- replay buffer
def samples(values: list[int], labels: list[list[int]], width: int = 8):
    xs = np.stack([np.full((width, 80), v, np.uint8) for v in values])
    return xs, [np.array(l, np.int32) for l in labels]


def test_replay_buffer_fills_wraps_and_resets_labels():
    buf = train.ReplayBuffer(capacity=3, width=8, seed=0)
    assert buf.size == 0
    buf.add(*samples([10, 20], [[1, 2, 3, 4], [5]]))
    assert buf.size == 2 and buf.added == 2
    x, y = buf.batch(50)
    assert x.dtype == np.uint8 and x.shape == (50, 8, 80)  # scaled in the graph (pixel_model)
    assert set(x[:, 0, 0].astype(int)) <= {10, 20}  # never the empty slot
    assert y.shape[1] == 4  # trimmed to the longest label drawn
    # fill past capacity: the oldest slot (10, label 1 2 3 4) is overwritten first
    buf.add(*samples([30, 40], [[6, 7], [8]]))
    assert buf.size == 3 and buf.added == 4
    assert sorted(buf.x[:, 0, 0].tolist()) == [20, 30, 40]
    slot = int(np.nonzero(buf.x[:, 0, 0] == 40)[0][0])
    assert buf.y[slot, :2].tolist() == [8, -1]  # no leftover of the longer label it replaced
    x, y = buf.batch(200)
    assert set(x[:, 0, 0].astype(int)) == {20, 30, 40}
    assert y.shape[1] == 2
    for xv, row in zip(x[:, 0, 0].astype(int), y):
        expect = {20: [5, -1], 30: [6, 7], 40: [8, -1]}[int(xv)]
        assert row.tolist() == expect


def test_feeder_prefetches_uint8_batches_with_fixed_label_width():
    cfg = train.Config(batch=5, workers=0, buffer=10, width=8)
    feeder = train.Feeder(cfg, None)
    try:
        feeder.buffer.add(*samples([7, 9], [[1, 2, 3], [4]]))
        it = iter(feeder)
        for _ in range(train.PREFETCH + 2):  # more than the prefetch queue holds
            x, y = next(it)
            assert x.dtype == np.uint8 and x.shape == (5, 8, 80)
            assert y.shape == (5, train.MAX_LABEL) and y.dtype == np.int32
            for xv, row in zip(x[:, 0, 0].astype(int), y):
                expect = {7: [1, 2, 3], 9: [4]}[int(xv)]
                assert row[: len(expect)].tolist() == expect and (row[len(expect):] == -1).all()
    finally:
        feeder.close()
    assert not feeder.thread.is_alive()


def test_feeder_hands_a_prefetch_error_to_the_training_loop():
    feeder = train.Feeder(train.Config(batch=2, workers=0, buffer=4, width=8), None)
    try:
        with pytest.raises(ValueError):  # an empty buffer cannot be sampled: raised here, not lost in the thread
            next(iter(feeder))
    finally:
        feeder.close()


def test_pixel_model_matches_the_host_float_conversion():
    from htr.model import build_easter2

    import keras

    keras.utils.set_random_seed(3)
    model = build_easter2()
    wrapped = train.pixel_model(model, 2000)
    assert wrapped.inputs[0].dtype == "uint8"
    assert [w.path for w in wrapped.trainable_weights] == [w.path for w in model.trainable_weights]  # shared, no extra
    pixels = np.random.default_rng(0).integers(0, 256, (2, 2000, 80), dtype=np.uint8)
    want = np.asarray(model.predict_on_batch(pixels.astype(np.float32) / 255.0))
    got = np.asarray(wrapped.predict_on_batch(pixels))
    np.testing.assert_allclose(got, want, atol=1e-6)


# ---------------------------------------------------------------- config
def test_config_from_args_presets_flags_and_files(tmp_path):
    parse = train.build_parser().parse_args
    cfg = train.config_from_args(parse(["--preset", "smoke"]))
    assert cfg == train.PRESETS["smoke"] and cfg is not train.PRESETS["smoke"]

    cfg = train.config_from_args(parse(["--preset", "gpu", "--batch", "7", "--minutes", "1.5", "--workers", "3"]))
    assert (cfg.batch, cfg.minutes, cfg.workers) == (7, 1.5, 3)
    assert cfg.lr == train.PRESETS["gpu"].lr

    conf = tmp_path / "c.json"
    conf.write_text(json.dumps({"lr": 0.01, "patience": 3}))
    cfg = train.config_from_args(parse(["--config", str(conf), "--steps-per-epoch", "9"]))
    assert (cfg.lr, cfg.patience, cfg.steps_per_epoch) == (0.01, 3, 9)
    assert cfg.batch == train.PRESETS["cpu"].batch  # default preset is cpu

    before = dict(train.PRESETS["cpu"].sources)
    cfg = train.config_from_args(parse(["--real-weight", "0.5"]))
    assert cfg.sources == dict(before, iam=0.5)
    assert train.PRESETS["cpu"].sources == before  # the preset itself is untouched


def test_config_file_with_an_unknown_field_is_refused(tmp_path):
    conf = tmp_path / "bad.json"
    conf.write_text(json.dumps({"learning_rate": 0.1}))
    with pytest.raises(ValueError) as err:
        train.config_from_args(train.build_parser().parse_args(["--config", str(conf)]))
    assert "learning_rate" in str(err.value)


# ---------------------------------------------------------------- learning-rate schedule
def test_lr_warmup_then_cosine_to_the_floor():
    cfg = train.Config(lr=1e-3, lr_min=1e-5, warmup_steps=100)
    lr = lambda frac, step: train._lr(cfg, frac, step)  # noqa: E731
    assert lr(0.0, 0) == pytest.approx(1e-5 + (1e-3 - 1e-5) / 100)  # first warm-up step
    assert lr(0.0, 49) == pytest.approx(1e-5 + (1e-3 - 1e-5) * 0.5)
    assert lr(0.0, 99) == pytest.approx(1e-3)  # warm-up done
    assert lr(0.5, 1000) == pytest.approx((1e-3 + 1e-5) / 2)  # half way down the cosine
    assert lr(0.25, 1000) == pytest.approx(1e-5 + (1e-3 - 1e-5) * (1 + math.cos(math.pi / 4)) / 2)
    assert lr(1.0, 1000) == pytest.approx(1e-5)
    assert lr(3.0, 1000) == pytest.approx(1e-5)  # budget overrun stays at the floor
    assert lr(-1.0, 1000) == pytest.approx(1e-3)
    after = [lr(f, 1000) for f in np.linspace(0, 1, 21)]
    assert all(a >= b for a, b in zip(after, after[1:]))
    warm = [lr(0.0, s) for s in range(0, 120, 10)]
    assert all(a <= b for a, b in zip(warm, warm[1:]))


# ---------------------------------------------------------------- samples
def test_to_sample_refuses_labels_the_frames_cannot_hold():
    g = np.full((80, 40), 255, np.uint8)  # 40 columns -> 10 time steps at true width
    g[20:60, 10:30] = 0
    x, label = train._to_sample(g, "ab", 40)
    assert x.dtype == np.uint8 and x.shape == (40, 80)
    assert x.max() == 255 and label.tolist() == [A, B]
    assert train._to_sample(g, "abcdefghijk", 40) is None  # 11 characters, 10 steps
    assert train._to_sample(g, "aaaaaa", 40) is None  # 6 letters + 5 separating blanks
    assert train._to_sample(g, "€€", 40) is None  # nothing the model can write


def test_train_step_benchmark_times_both_feeds(tmp_path):
    import csv

    from benchmarks import train_step

    out = tmp_path / "ts"
    assert train_step.main(["--batches", "2", "--seconds", "0.2", "--width", "200", "--out", str(out)]) == 0
    rows = list(csv.DictReader(out.with_suffix(".csv").open()))
    assert [(r["batch"], r["feed"]) for r in rows] == [("2", "float32"), ("2", "uint8")]
    assert all(r["loss_finite"] == "True" and float(r["lines_per_s"]) > 0 for r in rows)
    assert "| 2 | uint8 |" in out.with_suffix(".md").read_text()


def test_swap_in_average_puts_the_ema_in_and_hands_back_the_raw_weights():
    import keras

    from htr.model import build_easter2

    keras.utils.set_random_seed(5)
    model = build_easter2()
    trainer = train.pixel_model(model, 200)
    trainer.compile(optimizer=keras.optimizers.Adam(1e-2, use_ema=True, ema_momentum=0.5),
                    loss=train.focal_ctc_loss(0.25, 0.5))
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (2, 200, 80), dtype=np.uint8)
    y = np.full((2, 12), -1, np.int32)
    y[:, :5] = rng.integers(0, 79, (2, 5))
    snaps = []
    for _ in range(2):
        trainer.train_on_batch(x, y)
        snaps.append([np.array(v.numpy()) for v in trainer.trainable_variables])
    w1, w2 = snaps
    assert any(not np.allclose(a, b) for a, b in zip(w1, w2))  # the second step moved the weights
    raw = train._swap_in_average(trainer)
    for r, a, b, v in zip(raw, w1, w2, trainer.trainable_variables):
        np.testing.assert_array_equal(r, b)  # the raw weights, to put back
        np.testing.assert_allclose(v.numpy(), 0.5 * a + 0.5 * b, rtol=1e-5, atol=1e-6)  # first step seeds the average
    assert [w.path for w in model.trainable_weights] == [v.path for v in trainer.trainable_variables]


# ---------------------------------------------------------------- held-out fonts, selection
def test_split_fonts_keeps_named_fonts_out_of_training():
    from htr.data.synth.fonts import font_names

    names = font_names()
    train_fonts, held = train.split_fonts(train.Config(holdout_fonts=[names[0], names[-1]]))
    assert [p.stem for p in held] == [names[0], names[-1]]
    assert [p.stem for p in train_fonts] == names[1:-1]
    assert train.split_fonts(train.Config())[1] == []
    with pytest.raises(ValueError, match="no vendored font named no-such-font"):
        train.split_fonts(train.Config(holdout_fonts=["no-such-font"]))
    with pytest.raises(ValueError, match="none is left"):
        train.split_fonts(train.Config(holdout_fonts=names))


def test_sample_maker_never_renders_a_held_out_font():
    from htr.data.synth.fonts import font_names

    keep = font_names()[:3]
    cfg = train.Config(holdout_fonts=font_names()[3:], width=2000)
    maker = train.SampleMaker(cfg, None, seed=1)
    assert [p.stem for p in maker.renderer.paths] == keep


@pytest.mark.parametrize("select, real, fonts, synth, want", [
    ("real", 0.02, 0.10, 0.05, 0.02),
    ("real", None, 0.10, 0.05, 0.10),        # no real lines: the unseen fonts
    ("real", None, None, 0.05, 0.05),        # neither: synthetic
    ("fonts", 0.02, 0.10, 0.05, 0.10),
    ("fonts", 0.02, None, 0.05, 0.02),       # (a config check refuses this) the real lines, then synthetic
    ("real+fonts", 0.02, 0.10, 0.05, 0.06),
    ("real+fonts", 0.02, None, 0.05, 0.02),
])
def test_selection_cer(select, real, fonts, synth, want):
    assert train.selection_cer(train.Config(select=select), real, fonts, synth) == pytest.approx(want)


@pytest.mark.parametrize("real_max, real, ok", [
    (0.0, 0.9, True),       # no bound
    (0.023, 0.023, True),   # at the bound
    (0.023, 0.0231, False),
    (0.023, None, True),    # no real lines to bound
])
def test_eligible_bounds_the_real_validation_cer(real_max, real, ok):
    assert train.eligible(train.Config(real_max=real_max), real) is ok


def test_train_rejects_a_bad_config_with_one_line(tmp_path, capsys):
    conf = tmp_path / "bad.json"
    seen = sorted(__import__("htr.weights", fromlist=["x"]).fonts_seen_by_shipped_weights())
    for body, says in (({"select": "best"}, "select must be one of real, fonts, real+fonts"),
                       ({"holdout_fonts": ["nope"]}, "no vendored font named nope"),
                       ({"holdout_fonts": "kristi"}, "holdout_fonts must be a list of font names"),
                       ({"select": "fonts"}, "needs holdout_fonts"),
                       ({"ema": 1.5}, "ema is a momentum in [0, 1)"),
                       ({"real_max": 2.3}, "real_max is a CER in [0, 1)"),
                       ({"holdout_fonts": [seen[0]], "init_weights": str(DEFAULT_WEIGHTS)},
                        f"holdout_fonts {seen[0]}: the shipped weights this run starts from trained on them")):
        conf.write_text(json.dumps(body))
        with pytest.raises(SystemExit) as e:
            train.main(["--config", str(conf), "--out", str(tmp_path / "run")])
        assert e.value.code == 2
        err = capsys.readouterr().err
        assert says in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()  # nothing started


@pytest.mark.parametrize("path", sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tools").glob("finetune_*.json"))
                         + sorted(str(p.relative_to(ROOT)) for p in (ROOT / "models" / "training").glob("stage*.json")))
def test_committed_training_configs_are_valid(path):
    """Each committed config loads, every field it sets reaches the run's Config, check_config accepts
    it (held-out fonts exist and the starting weights never saw them), and its style makes a Style."""
    from dataclasses import asdict

    from htr.data.synth.render import Style

    fields = json.loads((ROOT / path).read_text())
    assert fields, path
    cfg = train.config_from_args(train.build_parser().parse_args(["--preset", "gpu", "--config", str(ROOT / path),
                                                                  "--init", str(DEFAULT_WEIGHTS)]))
    assert {k: asdict(cfg)[k] for k in fields} == fields  # nothing dropped or renamed on the way
    assert train.check_config(cfg) is None  # raises ValueError on a bad config
    style = Style(**cfg.synth_style)  # TypeError on a field Style does not have
    assert {k: getattr(style, k) for k in cfg.synth_style} == cfg.synth_style  # each knob as written


# ---------------------------------------------------------------- resume: optimizer state
def _tiny_trainer(ema: float = 0.0, seed: int = 5):
    import keras

    from htr.model import build_easter2

    keras.utils.set_random_seed(seed)
    model = build_easter2()
    trainer = train.pixel_model(model, 200)
    trainer.compile(optimizer=keras.optimizers.Adam(1e-3, use_ema=ema > 0, ema_momentum=ema or 0.99),
                    loss=train.focal_ctc_loss(0.25, 0.5))
    return model, trainer


def _steps(trainer, n=2):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (2, 200, 80), dtype=np.uint8)
    y = np.full((2, 12), -1, np.int32)
    y[:, :4] = rng.integers(0, 79, (2, 4))
    for _ in range(n):
        trainer.train_on_batch(x, y)


def test_resume_with_ema_switched_on_keeps_adam_and_starts_averages_at_the_weights(tmp_path):
    model, trainer = _tiny_trainer(ema=0.0)
    _steps(trainer, 2)
    train._save_optimizer(trainer, tmp_path / "opt.npz")
    saved = {v.path: np.array(v.numpy()) for v in trainer.optimizer.variables}

    _, resumed = _tiny_trainer(ema=0.9, seed=6)
    for dst, src in zip(resumed.trainable_variables, trainer.trainable_variables):
        dst.assign(src)  # as resume does: the weights come from last.keras
    said = []
    train._restore_optimizer(resumed, tmp_path / "opt.npz", log=said.append)
    opt = resumed.optimizer
    assert int(opt.iterations.numpy()) == 2  # the step count carries on
    for v in opt.variables:
        if v.path in saved:
            np.testing.assert_array_equal(v.numpy(), saved[v.path])  # Adam's moments, by name
    for var, avg in zip(opt._trainable_variables, opt._model_variables_moving_average):
        np.testing.assert_array_equal(avg.numpy(), var.numpy())  # not zero: the weights themselves
    assert len(said) == 1 and "start afresh" in said[0]


def test_restore_reads_the_positional_files_of_earlier_runs(tmp_path):
    _, trainer = _tiny_trainer()
    _steps(trainer, 1)
    np.savez(tmp_path / "old.npz", **{f"v{i}": np.asarray(v.numpy()) for i, v in enumerate(trainer.optimizer.variables)})
    _, fresh = _tiny_trainer(seed=7)
    said = []
    train._restore_optimizer(fresh, tmp_path / "old.npz", log=said.append)
    assert said == []  # everything restored
    for a, b in zip(fresh.optimizer.variables, trainer.optimizer.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_feeder_stops_when_every_render_worker_is_gone():
    import multiprocessing as mp

    feeder = train.Feeder(train.Config(batch=2, workers=0, buffer=4, width=8), None)
    dead = mp.get_context("spawn").Process(target=int)
    dead.start()
    dead.join()
    feeder.procs = [dead]
    feeder.buffer.add(*samples([7], [[1]]))
    try:
        with pytest.raises(RuntimeError, match="every render worker has stopped"):
            next(iter(feeder))
    finally:
        feeder.close()


# ---------------------------------------------------------------- --validate: the baseline a fine-tune must beat
def test_validate_measures_weights_as_an_epoch_would(tmp_path, iam_dir, random_weights, capsys):
    held = ["edu-nsw-act-foundation", "playwrite-at"]  # fonts the shipped weights never saw
    conf = tmp_path / "c.json"
    conf.write_text(json.dumps({"holdout_fonts": held, "select": "real+fonts", "val_synth": 6}))
    args = ["--preset", "smoke", "--config", str(conf), "--iam-dir", str(iam_dir)]
    assert train.main(args + ["--validate", str(DEFAULT_WEIGHTS)]) == 0
    shipped = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert shipped["weights"] == str(DEFAULT_WEIGHTS)
    assert shipped["val_cer_real"] < 0.1 and shipped["val_cer_fonts"] < 0.3  # the trained model reads both
    assert shipped["selection_cer"] == pytest.approx((shipped["val_cer_real"] + shipped["val_cer_fonts"]) / 2, abs=1e-5)
    assert train.main(args + ["--validate", str(random_weights)]) == 0
    noise = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert noise["selection_cer"] > 0.8  # untrained weights: the numbers come from the file given
    assert not (tmp_path / "runs").exists()


def test_validate_without_a_weights_file_is_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        train.main(["--preset", "smoke", "--validate", str(tmp_path / "missing.weights.h5")])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "no weights file" in err and "Traceback" not in err


def test_batchnorm_reestimation_is_the_plain_mean_over_batches():
    import keras

    from benchmarks.bn_recalibration import reestimate_batchnorm

    inp = keras.Input((3,))
    bn = keras.layers.BatchNormalization(momentum=0.9)
    model = keras.Model(inp, bn(inp))
    rng = np.random.default_rng(3)
    batches = [rng.normal(k, 1 + k, (8, 3)).astype(np.float32) for k in range(4)]
    assert reestimate_batchnorm(model, iter(batches)) == 1
    np.testing.assert_allclose(bn.moving_mean.numpy(), np.mean([b.mean(0) for b in batches], 0), rtol=1e-5)
    np.testing.assert_allclose(bn.moving_variance.numpy(), np.mean([b.var(0) for b in batches], 0), rtol=1e-5)
    assert bn.momentum == 0.9  # put back afterwards
