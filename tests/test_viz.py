"""htr.viz: figures are built from arrays, with the structure the pages rely on."""

from __future__ import annotations

import base64
import io
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from htr import viz
from htr.alphabet import BLANK, CHARS, NUM_CLASSES
from htr.metrics import char_diff
from htr.types import Box


def _line(h=60, w=500):
    rng = np.random.default_rng(0)
    return (200 + rng.integers(0, 50, (h, w))).astype(np.uint8)


def _probs(T=100, hot=None):
    """Mostly blank; class ``c`` at steps ``hot[c]``."""
    p = np.full((T, NUM_CLASSES), 0.001, np.float32)
    p[:, BLANK] = 1.0
    for c, steps in (hot or {}).items():
        for t in steps:
            p[t, :] = 0.001
            p[t, c] = 1.0
    return p / p.sum(axis=1, keepdims=True)


def _decode_uri(uri: str) -> Image.Image:
    assert uri.startswith("data:image/png;base64,")
    return Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))


def test_plot_line_places_image_in_pixel_coordinates():
    g = _line(40, 300)
    fig = viz.plot_line(g, title="a line")
    (im,) = fig.layout.images
    assert (im.sizex, im.sizey, im.x, im.y) == (300, 40, 0, 0)
    assert tuple(fig.layout.xaxis.range) == (0, 300)
    assert tuple(fig.layout.yaxis.range) == (40, 0)  # rows grow downwards
    assert _decode_uri(im.source).size == (300, 40)
    assert fig.layout.title.text == "a line"


def test_large_images_are_downscaled_for_display_but_keep_coordinates():
    g = np.full((3000, 2000), 255, np.uint8)
    fig = viz.plot_line(g)
    im = fig.layout.images[0]
    assert (im.sizex, im.sizey) == (2000, 3000)
    assert max(_decode_uri(im.source).size) == viz.MAX_DISPLAY_SIDE


def test_plot_line_rejects_non_2d():
    with pytest.raises(ValueError, match="2-D"):
        viz.plot_line(np.zeros((4, 4, 3), np.uint8))


def test_plot_ctc_shares_x_axis_in_image_columns_and_shows_active_rows():
    a, b = CHARS.index("a"), CHARS.index("b")
    probs = _probs(50, {a: [10], b: [30, 31]})
    cols = np.arange(50) * 10 + 5.0
    fig = viz.plot_ctc(_line(60, 500), probs, cols, decoded=[("a", 95, 110, 0.9)])
    heat = next(d for d in fig.data if d.type == "heatmap")
    # only the classes that occur (a, b) and the blank are rows
    assert list(heat.y) == ["a", "b", "∅"]
    assert heat.z.shape == (3, 50)
    np.testing.assert_allclose(heat.x, cols)
    assert heat.zmin == 0 and heat.zmax == 1
    # the image and the heatmap are on one shared x axis, in image columns
    assert fig.layout.images[0].xref == "x"
    assert heat.xaxis == "x2" and fig.layout.xaxis.matches == "x2"
    assert tuple(fig.layout.xaxis2.range) == (0, 500)
    # top-k hover on the most-likely markers: step 30 has b first
    best = next(d for d in fig.data if d.name == "most likely per step")
    assert best.y[30] == "b" and best.y[0] == "∅"
    assert best.customdata[30].startswith("b  0.93")
    assert best.customdata[30].count("<br>") == 2  # top 3
    # decoded span drawn as a box with its label
    spans = next(d for d in fig.data if d.name == "read by the model")
    assert list(spans.text) == ["a"] and spans.x[0] == pytest.approx(102.5)


def test_plot_ctc_all_rows_and_shape_mismatch():
    probs = _probs(20)
    fig = viz.plot_ctc(_line(), probs, np.arange(20.0), rows="all")
    heat = next(d for d in fig.data if d.type == "heatmap")
    assert len(heat.y) == NUM_CLASSES and heat.y[0] == "␣"
    with pytest.raises(ValueError, match="do not match"):
        viz.plot_ctc(_line(), probs, np.arange(19.0))


def test_spans_to_columns_uses_the_mapping():
    spans = [SimpleNamespace(char="h", start=2, end=3, prob=0.8)]
    out = viz.spans_to_columns(spans, lambda s, e: (s * 4 / 0.5, (e + 1) * 4 / 0.5))
    assert out == [("h", 16.0, 32.0, 0.8)]


def test_plot_spans_draws_decoded_and_aligned_boxes():
    fig = viz.plot_spans(_line(50, 400), [("a", 0, 10, 0.5), ("b", 10, 20, 0.9)], [("a", 1, 9, 0.4)])
    rects = [s for s in fig.layout.shapes if s.type == "rect"]
    assert len(rects) == 3
    names = [d.name for d in fig.data]
    assert "read by the model" in names and "true text, aligned" in names
    aligned = next(d for d in fig.data if d.name == "true text, aligned")
    assert aligned.y[0] > 50  # labels below the image


def test_plot_page_boxes_and_escaped_labels():
    boxes = [Box(10, 20, 300, 40), Box(12, 80, 280, 42)]
    fig = viz.plot_page(_line(200, 400), boxes, ["first <b>line</b>", "second"])
    rects = [s for s in fig.layout.shapes if s.type == "rect"]
    assert [(r.x0, r.y0, r.x1, r.y1) for r in rects] == [(10, 20, 310, 60), (12, 80, 292, 122)]
    lines = next(d for d in fig.data if d.name == "lines")
    assert list(lines.text) == ["1", "2"]
    assert rects[0].line.width == rects[1].line.width
    marked = [s for s in viz.plot_page(_line(200, 400), boxes, highlight=1).layout.shapes]
    assert marked[1].line.width > marked[0].line.width
    assert marked[1].line.color != marked[0].line.color
    assert lines.customdata[0] == "first &lt;b&gt;line&lt;/b&gt;"


def test_char_confidence_colours_and_length_check():
    fig = viz.plot_char_confidence("ab c", [0.95, 0.7, 0.99, 0.2])
    bar = fig.data[0]
    assert list(bar.y) == [0.95, 0.7, 0.99, 0.2]
    assert list(bar.text) == ["a", "b", "␣", "c"]
    assert list(fig.layout.xaxis.ticktext) == ["a", "b", "␣", "c"]
    assert bar.marker.color[0] != bar.marker.color[1] != bar.marker.color[3]
    with pytest.raises(ValueError):
        viz.plot_char_confidence("ab", [0.5])


def test_se_gates_single_and_comparison():
    g = [np.linspace(0, 1, 256)] * 3
    fig = viz.plot_se_gates(g)
    assert fig.data[0].z.shape == (3, 256)
    o = [np.full(256, 0.5)] * 3
    fig = viz.plot_se_gates(g, o, names=("A", "B"))
    assert [d.name for d in fig.data] == ["A", "B", "difference"]
    diff = fig.data[2].z
    assert diff[0, 0] == pytest.approx(-0.5) and diff[0, -1] == pytest.approx(0.5)
    assert fig.data[2].zmin == -fig.data[2].zmax
    with pytest.raises(ValueError, match="differ"):
        viz.plot_se_gates(g, [np.zeros(10)] * 3)


def test_top_channels():
    g = np.zeros(256)
    g[[7, 3]] = [0.9, 0.8]
    assert viz.top_channels(g, k=2) == [7, 3]
    other = g.copy()
    other[100] = 1.0
    assert viz.top_channels(g, other, k=1) == [100]


def test_activations_traces_per_channel():
    act = np.random.default_rng(1).random((40, 256))
    cols = np.arange(40) * 4 + 2.0
    fig = viz.plot_activations(_line(50, 160), act, cols, [3, 9])
    traces = [d for d in fig.data if d.name.startswith("channel")]
    assert [t.name for t in traces] == ["channel 3", "channel 9"]
    np.testing.assert_allclose(traces[1].y, act[:, 9])
    with pytest.raises(ValueError, match="outside"):
        viz.plot_activations(_line(50, 160), act, cols, [300])


def test_saliency_overlay_normalised_and_shape_checked():
    g = _line(30, 100)
    sal = np.zeros((30, 100))
    sal[10:20, 40:60] = 5.0
    fig = viz.plot_saliency(g, sal)
    heat = next(d for d in fig.data if d.type == "heatmap")
    z = np.asarray(heat.z, dtype=float)
    assert np.nanmax(z) == pytest.approx(1.0)
    assert np.isnan(z[0, 0]) and z[15, 50] == pytest.approx(1.0)
    with pytest.raises(ValueError):
        viz.plot_saliency(g, np.zeros((10, 10)))


def test_engine_bars_with_and_without_cer():
    rows = [{"engine": "easter2", "seconds": 0.05, "cer": 0.1},
            {"engine": "tesseract", "seconds": 0.5, "cer": 0.3}]
    fig = viz.plot_engine_bars(rows)
    assert [d.name for d in fig.data] == ["seconds", "CER %"]
    assert list(fig.data[0].x) == ["easter2", "tesseract"]
    assert fig.data[0].marker.color[0] == viz.ENGINE_COLOURS["easter2"]
    labelled = viz.plot_engine_bars([dict(rows[0], label="Easter2 (ours)")])
    assert list(labelled.data[0].x) == ["Easter2 (ours)"]
    assert list(fig.data[1].y) == pytest.approx([10, 30])
    fig = viz.plot_engine_bars([{"engine": "easter2", "seconds": 0.05}])
    assert len(fig.data) == 1


def test_cer_histogram_and_scatter_in_percent():
    fig = viz.plot_cer_histogram({"easter2": [0.1, 0.2], "easyocr": [0.5]})
    assert [d.name for d in fig.data] == ["easter2", "easyocr"]
    named = viz.plot_cer_histogram({"easter2": [0.1]}, labels={"easter2": "Easter2 (ours)"})
    assert named.data[0].name == "Easter2 (ours)"
    assert list(fig.data[0].x) == pytest.approx([10, 20])
    fig = viz.plot_cer_vs_length({"easter2": ([10, 40], [0.0, 0.25], ["x<1>", "y"])})
    assert list(fig.data[0].y) == pytest.approx([0, 25])
    assert fig.data[0].text[0] == "x&lt;1&gt;"


def test_diff_html_escapes_and_marks_each_error_kind():
    out = viz.diff_html(char_diff("a<b> cat", "a<b> cot!"))
    assert "<b>" not in out and "&lt;b&gt;" in out
    assert 'title="should be: a"' in out and ">o</span>" in out  # replace
    assert 'title="extra">!</span>' in out  # insert
    out = viz.diff_html(char_diff("dog", "dg"))
    assert 'title="missing">o</span>' in out
    assert viz.diff_html(char_diff("same", "same")) == "same"
    assert 'title="extra">␣</span>' in viz.diff_html(char_diff("dog.", "dog ."))
    with pytest.raises(ValueError):
        viz.diff_html([("bogus", "a", "b")])


def test_viz_does_not_import_streamlit():
    import sys
    import subprocess

    code = "import sys, htr.viz; sys.exit('streamlit' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


# ---------------------------------------------------------------- training log
def test_plot_training_log_reads_csv_rows_and_marks_stages():
    rows = [
        {"stage": "1-scratch", "epoch": "1", "loss": "80.5", "val_cer_synth": "0.9", "val_cer_real": "0.95",
         "samples_seen": "16000"},
        {"stage": "1-scratch", "epoch": "2", "loss": "30.1", "val_cer_synth": "0.4", "val_cer_real": "0.5",
         "samples_seen": "32000"},
        {"stage": "2-finetune", "epoch": "1", "loss": "6.0", "val_cer_synth": "0.05", "val_cer_real": "",
         "samples_seen": "48000"},
    ]
    fig = viz.plot_training_log(rows)
    names = [t.name for t in fig.data]
    assert names == ["real IAM validation lines", "held-back synthetic lines", "training loss (focal CTC)"]
    real, synth, loss = fig.data
    assert list(real.y) == [95.0, 50.0, None]  # percent; a missing value stays a gap
    assert list(synth.x) == [1, 2, 3]  # epochs numbered on across stages
    assert list(loss.y) == [80.5, 30.1, 6.0]
    assert fig.layout.yaxis.type == "log" and fig.layout.yaxis2.type == "log"
    assert [a.text for a in fig.layout.annotations] == ["1-scratch", "2-finetune"]
    assert "48,000 lines seen" in synth.text[2]


def test_plot_training_log_draws_held_out_fonts_when_logged():
    rows = [{"epoch": "1", "loss": "5", "val_cer_synth": "0.03", "val_cer_fonts": "0.2"}]
    fig = viz.plot_training_log(rows)
    assert [t.name for t in fig.data] == ["held-back synthetic lines", "lines in fonts never trained on",
                                         "training loss (focal CTC)"]
    assert not fig.layout.annotations  # no stages, no marks


def test_char_frequency_shares_per_group_on_a_log_axis():
    fig = viz.plot_char_frequency({"train": ["aab", "a #"], "test": ["xyz é"], "empty": []})
    assert [t.name for t in fig.data] == ["train", "test"]  # a group without text draws nothing
    train, test = fig.data
    assert list(train.x) == ["␣" if c == " " else c for c in CHARS] + ["other"]
    share = dict(zip(train.x, train.y))
    assert share["a"] == pytest.approx(100 * 3 / 6) and share["␣"] == pytest.approx(100 / 6)  # 6 characters
    assert share["#"] == pytest.approx(100 / 6) and share["c"] is None  # absent: no bar at all on a log axis
    assert dict(zip(test.x, test.customdata))["other"] == 1  # é is not in the alphabet
    assert sum(v for v in test.y if v) == pytest.approx(100)
    assert fig.layout.yaxis.type == "log"


def test_plot_confusions_rows_columns_and_counts():
    from htr.metrics import char_confusions

    conf = char_confusions([("sss", "ooc"), ("is", "io"), ("a", "ab"), ("e", "")])
    # s→o three times, s→c once, e dropped once, b added once
    fig = viz.plot_confusions(conf)
    (heat,) = fig.data
    assert list(heat.y) == ["s", "e", "∅ extra"]  # most edited true character first, additions last
    assert list(heat.x) == ["o", "b", "c", "∅ missing"]  # most read first, ties by character
    cells = {(y, x): v for y, row in zip(heat.y, heat.z) for x, v in zip(heat.x, row) if v}
    assert cells == {("s", "o"): 3, ("s", "c"): 1, ("e", "∅ missing"): 1, ("∅ extra", "b"): 1}
    hover = {(y, x): t for y, row in zip(heat.y, heat.text) for x, t in zip(heat.x, row) if t}
    assert hover[("s", "o")] == "true “s” read as “o” 3 times (75.0 % of its 4)"
    assert hover[("e", "∅ missing")].startswith("true “e” dropped once")
    assert fig.layout.title.text == "6 character edits"
    small = viz.plot_confusions(conf, rows=1, cols=1)  # one true character, one reading
    assert list(small.data[0].y) == ["s", "∅ extra"] and list(small.data[0].x) == ["o"]
    assert small.layout.title.text == "6 character edits (3 outside this table)"


def test_plot_robustness_one_curve_per_reader_in_sweep_order():
    fig = viz.plot_robustness({"easter2": ([1.0, 0.5, 0.3], [0.05, 0.2, None]),
                               "tesseract": ([1.0, 0.5, 0.3], [0.3, 0.6, 0.9])},
                              "Squeeze", labels={"easter2": "Easter2 (ours)"},
                              ticktext=["original", "0.5 ×", "0.3 ×"])
    assert [t.name for t in fig.data] == ["Easter2 (ours)", "tesseract"]
    assert list(fig.data[0].x) == [0, 1, 2]  # evenly, in sweep order (the factor counts down)
    assert list(fig.data[0].y[:2]) == pytest.approx([5.0, 20.0])
    assert fig.data[0].y[2] is None  # a failed reading is a gap, not a zero
    assert list(fig.layout.xaxis.ticktext) == ["original", "0.5 ×", "0.3 ×"]
    assert fig.data[0].line.color == viz.ENGINE_COLOURS["easter2"]


def test_plot_training_log_draws_each_hand_source_when_logged():
    rows = [{"epoch": "1", "loss": "9", "val_cer_real": "0.02", "val_cer_copiste": "0.31", "val_cer_unipen": "0.28"},
            {"epoch": "2", "loss": "8", "val_cer_real": "0.02", "val_cer_copiste": "0.25", "val_cer_unipen": "0.27"}]
    fig = viz.plot_training_log(rows)
    names = [t.name for t in fig.data]
    assert names == ["real IAM validation lines", "Copiste validation hands",
                     "UNIPEN validation writers (rendered)", "training loss (focal CTC)"]
    assert list(fig.data[1].y) == [31.0, 25.0]
