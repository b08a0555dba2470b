"""Tests of analysis/survival.py and analysis/dichotomise.py.

R values come from tests/reference/survival.R (R survival 3.5: survfit, summary.survfit, print.survfit,
survdiff, coxph) on survival::lung, survival::veteran, lifelines' Rossi data and small edge-case sets, all
read from the same CSV files in tests/reference/data/. lifelines (KaplanMeierFitter, CoxPHFitter) is a
second, independent oracle.
"""
from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from analysis.dichotomise import PAPER_CUTOFFS, default_cutoff, dichotomise, display_name, format_cutoff
from analysis.errors import AnalysisError
from analysis.survival import (
    SortedSurvival, hazard_ratio, kaplan_meier, km_by_group, logrank_test, timefix, trend_test,
)
from tests.support.examples import examples

ROOT = Path(__file__).resolve().parents[1]
REF = json.loads((ROOT / "tests" / "reference" / "survival.json").read_text())
DATA = ROOT / "tests" / "reference" / "data"
RTOL = 1e-6


def _csv(name: str) -> pd.DataFrame:
    return pd.read_csv(DATA / name)


def _arr(v) -> np.ndarray:
    """R JSON value (scalar when length 1, null for NA) -> float array with NaN."""
    v = v if isinstance(v, list) else [v]
    return np.array([np.nan if x is None else x for x in v], dtype=float)


def assert_close(actual, expected, rtol=RTOL, atol=1e-12, what=""):
    a = np.atleast_1d(np.asarray(actual, dtype=float))
    b = _arr(expected) if not isinstance(expected, np.ndarray) else np.atleast_1d(expected.astype(float))
    assert a.shape == b.shape, f"{what}: shape {a.shape} != {b.shape}"
    assert np.array_equal(np.isnan(a), np.isnan(b)), f"{what}: NaN pattern differs\n{a}\n{b}"
    ok = ~np.isnan(b)
    np.testing.assert_allclose(a[ok], b[ok], rtol=rtol, atol=atol, err_msg=what)


def _subset(case: dict, group: dict) -> pd.DataFrame:
    d = _csv(case["data"])
    if group["level"] is None:
        return d
    return d[d[case["group"]].astype(str) == str(group["level"])]


KM_CASES = [(c, g) for c in REF["km"] for g in c["groups"]]


# --- Kaplan-Meier against R ---------------------------------------------------------------------------
@pytest.mark.parametrize("case,group", KM_CASES,
                         ids=[f"{c['name']}-{c['conf_type']}-{g['level']}" for c, g in KM_CASES])
def test_km_matches_r(case, group):
    d = _subset(case, group)
    km = kaplan_meier(d[case["time"]], d[case["event"]], ci=case["conf_type"], at=_arr(case["at"]))
    cv = group["curve"]
    assert km.n == group["n"] and km.events == group["events"]
    assert_close(km.times, cv["time"], what="time")
    assert_close(km.surv, cv["surv"], what="surv")
    assert_close(km.lo, cv["lower"], what="lower")
    assert_close(km.hi, cv["upper"], what="upper")
    np.testing.assert_array_equal(km.n_risk, _arr(cv["n_risk"]))
    np.testing.assert_array_equal(km.n_event, _arr(cv["n_event"]))
    np.testing.assert_array_equal(km.n_censor, _arr(cv["n_censor"]))
    # R's std.err is Inf where S reaches 0 (written as null); ours is inf there
    se = np.where(np.isinf(km.std_err), np.nan, km.std_err)
    assert_close(se, cv["std_err"], what="std.err")
    assert_close([km.median, km.median_lo, km.median_hi],
                 [group["median"], group["median_lo"], group["median_hi"]], what="median (print.survfit)")
    # summary(fit, times = at, extend = FALSE) keeps the times up to the last observed time
    r_at = group["at"]
    kept = _arr(r_at["time"])
    rows = [a for a in km.at if a["time"] <= km.times[-1]]
    assert_close([a["time"] for a in rows], kept, what="at times")
    assert_close([a["surv"] for a in rows], r_at["surv"], what="at surv")
    assert_close([a["lo"] for a in rows], r_at["lower"], what="at lower")
    assert_close([a["hi"] for a in rows], r_at["upper"], what="at upper")
    np.testing.assert_array_equal([a["at_risk"] for a in rows], _arr(r_at["n_risk"]))


def test_median_differs_from_quantile_survfit_only_when_flat_to_the_end():
    """print.survfit and quantile.survfit agree except when S stays at exactly 0.5 to the last time."""
    n_diff = 0
    for case, group in KM_CASES:
        d = _subset(case, group)
        km = kaplan_meier(d[case["time"]], d[case["event"]], ci=case["conf_type"])
        for ours, q in ((km.median, group["quantile_median"]), (km.median_lo, group["quantile_lo"]),
                        (km.median_hi, group["quantile_hi"])):
            q = np.nan if q is None else q
            if not (np.isnan(ours) and np.isnan(q)) and ours != pytest.approx(q, rel=1e-12):
                n_diff += 1
                curve = {"surv": km.surv, "lo": km.lo, "hi": km.hi}
                flat_to_end = any(np.isclose(c[-1], 0.5) for c in curve.values())
                assert flat_to_end, (case["name"], group["level"])
    assert n_diff > 0  # the toy_lastpt case exercises the difference


def test_median_on_a_flat_half_step_is_the_midpoint():
    km = kaplan_meier(np.arange(1, 11), np.ones(10))
    assert km.median == 5.5                       # S = 0.5 on [5, 6)
    km = kaplan_meier([1, 2, 3, 4], [1, 1, 0, 0])  # S = 0.5 from 2 to the end
    assert km.median == 2.0


def test_km_at_before_and_after_follow_up():
    km = kaplan_meier([2, 3, 3, 5, 8], [1, 0, 1, 1, 0], ci="log", at=[0, 1.9, 2, 8, 9])
    first, before, at2, at8, after = km.at
    assert first["surv"] == before["surv"] == 1.0 and first["lo"] == 1.0 and first["at_risk"] == 5
    assert at2["surv"] == pytest.approx(0.8) and at2["at_risk"] == 5
    assert at8["at_risk"] == 1 and at8["surv"] == pytest.approx(0.8 * (1 - 1 / 4) * (1 - 1 / 2))
    assert math.isnan(after["surv"]) and after["at_risk"] == 0       # beyond the last (censored) time
    km = kaplan_meier([1, 2, 3], [1, 1, 1], at=[10])                  # curve reached 0: known beyond
    assert km.at[0]["surv"] == 0.0 and km.at[0]["at_risk"] == 0


def test_km_curve_for_plotting_starts_at_one():
    km = kaplan_meier([2, 3, 3, 5, 8], [1, 0, 1, 1, 0])
    c = km.curve()
    assert c["time"][0] == 0.0 and c["surv"][0] == 1.0 and c["lo"][0] == 1.0
    assert c["time"][1:] == [2.0, 3.0, 5.0, 8.0]
    assert c["censor_time"] == [3.0, 8.0]
    assert c["censor_surv"] == [pytest.approx(km.surv[1]), pytest.approx(km.surv[3])]
    json.dumps(km.to_dict(curve=True), allow_nan=False)


# --- Kaplan-Meier against lifelines ----------------------------------------------------------------------
@pytest.mark.parametrize("name,time,event", [("lung.csv", "time", "status"), ("rossi.csv", "week", "arrest"),
                                             ("veteran.csv", "time", "status")])
def test_km_matches_lifelines(name, time, event):
    from lifelines import KaplanMeierFitter

    d = _csv(name)
    km = kaplan_meier(d[time], d[event], ci="log-log")
    kmf = KaplanMeierFitter().fit(d[time], d[event])
    sf = kmf.survival_function_.iloc[:, 0]
    ci = kmf.confidence_interval_
    ours = pd.Series(km.surv, index=km.times)
    np.testing.assert_allclose(ours.to_numpy(), sf.loc[km.times].to_numpy(), rtol=1e-12)
    inside = (km.surv > 0) & (km.surv < 1)
    np.testing.assert_allclose(km.lo[inside], ci.iloc[:, 0].loc[km.times[inside]].to_numpy(), rtol=1e-9)
    np.testing.assert_allclose(km.hi[inside], ci.iloc[:, 1].loc[km.times[inside]].to_numpy(), rtol=1e-9)
    lifelines_median = kmf.median_survival_time_            # inf when not reached
    assert km.median == lifelines_median or (math.isnan(km.median) and math.isinf(lifelines_median))


@settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 15), st.booleans()), min_size=2, max_size=40))
def test_km_survival_matches_lifelines_on_random_tied_data(rows):
    from lifelines import KaplanMeierFitter

    t = np.array([r[0] for r in rows], float)
    e = np.array([r[1] for r in rows], float)
    km = kaplan_meier(t, e)
    kmf = KaplanMeierFitter().fit(t, e)
    np.testing.assert_allclose(km.surv, kmf.survival_function_.iloc[:, 0].loc[km.times].to_numpy(),
                               rtol=1e-12, atol=1e-15)
    assert km.events == int(e.sum()) and km.n == len(rows)
    np.testing.assert_array_equal(km.n_risk, [np.sum(t >= x) for x in km.times])


def test_timefix_ties_nearly_equal_times_like_r():
    t = np.array([1.0, 1.0 + 1e-12, 2.0, 3.0])
    np.testing.assert_array_equal(timefix(t), [1.0, 1.0, 2.0, 3.0])
    a = kaplan_meier(t, [1, 1, 0, 1])
    b = kaplan_meier([1.0, 1.0, 2.0, 3.0], [1, 1, 0, 1])
    np.testing.assert_array_equal(a.surv, b.surv)


@pytest.mark.parametrize("time,event,msg", [
    ([1, -2, 3], [1, 0, 1], "negative"),
    ([1, 2, 3], [1, 2, 1], r"0 \(censored\) or 1"),
    ([1, np.nan, 3], [1, 0, 1], "missing"),
    ([1, 2, 3], [1, np.nan, 1], "missing"),
    ([], [], "no observations"),
])
def test_km_input_errors(time, event, msg):
    with pytest.raises(AnalysisError, match=msg):
        kaplan_meier(time, event)


def test_km_rejects_unknown_ci():
    with pytest.raises(AnalysisError, match="confidence interval type"):
        kaplan_meier([1, 2], [1, 1], ci="logit")


# --- log-rank and trend against R ---------------------------------------------------------------------
@pytest.mark.parametrize("case", REF["logrank"], ids=[c["name"] for c in REF["logrank"]])
def test_logrank_matches_r(case):
    d = _csv(case["data"]).dropna(subset=[case["group"]])
    levels = list(case["levels"]) if d[case["group"]].dtype == object else [float(v) for v in case["levels"]]
    r = logrank_test(d[case["time"]], d[case["event"]], d[case["group"]], levels=levels)
    assert r.df == case["df"]
    assert_close(r.chisq, case["chisq"], what="chisq")
    assert_close(r.p, case["p"], what="p")
    assert_close(r.observed, case["observed"], what="observed")
    assert_close(r.expected, case["expected"], what="expected")
    assert_close(r.variance, np.array(case["var"], dtype=float), atol=1e-10, what="variance")


@pytest.mark.parametrize("case", REF["trend"], ids=[c["name"] for c in REF["trend"]])
def test_trend_matches_r(case):
    d = _csv(case["data"]).dropna(subset=[case["group"]])
    levels = list(case["levels"]) if d[case["group"]].dtype == object else [float(v) for v in case["levels"]]
    scores = case["scores"] if case["given_scores"] else None
    r = trend_test(d[case["time"]], d[case["event"]], d[case["group"]], scores=scores, levels=levels)
    assert r.df == 1
    assert_close(r.chisq, case["chisq"], what="chisq")
    assert_close(r.p, case["p"], what="p")
    assert r.scores == pytest.approx(_arr(case["scores"]).tolist())


def test_trend_scores_as_mapping_and_invariance():
    d = _csv("lung.csv").dropna(subset=["ecog"])
    a = trend_test(d.time, d.status, d.ecog, levels=["0", "1", "2+"])
    b = trend_test(d.time, d.status, d.ecog, scores={"0": 10, "1": 12, "2+": 14})   # affine in 1, 2, 3
    assert b.chisq == pytest.approx(a.chisq, rel=1e-10)
    with pytest.raises(AnalysisError, match="every group"):
        trend_test(d.time, d.status, d.ecog, scores={"0": 1, "1": 2})


def test_trend_with_two_groups_equals_logrank():
    d = _csv("veteran.csv")
    lr = logrank_test(d.time, d.status, d.trt)
    tr = trend_test(d.time, d.status, d.trt)
    assert tr.chisq == pytest.approx(lr.chisq, rel=1e-10)


def test_logrank_needs_two_groups():
    with pytest.raises(AnalysisError, match="two groups"):
        logrank_test([1, 2, 3], [1, 1, 0], ["a", "a", "a"])


# --- two-group hazard ratio -------------------------------------------------------------------------------
@pytest.mark.parametrize("case", REF["hr"], ids=[c["name"] for c in REF["hr"]])
def test_hazard_ratio_matches_r(case):
    d = _csv(case["data"]).dropna(subset=[case["group"]])
    if case.get("cutoff") is not None:
        x = (d[case["group"]] > case["cutoff"]).astype(float)
    else:
        x = (d[case["group"]].astype(str) == str(case["high"])).astype(float)
    r = hazard_ratio(d[case["time"]], d[case["event"]], x)
    assert r.n == case["n"] and r.events == case["events"] and r.note is None
    # R stops when the log-likelihood changes < 1e-9 relative, so compare coef relative to its SE
    assert abs(r.coef - case["coef"]) <= RTOL * max(abs(case["coef"]), case["se"])
    for key in ("se", "hr", "lo", "hi", "p", "loglik"):
        assert_close(getattr(r, key), case[key], rtol=1e-6, what=key)


def _lifelines_cox(t, e, x):
    from lifelines import CoxPHFitter

    frame = pd.DataFrame({"t": t, "e": e, "x": x})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return CoxPHFitter().fit(frame, "t", "e",
                                 fit_options={"precision": 1e-16, "r_precision": 1e-16, "max_steps": 100})


def _statsmodels_cox(t, e, x):
    from statsmodels.duration.hazard_regression import PHReg

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return PHReg(t, x[:, None], status=e, ties="efron").fit(method="newton", tol=1e-14, maxiter=200)


@settings(max_examples=examples(40), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10_000), st.integers(8, 120), st.sampled_from([3, 10, 1000]))
@example(seed=5, n=8, n_times=3)     # the reference group is censored before the first event: a flat likelihood
@example(seed=851, n=8, n_times=3)   # lifelines stops 1.2e-7 (relative) short of R's and statsmodels' coefficient
def test_hazard_ratio_matches_statsmodels_and_lifelines(seed, n, n_times):
    """A finite estimate equals statsmodels' PHReg (Efron), which Newton-Raphson takes to 1e-14 (lifelines' stopping
    rule, a relative log-likelihood change, leaves ~1e-7 on a small coefficient, and it sometimes stops with a
    convergence error where the estimate exists); no finite estimate where lifelines runs off to infinity."""
    rng = np.random.default_rng(seed)
    x = (rng.random(n) < 0.5).astype(float)
    x[:2] = [0, 1]
    t = rng.integers(1, n_times + 1, n).astype(float) * np.exp(0.4 * x * rng.random())
    e = (rng.random(n) < 0.7).astype(float)
    r = hazard_ratio(t, e, x)
    if r.note is not None:      # no finite estimate: NaN, with the reason
        assert math.isnan(r.hr) and math.isnan(r.se)
        cph = _lifelines_cox(t, e, x)
        # a monotone likelihood (lifelines' Newton-Raphson runs off to +-infinity), or a flat one: no event time
        # has both groups at risk, so the data say nothing about the HR (lifelines stops anywhere)
        both_at_risk = any((t[x == 0] >= ti).any() and (t[x == 1] >= ti).any() for ti in t[e == 1])
        assert abs(cph.params_["x"]) > 5 or not both_at_risk
        return
    sm = _statsmodels_cox(t, e, x)
    assert r.coef == pytest.approx(sm.params[0], rel=1e-7, abs=1e-9)
    assert r.se == pytest.approx(sm.bse[0], rel=1e-7)
    assert r.loglik == pytest.approx(sm.llf, rel=1e-10)


def test_hazard_ratio_group_without_events():
    d = _csv("lung.csv")
    x = (d.noevent_grp == "Yes").astype(float)
    r = hazard_ratio(d.time, d.status, x)
    assert math.isnan(r.hr) and math.isnan(r.p) and "no events in the high group" in r.note
    r = hazard_ratio(d.time, d.status, 1 - x)
    assert math.isnan(r.hr) and "no events in the reference group" in r.note
    json.dumps(r.to_dict(), allow_nan=False)


def test_hazard_ratio_monotone_likelihood_with_events_in_both_groups():
    # every group-1 event happens after the last group-0 patient left: HR -> 0
    t = [1, 2, 3, 4, 10, 11, 12]
    e = [1, 1, 0, 1, 1, 1, 0]
    x = [0, 0, 0, 0, 1, 1, 1]
    r = hazard_ratio(t, e, x)
    assert math.isnan(r.coef) and "monotone" in r.note
    cph = _lifelines_cox(np.array(t, float), np.array(e, float), np.array(x, float))
    assert cph.params_["x"] < -5          # lifelines wanders off towards -infinity


def test_hazard_ratio_needs_two_groups():
    with pytest.raises(AnalysisError, match="two groups"):
        hazard_ratio([1, 2, 3], [1, 1, 0], [1, 1, 1])
    with pytest.raises(AnalysisError, match="0 / 1"):
        hazard_ratio([1, 2, 3], [1, 1, 0], [0, 2, 1])


def test_sorted_survival_reuses_the_sort():
    d = _csv("lung.csv").dropna(subset=["ph_karno"])
    ss = SortedSurvival(d.time, d.status)
    for cut in (60, 70, 80, 90):
        x = (d.ph_karno > cut).astype(float)
        a, b = ss.hazard_ratio(x), hazard_ratio(d.time, d.status, x)
        assert a.coef == b.coef and a.se == b.se


# --- km_by_group ------------------------------------------------------------------------------------------
def _lung_hcc() -> pd.DataFrame:
    """lung with HCC-style columns: ecog relabelled as an ordered Child-Pugh class."""
    d = _csv("lung.csv")
    d["child_pugh"] = d.ecog.map({"0": "A", "1": "B", "2+": "C"})
    d["ast"] = d.age  # a numeric marker for the cutoff path
    return d


def test_km_by_group_contract_and_r_values():
    d = _lung_hcc()
    res = km_by_group(d, "time", "status", by="sex", ci="log", at=[182.5, 365])
    out = res.to_dict()
    assert set(out) >= {"n", "events", "excluded", "groups", "logrank", "hr"}
    assert set(out["groups"][0]) == {"label", "n", "events", "median", "median_lo", "median_hi", "at"}
    assert set(out["groups"][0]["at"][0]) == {"time", "surv", "lo", "hi", "at_risk", "estimable"}
    assert set(out["logrank"]) >= {"chisq", "df", "p"}
    assert set(out["hr"]) >= {"group", "reference", "hr", "lo", "hi", "p"}
    json.dumps(out, allow_nan=False)
    # schema order and reference: Male first although "Female" sorts first
    assert [g["label"] for g in out["groups"]] == ["Sex = Male", "Sex = Female"]
    assert out["hr"]["group"] == "Sex = Female" and out["hr"]["reference"] == "Sex = Male"
    r_hr = next(c for c in REF["hr"] if c["name"] == "lung_sex")
    assert_close([out["hr"]["hr"], out["hr"]["p"]], [r_hr["hr"], r_hr["p"]])
    r_lr = next(c for c in REF["logrank"] if c["name"] == "lung_sex")
    assert_close(out["logrank"]["chisq"], r_lr["chisq"])
    r_km = next(c for c in REF["km"] if c["name"] == "lung_sex" and c["conf_type"] == "log")
    male = next(g for g in r_km["groups"] if g["level"] == "Male")
    assert_close([out["groups"][0][k] for k in ("median", "median_lo", "median_hi")],
                 [male["median"], male["median_lo"], male["median_hi"]])
    assert out["trend"] is None


def test_km_by_group_cutoff_low_group_is_reference():
    d = _lung_hcc()
    out = km_by_group(d, "time", "status", by="ast", cutoff=63).to_dict()
    assert [g["label"] for g in out["groups"]] == ["AST <= 63", "AST > 63"]
    assert out["hr"]["reference"] == "AST <= 63" and out["hr"]["group"] == "AST > 63"
    r = next(c for c in REF["hr"] if c["name"] == "lung_age63")
    assert_close([out["hr"][k] for k in ("hr", "lo", "hi", "p")], [r["hr"], r["lo"], r["hi"], r["p"]])
    assert out["groups"][0]["n"] == int((d.age <= 63).sum())


def test_km_by_group_ordered_column_has_trend():
    d = _lung_hcc()
    res = km_by_group(d, "time", "status", by="child_pugh")
    out = res.to_dict()
    assert [g["label"] for g in out["groups"]] == ["Child-Pugh = A", "Child-Pugh = B", "Child-Pugh = C"]
    assert out["excluded"] == 1 and out["hr"] is None and out["logrank"]["df"] == 2
    r = next(c for c in REF["trend"] if c["name"] == "lung_ecog")
    assert_close([out["trend"]["chisq"], out["trend"]["p"]], [r["chisq"], r["p"]])


def test_km_by_group_excludes_missing_and_reports_curves():
    d = _lung_hcc()
    d.loc[[0, 1], "time"] = np.nan
    d.loc[[2], "status"] = np.nan
    d.loc[[3, 4, 5], "ast"] = np.nan
    res = km_by_group(d, "time", "status", by="ast", cutoff=PAPER_CUTOFFS["ast"])
    assert res.excluded == 6 and res.n == len(d) - 6
    assert res.n == sum(g.n for g in res.groups)
    curves = res.curves()
    assert [c["label"] for c in curves] == ["AST <= 56.5", "AST > 56.5"]
    assert curves[0]["time"][0] == 0 and len(curves[0]["time"]) == len(curves[0]["surv"])
    assert "curve" not in json.dumps(res.to_dict())


def test_km_by_group_single_group_and_overall():
    d = _lung_hcc()
    res = km_by_group(d, "time", "status", by="ast", cutoff=1000)
    assert len(res.groups) == 1 and res.logrank is None and res.hr is None and res.notes
    res = km_by_group(d, "time", "status")
    assert res.groups[0].label == "All patients" and res.to_dict()["logrank"] is None
    r = next(c for c in REF["km"] if c["name"] == "lung_all" and c["conf_type"] == "log-log")["groups"][0]
    assert_close(res.groups[0].median_lo, r["median_lo"])


def test_km_by_group_errors_name_the_column_and_hide_values():
    d = _lung_hcc()
    with pytest.raises(AnalysisError, match="'nope'"):
        km_by_group(d, "time", "status", by="nope")
    with pytest.raises(AnalysisError, match="'ast'.*cutoff"):
        km_by_group(d, "time", "status", by="ast")
    d["time"] = d["time"].astype(object)
    d.loc[7, "time"] = "SECRET-123"
    with pytest.raises(AnalysisError) as exc:
        km_by_group(d, "time", "status", by="sex")
    # row 7 of the frame is line 9 of the file (header = line 1, first patient = line 2)
    assert "'time'" in str(exc.value) and "SECRET" not in str(exc.value) and "line 9" in str(exc.value)
    d = _lung_hcc()
    d.loc[3, "status"] = 2
    with pytest.raises(AnalysisError, match="'status'"):
        km_by_group(d, "time", "status")


# --- cutoffs ----------------------------------------------------------------------------------------------
def test_dichotomise_rule_labels_and_missing():
    s = pd.Series([10.0, 56.5, 56.6, np.nan, 100.0], name="ast")
    dch = dichotomise(s, 56.5)
    np.testing.assert_array_equal(dch.high.to_numpy(), [0.0, 0.0, 1.0, np.nan, 1.0])
    assert dch.low_label == "AST <= 56.5" and dch.high_label == "AST > 56.5"
    assert dch.n_missing == 1 and dch.n_low == 2 and dch.n_high == 2
    assert dichotomise(s, 58, name="age").high_label == "Age > 58"
    with pytest.raises(AnalysisError, match="finite"):
        dichotomise(s, float("inf"))
    with pytest.raises(AnalysisError, match="'ast'.*numeric"):
        dichotomise(pd.Series(["1", "x"], name="ast"), 1)
    # the bad cell is named by its file line, as every other message does (a subset keeps the file's rows)
    with pytest.raises(AnalysisError, match=r"values in lines 5, 9$"):
        dichotomise(pd.Series(["1", "x", "3", "y"], index=[0, 3, 4, 7], name="ast"), 2)


def test_format_cutoff_and_display_names():
    assert [format_cutoff(x) for x in (56.5, 1.77, 58, 58.0, 13.1, 0.1 + 0.2)] == \
        ["56.5", "1.77", "58", "58", "13.1", "0.30000000000000004"]
    assert display_name("pivka_ii") == "PIVKA-II" and display_name("tumor_size_mm") == "Tumour size (mm)"
    assert display_name("my_marker") == "My marker" and display_name("ae_nausea") == "Nausea"
    assert all(math.isfinite(v) for v in PAPER_CUTOFFS.values()) and PAPER_CUTOFFS["nlr"] == 1.77


def test_default_cutoff_paper_then_median():
    assert default_cutoff("ast", pd.Series([1.0, 2.0])) == 56.5
    assert default_cutoff("my_marker", pd.Series([3.0, 1.0, np.nan, 10.0, 2.0])) == 2.5
    with pytest.raises(AnalysisError, match="'my_marker'"):
        default_cutoff("my_marker", pd.Series([np.nan]))


def test_at_time_returns_the_requested_row_only():
    km = kaplan_meier([1.0, 2.0, 3.0, 4.0], [1, 0, 1, 1], at=[0.0, 2.5])
    assert km.at_time(2.5) is km.at[1] and km.at_time(2.5 + 1e-12) is km.at[1]
    assert km.at_time(2.5)["at_risk"] == 2
    assert km.at_time(3.0) is None
