"""Where Easter2's weights live: a light module (no Keras import), so that
asking whether weights exist never loads TensorFlow."""

from __future__ import annotations

import os
from pathlib import Path

#: Where the shipped weights live, and their documented file name.
MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
DEFAULT_WEIGHTS = MODELS_DIR / "easter2.weights.h5"


def weights_path(path: str | os.PathLike | None = None) -> Path:
    """The weights file to use: ``path``, else $HTR_WEIGHTS, else the shipped one."""
    if path:
        return Path(path)
    env = os.environ.get("HTR_WEIGHTS")
    return Path(env) if env else DEFAULT_WEIGHTS


#: The vendored fonts the shipped weights were trained on, one name a line.
SHIPPED_FONTS = MODELS_DIR / "training" / "fonts.txt"


def fonts_seen_by_shipped_weights() -> frozenset[str]:
    """Names (file stems in ``htr/data/synth/fonts``) of the fonts the shipped weights trained on.

    Empty where the list is missing: nothing is then claimed about any font.
    """
    try:
        text = SHIPPED_FONTS.read_text(encoding="utf-8")
    except OSError:
        return frozenset()
    return frozenset(s.strip() for s in text.splitlines() if s.strip() and not s.startswith("#"))

#: The IAM forms whose lines the shipped weights trained on (the training-split
#: forms of the project's IAM subset; see models/MODEL_CARD.md).
SHIPPED_IAM_FORMS = ("a01-000u", "e04-068")


def iam_line_seen_by_shipped_weights(line_id: str) -> bool:
    """Whether the shipped weights trained on the IAM line ``line_id`` (a line of one of
    :data:`SHIPPED_IAM_FORMS`): reading it is no test of the model, it has seen it."""
    return line_id.rsplit("-", 1)[0] in SHIPPED_IAM_FORMS
