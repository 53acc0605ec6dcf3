"""python -m htr batch without a cluster: inputs, the same texts as recognize, the errors file, --resume, the
output files (JSON lines, Parquet, PAGE-XML, ALTO) and the command's contract.

These run the batch reader in this process (``--executor local``: the same ImageReader the Ray workers hold,
in a plain loop); tests/test_batch_ray.py runs it on a two-node Ray cluster, with a worker killed and a run
stopped and resumed.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from htr.batch import (BatchError, ERRORS, PARQUET, RESULTS, expand_inputs, load_complete, output_names,
                       run_batch)

LINE_IDS = ("e06-033-00", "e06-033-01", "e04-068-02")
FORM = "e06-006"


def iam_files(iam_dir: Path) -> tuple[list[str], str]:
    lines = []
    for lid in LINE_IDS:
        form = lid.rsplit("-", 1)[0]
        p = iam_dir / "lines" / lid.split("-")[0] / form / f"{lid}.png"
        if not p.is_file():
            pytest.skip(f"IAM line image {p} is not in the shared copy")
        lines.append(str(p))
    form = iam_dir / "forms" / f"{FORM}.png"
    if not form.is_file():
        pytest.skip(f"IAM form scan {form} is not in the shared copy")
    return lines, str(form)


def jsonl(path: Path) -> list[dict]:
    return [json.loads(t) for t in path.read_text(encoding="utf-8").splitlines() if t.strip()]


def by_image(rows: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in rows:
        out.setdefault(r["image"], []).append(r)
    return {k: sorted(v, key=lambda r: r["line"]) for k, v in out.items()}


def test_inputs_folders_globs_manifests_and_missing(tmp_path):
    (tmp_path / "a" / "deep").mkdir(parents=True)
    for name in ("a/1.png", "a/deep/2.JPG", "a/notes.md", "b.webp"):
        (tmp_path / name).write_bytes(b"x")
    manifest = tmp_path / "list.txt"
    manifest.write_text("# pages\nb.webp\n\n/abs/x.png\na/1.png\n", encoding="utf-8")
    images, problems = expand_inputs([tmp_path / "a", str(tmp_path / "*.webp"), manifest,
                                      tmp_path / "missing.png", str(tmp_path / "none*.png"), tmp_path / "empty"])
    assert images == [str(tmp_path / "a/1.png"), str(tmp_path / "a/deep/2.JPG"), str(tmp_path / "b.webp"),
                      "/abs/x.png", str(tmp_path / "missing.png"), str(tmp_path / "empty")]
    assert problems == [(str(tmp_path / "none*.png"), "matches no file")]


def test_output_names_are_unique():
    names = output_names(["x/p1.png", "y/p1.png", "z/p2.jpg"], "page")
    assert names["z/p2.jpg"] == "p2.page.xml"
    assert len(set(names.values())) == 3 and all(n.endswith(".page.xml") for n in names.values())


def cli(capsys, *args) -> tuple[int, str, str]:
    """``python -m htr ARGS`` in this process (the engine is loaded once for the module): status, stdout, stderr."""
    from htr.cli import main

    capsys.readouterr()
    status = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return status, out, err


def test_batch_reads_as_recognize_does_and_writes_every_format(capsys, iam_dir, tmp_path):
    """The command line, both ways, on three IAM lines and a form page: the same text line for line, the same
    boxes; Parquet holds the JSON lines' rows; PAGE-XML and ALTO read back through read_page."""
    lines, form = iam_files(iam_dir)
    images = lines + [form]
    status, stdout, stderr = cli(capsys, "recognize", "--json", *images)
    assert status == 0, stderr
    expected = {r["image"]: r for r in map(json.loads, stdout.splitlines())}

    out = tmp_path / "out"
    status, stdout, stderr = cli(capsys, "batch", *images, "--out", out, "--executor", "local", "--format", "page",
                                 "--format", "alto")
    assert status == 0, stderr
    assert stderr == "" and "read 4 image(s)" in stdout
    got = by_image(jsonl(out / RESULTS))
    assert set(got) == set(images)
    for image, rows in got.items():
        want = expected[image]
        assert "\n".join(r["text"] for r in rows) == want["text"]
        assert {r["layout"] for r in rows} == {want["layout"]} and {r["engine"] for r in rows} == {"easter2"}
        assert [r["line"] for r in rows] == list(range(len(rows))) and {r["lines"] for r in rows} == {len(rows)}
        if want["layout"] == "page":
            assert [[r["x"], r["y"], r["w"], r["h"]] for r in rows] == [ln["box"] for ln in want["lines"]]
        else:
            assert len(rows) == 1 and (rows[0]["x"], rows[0]["y"]) == (0, 0)
    assert got[form][0]["layout"] == "page" and len(got[form]) > 5
    assert (out / ERRORS).read_text() == ""

    import pyarrow.parquet as pq

    table = pq.read_table(out / PARQUET).to_pylist()
    assert len(table) == sum(len(v) for v in got.values())
    assert [(r["image"], r["line"], r["text"]) for r in table] == sorted(
        (r["image"], r["line"], r["text"]) for rows in got.values() for r in rows)

    from htr.data.pagexml import read_page

    for fmt in ("page", "alto"):
        files = sorted((out / fmt / "easter2").iterdir())
        assert len(files) == 4
        folder = tmp_path / f"readback-{fmt}"
        folder.mkdir()
        for image in images:
            shutil.copy(image, folder)
        for xml in files:
            shutil.copy(xml, folder)
            page = read_page(folder / xml.name)
            rows = got[str(next(i for i in images if Path(i).name == page.image.name))]
            assert [ln.text for ln in page.lines] == [r["text"] for r in rows if r["text"].strip()]


def test_bad_images_go_to_the_errors_file_and_the_exit_status_is_2(capsys, iam_dir, tmp_path):
    lines, _ = iam_files(iam_dir)
    bad = tmp_path / "not-an-image.png"
    bad.write_text("hello", encoding="utf-8")
    out = tmp_path / "out"
    status, stdout, stderr = cli(capsys, "batch", lines[0], bad, tmp_path / "missing.png",
                                 str(tmp_path / "nothing*.tif"), "--out", out, "--executor", "local")
    assert status == 2
    errors = {e["image"]: e for e in jsonl(out / ERRORS)}
    assert set(errors) == {str(bad), str(tmp_path / "missing.png"), str(tmp_path / "nothing*.tif")}
    assert all(e["reason"] for e in errors.values())
    assert errors[str(tmp_path / "nothing*.tif")]["reason"] == "matches no file"
    assert [r["image"] for r in jsonl(out / RESULTS)] == [lines[0]]
    err_lines = stderr.splitlines()
    assert len(err_lines) == 3 and all(line.startswith("error: ") for line in err_lines)
    assert f"error: {bad}: " in stderr and "3 image(s) failed" in stdout

    status, _, stderr = cli(capsys, "batch", lines[0], "--out", out, "--executor", "local")  # no --resume
    assert status == 2 and stderr.startswith("error: batch: ") and "--resume" in stderr
    status, _, stderr = cli(capsys, "batch", lines[0], "--out", tmp_path / "o2", "--threads", "0")
    assert status == 2 and stderr.startswith("error: batch: ") and "Traceback" not in stderr


def test_resume_reads_only_what_is_missing(iam_dir, tmp_path, monkeypatch):
    """A stop leaves complete images, an image half written and a line cut short: --resume keeps the complete
    ones, reads the rest once, and the results hold every line once."""
    lines, form = iam_files(iam_dir)
    out = tmp_path / "out"
    first = run_batch(lines[:2], out, executor="local")
    assert first.images == 2 and not first.failed
    kept = (out / RESULTS).read_text(encoding="utf-8")
    half = {"image": form, "engine": "easter2", "line": 0, "lines": 3, "x": 0, "y": 0, "w": 5, "h": 5,
            "text": "half", "confidence": None, "seconds": 0.1, "layout": "page", "width": 9, "height": 9}
    (out / RESULTS).write_text(kept + json.dumps(half) + "\n" + '{"image": "cut sh', encoding="utf-8")

    trace = tmp_path / "trace.tsv"
    monkeypatch.setenv("HTR_BATCH_TRACE", str(trace))
    with pytest.raises(BatchError, match="--resume"):
        run_batch(lines + [form], out, executor="local")
    second = run_batch(lines + [form], out, executor="local", resume=True)
    read_again = [t.split("\t", 1)[1] for t in trace.read_text(encoding="utf-8").splitlines()]
    assert sorted(read_again) == sorted([lines[2], form])  # neither of the two complete lines again
    assert second.skipped == 2 and second.images == 2 and not second.failed
    rows = jsonl(out / RESULTS)
    keys = [(r["image"], r["line"]) for r in rows]
    assert len(keys) == len(set(keys)) and {r["image"] for r in rows} == set(lines + [form])
    assert "half" not in {r["text"] for r in rows}
    assert set(load_complete(out)) == {(p, "easter2") for p in lines + [form]}
    assert jsonl(out / RESULTS) == rows  # nothing more to drop


@pytest.mark.parametrize("nodes, threads, workers, expected", [
    ([2], 1, None, (2, 1.0)),  # a local Ray on this 2-core machine: one worker per core
    ([1, 1], 1, None, (2, 1.0)),  # the two 1-CPU nodes of tests/test_batch_ray.py
    ([1, 1], 2, None, (2, 1.0)),  # two threads each, but no node has two CPUs: reserve the one it has
    ([1, 1], 1, 2, (2, 1.0)),
    ([1, 1], 1, 3, (3, 0.5)),  # more workers than cores: each reserves a fraction, all are placed
    ([16, 8], 4, None, (6, 4.0)),
    ([4, 4], 4, 5, (5, 1.0)),
    ([2, 0], 1, None, (2, 1.0)),  # a node without CPUs (a head kept free) takes no worker
])
def test_workers_ask_what_a_node_can_give(nodes, threads, workers, expected):
    from htr.batch import plan_workers

    n, each = plan_workers(nodes, threads, workers)
    assert (n, each) == expected
    # every worker fits on some node: count the places, node by node
    assert sum(int(c / each + 1e-9) for c in nodes if c) >= n
    assert each <= max(nodes) and (each <= 1 or each == int(each))


def test_no_cpus_is_a_clear_error():
    from htr.batch import plan_workers

    with pytest.raises(BatchError, match="no CPUs"):
        plan_workers([0], 1, None)


def test_a_ray_that_cannot_start_says_why(tmp_path, monkeypatch):
    """A raylet that gave up waiting for its agents (a machine too busy to start Ray) is named in the error."""
    from htr.batch import ray_start_problem

    monkeypatch.setenv("RAY_TMPDIR", str(tmp_path))
    assert ray_start_problem() == ""
    logs = tmp_path / "ray" / "session_latest" / "logs"
    logs.mkdir(parents=True)
    (logs / "raylet.err").write_text("[2026-12-03 18:02:20,742 C 8280 8280] (raylet) node_manager.cc:3576: "
                                     "Check failed: Timed out waiting for file /tmp/ray/x/metrics_agent_port_1\n")
    assert "too busy" in ray_start_problem()
    assert ray_start_problem(since=4e9) == ""  # an older session's log is not this start's reason


def test_a_local_ray_too_slow_to_start_gets_a_second_try(monkeypatch):
    """ray.init fails once as on a busy machine (the raylet's log says it gave up on its agents): the local start
    shuts down what did start and tries again; a failure of another kind is not retried."""
    ray = pytest.importorskip("ray")
    import htr.batch as batch

    calls, shutdowns = [], []

    def init(**kwargs):
        calls.append(kwargs)
        if len(calls) == 1:
            raise Exception("The current node timed out during startup.")

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", init)
    monkeypatch.setattr(ray, "shutdown", lambda: shutdowns.append(1))
    monkeypatch.setattr(batch, "ray_start_problem", lambda since=0.0: "Ray's raylet stopped after waiting 15 s")
    assert batch._start_ray(None, None) is True
    assert len(calls) == 2 and len(shutdowns) == 1
    assert calls[1]["num_cpus"] == (__import__("os").cpu_count() or 1)  # workers = cores
    assert calls[1]["address"] == "local"  # its own Ray, not the last cluster /tmp/ray/ray_current_cluster names

    calls.clear()
    monkeypatch.setattr(batch, "ray_start_problem", lambda since=0.0: "")
    with pytest.raises(Exception, match="timed out"):
        batch._start_ray(None, None)
    assert len(calls) == 1


@pytest.mark.parametrize("address, expected", [
    ("10.0.0.5:6379", ("10.0.0.5", 6379)), ("head.example", ("head.example", 6379)),
    ("ray://head:10002", ("head", 10002)), ("ray://head", ("head", 10001)), ("[::1]:7000", ("::1", 7000)),
    ("auto", None), ("local", None), ("head:port", None), ("", None)])
def test_cluster_endpoint(address, expected):
    from htr.batch import cluster_endpoint

    assert cluster_endpoint(address) == expected


def test_an_unreachable_cluster_is_named_within_the_timeout(capsys, iam_dir, tmp_path):
    """--ray-address to a port where nothing listens: exit 2 and one sentence on stderr, at once, not after
    Ray's own minute of retries (and not a hang); a listening port is reachable."""
    import socket
    import time

    from htr.batch import unreachable

    lines, _ = iam_files(iam_dir)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends: nothing listens there after it
    t0 = time.monotonic()
    status, out, err = cli(capsys, "batch", lines[0], "--out", tmp_path / "out", "--ray-address",
                           f"127.0.0.1:{port}")
    assert status == 2 and time.monotonic() - t0 < 60
    assert err.startswith(f"error: batch: could not join the Ray cluster at 127.0.0.1:{port}: cannot connect")
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        assert unreachable(f"127.0.0.1:{s.getsockname()[1]}", timeout=2) == ""
    assert unreachable("auto") == ""


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="reads /proc (Linux)")
def test_a_failed_ray_start_leaves_no_process(tmp_path):
    """What a failed start leaves (a GCS, monitors: Ray programs under .../ray/) is ended; other children are
    not."""
    import subprocess
    import sys

    from htr.batch import _children, _end_ray_children

    fake = tmp_path / "ray" / "gcs_server.py"  # a "Ray program": its path has /ray/ in it
    fake.parent.mkdir()
    fake.write_text("import time\ntime.sleep(120)\n", encoding="utf-8")
    before = _children()
    ray_like = subprocess.Popen([sys.executable, str(fake)])
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        deadline = 50
        while not {ray_like.pid, other.pid} <= _children() and deadline:
            deadline -= 1
        assert _end_ray_children(before) == [ray_like.pid]
        assert ray_like.wait(timeout=60) == -9 and other.poll() is None
    finally:
        for proc in (ray_like, other):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
