"""Callbacks of the Cox, response, safety and baseline pages called as plain functions inside a Flask request
(``get_dataset`` reads the browser session): right numbers in the outputs, readable alerts instead of
tracebacks, URL state honoured."""
from __future__ import annotations

import importlib

import plotly.graph_objects as go
import pytest
from dash import no_update
from flask import session

from analysis.adverse_events import ae_table
from analysis.baseline import baseline_table
from analysis.io import load_cohort
from analysis.response import response_table
from services import cohort_views as views
from services import store
from tests.test_components_tables import find, make_cohort, texts_of


@pytest.fixture(scope="module")
def pages():
    import app  # noqa: F401  (registers the pages; their modules are importable after it)

    return {name: importlib.import_module(f"pages.{name}") for name in ("cox", "response", "safety", "baseline")}


@pytest.fixture
def server(cache_app):
    return cache_app


@pytest.fixture
def ctx(server):
    with server.test_request_context("/"):
        session["owner"] = "tester"
        yield


@pytest.fixture
def synthetic(ctx):
    """An uploaded synthetic cohort of this session; returns its dataset id."""
    return store.put_dataset(load_cohort(make_cohort()), "synthetic.csv").id


def _alert_text(component) -> str:
    return " ".join(texts_of(component))


def _is_alert(component) -> bool:
    return type(component).__name__ == "Alert"


# ---------------------------------------------------------------------------------------------------------
# /cox
# ---------------------------------------------------------------------------------------------------------
def test_cox_candidates_default_to_the_papers_and_url_is_filtered(pages, synthetic):
    options, value, default = pages["cox"].fill_candidates(synthetic, None, None)
    ds = store.get_dataset(synthetic)
    assert default == [c for c in views.PAPER_COX_VARIABLES if c in ds.frame.columns]
    assert value == default
    assert {o["value"] for o in options} >= set(default)
    assert not {"patient_id", "os_months", "recist_best", "ae_fever"} & {o["value"] for o in options}
    _o, value, _d = pages["cox"].fill_candidates(synthetic, ["ast", "no_such", "nlr"], None)
    assert value == ["ast", "nlr"]


def test_cox_callback_tables_match_the_models(pages, synthetic):
    cand = ["sex", "etiology", "ast", "nlr", "child_pugh", "ehm", "treatment"]
    table_card, model_card, forest, alert, selected = pages["cox"].update_cox(
        "os", "p05", [], cand, True, {}, False, synthetic)
    assert alert is None
    view = views.cox_view(store.get_dataset(synthetic), "os", cand, {}, "p05", [], True)
    assert selected == [v.column for v in view.selected] and selected
    table = find(table_card, "cox-table")
    body_rows = table.children[1].children
    assert len(body_rows) == len(cand)                             # one line per (two-level) variable
    text = texts_of(table)
    for var in view.variables:
        term = view.model_of(var).terms[0]
        assert var.comparison(term.term) in text
        assert f"{term.hr:.2f}" in " ".join(text)
    multi = view.multivariable
    assert list(forest.data[1].x) == pytest.approx([t.hr for t in multi.terms])
    mtext = " ".join(texts_of(find(model_card, "cox-multi-table")))
    assert f"{multi.concordance:.3f}" in mtext and str(multi.events) in mtext


def test_cox_endpoint_and_chosen_cutoff_change_the_table(pages, synthetic):
    cand = ["ast", "child_pugh"]
    pfs = pages["cox"].update_cox("pfs", "p05", [], cand, True, {}, False, synthetic)
    os_ = pages["cox"].update_cox("os", "p05", [], cand, True, {}, False, synthetic)
    assert texts_of(find(pfs[0], "cox-table")) != texts_of(find(os_[0], "cox-table"))
    assert "progression-free survival" in " ".join(texts_of(pfs[0]))
    cut = pages["cox"].update_cox("os", "p05", [], cand, True, {"ast": 80}, False, synthetic)
    text = " ".join(texts_of(cut[0]))
    assert "> 80 vs ≤ 80" in text and "AST 80 (Survival page)" in text
    assert "> 56.5 vs ≤ 56.5" in " ".join(texts_of(os_[0]))


def test_cox_manual_rule_and_empty_selection(pages, synthetic):
    out = pages["cox"].update_cox("os", "manual", ["nlr"], ["ast", "nlr", "ehm"], True, {}, False, synthetic)
    multi_text = texts_of(find(out[1], "cox-multi-table"))
    assert "NLR" in multi_text and "AST (U/L)" not in multi_text
    assert len(out[2].data[1].x) == 1
    none = pages["cox"].update_cox("os", "manual", [], ["ast", "nlr"], True, {}, False, synthetic)
    assert "tick the variables" in _alert_text(none[1])
    assert find(none[1], "cox-multi-table") is not None           # the smoke test's element exists anyway


def test_cox_errors_become_alerts_not_tracebacks(pages, synthetic, ctx):
    out = pages["cox"].update_cox("os", "p05", [], ["ast"], True, {}, False, "expired-id")
    assert find(out[0], "cox-table") is not None
    assert "no longer on the server" in _alert_text(out[0])
    assert isinstance(out[2], go.Figure)
    frame = make_cohort().drop(columns=["os_months", "os_event"])
    ds = store.put_dataset(load_cohort(frame), "no_os.csv")
    out = pages["cox"].update_cox("os", "p05", [], ["ast"], True, {}, False, ds.id)
    assert "overall survival columns" in _alert_text(out[0])
    # a constant column cannot be fitted: the table says so and the rest stands
    frame = make_cohort().assign(const="x")
    ds = store.put_dataset(load_cohort(frame), "const.csv")
    out = pages["cox"].update_cox("os", "p05", [], ["const", "ast"], True, {}, False, ds.id)
    text = " ".join(texts_of(out[0]))
    assert "fewer than two levels" in text and "AST (U/L)" in text
    assert pages["cox"].update_cox("os", "p05", [], None, True, {}, False, synthetic) == (no_update,) * 5


# ---------------------------------------------------------------------------------------------------------
# /response
# ---------------------------------------------------------------------------------------------------------
def test_response_tables_and_by_group(pages, synthetic):
    main, cross, by_card, alert = pages["response"].update_tables("none", False, synthetic)
    assert alert is None and by_card is None
    result = response_table(store.get_dataset(synthetic).frame)
    text = texts_of(find(main, "response-table"))
    orr = result.criteria["RECIST1.1"].orr
    assert f"{orr.n} ({orr.pct:.1f}%)" in text and f"{orr.lo:.1f}–{orr.hi:.1f}" in text
    assert find(cross, "response-crosstab") is not None
    _m, _c, by_card, alert = pages["response"].update_tables("treatment", False, synthetic)
    assert alert is None
    by_text = " ".join(texts_of(find(by_card, "response-by-table")))
    grouped = response_table(store.get_dataset(synthetic).frame, by="treatment")
    for g in grouped.groups:
        assert f"{g.level} (n = {g.n})" in by_text
    options, value = pages["response"].fill_groups(synthetic, None, "treatment")
    assert value == "treatment" and {"label": "None", "value": "none"} in options
    assert pages["response"].fill_groups(synthetic, None, "bogus")[1] == "none"


def test_response_without_response_columns_is_an_alert(pages, ctx):
    frame = make_cohort().drop(columns=["recist_best", "mrecist_best"])
    ds = store.put_dataset(load_cohort(frame), "noresp.csv")
    main, cross, by_card, alert = pages["response"].update_tables("none", False, ds.id)
    assert _is_alert(alert) and "no response columns" in _alert_text(alert)
    assert find(main, "response-table") is not None
    fig, note, alert = pages["response"].update_km("recist", "os", "0", False, ds.id)
    assert fig is no_update and "RECIST 1.1 column" in _alert_text(alert)


def test_response_landmark_removes_early_events_and_restarts_time(pages, synthetic):
    fig0, note0, alert0 = pages["response"].update_km("recist", "os", "0", False, synthetic)
    fig6, note6, alert6 = pages["response"].update_km("recist", "os", "6", False, synthetic)
    assert alert0 is None and alert6 is None
    frame = store.get_dataset(synthetic).frame
    known = frame["recist_best"].notna() & frame["os_months"].notna()
    assert f"{int(known.sum())} patients" in note0
    at_risk = known & (frame["os_months"] >= 6)
    assert f"{int(at_risk.sum())} patients" in note6
    assert f"{int(known.sum() - at_risk.sum())} of {int(known.sum())}" in note6
    names0 = [t.name for t in fig0.data if t.name]
    names6 = [t.name for t in fig6.data if t.name]
    assert len(names0) == len(names6) == 2 and names0 != names6
    responders = frame["recist_best"].isin(["CR", "PR"]) & at_risk
    assert any(f"n={int(responders.sum())}" in n for n in names6)
    assert "Months from the landmark" in fig6.layout.xaxis.title.text


# ---------------------------------------------------------------------------------------------------------
# /safety
# ---------------------------------------------------------------------------------------------------------
def test_safety_by_group_adds_group_columns_and_tests(pages, synthetic):
    card, fig, alert = pages["safety"].update_ae("none", "20", False, synthetic)
    assert alert is None
    grid = find(card, "ae-table")
    plain = [c.get("headerName") for c in grid.columnDefs]
    assert plain[0] == "Adverse event" and "p" not in plain
    card2, fig2, _ = pages["safety"].update_ae("treatment", "all", False, synthetic)
    grid2 = find(card2, "ae-table")
    heads = [c["headerName"] for c in grid2.columnDefs]
    result = ae_table(store.get_dataset(synthetic).frame, by="treatment")
    for lv in result.levels:
        assert f"{lv} (N = {result.level_n[lv]})" in heads
    assert heads[-1] == "p"
    assert len(fig2.data) == 2 * len(result.levels)
    rows = {r["term"]: r for r in grid2.rowData}
    first = result.events[0]
    assert rows[first.term]["p_any"] == pytest.approx(first.tests["any"].p)
    assert "Fisher's exact test" in " ".join(texts_of(card2))


def test_safety_without_ae_columns_is_an_alert(pages, ctx):
    frame = make_cohort().drop(columns=[c for c in make_cohort().columns if c.startswith("ae_")])
    ds = store.put_dataset(load_cohort(frame), "noae.csv")
    card, fig, alert = pages["safety"].update_ae("none", "20", False, ds.id)
    assert _is_alert(alert) and "no adverse-event columns" in _alert_text(alert)
    assert find(card, "ae-table") is not None and fig is no_update


# ---------------------------------------------------------------------------------------------------------
# /baseline
# ---------------------------------------------------------------------------------------------------------
def test_baseline_overall_and_by_group(pages, synthetic):
    card, alert = pages["baseline"].update_baseline("none", "both", False, synthetic)
    assert alert is None
    heads = texts_of(find(card, "baseline-table").children[0])
    assert "p" not in heads
    card, alert = pages["baseline"].update_baseline("treatment", "mean", True, synthetic)
    table = find(card, "baseline-table")
    assert table.style["fontSize"] == "1.2rem"                    # presentation mode
    heads = texts_of(table.children[0])
    assert heads[-1] == "p"
    result = baseline_table(store.get_dataset(synthetic).frame, by="treatment")
    for col in result.columns[1:]:
        assert col in heads
    body = texts_of(table.children[1])
    assert "Median (Q1, Q3)" not in body
    assert "Welch two-sample t-test" in " ".join(texts_of(card))


def test_baseline_missing_dataset_is_an_alert(pages, ctx):
    card, alert = pages["baseline"].update_baseline("none", "both", False, "gone")
    assert _is_alert(alert) and find(card, "baseline-table") is not None


def test_demo_cohort_pages_render(pages, ctx):
    """The shipped SYNTHETIC demo cohort goes through every page without an alert."""
    out = pages["cox"].update_cox("pfs", "p05", [], views.PAPER_COX_VARIABLES, True, {}, False, "demo")
    assert out[3] is None and find(out[0], "cox-table") is not None
    assert pages["response"].update_tables("treatment", False, "demo")[3] is None
    assert pages["response"].update_km("mrecist", "pfs", "3", False, "demo")[2] is None
    assert pages["safety"].update_ae("treatment", "10", False, "demo")[2] is None
    assert pages["baseline"].update_baseline("treatment", "both", False, "demo")[1] is None
    present = [c for c in views.PAPER_COX_VARIABLES if c in store.get_dataset("demo").frame.columns]
    assert len(find(out[0], "cox-table").children[1].children) >= len(present)


def test_survival_km_works_where_the_cutoff_scan_cannot(pages, ctx):
    # no events among patients with the marker: the maxstat scan refuses (AnalysisError), the KM curves do not
    import pandas as pd

    survival = importlib.import_module("pages.survival")
    frame = pd.DataFrame({"os_months": [3.0, 5.0, 8.0, 12.0, 20.0, 24.0], "os_event": [0] * 6,
                          "ast": [20.0, 35.0, 50.0, 60.0, 80.0, 110.0]})
    ds = store.put_dataset(load_cohort(frame), "noevents.csv")
    figure, alert, _note, at_cutoff, drawn = survival.update_km("os", "ast", 55.0, "log-log", False, ds.id)
    assert alert is None and isinstance(figure, go.Figure)
    assert drawn == {"dataset_id": ds.id, "endpoint": "os", "var": "ast", "cutoff": 55.0, "ci": "log-log"}
    assert {t.name.split("  ")[0] for t in figure.data if t.name} == {"AST ≤ 55", "AST &gt; 55"}  # plot text, ≤
    assert "optimistic" not in str(at_cutoff)
    with pytest.raises(Exception):
        survival.cutpoint_scan(ds, "os", "ast")                  # the panel's own callback shows its message


def test_survival_km_card_follows_what_the_figure_drew(pages, ctx):
    """update_km_table builds the estimates card from update_km's ``km-drawn``: the cutoff the figure shows,
    not whatever the number box holds by the time the card's request runs."""
    from analysis.survival import km_by_group
    from components.export import to_safe_csv
    from components.survival_tables import km_summary_frame
    from services.survival_view import LANDMARKS, km_times

    survival = importlib.import_module("pages.survival")
    figure, alert, _note, _at, drawn = survival.update_km("pfs", "ast", 60.0, "log-log", False, "demo")
    assert alert is None and drawn["cutoff"] == 60.0
    body, _notes, store_data, tsv, html_text, style = survival.update_km_table(drawn)
    assert style == {} and "AST > 60" in " ".join(texts_of(body)) and "AST &gt; 60" in html_text
    # the exported numbers are lifelines-path KM estimates at that cutoff (not the fast splitter's own table)
    frame = store.get_dataset("demo").frame
    reference = km_by_group(frame, "pfs_months", "pfs_event", by="ast", cutoff=60.0, ci="log-log",
                            at=km_times("pfs"))
    assert store_data["csv"] == to_safe_csv(km_summary_frame(reference, LANDMARKS["pfs"]))
    assert tsv.splitlines()[0].startswith("Group")
    # a figure that could not be drawn hides the card (update_km's alert says why); a vanished dataset too
    assert survival.update_km_table(None)[5] == {"display": "none"}
    gone = dict(drawn, dataset_id="no-such-dataset")
    assert survival.update_km_table(gone) == (*[no_update] * 5, {"display": "none"})
    _fig, alert, _n, _a, drawn_none = survival.update_km("pfs", "ast", 60.0, "log-log", False, "no-such-dataset")
    assert _is_alert(alert) and drawn_none is None
