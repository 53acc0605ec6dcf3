"""htr.images: every file and mode a user may bring, and every way it can be broken."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from htr import images
from htr.errors import ImageError
from htr.images import image_hash, load_image, load_pages, to_png_bytes
from tests.badinputs import BY_NAME, CASES, base_line, build_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, Path]:
    return build_corpus(tmp_path_factory.mktemp("bad inputs"))


@pytest.fixture(scope="module")
def base() -> np.ndarray:
    return base_line()


def _png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


# ---------------------------------------------------------------- the corpus


@pytest.mark.parametrize("case", [c for c in CASES if c.outcome == "refused"], ids=lambda c: c.name)
def test_refused_with_name_and_reason(corpus, case):
    path = corpus[case.name]
    with pytest.raises(ImageError) as err:
        load_image(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}: "), msg
    assert case.reason.lower() in msg.lower(), msg
    assert "Traceback" not in msg


@pytest.mark.parametrize("case", [c for c in CASES if c.outcome == "ok"], ids=lambda c: c.name)
def test_odd_but_valid_files_load(corpus, base, case):
    gray = load_image(corpus[case.name])
    assert gray.dtype == np.uint8 and gray.ndim == 2
    if case.same_as_base:
        assert gray.shape == base.shape
        diff = np.abs(gray.astype(int) - base.astype(int)).mean()
        assert diff <= case.tolerance, f"{case.name}: mean abs diff {diff:.2f}"


def test_extreme_shapes_keep_their_size(corpus, base):
    assert load_image(corpus["strip_3px"]).shape == (3, 400)
    wide = load_image(corpus["wide_40000"])
    assert wide.shape == (64, 40_000)
    assert np.array_equal(wide[:, :400], base)
    assert (load_image(corpus["all_white"]) == 255).all()
    assert (load_image(corpus["all_black"]) == 0).all()


def test_multipage_and_animation(corpus, base):
    pages = load_pages(corpus["multipage_tiff"])
    assert [p.shape for p in pages] == [(64, 400), (64, 400), (50, 200)]
    assert np.array_equal(pages[0], base) and np.array_equal(pages[1], 255 - base)
    assert (pages[2] == 255).all()
    frames = load_pages(corpus["animated_gif"])
    assert len(frames) == 3
    assert np.array_equal(frames[1], 255 - base)
    assert len(load_pages(corpus["multipage_tiff"], max_pages=2)) == 2
    assert len(load_pages(corpus["png"])) == 1


def test_load_pages_refuses_like_load_image(corpus):
    with pytest.raises(ImageError, match="empty"):
        load_pages(corpus["zero_bytes"])


# ---------------------------------------------------------------- sources


def test_bytes_and_file_objects(corpus, base):
    data = corpus["png"].read_bytes()
    assert np.array_equal(load_image(data), base)
    assert np.array_equal(load_image(bytearray(data)), base)
    assert np.array_equal(load_image(io.BytesIO(data)), base)
    assert np.array_equal(load_image(str(corpus["png"])), base)
    with open(corpus["png"], "rb") as fh:
        assert np.array_equal(load_image(fh), base)


def test_upload_name_in_errors():
    class Upload(io.BytesIO):
        name = "my scan.png"

    with pytest.raises(ImageError, match=r"^my scan\.png: file is empty"):
        load_image(Upload(b""))
    with pytest.raises(ImageError, match=r"^upload\.jpg: not an image"):
        load_image(b"hello there", name="upload.jpg")
    with pytest.raises(ImageError, match=r"^<bytes>: "):
        load_image(b"\x89PNG\r\n\x1a\n garbage")


def test_strange_paths_and_sources(tmp_path):
    with pytest.raises(ImageError, match="cannot open|no such file"):
        load_image("bad\x00name.png")
    with pytest.raises(ImageError, match="not a path"):
        load_image(12345)  # type: ignore[arg-type]
    with pytest.raises(ImageError, match="binary mode"):
        load_image(io.StringIO("text"), name="t.png")


# ---------------------------------------------------------------- modes


def _line_rgb(base: np.ndarray) -> np.ndarray:
    """A colourful page: blue ink on yellowish paper, same layout as ``base``."""
    rgb = np.empty((*base.shape, 3), dtype=np.uint8)
    ink = base == 0
    rgb[ink] = (20, 30, 120)
    rgb[~ink] = (250, 245, 210)
    return rgb


def test_rgb_is_luminance(base):
    rgb = _line_rgb(base)
    gray = load_image(_png_bytes(Image.fromarray(rgb)))
    expect = np.asarray(Image.fromarray(rgb).convert("L"))
    assert np.array_equal(gray, expect)
    assert gray[base == 0].max() < 60 and gray[base == 255].min() > 200


def test_rgba_ink_on_transparent_reads_as_ink_on_white(base):
    # the transparent pixels carry garbage colour: it must not show
    rgba = np.zeros((*base.shape, 4), dtype=np.uint8)
    rgba[..., :3] = np.random.default_rng(1).integers(0, 256, (*base.shape, 3))
    rgba[base == 0] = (0, 0, 0, 255)
    rgba[base == 255, 3] = 0
    gray = load_image(_png_bytes(Image.fromarray(rgba, "RGBA")))
    assert np.array_equal(gray, base)


def test_half_transparent_blends_toward_white():
    rgba = np.zeros((4, 4, 4), dtype=np.uint8)
    rgba[..., 3] = 128  # black at 50% opacity
    gray = load_image(_png_bytes(Image.fromarray(rgba, "RGBA")))
    assert np.all(np.abs(gray.astype(int) - 127) <= 1)


def test_pa_mode(base):
    img = Image.fromarray(np.where(base == 0, 1, 0).astype(np.uint8), "P")
    img.putpalette([255, 0, 0, 0, 0, 0] + [0] * 762)
    pa = img.convert("PA")
    alpha = Image.fromarray(np.where(base == 0, 255, 0).astype(np.uint8))
    pa.putalpha(alpha)
    assert pa.mode == "PA"
    # PA cannot be saved as PNG by Pillow: exercise the conversion directly
    assert np.array_equal(images._to_gray(pa), base)


def test_l_with_transparent_value(base):
    buf = io.BytesIO()
    Image.fromarray(np.where(base == 0, 0, 7).astype(np.uint8)).save(buf, format="PNG", transparency=7)
    assert np.array_equal(load_image(buf.getvalue()), base)


def test_cmyk_jpeg_reads_like_rgb_jpeg(base):
    rgb = Image.fromarray(_line_rgb(base))
    a, b = io.BytesIO(), io.BytesIO()
    rgb.save(a, format="JPEG", quality=95)
    rgb.convert("CMYK").save(b, format="JPEG", quality=95)
    ga, gb = load_image(a.getvalue()), load_image(b.getvalue())
    assert np.abs(ga.astype(int) - gb.astype(int)).mean() < 3


@pytest.mark.parametrize("mode", ["I;16", "I;16B"])
def test_16bit_full_range(base, mode):
    arr = base.astype(np.uint16) * 257
    img = Image.fromarray(arr).convert(mode) if mode != "I;16" else Image.fromarray(arr)
    if mode == "I;16B":
        img = Image.frombytes("I;16B", (arr.shape[1], arr.shape[0]), arr.astype(">u2").tobytes())
    assert np.array_equal(images._to_gray(img), base)


def test_16bit_png_roundtrip(base):
    arr = (base.astype(np.uint16) * 257).clip(0, 65535)
    arr[base == 255] = 60000  # not quite white in 16 bits
    gray = load_image(_png_bytes(Image.fromarray(arr)))
    assert gray[base == 0].max() == 0
    assert np.all(gray[base == 255] == round(60000 / 257))


def test_32bit_integer(base):
    img = Image.fromarray(base.astype(np.int32) * 1000, "I")  # beyond 16 bits: stretched
    assert np.array_equal(images._to_gray(img), base)
    small = Image.fromarray(base.astype(np.int32), "I")  # 8-bit values stored wide
    assert np.array_equal(images._to_gray(small), base)


def test_float_ranges(base, tmp_path):
    unit = base.astype(np.float32) / 255.0
    p = tmp_path / "unit.tif"
    Image.fromarray(unit).save(p)
    assert np.array_equal(load_image(p), base)
    weird = base.astype(np.float32) * 10.0 - 1000.0  # any range: stretched
    assert np.array_equal(images._to_gray(Image.fromarray(weird)), base)
    nan = unit.copy()
    nan[0, 0] = np.nan
    out = images._to_gray(Image.fromarray(nan))
    assert out.dtype == np.uint8 and out[0, 0] == 0
    flat = Image.fromarray(np.full((5, 5), 3e9, np.float32))
    assert (images._to_gray(flat) == 255).all()


def test_one_bit_and_palette(base):
    bits = Image.fromarray(base).convert("1", dither=Image.Dither.NONE)
    assert bits.mode == "1"
    assert np.array_equal(load_image(_png_bytes(bits)), base)
    pal = Image.fromarray(_line_rgb(base)).convert("P", palette=Image.Palette.ADAPTIVE, colors=2)
    gray = load_image(_png_bytes(pal))
    assert gray[base == 0].max() < 60 and gray[base == 255].min() > 200


@pytest.mark.parametrize("orientation", [2, 3, 4, 5, 6, 7, 8])
def test_exif_orientation_png(base, orientation):
    # store the pixels so that applying the EXIF orientation gives back `base`
    inverse = {
        2: Image.Transpose.FLIP_LEFT_RIGHT,
        3: Image.Transpose.ROTATE_180,
        4: Image.Transpose.FLIP_TOP_BOTTOM,
        5: Image.Transpose.TRANSPOSE,
        6: Image.Transpose.ROTATE_90,
        7: Image.Transpose.TRANSVERSE,
        8: Image.Transpose.ROTATE_270,
    }[orientation]
    stored = Image.fromarray(base).transpose(inverse)
    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    stored.save(buf, format="PNG", exif=exif)
    assert np.array_equal(load_image(buf.getvalue()), base)


def test_exif_rotated_jpeg_equals_original_rotated(corpus, base):
    raw = Image.open(corpus["exif_rotated_jpeg"])
    assert raw.size == (64, 400)  # stored on its side
    assert load_image(corpus["exif_rotated_jpeg"]).shape == base.shape


# ---------------------------------------------------------------- limits


def test_bomb_refused_before_decoding(corpus, monkeypatch):
    # even with Pillow's own guard switched off, our header check refuses it
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    with pytest.raises(ImageError, match="Mpx"):
        load_image(corpus["bomb"])


def test_bomb_refused_when_warnings_are_errors(corpus):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ImageError, match="decompression bomb"):
            load_image(corpus["bomb"])


def test_pixel_limit_is_configurable(base, monkeypatch):
    monkeypatch.setattr(images, "MAX_PIXELS", 1000)
    with pytest.raises(ImageError, match="over the limit"):
        load_image(_png_bytes(Image.fromarray(base)))


def test_file_size_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(images, "MAX_FILE_BYTES", 100)
    p = tmp_path / "big.png"
    p.write_bytes(b"\x00" * 200)
    with pytest.raises(ImageError, match="larger than"):
        load_image(p)
    with pytest.raises(ImageError, match="larger than"):
        load_image(b"\x00" * 200)


def test_two_pixels_is_enough_one_is_not():
    assert load_image(_png_bytes(Image.new("L", (2, 2), 0))).shape == (2, 2)
    for size in [(1, 50), (50, 1)]:
        with pytest.raises(ImageError, match="too small"):
            load_image(_png_bytes(Image.new("L", size, 0)))


def test_corrupt_middle_of_png(base):
    data = bytearray(_png_bytes(Image.fromarray(base)))
    data[60:80] = b"\xff" * 20  # inside the IDAT chunk: CRC and zlib both break
    with pytest.raises(ImageError, match="truncated or corrupt|not a readable|not an image"):
        load_image(bytes(data), name="bad.png")


# ---------------------------------------------------------------- helpers


def test_png_bytes_roundtrip_and_hash(base):
    data = to_png_bytes(base)
    assert np.array_equal(load_image(data), base)
    h = image_hash(base)
    assert h == image_hash(base.copy()) and len(h) == 32
    changed = base.copy()
    changed[0, 0] ^= 1
    assert image_hash(changed) != h
    assert image_hash(base.reshape(32, 800)) != h  # same bytes, other shape
    with pytest.raises(ValueError):
        to_png_bytes(base.astype(np.float32))


def test_real_iam_form_and_line(iam_dir):  # $IAM_DIR, else ../shared/iam; skipped without
    if not (iam_dir / "forms" / "a01-000u.png").is_file():
        pytest.skip(f"form a01-000u not found in {iam_dir / 'forms'}")
    form = load_image(iam_dir / "forms" / "a01-000u.png")
    assert form.shape == (3542, 2479)
    line = load_image(iam_dir / "lines" / "a01" / "a01-000u" / "a01-000u-00.png")
    assert line.dtype == np.uint8 and line.shape[1] > 5 * line.shape[0]
    assert np.median(line) > 200  # white paper, dark ink


def test_postscript_and_pdf_are_refused_without_running_anything():
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n"
    with pytest.raises(ImageError, match="PostScript/EPS is not supported"):
        load_image(eps, name="figure.eps")
    with pytest.raises(ImageError, match="PDF is not supported"):
        load_image(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", name="scan.pdf")
    assert "EPS" not in images.FORMATS


def test_other_raster_formats(base):
    for fmt in ("PPM", "TGA", "PCX"):
        buf = io.BytesIO()
        Image.fromarray(base).save(buf, format=fmt)
        assert np.array_equal(load_image(buf.getvalue()), base), fmt


def test_ensure_dark_on_light(base):
    from htr.images import ensure_dark_on_light

    out, flipped = ensure_dark_on_light(255 - base)
    assert flipped and np.array_equal(out, base)
    out, flipped = ensure_dark_on_light(base)
    assert not flipped and out is not None and np.array_equal(out, base)
    dim = (base.astype(int) * 90 // 255 + 20).astype(np.uint8)  # gray paper 110, ink 20: a dim photo
    assert not ensure_dark_on_light(dim)[1]
    assert not ensure_dark_on_light(np.zeros((5, 5), np.uint8))[1]  # all black stays as it is


def test_pages_add_up_to_a_limit(corpus, monkeypatch):
    monkeypatch.setattr(images, "MAX_TOTAL_PIXELS", 64 * 400 * 2)  # room for two of the three pages
    with pytest.raises(ImageError, match=r"first 3 pages add up to over"):
        load_pages(corpus["multipage_tiff"])
    assert len(load_pages(corpus["multipage_tiff"], max_pages=2)) == 2
