"""Cached resources shared by every page and session.

* ``st.cache_resource``: one object per server process, shared by all sessions
  (the engines and their models, the IAM reader, the device description).
* ``st.cache_data``: per-image results, keyed by the image's content hash, so
  the same image is read once whoever uploads it.

Heavy imports (TensorFlow through the Easter2 engine) happen inside these
functions, never at import time, so the first page opens quickly.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st

from app.state import weights_choice
from htr.errors import EngineFailed, EngineUnavailable, HTRError
from htr.weights import DEFAULT_WEIGHTS, MODELS_DIR

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES_DIR = ROOT / "examples"

ENGINE_TITLES = {"easter2": "Easter2 (ours)", "easyocr": "EasyOCR", "tesseract": "Tesseract"}


def engine_names() -> tuple[str, ...]:
    """Names of every engine the library knows, ours first."""
    from htr.engines import ENGINE_NAMES

    return tuple(ENGINE_NAMES)


def engine_title(name: str) -> str:
    return ENGINE_TITLES.get(name, name)


# --------------------------------------------------------------------------
# engines


def get_engine(name: str, decoder: str = "greedy", weights: str | None = None):
    """The engine ``name``, built once per process (its model loads lazily).

    ``decoder`` ("greedy", "beam" or "lm") and ``weights`` (a file; default:
    this session's choice, else the shipped weights) matter to Easter2 only;
    the other engines are shared whatever is asked for. "lm" learns its
    language model from the IAM copy at ``IAM_DIR`` (see :func:`lm_available`).
    """
    if name != "easter2":
        return _engine(name, "greedy", "", "")
    lm_dir = str(iam_dir() or "") if decoder == "lm" else ""
    return _engine(name, decoder, weights_choice() if weights is None else weights, lm_dir)


@st.cache_resource(show_spinner=False)
def _engine(name: str, decoder: str, weights: str, lm_dir: str):
    from htr.engines import get_engine as _get_engine

    if decoder == "lm" and not lm_dir:
        raise EngineUnavailable(LM_NEEDS_IAM)
    return _get_engine(name, decoder=decoder, weights=weights or None, lm_dir=lm_dir or None)


LM_NEEDS_IAM = ("Beam search with a language model learns English from the transcriptions of IAM's "
                "training lines: set IAM_DIR to an IAM copy to use it.")


def lm_available() -> bool:
    """Whether the "lm" decoder has an IAM copy to learn from (it may still lack the split list)."""
    return iam_dir() is not None


#: A "reader" is an engine, or Easter2 with the language-model decoder (pages
#: that line readers up side by side show it as one more).
LM_READER = "easter2+lm"


def readers(names: list[str]) -> list[str]:
    """``names`` (engine names) with the LM reader after Easter2 where it can run."""
    out = list(names)
    if "easter2" in out and lm_available():
        out.insert(out.index("easter2") + 1, LM_READER)
    return out


def reader_title(reader: str) -> str:
    return f"{engine_title('easter2')} + language model" if reader == LM_READER else engine_title(reader)


def reader_engine(reader: str) -> tuple[str, str]:
    """The (engine, decoder) behind a reader."""
    return ("easter2", "lm") if reader == LM_READER else (reader, "greedy")


def try_read(reader: str, digest: str, layout: str, gray: np.ndarray):
    """:func:`try_recognize` for a reader: ``(result, error_message)``."""
    engine, decoder = reader_engine(reader)
    return try_recognize(engine, digest, layout, gray, decoder)


def weights_files() -> list[str]:
    """Easter2 weights files the app offers: every ``*.weights.h5`` under models/."""
    return sorted(str(p) for p in MODELS_DIR.glob("*.weights.h5"))


def availability() -> dict[str, tuple[bool, str]]:
    """For each engine: can it run here, and why not (or its version)."""
    return _availability(weights_choice())


@st.cache_resource(show_spinner=False, ttl=600)
def _availability(weights: str) -> dict[str, tuple[bool, str]]:
    result = {}
    for name in engine_names():
        try:
            result[name] = tuple(get_engine(name, weights=weights).availability())
        except HTRError as exc:
            result[name] = (False, str(exc))
        except Exception as exc:  # a broken optional dependency must not take the app down
            result[name] = (False, f"{type(exc).__name__}: {exc}")
    return result


def available_engines() -> list[str]:
    return [n for n, (ok, _) in availability().items() if ok]


def warm_easter2(decoder: str = "greedy") -> float:
    """Load Easter2's weights and run it once, once per process; returns the seconds."""
    return _warm_easter2(decoder, weights_choice())


@st.cache_resource(show_spinner="Loading the Easter2 model…")
def _warm_easter2(decoder: str, weights: str) -> float:
    t0 = time.perf_counter()
    get_engine("easter2", decoder, weights).warm_up()
    _availability.clear()  # the status now knows how the model reads (int8, or why not)
    return time.perf_counter() - t0


@st.cache_resource(show_spinner=False)
def device_description() -> str:
    """The device TensorFlow computes on: a GPU's name, or the CPU."""
    try:
        import tensorflow as tf
    except Exception as exc:  # pragma: no cover - TensorFlow is a dependency
        return f"unknown (TensorFlow not importable: {exc})"
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        names = []
        for gpu in gpus:
            details = tf.config.experimental.get_device_details(gpu)
            names.append(details.get("device_name", gpu.name))
        return "GPU: " + ", ".join(names)
    return f"CPU ({os.cpu_count()} cores) — TensorFlow {tf.__version__} sees no GPU"


# --------------------------------------------------------------------------
# per-image work, cached by content hash


def time_limit() -> float:
    """Seconds one engine may take on one image before the page gives up on it."""
    try:
        return max(1.0, float(os.environ.get("HTR_APP_TIMEOUT", "60")))
    except ValueError:
        return 60.0


@st.cache_resource(show_spinner=False)
def _workers():
    """Threads that run engines, so a page can stop waiting for one that hangs."""
    from concurrent.futures import ThreadPoolExecutor

    return ThreadPoolExecutor(max_workers=4, thread_name_prefix="htr-engine")


def recognize(name: str, digest: str, layout: str, _gray: np.ndarray, decoder: str = "greedy",
              cancel=None, progress=None):
    """``name`` reads the image whose content hash is ``digest`` (with this session's weights).

    ``cancel`` (a :class:`threading.Event`) stops a reader that can be stopped (``cancellable``:
    EasyOCR on a page, between text boxes) with :class:`htr.errors.ReadingStopped`; ``progress(done,
    total)`` hears of each step it finishes. Neither is part of the cache key.
    """
    return _recognize(name, digest, layout, _gray, decoder, weights_choice() if name == "easter2" else "",
                      cancel, progress)


@st.cache_data(max_entries=256, show_spinner=False)
def _recognize(name: str, digest: str, layout: str, _gray: np.ndarray, decoder: str, weights: str,
               _cancel=None, _progress=None):
    """``name`` reads the image whose content hash is ``digest``.

    Raises EngineUnavailable / EngineFailed (exceptions are not cached); an
    engine that takes longer than :func:`time_limit` is abandoned with
    EngineFailed (a cancellable one is stopped; another's thread finishes in the background).
    """
    import threading
    from concurrent.futures import TimeoutError as FutureTimeout

    engine = get_engine(name, decoder, weights)
    if name == "easter2":  # one-off setup (graph tracing) must not count as reading time
        _warm_easter2(decoder, weights)
    cancel = _cancel if _cancel is not None else threading.Event()
    if getattr(engine, "cancellable", False):
        future = _workers().submit(engine.recognize, _gray, layout=layout, cancel=cancel, progress=_progress)
    else:
        future = _workers().submit(engine.recognize, _gray, layout=layout)
    try:
        return future.result(timeout=time_limit())
    except FutureTimeout:
        cancel.set()  # a reader that can stop does, instead of running on unseen
        raise EngineFailed(
            f"{engine_title(name)} took longer than {time_limit():.0f} s on this image and was skipped"
        ) from None


def try_recognize(name: str, digest: str, layout: str, gray: np.ndarray, decoder: str = "greedy",
                  cancel=None, progress=None):
    """Like :func:`recognize`, but returns ``(result, error_message)``; ``(None, None)`` when stopped."""
    from htr.errors import ReadingStopped

    try:
        return recognize(name, digest, layout, gray, decoder, cancel, progress), None
    except ReadingStopped:
        return None, None
    except (EngineUnavailable, EngineFailed, HTRError) as exc:
        return None, str(exc)
    except Exception as exc:  # an engine bug must not take the page down
        return None, f"{engine_title(name)} failed: {type(exc).__name__}: {exc}"


def analyze(digest: str, _gray: np.ndarray):
    """Easter2's full analysis of a line (probabilities, gates, activations…)."""
    return _analyze(digest, _gray, weights_choice())


@st.cache_data(max_entries=128, show_spinner=False)
def _analyze(digest: str, _gray: np.ndarray, weights: str):
    return get_engine("easter2", weights=weights).analyze(_gray)


def lm_reading(digest: str, _probs: np.ndarray):
    """The language-model decoding of the *same* probabilities the views show (float path)."""
    return _lm_reading(digest, _probs, weights_choice(), str(iam_dir() or ""))


@st.cache_data(max_entries=128, show_spinner=False)
def _lm_reading(digest: str, _probs: np.ndarray, weights: str, lm_dir: str):
    from htr.lm import language_model, lm_beam_decode

    if not lm_dir:
        raise EngineUnavailable(LM_NEEDS_IAM)
    return lm_beam_decode(_probs, language_model(lm_dir))


def saliency(digest: str, step_start: int, step_end: int, char_index: int,
             _gray: np.ndarray) -> np.ndarray:
    """Gradient saliency (H, W) of class ``char_index`` at steps start..end over the line."""
    return _saliency(digest, step_start, step_end, char_index, _gray, weights_choice())


@st.cache_data(max_entries=64, show_spinner=False)
def _saliency(digest: str, step_start: int, step_end: int, char_index: int,
              _gray: np.ndarray, weights: str) -> np.ndarray:
    return get_engine("easter2", weights=weights).saliency(_gray, step_start, step_end, char_index)


@st.cache_data(max_entries=64, show_spinner=False)
def segment(digest: str, _gray: np.ndarray):
    """Text-line boxes of a page."""
    from htr.segment import segment_page

    return segment_page(_gray)


# --------------------------------------------------------------------------
# shipped examples and IAM


@dataclass(frozen=True)
class Example:
    """One of the example images shipped with the project (its own, or real hands under CC BY 4.0; never IAM)."""

    name: str
    path: Path
    text: str  # the true text (a real hand's: mapped into the model's 79 characters)
    kind: str  # "line" or "page"
    font: str = ""
    curated: bool = False  # offered in presentation mode
    credit: str = ""  # a real hand's credit line, shown wherever the image is
    given: str = ""  # a real hand's transcription as its collection gives it
    hand: str = ""  # a real hand's writer
    split: str = ""  # a real hand's split (models/training/hands_split.json)
    source: str = ""  # a real hand's collection (copiste, poilus, unipen)


@st.cache_data(show_spinner=False)
def examples() -> list[Example]:
    """The shipped examples, from ``examples/examples.json`` and the gallery's real lines
    (``examples/gallery/gallery.json``, :mod:`htr.data.gallery`) after them."""
    rows = []
    for index in (EXAMPLES_DIR / "examples.json", EXAMPLES_DIR / "gallery" / "gallery.json"):
        if index.is_file():
            rows += json.loads(index.read_text(encoding="utf-8"))
    return [
        Example(
            name=r["name"],
            path=EXAMPLES_DIR / r["file"],
            text=r["text"],
            kind=r.get("kind", "line"),
            font=r.get("font", ""),
            curated=bool(r.get("curated", False)),
            credit=r.get("credit", ""),
            given=r.get("given", ""),
            hand=r.get("hand", ""),
            split=r.get("split", ""),
            source=r.get("source", ""),
        )
        for r in rows
        if (EXAMPLES_DIR / r["file"]).is_file()
    ]


@st.cache_data(show_spinner=False)
def example_image(path: str) -> np.ndarray:
    from htr.images import load_image

    return load_image(path)


def iam_dir() -> Path | None:
    """The IAM folder named by ``IAM_DIR``, or None where unset or missing."""
    from htr.data.iam import default_iam_dir

    path = default_iam_dir(base=ROOT)
    return path if path is not None and path.is_dir() else None


@st.cache_resource(show_spinner="Reading the IAM index…")
def iam_reader(root: str):
    """The IAM reader for ``root`` (built once per process)."""
    from htr.data.iam import IAM

    return IAM(root)


def get_iam():
    """``(reader, None)`` or ``(None, reason)`` where IAM is not configured."""
    root = iam_dir()
    if root is None:
        raw = os.environ.get("IAM_DIR", "")
        reason = (
            f"IAM_DIR={raw!r} is not a folder" if raw.strip() else "IAM_DIR is not set"
        )
        return None, reason
    try:
        return iam_reader(str(root)), None
    except HTRError as exc:
        return None, str(exc)
    except ImportError as exc:
        return None, f"IAM reader not installed ({exc})"


@st.cache_data(max_entries=64, show_spinner=False)
def iam_line_image(root: str, line_id: str) -> np.ndarray:
    """An IAM line as gray (raises IAMError)."""
    return iam_reader(root).line_image(line_id)


@st.cache_data(max_entries=4, show_spinner="Loading the form scan…")
def iam_form_image(root: str, form_id: str) -> np.ndarray:
    """An IAM form scan as gray (raises IAMError)."""
    return iam_reader(root).form_image(form_id)


@st.cache_data(max_entries=8, show_spinner="Counting the splits…")
def iam_split_summary(root: str, scheme: str) -> list[dict]:
    """``IAM.split_summary`` of one scheme (raises IAMError for a malformed split list)."""
    return iam_reader(root).split_summary(scheme)


@st.cache_data(max_entries=8, show_spinner=False)
def iam_split_texts(root: str, scheme: str) -> dict[str, list[str]]:
    """The ground-truth lines of each split of ``scheme`` (raises IAMError)."""
    iam = iam_reader(root)
    return {name: [iam.lines[i].text for i in ids if i in iam.lines] for name, ids in iam.splits(scheme).items()}


IAM_HELP = """
**How to get IAM.** The IAM Handwriting Database (U. Marti and H. Bunke, 2002) is free
for non-commercial research to registered users and may not be redistributed, so this
app does not ship it.

1. Register at https://fki.tic.heia-fr.ch/register and accept the terms.
2. Fetch your own copy (your credentials stay in memory, nothing is stored):

```
export IAM_USERNAME=you@example.org IAM_PASSWORD=...
export IAM_DIR=$HOME/iam
python -m htr iam fetch
streamlit run streamlit_app.py
```

Until then every page works on the example images shipped with the app.
"""


# --------------------------------------------------------------------------
# how it learned: synthetic lines, the training log, the model card

TRAINING_LOG = MODELS_DIR / "training" / "log.csv"
MODEL_CARD = MODELS_DIR / "MODEL_CARD.md"


@st.cache_data(show_spinner=False)
def font_names() -> list[str]:
    from htr.data.synth.fonts import font_names as names

    return names()


@st.cache_data(show_spinner=False)
def seen_fonts() -> frozenset[str]:
    from htr.weights import fonts_seen_by_shipped_weights

    return fonts_seen_by_shipped_weights()


@st.cache_data(max_entries=64, show_spinner=False)
def _specimen(text: str, font: str | None, seed: int, knobs: tuple) -> tuple[np.ndarray, str]:
    from htr.data.synth.render import specimen

    return specimen(text, font, seed=seed, **dict(knobs))


def try_specimen(text: str, font: str | None, seed: int, **knobs) -> tuple[np.ndarray | None, str, str | None]:
    """A synthetic training-style line: ``(image, font used, None)`` or ``(None, "", why not)``."""
    try:
        image, used = _specimen(text, font, int(seed), tuple(sorted(knobs.items())))
        return image, used, None
    except ValueError as exc:
        return None, "", str(exc)


@st.cache_data(max_entries=16, show_spinner=False)
def training_batch(seed: int, n: int = 4) -> list[tuple[np.ndarray, str]]:
    """``n`` samples exactly as training makes them (random fonts, TACo, joined lines):
    (uint8 model input (80 rows x 2000 columns), label text)."""
    from htr.alphabet import decode
    from htr.train import Config, SampleMaker

    root = iam_dir()
    maker = SampleMaker(Config(sources={"synth": 1.0}), str(root) if root else None, seed=seed)
    out = []
    for _ in range(n):
        x, label = maker.make()
        out.append((np.ascontiguousarray(x.T), decode(label.tolist())))
    return out


def training_log() -> tuple[list[dict], str | None]:
    """Rows of the shipped model's training log, or ``([], why not)``."""
    import csv

    try:
        with TRAINING_LOG.open(newline="") as f:
            return list(csv.DictReader(f)), None
    except OSError as exc:
        return [], f"The training log {TRAINING_LOG.name} cannot be read here ({exc.strerror or exc})."


def model_card() -> str | None:
    try:
        return MODEL_CARD.read_text(encoding="utf-8")
    except OSError:
        return None


# --------------------------------------------------------------------------
# real hands (../shared/hands): a light line table per source, images of the lines shown


def hands_dir() -> Path | None:
    """The hands folder (``$HANDS_DIR``, else ``../shared/hands``), or None where there is none."""
    from htr.data.hands import default_hands_dir

    path = default_hands_dir()
    return path if path is not None and path.is_dir() else None


@st.cache_data(max_entries=8, show_spinner="Reading the line table (UNIPEN's pen strokes take a while, once)…")
def hand_table(root: str, source: str):
    """``(rows, committed)``: :func:`htr.data.hands.line_table` of one source (no pixels, no
    strokes). Raises DataError, or ImportError where the source's reader is not installed."""
    from htr.data.hands import line_table

    return line_table(source, root)


@st.cache_data(max_entries=32, show_spinner=False)
def hand_line_image(root: str, source: str, line_id: str, seed: int, _line) -> np.ndarray:
    """One shown line as gray (pen strokes rendered with ``seed``); raises DataError / ImportError."""
    from htr.data.hands import line_image

    return line_image(_line, seed, root)


# --------------------------------------------------------------------------
# your handwriting: adapting a copy of Easter2 to one session's writer (htr.adapt)


@st.cache_resource(show_spinner="Loading the Easter2 model…", max_entries=2)
def _base_model(weights: str):
    from htr.model import load_model

    return load_model(weights or None)


def base_model():
    """(the Keras Easter2 of this session's weights, None) or (None, why it cannot load).

    Shared by every session and never trained: :func:`htr.adapt.adapt` trains a copy.
    """
    try:
        return _base_model(weights_choice()), None
    except HTRError as exc:
        return None, str(exc)


def adapt_curve(curve: list[dict], loss_slot=None, cer_slot=None) -> None:
    """The training loss and the held-back CER (%) by step, as two small charts (in the slots given)."""
    import pandas as pd

    loss = pd.DataFrame({"training loss": [p["loss"] for p in curve if p["loss"] is not None]},
                        index=pd.Index([p["step"] for p in curve if p["loss"] is not None], name="step"))
    cer = pd.DataFrame({"held-back CER (%)": [100 * p["cer"] for p in curve if p["cer"] is not None]},
                       index=pd.Index([p["step"] for p in curve if p["cer"] is not None], name="step"))
    if loss_slot is None or cer_slot is None:
        loss_slot, cer_slot = st.columns(2)
    loss_slot.line_chart(loss, height=220, x_label="step", y_label="training loss")
    cer_slot.line_chart(cer, height=220, x_label="step", y_label="held-back CER (%)")


def adapt_session(lines, seconds: float, held_out: int):
    """Adapt a copy of this session's Easter2 to ``lines`` [(gray, text)]: (result, None) or (None, message).

    One adaptation at a time in the whole server (:data:`htr.adapt.TURNS`): a
    session that has to wait sees its place in the line. While it trains: a
    progress bar and the live curve. ``result``: ``{"model", "summary"}`` (the
    model is this session's: keep it in ``st.session_state`` only).
    """
    from dataclasses import asdict

    from htr.adapt import TURNS, AdaptError, adapt

    model, error = base_model()
    if error:
        return None, f"Easter2 cannot load, so it cannot adapt: {error}"
    ticket = TURNS.join()
    status = st.empty()
    try:
        while (place := TURNS.wait(ticket, 0.5)) > 0:
            status.info(f"Another session is adapting its model right now. You are number {place} in the "
                        "queue; yours starts on its own when the ones before it are done.")
        status.empty()
        bar = st.progress(0.0, text="Starting: preparing your lines (the first adaptation also builds the "
                                    "training graph, some seconds)…")
        loss_slot, cer_slot = st.columns(2)
        shown = {"n": 0}

        def progress(p) -> None:
            bar.progress(p.fraction, text=f"Training: step {p.step}, {p.seconds:.0f} of at most {seconds:.0f} s, "
                                          f"loss {p.loss:.2f}")
            if p.cer is not None and len(p.curve) > shown["n"]:
                shown["n"] = len(p.curve)
                adapt_curve([asdict(c) for c in p.curve], loss_slot, cer_slot)

        res = adapt(model, lines, seconds=seconds, held_out=held_out, progress=progress)
        bar.progress(1.0, text=f"Done: {res.steps} step{'s' if res.steps != 1 else ''} in {res.seconds:.0f} s.")
    except AdaptError as exc:
        return None, f"Cannot adapt to these lines: {exc}"
    finally:
        TURNS.leave(ticket)
        status.empty()
    return {"model": res.model, "summary": res.summary()}, None


def weights_bytes(model) -> bytes:
    """The adapted weights as a ``.weights.h5`` file's bytes (for a download button; nothing kept on disk)."""
    from htr.adapt import weights_bytes as _bytes

    return _bytes(model)
