"""Safety page: adverse events in the layout of the seed paper's Table 5 (any grade, grade 1-2, grade 3-4,
grade 5 when any), sortable, optionally by a grouping column with per-term tests, and a diverging bar chart
(grade 1-2 to the left, grade >= 3 to the right).

View state lives in the URL: ``/safety?by=treatment&top=all``.
"""
from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
import plotly.graph_objects as go
from dash import ClientsideFunction, Input, Output, State, callback, clientside_callback, dcc, html, no_update

from analysis.errors import AnalysisError
from components import ids
from components.clinical_tables import ae_clinical_table, ae_figure, ae_figure_top_options, parse_top
from components.layout import absent_note, controls_page, error_alert
from components.report_buttons import report_buttons, report_callbacks
from components.static_html import static_html
from components.table_card import figure_card, table_card
from reports.jobs import grouped_view
from services.cohort_views import adverse_events, group_dropdown, has_adverse_events, label_of
from services.store import DatasetMissing, get_dataset

dash.register_page(__name__, path="/safety", name="Safety", title="Safety - HAIC Cohort Analytics")


NONE_LABEL = "None (all patients)"


def layout(by: str | None = None, top: str = "20", dataset_id: str | None = None, **_other):
    top = top if top in ("10", "20", "all") else "20"
    options, value = group_dropdown(dataset_id, None, by, NONE_LABEL)      # the dataset's, at once
    controls = dbc.Card(dbc.CardBody([
        dbc.Label("Compare by", html_for=ids.AE_BY, className="fw-semibold small mb-1"),
        dcc.Dropdown(id=ids.AE_BY, value=value, clearable=False, options=options),
        dcc.Store(id="ae-by-url", data=by),
        dbc.Label("Chart: terms shown", className="fw-semibold small mb-1 mt-3"),
        dbc.RadioItems(id="ae-top", value=top, inline=True, options=ae_figure_top_options(), className="small"),
        html.Div("Click a column header to sort the table (again to reverse, a third time for the paper's order; "
                 "the two summary rows stay on top).",
                 className="small text-muted mt-3"),
        report_buttons("ae", what="this adverse-event table"),
    ]), className="shadow-sm")
    return controls_page("Adverse events (CTCAE 5.0)", controls, [
        html.Div(id="ae-alert"),
        dcc.Loading(html.Div(id="ae-table-slot"), delay_show=400),
        html.Div(figure_card(ids.AE_CHART, "Adverse events by grade", ids.AE_CHART, go.Figure()), id="ae-chart-box"),
    ])


def report_view(dataset_id, by) -> dict:
    """The deliverables' view of this page (:mod:`reports.spec`): adverse events compared by the page's group."""
    return grouped_view(get_dataset(dataset_id), "ae", by)


report_callbacks("ae", [State(ids.AE_BY, "value")], report_view)


# the layout is drawn with the dataset's groups; a dataset switched on this page (a link's ds=) brings its own
@callback(Output(ids.AE_BY, "options"), Output(ids.AE_BY, "value"), Input(ids.DATASET_ID, "data"),
          State(ids.AE_BY, "value"), State("ae-by-url", "data"), prevent_initial_call=True)
def fill_groups(dataset_id, current, url_by):
    return group_dropdown(dataset_id, current, url_by, NONE_LABEL)


clientside_callback(
    ClientsideFunction("safety", "viewState"),
    Output(ids.VIEW_STATE, "data", allow_duplicate=True),
    Input(ids.AE_BY, "value"), Input("ae-top", "value"), State(ids.VIEW_STATE, "data"),
    prevent_initial_call="initial_duplicate",
)


@callback(
    Output("ae-table-slot", "children"), Output(ids.AE_CHART, "figure"), Output("ae-alert", "children"),
    Output("ae-chart-box", "style"),
    Input(ids.AE_BY, "value"), Input("ae-top", "value"), Input(ids.PRESENTATION, "value"),
    Input(ids.DATASET_ID, "data"),
)
def update_ae(by, top, presentation, dataset_id):
    by = None if not by or by == "none" else by
    try:
        ds = get_dataset(dataset_id)
        if not has_adverse_events(ds):
            note = absent_note("adverse-event data", "one column per adverse event named ae_<term> (e.g. "
                               "ae_fatigue) holding each patient's worst CTCAE grade 0-5", "adverse-events")
            return html.Div(note, id=ids.AE_TABLE), no_update, None, {"display": "none"}
        table = adverse_events(ds, by)
    except (DatasetMissing, AnalysisError) as exc:
        return html.Div(id=ids.AE_TABLE), no_update, error_alert(str(exc)), no_update
    return render_ae(table, top, bool(presentation)) + (None, {})


def render_ae(table, top, presentation: bool):
    """(table card, chart) for an ``analysis.adverse_events.AETable``."""
    export = ae_clinical_table(table)
    title = "Adverse events" + (f" by {label_of(table.by)}" if table.by else "")
    # the paper's Table 5 as static HTML, sorted in the browser by a click on a column (assets/static_html.js)
    body = static_html(export.to_component(ids.AE_TABLE, "1.2rem" if presentation else "0.95rem"),
                       class_name="sortable-table")
    card = table_card(ids.AE_TABLE, title, body, export.to_frame(),
                      footnotes=export.footnotes, filename="adverse_events" + (f"_by_{table.by}" if table.by else ""))
    return card, ae_figure(table, top=parse_top(top), presentation=presentation)
