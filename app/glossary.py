"""The words a student meets in the app, each explained in one or two plain sentences.

One place for the text: the Glossary page lists every entry, and the pages that
use a word put its entry in a help tooltip (``help=glossary.help("blank")``)
or in a line of notes under a table (:func:`notes_for`).
"""

from __future__ import annotations

import re

#: term -> its explanation. Keys are written as the app writes the word.
TERMS: dict[str, str] = {
    "CER": "Character error rate: how many characters must be changed, added or removed to turn a "
    "reading into the true text, divided by the number of true characters. 0 % is perfect; it can "
    "pass 100 % when a reader adds much text that is not there.",
    "WER": "Word error rate: the same count as the CER, but of whole words, so one wrong letter makes "
    "its whole word wrong. It is usually higher than the CER.",
    "punctuation-fair CER": "The CER after the spaces around punctuation are taken out of both texts: "
    "IAM writes \"dog .\" where most readers write \"dog.\", and this CER does not count that as an error.",
    "greedy": "Greedy decoding takes the single most likely character at each time step, merges "
    "repeats and drops the blanks. It is the fastest way to turn the network's output into text.",
    "beam search": "A decoder that keeps the few most likely partial texts (the beam) as it moves "
    "along the line and returns the most likely whole line, instead of deciding step by step.",
    "language model": "A model of which letter sequences are likely in English. Beam search adds its "
    "score, so a reading that looks like English wins over a look-alike that does not.",
    "5-gram": "A character 5-gram model guesses each character from the four before it, from counts "
    "in a body of text (here the transcriptions of IAM's training lines).",
    "CTC": "Connectionist Temporal Classification: how Easter2 is trained and read. The network "
    "outputs a character or a blank at each time step; merging repeats and removing blanks gives "
    "the text, so nobody has to mark where each letter sits.",
    "focal CTC": "The CTC training loss, reweighted so that lines the model already reads well count "
    "less and hard lines count more; Easter2's paper trains with it.",
    "time step": "Easter2 reads a line as a row of narrow slices, one for every 4 pixel columns of its "
    "80-pixel-high input. For each slice (a time step) it gives a probability to every character "
    "and to the blank.",
    "blank": "An extra symbol meaning \"no new character here\". It sits between letters, so a real "
    "double letter (ll) can be told from one wide letter seen at two steps.",
    "forced alignment": "Finding where each character of a known true text sits along the line: the "
    "most likely path through the time steps that spells exactly that text.",
    "channel": "One of the features a layer computes at every position along the line, such as \"a "
    "loop here\" or \"a tall stroke here\". Each of Easter2's units computes 256 of them.",
    "Squeeze-and-Excitation": "A block that squeezes each channel to one number (its average over the "
    "line), then learns from those numbers how far to turn each channel up or down for this image.",
    "gate": "The number between 0 and 1 that a Squeeze-and-Excitation block multiplies a channel by: "
    "near 1 lets the channel through, near 0 turns it off.",
    "saliency": "How much the model's answer would change if a pixel changed (the gradient). Hot "
    "pixels are the ones the answer depends on.",
    "int8": "Numbers stored as 8-bit integers instead of 32-bit floats: the model's weights become "
    "four times smaller and a CPU computes with them faster, at a tiny cost in accuracy.",
    "XNNPACK": "A library of fast neural-network routines for ordinary CPUs; TensorFlow Lite runs "
    "Easter2's int8 model with it.",
    "bfloat16": "A 16-bit number format with the range of a 32-bit float but fewer digits; processors "
    "that support it natively compute in it about twice as fast as in float32.",
    "float32": "The usual 32-bit floating-point numbers that a network is trained in.",
    "TACo": "Tiling and Corruption, Easter2's augmentation: vertical strips of a training line are "
    "blanked, blotted or noised while its label stays, so the model learns to read from context.",
    "IAM": "The IAM Handwriting Database: about 13,000 lines of English written by 657 people, "
    "collected at the University of Bern; the usual test of line readers.",
    "Aachen split": "A division of IAM's lines into training, validation and test sets, from RWTH "
    "Aachen University, that most papers since 2016 use, so their test scores can be compared.",
    "validation": "Lines kept out of training and used to check progress and choose the best "
    "checkpoint. A score on them is fair only if the model never trained on them.",
    "epoch": "One round of training between two checks on the validation lines.",
    "confidence": "The probability the model gave to the character it chose. A low one means the "
    "model hesitated there.",
    "segmentation": "Finding where each text line sits on a page, so each line can be read on its own.",
}

#: The terms the classroom review (issue 15) found unexplained; each must have an entry and a tooltip.
REVIEWED = ("greedy", "beam search", "5-gram", "int8", "XNNPACK", "bfloat16", "Squeeze-and-Excitation",
            "gate", "channel", "forced alignment", "time step", "blank", "Aachen split", "WER", "TACo",
            "focal CTC")


def explain(term: str) -> str:
    """The explanation of ``term`` (case-insensitive); KeyError for a word not in the glossary."""
    for key, text in TERMS.items():
        if key.lower() == term.lower():
            return text
    raise KeyError(term)


def help(*terms: str) -> str:  # noqa: A001 - named after the help= argument it fills
    """A tooltip (Markdown) explaining ``terms``, one short paragraph each."""
    return "\n\n".join(f"**{t}**: {explain(t)}" for t in terms)


def _pattern(term: str) -> re.Pattern:
    return re.compile(rf"(?<![\w-]){re.escape(term)}(?![\w-])", re.IGNORECASE)


def terms_in(text: str) -> list[str]:
    """The glossary terms ``text`` uses, in glossary order."""
    return [t for t in TERMS if _pattern(t).search(text or "")]


def notes_for(text: str) -> str:
    """``term: explanation · …`` (Markdown) for the terms ``text`` uses; "" when none."""
    found = terms_in(text)
    return " · ".join(f"**{t}**: {TERMS[t]}" for t in found)
