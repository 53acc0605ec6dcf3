"""The app in a real browser: `streamlit run` driven by Debian's headless Chromium.

Starts the server on a free localhost port, visits every page, uploads an
example image, checks that the recognized text appears and that a bad upload
gives a message, and saves a screenshot of each step to
artifacts/screenshots/ (look at them: would a class understand them?).

Needs Debian's ``chromium`` and ``chromium-driver`` packages (browser
downloads do not work here; ``apt-get install chromium chromium-driver``) and
the ``selenium`` package (requirements-test.txt). Skipped with the reason when
either is missing. Easter2 uses the project's trained weights where they
exist, else random weights of the right shape (text is then nonsense, but it
must still appear).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from tools import live_app

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "artifacts" / "screenshots"
EXAMPLES = ROOT / "examples"

pytestmark = [pytest.mark.browser, pytest.mark.slow]

pytest.importorskip("selenium.webdriver", reason="selenium not installed (pip install -r requirements-test.txt)")
if live_app.chromium_missing():
    pytest.skip(f"{live_app.chromium_missing()}; browser test skipped", allow_module_level=True)

from selenium.common.exceptions import TimeoutException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

PAGES = [  # (url path, title shown on the page)
    ("", "Reading handwriting"),
    ("recognize", "Recognize handwriting"),
    ("compare", "Compare the readers"),
    ("stress", "Stress test"),
    ("iam_browser", "IAM handwriting database"),
    ("inside", "Inside the model"),
    ("evaluate", "Evaluate the readers"),
    ("adapt", "Your handwriting"),
    ("training", "How Easter2 learned to read"),
]


@pytest.fixture(scope="module")
def weights(request) -> Path:
    trained = ROOT / "models" / "easter2.weights.h5"
    if trained.is_file():
        return trained
    return request.getfixturevalue("random_weights")


def _start(weights, tmp_path_factory, iam_dir: str | None = None):
    env = {k: v for k, v in os.environ.items() if k != "IAM_DIR"}
    env.update(HTR_WEIGHTS=str(weights), PYTHONUNBUFFERED="1", HTR_APP_TIMEOUT="30")
    if iam_dir:
        env["IAM_DIR"] = iam_dir
    log = (tmp_path_factory.mktemp("server") / "streamlit.log").open("w+")
    try:
        with live_app.running_server(env, stdout=log, timeout=60, grace=10) as srv:
            yield {"url": srv.url, "started": srv.started, "proc": srv.proc, "log": log,
                   "trained": weights == ROOT / "models" / "easter2.weights.h5"}
    finally:
        log.seek(0)
        tail = log.read()[-3000:]
        log.close()
        if "Traceback" in tail:
            print("streamlit log tail:\n" + tail)


@pytest.fixture(scope="module")
def server(weights, tmp_path_factory):
    yield from _start(weights, tmp_path_factory)


@pytest.fixture(scope="module")
def iam_server(weights, tmp_path_factory, iam_dir):
    """The server with IAM: $IAM_DIR, else ../shared/iam (conftest's iam_dir skips where neither is)."""
    yield from _start(weights, tmp_path_factory, iam_dir=str(iam_dir))


@pytest.fixture(scope="module")
def browser():
    driver = live_app.chromium(window="1400,1800", extra=("--hide-scrollbars",), page_load_timeout=60)
    SHOTS.mkdir(parents=True, exist_ok=True)
    yield driver
    driver.quit()


def wait_idle(driver, timeout: float = 120) -> None:
    """Wait until Streamlit has finished running the script, then let Plotly and the data grid draw."""
    time.sleep(0.5)
    live_app.wait_idle(driver, timeout, poll=0.3)
    time.sleep(0.8)


def assert_no_exception(driver, where: str) -> None:
    boxes = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]')
    assert not boxes, f"{where}: exception shown: {boxes[0].text[:500]}"


def shot(driver, name: str) -> Path:
    path = SHOTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


def test_every_page_opens_and_cold_start_is_measured(server, browser):
    timings = {}
    for i, (path, title) in enumerate(PAGES):
        t0 = time.monotonic()
        browser.get(f"{server['url']}/{path}")
        try:
            WebDriverWait(browser, 120).until(
                lambda d: any(title in h.text for h in d.find_elements(By.CSS_SELECTOR, "h1")))
        except TimeoutException:
            shot(browser, f"{i:02d}-{path or 'home'}-FAILED")
            raise
        if i == 0:
            timings["first_page_s_from_server_start"] = round(time.monotonic() - server["started"], 2)
        wait_idle(browser)
        timings[path or "home"] = round(time.monotonic() - t0, 2)
        assert_no_exception(browser, path or "home")
        # the navigation lists every page, and the presentation switch is there
        nav = browser.find_element(By.CSS_SELECTOR, '[data-testid="stSidebarNav"]').text
        for label in ("Home", "Recognize", "Compare engines", "Stress test", "IAM browser", "Inside the model",
                      "Evaluate",
                      "How it learned"):
            assert label in nav
        assert "Presentation mode" in browser.find_element(By.CSS_SELECTOR, '[data-testid="stSidebar"]').text
        shot(browser, f"{i:02d}-{path or 'home'}")
    (SHOTS / "timings.json").write_text(json.dumps(timings, indent=1))


def _choose_radio(driver, option: str) -> None:
    for label in driver.find_elements(By.CSS_SELECTOR, '[data-testid="stRadio"] label'):
        if label.text.strip() == option:
            label.click()
            wait_idle(driver)
            return
    raise AssertionError(f"no radio option {option!r}")


def _upload(driver, path: Path) -> None:
    inp = driver.find_element(By.CSS_SELECTOR, 'input[type="file"]')
    inp.send_keys(str(path))
    time.sleep(1.0)
    wait_idle(driver)


def test_upload_an_example_and_see_the_text(server, browser, tmp_path):
    browser.get(f"{server['url']}/recognize")
    wait_idle(browser)
    # the default example is read at once
    WebDriverWait(browser, 120).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".htr-text"))
    shot(browser, "10-recognize-example")
    _choose_radio(browser, "Upload")
    _upload(browser, EXAMPLES / "line-03.png")
    WebDriverWait(browser, 120).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".htr-text"))
    text = browser.find_element(By.CSS_SELECTOR, ".htr-text").text.strip()
    assert text, "no recognized text after the upload"
    if server["trained"]:  # our real model reads our own example nearly right
        from htr.metrics import cer

        assert cer("Meet me at the station at 7 o'clock.", text) < 0.3, text
    assert_no_exception(browser, "recognize upload")
    shot(browser, "11-recognize-upload")
    # a bad upload: an error naming the file, and the page still works
    bad = tmp_path / "not a picture.png"
    bad.write_text("hello, I am text\n" * 50)
    browser.find_element(By.CSS_SELECTOR, '[data-testid="stFileChipDeleteBtn"]').click()
    wait_idle(browser)
    _upload(browser, bad)
    alerts = [a.text for a in browser.find_elements(By.CSS_SELECTOR, '[data-testid="stAlert"]')]
    assert any("not a picture.png" in a for a in alerts), alerts
    assert_no_exception(browser, "bad upload")
    shot(browser, "12-recognize-bad-upload")


def test_draw_a_line_on_the_canvas_and_see_it_read(server, browser):
    from selenium.webdriver.common.action_chains import ActionChains

    browser.get(f"{server['url']}/recognize")
    wait_idle(browser)
    _choose_radio(browser, "Draw")
    # the canvas component lives in a shadow root
    find = ("const h = Array.from(document.querySelectorAll('*')).find("
            "e => e.shadowRoot && e.shadowRoot.querySelector('canvas'));"
            "return h ? Array.from(h.shadowRoot.querySelectorAll('canvas')) : [];")
    WebDriverWait(browser, 60).until(lambda d: d.execute_script(find))
    canvas = browser.execute_script(find)[-1]
    stroke = ActionChains(browser).move_to_element_with_offset(canvas, -300, 0).click_and_hold()
    for i in range(40):  # a wavy line, like joined-up writing
        stroke.move_by_offset(12, 18 if i % 2 else -18)
    stroke.release().perform()
    wait_idle(browser)
    WebDriverWait(browser, 120).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".htr-text"))
    assert browser.find_element(By.CSS_SELECTOR, ".htr-text").text.strip()
    assert "drawing" in browser.page_source
    assert_no_exception(browser, "canvas")
    shot(browser, "15-recognize-drawing")


def test_write_two_sentences_on_the_canvas_and_see_an_adapted_reading(server, browser):
    from selenium.webdriver.common.action_chains import ActionChains

    browser.get(f"{server['url']}/adapt?lines=2&seconds=5")  # two sentences, one held back; a short run
    wait_idle(browser)
    find = ("return Array.from(document.querySelectorAll('*')).filter("
            "e => e.shadowRoot && e.shadowRoot.querySelector('canvas'))"
            ".map(h => Array.from(h.shadowRoot.querySelectorAll('canvas')).pop());")
    WebDriverWait(browser, 60).until(lambda d: len(d.execute_script(find)) >= 2)
    for canvas in browser.execute_script(find)[:2]:
        stroke = ActionChains(browser).move_to_element_with_offset(canvas, -300, 0).click_and_hold()
        for i in range(40):  # a wavy line, like joined-up writing
            stroke.move_by_offset(12, 18 if i % 2 else -18)
        stroke.release().perform()
        wait_idle(browser)
    button = next(b for b in browser.find_elements(By.CSS_SELECTOR, "button")
                  if "Adapt the model" in b.text)
    button.click()
    WebDriverWait(browser, 300).until(lambda d: "Error after" in d.page_source
                                      or d.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]'))
    wait_idle(browser)
    assert_no_exception(browser, "adapt")
    page = browser.page_source
    assert "Read before" in page and "Read after" in page
    assert "Download my adapted weights" in page
    shot(browser, "16-your-handwriting")


def test_page_layout_and_presentation_mode(server, browser):
    browser.get(f"{server['url']}/recognize")
    wait_idle(browser)
    box = browser.find_element(By.CSS_SELECTOR, '[data-testid="stSelectbox"]')
    box.click()
    options = browser.find_elements(By.CSS_SELECTOR, '[role="option"]')
    next(o for o in options if o.text.startswith("Paragraph 2")).click()
    wait_idle(browser)
    WebDriverWait(browser, 120).until(lambda d: "text lines found" in d.page_source)
    found = next(c.text for c in browser.find_elements(By.CSS_SELECTOR, '[data-testid="stCaptionContainer"]')
                 if "text lines found" in c.text)
    assert int(found.split()[0]) >= 2, found  # a paragraph: several lines boxed and read
    page_text = browser.find_element(By.CSS_SELECTOR, ".htr-text").text
    assert page_text.count("\n") >= 1, page_text  # one line of text per line found
    assert_no_exception(browser, "page layout")
    shot(browser, "13-recognize-page")
    toggle = browser.find_element(By.CSS_SELECTOR, '[data-testid="stSidebar"] [data-testid="stCheckbox"] label')
    toggle.click()
    wait_idle(browser)
    size = browser.execute_script("return getComputedStyle(document.documentElement).fontSize")
    assert size == "22px"
    shot(browser, "14-recognize-presentation")


def test_inside_the_model_draws_its_figures(server, browser):
    browser.get(f"{server['url']}/inside")
    wait_idle(browser, timeout=240)
    WebDriverWait(browser, 240).until(
        lambda d: len(d.find_elements(By.CSS_SELECTOR, '[data-testid="stPlotlyChart"]')) >= 4)
    assert_no_exception(browser, "inside")
    main = browser.find_element(By.CSS_SELECTOR, '[data-testid="stMain"]').text
    for header in ("1 · What the network outputs", "2 · Squeeze-and-Excitation", "3 · Chosen channels",
                   "4 · Which pixels"):
        assert header in main, header
    # the reading and the example's true text, shown as text
    shown = {p.text.split(":", 1)[0]: p.text.split(":", 1)[1].strip()
             for p in browser.find_elements(By.XPATH, "//p[b and code]") if ":" in p.text}
    assert shown.get("Read") and shown.get("True"), shown
    if server["trained"]:  # the shipped model reads our own example nearly right
        from htr.metrics import cer

        assert cer(shown["True"], shown["Read"]) < 0.3, shown
    shot(browser, "20-inside")
    for n, top in ((21, 1500), (22, 3000)):
        browser.execute_script(
            f"document.querySelector('[data-testid=\"stMain\"]').scrollTop = {top}")
        time.sleep(0.5)
        shot(browser, f"{n}-inside-scrolled")


def test_iam_browser_and_evaluate_with_iam(iam_server, browser):
    browser.get(f"{iam_server['url']}/iam_browser")
    wait_idle(browser, timeout=240)
    page = browser.find_element(By.CSS_SELECTOR, '[data-testid="stMain"]').text
    assert "True text:" in page and "CER" in page
    assert_no_exception(browser, "iam browser")
    shot(browser, "30-iam-browser")
    next(t for t in browser.find_elements(By.CSS_SELECTOR, '[role="tab"]') if t.text == "Form scan").click()
    time.sleep(2)
    shot(browser, "31-iam-form")
    browser.get(f"{iam_server['url']}/evaluate")
    wait_idle(browser)
    run = next(b for b in browser.find_elements(By.CSS_SELECTOR, "button")
               if "Run the evaluation" in b.text)
    run.click()
    WebDriverWait(browser, 400).until(lambda d: "The hardest lines" in d.page_source)
    wait_idle(browser, timeout=400)
    assert_no_exception(browser, "evaluate")
    # what a visitor sees: the results, the charts, and the hardest lines each with its CER and reading
    assert browser.find_elements(By.CSS_SELECTOR, '[data-testid="stDataFrame"]')
    assert len(browser.find_elements(By.CSS_SELECTOR, '[data-testid="stPlotlyChart"]')) >= 3
    captions = [c.text for c in browser.find_elements(By.CSS_SELECTOR, '[data-testid="stImageCaption"]')]
    assert any("CER" in c and "%" in c for c in captions), captions
    assert browser.find_elements(By.CSS_SELECTOR, ".htr-text")
    shot(browser, "32-evaluate-results")
    browser.execute_script("document.querySelector('[data-testid=\"stMain\"]').scrollTop = 1400")
    time.sleep(0.5)
    shot(browser, "33-evaluate-worst")


def _rss_mb(pid: int) -> dict:
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for row in f:
            if row.startswith(("VmRSS", "VmHWM")):
                key, value = row.split(":")
                fields[key] = round(int(value.split()[0]) / 1024, 1)
    return fields


def test_eight_sessions_at_once_each_get_their_own_answer(server, browser, weights):
    """Eight tabs = eight Streamlit sessions on one server, each uploading a different line."""
    from htr.engines.easter2 import Easter2Engine
    from htr.images import load_image

    lines = sorted(EXAMPLES.glob("line-*.png"))[:8]
    engine = Easter2Engine(weights=weights)
    expected = {p.name: engine.recognize(load_image(p)).text for p in lines}
    handles = []
    for i, _ in enumerate(lines):
        if i:
            browser.switch_to.new_window("tab")
        browser.get(f"{server['url']}/recognize")
        wait_idle(browser)
        if i == 0:  # the first session has loaded every engine and read the default example
            before = _rss_mb(server["proc"].pid)
        _choose_radio(browser, "Upload")
        handles.append(browser.current_window_handle)
    t0 = time.monotonic()
    for handle, path in zip(handles, lines):  # send all uploads before reading any answer
        browser.switch_to.window(handle)
        browser.find_element(By.CSS_SELECTOR, 'input[type="file"]').send_keys(str(path))
    got = {}
    for handle, path in zip(handles, lines):
        browser.switch_to.window(handle)
        WebDriverWait(browser, 120).until(
            lambda d: d.find_elements(By.CSS_SELECTOR, ".htr-text") and path.name in d.page_source)
        wait_idle(browser)
        got[path.name] = browser.find_element(By.CSS_SELECTOR, ".htr-text").text.strip()
        assert_no_exception(browser, f"session {path.name}")
    elapsed = time.monotonic() - t0
    after = _rss_mb(server["proc"].pid)
    shot(browser, "40-eighth-session")
    for handle in handles[1:]:
        browser.switch_to.window(handle)
        browser.close()
    browser.switch_to.window(handles[0])
    assert got == {k: v.strip() for k, v in expected.items()}
    (SHOTS / "sessions.json").write_text(json.dumps({
        "sessions": len(lines), "seconds_all_answers": round(elapsed, 2),
        "server_rss_mb_before": before, "server_rss_mb_after": after}, indent=1))
    # seven more sessions and eight readings share the first one's models: no copy per session
    assert after["VmRSS"] < before["VmRSS"] + 300, (before, after)
