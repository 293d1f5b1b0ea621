"""A real browser for the console's tests: Debian's chromium driven by selenium through chromium-driver.

Chromium runs headless with a fresh profile and without its background
connections (on a closed network they are refused and slow everything down).
Screenshots are kept under var/screenshots/ (test artifacts; docs/admin.md shows copies).
"""

import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select, WebDriverWait

from clarion_test_support import REPO

CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--window-size=1400,1000",
)
SCREENSHOTS = REPO / "var" / "screenshots"
WAIT_S = 60.0  # the machine is shared and loaded: generous, it only bounds a hang


def _chromium() -> tuple[str, str]:
    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if browser is None or driver is None:
        missing = "needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver; .ci/run does)"
        if os.environ.get("CI"):  # .ci/run installs them: in CI a missing browser is a failure, never a skip
            pytest.fail(missing)
        pytest.skip(missing)
    return browser, driver


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    binary, driver = _chromium()
    options = webdriver.ChromeOptions()
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    options.binary_location = binary
    chrome = webdriver.Chrome(service=Service(driver), options=options)
    try:
        yield chrome
    finally:
        chrome.quit()


class Console:
    """The console's pages, as an operator clicks through them."""

    def __init__(self, browser: WebDriver, base_url: str) -> None:
        self.browser = browser
        self.base = f"{base_url}/admin/"

    def open(self, fragment: str) -> None:
        self.browser.get(f"{self.base}#/{fragment}")

    def wait(self, condition: Callable[[WebDriver], Any], what: str) -> Any:
        """`condition`'s first true value; on a timeout, a screenshot (var/screenshots/failed.png) and the page's text."""
        try:
            return WebDriverWait(self.browser, WAIT_S, poll_frequency=0.05).until(condition)
        except TimeoutException:
            self.screenshot("failed")
            raise AssertionError(f"timed out waiting for {what}; the page says:\n{self.text()}") from None

    def element(self, css: str) -> WebElement:
        return self.wait(lambda b: _visible(b, css), css)

    def text(self) -> str:
        return self.browser.find_element(By.TAG_NAME, "body").text

    def wait_for_text(self, text: str) -> None:
        self.wait(lambda b: text in b.find_element(By.TAG_NAME, "body").text, repr(text))

    def login(self, username: str, password: str) -> None:
        self.open("login")
        self.element('input[name="username"]').send_keys(username)
        self.element('input[name="password"]').send_keys(password)
        self.element('button[data-uitest="login_button"]').click()
        self.wait(lambda b: b.current_url.endswith("#/"), "the home page after login")

    def fill(self, name: str, value: str) -> None:
        field = self.element(f'[name="{name}"]')
        field.clear()
        field.send_keys(value)

    def choose(self, name: str, visible_text: str) -> None:
        Select(self.element(f'select[name="{name}"]')).select_by_visible_text(visible_text)

    def pick(self, name: str, readable: str) -> None:
        """Choose the row named `readable` in a foreign-key picker."""
        picker = self.element(f'input[type="hidden"][name="{name}"]').find_element(By.XPATH, "..")
        picker.find_element(By.CSS_SELECTOR, 'input[type="text"]').click()
        self.wait(
            lambda b: next((a for a in picker.find_elements(By.CSS_SELECTOR, "ul.results_list a") if a.text == readable), False),
            f"{readable!r} in the {name} picker",
        ).click()

    def click(self, uitest: str) -> None:
        # A script click: the console's message pop-up of the previous action may lie over the button.
        self.browser.execute_script("arguments[0].click()", self.element(f'[data-uitest="{uitest}"]'))

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        time.sleep(0.5)  # let the page's transitions settle before the picture (no assertion depends on it)
        path = SCREENSHOTS / f"{name}.png"
        self.browser.save_screenshot(str(path))
        return path


def _visible(browser: WebDriver, css: str) -> WebElement | bool:
    found = [element for element in browser.find_elements(By.CSS_SELECTOR, css) if element.is_displayed() or element.get_property("type") == "hidden"]
    return found[0] if found else False
