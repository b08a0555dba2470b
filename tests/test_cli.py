"""`python -m analysis`: the public JSON contract, end to end in a subprocess."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEMO = str(ROOT / "data" / "demo_cohort.csv")


def run(*args: str) -> tuple[int, dict, str]:
    proc = subprocess.run([sys.executable, "-m", "analysis", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected exactly one JSON line, got: {proc.stdout[:500]!r}"
    return proc.returncode, json.loads(lines[0]), proc.stderr


def assert_usage_error(code: int, payload: dict, stderr: str) -> None:
    assert code == 2
    assert set(payload) == {"error"} and payload["error"]
    assert "Traceback" not in stderr and len(stderr.strip().splitlines()) == 1


def test_validate_demo_ok():
    code, out, _ = run("validate", DEMO)
    assert code == 0 and out["ok"] is True and out["n_rows"] == 302
    assert out["columns"]["os_months"]["kind"] == "time"
    assert isinstance(out["errors"], list) and isinstance(out["warnings"], list)


def test_validate_bad_file_exit_2_with_report(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("os_months,os_event\n-1,1\n2,zz\n")
    code, out, err = run("validate", str(bad))
    assert code == 2 and out["ok"] is False and out["error"]
    assert {e["code"] for e in out["errors"]} == {"time_negative", "event_unmapped"}
    assert "Traceback" not in err


def test_km_contract_with_cutoff():
    code, out, _ = run("km", DEMO, "--time", "os_months", "--event", "os_event", "--by", "alp", "--cutoff",
                       "174.5", "--at", "12,24,36")
    assert code == 0
    assert {"n", "events", "excluded", "groups", "logrank", "hr"} <= set(out)
    labels = [g["label"] for g in out["groups"]]
    assert labels == ["ALP <= 174.5", "ALP > 174.5"]
    assert out["hr"]["reference"] == "ALP <= 174.5" and out["hr"]["group"] == "ALP > 174.5"
    assert out["hr"]["hr"] > 1 and out["logrank"]["df"] == 1 and 0 <= out["logrank"]["p"] <= 1
    for g in out["groups"]:
        assert {"label", "n", "events", "median", "median_lo", "median_hi", "at"} <= set(g)
        assert [a["time"] for a in g["at"]] == [12, 24, 36]
        for a in g["at"]:
            assert {"time", "surv", "lo", "hi", "at_risk"} <= set(a)
            assert a["lo"] <= a["surv"] <= a["hi"]
    assert sum(g["n"] for g in out["groups"]) + out["excluded"] == 302


def test_km_single_group_has_no_test():
    code, out, _ = run("km", DEMO, "--time", "pfs_months", "--event", "pfs_event", "--ci", "log")
    assert code == 0 and len(out["groups"]) == 1 and out["logrank"] is None and out["hr"] is None


def test_km_categorical_by():
    code, out, _ = run("km", DEMO, "--time", "os_months", "--event", "os_event", "--by", "child_pugh")
    assert code == 0 and [g["label"] for g in out["groups"]] == ["Child-Pugh = A", "Child-Pugh = B"]
    assert out["hr"]["reference"] == "Child-Pugh = A"


def test_cox_contract_terms_named_as_documented():
    code, out, _ = run("cox", DEMO, "--time", "os_months", "--event", "os_event", "--covariates",
                       "age,ast:56.5,child_pugh", "--ref", "child_pugh=A")
    assert code == 0
    assert {"n", "events", "excluded", "concordance", "loglik", "terms", "ph_test"} <= set(out)
    assert [t["term"] for t in out["terms"]] == ["age", "ast > 56.5", "child_pugh=B"]
    for t in out["terms"]:
        assert t["lo"] < t["hr"] < t["hi"] and 0 <= t["p"] <= 1
    assert 0.5 < out["concordance"] < 1


def test_cox_univariable_models():
    code, out, _ = run("cox", DEMO, "--time", "pfs_months", "--event", "pfs_event", "--covariates",
                       "ast:56.5,alp:174.5,ehm", "--univariable")
    assert code == 0 and len(out["models"]) == 3
    assert out["models"][2]["terms"][0]["term"] == "ehm=Yes"


@pytest.mark.parametrize("args", [
    ("km", DEMO, "--time", "nope", "--event", "os_event"),
    ("km", DEMO, "--time", "os_months", "--event", "os_event", "--cutoff", "3"),
    ("km", DEMO, "--time", "os_months", "--event", "os_event", "--by", "alp", "--cutoff", "abc"),
    ("cox", DEMO, "--time", "os_months", "--event", "os_event", "--covariates", "nope"),
    ("km", "/nonexistent/file.csv", "--time", "os_months", "--event", "os_event"),
    ("km",),
    ("frobnicate", DEMO),
])
def test_unusable_input_exits_2_with_one_error(args):
    assert_usage_error(*run(*args))


def test_response_ae_baseline_contracts():
    code, out, _ = run("response", DEMO)
    assert code == 0 and out["n"] == 302
    recist = out["criteria"]["RECIST1.1"]
    assert recist["CR"]["n"] == 6 and recist["ORR"]["n"] == 195 and recist["DCR"]["n"] == 252
    assert recist["ORR"]["lo"] < recist["ORR"]["pct"] < recist["ORR"]["hi"]
    assert out["criteria"]["mRECIST"]["ORR"]["n"] == 205

    code, out, _ = run("ae", DEMO)
    assert code == 0 and out["n"] == 302
    thr = next(e for e in out["events"] if e["term"] == "ae_thrombocytopenia")
    assert (thr["any"], thr["grade_1_2"], thr["grade_3_4"], thr["grade_5"]) == (76, 57, 19, 0)

    code, out, _ = run("baseline", DEMO, "--by", "treatment")
    assert code == 0 and out["n"] == 302 and out["rows"]
