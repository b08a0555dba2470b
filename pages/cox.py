"""Cox regression page: univariable screen and multivariable model side by side in the layout of the seed
paper's Tables 3-4, the multivariable model's fit and proportional-hazards diagnostics, and a forest plot.

View state lives in the URL: ``/cox?endpoint=os&rule=p05`` (``rule=manual&vars=ast,alp`` for a hand-picked
model; ``cand=`` when the candidate list differs from the default; ``groups=0`` without the paper's groupings).
Numeric candidates are split at the cutoff chosen on the Survival page (session store ``chosen-cutoffs``), else
the paper's cutoff, else the median.
"""
from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
import plotly.graph_objects as go
from dash import Input, Output, State, callback, clientside_callback, dcc, html, no_update

from analysis.errors import AnalysisError
from components.cox_views import cox_model_table, cox_table, forest_figure
from components.clinical_tables import plot_text
from components.layout import controls_page, error_alert
from components.table_card import figure_card, table_card
from services.cohort_views import ENDPOINT_LABELS, covariate_options, cox_view, default_candidates, label_of
from services.store import DatasetMissing, get_dataset

dash.register_page(__name__, path="/cox", name="Cox", title="Cox regression - HAIC Cohort Analytics")

RULES = {"p05": "Univariable p < 0.05 enters (the paper's rule)", "manual": "Choose the variables by hand"}


def _split(text: str | None) -> list[str] | None:
    if not text:
        return None
    return [t for t in (s.strip() for s in str(text).split(",")) if t]


def layout(endpoint: str = "pfs", rule: str = "p05", vars: str | None = None, cand: str | None = None,  # noqa: A002
           groups: str = "1", **_other):
    endpoint = endpoint if endpoint in ENDPOINT_LABELS else "pfs"
    rule = rule if rule in RULES else "p05"
    controls = dbc.Card(dbc.CardBody([
        dbc.Label("Endpoint", className="fw-semibold small mb-1"),
        dbc.RadioItems(id="cox-endpoint", value=endpoint, inline=True,
                       options=[{"label": v, "value": k} for k, v in ENDPOINT_LABELS.items()]),
        dbc.Label("Multivariable model", className="fw-semibold small mb-1 mt-3"),
        dbc.RadioItems(id="cox-rule", value=rule, options=[{"label": v, "value": k} for k, v in RULES.items()],
                       className="small"),
        html.Div([
            dbc.Label("Variables in the multivariable model", className="small mb-1 mt-2"),
            dbc.Checklist(id="cox-vars", value=_split(vars) or [], options=[], className="small",
                          style={"maxHeight": "260px", "overflowY": "auto"}),
        ], id="cox-vars-box", style={} if rule == "manual" else {"display": "none"}),
        dbc.Label("Candidate variables (univariable screen)", html_for="cox-cand",
                  className="fw-semibold small mb-1 mt-3"),
        dcc.Dropdown(id="cox-cand", multi=True, value=None, options=[], placeholder="candidate variables"),
        dbc.Switch(id="cox-groups", value=groups != "0", className="mt-3 small",
                   label="Paper groupings: etiology viral vs non-viral, CNLC I–II vs III–IV"),
        html.Div("Numeric variables are split at the cutoff chosen on the Survival page, else the paper's "
                 "cutoff, else the median; the high group (value > cutoff) is compared with the low group.",
                 className="small text-muted mt-3"),
        dcc.Store(id="cox-cand-url", data=_split(cand)),
        dcc.Store(id="cox-default-cand", data=None),
        dcc.Store(id="cox-selected", data=[]),
    ]), className="shadow-sm")
    return controls_page("Cox proportional-hazards regression", controls, [
        html.Div(id="cox-alert"),
        dcc.Loading(html.Div(id="cox-table-slot"), delay_show=400),
        figure_card("cox-forest", "Forest plot: multivariable hazard ratios", "cox-forest", go.Figure()),
        html.Div(id="cox-model-slot"),
    ])


@callback(
    Output("cox-cand", "options"), Output("cox-cand", "value"), Output("cox-default-cand", "data"),
    Input("dataset-id", "data"), State("cox-cand-url", "data"), State("cox-cand", "value"),
)
def fill_candidates(dataset_id, url_cand, current):
    try:
        ds = get_dataset(dataset_id)
    except DatasetMissing:
        return [], [], []
    options = covariate_options(ds)
    usable = {o["value"] for o in options}
    default = default_candidates(ds)
    wanted = current if current else url_cand
    value = [c for c in (wanted or []) if c in usable] or default
    return options, value, default


@callback(Output("cox-vars", "options"), Input("cox-cand", "value"))
def fill_manual_options(cand):
    return [{"label": label_of(c), "value": c} for c in (cand or [])]


# switching to "by hand" starts from the variables the p < 0.05 rule chose; the checklist shows only then
clientside_callback(
    """function(rule, vars, selected) {
        const style = rule === "manual" ? {} : {display: "none"};
        if (rule === "manual" && (!vars || vars.length === 0) && selected && selected.length) {
            return [selected, style];
        }
        return [window.dash_clientside.no_update, style];
    }""",
    Output("cox-vars", "value"), Output("cox-vars-box", "style"),
    Input("cox-rule", "value"), State("cox-vars", "value"), State("cox-selected", "data"),
)

# view state -> URL query string and the navbar link (assets/url_state.js)
clientside_callback(
    """function(endpoint, rule, vars, cand, groups, defaults, state) {
        const same = cand && defaults && cand.length === defaults.length && cand.every((c, i) => c === defaults[i]);
        return window.haicView.update(state, {endpoint: endpoint, rule: rule,
                                              vars: rule === "manual" ? vars : null,
                                              cand: (cand && !same) ? cand : null, groups: groups ? null : "0"});
    }""",
    Output("view-state", "data", allow_duplicate=True),
    Input("cox-endpoint", "value"), Input("cox-rule", "value"), Input("cox-vars", "value"),
    Input("cox-cand", "value"), Input("cox-groups", "value"), Input("cox-default-cand", "data"),
    State("view-state", "data"), prevent_initial_call="initial_duplicate",
)


@callback(
    Output("cox-table-slot", "children"), Output("cox-model-slot", "children"), Output("cox-forest", "figure"),
    Output("cox-alert", "children"), Output("cox-selected", "data"),
    Input("cox-endpoint", "value"), Input("cox-rule", "value"), Input("cox-vars", "value"),
    Input("cox-cand", "value"), Input("cox-groups", "value"), Input("chosen-cutoffs", "data"),
    Input("presentation", "value"), Input("dataset-id", "data"),
)
def update_cox(endpoint, rule, manual, cand, groups, chosen, presentation, dataset_id):
    if cand is None:            # the candidate list is filled from the dataset first
        return no_update, no_update, no_update, no_update, no_update
    try:
        ds = get_dataset(dataset_id)
        view = cox_view(ds, endpoint, list(cand), chosen, rule, manual or [], bool(groups))
    except (DatasetMissing, AnalysisError) as exc:
        return (html.Div(error_alert(str(exc)), id="cox-table"), html.Div(id="cox-multi-table"),
                _empty_forest(str(exc)), None, no_update)
    return render_cox(view, endpoint, bool(presentation))


def render_cox(view, endpoint: str, presentation: bool):
    """The page's outputs for a CoxView: paper-style table card, model card, forest figure, alert, selection."""
    font = "1.2rem" if presentation else "0.95rem"
    name = ENDPOINT_LABELS[endpoint]
    table = cox_table(view)
    title = f"Univariable and multivariable Cox regression: {name.lower()}"
    main = table_card("cox-table", title, table.to_component("cox-table", font), table.to_frame(),
                      footnotes=table.footnotes, filename=f"cox_{endpoint}")
    selected = [v.column for v in view.selected]
    if view.multivariable is None:
        model = html.Div(dbc.Alert(f"Multivariable model: {view.multi_error}.",
                                   color="warning" if view.selected else "secondary", className="small"),
                         id="cox-multi-table")
        return main, model, _empty_forest(view.multi_error or ""), None, selected
    mt = cox_model_table(view)
    model = table_card("cox-multi-table", "Multivariable model: fit and diagnostics",
                       mt.to_component("cox-multi-table", font), mt.to_frame(), footnotes=mt.footnotes,
                       filename=f"cox_{endpoint}_multivariable")
    return main, model, forest_figure(view, presentation=presentation), None, selected


def _empty_forest(message: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=plot_text(message or "no multivariable model"), showarrow=False, x=0.5, y=0.5, xref="paper",
                       yref="paper", font={"size": 14, "color": "#555"})
    fig.update_layout(template="plotly_white", height=220, xaxis={"visible": False}, yaxis={"visible": False},
                      margin={"l": 10, "r": 10, "t": 10, "b": 10})
    return fig
