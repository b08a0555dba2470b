"""Uploaded text is data, never markup: a CSV whose headers, cells and file name carry script tags, event-handler
images, ``javascript:`` links and markdown is shown literally on every page and nothing in it runs.

Every payload sets ``window.__pwned``; after each page the test checks that it is still undefined, that no alert
dialog opened, that no element was built from the payload (``img[src=x]``, a ``javascript:`` link, a script
holding ``__pwned``) and that the console has no errors -- a CSP violation there would mean markup got into the
page and only the Content-Security-Policy stopped it. The same page also checks plotly's PNG export under the
CSP.
"""
from __future__ import annotations

import pytest
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.by import By

from components import ids
from components.layout import NAV_ITEMS
from tests.support.browser import console_errors, screenshot, wait_for, wait_text

pytestmark = pytest.mark.browser

SCRIPT = "<script>window.__pwned=1</script>"
IMG = '<img src=x onerror="window.__pwned=1;alert(1)">'
LINK = "[click me](javascript:window.__pwned=1)"
MARKDOWN = "**bold** _it_ `code`"
SVG = '<svg onload="window.__pwned=1">'
FILENAME = "<img src=x onerror=window.__pwned=1>.csv"


def payload_csv() -> str:
    headers = ["patient_id", "OS (months)", "death", "AST (U/L)", SCRIPT, IMG, LINK, MARKDOWN]
    levels = [SCRIPT, IMG, "javascript:window.__pwned=1", LINK, MARKDOWN, SVG]

    def quote(text: str) -> str:
        return '"' + text.replace('"', '""') + '"'

    rows = [",".join(quote(h) for h in headers)]
    for i in range(36):
        level = levels[i % len(levels)]
        rows.append(",".join([quote(IMG if i == 0 else f"P{i}"), str(2 + (i * 5) % 30), str(i % 2),
                              str(20 + (i * 11) % 120), quote(level), quote(levels[(i + 1) % len(levels)]),
                              quote(level), quote(MARKDOWN)]))
    return "\n".join(rows) + "\n"


def assert_nothing_ran(browser, where: str) -> None:
    try:
        text = browser.switch_to.alert.text
        pytest.fail(f"an alert opened on {where}: {text!r}")
    except NoAlertPresentException:
        pass
    state = browser.execute_script("""
        return {pwned: typeof window.__pwned === 'undefined' ? null : window.__pwned,
                imgs: document.querySelectorAll('img[src="x"]').length,
                svgs: Array.from(document.querySelectorAll('svg')).filter(s => s.getAttribute('onload')).length,
                links: Array.from(document.querySelectorAll('a[href]')).filter(
                    a => a.getAttribute('href').trim().toLowerCase().startsWith('javascript:')).length,
                scripts: Array.from(document.scripts).filter(s => s.text.includes('__pwned')).length};
    """)
    assert state == {"pwned": None, "imgs": 0, "svgs": 0, "links": 0, "scripts": 0}, where
    assert console_errors(browser) == [], where


def test_uploaded_markup_is_shown_literally_and_never_runs(live_server, browser, tmp_path):
    path = tmp_path / FILENAME
    path.write_text(payload_csv(), encoding="utf-8")
    browser.get(live_server + "/")
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, f"#{ids.PREVIEW_GRID}"), 30)
    browser.find_element(By.CSS_SELECTOR, f"#{ids.UPLOAD} input[type=file]").send_keys(str(path))
    feedback = wait_text(browser, f"#{ids.UPLOAD_FEEDBACK}", lambda t: "Loaded" in t, timeout=30)
    assert FILENAME in feedback                                   # the file name, as text
    banner = wait_text(browser, f"#{ids.DATASET_BANNER}", lambda t: "(n=36)" in t)
    assert FILENAME in banner
    # the raw headers are listed literally in the mapping step (unrecognised columns)
    mapping = wait_text(browser, f"#{ids.MAPPING_STEP}", lambda t: SCRIPT in t)
    for text in (IMG, LINK, MARKDOWN):
        assert text in mapping
    # cells, literally, in the preview grid
    wait_for(browser, lambda d: IMG in d.find_element(By.CSS_SELECTOR, f"#{ids.PREVIEW_GRID}").text, 20,
             "the payload cell never showed as text in the preview")
    grid = browser.find_element(By.CSS_SELECTOR, f"#{ids.PREVIEW_GRID}").text
    assert SCRIPT in grid and "javascript:window.__pwned=1" in grid
    screenshot(browser, "xss-data")
    assert_nothing_ran(browser, "/")

    for label, href in NAV_ITEMS:
        browser.get(live_server + href)
        wait_text(browser, f"#{ids.DATASET_BANNER}", lambda t: "(n=36)" in t or "meta" in href, timeout=30)
        wait_for(browser, lambda d: d.execute_script(
            "return !document.querySelector('[data-dash-is-loading=\"true\"]')"), 30)
        browser.implicitly_wait(0)
        screenshot(browser, f"xss-{label.lower()}")
        assert_nothing_ran(browser, href)

    # the survival page stratified by a payload column: plotly's legend and the summary table carry the levels
    browser.get(live_server + "/survival?endpoint=os&var=script_window_pwned_1_script")
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, f"#{ids.KM_GRAPH} .legendtext"), 30)
    wait_for(browser,
             lambda d: "javascript:window.__pwned=1" in d.find_element(By.CSS_SELECTOR, f"#{ids.KM_TABLE}").text,
             20, "payload levels never showed in the summary table")
    table = browser.find_element(By.CSS_SELECTOR, f"#{ids.KM_TABLE}").text
    assert SCRIPT in table and SVG in table
    legend = " ".join(e.text for e in browser.find_elements(By.CSS_SELECTOR, f"#{ids.KM_GRAPH} .legendtext"))
    assert "javascript:window.__pwned=1" in legend
    screenshot(browser, "xss-survival-by-payload")
    assert_nothing_ran(browser, "/survival by payload column")

    # plotly's PNG export works under the Content-Security-Policy (needs img-src blob:)
    browser.set_script_timeout(30)
    png = browser.execute_async_script("""
        const done = arguments[0];
        Plotly.toImage(document.querySelector('#km-graph .js-plotly-plot'), {format: 'png', width: 600,
                       height: 400}).then(u => done(u.slice(0, 22))).catch(e => done('error: ' + e));""")
    assert png == "data:image/png;base64,"
    assert_nothing_ran(browser, "PNG export")

    # back to the demo for later tests
    browser.get(live_server + "/")
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, f"#{ids.USE_DEMO}"), 20)
    browser.find_element(By.CSS_SELECTOR, f"#{ids.USE_DEMO}").click()
    wait_text(browser, f"#{ids.DATASET_BANNER}", lambda t: "SYNTHETIC" in t)
