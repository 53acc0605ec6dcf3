"""The app live: `streamlit run streamlit_app.py` on a free localhost port, and headless Chromium.

For the code that drives the real app from outside: the browser test
(tests/test_browser.py) and the benchmarks of a real server
(benchmarks/startup.py, benchmarks/concurrency.py). One place for how the
server is launched, waited for and stopped, how the browser is made, and when
a Streamlit page counts as idle.

The server is a child process: nothing here imports Streamlit (nor does htr/,
the library). Selenium is imported only by the browser helpers.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "streamlit_app.py"
STREAMLIT_RUN = ("-m", "streamlit", "run")
SERVER_FLAGS = ("--server.address", "127.0.0.1", "--server.headless", "true",
                "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
NO_CHROMIUM = "Debian's chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)"
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    proc: subprocess.Popen
    port: int
    started: float  # time.monotonic() just before the process was launched

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def start_server(env: dict[str, str], *, python: str = sys.executable, runner: Sequence[str] = STREAMLIT_RUN,
                 stdout=subprocess.DEVNULL) -> Server:
    """Launch ``python RUNNER streamlit_app.py --server.port PORT ...`` in the project root.

    ``runner`` is what comes between the interpreter and the app script:
    ``-m streamlit run``, or ``-c CODE`` for a launcher that wraps Streamlit's
    own command line. Output goes to ``stdout`` (a file, or nothing).
    """
    port = free_port()
    started = time.monotonic()
    proc = subprocess.Popen([python, *runner, str(APP), "--server.port", str(port), *SERVER_FLAGS],
                            cwd=ROOT, env=env, stdout=stdout, stderr=subprocess.STDOUT)
    return Server(proc, port, started)


def wait_ready(server: Server, timeout: float = 60.0, poll: float = 0.2) -> float:
    """Wait until the server's health endpoint answers 200; seconds since the launch.

    Raises RuntimeError when the process exits first or ``timeout`` seconds
    (from the launch) pass.
    """
    while True:
        try:
            with urllib.request.urlopen(server.url + "/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return time.monotonic() - server.started
        except OSError:
            pass
        if server.proc.poll() is not None:
            raise RuntimeError(f"the Streamlit server exited (code {server.proc.returncode}) before it answered")
        if time.monotonic() - server.started > timeout:
            raise RuntimeError(f"the Streamlit server did not answer within {timeout:.0f} s")
        time.sleep(poll)


def stop_server(server: Server, grace: float = 15.0) -> None:
    """Terminate the server; kill it if it has not exited after ``grace`` seconds."""
    server.proc.terminate()
    try:
        server.proc.wait(grace)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait()


@contextmanager
def running_server(env: dict[str, str], *, timeout: float = 60.0, poll: float = 0.2, grace: float = 15.0,
                   **launch) -> Iterator[Server]:
    """:func:`start_server`, :func:`wait_ready`, and :func:`stop_server` however the block ends."""
    server = start_server(env, **launch)
    try:
        wait_ready(server, timeout, poll)
        yield server
    finally:
        stop_server(server, grace)


# ---------------------------------------------------------------- browser side


def chromium_missing() -> str | None:
    """Why headless Chromium cannot be driven here, or None when it can."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -r requirements-test.txt)"
    if not (CHROMIUM and CHROMEDRIVER):
        return NO_CHROMIUM
    return None


def chromium(window: str = "1400,1200", extra: Sequence[str] = (), page_load_timeout: float = 120):
    """A headless Chromium (Debian's, through chromedriver) driven by selenium."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in (*CHROMIUM_FLAGS, f"--window-size={window}", *extra):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(page_load_timeout)
    return driver


def script_state(driver) -> str:
    """Streamlit's script state shown in the page: "running", "notRunning", ... ("" before the app)."""
    from selenium.webdriver.common.by import By

    apps = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stApp"]')
    return apps[0].get_attribute("data-test-script-state") if apps else ""


def wait_idle(driver, timeout: float = 120, poll: float = 0.3) -> None:
    """Wait until Streamlit has finished running the script and a title is drawn, three polls in a row."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    calm = [0]

    def settled(d) -> bool:
        idle = script_state(d) == "notRunning" and d.find_elements(By.CSS_SELECTOR, "h1")
        calm[0] = calm[0] + 1 if idle else 0
        return calm[0] >= 3

    WebDriverWait(driver, timeout, poll_frequency=poll).until(settled)
