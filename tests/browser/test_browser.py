"""The observer in a real browser: Debian's Chromium, driven by Selenium.

Each test starts ``examples/observer_app.py`` as a real subprocess (it prints the
observer's URL and reads ``crash NAME`` / ``fail`` commands on its standard input),
opens the page, and waits for what should appear with explicit conditions (up to
10 s): the page is live (server-sent events), so nothing is reloaded.

``TRIO_OTP_SCREENSHOTS=DIR`` saves screenshots of the main views there (the docs'
``docs/_static/observer-*.png`` were made so).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "examples" / "observer_app.py"
TOKEN = "browser-test-token-0123456789"
WAIT = 10


class App:
    """The example application, as a subprocess."""

    def __init__(self, *args: str) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen(
            [sys.executable, str(APP), "--port", "0", "--commands", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        match = re.match(r"observer: (\S+)", line)
        assert match, (line, self.proc.stderr.read() if self.proc.stderr else "")
        self.url = match.group(1)

    def command(self, line: str) -> None:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == f"ok: {line}"

    def close(self) -> list[str]:
        """Quit in order; return the ERROR lines the program logged, but the crash
        reports the tests provoke (stopping the observer must log none)."""
        try:
            self.command("quit")
            _, err = self.proc.communicate(timeout=30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        assert self.proc.returncode == 0, err
        return [
            line
            for line in err.splitlines()
            if line.startswith("ERROR") and not line.startswith("ERROR trio_otp.gen_server")
        ]


@pytest.fixture
def browser() -> Iterator[Any]:
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1400,1100",
    ):
        options.add_argument(flag)
    with tempfile.TemporaryDirectory() as profile:
        options.add_argument(f"--user-data-dir={profile}")
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        try:
            yield driver
        finally:
            driver.quit()


@pytest.fixture
def app() -> Iterator[App]:
    running = App()
    yield running
    assert running.close() == []


def _text(driver: Any, selector: str) -> str | None:
    """The text of what ``selector`` finds, read in one step in the page (each pushed
    view re-renders the page, so a Python-side element may go stale)."""
    text = driver.execute_script(
        "const e = document.querySelector(arguments[0]); return e ? e.textContent : null",
        selector,
    )
    return None if text is None else str(text)


def _restarts(driver: Any, name: str) -> str | None:
    return _text(driver, f'#tree li[data-name="{name}"] > .restarts')


def _click(driver: Any, selector: str) -> None:
    """Click what ``selector`` finds; the page re-renders each view, so an element
    found a moment ago may be replaced: find it again until the click lands."""

    def clicked(d: Any) -> bool:
        try:
            d.find_element(By.CSS_SELECTOR, selector).click()
        except (StaleElementReferenceException, NoSuchElementException):
            return False
        return True

    WebDriverWait(driver, WAIT).until(clicked)


def _screenshot(driver: Any, name: str) -> None:
    folder = os.environ.get("TRIO_OTP_SCREENSHOTS")
    if folder:
        driver.save_screenshot(str(Path(folder) / f"observer-{name}.png"))


def test_the_tree_renders_and_a_crash_shows_without_reload(browser: Any, app: App) -> None:
    browser.get(app.url)
    wait = WebDriverWait(browser, WAIT)
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, '#tree li[data-name="worker3"]')))
    names = browser.execute_script(
        "return [...document.querySelectorAll('#tree li')].map((li) => li.dataset.name)"
    )
    for name in ("app", "counter", "cache", "workers", "worker1", "worker2", "worker3", "jobs"):
        assert name in names
    assert _restarts(browser, "counter") == "0"
    page = browser.execute_script("return performance.getEntriesByType('navigation').length")
    app.command("crash counter")
    wait.until(lambda d: _restarts(d, "counter") == "1")
    # the same page: no navigation happened
    assert (
        browser.execute_script("return performance.getEntriesByType('navigation').length") == page
    )
    assert _text(browser, '#processes tr[data-name="counter"] td.restarts') == "1"
    cache = _text(browser, '#processes tr[data-name="cache"] td.state')
    assert cache is not None
    assert "hunter2" not in cache
    assert "[masked]" in cache
    _screenshot(browser, "tree")


def test_a_job_failure_appears_in_the_failures_list(browser: Any, app: App) -> None:
    browser.get(app.url)
    wait = WebDriverWait(browser, WAIT)
    wait.until(
        ec.presence_of_element_located((By.CSS_SELECTOR, '#queues .queue[data-queue="jobs"]'))
    )
    app.command("fail")
    wait.until(
        ec.text_to_be_present_in_element((By.CSS_SELECTOR, "#queues .failures"), "cannot be done")
    )
    assert "ValueError" in (_text(browser, "#queues .failures li") or "")
    _click(browser, "#queues .failures li a.job-link")
    wait.until(ec.text_to_be_present_in_element((By.ID, "history-list"), "failed"))
    wait.until(
        lambda d: d.find_elements(By.CSS_SELECTOR, '#charts svg[data-series="jobs failed"] path')
    )
    browser.find_element(By.ID, "jobs-view").location_once_scrolled_into_view  # noqa: B018
    _screenshot(browser, "jobs")


def test_an_action_is_refused_while_actions_are_off(browser: Any, app: App) -> None:
    browser.get(app.url)
    wait = WebDriverWait(browser, WAIT)
    wait.until(
        ec.presence_of_element_located((By.CSS_SELECTOR, '#processes tr[data-name="counter"]'))
    )
    assert not browser.find_elements(By.CSS_SELECTOR, "button.kill")
    pid = int(
        browser.execute_script(
            "return document.querySelector('#processes tr[data-name=\"counter\"]').dataset.pid"
        )
    )
    # The page's own token, from the page itself: still refused, actions are off.
    status = browser.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        const csrf = document.querySelector('meta[name="observer-csrf"]').content;
        fetch("/api/kill", {method: "POST", headers: {"Content-Type": "application/json",
              "X-Observer-CSRF": csrf}, body: JSON.stringify({pid: arguments[0]})})
          .then((r) => r.text().then((t) => done([r.status, t])));
        """,
        pid,
    )
    assert status[0] == 403
    assert "actions are off" in status[1]
    assert _restarts(browser, "counter") == "0"


def test_on_0_0_0_0_the_token_is_needed_and_actions_work(browser: Any) -> None:
    app = App("--host", "0.0.0.0", "--token", TOKEN, "--actions")
    try:
        browser.get(app.url)
        assert "needs its token" in browser.find_element(By.TAG_NAME, "body").text
        browser.get(app.url + "api/snapshot")
        assert "needs its token" in browser.find_element(By.TAG_NAME, "body").text
        browser.get(f"{app.url}?token={TOKEN}")  # sets the cookie, then drops the token
        wait = WebDriverWait(browser, WAIT)
        wait.until(
            ec.presence_of_element_located((By.CSS_SELECTOR, '#tree li[data-name="worker2"]'))
        )
        assert "token" not in browser.current_url
        _click(browser, '#processes tr[data-name="worker2"] button.kill')
        wait.until(ec.alert_is_present()).accept()
        # workers is one_for_all: killing worker2 restarts all three
        wait.until(lambda d: _restarts(d, "worker2") == "1")
        assert _restarts(browser, "worker1") == "1"
        _screenshot(browser, "processes")
    finally:
        assert app.close() == []
