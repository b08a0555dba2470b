"""A clinician's own file in Chromium, as a new user would bring it: R's lung data (NCCTG lung cancer, survival
package) with its own generic names ``time``/``status``, times in days, overall survival only, other variables
of its own. The upload holds the file until the time unit is settled; then every page shows sensible content
for it -- the survival page opens on its endpoint, the Cox screen offers all its variables and keeps the
significant ones, the response and safety pages say which columns they would need -- and no page shows a red
alert. Screenshots go to test-artifacts/."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from selenium.webdriver.common.by import By

from components import ids
from tests.support.browser import click, console_errors, screenshot, wait_for, wait_text

pytestmark = pytest.mark.browser

LUNG = Path(__file__).resolve().parents[1] / "reference" / "data" / "lung.csv"


def _red_alerts(driver) -> list[str]:
    return [a.text for a in driver.find_elements(By.CSS_SELECTOR, ".alert-danger")]


def test_own_file_in_days_with_generic_names_walks_every_page(live_server, browser, tmp_path):
    # the reference copy has two derived columns of the tests' own (a recoded ECOG, a made-up group): left out
    own = tmp_path / "lung.csv"
    own.write_text(pd.read_csv(LUNG).drop(columns=["ecog", "noevent_grp"]).to_csv(index=False))
    browser.get(live_server + "/")
    wait_text(browser, f"#{ids.DATASET_BANNER}", lambda t: "SYNTHETIC" in t, 30)
    try:
        # the banner can be drawn before the page under it
        wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, f"#{ids.UPLOAD} input[type=file]"), 30)
        browser.find_element(By.CSS_SELECTOR, f"#{ids.UPLOAD} input[type=file]").send_keys(str(own))
        # the times look like days: the file is held, the median follow-up shown as read, and a choice offered
        check = wait_text(browser, "#unit-check", lambda t: "look like days" in t, 30)
        assert "time" in check and "median follow-up" in check
        assert "was not loaded yet" in browser.find_element(By.CSS_SELECTOR, f"#{ids.UPLOAD_FEEDBACK}").text
        screenshot(browser, "own-lung-unit-check")
        assert "SYNTHETIC" in browser.find_element(By.CSS_SELECTOR, f"#{ids.DATASET_BANNER}").text   # still the demo
        click(browser, "#unit-check button.btn-primary")                 # "Read the times as days"
        wait_text(browser, f"#{ids.DATASET_BANNER}", lambda t: "lung.csv" in t, 30)
        endpoints = wait_text(browser, "#endpoints-table", lambda t: "Overall survival" in t, 30)
        assert "days" in endpoints and "228" in endpoints and "months (IQR" in endpoints
        screenshot(browser, "own-lung-data")

        click(browser, "#nav-survival")
        wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, f"#{ids.KM_GRAPH} .main-svg"), 30)
        checked = wait_for(browser, lambda d: [el for el in d.find_elements(By.CSS_SELECTOR,
                                                                            f"#{ids.KM_ENDPOINT} input")
                                               if el.is_selected()], 20, "no endpoint selected")
        label = browser.find_element(By.CSS_SELECTOR, f"label[for='{checked[0].get_attribute('id')}']").text
        assert label == "Overall survival"
        wait_for(browser, lambda d: "endpoint=os" in d.current_url, 10, "URL")
        card = wait_text(browser, f"#{ids.KM_TABLE}", lambda t: "Median follow-up" in t, 30)
        assert "All patients" in card and "228" in card
        assert not _red_alerts(browser)
        screenshot(browser, "own-lung-survival")

        click(browser, "#nav-cox")
        table = wait_text(browser, f"#{ids.COX_TABLE}", lambda t: "Sex" in t and "Ph karno" in t, 60)
        for name in ("Age (years)", "Ph ecog", "Wt loss"):
            assert name in table
        multi = wait_text(browser, f"#{ids.COX_MULTI_TABLE}", lambda t: "Sex" in t, 30)
        assert "Concordance" in multi and "Wt loss" not in multi       # p < 0.05 entered; wt.loss did not
        assert not _red_alerts(browser)
        screenshot(browser, "own-lung-cox")

        for path, what in (("/response", "No tumour response data"), ("/safety", "No adverse-event data")):
            click(browser, f"#nav-{path.strip('/')}")
            note = wait_text(browser, ".absent-note", lambda t, w=what: w in t, 30)
            assert "file format" in note
            assert not browser.find_elements(By.CSS_SELECTOR, ".js-plotly-plot .main-svg") or \
                not any(el.is_displayed() for el in browser.find_elements(By.CSS_SELECTOR, ".js-plotly-plot"))
            assert not _red_alerts(browser)
            screenshot(browser, f"own-lung{path.replace('/', '-')}")

        click(browser, "#nav-baseline")
        base = wait_text(browser, f"#{ids.BASELINE_TABLE}", lambda t: "Ph karno" in t, 30)
        assert "Wt loss" in base
        assert not _red_alerts(browser)
        assert console_errors(browser) == []
    finally:                                                           # the later tests expect the demo
        browser.get(live_server + "/")
        click(browser, f"#{ids.USE_DEMO}")
        wait_text(browser, f"#{ids.DATASET_BANNER}", lambda t: "SYNTHETIC" in t, 30)
