"""Own cohorts: public survival datasets exported the way a clinician brings them, through the public command line.

The files in tests/reference/data/own/ are R survival package datasets with their own column names, units and
codings (lung, veteran, pbc, gbsg, rotterdam, colon, ovarian, flchain), plus gbsg.xlsx (data in the second
sheet) and veteran.sav (SPSS value labels). ``tests/reference/own_cohorts.R`` wrote them and computed, on the
files as the app reads them (days -> months, the documented event codings), what R says: endpoints and
follow-up, Kaplan-Meier, log-rank, hazard ratios, Cox models with the three covariate forms and cox.zph,
baseline tests and maxstat. Every command here is what a user types (their own column names, ``--time-unit
days``, ``--event status=2``, ``--sheet``), run in-process through :func:`analysis.cli.main`; every number is
compared with R to 1e-6 relative. R is not needed (the values are in tests/reference/own_cohorts.json).
"""
from __future__ import annotations

import contextlib
import functools
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from analysis.cli import main

ROOT = Path(__file__).resolve().parents[1]
OWN = ROOT / "tests" / "reference" / "data" / "own"
REF = json.loads((ROOT / "tests" / "reference" / "own_cohorts.json").read_text())
VALIDATE = {v["dataset"]: v for v in REF["validate"]}
RTOL = 1e-6
ATOL = 0.0


# --- running the command line ---------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def _run(args: tuple[str, ...]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def cli(*args: str, ok: bool = True) -> dict:
    """``python -m analysis ARGS`` in-process: its one JSON object (exit 0 when ``ok``, else 2)."""
    code, out, err = _run(tuple(str(a) for a in args))
    lines = [ln for ln in out.splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one JSON line, got {out[:300]!r}"
    payload = json.loads(lines[0])
    assert code == (0 if ok else 2), (args, payload.get("error"), err)
    assert "Traceback" not in err
    return payload


def path(dataset: str) -> str:
    return str(OWN / f"{dataset}.csv")


def num(x) -> str:
    """A number as a user types it: 65, 1.2."""
    return f"{x:g}"


def endpoint(case: dict) -> list[str]:
    """The case's endpoint as the user names it, times in days."""
    return ["--time", case["time"], "--event", case["event"], "--time-unit", "days"]


def naming(dataset: str) -> list[str]:
    """``--time``/``--event`` when the importer cannot find the file's endpoint by name (pbc's 0/1/2 status)."""
    v = VALIDATE[dataset]
    return [] if v["found_by_name"] else endpoint(v["endpoints"][0])[:4]


def names(dataset: str) -> dict[str, str]:
    """The file's headers -> the app's column names (as ``validate`` reports them)."""
    ep = VALIDATE[dataset]["endpoints"][0]
    report = cli("validate", path(dataset), *endpoint(ep))
    return {info["source"]: name for name, info in report["columns"].items()}


def close(actual, expected, what: str, rtol: float = RTOL) -> None:
    """``actual`` equals R's ``expected`` to ``rtol`` relative (None where R gives NA)."""
    if expected is None:
        assert actual is None, f"{what}: R gives NA, we give {actual}"
        return
    assert actual is not None, f"{what}: R gives {expected}, we give None"
    assert actual == pytest.approx(expected, rel=rtol, abs=ATOL), f"{what}: ours {actual!r}, R {expected!r}"


def close_coef(ours: dict, r: dict, what: str) -> None:
    """Cox coefficients on the scale of their SE (R stops at a relative log-likelihood change < 1e-9), the rest
    relative."""
    assert abs(ours["coef"] - r["coef"]) <= RTOL * max(abs(r["coef"]), r["se"]), f"{what}: coef {ours} vs {r}"
    for key in ("se", "hr", "lo", "hi", "p"):
        close(ours[key], r[key], f"{what} {key}")


def numbers(obj) -> list[float]:
    """Every number in a JSON value, in document order (labels and level names left out)."""
    if isinstance(obj, dict):
        return [x for v in obj.values() for x in numbers(v)]
    if isinstance(obj, list):
        return [x for v in obj for x in numbers(v)]
    if isinstance(obj, bool) or obj is None:
        return [obj]
    return [obj] if isinstance(obj, (int, float)) else []


# --- the commands of each case ------------------------------------------------------------------------------
def km_args(case: dict) -> list[str]:
    args = ["km", path(case["dataset"]), *endpoint(case), "--at", ",".join(num(t) for t in case["at"])]
    if case["by"]:
        args += ["--by", case["by"]]
    if case["cutoff"] is not None:
        args += ["--cutoff", num(case["cutoff"])]
    return args


def cox_args(case: dict) -> list[str]:
    return ["cox", path(case["dataset"]), *endpoint(case), "--covariates", case["covariates"]]


def baseline_args(case: dict) -> list[str]:
    """A file whose endpoint the importer finds by name needs no --time/--event (pbc's 0/1/2 status does)."""
    return ["baseline", path(case["dataset"]), *naming(case["dataset"]), "--time-unit", "days", "--by", case["by"]]


def cutpoint_args(case: dict) -> list[str]:
    return ["cutpoint", path(case["dataset"]), *endpoint(case), "--variable", case["variable"],
            "--minprop", num(case["minprop"]), "--permutations", "0", "--bootstrap", "0"]


def _ids(cases: list[dict]) -> list[str]:
    return [c.get("name") or c["dataset"] for c in cases]


# --- validate: endpoints found or named, follow-up, the time-unit check -----------------------------------------
@pytest.mark.parametrize("ref", REF["validate"], ids=_ids(REF["validate"]))
def test_validate_endpoints_and_followup_match_r(ref):
    ds = ref["dataset"]
    out = cli("validate", path(ds), *naming(ds), "--time-unit", "days")
    assert out["ok"] is True and out["n_rows"] == ref["n_rows"]
    source = {name: info["source"] for name, info in out["columns"].items()}
    # every column of the file is reported, under its own header
    assert sorted(source.values()) == sorted(ref["columns"])
    found = {(source[e["time"]], source[e["event"]]): e for e in out["endpoints"]}
    wanted = {(e["time"], e["event"].partition("=")[0]): e for e in ref["endpoints"]}
    assert set(found) == set(wanted), "the endpoints found differ from the file's"
    for key, r in wanted.items():
        e = found[key]
        assert e["unit"] == "days" and (e["n"], e["events"]) == (r["n"], r["events"]), key
        for q in ("median", "q1", "q3"):
            close(e["followup"][q], r["followup"][q], f"{ds} {key} follow-up {q}")
        close(e["longest"], r["longest"], f"{ds} {key} longest")
    assert not [w for w in out["warnings"] if w["code"] == "time_unit"]


@pytest.mark.parametrize("ref", REF["validate"], ids=_ids(REF["validate"]))
def test_validate_without_unit_warns_that_times_look_like_days(ref):
    ds = ref["dataset"]
    out = cli("validate", path(ds), *naming(ds))
    assert out["ok"] is True
    source = {name: info["source"] for name, info in out["columns"].items()}
    warned = {source[w["column"]]: w for w in out["warnings"] if w["code"] == "time_unit"}
    assert set(warned) == {e["time"] for e in ref["endpoints"]}
    for r in ref["endpoints"]:
        w = warned[r["time"]]
        assert w["details"] == {"unit": "months", "likely_unit": "days", "min": r["raw_min"], "max": r["raw_max"]}
        assert "--time-unit days" in w["message"]


def test_pbc_status_0_1_2_needs_its_event_value():
    """pbc's status is 0 = censored, 1 = transplant, 2 = death: not an event coding the importer may guess. The
    file alone is refused with a message that says how to name the event; ``--event status=2`` reads it."""
    out = cli("validate", path("pbc"), "--time-unit", "days", ok=False)
    assert out["ok"] is False and [e["code"] for e in out["errors"]] == ["no_survival_pair"]
    unreadable = [w for w in out["warnings"] if w["code"] == "endpoint_unreadable"]
    assert [w["column"] for w in unreadable] == ["status"] and "--time/--event" in unreadable[0]["message"]
    out = cli("validate", path("pbc"), "--time", "time", "--event", "status=2", "--time-unit", "days")
    assert [(e["event_value"], e["events"]) for e in out["endpoints"]] == [("2", 161)]


def test_time_option_is_not_read_as_time_unit():
    out = cli("validate", path("lung"), "--time", "time", "--event", "status")
    assert out["ok"] is True
    assert [(e["time"], e["unit"]) for e in out["endpoints"]] == [("time", "months")]
    assert [w["column"] for w in out["warnings"] if w["code"] == "time_unit"] == ["time"]
    # and no abbreviation of --time-unit is taken for it
    out = cli("validate", path("lung"), "--time-u", "days", ok=False)
    assert set(out) == {"error"} and "--time-u" in out["error"]


# --- km -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", REF["km"], ids=_ids(REF["km"]))
def test_km_matches_r(case):
    out = cli(*km_args(case))
    name = case["name"]
    assert (out["n"], out["events"], out["excluded"]) == (case["n"], case["events"], case["excluded"])
    assert len(out["groups"]) == len(case["groups"])
    for ours, r in zip(out["groups"], case["groups"]):
        if case["cutoff"] is not None:
            sign = {"low": "<=", "high": ">"}[r["level"]]
            assert ours["label"].endswith(f" {sign} {num(case['cutoff'])}"), ours["label"]
        elif case["by"]:
            assert ours["label"].endswith(f" = {r['level']}"), ours["label"]
        what = f"{name} [{ours['label']}]"
        assert (ours["n"], ours["events"]) == (r["n"], r["events"]), what
        for key in ("median", "median_lo", "median_hi"):
            close(ours[key], r[key], f"{what} {key}")
        assert [a["time"] for a in ours["at"]] == [a["time"] for a in r["at"]]
        for a, ra in zip(ours["at"], r["at"]):
            at = f"{what} at {ra['time']}"
            assert (a["estimable"], a["at_risk"]) == (ra["estimable"], ra["at_risk"]), at
            for key in ("surv", "lo", "hi"):
                close(a[key], ra[key], f"{at} {key}")
    if case["logrank"] is None:
        assert out["logrank"] is None
    else:
        assert out["logrank"]["df"] == case["logrank"]["df"]
        close(out["logrank"]["chisq"], case["logrank"]["chisq"], f"{name} log-rank chisq")
        close(out["logrank"]["p"], case["logrank"]["p"], f"{name} log-rank p")
    if case["hr"] is None:
        assert out["hr"] is None
    else:
        labels = {r["level"]: g["label"] for r, g in zip(case["groups"], out["groups"])}
        assert (out["hr"]["reference"], out["hr"]["group"]) == (labels[case["hr"]["reference"]],
                                                                labels[case["hr"]["group"]])
        for key in ("hr", "lo", "hi", "p"):
            close(out["hr"][key], case["hr"][key], f"{name} HR {key}")
    for q in ("median", "q1", "q3"):
        close(out["followup"][q], case["followup"][q], f"{name} follow-up {q}")


# --- cox ----------------------------------------------------------------------------------------------------
def _term_name(term: dict, columns: dict[str, str], ph: bool = False) -> str:
    """The app's name of an R term: ``age (per 10)``, ``bili > 2``, ``stage=3`` (the model term ``stage`` in the
    PH test), ``wt_loss``."""
    if term["form"] == "GLOBAL":
        return "GLOBAL"
    col = columns[term["column"]]
    if term["form"] == "per":
        return f"{col} (per {term['per']})"
    if term["form"] == "cut":
        return f"{col} > {term['cutoff']}"
    if term["form"] == "categorical":
        return col if ph else f"{col}={term['level']}"
    return col


def assert_cox_matches(out: dict, case: dict) -> None:
    """A ``cox`` model of the command line equals R's (terms by name; their order is tested on its own)."""
    name, columns = case["name"], names(case["dataset"])
    assert (out["n"], out["events"], out["excluded"]) == (case["n"], case["events"], case["excluded"]), name
    ours = {t["term"]: t for t in out["terms"]}
    r_terms = {_term_name(t, columns): t for t in case["terms"]}
    assert sorted(ours) == sorted(r_terms), name
    for term, r in r_terms.items():
        close_coef(ours[term], r, f"{name} {term}")
    close(out["concordance"], case["concordance"], f"{name} concordance")
    close(out["loglik"], case["loglik"], f"{name} loglik")
    close(out["loglik_null"], case["loglik_null"], f"{name} null loglik")
    for key, r_key in (("lr_test", "lr"), ("wald_test", "wald")):
        assert out[key]["df"] == case[r_key]["df"], name
        close(out[key]["chisq"], case[r_key]["chisq"], f"{name} {key} chisq")
        close(out[key]["p"], case[r_key]["p"], f"{name} {key} p")
    ph = {t["term"]: t for t in out["ph_test"]}
    r_ph = {_term_name(t, columns, ph=True): t for t in case["ph_test"]}
    assert sorted(ph) == sorted(r_ph), name
    for term, r in r_ph.items():
        assert ph[term]["df"] == r["df"], f"{name} PH {term}"
        close(ph[term]["chisq"], r["chisq"], f"{name} PH {term} chisq")
        close(ph[term]["p"], r["p"], f"{name} PH {term} p")


@pytest.mark.parametrize("case", REF["cox"], ids=_ids(REF["cox"]))
def test_cox_matches_r(case):
    assert_cox_matches(cli(*cox_args(case)), case)


@pytest.mark.parametrize("case", REF["cox_univariable"], ids=_ids(REF["cox_univariable"]))
def test_cox_univariable_screen_matches_r(case):
    out = cli(*cox_args(case), "--univariable")
    assert not out.get("errors")
    assert len(out["models"]) == len(case["models"])
    for model, r in zip(out["models"], case["models"]):
        assert_cox_matches(model, r)


def test_cox_ref_and_per_options_are_the_inline_forms():
    """``--ref COL=LEVEL`` and ``--per COL=N`` (with the file's headers) give the model of ``COL=LEVEL``, ``COL*N``."""
    case = next(c for c in REF["cox"] if c["name"] == "lung")
    assert case["covariates"] == "age*10,sex=1,ph.ecog=0,ph.karno:80,wt.loss"
    out = cli("cox", path("lung"), *endpoint(case), "--covariates", "age,sex,ph.ecog,ph.karno:80,wt.loss",
              "--ref", "sex=1", "--ref", "ph.ecog=0", "--per", "age=10")
    assert_cox_matches(out, case)


@pytest.mark.parametrize("dataset,level", [("flchain", "F"), ("pbc", "f")])
def test_cox_reference_as_written_in_the_file(dataset, level):
    ep = VALIDATE[dataset]["endpoints"][0]
    out = cli("cox", path(dataset), *endpoint(ep), "--covariates", f"age*10,sex={level}")
    assert [t["term"] for t in out["terms"]] == ["age (per 10)", "sex=Male"]


@pytest.mark.parametrize("case", REF["cox"], ids=_ids(REF["cox"]))
def test_cox_terms_in_r_order(case):
    """Terms in R's order: a numeric column's levels as numbers (flc_grp=2 before flc_grp=10)."""
    out = cli(*cox_args(case))
    columns = names(case["dataset"])
    assert [t["term"] for t in out["terms"]] == [_term_name(t, columns) for t in case["terms"]]
    assert [t["term"] for t in out["ph_test"]] == [_term_name(t, columns, ph=True) for t in case["ph_test"]]


# --- baseline -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", REF["baseline"], ids=_ids(REF["baseline"]))
def test_baseline_matches_r(case):
    out = cli(*baseline_args(case))
    name, columns = case["name"], names(case["dataset"])
    assert out["columns"] == ["Overall", *case["groups"]]
    assert out["n"] == case["n"] and out["by"]["missing"] == case["by_missing"]
    types = {v["variable"]: v["type"] for v in out["variables"]}
    for var in case["variables"]:
        col = columns[var["variable"]]
        what = f"{name} {col}"
        assert types[col] == var["type"], what
        rows = {row["level"]: row for row in out["rows"] if row["variable"] == col}
        tests = out["tests"][col]
        assert [t["test"] for t in tests] == [t["test"] for t in var["tests"]], what
        for ours, r in zip(tests, var["tests"]):
            close(ours["p"], r["p"], f"{what} {r['test']} p")
            if r.get("statistic") is not None:
                close(ours["statistic"], r["statistic"], f"{what} {r['test']} statistic")
        missing = rows["Missing"]["values"]["Overall"]["n"] if "Missing" in rows else 0
        assert missing == var["missing"], what
        if var["type"] == "numeric":
            for column, r in var["stats"].items():
                mean, median = rows["Mean ± SD"]["values"][column], rows["Median (Q1, Q3)"]["values"][column]
                assert mean["n"] == median["n"] == r["n"], f"{what} {column}"
                for key in ("mean", "sd"):
                    close(mean[key], r[key], f"{what} {column} {key}")
                for key in ("median", "q1", "q3"):
                    close(median[key], r[key], f"{what} {column} {key}")
        else:
            assert [lv for lv in rows if lv not in (None, "Missing")] == var["levels"], what
            for column, counts in var["counts"].items():
                assert {lv: rows[lv]["values"][column]["n"] for lv in var["levels"]} == counts, f"{what} {column}"


@pytest.mark.parametrize("case", REF["baseline"], ids=_ids(REF["baseline"]))
def test_baseline_lists_every_column(case):
    """Every column of the file is a row of the table or in ``skipped`` with its reason."""
    out = cli(*baseline_args(case))
    shown = [v["variable"] for v in out["variables"]]
    skipped = {s["variable"]: s["reason"] for s in out["skipped"]}
    assert not set(shown) & set(skipped)
    assert sorted(shown + list(skipped)) == sorted(names(case["dataset"]).values())
    assert all(isinstance(reason, str) and reason.strip() for reason in skipped.values())


# --- cutpoint -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", REF["cutpoint"], ids=_ids(REF["cutpoint"]))
def test_cutpoint_matches_r(case):
    out = cli(*cutpoint_args(case))
    assert out["n"] == case["n"]
    for key in ("statistic", "cutpoint", "p_lau92", "p_lau94"):
        close(out[key], case[key], f"{case['name']} {key}")
    assert out["p_permutation"] is None and out["bootstrap"] is None


# --- Excel and SPSS: the same numbers as the CSV they were made from ------------------------------------------------
XLSX = REF["files"]["xlsx"]
SAV = REF["files"]["sav"]


def _commands(dataset: str) -> list[tuple[str, list[str]]]:
    """(what, arguments) of every command run on a dataset's CSV above."""
    out = [("validate", ["validate", path(dataset), *naming(dataset), "--time-unit", "days"])]
    for kind, build in (("km", km_args), ("cox", cox_args), ("baseline", baseline_args),
                        ("cutpoint", cutpoint_args)):
        out += [(f"{kind} {c['name']}", build(c)) for c in REF[kind] if c["dataset"] == dataset]
    return out


def _without_format(payload: dict) -> dict:
    return {k: v for k, v in payload.items() if k not in ("format", "sheet")}


@pytest.mark.parametrize("what,args", _commands("gbsg"), ids=[c[0] for c in _commands("gbsg")])
def test_xlsx_gives_the_csv_results(what, args):
    assert args[1] == path("gbsg")
    xlsx = [args[0], str(OWN / XLSX["file"]), "--sheet", XLSX["sheet"], *args[2:]]
    ours = cli(*xlsx)
    assert _without_format(ours) == _without_format(cli(*args))
    if what == "validate":
        assert (ours["format"], ours["sheet"]) == ("workbook", XLSX["sheet"])


def test_xlsx_first_sheet_is_read_without_sheet():
    out = cli("validate", str(OWN / XLSX["file"]), "--time-unit", "days", ok=False)
    assert out["sheet"] == XLSX["first_sheet"] and [e["code"] for e in out["errors"]] == ["no_survival_pair"]
    out = cli("km", str(OWN / XLSX["file"]), "--time", "rfstime", "--event", "status", "--time-unit", "days",
              ok=False)
    assert "'rfstime'" in out["error"]


def test_xlsx_unknown_sheet_names_the_sheets():
    out = cli("validate", str(OWN / XLSX["file"]), "--sheet", "data", ok=False)
    assert [e["code"] for e in out["errors"]] == ["not_a_table"]
    assert f"sheets: {XLSX['first_sheet']}, {XLSX['sheet']}" in out["error"]


def test_xlsx_unknown_sheet_report_says_workbook():
    out = cli("validate", str(OWN / XLSX["file"]), "--sheet", "data", ok=False)
    assert out["format"] == "workbook"


def _sav_args(what: str, args: list[str]) -> list[str]:
    """The CSV command for the SPSS file: the same, with the value labels where the command names a level."""
    labels = SAV["labels"]
    out = [args[0], str(OWN / SAV["file"]), *args[2:]]
    if what.startswith("cox"):
        k = out.index("--covariates") + 1
        items = []
        for item in out[k].split(","):
            col, sep, level = item.partition("=")
            items.append(f"{col}={labels[col][level]}" if sep and col in labels else item)
        out[k] = ",".join(items)
    return out


@pytest.mark.parametrize("what,args", _commands("veteran"), ids=[c[0] for c in _commands("veteran")])
def test_sav_gives_the_csv_numbers(what, args):
    """veteran.sav holds the CSV's patients with value labels (trt 1 = standard, prior 10 = yes, status 1 = dead):
    every number of every command is the CSV's; the levels carry the labels."""
    assert args[1] == path("veteran")
    sav = cli(*_sav_args(what, args))
    csv = cli(*args)
    if what == "validate":
        assert sav["format"] == "spss"
        assert {n: c["kind"] for n, c in sav["columns"].items()} == {
            **{n: c["kind"] for n, c in csv["columns"].items()}, "trt": "categorical", "prior": "categorical"}
        sav, csv = sav["endpoints"], csv["endpoints"]
    assert numbers(sav) == numbers(csv)
    if what.startswith("cox"):
        assert [t["term"] for t in sav["terms"]] == [
            "karno (per 10)", "celltype=adeno", "celltype=large", "celltype=smallcell", "trt=test", "age > 60",
            "prior=yes"]
    if what.startswith("km veteran_trt"):
        assert [g["label"] for g in sav["groups"]] == ["Trt = standard", "Trt = test"]


# --- a closed pipe ------------------------------------------------------------------------------------------
def test_closed_pipe_prints_no_traceback(tmp_path):
    """``python -m analysis km ... | head -c 10``: the reader goes away after 10 bytes of a long answer."""
    at = ",".join(f"{t / 100:g}" for t in range(1, 3001))          # a JSON answer far longer than a pipe holds
    err = tmp_path / "stderr.txt"
    command = (f'"{sys.executable}" -m analysis km "{path("lung")}" --time time --event status --time-unit days '
               f'--by sex --at {at} 2>"{err}" | head -c 10; echo " ${{PIPESTATUS[0]}}"')
    proc = subprocess.run(["bash", "-c", command], cwd=ROOT, capture_output=True, text=True, timeout=120)
    head, _, status = proc.stdout.rpartition(" ")
    assert head == '{"n": 228,'
    assert err.read_text() == "" and int(status) in (0, 1)
