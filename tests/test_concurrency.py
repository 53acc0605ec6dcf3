"""Issue 5, many users: 8 sessions at once, one model, each its own answer.

Eight AppTest sessions run the Recognize page in eight threads of this
process, like eight browser tabs on one Streamlit server: AppTest runs the
app's script in-process, so ``st.cache_resource`` (the engines, the model) and
``st.cache_data`` are shared between the sessions exactly as on a server, while
``st.session_state`` is each session's own. Each session uploads a different
example line (examples/line-0N.png, made by the project, not IAM) and must be
shown the text the model reads on *that* line when run alone. The model must be
built once (a counter around :func:`htr.model.load_model`), and the process's
resident memory must not grow with a second round of eight sessions.

The same thing with real browsers against ``streamlit run`` is
benchmarks/concurrency.py (figures in benchmarks/concurrency.md).
"""

from __future__ import annotations

import html
import json
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "streamlit_app.py")
EXAMPLES = ROOT / "examples"
WEIGHTS = ROOT / "models" / "easter2.weights.h5"
SESSIONS = 8

pytestmark = pytest.mark.skipif(not WEIGHTS.is_file(), reason=f"trained weights not found at {WEIGHTS}")


def rss_mb() -> float:
    """Resident memory of this process (Linux /proc), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    pytest.skip("no /proc/self/status: cannot measure memory here")


def line_examples() -> list[tuple[str, bytes, str]]:
    rows = json.loads((EXAMPLES / "examples.json").read_text(encoding="utf-8"))
    lines = [(r["file"], (EXAMPLES / r["file"]).read_bytes(), r["text"]) for r in rows if r.get("kind") == "line"]
    if len(lines) < SESSIONS:
        pytest.skip(f"need {SESSIONS} example lines in examples/, found {len(lines)}")
    return lines[:SESSIONS]


def reading(at: AppTest) -> str:
    bodies = [h.proto.body for h in at.html if 'class="htr-text"' in h.proto.body]
    assert bodies, "nothing read"
    return html.unescape(re.sub(r"<[^>]+>", "", bodies[0])).replace("\xa0", " ").strip()


def session(name: str, data: bytes) -> dict:
    """One visitor: open the app, go to Recognize, upload ``name``, wait for the text."""
    t0 = time.perf_counter()
    at = AppTest.from_file(APP, default_timeout=300).run()
    at.switch_page("app_pages/recognize.py").run()
    at.radio(key="rec_source").set_value("Upload").run()
    t1 = time.perf_counter()
    at.file_uploader(key="rec_upload").upload(name, data, "image/png")
    at.run()
    done = time.perf_counter()
    return {
        "name": name,
        "exceptions": [e.value for e in at.exception],
        "errors": [e.value for e in at.error],
        "text": reading(at) if not at.exception else None,
        "upload_to_text_s": done - t1,
        "total_s": done - t0,
    }


@pytest.fixture
def one_runtime(monkeypatch):
    """One stand-in Streamlit runtime shared by all sessions, as one server would be.

    AppTest installs a fresh mock runtime in the global ``Runtime._instance``
    at the start of each run and sets it back to None at the end, which is
    fine for one session at a time but pulls the runtime from under a session
    running in another thread. Here AppTest gets a private stand-in class to
    write to, while the real ``Runtime._instance`` holds one runtime for the
    whole test, built like AppTest's own (in-memory media, dataframe and
    cache managers, the same ones a server uses, designed for many sessions).
    """
    from unittest.mock import MagicMock

    from streamlit.components.v2.component_manager import BidiComponentManager
    from streamlit.runtime import Runtime
    from streamlit.runtime.caching.storage.dummy_cache_storage import MemoryCacheStorageManager
    from streamlit.runtime.dataframe_source_manager import DataframeSourceManager
    from streamlit.runtime.media_file_manager import MediaFileManager
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
    from streamlit.testing.v1 import app_test

    runtime = MagicMock(spec=Runtime)
    runtime.media_file_mgr = MediaFileManager(MemoryMediaFileStorage("/mock/media"))
    runtime.dataframe_source_mgr = DataframeSourceManager()
    runtime.cache_storage_manager = MemoryCacheStorageManager()
    bidi = BidiComponentManager()
    bidi.discover_and_register_components(start_file_watching=False)
    runtime.bidi_component_registry = bidi

    class PrivateRuntime:  # what AppTest writes to instead of the real class
        _instance = None

    monkeypatch.setattr(app_test, "Runtime", PrivateRuntime)
    monkeypatch.setattr(Runtime, "_instance", runtime)
    # AppTest patches config.get_option per run (global.appTest on); patches
    # nested from several threads would restore each other's mock. Here the
    # option is set once for the whole test instead.
    import contextlib

    from streamlit import config

    monkeypatch.setattr(app_test, "patch_config_options", lambda overrides: contextlib.nullcontext())
    before = config.get_option("global.appTest")
    config.set_option("global.appTest", True)
    yield runtime
    config.set_option("global.appTest", before)


@pytest.fixture
def counted_loads(monkeypatch, one_runtime):
    """Fresh caches; counts of Easter2 models loaded and engines built, while the test runs."""
    import htr.engines
    import htr.engines.easter2
    import htr.model

    counts = {"models": [], "engines": []}
    lock = threading.Lock()
    real_load, real_get = htr.model.load_model, htr.engines.get_engine

    def load_model(*args, **kwargs):
        model = real_load(*args, **kwargs)
        with lock:
            counts["models"].append(id(model))
        return model

    def get_engine(name, **kwargs):
        engine = real_get(name, **kwargs)
        with lock:
            counts["engines"].append((name, id(engine)))
        return engine

    # CPython 3.11's ast.parse is not thread-safe (gh-106905: "SystemError: AST constructor
    # recursion depth mismatch" when threads parse at once); Streamlit parses every page script
    # (magic.add_magic) on each run, and here eight sessions run in threads of one process. A
    # server parses them in threads too, but this test's rounds start all eight at the same
    # instant, and a busy machine makes them collide: serialise the parse, nothing else.
    import ast

    real_parse, parse_lock = ast.parse, threading.Lock()

    def parse(*args, **kwargs):
        with parse_lock:
            return real_parse(*args, **kwargs)

    monkeypatch.setattr(ast, "parse", parse)
    monkeypatch.setattr(htr.model, "load_model", load_model)
    monkeypatch.setattr(htr.engines, "get_engine", get_engine)
    monkeypatch.delenv("HTR_WEIGHTS", raising=False)
    monkeypatch.delenv("IAM_DIR", raising=False)

    def forget_models():
        """No model in any cache: the next reading must load one."""
        st.cache_resource.clear()
        st.cache_data.clear()
        if hasattr(htr.engines.easter2, "_RUNTIMES"):  # the engine's own per-process model cache
            monkeypatch.setattr(htr.engines.easter2, "_RUNTIMES", {})
        counts["models"].clear()
        counts["engines"].clear()

    counts["forget"] = forget_models
    forget_models()
    yield counts
    st.cache_resource.clear()
    st.cache_data.clear()


def test_eight_sessions_at_once_each_get_their_own_answer(counted_loads):
    from htr.engines.easter2 import Easter2Engine
    from htr.images import load_image

    examples = line_examples()
    # what the model reads on each line alone, outside the app
    alone = Easter2Engine()
    expected = {name: alone.recognize(load_image(data, name=name)).text for name, data, _ in examples}
    assert len(set(expected.values())) == SESSIONS  # eight different answers to tell apart
    del alone
    counted_loads["forget"]()

    rounds = []
    rss = [rss_mb()]
    for _ in range(2):  # the second round shows whether memory keeps growing
        t0 = time.perf_counter()
        with ThreadPoolExecutor(max_workers=SESSIONS) as pool:
            results = list(pool.map(lambda e: session(e[0], e[1]), examples))
        rounds.append((time.perf_counter() - t0, results))
        rss.append(rss_mb())

    for wall, results in rounds:
        for r in results:
            assert not r["exceptions"] and not r["errors"], r
            assert r["text"] == expected[r["name"]], (r["name"], r["text"], expected[r["name"]])
    # one model for the whole server, one Easter2 engine shared by all sixteen sessions
    assert len(counted_loads["models"]) == 1, counted_loads["models"]
    easter2 = [e for e in counted_loads["engines"] if e[0] == "easter2"]
    assert len(easter2) == 1, counted_loads["engines"]
    # memory: the first round loads the model and traces its graph; the second must not add much
    assert rss[2] - rss[1] < 300, f"RSS grew {rss[2] - rss[1]:.0f} MiB in a second round of {SESSIONS} sessions"
    latencies = sorted(r["upload_to_text_s"] for _, results in rounds for r in results)
    print(f"\n{SESSIONS} sessions x 2 rounds: wall {rounds[0][0]:.1f} s / {rounds[1][0]:.1f} s, "
          f"upload->text median {latencies[len(latencies) // 2]:.2f} s max {latencies[-1]:.2f} s, "
          f"RSS {rss[0]:.0f} -> {rss[1]:.0f} -> {rss[2]:.0f} MiB")
