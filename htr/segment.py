"""Split a page into text-line boxes with projection profiles (numpy only).

The page may be an IAM form scan, a photographed or scanned page, or a
rendered paragraph. Steps, on a copy shrunk to about ``WORK_SIDE``² pixels:

1. binarize with Otsu's threshold (a page without two distinct gray levels is
   blank: no lines); light ink on a dark background is flipped;
2. long horizontal rules (form lines, ruled paper) are found as rows with a
   run of ink over a quarter of the width and erased; when there are 2 to 4 of
   them (the IAM form: header | printed text | handwriting | "Name:"), only the
   tallest band between them that holds ink is kept — the handwritten part;
   columns or rows that are mostly ink (dark scanner margins) are erased too;
3. the horizontal projection profile gives the line pitch (autocorrelation);
   smoothed at a fraction of the pitch, its peaks are lines and the deepest
   point between two peaks is the cut;
4. each line is trimmed to its ink, vertically and horizontally (far-away
   specks are ignored), and mapped back to the page's pixels.

A single line gives one box, a blank page none. :func:`is_single_line`
tells a line from a page so the app can pick the mode by itself.
"""

from __future__ import annotations

import math

import numpy as np

from htr.types import Box

#: The page is shrunk (by an integer factor) to about WORK_SIDE² pixels.
WORK_SIDE = 1400
#: Two gray classes closer than this (in gray levels) mean there is no ink.
MIN_CONTRAST = 40.0


def otsu_threshold(gray: np.ndarray) -> tuple[int, float]:
    """Otsu's threshold of a uint8 image and the gap between the two class means."""
    hist = np.bincount(np.asarray(gray, dtype=np.uint8).ravel(), minlength=256).astype(np.float64)
    total = hist.sum()
    if total == 0:
        return 127, 0.0
    p = hist / total
    levels = np.arange(256, dtype=np.float64)
    omega = np.cumsum(p)
    mu = np.cumsum(p * levels)
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mu[-1] * omega - mu) ** 2 / (omega * (1.0 - omega))
    between = np.nan_to_num(between, nan=0.0, posinf=0.0)
    t = int(np.argmax(between))
    w0 = omega[t]
    if w0 <= 0 or w0 >= 1:
        return t, 0.0
    m0 = mu[t] / w0
    m1 = (mu[-1] - mu[t]) / (1.0 - w0)
    return t, float(m1 - m0)


def binarize(gray: np.ndarray) -> np.ndarray:
    """Boolean ink mask (True = ink); all False for a page without contrast."""
    gray = np.asarray(gray, dtype=np.uint8)
    t, gap = otsu_threshold(gray)
    if gap < MIN_CONTRAST:
        return np.zeros(gray.shape, dtype=bool)
    ink = gray <= t
    if ink.mean() > 0.5:  # light writing on a dark background
        ink = ~ink
    return ink


def _shrink(gray: np.ndarray) -> tuple[np.ndarray, int]:
    h, w = gray.shape
    f = max(1, math.ceil(math.sqrt(h * w) / WORK_SIDE))
    f = min(f, max(1, min(h, w) // 32))  # keep a long strip's height readable
    if f == 1:
        return gray, 1
    hh, ww = h // f, w // f
    if hh < 1 or ww < 1:
        return gray, 1
    small = gray[: hh * f, : ww * f].reshape(hh, f, ww, f).mean(axis=(1, 3))
    return np.rint(small).astype(np.uint8), f


def _max_runs(mask: np.ndarray) -> np.ndarray:
    """Longest run of True in each row."""
    m = mask.astype(np.int32)
    cs = np.cumsum(m, axis=1)
    last_zero = np.maximum.accumulate(np.where(m == 0, cs, 0), axis=1)
    return (cs - last_zero).max(axis=1) if mask.shape[1] else np.zeros(mask.shape[0], np.int32)


def _smooth(x: np.ndarray, sigma: float) -> np.ndarray:
    if sigma < 0.5:
        return x.astype(np.float64)
    r = int(3 * sigma + 0.5)
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    padded = np.pad(x.astype(np.float64), r, mode="constant")
    return np.convolve(padded, k, mode="valid")


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) of each run of True."""
    d = np.diff(np.concatenate([[0], flags.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist()))


def _clean(ink: np.ndarray) -> tuple[np.ndarray, int, int]:
    """Erase rules and margins; keep the handwriting band of a form. Returns mask, top, bottom."""
    h, w = ink.shape
    ink = ink.copy()
    # the outer 1% of the page is scanner edge and shadow, never text
    bx, by = max(1, w // 100), max(1, h // 100)
    if w > 4 * bx and h > 4 * by:
        ink[:, :bx] = ink[:, w - bx :] = False
        ink[:by] = ink[h - by :] = False
    # dark margins: columns that are mostly ink
    ink[:, ink.mean(axis=0) > 0.6] = False
    # horizontal rules: a run over a quarter of the width, allowing a slight slope
    if h >= 3 and w >= 40:
        near = ink.copy()
        near[1:] |= ink[:-1]
        near[:-1] |= ink[1:]
        rule_rows = _max_runs(near) >= max(20, w // 4)
    else:
        rule_rows = np.zeros(h, dtype=bool)
    # a thick band of long runs is a dark scanner margin, not a printed rule
    rules = [(a, b) for a, b in _runs(rule_rows) if b - a <= max(4, h // 40)]
    top, bottom = 0, h
    if rules:
        ink[rule_rows] = False
        if 2 <= len(rules) <= 4:
            edges = [0] + [s for r in rules for s in r] + [h]
            bands = [(edges[i], edges[i + 1]) for i in range(0, len(edges), 2)]
            bands = [(a, b) for a, b in bands if b - a > 0 and ink[a:b].sum() > 0]
            if bands:
                top, bottom = max(bands, key=lambda ab: ab[1] - ab[0])
    ink[:top] = False
    ink[bottom:] = False
    if bottom - top > 0:  # margins again, judged inside the kept band only
        ink[:, ink[top:bottom].mean(axis=0) > 0.4] = False
    return ink, top, bottom


def estimate_skew(ink: np.ndarray, max_degrees: float = 6.0, step: float = 0.25) -> float:
    """Angle (degrees) of the text lines of a mask: the shear that sharpens the row profile most.

    Positive when lines fall to the right (y grows with x), as in image coordinates.
    """
    ys, xs = np.nonzero(ink)
    if len(ys) < 20:
        return 0.0
    if len(ys) > 200_000:  # a sample is plenty to find the angle
        pick = np.random.default_rng(0).choice(len(ys), 200_000, replace=False)
        ys, xs = ys[pick], xs[pick]
    xs = xs - xs.mean()
    best, best_score = 0.0, -1.0
    for deg in np.arange(-max_degrees, max_degrees + step / 2, step):
        shifted = np.rint(ys - xs * math.tan(math.radians(deg))).astype(np.int64)
        prof = np.bincount(shifted - shifted.min())
        score = float(np.dot(prof, prof))
        if score > best_score * (1 + 1e-9) or (score == best_score and abs(deg) < abs(best)):
            best, best_score = float(deg), score
    return best


def _shear(ink: np.ndarray, degrees: float) -> tuple[np.ndarray, np.ndarray]:
    """Shift every column up by x·tan(angle) so that skewed lines lie level.

    Returns the sheared mask and each column's shift ``s`` (original row = sheared row + s[x]).
    """
    h, w = ink.shape
    s = np.rint(np.arange(w) * math.tan(math.radians(degrees))).astype(np.int64)
    s -= s.max()  # all shifts <= 0: sheared row = row - s >= row
    ys, xs = np.nonzero(ink)
    out = np.zeros((h + int(-s.min()), w), dtype=bool)
    out[ys - s[xs], xs] = True
    return out, s


def _pitch(profile: np.ndarray) -> float | None:
    """The line pitch (rows) from the profile's autocorrelation, or None."""
    n = len(profile)
    if n < 8:
        return None
    p = profile - profile.mean()
    size = 1 << (2 * n - 1).bit_length()
    f = np.fft.rfft(p, size)
    ac = np.fft.irfft(f * np.conj(f), size)[:n]
    if ac[0] <= 0:
        return None
    ac /= ac[0]
    below = np.flatnonzero(ac < 0)
    if not len(below):
        return None
    start = int(below[0])
    stop = int(n * 0.75)
    if stop <= start + 1:
        return None
    lag = start + int(np.argmax(ac[start:stop]))
    if ac[lag] < 0.1 or lag <= start:
        return None
    return float(lag)


def _segment_mask(ink: np.ndarray, top: int, bottom: int) -> list[tuple[int, int, int, int]]:
    """Line boxes (x0, y0, x1, y1) in mask coordinates."""
    profile = ink.sum(axis=1).astype(np.float64)
    rows = np.flatnonzero(profile > 0)
    if not len(rows):
        return []
    y_first, y_last = int(rows[0]), int(rows[-1]) + 1
    region = profile[y_first:y_last]
    pitch = _pitch(region) or float(y_last - y_first)
    heavy = _smooth(region, max(1.0, pitch / 6))
    light = _smooth(region, max(0.5, pitch / 14))
    # peaks of the heavily smoothed profile, at least ~half a pitch apart
    rising = np.concatenate([[True], heavy[1:] >= heavy[:-1]])
    falling = np.concatenate([heavy[:-1] > heavy[1:], [True]])
    cand = np.flatnonzero(rising & falling & (heavy >= 0.15 * heavy.max())).tolist()
    peaks: list[int] = []
    for i in sorted(cand, key=lambda i: -heavy[i]):
        if all(abs(i - j) >= 0.55 * pitch for j in peaks):
            peaks.append(i)
    peaks.sort()
    # merge neighbours without a real valley between them
    merged: list[int] = []
    for i in peaks:
        if merged:
            j = merged[-1]
            valley = heavy[j:i + 1].min()
            if valley > 0.75 * min(heavy[i], heavy[j]):
                if heavy[i] > heavy[j]:
                    merged[-1] = i
                continue
        merged.append(i)
    cuts = [0]
    for j, i in zip(merged, merged[1:]):
        cuts.append(j + int(np.argmin(light[j:i + 1])))
    cuts.append(len(region))
    spans = []
    for a, b in zip(cuts, cuts[1:]):
        seg = light[a:b]
        if not len(seg) or seg.max() <= 0:
            continue
        on = np.flatnonzero(seg > 0.04 * seg.max())
        spans.append((y_first + a + int(on[0]), y_first + a + int(on[-1]) + 1))
    boxes = []
    for y0, y1 in spans:
        cols = ink[y0:y1].sum(axis=0)
        groups = _runs(cols > 0)
        if not groups:
            continue
        # bridge gaps up to ~1.5 pitch (word spaces); drop far-away specks
        gap = max(3, int(1.5 * pitch))
        clusters: list[list[int]] = []
        for s, e in groups:
            if clusters and s - clusters[-1][1] <= gap:
                clusters[-1][1] = e
            else:
                clusters.append([s, e])
        mass = [cols[s:e].sum() for s, e in clusters]
        keep = [c for c, m in zip(clusters, mass) if m >= 0.05 * max(mass)]
        x0, x1 = keep[0][0], keep[-1][1]
        boxes.append((x0, y0, x1, y1, float(ink[y0:y1, x0:x1].sum())))
    if not boxes:
        return []
    # drop slivers: far less ink or height than a typical line
    med_mass = float(np.median([b[4] for b in boxes]))
    med_h = float(np.median([b[3] - b[1] for b in boxes]))
    return [b[:4] for b in boxes if b[4] >= 0.12 * med_mass and (b[3] - b[1]) >= 0.25 * med_h]


def segment_page(gray: np.ndarray, deskew: bool = True) -> list[Box]:
    """Text-line boxes of a page, top to bottom, in the page's pixels.

    With ``deskew`` the lines may slope by up to ±6°: the profile is taken
    along their slope and each box is the axis-aligned hull of its sloped line.
    """
    gray = np.asarray(gray)
    if gray.ndim != 2 or gray.size == 0:
        raise ValueError(f"segment_page wants a 2-D gray image, got shape {gray.shape}")
    if gray.dtype != np.uint8:
        gray = np.clip(gray, 0, 255).astype(np.uint8)
    small, f = _shrink(gray)
    ink = binarize(small)
    if not ink.any():
        return []
    angle = estimate_skew(ink) if deskew else 0.0
    if angle:
        ink, shift = _shear(ink, angle)
    else:
        shift = np.zeros(ink.shape[1], dtype=np.int64)
    ink, top, bottom = _clean(ink)
    h, w = gray.shape
    out = []
    for x0, y0, x1, y1 in _segment_mask(ink, top, bottom):
        # back from the sheared frame: the box's rows move with its columns' shifts
        oy0 = y0 + int(shift[x0:x1].min())
        oy1 = y1 + int(shift[x0:x1].max())
        X0, Y0 = x0 * f, max(0, oy0 * f)
        X1, Y1 = min(w, x1 * f), min(h, oy1 * f)
        if X1 > X0 and Y1 > Y0:
            out.append(Box(int(X0), int(Y0), int(X1 - X0), int(Y1 - Y0)))
    return out


def is_single_line(gray: np.ndarray) -> bool:
    """True if the image looks like one text line (or is blank), False for a page."""
    gray = np.asarray(gray)
    h, w = gray.shape[:2]
    if h == 0 or w == 0:
        return True
    if w >= 8 * h:  # a strip this wide is a line whatever its profile says
        return True
    return len(segment_page(gray)) <= 1


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes."""
    ix = max(0, min(a.x + a.w, b.x + b.w) - max(a.x, b.x))
    iy = max(0, min(a.y + a.h, b.y + b.h) - max(a.y, b.y))
    inter = ix * iy
    union = a.w * a.h + b.w * b.h - inter
    return inter / union if union else 0.0


def match_rate(found: list[Box], truth: list[Box], threshold: float = 0.5) -> float:
    """Share of ``truth`` boxes that some box of ``found`` overlaps with IoU ≥ threshold (one-to-one)."""
    if not truth:
        return 1.0 if not found else 0.0
    used: set[int] = set()
    hits = 0
    for t in truth:
        best, best_i = 0.0, -1
        for i, f in enumerate(found):
            if i not in used:
                v = iou(f, t)
                if v > best:
                    best, best_i = v, i
        if best >= threshold:
            used.add(best_i)
            hits += 1
    return hits / len(truth)
