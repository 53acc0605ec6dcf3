"""Synthetic handwriting lines: vendored fonts, renderer, augmentations, corpus."""

from __future__ import annotations

import json
import pickle
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import ImageFilter, ImageFont

from htr.alphabet import CHARS
from htr.data.synth import FONT_DIR, LineRenderer, corrupt, font_paths, join_lines
from htr.data.synth.fonts import font_names
from htr.data.synth.corpus import MAX_CHARS, generated_texts, iam_train_texts, training_texts
from htr.data.synth.render import Style, _Font, _space_factors

ROOT = Path(__file__).resolve().parent.parent

FONTS = font_paths()


@pytest.fixture(scope="module")
def renderer() -> LineRenderer:
    return LineRenderer(seed=0)


# ----------------------------------------------------------------- fonts
def test_at_least_50_font_families_with_licences():
    assert len(FONTS) >= 50
    readme = (FONT_DIR / "README.md").read_text()
    for path in FONTS:
        lic = FONT_DIR / f"{path.stem}.LICENSE.txt"
        assert lic.is_file() and lic.stat().st_size > 500, f"no licence text for {path.name}"
        text = lic.read_text()
        assert "Open Font License" in text or "Apache License" in text, path.name
        assert f"`{path.name}`" in readme, f"{path.name} missing from fonts/README.md"
    for banned in ("rock-salt", "walter-turncoat", "give-you-glory"):
        assert banned not in {p.stem for p in FONTS}


def test_fonts_are_plain_truetype_not_woff2():
    # any Pillow build (also one without WOFF2 support) must read them
    for path in FONTS:
        magic = path.read_bytes()[:4]
        assert magic in (b"\x00\x01\x00\x00", b"OTTO", b"true"), f"{path.name}: {magic!r}"
        ImageFont.truetype(str(path), 20)


@pytest.mark.parametrize("path", FONTS, ids=[p.stem for p in FONTS])
def test_every_font_inks_all_79_characters(path):
    font = _Font(path)
    blank = [c for c in CHARS if c != " " and np.asarray(font.glyph(c)[0]).max() < 128]
    assert not blank, f"{path.stem} draws no ink for {''.join(blank)!r}"
    # distinct shapes: a font that maps letters to one fallback box would repeat them
    shapes = {np.asarray(font.glyph(c)[0]).tobytes() for c in "abcdefghijklmnopqrstuvwxyz"}
    assert len(shapes) == 26, f"{path.stem} draws some lowercase letters identically"
    if font.erodible:  # fonts the renderer may thin: no glyph may vanish
        thin = [c for c in CHARS if c != " "
                and np.asarray(font.glyph(c)[0].filter(ImageFilter.MinFilter(3))).max() < 128]
        assert not thin, f"{path.stem}: erosion would erase {''.join(thin)!r}"


# ----------------------------------------------------------------- renderer
def test_render_looks_like_a_line_crop(renderer):
    rng = np.random.default_rng(1)
    for text in ["A PLAN to meet Mr. Brown at noon", "x", '" Yes , " said he ( 1926 ) #4 & *2 + 7 ?']:
        for _ in range(5):
            img = renderer.render(text, rng)
            assert img.dtype == np.uint8 and img.ndim == 2
            h, w = img.shape
            assert 60 <= h <= 140, img.shape
            if len(text) > 10:
                assert w > 4 * h
            if len(text) > 10:
                assert np.median(img) > 190, "background should be light paper"
            assert img.min() < 130, "ink should be dark"
            ink_rows = np.flatnonzero((img < 150).any(axis=1))
            assert ink_rows[-1] - ink_rows[0] + 1 > 0.5 * h, "text should fill most of the height"


def test_render_every_font_the_whole_alphabet(renderer):
    rng = np.random.default_rng(2)
    text = CHARS.strip()[:40] + " " + CHARS.strip()[40:]
    for i in range(len(renderer.paths)):
        img = renderer.render(text, rng, font_index=i)
        assert img.min() < 130 and img.shape[1] > 8 * img.shape[0], renderer.paths[i].stem


def test_jittered_glyph_variants_keep_their_ink(renderer):
    # every scaled / rotated / bent glyph bitmap must still show the whole glyph
    from htr.data.synth.render import _NANGLE, _NSCALE, _NSHAPES, _SCALE_STEP
    bad = []
    for fi in range(0, len(renderer.paths), 3):
        font = renderer.font(fi)
        for ch in ".,'iomQ&":
            ink = np.asarray(font.glyph(ch)[0]).astype(float).sum()
            for si in (-_NSCALE, 0, _NSCALE):
                for ai in (-_NANGLE, _NANGLE):
                    for vi in range(_NSHAPES + 1):
                        got = renderer._variant(font, ch, si, ai, vi)[0].astype(float).sum()
                        ratio = got / (ink * (1 + si * _SCALE_STEP) ** 2)
                        if not 0.7 < ratio < 1.4:
                            bad.append((font.path.stem, ch, si, ai, vi, round(ratio, 2)))
    assert not bad, bad[:10]


def test_render_is_reproducible_and_picklable(renderer):
    a = renderer.render("the same line", np.random.default_rng(5))
    b = renderer.render("the same line", np.random.default_rng(5))
    c = pickle.loads(pickle.dumps(renderer)).render("the same line", np.random.default_rng(5))
    assert np.array_equal(a, b) and np.array_equal(a, c)
    d = renderer.render("the same line", np.random.default_rng(6))
    assert a.shape != d.shape or not np.array_equal(a, d)


def test_default_aspect_is_iam_like(renderer):
    rng = np.random.default_rng(3)
    text = "planning a few more quiet walks by the sea"
    ratios = [(lambda im: im.shape[1] / im.shape[0] / len(text))(renderer.render(text, rng)) for _ in range(40)]
    # real IAM crops: median width per char / height 0.49, 25-75 % 0.38-0.53
    assert 0.38 < float(np.median(ratios)) < 0.62


def test_render_rejects_empty_text(renderer):
    with pytest.raises(ValueError):
        renderer.render("   ", np.random.default_rng(0))
    with pytest.raises(ValueError, match="outside the 79-character alphabet"):
        renderer.render("café", np.random.default_rng(0))  # a font could draw a box: a lying label
    with pytest.raises(ValueError):
        LineRenderer(fonts=[])


def test_narrow_spaces_follow_iam_punctuation_convention():
    assert _space_factors('" Yes , " said he ( 1926 ) .') == [True, True, True, False, False, False,
                                                               True, True, True]
    assert _space_factors("Peers . Mr. Foot") == [True, False, False]
    assert _space_factors("the man 's hat") == [False, True, False]


def test_word_space_style_sets_the_gaps_between_words():
    # some writers leave almost no gap between words (IAM's test form e06-033): the style can say so
    text = "a few words on a line of text"  # 7 spaces

    def width(word_space):
        r = LineRenderer(seed=0, style=Style(word_space=word_space, glyph_jitter=0.0, word_mode_p=1.0))
        font = r.font(0)
        return r._compose(text, font, np.random.default_rng(1)).width, font.space

    (tight, space), (wide, _) = width((0.1, 0.1)), width((2.5, 2.5))
    # same random draws, so only the 7 gaps differ: each by 2.4 spaces x a 0.8-1.25 jitter
    assert 7 * 2.4 * 0.8 * space - 2 <= wide - tight <= 7 * 2.4 * 1.25 * space + 2


# ----------------------------------------------------------------- augmentations
def test_distort_keeps_a_real_line_readable(renderer):
    # a "real" line: dark strokes on light, uneven paper
    rng = np.random.default_rng(4)
    img = np.full((90, 700), 235, np.uint8)
    img[30:60, 50:650:9] = 40
    img[:, :] = np.clip(img.astype(int) + rng.integers(-8, 8, img.shape), 0, 255)
    for _ in range(10):
        out = renderer.distort(img, rng)
        assert out.dtype == np.uint8 and out.shape[0] == 90
        assert 0.6 * 700 < out.shape[1] < 1.6 * 700
        assert np.median(out) > 190 and out.min() < 130
        # all 67 strokes survive: count dark runs along the middle row band
        band = (out[35:55] < 150).any(axis=0)
        runs = np.count_nonzero(band[1:] & ~band[:-1]) + int(band[0])
        assert 55 <= runs <= 75, runs
    with pytest.raises(ValueError):
        renderer.distort(np.zeros((2, 2), np.uint8), rng)



def _line(h=80, w=600):
    img = np.full((h, w), 245, np.uint8)
    img[20:60, 10:w - 10:7] = 20
    return img


def test_corrupt_keeps_shape_and_changes_tiles():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (80, 600), dtype=np.uint8)
    out = corrupt(img, rng, fraction=(0.5, 0.5))
    assert out.shape == img.shape and out.dtype == np.uint8
    changed = (out != img).any(axis=0)
    assert 0.1 < changed.mean() < 0.9
    assert np.array_equal(corrupt(img, rng, fraction=(0.0, 0.0)), img)
    assert (corrupt(img, rng, fraction=(1.0, 1.0)) != img).any(axis=0).mean() > 0.9
    with pytest.raises(ValueError):
        corrupt(np.zeros((3, 3, 3), np.uint8), rng)


def test_join_lines_scales_to_common_height():
    a, b, c = _line(80, 300), _line(100, 500), _line(90, 200)
    out = join_lines([a, b, c], gap=30)
    assert out.dtype == np.uint8 and out.shape[0] == 90
    expected = round(300 * 90 / 80) + round(500 * 90 / 100) + 200 + 2 * 30
    assert out.shape[1] == expected
    assert (out[:, 300 * 90 // 80 + 5: 300 * 90 // 80 + 25] > 200).all(), "the gap is background"
    with pytest.raises(ValueError):
        join_lines([])


# ----------------------------------------------------------------- corpus
def test_builtin_corpus_covers_all_79_characters():
    texts = training_texts(None, np.random.default_rng(0))
    assert len(texts) >= 5000
    assert set("".join(texts)) == set(CHARS)
    lengths = np.array([len(t) for t in texts])
    assert lengths.min() >= 1 and lengths.max() <= MAX_CHARS
    assert 35 <= np.median(lengths) <= 50  # IAM lines: median 44 characters
    assert all(t == t.strip() and "  " not in t for t in texts)
    # small runs still cover everything
    assert set("".join(generated_texts(np.random.default_rng(9), 50))) >= set(CHARS) - {" "}


def _iam_split(iam_dir, name):
    return set((iam_dir / "splits" / "aachen" / f"{name}.lines.txt").read_text().split())


def _iam_texts(iam_dir):
    out = {}
    for row in (iam_dir / "ascii" / "lines.txt").read_text().splitlines():
        if row and not row.startswith("#"):
            parts = row.split(" ", 8)
            out[parts[0]] = re.sub(" +", " ", parts[8].replace("|", " ")).strip()
    return out


def test_corpus_has_iam_train_lines_and_no_others(iam_dir):
    train = _iam_split(iam_dir, "train")
    held = _iam_split(iam_dir, "validation") | _iam_split(iam_dir, "test")
    assert train and held
    texts = _iam_texts(iam_dir)
    iam = iam_train_texts(iam_dir)
    train_texts = {texts[i] for i in train if len(texts[i]) <= MAX_CHARS}
    assert set(iam) == train_texts
    assert texts["a01-000u-00"] in iam  # a training form of the shared subset
    corpus = set(training_texts(iam_dir, np.random.default_rng(0)))
    assert train_texts <= corpus
    leaked = [i for i in held if texts[i] in corpus and texts[i] not in train_texts and len(texts[i]) > 25]
    assert not leaked, f"validation/test lines in the training text: {leaked[:5]}"
    for line_id in ("e06-006-00", "e06-033-00", "e06-041-02"):
        assert texts[line_id] not in corpus


# ----------------------------------------------------------------- specimen (the app's "How it learned")
def test_specimen_is_pinned_by_its_knobs_and_seed():
    from htr.data.synth.render import specimen

    a, font = specimen("Hello there, 42!", "kalam", seed=3)
    b, _ = specimen("Hello there, 42!", "kalam", seed=3)
    assert font == "kalam" and a.dtype == np.uint8 and a.shape[0] == 96
    np.testing.assert_array_equal(a, b)  # same knobs, same seed: the same picture
    wide, _ = specimen("Hello there, 42!", "kalam", seed=3, width=1.6)
    assert wide.shape[1] > a.shape[1] * 1.3  # letter width is a knob, not a random draw
    spaced, _ = specimen("Hello there, 42!", "kalam", seed=3, word_space=3.0)
    tight, _ = specimen("Hello there, 42!", "kalam", seed=3, word_space=0.3)

    def widest_gap(img):  # longest run of inkless columns between the first and last ink
        ink = np.flatnonzero((img < 128).any(axis=0))
        return int(np.diff(ink).max())

    assert widest_gap(spaced) > 2 * widest_gap(tight)  # the line keeps its width; the gaps change
    _, drawn = specimen("Hello", None, seed=5)
    assert drawn in font_names()  # no font named: one drawn by the seed


def test_specimen_refuses_what_it_cannot_draw():
    from htr.data.synth.render import specimen

    with pytest.raises(ValueError, match="no vendored font named 'comic-sans'"):
        specimen("Hello", "comic-sans")
    with pytest.raises(ValueError, match="outside the 79-character alphabet"):
        specimen("5 €", "kalam")


def test_fonts_seen_by_the_shipped_weights_are_vendored_fonts():
    from htr import weights

    seen = weights.fonts_seen_by_shipped_weights()
    assert len(seen) == 84 and seen <= set(font_names())  # every one still ships
    # stage 4 trained on every vendored font but the five it held out as unseen hands
    held = json.loads((ROOT / "tools" / "finetune_stage4.json").read_text())["holdout_fonts"]
    assert len(held) == 5 and not seen & set(held)
    assert seen | set(held) == set(font_names())


def test_fonts_seen_without_the_list_claims_nothing(monkeypatch, tmp_path):
    from htr import weights

    monkeypatch.setattr(weights, "SHIPPED_FONTS", tmp_path / "missing.txt")
    assert weights.fonts_seen_by_shipped_weights() == frozenset()


def test_font_benchmark_draws_every_font_the_same_way_each_time():
    from benchmarks.eval_lines import font_synthetic

    names, texts, images = font_synthetic(1)
    assert names == font_names()
    again = font_synthetic(1)
    assert texts == again[1] and all(np.array_equal(a[0], b[0]) for a, b in zip(images, again[2]))
