"""What mapping the real hands' texts into IAM's 79 characters does, per source.

    python benchmarks/text_mapping.py [--hands-dir DIR] [--out benchmarks/text_mapping]

The same count as ``python -m htr data mapping``: every line of copiste,
poilus and unipen (where ``htr.data.unipen`` is there) through
:func:`htr.data.text.map_lines` — kept as is, mapped (accents stripped,
ligatures and quotes replaced, ``^`` removed), or dropped, by reason, with the
characters that caused drops. Reads ``../shared/hands`` (or ``$HANDS_DIR``)
and skips with a message where it is absent. Writes markdown and a CSV of
counts (no line text).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.latency import code_state  # noqa: E402
from benchmarks.report import write_csv, write_md  # noqa: E402

REASONS = ("crossed-out or unreadable mark (>…<)", "outside the alphabet", "empty")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hands-dir", default=None, help="the hands folder (default: $HANDS_DIR, else ../shared/hands)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "text_mapping"), help="path prefix of the .md/.csv")
    args = ap.parse_args(argv)

    from htr.cli import mapping_counts, mapping_markdown
    from htr.data.hands import default_hands_dir

    hands = args.hands_dir or default_hands_dir()
    if hands is None or not Path(hands).is_dir():
        print(f"skipped: no hands folder ({hands or 'set HANDS_DIR or put ../shared/hands beside the project'})",
              file=sys.stderr)
        return 2
    counts, notes, errors = mapping_counts(hands)
    for source, reason in errors:
        print(f"{source}: {reason}", file=sys.stderr)
    if not counts:
        print("skipped: no source could be read; nothing counted", file=sys.stderr)
        return 2

    rows = [{"source": c.source, "lines": c.lines, "kept_as_is": c.kept_as_is, "mapped": c.mapped,
             "dropped": c.dropped, **{f"dropped: {r}": c.reasons.get(r, 0) for r in REASONS}}
            for c in counts]
    out = Path(args.out)
    write_csv(out, rows)
    md = [
        "# Mapping the real hands' texts into IAM's 79 characters",
        "",
        f"Command `python benchmarks/text_mapping.py` (the same count as `python -m htr data mapping "
        f"--markdown`); {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {code_state()}.",
        "",
        "Every line of each source of `../shared/hands` through `htr.data.text.map_lines`, in the order of its "
        "rules: a line with Copiste's crossed-out or unreadable mark (`>words<`, `><`) is dropped; Poilus' "
        "superscript marker `^` is removed; ligatures, typographic quotes, dashes, `°` and `…` get their IAM "
        "spelling; accents are stripped; a line still holding a character outside the 79 is dropped (the "
        "characters are counted below, a line once per character it holds); white space is collapsed. "
        "*Kept as is*: the text was already in the alphabet; *mapped*: changed but kept. Training reads the "
        "kept and mapped lines.",
        "",
        *mapping_markdown(counts),
        "",
        *[f"Note: {n}." for n in notes],
        "Per source: `text_mapping.csv` (counts only).",
    ]
    write_md(out, md)
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
