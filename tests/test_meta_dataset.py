"""analysis.meta.dataset and analysis.meta.report: the 17-study file, generic files, derivations, run_meta."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.errors import AnalysisError
from analysis.meta import (
    PUBLISHED_POOLED, load_study_file, orr_os_correlation, outcome_effects, run_meta,
)
from analysis.meta.dataset import _percent_cells
from analysis.meta.report import NothingToPool

ROOT = Path(__file__).parents[1]
META17 = ROOT / "data" / "meta17.csv"
REF = json.loads((ROOT / "tests" / "reference" / "meta.json").read_text())


@pytest.fixture(scope="module")
def table():
    return load_study_file(META17)


def test_data_files_are_the_shared_reference_copies():
    frame = pd.read_csv(META17)
    assert len(frame) == 17 and frame.shape[1] == 31
    assert int(frame["n_haic"].sum() + frame["n_ctrl"].sum()) == 3070
    prov = pd.read_csv(ROOT / "data" / "meta17_provenance.csv")
    assert len(prov) == 198
    # every non-blank outcome cell has a provenance row (no number without a source)
    for col in ("os_hr", "os_lo", "os_hi", "pfs_hr", "orr_haic", "orr_ctrl", "dcr_haic", "ae34_haic"):
        ids = set(frame.loc[frame[col].notna(), "study_id"])
        assert ids == set(prov.loc[prov["field"] == col, "study_id"]), col


def test_load_meta17(table):
    assert table.kind == "outcomes"
    assert len(table.studies) == 17
    assert table.studies[0] == "Mei J 2021" and table.studies[13] == "Kudo M 2018"
    assert table.outcomes == ["os", "pfs", "orr", "dcr", "ae"]
    assert table.provenance is not None and not table.warnings
    cols = table.columns()
    assert {"platinum", "systemic", "design_class"} <= set(cols["subgroup"])
    assert "year" in cols["moderator"] and "platinum" in cols["moderator"]
    assert "os_hr" not in cols["moderator"]


def _accounted(eff, n=17):
    assert eff.k + len(eff.excluded) == n
    assert not set(eff.studies) & {e.study for e in eff.excluded}


def test_os_reported_only(table):
    eff = outcome_effects(table, "os")
    _accounted(eff)
    assert eff.studies == REF["meta17"]["os"]["study"]
    np.testing.assert_allclose(eff.yi, REF["meta17"]["os"]["yi"], rtol=1e-12)
    np.testing.assert_allclose(eff.vi, REF["meta17"]["os"]["vi"], rtol=1e-12)
    reasons = {e.study: e.reason for e in eff.excluded}
    assert reasons["Guan R 2024"] == "HR without CI" and reasons["Chang X 2024"] == "HR without CI"
    assert reasons["Fu Y 2023"] == "not reported" and reasons["Huang Z 2024"] == "not reported"
    assert not any(eff.derived)


def test_os_with_se_from_p(table):
    eff = outcome_effects(table, "os", derive=["se_from_p"])
    _accounted(eff)
    ref = REF["meta17"]["os_derived"]
    assert eff.k == 9 and sorted(eff.studies) == sorted(ref["study"])
    order = [eff.studies.index(s) for s in ref["study"]]
    np.testing.assert_allclose(eff.vi[order], ref["vi"], rtol=1e-12)
    flagged = {s for s, d in zip(eff.studies, eff.derived) if d}
    assert flagged == {"Guan R 2024", "Chang X 2024"}
    text = eff.derivation[eff.studies.index("Guan R 2024")]
    assert "Altman" in text and "upper bound" in text


def test_pfs(table):
    eff = outcome_effects(table, "pfs")
    assert eff.studies == ["Mei J 2021", "Wang D 2024", "Zheng K 2022"]
    eff = outcome_effects(table, "pfs", derive=True)
    assert eff.k == 5


def test_percentage_counts_identified_from_provenance(table):
    cells = _percent_cells(table.provenance)
    expected = {(sid, f"{o}_{arm}") for sid, o in (("1", "orr"), ("1", "dcr"), ("7", "orr"), ("7", "dcr"),
                                                   ("9", "orr"), ("9", "dcr"), ("10", "ae34"))
                for arm in ("haic", "ctrl")}
    # README: counts computed as round(percentage x n) are ORR/DCR of Mei, Chang and Huang, AEs of Zuo
    assert cells == expected


def test_counts_default_off_and_derived_on(table):
    off = outcome_effects(table, "orr")
    _accounted(off)
    assert off.studies == ["Chen S 2021", "Zheng K 2022"]
    reasons = {e.study: e.reason for e in off.excluded}
    assert "percentages" in reasons["Mei J 2021"] and "percentages" in reasons["Huang Z 2024"]
    on = outcome_effects(table, "orr", derive=True)
    _accounted(on)
    assert on.studies == REF["meta17"]["orr_all"]["study"]
    np.testing.assert_allclose(on.yi, REF["meta17"]["orr_all"]["yi"], rtol=1e-12)
    assert [s for s, d in zip(on.studies, on.derived) if d] == ["Mei J 2021", "Chang X 2024", "Huang Z 2024"]
    assert outcome_effects(table, "dcr").studies == ["Chen S 2021"]
    assert outcome_effects(table, "ae").k == 0
    ae = outcome_effects(table, "ae", derive=True)
    assert ae.studies == ["Zuo M 2024"] and ae.derived == [True]
    orr_or = outcome_effects(table, "orr", measure="OR", derive=True)
    c = orr_or.counts
    assert orr_or.measure == "OR"
    np.testing.assert_allclose(orr_or.yi, np.log(c["ai"] * (c["n2i"] - c["ci"]) / ((c["n1i"] - c["ai"]) * c["ci"])))


def test_published_constant():
    assert PUBLISHED_POOLED["os"] == {"measure": "HR", "est": 0.52, "lo": 0.48, "hi": 0.58, "i2": 51.0, "k": 17}
    assert PUBLISHED_POOLED["pfs"]["est"] == 0.54 and PUBLISHED_POOLED["pfs"]["i2"] == 65.0
    assert (PUBLISHED_POOLED["orr"]["lo"], PUBLISHED_POOLED["orr"]["hi"]) == (1.77, 2.72)
    assert PUBLISHED_POOLED["dcr"]["est"] == 1.21 and PUBLISHED_POOLED["dcr"]["k"] == 15


def test_orr_os_correlation(table):
    assert orr_os_correlation(table) is None  # only Chen and Zheng have reported ORR counts and an OS HR
    r = orr_os_correlation(table, derive=True)
    ref = REF["meta17"]["spearman_orr_os"]
    assert r.studies == ref["study"]
    assert r.rho == pytest.approx(ref["rho"], rel=1e-9) and r.p == pytest.approx(ref["pval"], rel=1e-9)


# ------------------------------------------------------------------------------------------------ generic files

def write(tmp_path, text, name="studies.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_generic_ratio_file(tmp_path):
    p = write(tmp_path, "study,hr,lo,hi,p,year,region\nA,0.5,0.3,0.8,,2001,Asia\nB,0.7,0.5,0.98,,2003,Europe\n"
                        "C,0.9,,,0.04,2002,Asia\nD,,,,,2004,Europe\nE,0.6,0.4,0.9,,2005,Asia\n")
    t = load_study_file(p)
    assert t.kind == "ratio"
    eff = outcome_effects(t)
    assert eff.studies == ["A", "B", "E"] and eff.measure == "ratio"
    assert {e.study: e.reason for e in eff.excluded} == {"C": "ratio without CI", "D": "not reported"}
    z = 1.959963984540054
    assert eff.vi[0] == pytest.approx(((math.log(0.8) - math.log(0.3)) / (2 * z)) ** 2, rel=1e-14)
    eff2 = outcome_effects(t, derive=True)
    assert "C" in eff2.studies and eff2.derived[eff2.studies.index("C")]
    rep = run_meta(t, subgroup="region", moderator="year", method="DL", derive=False)
    d = rep.to_dict()
    assert d["k"] == 3 and d["subgroups"] and d["metaregression"]["moderator"] == "year"
    assert [r["study"] for r in d["cumulative"]] == ["A", "B", "E"]
    # run_meta's default: derivations on, C (ratio with p only) pooled and flagged
    d = run_meta(t, method="DL").to_dict()
    assert d["k"] == 4 and [s["study"] for s in d["studies"] if s["derived"]] == ["C"]
    assert [r["study"] for r in d["cumulative"]] == ["A", "C", "B", "E"]
    with pytest.raises(AnalysisError, match="outcome"):
        outcome_effects(t, "os")


def test_generic_count_file(tmp_path):
    p = write(tmp_path, "study,events_exp,n_exp,events_ctrl,n_ctrl,pct_exp,pct_ctrl\nA,10,50,5,50,,\n"
                        "B,0,40,0,42,,\nC,3,30,0,31,,\nD,,60,,58,25,10\n")
    t = load_study_file(p)
    assert t.kind == "counts"
    eff = outcome_effects(t)
    assert eff.studies == ["A", "C"]
    reasons = {e.study: e.reason for e in eff.excluded}
    assert reasons["B"].startswith("no events in either arm")
    assert "percentage" in reasons["D"]
    eff = outcome_effects(t, derive=["count_from_pct"])
    assert eff.studies == ["A", "C", "D"]
    i = eff.studies.index("D")
    assert eff.counts["ai"][i] == 15 and eff.counts["ci"][i] == 6 and eff.derived[i]
    # C has a zero cell: 0.5 added to its four cells only
    j = eff.studies.index("C")
    assert eff.yi[j] == pytest.approx(math.log((3.5 / 31) / (0.5 / 32)))
    d = run_meta(t, mh=True, measure="OR", derive=True).to_dict()
    assert d["fixed"]["method"] == "MH" and d["measure"] == "OR"


@pytest.mark.parametrize("text,match", [
    ("study,hr,lo,hi\nA,0.5,0.3,0.8\nB,abc,0.5,0.9\n", r"column 'hr' must hold numbers; data row 2"),
    ("study,hr,lo,hi\nA,0.5,0.3,0.8\nB,-0.5,0.5,0.9\n", r"column 'hr' must be a ratio > 0; data row 2"),
    ("study,hr,lo,hi\nA,0.5,0.8,0.3\n", r"lower limit must be below the upper limit; data row 1"),
    ("study,hr,lo,hi\nA,0.5,0.6,0.9\nB,0.5,0.3,0.9\n", r"'hr' lies outside its confidence interval .* data row 1"),
    ("study,events_exp,n_exp,events_ctrl,n_ctrl\nA,12,10,3,10\n", r"'events_exp' exceeds 'n_exp' in data row 1"),
    ("study,events_exp,n_exp,events_ctrl,n_ctrl\nA,1.5,10,3,10\n", r"'events_exp' must hold whole numbers"),
    ("study,events_exp,n_exp,events_ctrl,n_ctrl\nA,1,0,0,10\n", r"'n_exp' must be at least 1"),
    ("name,estimate\nA,1\n", r"unrecognised study file"),
    ("study,hr,lo,hi,events_exp,n_exp,events_ctrl,n_ctrl\nA,1,0.5,2,1,2,1,2\n", r"both ratio columns"),
    ("study,hr,lo,hi\n", r"no rows"),
])
def test_malformed_files_name_column_and_row_not_values(tmp_path, text, match):
    p = write(tmp_path, text)
    with pytest.raises(AnalysisError, match=match) as exc:
        outcome_effects(load_study_file(p))
    msg = str(exc.value)
    assert "abc" not in msg and "-0.5" not in msg and "1.5" not in msg


def test_other_errors(tmp_path, table):
    with pytest.raises(AnalysisError, match="file not found"):
        load_study_file(tmp_path / "nope.csv")
    with pytest.raises(AnalysisError, match="unknown derivation"):
        outcome_effects(table, "os", derive=["guess"])
    with pytest.raises(AnalysisError, match="outcome must be one of"):
        outcome_effects(table, "qol")
    with pytest.raises(AnalysisError, match="no study can be pooled for outcome 'ae'.*derive=True") as caught:
        run_meta(table, "ae", derive=False)
    # the hint is data, not text to parse: the reason alone, and whether derivations would help
    assert isinstance(caught.value, NothingToPool) and caught.value.derivations_would_help
    assert caught.value.reason.startswith("no study can be pooled for outcome 'ae'") and \
        "derive" not in caught.value.reason and str(caught.value) == caught.value.reason + NothingToPool.HINT
    assert run_meta(table, "ae").k == 1  # default: Zuo's counts computed from percentages, flagged
    with pytest.raises(AnalysisError, match="Mantel-Haenszel"):
        run_meta(table, "os", mh=True)
    with pytest.raises(AnalysisError, match="moderator 'design' must be numeric or have exactly two levels"):
        run_meta(table, "os", moderator="design")
    with pytest.raises(AnalysisError, match="subgroup column 'nosuch'"):
        run_meta(table, "os", subgroup="nosuch")


# ------------------------------------------------------------------------------------------------ run_meta

def test_run_meta_default_derives_and_matches_r(table):
    d = run_meta(table, "os").to_dict()
    ref = REF["meta17"]["os_derived"]["models"]
    assert d["k"] == 9 and d["settings"]["derive"] == ["se_from_p", "count_from_pct"]
    for model in ("REML",):
        assert math.log(d["random"]["est"]) == pytest.approx(ref[model]["est"], rel=1e-6)
        assert math.log(d["random"]["hi"]) == pytest.approx(ref[model]["ci_ub"], rel=1e-6)
        assert d["random"]["tau2"] == pytest.approx(ref[model]["tau2"], rel=1e-6)
    assert {s["study"] for s in d["studies"] if s["derived"]} == {"Guan R 2024", "Chang X 2024"}
    only_se = run_meta(table, "orr", derive=["se_from_p"]).to_dict()
    assert only_se["k"] == 2 and only_se["settings"]["derive"] == ["se_from_p"]
    assert run_meta(table, "orr").k == 5 and run_meta(table, "orr", derive=False).k == 2


def test_run_meta_os_matches_r(table):
    rep = run_meta(table, "os", derive=False)
    d = rep.to_dict()
    json.dumps(d, allow_nan=False)
    ref = REF["meta17"]["os"]["models"]
    assert d["k"] == 7 and d["measure"] == "HR" and d["method"] == "REML"
    assert math.log(d["random"]["est"]) == pytest.approx(ref["REML"]["est"], rel=1e-6)
    assert math.log(d["random"]["lo"]) == pytest.approx(ref["REML"]["ci_lb"], rel=1e-6)
    assert math.log(d["random"]["pi_hi"]) == pytest.approx(ref["REML"]["pi_ub"], rel=1e-6)
    assert d["random"]["tau2"] == pytest.approx(ref["REML"]["tau2"], rel=1e-6)
    assert math.log(d["fixed"]["est"]) == pytest.approx(ref["FE"]["est"], rel=1e-6)
    assert d["heterogeneity"]["q"] == pytest.approx(ref["FE"]["QE"], rel=1e-6)
    assert d["heterogeneity"]["i2"] == pytest.approx(ref["FE"]["I2"], rel=1e-6)
    assert d["egger"]["p"] == pytest.approx(REF["meta17"]["os"]["egger_REML"]["lm"]["pval"], rel=1e-6)
    assert d["trimfill"]["k0"] == REF["meta17"]["os"]["trimfill_REML"]["k0"]
    np.testing.assert_allclose([math.log(r["est"]) for r in d["leave_one_out"]],
                               REF["meta17"]["os"]["leave1out_REML"]["est"], rtol=1e-6)
    assert sum(s["weight_random"] for s in d["studies"]) == pytest.approx(100)
    assert len(d["excluded"]) == 10
    assert d["published"]["est"] == 0.52
    for key in ("k", "measure", "fixed", "random", "heterogeneity", "egger", "trimfill", "leave_one_out",
                "studies", "excluded", "subgroups", "q_between", "p_between", "metaregression"):
        assert key in d


def test_run_meta_variants(table):
    fe = run_meta(table, "os", method="FE").to_dict()
    assert fe["random"] is None
    assert all(s["weight_random"] is None for s in fe["studies"])
    hk = run_meta(table, "os", method="DL", hk=True, derive=False).to_dict()
    ref = REF["meta17"]["os"]["models"]["DL_knha"]
    assert math.log(hk["random"]["hi"]) == pytest.approx(ref["ci_ub"], rel=1e-6)
    assert hk["random"]["df"] == 6
    one = run_meta(table, "dcr", derive=False).to_dict()  # only Chen reports DCR counts without derivation
    assert one["k"] == 1 and one["egger"] is None and one["trimfill"] is None and one["leave_one_out"] == []
    assert any("at least 3 studies" in n for n in one["notes"])
    sub = run_meta(table, "os", subgroup="platinum", derive=True).to_dict()
    assert [g["group"] for g in sub["subgroups"]] == ["cisplatin", "oxaliplatin"]
    assert sub["q_between"] > 0 and 0 < sub["p_between"] < 1
    assert {e["study"] for e in sub["subgroup_test"]["excluded"]} == {
        "Mei J 2021", "Guan R 2024", "Chang X 2024", "Wang D 2024"}
    mr = run_meta(table, "os", moderator="platinum").to_dict()["metaregression"]
    assert mr["k"] == 5 and "oxaliplatin" in mr["coding"]
    assert sorted(p["x"] for p in mr["points"]) == [0.0, 0.0, 1.0, 1.0, 1.0]
    assert [p["study"] for p in mr["points"]] == mr["studies"]
    assert mr["slope"] < 0  # oxaliplatin studies have lower HRs than cisplatin ones
