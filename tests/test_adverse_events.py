"""Adverse events (analysis.adverse_events) against R: tests/reference/tables.R -> tables.json."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis.adverse_events import ae_columns, ae_grades, ae_table, ae_term_label
from analysis.errors import AnalysisError

REF = Path(__file__).parent / "reference"
R = json.loads((REF / "tables.json").read_text())
COHORT = pd.read_csv(REF / "data" / "tables_cohort.csv")
COUNT_KEYS = ("n", "any", "grade_1_2", "grade_3_4", "grade_5", "grade_3_plus")


def close(x, y, rel=1e-6):
    return x == pytest.approx(y, rel=rel, abs=1e-12)


def _check_tests(row: dict, ref_tests: dict, two_groups: bool, seen: dict):
    for name in ("any", "grade_3_plus"):
        got, rt = row["tests"][name], ref_tests[name]
        if not rt["testable"]:
            assert got["test"] is None and got["p"] is None
            seen["none"] += 1
            continue
        want = "fisher" if two_groups or rt["min_expected"] < 5 else "chi2"
        assert got["test"] == want, (row["term"], name)
        assert close(got["p"], rt[want]), (row["term"], name)
        assert close(got["min_expected"], rt["min_expected"])
        seen[want] += 1


@pytest.mark.parametrize("grp", [None, "treatment", "arm3"])
def test_terms_and_summary_match_r(grp):
    out = ae_table(COHORT, by=grp).to_dict()
    assert out["n"] == len(COHORT)
    assert {e["term"] for e in out["events"]} == set(R["adverse"])
    seen = {"fisher": 0, "chi2": 0, "none": 0}
    rows = [(e, R["adverse"][e["term"]]) for e in out["events"]]
    rows += [(s, R["adverse_summary"][s["term"]]) for s in out["summary"]]
    for row, ref in rows:
        for key in COUNT_KEYS:
            assert row[key] == ref["overall"][key], (row["term"], key)
        assert close(row["pct_any"], 100 * ref["overall"]["any"] / ref["overall"]["n"])
        assert close(row["pct_grade_3_4"], 100 * ref["overall"]["grade_3_4"] / ref["overall"]["n"])
        if grp is None:
            assert "groups" not in row
            continue
        rg = ref["by"][grp]
        assert [g["level"] for g in row["groups"]] == list(rg["groups"])
        for g in row["groups"]:
            for key in COUNT_KEYS:
                assert g[key] == rg["groups"][g["level"]][key], (row["term"], g["level"], key)
        _check_tests(row, rg["tests"], grp == "treatment", seen)
    if grp == "arm3":  # the data exercise the chi-square, exact r x 2 and untestable branches
        assert seen["fisher"] and seen["chi2"] and seen["none"]
    if grp is not None:
        assert out["by"]["levels"] == list(R["adverse"]["ae_fever"]["by"][grp]["groups"])
        assert out["by"]["missing"] == int(COHORT[grp].isna().sum())


def test_order_by_any_grade_then_label():
    res = ae_table(COHORT)
    keys = [(-e.counts["any"], e.label.lower()) for e in res.events]
    assert keys == sorted(keys)
    df = pd.DataFrame({"ae_zeta": [1, 0, 0], "ae_alpha": [0, 2, 0], "ae_mid": [1, 1, 0]})
    assert [e.term for e in ae_table(df).events] == ["ae_mid", "ae_alpha", "ae_zeta"]


def test_summary_rows_by_hand():
    df = pd.DataFrame({"ae_a": [0, 1, 3, np.nan, np.nan, 0],
                       "ae_b": [0, 2, 1, 5, np.nan, np.nan]})
    res = ae_table(df)
    any_ae, g3 = res.summary
    # patient worst grades: 0, 2, 3, 5, (none), 0
    assert any_ae.counts["n"] == 5 and any_ae.counts["any"] == 3
    assert (any_ae.counts["grade_1_2"], any_ae.counts["grade_3_4"], any_ae.counts["grade_5"]) == (1, 1, 1)
    assert g3.counts["any"] == 2 and g3.counts["grade_1_2"] == 0 and g3.counts["grade_5"] == 1
    assert any_ae.missing == 1
    a = [e for e in res.events if e.term == "ae_a"][0]
    assert a.counts["n"] == 4 and a.counts["any"] == 2 and a.counts["pct_any"] == pytest.approx(50.0)


def test_two_group_tests_equal_scipy_fisher():
    df = pd.DataFrame({"ae_x": [1, 1, 2, 3, 0, 0, 0, 0, 4, 0], "g": list("aaaaabbbbb")})
    row = ae_table(df, by="g").events[0]
    assert row.tests["any"].test == "fisher"
    assert row.tests["any"].p == pytest.approx(stats.fisher_exact([[4, 1], [1, 4]]).pvalue)
    assert row.tests["any"].p < 0.25
    assert row.tests["grade_3_plus"].p == pytest.approx(stats.fisher_exact([[1, 4], [1, 4]]).pvalue)


def test_labels():
    assert ae_term_label("ae_upper_gastrointestinal_bleeding") == "Upper gastrointestinal bleeding"
    assert ae_term_label("ae_hand_foot_syndrome") == "Hand-Foot syndrome"
    assert ae_term_label("ae_sjogrens_syndrome") == "Sjogren's syndrome"
    assert ae_term_label("ae_elevated_tb") == "Elevated TB"
    assert ae_term_label("ae_pseudoaneurysm_hematoma") == "Pseudoaneurysm/hematoma"
    assert ae_term_label("ae_elevated_alt") == "Elevated ALT"
    assert ae_term_label("ae_fever") == "Fever"


def test_ae_columns():
    assert ae_columns(COHORT) == [c for c in COHORT.columns if c.startswith("ae_")]
    assert ae_columns(pd.DataFrame({"age": [1], "ae_": [0], "aex": [1]})) == []
    with pytest.raises(AnalysisError, match="no adverse-event columns"):
        ae_table(pd.DataFrame({"age": [1.0]}))


@pytest.mark.parametrize("bad", [2.5, 6, -1, np.inf, "grade 3"])
def test_invalid_grades_raise_with_lines_not_values(bad):
    df = pd.DataFrame({"ae_fever": [0, 1, bad, 2, bad], "ae_rash": [0, 0, 1, 1, 0]})
    with pytest.raises(AnalysisError) as exc:
        ae_table(df)
    msg = str(exc.value)
    assert "'ae_fever'" in msg and "lines 4, 6" in msg
    assert str(bad) not in msg.replace("lines 4, 6", "")


def test_grades_as_text_and_blank_are_accepted():
    df = pd.DataFrame({"ae_fever": ["0", " 3 ", "", None, "5"]})
    g = ae_grades(df, "ae_fever")
    assert g.iloc[[0, 1, 4]].tolist() == [0.0, 3.0, 5.0] and g.iloc[[2, 3]].isna().all()


def test_to_dict_contract_and_frame():
    out = ae_table(COHORT, by="treatment").to_dict()
    json.dumps(out, allow_nan=False)
    for e in out["events"] + out["summary"]:
        for key in ("term", "label", "any", "grade_1_2", "grade_3_4", "grade_5", "pct_any", "n"):
            assert key in e
        assert set(e["tests"]) == {"any", "grade_3_plus"}
    assert [s["term"] for s in out["summary"]] == ["any_ae", "any_grade_3_plus"]
    f = ae_table(COHORT, by="treatment").to_frame()
    assert f["kind"].tolist()[:2] == ["summary", "summary"] and "p_any" in f and "test_grade_3_plus" in f
    # a term without any assessed patient: percentages None, never NaN
    empty = ae_table(pd.DataFrame({"ae_x": [np.nan, np.nan], "ae_y": [0, 1]})).to_dict()
    x = [e for e in empty["events"] if e["term"] == "ae_x"][0]
    assert x["n"] == 0 and x["pct_any"] is None
    json.dumps(empty, allow_nan=False)
