"""Data page: the current dataset, upload with validation report and column mapping, preview, variables."""
from __future__ import annotations

import base64
import binascii

import dash
import dash_ag_grid as dag
import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, callback, ctx, dcc, html, no_update

from analysis import schema
from analysis.bounded import load_cohort      # the upload is read in a bounded child process (issue 13)
from analysis.io import Limits
from components.layout import error_alert
from components.tables import validation_report_view, variables_table
from services.meta_views import discard_session_data
from services.store import (DEMO_ID, DatasetMissing, delete_session_data, get_dataset, get_pending, put_dataset,
                            put_pending)

dash.register_page(__name__, path="/", name="Data", title="Data - HAIC Cohort Analytics")

PREVIEW_ROWS = 200
MAPPING_CHOICES = [{"label": "keep as user variable", "value": ""}] + [
    {"label": c, "value": c} for c in schema.CANONICAL_COLUMNS
]


def layout(**_query):
    return html.Div([
        html.H2("Data", className="h4 mt-3"),
        dbc.Row([
            dbc.Col([
                dcc.Upload(
                    id="upload",
                    children=html.Div(["Drag and drop a cohort CSV here, or ", html.A("choose a file"),
                                       html.Div(f"CSV (comma, semicolon or tab), up to "
                                                f"{Limits.from_env().max_bytes // (1024 * 1024)} MB and "
                                                f"{Limits.from_env().max_rows:,} rows; larger files are refused "
                                                f"by the browser before upload", className="small text-muted")]),
                    className="upload-box", multiple=False, max_size=Limits.from_env().max_bytes,
                ),
                dbc.Row([
                    dbc.Col(dbc.Label("Time unit where the header does not say", html_for="time-unit",
                                      className="small mb-0"), width="auto"),
                    dbc.Col(dbc.Select(id="time-unit", value="months", size="sm",
                                       options=[{"label": u, "value": u} for u in schema.TIME_UNIT_FACTORS])),
                ], className="mt-2 g-2 align-items-center"),
                html.Div([
                    dbc.Button("Use the synthetic demo cohort", id="use-demo", size="sm", color="secondary",
                               outline=True, className="me-2 mt-2"),
                    dbc.Button("Remove my data", id="remove-data", size="sm", color="danger", outline=True,
                               className="mt-2"),
                ]),
            ], md=5),
            dbc.Col([html.Div(id="upload-feedback")], md=7),
        ], className="g-3"),
        dcc.Store(id="pending-upload"),
        # fires the preview on page load: Dash does not run a callback for a new page when its only input is
        # an output of a callback that is prevented from its initial call (the upload handler)
        dcc.Store(id="data-page-init", data=True),
        html.Div(id="mapping-step", className="mt-3"),
        html.H3("Preview", className="h6 mt-4"),
        html.Div(id="preview"),
        html.H3("Variables", className="h6 mt-4"),
        html.Div(id="variables"),
    ])


def _decode_upload(contents: str) -> bytes:
    try:
        _header, encoded = contents.split(",", 1)
        return base64.b64decode(encoded, validate=False)
    except (ValueError, binascii.Error):
        return b""


def _mapping_form(report: dict) -> html.Div | None:
    unknown = [(name, info) for name, info in report.get("columns", {}).items() if not info["recognised"]]
    if not unknown:
        return None
    rows = [
        dbc.Row([
            dbc.Col(html.Code(info["source"]), md=4),
            dbc.Col(dbc.Select(id={"type": "map-col", "source": info["source"]}, options=MAPPING_CHOICES,
                               value="", size="sm"), md=5),
        ], className="mb-1 g-2")
        for name, info in unknown
    ]
    return dbc.Card(dbc.CardBody([
        html.H3("Columns the importer did not recognise", className="h6"),
        html.P("They are kept as user variables. Map any of them to a standard column if that is what they are.",
               className="small text-muted"),
        *rows,
        dbc.Button("Apply mapping", id={"type": "apply-mapping", "index": 0}, size="sm", color="primary", className="mt-2"),
    ]))


@callback(
    Output("dataset-id", "data"),
    Output("upload-feedback", "children"),
    Output("pending-upload", "data"),
    Output("mapping-step", "children"),
    Input("upload", "contents"),
    Input("use-demo", "n_clicks"),
    Input("remove-data", "n_clicks"),
    Input({"type": "apply-mapping", "index": ALL}, "n_clicks"),
    State("upload", "filename"),
    State("time-unit", "value"),
    State("dataset-id", "data"),
    State("pending-upload", "data"),
    State({"type": "map-col", "source": ALL}, "value"),
    State({"type": "map-col", "source": ALL}, "id"),
    prevent_initial_call=True,
)
def handle_upload(contents, _demo, _remove, _apply, filename, time_unit, current_id, pending, map_values, map_ids):
    trigger = ctx.triggered_id
    if trigger == "use-demo":
        return DEMO_ID, dbc.Alert("Switched to the synthetic demo cohort.", color="info", className="py-2"), None, None
    if trigger == "remove-data":
        # everything this browser session put on the server: cohorts (with derived results), pending uploads,
        # and the meta-analysis page's edited study table
        removed = delete_session_data() + int(discard_session_data())
        text = ("Your uploaded data were deleted from the server." if removed
                else "No uploaded data of yours were on the server.")
        return DEMO_ID, dbc.Alert(text + " Showing the synthetic demo cohort.", color="info", className="py-2"), \
            None, None
    if isinstance(trigger, dict) and trigger.get("type") == "apply-mapping":
        if not pending:
            return no_update, error_alert("Upload the file again to change its mapping."), None, None
        try:
            raw, name = get_pending(pending)
        except DatasetMissing as exc:
            return no_update, error_alert(str(exc)), None, None
        mapping = {i["source"]: v for i, v in zip(map_ids, map_values) if v}
    else:
        if not contents:
            return no_update, no_update, no_update, no_update
        raw, name = _decode_upload(contents), filename or "upload.csv"
        mapping = {}
        pending = put_pending(raw, name)
    result = load_cohort(raw, time_unit=time_unit, mapping=mapping, limits=Limits.from_env())
    report = result.report.to_dict()
    if not result.ok:
        feedback = [dbc.Alert([html.Strong(f"{name} was not loaded. "),
                               "The previous dataset is still active."], color="danger", className="py-2"),
                    validation_report_view(report)]
        return no_update, feedback, pending, _mapping_form(report)
    ds = put_dataset(result, name)
    feedback = [dbc.Alert([html.Strong(f"Loaded {name}: "), f"{ds.n} patients, {len(report['columns'])} columns."],
                          color="success", className="py-2"),
                validation_report_view(report)]
    return ds.id, feedback, pending, _mapping_form(report)


@callback(Output("preview", "children"), Output("variables", "children"), Input("dataset-id", "data"),
          Input("data-page-init", "data"))
def show_dataset(dataset_id, _init=None):
    try:
        ds = get_dataset(dataset_id)
    except DatasetMissing as exc:
        return error_alert(str(exc)), None
    head = ds.frame.head(PREVIEW_ROWS)
    grid = dag.AgGrid(
        id="preview-grid",
        rowData=head.astype(object).where(head.notna(), None).to_dict("records"),
        columnDefs=[{"field": c, "headerName": c} for c in head.columns],
        defaultColDef={"resizable": True, "sortable": True, "filter": True, "minWidth": 90},
        style={"height": "320px"},
        dashGridOptions={"animateRows": False},
    )
    note = html.Div(f"First {min(PREVIEW_ROWS, ds.n)} of {ds.n} rows.", className="small text-muted")
    return [grid, note], variables_table(ds.report)
