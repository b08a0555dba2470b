"""Cohort subcommands of ``python -m analysis``: validate, km, cox, response, ae, baseline.

The JSON shapes are a public contract (README, "Command line"); extend them, never break them.
"""
from __future__ import annotations

import argparse

from analysis import schema
from analysis.errors import AnalysisError
from analysis.bounded import load_cohort      # every file is read in a bounded child process (issue 13)
from analysis.io import LoadResult


def load_or_fail(path: str, time_unit: str | None = None) -> LoadResult:
    """Load a cohort file for a command; blocking validation errors become one AnalysisError."""
    result = load_cohort(path, time_unit=time_unit)
    if not result.ok:
        raise AnalysisError("; ".join(issue.message for issue in result.report.errors))
    return result


def resolve_column(result: LoadResult, name: str) -> str:
    """A column given on the command line, by its canonical name or by its header in the file."""
    frame = result.data
    if name in frame.columns:
        return name
    if name in result.mapping:
        return result.mapping[name]
    canonical, _ = schema.canonical_name(name)
    if canonical in frame.columns:
        return canonical
    raise AnalysisError(f"column {name!r} is not in the file (columns: {', '.join(map(str, frame.columns))})")


def parse_float(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise AnalysisError(f"{what} must be a number") from None
    return value


def parse_times(text: str | None) -> list[float] | None:
    if not text:
        return None
    return [parse_float(t, "--at") for t in text.split(",") if t.strip()]


# --- handlers ------------------------------------------------------------------------------------------

def cmd_validate(args):
    result = load_cohort(args.file, time_unit=args.time_unit)
    payload = result.report.to_dict()
    if not payload["ok"]:
        payload["error"] = "; ".join(issue["message"] for issue in payload["errors"])
    return payload, (0 if payload["ok"] else 2)


def cmd_km(args):
    from analysis.survival import km_by_group

    result = load_or_fail(args.file, args.time_unit)
    time_col, event_col = resolve_column(result, args.time), resolve_column(result, args.event)
    by = resolve_column(result, args.by) if args.by else None
    if args.cutoff is not None and by is None:
        raise AnalysisError("--cutoff needs --by")
    cutoff = parse_float(args.cutoff, "--cutoff") if args.cutoff is not None else None
    km = km_by_group(result.data, time_col, event_col, by=by, cutoff=cutoff, ci=args.ci, at=parse_times(args.at))
    return km.to_dict()


def _covariates(result: LoadResult, text: str, refs: list[str]):
    from analysis.cox import CovariateSpec

    references = {}
    for item in refs or []:
        col, sep, level = item.partition("=")
        if not sep:
            raise AnalysisError(f"--ref must look like COL=LEVEL, got {item!r}")
        references[resolve_column(result, col.strip())] = level.strip()
    specs = []
    for item in [t.strip() for t in text.split(",") if t.strip()]:
        col, sep, cut = item.rpartition(":") if ":" in item else (item, "", "")
        column = resolve_column(result, col.strip())
        cutoff = parse_float(cut, f"the cutoff of {col.strip()!r}") if sep else None
        specs.append(CovariateSpec(column, cutoff=cutoff, reference=references.get(column)))
    if not specs:
        raise AnalysisError("--covariates is empty")
    return specs


def cmd_cox(args):
    from analysis.cox import cox_fit, cox_univariable

    result = load_or_fail(args.file, args.time_unit)
    time_col, event_col = resolve_column(result, args.time), resolve_column(result, args.event)
    specs = _covariates(result, args.covariates, args.ref)
    if args.univariable:
        return cox_univariable(result.data, time_col, event_col, specs).to_dict()
    return cox_fit(result.data, time_col, event_col, specs).to_dict()


def cmd_response(args):
    from analysis.response import response_table

    result = load_or_fail(args.file)
    by = resolve_column(result, args.by) if args.by else None
    return response_table(result.data, by=by).to_dict()


def cmd_ae(args):
    from analysis.adverse_events import ae_table

    result = load_or_fail(args.file)
    by = resolve_column(result, args.by) if args.by else None
    return ae_table(result.data, by=by).to_dict()


def cmd_baseline(args):
    from analysis.baseline import baseline_table

    result = load_or_fail(args.file)
    by = resolve_column(result, args.by) if args.by else None
    return baseline_table(result.data, by=by).to_dict()


def add_commands(sub: argparse._SubParsersAction) -> None:
    units = sorted(schema.TIME_UNIT_FACTORS)

    def file_parser(name: str, help_text: str, handler):
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("file", help="cohort CSV")
        p.set_defaults(handler=handler)
        return p

    p = file_parser("validate", "validate a cohort file and report how every column was read", cmd_validate)
    p.add_argument("--time-unit", choices=units, help="unit of time columns whose header does not say")

    p = file_parser("km", "Kaplan-Meier estimates, log-rank test and two-group hazard ratio", cmd_km)
    p.add_argument("--time", required=True)
    p.add_argument("--event", required=True)
    p.add_argument("--by", help="stratify by this column")
    p.add_argument("--cutoff", help="dichotomise --by at this value (low group: value <= cutoff)")
    p.add_argument("--ci", choices=("log-log", "log", "plain"), default="log-log")
    p.add_argument("--at", help="comma-separated times (months) for survival estimates and numbers at risk")
    p.add_argument("--time-unit", choices=units)

    p = file_parser("cox", "Cox proportional-hazards model (Efron ties)", cmd_cox)
    p.add_argument("--time", required=True)
    p.add_argument("--event", required=True)
    p.add_argument("--covariates", required=True, help="A,B:CUTOFF,C  (B:CUTOFF dichotomises B)")
    p.add_argument("--ref", action="append", help="reference level, COL=LEVEL (repeatable)")
    p.add_argument("--univariable", action="store_true", help="one model per covariate")
    p.add_argument("--time-unit", choices=units)

    for name, text, handler in (("response", "best response by RECIST 1.1 and mRECIST with ORR/DCR", cmd_response),
                                ("ae", "adverse events by worst CTCAE grade", cmd_ae),
                                ("baseline", "baseline characteristics table", cmd_baseline)):
        p = file_parser(name, text, handler)
        p.add_argument("--by", help="compare groups of this column")
