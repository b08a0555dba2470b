"""The /meta page's callbacks called as plain functions inside a Flask request (one browser session each), and the
session store of services.meta_views: outcome switch, toggling studies, editing cells (with provenance), uploads
good and bad, downloads, URL state, and the same numbers as ``python -m analysis meta``."""
from __future__ import annotations

import base64
import importlib
import json
import math
import os
import re
import time

import dash
import pandas as pd
import plotly.graph_objects as go
import pytest
from flask import session

from analysis.cli import build_parser
from components import ids
from components.meta_grid import grid_rows, provenance_csv, studies_csv
from services import meta_views as mv
from services import store
from tests.support.dash_tree import find, text_of

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
META17 = os.path.join(ROOT, "data", "meta17.csv")
PROV = os.path.join(ROOT, "data", "meta17_provenance.csv")
DEFAULTS = dict(outcome="os", method="REML", hk=False, mh=False, measure="RR", derive_se=True, derive_pct=True,
                subgroup=None, moderator=None, exclude=[])


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    old = os.environ.get("HAIC_CACHE_DIR")
    os.environ["HAIC_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
    dash_app = dash.Dash(__name__, use_pages=True, pages_folder="")
    dash_app.server.config["SECRET_KEY"] = "test"
    store.init_cache(dash_app.server)
    yield dash_app.server
    if old is None:
        os.environ.pop("HAIC_CACHE_DIR", None)
    else:
        os.environ["HAIC_CACHE_DIR"] = old


@pytest.fixture(scope="module")
def page(app):
    return importlib.import_module("pages.meta")


@pytest.fixture
def as_user(app):
    """``with as_user("alice"):`` -- a request of that browser session."""
    contexts = []

    def enter(owner):
        ctx = app.test_request_context("/")
        ctx.push()
        session["owner"] = owner
        contexts.append(ctx)
        return ctx

    yield enter
    while contexts:
        contexts.pop().pop()


def results(page, **kw):
    args = {**DEFAULTS, **kw}
    return page.update_results(args["outcome"], args["method"], args["hk"], args["mh"], args["measure"],
                               args["derive_se"], args["derive_pct"], args["subgroup"], args["moderator"],
                               args["exclude"], None)


def squares(fig: go.Figure):
    return next(t for t in fig.data if t.name == "squares")


def random_estimate(fig: go.Figure) -> float:
    return next(t for t in fig.data if t.name == "diamond-random").x[1]


def csv_upload(text: str) -> str:
    return "data:text/csv;base64," + base64.b64encode(text.encode()).decode()


# ------------------------------------------------------------------------------------------------ results

def test_default_view_pools_nine_os_studies_next_to_published(page, as_user):
    as_user("alice")
    fig, summary, alert, note, count_style = results(page)
    assert len(squares(fig).x) == 9 and alert is None and note is None
    text = text_of(summary)
    assert "HR 0.51 (0.40–0.65)" in text and "HR 0.52 (0.48–0.58)" in text
    assert "Our pool rests on 9 of the 17 studies (2 with derived values †)" in text
    assert "Not in the pool: 8 (not reported: 8)" in text
    assert "I² 51%; k = 17 studies" in text
    assert count_style == {"display": "none"}          # RR/OR and MH only for event counts


def test_outcome_switch_changes_k(page, as_user):
    as_user("alice")
    ks = {}
    for outcome in ("os", "pfs", "orr", "dcr", "ae"):
        fig, summary, _a, _n, style = results(page, outcome=outcome)
        ks[outcome] = len(squares(fig).x)
        assert f"rests on {ks[outcome]} of the 17 studies" in text_of(summary)
        assert style == ({} if outcome in ("orr", "dcr", "ae") else {"display": "none"})
    assert ks == {"os": 9, "pfs": 5, "orr": 5, "dcr": 4, "ae": 1}
    _f, summary, *_ = results(page, outcome="orr")
    assert "RR 2.25 (1.37–3.71)" in text_of(summary) and "RR 2.20 (1.77–2.72)" in text_of(summary)
    _f, summary, *_ = results(page, outcome="ae")
    assert "7.20% vs 4.58%" in text_of(summary)


def test_each_derivation_switches_off(page, as_user):
    as_user("alice")
    fig, summary, *_ = results(page, derive_se=False)
    assert len(squares(fig).x) == 7 and "derived" not in text_of(summary)
    assert "HR without CI (derivation off): 2" in text_of(summary)
    fig, *_ = results(page, outcome="orr", derive_pct=False)
    assert len(squares(fig).x) == 2
    fig, *_ = results(page, outcome="orr", derive_se=False)            # the other one does not matter here
    assert len(squares(fig).x) == 5
    fig, summary, alert, *_ = results(page, outcome="ae", derive_pct=False)
    assert len(squares(fig).x) == 0 and "No pooled estimate" in text_of(summary)
    assert "no study can be pooled for outcome 'ae'" in text_of(alert)
    assert "switch on 'Derived values' (left)" in text_of(alert) and "--no-derive" not in text_of(alert)


def test_page_prints_the_same_numbers_as_the_cli(page, as_user):
    as_user("alice")
    for argv, kw in (
        ([], {}),
        (["--outcome", "orr", "--method", "DL", "--hk", "--mh"], dict(outcome="orr", method="DL", hk=True,
                                                                      mh=True)),
        (["--outcome", "pfs", "--method", "PM", "--no-derive"], dict(outcome="pfs", method="PM", derive_se=False,
                                                                    derive_pct=False)),
        (["--outcome", "dcr", "--measure", "OR", "--no-count-from-pct"], dict(outcome="dcr", measure="OR",
                                                                             derive_pct=False)),
        (["--outcome", "os", "--method", "FE", "--subgroup", "platinum"], dict(method="FE", subgroup="platinum")),
    ):
        args = build_parser().parse_args(["meta", META17, *argv])
        cli = json.loads(json.dumps(args.handler(args)))
        fig, summary, *_ = results(page, **kw)
        _d, view = page.compute_view(*[{**DEFAULTS, **kw}[k] for k in DEFAULTS])
        ours = view.report.to_dict()
        assert ours["k"] == cli["k"] == len(squares(fig).x)
        for key in ("fixed", "random", "heterogeneity"):
            assert ours[key] == pytest.approx(cli[key]) if cli[key] is not None else ours[key] is None
        prim = cli["random"] or cli["fixed"]
        assert f"{prim['est']:.2f} ({prim['lo']:.2f}–{prim['hi']:.2f})" in text_of(summary)


def test_toggling_a_study_from_the_forest_plot(page, as_user):
    as_user("alice")
    fig, *_ = results(page)
    kudo = 13
    assert kudo in list(squares(fig).customdata)
    exclude, click = page.toggle_from_forest({"points": [{"customdata": kudo, "curveNumber": 3}]}, [])
    assert exclude == [kudo] and click is None
    fig2, summary, *_ = results(page, exclude=exclude)
    assert len(squares(fig2).x) == 8 and kudo not in list(squares(fig2).customdata)
    assert random_estimate(fig2) < random_estimate(fig)           # Kudo (HR 1.01) pulled the pool up
    assert "left out by you: 1" in text_of(summary)
    # clicking the greyed row again brings it back
    assert page.toggle_from_forest({"points": [{"customdata": [kudo]}]}, exclude)[0] == []
    # a click on a diamond or the axis carries no study
    assert page.toggle_from_forest({"points": [{"x": 0.5}]}, [kudo])[0] is dash.no_update


def test_toggling_from_the_grid_checkbox(page, as_user):
    as_user("alice")
    out = page.grid_changed([{"colId": "__include", "value": False, "oldValue": True, "rowIndex": 0,
                              "data": {"__row": 0}}], [], None)
    assert out[0] == [0] and out[1] is dash.no_update
    fig, *_ = results(page, exclude=out[0])
    assert 0 not in list(squares(fig).customdata) and len(squares(fig).x) == 8
    back = page.grid_changed([{"colId": "__include", "value": True, "rowIndex": 0, "data": {"__row": 0}}], [0],
                             None)
    assert back[0] == []
    rows, _defs, *_ = page.refresh_grid(None, [0])
    assert rows[0]["__include"] is False and rows[1]["__include"] is True


def test_edited_cell_changes_the_pooled_estimate_and_its_provenance(page, as_user):
    as_user("carol")
    before = random_estimate(results(page)[0])
    out = page.grid_changed([{"colId": "os_hr", "value": "0.75", "oldValue": "0.60", "rowIndex": 0,
                              "data": {"__row": 0}}], [], "full text, Table 2")
    version = out[1]
    assert isinstance(version, str) and version != mv.shipped_data().content_hash
    assert "Edit applied" in text_of(out[2])
    after_fig, summary, *_ = results(page)
    assert random_estimate(after_fig) != pytest.approx(before)
    assert random_estimate(after_fig) > before                    # Mei's HR went up
    assert squares(after_fig).x[0] == pytest.approx(0.75)
    data = mv.current_data()
    assert data.frame.at[0, "os_hr"] == "0.75" and not data.shipped
    # provenance: the tooltip, the edits list, the provenance file
    rows, defs, info, edits, *_ = page.refresh_grid(version, [])
    assert rows[0]["__edited_os_hr"] is True
    assert "EDITED BY YOU — source: full text, Table 2; value in the file: 0.60" in rows[0]["__tip_os_hr"]
    assert "1 edit" in info and "full text, Table 2" in text_of(edits)
    prov = pd.read_csv(pd.io.common.StringIO(provenance_csv(data)), dtype=str, keep_default_na=False)
    mine = prov[(prov["study_id"] == "1") & (prov["field"] == "os_hr")]
    assert list(mine["confidence"]) == ["edited by user"] and list(mine["value"]) == ["0.75"]
    assert list(mine["source_url"]) == ["full text, Table 2"]
    # another browser session still sees the shipped file
    as_user("dave")
    assert random_estimate(results(page)[0]) == pytest.approx(before)
    assert mv.current_data().shipped


def test_untrusted_edit_is_refused_naming_column_and_row(page, as_user):
    as_user("erin")
    out = page.grid_changed([{"colId": "os_hr", "value": "abc", "oldValue": "0.60", "rowIndex": 0,
                              "data": {"__row": 0}}], [], None)
    msg = text_of(out[2])
    assert "column 'os_hr' must hold numbers; data row 1" in msg and "abc" not in msg
    assert out[1] is dash.no_update
    assert out[3][0]["os_hr"] == "0.60"                          # the grid is reset to the kept value
    assert mv.current_data().shipped
    # an estimate outside its own CI is refused too
    out = page.grid_changed([{"colId": "os_hr", "value": "0.95", "rowIndex": 0, "data": {"__row": 0}}], [], None)
    assert "outside its confidence interval" in text_of(out[2]) and "data row 1" in text_of(out[2])
    assert mv.current_data().frame.at[0, "os_hr"] == "0.60"


def test_editing_a_percentage_count_with_a_source_makes_it_reported(page, as_user):
    """Zuo 2024's AE counts were computed from percentages (derived); entering counts from the full text, with
    that source, replaces their provenance and the study is no longer flagged as derived."""
    as_user("frank")
    view = page.compute_view("ae", "REML", False, False, "RR", True, True, None, None, [])[1]
    assert [r.derived for r in view.pooled] == [True]
    for col in ("ae34_haic", "ae34_ctrl"):
        value = mv.current_data().frame.at[9, col]
        page.grid_changed([{"colId": col, "value": str(int(value) + 1), "rowIndex": 9, "data": {"__row": 9}}], [],
                          "full text Table 3")
    view = page.compute_view("ae", "REML", False, False, "RR", True, True, None, None, [])[1]
    assert [r.derived for r in view.pooled] == [False]
    view_off = page.compute_view("ae", "REML", False, False, "RR", True, False, None, None, [])[1]
    assert view_off.k == 1                                        # now pooled with the derivation off too


def test_generic_upload_works(page, as_user):
    as_user("gina")
    text = "study,hr,lo,hi,year,region\nA,0.5,0.3,0.8,2001,Asia\nB,0.7,0.5,0.98,2003,Europe\nC,,,,2004,Asia\n" \
           "D,0.6,0.4,0.9,2005,Europe\n"
    version, exclude, feedback = page.upload([csv_upload(text)], ["my_studies.csv"])
    assert exclude == [] and "Loaded my_studies.csv: 4 studies (ratio with 95% CI)" in text_of(feedback)
    assert version == mv.current_data().content_hash
    fig, summary, alert, note, _style = results(page, outcome="os")       # outcome is ignored for a generic file
    assert len(squares(fig).x) == 3 and "one outcome" in note
    assert "rests on 3 of the 4 studies" in text_of(summary) and "no published result" in text_of(summary)
    assert "not reported" in [re.sub("<[^>]+>", "", t) for tr in fig.data if tr.mode == "text" for t in tr.text]
    *_rest, sub_opts, mod_opts, outcome_opts = page.refresh_grid(version, [])
    assert all(o["disabled"] for o in outcome_opts)
    assert "region" in [o["value"] for o in sub_opts] and "year" in [o["value"] for o in mod_opts]
    fig, *_ = results(page, subgroup="region", moderator="year")
    assert len([t for t in fig.data if t.name == "diamond-subgroup"]) == 2
    counts = "study,events_exp,n_exp,events_ctrl,n_ctrl\nA,10,50,5,50\nB,3,30,1,31\nC,8,40,6,41\n"
    page.upload([csv_upload(counts)], ["counts.csv"])
    fig, summary, _a, _n, style = results(page, measure="OR", mh=True)
    assert style == {} and "OR " in text_of(summary) and "Mantel-Haenszel" in text_of(summary)
    assert [t.text[0] for t in fig.data if t.name == "left-header-1"] == ["<b>Experimental<br>arm<br>events/n</b>"]


@pytest.mark.parametrize("content,needle", [
    ("study,hr,lo,hi\nA,0.5,0.3,0.8\nB,oops,0.5,0.9\n", "column 'hr' must hold numbers; data row 2"),
    ("study,hr,lo,hi\nA,0.5,0.8,0.3\n", "'lo'/'hi': the lower limit must be below the upper limit; data row 1"),
    ("study,events_exp,n_exp,events_ctrl,n_ctrl\nA,12,10,3,10\n", "'events_exp' exceeds 'n_exp' in data row 1"),
    ("name,value\nA,1\n", "unrecognised study file"),
    ("\x89PNG\r\n\x1a\n\x00\x00", "not a text table"),
])
def test_bad_upload_gives_a_message_and_keeps_the_previous_table(page, as_user, content, needle):
    as_user("hank")
    good = "study,hr,lo,hi\nA,0.5,0.3,0.8\nB,0.7,0.5,0.98\n"
    page.upload([csv_upload(good)], ["good.csv"])
    kept = mv.current_data().content_hash
    version, exclude, feedback = page.upload([csv_upload(content)], ["bad.csv"])
    msg = text_of(feedback)
    assert version is dash.no_update and exclude is dash.no_update
    assert needle in msg and "bad.csv" in msg and "previous study table is still in use" in msg
    assert "oops" not in msg
    assert mv.current_data().content_hash == kept and mv.current_data().name == "good.csv"
    fig, *_ = results(page)
    assert len(squares(fig).x) == 2


def test_upload_17_study_layout_with_provenance_and_download_round_trip(page, as_user):
    as_user("ivy")
    files = [open(META17, "rb").read(), open(PROV, "rb").read()]
    version, _ex, feedback = page.upload([("data:text/csv;base64," + base64.b64encode(f).decode()) for f in files],
                                         ["meta17.csv", "meta17_provenance.csv"])
    assert "17 studies (17-study layout)" in text_of(feedback)
    view = page.compute_view("orr", "REML", False, False, "RR", True, True, None, None, [])[1]
    assert view.k == 5 and sum(r.derived for r in view.pooled) == 3     # provenance recognised
    # edit, download both files, upload them again: the same numbers
    page.grid_changed([{"colId": "os_hr", "value": "0.55", "rowIndex": 0, "data": {"__row": 0}}], [], "erratum")
    data = mv.current_data()
    est = page.compute_view("os", "REML", False, False, "RR", True, True, None, None, [])[1].report.k
    studies, prov = studies_csv(data), provenance_csv(data)
    assert studies.count("\r\n") == 18 and "edited by user" in prov
    page.upload([csv_upload(studies), csv_upload(prov)], ["meta17_edited.csv", "meta17_edited_provenance.csv"])
    again = page.compute_view("os", "REML", False, False, "RR", True, True, None, None, [])[1]
    assert again.report.k == est and again.rows[0].est == pytest.approx(0.55)
    assert mv.current_data().frame.equals(data.frame)
    download = page.download_data(None, None)
    assert download["filename"] == "meta17_edited.csv" and download["content"].startswith("\ufeff")


def test_restore_deletes_the_session_table_and_its_results(page, as_user, app):
    as_user("jane")
    page.grid_changed([{"colId": "os_hr", "value": "0.58", "rowIndex": 0, "data": {"__row": 0}}], [], None)
    results(page)                                              # computes and caches a result for jane's table
    keys = store.cache.get(store._study_results_index())
    assert keys and all(store.cache.get(k) is not None for k in keys)
    version, exclude, feedback = page.restore(1)
    assert version == mv.shipped_data().content_hash and exclude == []
    assert "deleted from the server" in text_of(feedback)
    assert mv.current_data().shipped and all(store.cache.get(k) is None for k in keys)


def test_results_are_memoised_on_content_and_parameters(page, as_user, monkeypatch):
    as_user("kim")
    calls = []
    real = mv.build_view

    def counting(data, params):
        calls.append(params)
        return real(data, params)

    monkeypatch.setattr(mv, "build_view", counting)
    data = mv.current_data()
    p = mv.normalise_params(mv.study_table(data), outcome="pfs", method="DL", hk=True)
    first = mv.meta_view(data, p)
    second = mv.meta_view(data, p)
    assert len(calls) == 1 and second.report.k == first.report.k
    mv.meta_view(data, mv.normalise_params(mv.study_table(data), outcome="pfs", method="PM"))
    assert len(calls) == 2


def test_layout_reads_the_view_from_the_url(page, as_user):
    as_user("liam")
    root = page.layout(outcome="pfs", method="dl", hk="1", subgroup="platinum", moderator="year", se="0",
                       exclude="3,7,99", tab="sensitivity")
    assert find(root, ids.META_OUTCOME).value == "pfs"
    assert find(root, ids.META_METHOD).value == "DL"
    assert find(root, ids.META_HK).value is True and find(root, ids.META_MH).value is False
    assert find(root, ids.META_DERIVE_SE).value is False and find(root, ids.META_DERIVE_PCT).value is True
    assert find(root, ids.META_SUBGROUP).value == "platinum" and find(root, ids.META_MODERATOR).value == "year"
    assert find(root, ids.META_EXCLUDE).data == [2, 6]           # 1-based in the URL; row 99 does not exist
    assert find(root, ids.META_TABS).active_tab == "sensitivity"
    assert find(root, ids.META_FOREST) is not None
    default = page.layout()
    assert find(default, ids.META_OUTCOME).value == "os" and find(default, ids.META_EXCLUDE).data == []


def test_tabs(page, as_user):
    as_user("mia")
    _d, view = page.compute_view("os", "REML", False, False, "RR", True, True, None, "platinum", [])
    tab_ids = {}
    for tab in ("funnel", "sensitivity", "metareg", "correlation", "table"):
        content = page.tab_content(tab, view)
        items = content if isinstance(content, list) else [content]
        tab_ids[tab] = [getattr(c, "id", None) for c in items]
    assert tab_ids["funnel"][0] == "meta-funnel" and tab_ids["sensitivity"][:2] == ["meta-loo", "meta-cumulative"]
    assert tab_ids["metareg"][0] == "meta-metareg" and tab_ids["correlation"][0] == "meta-correlation"
    assert "Egger" in text_of(page.tab_content("funnel", view))
    table = page.tab_content("table", view)
    assert "Per-study estimates" in text_of(table) and "Kudo M 2018" in text_of(table)
    # without a moderator the tab says what to do; with k < 3 the bias tools say why not
    _d, view = page.compute_view("ae", "REML", False, False, "RR", True, True, None, None, [])
    assert "Choose a moderator" in text_of(page.tab_content("metareg", view))
    assert "Leave-one-out needs at least 3 studies" in text_of(page.tab_content("sensitivity", view))
    assert "needs ≥ 3 studies" in page.tab_content("funnel", view)[0].figure.layout.title.text


def test_forest_csv_is_the_per_study_table(page, as_user):
    as_user("noah")
    out = page.download_forest_csv(1, "os", "REML", False, False, "RR", True, True, None, None, [13])
    frame = pd.read_csv(pd.io.common.StringIO(out["content"].lstrip("\ufeff")))
    assert len(frame) == 17 and out["filename"] == "meta-os-per-study.csv"
    assert frame.loc[13, "In pool"] == "no" and frame.loc[13, "Reason not pooled"] == "left out by you"
    assert frame["In pool"].eq("yes").sum() == 8
    assert frame.loc[0, "HR"] == pytest.approx(0.6) and math.isclose(frame["Weight random (%)"].sum(), 100,
                                                                     rel_tol=1e-3)


def test_session_table_expires_when_idle_and_is_kept_while_used(page, as_user, monkeypatch):
    monkeypatch.setenv("HAIC_DATASET_TTL", "3")               # filesystem expiry is int(now) + ttl: lives >= 2 s
    as_user("olga")
    page.grid_changed([{"colId": "os_hr", "value": "0.58", "rowIndex": 0, "data": {"__row": 0}}], [], None)
    for _ in range(3):                                        # read every second: stays (expiry pushed back)
        time.sleep(1.0)
        assert not mv.current_data().shipped
    time.sleep(3.5)                                           # idle longer than the TTL: gone
    assert mv.current_data().shipped


# ------------------------------------------------------------------------------------------------ issue 15

def test_one_study_is_shown_not_pooled(page, as_user):
    """Grade >= 3 AEs (k = 1): the study and "not pooled (one study)" -- no diamonds, no prediction interval
    (before: fixed and random diamonds and a "95% prediction interval 1.04-1.28")."""
    as_user("ines")
    fig, summary, _alert, _note, _style = results(page, outcome="ae")
    names = {t.name for t in fig.data}
    assert not names & {"diamond-fixed", "diamond-random", "prediction-interval"}
    assert len(squares(fig).x) == 1
    texts = " ".join(str(x) for t in fig.data if t.mode == "text" for x in t.text)
    assert "Not pooled (one study)" in texts and "Heterogeneity" not in texts and "Weight" not in texts
    text = text_of(summary)
    assert "not pooled (one study)" in text and "Zuo M 2024: RR 1.15 (1.04–1.28)" in text
    assert "prediction interval 1.04" not in text and "fixed effect 1.15" not in text


def test_presentation_mode_enlarges_the_forest_and_funnel_text(page, as_user):
    as_user("ines")
    args = [DEFAULTS[k] for k in ("outcome", "method", "hk", "mh", "measure", "derive_se", "derive_pct", "subgroup",
                                  "moderator", "exclude")]
    normal = page.update_results(*args, None, False)[0]
    big = page.update_results(*args, None, True)[0]
    assert big.layout.font.size >= 1.25 * normal.layout.font.size and big.layout.height > normal.layout.height
    cells = [max(t.textfont.size) for t in big.data if t.mode == "text" and isinstance(t.textfont.size, tuple)
             and t.textfont.size]
    assert cells and min(cells) >= 15
    _d, view = page.compute_view(*args)
    funnel = page.tab_content("funnel", view, False)[0].figure
    funnel_big = page.tab_content("funnel", view, True)[0].figure
    assert funnel_big.layout.font.size >= 1.25 * funnel.layout.font.size
    assert funnel_big.layout.title.font.size > funnel.layout.title.font.size


def test_weight_headers_share_one_label_and_numbers_have_one_format_per_column(page, as_user):
    as_user("ines")
    fig = results(page)[0]
    headers = [t.text[0] for t in fig.data if (t.name or "").startswith("right-header")]
    assert "<b>Weight (%)<br> </b>" in headers and "<b>fixed</b>" in headers and "<b>random</b>" in headers
    assert not any("Weight %<br>" in h for h in headers)
    _d, view = page.compute_view(*[DEFAULTS[k] for k in ("outcome", "method", "hk", "mh", "measure", "derive_se",
                                                         "derive_pct", "subgroup", "moderator", "exclude")])
    table = page.tab_content("table", view)
    body = text_of(table)
    assert "0.60 (" not in body and " 0.38 " in f" {body} " and " 0.60 " in f" {body} "
    assert " 0.384 " not in f" {body} " and " 0.6 " not in f" {body} "
    # the data grid: os_hr cells 0.60 and 0.384 are shown with three decimals each (the text is kept)
    rows, defs = grid_rows(mv.current_data(), set())
    fmt = next(d for d in defs if d["field"] == "os_hr")["valueFormatter"]["function"]
    assert "toFixed(3)" in fmt and rows[0]["os_hr"] == "0.60"
    assert "valueFormatter" not in next(d for d in defs if d["field"] == "year")


def tsa(page, tab="tsa", rrr=30, alpha="0.05", beta="0.2", futility=True, presentation=False, **kw):
    args = {**DEFAULTS, **kw}
    return page.update_tsa(tab, args["outcome"], args["method"], args["hk"], args["mh"], args["measure"],
                           args["derive_se"], args["derive_pct"], args["subgroup"], args["moderator"],
                           args["exclude"], None, rrr, alpha, beta, futility, presentation)


def test_tsa_panel_for_orr_with_the_papers_settings(page, as_user):
    from analysis.meta import run_meta
    from analysis.meta.tsa import TSASettings

    as_user("jon")
    style, fig, summary, paper, model = tsa(page, outcome="orr", method="DL")
    assert style == {}
    engine = run_meta(META17, "orr", method="DL", tsa=TSASettings(rrr=0.30, futility=True)).tsa
    curve = next(t for t in fig.data if t.name == "Cumulative z-curve")
    assert list(curve.y[1:]) == pytest.approx([lk.z for lk in engine.looks if lk.study], rel=1e-12)
    assert list(curve.x[1:]) == [lk.n_cum for lk in engine.looks if lk.study]
    names = {t.name for t in fig.data}
    assert f"RIS = {engine.ris:,} patients" in names and "Conventional boundary (±1.96)" in names
    assert any(n.startswith("Monitoring boundary") for n in names)
    assert any(n.startswith("Futility region") for n in names)
    text = text_of(summary)
    assert engine.conclusion in text and f"{engine.ris:,} patients" in text and "81.5%" in text
    ptext = text_of(paper)
    assert "2,633 (16 studies)" in ptext and "1,469 (15 studies)" in ptext and "Why ours differs" in ptext
    assert f"{engine.ris:,}" in ptext and "5 studies, 591 patients" in ptext
    assert "random effects (DerSimonian-Laird" in text_of(model)
    # hidden on other tabs; a hazard ratio outcome says why there is no TSA
    assert tsa(page, tab="funnel")[0] == {"display": "none"}
    assert "needs event counts" in text_of(tsa(page, outcome="os")[2])
    # FE with Mantel-Haenszel: the fixed-effect model and its RIS
    fixed = run_meta(META17, "orr", method="FE", mh=True, tsa=TSASettings(rrr=0.30)).tsa
    _s, _f, summary_fe, _p, model_fe = tsa(page, outcome="orr", method="FE", mh=True, futility=False)
    assert f"{fixed.ris:,} patients" in text_of(summary_fe) and "Mantel-Haenszel" in text_of(model_fe)


def test_tsa_controls(page, as_user):
    as_user("jon")
    assert page.tsa_default_rrr("orr") == 30 and page.tsa_default_rrr("dcr") == 15
    assert page.tsa_default_rrr("ae") == 20
    assert "relative risk reduction" in text_of(tsa(page, outcome="orr", rrr=None)[2])
    assert "between 1 and 99" in text_of(tsa(page, outcome="orr", rrr=120)[2])
    big = tsa(page, outcome="dcr", rrr=15, alpha="0.01", beta="0.1", presentation=True)
    small = tsa(page, outcome="dcr", rrr=15, alpha="0.01", beta="0.1")
    assert big[1].layout.font.size > small[1].layout.font.size
    assert "α 1% (two-sided), power 90%" in small[1].layout.title.text
    root = page.layout(outcome="dcr", tab="tsa", rrr="12", alpha="0.01", beta="0.1", fut="0")
    assert find(root, ids.META_TSA_RRR).value == 12 and find(root, ids.META_TSA_ALPHA).value == "0.01"
    assert find(root, ids.META_TSA_BETA).value == "0.1" and find(root, ids.META_TSA_FUTILITY).value is False
    assert find(root, ids.META_TSA_PANEL).style == {}
    default = page.layout(outcome="orr")
    assert (find(default, ids.META_TSA_RRR).value == 30
            and find(default, ids.META_TSA_PANEL).style == {"display": "none"})


def test_readme_says_how_many_studies_each_outcome_pools():
    """Before, the README said the page 'pools the 17 published studies'; it pools those that report the outcome."""
    from analysis.meta import run_meta

    k = {o: run_meta(META17, o).k for o in ("os", "pfs", "orr", "dcr", "ae")}
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    said = (f"{k['os']} for OS, {k['pfs']} PFS, {k['orr']} ORR, {k['dcr']} DCR, {k['ae']} grade ≥3 AEs")
    assert said in readme and "pools the 17 published studies" not in readme
    assert (f"{k['os']} OS, {k['pfs']} PFS, {k['orr']} ORR, {k['dcr']} DCR, {k['ae']} grade ≥3 AEs"
            in readme.split("| `/meta` |")[1].split("\n")[0])
    assert "--tsa --rrr" in readme
