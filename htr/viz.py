"""Figures for the app: pure functions from arrays and results to Plotly figures.

No Streamlit and no file reads here: every function takes numpy arrays (gray
images uint8 (H, W), CTC probabilities (T, C), …) or plain results and returns
a :class:`plotly.graph_objects.Figure` (or, for text, escaped HTML). Images are
placed as layout images in their own pixel coordinates, so anything drawn over
them (boxes, spans, heatmaps) uses image columns and rows.

Character spans are given in image columns as ``(char, left, right, prob)``
tuples; :func:`spans_to_columns` turns the model's time-step spans into those.
"""

from __future__ import annotations

import base64
import html
import io
from typing import Iterable, Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from PIL import Image
from plotly.subplots import make_subplots

from htr.alphabet import BLANK, label

#: Images wider or taller than this are downscaled for display (coordinates kept).
MAX_DISPLAY_SIDE = 1600

# Colour-blind-safe palette (Okabe–Ito) for engines and series.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442")
ENGINE_COLOURS = {"easter2": "#0072B2", "easter2+lm": "#56B4E9", "easyocr": "#E69F00", "tesseract": "#009E73"}

SpanCols = tuple[str, float, float, float]

#: Transparent where nothing matters, through amber to red where the influence is highest.
SALIENCY_COLOURS = [[0.0, "rgba(255,200,0,0.0)"], [0.25, "rgba(255,170,0,0.45)"],
                    [1.0, "rgba(215,0,0,0.85)"]]


# --------------------------------------------------------------------------
# helpers


def _png_data_uri(gray: np.ndarray, max_side: int = MAX_DISPLAY_SIDE) -> str:
    img = Image.fromarray(np.ascontiguousarray(gray))
    scale = min(1.0, max_side / max(img.size))
    if scale < 1.0:
        img = img.resize(
            (max(1, round(img.width * scale)), max(1, round(img.height * scale))),
            Image.Resampling.LANCZOS,
        )
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=False)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _check_gray(gray: np.ndarray) -> np.ndarray:
    gray = np.asarray(gray)
    if gray.ndim != 2 or gray.size == 0:
        raise ValueError(f"expected a 2-D gray image, got shape {gray.shape}")
    if gray.dtype != np.uint8:
        gray = np.clip(gray, 0, 255).astype(np.uint8)
    return gray


def _add_image(fig: go.Figure, gray: np.ndarray, row: int | None = None, col: int | None = None,
               opacity: float = 1.0) -> None:
    """Place ``gray`` in the (row, col) axes with x = columns 0..W, y = rows 0..H (down)."""
    h, w = gray.shape
    if row is None:
        xref, yref = "x", "y"
    else:
        sub = fig.get_subplot(row, col or 1)
        xref = sub.xaxis.plotly_name.replace("axis", "")
        yref = sub.yaxis.plotly_name.replace("axis", "")
    fig.add_layout_image(
        source=_png_data_uri(gray), xref=xref, yref=yref, x=0, y=0, sizex=w, sizey=h,
        xanchor="left", yanchor="top", sizing="stretch", layer="below", opacity=opacity,
    )
    # an invisible trace so the axes span the image even with nothing else drawn
    fig.add_trace(
        go.Scatter(x=[0, w], y=[0, h], mode="markers", marker={"opacity": 0},
                   hoverinfo="skip", showlegend=False, name="image"),
        row=row, col=col,
    )
    fig.update_xaxes(range=[0, w], showgrid=False, zeroline=False, row=row, col=col)
    fig.update_yaxes(range=[h, 0], showgrid=False, zeroline=False, showticklabels=False,
                     scaleanchor=None, row=row, col=col)


def _image_height_px(gray: np.ndarray, width_px: int = 1100, lo: int = 90, hi: int = 900) -> int:
    h, w = gray.shape
    return int(np.clip(width_px * h / max(w, 1), lo, hi))


def spans_to_columns(spans, step_edges_to_columns) -> list[SpanCols]:
    """Turn time-step spans (``.char .start .end .prob``) into image-column spans.

    ``step_edges_to_columns(start, end) -> (left, right)`` is the mapping of
    the model's preprocessing (``Prepared.step_edges_to_columns``).
    """
    out = []
    for s in spans:
        left, right = step_edges_to_columns(s.start, s.end)
        out.append((s.char, float(left), float(right), float(s.prob)))
    return out


def _span_shapes(fig, spans: Sequence[SpanCols], y0: float, y1: float, colour: str,
                 name: str, label_y: float, row=None, col=None) -> None:
    if not spans:
        return
    for ch, left, right, _p in spans:
        fig.add_shape(type="rect", x0=left, x1=right, y0=y0, y1=y1,
                      line={"color": colour, "width": 1.5}, fillcolor=colour, opacity=0.12,
                      row=row, col=col)
    fig.add_trace(
        go.Scatter(
            x=[(l + r) / 2 for _, l, r, _ in spans],
            y=[label_y] * len(spans),
            mode="text",
            text=["␣" if ch == " " else ch for ch, *_ in spans],
            textfont={"size": 16, "color": colour},
            customdata=[[ch, l, r, p] for ch, l, r, p in spans],
            hovertemplate="%{customdata[0]}  columns %{customdata[1]:.0f}–%{customdata[2]:.0f}"
            "<br>probability %{customdata[3]:.2f}<extra>" + html.escape(name) + "</extra>",
            name=name,
            showlegend=True,
        ),
        row=row, col=col,
    )


# --------------------------------------------------------------------------
# lines and pages


def plot_line(gray: np.ndarray, title: str | None = None) -> go.Figure:
    """A line (or any) image with axes in image pixels."""
    gray = _check_gray(gray)
    fig = go.Figure()
    _add_image(fig, gray)
    fig.update_layout(title=title, height=_image_height_px(gray) + (40 if title else 0),
                      margin={"l": 10, "r": 10, "t": 40 if title else 10, "b": 10},
                      plot_bgcolor="white")
    return fig


def plot_spans(gray: np.ndarray, decoded: Sequence[SpanCols] = (),
               aligned: Sequence[SpanCols] = ()) -> go.Figure:
    """The line with the decoded characters' spans (top) and the forced alignment (bottom)."""
    gray = _check_gray(gray)
    h, _ = gray.shape
    fig = go.Figure()
    _add_image(fig, gray)
    band = 0.22 * h
    _span_shapes(fig, decoded, 0, h, PALETTE[0], "read by the model", -band / 2)
    _span_shapes(fig, aligned, 0, h, PALETTE[5], "true text, aligned", h + band / 2)
    fig.update_yaxes(range=[h + band, -band])
    fig.update_layout(height=_image_height_px(gray) + 90, plot_bgcolor="white",
                      margin={"l": 10, "r": 10, "t": 10, "b": 10},
                      legend={"orientation": "h", "y": -0.1})
    return fig


def plot_page(gray: np.ndarray, boxes: Sequence, labels: Sequence[str] | None = None,
              highlight: int | None = None) -> go.Figure:
    """A page with its text-line boxes (``.x .y .w .h``) numbered, hover shows the text.

    Box number ``highlight`` (0-based) is drawn thicker in another colour.
    """
    gray = _check_gray(gray)
    fig = go.Figure()
    _add_image(fig, gray)
    xs, ys, texts = [], [], []
    for i, b in enumerate(boxes):
        chosen = i == highlight
        fig.add_shape(type="rect", x0=b.x, y0=b.y, x1=b.x + b.w, y1=b.y + b.h,
                      line={"color": PALETTE[0] if chosen else PALETTE[5], "width": 5 if chosen else 2})
        xs.append(b.x)
        ys.append(b.y + b.h / 2)
        text = labels[i] if labels is not None and i < len(labels) else ""
        texts.append(html.escape(text))
    fig.add_trace(go.Scatter(
        x=xs, y=ys, mode="markers+text", text=[str(i + 1) for i in range(len(xs))],
        textposition="middle left", textfont={"size": 14, "color": PALETTE[5]},
        marker={"size": 6, "color": PALETTE[5]}, customdata=texts,
        hovertemplate="line %{text}<br>%{customdata}<extra></extra>", name="lines",
        showlegend=False))
    h, w = gray.shape
    fig.update_xaxes(range=[-0.04 * w, w])
    fig.update_layout(height=int(np.clip(800 * h / max(w, 1), 300, 1000)), plot_bgcolor="white",
                      margin={"l": 10, "r": 10, "t": 10, "b": 10})
    return fig


# --------------------------------------------------------------------------
# CTC


def _topk_text(probs: np.ndarray, k: int) -> list[str]:
    order = np.argsort(-probs, axis=1)[:, :k]
    out = []
    for t, row in enumerate(order):
        out.append("<br>".join(f"{html.escape(label(int(c)))}  {probs[t, c]:.2f}" for c in row))
    return out


def active_classes(probs: np.ndarray, threshold: float = 0.02) -> np.ndarray:
    """Class indices whose probability reaches ``threshold`` somewhere (blank always)."""
    probs = np.asarray(probs)
    keep = np.flatnonzero(probs.max(axis=0) >= threshold)
    if probs.shape[1] > BLANK and BLANK not in keep:
        keep = np.append(keep, BLANK)
    return np.sort(keep)


def plot_ctc(gray: np.ndarray, probs: np.ndarray, columns: np.ndarray,
             decoded: Sequence[SpanCols] = (), aligned: Sequence[SpanCols] = (),
             top_k: int = 3, rows: str = "active", row_px: int = 18) -> go.Figure:
    """The line image above its CTC probability heatmap, on a shared x axis.

    ``probs`` (T, C) are the model's per-step probabilities, ``columns`` (T,)
    the image column at the centre of each step. ``rows='active'`` shows only
    the classes that reach 2 % somewhere (and blank), ``'all'`` every class.
    Hovering the heatmap shows the character and its probability; the line of
    markers on the most likely class shows the top ``top_k`` per step. Every
    row is labelled; ``row_px`` (pixels per row) must exceed the font size, or
    the labels touch (30 for a projector's 20 px type).
    """
    gray = _check_gray(gray)
    probs = np.asarray(probs, dtype=np.float32)
    columns = np.asarray(columns, dtype=np.float64)
    if probs.ndim != 2 or len(columns) != probs.shape[0]:
        raise ValueError(f"probs {probs.shape} and columns {columns.shape} do not match")
    classes = active_classes(probs) if rows == "active" else np.arange(probs.shape[1])
    names = [label(int(c)) for c in classes]
    img_h = _image_height_px(gray, width_px=1600, lo=100, hi=300)
    heat_h = int(np.clip(row_px * len(classes), 220, max(900, row_px * len(classes))))
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.03,
                        row_heights=[img_h, heat_h])
    _add_image(fig, gray, row=1, col=1)
    h = gray.shape[0]
    band = 0.22 * h
    _span_shapes(fig, decoded, 0, h, PALETTE[0], "read by the model", -band / 2, row=1, col=1)
    _span_shapes(fig, aligned, 0, h, PALETTE[5], "true text, aligned", h + band / 2, row=1, col=1)
    if decoded or aligned:
        fig.update_yaxes(range=[h + (band if aligned else 0), -(band if decoded else 0)], row=1, col=1)
    fig.add_trace(
        go.Heatmap(
            z=probs[:, classes].T, x=columns, y=names, zmin=0, zmax=1,
            colorscale="Viridis", colorbar={"title": "probability", "len": 0.6, "y": 0.3},
            hovertemplate="column %{x:.0f}<br>%{y}: %{z:.3f}<extra></extra>", name="probabilities",
        ),
        row=2, col=1,
    )
    best = probs.argmax(axis=1)
    fig.add_trace(
        go.Scatter(
            x=columns, y=[label(int(c)) for c in best], mode="markers",
            marker={"size": 5, "color": "white", "opacity": 0.35},
            customdata=_topk_text(probs, top_k),
            hovertemplate="column %{x:.0f}<br><b>top " + str(top_k) + "</b><br>%{customdata}"
            "<extra>most likely</extra>",
            name="most likely per step", showlegend=False,
        ),
        row=2, col=1,
    )
    fig.update_yaxes(type="category", categoryorder="array", categoryarray=names, tickmode="array",
                     tickvals=names, ticktext=names,  # every character, never every other one
                     autorange="reversed", title_text="character", row=2, col=1)
    fig.update_xaxes(range=[0, gray.shape[1]], title_text="image column", row=2, col=1)
    fig.update_layout(height=img_h + heat_h + 120, plot_bgcolor="white",
                      margin={"l": 10, "r": 10, "t": 10, "b": 10},
                      legend={"orientation": "h", "y": 1.02, "yanchor": "bottom"})
    return fig


def plot_char_confidence(text: str, char_probs: Sequence[float]) -> go.Figure:
    """One bar per character of ``text``: the model's confidence in it."""
    probs = [float(p) for p in char_probs]
    if len(probs) != len(text):
        raise ValueError(f"{len(text)} characters but {len(probs)} probabilities")
    colours = [PALETTE[2] if p >= 0.9 else PALETTE[1] if p >= 0.6 else PALETTE[5] for p in probs]
    shown = ["␣" if c == " " else c for c in text]
    fig = go.Figure(go.Bar(
        x=list(range(len(text))), y=probs, marker_color=colours, text=shown,
        textposition="none", customdata=[html.escape(c) for c in text],
        hovertemplate="'%{customdata}'  %{y:.2f}<extra></extra>", name="confidence",
    ))
    # the characters themselves label the axis, one under each bar
    fig.update_xaxes(tickmode="array", tickvals=list(range(len(text))), ticktext=shown,
                     tickangle=0, tickfont={"size": 16 if len(text) <= 60 else 10},
                     title_text="character")
    fig.update_yaxes(range=[0, 1.05], title_text="confidence")
    fig.update_layout(height=260, margin={"l": 10, "r": 10, "t": 10, "b": 10}, plot_bgcolor="white")
    return fig


# --------------------------------------------------------------------------
# inside the network


def plot_se_gates(gates: Sequence[np.ndarray], other: Sequence[np.ndarray] | None = None,
                  names: tuple[str, str] = ("this line", "other line"),
                  unit_names: Sequence[str] | None = None) -> go.Figure:
    """The Squeeze-and-Excitation gates (0..1 per channel) of each Easter unit.

    One heatmap row per unit (channels along x). With ``other``, rows for the
    other line follow, and a third panel shows the difference (this − other).
    """
    g = np.stack([np.asarray(v, dtype=np.float32).ravel() for v in gates])
    units = list(unit_names or [f"unit {i + 1}" for i in range(len(g))])
    if other is None:
        fig = go.Figure(go.Heatmap(
            z=g, y=units, x=np.arange(g.shape[1]), zmin=0, zmax=1, colorscale="Cividis",
            colorbar={"title": "gate"},
            hovertemplate="%{y}, channel %{x}: gate %{z:.2f}<extra></extra>", name=names[0]))
        fig.update_xaxes(title_text="channel")
        fig.update_yaxes(autorange="reversed")  # unit 1 on top, as in the network
        fig.update_layout(height=80 + 60 * len(units), margin={"l": 10, "r": 10, "t": 10, "b": 10})
        return fig
    o = np.stack([np.asarray(v, dtype=np.float32).ravel() for v in other])
    if o.shape != g.shape:
        raise ValueError(f"gates {g.shape} and other {o.shape} differ in shape")
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        subplot_titles=(names[0], names[1], f"difference: {names[0]} − {names[1]}"))
    for r, (z, nm) in enumerate(((g, names[0]), (o, names[1])), start=1):
        fig.add_trace(go.Heatmap(
            z=z, y=units, x=np.arange(g.shape[1]), zmin=0, zmax=1, colorscale="Cividis",
            colorbar={"title": "gate", "len": 0.6, "y": 0.7}, showscale=r == 1,
            hovertemplate="%{y}, channel %{x}: gate %{z:.2f}<extra>" + html.escape(nm) + "</extra>",
            name=nm), row=r, col=1)
    d = g - o
    lim = float(max(np.abs(d).max(), 1e-6))
    fig.add_trace(go.Heatmap(
        z=d, y=units, x=np.arange(g.shape[1]), zmin=-lim, zmax=lim, colorscale="RdBu",
        reversescale=True, colorbar={"title": "diff", "len": 0.3, "y": 0.15},
        hovertemplate="%{y}, channel %{x}: %{z:+.2f}<extra>difference</extra>", name="difference"),
        row=3, col=1)
    fig.update_xaxes(title_text="channel", row=3, col=1)
    fig.update_yaxes(autorange="reversed")  # unit 1 on top, as in the network
    fig.update_layout(height=140 + 3 * (40 + 40 * len(units)),
                      margin={"l": 10, "r": 10, "t": 30, "b": 10})
    return fig


def top_channels(gates: np.ndarray, other: np.ndarray | None = None, k: int = 5) -> list[int]:
    """The ``k`` channels most excited (or most different from ``other``)."""
    g = np.asarray(gates, dtype=np.float32).ravel()
    score = g if other is None else np.abs(g - np.asarray(other, dtype=np.float32).ravel())
    return [int(i) for i in np.argsort(-score)[:k]]


def plot_activations(gray: np.ndarray, activations: np.ndarray, columns: np.ndarray,
                     channels: Iterable[int]) -> go.Figure:
    """The line above chosen channels' activations (T, C) along it, shared x in image columns."""
    gray = _check_gray(gray)
    act = np.asarray(activations, dtype=np.float32)
    columns = np.asarray(columns, dtype=np.float64)
    if act.ndim != 2 or act.shape[0] != len(columns):
        raise ValueError(f"activations {act.shape} and columns {columns.shape} do not match")
    channels = [int(c) for c in channels]
    img_h = _image_height_px(gray, lo=80, hi=220)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.04,
                        row_heights=[img_h, 280])
    _add_image(fig, gray, row=1, col=1)
    for i, c in enumerate(channels):
        if not 0 <= c < act.shape[1]:
            raise ValueError(f"channel {c} outside 0..{act.shape[1] - 1}")
        fig.add_trace(go.Scatter(
            x=columns, y=act[:, c], mode="lines", name=f"channel {c}",
            line={"color": PALETTE[i % len(PALETTE)], "width": 2},
            hovertemplate="column %{x:.0f}: %{y:.2f}<extra>channel " + str(c) + "</extra>"),
            row=2, col=1)
    fig.update_xaxes(range=[0, gray.shape[1]], title_text="image column", row=2, col=1)
    fig.update_yaxes(title_text="activation", row=2, col=1)
    fig.update_layout(height=img_h + 280 + 80, plot_bgcolor="white",
                      margin={"l": 10, "r": 10, "t": 10, "b": 10},
                      legend={"orientation": "h", "y": 1.02, "yanchor": "bottom"})
    return fig


def plot_saliency(gray: np.ndarray, saliency: np.ndarray, title: str | None = None) -> go.Figure:
    """A saliency map (H, W), scaled to 0..1, over the line image."""
    gray = _check_gray(gray)
    sal = np.asarray(saliency, dtype=np.float32)
    if sal.shape != gray.shape:
        raise ValueError(f"saliency {sal.shape} and image {gray.shape} differ in shape")
    sal = np.nan_to_num(np.abs(sal))
    top = float(np.percentile(sal, 99.5)) if sal.size else 0.0
    sal = np.clip(sal / top, 0, 1) if top > 0 else np.zeros_like(sal)
    # hover and drawing on a reduced grid keep the figure light for wide lines
    step = max(1, int(np.ceil(max(sal.shape) / 600)))
    small = sal[::step, ::step]
    fig = go.Figure()
    _add_image(fig, gray)
    fig.add_trace(go.Heatmap(
        z=np.where(small > 0.1, small, np.nan), x0=step / 2, dx=step, y0=step / 2, dy=step,
        zmin=0, zmax=1, colorscale=SALIENCY_COLOURS, colorbar={"title": "influence"},
        hovertemplate="column %{x:.0f}, row %{y:.0f}: %{z:.2f}<extra></extra>", name="saliency"))
    fig.update_layout(title=title, height=_image_height_px(gray, width_px=1600) + 60,
                      plot_bgcolor="white",
                      margin={"l": 10, "r": 10, "t": 40 if title else 10, "b": 10})
    return fig


# --------------------------------------------------------------------------
# engines and evaluation


def plot_engine_bars(rows: Sequence[Mapping]) -> go.Figure:
    """Time (and CER where known) per engine.

    Rows have ``engine``, ``seconds``, ``cer`` (a fraction or None) and an
    optional ``label`` shown under the bar (default: the engine name).
    """
    names = [r["engine"] for r in rows]
    engines = [r.get("label", r["engine"]) for r in rows]
    has_cer = any(r.get("cer") is not None for r in rows)
    fig = make_subplots(rows=1, cols=2 if has_cer else 1,
                        subplot_titles=("time (seconds)", "character error rate (%)")
                        if has_cer else ("time (seconds)",))
    colours = [ENGINE_COLOURS.get(e, PALETTE[i % len(PALETTE)]) for i, e in enumerate(names)]
    secs = [r.get("seconds") for r in rows]
    fig.add_trace(go.Bar(x=engines, y=secs, marker_color=colours, name="seconds",
                         text=[f"{s:.2f} s" if s is not None else "—" for s in secs],
                         textposition="outside",
                         hovertemplate="%{x}: %{y:.3f} s<extra></extra>"), row=1, col=1)
    if has_cer:
        cers = [None if r.get("cer") is None else 100 * r["cer"] for r in rows]
        fig.add_trace(go.Bar(x=engines, y=cers, marker_color=colours, name="CER %",
                             text=[f"{c:.1f} %" if c is not None else "—" for c in cers],
                             textposition="outside",
                             hovertemplate="%{x}: %{y:.1f} %<extra></extra>"), row=1, col=2)
    fig.update_layout(height=320, showlegend=False, margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return fig


def plot_char_frequency(texts: Mapping[str, Sequence[str]]) -> go.Figure:
    """How often each of the model's characters occurs in each group of texts.

    ``texts`` maps a group name (a split, say) to its lines. One bar per
    alphabet character and group, as a share of the group's characters on a
    log axis, so the rare ones (``#``, ``&``, ``Q``) stay visible; characters
    outside the alphabet are counted under "other". The space is shown as ␣.
    """
    from collections import Counter

    from htr.alphabet import CHARS

    keys = [*CHARS, "other"]
    shown = ["␣" if k == " " else k for k in keys]
    fig = go.Figure()
    for i, (name, lines) in enumerate(texts.items()):
        counts = Counter(ch if ch in CHARS else "other" for line in lines for ch in line)
        total = sum(counts.values())
        if not total:
            continue
        share = [100 * counts.get(k, 0) / total for k in keys]
        fig.add_trace(go.Bar(
            x=shown, y=[v or None for v in share], name=name,
            marker_color=PALETTE[i % len(PALETTE)],
            customdata=[counts.get(k, 0) for k in keys],
            hovertemplate=f"{name} · %{{x}}: %{{customdata:,}} times (%{{y:.3f}} %)<extra></extra>",
        ))
    fig.update_layout(barmode="group", height=360,
                      yaxis={"type": "log", "dtick": 1, "title": "share of characters (%)"},  # powers of 10
                      xaxis={"type": "category", "tickangle": 0, "tickmode": "array", "tickvals": shown,
                             "tickfont": {"size": 10}},  # every character labelled
                      legend={"orientation": "h", "y": 1.12}, margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return fig


def _char_label(c: str) -> str:
    return "␣" if c == " " else c


def plot_confusions(conf, rows: int = 15, cols: int = 15) -> go.Figure:
    """Which true characters a reader got wrong, and what it read instead.

    ``conf`` is an :class:`htr.metrics.Confusions`. Rows: the ``rows`` true
    characters with the most edits, most first, and a last row "∅ extra" for
    characters the reading added; columns: the ``cols`` readings that occur
    most in those rows, and "∅ missing" for characters the reading dropped.
    A cell counts how often that true character was read as that column; the
    hover gives it as a share of the true character's occurrences. The space
    is shown as ␣. Edits outside the shown rows and columns are counted in
    the title.
    """
    from collections import Counter

    from htr.metrics import MISSING

    by_true: Counter = Counter()
    for (t, _r), n in conf.pairs.items():
        if t != MISSING:
            by_true[t] += n
    true_chars = [t for t, _ in sorted(by_true.items(), key=lambda kv: (-kv[1], kv[0]))[:rows]]
    extra = sum(n for (t, _r), n in conf.pairs.items() if t == MISSING)
    row_keys = true_chars + ([MISSING] if extra else [])
    by_read: Counter = Counter()
    for (t, r), n in conf.pairs.items():
        if t in row_keys and r != MISSING:
            by_read[r] += n
    read_chars = [r for r, _ in sorted(by_read.items(), key=lambda kv: (-kv[1], kv[0]))[:cols]]
    missing = any(r == MISSING for (t, r) in conf.pairs if t in true_chars)
    col_keys = read_chars + ([MISSING] if missing else [])
    z = [[conf.pairs.get((t, r), 0) or None for r in col_keys] for t in row_keys]
    shown = sum(v or 0 for row in z for v in row)
    y = [_char_label(t) if t != MISSING else "∅ extra" for t in row_keys]
    x = [_char_label(r) if r != MISSING else "∅ missing" for r in col_keys]

    def hover(t: str, r: str, n: int | None) -> str:
        if not n:
            return ""
        times = "once" if n == 1 else f"{n} times"
        if t == MISSING:
            return f"“{_char_label(r)}” added {times} where the truth has nothing"
        what = "dropped" if r == MISSING else f"read as “{_char_label(r)}”"
        total = conf.truth.get(t, 0)
        share = f" ({100 * n / total:.1f} % of its {total:,})" if total else ""
        return f"true “{_char_label(t)}” {what} {times}{share}"

    text = [[html.escape(hover(t, r, v)) for r, v in zip(col_keys, row)] for t, row in zip(row_keys, z)]
    fig = go.Figure(go.Heatmap(
        z=z, x=x, y=y, text=text, hovertemplate="%{text}<extra></extra>", texttemplate="%{z}",
        colorscale="Reds", showscale=False, xgap=1, ygap=1))
    rest = conf.edits - shown
    fig.update_layout(
        height=max(260, 26 * len(row_keys) + 120),
        title={"text": f"{conf.edits:,} character edits" + (f" ({rest:,} outside this table)" if rest else ""),
               "font": {"size": 13}},
        xaxis={"title": "read as", "type": "category", "side": "top", "tickfont": {"size": 13}},
        yaxis={"title": "true character", "type": "category", "autorange": "reversed", "tickfont": {"size": 13}},
        margin={"l": 10, "r": 10, "t": 80, "b": 10})
    return fig


def plot_robustness(curves: Mapping[str, tuple[Sequence[float], Sequence[float | None]]],
                    x_title: str, labels: Mapping[str, str] | None = None,
                    ticktext: Sequence[str] | None = None) -> go.Figure:
    """CER (%) of each reader as a distortion grows: ``curves[reader] = (levels, cers)``.

    A ``None`` CER (the reader failed at that level) leaves a gap. Levels are
    placed evenly in sweep order (``ticktext`` names them), since a sweep's
    steps need not be even nor increasing (a squeeze counts down from 1).
    """
    fig = go.Figure()
    for i, (reader, (levels, cers)) in enumerate(curves.items()):
        name = (labels or {}).get(reader, reader)
        fig.add_trace(go.Scatter(
            x=list(range(len(levels))), y=[None if c is None else 100 * c for c in cers], name=name,
            mode="lines+markers", connectgaps=False,
            line={"color": ENGINE_COLOURS.get(reader, PALETTE[i % len(PALETTE)]), "width": 3},
            marker={"size": 9},
            text=list(ticktext) if ticktext is not None else [f"{v:g}" for v in levels],
            hovertemplate="%{text}: CER %{y:.1f} %<extra>" + html.escape(name) + "</extra>"))
    some = next(iter(curves.values()), ([], []))[0]
    fig.update_layout(
        height=360, yaxis={"title": "CER (%)", "rangemode": "tozero"},
        xaxis={"title": x_title, "tickmode": "array", "tickvals": list(range(len(some))),
               "ticktext": list(ticktext) if ticktext is not None else [f"{v:g}" for v in some]},
        legend={"orientation": "h", "y": 1.12}, margin={"l": 10, "r": 10, "t": 40, "b": 10})
    return fig


def plot_cer_histogram(cers: Mapping[str, Sequence[float]],
                       labels: Mapping[str, str] | None = None) -> go.Figure:
    """Per-line CER (in %) distribution: one bar per engine in each 5 % bin, side by side.

    Side by side rather than overlaid (an overlay hid one reader's bars behind
    another's); the legend sits above the plot, where it covers no bar.
    """
    fig = go.Figure()
    for i, (engine, values) in enumerate(cers.items()):
        fig.add_trace(go.Histogram(
            x=[100 * v for v in values], name=(labels or {}).get(engine, engine),
            xbins={"start": 0, "size": 5},
            marker_color=ENGINE_COLOURS.get(engine, PALETTE[i % len(PALETTE)])))
    fig.update_layout(barmode="group", bargap=0.15, height=360, xaxis_title="CER of a line (%)",
                      yaxis_title="lines", margin={"l": 10, "r": 10, "t": 40, "b": 10},
                      legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0})
    return fig


def plot_cer_vs_length(points: Mapping[str, tuple[Sequence[int], Sequence[float], Sequence[str]]],
                       labels: Mapping[str, str] | None = None) -> go.Figure:
    """CER (%) against ground-truth length per engine; ``points[engine] = (lengths, cers, ids)``."""
    fig = go.Figure()
    for i, (engine, (lengths, cers, ids)) in enumerate(points.items()):
        fig.add_trace(go.Scatter(
            x=list(lengths), y=[100 * c for c in cers], mode="markers",
            name=(labels or {}).get(engine, engine),
            text=[html.escape(str(s)) for s in ids],
            marker={"size": 9, "color": ENGINE_COLOURS.get(engine, PALETTE[i % len(PALETTE)]),
                    "opacity": 0.75},
            hovertemplate="%{text}<br>%{x} characters, CER %{y:.1f} %<extra>" + html.escape(engine)
            + "</extra>"))
    fig.update_layout(height=340, xaxis_title="characters in the true text",
                      yaxis_title="CER (%)", margin={"l": 10, "r": 10, "t": 10, "b": 10})
    return fig


# --------------------------------------------------------------------------
# text


_DIFF_STYLE = {
    "replace": "background:#ffe08a;color:#4a3000;font-weight:bold;border-bottom:2px solid #b36b00",
    "insert": "background:#d9c8f5;color:#2e0a6b;font-weight:bold;border-bottom:2px dotted #5b2a9e",
    "delete": "background:#ffc4c4;color:#7a0000;text-decoration:line-through",
}


def diff_html(diff: Iterable[tuple[str, str, str]]) -> str:
    """Render a character diff (``htr.metrics.char_diff`` runs) as escaped HTML.

    Shows the engine's reading: correct runs plain, wrong characters (replace)
    highlighted with the true text in a tooltip, extra characters (insert)
    underlined, missing characters (delete) struck through in red. Spaces
    inside a mark are drawn as ␣ so a missing or extra space can be seen.
    """
    def shown(text: str) -> str:  # a space in an error would be invisible
        return html.escape(text.replace(" ", "␣"))

    parts = []
    for op, ref, hyp in diff:
        if op == "equal":
            parts.append(html.escape(hyp))
        elif op == "replace":
            parts.append(f'<span style="{_DIFF_STYLE["replace"]}" title="should be: '
                         f'{html.escape(ref, quote=True)}">{shown(hyp)}</span>')
        elif op == "insert":
            parts.append(f'<span style="{_DIFF_STYLE["insert"]}" title="extra">'
                         f'{shown(hyp)}</span>')
        elif op == "delete":
            parts.append(f'<span style="{_DIFF_STYLE["delete"]}" title="missing">'
                         f'{shown(ref)}</span>')
        else:
            raise ValueError(f"unknown diff op {op!r}")
    return "".join(parts)


DIFF_LEGEND_HTML = (
    f'<span style="{_DIFF_STYLE["replace"]}">wrong</span> '
    f'<span style="{_DIFF_STYLE["insert"]}">extra</span> '
    f'<span style="{_DIFF_STYLE["delete"]}">missing</span>'
)


# --------------------------------------------------------------------------
# training

#: The training log's validation columns: (column, name in the legend, colour).
TRAINING_SERIES = (
    ("val_cer_real", "real IAM validation lines", "#D55E00"),
    ("val_cer_synth", "held-back synthetic lines", "#0072B2"),
    ("val_cer_fonts", "lines in fonts never trained on", "#009E73"),
    ("val_cer_copiste", "Copiste validation hands", "#CC79A7"),
    ("val_cer_poilus", "Poilus validation hands", "#E69F00"),
    ("val_cer_unipen", "UNIPEN validation writers (rendered)", "#56B4E9"),
)


def _stage_label_levels(stages: Sequence[str], plot_px: float = 1000.0, char_px: float = 7.0):
    """Where each stage starts, and the row of its label, so that no two labels overlap.

    Returns ``(starts, levels)``: ``starts`` the ``(epoch index, stage)`` of each
    stage's first epoch, ``levels`` a row per label (0 = the top). A label is
    ``char_px`` per character wide on a plot ``plot_px`` wide; it takes the
    highest row whose last label ends before it starts.
    """
    starts = [(i, s) for i, s in enumerate(stages) if s and (i == 0 or stages[i - 1] != s)]
    per_epoch = plot_px / max(1, len(stages))
    ends: list[float] = []  # per row, the x (in epochs) where its last label ends
    levels = []
    for i, s in starts:
        level = next((k for k, end in enumerate(ends) if end <= i + 0.6), len(ends))
        if level == len(ends):
            ends.append(0.0)
        ends[level] = i + 0.6 + (len(s) * char_px + 6) / per_epoch
        levels.append(level)
    return starts, levels


def plot_training_log(rows: Sequence[Mapping]) -> go.Figure:
    """Validation CER (log scale) and training loss per epoch, from a training log's rows.

    ``rows`` as csv.DictReader gives them from ``log.csv`` (strings are fine):
    ``epoch``, ``loss``, any of the ``val_cer_*`` columns of :data:`TRAINING_SERIES`,
    and optionally ``stage`` (epochs are numbered on across stages, and each
    stage's start is marked) and ``samples_seen`` (shown on hover).
    """
    def num(v):
        try:
            return float(v)
        except (TypeError, ValueError):
            return None

    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3], vertical_spacing=0.06)
    xs = list(range(1, len(rows) + 1))
    stages = [str(r.get("stage") or "") for r in rows]
    hover = [f"{s + ' · ' if s else ''}epoch {r.get('epoch', i)}" + (
        f" · {int(float(r['samples_seen'])):,} lines seen" if num(r.get("samples_seen")) is not None else "")
        for i, (s, r) in enumerate(zip(stages, rows), start=1)]
    for key, name, colour in TRAINING_SERIES:
        ys = [num(r.get(key)) for r in rows]
        if all(y is None for y in ys):
            continue
        fig.add_trace(go.Scatter(x=xs, y=[None if y is None else 100 * y for y in ys], name=name,
                                 mode="lines+markers", line=dict(color=colour), text=hover,
                                 hovertemplate="%{text}<br>CER %{y:.2f} %<extra>" + name + "</extra>"), row=1, col=1)
    losses = [num(r.get("loss")) for r in rows]
    fig.add_trace(go.Scatter(x=xs, y=losses, name="training loss (focal CTC)", mode="lines",
                             line=dict(color="#777777"), text=hover,
                             hovertemplate="%{text}<br>loss %{y:.2f}<extra></extra>"), row=2, col=1)
    for (i, s), level in zip(*_stage_label_levels(stages)):
        fig.add_vline(x=i + 0.5, line=dict(color="#999999", dash="dot"))
        # inside the plot's top, one row lower for each label that would touch the one before
        fig.add_annotation(x=i + 0.6, y=1.0 - 0.055 * level, yref="paper", text=s, showarrow=False,
                           xanchor="left", yanchor="top", bgcolor="rgba(255,255,255,0.85)",
                           font=dict(size=11, color="#555555"))
    fig.update_yaxes(type="log", title_text="CER (%)", row=1, col=1)
    fig.update_yaxes(title_text="loss", type="log", row=2, col=1)  # the first epochs would flatten the rest
    fig.update_xaxes(title_text="epoch (all stages in order)", row=2, col=1)
    fig.update_layout(height=520, margin=dict(l=60, r=20, t=40, b=40),
                      legend=dict(orientation="h", yanchor="bottom", y=1.06, x=0))
    return fig
