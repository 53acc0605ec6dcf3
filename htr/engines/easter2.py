"""Our Easter2 model as an Engine, plus what the "inside the model" views need."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np

from htr import ctc
from htr.engines.base import Engine
from htr.errors import EngineFailed, EngineUnavailable
from htr.preprocess import WIDTH, Prepared, prepare_line
from htr.types import Box, Recognition


@dataclass(frozen=True)
class Analysis:
    """Everything one forward pass tells about a line."""

    prepared: Prepared
    probs: np.ndarray  # (T, C) softmax over the content time steps
    gates: tuple[np.ndarray, ...]  # per Easter unit: (256,) SE gate values in [0, 1]
    activations: tuple[np.ndarray, ...]  # per Easter unit: (T, 256) after the unit's ReLU
    greedy: ctc.Decoded
    beam: ctc.Decoded | None = None


class Easter2Engine(Engine):
    name = "easter2"
    title = "Easter2 (ours)"

    def __init__(self, weights=None, decoder: str = "greedy", width: int | None = WIDTH):
        if decoder not in ("greedy", "beam"):
            raise ValueError(f"unknown decoder {decoder!r}: use 'greedy' or 'beam'")
        self.weights = weights
        self.decoder = decoder
        self.width = width
        self._model = None
        self._inspector = None
        self._error: str | None = None
        self._lock = threading.Lock()

    # -- loading -----------------------------------------------------------
    def _load(self):
        with self._lock:
            if self._model is None and self._error is None:
                try:
                    from htr.model import load_model

                    self._model = load_model(self.weights)
                except EngineUnavailable as exc:
                    self._error = str(exc)
            if self._model is None:
                raise EngineUnavailable(self._error)
            return self._model

    def availability(self) -> tuple[bool, str]:
        from htr.model import weights_path

        p = weights_path(self.weights)
        if self._error:
            return False, self._error
        if not p.is_file():
            return False, f"no trained Easter2 weights at {p}"
        return True, f"weights {p.name} ({p.stat().st_size / 1e6:.1f} MB)"

    def warm_up(self) -> None:
        """Load the model and run it once so the first real call is fast."""
        model = self._load()
        model.predict_on_batch(np.zeros((1, self.width or WIDTH, 80), np.float32))

    # -- running -----------------------------------------------------------
    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Softmax (B, T, C) for a prepared batch (B, W, 80)."""
        model = self._load()
        return np.asarray(model.predict_on_batch(batch))

    def _decode(self, probs: np.ndarray) -> ctc.Decoded:
        if self.decoder == "beam":
            return ctc.beam_decode(probs)
        return ctc.greedy_decode(probs)

    def read_lines(self, grays: list[np.ndarray]) -> list[ctc.Decoded]:
        """Decode several line images in one batch."""
        preps = [prepare_line(g, self.width) for g in grays]
        batch = np.stack([p.x for p in preps]) if self.width else _pad([p.x for p in preps])
        probs = self.predict(batch)
        return [self._decode(pr[: p.content_steps]) for pr, p in zip(probs, preps)]

    def recognize(self, image: np.ndarray, layout: str = "line") -> Recognition:
        if layout not in ("line", "page"):
            raise ValueError(f"unknown layout {layout!r}: use 'line' or 'page'")
        self._load()
        t0 = time.perf_counter()
        try:
            if layout == "page":
                from htr.segment import segment_page

                boxes = segment_page(image) or [Box(0, 0, image.shape[1], image.shape[0])]
                crops = [image[b.y : b.y + b.h, b.x : b.x + b.w] for b in boxes]
                decs = self.read_lines(crops)
                secs = time.perf_counter() - t0
                lines = tuple(
                    Recognition(d.text, secs / len(decs), self.name, d.char_probs, box=b)
                    for d, b in zip(decs, boxes)
                )
                text = "\n".join(r.text for r in lines)
                probs = tuple(p for r in lines for p in r.char_probs + (1.0,))[:-1]
                return Recognition(text, secs, self.name, probs, lines=lines)
            (dec,) = self.read_lines([image])
        except EngineUnavailable:
            raise
        except Exception as exc:  # a backend failure on one input
            raise EngineFailed(f"easter2 failed: {type(exc).__name__}: {exc}") from None
        return Recognition(dec.text, time.perf_counter() - t0, self.name, dec.char_probs)

    def analyze(self, image: np.ndarray, beam: bool = True) -> Analysis:
        """One forward pass with the SE gates and unit activations, decoded both ways."""
        model = self._load()
        if self._inspector is None:
            from htr.model import inspector

            self._inspector = inspector(model)
        prep = prepare_line(image, self.width)
        out = self._inspector.predict_on_batch(prep.x[None])
        n = prep.content_steps
        probs = np.asarray(out["probs"])[0, :n]
        gates = tuple(np.asarray(out[f"unit{u}_gate"])[0] for u in (1, 2, 3))
        acts = tuple(np.asarray(out[f"unit{u}_out"])[0, :n] for u in (1, 2, 3))
        return Analysis(
            prep, probs, gates, acts, ctc.greedy_decode(probs), ctc.beam_decode(probs) if beam else None
        )

    def saliency(self, image: np.ndarray, step_start: int, step_end: int, char_index: int) -> np.ndarray:
        """|d log p(char at steps start..end) / d input| mapped back to image pixels (H, W)."""
        import tensorflow as tf

        model = self._load()
        prep = prepare_line(image, self.width)
        x = tf.convert_to_tensor(prep.x[None])
        with tf.GradientTape() as tape:
            tape.watch(x)
            probs = model(x, training=False)
            target = tf.reduce_sum(tf.math.log(probs[0, step_start : step_end + 1, char_index] + 1e-9))
        grad = np.abs(tape.gradient(target, x).numpy()[0])  # (W, 80)
        sal = grad[: prep.content].T  # (80, content)
        from PIL import Image

        h, w = prep.orig_shape
        img = Image.fromarray(sal.astype(np.float32), mode="F").resize((w, h), Image.Resampling.BILINEAR)
        out = np.asarray(img)
        return out / out.max() if out.max() > 0 else out


def _pad(xs: list[np.ndarray]) -> np.ndarray:
    width = max(x.shape[0] for x in xs)
    batch = np.zeros((len(xs), width, xs[0].shape[1]), np.float32)
    for i, x in enumerate(xs):
        batch[i, : x.shape[0]] = x
    return batch
