"""The dashboard in a real headless Chromium (Debian's chromium and /usr/bin/chromedriver, driven
by Selenium) against a live `python -m local up`: the counts follow new jobs, Retry brings a
failed job to COMPLETED, and a job's error is shown as text, never run as HTML.

Without Chromium the test says so and is skipped, except under CI, where it fails. With
DASHBOARD_SCREENSHOT=<path> it also writes its screenshot there (docs/dashboard.png comes so).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from chalicelib.jobs import JobController, JobResult, JobState
from tests.jobs_helpers import settle, wait_for_state
from tests.local_helpers import RunningStack, http_json, start_stack

CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROME_OPTIONS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--window-size=1280,1100",
)  # fmt: skip
XSS = "<script>window.__xss = 1</script><img src=x onerror='window.__xss = 2'> refused"

pytestmark = pytest.mark.timeout(240)


def chromium() -> str:
    """The Chromium binary, or skip (fail under CI) saying how to get it."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        import selenium  # noqa: F401, PLC0415
    except ImportError:
        binary = None
    if binary and CHROMEDRIVER.exists():
        return binary
    why = "no chromium, /usr/bin/chromedriver or selenium: apt-get install chromium chromium-driver"
    if os.environ.get("CI"):
        pytest.fail(why)
    pytest.skip(why)


class Flaky:
    def __init__(self) -> None:
        self.ok = False

    def __call__(self, params: dict) -> JobResult:
        return JobResult(True, res="fixed") if self.ok else JobResult(False, XSS)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[RunningStack]:
    running = start_stack(tmp_path / "data", "--workers", "1", "--concurrency", "2")
    try:
        running.wait_for_line("the stack is up", timeout_s=90)
        yield running
    finally:
        running.interrupt()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[object]:
    binary = chromium()
    from selenium import webdriver  # noqa: PLC0415
    from selenium.webdriver.chrome.service import Service  # noqa: PLC0415

    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for option in (*CHROME_OPTIONS, f"--user-data-dir={tmp_path / 'chrome'}"):
        options.add_argument(option)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def test_dashboard_follows_the_queues_and_retries_a_failed_job(
    stack: RunningStack, browser: object, tmp_path: Path
) -> None:
    from selenium.common.exceptions import StaleElementReferenceException  # noqa: PLC0415
    from selenium.webdriver.common.by import By  # noqa: PLC0415
    from selenium.webdriver.remote.webdriver import WebDriver  # noqa: PLC0415
    from selenium.webdriver.support.wait import WebDriverWait  # noqa: PLC0415

    driver: WebDriver = browser  # type: ignore[assignment]
    # the page redraws its tables as it polls: an element read between two redraws is stale,
    # and is read again
    stale = (StaleElementReferenceException,)
    wait = WebDriverWait(driver, 20, poll_frequency=0.1, ignored_exceptions=stale)

    def text_of(selector: str) -> str:
        return str(wait.until(lambda _: driver.find_element(By.CSS_SELECTOR, selector).text))

    stack.drain()
    url = re.search(r"the dashboard: (\S+)", stack.output)
    assert url and url.group(1).startswith(f"{stack.base_url}/admin/#token=")

    def cell(queue: str, state: str) -> str:
        found = driver.find_elements(By.CSS_SELECTOR, f"#queue-{queue} td[data-state={state}]")
        return found[0].text if found else ""

    driver.get(url.group(1))
    wait.until(lambda _: cell("default", "COMPLETED") == "0")
    assert "#token" not in driver.current_url  # taken out of the address bar

    for a in range(3):
        status, _ = http_json("POST", f"{stack.base_url}/maths", {"a": a, "b": 2, "op": "math:add"})
        assert status == 202
    wait.until(lambda _: cell("default", "COMPLETED") == "3")
    wait.until(lambda _: "worker" in driver.find_element(By.ID, "workers").text.lower())

    # a queue the stack's workers do not serve: this test is its worker
    controller = JobController(stack.state()["redis_url"], queues=("reports",))
    flaky = Flaky()
    controller.add_handler("report:build", flaky)
    job_id = controller.create_job("report:build", {"month": "<b>May</b>"}, queue="reports")
    settle(controller)
    row = f'#failed tr[data-job-id="{job_id}"]'
    wait.until(lambda _: driver.find_elements(By.CSS_SELECTOR, row))
    assert text_of(f"{row} td.error") == XSS  # shown as text...
    assert driver.execute_script("return window.__xss") is None  # ...and never run
    assert not driver.find_elements(By.CSS_SELECTOR, "#failed script, #failed img, #failed b")
    assert '"<b>May</b>"' in text_of(f"{row} td.params")
    wait.until(lambda _: cell("reports", "FAILED") == "1")
    driver.save_screenshot(str(tmp_path / "dashboard.png"))
    if os.environ.get("DASHBOARD_SCREENSHOT"):
        driver.save_screenshot(os.environ["DASHBOARD_SCREENSHOT"])

    flaky.ok = True
    controller.start()
    try:
        retry = f"//tr[@data-job-id='{job_id}']//button[text()='Retry']"
        wait.until(lambda _: driver.find_element(By.XPATH, retry).click() or True)
        wait.until(lambda _: cell("reports", "COMPLETED") == "1")
        wait.until(lambda _: not driver.find_elements(By.CSS_SELECTOR, row))
        assert wait_for_state(controller, job_id, JobState.COMPLETED).result == "fixed"
        assert wait.until(lambda _: cell("reports", "FAILED") == "0")
    finally:
        controller.stop(timeout=1.0)
    assert (tmp_path / "dashboard.png").stat().st_size > 10_000
