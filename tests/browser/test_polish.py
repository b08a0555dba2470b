"""What a new user noticed (issue 14.6), checked as they would see it in headless Chromium: the KM statistics box
(the HR's direction, its text inside its border), presentation mode on the meta page, "Stratify by" after a URL
is loaded, "≤" in legends, labels instead of raw column names, the same grade words in the AE chart and table,
resetting the cutoff, and a view URL opened in another tab or another browser."""
from __future__ import annotations

import re

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from components import ids
from tests.support.browser import (click, console_errors, new_driver, screenshot, wait_for, wait_km_figure,
                                   wait_text)

pytestmark = pytest.mark.browser

# the statistics box of every KM figure under ``root``: its text and the gaps (px) between the text's bounding
# box and the border drawn around it (negative: the text spills over)
STATS_BOX = """
const out = [];
document.querySelectorAll(arguments[0] + ' g.annotation').forEach(a => {
  const t = a.querySelector('text'), r = a.querySelector('rect.bg');
  if (!t || !r || t.textContent.indexOf('Log-rank') < 0) { return; }
  const tb = t.getBoundingClientRect(), rb = r.getBoundingClientRect();
  out.push({text: t.textContent, left: tb.left - rb.left, right: rb.right - tb.right, top: tb.top - rb.top,
            bottom: rb.bottom - tb.bottom, stroke: getComputedStyle(r).strokeWidth});
});
return out;
"""


def _presentation(browser, on: bool) -> None:
    """Switch presentation mode (the switch persists in the browser's local storage) on or off."""
    wait_for(browser, lambda d: d.execute_script(f"return document.getElementById('{ids.PRESENTATION}') !== null"), 30,
             "the navbar's presentation switch never appeared")
    if bool(browser.execute_script("return document.body.classList.contains('presentation')")) != on:
        browser.execute_script(f"document.getElementById('{ids.PRESENTATION}').click()")
    wait_for(browser, lambda d: bool(d.execute_script("return document.body.classList.contains('presentation')"))
             == on, 10, "presentation mode did not switch")


def _boxes(browser, root: str, expected: int = 1):
    wait_for(browser, lambda d: len(d.execute_script(STATS_BOX, root)) >= expected, 40, f"no statistics box in {root}")
    return browser.execute_script(STATS_BOX, root)


@pytest.mark.parametrize("path,presentation,direction", [
    ("/survival?endpoint=os&var=alp&cutoff=150", False, "HR ALP > 150 vs ≤ 150: "),
    ("/survival?endpoint=os&var=alp&cutoff=150", True, "HR ALP > 150 vs ≤ 150: "),
    ("/survival?endpoint=pfs&var=treatment", False, "HR Treatment = HAIC + ICIs + TKIs/anti-VEGF vs TKIs or ICIs: "),
    ("/survival?endpoint=pfs&var=systemic_regimen", True, None),           # four groups: no single HR
])
def test_km_statistics_box_states_the_hr_direction_and_its_text_stays_inside_its_border(live_server, browser, path,
                                                                                        presentation, direction):
    browser.get(live_server + path)
    try:
        _presentation(browser, presentation)
        wait_text(browser, "#km-stats-caption", lambda t: "Log-rank" in t, 40)
        wait_km_figure(browser)
        (box,) = _boxes(browser, f"#{ids.KM_GRAPH}")
        if direction:
            assert direction in box["text"]
            ratio = re.search(re.escape(direction) + r"([\d.]+) \(", box["text"]).group(1)
            assert ratio in browser.find_element(By.CSS_SELECTOR, "#km-stats-caption").text   # the card's HR
        else:
            assert "HR " not in box["text"]
        for side in ("left", "right", "top", "bottom"):
            assert box[side] >= 2.0, (side, box)             # inside the border, with room to breathe
        screenshot(browser, "polish-km-box" + ("-presentation" if presentation else "") + "-" +
                   path.split("var=")[1].split("&")[0])
    finally:
        _presentation(browser, False)


def test_km_statistics_boxes_of_the_grid_stay_inside_their_borders(live_server, browser):
    browser.get(live_server + "/survival?endpoint=os&var=ast&mode=grid")
    boxes = _boxes(browser, f"#{ids.KM_GRID_VIEW}", expected=9)
    assert len(boxes) == 9
    assert any("HR AST > 56.5 vs ≤ 56.5" in b["text"] for b in boxes)
    assert min(min(b[s] for s in ("left", "right", "top", "bottom")) for b in boxes) >= 2.0, boxes
    # plotly's mode bar sits above each panel's statistics box, not over its first line (the log-rank p)
    gaps = browser.execute_script("""
        return Array.from(document.querySelectorAll('#km-grid-view .js-plotly-plot')).map(g => {
          const bar = g.querySelector('.modebar'), box = g.querySelector('g.annotation rect.bg');
          return bar && box ? box.getBoundingClientRect().top - bar.getBoundingClientRect().bottom : null; });""")
    assert len(gaps) == 9 and all(g is not None and g >= 0 for g in gaps), gaps


FONT_SIZES = """
const sizes = Array.from(document.querySelectorAll(arguments[0] + ' svg text')).filter(t => t.textContent.trim())
  .map(t => parseFloat(getComputedStyle(t).fontSize)).sort((a, b) => a - b);
return sizes.length ? {min: sizes[0], median: sizes[Math.floor(sizes.length / 2)], n: sizes.length} : null;
"""


def test_presentation_mode_enlarges_the_meta_forest_and_funnel_text(live_server, browser):
    browser.get(live_server + "/meta")
    try:
        _presentation(browser, False)
        wait_for(browser, lambda d: d.execute_script(FONT_SIZES, "#meta-funnel"), 40, "no funnel plot")
        wait_for(browser, lambda d: (d.execute_script(FONT_SIZES, f"#{ids.META_FOREST}") or {"n": 0})["n"] > 50, 40)
        before = {g: browser.execute_script(FONT_SIZES, g) for g in (f"#{ids.META_FOREST}", "#meta-funnel")}
        _presentation(browser, True)
        for graph in (f"#{ids.META_FOREST}", "#meta-funnel"):
            wait_for(browser, lambda d: (d.execute_script(FONT_SIZES, graph) or {"median": 0})["median"]
                     > before[graph]["median"], 30, f"{graph} text did not grow")
            after = browser.execute_script(FONT_SIZES, graph)
            assert after["median"] >= 1.25 * before[graph]["median"] and after["median"] >= 15, (before, after)
            assert after["min"] >= 13, after                  # no line left at the 11-12 px of the screen view
        screenshot(browser, "polish-meta-presentation")
    finally:
        _presentation(browser, False)


SELECTED = f"const v = document.querySelector('#{ids.KM_VAR} .dash-dropdown-value'); return v ? v.textContent : null;"


def test_stratify_by_is_never_blank_after_a_url_is_loaded(live_server, browser):
    """18 fresh loads of a view URL, each in a new tab (a new tab's session storage starts empty): the dropdown
    shows the URL's variable every time, with the chart stratified by it."""
    url = live_server + "/survival?endpoint=os&var=alp&cutoff=150"
    home = browser.current_window_handle
    shown = []
    for k in range(18):
        browser.switch_to.new_window("tab")
        browser.get(url)
        wait_text(browser, "#km-stats-caption", lambda t: "ALP > 150" in t, 40)
        wait_for(browser, lambda d: d.execute_script(SELECTED), 10, "the dropdown shows nothing")
        shown.append(browser.execute_script(SELECTED))
        if k == 0:
            screenshot(browser, "polish-stratify-by-after-url")
        browser.close()
        browser.switch_to.window(home)
    assert shown == ["ALP (U/L) — cutoff"] * 18, shown


def test_legends_write_le_like_the_tables(live_server, browser):
    browser.get(live_server + "/survival?endpoint=os&var=alp&cutoff=150")
    wait_text(browser, "#km-stats-caption", lambda t: "ALP > 150" in t, 40)
    wait_km_figure(browser)
    legend = browser.execute_script(f"return Array.from(document.querySelectorAll('#{ids.KM_GRAPH} .legendtext'))"
                                    ".map(e => e.textContent)")
    assert legend[0].startswith("ALP ≤ 150") and legend[1].startswith("ALP > 150")
    table = browser.find_element(By.CSS_SELECTOR, f"#{ids.KM_TABLE}").text
    assert "ALP ≤ 150" in table and "<=" not in table and not any("<=" in t or "&le;" in t for t in legend)
    risk = browser.execute_script(f"return Array.from(document.querySelectorAll('#{ids.KM_GRAPH} g.annotation'))"
                                  ".map(e => e.textContent).join(' ')")
    assert "ALP ≤ 150" in risk                                  # the number-at-risk table's group names


RAW = ("systemic_regimen", "recist_best", "mrecist_best", "tumor_size_mm", "child_pugh", "cnlc_stage", "(cutoff)")


def test_raw_column_names_get_labels(live_server, browser):
    browser.get(live_server + "/survival?endpoint=os&var=tumor_size_mm")
    wait_text(browser, "#km-stats-caption", lambda t: "Log-rank" in t, 40)
    browser.find_element(By.ID, ids.KM_VAR).click()
    options = wait_for(browser, lambda d: d.execute_script(
        "return Array.from(document.querySelectorAll('#km-var-options [role=option], [role=option]'))"
        ".map(e => e.textContent)"), 10, "no options")
    browser.find_element(By.TAG_NAME, "body").send_keys(Keys.ESCAPE)
    assert "Tumour size (mm) — cutoff" in options and "Systemic regimen" in options
    assert not [o for o in options if "_" in o or "(cutoff)" in o], options
    assert browser.execute_script(SELECTED) == "Tumour size (mm) — cutoff"
    for path, ready in (("/cox", f"#{ids.COX_MULTI_TABLE}"), ("/response", f"#{ids.RESPONSE_TABLE}"),
                        ("/baseline", f"#{ids.BASELINE_TABLE}"), ("/safety", f"#{ids.AE_TABLE}")):
        browser.get(live_server + path)
        wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ready), 40)
        wait_for(browser, lambda d: len(d.find_element(By.CSS_SELECTOR, ready).text) > 20, 40)
        text = browser.find_element(By.TAG_NAME, "body").text
        assert not [r for r in RAW if r in text], (path, [r for r in RAW if r in text])
    browser.get(live_server + "/baseline")
    wait_text(browser, f"#{ids.BASELINE_TABLE}", lambda t: "Systemic regimen" in t, 40)


def test_ae_chart_and_table_use_the_same_grade_words(live_server, browser):
    for path in ("/safety", "/safety?by=treatment"):
        browser.get(live_server + path)
        wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, f"#{ids.AE_CHART} .legendtext"), 40)
        legend = browser.execute_script(f"return Array.from(document.querySelectorAll('#{ids.AE_CHART} .legendtext'))"
                                        ".map(e => e.textContent)")
        headers = browser.execute_script(f"return Array.from(document.querySelectorAll('#{ids.AE_TABLE} "
                                         "thead th')).map(e => e.textContent)")
        words = {w.split(": ")[-1].lower() for w in legend}               # "HAIC ...: grade ≥3" -> "grade ≥3"
        assert words and words <= {h.lower() for h in headers}, (legend, headers)
        axis = browser.execute_script(f"return Array.from(document.querySelectorAll('#{ids.AE_CHART} .xtitle'))"
                                      ".map(e => e.textContent).join(' ')")
        assert "grade 1–2" in axis and "grade ≥3" in axis and "1-2" not in axis
    screenshot(browser, "polish-ae-by-group")


def test_the_cutoff_can_be_reset_to_its_default(live_server, browser):
    browser.get(live_server + "/survival?endpoint=os&var=alp&cutoff=120")
    wait_text(browser, "#km-stats-caption", lambda t: "ALP > 120" in t, 40)
    click(browser, f"#{ids.KM_CUTOFF_RESET}")
    wait_text(browser, "#km-stats-caption", lambda t: "ALP > 174.5" in t)
    assert browser.find_element(By.CSS_SELECTOR, f"#{ids.KM_CUTOFF}").get_attribute("value") == "174.5"
    wait_for(browser, lambda d: "cutoff=174.5" in d.current_url, 10, "the URL kept the old cutoff")
    wait_for(browser, lambda d: d.execute_script(f"const h = document.querySelector('#{ids.KM_SLIDER} [role=slider]');"
                                                 "return h && h.getAttribute('aria-valuenow');") == "174.5", 10)
    assert console_errors(browser) == []


def _upload(browser, live_server, path) -> None:
    browser.get(live_server + "/")
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, f"#{ids.PREVIEW_GRID}"), 30)
    browser.find_element(By.CSS_SELECTOR, f"#{ids.UPLOAD} input[type=file]").send_keys(str(path))
    wait_text(browser, f"#{ids.DATASET_BANNER}", lambda t: path.name in t)


def test_a_pasted_view_url_reopens_the_users_dataset_in_its_session_and_warns_elsewhere(live_server, browser,
                                                                                          tmp_path):
    """The view URL carries its dataset (ds=<id>): pasted into a new tab of the same browser session it opens
    the user's dataset; in a fresh browser (another session) it shows the demo under a warning that the numbers
    are not the link's."""
    own = tmp_path / "my_cohort.csv"
    own.write_text("Patient,OS (months),Death,ALP (U/L)\n" + "\n".join(
        f"{i},{3 + (i * 7) % 40},{(i * 3) % 4 != 0:d},{60 + (i * 37) % 300}" for i in range(80)) + "\n")
    _upload(browser, live_server, own)
    browser.get(live_server + "/survival?endpoint=os&var=alp&cutoff=150")
    wait_text(browser, "#km-stats-caption", lambda t: "ALP > 150" in t, 40)
    wait_for(browser, lambda d: "ds=" in d.current_url, 10, "the view URL does not name its dataset")
    url = browser.current_url
    home = browser.current_window_handle
    try:
        browser.switch_to.new_window("tab")                  # same browser session, a new tab: empty tab storage
        browser.get(url)
        wait_text(browser, f"#{ids.DATASET_BANNER}", lambda t: "my_cohort.csv (n=80)" in t, 30)
        caption = wait_text(browser, "#km-stats-caption", lambda t: "ALP > 150" in t, 40)
        wait_km_figure(browser)
        legend = " ".join(browser.execute_script(f"return Array.from(document.querySelectorAll('#{ids.KM_GRAPH} "
                                                 ".legendtext')).map(e => e.textContent)"))
        assert sum(int(n) for n in re.findall(r"n=(\d+)", legend)) == 80 and caption
        assert not browser.find_elements(By.ID, "dataset-note")
        screenshot(browser, "polish-pasted-url-same-session")
        browser.close()
    finally:
        browser.switch_to.window(home)
    other = new_driver(tmp_path / "other-profile")          # another browser: another session
    try:
        other.get(url)
        note = wait_text(other, "#dataset-note", lambda t: "another dataset" in t, 30)
        assert "not the link's" in note
        banner = other.find_element(By.CSS_SELECTOR, f"#{ids.DATASET_BANNER}").text
        assert "SYNTHETIC demo cohort (n=302)" in banner and "my_cohort" not in banner
        wait_text(other, "#km-stats-caption", lambda t: "ALP > 150" in t, 40)   # the demo's numbers, flagged
        screenshot(other, "polish-pasted-url-other-browser")
    finally:
        other.quit()
    click(browser, "#nav-data")
    click(browser, f"#{ids.USE_DEMO}")
    wait_text(browser, f"#{ids.DATASET_BANNER}", lambda t: "SYNTHETIC" in t)
