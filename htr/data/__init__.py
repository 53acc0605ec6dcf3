"""Data: where training, evaluation and the app get lines from.

Every reader yields :class:`htr.data.lines.LineRecord` (an image or pen
strokes, the text, the writer, the source), so the consumers never know where
a line came from:

* :mod:`htr.data.lines` — line sets (a folder of line images + ``lines.tsv``);
* :mod:`htr.data.text` — one mapping of any transcription into IAM's 79 characters;
* :mod:`htr.data.hands` — the fixed split of ``../shared/hands`` writers into
  train / validation (chooses) / report (only reports);
* :mod:`htr.data.pagexml` — ALTO (v2–v4) and PAGE-XML pages, lines cut by their polygons;
* :mod:`htr.data.unipen` — UNIPEN pen strokes and :mod:`htr.data.strokes`, their renderer;
* :mod:`htr.data.iam` — the IAM Handwriting Database (read from ``IAM_DIR``; never
  redistributed) and :mod:`htr.data.fetch`, which downloads it with the user's account;
* :mod:`htr.data.synth` — synthetic lines rendered from the vendored fonts.
"""
