"""The vendored handwriting fonts (see fonts/README.md for families and licences)."""

from __future__ import annotations

from pathlib import Path

FONT_DIR = Path(__file__).resolve().parent / "fonts"


def font_paths(font_dir: Path | None = None) -> list[Path]:
    """All vendored font files, sorted by name (so a seed picks the same font)."""
    folder = Path(font_dir) if font_dir is not None else FONT_DIR
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".ttf", ".otf"))
    return paths


def font_names(font_dir: Path | None = None) -> list[str]:
    return [p.stem for p in font_paths(font_dir)]
