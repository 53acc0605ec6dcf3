"""Pack what a hands training run reads, small enough to travel to a GPU machine.

The device tool carries the repo and at most 64 MiB in all, and the hands folder
(``../shared/hands``) is about 160 MB. A run reads only the **train** and
**validation** hands (``models/training/hands_split.json``); the report hands
stay behind. So:

    python tools/pack_hands.py OUT [--height 80] [--quality 75]

- ``OUT/lines/hands/{copiste,poilus}/``: ``lines.tsv`` with the rows of the train and
  validation hands, each line image converted to grayscale, scaled down to at
  most ``--height`` rows (the model reads 80) and saved as WebP at ``--quality``
  (the set's own quality is 75);
- ``OUT/rest/unipen.tar.xz``: the UNIPEN folder as it is (pen strokes are text;
  xz makes 71 MB about 10); unpack it beside the two line sets;
- ``OUT/rest/iam.tar``: ``ascii/``, ``splits/`` and ``lines/`` of ``--iam-dir`` (no
  form scans).

- ``OUT/a/lines.zip``: ``OUT/lines`` again as one stored zip: the device tool refused
  the folder of some 7,750 small files as over 64 MiB, the zip of the same bytes fit.

How stage 11 used it (the device's /tmp outlives a call while the machine is warm,
about 30 s): a first call carries ``OUT/a`` and runs
``mkdir -p /tmp/hands && cd /tmp/hands && python3 -m zipfile -e $OLDPWD/.gpupack/a/lines.zip . && mv hands/* .``;
a second, made at once, carries ``OUT/rest`` and ``.whl``, unpacks ``unipen.tar.xz``
into ``/tmp/hands`` and ``iam.tar`` into ``.devdata/iam``, and runs
``HANDS_DIR=/tmp/hands bash tools/gpu_train.sh ...`` (README, stage 11).
Nothing here is committed: it is data a script makes again.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import zipfile
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from htr.data.hands import load_split  # noqa: E402


def pack_lines(src: Path, dst: Path, keep: set[str], height: int, quality: int) -> tuple[int, int]:
    """Copy the rows of ``keep``'s hands of one line set, images re-encoded; (lines, bytes)."""
    dst.mkdir(parents=True, exist_ok=True)
    n = size = 0
    # the rows are copied as they are (texts hold quotes), chosen by their hand column
    header, *rows = (src / "lines.tsv").read_text(encoding="utf-8").splitlines()
    cols = header.split("\t")
    kept = [header]
    for raw in rows:
        row = dict(zip(cols, raw.split("\t")))
        if row.get("hand") not in keep:
            continue
        image = Image.open(src / row["image"]).convert("L")
        if image.height > height:
            image = image.resize((max(1, round(image.width * height / image.height)), height), Image.LANCZOS)
        target = dst / row["image"]
        target.parent.mkdir(parents=True, exist_ok=True)
        image.save(target, "WEBP", quality=quality, method=6)
        kept.append(raw)
        n += 1
        size += target.stat().st_size
    (dst / "lines.tsv").write_text("\n".join(kept) + "\n", encoding="utf-8")
    return n, size


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", type=Path)
    p.add_argument("--hands-dir", type=Path, default=ROOT.parent / "shared" / "hands")
    p.add_argument("--iam-dir", type=Path, default=ROOT.parent / "shared" / "iam")
    p.add_argument("--height", type=int, default=80)
    p.add_argument("--quality", type=int, default=75)
    args = p.parse_args(argv)
    split = load_split()
    for source in ("copiste", "poilus"):
        keep = set(split[source]["train"]) | set(split[source]["validation"])
        n, size = pack_lines(args.hands_dir / source, args.out / "lines" / "hands" / source, keep,
                             args.height, args.quality)
        print(f"{source}: {n} lines of {len(keep)} train and validation hands, {size / 1e6:.1f} MB")
    (args.out / "a").mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(args.out / "a" / "lines.zip", "w", zipfile.ZIP_STORED) as z:
        for f in sorted((args.out / "lines").rglob("*")):
            if f.is_file():
                z.write(f, f.relative_to(args.out / "lines"))
    rest = args.out / "rest"
    rest.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-C", str(args.hands_dir), "-cJf", str(rest / "unipen.tar.xz"), "unipen"], check=True)
    subprocess.run(["tar", "-C", str(args.iam_dir), "-cf", str(rest / "iam.tar"), "ascii", "splits", "lines"],
                   check=True)
    for f in [args.out / "a" / "lines.zip", *sorted(rest.iterdir())]:
        print(f"{f.name}: {f.stat().st_size / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
