"""Adapt Easter2 to one writer: fine-tune a copy on a handful of that writer's lines.

A model that has never seen a writer misreads a good share of her letters; a
few minutes of her lines fix much of that. :func:`adapt` takes the loaded
model and a few (line image, text) pairs of one writer and returns a **new**
model trained on them within a wall-clock budget; the model it was given and
the weights files under ``models/`` are never changed.

How (the choices measured on validation hands: ``benchmarks/adapt.md``):

* the lines are turned level as the engine turns them before reading
  (:func:`htr.preprocess.deskew_line`), and the last ``held_out`` of them are
  kept back: never trained on, they measure the CER before and after and stop
  training early when it stops improving (the best weights are kept);
* every step trains on a batch drawn from the other lines, each drawn a little
  differently every time (:func:`htr.train.augment_real`: width ×0.8–1.25, a
  shear; TACo tiles blanked or noised, :func:`htr.data.synth.render.corrupt`),
  with the training loss of :mod:`htr.train` (focal CTC) and Adam at a low
  learning rate;
* batch normalisation keeps the statistics the model learned from thousands of
  writers (``bn="frozen"``): a batch of four lines of one writer is no
  estimate of them. Dropout stays on;
* steps compute only the first W columns of the 2000-column layout
  (:class:`htr.model.LayoutTrainer`, the same numbers as the whole layout), W
  fixed for one adaptation so the step is traced once.

Two other ways to train, options measured worse on validation hands and off by
default: ``crop`` (runs of words cut from the lines at the gaps the model's
alignment finds) and ``train="top"`` (only the head trains, on the trunk's
outputs for ``draws`` augmented samples of every line computed before the
first step: several times more steps a minute, :class:`htr.model.HeadTrainer`).

The compiled training graph is the slow part of the first adaptation in a
process (seconds); it is kept per (config, width) in a small process-wide
cache (a "bench") and reused, its optimizer and dropout state reset, so a
second adaptation starts at once. One adaptation runs at a time per process:
:data:`LOCK` (callers that want a queue, such as the app, wait on it).

No Streamlit here; Keras is imported when an adaptation starts.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Callable

import numpy as np

from htr.errors import HTRError

LAYOUT = 2000  # the model's input layout (htr.preprocess.WIDTH)
#: Input widths an adaptation may train at (the narrowest that holds every line, stretched).
WIDTHS = (512, 768, 1024, 1536, LAYOUT)
MAX_STRETCH = 1.25  # htr.train.augment_real stretches a line's width by up to this
MIN_CROP = 384  # the narrowest word crop (AdaptConfig.crop): the margin of htr.runtime.MARGIN plus a word or two


class AdaptError(HTRError):
    """The lines given cannot be adapted to (says which and why)."""


@dataclass(frozen=True)
class AdaptConfig:
    """How an adaptation trains (defaults: the choice of ``benchmarks/adapt.md``)."""

    lr: float = 1e-4
    batch: int = 4
    bn: str = "frozen"  # "frozen": the learned statistics; "train": each batch's (and update them)
    train: str = "all"  # "all" layers; "head": only the three Easter units and the head (stem fixed);
    #   "top": only the head (stem and units fixed), trained on their outputs computed once per drawn sample
    draws: int = 24  # train="top": samples drawn (augmented) per training line, computed before training
    slant: float = 8.0  # shear within ± this many degrees (augment_real)
    taco_prob: float = 0.2  # chance of TACo corruption per sample
    crop: int = 0  # 0: train on whole lines; else on runs of words cut from them, this many columns wide
    eval_every: int = 3  # steps between measurements on the held-back lines
    patience: int = 40  # measurements without a better held-back score before stopping
    keep: str = "best"  # "best": the weights of the best held-back measurement (early stopping);
    #   "last": train for the whole budget and keep the last weights, the held-back lines only measured
    #   before and after (so their CER after chose nothing)
    focal_alpha: float = 0.25
    focal_gamma: float = 0.5

    def __post_init__(self):
        if self.bn not in ("frozen", "train"):
            raise ValueError(f"bn must be 'frozen' or 'train', not {self.bn!r}")
        if self.keep not in ("best", "last"):
            raise ValueError(f"keep must be 'best' or 'last', not {self.keep!r}")
        if self.train not in ("all", "head", "top"):
            raise ValueError(f"train must be 'all', 'head' or 'top', not {self.train!r}")
        if not isinstance(self.draws, int) or isinstance(self.draws, bool) or self.draws < 1:
            raise ValueError(f"draws must be a whole number of at least 1, not {self.draws!r}")
        if self.train == "top" and self.crop:
            raise ValueError("train='top' reads whole lines: crop must be 0")
        if self.train == "top" and self.bn != "frozen":
            raise ValueError("train='top' keeps the learned batch statistics: bn must be 'frozen'")
        if not (self.lr > 0 and self.batch >= 1 and self.eval_every >= 1 and self.patience >= 1):
            raise ValueError("lr must be > 0; batch, eval_every and patience at least 1")
        if not isinstance(self.crop, int) or isinstance(self.crop, bool) or \
                (self.crop and not (MIN_CROP <= self.crop < LAYOUT and self.crop % 4 == 0)):
            raise ValueError(f"crop must be 0 or a multiple of 4 from {MIN_CROP} to {LAYOUT - 4}, not {self.crop}")


@dataclass(frozen=True)
class Point:
    """One point of the training curve: after ``step`` steps and ``seconds``, the mean training
    loss since the previous point, and the held-back CER where it was measured (else None)."""

    step: int
    seconds: float
    loss: float | None
    cer: float | None = None


@dataclass
class Progress:
    """What a progress callback gets after every step."""

    step: int
    seconds: float
    fraction: float  # of the time budget used (0..1)
    loss: float
    cer: float | None  # held-back CER, where this step measured it
    curve: list[Point]


@dataclass
class AdaptResult:
    """The adapted model and what the adaptation measured."""

    model: object  # a new keras Model (build_easter2 layout) holding the adapted weights
    cer_before: float | None  # greedy CER on the held-back lines before / after (None: none held back)
    cer_after: float | None
    before: list[str]  # readings of the held-back lines before / after
    after: list[str]
    held_texts: list[str]
    train_texts: list[str]
    curve: list[Point]
    steps: int
    best_step: int  # the step whose weights were kept (0: the model as given)
    seconds: float  # wall-clock of the whole adaptation, compiling included
    compile_seconds: float  # of which the first step, when it traced the training graph (0 when reused)
    stopped: str  # "time", "early" (held-back score stopped improving), "steps" (max_steps)
    width: int  # the input width it trained at (the crop width when it trained on word crops)
    config: AdaptConfig = field(default_factory=AdaptConfig)
    crops: int = 0  # word crops it drew its training samples from (0: whole lines)

    def summary(self) -> dict:
        """A JSON-able summary (no model)."""
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("model", "config", "curve")}
        d["config"] = asdict(self.config)
        d["curve"] = [asdict(p) for p in self.curve]
        return d


#: One adaptation at a time per process (the app's sessions queue on it: :class:`Turns`).
LOCK = threading.Lock()

#: Sentences to write for an adaptation: each one holds every letter a-z at least once (a
#: pangram), so any first few cover the alphabet; some add capitals, digits and punctuation.
PROMPTS = (
    "The quick brown fox jumps over the lazy dog.",
    "Pack my box with five dozen liquor jugs!",
    "Sphinx of black quartz, judge my vow.",
    "How vexingly quick daft zebras jump;",
    "The five boxing wizards jump quickly at 9.",
    "Jackdaws love my big sphinx of quartz.",
    "Waltz, bad nymph, for quick jigs vex (1842).",
    "Quick zephyrs blow, vexing daft Jim.",
    "Amazingly few discotheques provide jukeboxes.",
    "Bright vixens jump; dozy fowl quack: 3 or 6?",
)


class Turns:
    """First come, first served: whose adaptation runs and who waits, with each one's place.

    ``ticket = turns.join()``; ``turns.place(ticket)`` is 0 when it is that
    ticket's turn, else how many are ahead; ``turns.wait(ticket, timeout)``
    blocks until the place changes or ``timeout`` passes and returns it;
    ``turns.leave(ticket)`` (always, in a ``finally``) lets the next one go.
    """

    def __init__(self):
        self._cond = threading.Condition()
        self._line: list[int] = []
        self._next = 0

    def join(self) -> int:
        with self._cond:
            self._next += 1
            self._line.append(self._next)
            return self._next

    def place(self, ticket: int) -> int:
        with self._cond:
            return self._line.index(ticket) if ticket in self._line else 0

    def wait(self, ticket: int, timeout: float) -> int:
        with self._cond:
            if ticket in self._line and self._line.index(ticket) > 0:
                self._cond.wait(timeout)
            return self._line.index(ticket) if ticket in self._line else 0

    def leave(self, ticket: int) -> None:
        with self._cond:
            if ticket in self._line:
                self._line.remove(ticket)
            self._cond.notify_all()

    def __len__(self) -> int:
        with self._cond:
            return len(self._line)


#: The process's line of adaptations (the app's sessions).
TURNS = Turns()


# ---------------------------------------------------------------------------
# input


def default_held_out(n: int) -> int:
    """Lines kept back by default out of ``n``: 2 from 8 lines, 1 from 3, none below."""
    return 2 if n >= 8 else 1 if n >= 3 else 0


def check_lines(lines) -> list[tuple[np.ndarray, str]]:
    """The (gray uint8 (H, W), text) pairs as adapt uses them, or :class:`AdaptError` naming the line.

    A text must be non-empty and written only in the model's 79 characters
    (:mod:`htr.alphabet`; map other texts first with :func:`htr.data.text.to_iam`);
    an image must be a 2-D array with some ink and fit its text (at least a
    CTC step per character).
    """
    from htr.alphabet import CHARS, encode
    from htr.preprocess import prepare_line
    from htr.train import MAX_LABEL

    lines = list(lines)
    if not lines:
        raise AdaptError("no lines to adapt to")
    out = []
    for i, item in enumerate(lines, start=1):
        try:
            gray, text = item
        except (TypeError, ValueError):
            raise AdaptError(f"line {i}: expected an (image, text) pair") from None
        text = " ".join(str(text).split())
        if not text:
            raise AdaptError(f"line {i}: the text is empty")
        bad = sorted({c for c in text if c not in CHARS})
        if bad:
            raise AdaptError(f"line {i}: characters the model cannot write: {' '.join(bad)}")
        g = np.asarray(gray)
        if g.ndim == 3 and g.shape[2] in (3, 4):
            g = g[..., :3].mean(axis=2)
        if g.ndim != 2 or min(g.shape) < 2:
            raise AdaptError(f"line {i}: expected a gray line image, got shape {g.shape}")
        if g.dtype != np.uint8:
            g = np.clip(np.rint(g.astype(np.float64)), 0, 255).astype(np.uint8)
        if int(g.max()) - int(g.min()) < 16:
            raise AdaptError(f"line {i}: the image is blank (no ink)")
        label = encode(text)
        if len(label) > MAX_LABEL or len(label) + int(np.sum(label[1:] == label[:-1])) > \
                prepare_line(g, LAYOUT).content_steps:
            raise AdaptError(f"line {i}: the text is too long for the image ({len(text)} characters)")
        out.append((np.ascontiguousarray(g), text))
    return out


# ---------------------------------------------------------------------------
# the bench: a training copy of Easter2 with its compiled step, reused


class _Bench:
    """A copy of Easter2, its LayoutTrainer at one width, compiled, and the state to reset it."""

    def __init__(self, config: AdaptConfig, width: int):
        import keras

        from htr.model import build_easter2
        from htr.train import focal_ctc_loss

        self.width = width
        self.easter = build_easter2()
        self.trainer = self._trainer(config)
        # no XLA under TensorFlow ("auto" would use it on a GPU): the CTC kernel of htr.train.ctc_loss has
        # no XLA form; JAX compiles everything, as htr.train does
        self.trainer.compile(optimizer=keras.optimizers.Adam(learning_rate=config.lr, clipnorm=5.0),
                             loss=focal_ctc_loss(config.focal_alpha, config.focal_gamma),
                             jit_compile=keras.backend.backend() == "jax")
        self.trainer.optimizer.build(self.trainer.trainable_variables)
        self.opt_fresh = [np.array(v.numpy()) for v in self.trainer.optimizer.variables]
        self.seeds = [v for v in self.easter.variables if "seed_generator" in v.path]
        self.traced = False

    def _trainer(self, config: AdaptConfig):
        from htr.model import LayoutTrainer

        if config.train == "head":
            for layer in self.easter.layers:
                if layer.name.startswith("stem_"):
                    layer.trainable = False
        # frozen: batch norm normalises with the learned statistics in training too, and keeps them
        return LayoutTrainer(self.easter, LAYOUT, frozen_bn=config.bn == "frozen")

    def inputs(self, pixels: np.ndarray, width: int) -> np.ndarray:
        """What the trainer reads for laid-out lines ``pixels`` (N, LAYOUT, 80) uint8: their first ``width``
        columns (the bench's own width, or the held-back lines' when it trains on narrower crops)."""
        return pixels[:, :width]

    def reset(self, model, seed: int) -> None:
        """The given model's weights, a fresh optimizer, dropout seeded by ``seed``."""
        for dst, src in zip(self.easter.weights, model.weights):
            dst.assign(src)
        for v, value in zip(self.trainer.optimizer.variables, self.opt_fresh):
            v.assign(value)
        for i, v in enumerate(self.seeds):
            v.assign(np.array([seed * 7919 + i + 1, 0], dtype=np.int64))


class _TopBench(_Bench):
    """A bench that trains only the head (:class:`htr.model.HeadTrainer`) on trunk outputs computed beforehand."""

    def _trainer(self, config: AdaptConfig):
        from htr.model import HEAD_BLOCKS, HeadTrainer, trunk

        head = {name for block in HEAD_BLOCKS for name in block} | {"logits", "probs"}
        for layer in self.easter.layers:
            if layer.name not in head:
                layer.trainable = False
        self.trunk = trunk(self.easter)
        return HeadTrainer(self.easter, self.width // 4)

    def inputs(self, pixels: np.ndarray, width: int, chunk: int = 8) -> np.ndarray:
        """The trunk's output on the whole layout (dropout off), cut :data:`htr.model.HEAD_REACH` steps past
        W/4, as float16 (half the memory of a pool of draws; the head computes in float32). ``width`` must be
        the bench's: its head was built for W/4 steps."""
        from htr.model import HEAD_REACH

        if width != self.width:
            raise ValueError(f"this bench's head reads {self.width} columns, not {width}")

        keep = self.width // 4 + HEAD_REACH
        out = [np.asarray(self.trunk.predict_on_batch(pixels[i: i + chunk].astype(np.float32) / 255.0))[:, :keep]
               for i in range(0, len(pixels), chunk)]
        return np.concatenate(out).astype(np.float16)


_BENCHES: OrderedDict = OrderedDict()
_BENCHES_MAX = 2


def _bench(config: AdaptConfig, width: int) -> _Bench:
    key = (config.lr, config.bn, config.train, config.focal_alpha, config.focal_gamma, width)
    if key in _BENCHES:
        _BENCHES.move_to_end(key)
        return _BENCHES[key]
    while len(_BENCHES) >= _BENCHES_MAX:
        _BENCHES.popitem(last=False)
    _BENCHES[key] = bench = (_TopBench if config.train == "top" else _Bench)(config, width)
    return bench


def clear_cache() -> None:
    """Forget the compiled benches (the next adaptation compiles afresh, as a new process would)."""
    _BENCHES.clear()


# ---------------------------------------------------------------------------
# adapting


def copy_model(model):
    """A new Easter2 holding ``model``'s weights (shares nothing with it)."""
    from htr.model import build_easter2

    clean = build_easter2()
    for dst, src in zip(clean.weights, model.weights):
        dst.assign(np.array(src.numpy()))
    return clean


def _width_for(lines) -> int:
    """The narrowest of :data:`WIDTHS` that holds every line stretched by :data:`MAX_STRETCH`, its ink
    plus the margin past which padding is constant, and its label's CTC path (:func:`htr.train.needed_width`)."""
    from htr.alphabet import encode
    from htr.preprocess import prepare_line
    from htr.train import needed_width

    need = 0
    for gray, text in lines:
        ink = int(np.ceil(prepare_line(gray, LAYOUT).content * MAX_STRETCH))
        need = max(need, needed_width(ink, encode(text)))
    return next((w for w in WIDTHS if need <= w), LAYOUT)


def _draw(gray: np.ndarray, rng: np.random.Generator, config: AdaptConfig, lay):
    """A training sample of ``gray`` drawn a little differently every time (:func:`htr.train.augment_real`,
    TACo on ``config.taco_prob`` of them) and laid out by ``lay(image, check)``: up to four draws for one
    that ``lay`` accepts (not None), then the image as it is, laid out unchecked (its caller made sure it fits)."""
    from htr.data.synth.render import corrupt
    from htr.train import augment_real

    for _ in range(4):
        g = augment_real(gray, rng, config.slant)
        if rng.random() < config.taco_prob:
            g = corrupt(g, rng)
        sample = lay(g, True)
        if sample is not None:
            return sample
    return lay(gray, False)


def _sample(gray: np.ndarray, text: str, rng: np.random.Generator, config: AdaptConfig, width: int):
    """A whole line, framed as the engine frames it, with no ink past ``width`` (check_lines made sure it fits)."""
    from htr.train import _to_sample

    def lay(g, check):
        sample = _to_sample(g, text, LAYOUT)
        return sample if not check or (sample is not None and not sample[0][width:].any()) else None

    return _draw(gray, rng, config, lay)


def word_crops(model, lines, width: int) -> list[tuple[np.ndarray, str]]:
    """Runs of whole words cut from ``lines`` [(gray, text)] where ``model`` places them, each fitting ``width``.

    Each line is framed as the engine frames it and read once by ``model``
    (a Keras Easter2); the forced alignment of its text
    (:func:`htr.ctc.forced_align`) places every character on the time axis,
    and the line is cut in the middle of the gap between two words. Every run
    of consecutive words whose crop, stretched by :data:`MAX_STRETCH`, is
    computed at ``width`` columns as the whole layout computes it
    (:func:`htr.train.needed_width`) is returned, as (framed crop, its words):
    the crops keep the line's full height, so a word is drawn at the size it
    has in its line. A line whose text does not fit its time steps gives none.
    """
    from htr.alphabet import encode
    from htr.ctc import forced_align
    from htr.preprocess import HEIGHT, STRIDE, frame_line, prepare_line
    from htr.train import needed_width

    framed = [frame_line(g)[0] for g, _ in lines]
    if not framed:
        return []
    preps = [prepare_line(f, LAYOUT, frame=False) for f in framed]
    probs = np.asarray(model.predict_on_batch(np.stack([p.x for p in preps])), dtype=np.float32)
    out = []
    for f, p, pr, (_, text) in zip(framed, preps, probs, lines):
        words = text.split(" ")
        try:
            spans = forced_align(pr[: p.content_steps], text).spans
        except ValueError:
            continue
        if len(spans) != len(text):
            continue
        scale = HEIGHT / f.shape[0]  # a crop is laid out at this scale (a very wide line was squeezed: p.sx)
        bounds, k = [], 0
        for w in words:
            bounds.append((spans[k].start, spans[k + len(w) - 1].end))
            k += len(w) + 1
        # cut halfway between one word's last step and the next one's first (framed columns)
        cuts = [0] + [int(round((a_end + 1 + b_start) / 2 * STRIDE / p.sx))
                      for (_, a_end), (b_start, _) in zip(bounds, bounds[1:])] + [f.shape[1]]
        for i in range(len(words)):
            for j in range(i, len(words)):
                c0, c1 = cuts[i], cuts[j + 1]
                piece = " ".join(words[i: j + 1])
                if c1 - c0 < 2:
                    continue
                if needed_width(int(np.ceil((c1 - c0) * scale * MAX_STRETCH)), encode(piece)) > width:
                    break
                out.append((np.ascontiguousarray(f[:, c0:c1]), piece))
    return out


def _crop_sample(gray: np.ndarray, text: str, rng: np.random.Generator, config: AdaptConfig, width: int):
    """A word crop drawn as :func:`_sample` draws a line, laid out without framing it again: framing
    would crop it to its own ink's height and enlarge a word without ascenders or descenders
    (word_crops made sure the crop as it is fits ``width``)."""
    from htr.alphabet import encode
    from htr.preprocess import prepare_line
    from htr.train import MAX_LABEL, needed_width

    label = encode(text)[:MAX_LABEL]

    def lay(g, check):
        prep = prepare_line(g, LAYOUT, frame=False)
        if check and needed_width(prep.content, label) > width:
            return None
        return (prep.x * 255).astype(np.uint8), label

    return _draw(gray, rng, config, lay)


def _labels(labels) -> np.ndarray:
    """Encoded labels as the training step takes them: (N, MAX_LABEL) int32, padded with -1."""
    from htr.train import MAX_LABEL

    y = np.full((len(labels), MAX_LABEL), -1, np.int32)
    for i, label in enumerate(labels):
        y[i, : len(label)] = label
    return y


def _batch(samples, width: int):
    return np.stack([s[0][:width] for s in samples]), _labels([label for _, label in samples])


class _Held:
    """The held-back lines laid out once, as the bench reads them, with their labels."""

    def __init__(self, bench: _Bench, held, width: int):
        from htr.alphabet import encode
        from htr.preprocess import prepare_line

        self.texts = [t for _, t in held]
        preps = [prepare_line(g, LAYOUT) for g, _ in held]
        self.steps = [p.content_steps for p in preps]
        pixels = np.stack([(p.x * 255).astype(np.uint8) for p in preps])
        self.x = bench.inputs(pixels, width)
        self.y = _labels([encode(t) for t in self.texts])


def _measure(bench: _Bench, held: _Held) -> tuple[float, float, list[str]]:
    """(greedy CER, mean focal CTC loss, readings) of the bench's current weights on the held-back lines.

    The loss comes from the trainer's compiled test step, the same mean focal
    CTC the training step computes; computed eagerly it had cost seconds a
    measurement on the 2-core CPU (``benchmarks/adapt_validation_F.md`` against
    ``_G.md``: 27–30 steps in a whole minute before, 33–40 after). The held-back
    lines are laid out once per adaptation (:class:`_Held`)."""
    from htr.metrics import aggregate
    from htr.train import greedy_texts

    probs = np.asarray(bench.trainer.predict_on_batch(held.x), dtype=np.float32)
    texts = [greedy_texts(pr[None, :n])[0] for pr, n in zip(probs, held.steps)]
    loss = float(bench.trainer.test_on_batch(held.x, held.y, return_dict=True)["loss"])
    return aggregate(zip(held.texts, texts)).cer, loss, texts


def _pool(bench: _TopBench, train, rng: np.random.Generator, config: AdaptConfig, width: int,
          t0: float, seconds: float) -> tuple[np.ndarray, np.ndarray]:
    """``config.draws`` samples of every training line, drawn as :func:`_sample` draws them, as the head reads
    them (trunk outputs) with their labels: round after round of one draw per line, stopping early when
    half the time budget is gone (one round always). So on a slow machine, or with a short budget, a top
    adaptation draws fewer samples, and the same seed gives the same result only where the rounds match."""
    xs, ys = [], []
    for r in range(config.draws):
        if r and time.monotonic() - t0 > seconds / 2:
            break
        samples = [_sample(g, t, rng, config, width) for g, t in train]
        xs.append(bench.inputs(np.stack([s[0] for s in samples]), width))
        ys.append(_labels([label for _, label in samples]))
    return np.concatenate(xs), np.concatenate(ys)


def adapt(model, lines, seconds: float = 60.0, held_out: int | None = None,
          progress: Callable[[Progress], None] | None = None, config: AdaptConfig | None = None,
          seed: int = 0, max_steps: int | None = None) -> AdaptResult:
    """Fine-tune a copy of ``model`` on one writer's ``lines`` [(gray uint8, text)] for at most ``seconds``.

    The last ``held_out`` lines (default :func:`default_held_out`) are kept
    back: measured before, every ``config.eval_every`` steps and after; the
    weights with the best held-back CER (the lower loss on a tie) are kept,
    and training stops after ``config.patience`` measurements without a
    better one. With ``config.keep == "last"``, or without held-back lines,
    training runs for the whole budget and the last weights are kept; held-back
    lines are then measured only before and after, so their CER after chose nothing. The
    budget is wall-clock, compiling included, and checked before every step
    (a step that would not end within it is not started; the first step
    always runs). ``max_steps`` bounds the steps too. Same ``seed`` and
    steps, same result (with ``train="top"``: and the same number of rounds drawn, :func:`_pool`).

    ``progress`` is called after every step with a :class:`Progress`.
    Raises :class:`AdaptError` for unusable lines. ``model`` is never changed.
    """
    t0 = time.monotonic()
    config = config or AdaptConfig()
    lines = check_lines(lines)
    n_held = default_held_out(len(lines)) if held_out is None else int(held_out)
    if n_held < 0 or n_held >= len(lines):
        raise AdaptError(f"cannot hold back {n_held} of {len(lines)} lines: at least one must be left to train on")
    if seconds <= 0:
        raise AdaptError("the time budget must be more than 0 seconds")
    from htr.preprocess import deskew_line

    lines = [(deskew_line(g)[0], t) for g, t in lines]  # as the engine reads them
    train = lines[: len(lines) - n_held]
    held = lines[len(lines) - n_held:]
    width = measure_width = _width_for(lines)

    with LOCK:
        crops, crop_p = [], None
        if config.crop:
            crops = word_crops(model, train, config.crop)
        if crops:  # train on runs of words at the crop width; measure the held-back lines whole
            width = config.crop
            measure_width = _width_for(held) if held else width
            crop_p = np.array([len(t) for _, t in crops], dtype=np.float64)
            crop_p /= crop_p.sum()
        bench = _bench(config, width)
        bench.reset(model, seed)
        rng = np.random.default_rng(seed)
        curve: list[Point] = []
        before, after = [], []
        cer_before = cer_after = None
        best = None  # (cer, loss)
        best_weights, best_step = None, 0
        if held:
            held_in = _Held(bench, held, measure_width)
            cer_before, loss0, before = _measure(bench, held_in)
            best, after = (cer_before, loss0), before
        pool = _pool(bench, train, rng, config, width, t0, seconds) if isinstance(bench, _TopBench) else None
        curve.append(Point(0, round(time.monotonic() - t0, 3), None, cer_before))

        select = bool(held) and config.keep == "best"  # early stopping on the held-back lines
        step, bad, stopped = 0, 0, "time"
        compile_s = 0.0
        durations: list[float] = []
        losses: list[float] = []
        while True:
            if max_steps is not None and step >= max_steps:
                stopped = "steps"
                break
            elapsed = time.monotonic() - t0
            if durations:
                next_cost = max(durations[-5:]) * (1.0 + 0.5 * bool(held))
                if elapsed + next_cost > seconds:
                    break
            elif step > 0 and elapsed >= seconds:  # the first step always runs
                break
            s0 = time.monotonic()
            if pool is not None:
                picks = rng.integers(0, len(pool[0]), config.batch)
                x, y = pool[0][picks], pool[1][picks]
            elif crops:
                picks = rng.choice(len(crops), config.batch, p=crop_p)
                x, y = _batch([_crop_sample(*crops[i], rng, config, width) for i in picks], width)
            else:
                picks = rng.integers(0, len(train), config.batch)
                x, y = _batch([_sample(*train[i], rng, config, width) for i in picks], width)
            out = bench.trainer.train_on_batch(x, y, return_dict=True)
            losses.append(float(out["loss"]))
            step += 1
            dt = time.monotonic() - s0
            if not bench.traced:
                bench.traced, compile_s = True, dt
            else:
                durations.append(dt)
            cer = None
            if select and (step % config.eval_every == 0):
                cer, loss, texts = _measure(bench, held_in)
                if (cer, loss) < best:
                    best, best_step, bad, after = (cer, loss), step, 0, texts
                    best_weights = [np.array(v.numpy()) for v in bench.easter.weights]
                else:
                    bad += 1
            if select:  # a point where the held-back lines were measured
                point = cer is not None
            else:  # the loss only: every eval_every steps where lines are held back, else every step
                point = not held or step % config.eval_every == 0
            if point:
                curve.append(Point(step, round(time.monotonic() - t0, 3), round(float(np.mean(losses)), 5),
                                   None if cer is None else round(cer, 5)))
                losses = []
            if progress is not None:
                progress(Progress(step, time.monotonic() - t0, min(1.0, (time.monotonic() - t0) / seconds),
                                  float(out["loss"]), cer, list(curve)))
            if select and bad >= config.patience:
                stopped = "early"
                break

        if select:
            result_model = copy_model(model)
            if best_weights is not None:
                for v, value in zip(result_model.weights, best_weights):
                    v.assign(value)
            cer_after = best[0]
        else:  # the last weights
            result_model = copy_model(bench.easter)
            best_step = step
            if held:  # measured once, after
                cer_after, _, after = _measure(bench, held_in)
                loss_last = round(float(np.mean(losses)), 5) if losses else None
                if curve[-1].step == step:  # this step's point is there already: give it the CER
                    loss_last = curve.pop().loss
                curve.append(Point(step, round(time.monotonic() - t0, 3), loss_last, round(cer_after, 5)))
    return AdaptResult(model=result_model, cer_before=cer_before, cer_after=cer_after, before=before,
                       after=after, held_texts=[t for _, t in held], train_texts=[t for _, t in train],
                       curve=curve, steps=step, best_step=best_step, seconds=round(time.monotonic() - t0, 3),
                       compile_seconds=round(compile_s, 3), stopped=stopped, width=width, config=config,
                       crops=len(crops))


def read_lines(model, grays) -> list[str]:
    """Greedy readings of line images by a Keras Easter2 (an adapted one, or the one it came from):
    turned level and laid out as the engine does, in float32 through Keras (the engine reads in int8)."""
    from htr.preprocess import prepare_line
    from htr.train import greedy_texts

    preps = [prepare_line(np.asarray(g), LAYOUT, deskew=True) for g in grays]
    if not preps:
        return []
    probs = np.asarray(model.predict_on_batch(np.stack([p.x for p in preps])), dtype=np.float32)
    return [greedy_texts(pr[None, : p.content_steps])[0] for pr, p in zip(probs, preps)]


# ---------------------------------------------------------------------------
# weights out


def save_weights(model, path: str | os.PathLike) -> Path:
    """Write ``model``'s weights as a Keras ``.weights.h5`` file (whole or not at all)."""
    path = Path(path)
    if not path.name.endswith(".weights.h5"):
        raise AdaptError(f"{path}: the weights file's name must end in .weights.h5 (Keras' rule)")
    from htr.train import _save_clean_weights

    _save_clean_weights(model, path)
    return path


def weights_bytes(model) -> bytes:
    """``model``'s weights as the bytes of a ``.weights.h5`` file (the temporary file Keras needs is deleted at once)."""
    with tempfile.TemporaryDirectory(prefix="htr-adapt-") as tmp:
        p = Path(tmp) / "adapted.weights.h5"
        model.save_weights(p)
        return p.read_bytes()
