"""Synthetic handwriting lines for training Easter2: vendored fonts, an
IAM-like line renderer, TACo and long-line augmentation, and training text.

Runtime needs only Pillow and numpy.
"""

from htr.data.synth.fonts import FONT_DIR, font_names, font_paths
from htr.data.synth.render import LineRenderer, Style, corrupt, join_lines

__all__ = ["FONT_DIR", "LineRenderer", "Style", "corrupt", "font_names", "font_paths", "join_lines"]
