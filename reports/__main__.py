"""``python -m reports deck|docx|r FILE [options] -o OUT``: the tumour-board deck (.pptx), the manuscript tables
(.docx) or the R bundle (.zip) of a cohort file, for scripting.

The view comes from ``--spec view.json`` (:mod:`reports.spec`) and/or the options below (an option overrides the
spec's value). Columns are named as in the file or by their canonical names. On success one JSON object is
printed (``{"output", "kind", "bytes", ...}``) and the exit code is 0; unusable input exits 2 with
``{"error": "..."}`` on stdout and one line on stderr, never a traceback (as ``python -m analysis``).

Examples::

    python -m reports deck data/demo_cohort.csv --spec reports/views/paper_demo.json -o board.pptx
    python -m reports r lung.csv --time-unit days --time time --event status --by sex \\
        --covariates "age*10,sex,ph_ecog" -o lung-r.zip
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from pathlib import Path

from analysis.cli import Parser, emit_error, json_safe
from analysis.errors import AnalysisError
from reports import KINDS, build

def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="python -m reports", description=__doc__.splitlines()[0])
    p.add_argument("kind", choices=KINDS, help="deck (.pptx), docx (manuscript tables) or r (R bundle .zip)")
    p.add_argument("file", help="cohort file: CSV/TSV, Excel workbook (.xlsx) or SPSS (.sav)")
    p.add_argument("-o", "--output", required=True, help="the file to write")
    p.add_argument("--spec", help="the view as JSON (see reports/spec.py); the options below override it")
    p.add_argument("--sheet", help="the workbook sheet to read (default: the first)")
    p.add_argument("--time-unit", choices=("days", "weeks", "months", "years"),
                   help="unit of the time columns whose header does not say (default months)")
    p.add_argument("--time", action="append", help="survival time column (repeat with --event for more endpoints)")
    p.add_argument("--event", action="append", help="event column (1 = event, 0 = censored), one per --time")
    p.add_argument("--label", action="append", help="endpoint label, one per --time (default: from the name)")
    p.add_argument("--by", help="stratify the KM figure by this column")
    p.add_argument("--cutoff", help="cut --by at this value (low group: value <= cutoff), or 'optimal' for the "
                                    "maximally selected log-rank statistic's optimum")
    p.add_argument("--ci", choices=("log-log", "log", "plain"), help="KM confidence interval transform")
    p.add_argument("--landmarks", help="landmark times (months), comma-separated")
    p.add_argument("--risk-times", help="number-at-risk times (months), comma-separated")
    p.add_argument("--covariates", help="Cox candidates: A,B:CUTOFF,C*10,D=LEVEL (default: every usable column)")
    p.add_argument("--selection", choices=("p", "manual"), help="multivariable model: univariable p < alpha "
                                                                 "(default) or the --manual list")
    p.add_argument("--alpha", type=float, help="entry p-value of the selection rule (default 0.05)")
    p.add_argument("--manual", help="covariates of the multivariable model (with --selection manual)")
    p.add_argument("--grid", help="KM panels of the Figure 3/4 grid, e.g. ast:56.5,child_pugh (default: the "
                                  "multivariable model's covariates)")
    p.add_argument("--response-by", help="compare response by this column")
    p.add_argument("--ae-by", help="compare adverse events by this column")
    p.add_argument("--baseline-by", help="compare baseline characteristics by this column")
    p.add_argument("--meta", help="add the meta-analysis of the shipped 17 studies: os, pfs, orr, dcr or ae")
    p.add_argument("--meta-method", choices=("REML", "DL", "PM", "FE"), help="random-effects method (default REML)")
    p.add_argument("--name", help="dataset name on the slides (default: the file name)")
    p.add_argument("--title", help="title of the deck / document")
    p.add_argument("--synthetic", action="store_true", help="flag the data as SYNTHETIC")
    p.add_argument("--date", help="the date printed (YYYY-MM-DD; default today)")
    return p


def _csv(text: str | None) -> list[str] | None:
    return None if text is None else [t.strip() for t in text.split(",") if t.strip()]


def view_dict(args) -> dict:
    """The spec's JSON object with the command line's options applied."""
    view: dict = {}
    if args.spec:
        try:
            view = json.loads(Path(args.spec).read_text(encoding="utf-8"))
        except OSError as exc:
            raise AnalysisError(f"cannot read the view file {args.spec!r} ({exc.strerror})") from None
        except ValueError as exc:
            raise AnalysisError(f"the view file {args.spec!r} is not valid JSON ({exc})") from None
        if not isinstance(view, dict):
            raise AnalysisError("the view file must hold a JSON object")
    ds = view.setdefault("dataset", {})
    ds["file"] = args.file
    for key, value in (("name", args.name), ("time_unit", args.time_unit), ("sheet", args.sheet)):
        if value is not None:
            ds[key] = value
    ds.setdefault("name", Path(args.file).name)
    if args.synthetic or _is_demo(args.file):
        ds["synthetic"] = True
    if args.time or args.event:
        times, events, labels = args.time or [], args.event or [], args.label or []
        if len(times) != len(events):
            raise AnalysisError("--time and --event go together: give one --event for each --time")
        view["endpoints"] = [{"time": t, "event": e, "label": labels[i] if i < len(labels) else ""}
                             for i, (t, e) in enumerate(zip(times, events))]
    km = view.setdefault("km", {})
    if args.by is not None:
        km["by"] = args.by
    if args.cutoff is not None:
        if args.cutoff.strip().lower() == "optimal":
            km["cutoff"], km["cutoff_source"] = None, "optimal"
        else:
            km["cutoff"] = args.cutoff
    for key, value in (("ci", args.ci), ("landmarks", _csv(args.landmarks)), ("risk_times", _csv(args.risk_times))):
        if value is not None:
            km[key] = value
    cox = view.setdefault("cox", {})
    for key, value in (("covariates", _csv(args.covariates)), ("selection", args.selection), ("alpha", args.alpha),
                       ("manual", _csv(args.manual))):
        if value is not None:
            cox[key] = value
    if args.manual is not None and args.selection is None:
        cox["selection"] = "manual"
    if args.grid is not None:
        view["grid"] = _csv(args.grid)
    group_by = view.setdefault("group_by", {})
    for key, value in (("response", args.response_by), ("ae", args.ae_by), ("baseline", args.baseline_by)):
        if value is not None:
            group_by[key] = value
    if args.meta is not None or args.meta_method is not None:
        meta = view.get("meta") or {}
        meta.update({k: v for k, v in (("outcome", args.meta), ("method", args.meta_method)) if v is not None})
        view["meta"] = meta
    if args.title is not None:
        view["title"] = args.title
    return view


def _is_demo(path: str) -> bool:
    from services.store import DEMO_PATH

    try:
        return Path(path).resolve() == DEMO_PATH.resolve()
    except OSError:
        return False


def run(args, progress=None) -> dict:
    from analysis.cli.cohort import load_or_fail
    from reports.results import compute, dataset_from_load
    from reports.spec import ReportSpec

    spec = ReportSpec.from_dict(view_dict(args))
    endpoints = [(e.time, e.event) for e in spec.endpoints] or None
    loaded = load_or_fail(args.file, spec.time_unit, endpoints, spec.sheet)
    today = None
    if args.date:
        try:
            today = dt.date.fromisoformat(args.date)
        except ValueError:
            raise AnalysisError("--date must be YYYY-MM-DD") from None
    results = compute(dataset_from_load(loaded, spec.dataset_name, spec.synthetic), spec, today=today)
    data = build(results, args.kind, progress)
    out = Path(args.output)
    if out.parent and not out.parent.exists():
        raise AnalysisError(f"the folder of {args.output!r} does not exist")
    tmp = out.with_name(out.name + ".part")
    tmp.write_bytes(data)
    os.replace(tmp, out)
    return {"output": str(out), "kind": args.kind, "bytes": len(data), "n": results.n,
            "endpoints": [e.endpoint.key for e in results.endpoints], "notes": results.notes}


def main(argv: list[str] | None = None) -> int:
    from reports.figures import RenderError

    try:
        args = build_parser().parse_args(argv)
        payload = run(args)
    except (AnalysisError, RenderError) as exc:
        return emit_error(str(exc))
    except SystemExit as exc:                  # --help
        return int(exc.code or 0)
    except Exception as exc:                   # never a traceback; the type name only, no data values
        return emit_error(f"internal error ({type(exc).__name__}); please report this with the command used")
    print(json.dumps(json_safe(payload), ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
