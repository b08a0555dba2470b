"""Tumour response (analysis.response) against R: tests/reference/tables.R -> tables.json."""
from __future__ import annotations

import json
from math import comb
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from statsmodels.stats.inter_rater import cohens_kappa

from analysis.errors import AnalysisError
from analysis.response import (CATEGORIES, clopper_pearson, kappa_from_table, landmark, objective_response,
                               response_agreement, response_crosstab, response_table)
from tests.support.examples import examples

REF = Path(__file__).parent / "reference"
R = json.loads((REF / "tables.json").read_text())
COHORT = pd.read_csv(REF / "data" / "tables_cohort.csv")
LABELS = {"recist_best": "RECIST1.1", "mrecist_best": "mRECIST"}


def close(x, y, rel=1e-6):
    return x == pytest.approx(y, rel=rel, abs=1e-12)


def _check_summary(got: dict, ref: dict):
    assert got["n"] == ref["n"]
    for cat in CATEGORIES:
        assert got[cat]["n"] == ref[cat]["n"]
        assert close(got[cat]["pct"], ref[cat]["pct"])
    for rate in ("ORR", "DCR"):
        for key in ("n", "pct", "lo", "hi"):
            assert close(got[rate][key], ref[rate][key]), (rate, key)


@pytest.mark.parametrize("column", ["recist_best", "mrecist_best"])
def test_overall_matches_r(column):
    out = response_table(COHORT).to_dict()
    assert out["n"] == len(COHORT) and list(out["criteria"]) == ["RECIST1.1", "mRECIST"]
    got = out["criteria"][LABELS[column]]
    _check_summary(got, R["response"][column]["overall"])
    assert got["missing"] == int(COHORT[column].isna().sum())
    assert got["unknown"] == {"n": 0, "codes": []}


@pytest.mark.parametrize("grp", ["treatment", "arm3"])
@pytest.mark.parametrize("column", ["recist_best", "mrecist_best"])
def test_by_group_matches_r(column, grp):
    res = response_table(COHORT, by=grp)
    out = res.to_dict()
    ref = R["response"][column]["by"][grp]
    assert out["by"]["column"] == grp
    assert [g["level"] for g in out["by"]["groups"]] == list(ref["groups"])
    assert out["by"]["missing"] == int(COHORT[grp].isna().sum())
    for g in out["by"]["groups"]:
        _check_summary(g["criteria"][LABELS[column]], ref["groups"][g["level"]])
    for rate in ("ORR", "DCR"):
        got = out["by"]["tests"][LABELS[column]][rate]
        rt = ref["tests"][rate]
        if grp == "treatment":  # 2x2: always Fisher
            assert got["test"] == "fisher" and close(got["p"], rt["fisher"])
        else:
            want = "fisher" if rt["min_expected"] < 5 else "chi2"
            assert got["test"] == want and close(got["p"], rt[want])
            if want == "chi2":
                assert close(got["statistic"], rt["chi2_stat"]) and got["df"] == rt["chi2_df"]
        assert close(got["min_expected"], rt["min_expected"])


def test_more_than_two_groups_with_small_counts_use_exact_test():
    # ORR 4/4, 0/4, 1/4: expected counts < 5, so the exact r x 2 (Freeman-Halton) test is used
    df = pd.DataFrame({"recist_best": ["CR", "CR", "PR", "PR", "PD", "PD", "SD", "NE", "PR", "PD", "PD", "SD"],
                       "g": ["a", "a", "a", "a", "b", "b", "b", "b", "c", "c", "c", "c"]})
    t = response_table(df, criteria="recist_best", by="g").tests["RECIST1.1"]["ORR"]
    assert t.test == "fisher"
    # by hand: P(x_a, x_b, x_c) = C(4,x_a) C(4,x_b) C(4,x_c) / C(12,5) over x_a + x_b + x_c = 5
    probs = {(a, b, 5 - a - b): comb(4, a) * comb(4, b) * comb(4, 5 - a - b) / comb(12, 5)
             for a in range(5) for b in range(5) if 0 <= 5 - a - b <= 4}
    assert sum(probs.values()) == pytest.approx(1.0)
    p_obs = probs[(4, 0, 1)]
    expected = sum(p for p in probs.values() if p <= p_obs * (1 + 1e-7))
    assert t.p == pytest.approx(expected, rel=1e-9) and expected < 0.05


@settings(max_examples=examples(50), deadline=None)
@given(st.integers(0, 60), st.integers(1, 60))
def test_clopper_pearson_equals_beta_quantiles(x, n):
    x = min(x, n)
    ci = clopper_pearson(x, n)
    lo = 0.0 if x == 0 else stats.beta.ppf(0.025, x, n - x + 1)
    hi = 1.0 if x == n else stats.beta.ppf(0.975, x + 1, n - x)
    assert ci.lo == pytest.approx(100 * lo, rel=1e-7, abs=1e-9)
    assert ci.hi == pytest.approx(100 * hi, rel=1e-7, abs=1e-9)
    assert ci.pct == pytest.approx(100 * x / n)


def test_unknown_codes_are_counted_listed_and_not_in_denominator():
    df = pd.DataFrame({"recist_best": ["CR", "pr", " SD", "PD", "XX", "uCR", None, "", "NE", "XX"]})
    s = response_table(df, criteria=["recist_best"]).criteria["RECIST1.1"]
    assert s.counts == {"CR": 1, "PR": 1, "SD": 1, "PD": 1, "NE": 1}
    assert s.n == 5 and s.missing == 2 and s.unknown == 3 and s.unknown_codes == ["UCR", "XX"]
    assert s.orr.n == 2 and s.orr.total == 5 and s.dcr.n == 3
    d = response_table(df, criteria=["recist_best"]).to_dict()
    assert d["criteria"]["RECIST1.1"]["unknown"] == {"n": 3, "codes": ["UCR", "XX"]}


def test_empty_criterion_is_json_safe():
    df = pd.DataFrame({"recist_best": [None, None], "mrecist_best": ["PR", "SD"], "g": ["a", "b"]})
    out = response_table(df, by="g").to_dict()
    text = json.dumps(out, allow_nan=False)
    rec = out["criteria"]["RECIST1.1"]
    assert rec["n"] == 0 and rec["ORR"]["pct"] is None and rec["ORR"]["lo"] is None and "NaN" not in text
    assert out["by"]["tests"]["RECIST1.1"]["ORR"]["p"] is None


def test_default_criteria_and_errors():
    only = COHORT.drop(columns=["mrecist_best"])
    assert list(response_table(only).criteria) == ["RECIST1.1"]
    with pytest.raises(AnalysisError, match="no response column"):
        response_table(COHORT.drop(columns=["recist_best", "mrecist_best"]))
    with pytest.raises(AnalysisError, match="mrecist_best"):
        response_table(only, criteria=["recist_best", "mrecist_best"])
    with pytest.raises(AnalysisError, match="nosuch"):
        response_table(COHORT, by="nosuch")


def test_to_frame_long_layout():
    f = response_table(COHORT, by="treatment").to_frame()
    assert set(f["group"]) == {"Overall", "HAIC + TKIs or ICIs", "HAIC + ICIs + TKIs/anti-VEGF"}
    orr = f[(f.group == "Overall") & (f.criterion == "RECIST1.1") & (f.category == "ORR")].iloc[0]
    ref = R["response"]["recist_best"]["overall"]["ORR"]
    assert orr["n"] == ref["n"] and close(orr["lo"], ref["lo"])


# --- agreement ---------------------------------------------------------------------------------------------

def test_crosstab_and_kappa_match_r_and_statsmodels():
    ct = response_crosstab(COHORT)
    ref = R["kappa"]
    table = np.array(ref["table"]).reshape(5, 5)
    assert list(ct.index) == [*CATEGORIES, "Total"] and list(ct.columns) == [*CATEGORIES, "Total"]
    assert (ct.loc[list(CATEGORIES), list(CATEGORIES)].to_numpy() == table).all()
    assert (ct.loc["Total", list(CATEGORIES)].to_numpy() == table.sum(axis=0)).all()
    assert (ct.loc[list(CATEGORIES), "Total"].to_numpy() == table.sum(axis=1)).all()
    assert ct.loc["Total", "Total"] == ref["n"]
    # independent count with pandas
    both = COHORT.dropna(subset=["recist_best", "mrecist_best"])
    pc = pd.crosstab(both["recist_best"], both["mrecist_best"]).reindex(index=CATEGORIES, columns=CATEGORIES,
                                                                        fill_value=0)
    assert (pc.to_numpy() == table).all()

    ag = ct.attrs["agreement"]
    for key in ("n", "agree", "percent_agreement", "kappa", "se", "se0", "lo", "hi", "z", "p"):
        assert close(ag[key], ref[key]), key
    sm = cohens_kappa(table)
    assert close(ag["kappa"], sm.kappa) and close(ag["se"], sm.std_kappa) and close(ag["se0"], sm.std_kappa0)
    assert response_agreement(COHORT).to_dict() == ag


def test_kappa_edge_cases():
    perfect = np.diag([3, 4, 5, 0, 0])
    k = kappa_from_table(perfect)
    assert k.kappa == pytest.approx(1.0) and k.percent_agreement == pytest.approx(100.0)
    single = np.zeros((5, 5), dtype=int)
    single[2, 2] = 7
    k = kappa_from_table(single)  # one category only: kappa undefined, agreement 100%
    assert np.isnan(k.kappa) and k.percent_agreement == 100.0
    assert json.dumps(k.to_dict(), allow_nan=False)
    assert kappa_from_table(np.zeros((5, 5))).n == 0


# --- objective response and landmark -----------------------------------------------------------------------

def test_objective_response():
    df = pd.DataFrame({"recist_best": ["CR", "PR", "SD", "PD", "NE", None, "pr"]}, index=list("abcdefg"))
    out = objective_response(df)
    assert out.index.tolist() == list("abcdefg")
    assert out.tolist()[:5] == [1.0, 1.0, 0.0, 0.0, 0.0] and np.isnan(out["f"]) and out["g"] == 1.0
    bad = pd.DataFrame({"recist_best": ["CR", "partial-ish", "SD"]})
    with pytest.raises(AnalysisError) as exc:
        objective_response(bad)
    assert "line 3" in str(exc.value) and "partial" not in str(exc.value) and "'recist_best'" in str(exc.value)


def test_landmark_drops_early_and_shifts_time():
    df = pd.DataFrame({"os_months": [1.0, 3.0, 5.5, np.nan, 12.0], "os_event": [1, 0, 1, 0, 0],
                       "recist_best": ["PD", "SD", "PR", "CR", "PR"]})
    out = landmark(df, "os_months", "os_event", 3)
    assert out.index.tolist() == [1, 2, 4]  # time >= landmark kept (3.0 at risk at 3 months), NaN dropped
    assert out["os_months"].tolist() == [0.0, 2.5, 9.0]
    assert out["recist_best"].tolist() == ["SD", "PR", "PR"]
    assert df["os_months"].iloc[2] == 5.5  # input untouched
    # on the cohort: every kept patient had time >= landmark; the count matches a direct filter
    lm = landmark(COHORT, "pfs_months", "pfs_event", 6)
    assert len(lm) == int((COHORT["pfs_months"] >= 6).sum()) and (lm["pfs_months"] >= 0).all()
    with pytest.raises(AnalysisError):
        landmark(df, "os_months", "os_event", -1)
    with pytest.raises(AnalysisError):
        landmark(df, "os_months", "os_event", "soon")
    with pytest.raises(AnalysisError, match="nosuch"):
        landmark(df, "nosuch", "os_event", 3)
