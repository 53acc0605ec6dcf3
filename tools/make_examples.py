"""Regenerate the example images shipped in examples/ (ours and openly licensed, never IAM).

    python tools/make_examples.py [--out examples] [--hands-dir DIR]

Renders 8 handwriting lines and 2 short paragraphs with the openly licensed
handwriting fonts vendored in htr/data/synth/fonts/ (one font per example, in turn),
with a little slant, baseline wobble, ink variation and paper noise so they
look written rather than typeset. Writes PNGs (8-bit gray) and examples.json
with each image's ground truth. Deterministic: same fonts, same images.

Then the real hands: the lines of :data:`HAND_LINES` (Copiste d'un jour and the
Testaments de Poilus, CC BY 4.0, from the hands folder: ``--hands-dir``, else
``$HANDS_DIR``, else ``../shared/hands``) are copied as PNG into ``examples/hands/``
with ``CREDITS.md``, and listed in examples.json with their text mapped into the
model's alphabet (``text``, what a CER is measured against), the text as given
(``given``) and their credit line (``credit``, shown under the image). Without a
hands folder the copies already in ``examples/hands/`` are listed again as they are.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parent.parent
FONTS_DIR = ROOT / "htr" / "synth" / "fonts"

LINES = [
    "The quick brown fox jumps over the lazy dog.",
    "Handwriting is hard for computers to read.",
    "Meet me at the station at 7 o'clock.",
    "She sold 12 apples and 3 pears on Monday.",
    "Is this the way to the old harbour?",
    "A small network can read a whole line.",
    "Please bring the books back by Friday!",
    "Every letter leaves a trace in the ink.",
]

PARAGRAPHS = [
    [
        "Dear Anna, thank you for your letter.",
        "We arrived in Leeds on Tuesday and the",
        "weather has been kind to us so far.",
        "I will write again soon. Love, Tom",
    ],
    [
        "Shopping list for the weekend:",
        "bread, milk, 6 eggs and some cheese;",
        "two lemons, rice (brown) and coffee.",
        "Do not forget the stamps!",
    ],
]


#: Legible, varied hands (a class should be able to read them); used in this order.
PREFERRED = ["caveat", "indie-flower", "kalam", "homemade-apple", "patrick-hand",
             "shadows-into-light", "dancing-script", "gochi-hand", "reenie-beanie",
             "architects-daughter"]


#: Shown in presentation mode: a neat hand, joined-up scripts that trip Tesseract, a paragraph.
CURATED = {"line-01.png", "line-04.png", "line-07.png", "line-08.png", "paragraph-1.png"}


#: Real lines shipped as examples: (source, line id, curated). All from *validation* hands
#: (models/training/hands_split.json): no model trains on them, and they are there to be
#: looked at (a report hand must only be measured). Never IAM, nor anything made from it.
HAND_LINES = [
    ("copiste", "imp_wikitexte_0156-007", True),
    ("copiste", "wikitexte_0138-014", False),
    ("poilus", "TestamentsDePoilus_will_AN_0207-0-000", False),
    ("poilus", "TestamentsDePoilus_will_AN_0073-0-000", False),
]
HAND_TITLES = {"copiste": "Copiste d'un jour", "poilus": "Testaments de Poilus"}
HANDS_SUBDIR = "hands"
CREDITS_HEADER = """# Real handwriting in these examples

The line images in this folder are real handwriting, cut from page scans of two
collections published under the Creative Commons Attribution 4.0 International
licence (CC BY 4.0, https://creativecommons.org/licenses/by/4.0/). They are
redistributed here under that licence, with their credit:

"""
CREDITS_FOOTER = """
Changes from the originals: each line was cut from its page by the polygon of the
published transcription, the paper outside the polygon set to the crop's paper
level, scaled down to at most 96 pixels high and saved as gray WebP (by the
preparation of `../shared/hands`, see its README); here it is saved as PNG. The
texts are the collections' transcriptions as given; `examples.json` adds each
line's text mapped into the model's 79 characters (accents stripped, typographic
quotes straightened: `htr/data/text.py`), against which the app measures its CER.

All lines come from writers of the *validation* split of
`models/training/hands_split.json`: no model of this project trains on them.
Nothing here comes from the IAM database.
"""


def hand_examples(out: Path, hands_dir: Path | None) -> list[dict]:
    """Copy the lines of :data:`HAND_LINES` into ``out/hands`` (where the hands folder is
    there) and return their examples.json entries; write ``out/hands/CREDITS.md``."""
    sys.path.insert(0, str(ROOT))
    from htr.data.hands import CREDITS, line_image, line_table

    folder = out / HANDS_SUBDIR
    previous = {}
    index = out / "examples.json"
    if index.is_file():
        previous = {r["file"]: r for r in json.loads(index.read_text(encoding="utf-8")) if r.get("credit")}
    tables = {}
    entries = []
    counts: dict[str, int] = {}
    for source, line_id, curated in HAND_LINES:
        counts[source] = counts.get(source, 0) + 1
        name = f"{source}-{counts[source]}.png"
        rel = f"{HANDS_SUBDIR}/{name}"
        if hands_dir is None:
            if rel in previous and (out / rel).is_file():
                entries.append(previous[rel])
            continue
        if source not in tables:
            tables[source] = {r.id: r for r in line_table(source, hands_dir)[0]}
        row = tables[source][line_id]
        if row.mapped is None:
            sys.exit(f"error: {source} line {line_id} does not map into the alphabet ({row.dropped})")
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(line_image(row, hands_dir=hands_dir)).save(folder / name, optimize=True)
        short = row.text if len(row.text) <= 28 else row.text[:28] + "…"
        entries.append({
            "name": f"Real hand {len(entries) + 1} ({HAND_TITLES[source]}, CC BY 4.0): {short}",
            "file": rel, "text": row.mapped, "given": row.text, "kind": "line", "source": source,
            "line": row.id, "hand": row.hand, "split": row.split, "credit": CREDITS[source],
            "curated": curated,
        })
    if entries:
        lines = [CREDITS_HEADER]
        for source in dict.fromkeys(e["source"] for e in entries):
            lines.append(f"- {CREDITS[source]}\n")
            for e in entries:
                if e["source"] == source:
                    lines.append(f"  - `{e['file'].split('/')[-1]}`: line `{e['line']}` of hand `{e['hand']}` — "
                                 f"\u201c{e['given']}\u201d\n")
        lines.append(CREDITS_FOOTER)
        (folder / "CREDITS.md").write_text("".join(lines), encoding="utf-8")
    return entries


def fonts() -> list[Path]:
    """The preferred fonts that are vendored, else every vendored font."""
    preferred = [FONTS_DIR / f"{n}.ttf" for n in PREFERRED if (FONTS_DIR / f"{n}.ttf").is_file()]
    found = preferred or sorted(FONTS_DIR.glob("*.ttf")) + sorted(FONTS_DIR.glob("*.otf"))
    if not found:
        sys.exit(f"error: no fonts in {FONTS_DIR} (run tools/vendor_fonts.py first)")
    return found


def _ink_layer(text: str, font: ImageFont.FreeTypeFont, rng: np.random.Generator) -> np.ndarray:
    """Ink coverage (0..1) of ``text``, word by word with a wobbling baseline."""
    ascent, descent = font.getmetrics()
    height = ascent + descent + 24
    space = font.getlength(" ")
    width = int(font.getlength(text) + space * 2 + 40 + 6 * len(text.split()))
    layer = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(layer)
    x = 20.0
    for word in text.split(" "):
        dy = rng.normal(0, 1.6)
        draw.text((x, 12 + dy), word, font=font, fill=int(rng.uniform(215, 255)))
        x += font.getlength(word) + space * rng.uniform(0.9, 1.3)
    ink = np.asarray(layer, dtype=np.float32) / 255.0
    return ink[:, : int(x) + 20]


def _slant(ink: np.ndarray, shear: float) -> np.ndarray:
    h, w = ink.shape
    extra = int(abs(shear) * h) + 2
    img = Image.fromarray((ink * 255).astype(np.uint8)).crop((-extra, 0, w + extra, h))
    img = img.transform(img.size, Image.Transform.AFFINE, (1, shear, -shear * h / 2, 0, 1, 0),
                        resample=Image.Resampling.BILINEAR)
    return np.asarray(img, dtype=np.float32) / 255.0


def _on_paper(ink: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Dark-blue-black ink on slightly uneven off-white paper, as 8-bit gray."""
    h, w = ink.shape
    paper = 246 + rng.normal(0, 1.2, (h, w)) + np.linspace(-3, 3, w)[None, :]
    ink_tone = rng.uniform(25, 50)
    gray = paper * (1 - ink) + ink_tone * ink
    return np.clip(gray, 0, 255).astype(np.uint8)


def _trim(ink: np.ndarray, pad: int) -> np.ndarray:
    ys, xs = np.nonzero(ink > 0.1)
    y0, y1 = max(0, ys.min() - pad), min(ink.shape[0], ys.max() + pad + 1)
    x0, x1 = max(0, xs.min() - pad), min(ink.shape[1], xs.max() + pad + 1)
    return ink[y0:y1, x0:x1]


def render_line(text: str, font_path: Path, rng: np.random.Generator, size: int = 64) -> np.ndarray:
    font = ImageFont.truetype(str(font_path), size)
    ink = _slant(_ink_layer(text, font, rng), rng.uniform(-0.25, 0.05))
    return _on_paper(_trim(ink, 14), rng)


def render_paragraph(lines: list[str], font_path: Path, rng: np.random.Generator,
                     size: int = 64) -> np.ndarray:
    font = ImageFont.truetype(str(font_path), size)
    shear = rng.uniform(-0.2, 0.05)
    inks = [_trim(_slant(_ink_layer(t, font, rng), shear), 4) for t in lines]
    gap = int(size * 0.55)
    width = max(i.shape[1] for i in inks) + 120
    height = sum(i.shape[0] for i in inks) + gap * (len(inks) + 3)
    page = np.zeros((height, width), np.float32)
    y = gap * 2
    for ink in inks:
        x = int(60 + rng.uniform(-8, 8))
        page[y : y + ink.shape[0], x : x + ink.shape[1]] = np.maximum(
            page[y : y + ink.shape[0], x : x + ink.shape[1]], ink)
        y += ink.shape[0] + gap
    return _on_paper(page, rng)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "examples")
    parser.add_argument("--hands-dir", type=Path, default=None,
                        help="the hands folder (default: $HANDS_DIR, else ../shared/hands)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    font_list = fonts()
    rng = np.random.default_rng(20261125)
    index = []
    for i, text in enumerate(LINES):
        font = font_list[i % len(font_list)]
        name = f"line-{i + 1:02d}.png"
        Image.fromarray(render_line(text, font, rng)).save(args.out / name, optimize=True)
        index.append({"name": f"Line {i + 1}: {text[:28]}…", "file": name, "text": text,
                      "kind": "line", "font": font.stem, "curated": name in CURATED})
    for j, lines in enumerate(PARAGRAPHS):
        font = font_list[(j + 1) % len(font_list)]
        name = f"paragraph-{j + 1}.png"
        Image.fromarray(render_paragraph(lines, font, rng)).save(args.out / name, optimize=True)
        index.append({"name": f"Paragraph {j + 1}: {lines[0][:24]}…", "file": name,
                      "text": "\n".join(lines), "lines": lines, "kind": "page",
                      "font": font.stem, "curated": name in CURATED})
    sys.path.insert(0, str(ROOT))
    from htr.data.hands import default_hands_dir

    hands_dir = args.hands_dir or default_hands_dir()
    hands = hand_examples(args.out, hands_dir if hands_dir is not None and hands_dir.is_dir() else None)
    index += hands
    (args.out / "examples.json").write_text(json.dumps(index, indent=1, ensure_ascii=False) + "\n",
                                            encoding="utf-8")
    print(f"wrote {len(index)} examples to {args.out} with fonts: "
          + ", ".join(f.stem for f in font_list)
          + (f"; {len(hands)} of them real hands (CC BY 4.0, credits in {HANDS_SUBDIR}/CREDITS.md)" if hands else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
