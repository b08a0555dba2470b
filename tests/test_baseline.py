"""Table 1 (analysis.baseline) against R: tests/reference/tables.R -> tables.json."""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special, stats

from analysis.baseline import (BASELINE_COLUMNS, baseline_table, contingency_test, fisher_exact_rxc,
                               numeric_tests)
from analysis.errors import AnalysisError
from tests.support.examples import examples

REF = Path(__file__).parent / "reference"
R = json.loads((REF / "tables.json").read_text())
COHORT = pd.read_csv(REF / "data" / "tables_cohort.csv")
CONTINGENCY = pd.read_csv(REF / "data" / "tables_contingency.csv")
NUMERIC = ["age", "tb", "afp", "albumin", "score"]
CATEGORICAL = ["sex", "etiology", "child_pugh", "cnlc_stage", "shunt", "ehm", "prior_tace"]


def close(x, y, rel=1e-6):
    if y is None:
        return x is None or (isinstance(x, float) and np.isnan(x))
    return x == pytest.approx(y, rel=rel, abs=1e-12)


def _table(table_id: str) -> np.ndarray:
    s = CONTINGENCY[CONTINGENCY["table"] == table_id]
    m = np.zeros((s["row"].max(), s["col"].max()), dtype=int)
    m[s["row"] - 1, s["col"] - 1] = s["count"]
    return m


def brute_force_fisher(table) -> float:
    """Oracle: enumerate every table with the observed margins (cell by cell), sum P <= P_obs (R's relErr)."""
    t = np.asarray(table, dtype=int)
    t = t[t.sum(axis=1) > 0][:, t.sum(axis=0) > 0]
    if t.shape[0] < 2 or t.shape[1] < 2:
        return 1.0
    rows, cols, n = t.sum(axis=1), t.sum(axis=0), t.sum()
    lf = lambda x: float(special.gammaln(np.asarray(x) + 1).sum())  # noqa: E731
    const = lf(rows) + lf(cols) - lf(n)
    obs = const - lf(t)
    total = 0.0

    def fill(i, colrem, acc):
        nonlocal total
        if i == len(rows) - 1:
            logp = const + acc - lf(colrem)
            if logp <= obs + np.log1p(1e-7):
                total += np.exp(logp)
            return
        for x in _row_vectors(rows[i], colrem):
            fill(i + 1, colrem - x, acc - lf(x))

    fill(0, cols.copy(), 0.0)
    return min(1.0, total)


def _row_vectors(total, caps):
    if len(caps) == 1:
        if total <= caps[0]:
            yield np.array([total])
        return
    for x in range(max(0, total - caps[1:].sum()), min(total, caps[0]) + 1):
        for rest in _row_vectors(total - x, caps[1:]):
            yield np.concatenate([[x], rest])


def _rows(res, variable):
    return {r["level"]: r for r in res.rows if r["variable"] == variable}


# --- contingency machinery ----------------------------------------------------------------------------------

@pytest.mark.parametrize("table_id", sorted(R["contingency"]))
def test_fisher_rxc_matches_r(table_id):
    ref = R["contingency"][table_id]
    assert close(fisher_exact_rxc(_table(table_id)), ref["fisher"])
    # the transposed table is the same test
    assert close(fisher_exact_rxc(_table(table_id).T), ref["fisher"])


@pytest.mark.parametrize("table_id", sorted(R["contingency"]))
def test_contingency_rule_matches_r(table_id):
    ref = R["contingency"][table_id]
    res = contingency_test(_table(table_id))
    assert close(res.min_expected, ref["min_expected"])
    if ref["min_expected"] < 5:
        assert res.test == "fisher" and close(res.p, ref["fisher"])
    else:
        assert res.test == "chi2" and close(res.p, ref["chi2"]) and close(res.statistic, ref["chi2_stat"])


@settings(max_examples=examples(80), deadline=None)
@given(st.integers(2, 4), st.integers(2, 3), st.data())
def test_fisher_rxc_equals_brute_force(r, c, data):
    cells = data.draw(st.lists(st.integers(0, 4), min_size=r * c, max_size=r * c))
    t = np.array(cells).reshape(r, c)
    assert fisher_exact_rxc(t) == pytest.approx(brute_force_fisher(t), rel=1e-9, abs=1e-15)


@settings(max_examples=examples(60), deadline=None)
@given(st.lists(st.integers(0, 25), min_size=4, max_size=4))
def test_fisher_rxc_equals_scipy_on_2x2(cells):
    t = np.array(cells).reshape(2, 2)
    if (t.sum(axis=0) == 0).any() or (t.sum(axis=1) == 0).any():
        assert fisher_exact_rxc(t) == 1.0
        return
    assert fisher_exact_rxc(t) == pytest.approx(stats.fisher_exact(t).pvalue, rel=1e-9, abs=1e-14)


def test_fisher_rxc_all_tables_and_work_limit():
    # the most likely table: every table is at most as likely, so p = 1 (sum of all probabilities)
    assert fisher_exact_rxc(np.array([[4, 4, 4], [4, 4, 4], [4, 4, 4]])) == pytest.approx(1.0)
    big = np.array([[20, 15, 10, 5, 3], [12, 18, 9, 7, 1], [5, 5, 20, 3, 2], [9, 9, 9, 9, 0]])
    assert fisher_exact_rxc(big, max_work=10_000) is None


def test_fisher_rxc_large_sparse_table_is_fast_and_matches_r():
    ref = R["baseline"]["arm3"]["categorical"]["cnlc_stage"]
    table = np.array([ref["counts"][g] for g in ("A", "B", "C")])
    start = time.perf_counter()
    assert close(fisher_exact_rxc(table), ref["fisher"])
    assert time.perf_counter() - start < 5.0


def test_contingency_falls_back_to_chi2_when_exact_too_large():
    t = np.array([[0, 30, 20, 10, 2], [10, 20, 30, 40, 1], [25, 25, 25, 25, 3]])
    res = contingency_test(t, max_work=1000)
    assert res.min_expected < 5
    chi = stats.chi2_contingency(t, correction=False)
    assert res.test == "chi2" and res.p == pytest.approx(chi.pvalue) and "too large" in res.note


def test_contingency_without_two_groups_is_not_tested():
    res = contingency_test(np.array([[3, 4], [0, 0]]))
    assert res.test is None and res.p is None and res.note
    res = contingency_test(np.array([[3, 0], [5, 0]]))
    assert res.p is None


def test_2x2_large_counts_uses_chi2_in_baseline_but_fisher_when_asked():
    t = np.array([[30, 20], [15, 35]])
    assert contingency_test(t).test == "chi2"
    res = contingency_test(t, fisher_if_2x2=True)
    assert res.test == "fisher" and res.p == pytest.approx(stats.fisher_exact(t).pvalue)


def test_numeric_tests_undefined_cases():
    para, rank = numeric_tests([np.array([1.0, 1.0]), np.array([1.0, 1.0, 1.0])])
    assert para.p is None and rank.p is None and para.note and rank.note
    para, rank = numeric_tests([np.array([1.0, 2.0]), np.array([])])
    assert para.test is None and para.p is None


# --- the table against R --------------------------------------------------------------------------------------

@pytest.mark.parametrize("grp", ["treatment", "arm3"])
def test_numeric_rows_match_r(grp):
    ref = R["baseline"][grp]
    res = baseline_table(COHORT, by=grp, variables=NUMERIC + CATEGORICAL)
    assert res.n == ref["n"]
    assert res.by_missing == int(COHORT[grp].isna().sum())
    for v in NUMERIC:
        rv = ref["numeric"][v]
        rows = _rows(res, v)
        mean_row, med_row = rows["Mean ± SD"], rows["Median (Q1, Q3)"]
        for col, rs in [("Overall", rv["overall"])] + list(rv["groups"].items()):
            assert mean_row["values"][col]["n"] == rs["n"]
            for key in ("mean", "sd"):
                assert close(mean_row["values"][col][key], rs[key]), (v, col, key)
            for key in ("median", "q1", "q3", "min", "max"):
                assert close(med_row["values"][col][key], rs[key]), (v, col, key)
        if grp == "treatment":
            assert mean_row["test"] == "welch_t" and close(mean_row["p"], rv["welch_t"]["p"])
            t_test = res.tests[v][0]
            assert close(t_test.statistic, rv["welch_t"]["statistic"]) and close(t_test.df, rv["welch_t"]["df"])
            assert med_row["test"] == "wilcoxon" and close(med_row["p"], rv["wilcoxon"]["p"])
            assert close(res.tests[v][1].statistic, rv["wilcoxon"]["statistic"])
        else:
            assert mean_row["test"] == "anova" and close(mean_row["p"], rv["anova"]["p"])
            assert close(mean_row["p"], rv["anova"]["aov_p"])
            assert close(res.tests[v][0].statistic, rv["anova"]["statistic"])
            assert med_row["test"] == "kruskal" and close(med_row["p"], rv["kruskal"]["p"])
            assert close(res.tests[v][1].statistic, rv["kruskal"]["statistic"])


@pytest.mark.parametrize("grp", ["treatment", "arm3"])
def test_categorical_rows_match_r(grp):
    ref = R["baseline"][grp]
    res = baseline_table(COHORT, by=grp, variables=CATEGORICAL)
    n_tests = {"fisher": 0, "chi2": 0}
    for v in CATEGORICAL:
        rv = ref["categorical"][v]
        rows = _rows(res, v)
        assert set(rv["levels"]) == {k for k in rows if k not in (None, "Missing")}
        for level_idx, level in enumerate(rv["levels"]):
            for g, counts in rv["counts"].items():
                cell = rows[level]["values"][g]
                assert cell["n"] == counts[level_idx]
                denom = sum(counts)
                assert cell["denominator"] == denom
                assert close(cell["pct"], 100 * counts[level_idx] / denom)
            assert rows[level]["values"]["Overall"]["n"] == sum(c[level_idx] for c in rv["counts"].values())
        if rv["missing"]:
            assert rows["Missing"]["values"]["Overall"]["n"] == rv["missing"]
        else:
            assert "Missing" not in rows
        head = rows[None]
        assert close(res.tests[v][0].min_expected, rv["min_expected"])
        expected_test = "fisher" if rv["min_expected"] < 5 else "chi2"
        n_tests[expected_test] += 1
        assert head["test"] == expected_test, v
        assert close(head["p"], rv[expected_test]), v
    assert n_tests["fisher"] > 0 and n_tests["chi2"] > 0  # the data exercise both branches


def test_overall_only_matches_r_on_all_patients():
    res = baseline_table(COHORT, variables=NUMERIC)
    assert res.columns == ["Overall"] and res.n == len(COHORT)
    for v in NUMERIC:
        got = _rows(res, v)["Median (Q1, Q3)"]["values"]["Overall"]
        ref = R["overall_numeric"][v]
        for key in ("median", "q1", "q3"):
            assert close(got[key], ref[key])
        assert _rows(res, v)["Mean ± SD"]["p"] is None and not res.tests


def test_default_variables_and_types():
    res = baseline_table(COHORT, by="treatment")
    names = [v["variable"] for v in res.variables]
    canonical = [c for c in BASELINE_COLUMNS if c in COHORT and c != "treatment"]
    assert names[: len(canonical)] == canonical
    assert set(names[len(canonical):]) == {"arm3", "score", "prior_tace"}
    for excluded in ("patient_id", "pfs_months", "os_event", "recist_best", "mrecist_best", "ae_fever",
                     "treatment"):
        assert excluded not in names
    types = {v["variable"]: v["type"] for v in res.variables}
    assert types["prior_tace"] == "categorical" and types["score"] == "numeric" and types["sex"] == "categorical"
    assert res.columns == ["Overall", "HAIC + TKIs or ICIs", "HAIC + ICIs + TKIs/anti-VEGF"]
    assert res.column_n["Overall"] == sum(res.column_n[c] for c in res.columns[1:])


def test_types_override_and_label():
    res = baseline_table(COHORT, variables=["score"], types={"score": "categorical"})
    assert {r["level"] for r in res.rows} >= {"0", "6"}
    with pytest.raises(AnalysisError):
        baseline_table(COHORT, variables=["score"], types={"score": "ordinal"})


def test_frame_and_text_formatting():
    df = pd.DataFrame({"age": [50.0, 60.0, 70.0, np.nan], "sex": ["Male", "Female", "Male", "Male"]})
    res = baseline_table(df, digits=1)
    f = res.frame
    assert list(f.columns) == ["variable", "label", "level", "Overall", "p", "test", "note"]
    mean_row = f[(f.variable == "age") & (f.level == "Mean ± SD")].iloc[0]
    assert mean_row["Overall"] == "60.0 ± 10.0"
    assert f[(f.variable == "age") & (f.level == "Median (Q1, Q3)")].iloc[0]["Overall"] == "60.0 (55.0, 65.0)"
    assert f[(f.variable == "age") & (f.level == "Missing")].iloc[0]["Overall"] == "1"
    assert f[(f.variable == "sex") & (f.level == "Male")].iloc[0]["Overall"] == "3 (75.0%)"
    # canonical order: Male before Female
    levels = f[f.variable == "sex"]["level"].tolist()
    assert levels == [None, "Male", "Female"]


def test_to_dict_is_json_safe_with_single_patient_group():
    df = pd.DataFrame({"age": [50.0, 60.0, 70.0], "grp": ["a", "a", "b"], "sex": ["Male", "Female", "Male"]})
    out = baseline_table(df, by="grp").to_dict()
    text = json.dumps(out, allow_nan=False)
    assert out["by"] == {"column": "grp", "levels": ["a", "b"], "n": {"a": 2, "b": 1}, "missing": 0}
    age_mean = [r for r in out["rows"] if r["variable"] == "age" and r["level"] == "Mean ± SD"][0]
    assert age_mean["values"]["b"]["sd"] is None and "NaN" not in text
    assert age_mean["p"] is None  # Welch needs two values per group


def test_missing_group_excluded_and_counted():
    df = pd.DataFrame({"age": [50.0, 60.0, 70.0, 80.0, 90.0], "grp": ["a", "b", None, "a", "b"]})
    res = baseline_table(df, by="grp")
    assert res.n == 4 and res.by_missing == 1
    assert _rows(res, "age")["Mean ± SD"]["values"]["Overall"]["mean"] == pytest.approx(70.0)


def test_errors_name_column_and_line_not_values():
    df = pd.DataFrame({"age": [50, "sixty-two", 70], "grp": ["a", "b", "a"]})
    with pytest.raises(AnalysisError) as exc:
        baseline_table(df, by="grp")
    msg = str(exc.value)
    assert "'age'" in msg and "line 3" in msg and "sixty" not in msg
    with pytest.raises(AnalysisError, match="nosuch"):
        baseline_table(df, by="nosuch")
    with pytest.raises(AnalysisError, match="nosuch"):
        baseline_table(df, variables=["nosuch"])
    with pytest.raises(AnalysisError, match="grouping column"):
        baseline_table(df.assign(age=[1.0, 2.0, 3.0]), by="grp", variables=["age", "grp"])


def test_error_lines_refer_to_the_file_even_when_groups_are_missing():
    # line 2 has no group and is left out of the table; the bad value on line 4 must still be reported as line 4
    df = pd.DataFrame({"score": [1.0, 2.0, "n/a?", 4.0], "grp": [None, "a", "b", "a"]})
    with pytest.raises(AnalysisError) as exc:
        baseline_table(df, by="grp", variables=["score"], types={"score": "numeric"})
    assert "line 4" in str(exc.value) and "n/a" not in str(exc.value)
    with pytest.raises(AnalysisError, match="infinite"):
        baseline_table(pd.DataFrame({"age": [1.0, np.inf]}))
