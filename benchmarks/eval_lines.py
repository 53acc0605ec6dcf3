"""The lines the benchmarks measure on, and how an IAM benchmark skips where IAM is absent.

One definition for benchmarks/model_cer.py, inference_cer.py, latency.py,
page.py and threads.py, so that their figures speak of the same lines and
they all skip alike: one line on stderr that says why, exit status 2.

* the IAM copy: ``--iam-dir``, default ``$IAM_DIR``, else ``../shared/iam``;
* the real lines: every e06-* line image (validation/test forms: the shipped
  model never trained on them), with the true text and Aachen split;
* the held-back synthetic lines: rendered with a seed training never used;
* the same, a fixed number in each vendored font (benchmarks/font_cer.py).

Only line ids and numbers may be written from these: never IAM text or images.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import numpy as np

from htr.data.iam import IAM, shared_iam_dir

SKIPPED = 2  # exit status of a benchmark that could measure nothing here
SYNTH_SEED = 20261125  # never used by training


def default_iam_dir() -> str | Path | None:
    """``$IAM_DIR`` as given, else ``../shared/iam`` beside the project where it exists."""
    return os.environ.get("IAM_DIR") or shared_iam_dir()


def add_iam_dir(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--iam-dir", default=default_iam_dir(),
                    help="the IAM copy (default: $IAM_DIR, else ../shared/iam)")


def skip(reason: str) -> NoReturn:
    """Say why nothing is measured, and end the benchmark with exit status 2."""
    print(f"skipped: {reason}; nothing measured", file=sys.stderr)
    raise SystemExit(SKIPPED)


def require_iam_dir(iam_dir: str | Path | None) -> Path:
    if not iam_dir or not Path(iam_dir).is_dir():
        skip("no IAM copy here (set IAM_DIR or place it at ../shared/iam)")
    return Path(iam_dir)


def open_iam(iam_dir: str | Path | None) -> IAM:
    """The IAM copy at ``iam_dir``; skips the benchmark where there is none."""
    return IAM(require_iam_dir(iam_dir))


def e06_ids(iam: IAM) -> list[str]:
    """Ids of every e06-* line that has its image, sorted."""
    return sorted(line for line in iam.lines if line.startswith("e06-") and iam.has_line_image(line))


@dataclass
class Lines:
    ids: list[str]
    refs: list[str]  # the true text of each line
    images: list[np.ndarray]  # uint8 gray, as htr.data.iam reads them
    split: dict[str, str]  # line id -> Aachen split ("validation", "test", or "?")

    def groups(self) -> dict[str, list[int]]:
        """Indexes of all the lines, of the validation lines and of the test lines."""
        return {
            "real e06 (all)": list(range(len(self.ids))),
            "real e06 validation": [k for k, i in enumerate(self.ids) if self.split[i] == "validation"],
            "real e06 test": [k for k, i in enumerate(self.ids) if self.split[i] == "test"],
        }


def e06_lines(iam_dir: str | Path | None) -> Lines:
    """The real lines of the IAM copy at ``iam_dir``; skips the benchmark where there are none."""
    iam = open_iam(iam_dir)
    ids = e06_ids(iam)
    if not ids:
        skip(f"no e06-* line images under {iam_dir}")
    return Lines(ids, [iam.lines[i].text for i in ids], [iam.line_image(i) for i in ids],
                 {i: iam.split_of(i, "aachen") or "?" for i in ids})


def heldback_synthetic(n: int) -> tuple[list[str], list[np.ndarray]]:
    """``n`` synthetic lines (texts, images) from a seed training never used: the same on every call."""
    from htr.data.synth.corpus import training_texts
    from htr.data.synth.render import LineRenderer

    rng = np.random.default_rng(SYNTH_SEED)
    renderer = LineRenderer(seed=SYNTH_SEED)
    texts = training_texts(None, rng)
    chosen = [texts[i] for i in rng.integers(0, len(texts), n)]
    return chosen, [renderer.render(t, rng) for t in chosen]


def font_synthetic(per_font: int) -> tuple[list[str], list[list[str]], list[list[np.ndarray]]]:
    """(font names, texts per font, images per font): ``per_font`` held-back lines drawn in each
    vendored font (seed ``SYNTH_SEED + 1``, generated English), the same on every call."""
    from htr.data.synth.corpus import training_texts
    from htr.data.synth.render import LineRenderer

    rng = np.random.default_rng(SYNTH_SEED + 1)
    renderer = LineRenderer(seed=SYNTH_SEED + 1)
    pool = training_texts(None, rng)
    names = [p.stem for p in renderer.paths]
    texts, images = [], []
    for i in range(len(names)):
        chosen = [pool[k] for k in rng.integers(0, len(pool), per_font)]
        texts.append(chosen)
        images.append([renderer.render(t, rng, font_index=i) for t in chosen])
    return names, texts, images
