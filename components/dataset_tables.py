"""Table builders: validation report, variable list, and journal-style tables from analysis results."""
from __future__ import annotations

import dash_bootstrap_components as dbc
import pandas as pd
from dash import html

from analysis.schema import TIME_UNIT_FACTORS, level_text
from components.format import NOT_REACHED, format_ci, format_n_pct, format_number


def followup_text(followup: dict | None) -> str:
    """``19.4 months (IQR 15.8–26.5)`` from a reverse-KM follow-up dict."""
    if not followup or followup.get("median") is None:
        return "not reached"
    return (f"{format_number(followup['median'], 1)} months "
            f"(IQR {format_ci(followup.get('q1'), followup.get('q3'), 1, limit_missing=NOT_REACHED)})")


def endpoints_view(summaries: list[dict]) -> html.Div:
    """The dataset's endpoints: name, time and event columns, patients, events, median follow-up."""
    if not summaries:
        return html.Div("No time/event pair: the survival pages need one (name it when you upload the file).",
                        className="small text-muted", id="endpoints-table")
    rows = [html.Tr([html.Td(e["label"]), html.Td(html.Code(e["time"])), html.Td(html.Code(e["event"])),
                     html.Td(e["unit"]), html.Td(e["n"]), html.Td(e["events"]), html.Td(followup_text(e["followup"]))])
            for e in summaries]
    head = html.Thead(html.Tr([html.Th(h) for h in ("Endpoint", "Time", "Event", "Unit in the file", "Patients",
                                                       "Events", "Median follow-up (reverse KM)")]))
    return dbc.Table([head, html.Tbody(rows)], size="sm", striped=True, className="small", id="endpoints-table")


def unit_check_view(issues: list[dict], summaries: list[dict], unit: str) -> dbc.Card:
    """The time-unit check of the upload step: what the times mean as read (the median follow-up in the chosen
    unit) and the unit they look like, with a button for each reading."""
    by_time = {e["time"]: e for e in summaries}
    lines, likely = [], []
    for issue in issues:
        d = issue.get("details") or {}
        e = by_time.get(issue.get("column")) or next(iter(summaries), None)
        f = e["followup"] if e else None
        if f and f.get("median") is not None and d.get("unit") in TIME_UNIT_FACTORS:
            months = f["median"]
            in_unit = f"{format_number(months / TIME_UNIT_FACTORS[d['unit']], 1)} {d['unit']}"
            years = f", {format_number(months / 12, 0)} years" if months >= 24 else ""
            as_read = (f"a median follow-up of {in_unit}" +
                       (f" ({format_number(months, 1)} months{years})" if d["unit"] != "months" else
                        (f" ({years[2:]})" if years else "")))
        else:
            as_read = "no median follow-up"
        lines.append(html.Li([html.Code(issue.get("column") or ""), f": read as {d.get('unit', unit)}, {as_read}; "
                              f"the values run from {d.get('min', 0):g} to {d.get('max', 0):g} and look like "
                              f"{d.get('likely_unit', '?')}."]))
        if d.get("likely_unit"):
            likely.append(d["likely_unit"])
    buttons = [dbc.Button(f"Read the times as {u}", id={"type": "unit-choice", "unit": u}, size="sm",
                          color="primary", className="me-2") for u in dict.fromkeys(likely)]
    buttons.append(dbc.Button(f"Keep {unit}", id={"type": "unit-choice", "unit": unit}, size="sm",
                              color="secondary", outline=True))
    return dbc.Card(dbc.CardBody([html.Ul(lines, className="small mb-2"), html.Div(buttons)]),
                    className="mb-2 border-warning", id="unit-check")


def validation_report_view(report: dict) -> html.Div:
    """Errors (blocking) and warnings (informative) of a validation report, each naming column and lines."""
    items = []
    for issue in report.get("errors", []):
        items.append(dbc.ListGroupItem([dbc.Badge("error", color="danger", className="me-2"), issue["message"]]))
    for issue in report.get("warnings", []):
        items.append(dbc.ListGroupItem([dbc.Badge("warning", color="warning", text_color="dark", className="me-2"),
                                        issue["message"]]))
    if not items:
        return html.Div("No problems found.", className="small text-success", id="validation-report")
    return html.Div(dbc.ListGroup(items, flush=True, className="small"), id="validation-report",
                    style={"maxHeight": "260px", "overflowY": "auto"})


def preview_table(head: pd.DataFrame, table_id: str) -> html.Table:
    """The first rows of the dataset as read (canonical column names; each cell as written in the file, as a
    category level reads: ``1``, not ``1.0``; a missing value is blank)."""
    values = head.astype(object).where(head.notna(), None)
    return html.Table([html.Thead(html.Tr([html.Th(str(c)) for c in head.columns])),
                       html.Tbody([html.Tr([html.Td(level_text(v) or "") for v in row])
                                   for row in values.itertuples(index=False)])],
                      id=table_id, className="table table-sm table-striped small mb-0 preview-table")


def variables_table(report: dict) -> dbc.Table:
    """One row per column: name, header in the file, how it was read, missing count."""
    n = report.get("n_rows", 0) or 0
    rows = []
    for name, info in report.get("columns", {}).items():
        kind = info["kind"] + ("" if info["recognised"] else " (user variable)")
        unit = f" (converted from {info['unit']})" if info.get("unit") not in (None, "months") else ""
        miss = info["n_missing"]
        rows.append(html.Tr([html.Td(html.Code(name)), html.Td(info["source"]), html.Td(kind + unit),
                             html.Td(format_n_pct(miss, 100 * miss / n if n else None, digits=0, sign=True))]))
    head = html.Thead(html.Tr([html.Th("Column"), html.Th("Header in file"), html.Th("Read as"),
                               html.Th("Missing")]))
    return dbc.Table([head, html.Tbody(rows)], size="sm", striped=True, hover=True, className="small",
                     id="variables-table")
