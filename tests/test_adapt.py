"""htr.adapt: fine-tuning a copy of Easter2 on one (synthetic) writer's lines."""

from __future__ import annotations

import numpy as np
import pytest

from htr.adapt import AdaptConfig, AdaptError, adapt, check_lines, default_held_out, save_weights, weights_bytes

TEXTS = ["the quick fox", "jumps over it", "a lazy brown dog", "packs my box", "with five jugs"]


def writer_lines(texts=TEXTS, seed: int = 3) -> list[tuple[np.ndarray, str]]:
    """One synthetic "writer": one script font, one style, short lines (a narrow training width)."""
    from htr.data.synth.fonts import font_paths
    from htr.data.synth.render import LineRenderer

    font = next(p for p in font_paths() if p.stem == "alex-brush")
    renderer = LineRenderer(fonts=[font], seed=seed)
    rng = np.random.default_rng(seed)
    return [(renderer.render(t, rng), t) for t in texts]


@pytest.fixture(scope="module")
def model():
    from htr.model import load_model

    return load_model(None)


@pytest.fixture(scope="module")
def lines():
    return writer_lines()


def train_loss(m, lines) -> float:
    """Mean focal CTC loss of ``m`` on ``lines`` as they are (no augmentation)."""
    from htr.alphabet import encode
    from htr.preprocess import prepare_line
    from htr.train import MAX_LABEL, focal_ctc_loss

    x = np.stack([prepare_line(g, 2000).x for g, _ in lines])
    y = np.full((len(lines), MAX_LABEL), -1, np.int32)
    for i, (_, t) in enumerate(lines):
        y[i, : len(t)] = encode(t)
    probs = np.asarray(m.predict_on_batch(x))
    return float(np.mean(np.asarray(focal_ctc_loss(0.25, 0.5)(y, probs))))


CFG = AdaptConfig(lr=1e-3, eval_every=2, patience=50)  # one config: every test reuses the compiled bench


@pytest.fixture(scope="module")
def adapted(model, lines):
    """Six steps on all five lines (none held back: the last weights are kept), the shared weights noted first."""
    before = [np.array(w.numpy()) for w in model.weights]
    res = adapt(model, lines, seconds=600, held_out=0, seed=0, max_steps=6, config=CFG)
    return before, res


def test_the_shared_model_is_unchanged(model, adapted):
    before, res = adapted
    assert res.model is not model
    for a, w in zip(before, model.weights):
        np.testing.assert_array_equal(a, w.numpy())
    assert any(not np.array_equal(a.numpy(), b) for a, b in zip(res.model.weights, before))


def test_adapting_lowers_the_loss_on_the_writer(model, lines, adapted):
    _, res = adapted
    assert res.steps == 6 and res.stopped == "steps" and res.best_step == 6
    assert res.cer_before is None and res.cer_after is None
    assert train_loss(res.model, lines) < train_loss(model, lines)


def test_held_back_lines_before_after_and_a_curve(model, lines, adapted):
    import json

    res = adapt(model, lines, seconds=600, held_out=1, seed=0, max_steps=4, config=CFG)
    assert res.held_texts == [TEXTS[-1]] and res.train_texts == TEXTS[:-1]
    assert 0 <= res.cer_after <= res.cer_before  # the best of the measurements, the first included
    assert len(res.before) == len(res.after) == 1
    assert res.curve[0].step == 0 and res.curve[0].cer == res.cer_before
    assert [p.step for p in res.curve[1:]] == [2, 4]
    assert all(p.loss is not None and p.cer is not None for p in res.curve[1:])
    assert res.best_step in (0, 2, 4)
    assert res.width in (512, 768, 1024)  # short lines: a narrow training width
    assert res.compile_seconds == 0  # the bench compiled by the fixture was reused
    json.dumps(res.summary())


def test_keep_last_trains_on_and_measures_the_held_back_lines_once(model, lines, adapted, monkeypatch):
    """keep='last': no early stopping; the held-back lines are measured before and after only, and the
    kept weights are the last ones (the same as training with nothing held back would give for these lines)."""
    from dataclasses import replace

    import htr.adapt as A

    calls = []
    real_measure = A._measure

    def spy(*args, **kwargs):
        calls.append(1)
        return real_measure(*args, **kwargs)

    monkeypatch.setattr(A, "_measure", spy)
    cfg = replace(CFG, keep="last", patience=1)  # patience would stop a 'best' run at once; 'last' ignores it
    res = adapt(model, lines, seconds=600, held_out=1, seed=0, max_steps=5, config=cfg)
    assert len(calls) == 2  # before and after
    assert res.steps == res.best_step == 5 and res.stopped == "steps"
    assert [p.step for p in res.curve] == [0, 2, 4, 5]
    assert res.curve[0].cer == res.cer_before
    assert res.curve[-1].cer == pytest.approx(res.cer_after, abs=1e-5)  # the curve rounds to 5 places
    assert all(p.cer is None and p.loss is not None for p in res.curve[1:-1])
    assert res.curve[-1].loss is not None  # step 5's loss
    assert len(res.before) == len(res.after) == 1
    # the last weights: the same as an adaptation on the same four lines with none held back
    same = adapt(model, lines[:-1], seconds=600, held_out=0, seed=0, max_steps=5, config=CFG)
    assert same.width == res.width
    for a, b in zip(res.model.weights, same.model.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="keep"):
        AdaptConfig(keep="first")


def test_same_seed_same_steps_same_weights(model, lines, adapted):
    a = adapt(model, lines, seconds=600, held_out=0, seed=5, max_steps=2, config=CFG)
    b = adapt(model, lines, seconds=600, held_out=0, seed=5, max_steps=2, config=CFG)
    for wa, wb in zip(a.model.weights, b.model.weights):
        np.testing.assert_allclose(wa.numpy(), wb.numpy(), rtol=1e-5, atol=1e-6)


def test_time_limit_is_honoured(model, lines, adapted):
    seen = []
    res = adapt(model, lines, seconds=8, held_out=1, progress=seen.append,
                config=AdaptConfig(lr=1e-3, eval_every=2, patience=100))
    assert res.stopped == "time"
    stamps = [0.0] + [p.seconds for p in seen]
    longest = max(b - a for a, b in zip(stamps, stamps[1:])) if seen else 0.0
    # no step starts that would end past the budget; then only the copy of the kept weights
    assert max(stamps) <= 8 + longest
    assert res.seconds <= 8 + longest + 5
    assert [p.step for p in seen] == list(range(1, res.steps + 1))
    assert all(0 < p.fraction <= 1 for p in seen)


def test_weights_round_trip(tmp_path, model, lines, adapted):
    from htr.model import load_model

    _, res = adapted
    data = weights_bytes(res.model)
    path = tmp_path / "mine.weights.h5"
    path.write_bytes(data)
    again = load_model(path)
    x = np.zeros((1, 2000, 80), np.float32)
    np.testing.assert_allclose(again.predict_on_batch(x), res.model.predict_on_batch(x), atol=1e-6)
    save_weights(res.model, tmp_path / "b.weights.h5")
    assert load_model(tmp_path / "b.weights.h5") is not None
    with pytest.raises(AdaptError, match="weights.h5"):
        save_weights(res.model, tmp_path / "mine.h5")


# -- bad input (no training needed) ------------------------------------------

def _line(text="abc"):
    g = np.full((40, 200), 255, np.uint8)
    g[10:30, 20:180:7] = 0
    return g, text


@pytest.mark.parametrize("lines, match", [
    ([], "no lines"),
    ([_line("")], "text is empty"),
    ([_line("café")], "cannot write: é"),
    ([(np.full((40, 200), 255, np.uint8), "abc")], "blank"),
    ([(np.zeros((5,), np.uint8), "abc")], "gray line image"),
    ([_line("a" * 200)], "too long"),
    (["not a pair"], "pair"),
])
def test_bad_lines(lines, match):
    with pytest.raises(AdaptError, match=match):
        check_lines(lines)


def test_bad_budget_and_held_out():
    lines = [_line("abc"), _line("abd")]
    with pytest.raises(AdaptError, match="hold back 2 of 2"):
        adapt(None, lines, held_out=2)
    with pytest.raises(AdaptError, match="more than 0 seconds"):
        adapt(None, lines, seconds=0, held_out=0)


def test_default_held_out():
    assert [default_held_out(n) for n in (1, 2, 3, 7, 8, 12)] == [0, 0, 1, 1, 2, 2]


def test_bad_config():
    with pytest.raises(ValueError):
        AdaptConfig(bn="sometimes")
    with pytest.raises(ValueError):
        AdaptConfig(lr=0)


def test_read_lines_reads_with_any_keras_easter2(model, lines, adapted):
    from htr.adapt import read_lines

    _, res = adapted
    grays = [g for g, _ in lines[:2]]
    for m in (model, res.model):
        texts = read_lines(m, grays)
        assert len(texts) == 2 and all(isinstance(t, str) for t in texts)
    assert read_lines(model, []) == []


def test_turns_first_come_first_served():
    import threading

    from htr.adapt import Turns

    turns = Turns()
    a, b, c = turns.join(), turns.join(), turns.join()
    assert [turns.place(t) for t in (a, b, c)] == [0, 1, 2] and len(turns) == 3
    assert turns.wait(a, 5) == 0  # its turn: no wait
    got = []
    waiter = threading.Thread(target=lambda: got.append(turns.wait(b, 30)))
    waiter.start()
    turns.leave(a)  # wakes the waiter at once
    waiter.join(10)
    assert got == [0] and turns.place(c) == 1
    turns.leave(b)
    turns.leave(c)
    turns.leave(c)  # twice is harmless
    assert len(turns) == 0


# -- word crops (AdaptConfig.crop) -------------------------------------------

def test_word_crops_are_runs_of_words_cut_between_them(model, lines):
    """Every crop is a run of consecutive words of its line that fits the width; cut where the model
    places the gaps, single words read far better than the same lines cut into equal shares per word."""
    from htr.adapt import word_crops
    from htr.alphabet import encode
    from htr.metrics import aggregate
    from htr.preprocess import frame_line, prepare_line
    from htr.train import greedy_texts, needed_width

    crops = word_crops(model, lines, 768)
    runs = {" ".join(t.split()[i:j]) for _, t in lines for i in range(len(t.split()))
            for j in range(i + 1, len(t.split()) + 1)}
    assert crops and all(text in runs for _, text in crops)
    for gray, text in crops:
        assert needed_width(prepare_line(gray, 2000, frame=False).content, encode(text)) <= 768
    words = [(g, t) for g, t in crops if " " not in t]
    assert sorted(t for _, t in words) == sorted(w for _, t in lines for w in t.split())  # short lines: all fit

    def read(pieces):  # as adapt trains on them: full line height, not framed again
        preps = [prepare_line(g, 2000, frame=False) for g, _ in pieces]
        probs = np.asarray(model.predict_on_batch(np.stack([p.x for p in preps])))
        got = [greedy_texts(pr[None, : p.content_steps])[0] for pr, p in zip(probs, preps)]
        return aggregate(zip((t for _, t in pieces), got)).cer

    naive = []  # each line cut into equal shares, one per word
    for gray, text in lines:
        framed = frame_line(gray)[0]
        ws = text.split()
        edges = np.linspace(0, framed.shape[1], len(ws) + 1).round().astype(int)
        naive += [(framed[:, a:b], w) for a, b, w in zip(edges, edges[1:], ws)]
    aligned, equal = read(words), read(naive)
    # measured: 0.40 against 0.67 (a word alone reads worse than within its line)
    assert aligned <= 0.5 and aligned < equal - 0.2, (aligned, equal)


def test_adapting_on_word_crops(model, lines, monkeypatch):
    """Training draws its samples from the word crops at the crop width; the held-back line is still
    measured whole (at a wider width than the crops): its reading before is the full layout's."""
    import htr.adapt as adapt_module
    from htr.adapt import read_lines

    drawn = []
    real = adapt_module._crop_sample

    def counting(gray, text, rng, config, width):
        drawn.append(text)
        return real(gray, text, rng, config, width)

    monkeypatch.setattr(adapt_module, "_crop_sample", counting)
    cfg = AdaptConfig(lr=1e-3, eval_every=2, patience=50, crop=512)
    res = adapt(model, lines, seconds=600, held_out=1, seed=0, max_steps=4, config=cfg)
    assert res.width == 512 and res.crops > len(lines) - 1  # more samples than lines
    assert res.steps == 4 and len(drawn) == 4 * cfg.batch
    assert all(t in " ".join(tt for _, tt in lines[:-1]) for t in drawn)
    assert res.held_texts == [TEXTS[-1]]
    assert res.before == read_lines(model, [lines[-1][0]])  # not cut to the 512 columns of the crops


def test_held_back_loss_is_the_mean_focal_ctc(model, lines, adapted):
    """_measure's loss (the compiled test step) is the mean focal CTC of the readings it returns."""
    from htr.adapt import _batch, _bench, _Held, _measure, _width_for
    from htr.alphabet import encode
    from htr.preprocess import deskew_line, prepare_line
    from htr.train import focal_ctc_loss

    held = [(deskew_line(g)[0], t) for g, t in lines[-2:]]
    width = _width_for([(deskew_line(g)[0], t) for g, t in lines])
    bench = _bench(CFG, width)  # the fixture's, reused
    bench.reset(model, 0)
    _, loss, _ = _measure(bench, _Held(bench, held, width))
    x = np.stack([(prepare_line(g, 2000).x[:width] * 255).astype(np.uint8) for g, _ in held])
    probs = np.asarray(bench.trainer.predict_on_batch(x), dtype=np.float32)
    _, y = _batch([(prepare_line(g, 2000).x[:width], encode(t)) for g, t in held], width)
    eager = float(np.mean(np.asarray(focal_ctc_loss(CFG.focal_alpha, CFG.focal_gamma)(y, probs))))
    assert loss == pytest.approx(eager, rel=1e-4)


def test_crop_config_is_checked():
    for bad in (100, 770, 2000, -4, 768.0, True):
        with pytest.raises(ValueError, match="crop"):
            AdaptConfig(crop=bad)
    assert AdaptConfig(crop=768).crop == 768 and AdaptConfig().crop == 0


def test_top_config_is_checked():
    for bad in (0, -1, 2.0, True):
        with pytest.raises(ValueError, match="draws"):
            AdaptConfig(train="top", draws=bad)
    with pytest.raises(ValueError, match="crop must be 0"):
        AdaptConfig(train="top", crop=768)
    with pytest.raises(ValueError, match="bn must be 'frozen'"):
        AdaptConfig(train="top", bn="train")
    with pytest.raises(ValueError, match="top"):
        AdaptConfig(train="everything")


def test_adapting_the_head_on_drawn_samples(model, lines, monkeypatch):
    """train='top': the stem and units keep the model's weights, the head moves, the loss on the writer
    falls; the pool holds `draws` samples of every training line and steps draw their batches from it."""
    import htr.adapt as A
    from htr.model import HEAD_BLOCKS, HEAD_REACH

    pools = []
    real_pool = A._pool

    def spy(*args, **kwargs):
        pools.append(real_pool(*args, **kwargs))
        return pools[-1]

    monkeypatch.setattr(A, "_pool", spy)
    cfg = AdaptConfig(train="top", draws=3, lr=1e-3, batch=4, eval_every=2, patience=50)
    res = adapt(model, lines, seconds=600, held_out=1, seed=0, max_steps=8, config=cfg)
    (x, y), = pools
    assert x.shape == (3 * (len(lines) - 1), min(res.width // 4 + HEAD_REACH, 500), 256) and x.dtype == np.float16
    assert len(y) == len(x) and (y[:, 0] >= 0).all()
    head = {n for block in HEAD_BLOCKS for n in block} | {"logits"}

    def moved(adapted):  # names of the layers whose weights differ from the given model's
        return {a.name for a, b in zip(model.layers, adapted.layers)
                if any(not np.array_equal(np.asarray(u), np.asarray(v)) for u, v in zip(a.weights, b.weights))}

    if res.best_step:
        assert moved(res.model) and moved(res.model) <= head
    else:
        assert not moved(res.model)
    # no held-back line, the last weights: the head must have moved and the writer's loss fallen
    res0 = adapt(model, lines, seconds=600, held_out=0, seed=0, max_steps=8, config=cfg)
    assert "head_conv1" in moved(res0.model) and moved(res0.model) <= head
    assert train_loss(res0.model, lines) < train_loss(model, lines)
