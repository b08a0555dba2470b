"""Issue 15's edge cases of the meta engine: R's answer (tests/reference/meta_edge.R -> meta_edge.json, metafor
3.8 and meta 8.2) or a clear refusal, never an internal error, a silently wrong number or a library warning on
stderr. The study files are tests/reference/data/meta_edge_*.csv (written by the R script)."""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from analysis.meta import run_meta
from analysis.meta.bias import trim_and_fill

ROOT = Path(__file__).parents[1]
REF = json.loads((ROOT / "tests" / "reference" / "meta_edge.json").read_text())
META = json.loads((ROOT / "tests" / "reference" / "meta.json").read_text())
DATA = ROOT / "tests" / "reference" / "data"
RTOL = 1e-6


def edge(name: str) -> Path:
    return DATA / f"meta_edge_{name}.csv"


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "analysis", "meta", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def assert_pool(report, ref):
    est = report.analysis.primary
    assert report.k == ref["k"]
    assert est.log_est == pytest.approx(ref["est"], rel=RTOL)
    assert est.se == pytest.approx(ref["se"], rel=RTOL)
    assert est.log_lo == pytest.approx(ref["ci_lb"], rel=RTOL)
    assert est.log_hi == pytest.approx(ref["ci_ub"], rel=RTOL)
    assert est.tau2 == pytest.approx(ref["tau2"], abs=1e-10)


@pytest.mark.parametrize("name", ["equal_bit", "identical"])
@pytest.mark.parametrize("method", ["REML", "DL", "FE"])
@pytest.mark.parametrize("egger", ["lm", "rma"])
def test_equal_standard_errors_pool_as_r_and_egger_is_undefined(name, method, egger):
    """All SEs equal (to the last bit, or identical 2x2 tables): R pools, and refuses Egger's test and
    trim-and-fill; so do we, with a note -- before: "internal error (LinAlgError)", or Egger t = -3e15."""
    ref = REF[name][method]
    assert "error" in ref["egger"]["lm"] and "error" in ref["egger"]["rma"] and "error" in ref["trimfill"]
    report = run_meta(edge(name), method=method, egger_model=egger)
    assert_pool(report, ref)
    assert report.egger is None and report.trimfill is None
    assert any(n.startswith("Egger's test is undefined") for n in report.notes)
    assert any(n.startswith("trim-and-fill not available") for n in report.notes)


def test_nearly_equal_standard_errors_egger_as_r_with_an_infinite_limit_estimate():
    """CI widths equal to 4 digits: R's classical Egger fits (limit estimate exp(2074) = inf), its rma version
    and trim-and-fill refuse -- before: "internal error (OverflowError)"."""
    for method in ("REML", "FE"):
        ref = REF["equal_4"][method]
        report = run_meta(edge("equal_4"), method=method)
        assert_pool(report, ref)
        e = report.egger
        assert e.stat == pytest.approx(ref["egger"]["lm"]["stat"], rel=RTOL)
        assert e.p == pytest.approx(ref["egger"]["lm"]["pval"], rel=RTOL)
        assert e.df == ref["egger"]["lm"]["df"]
        assert e.bias == pytest.approx(ref["egger"]["lm"]["bias"], rel=RTOL)
        assert ref["egger"]["lm"]["limit"] > 709 and e.limit_est == math.inf
        assert report.trimfill is None and "error" in ref["trimfill"]
        rma = run_meta(edge("equal_4"), method=method, egger_model="rma")
        assert rma.egger is None and "error" in ref["egger"]["rma"]
        assert_pool(rma, ref)


@pytest.mark.parametrize("name,flags", [
    ("equal_bit", ()), ("equal_bit", ("--egger", "rma")), ("equal_bit", ("--method", "FE")),
    ("equal_4", ()), ("equal_4", ("--egger", "rma")), ("equal_4", ("--method", "FE")),
    ("identical", ()), ("identical", ("--egger", "rma")), ("identical", ("--mh",)),
    ("no_events_arm", ("--mh",)), ("duplicate", ("--hk",)),
])
def test_cli_answers_without_internal_errors_or_warnings_on_stderr(name, flags):
    proc = run_cli(edge(name), *flags)
    assert proc.returncode == 0, proc.stdout
    assert proc.stderr == ""
    d = json.loads(proc.stdout)
    assert d["k"] >= 3 and d["fixed"] is not None


def test_identical_studies_mantel_haenszel_as_r():
    report = run_meta(edge("identical"), mh=True)
    assert report.analysis.mh.log_est == pytest.approx(REF["identical"]["MH"]["est"], rel=RTOL)
    assert report.analysis.mh.log_lo == pytest.approx(REF["identical"]["MH"]["ci_lb"], rel=RTOL)


def test_an_exactly_repeated_row_is_pooled_once_and_repeated_labels_are_named_by_row():
    """Before: the copy was pooled twice and the warning ("duplicate study labels were numbered") named no row."""
    ref = REF["duplicate"]
    for method in ("REML", "DL", "FE"):
        report = run_meta(edge("duplicate"), method=method)
        assert_pool(report, ref[method])
    report = run_meta(edge("duplicate"))
    assert report.egger.stat == pytest.approx(ref["REML"]["egger"]["lm"]["stat"], rel=RTOL)
    assert report.trimfill.k0 == ref["REML"]["trimfill"]["k0"]
    assert [(e.study, e.reason) for e in report.analysis.excluded] == [
        ("A (2)", "exact copy of data row 1 (every cell identical): pooled once")]
    text = " ".join(report.warnings)
    assert "data rows 1, 3" in text and "data rows 4, 5" in text and "data row 3 = data row 1" in text
    mh = run_meta(edge("duplicate"), mh=True)
    assert mh.analysis.mh.log_est == pytest.approx(ref["MH"]["est"], rel=RTOL)


def test_mantel_haenszel_without_events_in_one_arm_is_null_with_a_note():
    ref = REF["no_events_arm"]
    assert ref["MH"]["est"] is None             # metafor rma.mh: NA
    report = run_meta(edge("no_events_arm"), mh=True)
    assert report.to_dict()["fixed"]["est"] is None
    assert any("Mantel-Haenszel estimate is undefined" in n and "experimental arm" in n for n in report.notes)
    assert_pool(report, ref["REML"])


@pytest.mark.parametrize("test", ["knha", "adhoc"])
def test_trim_and_fill_with_hartung_knapp_and_nothing_imputed_keeps_the_model(test):
    """metafor trimfill returns the model unchanged when k0 = 0 (its Hartung-Knapp CI); before, a z-based CI."""
    ref = REF["trimfill_hk"][f"meta17_os_{test}"]
    report = run_meta(ROOT / "data" / "meta17.csv", "os", derive=False, hk=True, hk_adhoc=test == "adhoc")
    tf = report.trimfill
    assert tf.k0 == ref["k0"] == 0
    assert tf.estimate.log_est == pytest.approx(ref["est"], rel=RTOL)
    assert tf.estimate.log_lo == pytest.approx(ref["ci_lb"], rel=RTOL)
    assert tf.estimate.log_hi == pytest.approx(ref["ci_ub"], rel=RTOL)
    assert not any("z-based" in n for n in report.notes)


@pytest.mark.parametrize("test", ["knha", "adhoc"])
def test_trim_and_fill_with_hartung_knapp_and_imputed_studies_refits_with_z(test):
    ref = REF["trimfill_hk"][f"hackshaw_{test}"]
    h = META["hackshaw"]["from_ci"]
    tf = trim_and_fill(h["yi"], h["vi"], "REML", hk=True, hk_adhoc=test == "adhoc")
    assert tf.k0 == ref["k0"] > 0
    assert tf.estimate.log_est == pytest.approx(ref["est"], rel=RTOL)
    assert tf.estimate.log_lo == pytest.approx(ref["ci_lb"], rel=RTOL)
    assert tf.estimate.log_hi == pytest.approx(ref["ci_ub"], rel=RTOL)


@pytest.mark.parametrize("case", ["bcg", "nielweise", "meta17_os"])
def test_h2_is_q_over_df_and_the_meta_package_prints_h_floored_at_1(case):
    """Our h2 = Q/df (unfloored); meta prints H = max(1, sqrt(Q/df)) -- they differ when Q < df (nielweise)."""
    ref = REF["meta_h"][case]
    if case == "bcg":
        d = META["bcg"]["RR"]
        yi, vi = np.array(d["yi"]), np.array(d["vi"])
    elif case == "nielweise":
        d = META["nielweise"]["RR"]
        keep = [i for i in range(len(d["yi"])) if d["yi"][i] is not None]
        yi, vi = np.array([d["yi"][i] for i in keep]), np.array([d["vi"][i] for i in keep])
    else:
        d = META["meta17"]["os"]
        yi, vi = np.array(d["yi"]), np.array(d["vi"])
    from analysis.meta import heterogeneity

    h = heterogeneity(yi, vi)
    assert h.q == pytest.approx(ref["Q"], rel=RTOL) and h.df == ref["df"]
    assert h.h2 == pytest.approx(ref["Q"] / ref["df"], rel=RTOL)
    assert max(1.0, math.sqrt(h.h2)) == pytest.approx(ref["H"], rel=RTOL)
    assert h.i2 / 100 == pytest.approx(ref["I2"], abs=1e-9)
    if case == "nielweise":
        assert h.h2 < 1 and ref["H"] == 1
    docs = (ROOT / "docs" / "meta-analysis.md").read_text()
    assert "max(1, √(Q/df))" in docs
    assert "`h2 = Q/df` (Higgins & Thompson 2002; what the meta package" not in docs.replace("\n", " ")


def test_one_study_is_that_study_with_a_note():
    ref = REF["one_study"]
    report = run_meta(ROOT / "data" / "meta17.csv", "ae")
    assert report.k == ref["k"] == 1
    assert report.analysis.primary.log_est == pytest.approx(ref["est"], rel=RTOL)
    assert report.analysis.primary.log_lo == pytest.approx(ref["ci_lb"], rel=RTOL)
    assert any(n.startswith("one study: nothing is pooled") for n in report.notes)
