"""Table and figure builders of the Cox, response, safety and baseline pages, checked against the analysis
results they are built from (every number on screen must be the analysis number, formatted)."""
from __future__ import annotations


import numpy as np
import pandas as pd
import pytest
from dash import dcc, html

from analysis import schema
from analysis.adverse_events import ae_table
from analysis.baseline import baseline_table
from analysis.cox import CovariateSpec, cox_fit, cox_univariable
from analysis.io import load_cohort
from analysis.response import response_crosstab, response_table
from components import clinical_tables as ct
from components import cox_tables as cv
from components.export import to_html_table
from components.format import format_ci, format_p, format_ratio
from components.table_card import export_texts, figure_card, table_card
from services import cohort_views as views
from services.store import Dataset, frame_hash
from tests.support.cohorts import make_cohort
from tests.support.dash_tree import texts_of, walk


# ---------------------------------------------------------------------------------------------------------
# a small synthetic cohort (random numbers only)
# ---------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cohort() -> pd.DataFrame:
    result = load_cohort(make_cohort())
    assert result.ok
    return result.data


@pytest.fixture(scope="module")
def dataset(cohort) -> Dataset:
    return Dataset("t", "synthetic.csv", cohort, frame_hash(cohort), synthetic=True)




# ---------------------------------------------------------------------------------------------------------
# the table model
# ---------------------------------------------------------------------------------------------------------
def test_clinical_table_exports_flat_columns_marks_and_flags():
    table = ct.ClinicalTable(
        ["Variable", "HR", "p", "HR", "p"],
        [ct.Row([ct.Cell("AST"), ct.Cell("1.50", flag="PH", flag_title="why", flag_export="†"), ct.Cell("0.010"),
                  ct.Cell(""), ct.Cell("0.200", mark="b")])],
        spanners=[("", 1), ("Univariable", 2), ("Multivariable", 2)])
    frame = table.to_frame()
    assert list(frame.columns) == ["Variable", "Univariable HR", "Univariable p", "Multivariable HR",
                                   "Multivariable p"]
    assert frame.iloc[0].tolist() == ["AST", "1.50†", "0.010", "", "0.200ᵇ"]
    comp = table.to_component("t1")
    assert comp.id == "t1"
    flags = [s for s in walk(comp) if isinstance(s, html.Span) and getattr(s, "className", "") == "ph-flag"]
    assert len(flags) == 1 and flags[0].title == "why" and flags[0].children == "PH"
    sups = [s for s in walk(comp) if isinstance(s, html.Sup)]
    assert [s.children for s in sups] == ["b"]


def test_text_from_data_stays_text():
    """A level or column named like HTML is a string child in the table and an entity in plotly labels."""
    evil = "<img src=x onerror=alert(1)>"
    table = ct.ClinicalTable(["Name\nline 2"], [ct.Row([ct.Cell(evil)])])
    comp = table.to_component("t")
    assert evil in texts_of(comp)
    header = comp.children[0].children[0].children[0]
    assert any(isinstance(c, html.Br) for c in header.children)        # "\n" in a header is a line break
    assert ct.plot_text(evil) == "&lt;img src=x onerror=alert(1)&gt;"
    assert table.to_frame().columns.tolist() == ["Name line 2"]


@pytest.mark.parametrize("p,text", [(0.0004, "<0.001"), (0.001, "0.001"), (0.04951, "0.050"), (None, "–"),
                                    (float("nan"), "–")])
def test_p_formatting(p, text):
    assert format_p(p) == text


def test_test_marks_are_assigned_in_order_of_use():
    marks = ct.TestMarks()
    assert [marks.mark("fisher"), marks.mark("chi2"), marks.mark("fisher")] == ["a", "b", "a"]
    assert marks.footnote() == "a Fisher's exact test; b Pearson's χ² test"


# ---------------------------------------------------------------------------------------------------------
# Table 2: response
# ---------------------------------------------------------------------------------------------------------
def test_response_table_rows_are_the_analysis_numbers(cohort):
    result = response_table(cohort)
    table = ct.response_summary_table(result)
    frame = table.to_frame()
    assert frame.iloc[:, 0].tolist() == ["CR", "PR", "SD", "PD", "NE", "ORR", "DCR"]
    for k, label in enumerate(result.criteria):
        s = result.criteria[label]
        col_n = frame.columns[1 + 2 * k]
        col_ci = frame.columns[2 + 2 * k]
        assert f"(n = {s.n})" in col_n
        for i, cat in enumerate(["CR", "PR", "SD", "PD", "NE"]):
            assert frame[col_n][i] == f"{s.counts[cat]} ({s.pct[cat]:.1f}%)"
            assert frame[col_ci][i] == ""
        assert frame[col_n][5] == f"{s.orr.n} ({s.orr.pct:.1f}%)"
        assert frame[col_ci][5] == f"{s.orr.lo:.1f}–{s.orr.hi:.1f}"
        assert frame[col_ci][6] == f"{s.dcr.lo:.1f}–{s.dcr.hi:.1f}"
    # mRECIST has missing assessments in this cohort: the footnote says how many
    missing = result.criteria["mRECIST"].missing
    assert missing > 0 and any(f"{missing} without an assessment" in n for n in table.footnotes)


def test_response_by_group_table_has_the_tests(cohort):
    result = response_table(cohort, by="treatment")
    table = ct.response_by_group_table(result)
    frame = table.to_frame()
    assert [c for c in frame.columns if "(n = " in c] == [f"{g.level} (n = {g.n})" for g in result.groups]
    ps = frame["p"].tolist()
    expected = [format_p(result.tests[lab][name].p) + "ᵃ" for lab in result.criteria for name in ("ORR", "DCR")]
    assert ps == expected
    g = result.groups[0].criteria["RECIST1.1"].orr
    assert frame.iloc[0, 2] == f"{g.n}/{g.total} ({g.pct:.1f}%)"
    assert "Fisher's exact test" in " ".join(table.footnotes)


def test_crosstab_table_counts_and_kappa(cohort):
    cross = response_crosstab(cohort)
    table = ct.response_crosstab_table(cross)
    frame = table.to_frame()
    assert frame.shape == (6, 7)
    np.testing.assert_array_equal(frame.iloc[:, 1:].astype(int).to_numpy(), cross.to_numpy())
    agreement = cross.attrs["agreement"]
    note = " ".join(table.footnotes)
    assert f"κ = {agreement['kappa']:.2f}" in note and f"{agreement['agree']}/{agreement['n']}" in note


# ---------------------------------------------------------------------------------------------------------
# Table 1: baseline
# ---------------------------------------------------------------------------------------------------------
def test_baseline_table_overall_has_no_p_column(cohort):
    result = baseline_table(cohort)
    table = ct.baseline_view_table(result)
    frame = table.to_frame()
    assert list(frame.columns) == ["Characteristic", f"Overall (N = {result.n})"]
    age = [r for r in result.rows if r["variable"] == "age" and r["level"] == "Mean ± SD"][0]
    assert age["stats"]["Overall"] in frame.iloc[:, 1].tolist()
    # the 9 missing AST values are counted
    miss = [r for r in result.rows if r["variable"] == "ast" and r["level"] == "Missing"][0]
    assert miss["stats"]["Overall"] == "9"
    idx = frame.index[frame.iloc[:, 0] == "AST (U/L)"][0]
    assert frame.iloc[idx + 3].tolist() == ["Missing", "9"]


def test_baseline_table_by_group_p_values_and_test_footnote(cohort):
    result = baseline_table(cohort, by="treatment")
    table = ct.baseline_view_table(result)
    frame = table.to_frame()
    assert frame.columns[-1] == "p"
    for r in result.rows:
        if r["p"] is None:
            continue
        shown = [p for lab, p in zip(frame.iloc[:, 0], frame["p"]) if p.startswith(format_p(r["p"]))]
        assert shown, r["variable"]
    foot = " ".join(table.footnotes)
    used = {t.test for tests in result.tests.values() for t in tests if t.p is not None}
    for test in used:
        assert ct.TEST_NAMES[test] in foot
    # mean only: one line per numeric variable, no median rows
    mean_table = ct.baseline_view_table(result, numeric="mean")
    assert "median" not in mean_table.footnotes[0] and "mean ± SD" in mean_table.footnotes[0]
    mean_only = mean_table.to_frame()
    assert not any("Median" in str(v) for v in mean_only.iloc[:, 0])
    age_line = mean_only[mean_only.iloc[:, 0].str.startswith("Age")].iloc[0]
    age = [r for r in result.rows if r["variable"] == "age" and r["level"] == "Mean ± SD"][0]
    assert age_line.iloc[1] == age["stats"]["Overall"]
    assert age_line["p"].startswith(format_p(age["p"]))


# ---------------------------------------------------------------------------------------------------------
# Table 5: adverse events
# ---------------------------------------------------------------------------------------------------------
def test_ae_table_rows_match_counts_and_grade5_column(cohort):
    result = ae_table(cohort)
    table = ct.ae_clinical_table(result)
    frame = table.to_frame()
    assert any(r.counts["grade_5"] for r in result.events)         # the bleeding column has grade 5
    assert frame.columns[-1].endswith("Grade 5")
    labels = frame.iloc[:, 0].tolist()
    assert labels == [r.label for r in result.summary + result.events]
    for i, r in enumerate(result.summary + result.events):
        c = r.counts
        assert frame.iloc[i, 1] == (f"{c['any']} ({c['pct_any']:.1f})" if c["any"] else "0")
        if r.term != "any_grade_3_plus":
            assert frame.iloc[i, 2] == (f"{c['grade_1_2']} ({c['pct_grade_1_2']:.1f})" if c["grade_1_2"] else "0")
        assert frame.iloc[i, 4] == (f"{c['grade_5']} ({c['pct_grade_5']:.1f})" if c["grade_5"] else "0")
    assert "Not assessed in some patients: Rash." in table.footnotes


def test_ae_table_without_grade5_has_no_grade5_column(cohort):
    no5 = cohort.assign(ae_upper_gastrointestinal_bleeding=cohort["ae_upper_gastrointestinal_bleeding"].clip(0, 4))
    frame = ct.ae_clinical_table(ae_table(no5)).to_frame()
    assert not any("Grade 5" in c for c in frame.columns)


def test_ae_table_by_group_p_values(cohort):
    result = ae_table(cohort, by="treatment")
    frame = ct.ae_clinical_table(result).to_frame()
    assert frame.columns[-2:].tolist() == ["p, any grade", "p, grade ≥3"]
    for i, r in enumerate(result.summary + result.events):
        if r.term == "any_grade_3_plus":
            continue
        assert frame["p, any grade"][i].startswith(format_p(r.tests["any"].p))
        assert frame["p, grade ≥3"][i].startswith(format_p(r.tests["grade_3_plus"].p))
    level = result.levels[0]
    col = [c for c in frame.columns if c.startswith(level) and c.endswith("Any grade")][0]
    g = result.events[0].groups[0]
    assert frame[col][2] == f"{g['any']} ({g['pct_any']:.1f})"


def test_ae_table_on_the_page_is_static_html_with_group_levels_as_text(cohort):
    """The safety page's table is the paper's Table 5 as static HTML: a level named like code stays text, the two
    summary rows are marked (the browser's sort keeps them on top), every term's counts and p are in its row."""
    from html.parser import HTMLParser

    from components.static_html import static_html

    evil = cohort.assign(treatment=np.where(cohort["treatment"].str.startswith("HAIC + TKIs"),
                                            "A');alert(1);//<b>x</b>", "B"))
    result = ae_table(evil, by="treatment")
    text = static_html(ct.ae_clinical_table(result).to_component("ae-table")).to_plotly_json()["props"]["data-html"]

    class Rows(HTMLParser):
        def __init__(self):
            super().__init__()
            self.rows, self.tags = [], []

        def handle_starttag(self, tag, attrs):
            self.tags.append(tag)
            if tag == "tr":
                self.rows.append({"class": dict(attrs).get("class"), "text": []})

        def handle_data(self, data):
            if self.rows:
                self.rows[-1]["text"].append(data)

    parsed = Rows()
    parsed.feed(text)
    assert "b" not in parsed.tags and "A');alert(1);//<b>x</b> (N = " in text.replace("&lt;", "<").replace("&gt;", ">")
    body = [r for r in parsed.rows if r["class"]]
    assert [r["class"] for r in body[:2]] == ["row-summary", "row-summary"]
    assert all(r["class"] == "row-data" for r in body[2:]) and len(body) == 2 + len(result.events)
    for r, row in zip(result.events, body[2:]):
        cells = row["text"]
        assert cells[0] == r.label and cells[1].startswith(f"{r.counts['any']} ")
        assert format_p(r.tests["any"].p) in cells


def test_ae_figure_diverges_grade_1_2_left_and_grade_3_plus_right(cohort):
    result = ae_table(cohort)
    fig = ct.ae_figure(result, top=2)
    shown = [r for r in result.events if r.counts["any"] > 0][:2][::-1]
    left, right = fig.data[0], fig.data[1]
    assert list(left.y) == [r.label for r in shown]
    assert list(left.x) == pytest.approx([-r.counts["pct_grade_1_2"] for r in shown])
    assert list(right.x) == pytest.approx([r.counts["pct_grade_3_4"] for r in shown])
    full = ct.ae_figure(result, top=None)
    assert len(full.data[0].y) == sum(1 for r in result.events if r.counts["any"] > 0)
    assert [t.name for t in full.data] == ["Grade 1–2", "Grade 3–4", "Grade 5"]
    g5 = full.data[2]
    assert list(g5.base) == pytest.approx(list(full.data[1].x))      # grade 5 stacks on grade 3-4


def test_ae_figure_by_group_has_a_bar_pair_per_group(cohort):
    result = ae_table(cohort, by="treatment")
    fig = ct.ae_figure(result)
    assert len(fig.data) == 2 * len(result.levels)
    first = [r for r in result.events if r.counts["any"] > 0][::-1]
    assert list(fig.data[1].x) == pytest.approx([r.groups[0]["pct_grade_3_plus"] for r in first])
    assert fig.data[0].offsetgroup == fig.data[1].offsetgroup != fig.data[2].offsetgroup


# ---------------------------------------------------------------------------------------------------------
# Cox views
# ---------------------------------------------------------------------------------------------------------
def crossing_cohort(n: int = 300, seed: int = 7) -> pd.DataFrame:
    """'xx' has crossing hazards (Weibull shape 3 vs exponential): it fails the PH test; 'zz' is PH."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 2, n)
    z = rng.normal(size=n)
    t = np.where(x == 0, rng.exponential(10, n), 10 * rng.weibull(3.0, n)) * np.exp(-0.4 * z)
    c = rng.uniform(5, 30, n)
    return pd.DataFrame({"os_months": np.minimum(t, c), "os_event": (t <= c).astype(int),
                         "xx": np.where(x == 1, "Yes", "No"), "zz": z, "pfs_months": np.minimum(t, c),
                         "pfs_event": (t <= c).astype(int)})


def _view(frame, columns, rule="p05", manual=None, endpoint="os"):
    ds = Dataset("c", "c.csv", frame, frame_hash(frame))
    variables, notes = views.cox_variables(ds, columns, {}, True)
    time_col, event_col = ("os_months", "os_event") if endpoint == "os" else ("pfs_months", "pfs_event")
    groupings = tuple(sorted({v.grouping for v in variables if v.grouping}))
    model_frame = views.with_groupings(frame, groupings)
    uni = cox_univariable(model_frame, time_col, event_col, [v.spec for v in variables])
    if rule == "manual":
        selected = [v for v in variables if v.column in manual]
    else:
        chosen = {s for m in uni.models for s in m.covariates if m.covariate_p < 0.05}
        selected = [v for v in variables if v.spec in chosen]
    view = views.CoxView(endpoint, variables, uni, selected, rule, notes=notes)
    view.multivariable = cox_fit(model_frame, time_col, event_col, [v.spec for v in selected])
    return view


def test_cox_table_rows_match_models_and_flag_ph_violations():
    frame = crossing_cohort()
    view = _view(frame, ["xx", "zz"], rule="manual", manual=["xx", "zz"])
    table = cv.cox_table(view)
    out = table.to_frame()
    assert out.columns.tolist() == ["Variable", "Comparison", "Univariable HR", "Univariable 95% CI",
                                    "Univariable p", "Multivariable HR", "Multivariable 95% CI",
                                    "Multivariable p"]
    xx_uni = view.model_of(view.variables[0]).terms[0]
    assert out.iloc[0].tolist()[:2] == ["Xx", "Yes vs No"]
    assert out.iloc[0, 2] == format_ratio(xx_uni.hr) + "†"               # flagged: crossing hazards
    assert out.iloc[0, 3] == f"{xx_uni.lo:.2f}–{xx_uni.hi:.2f}"
    multi = {t.term: t for t in view.multivariable.terms}
    assert out.iloc[0, 5] == format_ratio(multi["xx=Yes"].hr) + "†"
    zz = view.variables[1]
    # a numeric user column is continuous by default: the HR per a round number of units near its spread
    assert zz.kind == "num" and zz.spec.per == schema.default_per(frame["zz"]) == 1.0
    zz_uni = view.model_of(zz).terms[0]
    assert out.iloc[1, 1] == "per unit"
    assert out.iloc[1, 2] == format_ratio(zz_uni.hr)                     # no flag
    assert out.iloc[1, 4] == format_p(zz_uni.p)
    # cut at a cutoff the user chose (the URL's form), or per 10 units
    ds = Dataset("c", "c.csv", frame, frame_hash(frame))
    (cut_zz,), _ = views.cox_variables(ds, ["zz"], {}, True, forms={"zz": "zz:0.25"})
    assert (cut_zz.kind, cut_zz.cutoff, cut_zz.cutoff_source) == ("cut", 0.25, "chosen")
    assert cut_zz.comparison("zz > 0.25") == "> 0.25 vs ≤ 0.25"
    (per_zz,), _ = views.cox_variables(ds, ["zz"], {}, True, forms={"zz": "zz*10"})
    assert per_zz.spec.per == 10 and per_zz.comparison("zz (per 10)") == "per 10 units"
    assert per_zz.ph_key == "zz (per 10)"
    comp = table.to_component("cox-table")
    flags = [s for s in walk(comp) if getattr(s, "className", "") == "ph-flag"]
    ph_p = [r.p for r in view.model_of(view.variables[0]).ph_test if r.term == "xx"][0]
    assert len(flags) == 2 and format_p(ph_p) in flags[0].title and "cox.zph" in flags[0].title
    assert any("PH (†" in n for n in table.footnotes)


def test_cox_table_multilevel_heading_and_blank_multivariable_cells(cohort):
    frame = cohort
    view = _view(frame, ["cnlc_stage", "ast", "sex"], rule="manual", manual=["ast"])
    ds_vars = {v.column: v for v in view.variables}
    # paper grouping: CNLC I-II vs III-IV is one term
    assert ds_vars["cnlc_stage"].grouping == "cnlc_stage"
    out = cv.cox_table(view).to_frame()
    assert out.iloc[0, 1] == "III–IV vs I–II"
    assert out.iloc[0, -3:].tolist() == ["", "", ""]                  # not in the multivariable model
    ast_row = out[out["Variable"] == "AST (U/L)"].iloc[0]
    ast_multi = view.multivariable.terms[0]
    assert ast_row["Multivariable HR"] == format_ratio(ast_multi.hr)
    # n column appears because AST has missing values (its model has fewer patients)
    view2 = _view(frame, ["cnlc_stage", "ast"], rule="manual", manual=["ast"])
    assert "n" in cv.cox_table(view2).to_frame().columns
    # without the paper's grouping, CNLC has a heading row (overall p) and one row per level
    ds = Dataset("c", "c.csv", frame, frame_hash(frame))
    variables, _ = views.cox_variables(ds, ["cnlc_stage"], {}, paper_groups=False)
    uni = cox_univariable(frame, "os_months", "os_event", [v.spec for v in variables])
    v3 = views.CoxView("os", variables, uni, [], "manual")
    out3 = cv.cox_table(v3).to_frame()
    assert out3.iloc[0, :2].tolist() == ["CNLC stage", "overall (reference IIA)"]
    assert out3.iloc[0, 4] == format_p(uni.models[0].covariate_p)
    assert out3.iloc[1:, 0].tolist() == ["IIB vs IIA", "IIIA vs IIA", "IIIB vs IIA"]


def test_etiology_grouping_equals_a_hand_made_viral_column(cohort):
    """The viral/non-viral grouping is honest: the same HR as a Cox model on a column made by hand."""
    view = _view(cohort, ["etiology"], rule="manual", manual=["etiology"])
    term = view.model_of(view.variables[0]).terms[0]
    hand = cohort.assign(viral=np.where(cohort["etiology"].isin(["HBV", "HCV"]), "Viral", "Non-viral"))
    ref = cox_fit(hand, "os_months", "os_event", [CovariateSpec("viral", reference="Non-viral")]).terms[0]
    assert term.hr == pytest.approx(ref.hr, rel=1e-10) and term.p == pytest.approx(ref.p, rel=1e-10)
    assert view.variables[0].comparison(term.term) == "Viral vs Non-viral"


def test_cox_model_table_and_forest_plot(cohort):
    view = _view(cohort, ["ast", "child_pugh", "ehm", "nlr"], rule="manual", manual=["ast", "child_pugh", "ehm"])
    multi = view.multivariable
    table = cv.cox_model_table(view).to_frame()
    assert table.iloc[:3, 2].tolist() == [f"{format_ratio(t.hr)} ({format_ci(t.lo, t.hi)})" for t in multi.terms]
    assert table.iloc[:3, 3].tolist() == [format_p(t.p) for t in multi.terms]
    ph = {r.term: r.p for r in multi.ph_test}
    assert table.iloc[1, 4].rstrip("†") == format_p(ph["child_pugh"])
    summary = dict(zip(table.iloc[3:, 0], table.iloc[3:, 1]))
    assert summary["Concordance (Harrell's C)"] == f"{multi.concordance:.3f}"
    assert summary["Events"] == str(multi.events)
    assert summary["Patients (complete cases)"].startswith(f"{multi.n} of {multi.n + multi.excluded}")

    fig = cv.forest_figure(view)
    whiskers, markers = fig.data[0], fig.data[1]
    assert list(markers.x) == pytest.approx([t.hr for t in multi.terms])      # one marker per term at its HR
    assert list(markers.y) == [2, 1, 0]                                       # first term on top
    xs = [v for v in whiskers.x if v is not None]
    assert xs == pytest.approx([v for t in multi.terms for v in (t.lo, t.hi)])
    assert fig.layout.xaxis.type == "log"
    assert any(s.x0 == 1 and s.x1 == 1 for s in fig.layout.shapes)            # reference line at HR = 1
    assert len(fig.layout.yaxis.ticktext) == 3 and "AST" in fig.layout.yaxis.ticktext[0]
    right = [a.text for a in fig.layout.annotations if a.xref == "paper" and a.yref == "y"]
    assert right[0].startswith(format_ratio(multi.terms[0].hr))


def test_cox_variables_cutoff_sources_and_fallbacks(dataset):
    variables, notes = views.cox_variables(dataset, ["ast", "nlr", "age", "etiology", "missing_col"],
                                           {"nlr": 2.5, "ast": "junk", "age": 58})
    by = {v.column: v for v in variables}
    assert (by["nlr"].cutoff, by["nlr"].cutoff_source) == (2.5, "Survival page")
    assert (by["ast"].cutoff, by["ast"].cutoff_source) == (56.5, "paper")     # junk from the store ignored
    assert (by["age"].cutoff, by["age"].cutoff_source) == (58.0, "paper")
    assert by["etiology"].spec.column == views.GROUPINGS["etiology"][0]
    assert any("missing_col" in n for n in notes)
    odd = dataset.frame.assign(etiology=dataset.frame["etiology"].replace({"Others": "NASH"}),
                               score=np.arange(len(dataset.frame)) % 2 * 3.0)
    ds = Dataset("o", "o.csv", odd, frame_hash(odd))
    variables, notes = views.cox_variables(ds, ["etiology", "score", "patient_id"], {})
    by = {v.column: v for v in variables}
    assert by["etiology"].spec.column == "etiology" and by["etiology"].reference == "HBV"   # levels, not groups
    assert any("canonical" in n for n in notes)
    # a numeric column with two values is categorical by default, its levels written as in the file
    assert by["score"].kind == "cat" and by["score"].reference == "0"
    (cut,), _ = views.cox_variables(ds, ["score"], {}, forms={"score": "score:1.5"})
    assert (cut.cutoff, cut.cutoff_source) == (1.5, "chosen")
    assert views.clean_cutoffs({"a": 1, "b": float("nan"), "c": True, "d": "3"}) == {"a": 1.0}


# ---------------------------------------------------------------------------------------------------------
# cards and exports
# ---------------------------------------------------------------------------------------------------------
def test_table_card_exports_are_escaped_and_complete():
    frame = pd.DataFrame({"Level": ["=HYPERLINK(\"x\")", "plain"], "n (%)": ["1 (50.0)", "1 (50.0)"]})
    texts = export_texts(frame, caption="T")
    assert "'=HYPERLINK" in texts["csv"] and "'=HYPERLINK" in texts["tsv"]
    assert texts["tsv"].split("\r\n")[0] == "Level\tn (%)"
    assert texts["html"].startswith("<table") and "<caption>T</caption>" in texts["html"]
    card = table_card("demo-card", "Title", html.Div("body"), frame, footnotes=["note <1>", "=note 2"],
                      filename="demo")
    clip = [c for c in walk(card) if isinstance(c, dcc.Clipboard)][0]
    store = [c for c in walk(card) if isinstance(c, dcc.Store)][0]
    table_html = to_html_table(frame.assign(Level=["'=HYPERLINK(\"x\")", "plain"]), caption="Title")
    assert clip.html_content.startswith(table_html)                     # the table, then its footnotes
    assert clip.html_content.endswith("<p style=\"font-size:smaller\">note &lt;1&gt;</p>"
                                      "<p style=\"font-size:smaller\">&#x27;=note 2</p>")
    assert clip.content.split("\r\n")[-2:] == ["note <1>", "'=note 2"]
    assert "note" not in store.data["csv"]                               # CSV: the table only
    assert store.data["filename"] == "demo.csv" and store.data["csv"] == texts["csv"]
    assert "note <1>" in texts_of(card) and "Title" in texts_of(card)
    assert [c for c in walk(card) if isinstance(c, dcc.Download)][0].id == {"type": "tc-download",
                                                                            "name": "demo-card"}


def test_figure_card_has_slide_resolution_export():
    card = figure_card("f", "Fig", "f-graph")
    graph = [c for c in walk(card) if isinstance(c, dcc.Graph)][0]
    assert graph.id == "f-graph"
    assert graph.config["toImageButtonOptions"]["scale"] >= 3 and graph.config["displaylogo"] is False
    info = [c for c in walk(card) if isinstance(c, dcc.Store) and c.id["type"] == "fc-info"][0]
    assert info.data == {"graph": "f-graph", "filename": "f",   # the PNG button's scale is the mode bar's
                         "scale": graph.config["toImageButtonOptions"]["scale"]}
