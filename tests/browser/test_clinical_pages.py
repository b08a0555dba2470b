"""The Cox, response, safety and baseline pages in headless Chromium: each renders without console errors, and
the controls a clinician uses change what is shown (endpoint on /cox, grouping on /safety, landmark on
/response, URL state everywhere). Screenshots go to test-artifacts/ for a human look."""
from __future__ import annotations

import re

import pytest
from selenium.webdriver.common.by import By

from components import ids
from tests.support.browser import (capture_downloads, console_errors, first_download, screenshot, wait_for,
                                    wait_text)

pytestmark = pytest.mark.browser

PAGES = [("/cox", "cox", f"#{ids.COX_TABLE} tbody tr"), ("/cox?endpoint=os", "cox-os", f"#{ids.COX_MULTI_TABLE}"),
         ("/response", "response", f"#{ids.RESPONSE_TABLE} tbody tr"),
         ("/safety", "safety", f"#{ids.AE_TABLE} tbody tr"),
         ("/baseline", "baseline", f"#{ids.BASELINE_TABLE} tbody tr"),
         ("/baseline?by=treatment", "baseline-by-treatment", f"#{ids.BASELINE_TABLE} tbody tr"),
         ("/safety?by=treatment", "safety-by-treatment", f"#{ids.AE_TABLE} tbody tr")]


def _elements(driver, css):
    return driver.find_elements(By.CSS_SELECTOR, css)


def _click(driver, element) -> None:
    """Click a button; if a late layout shift puts something over it, click it from script instead."""
    from selenium.common.exceptions import ElementClickInterceptedException

    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
    try:
        element.click()
    except ElementClickInterceptedException:
        driver.execute_script("arguments[0].click();", element)


def _click_label(driver, radio_id: str, text: str) -> None:
    """Click the label of a dbc.RadioItems option by its text."""
    labels = driver.find_elements(By.CSS_SELECTOR, f"#{radio_id} label")
    target = [lab for lab in labels if lab.text.strip() == text]
    assert target, f"no option '{text}' in #{radio_id}: {[lab.text for lab in labels]}"
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", target[0])
    # the label itself is clicked (not the point where it was): a table above that finishes drawing meanwhile
    # moves the options, and a click at the old point chose the next option ('12 months' for '6 months')
    driver.execute_script("arguments[0].click();", target[0])


def _choose(driver, dropdown_id: str, text: str) -> None:
    """Pick an option of a dcc.Dropdown by its visible label."""
    box = driver.find_element(By.CSS_SELECTOR, f"#{dropdown_id}")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", box)
    box.click()

    def option(d):
        for el in d.find_elements(By.CSS_SELECTOR, "[role=option]"):
            if el.text.strip() == text:
                return el
        return False

    wait_for(driver, option, 10, f"option '{text}' of #{dropdown_id} never appeared").click()


@pytest.mark.parametrize("path,name,selector", PAGES)
def test_page_renders_without_console_errors(live_server, browser, path, name, selector):
    browser.get(live_server + path)
    wait_for(browser, lambda d: _elements(d, selector), 40, f"{selector} never appeared")
    wait_text(browser, f"#{ids.DATASET_BANNER}", lambda t: "SYNTHETIC" in t)
    if "cox" in name:
        wait_for(browser, lambda d: _elements(d, f"#{ids.COX_FOREST} .main-svg"), 20)
    if name.startswith("safety"):
        wait_for(browser, lambda d: _elements(d, f"#{ids.AE_CHART} .main-svg"), 20)
    if name == "response":
        wait_for(browser, lambda d: _elements(d, f"#{ids.RESPONSE_KM} .main-svg"), 20)
    screenshot(browser, f"clinical-{name}")
    assert console_errors(browser) == []
    assert "Traceback" not in browser.page_source
    assert not _elements(browser, ".alert-danger")


def test_cox_endpoint_switch_changes_the_table_and_url(live_server, browser):
    browser.get(live_server + "/cox?endpoint=pfs")
    pfs = wait_text(browser, f"#{ids.COX_TABLE}", lambda t: "Univariable" in t and "AST" in t, 40)
    title = browser.find_element(By.CSS_SELECTOR, f"#{ids.COX_TABLE}").find_element(
        By.XPATH, "ancestor::div[contains(concat(' ', @class, ' '), ' card ')][1]").text
    assert "progression-free survival" in title
    _click_label(browser, ids.COX_ENDPOINT, "Overall survival")
    os_text = wait_text(browser, f"#{ids.COX_TABLE}", lambda t: "AST" in t and t != pfs, 40)
    card = browser.find_element(By.CSS_SELECTOR, f"#{ids.COX_TABLE}").find_element(
        By.XPATH, "ancestor::div[contains(concat(' ', @class, ' '), ' card ')][1]").text
    assert "overall survival" in card
    assert os_text != pfs
    wait_for(browser, lambda d: "endpoint=os" in d.current_url, 10, "URL never recorded the endpoint")
    # the forest plot has one marker per multivariable term
    rows = len(_elements(browser, f"#{ids.COX_MULTI_TABLE} tbody tr"))
    assert rows > 0
    screenshot(browser, "clinical-cox-switched-to-os")
    assert console_errors(browser) == []


def test_cox_hand_picked_model_from_url(live_server, browser):
    browser.get(live_server + "/cox?endpoint=os&rule=manual&vars=ast,alp")
    text = wait_text(browser, f"#{ids.COX_MULTI_TABLE}", lambda t: "AST" in t and "ALP" in t, 40)
    assert "Child-Pugh" not in text and "NLR" not in text      # only the two chosen variables
    assert browser.find_element(By.CSS_SELECTOR, f"#{ids.COX_VARS_BOX}").is_displayed()
    ticked = browser.execute_script(
        f"return Array.from(document.querySelectorAll('#{ids.COX_VARS} input:checked')).map(e => e.value)")
    assert sorted(ticked) == ["alp", "ast"]
    # two terms -> two HR markers in the forest plot
    wait_for(browser, lambda d: d.execute_script(
        f"const g = document.querySelector('#{ids.COX_FOREST} .js-plotly-plot');"
        "return g && g.data && g.data[1] && g.data[1].x.length === 2;"), 20, "forest plot never showed 2 terms")
    assert console_errors(browser) == []


def test_safety_by_group_adds_group_columns(live_server, browser):
    browser.get(live_server + "/safety")
    wait_for(browser, lambda d: _elements(d, f"#{ids.AE_TABLE} tbody tr"), 40)
    before = [h.text for h in _elements(browser, f"#{ids.AE_TABLE} thead th")]
    assert not any(h.strip().startswith("p,") for h in before)
    _choose(browser, ids.AE_BY, "Treatment")
    wait_for(browser, lambda d: any("HAIC + TKIs or ICIs" in h.text for h in
                                    _elements(d, f"#{ids.AE_TABLE} thead tr:first-child th")), 30,
             "group columns never appeared")
    after = [h.text for h in _elements(browser, f"#{ids.AE_TABLE} thead th")]
    assert len(after) > len(before)
    assert any("HAIC + ICIs + TKIs/anti-VEGF" in h for h in after)
    assert "Fisher's exact test" in browser.find_element(By.XPATH, f"//*[@id='{ids.AE_TABLE}']/ancestor::div"
                                                                   "[contains(@class,'card')][1]").text
    # the chart now has one bar pair per group
    wait_for(browser, lambda d: d.execute_script(
        f"const g = document.querySelector('#{ids.AE_CHART} .js-plotly-plot'); return g && g.data.length === 4;"), 20)
    wait_for(browser, lambda d: "by=treatment" in d.current_url, 10)
    screenshot(browser, "clinical-safety-by-treatment-interactive")
    assert console_errors(browser) == []


def _km_ns(driver) -> list[int]:
    text = driver.execute_script(
        f"const g = document.querySelector('#{ids.RESPONSE_KM} .js-plotly-plot');"
        "return g && g.data ? g.data.map(t => t.name || '').join(' | ') : '';")
    return [int(n) for n in re.findall(r"n=(\d+)", text or "")]


def test_response_landmark_changes_the_km_numbers(live_server, browser):
    browser.get(live_server + "/response?endpoint=os")
    wait_for(browser, lambda d: len(_km_ns(d)) == 2, 40, "KM by response never drawn")
    before = _km_ns(browser)
    note = wait_text(browser, f"#{ids.RESPONSE_KM_NOTE}", lambda t: "patients" in t)
    assert "No landmark" in note
    _click_label(browser, ids.RESPONSE_LANDMARK, "6 months")
    wait_for(browser, lambda d: len(_km_ns(d)) == 2 and _km_ns(d) != before, 30, "KM n did not change")
    after = _km_ns(browser)
    assert sum(after) < sum(before)                           # patients with an event before 6 months leave
    note = wait_text(browser, f"#{ids.RESPONSE_KM_NOTE}", lambda t: "Landmark 6 months" in t)
    dropped = int(re.search(r"Landmark 6 months: (\d+) of", note).group(1))
    assert sum(before) - sum(after) == dropped
    wait_for(browser, lambda d: "landmark=6" in d.current_url, 5, "URL")
    assert "Months from the landmark" in browser.find_element(By.CSS_SELECTOR, f"#{ids.RESPONSE_KM}").text
    screenshot(browser, "clinical-response-landmark-6")
    assert console_errors(browser) == []


def test_response_by_group_and_baseline_by_group(live_server, browser):
    browser.get(live_server + "/response?by=treatment")
    text = wait_text(browser, "#response-by-table", lambda t: "ORR" in t and "DCR" in t, 40)
    assert "HAIC + TKIs or ICIs" in text
    browser.get(live_server + "/baseline")
    overall = wait_text(browser, f"#{ids.BASELINE_TABLE}", lambda t: "Overall" in t, 40)
    assert "\np\n" not in f"\n{overall}\n"
    _choose(browser, ids.BASELINE_BY, "Treatment")
    grouped = wait_text(browser, f"#{ids.BASELINE_TABLE}", lambda t: "HAIC + TKIs or ICIs\n(N = " in t, 30)
    heads = [h.text for h in _elements(browser, f"#{ids.BASELINE_TABLE} thead th")]
    assert heads[-1] == "p" and len(heads) == 5       # characteristic, overall, two groups, p
    card = browser.find_element(By.XPATH, f"//*[@id='{ids.BASELINE_TABLE}']/ancestor::div"
                                          "[contains(concat(' ', @class, ' '), ' card ')][1]").text
    assert "Welch two-sample t-test" in card and "Wilcoxon rank-sum test" in card
    assert grouped != overall
    assert console_errors(browser) == []


def test_export_buttons_are_there_and_csv_downloads(live_server, browser):
    browser.get(live_server + "/baseline")
    wait_for(browser, lambda d: _elements(d, f"#{ids.BASELINE_TABLE} tbody tr"), 40)
    card = browser.find_element(By.XPATH, f"//*[@id='{ids.BASELINE_TABLE}']/ancestor::div"
                                          "[contains(concat(' ', @class, ' '), ' card ')][1]")
    assert "CSV" in card.text and "Copy table" in card.text
    capture_downloads(browser)      # the download is handed to the browser as a blob link
    _click(browser, card.find_element(By.XPATH, ".//button[normalize-space()='CSV']"))
    head, text = first_download(browser)
    assert head == [0xEF, 0xBB, 0xBF]                          # UTF-8 byte-order mark for spreadsheet programs
    assert text.lstrip("\ufeff").startswith("Characteristic,")
    assert "Age (years)" in text and "Mean ± SD" in text
    assert console_errors(browser) == []


def test_copy_table_puts_html_and_text_on_the_clipboard(live_server, browser):
    browser.execute_cdp_cmd("Browser.grantPermissions", {"origin": live_server,
                                                         "permissions": ["clipboardReadWrite",
                                                                         "clipboardSanitizedWrite"]})
    browser.get(live_server + "/response")
    wait_for(browser, lambda d: _elements(d, f"#{ids.RESPONSE_TABLE} tbody tr"), 40)
    card = browser.find_element(By.XPATH, f"//*[@id='{ids.RESPONSE_TABLE}']/ancestor::div"
                                          "[contains(concat(' ', @class, ' '), ' card ')][1]")
    _click(browser, card.find_element(By.XPATH, ".//*[normalize-space()='Copy table']"))

    def clipboard(d):
        got = d.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "navigator.clipboard.read().then(async items => { const out = {};"
            "  for (const it of items) { for (const t of it.types) { out[t] = await (await it.getType(t)).text(); } }"
            "  done(out); }).catch(e => done({error: String(e)}));")
        return got if "text/html" in got else False

    got = wait_for(browser, clipboard, 10, "the clipboard never received the table")
    assert got["text/html"].count("<tr>") == 1 + 7                # header + CR PR SD PD NE ORR DCR
    assert "<caption>Best overall response by RECIST 1.1 and mRECIST</caption>" in got["text/html"]
    assert "Clopper" in got["text/html"]                          # the footnote travels with the table
    lines = got["text/plain"].split("\r\n")
    assert lines[0].startswith("Tumour response\tRECIST 1.1") and lines[1].startswith("CR\t")
    assert console_errors(browser) == []


def test_figure_png_and_svg_buttons_export_the_plot(live_server, browser):
    browser.get(live_server + "/cox")
    wait_for(browser, lambda d: _elements(d, f"#{ids.COX_FOREST} .main-svg"), 40)
    browser.execute_script(
        "window.__images = []; window.Plotly.downloadImage = function(gd, opts) {"
        "  window.__images.push({id: gd.parentElement.id || gd.id, fmt: opts.format, scale: opts.scale,"
        "                        w: opts.width, h: opts.height, file: opts.filename}); return Promise.resolve(); };")
    card = browser.find_element(By.XPATH, f"//*[@id='{ids.COX_FOREST}']/ancestor::div"
                                          "[contains(concat(' ', @class, ' '), ' card ')][1]")
    _click(browser, card.find_element(By.XPATH, ".//button[normalize-space()='PNG']"))
    _click(browser, card.find_element(By.XPATH, ".//button[normalize-space()='SVG']"))
    wait_for(browser, lambda d: d.execute_script("return window.__images.length") == 2, 10, "no image export")
    images = browser.execute_script("return window.__images")
    assert [i["fmt"] for i in images] == ["png", "svg"]
    assert images[0]["scale"] == 3 and images[1]["scale"] == 1
    assert images[0]["file"] == ids.COX_FOREST and images[0]["w"] > 500 and images[0]["h"] > 200
    assert console_errors(browser) == []


AE_ROWS = (f"return Array.from(document.querySelectorAll('#{ids.AE_TABLE} tbody tr'))"
           ".map(r => [r.className, r.cells[0].textContent, r.cells[3].textContent]);")


def test_safety_table_sorts_by_a_clicked_column_with_the_summary_rows_on_top(live_server, browser):
    browser.get(live_server + "/safety")
    wait_for(browser, lambda d: _elements(d, f"#{ids.AE_TABLE} tbody tr"), 40)
    original = browser.execute_script(AE_ROWS)
    header = _elements(browser, f"#{ids.AE_TABLE} thead tr:last-child th")[3]
    assert header.text == "Grade 3–4"

    def grade34(rows):
        return [int(r[2].split()[0]) for r in rows if r[0] == "row-data" and r[2].strip()]

    header.click()                                                     # largest first
    down = browser.execute_script(AE_ROWS)
    assert [r[0] for r in down[:2]] == ["row-summary"] * 2 and down[:2] == original[:2]
    assert grade34(down) == sorted(grade34(original), reverse=True)
    assert header.get_attribute("aria-sort") == "descending"
    header.click()                                                     # smallest first
    assert grade34(browser.execute_script(AE_ROWS)) == sorted(grade34(original))
    header.click()                                                     # the paper's order again
    assert browser.execute_script(AE_ROWS) == original and header.get_attribute("aria-sort") is None
    first = _elements(browser, f"#{ids.AE_TABLE} thead tr:last-child th")[0]
    first.click()                                                      # terms alphabetically
    terms = [r[1] for r in browser.execute_script(AE_ROWS) if r[0] == "row-data"]
    assert terms == sorted(terms, key=str.lower)
    assert console_errors(browser) == []


def test_cox_forms_are_drawn_when_opened_and_change_the_model(live_server, browser):
    """The per-candidate form rows are not drawn with the page; opened, they change how a variable enters."""
    from selenium.webdriver.support.ui import Select

    browser.get(live_server + "/cox?endpoint=os")
    wait_text(browser, f"#{ids.COX_TABLE}", lambda t: "Age (years)" in t and "> 58 vs ≤ 58" in t, 40)
    age_form = "select[id='{\"col\":\"age\",\"type\":\"cox-form\"}']"
    assert not _elements(browser, age_form)
    browser.find_element(By.ID, ids.COX_FORMS_TOGGLE).click()
    # drawn, and shown once the box has finished opening
    wait_for(browser, lambda d: [e for e in _elements(d, age_form) if e.is_displayed()], 20,
             "the form rows were never drawn")
    Select(_elements(browser, age_form)[0]).select_by_value("continuous")
    wait_text(browser, f"#{ids.COX_TABLE}", lambda t: "Age (years)" in t and "> 58 vs ≤ 58" not in t, 30)
    wait_for(browser, lambda d: "spec=age" in d.current_url, 10, "the URL never kept the form")
    browser.find_element(By.ID, ids.COX_FORMS_TOGGLE).click()              # closed again: the model stays
    assert "> 58 vs ≤ 58" not in browser.find_element(By.ID, ids.COX_TABLE).text
    assert console_errors(browser) == []
