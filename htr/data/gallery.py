"""The real lines of the app's gallery (``examples/gallery``): a few lines of *report*
hands (CC BY 4.0, from the hands folder), copied or drawn, with their credit.

Report hands are the ones no model of the project trains on or is chosen by
(``models/training/hands_split.json``): the gallery shows Easter2 reading strangers.
Copiste and Poilus lines are copied as PNG; UNIPEN lines are pen strokes, drawn
into an image by the project's renderer (:func:`htr.data.hands.line_image`) with
a fixed seed. Rebuild (needs the hands folder)::

    python -m htr.data.gallery [--hands-dir DIR] [--out examples/gallery]

Writes the PNGs, ``gallery.json`` (read by the app beside ``examples/examples.json``)
and ``CREDITS.md``. Nothing here comes from IAM.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

OUT = Path(__file__).resolve().parents[2] / "examples" / "gallery"

#: (source, line id, drawing seed, curated): legible lines of report hands, one hand each, varied.
GALLERY_LINES = (
    ("copiste", "imp_wikitexte_0090-021", 0, True),
    ("poilus", "TestamentsDePoilus_will_AN_0063-0-004", 0, True),
    ("copiste", "imp_wikitexte_0164_2-003", 0, False),
    ("unipen", "unipen-apd-apd16-app1662-0-18", 0, True),
    ("unipen", "unipen-sta-sta1-hpb1yuko-188-205", 0, False),
)
#: WebP quality of the drawn (UNIPEN) lines; the copied lines stay lossless PNG.
WEBP_QUALITY = 80
TITLES = {"copiste": "Copiste d'un jour", "poilus": "Testaments de Poilus", "unipen": "UNIPEN pen strokes"}

CREDITS_HEADER = """# Real handwriting in the gallery

These line images are real handwriting from collections published under the
Creative Commons Attribution 4.0 International licence (CC BY 4.0,
https://creativecommons.org/licenses/by/4.0/), redistributed here under that
licence with their credit. All come from writers of the *report* split of
`models/training/hands_split.json`: no model of this project trains on them or is
chosen by them. Nothing here comes from the IAM database.

"""
CREDITS_FOOTER = """
Changes from the originals: Copiste and Poilus lines were cut from their page by the
polygon of the published transcription, the paper outside it set to the crop's paper
level, scaled to at most 96 pixels high (the preparation of `../shared/hands`, see its
README) and saved here as PNG. UNIPEN lines are pen strokes (coordinates), drawn into
an image by this project's renderer (`htr/data/strokes.py`) with the seed given and
saved as WebP (quality 80).
`gallery.json` adds each line's text mapped into the model's 79 characters
(`htr/data/text.py`), against which the app measures its CER. Made by
`python -m htr.data.gallery`.
"""


def _unipen_lines(line_ids, hands_dir=None) -> dict:
    """``{id: (HandLine, record)}`` for UNIPEN lines, reading only the sets they are in (the
    whole collection takes minutes to parse; a set, seconds)."""
    from htr.data.hands import HandLine, default_hands_dir, load_split, source_split, which_split
    from htr.data.text import to_iam
    from htr.data.unipen import read_unipen

    root = Path(hands_dir) if hands_dir else default_hands_dir()
    sets = sorted({i.split("-")[1] for i in line_ids})  # unipen-<set>-…
    records = {r.id: r for r in read_unipen(root / "unipen", sets=sets) if r.id in set(line_ids)}
    split, _ = source_split("unipen", {r.hand for r in records.values()}, load_split())
    out = {}
    for i, r in records.items():
        m = to_iam(r.text)
        out[i] = (HandLine(id=i, source="unipen", hand=r.hand, split=which_split(split, r.hand), text=r.text,
                           mapped=m.text, dropped=m.dropped), r)
    return out


def line_picture(source: str, row, record, seed: int, hands_dir=None):
    """The gallery's image of one line: the line set's image, or the pen strokes drawn with ``seed``
    (as :func:`htr.data.hands.line_image` draws them)."""
    import numpy as np

    from htr.data.hands import line_image

    if record is not None:
        return record.draw(np.random.default_rng(int(seed)))
    return line_image(row, seed, hands_dir)


def build(out: Path = OUT, hands_dir: str | Path | None = None) -> list[dict]:
    """Write the gallery's images, ``gallery.json`` and ``CREDITS.md`` into ``out``; return the entries."""
    from PIL import Image

    from htr.data.hands import CREDITS, line_table
    from htr.data.lines import DataError

    out.mkdir(parents=True, exist_ok=True)
    tables, entries, counts = {}, [], {}
    strokes = _unipen_lines([g[1] for g in GALLERY_LINES if g[0] == "unipen"], hands_dir)
    tables["unipen"] = {i: row for i, (row, _) in strokes.items()}
    for source, line_id, seed, curated in GALLERY_LINES:
        if source not in tables:
            tables[source] = {r.id: r for r in line_table(source, hands_dir)[0]}
        row = tables[source].get(line_id)
        if row is None or row.mapped is None:
            raise DataError(f"{source} line {line_id}: not in the hands folder, or not in the model's alphabet")
        if row.split != "report":
            raise DataError(f"{source} line {line_id}: hand {row.hand} is in the {row.split} split, not report")
        counts[source] = counts.get(source, 0) + 1
        # a drawn line has paper texture: lossy WebP keeps it small (tens of KB, not 100+ as PNG)
        name = f"{source}-report-{counts[source]}.{'webp' if source == 'unipen' else 'png'}"
        record = strokes[line_id][1] if source == "unipen" else None
        picture = Image.fromarray(line_picture(source, row, record, seed, hands_dir))
        if name.endswith(".webp"):
            picture.save(out / name, quality=WEBP_QUALITY, method=6)
        else:
            picture.save(out / name, optimize=True)
        short = row.text if len(row.text) <= 28 else row.text[:28] + "…"
        entries.append({
            "name": f"{TITLES[source]}, report hand (CC BY 4.0): {short}",
            "file": f"{out.name}/{name}", "text": row.mapped, "given": row.text, "kind": "line",
            "source": source, "line": row.id, "hand": row.hand, "split": row.split, "seed": seed,
            "credit": CREDITS[source], "curated": curated,
        })
    (out / "gallery.json").write_text(json.dumps(entries, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    lines = [CREDITS_HEADER]
    for source in dict.fromkeys(e["source"] for e in entries):
        lines.append(f"- {CREDITS[source]}\n")
        for e in (e for e in entries if e["source"] == source):
            drawn = f", drawn with seed {e['seed']}" if source == "unipen" else ""
            lines.append(f"  - `{e['file'].split('/')[-1]}`: line `{e['line']}` of hand `{e['hand']}`{drawn} — "
                         f"\u201c{e['given']}\u201d\n")
    lines.append(CREDITS_FOOTER)
    (out / "CREDITS.md").write_text("".join(lines), encoding="utf-8")
    return entries


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hands-dir", default=None, help="the hands folder (default: $HANDS_DIR, ../shared/hands)")
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args(argv)
    for e in build(Path(args.out), args.hands_dir):
        print(f"{e['file']}: {e['hand']} ({e['split']}) — {e['given']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
