"""The rules that make a user's own file work (issue 12): endpoints found by name or named, event codings,
alias guesses the values contradict, the time-unit check, Excel and SPSS files, round default cutoffs that are
no patient's value, landmarks and axes from the data, estimates past the last follow-up, cutoffs outside the
data, the baseline table's every column, and what each column can be used for."""
from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import formats, schema
from analysis.baseline import baseline_table
from analysis.dichotomise import default_cutoff, round_cutoff
from analysis.io import load_cohort
from analysis.survival import default_landmarks, km_by_group, time_axis

ROOT = Path(__file__).resolve().parents[1]


def load(text: str, **kw):
    return load_cohort(text.encode(), **kw)


# --- endpoints --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("names,pairs", [
    (["time", "status", "age", "diagtime", "hbv_status"], [("time", "status")]),   # diagtime stays a variable
    (["rfstime", "status", "age"], [("rfstime", "status")]),
    (["pid", "year", "rtime", "recur", "dtime", "death"], [("rtime", "recur"), ("dtime", "death")]),
    (["futime", "fustat", "age"], [("futime", "fustat")]),
    (["os_months", "os_event", "ttr_days", "recurrence"], [("os_months", "os_event"), ("ttr_days", "recurrence")]),
    (["time", "os_event", "age"], [("time", "os_event")]),                           # 'status' read as os_event
    (["time", "days", "status"], []),                                                # ambiguous: named by hand
    (["age_years", "menopausal_status"], []),
])
def test_pairs_found_by_name(names, pairs):
    assert schema.pair_endpoints(names) == pairs


def test_endpoints_keys_labels_and_units():
    r = load("rtime,recur,dtime,death,age\n100,1,200,1,50\n300,0,400,0,60\n500,1,600,1,70\n", time_unit="days")
    assert [(e.key, e.label, e.time, e.event, e.unit) for e in r.report.endpoints] == [
        ("rtime", "rtime / recur", "rtime", "recur", "days"), ("os", "Overall survival", "dtime", "os_event", "days")]
    r = load("ttr_days,recurrence,os (months),death\n30.4375,1,2,1\n60.875,0,3,0\n")
    assert r.report.columns["ttr_months"].unit == "days" and r.data["ttr_months"].tolist() == [1.0, 2.0]
    assert {e.key for e in r.report.endpoints} == {"ttr", "os"}
    assert [e["key"] for e in r.report.to_dict()["endpoints"]] == ["ttr", "os"]          # in file order


def test_named_endpoint_is_strict_and_one_found_by_name_is_lenient():
    text = "time,status,x\n10,0,1\n20,1,2\n30,2,3\n40,2,4\n"
    r = load(text)                                  # 0/1/2 status: not an endpoint, kept as a variable
    codes = [i.code for i in r.report.issues]
    assert "alias_not_applied" in codes and "endpoint_unreadable" in codes and not r.ok
    assert r.report.columns["status"].kind == "numeric"
    r = load(text, endpoints=[("time", "status")])  # named: a blocking error that says how to fix it
    assert not r.ok and "--event status=VALUE" in r.report.errors[0].message
    r = load(text, endpoints=[{"time": "time", "event": "status", "event_value": "2"}])
    assert r.ok and r.data["status"].tolist() == [0, 0, 1, 1] and r.report.endpoints[0].event_value == "2"
    r = load(text, endpoints=[{"time": "time", "event": "status", "event_value": "9"}])
    assert r.ok and "event_value_absent" in [i.code for i in r.report.warnings]


def test_alias_guess_contradicted_by_the_values_keeps_the_users_column():
    r = load("os_months,os_event,stage,sex\n1,1,A,m\n2,0,B,f\n3,1,C,m\n4,1,D,f\n")
    assert r.ok and r.data["stage"].tolist() == ["A", "B", "C", "D"]       # BCLC, not wiped as a CNLC stage
    assert "cnlc_stage" not in r.data and r.data["sex"].tolist() == ["Male", "Female", "Male", "Female"]
    r = load("os_months,os_event,stage\n1,1,IIIA\n2,0,IV\n3,1,B\n")        # mostly CNLC: read as CNLC
    assert r.data["cnlc_stage"].tolist()[:2] == ["IIIA", "IV"]


# --- the time-unit check --------------------------------------------------------------------------------------------

def test_time_unit_warning_names_column_range_and_likely_unit():
    text = "time,status\n" + "".join(f"{t},{t % 2}\n" for t in range(30, 1030, 50))
    r = load(text)
    (w,) = [i for i in r.report.warnings if i.code == "time_unit"]
    assert w.column == "time" and w.details == {"unit": "months", "likely_unit": "days", "min": 30.0, "max": 980.0}
    assert "30 to 980" in w.message and "look like days" in w.message
    assert not [i for i in load(text, time_unit="days").report.warnings if i.code == "time_unit"]
    assert schema.likely_time_unit(36, "days") == "months"                   # months read as days
    assert schema.likely_time_unit(46, "months") is None
    assert schema.likely_time_unit(3.5, "years") is None


# --- Excel and SPSS ---------------------------------------------------------------------------------------------------

def test_workbook_sheets_and_cells_read_as_typed(tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    notes = book.active
    notes.title = "Notes"
    notes["A1"] = "read me"
    data = book.create_sheet("Cohort")
    data.append(["OS (days)", "Death", "grade", "Sex"])
    for row in ([365.25, 1, 1.0, "M"], [730.5, 0, 2.0, "F"], [100, 1, 3.0, "F"]):
        data.append(row)
    path = tmp_path / "cohort.xlsx"
    book.save(path)
    raw = path.read_bytes()
    assert formats.sniff_format(raw) == formats.WORKBOOK and formats.sheet_names(raw) == ["Notes", "Cohort"]
    assert not load_cohort(raw).ok                                           # the first sheet has no cohort
    r = load_cohort(raw, sheet="Cohort")
    assert r.ok and r.report.sheet == "Cohort" and r.report.to_dict()["format"] == "workbook"
    assert r.data["os_months"].tolist() == pytest.approx([12.0, 24.0, 100 / (365.25 / 12)])
    assert r.data["grade"].tolist() == [1.0, 2.0, 3.0]
    km = km_by_group(r.data, "os_months", "os_event", by="grade")
    assert [g.label for g in km.groups] == ["Grade = 1", "Grade = 2", "Grade = 3"]    # not "1.0"
    bad = load_cohort(raw, sheet="Nope")
    assert not bad.ok and "no sheet named 'Nope'" in bad.report.errors[0].message


def test_spss_value_labels_become_levels(tmp_path):
    pyreadstat = pytest.importorskip("pyreadstat")
    frame = pd.DataFrame({"futime": [100.0, 200.0, 300.0, 400.0], "fustat": [1.0, 0.0, 1.0, 0.0],
                          "rx": [1.0, 2.0, 1.0, 2.0], "age": [50.5, 60.0, np.nan, 70.0]})
    path = tmp_path / "ovarian.sav"
    pyreadstat.write_sav(frame, str(path), variable_value_labels={"rx": {1.0: "Cyclophosphamide", 2.0: "Paclitaxel"},
                                                                  "fustat": {0.0: "Censored", 1.0: "Dead"}})
    raw = path.read_bytes()
    assert formats.sniff_format(raw) == formats.SPSS
    r = load_cohort(raw, time_unit="days")
    assert r.ok and r.report.file_format == "spss"
    assert r.data["rx"].tolist() == ["Cyclophosphamide", "Paclitaxel", "Cyclophosphamide", "Paclitaxel"]
    assert r.data["fustat"].tolist() == [1, 0, 1, 0] and pd.isna(r.data["age"].iloc[2])
    assert [e.key for e in r.report.endpoints] == ["futime"]


def test_damaged_workbook_is_a_clear_refusal():
    raw = b"PK\x03\x04" + b"\x00" * 100
    r = load_cohort(raw)
    assert not r.ok and r.report.errors[0].code == "not_a_table"


# --- cutoffs, axes, landmarks -------------------------------------------------------------------------------------

def test_round_default_cutoff_is_no_patients_value():
    rng = np.random.default_rng(3)
    for values in (rng.integers(30, 90, 51).astype(float), np.round(rng.lognormal(3, 1, 99), 1),
                   np.array([1.0, 2.0, 3.0, 4.0, 5.0])):
        cut = round_cutoff(values)
        assert cut not in set(values)
        low = values <= cut
        median = np.median(values)
        assert (values[low] <= median).all() or (values[~low] > median).all()   # the median's split
    assert default_cutoff("age", [60, 61, 62], paper=True) == 58                   # the paper's, for its cohorts
    assert default_cutoff("age", [60, 61, 62], paper=False) == 61.5


def test_axis_and_landmarks_from_follow_up():
    assert time_axis(45.8) == tuple(6.0 * i for i in range(9))
    assert time_axis(1022 / 30.4375)[-1] >= 1022 / 30.4375
    assert default_landmarks(45.8) == (12.0, 24.0, 36.0)
    assert default_landmarks(30) == (6.0, 12.0, 24.0)
    assert default_landmarks(120) == (12.0, 36.0, 60.0)
    assert default_landmarks(30, preferred=(12.0, 24.0, 36.0)) == (6.0, 12.0, 24.0)   # the paper's do not fit


def test_estimate_past_the_last_follow_up_is_not_estimable_never_nr():
    d = pd.DataFrame({"t": [1, 2, 3, 4, 5, 6.0], "e": [1, 1, 0, 0, 1, 0], "g": list("aaabbb")})
    km = km_by_group(d, "t", "e", by="g", at=[2.5, 3.5])
    a, b = km.to_dict()["groups"]
    assert a["at"][1] == {"time": 3.5, "surv": None, "lo": None, "hi": None, "at_risk": 0, "estimable": False}
    assert b["at"][1]["estimable"] and b["at"][1]["surv"] is not None
    from components.survival_tables import km_summary_parts
    parts = km_summary_parts(km, [2.5, 3.5])
    assert parts["frame"].iloc[0, -1] == "—" and "NR" not in parts["frame"].iloc[0, -1]
    assert any("not estimable" in n for n in parts["footnotes"])


def test_cutoff_outside_the_range_says_so():
    d = pd.DataFrame({"t": [1, 2, 3, 4.0], "e": [1, 0, 1, 1], "x": [10, 20, 30, 40.0]})
    for cut, group in ((99, "low"), (5, "high")):
        note = km_by_group(d, "t", "e", by="x", cutoff=cut).notes[0]
        assert f"all 4 patients are in the {group} group" in note and "inside the range" in note


# --- what columns are, and the baseline table ----------------------------------------------------------------------

def test_column_uses_and_default_forms():
    frame = pd.DataFrame({"age": [50.0, 60, 70, 80, 55, 65], "grade": [1.0, 2, 3, 2, 1, 1],
                          "arm": ["a", "b", "a", "b", "a", "b"], "const": [1.0] * 6})
    prof = schema.profile_columns(frame)
    assert prof["age"].form == "continuous" and prof["grade"].form == "categorical"
    assert prof["grade"].levels == ("1", "2", "3") and prof["arm"].uses == {"categorical"}
    assert prof["const"].uses == frozenset()
    assert schema.default_per(pd.Series([40.0, 50, 60, 70, 80])) == 10.0
    many = pd.Series([f"x{i}" for i in range(40)])
    assert schema.column_uses(many) == frozenset()


def test_baseline_lists_every_column_with_its_reason():
    text = ("pid,time,status,menopausal_status,hbv_status,age,ae_fever,recist\n"
            "1,10,1,pre,yes,50,1,PR\n2,20,0,post,no,60,0,SD\n3,30,1,post,yes,70,2,PD\n")
    r = load(text)
    roles = {k: v.kind for k, v in r.report.columns.items() if v.kind in schema.NOT_VARIABLE_KINDS}
    table = baseline_table(r.data, roles=roles)
    shown = {v["variable"] for v in table.variables}
    skipped = {s["variable"]: s["reason"] for s in table.skipped}
    assert {"menopausal_status", "hbv_status", "age"} <= shown                 # *_status columns are variables
    assert set(r.data.columns) == shown | set(skipped)                          # every column accounted for
    assert skipped["time"].startswith("survival time") and skipped["os_event"].startswith("event indicator")
    assert skipped["patient_id"] == "identifier" and "safety" in skipped["ae_fever"]


# --- the command line ------------------------------------------------------------------------------------------------

def test_closed_pipe_prints_no_traceback():
    cmd = [sys.executable, "-m", "analysis", "km", str(ROOT / "data" / "demo_cohort.csv"), "--time", "os_months",
           "--event", "os_event", "--by", "child_pugh"]
    proc = subprocess.run(f"{' '.join(cmd)} | head -c 5", shell=True, cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.stdout == '{"n":'[:5] and "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr


def test_time_is_not_an_abbreviation_of_time_unit():
    from analysis.cli import main
    import contextlib
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = main(["validate", str(ROOT / "tests" / "reference" / "data" / "rossi.csv"), "--time", "week",
                     "--event", "arrest", "--time-unit", "weeks"])
    payload = __import__("json").loads(out.getvalue())
    assert code == 0 and payload["endpoints"][0]["time"] == "week" and payload["endpoints"][0]["n"] == 432
