"""Real hands on the How-it-learned page (its "Real hands" tab) and in the example gallery.

The tab reads ``../shared/hands`` (CC BY 4.0; skipped where absent) for Copiste
and Poilus; UNIPEN is exercised on a few made-up pen-stroke records (reading the
real 70 MB of strokes takes far longer than a test should), with the project's
stroke renderer where it is installed. The helpers of :mod:`htr.data.hands` the
tab uses are tested on a tiny line set of our own.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import numpy as np
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from htr.data import hands as H
from htr.data.lines import DataError, LineRecord, write_line_set

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "streamlit_app.py")
TRAINING = "app_pages/training.py"
EXAMPLES = ROOT / "examples"
SHARED_HANDS = ROOT.parent / "shared" / "hands"
TIMEOUT = 180

needs_hands = pytest.mark.skipif(
    not all((SHARED_HANDS / s / "lines.tsv").is_file() for s in ("copiste", "poilus")),
    reason=f"the real hands (Copiste, Poilus) not found at {SHARED_HANDS}",
)


# ---------------------------------------------------------------- the app, with Easter2 (random weights)


def _clear_caches():
    st.cache_resource.clear()
    st.cache_data.clear()


@pytest.fixture(scope="module")
def easter2(random_weights):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HTR_WEIGHTS", str(random_weights))
        mp.delenv("IAM_DIR", raising=False)
        mp.delenv("HANDS_DIR", raising=False)
        _clear_caches()
        yield
    _clear_caches()


def open_training(**state) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    at.switch_page(TRAINING).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def rerun(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def hands_tab(at: AppTest):
    (tab,) = [t for t in at.tabs if t.label == "Real hands"]
    return tab


def html_of(tab) -> str:
    return "\n".join(h.proto.body for h in tab.get("html"))


def shown_ids(tab) -> list[str]:
    """The ids of the lines on show (each line's text block names it)."""
    return re.findall(r"<b>Line:</b> <code>([^<]*)</code>", html_of(tab))


def image_urls(tab) -> list[str]:
    return [img.proto.imgs[0].url for img in tab.get("image")]


@needs_hands
@pytest.mark.slow
def test_real_hands_tab_shows_lines_beside_font_lines_with_credit_and_split(easter2):
    from app.real_hands import N_LINES

    at = open_training()
    tab = hands_tab(at)
    assert tab.radio(key="hands_source").options[:2] == ["Copiste d'un jour", "Testaments de Poilus"]
    committed = H.load_split()
    for source, title in (("copiste", "Copiste d'un jour"), ("poilus", "Testaments de Poilus")):
        if title != tab.radio(key="hands_source").value:
            tab.radio(key="hands_source").set_value(title)
            rerun(at)
            tab = hands_tab(at)
        # each line: the real image and its font twin, both read and scored
        assert len(tab.get("image")) == 2 * N_LINES
        assert [m.label for m in tab.metric] == ["CER", "CER, punctuation spacing ignored"] * (2 * N_LINES)  # each with its fair CER
        names = [m.value for m in tab.markdown if m.value.startswith("**")]
        assert names.count("**Written by a person**") == N_LINES
        assert sum(n.startswith("**Drawn from a font** — ") for n in names) == N_LINES
        # the collection's credit under the lines, the other's not
        captions = " ".join(c.value for c in tab.caption)
        assert H.CREDITS[source] in captions and "CC BY 4.0" in captions
        other = "poilus" if source == "copiste" else "copiste"
        assert H.CREDITS[other] not in captions
        # the hand's split, named as the committed split file has it, and what it means
        hand = tab.selectbox(key=f"hands_hand_{source}").value
        split = H.which_split(committed[source], hand)
        body = html_of(tab)
        assert f"<code>{hand}</code> is in the <b>{split}</b> split" in body
        assert H.SPLIT_MEANING[split] in body
        # the transcription as given; the mapped text where it differs; shown as text
        ids = shown_ids(tab)
        assert len(ids) == N_LINES and all(i.startswith(("imp_", "wikitexte", "TestamentsDePoilus")) for i in ids)
        table = {r.id: r for r in H.line_table(source)[0]}
        for i in ids:
            row = table[i]
            assert row.hand == hand and row.mapped is not None
            assert f"<code>{html.escape(row.text)}</code>" in body
            if row.mapped != row.text:
                assert f"<code>{html.escape(row.mapped)}</code>" in body
    meaning = " ".join(m.value for m in tab.markdown)
    for split in H.SPLITS:
        assert f"**{split}**" in meaning  # the three splits, each said in words
    assert "never used to choose anything" in meaning


@needs_hands
@pytest.mark.slow
def test_another_line_and_another_hand_change_the_lines(easter2):
    at = open_training()
    tab = hands_tab(at)
    first = shown_ids(tab)
    before = image_urls(tab)
    tab.button(key="hands_another_copiste").click()
    rerun(at)
    tab = hands_tab(at)
    second = shown_ids(tab)
    assert second and not set(second) & set(first)  # other lines of the same hand
    assert image_urls(tab)[0] != before[0]
    labels = tab.selectbox(key="hands_hand_copiste").options  # "hand — split, n lines"
    last = labels[-1].split(" — ")[0]
    tab.selectbox(key="hands_hand_copiste").set_value(last)
    rerun(at)
    third = shown_ids(hands_tab(at))
    table = {r.id: r for r in H.line_table("copiste")[0]}
    assert third and {table[i].hand for i in third} == {last}
    assert labels[-1] == f"{last} — {table[third[0]].split}, {sum(r.hand == last and r.usable for r in table.values())} lines"


@pytest.mark.slow
def test_without_the_hands_folder_the_tab_says_where_they_would_come_from(easter2, monkeypatch, tmp_path):
    monkeypatch.setenv("HANDS_DIR", str(tmp_path))  # there, but holding none of the sources
    at = open_training()
    tab = hands_tab(at)
    (info,) = tab.info
    assert "No real hands here" in info.value and "HANDS_DIR" in info.value and "Recognize" in info.value
    captions = " ".join(c.value for c in tab.caption)
    assert all(H.CREDITS[s] in captions for s in ("copiste", "poilus", "unipen"))
    assert not tab.get("image") and not tab.metric
    assert len(at.tabs[0].metric) == 2  # the rest of the page still works (a CER and its fair twin)


# ---------------------------------------------------------------- UNIPEN: pen strokes, drawn twice


def _fake_unipen(n_hands: int = 32) -> list[LineRecord]:
    """Pen-stroke records (y down, millimetres) of ``n_hands`` made-up writers, two lines each."""
    rng = np.random.default_rng(0)
    out = []
    for k in range(n_hands):
        for j in range(2):
            strokes = []
            for w in range(3):  # three 'words' of zigzags
                x = np.linspace(0, 12, 25) + 18 * w
                y = 3 + 2.5 * np.sin(x * 2.1 + k + j) + rng.normal(0, 0.1, x.size)
                strokes.append(np.stack([x, y], axis=1).astype(np.float32))
            out.append(LineRecord(id=f"fake-{k:02d}-{j}", text="one two three", hand=f"unipen-fake-w{k:02d}",
                                  source="unipen", strokes=tuple(strokes)))
    return out


def _fake_renderer(strokes, rng):
    """A stand-in for htr.data.strokes.render_strokes: the polyline drawn with a seeded pen width."""
    from PIL import Image, ImageDraw

    img = Image.new("L", (400, 60), int(rng.integers(220, 255)))
    draw = ImageDraw.Draw(img)
    width = int(rng.integers(1, 5))
    for s in strokes:
        draw.line([(float(x) * 6 + 10, float(y) * 6 + 10) for x, y in s], fill=20, width=width)
    return np.asarray(img, dtype=np.uint8)


@pytest.fixture
def fake_unipen(monkeypatch, tmp_path, easter2):
    """A hands folder holding only UNIPEN, whose reader returns made-up records."""
    import htr.data.unipen as unipen

    (tmp_path / "unipen" / "data").mkdir(parents=True)
    records = _fake_unipen()
    monkeypatch.setattr(unipen, "read_unipen", lambda root, sets=None: list(records))
    monkeypatch.setenv("HANDS_DIR", str(tmp_path))
    H._stroke_records.cache_clear()
    _clear_caches()
    yield records
    H._stroke_records.cache_clear()
    _clear_caches()


def _renderer(monkeypatch):
    """The project's renderer where it is installed, else the stand-in."""
    import importlib

    try:
        strokes = importlib.import_module("htr.data.strokes")
    except ImportError:
        import sys
        import types

        strokes = types.ModuleType("htr.data.strokes")
        monkeypatch.setitem(sys.modules, "htr.data.strokes", strokes)
    if not hasattr(strokes, "render_strokes"):
        monkeypatch.setattr(strokes, "render_strokes", _fake_renderer, raising=False)


@pytest.mark.slow
def test_unipen_lines_are_drawn_twice_and_draw_again_draws_anew(fake_unipen, monkeypatch):
    from app.real_hands import N_LINES

    _renderer(monkeypatch)
    at = open_training()
    tab = hands_tab(at)
    assert tab.radio(key="hands_source").options == ["UNIPEN (pen strokes)"]
    assert H.CREDITS["unipen"] in " ".join(c.value for c in tab.caption)
    # per line: two renderings of the same strokes side by side, and the font twin
    assert len(tab.get("image")) == 3 * N_LINES
    names = [m.value for m in tab.markdown if m.value.startswith("**")]
    assert names[:3] == ["**Drawn from pen strokes** — seed 0", "**Drawn from pen strokes** — seed 1",
                         names[2]] and names[2].startswith("**Drawn from a font** — ")
    assert len(tab.metric) == 2 * 3 * N_LINES  # each reading: the CER and the fair CER
    first = image_urls(tab)
    assert first[0] != first[1]  # two seeds, two drawings
    ids = shown_ids(tab)
    tab.button(key="hands_redraw").click()
    rerun(at)
    tab = hands_tab(at)
    assert shown_ids(tab) == ids  # the same lines…
    again = image_urls(tab)
    assert again[0] not in first[:2] and again[1] not in first[:2]  # …drawn anew
    assert again[2] == first[2]  # the font twin stays
    assert [m.value for m in tab.markdown if "pen strokes" in m.value][:2] == [
        "**Drawn from pen strokes** — seed 2", "**Drawn from pen strokes** — seed 3"]


@pytest.mark.slow
def test_unipen_without_its_renderer_says_so_and_shows_the_rest(fake_unipen, monkeypatch):
    import importlib
    import sys
    import types

    broken = types.ModuleType("htr.data.strokes")  # a renderer module without render_strokes
    monkeypatch.setitem(sys.modules, "htr.data.strokes", broken)
    importlib.invalidate_caches()
    at = open_training()
    tab = hands_tab(at)
    assert any("pen-stroke renderer is not installed" in i.value for i in tab.info)
    assert "one two three" in html_of(tab)  # the text and the font twin are still there
    assert any(m.value.startswith("**Drawn from a font**") for m in tab.markdown)


# ---------------------------------------------------------------- the helpers, on a line set of our own


@pytest.fixture
def tiny_hands(tmp_path):
    """A hands folder with a 'copiste' line set of 40 hands: 2 lines each, one line that maps, one dropped."""
    rows = []
    gray = np.full((20, 60), 240, np.uint8)
    gray[8:12, 10:50] = 20
    for k in range(40):
        hand = f"copiste-t{k:02d}"
        rows.append((LineRecord(id=f"t{k:02d}-0", text=f"ligne numéro {k}", hand=hand, source="copiste"), gray))
        rows.append((LineRecord(id=f"t{k:02d}-1", text="plain line", hand=hand, source="copiste"), gray))
        rows.append((LineRecord(id=f"t{k:02d}-2", text="barré >mot< ici", hand=hand, source="copiste"), gray))
    write_line_set(tmp_path / "copiste", rows)
    return tmp_path


def test_line_table_names_each_lines_split_and_mapped_text(tiny_hands):
    assert H.available_sources(tiny_hands) == ["copiste"]
    assert H.available_sources(tiny_hands / "nothing") == []
    splits = {"copiste": {"validation": ["copiste-t01"], "report": ["copiste-t02"], "train": []}}
    table, committed = H.line_table("copiste", tiny_hands, splits)
    assert committed and len(table) == 120
    row = {r.id: r for r in table}
    assert row["t01-0"].split == "validation" and row["t02-1"].split == "report" and row["t03-0"].split == "train"
    assert row["t05-0"].text == "ligne numéro 5" and row["t05-0"].mapped == "ligne numero 5"
    assert row["t05-1"].mapped == "plain line"
    assert row["t05-2"].mapped is None and "crossed-out" in row["t05-2"].dropped
    assert H.line_image(row["t05-0"]).shape == (20, 60)
    # a source missing from the split file: the rule applied to its hands, the same as `htr data split`
    table, committed = H.line_table("copiste", tiny_hands, {})
    rule = H.split_hands(r.hand for r in table)
    assert not committed and all(r.split == H.which_split(rule, r.hand) for r in table)
    assert H.hands_of(table)[0] == ("copiste-t00", H.which_split(rule, "copiste-t00"), 2)  # usable lines only


def test_sample_lines_walks_a_fixed_shuffle(tiny_hands):
    table, _ = H.line_table("copiste", tiny_hands, {})
    usable = [r for r in table if r.usable]
    seen = [r.id for seed in range(len(usable) // 4) for r in H.sample_lines(table, n=4, seed=seed)]
    assert sorted(seen) == sorted(r.id for r in usable)  # consecutive seeds: every line once
    assert H.sample_lines(table, n=4, seed=3) == H.sample_lines(table, n=4, seed=3)
    one = H.sample_lines(table, n=5, seed=0, hand="copiste-t07")
    assert {r.id for r in one} == {"t07-0", "t07-1"}  # fewer where there are fewer, never a dropped line
    assert H.sample_lines(table, n=1, seed=0, hand="copiste-t07") != H.sample_lines(table, n=1, seed=1,
                                                                                   hand="copiste-t07")
    for split in H.SPLITS:
        assert all(r.split == split for r in H.sample_lines(table, split, n=3, seed=1))
    assert H.sample_lines(table, n=2, hand="nobody") == []
    with pytest.raises(DataError, match="unknown split"):
        H.sample_lines(table, "test", n=2)
    # by source name it reads the table itself
    assert H.sample_lines("copiste", n=2, seed=0, hands_dir=tiny_hands)


# ---------------------------------------------------------------- the example gallery


def _hand_examples() -> list[dict]:
    return [r for r in json.loads((EXAMPLES / "examples.json").read_text(encoding="utf-8")) if r.get("credit")]


def test_the_real_hand_examples_are_credited_open_lines_never_iam():
    from htr.data.text import to_iam

    rows = _hand_examples()
    assert 3 <= len(rows) <= 4
    credits = (EXAMPLES / "hands" / "CREDITS.md").read_text(encoding="utf-8")
    assert "CC BY 4.0" in credits and "creativecommons.org/licenses/by/4.0" in credits
    split = H.load_split()
    for r in rows:
        assert r["source"] in ("copiste", "poilus")  # openly licensed; never IAM
        assert r["file"].startswith("hands/") and (EXAMPLES / r["file"]).is_file()
        assert r["credit"] == H.CREDITS[r["source"]] and r["credit"] in credits
        assert Path(r["file"]).name in credits and r["given"] in credits
        assert r["text"] == to_iam(r["given"]).text  # the true text is what the model can write
        assert r["split"] == "validation" == H.which_split(split[r["source"]], r["hand"])  # never trained on
        assert "CC BY 4.0" in r["name"]
    assert {r["source"] for r in rows} == {"copiste", "poilus"}
    assert not [p for p in (EXAMPLES / "hands").iterdir() if "iam" in p.name.lower()]


@needs_hands
def test_the_examples_are_the_lines_of_the_hands_folder():
    from htr.images import load_image

    for r in _hand_examples():
        row = {x.id: x for x in H.line_table(r["source"])[0]}[r["line"]]
        assert row.hand == r["hand"] and row.text == r["given"]
        assert np.array_equal(load_image(EXAMPLES / r["file"]), H.line_image(row))  # lossless copies


@pytest.mark.slow
def test_recognize_reads_a_real_hand_example_with_its_credit_and_cer(easter2):
    row = _hand_examples()[0]
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    at.switch_page("app_pages/recognize.py").run()
    at.selectbox(key="rec_example").set_value(row["name"])
    rerun(at)
    assert any(row["credit"] in c.value for c in at.caption)
    assert row["given"] in [t.value for t in at.text]  # the text as written, shown as text
    assert [m.label for m in at.metric][-2:] == ["Character error rate", "CER, punctuation spacing ignored"]
