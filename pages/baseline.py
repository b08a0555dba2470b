"""Baseline characteristics page: Table 1 overall and by a chosen group, with the tests named in a footnote
(gtsummary style: a line per variable, n (%) for categories, mean ± SD and/or median (Q1, Q3) for numbers, the
missing count).

View state lives in the URL: ``/baseline?by=treatment&num=mean``.
"""
from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import ClientsideFunction, Input, Output, State, callback, clientside_callback, dcc, html

from analysis.errors import AnalysisError
from components import ids
from components.clinical_tables import baseline_view_table
from components.layout import controls_page, error_alert
from components.report_buttons import report_buttons, report_callbacks
from components.static_html import static_html
from components.table_card import table_card
from reports.jobs import grouped_view
from services.cohort_views import baseline, group_dropdown, label_of
from services.store import DatasetMissing, get_dataset

dash.register_page(__name__, path="/baseline", name="Baseline", title="Baseline - HAIC Cohort Analytics")

NUMERIC_CHOICES = {"both": "Mean ± SD and median (Q1, Q3)", "mean": "Mean ± SD (as the paper)",
                   "median": "Median (Q1, Q3)"}


NONE_LABEL = "None (overall only)"


def layout(by: str | None = None, num: str = "both", dataset_id: str | None = None, **_other):
    num = num if num in NUMERIC_CHOICES else "both"
    options, value = group_dropdown(dataset_id, None, by, NONE_LABEL)      # the dataset's, at once
    controls = dbc.Card(dbc.CardBody([
        dbc.Label("Compare by", html_for=ids.BASELINE_BY, className="fw-semibold small mb-1"),
        dcc.Dropdown(id=ids.BASELINE_BY, value=value, clearable=False, options=options),
        dcc.Store(id="baseline-by-url", data=by),
        dbc.Label("Numeric variables", className="fw-semibold small mb-1 mt-3"),
        dbc.RadioItems(id="baseline-num", value=num, className="small",
                       options=[{"label": v, "value": k} for k, v in NUMERIC_CHOICES.items()]),
        report_buttons("baseline", what="this baseline table"),
    ]), className="shadow-sm")
    return controls_page("Baseline characteristics", controls,
                         [html.Div(id="baseline-alert"),
                          dcc.Loading(html.Div(id="baseline-table-slot"), delay_show=400)])


def report_view(dataset_id, by) -> dict:
    """The deliverables' view of this page (:mod:`reports.spec`): Table 1 compared by the page's group."""
    return grouped_view(get_dataset(dataset_id), "baseline", by)


report_callbacks("baseline", [State(ids.BASELINE_BY, "value")], report_view)


# the layout is drawn with the dataset's groups; a dataset switched on this page (a link's ds=) brings its own
@callback(Output(ids.BASELINE_BY, "options"), Output(ids.BASELINE_BY, "value"), Input(ids.DATASET_ID, "data"),
          State(ids.BASELINE_BY, "value"), State("baseline-by-url", "data"), prevent_initial_call=True)
def fill_groups(dataset_id, current, url_by):
    return group_dropdown(dataset_id, current, url_by, NONE_LABEL)


clientside_callback(
    ClientsideFunction("baseline", "viewState"),
    Output(ids.VIEW_STATE, "data", allow_duplicate=True),
    Input(ids.BASELINE_BY, "value"), Input("baseline-num", "value"), State(ids.VIEW_STATE, "data"),
    prevent_initial_call="initial_duplicate",
)


@callback(
    Output("baseline-table-slot", "children"), Output("baseline-alert", "children"),
    Input(ids.BASELINE_BY, "value"), Input("baseline-num", "value"), Input(ids.PRESENTATION, "value"),
    Input(ids.DATASET_ID, "data"),
)
def update_baseline(by, num, presentation, dataset_id):
    by = None if not by or by == "none" else by
    try:
        ds = get_dataset(dataset_id)
        result = baseline(ds, by)
    except (DatasetMissing, AnalysisError) as exc:
        return html.Div(id=ids.BASELINE_TABLE), error_alert(str(exc))
    return render_baseline(result, num, bool(presentation)), None


def render_baseline(result, num: str, presentation: bool):
    t = baseline_view_table(result, num)
    title = "Baseline characteristics" + (f" by {label_of(result.by)}" if result.by else "")
    font = "1.2rem" if presentation else "0.95rem"
    return table_card(ids.BASELINE_TABLE, title, static_html(t.to_component(ids.BASELINE_TABLE, font)), t.to_frame(),
                      footnotes=t.footnotes, filename="baseline" + (f"_by_{result.by}" if result.by else ""))
