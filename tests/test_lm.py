"""The character language model and the CTC prefix beam search that uses it."""

from __future__ import annotations

import numpy as np
import pytest

from htr import ctc
from htr.alphabet import BLANK, CHARS, NUM_CLASSES
from htr.lm import CharLM, iam_train_lm, lm_beam_decode

IDX = {c: i for i, c in enumerate(CHARS)}


def frames(spec, n_per=3, floor=1e-4):
    """Probabilities (T, 80) from a list of {char: prob} per frame; each frame followed by blanks."""
    rows = []
    for d in spec:
        for _ in range(n_per):
            r = np.full(NUM_CLASSES, floor)
            for c, p in d.items():
                r[IDX[c]] = p
            r[BLANK] = max(0.0, 1 - r.sum() + r[BLANK])
            rows.append(r / r.sum())
        blank = np.full(NUM_CLASSES, floor)
        blank[BLANK] = 1.0
        rows.append(blank / blank.sum())
    return np.array(rows, np.float32)


def test_distributions_are_proper_and_follow_the_counts():
    lm = CharLM.fit(["the cat sat on the mat"] * 5 + ["a dog"], order=3)
    for prefix in ["", "t", "th", "the ", "zzz", "the cat sat on the ma"]:
        p = lm.probs(prefix)
        assert p.shape == (len(CHARS),) and np.all(p > 0)
        assert p.sum() == pytest.approx(1.0, abs=1e-9)
    assert lm.probs("th").argmax() == IDX["e"]
    assert lm.probs("th")[IDX["e"]] > 0.5
    assert lm.probs("")[IDX["t"]] > lm.probs("")[IDX["q"]]  # lines start with "t" here, never "q"
    # a context never seen ("qh") is the shorter one's ("h"), as a bigram model has it
    bigram = CharLM.fit(["the cat sat on the mat"] * 5 + ["a dog"], order=2)
    assert np.allclose(lm.probs("qh"), bigram.probs("h"))
    assert not np.allclose(lm.probs("th"), bigram.probs("h"))


def test_in_domain_text_is_less_surprising():
    lm = CharLM.fit(["the quick brown fox jumps over the lazy dog"] * 3, order=4)
    assert lm.perplexity(["the lazy dog"]) < lm.perplexity(["gdo yzla eth"]) < len(CHARS) + 1


def test_distributions_are_read_only_and_beam_width_is_checked():
    lm = CharLM.fit(["abc abc"], order=3)
    with pytest.raises(ValueError):
        lm.probs("ab")[0] = 1.0  # a caller must not change the model
    with pytest.raises(ValueError, match="beam_width"):
        lm_beam_decode(frames([{"a": 0.9}]), lm, beam_width=0)


def test_fit_rejects_nothing_to_learn():
    with pytest.raises(ValueError):
        CharLM.fit(["", "   ", "éé"])
    with pytest.raises(ValueError):
        CharLM.fit(["abc"], order=0)


def test_the_language_model_fixes_an_ambiguous_letter():
    # the model is torn between g and h in "t?e"; greedy takes g, English says h
    probs = frames([{"t": 0.9}, {"g": 0.5, "h": 0.4}, {"e": 0.9}], n_per=1)
    assert ctc.best_path(probs).text == "tge"
    lm = CharLM.fit(["the then they the other"] * 4, order=3)
    out = lm_beam_decode(probs, lm)
    assert out.text == "the"
    assert [s.char for s in out.spans] == ["t", "h", "e"]  # spans from forced alignment
    assert out.spans[0].end < out.spans[1].start <= out.spans[1].end < out.spans[2].start
    # with no weight on the LM and no bonus it is plain CTC beam search
    assert lm_beam_decode(probs, lm, alpha=0.0, beta=0.0).text == ctc.beam_decode(probs).text == "tge"


def test_repeated_letters_need_a_blank_between():
    lm = CharLM.fit(["all is well"], order=3)
    probs = frames([{"a": 0.95}, {"l": 0.95}, {"l": 0.95}])  # blanks separate the two l's
    assert lm_beam_decode(probs, lm).text == "all"
    run = np.concatenate([frames([{"a": 0.95}]), frames([{"l": 0.95}], n_per=6)])  # one long l, no blank inside
    assert lm_beam_decode(run, lm, alpha=0.0, beta=0.0).text == "al"


def test_iam_train_lm_reads_only_the_train_split(iam_dir):
    lm = iam_train_lm(iam_dir)
    from htr.data.iam import IAM

    iam = IAM(iam_dir)
    assert lm.n_texts == len([i for i in iam.splits("aachen")["train"] if i in iam.lines])


def test_iam_train_lm_never_sees_validation_or_test_text(tmp_path):
    """A made-up IAM folder: sentinel words on the validation and test lines must not reach the model."""
    (tmp_path / "ascii").mkdir()
    (tmp_path / "splits" / "aachen").mkdir(parents=True)
    rows = {"r01-001-00": "the|train|line|here", "r01-002-00": "Qzxv|Wjkq|validation|sentinel",
            "r01-003-00": "Xqjz|Vkzq|test|sentinel"}
    (tmp_path / "ascii" / "lines.txt").write_text(
        "".join(f"{i} ok 180 5 0 0 100 40 {t}\n" for i, t in rows.items()))
    (tmp_path / "splits" / "aachen" / "train.lines.txt").write_text("r01-001-00\n")
    (tmp_path / "splits" / "aachen" / "validation.lines.txt").write_text("r01-002-00\n")
    (tmp_path / "splits" / "aachen" / "test.lines.txt").write_text("r01-003-00\n")
    lm = iam_train_lm(tmp_path)
    assert lm.n_texts == 1
    assert "the train line here"[-5:] in lm.ngrams
    for word in ("Qzxv", "Wjkq", "Xqjz", "Vkzq", "sentinel"):
        assert not any(word in g for g in lm.ngrams), word


def test_iam_train_lm_says_what_is_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="splits/aachen/train.lines.txt"):
        iam_train_lm(tmp_path)


def test_language_model_is_fitted_once_and_says_what_is_missing(iam_dir, tmp_path, monkeypatch):
    from htr.errors import EngineUnavailable
    from htr.lm import language_model

    assert language_model(iam_dir) is language_model(str(iam_dir))
    with pytest.raises(EngineUnavailable, match="splits/aachen/train.lines.txt"):
        language_model(tmp_path)
    monkeypatch.delenv("IAM_DIR", raising=False)
    monkeypatch.setattr("htr.data.iam.shared_iam_dir", lambda: None)
    with pytest.raises(EngineUnavailable, match="set IAM_DIR"):
        language_model()
