"""Training Easter2: ``python -m htr train``.

Backend-agnostic Keras 3: the same code trains under TensorFlow (this
project's default), JAX or PyTorch (set ``KERAS_BACKEND``), with mixed
precision on a GPU. The recipe follows Easter2: focal CTC loss (alpha 0.25,
gamma 0.5), Adam, TACo (tiling-and-corruption) augmentation and long-line
augmentation (joining lines), on a mix of data sources weighted in a config:

* ``synth``: handwriting lines rendered on the fly from the vendored fonts
  (:mod:`htr.data.synth`), texts from IAM's training split plus built-in English;
* ``iam``: real IAM lines of the training split found under ``--iam-dir``
  (Aachen ``train``; never validation or test lines);
* ``copiste``, ``poilus``: real scanned lines of the *train* hands of
  ``--hands-dir`` (:mod:`htr.data.hands`; validation and report hands never train),
  texts mapped into the alphabet (:mod:`htr.data.text`), augmented (width,
  slant, TACo);
* ``unipen``: pen strokes of the train writers, rendered as ink on paper anew
  at every use (:mod:`htr.data.strokes`).

Worker processes render and preprocess samples into a replay buffer, so the
accelerator never waits for Pillow; a thread draws the next batches from the
buffer while a step runs, as uint8 pixels that the training graph scales
(:func:`pixel_model`).
Every epoch: validation CER (greedy) on held-back synthetic lines and on the
real validation-split lines that exist under ``--iam-dir``; a checkpoint
(``last.keras``, the model, and ``optimizer.npz``, the optimizer
state, for ``--resume``), the
best weights by validation CER (``best.weights.h5``), a CSV log and a plot of
the curves. Early stopping on validation CER. With ``ema`` > 0 in the config,
validation and the saved weights use an exponential moving average of the
weights (Adam's ``use_ema``), which is steadier from epoch to epoch than the
weights of the last step; training itself goes on from the raw weights.
``holdout_fonts`` keeps some vendored fonts out of training and validates on
lines rendered in them (``val_cer_fonts``: hands the model has never seen),
and ``select`` says which validation CER picks the best epoch; ``real_max``
bounds the real validation CER an epoch may have to be chosen at all.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import multiprocessing as mp
import os
import queue
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from htr.alphabet import BLANK, encode, normalize
from htr.preprocess import HEIGHT, prepare_line

MAX_LABEL = 160
PREFETCH = 3  # batches made ahead of the training step (Feeder)


@dataclass
class Config:
    """Everything that defines a training run; presets below, overridable by flags."""

    width: int = 2000
    batch: int = 16
    lr: float = 1e-3
    lr_min: float = 2e-5
    warmup_steps: int = 300
    minutes: float = 110.0  # wall-clock budget for the optimisation loop
    epochs: int = 1000  # upper bound; minutes or early stopping end it first
    steps_per_epoch: int = 400
    patience: int = 12  # epochs without a better validation CER
    focal_alpha: float = 0.25
    focal_gamma: float = 0.5
    sources: dict = field(default_factory=lambda: {"synth": 1.0, "iam": 0.0})
    workers: int = 1
    buffer: int = 6000  # replay buffer capacity (samples)
    chunk: int = 16  # samples per message from a worker
    join_prob: float = 0.15  # long-line augmentation: join two lines
    taco_prob: float = 0.3  # tiling-and-corruption
    val_synth: int = 200
    mixed_precision: bool = True  # only takes effect on a GPU
    seed: int = 0
    synth_style: dict = field(default_factory=dict)  # overrides of htr.data.synth.render.Style
    init_weights: str = ""  # start from these weights (fine-tuning)
    ema: float = 0.0  # > 0: validate and save an exponential moving average of the weights (momentum)
    holdout_fonts: list = field(default_factory=list)  # font stems never trained on: a validation set of unseen hands
    select: str = "real"  # which validation CER picks the best epoch: "real", "fonts" or "real+fonts" (their mean)
    real_max: float = 0.0  # > 0: an epoch whose real validation CER is above this cannot be the best (a ship rule's bound)
    hands_dir: str = ""  # ../shared/hands (or $HANDS_DIR): sources copiste, poilus, unipen
    hands_val_lines: int = 8  # validation lines per validation hand (the first ones of each hand)
    real_slant: float = 12.0  # real hand lines: random shear within ±this many degrees
    fresh_ratio: float = 0.0  # > 0: take at most this many new samples per sample trained on (CPU: the
    #                           render worker then waits instead of taking a core from the training step)
    buckets: list = field(default_factory=list)  # input widths to group lines by (each step computes only the
    #                           first W columns of the layout: htr.model.LayoutTrainer); empty: the whole layout
    frozen_bn: bool = False  # with buckets: batch norm uses its moving statistics in training too (fine-tuning)


PRESETS = {
    # This 2-core CPU, about two hours (see models/MODEL_CARD.md).
    "cpu": Config(batch=16, minutes=110.0, steps_per_epoch=300, workers=1, buffer=4000, fresh_ratio=1.5),
    # One GPU: large batches, many render workers.
    "gpu": Config(batch=64, lr=1.5e-3, minutes=60.0, steps_per_epoch=250, workers=14, buffer=60000, chunk=32),
    # A few minutes anywhere: a smoke test of the whole pipeline.
    "smoke": Config(batch=4, minutes=3.0, steps_per_epoch=5, epochs=2, workers=1, buffer=64, val_synth=8),
}


# ---------------------------------------------------------------- data
def _stretch(gray: np.ndarray, rng: np.random.Generator, lo: float, hi: float) -> np.ndarray:
    from PIL import Image

    f = rng.uniform(lo, hi)
    h, w = gray.shape
    return np.asarray(Image.fromarray(gray).resize((max(2, int(w * f)), h), Image.Resampling.BILINEAR))


def _to_sample(gray: np.ndarray, text: str, width: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Prepared input as uint8 (width, 80) and its label, or None if unusable."""
    label = encode(text)[:MAX_LABEL]
    prep = prepare_line(gray, width)
    steps = prep.width // 4
    if len(label) == 0 or len(label) + int(np.sum(label[1:] == label[:-1])) > steps:
        return None
    return (prep.x * 255).astype(np.uint8), label


SELECT = ("real", "fonts", "real+fonts", "hands")
#: Sources of real hands (``../shared/hands``), each a training source and a validation set.
HAND_SOURCES = ("copiste", "poilus", "unipen")


def split_fonts(cfg: Config) -> tuple[list[Path], list[Path]]:
    """The vendored fonts training renders with, and those ``cfg.holdout_fonts`` keeps back for validation."""
    from htr.data.synth.fonts import font_paths

    paths = font_paths()
    unknown = sorted(set(cfg.holdout_fonts) - {p.stem for p in paths})
    if unknown:
        raise ValueError(f"holdout_fonts: no vendored font named {', '.join(unknown)} (see htr/data/synth/fonts/)")
    held = [p for p in paths if p.stem in cfg.holdout_fonts]
    train = [p for p in paths if p.stem not in cfg.holdout_fonts]
    if not train:
        raise ValueError("holdout_fonts keeps back every font: none is left to train on")
    return train, held


def check_config(cfg: Config) -> None:
    """Reject, with a readable ValueError, a config whose new-style fields make no sense."""
    from htr.weights import DEFAULT_WEIGHTS, fonts_seen_by_shipped_weights

    if cfg.select not in SELECT:
        raise ValueError(f"select must be one of {', '.join(SELECT)}, not {cfg.select!r}")
    if not isinstance(cfg.holdout_fonts, list) or not all(isinstance(f, str) for f in cfg.holdout_fonts):
        raise ValueError(f"holdout_fonts must be a list of font names, not {cfg.holdout_fonts!r}")
    if cfg.select == "hands" and not cfg.hands_dir:
        raise ValueError("select 'hands' needs the real hands: pass --hands-dir (or set HANDS_DIR)")
    unknown = sorted(set(cfg.sources) - {"synth", "iam", *HAND_SOURCES})
    if unknown:
        raise ValueError(f"sources: unknown source(s) {', '.join(unknown)} (known: synth, iam, {', '.join(HAND_SOURCES)})")
    if "fonts" in cfg.select and not cfg.holdout_fonts:
        raise ValueError(f"select {cfg.select!r} needs holdout_fonts: there is no unseen font to validate on")
    if not 0.0 <= cfg.real_max < 1.0:
        raise ValueError(f"real_max is a CER in [0, 1) (0 = no bound), not {cfg.real_max!r}")
    if not 0.0 <= cfg.ema < 1.0:
        raise ValueError(f"ema is a momentum in [0, 1) (0 = off), not {cfg.ema!r}")
    if not isinstance(cfg.buckets, list) or not all(
            isinstance(b, int) and not isinstance(b, bool) and 0 < b <= cfg.width and b % 4 == 0 for b in cfg.buckets):
        raise ValueError(f"buckets must be a list of input widths, multiples of 4 up to width {cfg.width}, "
                         f"not {cfg.buckets!r}")
    if cfg.frozen_bn and not cfg.buckets:
        raise ValueError("frozen_bn works with buckets (htr.model.LayoutTrainer): add buckets to the config")
    split_fonts(cfg)
    if cfg.init_weights and Path(cfg.init_weights).resolve() == DEFAULT_WEIGHTS.resolve():
        seen = sorted(set(cfg.holdout_fonts) & fonts_seen_by_shipped_weights())
        if seen:
            raise ValueError(f"holdout_fonts {', '.join(seen)}: the shipped weights this run starts from "
                             "trained on them (models/training/fonts.txt), so they are not unseen hands")


def selection_cer(cfg: Config, real: float | None, fonts: float | None, synth: float,
                  hands: dict[str, float] | None = None) -> float:
    """The validation CER that picks the best epoch: ``cfg.select`` where its sets exist, else synthetic.

    ``hands``: the mean over the validation hands of every hand source and the
    IAM validation lines (each set counts once, whatever its size).
    """
    if cfg.select == "hands" and (hands or real is not None):
        vals = list((hands or {}).values()) + ([real] if real is not None else [])
        return float(np.mean(vals))
    if cfg.select == "fonts" and fonts is not None:
        return fonts
    if cfg.select == "real+fonts" and real is not None and fonts is not None:
        return (real + fonts) / 2
    if real is not None:
        return real
    return fonts if fonts is not None else synth


def eligible(cfg: Config, real: float | None) -> bool:
    """Whether an epoch may be chosen as the best: its real validation CER is within ``cfg.real_max``.

    A ship rule such as "no worse on the real lines than the shipped weights, give or
    take two characters" is declared before a run; with the bound in the config the
    run keeps the best epoch that can pass it, not the best epoch overall.
    """
    return cfg.real_max <= 0 or real is None or real <= cfg.real_max


class SampleMaker:
    """Makes training samples from the configured sources (runs in each worker)."""

    def __init__(self, cfg: Config, iam_dir: str | None, seed: int):
        from htr.data.synth.corpus import training_texts
        from htr.data.synth.render import LineRenderer, Style

        self.cfg = cfg
        self.rng = np.random.default_rng(seed)
        self.renderer = LineRenderer(fonts=split_fonts(cfg)[0], seed=seed, style=Style(**cfg.synth_style))
        self.texts = training_texts(Path(iam_dir) if iam_dir else None, self.rng)
        self.real = load_real_lines(iam_dir, "train") if cfg.sources.get("iam", 0) > 0 else []
        self.hands = {src: load_hand_lines(cfg.hands_dir, src, "train")
                      for src in HAND_SOURCES if cfg.sources.get(src, 0) > 0}
        names = [n for n, w in cfg.sources.items()
                 if w > 0 and (n != "iam" or self.real) and (n not in HAND_SOURCES or self.hands.get(n))]
        weights = np.array([cfg.sources[n] for n in names], dtype=float)
        self.names, self.weights = names, weights / weights.sum()

    def _one(self) -> tuple[np.ndarray, str]:
        from htr.data.synth.render import corrupt

        src = self.rng.choice(self.names, p=self.weights)
        if src == "iam":
            gray, text = self.real[self.rng.integers(len(self.real))]
            gray = _stretch(gray, self.rng, 0.8, 1.25)
        elif src in HAND_SOURCES:
            from htr.data.lines import is_vertical

            while True:  # a margin note written down the page is no line to learn from
                rec, text = self.hands[src][self.rng.integers(len(self.hands[src]))]
                gray = rec.draw(self.rng)
                if not is_vertical(gray, text):
                    break
            gray = augment_real(gray, self.rng, self.cfg.real_slant)
        else:
            text = self.texts[self.rng.integers(len(self.texts))]
            gray = self.renderer.render(text, self.rng)
        if self.rng.random() < self.cfg.taco_prob:
            gray = corrupt(gray, self.rng)
        return gray, text

    def make(self) -> tuple[np.ndarray, np.ndarray]:
        from htr.data.synth.render import join_lines

        while True:
            gray, text = self._one()
            if self.rng.random() < self.cfg.join_prob:
                g2, t2 = self._one()
                gray = join_lines([gray, g2], int(self.rng.integers(20, 80)))
                text = f"{text} {t2}"
            sample = _to_sample(gray, text, self.cfg.width)
            if sample is not None:
                return sample


def _worker(cfg_dict: dict, iam_dir: str | None, seed: int, out: mp.Queue, stop) -> None:
    os.environ["CUDA_VISIBLE_DEVICES"] = ""
    cfg = Config(**cfg_dict)
    maker = SampleMaker(cfg, iam_dir, seed)
    while not stop.is_set():
        xs, ys = zip(*(maker.make() for _ in range(cfg.chunk)))
        while not stop.is_set():
            try:
                out.put((np.stack(xs), list(ys)), timeout=0.5)
                break
            except queue.Full:
                continue


def needed_width(ink_end: int, label: np.ndarray) -> int:
    """Input columns a line needs to be computed as the whole layout would: its ink (``ink_end`` columns)
    plus the margin past which padded columns hold the constant pad state (:data:`htr.runtime.MARGIN`), and
    room for its label's CTC path (a step per character and a blank between repeats, 4 columns a step)."""
    from htr.runtime import MARGIN

    label = np.asarray(label)
    path = 4 * (len(label) + int(np.sum(label[1:] == label[:-1])) + 1)
    return max(int(ink_end) + MARGIN, path)


def bucket_for(x: np.ndarray, label: np.ndarray, buckets) -> int:
    """The narrowest of ``buckets`` (input widths) that computes sample ``x`` as the whole layout would.

    That is :func:`needed_width` of its ink and label; the full layout width
    when no bucket is that wide.
    """
    width = x.shape[0]
    ink = np.flatnonzero(x.max(axis=1))
    need = needed_width(int(ink[-1]) + 1 if len(ink) else 0, label)
    for b in sorted(buckets):
        if need <= b < width:
            return int(b)
    return width


class ReplayBuffer:
    """Fresh samples from the workers go in; batches are drawn uniformly from what is there.

    With ``buckets`` (input widths), each sample remembers the narrowest
    bucket that holds it (:func:`bucket_for`), and a batch is drawn from one
    bucket: a uniformly drawn sample picks the bucket, the rest come uniformly
    from the samples of that bucket (so every sample is as likely as without
    buckets), and only the bucket's first columns are handed out.
    """

    def __init__(self, capacity: int, width: int, seed: int, buckets=()):
        self.x = np.zeros((capacity, width, HEIGHT), np.uint8)
        self.y = np.full((capacity, MAX_LABEL), -1, np.int32)
        self.w = np.full(capacity, width, np.int32)
        self.buckets = sorted(int(b) for b in buckets)
        self.size = 0
        self.next = 0
        self.added = 0
        self.rng = np.random.default_rng(seed)

    def add(self, xs: np.ndarray, ys: list[np.ndarray]) -> None:
        for x, y in zip(xs, ys):
            i = self.next
            self.x[i] = x
            self.y[i] = -1
            self.y[i, : len(y)] = y
            if self.buckets:
                self.w[i] = bucket_for(x, np.asarray(y), self.buckets)
            self.next = (i + 1) % len(self.x)
            self.size = min(self.size + 1, len(self.x))
            self.added += 1

    def batch(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``n`` samples drawn with replacement: uint8 pixels (n, width, 80), labels padded with -1.

        The pixels stay uint8 (the training graph scales them, see
        :func:`pixel_model`): a quarter of the bytes to copy to an accelerator,
        and no float conversion on the host (25 ms a batch of 64 at width 2000).
        """
        if self.buckets:
            width = int(self.w[self.rng.integers(0, self.size)])
            group = np.flatnonzero(self.w[: self.size] == width)
            idx = group[self.rng.integers(0, len(group), n)]
        else:
            width = self.x.shape[1]
            idx = self.rng.integers(0, self.size, n)
        ylen = int((self.y[idx] >= 0).sum(axis=1).max())
        return self.x[idx, :width], self.y[idx, : max(ylen, 1)]


class Feeder:
    """Runs the render workers and yields training batches from the replay buffer."""

    def __init__(self, cfg: Config, iam_dir: str | None):
        self.cfg = cfg
        ctx = mp.get_context("spawn")
        self.queue = ctx.Queue(maxsize=max(8, cfg.workers * 4))
        self.stop = ctx.Event()
        self.procs = [
            ctx.Process(
                target=_worker,
                args=(asdict(cfg), iam_dir, cfg.seed * 1000 + i + 1, self.queue, self.stop),
                daemon=True,
            )
            for i in range(cfg.workers)
        ]
        for p in self.procs:
            p.start()
        self.buffer = ReplayBuffer(cfg.buffer, cfg.width, cfg.seed, cfg.buckets)
        self.consumed = 0  # samples handed to training
        self.start = 0  # samples in the buffer when training began (fill)

    def _drain(self, block: bool) -> None:
        while True:
            if not block and self.cfg.fresh_ratio > 0 and \
                    self.buffer.added >= self.start + self.cfg.fresh_ratio * self.consumed:
                return  # enough fresh lines for now: the worker blocks on the full queue and frees its core
            try:
                xs, ys = self.queue.get(timeout=60) if block else self.queue.get_nowait()
            except queue.Empty:
                if block:
                    raise RuntimeError("render workers produced nothing for 60 s") from None
                return
            self.buffer.add(xs, ys)
            block = False

    def fill(self, minimum: int) -> None:
        while self.buffer.size < minimum:
            self._drain(block=True)
        self.start = self.buffer.added

    def _next_batch(self) -> tuple[np.ndarray, np.ndarray]:
        self._drain(block=False)
        if self.procs and not any(p.is_alive() for p in self.procs):
            raise RuntimeError("every render worker has stopped: no new training lines (see the log above)")
        x, y = self.buffer.batch(self.cfg.batch)
        self.consumed += len(x)
        # fixed label width keeps compiled shapes fixed
        yy = np.full((len(y), MAX_LABEL), -1, np.int32)
        yy[:, : y.shape[1]] = y
        return x, yy

    def _prefetch(self) -> None:
        """Thread: keep ``PREFETCH`` batches ready while the accelerator runs a step.

        Only this thread touches the buffer once iteration has begun; an error
        (every render worker gone, say) is handed to the training loop, not lost.
        """
        try:
            while not self.stop.is_set():
                item = self._next_batch()
                while not self.stop.is_set():
                    try:
                        self.ready.put(item, timeout=0.5)
                        break
                    except queue.Full:
                        continue
        except BaseException as e:  # noqa: BLE001 - re-raised in the training loop
            self.ready.put(e)

    def __iter__(self):
        self.ready: queue.Queue = queue.Queue(maxsize=PREFETCH)
        self.thread = threading.Thread(target=self._prefetch, name="htr-prefetch", daemon=True)
        self.thread.start()
        while True:
            item = self.ready.get()
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        self.stop.set()
        if getattr(self, "thread", None) is not None:
            self.thread.join(timeout=5)
        for p in self.procs:
            p.join(timeout=5)
            if p.is_alive():
                p.terminate()


def load_real_lines(iam_dir: str | Path | None, split: str) -> list[tuple[np.ndarray, str]]:
    """Real IAM lines (image, text) of an Aachen split that have images under ``iam_dir``."""
    if not iam_dir:
        return []
    from htr.data.iam import IAM

    iam = IAM(Path(iam_dir))
    ids = iam.splits("aachen")[split]
    out = []
    for lid in ids:
        if iam.has_line_image(lid):
            out.append((iam.line_image(lid), normalize(iam.lines[lid].text)))
    return out


def load_hand_lines(hands_dir: str | None, source: str, split: str) -> list:
    """(record, text in the alphabet) of one hand source's ``split`` (see :mod:`htr.data.hands`)."""
    from htr.data.hands import lines_of

    return lines_of(source, split, hands_dir or None)


def augment_real(gray: np.ndarray, rng: np.random.Generator, slant: float) -> np.ndarray:
    """A real line drawn a little differently each time: width ×0.8–1.25, a shear within ±``slant`` degrees."""
    from htr.perturb import perturb

    gray = _stretch(gray, rng, 0.8, 1.25)
    if slant > 0 and min(gray.shape) >= 2 and rng.random() < 0.7:
        gray = perturb(gray, "slant", float(rng.uniform(-slant, slant)), seed=int(rng.integers(1 << 31)))
    return gray


def wants_hands(cfg: Config) -> bool:
    """Whether a run trains on or selects by the real hands (then it needs ``hands_dir``)."""
    return cfg.select == "hands" or any(cfg.sources.get(s, 0) > 0 for s in HAND_SOURCES)


def uses_hands(cfg: Config) -> bool:
    """Whether every epoch validates on the real hands: the run wants them and has them."""
    return bool(cfg.hands_dir) and wants_hands(cfg)


def hand_validation_sets(cfg: Config) -> dict[str, list[tuple[np.ndarray, str]]]:
    """The first ``cfg.hands_val_lines`` lines of every validation hand, per source found.

    Pen-stroke lines are rendered once with a seed fixed by the line id, so every
    epoch (and ``--validate``) sees the same images. A source that cannot be read
    here is left out (the log says which sets there are).
    """
    import zlib

    from htr.data.lines import DataError, is_vertical

    out = {}
    for src in HAND_SOURCES:
        try:
            lines = load_hand_lines(cfg.hands_dir, src, "validation")
        except (DataError, ImportError, KeyError):
            continue
        per_hand: dict[str, int] = {}
        chosen = []
        for rec, text in lines:
            if per_hand.get(rec.hand, 0) < cfg.hands_val_lines:
                rng = np.random.default_rng(zlib.crc32(rec.id.encode()))
                gray = rec.draw(rng)
                if is_vertical(gray, text):
                    continue
                per_hand[rec.hand] = per_hand.get(rec.hand, 0) + 1
                chosen.append((gray, text))
        if chosen:
            out[src] = chosen
    return out


# ---------------------------------------------------------------- model
def ctc_loss(y_true, logp):
    """Per-sample CTC of labels ``y_true`` (B, L), padded with -1, under log-probabilities ``logp`` (B, T, C)
    over all T steps, BLANK (the last class) the blank.

    Under TensorFlow the labels go to ``tf.nn.ctc_loss`` as a sparse tensor,
    which runs TensorFlow's compiled CTC kernel; ``keras.ops.ctc_loss``
    passes them dense, and TensorFlow then computes CTC with a graph loop
    that cost about 0.5 s a batch of four lines of 394 steps on the 2-core
    CPU against 0.008 s for the kernel; the losses agree to 2e-6 (relative),
    the gradients to 0.004 (``benchmarks/ctc_speed.md``;
    ``tests/test_train_units.py`` compares them). Other backends use
    ``keras.ops.ctc_loss``.

    The kernel takes its input for logits and applies its own softmax: with
    ``logp`` a log-softmax (as :func:`focal_ctc_loss` makes it) that changes
    neither the loss nor the gradient that reaches the logits before it, but
    the gradient with respect to ``logp`` itself differs from
    ``keras.ops.ctc_loss``'s by the softmax term: compare gradients at the
    logits, as the test and the benchmark do."""
    import keras
    from keras import ops

    y_true = ops.cast(y_true, "int32")
    steps = ops.shape(logp)[1]
    out_len = ops.full((ops.shape(logp)[0],), steps, dtype="int32")
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        where = tf.where(y_true >= 0)
        labels = tf.SparseTensor(where, tf.gather_nd(y_true, where), tf.shape(y_true, out_type=tf.int64))
        # logp are normalised log-probabilities: the kernel's log-softmax leaves them as they are. The
        # kernel's blank is the last class, as BLANK is. A label too long for the steps (which htr.train
        # never makes: _to_sample refuses it) costs 0 with no gradient instead of stopping the step.
        return tf.compat.v1.nn.ctc_loss(labels, tf.cast(logp, "float32"), out_len, time_major=False,
                                        ignore_longer_outputs_than_inputs=True)
    target_len = ops.sum(ops.cast(y_true >= 0, "int32"), axis=1)
    target = ops.where(y_true >= 0, y_true, 0)
    return ops.ctc_loss(target, logp, target_len, out_len, mask_index=BLANK)


def focal_ctc_loss(alpha: float, gamma: float):
    """Easter2's focal CTC: alpha * (1 - p)^gamma * CTC, p = exp(-CTC)."""
    from keras import ops

    def loss(y_true, y_pred):
        logp = ops.log(ops.clip(ops.cast(y_pred, "float32"), 1e-8, 1.0))
        ctc = ctc_loss(y_true, logp)
        p = ops.exp(-ctc)
        return alpha * ops.power(ops.maximum(1.0 - p, 1e-6), gamma) * ctc

    return loss


def greedy_texts(probs: np.ndarray) -> list[str]:
    """Fast numpy best-path decoding of a batch (B, T, C), for validation."""
    from htr.alphabet import decode

    out = []
    for path in probs.argmax(-1):
        keep = np.ones(len(path), bool)
        keep[1:] = path[1:] != path[:-1]
        out.append(decode([c for c in path[keep] if c != BLANK]))
    return out


def evaluate(model, lines: list[tuple[np.ndarray, str]], width: int, batch: int = 32) -> tuple[float, list[str]]:
    """Greedy CER of ``model`` on (image, text) pairs at the training layout."""
    hyps = []
    for i in range(0, len(lines), batch):
        chunk = lines[i : i + batch]
        preps = [prepare_line(g, width) for g, _ in chunk]
        x = np.stack([p.x for p in preps])
        probs = np.asarray(model.predict_on_batch(x), dtype=np.float32)
        hyps += [greedy_texts(pr[None, : p.content_steps])[0] for pr, p in zip(probs, preps)]
    from htr.metrics import aggregate

    return aggregate(zip((t for _, t in lines), hyps)).cer, hyps


def pixel_model(model, width: int):
    """``model`` behind a uint8 input: the graph scales pixels by 1/255 in float32.

    The same numbers as ``x.astype(float32) / 255`` on the host, which is what
    inference feeds; the weights are ``model``'s own (shared, not copied).
    """
    import keras

    pixels = keras.Input((width, HEIGHT), dtype="uint8", name="pixels")
    x = keras.layers.Rescaling(1.0 / 255.0, dtype="float32", name="to_unit")(pixels)
    return keras.Model(pixels, model(x), name="easter2_pixels")


# ---------------------------------------------------------------- loop
def _plot_curves(rows: list[dict], path: Path) -> None:
    """A small PNG of loss and validation CER per epoch (Pillow only, so it works anywhere).

    CER is drawn on a log scale from 0.5 % to 100 %, so that the late epochs,
    where the numbers that matter move by tenths of a point, stay visible;
    loss on a linear scale. Where the rows carry a ``stage`` (the shipped
    log), each stage's start is marked.
    """
    from PIL import Image, ImageDraw

    W, H, pad = 900, 420, 50
    img = Image.new("RGB", (W, H), "white")
    d = ImageDraw.Draw(img)
    d.text((pad, 10), "Easter2 training: loss (grey, linear) and validation CER (log scale, right axis)", fill="black")
    n = len(rows)
    if n < 1:
        img.save(path)
        return
    xs = [pad + (W - 2 * pad) * (i / max(1, n - 1)) for i in range(n)]
    lo, hi = math.log10(0.005), 0.0

    def y_cer(v: float) -> float:
        f = (math.log10(min(max(v, 0.005), 1.0)) - lo) / (hi - lo)
        return H - pad - (H - 2 * pad) * f

    def series(key, color, cer: bool):  # drawn over the epochs that have the column (a later stage may add one)
        have = [(x, float(r[key])) for x, r in zip(xs, rows) if r.get(key) not in (None, "")]
        if not have:
            return
        vals = [v for _, v in have]
        top = max(vals) or 1.0
        pts = [(x, y_cer(v) if cer else H - pad - (H - 2 * pad) * min(v / top, 1.0)) for x, v in have]
        if len(pts) > 1:
            d.line(pts, fill=color, width=3)
        label = f"{key} {vals[-1] * 100:.1f} %" if cer else f"{key} {vals[-1]:.2f}"
        d.text((pts[-1][0] - 150, pts[-1][1] - 14), label, fill=color)

    d.rectangle([pad, pad, W - pad, H - pad], outline="black")
    for v in (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0):  # CER grid
        y = y_cer(v)
        d.line([(pad, y), (W - pad, y)], fill=(225, 225, 225))
        d.text((W - pad + 4, y - 6), f"{v * 100:g}%", fill="black")
    last, ends = None, [float("-inf")] * 3  # where each row of stage labels ends
    for x, r in zip(xs, rows):
        if r.get("stage") and r["stage"] != last:
            d.line([(x, pad), (x, H - pad)], fill=(150, 150, 150))
            # the short name ("6a" of "6a-cpu-real-hands"), on the first row where it does not
            # run into the label before it (stages of few epochs sit close together)
            name = str(r["stage"]).split("-")[0]
            row = next((i for i, end in enumerate(ends) if x + 3 > end + 4), len(ends) - 1)
            d.text((x + 3, pad + 3 + 12 * row), name, fill=(90, 90, 90))
            ends[row] = x + 3 + d.textlength(name)
            last = r["stage"]
    series("loss", (120, 120, 120), cer=False)
    series("val_cer_synth", (30, 90, 200), cer=True)
    series("val_cer_real", (200, 40, 40), cer=True)
    series("val_cer_fonts", (30, 150, 60), cer=True)
    for key, color in (("val_cer_copiste", (150, 60, 170)), ("val_cer_poilus", (200, 130, 20)),
                       ("val_cer_unipen", (20, 150, 150))):
        series(key, color, cer=True)
    d.text((pad, H - pad + 8), f"epoch 1 ... {n}   blue: held-back synthetic lines, red: real validation lines"
           + (", green: fonts never trained on" if any(r.get("val_cer_fonts") not in (None, "") for r in rows) else "")
           + ("; stages named in the log's stage column" if any(r.get("stage") for r in rows) else ""),
           fill="black")
    img.save(path)


def train(cfg: Config, out_dir: Path, iam_dir: str | None, resume: bool, log=print) -> dict:
    import keras

    check_config(cfg)  # before anything is written (main has checked already; other callers may not)
    out_dir.mkdir(parents=True, exist_ok=True)
    backend = keras.backend.backend()
    gpu = _has_gpu(backend)
    if cfg.mixed_precision and gpu:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    keras.utils.set_random_seed(cfg.seed)
    log(f"backend={backend} gpu={gpu} config={json.dumps(asdict(cfg))}")
    (out_dir / "config.json").write_text(json.dumps(asdict(cfg), indent=2))

    from htr.model import build_easter2

    state_path = out_dir / "state.json"
    state = {"epoch": 0, "best": None, "bad_epochs": 0, "seconds": 0.0, "samples": 0}
    if resume and (out_dir / "last.keras").exists() and state_path.exists():
        model = keras.saving.load_model(out_dir / "last.keras", compile=False, safe_mode=True)
        state = json.loads(state_path.read_text())
        log(f"resumed from epoch {state['epoch']}")
    else:
        model = build_easter2()
        if cfg.init_weights:
            model.load_weights(cfg.init_weights)
            log(f"initialised from {cfg.init_weights}")
    optimizer = keras.optimizers.Adam(
        learning_rate=cfg.lr, clipnorm=5.0, use_ema=cfg.ema > 0, ema_momentum=cfg.ema or 0.99
    )
    if cfg.buckets:  # fed uint8 batches of grouped widths; shares model's weights
        from htr.model import LayoutTrainer

        trainer = LayoutTrainer(model, cfg.width, frozen_bn=cfg.frozen_bn)
    else:  # fed uint8 batches of the whole layout; shares model's weights
        trainer = pixel_model(model, cfg.width)
    trainer.compile(
        optimizer=optimizer,
        loss=focal_ctc_loss(cfg.focal_alpha, cfg.focal_gamma),
        jit_compile=backend == "jax",  # XLA was slower for TensorFlow on CPU
    )
    if resume and (out_dir / "optimizer.npz").exists():
        _restore_optimizer(trainer, out_dir / "optimizer.npz", log)
    if state.get("select", "real") != cfg.select and state["best"] is not None:
        log(f"select changed from {state.get('select', 'real')!r} to {cfg.select!r}: the best epoch is chosen afresh")
        state["best"], state["bad_epochs"] = None, 0
    state["select"] = cfg.select

    sets = validation_sets(cfg, iam_dir)
    described = _describe_sets(cfg, sets)
    log(described)
    if state.get("val_sets", described) != described and state["best"] is not None:
        log(f"validation sets changed (were: {state['val_sets']}): the best epoch is chosen afresh")
        state["best"], state["bad_epochs"] = None, 0
    state["val_sets"] = described

    feeder = Feeder(cfg, iam_dir)
    rows = _read_log(out_dir / "log.csv")
    t_start = time.time()
    budget = cfg.minutes * 60 - state["seconds"]
    total_budget = cfg.minutes * 60
    try:
        feeder.fill(min(cfg.buffer, max(cfg.batch * 8, 64)))
        it = iter(feeder)
        while state["epoch"] < cfg.epochs:
            elapsed = time.time() - t_start
            if elapsed >= budget:
                log("time budget used up")
                break
            e0 = time.time()
            losses = []
            for step in range(cfg.steps_per_epoch):
                frac = (state["seconds"] + time.time() - t_start) / total_budget
                gstep = state["epoch"] * cfg.steps_per_epoch + step
                lr = _lr(cfg, frac, gstep)
                trainer.optimizer.learning_rate.assign(lr)
                x, y = next(it)
                out = trainer.train_on_batch(x, y, return_dict=True)
                losses.append(float(out["loss"]))
                if time.time() - t_start >= budget:
                    break
            state["samples"] += len(losses) * cfg.batch
            state["epoch"] += 1
            raw = _swap_in_average(trainer) if cfg.ema > 0 else None  # validate and save the average
            cer_s, cer_r, cer_f, sel, cer_h = validate(model, cfg, sets)
            secs = time.time() - e0
            row = {
                "epoch": state["epoch"],
                "loss": round(float(np.mean(losses)), 5),
                "val_cer_synth": round(cer_s, 5),
                "val_cer_real": "" if cer_r is None else round(cer_r, 5),
                **({"val_cer_fonts": round(cer_f, 5)} if cer_f is not None else {}),
                **{f"val_cer_{k}": round(v, 5) for k, v in cer_h.items()},
                "selection_cer": round(sel, 5),
                "lr": round(lr, 7),
                "seconds": round(secs, 1),
                "samples_seen": state["samples"],
                "unique_samples": feeder.buffer.added,
                "steps_per_s": round(len(losses) / max(secs, 1e-6), 2),
            }
            rows.append(row)
            log(json.dumps(row))
            state["seconds"] += time.time() - e0
            may_be_best = eligible(cfg, cer_r)
            if not may_be_best:
                log(f"epoch {state['epoch']}: real validation CER {cer_r:.4f} is above real_max {cfg.real_max}: "
                    "it cannot be the best epoch")
            if may_be_best and (state["best"] is None or sel < state["best"]):
                state["best"], state["bad_epochs"] = sel, 0
                _save_clean_weights(model, out_dir / "best.weights.h5")
            else:
                state["bad_epochs"] += 1
            _save_clean_weights(model, out_dir / "last.weights.h5")
            if raw is not None:  # training goes on from the raw weights
                for v, value in zip(trainer.trainable_variables, raw):
                    v.assign(value)
            model.save(out_dir / "last.keras")
            _save_optimizer(trainer, out_dir / "optimizer.npz")
            state_path.write_text(json.dumps(state))
            _write_log(out_dir / "log.csv", rows)
            _plot_curves(rows, out_dir / "curves.png")
            if state["bad_epochs"] >= cfg.patience:
                log(f"early stop: no better validation CER for {cfg.patience} epochs")
                break
            t_start, budget = time.time(), budget - (time.time() - t_start)
    finally:
        feeder.close()
    return state


def validation_sets(cfg: Config, iam_dir: str | None) -> dict[str, list[tuple[np.ndarray, str]]]:
    """What every epoch is measured on: held-back synthetic lines in the training
    fonts (fixed seed, never trained on), lines in ``cfg.holdout_fonts`` (empty
    without), and the real lines of the Aachen validation split under ``iam_dir``."""
    train_fonts, held_fonts = split_fonts(cfg)
    return {
        "synth": _synthetic_set(cfg, iam_dir, seed=987654321, n=cfg.val_synth, fonts=train_fonts),
        "fonts": _synthetic_set(cfg, iam_dir, seed=87654321, n=cfg.val_synth, fonts=held_fonts) if held_fonts else [],
        "real": load_real_lines(iam_dir, "validation"),
        "hands": hand_validation_sets(cfg) if uses_hands(cfg) else {},
    }


def _describe_sets(cfg: Config, sets: dict) -> str:
    held = len(split_fonts(cfg)[1])
    hands = "".join(f", {len(v)} {k} lines" for k, v in sets.get("hands", {}).items())
    return (f"validation: {len(sets['synth'])} synthetic, {len(sets['real'])} real lines"
            + (f", {len(sets['fonts'])} lines in {held} fonts never trained on" if held else "") + hands)


def validate(model, cfg: Config, sets: dict) -> tuple[float, float | None, float | None, float, dict[str, float]]:
    """Greedy CER on each validation set (None where a set is empty), the one that selects,
    and the CER of each hand source's validation hands."""
    cer_s, _ = evaluate(model, sets["synth"], cfg.width)
    cer_r = evaluate(model, sets["real"], cfg.width)[0] if sets["real"] else None
    cer_f = evaluate(model, sets["fonts"], cfg.width)[0] if sets["fonts"] else None
    cer_h = {src: evaluate(model, lines, cfg.width)[0] for src, lines in sets.get("hands", {}).items() if lines}
    return cer_s, cer_r, cer_f, selection_cer(cfg, cer_r, cer_f, cer_s, cer_h), cer_h


def validate_weights(cfg: Config, weights: Path, iam_dir: str | None, log=print) -> dict:
    """Measure ``weights`` as a run with ``cfg`` would measure an epoch: the
    baseline a fine-tune's best epoch has to beat (same sets, seeds and code)."""
    from htr.model import build_easter2

    model = build_easter2()
    model.load_weights(weights)
    sets = validation_sets(cfg, iam_dir)
    log(_describe_sets(cfg, sets))
    cer_s, cer_r, cer_f, sel, cer_h = validate(model, cfg, sets)
    return {"weights": str(weights), "val_cer_synth": round(cer_s, 5),
            "val_cer_real": None if cer_r is None else round(cer_r, 5),
            "val_cer_fonts": None if cer_f is None else round(cer_f, 5),
            **{f"val_cer_{k}": round(v, 5) for k, v in cer_h.items()},
            "select": cfg.select, "selection_cer": round(sel, 5)}


def _lr(cfg: Config, frac: float, step: int) -> float:
    warm = min(1.0, (step + 1) / max(1, cfg.warmup_steps))
    cos = 0.5 * (1 + math.cos(math.pi * min(1.0, max(0.0, frac))))
    return cfg.lr_min + (cfg.lr - cfg.lr_min) * cos * warm


def _swap_in_average(trainer) -> list[np.ndarray]:
    """Put the optimizer's moving average into the trainable weights; return the raw values."""
    raw = [np.array(v.numpy()) for v in trainer.trainable_variables]
    trainer.optimizer.finalize_variable_values(trainer.trainable_variables)
    for v in trainer.trainable_variables:
        # own copies: under JAX the weight would share the average's buffer, which
        # the next training step donates (deletes)
        v.assign(np.array(v.numpy()))
    return raw


def _save_clean_weights(model, path: Path) -> None:
    """The model's weights alone (a compiled model's save_weights adds the optimizer: 3x the size)."""
    from htr.model import build_easter2

    clean = build_easter2()
    for dst, src in zip(clean.weights, model.weights):
        dst.assign(src)
    part = path.with_name(path.name + ".part.weights.h5")  # Keras wants the suffix
    clean.save_weights(part)
    os.replace(part, path)  # whole or not at all: a copier (tools/gpu_train.sh) never sees half a file


def _opt_key(opt, v) -> str:
    """A variable's path without the optimizer's own name ("adam/x" and "adam_1/x" are the same slot)."""
    head, _, rest = v.path.partition("/")
    return rest if rest and head == opt.name else v.path


def _save_optimizer(model, path: Path) -> None:
    """Optimizer state as a plain .npz (no pickle), keyed by each variable's path, for --resume."""
    variables = model.optimizer.variables
    names = [_opt_key(model.optimizer, v) for v in variables]
    if len(set(names)) != len(names):  # never seen, but then order is all there is
        names = [f"v{i}" for i in range(len(variables))]
    np.savez(path, **{n: np.asarray(v.numpy()) for n, v in zip(names, variables)})


def _restore_optimizer(model, path: Path, log=print) -> None:
    """Put back what :func:`_save_optimizer` saved, variable by variable, and say what could not be.

    A run resumed with another optimizer layout (``ema`` switched on, say)
    keeps the moments and step count it has; weight averages that were not
    saved start from the current weights (Keras would start them at zero,
    and with a restored step count the average would be dragged towards zero).
    """
    import re

    opt = model.optimizer
    opt.build(model.trainable_variables)
    variables = opt.variables
    done: set[int] = set()
    with np.load(path, allow_pickle=False) as saved:
        files = set(saved.files)
        if files and all(re.fullmatch(r"v\d+", f) for f in files):  # saved by position (before 2026-11-26)
            keys = [f"v{i}" for i in range(len(variables))] if len(files) == len(variables) else []
        else:
            keys = [k if k in files else None for k in (_opt_key(opt, v) for v in variables)]
        for i, (k, v) in enumerate(zip(keys, variables)):
            if k is not None and tuple(saved[k].shape) == tuple(v.shape):
                v.assign(saved[k])
                done.add(i)
    if len(done) < len(variables):
        log(f"optimizer state: {len(done)} of {len(variables)} variables restored from {path.name}; "
            f"the other {len(variables) - len(done)} start afresh")
    averages = getattr(opt, "_model_variables_moving_average", None) or []  # Keras' EMA slots (private)
    index = {id(v): i for i, v in enumerate(variables)}
    for var, avg in zip(getattr(opt, "_trainable_variables", []), averages):
        if avg is not None and index.get(id(avg)) not in done:
            avg.assign(var)


def _synthetic_set(cfg: Config, iam_dir: str | None, seed: int, n: int,
                   fonts: list[Path] | None = None) -> list[tuple[np.ndarray, str]]:
    from htr.data.synth.corpus import training_texts
    from htr.data.synth.render import LineRenderer

    rng = np.random.default_rng(seed)
    renderer = LineRenderer(fonts=fonts, seed=seed)
    texts = training_texts(Path(iam_dir) if iam_dir else None, rng)
    return [(renderer.render(t, rng), t) for t in (texts[i] for i in rng.integers(0, len(texts), n))]


def _has_gpu(backend: str) -> bool:
    try:
        if backend == "jax":
            import jax

            return any(d.platform == "gpu" for d in jax.devices())
        if backend == "torch":
            import torch

            return torch.cuda.is_available()
        import tensorflow as tf

        return bool(tf.config.list_physical_devices("GPU"))
    except Exception:
        return False


def _read_log(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with path.open() as f:
        return list(csv.DictReader(f))


def _write_log(path: Path, rows: list[dict]) -> None:
    keys = list(rows[-1].keys())
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)


# ---------------------------------------------------------------- CLI
def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    p = parser or argparse.ArgumentParser(prog="python -m htr train", description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", choices=sorted(PRESETS), default="cpu", help="schedule to start from (default: cpu)")
    p.add_argument("--config", type=Path, help="JSON file with Config fields overriding the preset")
    p.add_argument("--out", type=Path, default=Path("runs/easter2"), help="run folder (checkpoints, log, curves)")
    from htr.data.iam import default_iam_dir

    env_iam = default_iam_dir()
    p.add_argument("--iam-dir", default=str(env_iam) if env_iam else None,
                   help="IAM copy for texts/real lines (default: $IAM_DIR)")
    from htr.data.hands import default_hands_dir

    env_hands = default_hands_dir()
    p.add_argument("--hands-dir", default=str(env_hands) if env_hands else None,
                   help="real hands (copiste/, poilus/, unipen/) for the hand sources and their validation "
                        "hands (default: $HANDS_DIR, else ../shared/hands)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.keras")
    p.add_argument("--minutes", type=float, help="wall-clock budget of the optimisation loop")
    p.add_argument("--batch", type=int)
    p.add_argument("--workers", type=int, help="render worker processes")
    p.add_argument("--steps-per-epoch", type=int)
    p.add_argument("--real-weight", type=float, help="weight of real IAM training lines in the mix")
    p.add_argument("--init", help="start from these weights (fine-tuning), e.g. models/easter2.weights.h5")
    p.add_argument("--export", type=Path, help="copy the best weights here when done (e.g. models/easter2.weights.h5)")
    p.add_argument("--validate", type=Path, metavar="WEIGHTS",
                   help="train nothing: measure WEIGHTS on this config's validation sets, as an epoch would be")
    return p


def config_from_args(args) -> Config:
    cfg = Config(**asdict(PRESETS[args.preset]))
    if args.config:
        for k, v in json.loads(args.config.read_text()).items():
            if not hasattr(cfg, k):
                raise ValueError(f"{args.config}: unknown config field {k!r}")
            setattr(cfg, k, v)
    for flag, attr in (("minutes", "minutes"), ("batch", "batch"), ("workers", "workers"), ("steps_per_epoch", "steps_per_epoch")):
        if getattr(args, flag) is not None:
            setattr(cfg, attr, getattr(args, flag))
    if args.init:
        cfg.init_weights = args.init
    if getattr(args, "hands_dir", None) and not cfg.hands_dir and wants_hands(cfg):
        cfg.hands_dir = args.hands_dir
    if args.real_weight is not None:
        cfg.sources = dict(cfg.sources, iam=args.real_weight)
    return cfg


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        cfg = config_from_args(args)
        check_config(cfg)
    except (ValueError, OSError) as exc:  # a bad --config: one line, exit 2 (argparse's way)
        parser.error(str(exc))
    if args.validate is not None:
        if not args.validate.is_file():
            parser.error(f"--validate: no weights file {args.validate}")
        print(json.dumps(validate_weights(cfg, args.validate, args.iam_dir, log=lambda m: print(m, flush=True))))
        return 0
    state = train(cfg, args.out, args.iam_dir, args.resume, log=lambda m: print(m, flush=True))
    if args.export and (args.out / "best.weights.h5").exists():
        import shutil

        args.export.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(args.out / "best.weights.h5", args.export)
        print(f"exported {args.export}")
    print(json.dumps(state))
    return 0


if __name__ == "__main__":
    sys.exit(main())
