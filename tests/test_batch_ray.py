# Issue 17's fault tests. History, so that nobody repeats it:
# * An actor asking num_cpus=threads that no node can give is never placed (fixed: htr.batch.plan_workers).
# * On a machine whose cores another job holds, Ray 2.60's raylet can give up starting (it waits a fixed 15 s
#   for its agents): htr.batch retries once and names the cause; HTR_RAY_START_TRIES=N gives the fixture N tries.
# * Why no actor was ever seen: the nodes were pinned to node_ip_address=127.0.0.1, but ray.init rewrites a
#   loopback address to the machine's own IP (services.resolve_ip_for_localhost), where nothing listened, so
#   the driver sat in its GCS connect for ever. The nodes now listen on the machine's IP (Ray's default).
# First full pass, 2026-12-03 on the 2-core CPU with no other job: 3 passed in 97 s.
"""python -m htr batch on Ray Data, on a local two-node Ray cluster (ray.cluster_utils.Cluster, one CPU and a
100 MB object store per node, no dashboard): the same texts as recognize, a worker process killed in the
middle of a run (its task runs again: every line once), and a run stopped with Ctrl-C and finished with
--resume (nothing read twice). The cluster is shut down at the end whatever happens.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import tempfile
import time
from pathlib import Path

import pytest

from htr.batch import RESULTS, load_complete, ray_start_problem, read_file, run_batch

pytestmark = pytest.mark.slow
ray = pytest.importorskip("ray", reason="Ray is in requirements.txt")
from ray.cluster_utils import Cluster  # noqa: E402

NODE = {"num_cpus": 1, "object_store_memory": 100 * 2**20}  # on the machine's own IP: see address_of


START_TRIES = int(os.environ.get("HTR_RAY_START_TRIES") or 2)  # more tries where the machine is busy


def _start_cluster() -> Cluster:
    """Two 1-CPU nodes; a second try when Ray's processes do not start (a busy machine), then a failure that
    says why (the raylet's log)."""
    problem = ""
    for _ in range(START_TRIES):
        t0, c = time.time(), None
        try:
            c = Cluster(initialize_head=True, head_node_args={**NODE, "include_dashboard": False})
            c.add_node(**NODE)
            c.wait_for_nodes()
            return c
        except Exception as exc:  # noqa: BLE001 - reported below
            problem = f"{type(exc).__name__}: {exc}; {ray_start_problem(t0) or 'the raylet log says nothing'}"
            if c is not None:
                c.shutdown()
            if os.environ.get("RAY_TMPDIR"):
                _kill_leftovers(os.environ["RAY_TMPDIR"])  # what the failed try left (its GCS, its agents)
    pytest.fail(f"the two-node Ray cluster did not start in {START_TRIES} tries: {problem}")


def _kill_leftovers(tmp: str) -> list[int]:
    """SIGKILL every process whose command line or open files name ``tmp`` (this module's Ray folder: only the
    processes of its own clusters, e.g. a GCS left by a start that failed half-way, or an agent whose raylet
    died: Ray's agents rename themselves, ``ray::DashboardAgent``, but keep their logs open); returns their
    ids."""
    killed = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if tmp not in cmdline:
            try:
                cmdline = " ".join(os.readlink(fd) for fd in (entry / "fd").iterdir())
            except OSError:
                continue
        if tmp in cmdline:
            try:
                os.kill(int(entry.name), signal.SIGKILL)
                killed.append(int(entry.name))
            except OSError:
                pass
    return killed


def address_of(c: Cluster) -> str:
    """Where a driver reaches the cluster: ``Cluster.address``, the machine's own IP. The nodes listen there
    (they are no longer pinned to 127.0.0.1): ray.init rewrites a loopback address to the machine's IP
    (``services.resolve_ip_for_localhost``), so a cluster on loopback only can never be joined — the hang
    that kept these tests from ever seeing an actor."""
    return c.address


@pytest.fixture(scope="module")
def cluster():
    """The cluster, in a temporary folder of its own (RAY_TMPDIR: its sessions, sockets and logs), shut down and
    removed at the end whatever happens: no Ray process or /tmp/ray session outlives this module."""
    tmp = tempfile.mkdtemp(prefix="htr-ray-", dir="/tmp")  # short: Ray's socket paths must stay < 108 bytes
    before = os.environ.get("RAY_TMPDIR")
    os.environ["RAY_TMPDIR"] = tmp
    c = None
    try:
        c = _start_cluster()
        yield c
    finally:
        if ray.is_initialized():
            ray.shutdown()
        if c is not None:
            c.shutdown()
        _kill_leftovers(tmp)
        if before is None:
            os.environ.pop("RAY_TMPDIR", None)
        else:
            os.environ["RAY_TMPDIR"] = before
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def line_images(iam_dir) -> list[str]:
    found = sorted(str(p) for p in (iam_dir / "lines").rglob("*.png"))
    if len(found) < 6:
        pytest.skip(f"fewer than 6 IAM line images in {iam_dir / 'lines'}")
    return found[:6]


def rows_of(out: Path) -> list[dict]:
    return [json.loads(t) for t in (out / RESULTS).read_text(encoding="utf-8").splitlines() if t.strip()]


def trace_lines(path: Path) -> list[tuple[int, str]]:
    if not path.is_file():
        return []
    return [(int(a), b) for a, b in (t.split("\t", 1) for t in path.read_text(encoding="utf-8").splitlines())]


def test_ray_reads_what_recognize_reads(cluster, iam_dir, line_images, tmp_path):
    """Two workers on two nodes; the texts equal recognize's (read_file: what `recognize` does per image)."""
    form = iam_dir / "forms" / "e06-006.png"
    images = line_images[:3] + ([str(form)] if form.is_file() else [])
    report = run_batch(images, tmp_path / "out", ray_address=address_of(cluster), workers=2, batch_size=1)
    assert not ray.is_initialized()  # the run disconnects what it connected
    assert report.workers == 2 and report.images == len(images) and not report.failed

    from htr.batch import open_engine

    engine = open_engine("easter2")
    got: dict[str, list[dict]] = {}
    for r in rows_of(tmp_path / "out"):
        got.setdefault(r["image"], []).append(r)
    for image in images:
        rec, layout, _ = read_file(engine, image)
        rows = sorted(got[image], key=lambda r: r["line"])
        assert "\n".join(r["text"] for r in rows) == rec.text
        assert {r["layout"] for r in rows} == {layout}
        if rec.lines:
            assert [(r["x"], r["y"], r["w"], r["h"]) for r in rows] == [
                (ln.box.x, ln.box.y, ln.box.w, ln.box.h) for ln in rec.lines]


def test_a_killed_worker_loses_nothing(cluster, line_images, tmp_path, monkeypatch):
    trace = tmp_path / "trace.tsv"
    monkeypatch.setenv("HTR_BATCH_TRACE", str(trace))
    monkeypatch.setenv("HTR_BATCH_PAUSE", "1.5")  # a worker holds each image a while: room to kill it mid-run
    out = tmp_path / "out"
    result: dict = {}

    def run():
        try:
            result["report"] = run_batch(line_images, out, ray_address=address_of(cluster), workers=2,
                                         batch_size=1)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            result["error"] = exc

    ray.init(address=address_of(cluster), log_to_driver=False)  # here, in the main thread: the run uses it
    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    deadline = time.monotonic() + 240
    while not trace_lines(trace) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert trace_lines(trace), "no worker read an image within 240 s"
    victim = trace_lines(trace)[0][0]
    seen_before = len(trace_lines(trace))
    os.kill(victim, signal.SIGKILL)  # the actor process, in the middle of its task (it is pausing)
    worker.join(timeout=300)
    ray.shutdown()
    assert not worker.is_alive(), "the run did not finish within 300 s of the kill"
    assert "error" not in result, result.get("error")
    report = result["report"]
    assert not report.failed
    rows = rows_of(out)
    assert sorted(r["image"] for r in rows) == sorted(line_images)  # every line exactly once
    after = trace_lines(trace)[seen_before:]
    assert after and victim not in {pid for pid, _ in after}  # the others were read by living workers
    assert seen_before < len(line_images)  # the kill came in the middle of the run


def test_ctrl_c_then_resume_reads_nothing_twice(cluster, venv_python, project_root, line_images, tmp_path):
    out = tmp_path / "out"
    trace1, trace2 = tmp_path / "trace1.tsv", tmp_path / "trace2.tsv"
    # 5 s an image: after the first two, the other four take two more rounds (10 s) for the Ctrl-C to land in;
    # at 1.5 s a CI run once finished before the signal (returncode 0)
    env = dict(os.environ, PYTHONPATH=str(project_root), HTR_BATCH_TRACE=str(trace1), HTR_BATCH_PAUSE="5")
    cmd = [venv_python, "-m", "htr", "batch", *line_images, "--out", str(out), "--ray-address",
           address_of(cluster), "--workers", "2", "--batch-size", "1"]
    # a job started in the background by a non-interactive shell (`.ci/run &`) inherits SIGINT ignored, and Python
    # then installs no KeyboardInterrupt handler: give the child the default disposition a terminal's Ctrl-C meets
    # (a Python-level handler in the parent becomes SIG_DFL in the exec'd child)
    inherited = signal.getsignal(signal.SIGINT)
    if inherited is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        proc = subprocess.Popen(cmd, cwd=project_root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
    finally:
        if inherited is signal.SIG_IGN:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and len(load_complete_readonly(out)) < 2:
            time.sleep(0.1)
        assert len(load_complete_readonly(out)) >= 2, "two images were not read within 240 s"
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, stderr
    assert "--resume" in stderr and "Traceback" not in stderr
    first = set(load_complete(out))
    assert 2 <= len(first) < len(line_images)

    env.update(HTR_BATCH_TRACE=str(trace2), HTR_BATCH_PAUSE="0")
    again = subprocess.run([*cmd, "--resume"], cwd=project_root, env=env, capture_output=True, text=True,
                           timeout=300)
    assert again.returncode == 0, again.stderr
    read_again = {image for _, image in trace_lines(trace2)}
    assert not read_again & {image for image, _ in first}  # nothing complete was read twice
    assert read_again == set(line_images) - {image for image, _ in first}
    rows = rows_of(out)
    assert sorted(r["image"] for r in rows) == sorted(line_images)


def load_complete_readonly(out: Path) -> set[str]:
    """Images whose rows are all in results.jsonl, without rewriting the file (a run is writing it)."""
    path = out / RESULTS
    if not path.is_file():
        return set()
    done = set()
    for text in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(text)
        except ValueError:
            continue
        if row.get("lines") == 1:
            done.add(row["image"])
    return done

