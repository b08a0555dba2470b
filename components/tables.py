"""Table builders: validation report, variable list, and journal-style tables from analysis results."""
from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import html


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


def variables_table(report: dict) -> dbc.Table:
    """One row per column: name, header in the file, how it was read, missing count."""
    n = report.get("n_rows", 0) or 0
    rows = []
    for name, info in report.get("columns", {}).items():
        kind = info["kind"] + ("" if info["recognised"] else " (user variable)")
        unit = f" (converted from {info['unit']})" if info.get("unit") not in (None, "months") else ""
        miss = info["n_missing"]
        rows.append(html.Tr([html.Td(html.Code(name)), html.Td(info["source"]), html.Td(kind + unit),
                             html.Td(f"{miss} ({100 * miss / n:.0f}%)" if n else str(miss))]))
    head = html.Thead(html.Tr([html.Th("Column"), html.Th("Header in file"), html.Th("Read as"),
                               html.Th("Missing")]))
    return dbc.Table([head, html.Tbody(rows)], size="sm", striped=True, hover=True, className="small",
                     id="variables-table")
