"""Reproduce htr/data/synth/fonts/: openly licensed handwriting fonts for synthetic lines.

Fetches each ``@fontsource/<name>`` package with ``npm pack`` (the npm registry
is the only font source reachable here), takes its latin 400-normal .woff2 and
LICENSE, unwraps the WOFF2 into a plain TrueType/OpenType file (so any Pillow
build renders it, also one without WOFF2 support; the font tables themselves
are unchanged), and drops every font that lacks a glyph for one of the 79
characters or draws one of them as an empty glyph.

Needs npm and, only for this tool, ``pip install fonttools brotli``.
The runtime (htr/data/synth) needs nothing beyond Pillow and numpy.

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
    # School handwriting models (2026-11-26): the joined and semi-joined
    # cursive that children are taught (TypeTogether's Playwrite series, one
    # per country's curriculum; the Edu series of Australian school scripts),
    # and more everyday hands. Grown-up hands descend from these letterforms.
    "playwrite-us-trad", "playwrite-us-modern", "playwrite-de-grund",
    "playwrite-de-sas", "playwrite-at", "playwrite-hr", "playwrite-pt",
    "playwrite-pe", "playwrite-ar",
    "edu-sa-beginner", "edu-nsw-act-foundation",
    "nothing-you-could-do", "zeyada", "la-belle-aurore", "kristi", "borel",
]
#: Tried, then left out after looking at a specimen sheet of every font.
EXCLUDE = {
    "monsieur-la-doulaise": "capitals too ornate to read",
    "vibur": "lowercase s drawn like r",
    "comic-relief": "typeset Comic Sans look, not a hand",
    "grandstander": "rounded display face, not a hand",
    "happy-monkey": "typeset display face, not a hand",
}


#: Debian handwriting font packages: {package: font files to take}. Fetched with
#: ``apt-get download`` (run ``apt-get update`` once first); files taken as they are.
DEBIAN = {"fonts-breip": ["Breip.ttf"]}
#: Debian handwriting packages looked at and left out, with the reason.
DEBIAN_LEFT_OUT = {
    "fonts-bwht": "all six faces draw lowercase as capitals",
    "fonts-humor-sans": "draws lowercase as capitals",
    "fonts-ecolier-court": "hollow (outlined) letters",
    "fonts-femkeklaver": "CC-BY-SA licence, hollow letters",
    "fonts-dkg-handwriting": "built font files are GPL-3+",
    "fonts-rufscript": "GPL-3 with font exception, not OFL/Apache",
    "fonts-sjfonts": "GPL with font exception, not OFL/Apache",
}


def debian_fonts(workdir: Path) -> list[tuple[str, bytes, dict]]:
    """(file stem, font bytes, info) for each DEBIAN font; [] without apt."""
    out = []
    for pkg, files in DEBIAN.items():
        proc = subprocess.run(["apt-get", "download", pkg], cwd=workdir,
                              capture_output=True, text=True, timeout=300)
        debs = sorted(workdir.glob(f"{pkg}_*.deb"))
        if proc.returncode != 0 or not debs:
            print(f"skip {pkg}: apt-get download failed: {proc.stderr.strip()[:200]}", flush=True)
            continue
        root = workdir / pkg
        subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(root)], check=True)
        version = debs[0].name.split("_")[1].replace("%3a", ":")
        copyright_text = (root / "usr" / "share" / "doc" / pkg / "copyright").read_text()
        lic = "OFL-1.0" if "Open Font License,\n Version 1.0" in copyright_text or \
            "Version 1.0 - 22 November 2005" in copyright_text else "OFL-1.1"
        for name in files:
            found = list(root.rglob(name))
            if not found:
                print(f"skip {pkg}/{name}: not in the package", flush=True)
                continue
            stem = name.rsplit(".", 1)[0].lower()
            out.append((stem, found[0].read_bytes(), {
                "family": stem, "version": version, "license": lic, "license_text": copyright_text,
                "attribution": "see licence file", "source": f"Debian `{pkg}`"}))
    return out


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

    font = TTFont(io.BytesIO(woff2), recalcTimestamp=False)  # byte-identical reruns
    why = _glyph_problem(font)
    if why:
        return None, why
    font.flavor = None
    out = io.BytesIO()
    font.save(out)
    return out.getvalue(), "ok"


def check(data: bytes) -> str:
    """'' when a plain font file has ink for all 79 characters, else the reason."""
    from fontTools.ttLib import TTFont

    return _glyph_problem(TTFont(io.BytesIO(data)))


def _glyph_problem(font) -> str:
    cmap = font.getBestCmap() or {}
    missing = [c for c in CHARS if ord(c) not in cmap]
    if missing:
        return "missing " + "".join(missing)
    glyf = font["glyf"] if "glyf" in font else None
    if glyf is not None:
        empty = [c for c in CHARS if c != " " and glyf[cmap[ord(c)]].numberOfContours == 0
                 and not glyf[cmap[ord(c)]].isComposite()]
        if empty:
            return "empty glyphs " + "".join(empty)
    return ""


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
            info["source"] = f"`@fontsource/{name}`"
            rows.append((name, ext, info, len(data)))
            print(f"ok   {name:28s} {info['version']:8s} {info['license']:10s} {len(data)//1024:4d} KB",
                  flush=True)
        for stem, data, info in debian_fonts(tmpdir):
            why = check(data)
            if why:
                skipped.append((stem, why))
                continue
            ext = ".otf" if data[:4] == b"OTTO" else ".ttf"
            if not args.check:
                (DEST / f"{stem}{ext}").write_bytes(data)
                (DEST / f"{stem}.LICENSE.txt").write_text(info["license_text"])
            rows.append((stem, ext, info, len(data)))
            print(f"ok   {stem:28s} {info['version']:8s} {info['license']:10s} {len(data)//1024:4d} KB", flush=True)
        skipped += list(DEBIAN_LEFT_OUT.items())
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
        "(`htr/data/synth/render.py`). Each is the latin 400-normal face of the npm",
        "package `@fontsource/<name>`, unwrapped from WOFF2 into a plain font file",
        "(same tables, not subset or renamed), so that any Pillow build can render it;",
        "`breip.ttf` is taken unchanged from Debian's `fonts-breip` package.",
        "Its licence text sits beside it as `<name>.LICENSE.txt`.",
        "Rebuilt by `tools/vendor_fonts.py` (needs npm, fonttools, brotli).",
        "",
        "Left out: rock-salt, walter-turncoat, give-you-glory, amatic-sc (lowercase",
        "drawn as small capitals) and any family without a glyph for each of the 79",
        "characters.",
        "",
        "| font file | family | source package | version | licence | copyright |",
        "|---|---|---|---|---|---|",
    ]
    for name, ext, info, _ in rows:
        attribution = info["attribution"].replace("|", "/")
        lines.append(f"| `{name}{ext}` | {info['family']} | {info['source']} | "
                     f"{info['version']} | {info['license']} | {attribution} |")
    lines += ["", "Tried and not vendored:", ""]
    lines += [f"- `{name}`: {why}" for name, why in skipped]
    lines.append("")
    (DEST / "README.md").write_text("\n".join(lines))


if __name__ == "__main__":
    raise SystemExit(main())
