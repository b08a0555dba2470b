"""Deliverables of a view (reports/): the spec, the results, the deck (.pptx), the manuscript (.docx), the R bundle
(.zip) and the command line. The files are read back (python-pptx / python-docx / zipfile) and every table is
compared with the tables the analysis results give; key numbers are recomputed here from ``analysis`` directly.
Running the R bundle itself is tests/test_reports_r.py."""
from __future__ import annotations

import datetime as dt
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from docx import Document
from pptx import Presentation
from pptx.oxml.ns import qn
from pptx.util import Inches

from analysis.cox import CovariateSpec, cox_fit, cox_univariable, select_by_pvalue
from analysis.errors import AnalysisError
from analysis.io import load_cohort
from analysis.response import response_table
from analysis.survival import km_by_group, reverse_km_followup
from components.clinical_tables import Row
from components.format import format_group
from reports.layout import blocks, layout_table, page_height, paginate
from reports.results import compute, dataset_from_load
from reports.rscript import app_numbers, compare, r_script
from reports.spec import ReportSpec
from reports.tables import km_estimates_table, meta_pooled_table, survival_summary_table, table_items

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "demo_cohort.csv"
PAPER_VIEW = ROOT / "reports" / "views" / "paper_demo.json"
DATA = ROOT / "tests" / "reference" / "data"
TODAY = dt.date(2026, 1, 15)
CHROMIUM = Path("/usr/bin/chromium").exists() or bool(os.environ.get("BROWSER_PATH"))


def _paper_spec() -> ReportSpec:
    return ReportSpec.from_json(PAPER_VIEW.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def demo():
    return dataset_from_load(load_cohort(DEMO), "demo_cohort.csv", synthetic=True)


@pytest.fixture(scope="module")
def paper(demo):
    return compute(demo, _paper_spec(), today=TODAY)


def cell_texts(row: Row) -> list[str]:
    """A table row as the files write it: the text, then the superscript mark and flag."""
    return [c.text + c.mark + c.flag_export for c in row.cells]


# ---------------------------------------------------------------------------------------------------------
# spec
# ---------------------------------------------------------------------------------------------------------
def test_spec_round_trips_through_json():
    spec = _paper_spec()
    again = ReportSpec.from_dict(json.loads(spec.to_json()))
    assert again == spec
    assert list(spec.covariates[:3]) == ["sex", "etiology", "age"]         # the Cox page's default forms
    odd = ReportSpec.from_dict({"cox": {"covariates": ["age*1", "ast:60", "grade=1", "alb*10", "sex"]}})
    assert odd.cox_items == [("age", "age"), ("ast", "ast:60"), ("grade", "grade=1"), ("alb", "alb*10"),
                             ("sex", None)]
    assert ReportSpec.from_dict(json.loads(odd.to_json())) == odd
    assert spec.meta.outcome == "os" and spec.ci == "log-log" and spec.landmarks == (6.0, 12.0, 24.0, 36.0)


@pytest.mark.parametrize("view,word", [
    ({"km": {"ci": "arcsine"}}, "km.ci"),
    ({"cox": {"alpha": 2}}, "cox.alpha"),
    ({"cox": {"selection": "stepwise"}}, "cox.selection"),
    ({"endpoints": [{"time": "os_months"}]}, "endpoint 1"),
    ({"km": {"cutoff": 3}}, "km.by"),
    ({"km": {"landmarks": [-1]}}, "km.landmarks"),
    ({"cox": {"covariates": ["age", "age"]}}, "more than once"),
    ({"meta": {"outcome": "qol"}}, "meta.outcome"),
    ({"groupings": {"sex": {"Male": "M"}}}, "two named groups"),
])
def test_spec_rejects_unreadable_views_naming_the_field(view, word):
    with pytest.raises(AnalysisError, match=word.replace(".", r"\.")):
        ReportSpec.from_dict(view)


# ---------------------------------------------------------------------------------------------------------
# results: the analysis layer's numbers for the view
# ---------------------------------------------------------------------------------------------------------
def test_results_are_the_analysis_results_of_the_view(demo, paper):
    df = demo.frame
    at = sorted(set(paper.view_endpoint.risk_times) | {6.0, 12.0, 24.0, 36.0})
    direct = km_by_group(df, "pfs_months", "pfs_event", by="ast", cutoff=56.5, ci="log-log", at=at)
    assert paper.view.to_dict() == direct.to_dict()
    assert [e.endpoint.key for e in paper.endpoints] == ["pfs", "os"]
    for ep, (t, e) in zip(paper.endpoints, (("pfs_months", "pfs_event"), ("os_months", "os_event"))):
        fu = reverse_km_followup(df[t], df[e])
        assert (ep.followup.median, ep.followup.q1, ep.followup.q3) == (fu.median, fu.q1, fu.q3)
        assert ep.events == int(df[e].sum())
    # the groupings become columns, the selection rule is analysis.cox's
    frame = paper.frame
    assert set(frame["etiology_grouped"].dropna()) == {"Viral", "Non-viral"}
    assert (frame.loc[df["cnlc_stage"].isin(["IIIA", "IIIB"]), "cnlc_stage_grouped"] == "III–IV").all()
    os_cox = paper.endpoints[1].cox
    specs = [v.spec for v in os_cox.variables]
    uni = cox_univariable(frame, "os_months", "os_event", specs)
    chosen = select_by_pvalue(uni, 0.05)
    assert [v.spec for v in os_cox.selected] == chosen
    multi = cox_fit(frame, "os_months", "os_event", chosen)
    assert [t.hr for t in os_cox.multivariable.terms] == [t.hr for t in multi.terms]
    # the grid's panels: the multivariable model's covariates, lettered
    assert [p.covariate for p in paper.endpoints[1].panels] == chosen
    assert [p.letter for p in paper.endpoints[1].panels] == list("ABCDE"[:len(chosen)])


def test_default_view_of_a_public_dataset_uses_its_own_columns():
    loaded = load_cohort(DATA / "veteran.csv", time_unit="days")
    ds = dataset_from_load(loaded, "veteran.csv")
    res = compute(ds, ReportSpec.from_dict({"km": {"by": "celltype"}}))
    cov = res.endpoints[0].cox
    columns = {v.column for v in cov.variables}
    assert {"trt", "celltype", "karno", "age", "prior", "diagtime"} <= columns
    # the Cox page's defaults: no paper cutoffs for a lung cohort; karnofsky continuous per 10, treatment 1/2 a factor
    karno = next(v for v in cov.variables if v.column == "karno")
    assert karno.kind == "num" and karno.spec.per == 10
    assert next(v for v in cov.variables if v.column == "trt").kind == "cat"
    assert [g.label for g in res.view.groups] == [f"Celltype = {lv}" for lv in
                                                  ("adeno", "large", "smallcell", "squamous")]
    assert res.response is None and res.ae is None and res.baseline is not None


@pytest.mark.parametrize("path,unit", [(DEMO, None), (DATA / "veteran.csv", "days"), (DATA / "gbsg.csv", "days")])
def test_default_cox_view_is_the_cox_pages_default(cache_app, path, unit):
    """One owner for the Cox defaults: the deliverables' default candidates, forms, groupings and tables are the
    Cox page's (``services.cohort_views``), on the demo and on files of other diseases."""
    from components.cox_tables import cox_table
    from services.cohort_views import cox_view, default_candidates

    ds = dataset_from_load(load_cohort(path, time_unit=unit), path.name)
    res = compute(ds, ReportSpec())
    with cache_app.test_request_context():
        for ep in res.endpoints:
            page = cox_view(ds, ep.endpoint.key, default_candidates(ds))
            assert [v.text for v in ep.cox.variables] == [v.text for v in page.variables]
            assert [v.column for v in ep.cox.selected] == [v.column for v in page.selected]
            ours, theirs = cox_table(ep.cox), cox_table(page)
            assert [[c.text for c in r.cells] for r in ours.rows] == [[c.text for c in r.cells] for r in theirs.rows]
            assert ours.footnotes == theirs.footnotes
    if path == DEMO:                          # the paper's cutoffs and groupings, as on the page
        texts = [v.text for v in res.endpoints[0].cox.variables]
        assert {"ast:56.5", "age:58", "etiology", "cnlc_stage"} <= set(texts)
        assert set(res.groupings) == {"etiology", "cnlc_stage"} or set(res.groupings) <= {"etiology", "cnlc_stage"}


def test_unknown_columns_and_endpoints_are_clear_errors(demo):
    with pytest.raises(AnalysisError, match="'nope' is not in the data"):
        compute(demo, ReportSpec.from_dict({"km": {"by": "nope"}}))
    with pytest.raises(AnalysisError, match="not a time/event pair"):
        compute(demo, ReportSpec.from_dict({"endpoints": [{"time": "age", "event": "os_event"}]}))


# ---------------------------------------------------------------------------------------------------------
# layout: pages of a long table
# ---------------------------------------------------------------------------------------------------------
def test_pages_fit_keep_variables_together_and_leave_room_for_footnotes(paper):
    table = table_items(paper, slide=True)[0].table           # Table 1, one block per variable
    lay = layout_table(table, 14, 6.0)
    pages = paginate(table, lay, room=5.8, foot=1.5)
    assert sorted(i for p in pages for i in p) == list(range(len(table.rows)))
    for p in pages:
        assert page_height(lay, p) <= 5.8
    assert page_height(lay, pages[-1]) + 1.5 <= 5.8
    starts = {b[0] for b in blocks(table)}
    for p in pages:
        assert p[0] in starts                                  # no page starts inside a variable's levels


# ---------------------------------------------------------------------------------------------------------
# the deck
# ---------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def deck(paper):
    if not CHROMIUM:
        if os.environ.get("HAIC_REQUIRE_BROWSER"):
            pytest.fail("Chromium is required (HAIC_REQUIRE_BROWSER=1) but /usr/bin/chromium is missing")
        pytest.skip("the deck's figures need Debian's chromium")
    from reports.deck import build_deck

    calls = []
    data = build_deck(paper, progress=lambda done, total: calls.append((done, total)))
    return Presentation(io.BytesIO(data)), calls


def _tables(prs):
    for k, slide in enumerate(prs.slides):
        for shape in slide.shapes:
            if shape.has_table:
                yield k, slide, shape


def test_deck_is_16_9_with_native_tables_of_at_least_14_pt_and_pictures(deck, paper):
    prs, calls = deck
    assert (prs.slide_width, prs.slide_height) == (Inches(13.333), Inches(7.5))
    assert calls[-1][0] == calls[-1][1] and [c[0] for c in calls] == sorted(c[0] for c in calls)
    n_tables = 0
    for _k, _slide, shape in _tables(prs):
        n_tables += 1
        sizes = [int(el.get("sz")) for el in shape._element.iter(qn("a:rPr"), qn("a:endParaRPr"), qn("a:defRPr"))
                 if el.get("sz")]
        assert sizes and min(sizes) >= 1400
    assert n_tables >= 8
    titles = [s.shapes.title.text for s in prs.slides]
    km_slide = prs.slides[titles.index("Progression-free survival by AST (cutoff 56.5 U/L)")]
    assert sum(sh.shape_type == 13 for sh in km_slide.shapes) == 1                   # the KM figure
    for ep in paper.endpoints:                   # the Figure 3/4 grid: one picture per panel, all the same size
        slide = prs.slides[titles.index(f"{ep.endpoint.label} by the multivariable model's factors")]
        pics = [sh for sh in slide.shapes if sh.shape_type == 13]
        assert len(pics) == len(ep.panels) >= 4
        assert len({(p.width, p.height) for p in pics}) == 1
        forest = prs.slides[titles.index(f"Multivariable model: {ep.endpoint.label}")]
        assert sum(sh.shape_type == 13 for sh in forest.shapes) == 1
    meta = [s for s in prs.slides if s.shapes.title.text.startswith("Meta-analysis: Overall survival")]
    assert meta and sum(sh.shape_type == 13 for sh in meta[0].shapes) == 1


def test_deck_title_slide_names_the_data_the_synthetic_flag_and_follow_up(deck, demo):
    prs, _ = deck
    text = "\n".join(sh.text_frame.text for sh in prs.slides[0].shapes if sh.has_text_frame)
    assert "SYNTHETIC DATA" in text and "demo_cohort.csv" in text and "302 patients" in text
    fu = reverse_km_followup(demo.frame["os_months"], demo.frame["os_event"])
    assert f"median follow-up {fu.median:.1f} months (IQR {fu.q1:.1f}–{fu.q3:.1f})" in text
    assert f"{int(demo.frame['os_event'].sum())} events" in text and TODAY.isoformat() in text
    footer = [sh.text_frame.text for sh in prs.slides[5].shapes if sh.has_text_frame][-1]
    assert "SYNTHETIC" in footer


def test_every_deck_table_row_is_a_row_of_the_analysis_tables(deck, paper):
    prs, _ = deck
    expected: dict[tuple, int] = {}
    tables = [t.table for t in table_items(paper, slide=True)] + [
        km_estimates_table(paper.view, paper.view_endpoint.landmarks), survival_summary_table(paper),
        meta_pooled_table(paper)]
    for table in tables:
        for row in table.rows:
            expected[tuple(cell_texts(row))] = expected.get(tuple(cell_texts(row)), 0) + 1
    shown = []
    for _k, _slide, shape in _tables(prs):
        rows = [[c.text for c in r.cells] for r in shape.table.rows]
        header = 2 if any(r[0] == "" for r in rows[:1]) else 1
        shown += [tuple(r) for r in rows[header:]]
    missing = [r for r in shown if r not in expected]
    assert not missing, missing[:3]
    # all of each table but the adverse events (the slide has the summary rows and the 10 most frequent terms)
    ae_rows = {tuple(cell_texts(r)) for r in table_items(paper)[-1].table.rows}
    assert len([r for r in expected if r not in ae_rows and r not in shown]) == 0
    assert len([r for r in shown if r in ae_rows]) == len(paper.ae.summary) + 10


def test_deck_numbers_equal_the_analysis(deck, demo):
    prs, _ = deck
    rows = {}
    for k, slide, shape in _tables(prs):
        for r in shape.table.rows:
            cells = [c.text for c in r.cells]
            rows.setdefault((slide.shapes.title.text.split(" (")[0], cells[0]), []).append(cells)
    df = demo.frame
    km = km_by_group(df, "pfs_months", "pfs_event", by="ast", cutoff=56.5, at=[6, 12, 24, 36])
    for g in km.groups:
        (cells,) = rows[("Kaplan–Meier estimates: Progression-free survival by AST", format_group(g.label))]
        assert cells[1:4] == [str(g.n), str(g.events), f"{g.median:.1f} ({g.median_lo:.1f}–{g.median_hi:.1f})"]
        a = g.km.at_time(12)
        assert cells[5] == f"{100 * a['surv']:.1f} ({100 * a['lo']:.1f}–{100 * a['hi']:.1f})"
    ast = cox_fit(df, "pfs_months", "pfs_event", [CovariateSpec("ast", cutoff=56.5)]).terms[0]
    (cells,) = rows[("Cox regression: Progression-free survival", "AST (U/L)")]
    assert cells[1:5] == ["> 56.5 vs ≤ 56.5", f"{ast.hr:.2f}", f"{ast.lo:.2f}–{ast.hi:.2f}", f"{ast.p:.3f}"]
    resp = response_table(df).criteria["RECIST1.1"]
    (cells,) = rows[("Tumour response according to RECIST 1.1 and mRECIST", "ORR")]
    assert cells[1] == f"{resp.orr.n} ({resp.orr.pct:.1f}%)" and cells[2] == f"{resp.orr.lo:.1f}–{resp.orr.hi:.1f}"


def test_the_meta_pages_deck_is_the_meta_analysis_alone():
    if not CHROMIUM:
        pytest.skip("the deck's figures need Debian's chromium")
    from reports.deck import build_deck

    res = compute(None, ReportSpec.from_dict({"cohort": False, "meta": {"outcome": "pfs", "exclude": [0]}}),
                  today=TODAY)
    prs = Presentation(io.BytesIO(build_deck(res)))
    titles = [s.shapes.title.text for s in prs.slides]
    assert titles[0].startswith("Meta-analysis: HAIC") and titles[-1] == "Methods and reproducibility"
    assert "Meta-analysis: Progression-free survival (HAIC + systemic therapy vs systemic therapy alone)" in titles
    assert not [t for t in titles if "Kaplan" in t or "Cox" in t or "Baseline" in t]
    first = "\n".join(sh.text_frame.text for sh in prs.slides[0].shapes if sh.has_text_frame)
    assert "17 studies in the study table; 1 left out by the user" in first and "not patients" in first
    assert "SYNTHETIC" not in first and "patient data" not in first
    forest = prs.slides[titles.index("Meta-analysis: Progression-free survival (HAIC + systemic therapy vs systemic "
                                     "therapy alone)")]
    assert sum(sh.shape_type == 13 for sh in forest.shapes) == 1
    notes = " ".join(sh.text_frame.text for sh in forest.shapes if sh.has_text_frame)
    assert "left out by you" in notes
    pooled = [[c.text for c in r.cells] for _k, _s, sh in _tables(prs) for r in sh.table.rows]
    pfs = res.meta_pooled["pfs"].analysis
    assert any(r[0] == "Progression-free survival (HR)" and r[1] == str(pfs.k) for r in pooled)


# ---------------------------------------------------------------------------------------------------------
# the manuscript
# ---------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def manuscript(paper):
    from reports.manuscript import build_manuscript

    return Document(io.BytesIO(build_manuscript(paper)))


def test_manuscript_tables_are_the_papers_tables_cell_for_cell(manuscript, paper):
    items = table_items(paper)
    assert [i.key for i in items] == ["baseline", "response", "cox:pfs", "cox:os", "ae"]   # Tables 1-5
    tables = [i.table for i in items] + [km_estimates_table(paper.view, paper.view_endpoint.landmarks),
                                         survival_summary_table(paper), meta_pooled_table(paper)]
    assert len(manuscript.tables) == len(tables)
    for doc_table, table in zip(manuscript.tables, tables):
        head = 2 if table.spanners else 1
        got = [[c.text for c in r.cells] for r in doc_table.rows]
        assert got[head - 1] == [str(c) for c in table.columns]
        assert got[head:] == [cell_texts(r) for r in table.rows]
        sizes = {run.font.size.pt for r in doc_table.rows for c in r.cells for p in c.paragraphs for run in p.runs}
        assert sizes == {9.0}
    captions = [p.text for p in manuscript.paragraphs if p.text.startswith("Table ")]
    assert captions[:5] == [f"Table {k}  {i.title}" for k, i in enumerate(items, start=1)]


def test_manuscript_methods_and_results_name_the_methods_and_numbers(manuscript, demo):
    text = "\n".join(p.text for p in manuscript.paragraphs)
    for phrase in ('survfit(conf.type = "log-log")', "survdiff", 'coxph(ties = "efron")', "cox.zph", "binom.test",
                   "quantile(survfit(Surv(time, 1 - event) ~ 1))", "p < 0.05", "AST 56.5 U/L", "metafor::rma",
                   "Etiology Non-viral", "SYNTHETIC DATA"):
        assert phrase in text, phrase
    df = demo.frame
    fu = reverse_km_followup(df["pfs_months"], df["pfs_event"])
    km = km_by_group(df, "pfs_months", "pfs_event", at=[6, 12, 24, 36]).groups[0]
    assert f"median follow-up {fu.median:.1f} months (IQR {fu.q1:.1f}–{fu.q3:.1f})" in text
    assert (f"The median progression-free survival was {km.median:.1f} months (95% CI {km.median_lo:.1f}–"
            f"{km.median_hi:.1f})") in text
    assert f"{100 * km.km.at_time(24)['surv']:.1f}%" in text


def test_table_footnotes_name_tests_cutoffs_and_abbreviations(paper):
    cox = {i.key: i.table for i in table_items(paper)}["cox:pfs"]
    notes = " ".join(cox.footnotes)
    assert "Efron ties, Wald 95% CI" in notes and "p < 0.05 entered" in notes and "AST 56.5 (paper)" in notes
    from reports.tables import abbreviations

    assert "AST, aspartate aminotransferase" in abbreviations(cox)


# ---------------------------------------------------------------------------------------------------------
# the R bundle (its run in R: tests/test_reports_r.py)
# ---------------------------------------------------------------------------------------------------------
def test_r_bundle_holds_script_data_and_the_apps_numbers(paper, demo):
    from reports.rscript import build_bundle

    z = zipfile.ZipFile(io.BytesIO(build_bundle(paper)))
    assert {"reproduce.R", "data.csv", "app_results.json", "view.json", "README.txt", "meta_os.csv"} <= set(z.namelist())
    data = pd.read_csv(z.open("data.csv"))
    assert list(data.columns) == paper.columns and len(data) == 302
    assert "cnlc_stage" in data.columns and "cnlc_stage_grouped" not in data.columns     # derived in R
    pd.testing.assert_series_equal(data["os_months"], demo.frame["os_months"], check_names=False)
    app = json.loads(z.read("app_results.json"))
    fu = reverse_km_followup(demo.frame["os_months"], demo.frame["os_event"])
    assert app["followup"]["os"] == {"median": fu.median, "q1": fu.q1, "q3": fu.q3}
    ast = cox_fit(paper.frame, "pfs_months", "pfs_event", [CovariateSpec("ast", cutoff=56.5)]).terms[0]
    assert app["cox"]["pfs"]["univariable"]["ast:56.5"]["terms"][0]["hr"] == ast.hr
    script = z.read("reproduce.R").decode()
    for phrase in ('d[["ast"]] > 56.5', 'conf.type = "log-log"', "alpha = 0.05",
                   'levels = c("Non-viral", "Viral")', '"IIIA" = "III–IV"', "library(metafor)", "ties = \"efron\"",
                   "times = c(0, 6, 12, 18, 24, 30, 36, 42, 48)"):
        assert phrase in script, phrase
    assert ReportSpec.from_json(z.read("view.json").decode()) == paper.spec


def test_r_script_spells_out_per_n_reference_and_manual_selection():
    loaded = load_cohort(DATA / "lung.csv", time_unit="days")
    spec = ReportSpec.from_dict({"cox": {"covariates": ["age*10", "ecog=1", "sex"], "selection": "manual",
                                         "manual": ["age*10", "sex"]}, "km": {"by": "sex"}})
    res = compute(dataset_from_load(loaded, "lung.csv"), spec)
    script = r_script(res)
    assert 'covariate("age (per 10)", "num", d[["age"]] / 10)' in script
    assert 'factor(as.character(d[["ecog"]]), levels = c("1", "0", "2+"))' in script
    assert 'manual = c("age*10", "sex=Male")' in script
    app = app_numbers(res)
    assert app["cox"]["os"]["selected"] == ["age*10", "sex=Male"]
    assert [t["term"] for t in app["cox"]["os"]["multivariable"]["terms"]] == ["age (per 10)", "sex=Female"]


def test_compare_finds_every_kind_of_difference():
    app = {"a": 1.0, "b": {"c": [1.0, None, "x"]}, "d": None}
    assert compare(app, {"a": 1.0 + 5e-7, "b": {"c": [1.0, None, "x"]}, "d": None}) == (2, [])
    n, diffs = compare(app, {"a": 1.00001, "b": {"c": [1.0, 2.0, "y"]}})
    assert n == 2 and len(diffs) == 3
    assert any("/a" in d for d in diffs) and any("[1]" in d for d in diffs) and any("'x'" in d for d in diffs)
    assert compare({"k": [1.0]}, {"k": [1.0, 2.0]})[1] and compare({"k": 3.0}, {})[1]
    assert compare({"p": 1e-300}, {"p": 0.0}) == (1, [])       # below the absolute floor


# ---------------------------------------------------------------------------------------------------------
# command line and the service
# ---------------------------------------------------------------------------------------------------------
def _cli(*args, cwd=ROOT):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "reports", *args], capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=300)


def test_cli_writes_the_manuscript_and_the_bundle(tmp_path):
    out = tmp_path / "tables.docx"
    p = _cli("docx", str(DEMO), "--spec", str(PAPER_VIEW), "--date", "2026-01-15", "-o", str(out))
    assert p.returncode == 0, p.stderr
    payload = json.loads(p.stdout)
    assert payload["kind"] == "docx" and payload["bytes"] == out.stat().st_size and payload["n"] == 302
    assert len(Document(str(out)).tables) == 8
    out = tmp_path / "lung.zip"
    p = _cli("r", str(DATA / "lung.csv"), "--time-unit", "days", "--time", "time", "--event", "status", "--by",
             "sex", "--covariates", "age*10,sex,ph_karno:80", "--landmarks", "6,12", "-o", str(out))
    assert p.returncode == 0, p.stderr
    app = json.loads(zipfile.ZipFile(out).read("app_results.json"))
    assert list(app["cox"]["os"]["univariable"]) == ["age*10", "sex=Male", "ph_karno:80"]
    assert [a["time"] for a in app["km"]["view"]["groups"][0]["at"]][:3] == [0.0, 6.0, 12.0]


def test_cli_applies_a_specs_groupings(tmp_path):
    """A spec's groupings (reports/spec.py's example: CNLC IIA/IIB vs IIIA/IIIB) make a grouped column the view's
    covariates may use; the bundle's numbers and its R script hold it."""
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"groupings": {"cnlc_stage": {"IIA": "IIA/IIB", "IIB": "IIA/IIB", "IIIA": "IIIA/IIIB",
                                                             "IIIB": "IIIA/IIIB"}}}))
    out = tmp_path / "grouped.zip"
    p = _cli("r", str(DEMO), "--spec", str(spec), "--covariates", "cnlc_stage_grouped,age*10", "-o", str(out))
    assert p.returncode == 0, p.stdout + p.stderr
    bundle = zipfile.ZipFile(out)
    app = json.loads(bundle.read("app_results.json"))
    assert list(app["cox"]["os"]["univariable"]) == ["cnlc_stage_grouped=IIA/IIB", "age*10"]
    script = bundle.read("reproduce.R").decode()          # the script builds the grouping from the file's levels
    assert "cnlc_stage_grouped" in script and '"IIA/IIB"' in script and '"IIIA/IIIB"' in script


@pytest.mark.parametrize("args,message", [
    (["docx", "missing.csv"], "cannot read"),
    (["docx", str(DEMO), "--by", "nope"], "'nope' is not in the data"),
    (["r", str(DEMO), "--time", "os_months"], "--time and --event go together"),
    (["deck", str(DEMO), "--covariates", "age:abc"], "cutoff after ':' must be a number"),
])
def test_cli_errors_are_one_json_line_without_traceback(tmp_path, args, message):
    p = _cli(*args, "-o", str(tmp_path / "x"))
    assert p.returncode == 2
    assert message in json.loads(p.stdout)["error"]
    assert "Traceback" not in p.stderr and not (tmp_path / "x").exists()


def test_service_builds_from_a_stored_dataset_and_the_job_reports_progress_and_problems(cache_app):
    from services import store
    from reports.jobs import build_report, report_job, start_job

    view = json.loads(PAPER_VIEW.read_text(encoding="utf-8"))
    with cache_app.test_request_context():
        ds = store.get_dataset("demo")
        steps = []
        name, data = build_report(ds, view, "docx", progress=lambda d, t: steps.append((d, t)))
        assert name.startswith("SYNTHETIC-demo-manuscript-tables-") and name.endswith(".docx")
        assert steps[0] == (1, 2) and steps[-1] == (2, 2) and len(Document(io.BytesIO(data)).tables) == 8
        got = []
        job = start_job("demo", "r", view)
        out, err = report_job(job, got.append)
        assert err is None and out["filename"].endswith(".zip") and out["base64"] is True
        import base64

        z = zipfile.ZipFile(io.BytesIO(base64.b64decode(out["content"])))
        assert "reproduce.R" in z.namelist() and got[-1][0] == got[-1][1]
        assert report_job(job)[1].startswith("this job's access")                  # a ticket is single-use
        assert report_job({"ticket": "no-such-ticket", "kind": "r", "view": view})[1].startswith("this job's access")
        out, err = report_job(start_job("demo", "r", {"km": {"by": "nope"}}))
        assert out is None and "'nope' is not in the data" in err
        with pytest.raises(AnalysisError, match="unknown deliverable"):
            start_job("demo", "pdf", view)
        with pytest.raises(store.DatasetMissing):                   # another session's (or no) dataset
            start_job("someone-elses-id", "r", view)
        # the page cannot relabel a dataset: name and SYNTHETIC flag come from the dataset
        from reports.jobs import view_spec

        spec = view_spec(ds, {"dataset": {"name": "real.csv", "synthetic": False}})
        assert spec.synthetic and spec.dataset_name == ds.name


def test_the_meta_pages_bundle_has_its_view_and_the_sessions_own_study_table(cache_app):
    """The meta page's deliverable: the meta-analysis alone, with the page's parameters (studies left out, the
    count measure, the model), on the session's edited study table -- which the job (no browser session) gets
    through its ticket."""
    import base64

    from flask import session

    from services import meta_views
    from reports.jobs import report_job, start_job
    from services.store import delete_study_set

    view = {"cohort": False, "meta": {"outcome": "orr", "method": "DL", "hk": True, "measure": "OR",
                                      "exclude": [2, 5], "subgroup": "platinum"}}
    with cache_app.test_request_context():
        session["owner"] = "meta-tester"
        edited = meta_views.apply_edit(0, "orr_haic", "30", "test")
        job = start_job(None, "r", view)
        params = meta_views.normalise_params(meta_views.study_table(edited), outcome="orr", method="DL", hk=True,
                                             measure="OR", exclude=(2, 5))
        page = meta_views.build_view(edited, params).report.analysis
        docx = start_job(None, "docx", view)
        delete_study_set()
    out, err = report_job(job)                                   # outside the request, as a background job runs
    assert err is None and out["filename"].startswith("meta-analysis-meta17-reproduce-in-R-")
    z = zipfile.ZipFile(io.BytesIO(base64.b64decode(out["content"])))
    assert "data.csv" not in z.namelist() and {"reproduce.R", "meta_orr.csv", "app_results.json"} <= set(z.namelist())
    app = json.loads(z.read("app_results.json"))
    assert set(app) == {"meta"}
    assert app["meta"]["orr"]["random"]["est"] == page.random.est and app["meta"]["orr"]["k"] == page.k
    studies = pd.read_csv(z.open("meta_orr.csv"))
    assert list(studies["study"]) == [s.study for s in page.studies]          # the two left out are not there
    script = z.read("reproduce.R").decode()
    assert 'method = "DL", test = "knha"' in script and "library(survival)" not in script
    assert ReportSpec.from_json(z.read("view.json").decode()).meta.exclude == (2, 5)
    out, err = report_job(docx)
    assert out is None and "manuscript tables are a cohort's" in err


def test_job_turns_an_unexpected_failure_into_a_message_without_values(cache_app, monkeypatch, caplog):
    from reports import jobs as service

    def broken(*_args, **_kwargs):
        raise ValueError("patient SYNTH-0001 has 12.3")

    monkeypatch.setattr(service, "build_report", broken)
    with cache_app.test_request_context():
        job = service.start_job("demo", "deck", {})
    out, err = service.report_job(job)
    assert out is None and "internal error ValueError" in err and "SYNTH" not in err
    assert "SYNTH" not in caplog.text and "12.3" not in caplog.text
