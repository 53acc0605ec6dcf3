"""Issue 5, nothing unsafe: a static scan of the project's Python, and its settings.

* No ``eval``/``exec``, no unpickling (``pickle``/``marshal``/``dill``/``joblib``
  loads, ``np.load(allow_pickle=True)``, ``torch.load`` without
  ``weights_only=True``, ``yaml.load``), no shell (``shell=True``,
  ``os.system``, ``os.popen``, ``subprocess.getoutput``), no command line given
  to subprocess as one string, no archive extracted without a filter.
* Models load from safe formats: the shipped weights are Keras ``.weights.h5``
  (HDF5 arrays, no code); ``keras.saving.load_model`` only with
  ``safe_mode=True``; unsafe deserialization is never switched on.
* ``.streamlit/config.toml`` binds to localhost, limits uploads, keeps
  Streamlit's XSRF and CORS protection on, and shows visitors no tracebacks.

IAM credentials never reaching disk, output or logs is tested end to end in
tests/test_fetch.py (a unique password searched for in every file written and
everything printed).
"""

from __future__ import annotations

import ast
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def python_files() -> list[Path]:
    """Every Python file of the project: tracked, or new and not ignored (so never .venv)."""
    try:
        out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.py"],
                             cwd=ROOT, capture_output=True, text=True, check=True, timeout=30).stdout
        files = [ROOT / line for line in out.splitlines() if line]
    except (OSError, subprocess.CalledProcessError):  # not a git checkout: walk, skipping environments
        files = [p for p in ROOT.rglob("*.py") if not {".venv", "venv", "site-packages"} & set(p.parts)]
    files = [p for p in files if p.is_file()]
    assert len(files) > 20, files  # the scan really sees the project
    return files


def dotted(node: ast.AST) -> str:
    """``a.b.c`` for a Name/Attribute chain, else ''."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return ""


def keyword(call: ast.Call, name: str):
    for kw in call.keywords:
        if kw.arg == name:
            return kw.value
    return None


def is_true(node) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


FORBIDDEN_CALLS = {
    "eval": "eval", "exec": "exec",
    "os.system": "a shell", "os.popen": "a shell",
    "subprocess.getoutput": "a shell", "subprocess.getstatusoutput": "a shell",
    "pickle.load": "unpickling", "pickle.loads": "unpickling", "pickle.Unpickler": "unpickling",
    "cPickle.load": "unpickling", "cPickle.loads": "unpickling",
    "marshal.load": "unmarshalling", "marshal.loads": "unmarshalling",
    "dill.load": "unpickling", "dill.loads": "unpickling",
    "joblib.load": "unpickling", "shelve.open": "unpickling",
    "yaml.load": "yaml.load (use yaml.safe_load)", "yaml.unsafe_load": "yaml.unsafe_load",
    "keras.config.enable_unsafe_deserialization": "unsafe Keras deserialization",
}
SUBPROCESS = {"subprocess.run", "subprocess.Popen", "subprocess.call", "subprocess.check_call",
              "subprocess.check_output"}


def findings(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    rel = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    out = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = dotted(node.func)
        where = f"{rel}:{node.lineno}"
        if name in FORBIDDEN_CALLS:
            # a round trip of an object made in the same expression is not reading untrusted data
            round_trip = (name == "pickle.loads" and node.args and isinstance(node.args[0], ast.Call)
                          and dotted(node.args[0].func) == "pickle.dumps")
            if not round_trip:
                out.append(f"{where}: {name}() ({FORBIDDEN_CALLS[name]})")
        if is_true(keyword(node, "shell")):
            out.append(f"{where}: {name or 'call'}(shell=True)")
        if name in SUBPROCESS and node.args and isinstance(node.args[0], (ast.JoinedStr, ast.BinOp, ast.Constant)):
            out.append(f"{where}: {name}() given one command string instead of an argument list")
        if name in ("np.load", "numpy.load") and is_true(keyword(node, "allow_pickle")):
            out.append(f"{where}: {name}(allow_pickle=True)")
        if name == "torch.load" and not is_true(keyword(node, "weights_only")):
            out.append(f"{where}: torch.load without weights_only=True")
        if name.endswith("load_model") and name.startswith(("keras", "tf.keras", "tensorflow.keras")):
            safe = keyword(node, "safe_mode")
            if safe is not None and not is_true(safe):
                out.append(f"{where}: {name}(safe_mode=...) not True")
        method = node.func.attr if isinstance(node.func, ast.Attribute) else ""
        if method == "extractall" and keyword(node, "filter") is None:
            out.append(f"{where}: extractall() without filter= (path traversal)")
    return out


def test_no_eval_exec_unpickling_or_shell_in_the_project():
    problems = [f for path in python_files() for f in findings(path)]
    assert not problems, "\n".join(problems)


def test_the_scan_catches_what_it_looks_for(tmp_path):
    """The scanner itself: each forbidden pattern in a sample file is reported."""
    sample = tmp_path / "sample.py"
    code = (
        "import os, pickle, subprocess, numpy as np, keras, torch, tarfile\n"
        "eval('1')\nexec('x=1')\nos.system('ls')\npickle.load(open('f','rb'))\n"
        "subprocess.run('ls -l', shell=True)\nsubprocess.run(f'ls {x}')\n"
        "np.load('a.npy', allow_pickle=True)\ntorch.load('m.pt')\n"
        "keras.saving.load_model('m.keras', safe_mode=False)\ntarfile.open('a').extractall('d')\n"
        "pickle.loads(pickle.dumps(1))\nnp.load('a.npz', allow_pickle=False)\n"
        "keras.saving.load_model('m.keras', safe_mode=True)\ntorch.load('m.pt', weights_only=True)\n"
    )
    sample.write_text(code)
    got = findings(sample)
    assert len(got) == 11, got  # the last four lines are fine


def test_models_are_safe_formats():
    models = ROOT / "models"
    files = [p for p in models.rglob("*") if p.is_file()]
    weights = [p for p in files if p.name.endswith(".weights.h5")]
    if not weights:
        pytest.skip("no trained weights in models/")
    unsafe = [p for p in files if p.suffix.lower() in (".pkl", ".pickle", ".pt", ".pth", ".joblib", ".npy",
                                                       ".keras", ".h5") and not p.name.endswith(".weights.h5")]
    assert not unsafe, unsafe
    # a .weights.h5 is HDF5 (arrays only), not a pickle or a zip with a config to deserialize
    for p in weights:
        assert p.read_bytes()[:8] == b"\x89HDF\r\n\x1a\n", p
    source = (ROOT / "htr" / "model.py").read_text(encoding="utf-8")
    assert "load_weights(" in source  # weights into a model built in code, never a deserialized model


def test_streamlit_binds_to_localhost_and_limits_uploads():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    server = config.get("server", {})
    assert server.get("address") in ("localhost", "127.0.0.1"), server.get("address")
    limit = server.get("maxUploadSize")
    assert isinstance(limit, int) and 1 <= limit <= 50, limit  # MB; Streamlit's default is 200
    assert server.get("enableXsrfProtection", True) is True
    assert server.get("enableCORS", True) is True
    # a bug a page did not catch shows visitors no traceback (file paths, code): only its type
    details = config.get("client", {}).get("showErrorDetails", "full")
    assert details in ("type", "none", False), details
    # the app checks the same limit itself and says why (see tests/test_app.py for the message)
    assert "server.maxUploadSize" in (ROOT / "app" / "widgets.py").read_text(encoding="utf-8")


def test_the_app_never_renders_unescaped_html_from_markdown():
    """User text (file names, readings, IAM text) reaches HTML only through st.html with escaping."""
    offenders = []
    for path in python_files():
        if path.parts[-2] in ("app", "app_pages") or path.name == "streamlit_app.py":
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.Call) and is_true(keyword(node, "unsafe_allow_html")):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offenders, offenders
