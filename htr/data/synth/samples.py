"""Side-by-side sheet of synthetic lines above real IAM lines, for looking.

    python -m htr.data.synth.samples [--out /tmp/synth_samples.png] [--n 14] [--seed 0]

Synthetic lines use the training texts (IAM Aachen-train ground truth when
IAM_DIR or ../shared/iam is there, else built-in text); real lines are the
line images found under IAM's lines/ folder. Every line is scaled to height 80,
as the trainer sees it. The sheet contains IAM images: never commit it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from htr.data.synth.corpus import training_texts
from htr.data.synth.render import LineRenderer


def _iam_dir() -> Path | None:
    from htr.data.iam import default_iam_dir, shared_iam_dir

    root = default_iam_dir() or shared_iam_dir()
    return root if root is not None and (root / "ascii" / "lines.txt").is_file() else None


def sheet(n: int = 14, n_real: int = 5, seed: int = 0, height: int = 80) -> Image.Image:
    rng = np.random.default_rng(seed)
    iam = _iam_dir()
    texts = training_texts(iam, rng)
    renderer = LineRenderer(seed=seed)
    lines = [renderer.render(t, rng) for t in texts[:n]]
    if iam is not None:
        paths = sorted((iam / "lines").glob("*/*/*.png"))
        for i in rng.permutation(len(paths))[:n_real]:
            lines.append(np.asarray(Image.open(paths[i]).convert("L")))
    lines = [np.asarray(Image.fromarray(a).resize((max(1, round(a.shape[1] * height / a.shape[0])), height)))
             for a in lines]
    width = max(a.shape[1] for a in lines)
    out = np.full((len(lines) * (height + 4), width), 128, np.uint8)
    for k, a in enumerate(lines):
        out[k * (height + 4): k * (height + 4) + height, : a.shape[1]] = a
    return Image.fromarray(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("/tmp/synth_samples.png"))
    ap.add_argument("--n", type=int, default=14, help="synthetic lines")
    ap.add_argument("--real", type=int, default=5, help="real IAM lines below them")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    sheet(args.n, args.real, args.seed).save(args.out)
    print(f"wrote {args.out} (contains IAM images: do not commit it)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
