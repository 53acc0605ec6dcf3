"""Images the tests draw themselves (no IAM): letter-like strokes on paper."""

import numpy as np


def synthetic_line(width: int = 700, height: int = 70, seed: int = 0) -> np.ndarray:
    """Ink-dark strokes of letter-like sizes on white paper."""
    rng = np.random.default_rng(seed)
    g = np.full((height, width), 248, np.uint8)
    x = 15
    while x < width - 30:
        w = int(rng.integers(4, 14))
        top = int(rng.integers(height // 6, height // 3))
        g[top : top + int(rng.integers(height // 4, height // 2)), x : x + w] = int(rng.integers(0, 60))
        x += w + int(rng.integers(4, 25))
    return g
