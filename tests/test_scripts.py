"""The two-command setup: scripts/app, scripts/test, scripts/setup and .ci/run."""

from __future__ import annotations

import re
import subprocess
import time

import pytest

SCRIPTS = ("scripts/setup", "scripts/app", "scripts/test", ".ci/run")


@pytest.mark.parametrize("script", SCRIPTS)
def test_scripts_are_strict_executable_bash(project_root, script):
    path = project_root / script
    assert path.stat().st_mode & 0o111, f"{script} is not executable"
    text = path.read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in text
    subprocess.run(["bash", "-n", str(path)], check=True)


def test_ci_runs_exactly_the_readme_test_command(project_root):
    readme = (project_root / "README.md").read_text()
    block = re.search(r"```bash\n(.*?)```", readme, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in block.splitlines() if line.strip()]
    assert commands == ["scripts/app", "scripts/test"]
    ci = [line for line in (project_root / ".ci/run").read_text().splitlines()
          if line.strip() and not line.startswith("#")]
    assert ci[-1] == "exec scripts/test"


def test_setup_is_a_fast_no_op_once_done(project_root):
    check = subprocess.run(["scripts/setup", "--test", "--check"], cwd=project_root, capture_output=True,
                           text=True, timeout=60, stdin=subprocess.DEVNULL)
    if check.returncode == 1:
        pytest.skip(f"setup is not current here ({check.stderr.strip()}); scripts/test runs it before pytest")
    assert check.returncode == 0, check.stderr
    start = time.monotonic()
    proc = subprocess.run(["scripts/setup", "--test"], cwd=project_root, capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)
    seconds = time.monotonic() - start
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "" and proc.stdout == ""      # nothing installed, nothing said
    assert seconds < 5, f"a no-op setup took {seconds:.1f} s"


def test_setup_rejects_unknown_options(project_root):
    proc = subprocess.run(["scripts/setup", "--bogus"], cwd=project_root, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and "usage: scripts/setup [--test] [--check]" in proc.stderr
