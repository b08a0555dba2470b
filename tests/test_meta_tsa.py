"""Trial sequential analysis (analysis/meta/tsa.py) against the R package RTSA 0.2.2 (tests/reference/tsa.R ->
tsa.json): the 17-study file's ORR (RRR 30 %) and DCR (RRR 15 %) with the paper's settings, and six public count
data sets of metafor (dat.bcg, dat.collins1985a, dat.egger2001, dat.nielweise2007, dat.lee2004, dat.li2007) in the
app's generic count layout; random effects (DL, RIS adjusted by D^2, fall-back to fixed where tau^2 = 0), fixed
Mantel-Haenszel and fixed inverse variance; zero cells and double-zero studies; futility boundaries.
z, RIS, D^2 and p_C to 1e-6; boundaries to 1e-3 (as agreed; measured: ~1e-14)."""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from analysis.errors import AnalysisError
from analysis.meta import load_study_file, run_meta
from analysis.meta.tsa import (
    TSASettings, alpha_boundaries, futility_boundaries, required_information_size, trial_sequential_analysis,
)

ROOT = Path(__file__).parents[1]
REF = json.loads((ROOT / "tests" / "reference" / "tsa.json").read_text())
CASES = REF["cases"]
Z975 = 1.959963984540054


def source(set_name: str) -> tuple[str, str | None]:
    if set_name.startswith("meta17_"):
        return str(ROOT / "data" / "meta17.csv"), set_name.split("_")[1]
    return str(ROOT / "tests" / "reference" / "data" / f"tsa_{set_name}.csv"), None


def ours(case: dict):
    s = case["settings"]
    path, outcome = source(s["set"])
    method = "DL" if s["model"] == "random" else "FE"
    mh = s["model"] == "fixed" and s["weights"] == "MH"
    settings = TSASettings(rrr=s["rrr"], alpha=s["alpha"], beta=s["beta"], pc=s.get("pc"), futility=s["futility"])
    return run_meta(path, outcome, method=method, mh=mh, tsa=settings).tsa


@pytest.fixture(scope="module")
def results():
    return {name: ours(case) for name, case in CASES.items()}


def test_reference_is_rtsa_0_2_2_with_every_convention_covered():
    assert REF["rtsa_version"] == "0.2.2"
    settings = [c["settings"] for c in CASES.values()]
    assert {(s["model"], s["weights"]) for s in settings} == {("random", "MH"), ("fixed", "MH"), ("fixed", "IV")}
    assert any(s["futility"] for s in settings) and any(s.get("pc") for s in settings)
    # random requested, tau^2 = 0 over all studies: RTSA falls back to the fixed-effect model
    assert any(c["settings"]["model"] == "random" and c["fixed"] for c in CASES.values())
    # crossings of both boundaries, and information beyond the RIS
    assert {c["stop_direction"] for c in CASES.values()} >= {"ll"}
    assert any(c["overrun"] for c in CASES.values())


@pytest.mark.parametrize("name", sorted(CASES))
def test_information_size_diversity_and_control_risk_match_rtsa(name, results):
    ref, r = CASES[name], results[name]
    assert r.ris == ref["ris"] and r.ris_fixed == ref["ris_fixed"]
    assert (r.model == "fixed") == ref["fixed"]
    assert r.pc == pytest.approx(ref["pc"], rel=1e-6)
    assert r.pi == pytest.approx(ref["pi"], rel=1e-6)
    assert r.d2 == pytest.approx(ref["d2"] if not ref["fixed"] else 0.0, abs=1e-6)
    assert r.tau2 == pytest.approx(ref["tau2"], rel=1e-6, abs=1e-12)
    assert r.i2 == pytest.approx(ref["i2"], rel=1e-6, abs=1e-12)


@pytest.mark.parametrize("name", sorted(CASES))
def test_cumulative_z_and_estimates_match_rtsa(name, results):
    ref, r = CASES[name], results[name]
    studies = [lk for lk in r.looks if lk.study is not None]
    assert [lk.n_cum for lk in studies] == [int(n) for n in ref["subjects"]]
    assert [lk.z for lk in studies] == pytest.approx(ref["z"], rel=1e-6, abs=1e-9)
    assert [lk.estimate for lk in studies] == pytest.approx(ref["estimate"], rel=1e-6)
    assert [lk.info_frac for lk in studies] == pytest.approx(np.array(ref["subjects"]) / ref["ris"], rel=1e-12)


@pytest.mark.parametrize("name", sorted(CASES))
def test_monitoring_and_futility_boundaries_match_rtsa(name, results):
    ref, r = CASES[name], results[name]
    b = ref["bounds"]
    assert r.boundary["info_frac"] == pytest.approx(b["info_frac"], rel=1e-9)
    assert r.boundary["upper"] == pytest.approx(b["upper"], abs=1e-3)
    assert r.boundary["lower"] == pytest.approx(b["lower"], abs=1e-3)
    if ref["settings"]["futility"]:
        ours_f = [np.nan if v is None else v for v in r.boundary["futility_upper"]]
        theirs = [np.nan if v is None else v for v in b["futility_upper"]]
        assert np.isnan(ours_f).tolist() == np.isnan(theirs).tolist()
        assert np.nan_to_num(ours_f) == pytest.approx(np.nan_to_num(theirs), abs=1e-3)
        lower = [np.nan if v is None else v for v in r.boundary["futility_lower"]]
        assert np.nan_to_num(lower) == pytest.approx(-np.nan_to_num(theirs), abs=1e-3)
    else:
        assert all(v is None for v in r.boundary["futility_upper"])
    # each look's boundary is the one at its position
    for lk in r.looks:
        if lk.look is not None:
            assert lk.upper == r.boundary["upper"][lk.look - 1]


@pytest.mark.parametrize("name", sorted(CASES))
def test_crossing_matches_rtsa(name, results):
    ref, r = CASES[name], results[name]
    if ref["stop_direction"] in ("ul", "ll"):
        assert r.crossing is not None
        assert r.crossing["boundary"] == {"ul": "upper", "ll": "lower"}[ref["stop_direction"]]
        assert r.crossing["look"] == ref["stop_time"]
        assert "crosses the" in r.conclusion and r.crossing["study"] in r.conclusion
    else:
        assert r.crossing is None


def _look_of(r, study):
    return next(lk for lk in r.looks if lk.study == study)


@pytest.mark.parametrize("name", sorted(CASES))
def test_adjusted_ci_matches_rtsa(name, results):
    """The CI RTSA prints: TSA-adjusted at the last look with an estimate, naive beyond 105 % of the RIS. One
    difference, on purpose: for the Mantel-Haenszel model RTSA widens the estimate with the inverse-variance
    variance wherever the cumulative tau^2 > 0 (its synthesize() overwrites the MH variance); here the MH
    variance is used -- the one of its own z and naive CI."""
    ref, r = CASES[name], results[name]
    ci = ref["adjusted_ci"]
    if ci["lo"] is None:
        assert r.adjusted_lo is None
        return
    assert r.adjusted_type == ci["type"]
    mh_quirk = (ref["settings"]["weights"] == "MH" and ref["fixed"] and ci["type"] == "TSA-adjusted"
                and r.tau2 > 0)
    if not mh_quirk:
        assert r.adjusted_lo == pytest.approx(ci["lo"], rel=1e-6)
        assert r.adjusted_hi == pytest.approx(ci["hi"], rel=1e-6)
        return
    studies = [lk.study for lk in r.looks if lk.study is not None]
    j = studies.index(r.adjusted_study)
    lk = _look_of(r, r.adjusted_study)
    est = ref["estimate"][j]
    # RTSA's own numbers: its adjusted CI = MH estimate -/+ b * sqrt(inverse-variance variance) ...
    assert math.log(ci["hi"] / est) == pytest.approx(lk.upper * math.sqrt(ref["var_fixed"][j]), rel=1e-6)
    # ... ours = MH estimate -/+ b * (the MH standard error of RTSA's own naive CI)
    se_mh = math.log(ref["naive_fixed_hi"][j] / ref["naive_fixed_lo"][j]) / (2 * Z975)
    assert math.log(r.adjusted_hi / est) == pytest.approx(lk.upper * se_mh, rel=1e-6)
    assert math.log(est / r.adjusted_lo) == pytest.approx(lk.upper * se_mh, rel=1e-6)


def test_exact_boundaries_agree_with_rtsa_where_the_spend_is_not_tiny_and_with_the_textbook():
    """RTSA stops its search once the spent probability is within 1e-9 of the target, so where a look spends
    ~1e-9 its boundary (> 5) can be off the exact root by ~0.1; elsewhere the exact roots agree to 1e-3. And the
    exact roots are the published Lan-DeMets O'Brien-Fleming boundaries (alpha 0.05 two-sided, equal looks)."""
    checked = 0
    for case in CASES.values():
        b = case["bounds"]
        exact = alpha_boundaries(b["info_frac"], case["settings"]["alpha"], exact=True)
        for mine, theirs in zip(exact, b["upper"]):
            if theirs < 4.5:
                assert mine == pytest.approx(theirs, abs=1e-3)
                checked += 1
    assert checked > 100
    assert alpha_boundaries([0.2, 0.4, 0.6, 0.8, 1.0], exact=True) == pytest.approx(
        [4.877, 3.357, 2.680, 2.290, 2.031], abs=6e-4)
    assert alpha_boundaries([0.25, 0.5, 0.75, 1.0], exact=True) == pytest.approx([4.333, 2.963, 2.359, 2.014],
                                                                                 abs=6e-4)


def test_futility_bounds_stay_inside_the_monitoring_boundaries_and_widen_towards_the_ris():
    """Without the sequential power adjustment (power_adj = FALSE) the wedge need not reach the monitoring
    boundary at the RIS; RTSA caps it there if it would pass it."""
    t = [0.3, 0.55, 0.8, 1.0]
    up = alpha_boundaries(t)
    fut = futility_boundaries(t, up, 0.05, 0.2)
    assert np.all(np.nan_to_num(fut, nan=-1.0) <= up + 1e-12)
    assert fut[-1] > 1.5
    assert np.all(np.diff(fut[np.isfinite(fut)]) > 0)     # the wedge widens towards the RIS


def test_ris_formula_and_its_rounding():
    """RIS_F = ceil(4 (z_0.975 + z_0.8)^2 p(1-p) / (p_C - p_I)^2), then ceil(RIS_F / (1 - D^2))."""
    ris, nf = required_information_size(0.2, 0.25, 0.05, 0.2, d2=0.5)
    pi = 0.2 * 0.75
    p = (0.2 + pi) / 2
    exact = 4 * (1.959963984540054 + 0.8416212335729143) ** 2 * p * (1 - p) / (0.2 - pi) ** 2
    assert nf == math.ceil(exact) and ris == math.ceil(nf / 0.5)
    assert required_information_size(0.2, 0.25) == (nf, nf)


def test_double_zero_studies_are_left_out_and_not_counted_but_change_the_control_risk_as_rtsa():
    """dat.nielweise2007 has one study without events: it is not a look, its patients are not counted, and the
    control risk is pooled over the zero-corrected counts (RTSA); the study is listed as excluded."""
    r = ours(CASES["nielweise"])
    assert [e["study"] for e in r.excluded] == ["Yucel 2004"]
    assert "Yucel 2004" not in [lk.study for lk in r.looks]
    frame = load_study_file(ROOT / "tests" / "reference" / "data" / "tsa_nielweise.csv").frame
    n_all = sum(int(a) + int(b) for a, b in zip(frame["n_exp"], frame["n_ctrl"]))
    yucel = frame[frame["study"] == "Yucel 2004"]
    assert r.n_total == n_all - int(yucel["n_exp"].iloc[0]) - int(yucel["n_ctrl"].iloc[0])
    assert r.pc == pytest.approx(CASES["nielweise"]["pc"], rel=1e-12)
    plain = sum(float(c) for c, s in zip(frame["events_ctrl"], frame["study"]) if s != "Yucel 2004") / sum(
        float(n) for n, s in zip(frame["n_ctrl"], frame["study"]) if s != "Yucel 2004")
    assert r.pc != pytest.approx(plain, rel=1e-9)


def test_the_one_percent_rule_leaves_small_early_studies_out_of_the_looks():
    r = ours(CASES["bcg"])
    small = [lk for lk in r.looks if lk.study is not None and lk.info_frac <= 0.01]
    assert small and all(lk.look is None for lk in small)
    assert any("1 %" in n for n in r.notes)


def test_studies_are_taken_in_chronological_order_whatever_the_file_order(tmp_path):
    path = ROOT / "tests" / "reference" / "data" / "tsa_lee.csv"
    frame = load_study_file(path).frame
    years = frame["year"].astype(int)
    assert years.duplicated().any()                      # ties stay in file order
    shuffled = frame.iloc[np.argsort(-years.to_numpy(), kind="stable")]   # newest first, ties kept
    out = tmp_path / "lee_reversed.csv"
    shuffled.to_csv(out, index=False)
    settings = TSASettings(rrr=0.2)
    a = run_meta(path, method="DL", tsa=settings).tsa
    b = run_meta(out, method="DL", tsa=settings).tsa
    assert [lk.n_cum for lk in a.looks] == [lk.n_cum for lk in b.looks]
    assert [lk.z for lk in a.looks if lk.study] == pytest.approx([lk.z for lk in b.looks if lk.study], rel=1e-12)
    assert [lk.z for lk in a.looks if lk.study] == pytest.approx(CASES["lee"]["z"], rel=1e-6)


def test_paper_settings_on_the_17_study_file():
    """ORR (RRR 30 %) and DCR (RRR 15 %), alpha 5 %, power 80 %, random effects: our RIS rests on 5 and 4
    studies with counts (the paper: 16 and 15; RIS 2,633 and 1,469)."""
    orr, dcr = ours(CASES["meta17_orr"]), ours(CASES["meta17_dcr"])
    assert (orr.ris, dcr.ris) == (CASES["meta17_orr"]["ris"], CASES["meta17_dcr"]["ris"])
    assert len([lk for lk in orr.looks if lk.study]) == 5 and len([lk for lk in dcr.looks if lk.study]) == 4
    assert orr.ris != 2633 and dcr.ris != 1469
    assert not orr.ris_reached and "not yet conclusive" in orr.conclusion


def test_refusals_are_clear():
    with pytest.raises(AnalysisError, match="event counts"):
        run_meta(ROOT / "data" / "meta17.csv", "os", tsa=TSASettings(rrr=0.3))
    with pytest.raises(AnalysisError, match="risk ratio"):
        run_meta(ROOT / "data" / "meta17.csv", "orr", measure="OR", tsa=TSASettings(rrr=0.3))
    with pytest.raises(AnalysisError, match="between 0 and 1"):
        trial_sequential_analysis(["a"], [1], [10], [2], [10], rrr=1.5)
    with pytest.raises(AnalysisError, match="no study has events"):
        trial_sequential_analysis(["a", "b"], [0, 0], [10, 10], [0, 0], [10, 12], rrr=0.3)
    with pytest.raises(AnalysisError, match="control-arm risk is 0"):
        trial_sequential_analysis(["a", "b"], [3, 1], [10, 10], [0, 0], [10, 12], rrr=0.3)


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "analysis", "meta", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_cli_adds_the_tsa_object_as_the_issue_specifies():
    proc = run_cli("data/meta17.csv", "--outcome", "orr", "--method", "DL", "--mh", "--tsa", "--rrr", "0.30",
                   "--alpha", "0.05", "--beta", "0.20", "--futility")
    assert proc.returncode == 0 and proc.stderr == ""
    d = json.loads(proc.stdout)
    t = d["tsa"]
    assert {"ris", "d2", "pc", "rrr", "alpha", "beta", "model", "looks", "adjusted_ci", "conclusion"} <= set(t)
    assert set(t["looks"][0]) >= {"study", "n_cum", "info_frac", "z", "upper", "lower", "futility_upper",
                                  "futility_lower"}
    assert set(t["adjusted_ci"]) >= {"lo", "hi"}
    ref = CASES["meta17_orr_futility"]
    assert t["ris"] == ref["ris"] and t["d2"] == pytest.approx(ref["d2"], rel=1e-6)
    assert [lk["z"] for lk in t["looks"] if lk["study"]] == pytest.approx(ref["z"], rel=1e-6)
    assert t["looks"][-1]["study"] is None and t["looks"][-1]["info_frac"] == 1.0
    assert t["looks"][-1]["futility_upper"] == pytest.approx(ref["bounds"]["futility_upper"][-1], abs=1e-3)
    # the rest of the contract is unchanged
    assert d["k"] == 5 and d["fixed"]["method"] == "MH" and d["random"]["method"] == "DL"
    plain = json.loads(run_cli("data/meta17.csv", "--outcome", "orr", "--method", "DL", "--mh").stdout)
    assert plain["tsa"] is None
    assert {k: v for k, v in plain.items() if k != "tsa"} == {k: v for k, v in d.items() if k != "tsa"}


@pytest.mark.parametrize("args,message", [
    (("--outcome", "os", "--tsa", "--rrr", "0.3"), "event counts"),
    (("--outcome", "orr", "--tsa"), "--tsa needs --rrr"),
    (("--outcome", "orr", "--rrr", "0.3"), "add --tsa"),
    (("--outcome", "orr", "--tsa", "--rrr", "0"), "between 0 and 1"),
    (("--outcome", "orr", "--tsa", "--rrr", "0.3", "--beta", "0.7"), "beta"),
])
def test_cli_refusals_are_one_line(args, message):
    proc = run_cli("data/meta17.csv", *args)
    assert proc.returncode == 2
    assert message in json.loads(proc.stdout)["error"]
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: ") and message in proc.stderr
