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


def test_a_wait_cut_short_sets_the_cancel_event_so_the_reading_stops():
    """Streamlit raises out of the page's progress update when the page reruns (Stop, or another click):
    the wait then sets the event, and the reading thread stops at its next box."""
    from app.slow import wait_for

    cancel = threading.Event()
    reader = FakeReader(on_box=lambda n: time.sleep(0.2))
    engine = engine_with(reader)
    outcome = {}

    def work():
        try:
            engine.recognize(PAGE, "page", cancel=cancel)
            outcome["end"] = "finished"
        except ReadingStopped:
            outcome["end"] = "stopped"

    thread = threading.Thread(target=work)
    thread.start()
    ticks = []

    def tick():
        ticks.append(1)
        if len(ticks) == 2:
            raise RuntimeError("the page reran")  # what StopException / RerunException do

    with pytest.raises(RuntimeError):
        wait_for(thread, cancel, tick, every=0.1)
    assert cancel.is_set()
    thread.join(5)
    assert outcome == {"end": "stopped"} and len(reader.recognised) < len(BOXES)
