"""Cox fits where R answers and the data are few (tests/reference/small_cohort.R -> small_cohort.json):

* the univariable screen of the seed paper's variables on the first 30 demo patients -- R's coxph numbers where
  it converges, a per-variable note where R warns that a coefficient may be infinite (or gives NA), and the
  screen never ends on one covariate;
* every death at one time: the model is R's, the PH test (singular in R too) is null with a note;
* a factor stored as floats (1.0/2.0/3.0): its levels are written as in the file and ``--ref grade=2`` (or 2.0)
  is accepted; with age per 10 years.
"""
from __future__ import annotations

import contextlib
import io
import json
import math
from pathlib import Path

import pytest

from analysis.cli import main

ROOT = Path(__file__).resolve().parents[1]
REF = json.loads((ROOT / "tests" / "reference" / "small_cohort.json").read_text())
DATA = ROOT / "tests" / "reference" / "data"
RTOL = 1e-6


def run(*argv) -> tuple[int, dict]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = main([str(a) for a in argv])
    return code, json.loads(out.getvalue())


def _as_list(x):
    return x if isinstance(x, list) else [x]


def _close_coef(ours: float, r: float, se: float) -> bool:
    """R stops at a relative log-likelihood change < 1e-9: coefficients compared on the scale of their SE."""
    return abs(ours - r) <= RTOL * max(abs(r), se)


@pytest.mark.parametrize("endpoint", ["pfs", "os"])
def test_univariable_screen_on_30_patients_follows_r(endpoint):
    cases = [c for c in REF["screen"] if c["endpoint"] == endpoint]
    code, out = run("cox", DATA / "demo_head30.csv", "--time", f"{endpoint}_months", "--event", f"{endpoint}_event",
                    "--univariable", "--covariates", ",".join(c["spec"] for c in cases))
    assert code == 0 and "error" not in out
    models = {m["covariates"][0]: m for m in out["models"]}
    errors = {e["covariate"]: e["error"] for e in out["errors"]}
    assert set(models) | set(errors) == {c["spec"] for c in cases}          # every covariate is a row
    checked = 0
    for case in cases:
        spec = case["spec"]
        if case["single_group"]:
            assert "same side of the cutoff" in errors[spec]
            continue
        coefs = _as_list(case["coef"])
        if case["infinite"] or any(c is None for c in coefs):               # R: infinite, or NA (aliased)
            assert spec in errors and "does not converge" in errors[spec], spec
            continue
        model = models[spec]
        ses, ps = _as_list(case["se"]), _as_list(case["p"])
        assert len(model["terms"]) == len(coefs)
        for term, coef, se, p in zip(model["terms"], coefs, ses, ps):
            assert _close_coef(term["coef"], coef, se), spec
            assert term["se"] == pytest.approx(se, rel=RTOL) and term["p"] == pytest.approx(p, rel=RTOL)
        assert model["loglik"] == pytest.approx(case["loglik"], rel=1e-9)
        if case["zph"]["ok"]:
            ours = [r["chisq"] for r in model["ph_test"]]
            assert ours == pytest.approx(_as_list(case["zph"]["chisq"]), rel=RTOL)
        checked += 1
    assert checked >= 10


def test_singular_ph_test_is_null_with_a_note_while_the_model_is_rs():
    r = REF["tied"]
    assert not r["zph"]["ok"] and "singular" in r["zph"]["message"]
    code, out = run("cox", DATA / "deaths_at_one_time.csv", "--time", "time", "--event", "status",
                    "--covariates", "x")
    assert code == 0
    term = out["terms"][0]
    assert _close_coef(term["coef"], r["coef"], r["se"]) and term["se"] == pytest.approx(r["se"], rel=RTOL)
    assert out["loglik"] == pytest.approx(r["loglik"], rel=1e-9)
    for row in out["ph_test"]:
        assert row["chisq"] is None and row["p"] is None and "singular" in row["note"]


@pytest.mark.parametrize("ref", ["2", "2.0"])
def test_factor_stored_as_floats_keeps_its_levels_and_takes_ref(ref):
    r = REF["grade"]
    code, out = run("cox", DATA / "lung_grade.csv", "--time", "time", "--event", "status",
                    "--covariates", "grade,age*10", "--ref", f"grade={ref}")
    assert code == 0, out
    assert [t["term"] for t in out["terms"]] == ["grade=1", "grade=3", "age (per 10)"]
    for term, coef, se, p in zip(out["terms"], r["coef"], r["se"], r["p"]):
        assert _close_coef(term["coef"], coef, se)
        assert term["se"] == pytest.approx(se, rel=RTOL) and term["p"] == pytest.approx(p, rel=RTOL)
    code, km = run("km", DATA / "lung_grade.csv", "--time", "time", "--event", "status", "--by", "grade")
    assert [g["label"] for g in km["groups"]] == ["Grade = 1", "Grade = 2", "Grade = 3"]
    code, bad = run("cox", DATA / "lung_grade.csv", "--time", "time", "--event", "status", "--covariates", "grade",
                    "--ref", "grade=7")
    assert code == 2 and "reference level given for column 'grade'" in bad["error"]
    assert math.isfinite(out["concordance"])
