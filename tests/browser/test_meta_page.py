"""The /meta page in headless Chromium: it loads with the forest plot and the published result, the outcome switch
changes the pool, a click on a forest-plot row (or the grid's box) toggles a study, an edited cell recomputes the
pooled estimate, a generic file uploads (and a bad one is refused without losing the table), the URL keeps the
view. The browser session (cookie) is shared by the tests; those that change the study table restore it."""
from __future__ import annotations

import time
from pathlib import Path

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.actions.action_builder import ActionBuilder
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from components import ids
from tests.support.browser import console_errors, screenshot, wait_for, wait_text

pytestmark = pytest.mark.browser

POOL = f"#{ids.META_POOL_SIZE}"
ROOT_DIR = Path(__file__).resolve().parents[2]


def open_meta(browser, base, query=""):
    browser.get(base + "/meta" + query)
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, f"#{ids.META_FOREST} .main-svg"), 30,
             "the forest plot never appeared")
    return wait_text(browser, POOL, lambda t: "Our pool rests on" in t, 30)


def forest_js(browser, expr: str):
    return browser.execute_script(
        f"const gd = document.querySelector('#{ids.META_FOREST} .js-plotly-plot'); " + expr)


def squares_in_forest(browser) -> int:
    return forest_js(browser, "return gd._fullData.find(t => t.name === 'squares').x.length;")


def forest_texts(browser) -> list[str]:
    return forest_js(browser, "return Array.from(gd.querySelectorAll('.textpoint text')).map(e => e.textContent);")


def click_forest_row(browser, row: int) -> None:
    """A real mouse click on the study label of table row ``row`` in the forest plot."""
    # instant scrolling: Bootstrap makes scrolling smooth, and a position read mid-scroll would be stale
    browser.execute_script(f"const el = document.querySelector('#{ids.META_FOREST}'); window.scrollTo({{left: 0, "
                           "top: el.getBoundingClientRect().top + window.scrollY - 10, behavior: 'instant'});")
    time.sleep(0.3)
    x, y = forest_js(browser, """
        const tr = gd._fullData.find(t => t.name === 'click-targets');
        const i = tr.customdata.indexOf(arguments[0]);
        const fl = gd._fullLayout, r = gd.getBoundingClientRect();
        return [r.left + fl.xaxis2._offset + fl.xaxis2.l2p(0.3), r.top + fl.yaxis._offset + fl.yaxis.l2p(tr.y[i])];
    """.replace("arguments[0]", str(int(row))))
    actions = ActionBuilder(browser)
    actions.pointer_action.move_to_location(int(x), int(y))
    actions.pointer_action.pause(0.3)
    actions.pointer_action.click()
    actions.perform()


def real_click(browser, element) -> None:
    """A mouse click at the element's centre after scrolling it into the middle of the window."""
    browser.execute_script("arguments[0].scrollIntoView({block: 'center', inline: 'center', behavior: 'instant'})", element)
    time.sleep(0.2)
    x, y = browser.execute_script("const r = arguments[0].getBoundingClientRect(); "
                                  "return [r.left + r.width / 2, r.top + r.height / 2];", element)
    actions = ActionBuilder(browser)
    actions.pointer_action.move_to_location(int(x), int(y))
    actions.pointer_action.click()
    actions.perform()


def show_grid(browser):
    """Scroll to the study table: the grid is made when its box comes near the window."""
    browser.execute_script(f"document.getElementById('{ids.META_GRID_BOX}').scrollIntoView({{block: 'center'}})")
    return wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, f"#{ids.META_GRID} .ag-row"), 20,
                    "the study grid was never made")


def grid_cell(browser, row: int, col: str):
    show_grid(browser)
    cell = wait_for(browser, lambda d: d.find_elements(
        By.CSS_SELECTOR, f'#{ids.META_GRID} .ag-center-cols-container .ag-row[row-index="{row}"] '
                         f'.ag-cell[col-id="{col}"],'
                         f'#{ids.META_GRID} .ag-pinned-left-cols-container .ag-row[row-index="{row}"] '
                         f'.ag-cell[col-id="{col}"]'), 20, f"grid cell {row}/{col} not found")[0]
    browser.execute_script("arguments[0].scrollIntoView({block: 'center', inline: 'center', behavior: 'instant'})", cell)
    return cell


def restore(browser):
    real_click(browser, browser.find_element(By.CSS_SELECTOR, f"#{ids.META_RESTORE}"))
    wait_text(browser, f"#{ids.META_DATA_FEEDBACK}", lambda t: "17-study file as shipped" in t)
    wait_text(browser, POOL, lambda t: "9 of the 17 studies" in t)


def test_meta_page_loads_with_forest_and_published_result(live_server, browser):
    pool = open_meta(browser, live_server)
    assert "Our pool rests on 9 of the 17 studies (2 with derived values †)" in pool
    summary = browser.find_element(By.CSS_SELECTOR, f"#{ids.META_SUMMARY}").text
    assert "0.51 (0.40–0.65)" in summary and "0.52 (0.48–0.58)" in summary and "lu et al. 2025" in summary.lower()
    assert squares_in_forest(browser) == 9
    texts = forest_texts(browser)
    assert texts.count("not reported") == 8 and "Guan R 2024 †" in texts
    assert "Random effects (REML)" in texts and "Prediction interval (95%)" in texts
    assert forest_js(browser, "return gd._fullLayout.xaxis.type;") == "log"
    # provenance on hover in the study grid
    cell = grid_cell(browser, 0, "os_hr")
    ActionChains(browser).move_to_element(cell).perform()
    tip = wait_text(browser, ".ag-tooltip", lambda t: "confidence" in t)
    assert "confidence: high" in tip and "source: https://" in tip
    screenshot(browser, "meta-load")
    assert console_errors(browser) == []
    assert "Traceback" not in browser.page_source


def test_outcome_switch_changes_the_pool(live_server, browser):
    open_meta(browser, live_server)
    browser.find_element(By.CSS_SELECTOR, "label[for='_dbcprivate_radioitems_meta-outcome_input_pfs']").click()
    wait_text(browser, POOL, lambda t: "5 of the 17 studies" in t)
    wait_for(browser, lambda d: "outcome=pfs" in d.current_url, 5, "URL")   # written 150 ms after the change
    wait_for(browser, lambda d: squares_in_forest(d) == 5, 10, "forest did not update")
    assert "progression-free survival" in browser.find_element(By.CSS_SELECTOR, f"#{ids.META_SUMMARY}").text.lower()
    browser.find_element(By.CSS_SELECTOR, "label[for='_dbcprivate_radioitems_meta-outcome_input_orr']").click()
    wait_text(browser, POOL, lambda t: "5 of the 17 studies (3 with derived values †)" in t)
    assert "RR 2.25 (1.37–3.71)" in browser.find_element(By.CSS_SELECTOR, f"#{ids.META_SUMMARY}").text
    assert browser.find_element(By.CSS_SELECTOR, f"#{ids.META_COUNT_CONTROLS}").is_displayed()
    screenshot(browser, "meta-orr")
    assert console_errors(browser) == []


def test_clicking_a_study_toggles_it_out_of_and_back_into_the_pool(live_server, browser):
    open_meta(browser, live_server)
    click_forest_row(browser, 13)                         # Kudo M 2018
    pool = wait_text(browser, POOL, lambda t: "8 of the 17 studies" in t)
    assert "left out by you: 1" in pool
    wait_for(browser, lambda d: "exclude=14" in d.current_url, 5, "URL")
    wait_for(browser, lambda d: "1.01 (0.74–1.37)  left out by you" in forest_texts(d), 10)
    assert "0.46 (0.39–0.55)" in browser.find_element(By.CSS_SELECTOR, f"#{ids.META_SUMMARY}").text
    screenshot(browser, "meta-kudo-left-out")
    click_forest_row(browser, 13)
    wait_text(browser, POOL, lambda t: "9 of the 17 studies" in t)
    wait_for(browser, lambda d: "exclude" not in d.current_url, 5, "URL")
    # the grid's "In pool" box does the same
    real_click(browser, grid_cell(browser, 0, "__include").find_element(By.CSS_SELECTOR, "input"))
    wait_text(browser, POOL, lambda t: "8 of the 17 studies" in t)
    wait_for(browser, lambda d: "exclude=1" in d.current_url, 5, "URL")
    real_click(browser, grid_cell(browser, 0, "__include").find_element(By.CSS_SELECTOR, "input"))
    wait_text(browser, POOL, lambda t: "9 of the 17 studies" in t)
    assert console_errors(browser) == []


def test_editing_a_cell_recomputes_the_pool(live_server, browser):
    open_meta(browser, live_server)
    restore(browser)
    source = browser.find_element(By.CSS_SELECTOR, f"#{ids.META_EDIT_SOURCE}")
    source.send_keys("full text, Table 2")
    cell = grid_cell(browser, 0, "os_hr")
    ActionChains(browser).double_click(cell).perform()
    editor = wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR,
                                                         f"#{ids.META_GRID} .ag-cell-inline-editing input"),
                      10, "no cell editor")[0]
    editor.send_keys(Keys.CONTROL, "a")
    editor.send_keys("0.75", Keys.ENTER)
    wait_text(browser, f"#{ids.META_OUR_ESTIMATE}", lambda t: t == "0.52 (0.40–0.67)")
    wait_text(browser, f"#{ids.META_DATA_FEEDBACK}", lambda t: "Edit applied" in t)
    edits = wait_text(browser, f"#{ids.META_EDITS}", lambda t: "full text, Table 2" in t)
    assert "0.60" in edits and "0.75" in edits
    assert "1 edit" in browser.find_element(By.CSS_SELECTOR, f"#{ids.META_DATA_INFO}").text
    # the grid's rows come back in their own answer (a refresh that lands during the next edit cancels it): the
    # next edit starts once they are there, the edited cell tinted
    wait_for(browser, lambda d: d.execute_script("return getComputedStyle(arguments[0]).backgroundColor",
                                                 grid_cell(d, 0, "os_hr")) == "rgb(255, 243, 191)", 20,
             "the edited cell was never tinted")
    screenshot(browser, "meta-edited-cell")
    # the "Edit applied" note above the grid closes by itself after 4 s and moves the grid up: closed first, so
    # that the next double click cannot land on the row below the one aimed at
    for close in browser.find_elements(By.CSS_SELECTOR, f"#{ids.META_DATA_FEEDBACK} .btn-close"):
        real_click(browser, close)
    wait_for(browser, lambda d: not d.find_elements(By.CSS_SELECTOR, f"#{ids.META_DATA_FEEDBACK} .alert"), 10,
             "the note never closed")
    # a value the engine cannot use is refused with column and row, and the table keeps the last good value
    cell = grid_cell(browser, 1, "os_lo")
    ActionChains(browser).double_click(cell).perform()
    editor = wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR,
                                                         f"#{ids.META_GRID} .ag-cell-inline-editing input"),
                      10, "no cell editor")[0]
    editor.send_keys(Keys.CONTROL, "a")
    editor.send_keys("0.9", Keys.ENTER)
    msg = wait_text(browser, f"#{ids.META_DATA_FEEDBACK}", lambda t: "not applied" in t)
    assert "data row 2" in msg and "'os_lo'/'os_hi'" in msg
    wait_text(browser, f'#{ids.META_GRID} .ag-row[row-index="1"] .ag-cell[col-id="os_lo"]', lambda t: t == "0.36")
    # the summary may be drawn again (the refusal sets the studies left out, unchanged): read it when it is there
    wait_text(browser, f"#{ids.META_OUR_ESTIMATE}", lambda t: t == "0.52 (0.40–0.67)")
    restore(browser)
    assert console_errors(browser) == []


def test_upload_generic_file_then_a_bad_one(live_server, browser, tmp_path):
    good = tmp_path / "my_studies.csv"
    good.write_text("study,hr,lo,hi,year\nAlpha 2019,0.62,0.45,0.85,2019\nBeta 2020,0.80,0.61,1.05,2020\n"
                    "Gamma 2021,,,,2021\nDelta 2022,0.55,0.35,0.86,2022\n")
    bad = tmp_path / "bad.csv"
    bad.write_text("study,hr,lo,hi\nA,0.5,0.3,0.8\nB,oops,0.5,0.9\n")
    open_meta(browser, live_server)
    browser.find_element(By.CSS_SELECTOR, f"#{ids.META_UPLOAD} input[type=file]").send_keys(str(good))
    wait_text(browser, f"#{ids.META_DATA_FEEDBACK}", lambda t: "Loaded my_studies.csv: 4 studies" in t)
    pool = wait_text(browser, POOL, lambda t: "3 of the 4 studies" in t)
    assert "not reported: 1" in pool
    wait_for(browser, lambda d: "Alpha 2019" in forest_texts(d), 10)
    assert "Ratio (95% CI)" in " ".join(forest_texts(browser))
    assert browser.find_element(By.CSS_SELECTOR, f"#{ids.META_OUTCOME_NOTE}").text.startswith(
        "This file has one outcome")
    screenshot(browser, "meta-generic-upload")

    upload = browser.find_element(By.CSS_SELECTOR, f"#{ids.META_UPLOAD} input[type=file]")
    browser.execute_script("arguments[0].value = '';", upload)   # a new choice, as in the file dialog
    upload.send_keys(str(bad))
    msg = wait_text(browser, f"#{ids.META_DATA_FEEDBACK}", lambda t: "Not loaded" in t)
    assert "column 'hr' must hold numbers; data row 2" in msg and "still in use" in msg and "oops" not in msg
    assert "3 of the 4 studies" in browser.find_element(By.CSS_SELECTOR, POOL).text
    restore(browser)
    assert console_errors(browser) == []


def test_url_keeps_the_view(live_server, browser):
    pool = open_meta(browser, live_server, "?outcome=os&method=DL&hk=1&subgroup=platinum&exclude=3,7")
    assert "8 of the 17 studies" in pool and "left out by you: 2" in pool
    summary = browser.find_element(By.CSS_SELECTOR, f"#{ids.META_SUMMARY}").text
    assert "random effects (DL, Hartung-Knapp)" in summary
    wait_for(browser, lambda d: "Platinum drug: oxaliplatin" in forest_texts(d), 10)
    assert browser.find_element(By.CSS_SELECTOR, f"#{ids.META_METHOD}").get_attribute("value") == "DL"
    url = browser.current_url
    assert "method=DL" in url and "hk=1" in url and "subgroup=platinum" in url
    assert "exclude=3%2C7" in url or "exclude=3,7" in url
    screenshot(browser, "meta-url-state")
    assert console_errors(browser) == []


def test_uploaded_markup_is_shown_as_text_and_exports_work(live_server, browser, tmp_path):
    """Study labels and levels from an upload are data: shown literally in the forest plot and the grid, nothing
    runs; the forest plot exports to PNG and SVG under the Content-Security-Policy."""
    payload = '<img src=x onerror="window.__pwned=1">'
    name = "<img src=x onerror=window.__pwned=1>.csv"
    path = tmp_path / name
    path.write_text('study,hr,lo,hi,region\n"' + payload.replace('"', '""') + '",0.5,0.3,0.8,"<script>window.__pwned=1'
                    '</script>"\nB,0.7,0.5,0.98,Europe\nC,0.6,0.4,0.9,Europe\n', encoding="utf-8")
    open_meta(browser, live_server)
    browser.find_element(By.CSS_SELECTOR, f"#{ids.META_UPLOAD} input[type=file]").send_keys(str(path))
    wait_text(browser, f"#{ids.META_DATA_FEEDBACK}", lambda t: f"Loaded {name}" in t)
    wait_for(browser, lambda d: any(name in t for t in forest_texts(d) + [
        d.execute_script(f"return document.querySelector('#{ids.META_FOREST} .gtitle').textContent")]), 20)
    wait_for(browser, lambda d: payload in forest_texts(d), 20, "the payload label never showed as text")
    open_meta(browser, live_server, "?subgroup=region")          # the uploaded table stays with the session
    wait_for(browser, lambda d: any("<script>window.__pwned=1</script>" in t for t in forest_texts(d)), 20,
             "the payload subgroup level never showed as text")
    show_grid(browser)
    wait_for(browser, lambda d: payload in d.find_element(By.CSS_SELECTOR, f"#{ids.META_GRID}").text, 20)
    state = browser.execute_script("""
        return {pwned: typeof window.__pwned === 'undefined' ? null : window.__pwned,
                imgs: document.querySelectorAll('img[src="x"]').length,
                scripts: Array.from(document.scripts).filter(s => s.text.includes('__pwned')).length};""")
    assert state == {"pwned": None, "imgs": 0, "scripts": 0}
    browser.set_script_timeout(30)
    for fmt, prefix in (("png", "data:image/png;base64,"), ("svg", "data:image/svg+xml,")):
        head = browser.execute_async_script("""
            const done = arguments[0];
            Plotly.toImage(document.querySelector('#meta-forest .js-plotly-plot'), {format: '%s', scale: 3})
                .then(u => done(u.slice(0, 40))).catch(e => done('error: ' + e));""" % fmt)
        assert head.startswith(prefix), head
    real_click(browser, browser.find_element(By.CSS_SELECTOR, f"#{ids.META_FOREST_SVG}"))
    time.sleep(1)
    screenshot(browser, "meta-markup-upload")
    assert console_errors(browser) == []
    restore(browser)


# ------------------------------------------------------------------------------------------------ issue 15

def tsa_js(browser, expr: str):
    return browser.execute_script(
        f"const gd = document.querySelector('#{ids.META_TSA_GRAPH} .js-plotly-plot'); " + expr)


def show(browser, css: str) -> None:
    """Scroll so that the element starts at the top of the window (for the screenshot)."""
    browser.execute_script("const el = document.querySelector(arguments[0]); window.scrollTo({left: 0, top: "
                           "el.getBoundingClientRect().top + window.scrollY - 10, behavior: 'instant'});", css)
    time.sleep(0.4)


def open_tsa(browser, base, query):
    open_meta(browser, base, query)
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, f"#{ids.META_TSA_GRAPH} .main-svg"), 30, "no TSA plot")
    return wait_text(browser, f"#{ids.META_TSA_CONCLUSION}", lambda t: "patients" in t, 30)


def test_tsa_panel_draws_the_papers_figure_6_and_follows_its_controls(live_server, browser):
    conclusion = open_tsa(browser, live_server, "?outcome=orr&method=DL&mh=1&tab=tsa")
    assert "591 of the required 5,358 patients" in conclusion
    assert browser.find_element(By.CSS_SELECTOR, f"#{ids.META_TSA_RRR}").get_attribute("value") == "30"
    names = tsa_js(browser, "return gd._fullData.map(t => t.name);")
    assert "RIS = 5,358 patients" in names and "Conventional boundary (±1.96)" in names
    assert any(n.startswith("Futility region") for n in names) and any(n.startswith("Monitoring") for n in names)
    z = tsa_js(browser, "return gd._fullData.find(t => t.name === 'Cumulative z-curve').y;")
    assert len(z) == 6 and z[0] == 0 and 2.9 < z[-1] < 3.0
    paper = browser.find_element(By.CSS_SELECTOR, f"#{ids.META_TSA_PAPER}").text
    assert "2,633 (16 studies)" in paper and "1,469 (15 studies)" in paper and "Why ours differs" in paper
    show(browser, f"#{ids.META_TSA_PANEL}")
    screenshot(browser, "meta-tsa-orr")
    # a smaller effect to detect needs more patients; futility off removes the futility region; the URL keeps it
    rrr = browser.find_element(By.CSS_SELECTOR, f"#{ids.META_TSA_RRR}")
    rrr.send_keys(Keys.CONTROL, "a")
    rrr.send_keys("20", Keys.ENTER)
    wait_text(browser, f"#{ids.META_TSA_CONCLUSION}", lambda t: "5,358" not in t and "required" in t)
    real_click(browser, browser.find_element(By.CSS_SELECTOR, f"label[for='{ids.META_TSA_FUTILITY}']"))
    wait_for(browser, lambda d: not any(n.startswith("Futility") for n in tsa_js(
        d, "return gd._fullData.map(t => t.name);")), 10, "futility region still drawn")
    wait_for(browser, lambda d: "rrr=20" in d.current_url and "fut=0" in d.current_url, 5, "URL")
    assert console_errors(browser) == []


def test_tsa_panel_on_a_count_file_that_crosses_its_boundary(live_server, browser):
    """dat.lee2004 (16 trials, RRR 20 %): the random-effects z-curve crosses the lower monitoring boundary at
    the 16th trial (RTSA: stop_time 16, 'll')."""
    path = str(ROOT_DIR / "tests" / "reference" / "data" / "tsa_lee.csv")
    open_meta(browser, live_server)
    browser.find_element(By.CSS_SELECTOR, f"#{ids.META_UPLOAD} input[type=file]").send_keys(path)
    wait_text(browser, f"#{ids.META_DATA_FEEDBACK}", lambda t: "Loaded tsa_lee.csv: 16 studies" in t)
    try:
        conclusion = open_tsa(browser, live_server, "?method=DL&tab=tsa&rrr=20&fut=0")
        assert "crosses the lower monitoring boundary (RR < 1) at Wang:" in conclusion
        assert "1,826 of the required 3,136 patients" in conclusion
        upper = tsa_js(browser, "return gd._fullData.filter(t => t.name.startsWith('Monitoring'))[0].y;")
        assert len(upper) >= 5 and min(upper) < 2.2
        show(browser, f"#{ids.META_TSA_PANEL}")
        screenshot(browser, "meta-tsa-lee-crossing")
        assert console_errors(browser) == []
    finally:
        restore(browser)


def test_one_study_headers_at_1280_px_and_presentation_mode(live_server, browser):
    browser.set_window_size(1280, 1100)
    try:
        open_meta(browser, live_server, "?outcome=ae")
        wait_text(browser, f"#{ids.META_OUR_ESTIMATE}", lambda t: t == "not pooled (one study)")
        names = forest_js(browser, "return gd._fullData.map(t => t.name);")
        assert "diamond-random" not in names and "prediction-interval" not in names
        assert "Not pooled (one study)" in forest_texts(browser)
        show(browser, f"#{ids.META_SUMMARY}")
        screenshot(browser, "meta-one-study")
        # no two forest headers overlap at 1,280 px (the two weight headers did)
        open_meta(browser, live_server, "?outcome=os")
        headers = forest_js(browser, """
            const out = [];
            gd.querySelectorAll('.trace').forEach(tr => {
                const name = (tr.__data__ && tr.__data__[0] && tr.__data__[0].trace.name) || '';
                if (!/header/.test(name)) { return; }
                tr.querySelectorAll('text').forEach(t => {
                    const lines = t.querySelectorAll('tspan.line');
                    (lines.length ? Array.from(lines) : [t]).forEach(l => {
                        const txt = l.textContent.trim();
                        if (!txt) { return; }
                        const r = l.getBoundingClientRect();
                        out.push([txt, r.left, r.right, r.top, r.bottom]);
                    });
                });
            });
            return out;""")
        assert {"fixed", "random", "Weight (%)"} <= {b[0] for b in headers}
        for i, a in enumerate(headers):
            for b in headers[i + 1:]:
                same_line = min(a[4], b[4]) - max(a[3], b[3]) > 2
                assert not (same_line and min(a[2], b[2]) - max(a[1], b[1]) > 0), (a, b)
        show(browser, f"#{ids.META_FOREST}")
        screenshot(browser, "meta-forest-1280")
        # presentation mode: larger forest and funnel text
        small = forest_js(browser, "return gd._fullLayout.font.size;")
        real_click(browser, browser.find_element(By.CSS_SELECTOR, f"label[for='{ids.PRESENTATION}']"))
        wait_for(browser, lambda d: forest_js(d, "return gd._fullLayout.font.size;") > small, 10,
                 "forest text did not grow")
        funnel = wait_for(browser, lambda d: d.execute_script(
            "const g = document.querySelector('#meta-funnel .js-plotly-plot'); return g && g._fullLayout.font.size;"),
            20, "no funnel")
        assert funnel > 13
        show(browser, f"#{ids.META_FOREST}")
        screenshot(browser, "meta-presentation")
        show(browser, "#meta-funnel")
        screenshot(browser, "meta-presentation-funnel")
    finally:
        if browser.find_elements(By.CSS_SELECTOR, f"#{ids.PRESENTATION}:checked"):
            real_click(browser, browser.find_element(By.CSS_SELECTOR, f"label[for='{ids.PRESENTATION}']"))
        browser.set_window_size(1500, 1100)
    assert console_errors(browser) == []


def test_the_study_grid_is_made_when_scrolled_to(live_server, browser):
    """The editable grid is below the forest plot and the tabs: it is not made with the page's first view, and is
    made, with every study, once the user scrolls to it."""
    open_meta(browser, live_server)
    time.sleep(1.5)                                                   # the page is idle; the grid is still not there
    assert not browser.find_elements(By.CSS_SELECTOR, f"#{ids.META_GRID}")
    assert "17 studies" in browser.find_element(By.CSS_SELECTOR, f"#{ids.META_DATA_INFO}").text
    rows = show_grid(browser)
    assert len(rows) >= 10 and "Mei J" in browser.find_element(By.CSS_SELECTOR, f"#{ids.META_GRID}").text
    assert console_errors(browser) == []
