"""Kaplan-Meier page: endpoint, stratifying variable, live cutoff, CI transform, landmarks; single figure or a
grid of small multiples (the paper's Figure 3/4 for a cohort like the paper's). Endpoints and variables are the
dataset's own. View state lives in the URL (``/survival?endpoint=os&var=alp&cutoff=174.5&at=12,24,36``)."""
from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
import pandas as pd
from dash import (ALL, MATCH, ClientsideFunction, Input, Output, State, callback, clientside_callback, ctx, dcc, html,
                  no_update)

from analysis.cutpoint import clinical_reference_cutoffs, is_data_driven_optimum
from analysis.dichotomise import format_cutoff
from analysis.errors import AnalysisError
from components import ids
from components.cutpoint_figure import CUTOFF_SHAPE, reference_list, statistic_chart, worth_at_cutoff, worth_summary
from components.format import format_hr
from components.km_figure import curves_from_stratified, km_figure
from components.layout import error_alert
from components.report_buttons import report_buttons, report_callbacks
from components.survival_tables import KM_SUMMARY_TITLE, km_summary_parts, km_summary_update
from components.table_card import figure_card, graph_config, table_card, table_card_outputs
from reports.jobs import default_view
from services.survival_view import (cutoff_control_spec, cutpoint_scan, default_variable, endpoint_key, endpoint_of,
                                    endpoint_options, grid_variables, is_cuttable, landmarks, risk_times,
                                    stratified_km, variable_options)
from services.cohort_views import clean_cutoffs
from services.store import DatasetMissing, get_dataset, issue_ticket, redeem_ticket

dash.register_page(__name__, path="/survival", name="Survival", title="Survival - HAIC Cohort Analytics")


def _float_or_none(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def parse_landmarks(text) -> list[float] | None:
    """``"12, 24, 36"`` -> [12.0, 24.0, 36.0]; None when empty or unreadable (the defaults then)."""
    if not text:
        return None
    out = [_float_or_none(t) for t in str(text).replace(";", ",").split(",") if t.strip()]
    out = [t for t in out if t is not None and t > 0 and t == t and t != float("inf")]
    return out or None


def layout(endpoint: str | None = None, var: str | None = None, cutoff: str | None = None, ci: str = "log-log",
           mode: str = "single", at: str | None = None, dataset_id: str | None = None, **_other):
    ci = ci if ci in ("log-log", "log", "plain") else "log-log"
    # the dataset's endpoints, variables and the variable's slider, at once: the figure does not wait for them
    # (fill_variables and set_cutoff_control bring another dataset's, or another variable's, later)
    var_options, var_value, endpoints, chosen = dataset_controls(dataset_id, None, var, endpoint, endpoint)
    var_value = None if var_value is no_update else var_value
    chosen = endpoint if chosen is no_update else chosen
    low, high, step, marks, cutoff_value, box_style, cutoff_var = (
        cutoff_control(dataset_id, var_value, _float_or_none(cutoff), var, reset=False) if var_value is not None
        else (0, 1, None, None, _float_or_none(cutoff), {}, var))
    card, card_style, card_for = initial_card(dataset_id, chosen, var_value, cutoff_value, ci, at, mode == "grid")
    controls = dbc.Card(dbc.CardBody([
        dbc.Label("Endpoint", className="fw-semibold small mb-1"),
        dbc.RadioItems(id=ids.KM_ENDPOINT, value=chosen, inline=True, options=endpoints),
        dcc.Store(id="km-initial-endpoint", data=endpoint),
        html.Div([
            dbc.Label("Stratify by", html_for=ids.KM_VAR, className="fw-semibold small mb-1 mt-2"),
            # a value always comes with its options (a value without its option shows blank)
            dcc.Dropdown(id=ids.KM_VAR, value=var_value, clearable=False, options=var_options),
            # the URL's variable: the dropdown may drop a value that is not yet among its options
            dcc.Store(id="km-initial-var", data=var),
            html.Div([
                dbc.Label("Cutoff (low group: value ≤ cutoff)", html_for=ids.KM_CUTOFF,
                          className="small mb-1 mt-2"),
                dcc.Slider(id=ids.KM_SLIDER, min=low, max=high, step=step, value=cutoff_value, updatemode="drag",
                           marks=marks,
                           allow_direct_input=False,
                           tooltip={"placement": "bottom", "always_visible": False}),
                dbc.InputGroup([
                    dbc.Input(id=ids.KM_CUTOFF, type="number", value=cutoff_value, debounce=True, size="sm",
                              step="any"),
                    dbc.Button("Reset", id=ids.KM_CUTOFF_RESET, size="sm", color="secondary", outline=True,
                               title="back to the default cutoff"),
                ], size="sm"),
                html.Div(id="km-cutoff-note", className="small text-muted mt-1"),
                # the variable the cutoff box value belongs to (a URL cutoff is kept for its variable only)
                dcc.Store(id="km-cutoff-var", data=cutoff_var),
            ], id="km-cutoff-box", style=box_style),
        ], id="km-single-controls"),
        dbc.Label("Landmarks (months)", html_for="km-at", className="fw-semibold small mb-1 mt-3"),
        dbc.Input(id="km-at", value=at or "", placeholder="default: round times inside follow-up", debounce=True,
                  size="sm"),
        dbc.Label("95% CI transform", html_for=ids.KM_CI, className="fw-semibold small mb-1 mt-3"),
        dbc.Select(id=ids.KM_CI, value=ci, size="sm", options=[
            {"label": "log-log (default)", "value": "log-log"}, {"label": "log (R's default)", "value": "log"},
            {"label": "plain", "value": "plain"}]),
        dbc.Switch(id="km-grid", label="Grid of small multiples (the paper's Figure 3/4)", value=mode == "grid",
                   className="mt-3"),
        report_buttons("km", what="this KM view"),
    ]), className="shadow-sm")
    worth = dbc.Card(dbc.CardBody([
        html.H3("How much is this cutoff worth?", className="h6"),
        dcc.Graph(id=ids.CP_CHART, config={"displayModeBar": False}, style={"height": "200px"}),
        html.Div(id=ids.CP_AT_CUTOFF),
        html.Div(id=ids.CP_SUMMARY),
        html.Div([
            dbc.Button("Find optimal cutoff", id=ids.CP_RUN, size="sm", color="primary", className="me-1"),
            dbc.Button("Cancel", id="cp-cancel", size="sm", color="secondary", outline=True, disabled=True,
                       className="me-1"),
            dbc.Button("Use optimum", id=ids.CP_USE, size="sm", color="secondary", outline=True),
        ], className="mt-2"),
        dbc.Progress(id="cp-progress", value=0, max=1, className="mt-2", style={"height": "6px"}),
        html.Div(id="cp-alert"),
        html.Details([html.Summary("Reference cutoffs", className="small"), html.Div(id="cp-references-box")],
                     className="mt-2"),
        html.P("The statistic is the standardised log-rank statistic at every candidate cutoff (R maxstat). "
               "Searching for the best cutoff makes its naive p too small; the corrected p pays for the search.",
               className="small text-muted mt-2 mb-0"),
        dcc.Store(id=ids.CP_TICKET), dcc.Store(id=ids.CP_FULL_KEY),
        # which of the chart's shapes is the current cutoff's line (moved in the browser: assets/survival.js)
        dcc.Store(id="cp-cutoff-shape", data=CUTOFF_SHAPE),
    ]), className="shadow-sm mt-3", id="cp-card")
    return html.Div([
        html.H2("Kaplan–Meier survival", className="h4 mt-3"),
        dbc.Row([
            dbc.Col([controls, worth], lg=3, md=4),
            dbc.Col([
                html.Div(id=ids.KM_ALERT),
                html.Div([
                    figure_card("km", "Kaplan–Meier curves", ids.KM_GRAPH),
                    # laid out once (with the opening view's card); update_km_table replaces its parts (table,
                    # notes, export texts) on every move
                    html.Div(card, id=ids.KM_TABLE, style=card_style),
                    # what update_km drew (endpoint, variable, cutoff, CI, dataset id), and the same once the
                    # figure is on screen and the browser idle: update_km_table builds the KM card for that
                    dcc.Store(id=ids.KM_DRAWN), dcc.Store(id=ids.KM_CARD_FOR, data=card_for),
                ], id="km-single-view"),
                html.Div(id=ids.KM_GRID_VIEW),
            ], lg=9, md=8),
        ], className="g-3"),
    ])


def report_view(dataset_id, endpoint, var, cutoff, ci, at, grid, chosen, panel_cutoffs=(), panel_ids=()) -> dict:
    """The deliverables' view of this page (:mod:`reports.spec`): the KM view as it is -- endpoint, variable,
    cutoff, CI transform, landmarks -- and, in grid mode, the grid's panels with the cutoffs they show."""
    ds = get_dataset(dataset_id)
    key = endpoint_of(ds, endpoint).key
    view = default_view(ds, key)
    by = None if not var or var == "none" else var
    cut = None
    if by is not None and is_cuttable(ds, by):
        cut = cutoff if cutoff is not None else cutoff_control_spec(ds, by).default
    view["km"] = {"by": by, "cutoff": cut, "ci": ci or "log-log", "landmarks": parse_landmarks(at)}
    if grid:
        chosen, panels = clean_cutoffs(chosen), []
        shown = clean_cutoffs({i["var"]: c for i, c in zip(panel_ids or (), panel_cutoffs or ())})
        for v in grid_variables(ds):
            spec = cutoff_control_spec(ds, v)
            panels.append(v if spec is None else f"{v}:{format_cutoff(shown.get(v, chosen.get(v, spec.default)))}")
        view["grid"] = panels
    return view


report_callbacks("km", [State(ids.KM_ENDPOINT, "value"), State(ids.KM_VAR, "value"), State(ids.KM_CUTOFF, "value"),
                        State(ids.KM_CI, "value"), State("km-at", "value"), State("km-grid", "value"),
                        State(ids.CHOSEN_CUTOFFS, "data"), State({"type": "grid-cutoff", "var": ALL}, "value"),
                        State({"type": "grid-cutoff", "var": ALL}, "id")], report_view)


@callback(Output(ids.KM_VAR, "options"), Output(ids.KM_VAR, "value"), Output(ids.KM_ENDPOINT, "options"),
          Output(ids.KM_ENDPOINT, "value"), Input(ids.DATASET_ID, "data"),
          State(ids.KM_VAR, "value"), State("km-initial-var", "data"), State(ids.KM_ENDPOINT, "value"),
          State("km-initial-endpoint", "data"), prevent_initial_call=True)
def fill_variables(dataset_id, current, initial=None, endpoint=None, initial_endpoint=None):
    """A dataset switched on this page (a link's ds=) brings its own endpoints and variables."""
    return dataset_controls(dataset_id, current, initial, endpoint, initial_endpoint)


def dataset_controls(dataset_id, current, initial=None, endpoint=None, initial_endpoint=None) -> tuple:
    """The dataset's endpoints and stratifying variables; the current choice kept if the dataset has it, else
    the URL's, else the first endpoint and AST (or none)."""
    try:
        ds = get_dataset(dataset_id)
    except DatasetMissing:
        return [], no_update, [], no_update
    keys = {e.key for e in ds.endpoints}
    chosen = next((k for k in (endpoint, initial_endpoint) if k in keys), endpoint_key(ds, None))
    return variable_options(ds), default_variable(ds, (current, initial)), endpoint_options(ds), chosen


@callback(
    Output(ids.KM_SLIDER, "min"), Output(ids.KM_SLIDER, "max"), Output(ids.KM_SLIDER, "step"),
    Output(ids.KM_SLIDER, "marks"), Output(ids.KM_CUTOFF, "value"), Output("km-cutoff-box", "style"),
    Output("km-cutoff-var", "data"),
    Input(ids.KM_VAR, "value"), Input(ids.KM_CUTOFF_RESET, "n_clicks"), State(ids.KM_CUTOFF, "value"),
    State("km-cutoff-var", "data"), State(ids.DATASET_ID, "data"), prevent_initial_call=True,
)
def set_cutoff_control(var, _reset, current_cutoff, cutoff_var, dataset_id):
    """Another variable's slider, or "Reset" (the layout draws the first one)."""
    return cutoff_control(dataset_id, var, current_cutoff, cutoff_var, reset=ctx.triggered_id == ids.KM_CUTOFF_RESET)


def cutoff_control(dataset_id, var, current_cutoff, cutoff_var, *, reset: bool) -> tuple:
    """The slider of a numeric variable: its range, and the cutoff kept for the same variable (the URL's), else
    its default; ``reset`` goes back to the default. (min, max, step, marks, cutoff, box style, its variable)"""
    if var is None:
        return no_update, no_update, no_update, no_update, no_update, no_update, no_update
    try:
        spec = cutoff_control_spec(get_dataset(dataset_id), var)
    except (DatasetMissing, AnalysisError):
        spec = None
    if spec is None:
        return 0, 1, None, None, None, {"display": "none"}, var
    keep = var == cutoff_var and current_cutoff is not None and not reset
    value = current_cutoff if keep else spec.default
    return min(spec.low, value), max(spec.high, value), spec.step, spec.marks, value, {}, var


# slider -> number box, in the browser: dragging writes the box, and update_km listens to the box. The other way
# (a typed cutoff moves the thumb) waits until that cutoff's KM figure is drawn: see "After a cutoff's KM figure
# is drawn" below.
clientside_callback(
    ClientsideFunction("survival", "sliderToBox"),
    Output(ids.KM_CUTOFF, "value", allow_duplicate=True),
    Input(ids.KM_SLIDER, "value"), State(ids.KM_CUTOFF, "value"), prevent_initial_call=True,
)

clientside_callback(
    ClientsideFunction("survival", "gridCutoffs"),
    Output(ids.CHOSEN_CUTOFFS, "data", allow_duplicate=True),
    Input({"type": "grid-cutoff", "var": ALL}, "value"), State({"type": "grid-cutoff", "var": ALL}, "id"),
    State(ids.CHOSEN_CUTOFFS, "data"), prevent_initial_call=True,
)


@callback(
    Output(ids.KM_GRAPH, "figure"), Output(ids.KM_ALERT, "children"), Output("km-cutoff-note", "children"),
    Output(ids.CP_AT_CUTOFF, "children"), Output(ids.KM_DRAWN, "data"),
    Input(ids.KM_ENDPOINT, "value"), Input(ids.KM_VAR, "value"), Input(ids.KM_CUTOFF, "value"),
    Input(ids.KM_CI, "value"), Input("km-at", "value"), Input(ids.PRESENTATION, "value"), Input(ids.DATASET_ID, "data"),
)
def update_km(endpoint, var, cutoff, ci, at, presentation, dataset_id):
    """The KM figure for the cutoff in the number box (the slider writes it in the browser), and the naive p of
    that cutoff for the "how much is this cutoff worth" panel: the server call a cutoff move waits for.

    The KM estimates card follows in :func:`update_km_table`, requested once this figure is drawn and the
    browser is idle (``km-drawn`` -> ``km-card-for``, in the clientside callback below): the curves move first,
    and the card always shows the cutoff the figure shows (docs/performance.md has the measurements)."""
    if var is None or endpoint is None:         # the dataset's choices have not arrived yet
        return no_update, no_update, no_update, no_update, no_update
    at_cutoff = None
    try:
        ds = get_dataset(dataset_id)
        drawn = single_view(ds, dataset_id, endpoint, var, cutoff, ci, at)
        endpoint, cut = drawn["endpoint"], drawn["cutoff"]
        result = stratified_km(ds, endpoint, var, cut, ci, drawn["at"])
        if cut is not None:
            at_cutoff = worth_at_cutoff(result.logrank.p if result.logrank else None,
                                        _is_optimum(ds, endpoint, var, cut))
        figure = _figure(ds, result, endpoint, presentation, compact=False, marks=drawn["at"])
    except (DatasetMissing, AnalysisError) as exc:
        return no_update, error_alert(str(exc)), None, None, None
    note = [f"{result.excluded} patients without a value left out"] if result.excluded else []
    if cut is not None and result.notes:
        note.append(result.notes[0])
    return figure, None, "; ".join(note) or None, at_cutoff, drawn


def single_view(ds, dataset_id, endpoint, var, cutoff, ci, at) -> dict:
    """What the single view draws: the endpoint's key, the variable, its cutoff (the default when none is given;
    None for a variable that is not cut), the CI transform and the landmarks -- the ``km-drawn`` the KM card is
    built for."""
    endpoint = endpoint_of(ds, endpoint).key
    cut = None
    if is_cuttable(ds, var):
        if cutoff is None:
            spec = cutoff_control_spec(ds, var)
            if spec is None:
                raise AnalysisError(f"column '{var}' has no numeric values to cut")
            cutoff = spec.default
        cut = cutoff
    return {"dataset_id": dataset_id, "endpoint": endpoint, "var": var, "cutoff": cut, "ci": ci,
            "at": parse_landmarks(at)}


@callback(*table_card_outputs("km-summary"), Output(ids.KM_TABLE, "style"),
          Input(ids.KM_CARD_FOR, "data"), prevent_initial_call=True)
def update_km_table(drawn):
    """The KM estimates card (median, landmark survival, log-rank, HR) of what update_km has drawn; hidden when
    update_km could not draw (its alert says why)."""
    hidden = (*[no_update] * 5, {"display": "none"})
    if not drawn:
        return hidden
    try:
        result, marks = _card_result(get_dataset(drawn["dataset_id"]), drawn)
    except (DatasetMissing, AnalysisError):
        return hidden
    return (*km_summary_update(result, marks), {})


def _card_result(ds, drawn: dict):
    """The KM result and landmark times the KM card shows for a ``km-drawn``."""
    result = stratified_km(ds, drawn["endpoint"], drawn["var"], drawn["cutoff"], drawn["ci"], drawn.get("at"))
    return result, landmarks(ds, drawn["endpoint"], drawn.get("at"))


def initial_card(dataset_id, endpoint, var, cutoff, ci, at, grid: bool) -> tuple:
    """The KM card of the view the page opens on, laid out with the page (its ``km-card-for`` set to that view,
    so that the card is not requested again once the figure is drawn): (card, its style, km-card-for)."""
    empty = table_card("km-summary", KM_SUMMARY_TITLE, None, pd.DataFrame(), filename="km-summary")
    if grid or var is None or endpoint is None:
        return empty, {"display": "none"}, None
    try:
        ds = get_dataset(dataset_id)
        drawn = single_view(ds, dataset_id, endpoint, var, cutoff, ci, at)
        result, marks = _card_result(ds, drawn)
    except (DatasetMissing, AnalysisError):
        return empty, {"display": "none"}, None
    parts = km_summary_parts(result, marks)
    card = table_card("km-summary", KM_SUMMARY_TITLE, parts["body"], parts["frame"], footnotes=parts["footnotes"],
                      filename="km-summary", caption=parts["caption"])
    return card, {}, drawn


def _is_optimum(ds, endpoint, var, cutoff) -> bool:
    """Whether the cutoff is the data-driven optimum (a memo hit of the panel's scan); a column the scan cannot
    handle (the panel says why) still gets its KM curves."""
    try:
        return is_data_driven_optimum(cutoff, cutpoint_scan(ds, endpoint, var))
    except AnalysisError:
        return False


def _figure(ds, result, endpoint, presentation, compact, marks=None):
    times = risk_times(ds, endpoint)
    curves = curves_from_stratified(result, times, landmarks(ds, endpoint, marks))
    return km_figure(curves, risk_times=times, x_title="Months", y_title=endpoint_of(ds, endpoint).label,
                     presentation=bool(presentation), compact=compact,
                     logrank_p=result.logrank.p if result.logrank else None, hr_text=format_hr(result),
                     x_max=times[-1])


# --- grid mode: small multiples (the paper's Figure 3/4), each with its own cutoff ----------------------------

@callback(
    Output(ids.KM_GRID_VIEW, "children"), Output("km-single-view", "style"), Output("km-single-controls", "style"),
    Input("km-grid", "value"), Input(ids.DATASET_ID, "data"), State(ids.CHOSEN_CUTOFFS, "data"),
    State("km-cutoff-var", "data"), State(ids.KM_CUTOFF, "value"),
)
def show_grid(grid, dataset_id, chosen, cutoff_var=None, cutoff=None):
    """The grid's panels, each at its variable's chosen cutoff -- the single view's variable at the single view's
    cutoff (a URL's ``var=...&cutoff=...&mode=grid`` opens the grid at that cutoff, before the chosen cutoffs
    have caught up with it)."""
    if not grid:
        return None, {}, {}
    try:
        ds = get_dataset(dataset_id)
    except DatasetMissing as exc:
        return error_alert(str(exc)), {"display": "none"}, {"display": "none"}
    chosen = dict(chosen or {})
    if cutoff_var and cutoff is not None:
        chosen[cutoff_var] = cutoff          # the single view's variable at the single view's cutoff
    chosen = clean_cutoffs(chosen)
    panels = []
    for var in grid_variables(ds):
        spec = cutoff_control_spec(ds, var)
        control = (dbc.InputGroup([dbc.InputGroupText("cutoff", className="small"),
                                   dbc.Input(id={"type": "grid-cutoff", "var": var}, type="number", step="any",
                                             value=chosen.get(var, spec.default), debounce=True,
                                             size="sm")], size="sm")
                   if spec is not None else   # a categorical panel: the same height, one curve per level
                   html.Div([dcc.Input(id={"type": "grid-cutoff", "var": var}, type="hidden", value=None),
                             dbc.InputGroup([dbc.InputGroupText("one curve per level", className="small")],
                                            size="sm")]))
        panels.append(dbc.Col(dbc.Card(dbc.CardBody([
            control,
            dcc.Graph(id={"type": "grid-graph", "var": var}, config=graph_config(f"km-{var}")),
        ], className="p-2")), xl=4, md=6, className="mb-3"))
    return dbc.Row(panels, className="g-2"), {"display": "none"}, {"display": "none"}


@callback(
    Output({"type": "grid-graph", "var": MATCH}, "figure"),
    Input({"type": "grid-cutoff", "var": MATCH}, "value"),
    Input(ids.KM_ENDPOINT, "value"), Input(ids.KM_CI, "value"), Input("km-at", "value"),
    Input(ids.PRESENTATION, "value"),
    State(ids.DATASET_ID, "data"),
)
def update_grid_panel(cutoff, endpoint, ci, at, presentation, dataset_id):
    var = ctx.outputs_list["id"]["var"]
    marks = parse_landmarks(at)
    try:
        ds = get_dataset(dataset_id)
        spec = cutoff_control_spec(ds, var)
        result = stratified_km(ds, endpoint, var, (cutoff if cutoff is not None else spec.default)
                               if spec is not None else None, ci, marks)
        return _figure(ds, result, endpoint, presentation, compact=True, marks=marks)
    except (DatasetMissing, AnalysisError) as exc:
        import plotly.graph_objects as go
        return go.Figure(layout={"annotations": [{"text": str(exc), "showarrow": False}], "height": 330})


# --- how much is the cutoff worth (maximally selected log-rank statistic) ---------------------------------

@callback(
    Output(ids.CP_CHART, "figure"), Output(ids.CP_SUMMARY, "children"), Output("cp-references-box", "children"),
    Output("cp-card", "style"),
    Input(ids.KM_ENDPOINT, "value"), Input(ids.KM_VAR, "value"), Input(ids.CP_FULL_KEY, "data"),
    Input(ids.PRESENTATION, "value"), Input("km-grid", "value"),
    State(ids.DATASET_ID, "data"), State(ids.KM_CUTOFF, "value"),
)
def update_worth(endpoint, var, full_key, presentation, grid, dataset_id, cutoff):
    """The statistic over every candidate cutoff and the corrected p-values: per variable, not per cutoff move
    (the current cutoff's line moves in the browser; its naive p comes with the KM figure)."""
    hidden = {"display": "none"}
    if grid:
        return no_update, None, None, hidden
    try:
        ds = get_dataset(dataset_id)
        if not is_cuttable(ds, var):
            return no_update, None, None, hidden
        full = full_key == [ds.content_hash, endpoint, var]
        result = cutpoint_scan(ds, endpoint, var, full=full)
    except (DatasetMissing, AnalysisError) as exc:
        return no_update, error_alert(str(exc)), None, {}
    refs = clinical_reference_cutoffs(var)
    figure = statistic_chart(result, cutoff, refs, bool(presentation))
    return figure, worth_summary(result, full), reference_list(refs), {}


# After a cutoff's KM figure is drawn, when the browser is idle (requestIdleCallback), the rest of the page
# follows that cutoff: the KM estimates card is requested (update_km_table), and in the browser the URL, the
# navbar link and the chosen cutoff per variable (the Cox page uses it), the slider's thumb (for a typed cutoff)
# and the current-cutoff line on the statistic chart follow. Each of these re-renders part of the page, makes
# plotly redraw a chart or takes server time: done as the cutoff changed, they competed with the request and the
# KM figure's redraw (the browser-side ones: same-session A/B at n = 302, 4 rounds of 30 moves, median p50
# 80 -> 75 ms, p95 105 -> 91 ms; the card: see update_km).
# It also runs when a new statistic chart arrives (drawn with its request's cutoff) and when grid mode toggles.
clientside_callback(
    ClientsideFunction("survival", "afterKmDrawn"),
    Output(ids.CP_CHART, "figure", allow_duplicate=True),
    Input(ids.CP_AT_CUTOFF, "children"), Input(ids.CP_CHART, "figure"), Input("km-grid", "value"),
    State(ids.KM_ENDPOINT, "value"), State(ids.KM_VAR, "value"), State(ids.KM_CUTOFF, "value"),
    State(ids.KM_CI, "value"), State(ids.VIEW_STATE, "data"), State(ids.CHOSEN_CUTOFFS, "data"),
    State(ids.KM_DRAWN, "data"), State("km-at", "value"), State("cp-cutoff-shape", "data"), prevent_initial_call=True,
)


@callback(Output(ids.CP_TICKET, "data"), Output("cp-alert", "children", allow_duplicate=True),
          Input(ids.CP_RUN, "n_clicks"), State(ids.DATASET_ID, "data"), prevent_initial_call=True)
def start_search(_clicks, dataset_id):
    """Check access in the user's own request, then hand the background job a single-use ticket."""
    try:
        return issue_ticket(dataset_id), None
    except DatasetMissing as exc:
        return no_update, error_alert(str(exc))


@callback(
    Output(ids.CP_FULL_KEY, "data"), Output("cp-alert", "children"),
    Input(ids.CP_TICKET, "data"), State(ids.KM_ENDPOINT, "value"), State(ids.KM_VAR, "value"),
    background=True, prevent_initial_call=True,
    running=[(Output(ids.CP_RUN, "disabled"), True, False), (Output("cp-cancel", "disabled"), False, True)],
    cancel=[Input("cp-cancel", "n_clicks")],
    progress=[Output("cp-progress", "value"), Output("cp-progress", "max")],
)
def run_search(set_progress, ticket, endpoint, var):
    """Permutation p and bootstrap interval of the optimum, cached; runs off the request with a progress bar."""
    try:
        ds = redeem_ticket(ticket)
        cutpoint_scan(ds, endpoint, var, full=True, progress=lambda done, total: set_progress((done, total)))
    except (DatasetMissing, AnalysisError) as exc:
        return no_update, error_alert(str(exc))
    return [ds.content_hash, endpoint, var], None


@callback(Output(ids.KM_CUTOFF, "value", allow_duplicate=True), Input(ids.CP_USE, "n_clicks"),
          State(ids.KM_ENDPOINT, "value"), State(ids.KM_VAR, "value"), State(ids.DATASET_ID, "data"),
          prevent_initial_call=True)
def use_optimum(_clicks, endpoint, var, dataset_id):
    try:
        return cutpoint_scan(get_dataset(dataset_id), endpoint, var).cutpoint
    except (DatasetMissing, AnalysisError):
        return no_update
