"""`python -m analysis meta ...` end to end (subprocess) and through the parser."""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from analysis.cli import build_parser, main

ROOT = Path(__file__).parents[1]
REF = json.loads((ROOT / "tests" / "reference" / "meta.json").read_text())


def run(*args):
    proc = subprocess.run([sys.executable, "-m", "analysis", "meta", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    return proc


def test_meta17_os_default_uses_flagged_derivations():
    """Derivations are on by default (each flagged); same numbers as the R check of the derived OS set."""
    proc = run("data/meta17.csv", "--outcome", "os")
    assert proc.returncode == 0, proc.stderr
    d = json.loads(proc.stdout)
    ref = REF["meta17"]["os_derived"]["models"]
    assert d["k"] == 9 and d["settings"]["derive"] == ["se_from_p", "count_from_pct"]
    assert math.log(d["random"]["est"]) == pytest.approx(ref["REML"]["est"], rel=1e-6)
    assert math.log(d["random"]["lo"]) == pytest.approx(ref["REML"]["ci_lb"], rel=1e-6)
    assert d["heterogeneity"]["i2"] == pytest.approx(ref["FE"]["I2"], rel=1e-6)
    flagged = {s["study"] for s in d["studies"] if s["derived"]}
    assert flagged == {"Guan R 2024", "Chang X 2024"}
    assert all("Altman" in s["derivation"] for s in d["studies"] if s["derived"])
    # --derive is still accepted and means the default
    again = json.loads(run("data/meta17.csv", "--outcome", "os", "--derive").stdout)
    assert again["random"] == d["random"]


@pytest.mark.parametrize("flags,k,derive", [
    (("--no-derive",), 2, []),
    (("--no-se-from-p",), 5, ["count_from_pct"]),
    (("--no-count-from-pct",), 2, ["se_from_p"]),
    ((), 5, ["se_from_p", "count_from_pct"]),
])
def test_each_derivation_switches_off(flags, k, derive):
    d = json.loads(run("data/meta17.csv", "--outcome", "orr", *flags).stdout)
    assert d["k"] == k and d["settings"]["derive"] == derive
    assert any(s["derived"] for s in d["studies"]) == ("count_from_pct" in derive)


def test_meta17_os_end_to_end():
    proc = run("data/meta17.csv", "--outcome", "os", "--no-derive")
    assert proc.returncode == 0, proc.stderr
    d = json.loads(proc.stdout)
    ref = REF["meta17"]["os"]["models"]
    assert d["k"] == 7 and d["measure"] == "HR"
    assert not any(s["derived"] for s in d["studies"])
    assert math.log(d["random"]["est"]) == pytest.approx(ref["REML"]["est"], rel=1e-6)
    assert math.log(d["fixed"]["hi"]) == pytest.approx(ref["FE"]["ci_ub"], rel=1e-6)
    assert d["random"]["method"] == "REML"
    assert d["heterogeneity"]["df"] == 6
    assert set(d["egger"]) >= {"t", "p"} and set(d["trimfill"]) >= {"k0", "est", "lo", "hi"}
    assert [r["study"] for r in d["leave_one_out"]] == REF["meta17"]["os"]["study"]
    assert set(d["studies"][0]) >= {"study", "est", "lo", "hi", "weight_fixed", "weight_random"}
    assert {e["study"] for e in d["excluded"]} >= {"Guan R 2024", "Fu Y 2023"}
    assert d["subgroups"] is None and d["q_between"] is None and d["metaregression"] is None


def test_options_end_to_end(tmp_path):
    proc = run("data/meta17.csv", "--outcome", "orr", "--method", "DL", "--mh", "--derive", "--hk",
               "--subgroup", "systemic", "--moderator", "design_class")
    assert proc.returncode == 0, proc.stderr
    d = json.loads(proc.stdout)
    assert d["k"] == 5 and d["measure"] == "RR" and d["fixed"]["method"] == "MH"
    mh = REF["meta17"]["orr_all"]["MH"]
    assert math.log(d["fixed"]["est"]) == pytest.approx(mh["est"], rel=1e-6)
    knha = REF["meta17"]["orr_all"]["models"]["DL_knha"]
    assert math.log(d["random"]["lo"]) == pytest.approx(knha["ci_lb"], rel=1e-6)
    assert d["random"]["hk"] is True
    assert [s["derived"] for s in d["studies"]].count(True) == 3
    assert d["subgroups"] and d["p_between"] is not None
    assert d["metaregression"]["k"] == 5
    # generic ratio file
    f = tmp_path / "g.csv"
    f.write_text("study,hr,lo,hi\nA,0.5,0.3,0.8\nB,0.7,0.5,0.98\n")
    proc = run(f)
    d = json.loads(proc.stdout)
    assert proc.returncode == 0 and d["k"] == 2 and d["egger"] is None and d["trimfill"] is None


@pytest.mark.parametrize("content,args,needle", [
    ("study,hr,lo,hi\nA,0.5,0.3,0.8\nB,oops,0.5,0.9\n", (), "column 'hr' must hold numbers; data row 2"),
    ("name,value\nA,1\n", (), "unrecognised study file"),
    (None, ("--outcome", "os"), "outcome applies only"),
    (None, ("--method", "XX"), "invalid arguments"),
])
def test_bad_input_exits_2_with_json_error(tmp_path, content, args, needle):
    f = tmp_path / "bad.csv"
    f.write_text(content if content is not None else "study,hr,lo,hi\nA,0.5,0.3,0.8\n")
    proc = run(f, *args)
    assert proc.returncode == 2
    payload = json.loads(proc.stdout)
    assert set(payload) == {"error"} and needle in payload["error"]
    assert "Traceback" not in proc.stderr and proc.stderr.startswith("error:")
    assert "oops" not in proc.stdout


def test_missing_file_exits_2():
    proc = run("data/does_not_exist.csv")
    assert proc.returncode == 2 and "file not found" in json.loads(proc.stdout)["error"]


def test_parser_and_handler(capsys):
    args = build_parser().parse_args(["meta", str(ROOT / "data" / "meta17.csv"), "--outcome", "pfs",
                                      "--method", "pm", "--pi", "meta", "--no-derive"])
    d = args.handler(args)
    ref = REF["meta17"]["pfs"]["models"]["PM"]
    assert d["k"] == 3 and math.log(d["random"]["pi_lo"]) == pytest.approx(ref["pi_t_lb"], rel=1e-6)
    assert main(["meta", str(ROOT / "data" / "meta17.csv"), "--outcome", "ae", "--no-derive"]) == 2
    out = json.loads(capsys.readouterr().out)
    assert "no study can be pooled" in out["error"] and "--no-derive" in out["error"]
    # by default the one derived AE study (Zuo 2024, counts from percentages) is pooled, flagged
    assert main(["meta", str(ROOT / "data" / "meta17.csv"), "--outcome", "ae"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["k"] == 1 and out["studies"][0]["study"] == "Zuo M 2024" and out["studies"][0]["derived"]
