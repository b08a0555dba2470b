"""Tests of analysis/cox.py.

R values come from tests/reference/survival.R (coxph ties = "efron", concordance, cox.zph of survival 3.5).
Hand-written parts have independent oracles here: the cox.zph score test is recomputed from its definition
with plain loops (and lifelines' Kaplan-Meier for the "km" time transform), and Harrell's C is compared with
lifelines' ``concordance_index``.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

from analysis.cox import (
    CovariateSpec, cox_fit, cox_univariable, harrell_concordance, parse_covariates, select_by_pvalue,
)
from tests.support.examples import examples
from analysis.errors import AnalysisError
from analysis.survival import hazard_ratio

ROOT = Path(__file__).resolve().parents[1]
REF = json.loads((ROOT / "tests" / "reference" / "survival.json").read_text())
DATA = ROOT / "tests" / "reference" / "data"
COX = {c["name"]: c for c in REF["cox"]}
RTOL = 1e-6


def _csv(name: str) -> pd.DataFrame:
    return pd.read_csv(DATA / name)


def _fit_case(case: dict):
    return cox_fit(_csv(case["data"]), case["time"], case["event"],
                   parse_covariates(case["spec"], refs=case["refs"] or None))


# --- against R ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", REF["cox"], ids=[c["name"] for c in REF["cox"]])
def test_cox_matches_r(case):
    res = _fit_case(case)
    assert (res.n, res.events, res.excluded) == (case["n"], case["events"], case["excluded"])
    assert [t.term for t in res.terms] == [t["term"] for t in case["terms"]]
    for ours, r in zip(res.terms, case["terms"]):
        # R stops at a relative log-likelihood change < 1e-9: compare coef on the scale of its SE
        assert abs(ours.coef - r["coef"]) <= RTOL * max(abs(r["coef"]), r["se"]), ours.term
        for key in ("se", "hr", "lo", "hi", "p"):
            assert getattr(ours, key) == pytest.approx(r[key], rel=RTOL), (ours.term, key)
    assert res.concordance == pytest.approx(case["concordance"], rel=1e-12)
    counts = case["concordance_counts"]
    assert [res.concordance_counts[k] for k in ("concordant", "discordant", "tied_x", "tied_y", "tied_xy")] == \
        [counts[k] for k in ("concordant", "discordant", "tied.x", "tied.y", "tied.xy")]
    assert res.loglik == pytest.approx(case["loglik"], rel=1e-10)
    assert res.loglik_null == pytest.approx(case["loglik_null"], rel=1e-10)
    for ours, r in ((res.lr_test, case["lr"]), (res.wald_test, case["wald"])):
        assert ours["df"] == r["df"]
        assert ours["chisq"] == pytest.approx(r["chisq"], rel=RTOL)
        assert ours["p"] == pytest.approx(r["p"], rel=RTOL)
    assert [(t.term, t.df) for t in res.ph_test] == [(t["term"], t["df"]) for t in case["ph_test"]]
    for ours, r in zip(res.ph_test, case["ph_test"]):
        assert ours.chisq == pytest.approx(r["chisq"], rel=RTOL), ours.term
        assert ours.p == pytest.approx(r["p"], rel=RTOL), ours.term


def test_cox_to_dict_contract():
    out = _fit_case(COX["lung_multi_cut"]).to_dict()
    assert set(out) >= {"n", "events", "excluded", "concordance", "loglik", "terms", "ph_test"}
    assert [t["term"] for t in out["terms"]] == ["age > 63", "sex=Female", "ecog=1", "ecog=2+",
                                                 "ph_karno > 80"]
    assert set(out["terms"][0]) == {"term", "coef", "se", "hr", "lo", "hi", "p"}
    assert set(out["ph_test"][0]) >= {"term", "chisq", "p"}
    assert out["ph_test"][-1]["term"] == "GLOBAL"
    json.dumps(out, allow_nan=False)


def test_canonical_categorical_uses_schema_reference():
    """child_pugh (A/B/C) gets reference A from the schema; same model as R's ecog 0/1/2+."""
    d = _csv("lung.csv")
    d["child_pugh"] = d.ecog.map({"0": "A", "1": "B", "2+": "C"})
    res = cox_fit(d, "time", "status", [CovariateSpec("child_pugh")])
    r = COX["lung_ecog"]
    assert [t.term for t in res.terms] == ["child_pugh=B", "child_pugh=C"]
    assert [t.hr for t in res.terms] == pytest.approx([t["hr"] for t in r["terms"]], rel=RTOL)
    assert res.ph_test[0].term == "child_pugh" and res.ph_test[0].df == 2
    # an explicit reference overrides the schema
    res = cox_fit(d, "time", "status", parse_covariates("child_pugh", refs={"child_pugh": "C"}))
    assert [t.term for t in res.terms] == ["child_pugh=A", "child_pugh=B"]
    assert res.loglik == pytest.approx(r["loglik"], rel=1e-10)


def test_cutoff_term_agrees_with_fast_hazard_ratio():
    d = _csv("lung.csv")
    res = cox_fit(d, "time", "status", parse_covariates("age:63"))
    fast = hazard_ratio(d.time, d.status, (d.age > 63).astype(float))
    assert res.terms[0].term == "age > 63"
    assert res.terms[0].coef == pytest.approx(fast.coef, rel=1e-9)
    assert res.terms[0].se == pytest.approx(fast.se, rel=1e-9)
    assert res.loglik == pytest.approx(fast.loglik, rel=1e-12)


# --- cox.zph against its definition -------------------------------------------------------------------
def _zph_by_definition(time, event, X, beta, groups):
    """Score test for adding x * g(t), g = centred 1 - KM(t-), computed with loops (Efron ties)."""
    from lifelines import KaplanMeierFitter

    kmf = KaplanMeierFitter().fit(time, event)
    sf = kmf.survival_function_.iloc[:, 0]

    def s_left(t):
        before = sf[sf.index < t]
        return 1.0 if before.empty else float(before.iloc[-1])

    g = {t: 1 - s_left(t) for t in np.unique(time[event == 1])}
    gbar = np.mean([g[t] for t in time[event == 1]])
    p = X.shape[1]
    U = np.zeros(2 * p)
    info = np.zeros((2 * p, 2 * p))
    w = np.exp(X @ beta)
    for t in np.unique(time[event == 1]):
        Z = np.hstack([X, X * (g[t] - gbar)])
        risk = time >= t
        dead = risk & (time == t) & (event == 1)
        d = int(dead.sum())
        U += Z[dead].sum(axis=0)
        for ell in range(d):
            f = ell / d
            wt = w * (risk - f * dead)
            den = wt.sum()
            m = (wt[:, None] * Z).sum(axis=0) / den
            s2 = (wt[:, None, None] * Z[:, :, None] * Z[:, None, :]).sum(axis=0) / den
            U -= m
            info += s2 - np.outer(m, m)
    u = np.concatenate([np.zeros(p), U[p:]])
    out = []
    for idx in groups:
        kk = list(range(p)) + [p + i for i in idx]
        out.append(float(u[kk] @ np.linalg.solve(info[np.ix_(kk, kk)], u[kk])))
    out.append(float(u @ np.linalg.solve(info, u)))
    return out


def test_zph_matches_loop_definition():
    d = _csv("veteran.csv")
    res = cox_fit(d, "time", "status", parse_covariates("trt,celltype,karno",
                                                        refs={"trt": "standard", "celltype": "squamous"}))
    X = np.column_stack([
        (d.trt == "test").astype(float),
        *[(d.celltype == lev).astype(float) for lev in ("adeno", "large", "smallcell")],
        d.karno.astype(float),
    ])
    beta = np.array([t.coef for t in res.terms])
    expected = _zph_by_definition(d.time.to_numpy(float), d.status.to_numpy(float), X, beta,
                                  [[0], [1, 2, 3], [4]])
    assert [t.chisq for t in res.ph_test] == pytest.approx(expected, rel=1e-9)
    assert [t.df for t in res.ph_test] == [1, 3, 1, 5]
    assert res.ph_test[1].p == pytest.approx(stats.chi2.sf(expected[1], 3), rel=1e-9)


# --- concordance against lifelines ------------------------------------------------------------------------
@settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(1, 8), st.booleans(), st.integers(0, 3)), min_size=3, max_size=50))
def test_concordance_matches_lifelines(rows):
    from lifelines.utils import concordance_index

    t = np.array([r[0] for r in rows], float)
    e = np.array([r[1] for r in rows], float)
    risk = np.array([r[2] for r in rows], float)
    ours = harrell_concordance(t, e, risk)
    comparable = ours["concordant"] + ours["discordant"] + ours["tied_x"]
    if comparable == 0:
        assert math.isnan(ours["concordance"])
        return
    assert ours["concordance"] == pytest.approx(concordance_index(t, -risk, e), rel=1e-12)


# --- covariate parsing ------------------------------------------------------------------------------------
def test_parse_covariates():
    specs = parse_covariates(" age, ast:56.5 ,child_pugh", refs={"child_pugh": "B"})
    assert specs == [CovariateSpec("age"), CovariateSpec("ast", 56.5), CovariateSpec("child_pugh", None, "B")]
    assert [s.label for s in specs] == ["age", "ast:56.5", "child_pugh=B"]
    assert parse_covariates([s.label for s in specs]) == specs          # the text form reads back
    assert parse_covariates(["age", "nlr:1.77"])[1].cutoff == 1.77
    with pytest.raises(AnalysisError, match="ast:abc"):
        parse_covariates("ast:abc")
    with pytest.raises(AnalysisError, match="no covariates"):
        parse_covariates(" , ")
    with pytest.raises(AnalysisError, match="more than once"):
        parse_covariates("age,age")


# --- errors name the column -------------------------------------------------------------------------------
def _lung() -> pd.DataFrame:
    d = _csv("lung.csv")
    d["age2"] = 2 * d.age + 1
    d["const"] = 5.0
    d["one_level"] = "x"
    d["sex_copy"] = d.sex
    return d


@pytest.mark.parametrize("spec,pattern", [
    ("age,age2", r"'age2'.*collinear"),
    ("sex,sex_copy", r"'sex_copy'.*collinear"),
    ("const", r"'const' is constant"),
    ("one_level", r"'one_level' has a single level"),
    ("age:200", r"'age' are on the same side"),
    ("noevent_grp", r"does not converge for term 'noevent_grp=Yes' \(column 'noevent_grp'\)"),
    ("age,sex,noevent_grp", r"column 'noevent_grp'"),
    ("missing_col", r"'missing_col'"),
    ("ecog:1", r"'ecog' must be numeric"),
])
def test_cox_errors_name_the_column(spec, pattern):
    with pytest.raises(AnalysisError, match=pattern):
        cox_fit(_lung(), "time", "status", parse_covariates(spec))


def test_cox_reference_must_exist_and_errors_hide_values():
    d = _lung()
    with pytest.raises(AnalysisError, match="reference level given for column 'sex'"):
        cox_fit(d, "time", "status", parse_covariates("sex", refs={"sex": "Unknown"}))
    d["wt_loss"] = d["wt_loss"].astype(object)
    d.loc[5, "wt_loss"] = "SECRET-42"
    with pytest.raises(AnalysisError) as exc:
        cox_fit(d, "time", "status", parse_covariates("wt_loss"))
    assert "'wt_loss'" in str(exc.value) and "SECRET" not in str(exc.value)
    d = _lung()
    d["status"] = 0
    with pytest.raises(AnalysisError, match="no events"):
        cox_fit(d, "time", "status", parse_covariates("age"))
    with pytest.raises(AnalysisError, match="efron"):
        cox_fit(_lung(), "time", "status", parse_covariates("age"), ties="breslow")


# --- univariable screening and selection ------------------------------------------------------------------
def test_univariable_and_selection_follow_r():
    d = _lung()
    uni = cox_univariable(d, "time", "status", parse_covariates("sex,age,ecog,noevent_grp",
                                                                refs={"sex": "Male", "ecog": "0"}))
    assert [m.covariates[0].column for m in uni.models] == ["sex", "age", "ecog"]
    assert [e["covariate"] for e in uni.errors] == ["noevent_grp"]
    assert "noevent_grp" in uni.errors[0]["error"]
    r = {"sex": COX["lung_sex"], "age": COX["lung_age"], "ecog": COX["lung_ecog"]}
    for m in uni.models:
        ref = r[m.covariates[0].column]
        assert m.n == ref["n"]
        assert [t.p for t in m.terms] == pytest.approx([t["p"] for t in ref["terms"]], rel=RTOL)
    # the covariate's p: the term's Wald p, or the global Wald p for a several-level factor (R values)
    r_p = {"sex": COX["lung_sex"]["terms"][0]["p"], "age": COX["lung_age"]["terms"][0]["p"],
           "ecog": COX["lung_ecog"]["wald"]["p"]}
    for m in uni.models:
        assert m.covariate_p == pytest.approx(r_p[m.covariates[0].column], rel=RTOL)
    for alpha in (0.05, 0.01, 1e-4, 1e-6):
        chosen = [s.column for s in select_by_pvalue(uni, alpha)]
        assert chosen == [c for c in ("sex", "age", "ecog") if r_p[c] < alpha]
    out = uni.to_dict()
    assert len(out["models"]) == 3 and out["errors"][0]["covariate"] == "noevent_grp"
    json.dumps(out, allow_nan=False)


def _pairs_by_definition(time, event, risk):
    """R's concordance counts pair by pair: the comparable pairs (shorter time an event; an event and a censoring at
    the same time count, the censored one lived longer), and the event pairs tied on time."""
    conc = disc = tied_x = tied_y = tied_xy = 0
    for i in np.flatnonzero(event == 1):
        for j in range(len(time)):
            if j == i:
                continue
            if time[j] > time[i] or (time[j] == time[i] and event[j] == 0):
                conc += risk[i] > risk[j]
                disc += risk[i] < risk[j]
                tied_x += risk[i] == risk[j]
            elif time[j] == time[i] and event[j] == 1:
                tied_xy += risk[i] == risk[j]
                tied_y += risk[i] != risk[j]
    return conc, disc, tied_x, tied_y // 2, tied_xy // 2


def test_concordance_counts_equal_the_pairwise_definition():
    """The O(n log^2 n) counting (merge counts over an order that puts a time's censorings after its events) gives
    every count of the pair-by-pair definition, ties on time and on risk included."""
    rng = np.random.default_rng(11)
    for _ in range(200):
        n = int(rng.integers(1, 45))
        t = rng.integers(1, 9, n).astype(float)
        e = rng.integers(0, 2, n).astype(float)
        r = rng.integers(0, 6, n).astype(float)
        out = harrell_concordance(t, e, r)
        assert (out["concordant"], out["discordant"], out["tied_x"], out["tied_y"], out["tied_xy"]) == \
            _pairs_by_definition(t, e, r)
