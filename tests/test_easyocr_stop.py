"""EasyOCR's Stop stops the computation, not only the wait (issue 15).

A page read by EasyOCR takes half a minute on a 2-core CPU. The app's Stop button
used to end the page's wait while EasyOCR ran on in the background; now the
engine reads a page box by box and looks at a cancel event between boxes, and
the page sets that event when Stop is pressed or its run is cut short. A fake
reader stands in for EasyOCR's networks (no torch run here): what is checked is
how many boxes are still recognised after the event is set.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from htr.engines.easyocr_engine import EasyOCREngine, group_lines
from htr.errors import ReadingStopped

BOXES = [[10 * i, 10 * i + 8, 5, 15] for i in range(6)]  # six text boxes, [x0, x1, y0, y1]


class FakeReader:
    """EasyOCR's Reader: detect() finds six boxes; recognize() reads one, calling ``on_box`` first."""

    def __init__(self, on_box=None):
        self.recognised: list = []
        self.on_box = on_box or (lambda n: None)

    def detect(self, img, canvas_size=2560, reformat=True):
        assert img.ndim == 3 and img.shape[2] == 3 and not reformat  # as readtext hands it over
        return [BOXES], [[]]

    def recognize(self, gray, horizontal_list, free_list, detail=1, paragraph=False, reformat=True):
        (b,) = horizontal_list
        self.on_box(len(self.recognised))
        self.recognised.append(b)
        pts = [[b[0], b[2]], [b[1], b[2]], [b[1], b[3]], [b[0], b[3]]]
        return [(pts, f"w{len(self.recognised)}", 0.9)]

    def readtext(self, gray, detail=1, paragraph=False, canvas_size=2560):  # the one-call path it replaces
        return [r for b in BOXES for r in self.recognize(gray, [b], [])]


def engine_with(reader) -> EasyOCREngine:
    engine = EasyOCREngine(threads=None)
    engine._availability = (True, "fake reader")
    engine._reader, engine._reader_has_detector = reader, True
    return engine


PAGE = np.full((40, 80), 255, np.uint8)


def test_a_page_read_box_by_box_gives_readtexts_lines():
    done = []
    result = engine_with(FakeReader()).recognize(PAGE, "page", progress=lambda d, t: done.append((d, t)))
    expected = group_lines(FakeReader().readtext(PAGE))
    assert [line.text for line in result.lines] == [line.text for line in expected] == ["w1 w2 w3 w4 w5 w6"]
    assert done == [(i, 6) for i in range(1, 7)]  # the progress bar hears of every box


def test_a_set_cancel_event_stops_the_reading_between_boxes():
    cancel = threading.Event()
    reader = FakeReader(on_box=lambda n: cancel.set() if n == 1 else None)  # Stop pressed while box 2 is read
    with pytest.raises(ReadingStopped, match="after 2 of 6 text boxes"):
        engine_with(reader).recognize(PAGE, "page", cancel=cancel)
    assert len(reader.recognised) == 2  # boxes 3 to 6 never computed
    # and the engine is free again for the next reading
    assert engine_with(FakeReader()).recognize(PAGE, "page").text


def test_stopped_before_it_starts_reads_nothing():
    cancel = threading.Event()
    cancel.set()
    reader = FakeReader()
    with pytest.raises(ReadingStopped):
        engine_with(reader).recognize(PAGE, "page", cancel=cancel)
    assert reader.recognised == []


def test_try_recognize_passes_the_event_and_says_stopped_as_none_none(monkeypatch):
    from app import resources

    cancel = threading.Event()
    cancel.set()
    reader = FakeReader()
    monkeypatch.setattr(resources, "get_engine", lambda *a, **k: engine_with(reader))
    assert resources.try_recognize("easyocr", "stop-test", "page", PAGE, cancel=cancel) == (None, None)
    assert reader.recognised == []


def _page_reading():
    import numpy as np
    import streamlit as st

    from app import slow

    gray = np.full((2000, 3000), 255, np.uint8)  # 6 megapixels: a page, a long reading
    st.session_state["t_go_d1"] = True  # its warning already confirmed
    result, error = slow.read_with_progress("easyocr", "d1", "page", gray, "t")
    st.write("stopped" if result is None and error is None else f"read: {result}")


def test_stop_pressed_while_a_page_is_read_stops_the_reader(monkeypatch):
    """Stop's callback (slow.stop_reading, what the button calls) reaches the reader running in its
    thread: the reader stops after the box it is on, and the page says stopped, not a result."""
    from streamlit.testing.v1 import AppTest

    from app import resources, slow

    seen = {}
    # the user presses Stop while the second box is read (the callback, in this session)
    reader = FakeReader(on_box=lambda n: slow.stop_reading("t", "d1", seen["cancel"]) if n == 1 else None)
    engine = engine_with(reader)

    def read(name, digest, layout, gray, decoder="greedy", cancel=None, progress=None):
        seen["cancel"] = cancel
        try:
            return engine.recognize(gray, "page", cancel=cancel, progress=progress), None
        except ReadingStopped:
            return None, None

    monkeypatch.setattr(resources, "try_recognize", read)
    monkeypatch.setattr(slow, "is_loaded", lambda name: True)
    at = AppTest.from_function(_page_reading, default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    assert seen["cancel"].is_set()
    assert 1 <= len(reader.recognised) < len(BOXES)  # the boxes after the Stop never computed
    assert any(m.value == "stopped" for m in at.markdown)
