"""Cohort subcommands of ``python -m analysis``: validate, km, cox, response, ae, baseline, cutpoint.

Every subcommand reads a cohort file (CSV/TSV, Excel workbook with ``--sheet``, SPSS .sav) with the importer's
rules. ``--time COL --event COL`` name any time/event pair of the file (its header or its canonical name); they
are checked as survival times and event indicators, whatever the columns are called. The JSON shapes are a
public contract (README, "Command line"); extend them, never break them.
"""
from __future__ import annotations

import argparse
import os

from analysis import bounded, schema
from analysis.errors import AnalysisError
from analysis.io import LoadResult


def read_cohort(path: str, **kwargs) -> LoadResult:
    """A file as the command line reads it: in a bounded child process (issue 13), within the budget of this
    process' environment (``HAIC_PARSE_MEMORY_MB``, ``HAIC_PARSE_SECONDS``), without upload limits."""
    return bounded.load_cohort(path, base=bounded.Budget.from_settings(os.environ), **kwargs)


def load_or_fail(path: str, time_unit: str | None = None, endpoints: list | None = None,
                 sheet: str | None = None) -> LoadResult:
    """Load a cohort file for a command; blocking validation errors become one AnalysisError.

    ``endpoints``: the time/event pairs the command names (``--time``/``--event``), read strictly as such.
    """
    result = read_cohort(path, time_unit=time_unit, endpoints=endpoints, sheet=sheet)
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


def _pairs(items: list[str] | None, what: str) -> list[tuple[str, str]]:
    """``COL=VALUE`` options (``--ref``, ``--per``) as pairs."""
    out = []
    for item in items or []:
        col, sep, value = item.partition("=")
        if not sep or not col.strip() or not value.strip():
            raise AnalysisError(f"{what} must look like COL=VALUE, got {item!r}")
        out.append((col.strip(), value.strip()))
    return out


def _requested_endpoint(args) -> list[dict] | None:
    """The ``--time``/``--event`` pair of a command, or None when it names none. ``--event COL=VALUE`` reads an
    event column of another coding: VALUE is the event, every other value censored (``status=2`` for a 0/1/2
    status, as R's ``Surv(time, status == 2)``)."""
    time, event = getattr(args, "time", None), getattr(args, "event", None)
    if (time is None) != (event is None):
        raise AnalysisError("--time and --event go together: give both or neither")
    if time is None:
        return None
    column, sep, value = event.partition("=")
    if sep and not (column.strip() and value.strip()):
        raise AnalysisError("--event must be a column, or COL=VALUE for the value that means an event")
    return [{"time": time, "event": column.strip() if sep else event,
             "event_value": value.strip() if sep else None}]


def _load(args) -> LoadResult:
    return load_or_fail(args.file, getattr(args, "time_unit", None), _requested_endpoint(args),
                        getattr(args, "sheet", None))


def _endpoint(result: LoadResult, args) -> tuple[str, str]:
    return resolve_column(result, args.time), resolve_column(result, args.event.partition("=")[0].strip())


# --- handlers ------------------------------------------------------------------------------------------

def cmd_validate(args):
    from analysis.survival import describe_endpoints

    result = read_cohort(args.file, time_unit=args.time_unit, endpoints=_requested_endpoint(args),
                         sheet=args.sheet)
    payload = result.report.to_dict()
    if result.ok:
        payload["endpoints"] = describe_endpoints(result.data, result.report.endpoints)
    if not payload["ok"]:
        payload["error"] = "; ".join(issue["message"] for issue in payload["errors"])
    return payload, (0 if payload["ok"] else 2)


def cmd_km(args):
    from analysis.survival import km_by_group

    result = _load(args)
    time_col, event_col = _endpoint(result, args)
    by = resolve_column(result, args.by) if args.by else None
    if args.cutoff is not None and by is None:
        raise AnalysisError("--cutoff needs --by")
    cutoff = parse_float(args.cutoff, "--cutoff") if args.cutoff is not None else None
    km = km_by_group(result.data, time_col, event_col, by=by, cutoff=cutoff, ci=args.ci, at=parse_times(args.at))
    return km.to_dict()


def _covariates(result: LoadResult, args):
    from analysis.cox import parse_covariate

    refs = {resolve_column(result, col): level for col, level in _pairs(args.ref, "--ref")}
    per = {resolve_column(result, col): parse_float(n, f"the unit step of {col!r} (--per)")
           for col, n in _pairs(args.per, "--per")}
    specs = [parse_covariate(item, refs, per, resolve=lambda col: resolve_column(result, col))
             for item in (t.strip() for t in args.covariates.split(",")) if item]
    if not specs:
        raise AnalysisError("--covariates is empty")
    labels = [s.label for s in specs]
    dup = sorted({lab for lab in labels if labels.count(lab) > 1})
    if dup:
        raise AnalysisError("covariate(s) given more than once: " + ", ".join(dup))
    return specs


def cmd_cox(args):
    from analysis.cox import cox_fit, cox_univariable

    result = _load(args)
    time_col, event_col = _endpoint(result, args)
    specs = _covariates(result, args)
    if args.univariable:
        return cox_univariable(result.data, time_col, event_col, specs).to_dict()
    return cox_fit(result.data, time_col, event_col, specs).to_dict()


def _excluded(result: LoadResult) -> dict[str, str]:
    """Columns that are not baseline variables, with the reason (their role in the file)."""
    return {name: info.kind for name, info in result.report.columns.items()
            if info.kind in schema.NOT_VARIABLE_KINDS}


def cmd_response(args):
    from analysis.response import response_table

    result = _load(args)
    by = resolve_column(result, args.by) if args.by else None
    return response_table(result.data, by=by).to_dict()


def cmd_ae(args):
    from analysis.adverse_events import ae_table

    result = _load(args)
    by = resolve_column(result, args.by) if args.by else None
    return ae_table(result.data, by=by).to_dict()


def cmd_baseline(args):
    from analysis.baseline import baseline_table

    result = _load(args)
    by = resolve_column(result, args.by) if args.by else None
    return baseline_table(result.data, by=by, roles=_excluded(result)).to_dict()


def cmd_cutpoint(args) -> dict:
    from analysis.cutpoint import optimal_cutpoint

    result = _load(args)
    time_col, event_col = _endpoint(result, args)
    variable = resolve_column(result, args.variable)
    found = optimal_cutpoint(result.data, time_col, event_col, variable, minprop=args.minprop,
                             permutations=args.permutations, bootstrap=args.bootstrap, split=not args.no_split,
                             seed=args.seed)
    return found.to_dict()


def add_commands(sub: argparse._SubParsersAction) -> None:
    from analysis.cutpoint import DEFAULT_BOOTSTRAP, DEFAULT_PERMUTATIONS, DEFAULT_SEED

    units = sorted(schema.TIME_UNIT_FACTORS)

    def file_parser(name: str, help_text: str, handler, endpoint: str | None = None):
        """A subcommand reading a cohort file; ``endpoint``: "required" or "optional" --time/--event."""
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("file", help="cohort file: CSV/TSV, Excel workbook (.xlsx) or SPSS (.sav)")
        p.add_argument("--sheet", help="the workbook sheet to read (default: the first)")
        p.add_argument("--time-unit", choices=units,
                       help="unit of the time columns whose header does not say (default months)")
        if endpoint:
            required = endpoint == "required"
            p.add_argument("--time", required=required, help="survival time column (header or name)")
            p.add_argument("--event", required=required,
                           help="event column (1 = event, 0 = censored; also yes/no, dead/alive, 1/2 as R's Surv), "
                                "or COL=VALUE: VALUE is the event, other values censored (status=2)")
        p.set_defaults(handler=handler)
        return p

    file_parser("validate", "validate a cohort file and report how every column was read", cmd_validate,
                endpoint="optional")

    p = file_parser("km", "Kaplan-Meier estimates, log-rank test and two-group hazard ratio", cmd_km,
                    endpoint="required")
    p.add_argument("--by", help="stratify by this column")
    p.add_argument("--cutoff", help="dichotomise --by at this value (low group: value <= cutoff)")
    p.add_argument("--ci", choices=("log-log", "log", "plain"), default="log-log")
    p.add_argument("--at", help="comma-separated times (months) for survival estimates and numbers at risk")

    p = file_parser("cox", "Cox proportional-hazards model (Efron ties)", cmd_cox, endpoint="required")
    p.add_argument("--covariates", required=True,
                   help="A,B:CUTOFF,C*10,D=LEVEL  (B:CUTOFF dichotomises B; C*10 gives the HR per 10 units of C; "
                        "D=LEVEL makes D categorical with reference LEVEL)")
    p.add_argument("--ref", action="append", help="reference level, COL=LEVEL (repeatable; makes COL categorical)")
    p.add_argument("--per", action="append", help="HR per N units of a continuous covariate, COL=N (repeatable)")
    p.add_argument("--univariable", action="store_true", help="one model per covariate")

    for name, text, handler in (("response", "best response by RECIST 1.1 and mRECIST with ORR/DCR", cmd_response),
                                ("ae", "adverse events by worst CTCAE grade", cmd_ae),
                                ("baseline", "baseline characteristics table", cmd_baseline)):
        p = file_parser(name, text, handler, endpoint="optional")
        p.add_argument("--by", help="compare groups of this column")

    text = ("optimal cutpoint of a continuous variable (maximally selected log-rank statistic) with p-values "
            "corrected for the search, bootstrap interval and split-sample check")
    p = file_parser("cutpoint", text, cmd_cutpoint, endpoint="required")
    p.add_argument("--variable", required=True, help="continuous variable to dichotomise")
    p.add_argument("--minprop", type=float, default=0.1,
                   help="smallest share of patients in each group (default 0.1)")
    p.add_argument("--permutations", type=int, default=DEFAULT_PERMUTATIONS,
                   help=f"Monte Carlo permutations for the corrected p (default {DEFAULT_PERMUTATIONS}; 0 = skip)")
    p.add_argument("--bootstrap", type=int, default=DEFAULT_BOOTSTRAP,
                   help=f"bootstrap replicates of the cutpoint (default {DEFAULT_BOOTSTRAP}; 0 = skip)")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED})")
    p.add_argument("--no-split", action="store_true", help="skip the split-sample check")
