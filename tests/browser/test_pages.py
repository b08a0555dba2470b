"""The dashboard as a person meets it, in headless Chromium: every page renders without console errors, the
cutoff moves the statistics, URL state is applied, uploads succeed or fail clearly without losing the dataset."""
from __future__ import annotations

import re

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from components import ids
from tests.support.browser import (capture_downloads, click, console_errors, first_download, screenshot, wait_for,
                                    wait_text)

pytestmark = pytest.mark.browser

PAGES = [("/", "data", f"#{ids.PREVIEW_GRID}"), ("/survival", "survival", f"#{ids.KM_GRAPH} .main-svg"),
         ("/cox", "cox", f"#{ids.COX_MULTI_TABLE}"), ("/response", "response", f"#{ids.RESPONSE_TABLE}"),
         ("/safety", "safety", f"#{ids.AE_TABLE}"), ("/baseline", "baseline", f"#{ids.BASELINE_TABLE}"),
         ("/meta", "meta", f"#{ids.META_FOREST} .main-svg")]


@pytest.mark.parametrize("path,name,selector", PAGES)
def test_each_page_renders_without_console_errors(live_server, browser, path, name, selector):
    browser.get(live_server + path)
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, selector), 30, f"{selector} never appeared")
    wait_text(browser, f"#{ids.DATASET_BANNER}", lambda t: "SYNTHETIC" in t or "meta" in path)
    screenshot(browser, f"page-{name}")
    assert console_errors(browser) == []
    assert "Traceback" not in browser.page_source


def _stats(browser):
    return wait_text(browser, "#km-stats-caption", lambda t: "Log-rank" in t)


# the number-at-risk table as drawn: the lines of each time axis label (time, blank, one per group) and the
# vertical centres of those lines, of the heading's and of the group names' (annotations hung from the axis)
RISK_TABLE = """
const gd = document.querySelector('#km-graph .js-plotly-plot');
if (!gd) { return null; }
const lines = el => Array.from(el.querySelectorAll('tspan.line'));
const cy = e => { const r = e.getBoundingClientRect(); return (r.top + r.bottom) / 2; };
const labels = Array.from(gd.querySelectorAll('.xtick text'));
const anns = Array.from(gd.querySelectorAll('.annotation'));
const heading = anns.filter(a => a.textContent.indexOf('Number at risk') >= 0)[0];
if (!heading || !labels.length) { return null; }
const names = anns[anns.indexOf(heading) + 1];
return {texts: labels.map(l => lines(l).map(t => t.textContent)), label_y: lines(labels[0]).map(cy),
        heading_y: lines(heading).map(cy), names: lines(names).map(t => t.textContent), names_y: lines(names).map(cy)};
"""


def _at_risk_numbers(browser):
    table = browser.execute_script(RISK_TABLE)
    return table and [lines[2:] for lines in table["texts"]]


def test_the_number_at_risk_table_lines_up_with_its_group_names(live_server, browser):
    browser.get(live_server + "/survival?endpoint=pfs&var=cnlc_stage")
    wait_for(browser, lambda d: len((d.execute_script(RISK_TABLE) or {"names": []})["names"]) == 6, 30,
             "a four-group risk table")
    table = browser.execute_script(RISK_TABLE)
    assert table["names"][2:] == [f"CNLC stage = {s}" for s in ("IIA", "IIB", "IIIA", "IIIB")]
    assert table["texts"][0][0] == "0" and all(len(lines) == 6 for lines in table["texts"])
    # at time 0 every patient of a group is at risk: the n of its legend entry
    legend = browser.execute_script(f"return document.querySelector('#{ids.KM_GRAPH} .js-plotly-plot').data"
                                    ".filter(t => t.name).map(t => t.name)")
    assert table["texts"][0][2:] == [re.search(r"n=(\d+)", name).group(1) for name in legend]
    # each group name on its line of numbers (Chromium's text layout, to within a pixel)
    assert max(abs(a - b) for a, b in zip(table["label_y"], table["names_y"])) < 1.0
    assert abs(table["label_y"][1] - table["heading_y"][1]) < 1.0
    screenshot(browser, "survival-risk-table-four-groups")


def test_moving_the_cutoff_changes_p_value_and_at_risk_table(live_server, browser):
    browser.get(live_server + "/survival?endpoint=os&var=alp&cutoff=174.5")
    before = _stats(browser)
    risk_before = _at_risk_numbers(browser)
    assert "ALP > 174.5" in before
    box = browser.find_element(By.CSS_SELECTOR, f"#{ids.KM_CUTOFF}")
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys("120", Keys.ENTER)
    after = wait_text(browser, "#km-stats-caption", lambda t: "ALP > 120" in t)
    chisq = re.compile(r"χ² = ([\d.]+)")
    assert chisq.search(after).group(1) != chisq.search(before).group(1)
    wait_for(browser, lambda d: _at_risk_numbers(d) != risk_before, 10, "at-risk table did not change")
    wait_for(browser, lambda d: "cutoff=120" in d.current_url, 5, "URL")   # written 150 ms after the change
    screenshot(browser, "survival-cutoff-120")


SLIDER_VALUE = (f"const h = document.querySelector('#{ids.KM_SLIDER} [role=slider]');"
                "return h && h.getAttribute('aria-valuenow');")


def test_a_typed_cutoff_moves_the_slider_and_reaches_the_cox_page(live_server, browser):
    """The slider's thumb, the URL and the Cox page's cutoff follow a typed cutoff (after its figure is drawn)."""
    browser.get(live_server + "/survival?endpoint=os&var=alp&cutoff=174.5")
    wait_text(browser, "#km-stats-caption", lambda t: "ALP > 174.5" in t)
    wait_for(browser, lambda d: d.execute_script(SLIDER_VALUE) == "174.5", 10, "the slider never took the URL's cutoff")
    box = browser.find_element(By.CSS_SELECTOR, f"#{ids.KM_CUTOFF}")
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys("120", Keys.ENTER)
    wait_text(browser, "#km-stats-caption", lambda t: "ALP > 120" in t)
    wait_for(browser, lambda d: d.execute_script(SLIDER_VALUE) == "120", 10, "the slider's thumb stayed put")
    wait_for(browser, lambda d: "cutoff=120" in d.current_url, 5, "URL")
    assert box.get_attribute("value") == "120"           # moving the thumb did not write the box back
    # and the other way: the thumb moved by a key writes the box, and the box is not moved back
    browser.find_element(By.CSS_SELECTOR, f"#{ids.KM_SLIDER} [role=slider]").send_keys(Keys.ARROW_RIGHT)
    wait_for(browser, lambda d: box.get_attribute("value") not in ("120", ""), 10, "the box did not follow the thumb")
    moved = box.get_attribute("value")
    assert float(moved) > 120
    wait_text(browser, "#km-stats-caption", lambda t: f"ALP > {moved}" in t)
    wait_for(browser, lambda d: f"cutoff={moved}" in d.current_url, 5, "URL")
    assert box.get_attribute("value") == moved and browser.execute_script(SLIDER_VALUE) == moved
    click(browser, "#nav-cox")
    wait_text(browser, f"#{ids.COX_TABLE}", lambda t: f"ALP (U/L) > {moved} vs ≤ {moved}" in t, 40)
    assert f"cutoff={moved}" in browser.find_element(By.CSS_SELECTOR, "#nav-survival").get_attribute("href")
    assert console_errors(browser) == []


def test_km_table_exports_follow_the_cutoff(live_server, browser):
    # the card is laid out once and its parts replaced on every move: the CSV must be the current table's
    browser.get(live_server + "/survival?endpoint=os&var=alp&cutoff=174.5")
    wait_text(browser, "#km-stats-caption", lambda t: "ALP > 174.5" in t)
    box = browser.find_element(By.CSS_SELECTOR, f"#{ids.KM_CUTOFF}")
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys("120", Keys.ENTER)
    wait_text(browser, "#km-stats-caption", lambda t: "ALP > 120" in t)
    capture_downloads(browser)
    click(browser, f"#{ids.KM_TABLE} button.btn-outline-secondary")          # the card's CSV button
    _head, text = first_download(browser)
    assert "ALP > 120" in text and "ALP ≤ 120" in text and "174.5" not in text
    assert console_errors(browser) == []


def test_statistic_chart_line_follows_the_cutoff(live_server, browser):
    browser.get(live_server + "/survival?endpoint=pfs&var=ast&cutoff=56.5")
    line = (f"const g = document.querySelector('#{ids.CP_CHART} .js-plotly-plot');"
            "return g && g.layout && g.layout.shapes ? [g.layout.shapes[0].x0, g.layout.shapes[0].visible] : null;")
    wait_for(browser, lambda d: d.execute_script(line) == [56.5, True], 30, "the chart has no current cutoff line")
    box = browser.find_element(By.CSS_SELECTOR, f"#{ids.KM_CUTOFF}")
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys("100", Keys.ENTER)
    wait_for(browser, lambda d: d.execute_script(line) == [100, True], 10, "the line did not move")
    wait_text(browser, f"#{ids.CP_AT_CUTOFF}",
              lambda t: "Naive log-rank p at this cutoff" in t and "optimistic" not in t)
    assert console_errors(browser) == []


def test_url_state_is_applied(live_server, browser):
    browser.get(live_server + "/survival?endpoint=pfs&var=nlr&cutoff=2.5&ci=plain")
    text = _stats(browser)
    assert "NLR > 2.5" in text
    assert browser.find_element(By.CSS_SELECTOR, f"#{ids.KM_CUTOFF}").get_attribute("value") == "2.5"
    assert browser.find_element(By.CSS_SELECTOR, f"#{ids.KM_CI}").get_attribute("value") == "plain"
    # the KM card is laid out with the page: the figure may still be drawing
    wait_text(browser, f"#{ids.KM_GRAPH}", lambda t: "Progression-free" in t)


def test_upload_good_then_bad_keeps_previous_dataset(live_server, browser, tmp_path):
    good = tmp_path / "good.csv"
    good.write_text("Patient;OS (days);Death;AST (U/L)\n1;300;yes;40,5\n2;600;no;80\n3;90;yes;120\n4;420;no;33\n")
    bad = tmp_path / "bad.csv"
    bad.write_text("Patient,OS (days),Death\n1,-5,yes\n2,600,maybe\n")
    browser.get(live_server + "/")
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, f"#{ids.PREVIEW_GRID}"), 30)
    browser.find_element(By.CSS_SELECTOR, f"#{ids.UPLOAD} input[type=file]").send_keys(str(good))
    wait_text(browser, f"#{ids.UPLOAD_FEEDBACK}", lambda t: "Loaded good.csv" in t)
    wait_text(browser, f"#{ids.DATASET_BANNER}", lambda t: "good.csv (n=4)" in t)

    browser.find_element(By.CSS_SELECTOR, f"#{ids.UPLOAD} input[type=file]").send_keys(str(bad))
    feedback = wait_text(browser, f"#{ids.UPLOAD_FEEDBACK}", lambda t: "bad.csv was not loaded" in t)
    assert "negative times" in feedback and "line 2" in feedback and "line 3" in feedback
    assert "previous dataset is still active" in feedback
    screenshot(browser, "upload-bad")
    wait_text(browser, f"#{ids.DATASET_BANNER}", lambda t: "good.csv (n=4)" in t)
    # the previous dataset still works on another page
    browser.get(live_server + "/survival?endpoint=os&var=none")
    wait_text(browser, f"#{ids.KM_GRAPH}", lambda t: "All patients" in t and "n=4" in t)
    assert "Traceback" not in browser.page_source
    # back to the demo so later tests see it
    browser.get(live_server + "/")
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, f"#{ids.USE_DEMO}"), 20)
    browser.find_element(By.CSS_SELECTOR, f"#{ids.USE_DEMO}").click()
    wait_text(browser, f"#{ids.DATASET_BANNER}", lambda t: "SYNTHETIC" in t)


def test_view_state_survives_navigation(live_server, browser):
    browser.get(live_server + "/survival?endpoint=os&var=nlr&cutoff=2.5")
    wait_text(browser, "#km-stats-caption", lambda t: "NLR > 2.5" in t)
    click(browser, "#nav-data")
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, f"#{ids.PREVIEW_GRID}"), 30)
    href = browser.find_element(By.CSS_SELECTOR, "#nav-survival").get_attribute("href")
    assert "var=nlr" in href and "cutoff=2.5" in href and "endpoint=os" in href
    click(browser, "#nav-survival")
    wait_text(browser, "#km-stats-caption", lambda t: "NLR > 2.5" in t)


def test_optimal_cutoff_search_runs_in_background_and_reports_corrected_p(live_server, browser):
    browser.get(live_server + "/survival?endpoint=pfs&var=ast&cutoff=56.5")
    wait_text(browser, f"#{ids.CP_SUMMARY}", lambda t: "corrected" in t)
    click(browser, f"#{ids.CP_RUN}")
    text = wait_text(browser, f"#{ids.CP_SUMMARY}", lambda t: "permutation" in t and "Bootstrap" in t, timeout=90)
    assert "Lau94" in text
    click(browser, f"#{ids.CP_USE}")
    optimum = browser.find_element(By.CSS_SELECTOR, "#cp-optimum").text
    wait_text(browser, "#cp-optimistic", lambda t: "optimistic" in t)
    assert float(browser.find_element(By.CSS_SELECTOR, f"#{ids.KM_CUTOFF}").get_attribute("value")) == \
        pytest.approx(float(optimum), rel=1e-3)
    screenshot(browser, "survival-optimal-cutoff")


def test_survival_without_a_query_opens_on_the_default_variable(live_server, browser):
    """/survival with no URL state opens on the paper's first panel (AST at 56.5) for the demo, not on 'None'."""
    browser.get(live_server + "/survival")
    wait_text(browser, f"#{ids.KM_VAR}", lambda t: "AST" in t, 30)
    wait_text(browser, "#km-stats-caption", lambda t: "AST > 56.5" in t, 30)
    wait_for(browser, lambda d: "var=ast" in d.current_url and "cutoff=56.5" in d.current_url, 10, "URL")
