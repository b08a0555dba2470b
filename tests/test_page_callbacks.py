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
from components import ids
from services import cohort_views as views
from services import store
from tests.support.cohorts import make_cohort
from components.format import format_p
from tests.support.dash_tree import find, texts_of, walk


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
def test_cox_candidates_default_to_every_usable_column_papers_first_and_url_is_filtered(pages, ctx):
    frame = make_cohort()
    frame["my_score"] = (frame.index % 7).astype(float)                       # a variable of the user's own
    synthetic = store.put_dataset(load_cohort(frame), "own.csv").id
    options, value, default, endpoints, endpoint, groups = pages["cox"].fill_candidates(synthetic, None, None)
    ds = store.get_dataset(synthetic)
    paper = [c for c in views.PAPER_COX_VARIABLES if c in ds.frame.columns]
    assert default[:len(paper)] == paper and default[len(paper):] == ["my_score"]   # the paper's first, then the rest
    assert value == default and [o["value"] for o in options] == sorted(default, key=list(ds.profiles).index)
    assert not {"patient_id", "os_months", "recist_best", "ae_fever"} & {o["value"] for o in options}
    assert [e["value"] for e in endpoints] == [e.key for e in ds.endpoints] and endpoint == ds.endpoints[0].key
    assert groups == {}                                          # etiology / CNLC stage: the paper's groupings
    _o, value, _d, _e, endpoint, _g = pages["cox"].fill_candidates(synthetic, ["ast", "no_such", "nlr"], None, None,
                                                                   "os")
    assert value == ["ast", "nlr"] and endpoint == "os"


def test_cox_callback_tables_match_the_models(pages, synthetic):
    cand = ["sex", "etiology", "ast", "nlr", "child_pugh", "ehm", "treatment"]
    table_card, model_card, forest, alert, selected = pages["cox"].update_cox(
        "os", "p05", [], cand, True, {}, None, False, synthetic)
    assert alert is None
    view = views.cox_view(store.get_dataset(synthetic), "os", cand, {}, "p05", [], True)
    assert selected == [v.column for v in view.selected] and selected
    table = find(table_card, ids.COX_TABLE)
    body_rows = table.children[1].children
    assert len(body_rows) == len(cand)                             # one line per (two-level) variable
    text = texts_of(table)
    for var in view.variables:
        term = view.model_of(var).terms[0]
        assert var.comparison(term.term) in text
        assert f"{term.hr:.2f}" in " ".join(text)
    multi = view.multivariable
    assert list(forest.data[1].x) == pytest.approx([t.hr for t in multi.terms])
    mtext = " ".join(texts_of(find(model_card, ids.COX_MULTI_TABLE)))
    assert f"{multi.concordance:.3f}" in mtext and str(multi.events) in mtext


def test_cox_endpoint_and_chosen_cutoff_change_the_table(pages, synthetic):
    cand = ["ast", "child_pugh"]
    pfs = pages["cox"].update_cox("pfs", "p05", [], cand, True, {}, None, False, synthetic)
    os_ = pages["cox"].update_cox("os", "p05", [], cand, True, {}, None, False, synthetic)
    assert texts_of(find(pfs[0], ids.COX_TABLE)) != texts_of(find(os_[0], ids.COX_TABLE))
    assert "progression-free survival" in " ".join(texts_of(pfs[0]))
    cut = pages["cox"].update_cox("os", "p05", [], cand, True, {"ast": 80}, None, False, synthetic)
    text = " ".join(texts_of(cut[0]))
    assert "> 80 vs ≤ 80" in text and "AST 80 (Survival page)" in text
    assert "> 56.5 vs ≤ 56.5" in " ".join(texts_of(os_[0]))


def test_cox_manual_rule_and_empty_selection(pages, synthetic):
    out = pages["cox"].update_cox("os", "manual", ["nlr"], ["ast", "nlr", "ehm"], True, {}, None, False, synthetic)
    multi_text = texts_of(find(out[1], ids.COX_MULTI_TABLE))
    assert "NLR" in multi_text and "AST (U/L)" not in multi_text
    assert len(out[2].data[1].x) == 1
    none = pages["cox"].update_cox("os", "manual", [], ["ast", "nlr"], True, {}, None, False, synthetic)
    assert "tick the variables" in _alert_text(none[1])
    assert find(none[1], ids.COX_MULTI_TABLE) is not None           # the smoke test's element exists anyway


def test_cox_errors_become_alerts_not_tracebacks(pages, synthetic, ctx):
    out = pages["cox"].update_cox("os", "p05", [], ["ast"], True, {}, None, False, "expired-id")
    assert find(out[0], ids.COX_TABLE) is not None
    assert "no longer on the server" in _alert_text(out[0])
    assert isinstance(out[2], go.Figure)
    # a URL's endpoint the dataset does not have: its own endpoint is shown, and named
    frame = make_cohort().drop(columns=["os_months", "os_event"])
    ds = store.put_dataset(load_cohort(frame), "no_os.csv")
    out = pages["cox"].update_cox("os", "p05", [], ["ast"], True, {}, None, False, ds.id)
    assert "progression-free survival" in _alert_text(out[0]) and out[3] is None
    # a constant column cannot be fitted: the table says so and the rest stands
    frame = make_cohort().assign(const="x")
    ds = store.put_dataset(load_cohort(frame), "const.csv")
    out = pages["cox"].update_cox("os", "p05", [], ["const", "ast"], True, {}, None, False, ds.id)
    text = " ".join(texts_of(out[0]))
    assert "'const' cannot be a covariate" in text and "AST (U/L)" in text
    assert pages["cox"].update_cox("os", "p05", [], None, True, {}, None, False, synthetic) == (no_update,) * 5


# ---------------------------------------------------------------------------------------------------------
# /response
# ---------------------------------------------------------------------------------------------------------
def test_response_tables_and_by_group(pages, synthetic):
    main, cross, by_card, alert = pages["response"].update_tables("none", False, synthetic)
    assert alert is None and by_card is None
    result = response_table(store.get_dataset(synthetic).frame)
    text = texts_of(find(main, ids.RESPONSE_TABLE))
    orr = result.criteria["RECIST1.1"].orr
    assert f"{orr.n} ({orr.pct:.1f}%)" in text and f"{orr.lo:.1f}–{orr.hi:.1f}" in text
    assert find(cross, "response-crosstab") is not None
    _m, _c, by_card, alert = pages["response"].update_tables("treatment", False, synthetic)
    assert alert is None
    by_text = " ".join(texts_of(find(by_card, "response-by-table")))
    grouped = response_table(store.get_dataset(synthetic).frame, by="treatment")
    for g in grouped.groups:
        assert f"{g.level} (n = {g.n})" in by_text
    options, value, endpoints, endpoint, note, style, _km = pages["response"].fill_groups(synthetic, None, "treatment")
    assert value == "treatment" and {"label": "None", "value": "none"} in options
    assert endpoint == "os" and note is None and style == {}            # OS where the dataset has it
    assert pages["response"].fill_groups(synthetic, None, "bogus")[1] == "none"


def test_response_without_response_columns_is_a_note_not_an_error(pages, ctx):
    frame = make_cohort().drop(columns=["recist_best", "mrecist_best"])
    ds = store.put_dataset(load_cohort(frame), "noresp.csv")
    main, cross, by_card, alert = pages["response"].update_tables("none", False, ds.id)
    assert alert is None and cross is None and find(main, ids.RESPONSE_TABLE) is not None
    fig, note, alert = pages["response"].update_km("recist", "os", "0", False, ds.id)
    assert fig is no_update and alert is None
    *_rest, note, style, km_controls = pages["response"].fill_groups(ds.id, None, None)
    text = _alert_text(note)
    assert note.color == "light" and "No tumour response data" in text and "RECIST" in text
    assert any(getattr(c, "href", None) == "/format#response" for c in walk(note))
    assert style == km_controls == {"display": "none"}                   # no empty tables, axes or controls


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
    card, fig, alert, style = pages["safety"].update_ae("none", "20", False, synthetic)
    assert alert is None and style == {}
    table = find(card, ids.AE_TABLE)                        # the paper's Table 5 (static HTML on the page)
    plain = texts_of(table.children[0].children[-1])        # the columns' header row (spanners above it)
    assert plain[0] == "Adverse event" and not any(h.startswith("p,") for h in plain)
    card2, fig2, _, _s = pages["safety"].update_ae("treatment", "all", False, synthetic)
    table2 = find(card2, ids.AE_TABLE)
    heads = texts_of(table2.children[0])
    result = ae_table(store.get_dataset(synthetic).frame, by="treatment")
    for lv in result.levels:
        assert f"{lv} (N = {result.level_n[lv]}), n (%)" in heads
    assert heads[-1] == "p, grade ≥3"
    assert len(fig2.data) == 2 * len(result.levels)
    first = result.events[0]
    first_row = table2.children[1].children[2]              # after the two summary rows
    assert texts_of(first_row)[0] == first.label and format_p(first.tests["any"].p) in texts_of(first_row)
    assert "Fisher's exact test" in " ".join(texts_of(card2))


def test_safety_without_ae_columns_is_a_note_not_an_error(pages, ctx):
    frame = make_cohort().drop(columns=[c for c in make_cohort().columns if c.startswith("ae_")])
    ds = store.put_dataset(load_cohort(frame), "noae.csv")
    card, fig, alert, style = pages["safety"].update_ae("none", "20", False, ds.id)
    assert alert is None and fig is no_update and style == {"display": "none"}   # no red alert, no empty axes
    assert find(card, ids.AE_TABLE) is not None and "No adverse-event data" in _alert_text(card)
    assert "ae_<term>" in _alert_text(card)


# ---------------------------------------------------------------------------------------------------------
# /baseline
# ---------------------------------------------------------------------------------------------------------
def test_baseline_overall_and_by_group(pages, synthetic):
    card, alert = pages["baseline"].update_baseline("none", "both", False, synthetic)
    assert alert is None
    heads = texts_of(find(card, ids.BASELINE_TABLE).children[0])
    assert "p" not in heads
    card, alert = pages["baseline"].update_baseline("treatment", "mean", True, synthetic)
    table = find(card, ids.BASELINE_TABLE)
    assert table.style["fontSize"] == "1.2rem"                    # presentation mode
    heads = texts_of(table.children[0])
    assert heads[-1] == "p"
    result = baseline_table(store.get_dataset(synthetic).frame, by="treatment")
    for col in result.columns[1:]:
        assert col in heads
    body = texts_of(table.children[1])
    assert "Median (Q1, Q3)" not in body
    assert "Welch two-sample t-test" in " ".join(texts_of(card))


def test_baseline_footnote_counts_columns_with_a_role_and_names_the_rest_by_label(pages, ctx):
    frame = make_cohort().assign(free_text_note=[f"note {i}" for i in range(len(make_cohort()))])
    ds = store.put_dataset(load_cohort(frame), "notes.csv")
    card, _alert = pages["baseline"].update_baseline("treatment", "both", False, ds.id)
    note = next(t for t in texts_of(card) if t.startswith("Not shown:"))
    assert "identifier (1 column)" in note and "best response" in note and "columns)" in note
    assert "Free text note (" in note and "Treatment (" in note              # labels, not column names
    assert not any(raw in note for raw in ("recist_best", "patient_id", "free_text_note", "ae_"))


def test_baseline_missing_dataset_is_an_alert(pages, ctx):
    card, alert = pages["baseline"].update_baseline("none", "both", False, "gone")
    assert _is_alert(alert) and find(card, ids.BASELINE_TABLE) is not None


def test_demo_cohort_pages_render(pages, ctx):
    """The shipped SYNTHETIC demo cohort goes through every page without an alert."""
    out = pages["cox"].update_cox("pfs", "p05", [], views.PAPER_COX_VARIABLES, True, {}, None, False, "demo")
    assert out[3] is None and find(out[0], ids.COX_TABLE) is not None
    assert pages["response"].update_tables("treatment", False, "demo")[3] is None
    assert pages["response"].update_km("mrecist", "pfs", "3", False, "demo")[2] is None
    assert pages["safety"].update_ae("treatment", "10", False, "demo")[2] is None
    assert pages["safety"].update_ae("treatment", "10", False, "demo")[3] == {}
    assert pages["baseline"].update_baseline("treatment", "both", False, "demo")[1] is None
    present = [c for c in views.PAPER_COX_VARIABLES if c in store.get_dataset("demo").frame.columns]
    assert len(find(out[0], ids.COX_TABLE).children[1].children) >= len(present)


def test_survival_km_works_where_the_cutoff_scan_cannot(pages, ctx):
    # no events among patients with the marker: the maxstat scan refuses (AnalysisError), the KM curves do not
    import pandas as pd

    survival = importlib.import_module("pages.survival")
    frame = pd.DataFrame({"os_months": [3.0, 5.0, 8.0, 12.0, 20.0, 24.0], "os_event": [0] * 6,
                          "ast": [20.0, 35.0, 50.0, 60.0, 80.0, 110.0]})
    ds = store.put_dataset(load_cohort(frame), "noevents.csv")
    figure, alert, _note, at_cutoff, drawn = survival.update_km("os", "ast", 55.0, "log-log", None, False, ds.id)
    assert alert is None and isinstance(figure, go.Figure)
    assert drawn == {"dataset_id": ds.id, "endpoint": "os", "var": "ast", "cutoff": 55.0, "ci": "log-log",
                     "at": None}
    assert {t.name.split("  ")[0] for t in figure.data if t.name} == {"AST ≤ 55", "AST &gt; 55"}  # plot text
    assert "optimistic" not in str(at_cutoff)
    with pytest.raises(Exception):
        survival.cutpoint_scan(ds, "os", "ast")                  # the panel's own callback shows its message


def test_survival_km_card_follows_what_the_figure_drew(pages, ctx):
    """update_km_table builds the estimates card from update_km's ``km-drawn``: the cutoff the figure shows,
    not whatever the number box holds by the time the card's request runs."""
    from analysis.survival import km_by_group
    from components.export import to_safe_csv
    from components.survival_tables import km_summary_frame
    from services.survival_view import km_times, landmarks

    survival = importlib.import_module("pages.survival")
    figure, alert, _note, _at, drawn = survival.update_km("pfs", "ast", 60.0, "log-log", None, False, "demo")
    assert alert is None and drawn["cutoff"] == 60.0
    body, _notes, store_data, tsv, html_text, style = survival.update_km_table(drawn)
    assert style == {} and "AST > 60" in " ".join(texts_of(body)) and "AST &gt; 60" in html_text
    # the exported numbers are lifelines-path KM estimates at that cutoff (not the fast splitter's own table)
    demo = store.get_dataset("demo")
    assert landmarks(demo, "pfs") == (6.0, 12.0, 24.0)                     # the paper's, inside follow-up
    reference = km_by_group(demo.frame, "pfs_months", "pfs_event", by="ast", cutoff=60.0, ci="log-log",
                            at=km_times(demo, "pfs"))
    assert store_data["csv"] == to_safe_csv(km_summary_frame(reference, landmarks(demo, "pfs")))
    assert tsv.splitlines()[0].startswith("Group")
    # a figure that could not be drawn hides the card (update_km's alert says why); a vanished dataset too
    assert survival.update_km_table(None)[5] == {"display": "none"}
    gone = dict(drawn, dataset_id="no-such-dataset")
    assert survival.update_km_table(gone) == (*[no_update] * 5, {"display": "none"})
    _fig, alert, _n, _a, drawn_none = survival.update_km("pfs", "ast", 60.0, "log-log", None, False,
                                                         "no-such-dataset")
    assert _is_alert(alert) and drawn_none is None


# ---------------------------------------------------------------------------------------------------------
# the deliverables' view of each page (components.report_buttons turns it into a deck / tables / R bundle)
# ---------------------------------------------------------------------------------------------------------
def _results(view, dataset_id="demo"):
    from reports.jobs import report_results

    ds = None if view.get("cohort") is False else store.get_dataset(dataset_id)
    return report_results(ds, view)


def test_survival_report_view_is_the_km_view_as_it_is(pages, ctx):
    survival = importlib.import_module("pages.survival")
    view = survival.report_view("demo", "os", "alp", 150.0, "log", "6, 18", False, {})
    assert view["endpoints"][0]["time"] == "os_months" and len(view["endpoints"]) == 2
    res = _results(view)
    assert (res.view_by, res.view_cutoff, res.spec.ci) == ("alp", 150.0, "log")
    assert res.view_endpoint.landmarks == (6.0, 18.0)
    # the same figure numbers as the page's own KM call
    from services.survival_view import stratified_km

    page = stratified_km(store.get_dataset("demo"), "os", "alp", 150.0, "log", [6.0, 18.0])
    assert [g.n for g in res.view.groups] == [g.n for g in page.groups]
    assert res.view.logrank.chisq == pytest.approx(page.logrank.chisq, rel=1e-9)
    # no cutoff typed yet: the slider's default; a categorical variable is not cut; "none" is all patients
    assert _results(survival.report_view("demo", "pfs", "alp", None, "log-log", "", False, {})).view_cutoff == 174.5
    assert survival.report_view("demo", "pfs", "child_pugh", 3.0, "log-log", "", False, {})["km"]["cutoff"] is None
    assert survival.report_view("demo", "pfs", "none", None, "log-log", "", False, {})["km"]["by"] is None
    # grid mode: the grid's panels with the cutoffs chosen on them
    grid = survival.report_view("demo", "pfs", "ast", 56.5, "log-log", "", True, {"alp": 120.0, "ast": "junk"})
    assert grid["grid"][:4] == ["ast:56.5", "alp:120", "nlr:1.77", "child_pugh"]
    res = _results(grid)
    titles = [p.title for p in res.view_endpoint.panels]
    assert titles[1] == "ALP, cutoff 120 U/L" and len(titles) == len(grid["grid"])
    with pytest.raises(store.DatasetMissing):
        survival.report_view("expired", "os", "alp", 150.0, "log", "", False, {})


def test_cox_report_view_gives_the_pages_own_table(pages, synthetic):
    """A deck made from the Cox page shows exactly the page's table: forms of the URL's spec=, the Survival
    page's cutoffs, the paper's groupings on or off, the manual rule."""
    from components.cox_tables import cox_table

    cox = pages["cox"]
    cand = ["sex", "etiology", "age", "ast", "nlr", "child_pugh", "cnlc_stage"]
    cases = [("p05", [], True, {"ast": 80.0}, cox.parse_forms("age*10,nlr:2.5")),
             ("manual", ["ast", "etiology"], False, {}, cox.parse_forms("child_pugh=B,age*1"))]
    for rule, manual, groups, chosen, forms in cases:
        view = cox.report_view(synthetic, "os", rule, manual, cand, groups, chosen, forms)
        res = _results(view, synthetic)
        ours = res.view_endpoint.cox
        page = views.cox_view(store.get_dataset(synthetic), "os", cand, chosen, rule, manual, groups, forms=forms)
        assert [v.text for v in ours.variables] == [v.text for v in page.variables]
        assert [[c.text for c in r.cells] for r in cox_table(ours).rows] == \
            [[c.text for c in r.cells] for r in cox_table(page).rows]
        assert cox_table(ours).footnotes == cox_table(page).footnotes
    texts = [v.text for v in ours.variables]
    assert "age" in texts and "child_pugh=B" in texts and "etiology=HBV" in texts   # per unit; no groupings
    assert [v.column for v in ours.selected] == ["etiology", "ast"]


def test_table_pages_report_views_compare_by_the_pages_group(pages, synthetic):
    res = _results(pages["response"].report_view(synthetic, "treatment", "pfs"), synthetic)
    assert res.response.by == "treatment" and res.view_endpoint.endpoint.key == "pfs"
    assert _results(pages["safety"].report_view(synthetic, "sex"), synthetic).ae.by == "sex"
    res = _results(pages["baseline"].report_view(synthetic, "none"), synthetic)
    assert res.baseline.by is None and res.ae.by is None
    data = importlib.import_module("pages.data")
    view = data.report_view("demo")
    assert view["km"] == {"by": "ast"} and [e["time"] for e in view["endpoints"]] == ["pfs_months", "os_months"]


def test_meta_report_view_is_the_meta_side_with_the_pages_parameters(ctx):
    meta = importlib.import_module("pages.meta")
    view = meta.report_view(None, "orr", "DL", True, False, "OR", True, False, "platinum", None, [3, 1])
    assert view == {"cohort": False, "meta": {"outcome": "orr", "method": "DL", "hk": True, "mh": False,
                                              "measure": "OR", "derive": ["se_from_p"], "exclude": [1, 3],
                                              "subgroup": "platinum"}}
    res = _results(view)
    _data, page = meta.compute_view("orr", "DL", True, False, "OR", True, False, "platinum", None, [3, 1])
    assert res.meta.report.analysis.random.est == page.report.analysis.random.est
    assert not res.has_cohort and res.n == 17
