"""The one text mapping into IAM's 79 characters (htr.data.text): each rule, and what every output obeys."""

from __future__ import annotations

import pytest

from htr.alphabet import CHARS
from htr.data.lines import LineRecord
from htr.data.text import REPLACE, map_lines, to_iam


@pytest.mark.parametrize("text, expected", [
    ("La Fédération du Laos", "La Federation du Laos"),
    ("ÉNÉRAL Ça où", "ENERAL Ca ou"),
    ("cœur Œuvre æther", "coeur OEuvre aether"),
    ("l’été ‘a’", "l'ete 'a'"),
    ("«Bonjour» “dit-il”", '"Bonjour" "dit-il"'),
    ("1914–1918 — fin", "1914-1918 - fin"),
    ("N° 3, 1°", "No 3, 1o"),
    ("et puis…", "et puis..."),
    ("M^r le 1^er", "Mr le 1er"),
    ("ſoi-même", "soi-meme"),
])
def test_mapped_texts(text, expected):
    m = to_iam(text)
    assert m.text == expected and m.changed and not m.dropped


def test_white_space_is_collapsed_without_counting_as_a_change():
    m = to_iam("  trop \t d'espaces\u00a0ici\u202f! ")
    assert m.text == "trop d'espaces ici !" and not m.changed


def test_a_text_already_in_the_alphabet_is_kept_unchanged():
    m = to_iam("A MOVE to stop Mr. Gaitskell from")
    assert m.text == "A MOVE to stop Mr. Gaitskell from" and not m.changed


@pytest.mark.parametrize("text", ["un mot >barré< ici", "illisible >< ici", "><", "a >b c< d"])
def test_crossed_out_or_unreadable_marks_drop_the_line(text):
    m = to_iam(text)
    assert m.text is None and m.dropped.startswith("crossed-out or unreadable mark")


@pytest.mark.parametrize("text, chars", [
    ("100 % sûr", ["%"]),
    ("5 € et [note]", ["[", "]", "€"]),
    ("π vaut 3,14", ["π"]),
])
def test_characters_outside_the_alphabet_drop_the_line_and_are_named(text, chars):
    m = to_iam(text)
    assert m.text is None
    assert m.dropped == "outside the alphabet: " + " ".join(chars)


@pytest.mark.parametrize("text", ["", "   ", "^", "\t^ ^"])
def test_a_line_left_empty_is_dropped(text):
    assert to_iam(text).dropped == "empty"


TEXTS = [
    "La Fédération du Laos de football est une association",
    "depuis Le 1^er Janvier 1742 Jusques au d^er X^bre 1750.",
    "l’œuvre « complète » — N° 12…",
    "Ceci est mon Testament",
    "Ça coûte 100 %",
    "mot >barré<",
    "Æsop’s “fables”\u202fet  ſon  ami",
    "naïve façade, Noël",
    *REPLACE,
]


@pytest.mark.parametrize("text", TEXTS)
def test_every_output_is_in_the_alphabet_and_mapping_again_changes_nothing(text):
    m = to_iam(text)
    if m.text is None:
        return
    assert set(m.text) <= set(CHARS)
    assert m.text == " ".join(m.text.split())
    again = to_iam(m.text)
    assert again.text == m.text and not again.changed


def test_every_replacement_lands_in_the_alphabet():
    for src, dst in REPLACE.items():
        assert set(dst) <= set(CHARS), src


def test_map_lines_counts_what_each_rule_did():
    recs = [LineRecord(str(i), t, "h", "copiste") for i, t in enumerate(
        ["plain text", "été", "œuvre", "100 %", "a >b< c", "5 €", "", "x % €"])]
    kept, count = map_lines(recs)
    assert [(r.id, t) for r, t in kept] == [("0", "plain text"), ("1", "ete"), ("2", "oeuvre")]
    assert (count.source, count.lines, count.kept_as_is, count.mapped, count.dropped) == ("copiste", 8, 1, 2, 5)
    assert count.reasons == {"outside the alphabet": 3, "crossed-out or unreadable mark (>…<)": 1, "empty": 1}
    assert count.characters == {"%": 2, "€": 2}
    assert map_lines([], "poilus")[1].source == "poilus"
