"""Tumour response page: RECIST 1.1 vs mRECIST best response (the seed paper's Table 2) with exact CIs, the
cross-tabulation of the two criteria with agreement, ORR/DCR by group with tests, and Kaplan-Meier curves by
objective response with an optional landmark (guarantee-time bias).

View state lives in the URL: ``/response?by=treatment&criterion=recist&endpoint=os&landmark=3``.
"""
from __future__ import annotations

import math

import dash
import dash_bootstrap_components as dbc
import plotly.graph_objects as go
from dash import ClientsideFunction, Input, Output, State, callback, clientside_callback, dcc, html, no_update

from analysis.errors import AnalysisError
from components import ids
from components.clinical_tables import (plot_text, response_by_group_table, response_crosstab_table,
                                        response_summary_table)
from components.format import format_hr
from components.km_figure import curves_from_stratified, km_figure
from components.layout import absent_note, error_alert
from components.report_buttons import report_buttons, report_callbacks
from components.static_html import static_html
from components.table_card import figure_card, table_card
from reports.jobs import grouped_view
from services.cohort_views import (CRITERION_NAMES, group_dropdown, label_of, response_columns, response_cross,
                                   response_km, response_summary)
from services.store import DatasetMissing, get_dataset
from services.survival_view import endpoint_of, endpoint_options, landmarks, risk_times

dash.register_page(__name__, path="/response", name="Response", title="Tumour response - HAIC Cohort Analytics")

LANDMARK_CHOICES = {"0": "None (from treatment start)", "3": "3 months", "6": "6 months", "12": "12 months"}

WHY_LANDMARK = [
    html.Strong("Why a landmark? "),
    "A patient has to live, and stay progression-free, long enough to be seen responding. Comparing responders "
    "with non-responders from the start of treatment credits the responders with survival time they were "
    "guaranteed to have (guarantee-time or immortal-time bias), so response looks more protective than it is. "
    "The landmark method starts the clock at a fixed time and compares only the patients still at risk then, "
    "classified by their response (Anderson, Cain & Gelber, J Clin Oncol 1983). ",
    html.Em("Caveat: "),
    "the data hold the best overall response without its date, so a patient can count as a responder because "
    "of a response first seen after the landmark; the landmark removes the early events (the largest part of "
    "the bias), not this remainder.",
]


def layout(by: str | None = None, criterion: str = "recist", endpoint: str | None = None, landmark: str = "0",
           dataset_id: str | None = None, **_other):
    criterion = criterion if criterion in CRITERION_NAMES else "recist"
    landmark = landmark if landmark in LANDMARK_CHOICES else "0"
    # the dataset's groups and endpoints, at once (fill_groups brings another dataset's when it is switched here)
    (by_options, by_value, endpoints, chosen, absent, content_style,
     km_style) = dataset_controls(dataset_id, None, by, endpoint, endpoint)
    chosen = endpoint if chosen is no_update else chosen
    controls = dbc.Card(dbc.CardBody([
        dbc.Label("Compare ORR and DCR by", html_for="response-by", className="fw-semibold small mb-1"),
        dcc.Dropdown(id="response-by", value=by_value, clearable=False, options=by_options),
        dcc.Store(id="response-by-url", data=by),
        html.Div([
        html.Hr(),
        html.Div("Survival by objective response", className="fw-semibold small mb-2"),
        dbc.Label("Response criterion", className="small mb-1"),
        dbc.RadioItems(id="response-criterion", value=criterion, inline=True,
                       options=[{"label": v, "value": k} for k, v in CRITERION_NAMES.items()], className="small"),
        dbc.Label("Endpoint", className="small mb-1 mt-2"),
        dbc.RadioItems(id="response-endpoint", value=chosen, inline=True, className="small", options=endpoints),
        dcc.Store(id="response-initial-endpoint", data=endpoint),
        dbc.Label("Landmark", className="small mb-1 mt-2"),
        dbc.RadioItems(id=ids.RESPONSE_LANDMARK, value=landmark, className="small",
                       options=[{"label": v, "value": k} for k, v in LANDMARK_CHOICES.items()]),
        ], id="response-km-controls", style=km_style),
        report_buttons("response", what="these response tables"),
    ]), className="shadow-sm")
    return html.Div([
        html.H2("Tumour response", className="h4 mt-3"),
        dbc.Row([
            dbc.Col(controls, lg=3, md=4),
            dbc.Col([
                html.Div(id="response-alert"),
                html.Div(absent, id="response-absent"),
                html.Div([
                dbc.Row([
                    dbc.Col(dcc.Loading(html.Div(id="response-table-slot"), delay_show=400), xxl=7, width=12),
                    dbc.Col(html.Div(id="response-crosstab-slot"), xxl=5, width=12),
                ], className="g-3"),
                html.Div(id="response-by-slot"),
                html.Div(id="response-km-alert"),
                figure_card(ids.RESPONSE_KM, "Survival by objective response", ids.RESPONSE_KM, go.Figure()),
                html.Div(id=ids.RESPONSE_KM_NOTE, className="small mb-2"),
                dbc.Alert(WHY_LANDMARK, color="light", className="small border", id="response-why"),
                ], id="response-content", style=content_style),
            ], lg=9, md=8),
        ], className="g-3"),
    ])


def report_view(dataset_id, by, endpoint) -> dict:
    """The deliverables' view of this page (:mod:`reports.spec`): response compared by the page's group."""
    return grouped_view(get_dataset(dataset_id), "response", by, endpoint)


report_callbacks("response", [State("response-by", "value"), State("response-endpoint", "value")], report_view)


@callback(Output("response-by", "options"), Output("response-by", "value"), Output("response-endpoint", "options"),
          Output("response-endpoint", "value"), Output("response-absent", "children"),
          Output("response-content", "style"), Output("response-km-controls", "style"), Input(ids.DATASET_ID, "data"),
          State("response-by", "value"), State("response-by-url", "data"), State("response-endpoint", "value"),
          State("response-initial-endpoint", "data"), prevent_initial_call=True)
def fill_groups(dataset_id, current, url_by, endpoint=None, initial_endpoint=None):
    """A dataset switched on this page (a link's ds=) brings its own groups and endpoints."""
    return dataset_controls(dataset_id, current, url_by, endpoint, initial_endpoint)


def dataset_controls(dataset_id, current, url_by, endpoint=None, initial_endpoint=None) -> tuple:
    """Grouping columns and endpoints of the dataset; a note instead of the page when it has no responses."""
    options, value = group_dropdown(dataset_id, current, url_by, "None")
    try:
        ds = get_dataset(dataset_id)
    except DatasetMissing:
        return options, value, [], no_update, None, {}, {}
    keys = [e.key for e in ds.endpoints]
    # the paper shows survival by response for OS: its default where the dataset has OS
    chosen = next((k for k in (endpoint, initial_endpoint, "os") if k in keys), keys[0] if keys else None)
    if not response_columns(ds):
        note = absent_note("tumour response data", "a best-response column by RECIST 1.1 or mRECIST "
                           "(headers such as 'RECIST' or 'mRECIST best response'; codes CR, PR, SD, PD, NE)",
                           "response")
        return options, value, endpoint_options(ds), chosen, note, {"display": "none"}, {"display": "none"}
    return options, value, endpoint_options(ds), chosen, None, {}, {}


clientside_callback(
    ClientsideFunction("response", "viewState"),
    Output(ids.VIEW_STATE, "data", allow_duplicate=True),
    Input("response-by", "value"), Input("response-criterion", "value"), Input("response-endpoint", "value"),
    Input(ids.RESPONSE_LANDMARK, "value"), State(ids.VIEW_STATE, "data"), prevent_initial_call="initial_duplicate",
)


@callback(
    Output("response-table-slot", "children"), Output("response-crosstab-slot", "children"),
    Output("response-by-slot", "children"), Output("response-alert", "children"),
    Input("response-by", "value"), Input(ids.PRESENTATION, "value"), Input(ids.DATASET_ID, "data"),
)
def update_tables(by, presentation, dataset_id):
    font = "1.2rem" if presentation else "0.95rem"
    try:
        ds = get_dataset(dataset_id)
        if not response_columns(ds):          # fill_groups shows the note instead
            return html.Div(id=ids.RESPONSE_TABLE), None, None, None
        summary = response_summary(ds)
        t = response_summary_table(summary)
        main = table_card(ids.RESPONSE_TABLE, "Best overall response by RECIST 1.1 and mRECIST",
                          static_html(t.to_component(ids.RESPONSE_TABLE, font)), t.to_frame(), footnotes=t.footnotes,
                          filename="response")
        cross = response_cross(ds)
        cross_card = None
        if cross is not None:
            ct = response_crosstab_table(cross)
            cross_card = table_card("response-crosstab", "RECIST 1.1 × mRECIST",
                                    static_html(ct.to_component("response-crosstab", font)), ct.to_frame(),
                                    footnotes=ct.footnotes, filename="response_crosstab")
    except (DatasetMissing, AnalysisError) as exc:
        return html.Div(id=ids.RESPONSE_TABLE), None, None, error_alert(str(exc))
    by_card, alert = None, None
    if by and by != "none":
        try:
            grouped = response_summary(ds, by)
            bt = response_by_group_table(grouped)
            by_card = table_card("response-by-table", f"ORR and DCR by {label_of(by)}",
                                 static_html(bt.to_component("response-by-table", font)), bt.to_frame(),
                                 footnotes=bt.footnotes, filename=f"response_by_{by}")
        except AnalysisError as exc:
            alert = error_alert(str(exc))
    return main, cross_card, by_card, alert


@callback(
    Output(ids.RESPONSE_KM, "figure"), Output(ids.RESPONSE_KM_NOTE, "children"),
    Output("response-km-alert", "children"),
    Input("response-criterion", "value"), Input("response-endpoint", "value"), Input(ids.RESPONSE_LANDMARK, "value"),
    Input(ids.PRESENTATION, "value"), Input(ids.DATASET_ID, "data"),
)
def update_km(criterion, endpoint, landmark, presentation, dataset_id):
    if endpoint is None:
        return no_update, None, None
    try:
        months = float(landmark or 0)
        ds = get_dataset(dataset_id)
        if not response_columns(ds):          # fill_groups shows the note instead
            return no_update, None, None
        result = response_km(ds, criterion, endpoint, months)
        figure = response_km_figure(ds, result, bool(presentation))
    except (DatasetMissing, AnalysisError, ValueError) as exc:
        return no_update, None, error_alert(str(exc))
    return figure, response_km_note(result), None


def response_km_figure(ds, result, presentation: bool = False) -> go.Figure:
    """KM figure of a ``services.cohort_views.ResponseKM``: one curve per response class."""
    endpoint = result.endpoint
    km = result.km
    times = risk_times(ds, endpoint)
    curves = curves_from_stratified(km, times, landmarks(ds, endpoint))
    for curve, group in zip(curves, km.groups):
        curve.label = plot_text(group.level)
    hr_text = format_hr(km) if km.hr is not None and math.isfinite(km.hr.result.hr) else None
    name = CRITERION_NAMES[result.criterion]
    label = endpoint_of(ds, endpoint).label
    title = f"{label} by {name} objective response"
    if result.landmark:
        title += f", {result.landmark:g}-month landmark"
    fig = km_figure(curves, risk_times=times, title=title,
                    x_title="Months from the landmark" if result.landmark else "Months",
                    y_title=label, presentation=presentation,
                    logrank_p=km.logrank.p if km.logrank else None, hr_text=hr_text, x_max=times[-1])
    # the title above the legend (km_figure puts a horizontal legend just above the plot)
    fig.update_layout(title={"y": 0.985, "yanchor": "top", "yref": "container"},
                      margin={"t": 95 if presentation else 80})
    return fig


def response_km_note(result) -> str:
    km = result.km
    text = (f"{km.n} patients, {km.events} events. Objective response = CR or PR by "
            f"{CRITERION_NAMES[result.criterion]}; non-response = SD, PD or NE.")
    if result.landmark:
        text += (f" Landmark {result.landmark:g} months: {result.n_dropped} of {result.n_classified} patients "
                 f"had the event or were censored before it and are left out; time is counted from the "
                 f"landmark.")
    else:
        text += " No landmark: read with the caveat below."
    return text
