"""The training-split lines that calibrate the full-int8 reader (precision ``"int8-full"``).

Full int8 fixes one scale per activation tensor from the values it takes on a
few representative lines (:class:`htr.runtime.LiteEaster2` with
``calibration``). Those lines must be ones the model may learn from, never
lines that choose or report anything, or every figure measured on them would
flatter the int8 reader:

* IAM: line images of the IAM copy (``$IAM_DIR``, else ``../shared/iam``)
  whose Aachen split is **train**, in id order; an ``e06-*`` line (the shared
  validation/test lines every CER here is measured on) is refused even where a
  copy's split file says otherwise;
* real hands: lines of **train** writers of ``models/training/hands_split.json``
  from the line-image sources (Copiste, Poilus: :func:`htr.data.hands.sample_lines`,
  a fixed draw), never a validation or report writer. UNIPEN (pen strokes) is
  left out: its reader parses the whole collection, minutes for a few lines.

Nothing is downloaded or cached on disk: the images are read in place when
the reader is built. Where neither folder is present there is nothing to
calibrate on and :func:`calibration_images` raises :class:`DataError`.
"""

from __future__ import annotations

import numpy as np

from htr.data.lines import DataError

#: IAM training lines used at most (the shared copy has 14: forms a01-000u and e04-068).
N_IAM = 8
#: Training-writer lines per real-hands source (Copiste, Poilus).
N_PER_SOURCE = 8
#: Line-image sources of ../shared/hands drawn from.
HAND_SOURCES = ("copiste", "poilus")


def _iam_train_images(iam_dir, n: int) -> list[tuple[str, np.ndarray]]:
    from htr.data.iam import IAM, IAMError, default_iam_dir, shared_iam_dir

    root = iam_dir or default_iam_dir() or shared_iam_dir()
    if root is None or n <= 0:
        return []
    try:
        iam = IAM(root)
        ids = [i for i in iam.available_lines()
               if not i.startswith("e06-") and iam.split_of(i, "aachen") == "train"]
        return [(i, iam.line_image(i)) for i in ids[:n]]
    except (IAMError, OSError):
        return []


def _hand_train_images(hands_dir, n: int) -> list[tuple[str, np.ndarray]]:
    from htr.data.hands import available_sources, line_image, sample_lines

    if n <= 0:
        return []
    out = []
    try:
        sources = [s for s in available_sources(hands_dir) if s in HAND_SOURCES]
    except (DataError, OSError):
        return []
    for source in sources:
        try:
            rows = sample_lines(source, "train", n, seed=0, hands_dir=hands_dir)
            out += [(f"{source}:{r.id}", line_image(r, hands_dir=hands_dir)) for r in rows
                    if r.split == "train"]
        except (DataError, OSError):
            continue
    return out


def calibration_images(iam_dir=None, hands_dir=None, n_iam: int = N_IAM,
                       n_per_source: int = N_PER_SOURCE) -> list[tuple[str, np.ndarray]]:
    """(line id, gray image) of the calibration lines: IAM train lines, then train hands.

    Raises :class:`DataError` where no training-split line is found.
    """
    out = _iam_train_images(iam_dir, n_iam) + _hand_train_images(hands_dir, n_per_source)
    if not out:
        raise DataError("no training-split lines to calibrate full int8 on: put the IAM copy at "
                        "../shared/iam (or set IAM_DIR) or the real hands at ../shared/hands (or set HANDS_DIR)")
    return out


def layout_input(gray: np.ndarray) -> np.ndarray:
    """A line as the int8 reader's input: prepared as the engine reads it (lean check on, the
    2000-column layout), cut a little past the ink; (1, W, 80) float32."""
    from htr.preprocess import WIDTH, prepare_line
    from htr.runtime import compute_width

    p = prepare_line(gray, WIDTH, deskew=True)
    return np.ascontiguousarray(p.x[None, : compute_width(p.content, "layout")])


def calibration_inputs(iam_dir=None, hands_dir=None, n_iam: int = N_IAM,
                       n_per_source: int = N_PER_SOURCE) -> list[np.ndarray]:
    """The calibration lines as layout inputs, for ``LiteEaster2(model, calibration=...)``."""
    return [layout_input(g) for _, g in calibration_images(iam_dir, hands_dir, n_iam, n_per_source)]
