"""Every recognizer behind one interface, looked up by name."""

from __future__ import annotations

from htr.engines.base import Engine

ENGINE_NAMES = ("easter2", "easyocr", "tesseract")


def get_engine(name: str, **options) -> Engine:
    """A new engine instance by name. Options an engine does not take are ignored.

    Imports are lazy so that asking for one engine never loads another's
    heavy dependencies (TensorFlow, torch).
    """
    if name == "easter2":
        from htr.engines.easter2 import Easter2Engine

        keep = {k: v for k, v in options.items() if k in ("weights", "decoder", "width", "lm_dir", "deskew")}
        return Easter2Engine(**keep)
    if name == "tesseract":
        from htr.engines.tesseract import TesseractEngine

        keep = {k: v for k, v in options.items() if k in ("timeout",)}
        return TesseractEngine(**keep)
    if name == "easyocr":
        from htr.engines.easyocr_engine import EasyOCREngine

        keep = {k: v for k, v in options.items() if k in ("gpu",)}
        return EasyOCREngine(**keep)
    raise ValueError(f"unknown engine {name!r}: choose from {', '.join(ENGINE_NAMES)}")


__all__ = ["ENGINE_NAMES", "Engine", "get_engine"]
