"""``python -m htr adapt LINES --out W.weights.h5``: the weights it writes read with ``--weights``; bad input exits 2."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from htr.data.lines import LineRecord, write_line_set
from tests.test_adapt import TEXTS, writer_lines


def assert_clean(proc) -> None:
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr


def errors(proc) -> list[str]:
    return [line for line in proc.stderr.splitlines() if line.startswith("error: ")]


@pytest.fixture(scope="module")
def line_set(tmp_path_factory):
    root = tmp_path_factory.mktemp("writer")
    rows = [(LineRecord(id=f"w-{i:02d}", text=t, hand="w", source="writer"), g)
            for i, (g, t) in enumerate(writer_lines())]
    write_line_set(root, rows)
    return root


@pytest.mark.slow
def test_adapt_writes_weights_that_recognize_reads(run_cli, line_set, tmp_path):
    out = tmp_path / "mine.weights.h5"
    proc = run_cli("adapt", line_set, "--out", out, "--seconds", "8", "--held-out", "1")
    assert_clean(proc)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip() == ""
    assert "CER on 1 held-back line(s): before" in proc.stdout and "after" in proc.stdout
    assert f"wrote {out}" in proc.stdout
    assert out.is_file()
    image = line_set / "lines" / "w" / "w-04.png"
    read = run_cli("recognize", "--weights", out, "--json", image)
    assert read.returncode == 0, read.stderr
    assert isinstance(json.loads(read.stdout.splitlines()[0])["text"], str)


def _set(root, rows, header="id\timage\thand\tpage\ttext\n"):
    root.mkdir(parents=True, exist_ok=True)
    (root / "lines.tsv").write_text(header + "".join("\t".join(r) + "\n" for r in rows), encoding="utf-8")
    return root


def test_missing_folder(run_cli, tmp_path):
    proc = run_cli("adapt", tmp_path / "nowhere", "--out", tmp_path / "m.weights.h5")
    assert proc.returncode == 2 and errors(proc) and "no such folder" in proc.stderr
    assert_clean(proc)


def test_empty_table(run_cli, tmp_path):
    root = _set(tmp_path / "empty", [])
    proc = run_cli("adapt", root, "--out", tmp_path / "m.weights.h5")
    assert proc.returncode == 2 and "lists no lines" in proc.stderr
    assert_clean(proc)


def test_unreadable_image(run_cli, tmp_path):
    root = _set(tmp_path / "bad", [("a", "lines/a.png", "w", "", "hello there")])
    (root / "lines").mkdir()
    (root / "lines" / "a.png").write_bytes(b"not a png")
    proc = run_cli("adapt", root, "--out", tmp_path / "m.weights.h5")
    assert proc.returncode == 2 and errors(proc) and "a.png" in errors(proc)[0]
    assert not (tmp_path / "m.weights.h5").exists()
    assert_clean(proc)


def test_no_line_the_alphabet_can_write(run_cli, tmp_path):
    root = _set(tmp_path / "cjk", [("a", "lines/a.png", "w", "", "日本語")])
    (root / "lines").mkdir()
    Image.fromarray(np.full((40, 200), 255, np.uint8)).save(root / "lines" / "a.png")
    proc = run_cli("adapt", root, "--out", tmp_path / "m.weights.h5")
    assert proc.returncode == 2 and "alphabet" in proc.stderr
    assert "skipped: line a" in proc.stdout
    assert_clean(proc)


@pytest.mark.parametrize("out, match", [("m.h5", "weights.h5"), ("no/such/dir/m.weights.h5", "no such folder")])
def test_bad_out(run_cli, line_set, tmp_path, out, match):
    proc = run_cli("adapt", line_set, "--out", tmp_path / out)
    assert proc.returncode == 2 and match in proc.stderr
    assert_clean(proc)


def test_refuses_the_shipped_weights(run_cli, line_set, project_root):
    proc = run_cli("adapt", line_set, "--out", project_root / "models" / "easter2.weights.h5")
    assert proc.returncode == 2 and "shipped weights" in proc.stderr
    assert_clean(proc)


def test_held_out_must_leave_a_line(run_cli, line_set, tmp_path):
    proc = run_cli("adapt", line_set, "--out", tmp_path / "m.weights.h5", "--held-out", str(len(TEXTS)))
    assert proc.returncode == 2 and "--held-out" in proc.stderr
    assert_clean(proc)


def test_help(run_cli):
    proc = run_cli("adapt", "--help")
    assert proc.returncode == 0
    for needle in ("--out", "--seconds", "--held-out", "--weights", "LINES"):
        assert needle in proc.stdout
