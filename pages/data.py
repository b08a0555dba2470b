"""Data page: the current dataset, upload (CSV/TSV, Excel, SPSS) with validation report, the endpoints found
with their median follow-up, the time-unit check, column mapping, preview, variables."""
from __future__ import annotations

import base64
import binascii

import dash
import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, callback, ctx, dcc, html, no_update

from analysis import formats, schema
from analysis.bounded import load_cohort      # the upload is read in a bounded child process (issue 13)
from analysis.survival import describe_endpoints
from components import ids
from components.dataset_tables import (endpoints_view, preview_table, unit_check_view, validation_report_view,
                                      variables_table)
from components.layout import FORMAT_PATH, error_alert
from components.report_buttons import report_buttons, report_callbacks
from components.static_html import static_html
from reports.jobs import default_view
from services import config
from services.store import (DEMO_ID, DatasetMissing, delete_session_data, get_dataset, get_pending, put_dataset,
                            put_pending)

dash.register_page(__name__, path="/", name="Data", title="Data - HAIC Cohort Analytics")

PREVIEW_ROWS = 50
MAPPING_CHOICES = [{"label": "keep as user variable", "value": ""}] + [
    {"label": c, "value": c} for c in schema.CANONICAL_COLUMNS
]
ACCEPT = ",".join(sorted(formats.EXTENSIONS))


def layout(dataset_id: str | None = None, **_query):
    limits = config.upload_limits()
    preview, variables, endpoints = dataset_view(dataset_id)     # the dataset's, at once
    return html.Div([
        html.H2("Data", className="h4 mt-3"),
        dbc.Row([
            dbc.Col([
                dcc.Upload(
                    id=ids.UPLOAD,
                    children=html.Div(["Drag and drop a cohort file here, or ", html.A("choose a file"),
                                       html.Div(f"CSV/TSV, Excel (.xlsx) or SPSS (.sav), up to "
                                                f"{limits.max_bytes // (1024 * 1024)} MB and "
                                                f"{limits.max_rows:,} rows; larger files are refused "
                                                f"by the browser before upload", className="small text-muted")]),
                    className="upload-box", multiple=False, max_size=limits.max_bytes, accept=ACCEPT,
                ),
                dbc.Row([
                    dbc.Col(dbc.Label("Time unit where the header does not say", html_for=ids.TIME_UNIT,
                                      className="small mb-0"), width="auto"),
                    dbc.Col(dbc.Select(id=ids.TIME_UNIT, value="months", size="sm",
                                       options=[{"label": u, "value": u} for u in schema.TIME_UNIT_FACTORS])),
                ], className="mt-2 g-2 align-items-center"),
                html.Div([
                    dbc.Button("Use the synthetic demo cohort", id=ids.USE_DEMO, size="sm", color="secondary",
                               outline=True, className="me-2 mt-2"),
                    dbc.Button("Remove my data", id=ids.REMOVE_DATA, size="sm", color="danger", outline=True,
                               className="mt-2"),
                ]),
                html.Div(dcc.Link("What a cohort file may hold: the file format", href=FORMAT_PATH),
                         className="small mt-2"),
                report_buttons("data", what="the whole dataset (every analysis with its defaults)"),
            ], md=5),
            dbc.Col([html.Div(id=ids.UPLOAD_FEEDBACK)], md=7),
        ], className="g-3"),
        dcc.Store(id="pending-upload"),
        # how the pending file is read: time unit, sheet, column mapping, endpoints named, unit confirmed
        dcc.Store(id="upload-settings"),
        html.Div(id=ids.MAPPING_STEP, className="mt-3"),
        html.H3("Endpoints", className="h6 mt-4"),
        html.Div(endpoints, id="dataset-endpoints"),
        html.H3("Preview", className="h6 mt-4"),
        html.Div(preview, id=ids.PREVIEW),
        html.H3("Variables", className="h6 mt-4"),
        html.Div(variables, id="variables"),
    ])


def report_view(dataset_id) -> dict:
    """The deliverables' view of this page (:mod:`reports.spec`): the whole dataset, every analysis with the
    pages' defaults."""
    return default_view(get_dataset(dataset_id))


report_callbacks("data", [], report_view)


def _decode_upload(contents: str) -> bytes:
    try:
        _header, encoded = contents.split(",", 1)
        return base64.b64decode(encoded, validate=False)
    except (ValueError, binascii.Error):
        return b""


def _mapping_form(report: dict, settings: dict, sheets: list[str]) -> html.Div | None:
    """The upload's second step: the sheet of a workbook, a time/event pair to add, unknown columns to map."""
    parts = []
    if len(sheets) > 1:
        parts.append(dbc.Row([
            dbc.Col(dbc.Label("Sheet", html_for="upload-sheet", className="small mb-0"), width="auto"),
            dbc.Col(dbc.Select(id={"type": "upload-sheet", "index": 0}, size="sm",
                               value=report.get("sheet") or sheets[0],
                               options=[{"label": s, "value": s} for s in sheets])),
        ], className="g-2 mb-2 align-items-center"))
    headers = [info["source"] for info in report.get("columns", {}).values()]
    if headers:
        choices = [{"label": h, "value": h} for h in headers]
        parts += [
            html.H3("Add a time/event pair (an endpoint)", className="h6 mt-2"),
            html.P("Any survival time and its event column (1 = event, 0 = censored), under your own name, e.g. "
                   "time to recurrence. For an event column of another coding, give the value that means the event "
                   "(e.g. 2 for a 0/1/2 status); every other value is censored.", className="small text-muted mb-1"),
            dbc.Row([
                dbc.Col(dbc.Select(id={"type": "endpoint-time", "index": 0}, options=choices,
                                   placeholder="time column", size="sm"), md=3),
                dbc.Col(dbc.Select(id={"type": "endpoint-event", "index": 0}, options=choices,
                                   placeholder="event column", size="sm"), md=3),
                dbc.Col(dbc.Input(id={"type": "endpoint-value", "index": 0}, size="sm",
                                  placeholder="event value if not 1"), md=2),
                dbc.Col(dbc.Input(id={"type": "endpoint-name", "index": 0}, placeholder="name (optional)",
                                  size="sm"), md=2),
                dbc.Col(dbc.Button("Add", id={"type": "add-endpoint", "index": 0}, size="sm", color="primary"),
                        md=2),
            ], className="g-2"),
        ]
    unknown = [(name, info) for name, info in report.get("columns", {}).items() if not info["recognised"]]
    if unknown:
        rows = [
            dbc.Row([
                dbc.Col(html.Code(info["source"]), md=4),
                dbc.Col(dbc.Select(id={"type": "map-col", "source": info["source"]}, options=MAPPING_CHOICES,
                                   value=(settings.get("mapping") or {}).get(info["source"], ""), size="sm"), md=5),
            ], className="mb-1 g-2")
            for _name, info in unknown
        ]
        parts += [
            html.H3("Columns the importer did not recognise", className="h6 mt-3"),
            html.P("They are kept as your own variables. Map any of them to a standard column if that is what "
                   "they are.", className="small text-muted"),
            *rows,
            dbc.Button("Apply mapping", id={"type": "apply-mapping", "index": 0}, size="sm", color="primary",
                       className="mt-2"),
        ]
    return dbc.Card(dbc.CardBody(parts)) if parts else None


def _unit_issues(report: dict) -> list[dict]:
    return [i for i in report.get("warnings", []) if i.get("code") == "time_unit"]


@callback(
    Output(ids.DATASET_ID, "data"),
    Output(ids.UPLOAD_FEEDBACK, "children"),
    Output("pending-upload", "data"),
    Output(ids.MAPPING_STEP, "children"),
    Output("upload-settings", "data"),
    Input(ids.UPLOAD, "contents"),
    Input(ids.USE_DEMO, "n_clicks"),
    Input(ids.REMOVE_DATA, "n_clicks"),
    Input({"type": "apply-mapping", "index": ALL}, "n_clicks"),
    Input({"type": "add-endpoint", "index": ALL}, "n_clicks"),
    Input({"type": "unit-choice", "unit": ALL}, "n_clicks"),
    Input({"type": "upload-sheet", "index": ALL}, "value"),
    State(ids.UPLOAD, "filename"),
    State(ids.TIME_UNIT, "value"),
    State("pending-upload", "data"),
    State("upload-settings", "data"),
    State({"type": "map-col", "source": ALL}, "value"),
    State({"type": "map-col", "source": ALL}, "id"),
    State({"type": "endpoint-time", "index": ALL}, "value"),
    State({"type": "endpoint-event", "index": ALL}, "value"),
    State({"type": "endpoint-name", "index": ALL}, "value"),
    State({"type": "endpoint-value", "index": ALL}, "value"),
    prevent_initial_call=True,
)
def handle_upload(contents, _demo, _remove, _apply, _add, _unit, sheets_chosen, filename, time_unit, pending,
                  settings, map_values, map_ids, ep_times, ep_events, ep_names, ep_values=()):
    """Read an upload (or re-read the pending one with new settings) and make it the active dataset, unless it
    is refused or its time unit must be confirmed first; the previous dataset stays active otherwise."""
    trigger = ctx.triggered_id
    if trigger == ids.USE_DEMO:
        return (DEMO_ID, dbc.Alert("Switched to the synthetic demo cohort.", color="info", className="py-2"), None,
                None, None)
    if trigger == ids.REMOVE_DATA:
        # everything this browser session put on the server: cohorts (with derived results), pending uploads,
        # and the meta-analysis page's edited study table
        removed = delete_session_data()
        text = ("Your uploaded data were deleted from the server." if removed
                else "No uploaded data of yours were on the server.")
        return DEMO_ID, dbc.Alert(text + " Showing the synthetic demo cohort.", color="info", className="py-2"), \
            None, None, None
    if trigger == ids.UPLOAD:
        if not contents:
            return (no_update,) * 5
        raw, name = _decode_upload(contents), filename or "upload.csv"
        pending = put_pending(raw, name)
        settings = {"time_unit": time_unit, "mapping": {}, "endpoints": [], "sheet": None, "confirmed": False}
    else:
        if not pending or not settings:
            return no_update, error_alert("Upload the file again to change how it is read."), None, None, None
        try:
            raw, name = get_pending(pending)
        except DatasetMissing as exc:
            return no_update, error_alert(str(exc)), None, None, None
        settings = dict(settings)
        kind = trigger.get("type") if isinstance(trigger, dict) else trigger
        if kind == "apply-mapping":
            settings["mapping"] = {i["source"]: v for i, v in zip(map_ids, map_values) if v}
        elif kind == "add-endpoint":
            ep_time, ep_event, ep_name, ep_value = (v[0] if v else None
                                                    for v in (ep_times, ep_events, ep_names, ep_values))
            if not ep_time or not ep_event:
                return no_update, error_alert("Choose the time column and the event column of the endpoint."), \
                    no_update, no_update, no_update
            settings["endpoints"] = [*settings.get("endpoints", []),
                                     {"time": ep_time, "event": ep_event, "label": (ep_name or "").strip() or None,
                                      "event_value": (str(ep_value).strip() or None) if ep_value else None}]
        elif kind == "unit-choice":
            settings["time_unit"], settings["confirmed"] = trigger["unit"], True
        elif kind == "upload-sheet":
            settings["sheet"] = sheets_chosen[0] if sheets_chosen else None
    result = load_cohort(raw, time_unit=settings["time_unit"], mapping=settings.get("mapping") or {},
                         endpoints=settings.get("endpoints") or None, sheet=settings.get("sheet"),
                         limits=config.upload_limits(), base=config.parse_budget())
    report = result.report.to_dict()
    sheets = formats.sheet_names(raw) if report.get("format") == formats.WORKBOOK else []
    step = _mapping_form(report, settings, sheets)
    if not result.ok:
        feedback = [dbc.Alert([html.Strong(f"{name} was not loaded. "), "The previous dataset is still active."],
                              color="danger", className="py-2"),
                    validation_report_view(report)]
        return no_update, feedback, pending, step, settings
    summaries = describe_endpoints(result.data, result.report.endpoints)
    issues = _unit_issues(report)
    if issues and not settings.get("confirmed"):
        feedback = [dbc.Alert([html.Strong(f"{name} was not loaded yet: check the time unit. "),
                               "The previous dataset is still active."], color="warning", className="py-2"),
                    unit_check_view(issues, summaries, settings["time_unit"]),
                    validation_report_view(report)]
        return no_update, feedback, pending, step, settings
    ds = put_dataset(result, name)
    where = f" (sheet {report['sheet']})" if report.get("sheet") else ""
    feedback = [dbc.Alert([html.Strong(f"Loaded {name}{where}: "),
                           f"{ds.n} patients, {len(report['columns'])} columns, "
                           f"{len(summaries)} endpoint{'s' if len(summaries) != 1 else ''}."],
                          color="success", className="py-2"),
                validation_report_view(report)]
    return ds.id, feedback, pending, step, settings


# the layout is drawn with the dataset; an upload, the demo button or a link's ds= bring another
@callback(Output(ids.PREVIEW, "children"), Output("variables", "children"), Output("dataset-endpoints", "children"),
          Input(ids.DATASET_ID, "data"), prevent_initial_call=True)
def show_dataset(dataset_id):
    return dataset_view(dataset_id)


def dataset_view(dataset_id) -> tuple:
    """The dataset's first rows, variables and endpoints (an alert instead when it is not on the server)."""
    try:
        ds = get_dataset(dataset_id)
    except DatasetMissing as exc:
        return error_alert(str(exc)), None, None
    # static HTML in a box that scrolls both ways, its header row kept in view (an AG Grid cost ~0.3 s of the
    # page's first view)
    grid = html.Div(static_html(preview_table(ds.frame.head(PREVIEW_ROWS), ids.PREVIEW_GRID)),
                    className="preview-box")
    note = html.Div(f"First {min(PREVIEW_ROWS, ds.n)} of {ds.n} rows.", className="small text-muted")
    endpoints = static_html(endpoints_view(describe_endpoints(ds.frame, ds.endpoints)))
    return [grid, note], static_html(variables_table(ds.report)), endpoints
