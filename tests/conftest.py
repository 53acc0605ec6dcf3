"""Fixtures shared by every test module.

* ``project_root`` — the repository root (tests never depend on the CWD).
* ``iam_dir`` — the IAM copy: ``$IAM_DIR``, else ``../shared/iam`` beside the
  project root; the test is skipped with a clear reason where it is absent.
* ``venv_python`` — the project's interpreter (``.venv/bin/python``, else the one
  running pytest), for tests that run the command line as a subprocess.
* ``run_cli`` — ``run_cli(*args, env=None, timeout=600, input=None)`` runs
  ``python -m htr ARGS`` and returns the ``CompletedProcess`` (text mode).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def project_root() -> Path:
    return PROJECT_ROOT


@pytest.fixture(scope="session")
def iam_dir() -> Path:
    from htr.data.iam import default_iam_dir, shared_iam_dir

    root = default_iam_dir() or shared_iam_dir() or PROJECT_ROOT.parent / "shared" / "iam"
    if not (root / "ascii" / "lines.txt").is_file():
        pytest.skip(f"IAM data not found at {root} (set IAM_DIR or place the shared subset at ../shared/iam)")
    return root


@pytest.fixture(scope="session")
def venv_python() -> str:
    candidate = PROJECT_ROOT / ".venv" / "bin" / "python"
    return str(candidate) if candidate.exists() else sys.executable


def _cli_env(extra: dict | None) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(PROJECT_ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["PYTHONIOENCODING"] = "utf-8"
    if extra:
        for key, value in extra.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
    return env


@pytest.fixture(scope="session")
def run_cli(venv_python):
    def run(*args, env: dict | None = None, timeout: float = 600, input: str | None = None, cwd=None):
        return subprocess.run(
            [venv_python, "-m", "htr", *map(str, args)],
            cwd=str(cwd or PROJECT_ROOT),
            env=_cli_env(env),
            input=input if input is not None else "",
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="backslashreplace",
            timeout=timeout,
        )

    return run


@pytest.fixture(scope="session")
def random_weights(tmp_path_factory) -> Path:
    """Easter2 weights with the right architecture but random values, built once per run."""
    from htr.model import build_easter2

    path = tmp_path_factory.mktemp("easter2") / "random.weights.h5"
    build_easter2().save_weights(path)
    return path
