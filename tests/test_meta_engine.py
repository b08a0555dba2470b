"""analysis.meta engine against metafor 3.8 (tests/reference/meta.json, written by tests/reference/meta.R)
and against library/closed-form oracles. Tolerance ~1e-6 relative."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from statsmodels.stats.meta_analysis import combine_effects

from analysis.errors import AnalysisError
from analysis.meta import (
    EffectData, cumulative, egger_test, estimate_tau2, fixed_effect, funnel_data, heterogeneity, leave_one_out,
    log_ratio_from_ci, log_ratio_from_counts, mantel_haenszel, meta_analysis, meta_regression, random_effects,
    se_from_p, spearman_correlation, subgroup_analysis, trim_and_fill,
)
from tests.support.examples import examples
from analysis.meta.effects import double_zero, parse_p_value

REF = json.loads((Path(__file__).parent / "reference" / "meta.json").read_text())
RTOL = 1e-6


def close(actual, expected, rtol=RTOL, atol=1e-10):
    np.testing.assert_allclose(np.asarray(actual, dtype=float), np.asarray(expected, dtype=float),
                               rtol=rtol, atol=atol)


# ------------------------------------------------------------------------------------------------ datasets

def bcg(measure):
    d = REF["bcg"]["data"]
    yi, vi = log_ratio_from_counts(d["ai"], d["n1i"], d["ci"], d["n2i"], measure)
    return d, yi, vi


def hackshaw():
    d = REF["hackshaw"]["data"]
    yi, vi = log_ratio_from_ci(d["or"], d["or_lb"], d["or_ub"])
    return d, yi, vi


def niel(measure):
    d = REF["nielweise"]["data"]
    dz = double_zero(d["ai"], d["n1i"], d["ci"], d["n2i"])
    keep = ~dz
    ai, n1, ci, n2 = (np.asarray(d[c], dtype=float)[keep] for c in ("ai", "n1i", "ci", "n2i"))
    yi, vi = log_ratio_from_counts(ai, n1, ci, n2, measure)
    return d, keep, (ai, n1, ci, n2), yi, vi


CASES = {
    "bcg_RR": (lambda: bcg("RR")[1:], REF["bcg"]["RR"]["models"]),
    "bcg_OR": (lambda: bcg("OR")[1:], REF["bcg"]["OR"]["models"]),
    "hackshaw_ci": (lambda: hackshaw()[1:], REF["hackshaw"]["from_ci"]["models"]),
    "hackshaw_stored": (lambda: (np.array(REF["hackshaw"]["data"]["yi"]), np.array(REF["hackshaw"]["data"]["vi"])),
                        REF["hackshaw"]["stored"]["models"]),
    "niel_RR": (lambda: niel("RR")[3:], REF["nielweise"]["RR"]["models"]),
    "niel_OR": (lambda: niel("OR")[3:], REF["nielweise"]["OR"]["models"]),
    "meta17_os": (lambda: (np.array(REF["meta17"]["os"]["yi"]), np.array(REF["meta17"]["os"]["vi"])),
                  REF["meta17"]["os"]["models"]),
    "meta17_os_derived": (lambda: (np.array(REF["meta17"]["os_derived"]["yi"]),
                                   np.array(REF["meta17"]["os_derived"]["vi"])),
                          REF["meta17"]["os_derived"]["models"]),
    "meta17_pfs": (lambda: (np.array(REF["meta17"]["pfs"]["yi"]), np.array(REF["meta17"]["pfs"]["vi"])),
                   REF["meta17"]["pfs"]["models"]),
    "meta17_orr_all": (lambda: (np.array(REF["meta17"]["orr_all"]["yi"]), np.array(REF["meta17"]["orr_all"]["vi"])),
                       REF["meta17"]["orr_all"]["models"]),
    "meta17_orr_reported": (lambda: (np.array(REF["meta17"]["orr_reported"]["yi"]),
                                     np.array(REF["meta17"]["orr_reported"]["vi"])),
                            REF["meta17"]["orr_reported"]["models"]),
    "meta17_dcr_all": (lambda: (np.array(REF["meta17"]["dcr_all"]["yi"]), np.array(REF["meta17"]["dcr_all"]["vi"])),
                       REF["meta17"]["dcr_all"]["models"]),
}
MODEL_KEYS = ["FE", "DL", "REML", "PM", "DL_knha", "REML_knha", "PM_knha", "DL_adhoc", "REML_adhoc", "PM_adhoc"]


# ------------------------------------------------------------------------------------------------ effects

def test_effect_sizes_match_escalc():
    for ms in ("RR", "OR"):
        _, yi, vi = bcg(ms)
        close(yi, REF["bcg"][ms]["yi"])
        close(vi, REF["bcg"][ms]["vi"])
        d, keep, _, yi, vi = niel(ms)
        ref_yi = np.array([np.nan if v is None else v for v in REF["nielweise"][ms]["yi"]], dtype=float)
        ref_vi = np.array([np.nan if v is None else v for v in REF["nielweise"][ms]["vi"]], dtype=float)
        # the double-zero study is the one escalc(drop00=TRUE) drops
        assert list(np.flatnonzero(~keep) + 1) == REF["nielweise"][ms]["dropped"]
        close(yi, ref_yi[keep])
        close(vi, ref_vi[keep])
    _, yi, vi = hackshaw()
    close(yi, REF["hackshaw"]["from_ci"]["yi"])
    close(vi, REF["hackshaw"]["from_ci"]["vi"])


def test_continuity_correction_only_for_zero_cell_studies():
    yi, vi = log_ratio_from_counts([0, 5], [10, 10], [3, 4], [10, 10], "RR")
    # study 1 has a zero cell: 0.5 added to all four cells; study 2 untouched
    assert yi[0] == pytest.approx(math.log((0.5 / 11) / (3.5 / 11)))
    assert vi[0] == pytest.approx(1 / 0.5 - 1 / 11 + 1 / 3.5 - 1 / 11)
    assert yi[1] == pytest.approx(math.log(5 / 4))
    assert vi[1] == pytest.approx(1 / 5 - 1 / 10 + 1 / 4 - 1 / 10)
    assert list(double_zero([0, 3, 10], [10, 10, 10], [0, 0, 8], [12, 12, 8])) == [True, False, True]


# ------------------------------------------------------------------------------------------------ pooling

@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("key", MODEL_KEYS)
def test_pooled_estimates_match_metafor(case, key):
    data, models = CASES[case]
    yi, vi = data()
    ref = models[key]
    method = key.split("_")[0]
    hk = key.endswith("knha")
    adhoc = key.endswith("adhoc")
    if method == "FE":
        est = fixed_effect(yi, vi)
    else:
        est = random_effects(yi, vi, method, hk=hk, hk_adhoc=adhoc)
    close(est.log_est, ref["est"])
    close(est.se, ref["se"])
    close([est.log_lo, est.log_hi], [ref["ci_lb"], ref["ci_ub"]])
    close(est.stat, ref["stat"])
    close(est.p, ref["pval"], atol=1e-300)
    close(est.tau2, ref["tau2"], atol=1e-12)
    het = heterogeneity(yi, vi, est.tau2)
    close(het.q, ref["QE"])
    close(het.i2 if method == "FE" else het.i2_tau2, ref["I2"], atol=1e-8)
    close(het.h2 if method == "FE" else het.h2_tau2, ref["H2"])
    if method != "FE":
        close([math.log(est.pi_lo), math.log(est.pi_hi)], [ref["pi_lb"], ref["pi_ub"]])
    # weights (percent) as metafor weights()
    tau2 = est.tau2
    w = 1 / (vi + tau2)
    close(100 * w / w.sum(), ref["weights"])


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("method", ["DL", "REML", "PM"])
def test_prediction_interval_variants(case, method):
    data, models = CASES[case]
    yi, vi = data()
    ref = models[method]
    k = len(yi)
    meta = random_effects(yi, vi, method, pi="meta")  # t on k-1: metafor predict(pi.type="t")
    close([math.log(meta.pi_lo), math.log(meta.pi_hi)], [ref["pi_t_lb"], ref["pi_t_ub"]])
    assert meta.pi_df == k - 1
    hts = random_effects(yi, vi, method, pi="hts")  # t on k-2: metafor predict(pi.type="riley")
    if k >= 3:
        close([math.log(hts.pi_lo), math.log(hts.pi_hi)], [ref["pi_riley_lb"], ref["pi_riley_ub"]])
        assert hts.pi_df == k - 2
    else:
        assert math.isnan(hts.pi_lo)


def test_hk_adhoc_is_the_floor_formula():
    # homogeneous studies: the Hartung-Knapp factor q is < 1, so the ad hoc version uses 1 (classic variance)
    yi = np.array([0.10, 0.12, 0.09, 0.11, 0.10])
    vi = np.array([0.04, 0.05, 0.03, 0.06, 0.05])
    plain = random_effects(yi, vi, "DL", hk=True)
    adhoc = random_effects(yi, vi, "DL", hk_adhoc=True)
    classic = random_effects(yi, vi, "DL")
    assert plain.hk_factor < 1
    assert plain.se == pytest.approx(math.sqrt(plain.hk_factor) * classic.se, rel=1e-12)
    assert adhoc.se == pytest.approx(classic.se, rel=1e-12)
    crit = stats.t.ppf(0.975, 4)
    assert adhoc.log_hi - adhoc.log_est == pytest.approx(crit * classic.se, rel=1e-12)
    assert adhoc.p == pytest.approx(2 * stats.t.sf(abs(classic.log_est / classic.se), 4), rel=1e-12)
    # heterogeneous data: q > 1 and both versions agree
    yi2 = np.array([-0.9, 0.4, -0.2, 0.8, -0.5])
    a, b = random_effects(yi2, vi, "REML", hk=True), random_effects(yi2, vi, "REML", hk_adhoc=True)
    assert a.hk_factor > 1 and a.se == pytest.approx(b.se, rel=1e-14)


@pytest.mark.parametrize("ds", ["bcg", "niel"])
@pytest.mark.parametrize("measure", ["RR", "OR"])
def test_mantel_haenszel_matches_rma_mh(ds, measure):
    if ds == "bcg":
        d = REF["bcg"]["data"]
        counts = (d["ai"], d["n1i"], d["ci"], d["n2i"])
        ref = REF["bcg"][measure]["MH"]
        eff = EffectData(d["study"], *bcg(measure)[1:], measure,
                         counts={k: np.asarray(v, float) for k, v in zip(("ai", "n1i", "ci", "n2i"), counts)})
    else:
        d, keep, counts, yi, vi = niel(measure)
        ref = dict(REF["nielweise"][measure]["MH"])
        # rma.mh keeps the double-zero study in the MH sums (drop00=c(TRUE, FALSE)) where it has weight 0
        w_all = np.asarray(ref["weights"], dtype=float)
        assert np.all(w_all[~keep] == 0)
        ref["weights"] = w_all[keep]
        eff = EffectData([s for s, k in zip(d["study"], keep) if k], yi, vi, measure,
                         counts=dict(zip(("ai", "n1i", "ci", "n2i"), counts)))
    est, w = mantel_haenszel(*counts, measure)
    close(est.log_est, ref["est"])
    close(est.se, ref["se"])
    close([est.log_lo, est.log_hi], [ref["ci_lb"], ref["ci_ub"]])
    close(est.p, ref["pval"], atol=1e-300)
    close(w, ref["weights"])
    res = meta_analysis(eff, "REML", mh=True)
    assert res.fixed_reported.method == "MH"
    close(res.mh_heterogeneity.q, ref["QE"])
    close(res.mh_heterogeneity.i2, ref["I2"], atol=1e-8)
    close([s.weight_fixed for s in res.studies], ref["weights"])


def test_meta17_mantel_haenszel():
    for key in ("orr_all", "dcr_all"):
        r = REF["meta17"][key]
        # rebuild the counts from the file through the dataset layer (derived counts included)
        from analysis.meta import load_study_file, outcome_effects
        table = load_study_file(Path(__file__).parents[1] / "data" / "meta17.csv")
        eff = outcome_effects(table, key.split("_")[0], "RR", derive=True)
        assert eff.studies == r["study"]
        est, _ = mantel_haenszel(eff.counts["ai"], eff.counts["n1i"], eff.counts["ci"], eff.counts["n2i"], "RR")
        close([est.log_est, est.log_lo, est.log_hi, est.p], [r["MH"]["est"], r["MH"]["ci_lb"], r["MH"]["ci_ub"],
                                                             r["MH"]["pval"]])


# ------------------------------------------------------------------------------------------------ bias

BIAS_CASES = {
    "bcg_RR": (lambda: bcg("RR")[1:], REF["bcg"]["RR"]),
    "bcg_OR": (lambda: bcg("OR")[1:], REF["bcg"]["OR"]),
    "hackshaw": (lambda: hackshaw()[1:], REF["hackshaw"]["from_ci"]),
    "niel_RR": (lambda: niel("RR")[3:], REF["nielweise"]["RR"]),
    "niel_OR": (lambda: niel("OR")[3:], REF["nielweise"]["OR"]),
    "meta17_os": (lambda: (np.array(REF["meta17"]["os"]["yi"]), np.array(REF["meta17"]["os"]["vi"])),
                  REF["meta17"]["os"]),
    "meta17_os_derived": (lambda: (np.array(REF["meta17"]["os_derived"]["yi"]),
                                   np.array(REF["meta17"]["os_derived"]["vi"])), REF["meta17"]["os_derived"]),
    "meta17_pfs": (lambda: (np.array(REF["meta17"]["pfs"]["yi"]), np.array(REF["meta17"]["pfs"]["vi"])),
                   REF["meta17"]["pfs"]),
    "meta17_orr_all": (lambda: (np.array(REF["meta17"]["orr_all"]["yi"]),
                                np.array(REF["meta17"]["orr_all"]["vi"])), REF["meta17"]["orr_all"]),
}


@pytest.mark.parametrize("case", sorted(BIAS_CASES))
def test_egger_matches_regtest(case):
    data, ref = BIAS_CASES[case]
    yi, vi = data()
    for key in [k for k in ref if k.startswith("egger_")]:
        method = key.split("_")[1]
        lm = egger_test(yi, vi, "lm")
        e = ref[key]["lm"]
        close([lm.stat, lm.p, lm.df, math.log(lm.limit_est), math.log(lm.limit_lo), math.log(lm.limit_hi),
               lm.bias], [e["stat"], e["pval"], e["df"], e["est"], e["ci_lb"], e["ci_ub"], e["bias"]])
        rma = egger_test(yi, vi, "rma", method=method)
        e = ref[key]["rma"]
        close([rma.stat, rma.p, math.log(rma.limit_est), math.log(rma.limit_lo), math.log(rma.limit_hi),
               rma.bias], [e["stat"], e["pval"], e["est"], e["ci_lb"], e["ci_ub"], e["bias"]])


def test_egger_classical_form_equals_weighted_regression():
    # Egger 1997: regress yi/sei on 1/sei; the intercept's t-test is the lm regtest slope test
    _, yi, vi = hackshaw()
    sei = np.sqrt(vi)
    res = stats.linregress(1 / sei, yi / sei)
    t_int = res.intercept / res.intercept_stderr
    lm = egger_test(yi, vi, "lm")
    assert lm.stat == pytest.approx(t_int, rel=1e-9)
    assert lm.bias == pytest.approx(res.intercept, rel=1e-9)


@pytest.mark.parametrize("case", sorted(BIAS_CASES))
def test_trim_and_fill_matches_metafor(case):
    data, ref = BIAS_CASES[case]
    yi, vi = data()
    for key in [k for k in ref if k.startswith("trimfill_")]:
        method = key.split("_")[1]
        t = trim_and_fill(yi, vi, method)
        r = ref[key]
        assert t.k0 == r["k0"]
        assert t.side == r["side"]
        close(t.se_k0, r["se_k0"])
        close([t.estimate.log_est, t.estimate.se, t.estimate.log_lo, t.estimate.log_hi, t.estimate.p],
              [r["est"], r["se"], r["ci_lb"], r["ci_ub"], r["pval"]], atol=1e-300)
        close(t.estimate.tau2, r["tau2"], atol=1e-12)
        assert t.k_total == r["k"]
        if t.k0:
            filled_yi = np.atleast_1d(r["filled_yi"])
            close([f["log_est"] for f in t.filled], filled_yi)
            close([f["se"] ** 2 for f in t.filled], np.atleast_1d(r["filled_vi"]))


def test_trim_and_fill_fills_the_sparse_side():
    # a funnel with small studies only on the right: missing studies should be imputed on the left
    rng = np.random.default_rng(1)
    se = np.concatenate([np.full(6, 0.1), np.linspace(0.2, 0.6, 10)])
    yi = 0.0 + np.concatenate([rng.normal(0, 0.1, 6), np.abs(rng.normal(0, 1, 10)) * se[6:] + 0.3])
    t = trim_and_fill(yi, se**2, "FE")
    assert t.side == "left" and t.k0 > 0
    assert t.estimate.log_est < fixed_effect(yi, se**2).log_est


# ------------------------------------------------------------------------------------------------ sensitivity

@pytest.mark.parametrize("case", ["bcg_RR", "bcg_OR", "hackshaw", "niel_RR", "niel_OR", "meta17_os"])
def test_leave_one_out_matches_metafor(case):
    if case.startswith("bcg"):
        d, yi, vi = bcg(case[-2:])
        ref = REF["bcg"][case[-2:]]
        labels = d["study"]
    elif case == "hackshaw":
        d, yi, vi = hackshaw()
        ref = REF["hackshaw"]["from_ci"]
        labels = d["study"]
    elif case.startswith("niel"):
        d, keep, _, yi, vi = niel(case[-2:])
        ref = REF["nielweise"][case[-2:]]
        labels = [s for s, k in zip(d["study"], keep) if k]
    else:
        ref = REF["meta17"]["os"]
        yi, vi, labels = np.array(ref["yi"]), np.array(ref["vi"]), ref["study"]
    eff = EffectData(labels, yi, vi, "ratio")
    for key in [k for k in ref if k.startswith("leave1out_")]:
        method = key.split("_")[1]
        rows = leave_one_out(eff, method)
        r = ref[key]
        assert [x.study for x in rows] == list(labels)
        close([x.log_est for x in rows], r["est"])
        close([x.se for x in rows], r["se"])
        close([math.log(x.lo) for x in rows], r["ci_lb"])
        close([x.p for x in rows], r["pval"], atol=1e-300)
        close([x.q for x in rows], r["Q"])
        close([x.i2_tau2 for x in rows], r["I2"], atol=1e-8)
        if method != "FE":
            close([x.tau2 for x in rows], r["tau2"], atol=1e-12)


@pytest.mark.parametrize("case,method", [("bcg_RR", "REML"), ("bcg_RR", "DL"), ("bcg_OR", "REML"),
                                         ("bcg_OR", "DL"), ("hackshaw", "REML")])
def test_cumulative_matches_metafor(case, method):
    if case.startswith("bcg"):
        d, yi, vi = bcg(case[-2:])
        ref = REF["bcg"][case[-2:]][f"cumul_{method}"]
    else:
        d, yi, vi = hackshaw()
        ref = REF["hackshaw"]["from_ci"][f"cumul_{method}"]
    eff = EffectData(d["study"], yi, vi, "ratio")
    rows = cumulative(eff, d["year"], method)
    order = [int(i) - 1 for i in ref["order"]]
    assert [x.study for x in rows] == [d["study"][i] for i in order]
    close([x.log_est for x in rows], ref["est"])
    close([x.se for x in rows], ref["se"])
    close([math.log(x.hi) for x in rows], ref["ci_ub"])
    close([x.p for x in rows], ref["pval"], atol=1e-300)
    close([x.tau2 for x in rows], ref["tau2"], atol=1e-12)
    close([x.i2_tau2 for x in rows], ref["I2"], atol=1e-8)
    assert [x.k for x in rows] == list(range(1, len(yi) + 1))


# ------------------------------------------------------------------------------------------------ subgroups

@pytest.mark.parametrize("case,method", [("bcg_RR", "REML"), ("bcg_RR", "DL"), ("bcg_OR", "REML"),
                                         ("bcg_OR", "DL"), ("hackshaw", "REML"), ("hackshaw", "PM")])
def test_subgroup_q_between_matches_metafor(case, method):
    if case.startswith("bcg"):
        d, yi, vi = bcg(case[-2:])
        groups = d["alloc"]
        ref = REF["bcg"][case[-2:]][f"subgroup_{method}"]
    else:
        d, yi, vi = hackshaw()
        groups = d["design"]
        ref = REF["hackshaw"]["from_ci"][f"subgroup_{method}"]
    eff = EffectData(d["study"], yi, vi, "ratio")
    res = subgroup_analysis(eff, groups, "g", method)
    assert [g.group for g in res.groups] == list(ref["levels"])
    close([g.estimate.log_est for g in res.groups], ref["est"])
    close([g.estimate.se for g in res.groups], ref["se"])
    close([g.estimate.tau2 for g in res.groups], ref["tau2"], atol=1e-12)
    close([res.q_between, res.p_between], [ref["Qb"], ref["Qbp"]])
    close([res.q_between_fixed, res.p_between_fixed], [ref["Qb_fixed"], ref["Qbp_fixed"]])
    # fixed-effect test = Q_total - sum of within-subgroup Q
    close(res.q_between_fixed, ref["Qb_fixed_decomp"])
    assert res.df_between == len(ref["levels"]) - 1


def test_subgroup_missing_values_are_listed_not_pooled():
    eff = EffectData(["a", "b", "c", "d", "e"], [0.1, 0.2, -0.3, 0.4, 0.0], [0.1] * 5, "ratio")
    res = subgroup_analysis(eff, ["x", "x", None, "y", "y"], "grp", "DL")
    assert [e.study for e in res.excluded] == ["c"]
    assert sum(g.k for g in res.groups) == 4
    with pytest.raises(AnalysisError, match="grp"):
        subgroup_analysis(eff, ["x"] * 5, "grp", "DL")


# ------------------------------------------------------------------------------------------------ meta-regression

@pytest.mark.parametrize("measure", ["RR", "OR"])
@pytest.mark.parametrize("key", ["REML", "DL", "PM", "FE", "REML_knha"])
def test_meta_regression_matches_rma_mods(measure, key):
    d, yi, vi = bcg(measure)
    ref = REF["bcg"][measure][f"metareg_{key}"]
    method = key.split("_")[0]
    m = meta_regression(yi, vi, d["ablat"], method, hk=key.endswith("knha"))
    close([m.intercept, m.slope, m.intercept_se, m.slope_se, m.slope_stat],
          [ref["b0"], ref["b1"], ref["se0"], ref["se1"], ref["stat1"]])
    close([m.intercept_p, m.slope_p, m.slope_lo, m.slope_hi], [ref["p0"], ref["p1"], ref["ci_lb1"], ref["ci_ub1"]],
          atol=1e-300)
    close(m.tau2, ref["tau2"], atol=1e-12)
    close([m.qm, m.qm_p, m.qe, m.qe_p], [ref["QM"], ref["QMp"], ref["QE"], ref["QEp"]], atol=1e-300)
    close(m.i2, ref["I2"], atol=1e-8)
    if method == "FE":
        assert m.r2 is None
    else:
        close(m.r2, ref["R2"], atol=1e-7)


def test_meta_regression_on_year_hackshaw():
    d, yi, vi = hackshaw()
    ref = REF["hackshaw"]["from_ci"]["metareg_REML_year"]
    m = meta_regression(yi, vi, d["year"], "REML")
    close([m.slope, m.slope_se, m.slope_p, m.tau2], [ref["b1"], ref["se1"], ref["p1"], ref["tau2"]], atol=1e-12)


# ------------------------------------------------------------------------------------------------ oracles/properties

@pytest.mark.parametrize("case", sorted(CASES))
def test_dl_and_pm_against_statsmodels(case):
    yi, vi = CASES[case][0]()
    dl = combine_effects(yi, vi, method_re="chi2")  # DerSimonian-Laird, not truncated at 0
    assert estimate_tau2(yi, vi, "DL") == pytest.approx(max(0.0, dl.tau2), rel=1e-9, abs=1e-12)
    pm = combine_effects(yi, vi, method_re="iterated")  # Paule-Mandel (statsmodels iteration)
    assert estimate_tau2(yi, vi, "PM") == pytest.approx(pm.tau2, rel=1e-5, abs=1e-8)
    fe = fixed_effect(yi, vi)
    assert fe.log_est == pytest.approx(dl.mean_effect_fe, rel=1e-12)


finite = st.floats(-3, 3, allow_nan=False, allow_infinity=False)
variances = st.floats(0.005, 2.0, allow_nan=False, allow_infinity=False)


@settings(max_examples=examples(60), deadline=None)
@given(st.lists(st.tuples(finite, variances), min_size=2, max_size=12))
def test_tau2_nonnegative_and_solves_its_equation(pairs):
    yi = np.array([p[0] for p in pairs])
    vi = np.array([p[1] for p in pairs])
    k = len(yi)
    for method in ("DL", "REML", "PM"):
        t2 = estimate_tau2(yi, vi, method)
        assert t2 >= 0
        # permutation invariance
        assert estimate_tau2(yi[::-1], vi[::-1], method) == pytest.approx(t2, rel=1e-8, abs=1e-12)
    pm = estimate_tau2(yi, vi, "PM")
    w = 1 / (vi + pm)
    mu = np.sum(w * yi) / np.sum(w)
    gq = np.sum(w * (yi - mu) ** 2)
    if pm > 0:
        assert gq == pytest.approx(k - 1, rel=1e-8)
    else:
        assert gq <= k - 1 + 1e-9
    reml = estimate_tau2(yi, vi, "REML")
    w = 1 / (vi + reml)
    mu = np.sum(w * yi) / np.sum(w)
    score = -np.sum(w) + np.sum(w**2) / np.sum(w) + np.sum(w**2 * (yi - mu) ** 2)
    if reml > 0:
        assert score == pytest.approx(0, abs=1e-8 * np.sum(w))
    else:
        assert score <= 1e-9 * np.sum(w)


def test_se_from_p_altman_bland():
    # z = -0.862 + sqrt(0.743 - 2.404 ln p); se = |ln HR| / z
    p = 0.001
    z = -0.862 + math.sqrt(0.743 - 2.404 * math.log(p))
    assert se_from_p(math.log(0.43), p) == pytest.approx(abs(math.log(0.43)) / z, rel=1e-15)
    # the approximation recovers a Wald SE within a few percent (here HR 0.6, SE 0.17)
    se_true = 0.17
    p_true = 2 * stats.norm.sf(abs(math.log(0.6)) / se_true)
    assert se_from_p(math.log(0.6), p_true) == pytest.approx(se_true, rel=0.03)
    assert math.isnan(se_from_p(0.0, 0.5))
    assert math.isnan(se_from_p(math.log(0.5), 1.0))
    assert parse_p_value("<0.001") == (0.001, "upper bound")
    assert parse_p_value("P = 0.039") == (0.039, "exact")
    assert parse_p_value(">0.05") == (0.05, "lower bound")
    assert parse_p_value("NR") is None


def test_spearman_matches_cor_test():
    d, yi, _ = bcg("RR")
    r = spearman_correlation(yi, d["ablat"])
    close([r.rho, r.p], [REF["bcg"]["RR"]["spearman_ablat"]["rho"], REF["bcg"]["RR"]["spearman_ablat"]["pval"]])
    with pytest.raises(AnalysisError):
        spearman_correlation([1, 2], [3, 4])


def test_funnel_data_lines():
    _, yi, vi = bcg("RR")
    fd = funnel_data(yi, vi, -0.7)
    assert fd.se_max == pytest.approx(np.sqrt(vi).max())
    assert fd.pseudo_ci["lo"][1] == pytest.approx(math.exp(-0.7 - 1.959963984540054 * fd.se_max))
    c95 = [c for c in fd.contours if c["level"] == 0.95][0]
    assert c95["hi"][1] == pytest.approx(math.exp(1.959963984540054 * fd.se_max))
    assert len(fd.points) == len(yi)


def test_small_k_rules():
    eff = EffectData(["a", "b"], [0.1, 0.5], [0.04, 0.05], "ratio")
    with pytest.raises(AnalysisError):
        egger_test(eff.yi, eff.vi)
    with pytest.raises(AnalysisError):
        trim_and_fill(eff.yi, eff.vi)
    assert leave_one_out(eff) == []
    one = random_effects([0.2], [0.04], "REML")
    assert one.tau2 == 0 and one.log_est == pytest.approx(0.2)
    assert random_effects([0.2], [0.04], "REML", pi="meta").pi_lo is not None
    assert math.isnan(random_effects([0.2], [0.04], "REML", pi="meta").pi_lo)
    two = random_effects([0.1, 0.5], [0.04, 0.05], "DL", pi="hts")
    assert math.isnan(two.pi_lo)
