"""Driving Debian's headless Chromium from tests (and the browser benchmark): the browser's flags, a driver, and
what tests do with a page -- wait for a condition or a text, click, screenshot, read console errors and captured
downloads. No tool downloads a browser: selenium is given Debian's binaries and runs offline."""
from __future__ import annotations

import os
from pathlib import Path

from components import ids

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROME_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
                "--disable-dev-shm-usage", "--window-size=1500,1100", "--hide-scrollbars")


def have_browser() -> bool:
    return Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()


def chrome_driver(profile: Path, log_types: tuple[str, ...] = ("browser",)):
    """Debian's headless Chromium with the profile directory ``profile`` (a fresh one: a new browser session),
    keeping every message of ``log_types`` (``browser``: the console; ``performance``: DevTools events)."""
    os.environ["SE_OFFLINE"] = "true"        # selenium-manager must never fetch a driver or browser
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {kind: "ALL" for kind in log_types})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def new_driver(profile: Path):
    """A test's browser (:func:`chrome_driver`); without Debian's Chromium the test is skipped, or fails when CI
    requires browsers (``HAIC_REQUIRE_BROWSER=1``)."""
    import pytest

    if not have_browser():
        if os.environ.get("HAIC_REQUIRE_BROWSER") == "1":
            pytest.fail("HAIC_REQUIRE_BROWSER=1 but /usr/bin/chromium or /usr/bin/chromedriver is missing")
        pytest.skip("Debian chromium + chromium-driver not installed (apt-get install chromium chromium-driver)")
    driver = chrome_driver(profile)
    driver.set_page_load_timeout(60)
    return driver


def screenshot(driver, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


def console_errors(driver) -> list[str]:
    """Severe console messages, excluding the favicon request."""
    return [e["message"] for e in driver.get_log("browser")
            if e.get("level") == "SEVERE" and "favicon" not in e.get("message", "")]


def wait_for(driver, condition, timeout: float = 20.0, message: str = ""):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(condition, message)


def capture_downloads(driver) -> None:
    """From now on, keep every blob the page hands to the browser as a download (instead of saving a file)."""
    driver.execute_script(
        "window.__downloads = []; const orig = URL.createObjectURL;"
        "URL.createObjectURL = function(b) { window.__downloads.push(b); return orig.call(URL, b); };")


def first_download(driver, timeout: float = 10.0) -> tuple[list[int], str]:
    """The first captured download: its first three bytes and its text."""
    wait_for(driver, lambda d: d.execute_script("return window.__downloads.length") > 0, timeout, "no download")
    return driver.execute_async_script(
        "const done = arguments[arguments.length - 1]; const b = window.__downloads[0];"
        "b.arrayBuffer().then(a => b.text().then(t => done([Array.from(new Uint8Array(a).slice(0, 3)), t])));")


def download_bytes(driver, index: int = 0) -> bytes:
    """The bytes of the ``index``-th download captured by :func:`capture_downloads`."""
    import base64

    url = driver.execute_async_script(
        "const done = arguments[arguments.length - 1]; const r = new FileReader();"
        "r.onload = () => done(r.result); r.readAsDataURL(window.__downloads[arguments[0]]);", index)
    return base64.b64decode(url.split(",", 1)[1])


def wait_text(driver, css: str, predicate, timeout: float = 20.0) -> str:
    """Wait until the element's text satisfies ``predicate``; returns the text."""
    from selenium.common.exceptions import StaleElementReferenceException, NoSuchElementException
    from selenium.webdriver.common.by import By

    seen = {"text": None}

    def check(d):
        try:
            text = d.find_element(By.CSS_SELECTOR, css).text
        except (StaleElementReferenceException, NoSuchElementException):
            return False
        seen["text"] = text
        return text if predicate(text) else False

    from selenium.common.exceptions import TimeoutException

    try:
        return wait_for(driver, check, timeout)
    except TimeoutException:
        screenshot(driver, "failure-" + "".join(c for c in css if c.isalnum()))
        raise AssertionError(f"text of {css} never matched; last seen: {seen['text']!r}") from None


def wait_km_figure(driver, timeout: float = 30.0) -> None:
    """Until the survival page's KM figure is drawn (its legend is there). The KM card of the view a page opens
    on is laid out with the page, so its caption can be on screen before the figure."""
    wait_for(driver, lambda d: d.find_elements("css selector", f"#{ids.KM_GRAPH} .legendtext"), timeout,
             "the KM figure was never drawn")


def click(driver, css: str) -> None:
    """Scroll an element into view and click it; falls back to a DOM click when a moving layout (a chart
    resizing as results arrive) puts another element in the way of the pointer."""
    from selenium.webdriver.common.by import By

    element = wait_for(driver, lambda d: d.find_element(By.CSS_SELECTOR, css), 20, f"{css} not found")
    from selenium.common.exceptions import ElementClickInterceptedException

    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
    try:
        element.click()
    except ElementClickInterceptedException:
        driver.execute_script("arguments[0].click();", element)
