"""Slow steps say so.

* A reader whose model is not in memory yet says what it loads and roughly how
  long that takes (:func:`reading_message`), instead of a bare "reading…".
* A reading known to be long (EasyOCR on a whole page: half a minute on a
  2-core CPU) is not started by itself: the page warns with an estimate and a
  button (:func:`confirm_long`), then shows a progress bar with a Stop button
  while it runs (:func:`read_with_progress`). Stop stops the computation, not
  only the wait: the reader looks at a cancel event between the page's text
  boxes (:meth:`htr.engines.easyocr_engine.EasyOCREngine.recognize`), and
  Stop's callback sets it (:func:`stop_reading`). Any other click lets the
  reading go on: the next run of the page waits for the same cached result
  instead of starting again.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import streamlit as st

from app import resources

#: What a reader loads the first time a server process uses it, and about how long it takes.
#: Easter2: benchmarks/startup.md (first line read 7.8 s after launch on a quiet 2-core CPU,
#: 6.3 s of it opening the page and loading); EasyOCR: its two PyTorch networks, torch's import included
#: (benchmarks/latency.md, "loading (build + warm-up)": 3.42 s on a quiet 2-core CPU, 2026-12-04).
LOADING = {
    "easter2": "loading TensorFlow and the Easter2 model — once per server, about 6 s on a quiet "
    "2-core CPU, longer on a busy one",
    "easyocr": "loading PyTorch and EasyOCR's two networks — once per server, about 3 s on a quiet "
    "2-core CPU, longer on a busy one",
}

#: Seconds per megapixel EasyOCR's page reader (detector + recogniser) takes on a 2-core CPU:
#: an IAM form scan (about 8.8 megapixels) took 26 s in the classroom review (issue 15).
EASYOCR_PAGE_S_PER_MPX = 3.0
#: A reading expected to take longer than this is confirmed first and shows its progress.
LONG_S = 10.0


def is_loaded(name: str) -> bool:
    """Whether engine ``name``'s model is already in this server's memory (reading it costs no load)."""
    try:
        engine = resources.get_engine(name)
    except Exception:  # noqa: BLE001 - an engine that cannot be built loads nothing
        return True
    if name == "easter2":
        return getattr(engine, "_model", None) is not None
    if name == "easyocr":
        return getattr(engine, "_reader", None) is not None
    return True


def reading_message(name: str) -> str:
    """The spinner text while ``name`` reads: what it loads first when it is cold."""
    title = resources.engine_title(name)
    if name in LOADING and not is_loaded(name):
        return f"{title}: {LOADING[name]}; then reading…"
    return f"{title} is reading…"


def expected_seconds(name: str, layout: str, gray: np.ndarray) -> float | None:
    """About how long ``name`` takes on this image, where that is known to be long; else None."""
    if name == "easyocr" and layout == "page":
        return max(2.0, EASYOCR_PAGE_S_PER_MPX * gray.size / 1e6)
    return None


def is_long(name: str, layout: str, gray: np.ndarray) -> bool:
    seconds = expected_seconds(name, layout, gray)
    return seconds is not None and seconds > LONG_S


def _go_key(key: str, digest: str) -> str:
    return f"{key}_go_{digest}"


def confirm_long(name: str, layout: str, gray: np.ndarray, digest: str, key: str) -> bool:
    """For a long reading: a warning with the estimate and a button; True once it was pressed.

    Readings that are not long (or are already cached) return True at once.
    """
    if not is_long(name, layout, gray) or st.session_state.get(_go_key(key, digest)):
        return True
    seconds = expected_seconds(name, layout, gray)
    st.warning(f"{resources.engine_title(name)} on a whole page is slow: about {seconds:.0f} s for this "
               f"image on this server's CPU. You can stop it while it runs (it stops after the text "
               "box it is on).")
    st.button(f"Read the page with {resources.engine_title(name)}", key=f"{key}_start",
              on_click=lambda: st.session_state.__setitem__(_go_key(key, digest), True))
    return False


def read_with_progress(name: str, digest: str, layout: str, gray: np.ndarray, key: str,
                       decoder: str = "greedy"):
    """:func:`resources.try_recognize`, with a progress bar and a Stop button for a long reading.

    The reading runs in a thread; the bar moves with the text boxes read (with the
    time spent against the estimate until the first box). Stop ends the reading
    itself: its callback (:func:`stop_reading`) sets the reading's cancel event and the
    reader stops after the box it is on. The page says it was stopped and does not
    start again until asked.
    Returns ``(result, error)``, or ``(None, None)`` when stopped.
    """
    if not is_long(name, layout, gray):
        with st.spinner(reading_message(name)):
            return resources.try_recognize(name, digest, layout, gray, decoder)
    go = _go_key(key, digest)
    if st.session_state.get(f"{key}_stopped") == digest:
        st.info(f"Stopped. {resources.engine_title(name)} did not finish reading this page.")
        st.button("Start again", key=f"{key}_again",
                  on_click=lambda: (st.session_state.__setitem__(go, True),
                                    st.session_state.pop(f"{key}_stopped", None)))
        return None, None
    from streamlit.runtime.scriptrunner import add_script_run_ctx, get_script_run_ctx

    expected = expected_seconds(name, layout, gray) or LONG_S
    out: dict = {}
    cancel = threading.Event()
    steps = [0, 0]  # text boxes read, of how many

    def work():
        out["value"] = resources.try_recognize(name, digest, layout, gray, decoder, cancel=cancel,
                                               progress=lambda done, total: steps.__setitem__(slice(None),
                                                                                              [done, total]))

    thread = threading.Thread(target=work, name=f"htr-long-{name}", daemon=True)
    add_script_run_ctx(thread, get_script_run_ctx())
    stop = st.empty()
    stop.button("Stop", key=f"{key}_stop", on_click=stop_reading, args=(key, digest, cancel),
                help="Stops the reading itself (after the text box it is on), not only the wait.")
    bar = st.progress(0.0, text=f"{resources.engine_title(name)} is reading the page…")
    t0 = time.monotonic()
    title = resources.engine_title(name)

    def tick():
        elapsed = time.monotonic() - t0
        done, total = steps
        if total:
            bar.progress(min(0.99, done / total), text=f"{title} has read {done} of {total} text boxes "
                         f"({elapsed:.0f} s)")
        else:
            note = "" if is_loaded(name) else f" ({LOADING.get(name, 'loading')})"
            bar.progress(min(0.95, elapsed / expected),
                         text=f"{title} is finding the text on the page{note}: {elapsed:.0f} s of "
                         f"about {expected:.0f} s")

    thread.start()
    while thread.is_alive():
        tick()
        thread.join(0.5)
    bar.empty()
    stop.empty()
    if cancel.is_set():  # stopped (the button's callback ran in this session)
        return None, None
    return out.get("value", (None, "the reading ended without a result"))


def stop_reading(key: str, digest: str, cancel: threading.Event) -> None:
    """Stop's callback: stop the reading itself (``cancel``: the reader stops after the text box it
    is on) and remember that this page's reading of ``digest`` was stopped (not started again)."""
    cancel.set()
    st.session_state[f"{key}_stopped"] = digest
    st.session_state.pop(_go_key(key, digest), None)
