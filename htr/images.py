"""Read any image a user may hand us into one form: 8-bit gray, ink dark on white.

Everything after this module works on ``numpy`` arrays of shape (H, W) and
dtype uint8. Anything that cannot be read raises :class:`htr.errors.ImageError`
with the message ``"<name>: <reason>"`` — ``name`` being the path as given or
the upload's name — so the CLI and the app can show it as it is.

What is read (the raster formats Pillow reads, see ``FORMATS``): PNG, JPEG, TIFF (multipage: first page,
or every page with :func:`load_pages`), BMP, GIF (animated: first frame), WebP.
EXIF orientation is applied. Every mode is turned into gray:

* ``1``, ``L``, ``P``, ``RGB``, ``CMYK``, ``YCbCr`` … : Pillow's luminance;
* anything with transparency (``RGBA``, ``LA``, ``PA``, ``P``/``L``/``RGB``
  with a transparent colour) is composited on WHITE, so ink drawn on a
  transparent background reads as ink on white;
* integer modes ``I;16*`` and ``I``: values already within 0..255 are kept
  (8-bit data stored wide), values within 0..65535 are divided by 257 (full
  16-bit range), anything else is stretched from its min..max;
* float mode ``F``: NaN/inf become 0; data within 0..1 is scaled by 255,
  within 0..255 is kept, anything else is stretched from its min..max.

Refused with a reason: missing path, directory, empty file, a file over
``MAX_FILE_BYTES``, not an image (text, HTML, SVG, PDF get a hint), truncated
or corrupt data, more than ``MAX_PIXELS`` pixels (decompression bombs are
caught from the header, before any pixel is decoded), fewer than ``MIN_SIDE``
pixels on a side. Very wide or tall images are read; callers scale them.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
import warnings
from pathlib import Path
from typing import BinaryIO, Union

import numpy as np
from PIL import Image, ImageOps, ImageSequence, UnidentifiedImageError

from htr.errors import ImageError

Source = Union[str, os.PathLike, bytes, bytearray, memoryview, BinaryIO]

#: Images with more pixels than this are refused (a 300-dpi A4 scan is ~9 Mpx).
MAX_PIXELS = 60_000_000
#: Files larger than this are refused before they are read into memory.
MAX_FILE_BYTES = 200 * 1024 * 1024
#: An image must be at least this many pixels wide and high.
MIN_SIDE = 2
#: :func:`load_pages` refuses files whose pages add up to more pixels than this.
MAX_TOTAL_PIXELS = 200_000_000
#: :func:`load_pages` reads at most this many pages or frames by default.
MAX_PAGES = 100
#: Raster formats we let Pillow open. EPS is left out on purpose (Pillow runs
#: Ghostscript on it), and so are scientific containers that need plugins.
FORMATS = (
    "PNG", "JPEG", "MPO", "TIFF", "BMP", "DIB", "GIF", "WEBP", "AVIF", "JPEG2000", "PPM", "PCX",
    "DCX", "TGA", "ICO", "SGI", "QOI", "PSD", "XBM", "XPM", "IM", "MSP", "SUN",
)


# warnings.catch_warnings swaps process-wide state: one opener at a time (header parse only)
_OPEN_LOCK = threading.Lock()


def _formats() -> list[str]:
    Image.init()
    return [f for f in FORMATS if f in Image.OPEN]


# --------------------------------------------------------------------------
# public API


def load_image(source: Source, name: str | None = None) -> np.ndarray:
    """Read ``source`` (path, bytes, or binary file object) into uint8 gray (H, W).

    The first page of a multipage file, the first frame of an animation.
    ``name`` is used in error messages; it defaults to the path as given or
    the file object's ``name`` attribute.
    """
    data, label = _read_source(source, name)
    with _open(data, label) as img:
        return _page_to_gray(img, label)


def load_pages(source: Source, name: str | None = None, max_pages: int = MAX_PAGES) -> list[np.ndarray]:
    """Every page (TIFF) or frame (GIF, WebP) of ``source`` as uint8 gray arrays.

    A single-page file gives a list of one. At most ``max_pages`` are read.
    """
    data, label = _read_source(source, name)
    pages: list[np.ndarray] = []
    total = 0
    with _open(data, label) as img:
        try:
            for i, frame in enumerate(ImageSequence.Iterator(img)):
                if i >= max_pages:
                    break
                total += frame.size[0] * frame.size[1]
                if total > MAX_TOTAL_PIXELS:
                    raise ImageError(
                        f"{label}: the first {i + 1} pages add up to over {MAX_TOTAL_PIXELS / 1e6:.0f} Mpx; "
                        "split the file"
                    )
                pages.append(_page_to_gray(frame, label if i == 0 else f"{label} (page {i + 1})"))
        except ImageError:
            raise
        except Exception as exc:  # a later page is broken: report it, keep no half result
            raise ImageError(f"{label}: page {len(pages) + 1} cannot be read ({_describe(exc)})") from exc
    return pages


def ensure_dark_on_light(gray: np.ndarray) -> tuple[np.ndarray, bool]:
    """Invert light-on-dark images (chalk on a board, a negative) to dark on light.

    Uses the two gray classes of Otsu's threshold: when the darker class holds
    most of the pixels, the background is dark and the image is inverted.
    A dim photo of paper (gray paper, darker ink) is left alone. Returns the
    image and whether it was inverted. Not applied by :func:`load_image`.
    """
    arr = np.asarray(gray, dtype=np.uint8)
    hist = np.bincount(arr.ravel(), minlength=256).astype(np.float64)
    if hist.sum() == 0:
        return arr, False
    p = hist / hist.sum()
    omega = np.cumsum(p)
    mu = np.cumsum(p * np.arange(256))
    with np.errstate(divide="ignore", invalid="ignore"):
        between = np.nan_to_num((mu[-1] * omega - mu) ** 2 / (omega * (1.0 - omega)))
    t = int(np.argmax(between))
    if between[t] <= 0 or omega[t] <= 0.5:  # one gray level, or the light class is the larger
        return arr, False
    return (255 - arr).astype(np.uint8), True


def image_hash(gray: np.ndarray) -> str:
    """A short stable hex key for an image array (shape, dtype and pixels)."""
    arr = np.ascontiguousarray(gray)
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{arr.shape}|{arr.dtype.str}|".encode())
    h.update(arr.tobytes())
    return h.hexdigest()


def to_png_bytes(gray: np.ndarray) -> bytes:
    """Encode a uint8 (H, W) array as PNG bytes (lossless; round-trips exactly)."""
    arr = np.asarray(gray)
    if arr.dtype != np.uint8 or arr.ndim != 2:
        raise ValueError(f"to_png_bytes wants uint8 (H, W), got {arr.dtype} {arr.shape}")
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


# --------------------------------------------------------------------------
# reading the bytes


def _read_source(source: Source, name: str | None) -> tuple[bytes, str]:
    """Return the file's bytes and the label used in error messages."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        label = name or "<bytes>"
        data = bytes(source)
    elif isinstance(source, (str, os.PathLike)):
        label = name or os.fspath(source)
        data = _read_path(source, label)
    elif hasattr(source, "read"):
        label = name or str(getattr(source, "name", "") or "<upload>")
        try:
            if hasattr(source, "getvalue"):
                data = source.getvalue()
            else:
                if hasattr(source, "seek"):
                    try:
                        source.seek(0)
                    except Exception:  # unseekable stream: read from where it is
                        pass
                data = source.read(MAX_FILE_BYTES + 1)
        except Exception as exc:
            raise ImageError(f"{label}: cannot read the upload ({_describe(exc)})") from exc
        if isinstance(data, str):
            raise ImageError(f"{label}: got text, not image bytes (open the file in binary mode)")
        data = bytes(data)
    else:
        raise ImageError(f"{name or type(source).__name__}: not a path, bytes or file object")
    if len(data) == 0:
        raise ImageError(f"{label}: file is empty (0 bytes)")
    if len(data) > MAX_FILE_BYTES:
        raise ImageError(f"{label}: file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB")
    return data, label


def _read_path(source: str | os.PathLike, label: str) -> bytes:
    try:
        path = Path(source)
        if not path.exists():
            raise ImageError(f"{label}: no such file")
        if path.is_dir():
            raise ImageError(f"{label}: is a directory, not an image file")
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ImageError(f"{label}: file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB")
        with open(path, "rb") as fh:
            return fh.read(MAX_FILE_BYTES + 1)
    except ImageError:
        raise
    except PermissionError as exc:
        raise ImageError(f"{label}: permission denied") from exc
    except (OSError, ValueError) as exc:  # NUL in the name, name too long, I/O error
        raise ImageError(f"{label}: cannot open ({_describe(exc)})") from exc


class _open:
    """Context manager: Pillow image from bytes, with header checks, or ImageError."""

    def __init__(self, data: bytes, label: str):
        self.data, self.label = data, label
        self.img: Image.Image | None = None

    def __enter__(self) -> Image.Image:
        label = self.label
        try:
            with _OPEN_LOCK, warnings.catch_warnings():  # catch_warnings is process-wide
                # Pillow only warns between its two limits; ours is lower anyway
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                img = Image.open(io.BytesIO(self.data), formats=_formats())
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageError(_bomb_message(label)) from exc
        except UnidentifiedImageError as exc:
            raise ImageError(f"{label}: not an image Pillow can read{_sniff_hint(self.data)}") from exc
        except Exception as exc:
            raise ImageError(f"{label}: not a readable image ({_describe(exc)})") from exc
        self.img = img
        w, h = img.size
        if w * h > MAX_PIXELS:
            img.close()
            raise ImageError(
                f"{label}: image is {w}×{h} = {w * h / 1e6:.0f} Mpx, over the limit of "
                f"{MAX_PIXELS / 1e6:.0f} Mpx (decompression bomb?)"
            )
        return img

    def __exit__(self, *exc) -> None:
        if self.img is not None:
            self.img.close()


# --------------------------------------------------------------------------
# one page → gray


def _page_to_gray(img: Image.Image, label: str) -> np.ndarray:
    try:
        img.load()
    except Image.DecompressionBombError as exc:
        raise ImageError(_bomb_message(label)) from exc
    except Exception as exc:  # truncated stream, bad CRC, bad header, codec error
        raise ImageError(f"{label}: file is truncated or corrupt ({_describe(exc)})") from exc
    try:
        img = ImageOps.exif_transpose(img) or img
    except Exception:  # a malformed EXIF block is not worth refusing the image for
        pass
    w, h = img.size
    if w < MIN_SIDE or h < MIN_SIDE:
        raise ImageError(f"{label}: image is {w}×{h} pixels, too small to hold text")
    if w * h > MAX_PIXELS:
        raise ImageError(f"{label}: image is {w}×{h}, over the limit of {MAX_PIXELS / 1e6:.0f} Mpx")
    try:
        gray = _to_gray(img)
    except Exception as exc:
        raise ImageError(f"{label}: cannot convert image mode {img.mode} to gray ({_describe(exc)})") from exc
    return np.ascontiguousarray(gray, dtype=np.uint8)


def _to_gray(img: Image.Image) -> np.ndarray:
    mode = img.mode
    if mode == "L" and "transparency" not in img.info:
        return np.asarray(img, dtype=np.uint8)
    if mode == "1":
        return np.asarray(img.convert("L"), dtype=np.uint8)
    if mode in ("I", "F") or mode.startswith("I;"):
        return _wide_to_gray(img)
    if mode == "LAB":
        return np.asarray(img.getchannel("L"), dtype=np.uint8)
    if mode == "HSV":
        return np.asarray(img.getchannel("V"), dtype=np.uint8)
    has_alpha = mode in ("RGBA", "RGBa", "LA", "La", "PA") or "transparency" in img.info
    if has_alpha:
        rgba = img.convert("RGBA")
        alpha = np.asarray(rgba.getchannel("A"), dtype=np.uint32)
        lum = np.asarray(rgba.convert("RGB").convert("L"), dtype=np.uint32)
        # over white, rounded: (lum·a + 255·(255 − a)) / 255, in integers to spare memory
        return ((lum * alpha + 255 * (255 - alpha) + 127) // 255).astype(np.uint8)
    if mode in ("L", "P", "RGB"):
        return np.asarray(img.convert("L"), dtype=np.uint8)
    return np.asarray(img.convert("RGB").convert("L"), dtype=np.uint8)


def _wide_to_gray(img: Image.Image) -> np.ndarray:
    arr = np.asarray(img).astype(np.float32)
    if arr.ndim == 3:  # unusual multi-channel wide modes: average the channels
        arr = arr.mean(axis=2)
    finite = np.isfinite(arr)
    if not finite.all():
        arr = np.where(finite, arr, 0.0)
    lo, hi = float(arr.min()), float(arr.max())
    if img.mode == "F" and lo >= 0.0 and hi <= 1.0:
        out = arr * 255.0
    elif lo >= 0.0 and hi <= 255.0:
        out = arr
    elif img.mode != "F" and lo >= 0.0 and hi <= 65535.0:
        out = arr / 257.0
    elif hi > lo:
        out = (arr - lo) * (255.0 / (hi - lo))
    else:
        out = np.full_like(arr, 255.0)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------
# messages


def _bomb_message(label: str) -> str:
    return f"{label}: image has over {MAX_PIXELS / 1e6:.0f} Mpx, too large to decode safely (decompression bomb?)"


def _describe(exc: BaseException) -> str:
    msg = str(exc).strip()
    return f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__


def _sniff_hint(data: bytes) -> str:
    head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if b"<svg" in head or (head.startswith(b"<?xml") and b"svg" in data[:4096].lower()):
        return " (SVG is a vector format and is not supported: export it as PNG)"
    if head.startswith(b"<!doctype html") or head.startswith(b"<html") or b"<html" in head[:200]:
        return " (it is an HTML page, perhaps a failed download)"
    if head.startswith(b"%pdf"):
        return " (PDF is not supported: export the page as PNG)"
    if head.startswith(b"%!ps") or head.startswith(b"\xc5\xd0\xd3\xc6"):
        return " (PostScript/EPS is not supported: export it as PNG)"
    sample = data[:4096]
    if b"\x00" in sample:
        return ""
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(sample) - 4:  # not just a character cut at the end
            return ""
    return " (it looks like a text file)"
