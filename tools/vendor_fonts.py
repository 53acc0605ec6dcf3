"""Reproduce htr/synth/fonts/: openly licensed handwriting fonts for synthetic lines.

Fetches each ``@fontsource/<name>`` package with ``npm pack`` (the npm registry
is the only font source reachable here), takes its latin 400-normal .woff2 and
LICENSE, unwraps the WOFF2 into a plain TrueType/OpenType file (so any Pillow
build renders it, also one without WOFF2 support; the font tables themselves
are unchanged), and drops every font that lacks a glyph for one of the 79
characters or draws one of them as an empty glyph.

Needs npm and, only for this tool, ``pip install fonttools brotli``.
The runtime (htr/synth) needs nothing beyond Pillow and numpy.

    .venv/bin/python tools/vendor_fonts.py            # rebuild the folder
    .venv/bin/python tools/vendor_fonts.py --check    # list, change nothing
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from htr.alphabet import CHARS  # noqa: E402

DEST = ROOT / "htr" / "synth" / "fonts"

#: Handwriting families of @fontsource, every name taken from the npm registry's
#: package list (only these are asked for).
#: Left out on purpose: rock-salt, walter-turncoat, give-you-glory, amatic-sc
#: (lowercase drawn as small capitals), and display/brush faces that look
#: nothing like pen on paper.
FAMILIES = [
    "caveat", "caveat-brush", "indie-flower", "kalam", "dancing-script",
    "shadows-into-light", "homemade-apple", "patrick-hand",
    "nanum-pen-script", "reenie-beanie", "gloria-hallelujah", "satisfy",
    "cedarville-cursive", "covered-by-your-grace", "sue-ellen-francisco",
    "schoolbell", "annie-use-your-telescope", "architects-daughter",
    "handlee", "swanky-and-moo-moo", "the-girl-next-door", "short-stack",
    "gochi-hand", "delius", "itim", "sriracha", "neucha", "cookie",
    "sacramento", "allura", "great-vibes", "parisienne", "yellowtail",
    "herr-von-muellerhoff", "vibur", "bad-script", "marck-script",
    "nanum-brush-script", "gaegu", "oooh-baby", "alex-brush", "chilanka",
    "comic-neue", "condiment", "courgette", "damion", "delicious-handrawn",
    "ephesis", "freehand", "grand-hotel", "italianno", "kaushan-script",
    "licorice", "mansalva", "monsieur-la-doulaise", "mr-de-haviland",
    "ms-madi", "pinyon-script", "playpen-sans", "poor-story", "rochester",
    "shantell-sans", "tangerine", "whisper", "yomogi", "zen-kurenaido",
    "birthstone", "corinthia", "montecarlo", "smooch", "happy-monkey",
    "nova-script", "grandstander", "twinkle-star", "comic-relief",
    "long-cang", "liu-jian-mao-cao", "zhi-mang-xing", "ma-shan-zheng",
]
#: Tried, then left out after looking at a specimen sheet of every font.
EXCLUDE = {
    "monsieur-la-doulaise": "capitals too ornate to read",
    "vibur": "lowercase s drawn like r",
    "comic-relief": "typeset Comic Sans look, not a hand",
    "grandstander": "rounded display face, not a hand",
    "happy-monkey": "typeset display face, not a hand",
}


def npm_pack(name: str, workdir: Path) -> Path | None:
    proc = subprocess.run(
        ["npm", "pack", f"@fontsource/{name}", "--silent"],
        cwd=workdir, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        return None
    tgz = workdir / proc.stdout.strip().splitlines()[-1]
    return tgz if tgz.exists() else None


def read_package(tgz: Path, name: str) -> dict | None:
    with tarfile.open(tgz) as tar:
        members = {m.name: m for m in tar.getmembers()}

        def read(path: str) -> bytes | None:
            m = members.get("package/" + path)
            return tar.extractfile(m).read() if m else None

        woff2 = read(f"files/{name}-latin-400-normal.woff2")
        lic = read("LICENSE")
        pkg = json.loads(read("package.json") or b"{}")
        meta = json.loads(read("metadata.json") or b"{}")
    if woff2 is None:
        return None
    lic_meta = meta.get("license")
    if not isinstance(lic_meta, dict):
        lic_meta = {"type": lic_meta or pkg.get("license", "?")}
    return {"woff2": woff2, "license_text": (lic or b"").decode("utf-8", "replace"),
            "version": pkg.get("version", "?"), "family": meta.get("family", name),
            "category": meta.get("category", "?"),
            "license": lic_meta.get("type", "?"),
            "attribution": lic_meta.get("attribution", "")}


def convert(woff2: bytes) -> tuple[bytes | None, str]:
    """WOFF2 -> TTF/OTF bytes, or (None, reason).

    Only the container changes (WOFF2 is a compressed wrapper of the same
    tables): no subsetting or renaming, so the font data stay as the
    designers licensed them (OFL fonts with a Reserved Font Name may not be
    modified under their own name)."""
    from fontTools.ttLib import TTFont

    font = TTFont(io.BytesIO(woff2))
    cmap = font.getBestCmap() or {}
    missing = [c for c in CHARS if ord(c) not in cmap]
    if missing:
        return None, "missing " + "".join(missing)
    glyf = font["glyf"] if "glyf" in font else None
    if glyf is not None:
        empty = [c for c in CHARS if c != " " and glyf[cmap[ord(c)]].numberOfContours == 0
                 and not glyf[cmap[ord(c)]].isComposite()]
        if empty:
            return None, "empty glyphs " + "".join(empty)
    font.flavor = None
    out = io.BytesIO()
    font.save(out)
    return out.getvalue(), "ok"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="report only, write nothing")
    args = ap.parse_args(argv)

    names = [n for n in dict.fromkeys(FAMILIES) if n not in EXCLUDE]
    rows, skipped = [], list(EXCLUDE.items())
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        if not args.check:
            DEST.mkdir(parents=True, exist_ok=True)
            for old in list(DEST.glob("*.ttf")) + list(DEST.glob("*.otf")) \
                    + list(DEST.glob("*.LICENSE.txt")):
                old.unlink()
        for name in names:
            tgz = npm_pack(name, tmpdir)
            if tgz is None:
                skipped.append((name, "not on the npm registry"))
                continue
            info = read_package(tgz, name)
            tgz.unlink()
            if info is None:
                skipped.append((name, "no latin 400 woff2"))
                continue
            if not info["license_text"].strip() or not info["license"].startswith(("OFL", "Apache")):
                skipped.append((name, f"no OFL/Apache licence text in the package ({info['license']})"))
                continue
            data, why = convert(info["woff2"])
            if data is None:
                skipped.append((name, why))
                continue
            ext = ".otf" if data[:4] == b"OTTO" else ".ttf"
            if not args.check:
                (DEST / f"{name}{ext}").write_bytes(data)
                (DEST / f"{name}.LICENSE.txt").write_text(info["license_text"])
            rows.append((name, ext, info, len(data)))
            print(f"ok   {name:28s} {info['version']:8s} {info['license']:10s} {len(data)//1024:4d} KB",
                  flush=True)
        for name, why in skipped:
            print(f"skip {name:28s} {why}", flush=True)
    total = sum(r[3] for r in rows)
    print(f"{len(rows)} fonts, {total/1e6:.2f} MB")
    if not args.check:
        write_readme(rows, skipped)
    return 0


def write_readme(rows, skipped) -> None:
    lines = [
        "# Vendored handwriting fonts",
        "",
        "Openly licensed handwriting families for the synthetic line renderer",
        "(`htr/synth/render.py`). Each is the latin 400-normal face of the npm",
        "package `@fontsource/<name>`, unwrapped from WOFF2 into a plain font file",
        "(same tables, not subset or renamed), so that any Pillow build can render it.",
        "Its licence text sits beside it as `<name>.LICENSE.txt`.",
        "Rebuilt by `tools/vendor_fonts.py` (needs npm, fonttools, brotli).",
        "",
        "Left out: rock-salt, walter-turncoat, give-you-glory, amatic-sc (lowercase",
        "drawn as small capitals) and any family without a glyph for each of the 79",
        "characters.",
        "",
        "| font file | family | package | version | licence | copyright |",
        "|---|---|---|---|---|---|",
    ]
    for name, ext, info, _ in rows:
        attribution = info["attribution"].replace("|", "/")
        lines.append(f"| `{name}{ext}` | {info['family']} | `@fontsource/{name}` | "
                     f"{info['version']} | {info['license']} | {attribution} |")
    lines += ["", "Tried and not vendored:", ""]
    lines += [f"- `{name}`: {why}" for name, why in skipped]
    lines.append("")
    (DEST / "README.md").write_text("\n".join(lines))


if __name__ == "__main__":
    raise SystemExit(main())
