"""Text for synthetic lines: IAM training-split ground truth plus built-in English.

``training_texts(iam_dir, rng)`` returns the transcriptions of the IAM lines in
the Aachen *train* split only (decided by ``splits/aachen/train.lines.txt``;
validation and test lines never enter) and generated English lines that make
every one of the 79 characters occur: numbers, dates, times, money, quotes,
brackets, ``# * & +`` and the rest. No IAM text lives in this repository: it is
read from ``iam_dir`` at run time.

Text follows IAM's transcription convention: words separated by single spaces,
and punctuation written as its own word (``"Peers ."``, ``"effect ,"``,
``"said : " Yes "``), as ``ascii/lines.txt`` has it with ``|`` read as space.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from htr.alphabet import CHARS, normalize

MAX_CHARS = 80

# A small built-in vocabulary: common English words (lower case) and names.
_WORDS = """
the of and to a in that is was he for it with as his on be at by i this had not
are but from or have an they which one you were her all she there would their we
him been has when who will more no if out so said what up its about into than them
can only other new some could time these two may then do first any my now such like
our over man me even most made after also did many before must through back years
where much your way well down should because each just those people how too little
state good very make world still own see men work long get here between both life
being under never day same another know while last might us great old year off come
since against go came right used take three states himself few house use during
without again place around however home small found thought went say part once
general high upon school every does got united left number course war until always
away something fact though water less public put think almost hand enough far took
head yet government system better set told nothing night end why called didn't eyes
find going look asked later knew point next city business give group toward young
let room president side social given present several order national possible rather
second face per among form important often things looked early white case john
become large big need four within felt along children saw best church ever least
power development light thing seemed family interest want members mind country area
others done although open god service certain kind problem began different door thus
help sense means whole matter perhaps itself york times law human line above name
example action company hands local show whether five history gave today either act
feet across taken past quite anything seen having death week experience body word
half really field am car words already themselves information tell together college
shall money period held keep sure probably free seems political real behind miss
question air office making brought whose special major heard problems federal became
study ago moment available known result street economic boy position reason change
south board individual job society areas west close turned love community true court
force full seem am labour party minister britain london england english tory peers
committee meeting policy council report parliament debate vote secretary foreign
""".split()

_NAMES = """
Gaitskell Michael Foot Griffiths Kennedy Macmillan London Paris Africa Europe
Mary James Elizabeth Charles Smith Brown Jones Taylor Wilson Davies Evans Thomas
Johnson Roberts Walker Wright Robinson Thompson White Hughes Edwards Green Hall
Wood Harris Lewis Martin Jackson Clarke Clark Turner Hill Scott Cooper Morris Ward
Moore King Watson Baker Harrison Morgan Patel Young Allen Mitchell Bell Anderson
Sunday Monday Tuesday Wednesday Thursday Friday Saturday January February March
April May June July August September October November December Oxford Cambridge
Manchester Edinburgh Glasgow Wales Ireland Scotland America Moscow Berlin Rome
Queen Sir Lord Lady Dr Mrs Mr Professor Captain Colonel Bishop Prince
""".split()

# Words that carry the letters English text seldom has (q, x, z, j, k, v, ...).
_RARE = """
quiz zone Zealand Zurich Xerxes Queen Quebec Victoria Venice Yorkshire jazz quick
lazy fox box six size prize amazing quite equal quarter exact expect next jump judge
major object knowledge kept vivid view value very Zambia Quaker Xavier Vienna Kenya
Jupiter Yugoslavia Uganda Utah Ulster Iraq Iran Iceland Oxford Exeter Essex Kent
Jersey Zeus Quixote Yale Venus Kipling Zola Yeats Wolverhampton Norfolk Quinn
""".split()

_TITLES = ["Mr.", "Mrs.", "Dr.", "St.", "Sir", "Lord", "Lady", "Miss", "No.", "Co.", "Ltd."]


def _word(rng: np.random.Generator) -> str:
    r = rng.random()
    if r < 0.025:  # an initial or an acronym: every capital letter equally often
        caps = [chr(65 + int(rng.integers(26))) for _ in range(int(rng.integers(1, 4)))]
        return ".".join(caps) + "." if rng.random() < 0.6 else "".join(caps)
    if r < 0.06:
        return _RARE[rng.integers(len(_RARE))]
    if r < 0.1:
        w = _NAMES[rng.integers(len(_NAMES))]
    elif r < 0.13:
        w = _TITLES[rng.integers(len(_TITLES))]
    else:
        w = _WORDS[rng.integers(len(_WORDS))]
        if w == "i":
            w = "I"
        if rng.random() < 0.03:
            w = w.upper()
        elif rng.random() < 0.04:
            w = w.capitalize()
    if rng.random() < 0.02:  # possessives and contractions, IAM style ("man 's")
        w = w + rng.choice([" 's", "'s", "n't", "'ll"])
    return w


def _number(rng: np.random.Generator) -> str:
    kind = rng.integers(12)
    i = rng.integers
    if kind == 0:
        return str(i(1900, 2000))
    if kind == 1:
        return f"{i(1, 29)}/{i(1, 13)}/{i(50, 99)}"
    if kind == 2:
        return f"{i(1, 13)}.{i(0, 60):02d}"
    if kind == 3:
        return f"{i(1, 24)}:{i(0, 60):02d}"
    if kind == 4:
        return f"#{i(1, 100)}"
    if kind == 5:
        return f"{i(1, 20)} + {i(1, 20)}"
    if kind == 6:
        return f"{i(2, 12)}*{i(2, 12)}"
    if kind == 7:
        return f"{i(1, 1000)},{i(0, 1000):03d}"
    if kind == 8:
        return f"({i(1, 10)})"
    if kind == 9:
        return f"{i(10, 99)}-{i(10, 99)}"
    if kind == 10:
        return f"No. {i(1, 500)}"
    return str(i(0, 10 ** int(i(1, 5))))


def _sentence(rng: np.random.Generator, n_words: int) -> list[str]:
    """Tokens of one sentence, punctuation as separate tokens (IAM convention)."""
    toks: list[str] = []
    for k in range(n_words):
        r = rng.random()
        if r < 0.08:
            toks.append(_number(rng))
        else:
            toks.append(_word(rng))
        r = rng.random()
        if k < n_words - 1:
            if r < 0.08:
                toks.append(",")
            elif r < 0.095:
                toks.append(rng.choice([";", ":", "-", "&", "+", "*", "/"]))
    if toks and toks[0][:1].islower():
        toks[0] = toks[0].capitalize()
    r = rng.random()
    if r < 0.08 and len(toks) > 2:  # quoted speech
        a = int(rng.integers(0, len(toks) - 1))
        q = '"' if rng.random() < 0.7 else "'"
        toks.insert(a, q)
        toks.append(q)
    elif r < 0.13 and len(toks) > 2:  # a bracketed aside
        a = int(rng.integers(0, len(toks) - 1))
        b = int(rng.integers(a + 1, len(toks) + 1))
        toks.insert(b, ")")
        toks.insert(a, "(")
    elif r < 0.16:
        toks.insert(int(rng.integers(0, len(toks) + 1)), rng.choice(["*", "#", "&", "+"]))
    toks.append(str(rng.choice([".", ".", ".", ".", "?", "!", ".", ";", ":", ","])))
    return toks


def _iam_like_lengths(rng: np.random.Generator, n: int) -> np.ndarray:
    """Line lengths like IAM's: mostly 30-60 characters, some short line ends."""
    lengths = rng.normal(46, 10, n)
    short = rng.random(n) < 0.07
    lengths[short] = rng.uniform(1, 25, short.sum())
    return np.clip(np.round(lengths), 1, MAX_CHARS).astype(int)


def generated_texts(rng: np.random.Generator, n: int = 6000) -> list[str]:
    """``n`` generated English lines in IAM's style; together they contain
    every one of the 79 characters (a pangram line is added if one is missing)."""
    out: list[str] = []
    stream: list[str] = []
    for length in _iam_like_lengths(rng, n):
        line = ""
        while True:
            if not stream:
                stream = _sentence(rng, int(rng.integers(4, 18)))
            tok = stream[0]
            cand = f"{line} {tok}" if line else tok
            if len(cand) > length and line:
                break
            if len(cand) > MAX_CHARS:  # a single very long token: cut it
                cand = cand[:MAX_CHARS]
            line = cand
            stream.pop(0)
            if len(line) >= length:
                break
        out.append(normalize(line))
    missing = set(CHARS) - set("".join(out)) - {" "}
    if missing:
        out.append(normalize("".join(sorted(missing)))[:MAX_CHARS])
    return [t for t in out if t]


def iam_train_texts(iam_dir: Path) -> list[str]:
    """Transcriptions of the IAM lines in the Aachen train split (no others)."""
    iam_dir = Path(iam_dir)
    lines_txt = iam_dir / "ascii" / "lines.txt"
    split = iam_dir / "splits" / "aachen" / "train.lines.txt"
    if not lines_txt.is_file() or not split.is_file():
        raise FileNotFoundError(f"{iam_dir}: needs ascii/lines.txt and splits/aachen/train.lines.txt")
    train = {s.strip() for s in split.read_text().split() if s.strip()}
    texts = []
    with open(lines_txt, encoding="utf-8", errors="replace") as fh:
        for row in fh:
            if row.startswith("#") or not row.strip():
                continue
            parts = row.rstrip("\n").split(" ", 8)
            if len(parts) < 9 or parts[0] not in train:
                continue
            text = normalize(parts[8].replace("|", " "))
            if 0 < len(text) <= MAX_CHARS:
                texts.append(text)
    return texts


def training_texts(iam_dir: Path | None, rng: np.random.Generator, n_generated: int | None = None) -> list[str]:
    """IAM Aachen-train ground truth (when ``iam_dir`` is given) plus generated
    English lines (by default half as many as IAM lines, or 6000 without IAM),
    shuffled. Every one of the 79 characters occurs."""
    texts = iam_train_texts(iam_dir) if iam_dir is not None else []
    # generated lines are word salad from a small vocabulary: enough of them to
    # teach digits, punctuation and rare capitals, not so many that they
    # outweigh real English (IAM's LOB sentences) when those are there
    if n_generated is None:
        n_generated = max(2000, len(texts) // 2) if texts else 6000
    n = n_generated
    texts = texts + generated_texts(rng, n)
    order = rng.permutation(len(texts))
    return [texts[i] for i in order]
