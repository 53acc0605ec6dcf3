"""A small horizontal bar chart drawn with Pillow (no browser, no kaleido)."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")


def _font(size: int):
    for name in ("DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"):
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return ImageFont.load_default()


def bar_panels(panels, path: Path, width: int = 1100) -> Path:
    """Draw panels of bars into one PNG.

    ``panels``: list of ``(title, unit, rows, series)`` where ``rows`` is a list
    of ``(label, [value per series])`` and ``series`` names the values (one
    colour each). A value of None draws no bar. Scales are linear from 0.
    """
    f_title, f_text, f_small = _font(22), _font(16), _font(14)
    bar_h, gap, label_w, left, right = 18, 10, 330, 20, 140
    heights = []
    for _title, _unit, rows, series in panels:
        heights.append(60 + len(rows) * (len(series) * bar_h + gap) + 40)
    img = Image.new("RGB", (width, sum(heights) + 20), "white")
    d = ImageDraw.Draw(img)
    y0 = 10
    for (title, unit, rows, series), h in zip(panels, heights):
        d.text((left, y0), title, fill="black", font=f_title)
        x = left + label_w
        for k, s in enumerate(series):  # legend
            d.rectangle([x, y0 + 34, x + 14, y0 + 48], fill=COLORS[k % len(COLORS)])
            d.text((x + 20, y0 + 32), s, fill="black", font=f_small)
            x += 30 + int(d.textlength(s, font=f_small))
        vmax = max((v for _, vals in rows for v in vals if v is not None), default=1.0) or 1.0
        plot_w = width - left - label_w - right
        y = y0 + 60
        for label, vals in rows:
            d.text((left, y + (len(series) * bar_h - 16) / 2), label, fill="black", font=f_text)
            for k, v in enumerate(vals):
                if v is None:
                    d.text((left + label_w, y + k * bar_h), "n/a", fill="gray", font=f_small)
                    continue
                w = max(1, int(plot_w * v / vmax))
                d.rectangle([left + label_w, y + k * bar_h + 2, left + label_w + w, y + (k + 1) * bar_h - 2],
                            fill=COLORS[k % len(COLORS)])
                txt = f"{v:,.1f} {unit}" if v < 100 else f"{v:,.0f} {unit}"
                d.text((left + label_w + w + 6, y + k * bar_h), txt, fill="black", font=f_small)
            y += len(series) * bar_h + gap
        y0 += h
    img.save(path)
    return path
