"""Build the bad-input corpus of issue 5 into a folder, with the expected outcome of each.

Used by the image tests here and by the CLI and app robustness tests::

    from tests.badinputs import CASES, build_corpus, base_line
    paths = build_corpus(tmp_path)            # {case name: Path}
    for case in CASES:
        path = paths[case.name]
        case.outcome        # "ok" (must load) or "refused" (ImageError)
        case.reason         # for refused: a substring the message must contain
        case.same_as_base   # for ok: loads to base_line() within case.tolerance
                            # (mean absolute difference in gray levels)

Everything is generated here (no files are committed, nothing from IAM).
The "base" is a synthetic dark-on-white line, 400×64, with pure 0/255 pixels so
that lossless conversions (1-bit, palette, GIF …) must reproduce it exactly.
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

BASE_TEXT = "move to stop"


@dataclass(frozen=True)
class Case:
    name: str
    filename: str
    outcome: str  # "ok" | "refused"
    reason: str = ""  # substring of the error message, for refused cases
    same_as_base: bool = False
    tolerance: float = 0.0  # mean abs difference to base_line(), in gray levels


CASES: tuple[Case, ...] = (
    # refused
    Case("zero_bytes", "empty.png", "refused", "empty"),
    Case("truncated_png", "truncated.png", "refused", "truncated"),
    Case("truncated_jpeg", "truncated.jpg", "refused", "truncated"),
    Case("text", "notes.txt.png", "refused", "not an image"),
    Case("html", "page.png", "refused", "HTML"),
    Case("svg", "drawing.svg", "refused", "SVG"),
    Case("random_bytes", "noise.bin", "refused", "not an image"),
    Case("bomb", "bomb.png", "refused", "Mpx"),
    Case("one_pixel", "1x1.png", "refused", "too small"),
    Case("directory", "a folder.png", "refused", "directory"),
    Case("missing", "does-not-exist.png", "refused", "no such file"),
    # odd but valid: must load
    Case("png", "line.png", "ok", same_as_base=True),
    Case("wrong_extension", "really-a-png.jpg", "ok", same_as_base=True),
    Case("name_with_spaces", "my line image.png", "ok", same_as_base=True),
    Case("name_non_ascii", "écriture 手書き ñ.png", "ok", same_as_base=True),
    Case("strip_3px", "strip.png", "ok"),
    Case("wide_40000", "wide.png", "ok"),
    Case("all_white", "white.png", "ok"),
    Case("all_black", "black.png", "ok"),
    Case("cmyk", "cmyk.tif", "ok", same_as_base=True, tolerance=0.5),
    Case("cmyk_jpeg", "cmyk.jpg", "ok", same_as_base=True, tolerance=6.0),
    Case("gray16", "gray16.png", "ok", same_as_base=True, tolerance=0.5),
    Case("float", "float.tif", "ok", same_as_base=True, tolerance=0.5),
    Case("bilevel", "bilevel.png", "ok", same_as_base=True),
    Case("palette", "palette.png", "ok", same_as_base=True),
    Case("rgb_jpeg", "line.jpg", "ok", same_as_base=True, tolerance=6.0),
    Case("transparent", "transparent.png", "ok", same_as_base=True, tolerance=0.5),
    Case("gray_alpha", "gray_alpha.png", "ok", same_as_base=True, tolerance=0.5),
    Case("palette_transparent", "palette_transparent.gif", "ok", same_as_base=True),
    Case("animated_gif", "animated.gif", "ok", same_as_base=True),
    Case("multipage_tiff", "pages.tif", "ok", same_as_base=True),
    Case("exif_rotated_jpeg", "photo.jpg", "ok", same_as_base=True, tolerance=6.0),
    Case("bmp", "line.bmp", "ok", same_as_base=True),
    Case("webp", "line.webp", "ok", same_as_base=True),
)

BY_NAME = {c.name: c for c in CASES}
EXPECTED = {c.name: c.outcome for c in CASES}


def base_line() -> np.ndarray:
    """A 400×64 uint8 line: black (0) text and strokes on white (255), no gray."""
    img = Image.new("L", (400, 64), 255)
    draw = ImageDraw.Draw(img)
    draw.fontmode = "1"  # no anti-aliasing: two gray levels only
    draw.text((12, 10), BASE_TEXT, fill=0, font=ImageFont.load_default(size=36))
    draw.line([(300, 50), (390, 14)], fill=0, width=4)
    return np.asarray(img, dtype=np.uint8).copy()


def _bomb_png(side: int = 10_000) -> bytes:
    """A genuine, valid gray PNG of side×side white pixels (~120 KB on disk)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    comp = zlib.compressobj(9)
    row = b"\x00" + b"\xff" * side
    idat = b"".join(comp.compress(row) for _ in range(side)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def build_corpus(folder: str | Path) -> dict[str, Path]:
    """Write every case of :data:`CASES` into ``folder``; return {name: path}."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    base = base_line()
    L = Image.fromarray(base)
    png = _png(L)
    paths = {c.name: folder / c.filename for c in CASES}

    def write(name: str, data: bytes) -> None:
        paths[name].write_bytes(data)

    write("zero_bytes", b"")
    write("truncated_png", png[: len(png) // 2])
    buf = io.BytesIO()
    L.convert("RGB").save(buf, format="JPEG", quality=95)
    write("truncated_jpeg", buf.getvalue()[: len(buf.getvalue()) // 2])
    write("text", "A PLAN to meet Mr. Brown\nfor a walk along the river bank\n".encode())
    write("html", b"<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head><body>Not Found</body></html>\n")
    write(
        "svg",
        b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="400" height="64">'
        b'<text x="10" y="40">move to stop</text></svg>\n',
    )
    write("random_bytes", np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    write("bomb", _bomb_png())
    write("one_pixel", _png(Image.new("L", (1, 1), 0)))
    paths["directory"].mkdir(exist_ok=True)
    # "missing" is deliberately not created

    for name in ("png", "wrong_extension", "name_with_spaces", "name_non_ascii"):
        write(name, png)
    write("strip_3px", _png(Image.fromarray(base[30:33])))
    write("wide_40000", _png(Image.fromarray(np.tile(base, (1, 100)))))
    write("all_white", _png(Image.new("L", (400, 64), 255)))
    write("all_black", _png(Image.new("L", (400, 64), 0)))
    L.convert("RGB").convert("CMYK").save(paths["cmyk"], format="TIFF")
    L.convert("RGB").convert("CMYK").save(paths["cmyk_jpeg"], format="JPEG", quality=95)
    write("gray16", _png(Image.fromarray(base.astype(np.uint16) * 257)))
    Image.fromarray(base.astype(np.float32) / 255.0).save(paths["float"], format="TIFF")
    write("bilevel", _png(L.convert("1", dither=Image.Dither.NONE)))
    write("palette", _png(L.convert("RGB").convert("P", palette=Image.Palette.ADAPTIVE, colors=4)))
    L.convert("RGB").save(paths["rgb_jpeg"], format="JPEG", quality=95)

    ink = 255 - base  # alpha: opaque where the ink is
    rgba = np.zeros((*base.shape, 4), dtype=np.uint8)
    rgba[..., 3] = ink  # black ink on a fully transparent (black!) background
    write("transparent", _png(Image.fromarray(rgba, "RGBA")))
    la = np.stack([np.zeros_like(base), ink], axis=-1)
    write("gray_alpha", _png(Image.fromarray(la, "LA")))
    # palette with a transparent index whose colour is black: must become white
    pal = Image.fromarray(np.where(base == 0, 1, 0).astype(np.uint8), "P")
    pal.putpalette([0, 0, 0, 0, 0, 0] + [0] * (254 * 3))
    pal.save(paths["palette_transparent"], format="GIF", transparency=0)

    other = Image.fromarray(255 - base)
    L.save(paths["animated_gif"], format="GIF", save_all=True, append_images=[other, L], duration=100, loop=0)
    L.save(paths["multipage_tiff"], format="TIFF", save_all=True, append_images=[other, Image.new("L", (200, 50), 255)])

    # stored rotated 90° counter-clockwise, with EXIF orientation 6 ("rotate 90° CW to view")
    exif = Image.Exif()
    exif[0x0112] = 6
    L.rotate(90, expand=True).convert("RGB").save(paths["exif_rotated_jpeg"], format="JPEG", quality=95, exif=exif)
    L.save(paths["bmp"], format="BMP")
    L.save(paths["webp"], format="WEBP", lossless=True)
    return paths
