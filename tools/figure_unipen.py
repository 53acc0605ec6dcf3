"""Figure: UNIPEN pen strokes rendered as ink on paper, beside real scanned lines.

    python tools/figure_unipen.py [--out docs/figures/unipen_rendered.png] [--hands-dir DIR]
                                  [--seed 0] [--iam-dir DIR --iam-out /tmp/unipen_vs_iam.png]

Left: eight UNIPEN text segments (one from each of eight sets) drawn by
:func:`htr.data.strokes.render_strokes`, their label beneath. Right: real lines
of two openly licensed collections, their transcription beneath. The caption
in the image credits the sources:

    UNIPEN train_r01_v07, International Unipen Foundation, CC BY 4.0;
    Copiste d'un jour, BAnQ, CC BY 4.0; CREMMA-AN Testaments de Poilus, CC BY 4.0

The hands folder is ``--hands-dir``, else ``$HANDS_DIR``, else ``../shared/hands``.
Deterministic for a seed. ``--iam-dir`` also writes a comparison with IAM lines
to ``--iam-out`` for looking at locally: IAM may not be redistributed, so that
file must never be committed (the default path is outside the project).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from htr.data.hands import default_hands_dir, load_split  # noqa: E402
from htr.data.lines import read_line_set  # noqa: E402
from htr.data.strokes import render_strokes  # noqa: E402
from htr.data.unipen import read_unipen  # noqa: E402

CREDIT = ("UNIPEN train_r01_v07, International Unipen Foundation, CC BY 4.0; "
          "Copiste d'un jour, BAnQ, CC BY 4.0; CREMMA-AN Testaments de Poilus, CC BY 4.0")
SETS = ("apb", "apd", "app", "art", "hpb", "lex", "scr", "sta")
LINE_H = 58      # every line is shown this tall
COL_W = 700      # and at most this wide
TEXT_H = 18
GAP = 10


def _font(size: int):
    for name in ("DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"):
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return ImageFont.load_default(size)


def unipen_lines(hands: Path, seed: int) -> list[tuple[np.ndarray, str]]:
    """One rendered line of each of :data:`SETS`: a phrase of 15 to 45 characters."""
    rng = np.random.default_rng(seed)
    recs = read_unipen(hands / "unipen")
    out = []
    for name in SETS:
        pool = [r for r in recs if r.page.split("/")[0] == name and 15 <= len(r.text) <= 45 and " " in r.text]
        rec = pool[int(rng.integers(len(pool)))]
        out.append((render_strokes(rec.strokes, rng), rec.text))
    return out


def real_lines(hands: Path, per_source: int = 3) -> list[tuple[np.ndarray, str]]:
    """Lines of *validation* writers (shown, never trained on): the first long line of each."""
    split = load_split()
    out = []
    for source in ("copiste", "poilus"):
        writers = split[source]["validation"]
        recs = [r for r in read_line_set(hands / source, source=source)
                if r.hand in writers and 25 <= len(r.text) <= 60 and "><" not in r.text and "_" not in r.text]
        seen: set = set()
        for r in recs:
            if r.hand not in seen:
                seen.add(r.hand)
                out.append((r.gray(), r.text))
            if len(seen) == per_source:
                break
    return out


def _column(title: str, items: list[tuple[np.ndarray, str]], font, bold) -> Image.Image:
    h = TEXT_H + 6 + sum(LINE_H + TEXT_H + GAP for _ in items)
    col = Image.new("L", (COL_W, h), 255)
    draw = ImageDraw.Draw(col)
    draw.text((0, 0), title, font=bold, fill=0)
    y = TEXT_H + 6
    for gray, text in items:
        img = Image.fromarray(gray)
        w = max(1, round(img.width * LINE_H / img.height))
        img = img.resize((min(w, COL_W), LINE_H) if w <= COL_W else (COL_W, round(img.height * COL_W / img.width)),
                         Image.Resampling.LANCZOS)
        col.paste(img, (0, y + (LINE_H - img.height) // 2))
        draw.text((0, y + LINE_H + 1), text, font=font, fill=70)
        y += LINE_H + TEXT_H + GAP
    return col


def figure(left, right, left_title: str, right_title: str, caption: str) -> Image.Image:
    font, bold = _font(12), _font(14)
    a, b = _column(left_title, left, font, bold), _column(right_title, right, font, bold)
    w = a.width + b.width + 3 * 16
    h = max(a.height, b.height) + 16 + 34
    out = Image.new("L", (w, h), 255)
    out.paste(a, (16, 12))
    out.paste(b, (32 + a.width, 12))
    ImageDraw.Draw(out).line([(24 + a.width, 12), (24 + a.width, h - 40)], fill=200)
    ImageDraw.Draw(out).text((16, h - 26), caption, font=font, fill=0)
    return out


def iam_lines(iam_dir: Path, n: int, seed: int) -> list[tuple[np.ndarray, str]]:
    files = sorted((iam_dir / "lines").rglob("*.png"))
    if not files:
        raise SystemExit(f"no IAM line images under {iam_dir / 'lines'}")
    rng = np.random.default_rng(seed)
    return [(np.asarray(Image.open(files[i]).convert("L")), files[i].stem)
            for i in rng.choice(len(files), min(n, len(files)), replace=False)]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "figures" / "unipen_rendered.png")
    ap.add_argument("--hands-dir", type=Path, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--iam-dir", type=Path, default=None, help="also compare with IAM lines (local only)")
    ap.add_argument("--iam-out", type=Path, default=Path("/tmp/unipen_vs_iam.png"))
    args = ap.parse_args(argv)
    hands = args.hands_dir or default_hands_dir()
    if hands is None or not (hands / "unipen").is_dir():
        raise SystemExit("no hands folder with unipen/: pass --hands-dir or set HANDS_DIR")
    rendered = unipen_lines(hands, args.seed)
    fig = figure(rendered, real_lines(hands), "UNIPEN pen strokes, rendered (htr.data.strokes)",
                 "Real scanned lines: Copiste d'un jour (3), Testaments de Poilus (3)", CREDIT)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.save(args.out, optimize=True)
    print(f"wrote {args.out} ({fig.width} x {fig.height})")
    if args.iam_dir:
        if ROOT in args.iam_out.resolve().parents:
            raise SystemExit(f"{args.iam_out} is inside the project: IAM images must not be committed")
        cmp = figure(rendered, iam_lines(args.iam_dir, 8, args.seed), "UNIPEN, rendered", "IAM (not to be shared)",
                     "UNIPEN train_r01_v07, International Unipen Foundation, CC BY 4.0; IAM: local comparison only")
        cmp.save(args.iam_out)
        print(f"wrote {args.iam_out} (local only)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
