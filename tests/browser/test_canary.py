"""No patient value in any log (issue 13, item 5), checked the way a person uses the app: a canary cohort is
uploaded in Chromium, every page is opened, the survival page is cut by a user variable at its default cutoff
(the median of 25 patients: one patient's value, 987654.321), the navbar links carry the view state to every
page and each page is reloaded (so that its URL, query string and all, reaches the server). The production
server (gunicorn, debug log level, access log on) must log no canary value.

The URLs themselves are checked too: a proxy's default access log records the query string, and the survival
page's default cutoff for a user variable is that variable's median -- a patient's value. That check fails
until the default cutoff is a round value between two observed values (issue 12, analysis/dichotomise.py).
"""
from __future__ import annotations

import os
import time

import pytest
from selenium.webdriver.common.by import By

from components import ids
from tests.support.browser import screenshot, wait_for, wait_text
from tests.support.server import AppServer

pytestmark = pytest.mark.browser

CANARY_ID = "CANARY-5e1d7"
CANARY_LEVEL = "canarylevelqq"
CANARY_MEDIAN = "987654.321"
NEEDLES = (CANARY_ID, CANARY_ID.lower(), CANARY_LEVEL, "987654.3", "987654")
PAGES = [("/", f"#{ids.PREVIEW_GRID}"), ("/survival", f"#{ids.KM_GRAPH} .main-svg"),
         ("/cox", f"#{ids.COX_MULTI_TABLE}"), ("/response", f"#{ids.RESPONSE_TABLE}"), ("/safety", f"#{ids.AE_TABLE}"),
         ("/baseline", f"#{ids.BASELINE_TABLE}"), ("/meta", f"#{ids.META_FOREST} .main-svg")]


def canary_csv() -> bytes:
    """25 patients; ``canary_score`` has the canary as its median (12 values below it, 12 above)."""
    scores = [f"{900000 + 1000 * i}" for i in range(12)] + [CANARY_MEDIAN] + [f"{1000000 + 1000 * i}" for i in range(12)]
    order = [(7 * i) % 25 for i in range(25)]               # not sorted in the file
    rows = ["patient_id,OS (months),death,PFS (months),progression,AST (U/L),risk_group,canary_score,recist_best,"
            "ae_rash"]
    for k, i in enumerate(order):
        pid = CANARY_ID if k == 4 else f"P{k:03d}"
        group = CANARY_LEVEL if k % 3 == 0 else ("low" if k % 3 == 1 else "mid")
        rows.append(f"{pid},{3 + k * 1.5},{k % 2},{1 + k},{(k + 1) % 2},{20 + 7 * k},{group},{scores[i]},"
                    f"{'PR' if k % 4 else 'SD'},{k % 3}")
    return ("\n".join(rows) + "\n").encode()


def leaks(text: str) -> list[str]:
    return [n for n in NEEDLES if n in text]


@pytest.fixture(scope="module")
def visit(_driver_session, tmp_path_factory):
    """Upload the canary file and go through every page on gunicorn; the server's whole output and the URLs the
    browser asked for."""
    browser = _driver_session
    tmp = tmp_path_factory.mktemp("canary")
    path = tmp / "canary.csv"
    path.write_bytes(canary_csv())
    access_log = tmp / "access.log"
    env = {"HAIC_LOG_LEVEL": "debug", "HAIC_ACCESS_LOG": str(access_log), "HAIC_WORKERS": "2",
           "HAIC_SECRET_KEY": os.urandom(24).hex()}
    urls: list[str] = []
    with AppServer(env=env) as server:
        browser.get(server.url + "/")
        wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, f"#{ids.UPLOAD} input[type=file]"), 30)
        browser.find_element(By.CSS_SELECTOR, f"#{ids.UPLOAD} input[type=file]").send_keys(str(path))
        wait_text(browser, f"#{ids.UPLOAD_FEEDBACK}", lambda t: "Loaded canary.csv" in t, 60)
        # the survival page cut by the user variable at its default cutoff; the URL takes the view state
        browser.get(server.url + "/survival?endpoint=os&var=canary_score")
        wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, f"#{ids.KM_GRAPH} .main-svg"), 30)
        wait_for(browser, lambda d: "cutoff=" in d.current_url, 20, "the view state never reached the URL")
        urls.append(browser.current_url)
        for page, selector in PAGES:
            # through the navbar link, which carries the page's view state, then a reload: a request with the URL
            link = browser.find_element(By.CSS_SELECTOR, f"a[href^='{page}']" if page != "/" else "a[href='/']")
            browser.execute_script("arguments[0].click();", link)
            wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, selector), 30, f"{selector} never appeared")
            time.sleep(0.5)                                   # the URL is rewritten 150 ms after a change
            browser.refresh()
            wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, selector), 30, f"{selector} after reload")
            wait_text(browser, f"#{ids.DATASET_BANNER}", lambda t: "canary.csv" in t or page == "/meta")
            urls.append(browser.current_url)
            urls.extend(browser.execute_script(
                "return performance.getEntriesByType('navigation').map(e => e.name)"))
        screenshot(browser, "canary-last-page")
        time.sleep(1.0)                                       # the access log is written after each response
        logs = server.log_tail(10**8) + access_log.read_text(errors="replace")
    return logs, urls


def test_no_canary_value_reaches_the_servers_logs_through_every_page(visit):
    logs, urls = visit
    assert "GET /survival HTTP/1.1" in logs and "GET /cox HTTP/1.1" in logs     # the access log saw the reloads
    assert "POST /_dash-update-component" in logs and "DEBUG" in logs
    assert any("cutoff=" in u for u in urls)                                     # view state was in the URLs
    assert leaks(logs) == [], [line for line in logs.splitlines() if leaks(line)][:3]


def test_no_canary_value_is_in_any_url_a_proxy_would_log(visit):
    _logs, urls = visit
    assert [u for u in urls if leaks(u)] == []
