"""Tests of analysis/cutpoint.py: R maxstat parity, brute-force oracles, resampling, errors, command line.

R values come from tests/reference/cutpoint.R (maxstat 0.7-25, survival::lung / veteran, maxstat::DLBCL).
"""
from __future__ import annotations

import itertools
import json
import math
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis import cutpoint as cp
from analysis.errors import AnalysisError
from tests.support.examples import examples

ROOT = Path(__file__).resolve().parents[1]
REF = json.loads((ROOT / "tests" / "reference" / "cutpoint.json").read_text())
CASES = {c["name"]: c for c in REF["cases"]}


def _data(case: dict) -> pd.DataFrame:
    return pd.read_csv(ROOT / case["csv"])


def _complete(case: dict) -> pd.DataFrame:
    return _data(case).dropna(subset=["time", "event", case["variable"]])


def _veteran() -> pd.DataFrame:
    return _data(CASES["veteran_karno"])


# --- brute-force oracles (definitions, loops, no vectorisation) ----------------------------------------

def naive_scores(time_, event):
    """exactRankTests::cscores.Surv by its definition: r = largest rank of each time."""
    t = np.asarray(time_, float)
    e = np.asarray(event, float)
    n = len(t)
    out = []
    for i in range(n):
        total = 0.0
        for j in range(n):
            if t[j] <= t[i]:
                r_j = sum(1 for k in range(n) if t[k] <= t[j])
                total += e[j] / (n - r_j + 1)
        out.append(e[i] - total)
    return np.array(out)


def naive_candidates(time_, event, x, minprop, maxprop):
    """Every allowed split 'x <= c' with the standardised linear rank statistic from its definition."""
    a = naive_scores(time_, event)
    x = np.asarray(x, float)
    n = len(a)
    lo, hi = max(1, math.floor(n * minprop)), math.floor(n * maxprop)
    rows = []
    for c in sorted(set(x)):
        low = x <= c
        m = int(low.sum())
        if not (lo <= m <= hi) or m == n:
            continue
        expect = m * a.mean()
        var = m * (n - m) / (n * (n - 1)) * np.sum((a - a.mean()) ** 2)
        if var <= 0:
            continue
        rows.append((c, abs(a[low].sum() - expect) / math.sqrt(var), m))
    return rows


def _frame(t, e, x):
    return pd.DataFrame({"t": t, "e": e, "x": x})


# --- parity with R maxstat -----------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_r_maxstat(name):
    case = CASES[name]
    res = cp.optimal_cutpoint(_data(case), "time", "event", case["variable"], minprop=case["minprop"],
                              maxprop=case["maxprop"], permutations=0, bootstrap=0, split=False)
    assert res.n == case["n"]
    assert res.statistic == pytest.approx(case["statistic"], rel=1e-9)
    assert res.cutpoint == pytest.approx(case["cutpoint"], abs=1e-6)
    np.testing.assert_allclose(res.candidates["cutoff"], case["cuts"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(res.candidates["statistic"], case["stats"], rtol=1e-9)
    # maxstat returns raw approximations (Lau94 can exceed 1); ours are clipped to 1
    assert res.p_lau92 == pytest.approx(min(1.0, case["p_lau92"]), abs=1e-8, rel=1e-6)
    assert res.p_lau94 == pytest.approx(min(1.0, case["p_lau94"]), abs=1e-8, rel=1e-6)
    assert res.p_permutation is None


def test_reference_covers_ties_and_clipping():
    """The reference data really exercise tied x, tied times and a Lau94 bound above 1."""
    assert any(c["n_ties_x"] > 100 and c["n_ties_time"] > 30 for c in CASES.values())
    assert max(c["p_lau94"] for c in CASES.values()) > 1


@pytest.mark.parametrize("name", sorted(CASES))
def test_logrank_scores_match_r(name):
    case = CASES[name]
    d = _complete(case)
    np.testing.assert_allclose(cp.logrank_scores(d["time"], d["event"]), case["logrank_scores"],
                               rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["dlbcl_MGE", "lung_ph_karno", "lung_age", "veteran_karno", "veteran_age"])
def test_permutation_p_within_monte_carlo_error_of_r(name):
    case = CASES[name]
    b = 20000
    res = cp.optimal_cutpoint(_data(case), "time", "event", case["variable"], minprop=case["minprop"],
                              maxprop=case["maxprop"], permutations=b, bootstrap=0, split=False, seed=11)
    p_r = case["p_condmc"]
    p_bar = max((p_r + res.p_permutation) / 2, 1 / b)
    se = math.sqrt(p_bar * (1 - p_bar) * (1 / case["condmc_B"] + 1 / b))
    assert abs(res.p_permutation - p_r) <= 3 * se + 1 / b
    assert res.n_permutations == b


# --- brute-force oracles -------------------------------------------------------------------------------

@settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(8, 30).flatmap(lambda n: st.tuples(
    st.lists(st.integers(1, 8), min_size=n, max_size=n),        # times with many ties
    st.lists(st.integers(0, 1), min_size=n, max_size=n),
    st.lists(st.integers(0, 6), min_size=n, max_size=n),        # x with many ties
    st.sampled_from([0.1, 0.2, 0.3]))))
def test_statistic_equals_definition(sample):
    t, e, x, minprop = sample
    if sum(e) == 0:
        e[0] = 1
    rows = naive_candidates(t, e, x, minprop, 1 - minprop)
    if not rows:
        with pytest.raises(AnalysisError):
            cp.optimal_cutpoint(_frame(t, e, x), "t", "e", "x", minprop=minprop, permutations=0,
                                bootstrap=0, split=False)
        return
    res = cp.optimal_cutpoint(_frame(t, e, x), "t", "e", "x", minprop=minprop, permutations=0,
                              bootstrap=0, split=False)
    np.testing.assert_allclose(cp.logrank_scores(t, e), naive_scores(t, e), atol=1e-12)
    assert list(res.candidates["cutoff"]) == [r[0] for r in rows]
    assert list(res.candidates["n_low"]) == [r[2] for r in rows]
    np.testing.assert_allclose(res.candidates["statistic"], [r[1] for r in rows], rtol=1e-9, atol=1e-9)
    best = max(r[1] for r in rows)
    assert res.statistic == pytest.approx(best, rel=1e-9, abs=1e-9)
    # the first maximum; statistics equal up to rounding (1e-12 relative) count as tied
    chosen = next(i for i, r in enumerate(rows) if r[0] == res.cutpoint)
    assert rows[chosen][1] >= best * (1 - 1e-9)
    assert all(r[1] < best * (1 - 0.5e-12) for r in rows[:chosen])
    assert res.n_low == int((np.asarray(x) <= res.cutpoint).sum())


def test_scores_without_ties_are_nelson_aalen_martingale_residuals():
    """Untied times: score = event - Nelson-Aalen cumulative hazard at own time (lifelines oracle)."""
    from lifelines import NelsonAalenFitter

    rng = np.random.default_rng(3)
    t = rng.permutation(np.arange(1, 41)).astype(float)
    e = (rng.random(40) < 0.6).astype(float)
    naf = NelsonAalenFitter(nelson_aalen_smoothing=False).fit(t, e)
    h = naf.cumulative_hazard_at_times(t).to_numpy()
    np.testing.assert_allclose(cp.logrank_scores(t, e), e - h, atol=1e-12)


def test_row_batches_equal_single_rows():
    """The 2-D code used by the bootstrap gives, row by row, the 1-D answer."""
    rng = np.random.default_rng(5)
    d = _veteran()
    t, e, x = (d[c].to_numpy(float) for c in ("time", "event", "karno"))
    idx = rng.integers(0, len(t), size=(7, len(t)))
    rows = cp._logrank_scores_rows(t[idx], e[idx])
    for k in range(7):
        np.testing.assert_allclose(rows[k], cp.logrank_scores(t[idx[k]], e[idx[k]]), atol=1e-13)
        single = cp.optimal_cutpoint(_frame(t[idx[k]], e[idx[k]], x[idx[k]]), "t", "e", "x",
                                     permutations=0, bootstrap=0, split=False)
        lo, hi = cp._split_bounds(len(t), 0.1, 0.9)
        best, cut = cp._best(*cp._maxstat_rows(rows[k:k + 1], x[idx[k]][None, :], lo, hi))
        assert cut[0] == single.cutpoint
        assert best[0] == pytest.approx(single.statistic, rel=1e-12)


def test_permutation_p_matches_exact_enumeration():
    """n = 7: all 5040 permutations give the exact conditional p; the Monte Carlo p is within 3 SE."""
    t = np.array([2, 3, 3, 5, 8, 9, 12.0])
    e = np.array([1, 1, 0, 1, 1, 0, 1.0])
    x = np.array([10, 20, 30, 40, 50, 60, 70.0])
    res = cp.optimal_cutpoint(_frame(t, e, x), "t", "e", "x", minprop=0.1, permutations=20000, bootstrap=0,
                              split=False, seed=3)
    a = cp.logrank_scores(t, e)
    n = len(a)
    m = np.arange(1, n)                       # minprop 0.1 at n = 7: every split is allowed
    expect = m / n * a.sum()
    sd = np.sqrt(m * (n - m) / (n ** 2 * (n - 1)) * (n * np.sum(a ** 2) - a.sum() ** 2))
    maxima = [np.max(np.abs(np.cumsum(a[list(p)])[:-1] - expect) / sd)
              for p in itertools.permutations(range(n))]
    exact = np.mean(np.array(maxima) >= res.statistic * (1 - 1e-10))
    se = math.sqrt(exact * (1 - exact) / 20000)
    assert 0.05 < exact < 0.95
    assert abs(res.p_permutation - exact) <= 3 * se + 1 / 20000


def test_lausen_formulas():
    # Lau92 at b = 3, minprop 0.1: 4 phi/b + phi (b - 1/b) log(81)
    phi = math.exp(-4.5) / math.sqrt(2 * math.pi)
    assert cp.p_lausen92(3.0) == pytest.approx(4 * phi / 3 + phi * (3 - 1 / 3) * math.log(81), rel=1e-12)
    assert cp.p_lausen92(0.5) == 1.0
    assert cp.p_lausen94(1.0, 200, m=np.arange(20, 181)) == 1.0     # raw bound > 1 is clipped
    # Lau94 with two cutpoints m = (3, 5), N = 10
    b = 2.5
    tt = math.sqrt(1 - 3 * (10 - 5) / ((10 - 3) * 5))
    raw = 2 * (1 - 0.5 * (1 + math.erf(b / math.sqrt(2)))) + math.exp(-b * b / 2) / math.pi * (
        tt - (b * b / 4 - 1) * tt ** 3 / 6)
    assert cp.p_lausen94(b, 10, m=np.array([3, 5])) == pytest.approx(raw, rel=1e-10)
    # a single cutpoint: the plain two-sided normal p
    assert cp.p_lausen94(b, 10, m=np.array([4])) == pytest.approx(math.erfc(b / math.sqrt(2)), rel=1e-12)


# --- resampling: speed, seeds, bootstrap, split sample -------------------------------------------------

def _synthetic(n=302, seed=0, jump=None):
    rng = np.random.default_rng(seed)
    x = np.round(rng.uniform(0, 100, n), 1)
    rate = np.where(x > jump, 4.0, 1.0) if jump is not None else np.ones(n)
    t = np.round(rng.exponential(12 / rate), 2)
    e = (rng.random(n) < 0.75).astype(int)
    return _frame(t, e, x)


def test_thousand_permutations_at_n302_well_under_a_second():
    d = _synthetic()
    cp.optimal_cutpoint(d, "t", "e", "x", permutations=10, bootstrap=0, split=False)   # warm-up
    start = time.perf_counter()
    res = cp.optimal_cutpoint(d, "t", "e", "x", permutations=1000, bootstrap=0, split=False)
    elapsed = time.perf_counter() - start
    assert res.p_permutation is not None
    assert elapsed < 0.5, f"B=1000 permutations at n=302 took {elapsed:.3f}s"


def test_seeded_and_independent_streams():
    d = _synthetic(seed=1)
    a = cp.optimal_cutpoint(d, "t", "e", "x", permutations=500, bootstrap=100, seed=7)
    b = cp.optimal_cutpoint(d, "t", "e", "x", permutations=500, bootstrap=100, seed=7)
    assert a.to_dict() == b.to_dict()
    c = cp.optimal_cutpoint(d, "t", "e", "x", permutations=500, bootstrap=300, seed=7)
    assert c.p_permutation == a.p_permutation           # changing B of the bootstrap leaves the rest alone
    assert c.split.to_dict() == a.split.to_dict()
    np.testing.assert_array_equal(c.bootstrap.cutpoints[:100], a.bootstrap.cutpoints)
    other = cp.optimal_cutpoint(d, "t", "e", "x", permutations=500, bootstrap=100, seed=8)
    assert not np.array_equal(other.bootstrap.cutpoints, a.bootstrap.cutpoints)


def test_bootstrap_finds_a_real_threshold_and_is_wide_without_one():
    data = _synthetic(n=400, seed=0, jump=60.0)          # hazard x4 above 60
    strong = cp.optimal_cutpoint(data, "t", "e", "x", permutations=0, bootstrap=300, split=False, seed=1)
    boot = strong.bootstrap
    assert 57 <= strong.cutpoint <= 63
    assert boot.n_boot == 300 and boot.n_failed == 0 and len(boot.cutpoints) == 300
    assert boot.lo <= strong.cutpoint <= boot.hi
    assert 50 <= boot.lo and boot.hi <= 65
    lo, hi = np.quantile(boot.cutpoints, [0.025, 0.975], method="inverted_cdf")
    assert (boot.lo, boot.hi) == (lo, hi)
    assert boot.share_at_optimum == pytest.approx(np.mean(boot.cutpoints == strong.cutpoint))
    assert set(boot.cutpoints) <= set(data["x"])
    null = cp.optimal_cutpoint(_synthetic(n=400, seed=0), "t", "e", "x", permutations=0, bootstrap=300,
                               split=False, seed=1)
    assert (null.bootstrap.hi - null.bootstrap.lo) > 5 * (boot.hi - boot.lo)


def test_bootstrap_counts_failed_replicates():
    # 3 events among 40: some resamples draw no event at all and cannot choose a cutpoint
    rng = np.random.default_rng(4)
    e = np.zeros(40, int)
    e[:3] = 1
    d = _frame(rng.permutation(np.arange(1, 41)), e, rng.permutation(np.arange(40.0)))
    res = cp.optimal_cutpoint(d, "t", "e", "x", permutations=0, bootstrap=400, split=False, seed=2)
    # P(no event in a resample) = (37/40)^40 ~ 4.4%
    assert 2 <= res.bootstrap.n_failed <= 45
    assert len(res.bootstrap.cutpoints) == 400 - res.bootstrap.n_failed


def test_split_sample_recomputes_on_the_halves():
    from lifelines import CoxPHFitter
    from lifelines.statistics import logrank_test

    d = _synthetic(n=300, seed=5, jump=50.0)
    res = cp.optimal_cutpoint(d, "t", "e", "x", permutations=0, bootstrap=0, seed=99)
    sp = res.split
    rng = np.random.default_rng(np.random.SeedSequence(99).spawn(3)[2])     # documented stream order
    order = rng.permutation(len(d))
    train, test = d.iloc[order[:150]], d.iloc[order[150:]]
    on_train = cp.optimal_cutpoint(train, "t", "e", "x", permutations=0, bootstrap=0, split=False)
    assert sp.cutpoint == on_train.cutpoint
    assert sp.statistic_train == pytest.approx(on_train.statistic, rel=1e-12)
    assert sp.p_train_naive == pytest.approx(on_train.p_naive, rel=1e-12)
    high = (test["x"] > sp.cutpoint).to_numpy()
    assert (sp.n_train, sp.n_test, sp.n_high, sp.n_low) == (150, 150, high.sum(), (~high).sum())
    assert sp.events_test == test["e"].sum()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = CoxPHFitter().fit(pd.DataFrame({"t": test["t"], "e": test["e"], "h": high.astype(float)}),
                                "t", "e", fit_options={"precision": 1e-14, "max_steps": 500})
    assert sp.hr == pytest.approx(math.exp(fit.params_["h"]), rel=1e-9)
    assert sp.hr > 1.5                                   # the high group truly has 4x the hazard
    assert sp.hr_lo < sp.hr < sp.hr_hi
    lr = logrank_test(test["t"][high], test["t"][~high], test["e"][high], test["e"][~high])
    assert sp.p_logrank == pytest.approx(lr.p_value, rel=1e-9)
    assert sp.note is None


def _halves(n, seed):
    order = np.random.default_rng(np.random.SeedSequence(seed).spawn(3)[2]).permutation(n)
    return order[: n // 2], order[n // 2:]


def test_split_sample_reports_why_it_cannot_judge():
    # the 4 patients with x = 1 outlive everyone: complete separation, the Cox HR does not exist
    x = np.r_[np.zeros(36), np.ones(4)]
    d = _frame(np.arange(1, 41.0), np.ones(40), x)
    seed = next(s for s in range(1, 500) if 0 < x[_halves(40, s)[1]].sum() < 4)
    sp = cp.optimal_cutpoint(d, "t", "e", "x", minprop=0.05, permutations=0, bootstrap=0, seed=seed).split
    assert sp.cutpoint == 0 and sp.hr is None and sp.hr_lo is None and 0 < sp.p_logrank < 0.05
    assert sp.note.startswith("held-out half:") and "cannot be estimated" in sp.note
    # every held-out patient on one side of the cutoff
    seed = next(s for s in range(1, 500) if x[_halves(40, s)[1]].sum() == 0)
    sp = cp.optimal_cutpoint(d, "t", "e", "x", minprop=0.05, permutations=0, bootstrap=0, seed=seed).split
    assert (sp.n_low, sp.n_high) == (20, 0) and sp.p_logrank is None
    assert sp.note == "the cutoff puts every held-out patient in one group"
    # no events among the held-out high group
    e = np.ones(40)
    e[-8:] = 0
    x = np.r_[np.zeros(32), np.ones(8)]
    d = _frame(np.r_[np.arange(1, 33.0), np.arange(1, 9.0) + 0.5], e, x)
    seed = next(s for s in range(1, 500) if 0 < x[_halves(40, s)[0]].sum() and x[_halves(40, s)[1]].sum())
    res = cp.optimal_cutpoint(d, "t", "e", "x", minprop=0.05, permutations=0, bootstrap=0, seed=seed)
    sp = res.split
    assert sp.cutpoint == 0 and sp.hr is None and sp.p_logrank is not None
    assert sp.note.startswith("held-out half: no events in the high group")
    # a training half without events
    d = _frame(np.arange(1, 41.0), np.r_[np.zeros(38), np.ones(2)], np.arange(40.0))
    seed = next(s for s in range(1, 500) if d["e"].to_numpy()[_halves(40, s)[0]].sum() == 0)
    sp = cp.optimal_cutpoint(d, "t", "e", "x", permutations=0, bootstrap=0, seed=seed).split
    assert sp.cutpoint is None and sp.note == "no events in the training half"
    assert json.loads(json.dumps(sp.to_dict(), allow_nan=False))["hr"] is None


# --- progress and cancellation -------------------------------------------------------------------------

def test_progress_reports_and_cancels():
    d = _synthetic()
    calls = []
    cp.optimal_cutpoint(d, "t", "e", "x", permutations=1000, bootstrap=200, split=False,
                        progress=lambda done, total: calls.append((done, total)))
    assert calls[0] == (0, 1200) and calls[-1] == (1200, 1200)
    assert len(calls) >= 20
    assert all(b[0] > a[0] for a, b in zip(calls, calls[1:]))

    class Cancelled(Exception):
        pass

    seen = []

    def cancel(done, total):
        seen.append(done)
        if done >= 300:
            raise Cancelled

    with pytest.raises(Cancelled):
        cp.optimal_cutpoint(d, "t", "e", "x", permutations=1000, bootstrap=200, progress=cancel)
    assert seen[-1] < 1200


# --- results, helpers ----------------------------------------------------------------------------------

def test_to_dict_is_json_safe_and_complete():
    res = cp.optimal_cutpoint(_veteran(), "time", "event", "karno", permutations=200, bootstrap=50)
    out = res.to_dict()
    text = json.dumps(out, allow_nan=False)
    assert json.loads(text) == out
    for key in ("cutpoint", "statistic", "p_lau92", "p_lau94", "p_permutation", "n", "candidates", "bootstrap"):
        assert key in out
    assert out["candidates"][0].keys() >= {"cutoff", "statistic"}
    assert len(out["candidates"]) == len(CASES["veteran_karno"]["cuts"])
    assert out["bootstrap"].keys() >= {"lo", "hi", "cutpoints"} and len(out["bootstrap"]["cutpoints"]) == 50
    assert out["p_naive"] < out["p_lau94"] < out["p_lau92"]     # the search costs something
    off = cp.optimal_cutpoint(_veteran(), "time", "event", "karno", permutations=0, bootstrap=0, split=False)
    assert off.to_dict()["bootstrap"] is None and off.to_dict()["p_permutation"] is None
    assert off.to_dict()["split"] is None


def test_counts_and_exclusions():
    case = CASES["lung_meal_cal"]
    res = cp.optimal_cutpoint(_data(case), "time", "event", "meal_cal", permutations=0, bootstrap=0,
                              split=False)
    d = _complete(case)
    assert res.n_excluded == len(_data(case)) - len(d)
    assert res.n_events == d["event"].sum()
    assert res.n_low + res.n_high == res.n
    assert res.n_low == (d["meal_cal"] <= res.cutpoint).sum()
    assert res.next_value == d["meal_cal"][d["meal_cal"] > res.cutpoint].min()
    # nullable integer columns with <NA> (as pandas reads them) give the same answer
    nullable = _data(case).astype({"meal_cal": "Int64", "event": "Int64"})
    again = cp.optimal_cutpoint(nullable, "time", "event", "meal_cal", permutations=0, bootstrap=0, split=False)
    assert (again.cutpoint, again.statistic, again.n_excluded) == (res.cutpoint, res.statistic, res.n_excluded)


def test_is_data_driven_optimum():
    res = cp.optimal_cutpoint(_veteran(), "time", "event", "karno", permutations=0, bootstrap=0, split=False)
    assert res.cutpoint == 40 and res.next_value == 50
    assert cp.is_data_driven_optimum(40, res)
    assert cp.is_data_driven_optimum(40 + 1e-12, res)
    assert cp.is_data_driven_optimum(45, res)            # same two groups as 40
    assert not cp.is_data_driven_optimum(50, res)
    assert not cp.is_data_driven_optimum(39.9, res)
    assert cp.is_data_driven_optimum(39.9, res, tol=0.01)
    assert not cp.is_data_driven_optimum(None, res)
    assert not cp.is_data_driven_optimum(float("nan"), res)


def test_clinical_reference_cutoffs():
    ast = cp.clinical_reference_cutoffs("ast")
    assert [r.value for r in ast if r.kind == "uln"] == [40, 120, 200]
    paper = [r for r in ast if r.kind == "paper"]
    assert len(paper) == 1 and paper[0].value == 56.5
    assert paper[0].label == "Chen et al. (seed paper), data-derived"
    assert ast[-1].kind == "paper"
    assert [r.value for r in cp.clinical_reference_cutoffs("alp") if r.kind == "uln"] == [125, 312.5, 625]
    tb = cp.clinical_reference_cutoffs("TB")
    assert tb[0].value == 21 and "21" in tb[0].explanation and "CTCAE" in tb[0].explanation
    assert {3.0, 5.0} <= {r.value for r in cp.clinical_reference_cutoffs("nlr")}
    assert {20.0, 400.0} <= {r.value for r in cp.clinical_reference_cutoffs("afp")}
    expected = {"ast": 56.5, "alp": 174.5, "nlr": 1.77, "tb": 14.5, "crp": 16.5, "ggt": 188.5, "pt": 13.1,
                "afp": 48, "age": 58, "tumor_size_mm": 110, "albumin": 40, "alt": 42, "pivka_ii": 46}
    for col, value in expected.items():
        refs = cp.clinical_reference_cutoffs(col)
        assert [r.value for r in refs if r.kind == "paper"] == [value], col
        for r in refs:
            assert r.explanation and "\n" not in r.explanation and r.label
            assert json.loads(json.dumps(r.to_dict()))["value"] == r.value
    assert cp.clinical_reference_cutoffs("patient_id") == []


# --- errors --------------------------------------------------------------------------------------------

SECRET = 987.654321


def _bad(**changes):
    d = _veteran().copy()
    for col, (row, value) in changes.items():
        d[col] = d[col].astype(object) if isinstance(value, str) else d[col].astype(float)
        d.loc[row, col] = value
    return d


@pytest.mark.parametrize("kwargs, fragment", [
    (dict(data=None), "table"),
    (dict(variable="karnofsky"), "'karnofsky'"),
    (dict(time="days"), "'days'"),
    (dict(data=_bad(event=(4, SECRET))), "line 6"),
    (dict(data=_bad(time=(2, -SECRET))), "negative"),
    (dict(data=_bad(karno=(3, f"high {SECRET}"))), "numeric"),
    (dict(minprop=0.6), "minprop"),
    (dict(minprop=0), "minprop"),
    (dict(permutations=-1), "permutations"),
    (dict(bootstrap=2.5), "bootstrap"),
    (dict(level=1.5), "level"),
])
def test_user_errors_name_the_problem_without_values(kwargs, fragment):
    args = dict(data=_veteran(), time="time", event="event", variable="karno")
    args.update(kwargs)
    with pytest.raises(AnalysisError) as info:
        cp.optimal_cutpoint(args.pop("data"), args.pop("time"), args.pop("event"), args.pop("variable"),
                            **args)
    message = str(info.value)
    assert fragment in message
    assert str(SECRET) not in message and "987" not in message


def test_no_events_and_too_few_values():
    d = _veteran().assign(event=0)
    with pytest.raises(AnalysisError, match="no events in column 'event'"):
        cp.optimal_cutpoint(d, "time", "event", "karno")
    d = _veteran().assign(flag=np.r_[np.zeros(130), np.ones(7)])
    with pytest.raises(AnalysisError, match="'flag' has no cutpoint"):
        cp.optimal_cutpoint(d, "time", "event", "flag", minprop=0.1)
    d = _veteran().assign(time=5.0, event=1)
    with pytest.raises(AnalysisError, match="same log-rank score"):
        cp.optimal_cutpoint(d, "time", "event", "karno")
    # a binary variable with both groups large enough is fine: one candidate
    d = _veteran().assign(flag=np.r_[np.zeros(60), np.ones(77)])
    res = cp.optimal_cutpoint(d, "time", "event", "flag", permutations=0, bootstrap=0, split=False)
    assert list(res.candidates["cutoff"]) == [0.0] and res.p_lau94 == pytest.approx(res.p_naive)


# --- command line --------------------------------------------------------------------------------------

def _run_cli(argv):
    from analysis.cli import build_parser, json_safe

    args = build_parser().parse_args(argv)
    return json.loads(json.dumps(json_safe(args.handler(args)), allow_nan=False))


@pytest.mark.parametrize("cli", REF["cli_cases"], ids=[c["case"] for c in REF["cli_cases"]])
def test_command_line_reads_cohort_files_and_matches_r(cli):
    case = CASES[cli["case"]]
    out = _run_cli(["cutpoint", str(ROOT / cli["csv"]), "--time", cli["time"], "--event", cli["event"],
                    "--variable", cli["variable"], "--minprop", str(cli["minprop"]), "--permutations", "2000",
                    "--bootstrap", "40", "--seed", "5"])
    assert out["time"] == "os_months" and out["event"] == "os_event"
    assert out["n"] == case["n"]
    assert out["statistic"] == pytest.approx(case["statistic"], rel=1e-9)
    assert out["cutpoint"] == pytest.approx(case["cutpoint"], abs=1e-6)
    assert out["p_lau92"] == pytest.approx(min(1, case["p_lau92"]), abs=1e-8, rel=1e-6)
    assert out["p_lau94"] == pytest.approx(min(1, case["p_lau94"]), abs=1e-8, rel=1e-6)
    np.testing.assert_allclose([c["cutoff"] for c in out["candidates"]], case["cuts"], atol=1e-9)
    assert len(out["bootstrap"]["cutpoints"]) + out["bootstrap"]["n_failed"] == 40
    assert out["n_permutations"] == 2000 and out["seed"] == 5
    p = case["p_condmc"]
    assert abs(out["p_permutation"] - p) <= 3 * math.sqrt(max(p, 1 / 2000) * (1 / 2000 + 1 / 20000)) + 1 / 2000


def test_command_line_bad_column_and_options():
    csv = str(ROOT / REF["cli_cases"][0]["csv"])
    with pytest.raises(AnalysisError, match="'karnofsky' is not in the file"):
        _run_cli(["cutpoint", csv, "--time", "OS (days)", "--event", "status", "--variable", "karnofsky"])
    with pytest.raises(AnalysisError, match="minprop"):
        _run_cli(["cutpoint", csv, "--time", "OS (days)", "--event", "status", "--variable", "age",
                  "--minprop", "0.7"])
    out = _run_cli(["cutpoint", csv, "--time", "OS (days)", "--event", "status", "--variable", "age",
                    "--permutations", "0", "--bootstrap", "0", "--no-split"])
    assert out["p_permutation"] is None and out["bootstrap"] is None and out["split"] is None


def test_python_dash_m_analysis_cutpoint():
    """The public command line: one JSON object on stdout, exit 0; a bad column gives exit 2 and an error."""
    cli = REF["cli_cases"][2]
    case = CASES[cli["case"]]
    base = [sys.executable, "-m", "analysis", "cutpoint", cli["csv"], "--time", cli["time"], "--event",
            cli["event"], "--minprop", str(cli["minprop"])]
    start = time.perf_counter()
    run = subprocess.run(base + ["--variable", cli["variable"]], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    elapsed = time.perf_counter() - start
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert out["statistic"] == pytest.approx(case["statistic"], rel=1e-9)
    assert out["cutpoint"] == case["cutpoint"]
    assert out["n_permutations"] == cp.DEFAULT_PERMUTATIONS
    assert out["bootstrap"]["n_boot"] == cp.DEFAULT_BOOTSTRAP and out["split"]["n_test"] == 69
    assert elapsed < 30
    bad = subprocess.run(base + ["--variable", "karnofsky"], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert bad.returncode == 2
    assert "'karnofsky' is not in the file" in json.loads(bad.stdout)["error"]
    assert "Traceback" not in bad.stderr


def test_lau94_is_a_probability_far_in_the_tail():
    """Far in the tail the Lau94 series turns negative (maxstat: -4.4e-86 for rotterdam's nodes); the p of the
    maximum is never below that of a single cutpoint, 2 (1 - Phi(b))."""
    from scipy import stats

    for b in (5.0, 12.0, 20.0, 30.0):
        p = cp.p_lausen94(b, 2982, 0.1, 0.9)
        assert 2 * stats.norm.sf(b) <= p <= 1 and p > 0
