"""Data: where training, evaluation and the app get lines from.

Every reader yields :class:`htr.data.lines.LineRecord` (an image or pen
strokes, the text, the writer, the source), so the consumers never know where
a line came from:

* :mod:`htr.data.lines` — line sets (a folder of line images + ``lines.tsv``);
* :mod:`htr.data.text` — one mapping of any transcription into IAM's 79 characters;
* :mod:`htr.data.hands` — the fixed split of ``../shared/hands`` writers into
  train / validation (chooses) / report (only reports);
* :mod:`htr.data.pagexml` — ALTO (v2–v4) and PAGE-XML pages, lines cut by their polygons;
* :mod:`htr.data.unipen` — UNIPEN pen strokes and :mod:`htr.data.strokes`, their renderer.

The IAM reader (:mod:`htr.iam`) and the synthetic font lines (:mod:`htr.synth`)
are the other two sources.
"""
