"""Cox regression page: univariable screen and multivariable model side by side in the layout of the seed
paper's Tables 3-4, the multivariable model's fit and proportional-hazards diagnostics, and a forest plot.

Every usable column of the dataset is a candidate, each in the form the user chooses: continuous (HR per N
units), cut at a cutoff, or categorical with a reference level. View state lives in the URL:
``/cox?endpoint=os&rule=p05`` (``rule=manual&vars=ast,alp`` for a hand-picked model; ``cand=`` when the
candidate list differs from the default; ``spec=age*10,ast:60,grade=2`` for forms that differ from the defaults;
``groups=0`` without the paper's groupings). By default numeric columns the paper cut are split at the cutoff
chosen on the Survival page (session store ``chosen-cutoffs``), else the paper's; other numeric columns are
continuous.
"""
from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
import plotly.graph_objects as go
from dash import (ALL, MATCH, ClientsideFunction, Input, Output, State, callback, clientside_callback, dcc, html,
                  no_update)

from analysis.cox import CovariateSpec
from analysis.dichotomise import default_cutoff
from analysis.errors import AnalysisError
from components import ids
from components.clinical_tables import plot_text
from components.cox_tables import cox_model_table, cox_table, forest_figure
from components.layout import controls_page, error_alert
from components.report_buttons import report_buttons, report_callbacks
from components.static_html import static_html
from components.table_card import figure_card, table_card
from reports.jobs import default_view
from reports.spec import candidate_text
from services.cohort_views import (FORMS, GROUPINGS, clean_cutoffs, clean_forms, covariate_options, cox_variables,
                                   cox_view, default_candidates, label_of)
from services.store import DatasetMissing, get_dataset
from services.survival_view import endpoint_of, endpoint_options

dash.register_page(__name__, path="/cox", name="Cox", title="Cox regression - HAIC Cohort Analytics")

COX_FORMS_OPEN = "cox-forms-open"
RULES = {"p05": "Univariable p < 0.05 enters (the paper's rule)", "manual": "Choose the variables by hand"}


def _split(text: str | None) -> list[str] | None:
    if not text:
        return None
    return [t for t in (s.strip() for s in str(text).split(",")) if t]


def parse_forms(text: str | None) -> dict[str, str]:
    """``spec=age*10,ast:60,grade=2`` from the URL -> {column: text form} (unreadable items dropped)."""
    return clean_forms({item.split(":")[0].split("=")[0].split("*")[0].strip(): item
                        for item in (_split(text) or [])})


def layout(endpoint: str | None = None, rule: str = "p05", vars: str | None = None,  # noqa: A002
           cand: str | None = None, groups: str = "1", spec: str | None = None, dataset_id: str | None = None,
           **_other):
    rule = rule if rule in RULES else "p05"
    # the dataset's endpoints and candidates, at once (fill_candidates brings another dataset's when it is
    # switched on this page)
    (cand_options, cand_value, default_cand, endpoints, chosen,
     groups_style) = dataset_controls(dataset_id, _split(cand), None, endpoint, endpoint)
    chosen = endpoint if chosen is no_update else chosen
    controls = dbc.Card(dbc.CardBody([
        dbc.Label("Endpoint", className="fw-semibold small mb-1"),
        dbc.RadioItems(id=ids.COX_ENDPOINT, value=chosen, inline=True, options=endpoints),
        dcc.Store(id="cox-initial-endpoint", data=endpoint),
        dbc.Label("Multivariable model", className="fw-semibold small mb-1 mt-3"),
        dbc.RadioItems(id="cox-rule", value=rule, options=[{"label": v, "value": k} for k, v in RULES.items()],
                       className="small"),
        html.Div([
            dbc.Label("Variables in the multivariable model", className="small mb-1 mt-2"),
            dbc.Checklist(id=ids.COX_VARS, value=_split(vars) or [], options=[], className="small",
                          style={"maxHeight": "260px", "overflowY": "auto"}),
        ], id=ids.COX_VARS_BOX, style={} if rule == "manual" else {"display": "none"}),
        dbc.Label("Candidate variables (univariable screen)", html_for="cox-cand",
                  className="fw-semibold small mb-1 mt-3"),
        dcc.Dropdown(id="cox-cand", multi=True, value=cand_value, options=cand_options,
                     placeholder="candidate variables"),
        dbc.Switch(id="cox-groups", value=groups != "0", className="mt-3 small", style=groups_style,
                   label="Paper groupings: etiology viral vs non-viral, CNLC I–II vs III–IV"),
        report_buttons("cox", what="these Cox tables"),
        # a row of controls per candidate is drawn only while this is open (open at first when the URL sets forms)
        dbc.Button("How each variable enters the model", id=ids.COX_FORMS_TOGGLE, color="link", size="sm",
                   className="p-0 mt-3 small fw-semibold text-start"),
        dbc.Collapse([
            html.Div("Continuous: the HR per N units. Cut: the high group (value > cutoff) against the low group "
                     "(the paper's cutoff or the Survival page's for its variables; a round value near the median "
                     "otherwise). Categorical: each level against the reference level.",
                     className="small text-muted my-1"),
            html.Div(id="cox-form-rows"),
        ], id=COX_FORMS_OPEN, is_open=bool(spec)),
        dcc.Store(id="cox-forms", data=parse_forms(spec)),
        dcc.Store(id="cox-cand-url", data=_split(cand)),
        dcc.Store(id="cox-default-cand", data=default_cand),
        dcc.Store(id="cox-selected", data=[]),
    ]), className="shadow-sm")
    return controls_page("Cox proportional-hazards regression", controls, [
        html.Div(id="cox-alert"),
        dcc.Loading(html.Div(id="cox-table-slot"), delay_show=400),
        figure_card(ids.COX_FOREST, "Forest plot: multivariable hazard ratios", ids.COX_FOREST, go.Figure()),
        html.Div(id="cox-model-slot"),
    ])


def report_view(dataset_id, endpoint, rule, manual, cand, groups, chosen, forms) -> dict:
    """The deliverables' view of this page (:mod:`reports.spec`): the candidates with their forms (the
    ``cox-forms`` store, as the URL's ``spec=``), the rule, the manual choice, the paper's groupings and the
    Survival page's cutoffs -- so that the deck's Cox tables are this page's."""
    ds = get_dataset(dataset_id)
    key = endpoint_of(ds, endpoint).key
    view = default_view(ds, key)
    forms = clean_forms(forms)
    candidates = list(cand) if cand else default_candidates(ds)
    view["cox"] = {"covariates": [candidate_text(c, forms.get(c)) for c in candidates],
                   "paper_groups": bool(groups), "cutoffs": clean_cutoffs(chosen),
                   "selection": "manual" if rule == "manual" else "p", "alpha": 0.05,
                   "manual": list(manual or []) if rule == "manual" else []}
    return view


report_callbacks("cox", [State(ids.COX_ENDPOINT, "value"), State("cox-rule", "value"), State(ids.COX_VARS, "value"),
                         State("cox-cand", "value"), State("cox-groups", "value"), State(ids.CHOSEN_CUTOFFS, "data"),
                         State("cox-forms", "data")], report_view)


@callback(
    Output("cox-cand", "options"), Output("cox-cand", "value"), Output("cox-default-cand", "data"),
    Output(ids.COX_ENDPOINT, "options"), Output(ids.COX_ENDPOINT, "value"), Output("cox-groups", "style"),
    Input(ids.DATASET_ID, "data"), State("cox-cand-url", "data"), State("cox-cand", "value"),
    State(ids.COX_ENDPOINT, "value"), State("cox-initial-endpoint", "data"), prevent_initial_call=True,
)
def fill_candidates(dataset_id, url_cand, current, endpoint=None, initial_endpoint=None):
    """A dataset switched on this page (a link's ds=) brings its own endpoints and candidates."""
    return dataset_controls(dataset_id, url_cand, current, endpoint, initial_endpoint)


def dataset_controls(dataset_id, url_cand, current, endpoint=None, initial_endpoint=None) -> tuple:
    """The dataset's endpoints and candidate columns (every usable one by default; the URL's list if given); the
    paper-groupings switch only where the dataset has a column it groups."""
    try:
        ds = get_dataset(dataset_id)
    except DatasetMissing:
        return [], [], [], [], no_update, {"display": "none"}
    options = covariate_options(ds)
    usable = {o["value"] for o in options}
    default = default_candidates(ds)
    wanted = current if current else url_cand
    value = [c for c in (wanted or []) if c in usable] or default
    keys = [e.key for e in ds.endpoints]
    chosen = next((k for k in (endpoint, initial_endpoint) if k in keys), keys[0] if keys else None)
    groups_style = {} if any(c in ds.profiles for c in GROUPINGS) else {"display": "none"}
    return options, value, default, endpoint_options(ds), chosen, groups_style


# --- each candidate's form: continuous (per N units), cut (cutoff), categorical (reference) -----------------

FORM_NAMES = {"continuous": "Continuous", "cut": "Cut", "categorical": "Categorical"}


def _form_row(var, allowed, levels, cut_default) -> html.Div:
    """One candidate's controls: its name, then the form and the value the form uses (all three value inputs
    are laid out; the form shows the one it needs)."""
    col = var.column
    name = html.Div(var.label, className="small fw-semibold text-truncate")
    if var.grouping:
        return html.Div([name, html.Div("the paper's grouping (switch it off above to choose)",
                                        className="small text-muted")], className="mb-2")
    spec = var.spec
    return html.Div([name, dbc.Row([
        dbc.Col(dbc.Select(id={"type": "cox-form", "col": col}, value=var.form, size="sm",
                           options=[{"label": FORM_NAMES[f], "value": f} for f in FORMS if f in allowed]), width=6),
        dbc.Col([
            dbc.InputGroup([dbc.InputGroupText("per", className="small"),
                            dbc.Input(id={"type": "cox-per", "col": col}, type="number", min=0, step="any",
                                      value=spec.per, debounce=True)],
                           size="sm", id={"type": "cox-per-box", "col": col},
                           style={} if var.kind == "num" else {"display": "none"}),
            dbc.InputGroup([dbc.InputGroupText(">", className="small"),
                            dbc.Input(id={"type": "cox-cut", "col": col}, type="number", step="any", debounce=True,
                                      value=var.cutoff if var.cutoff is not None else cut_default)],
                           size="sm", id={"type": "cox-cut-box", "col": col},
                           style={} if var.kind == "cut" else {"display": "none"}),
            dbc.Select(id={"type": "cox-ref", "col": col}, size="sm", value=var.reference or (levels or [None])[0],
                       options=[{"label": f"ref. {lv}", "value": lv} for lv in levels],
                       style={} if var.kind == "cat" else {"display": "none"}),
        ], width=6),
    ], className="g-1")], className="mb-2")


@callback(Output("cox-form-rows", "children"),
          Input("cox-cand", "value"), Input(ids.DATASET_ID, "data"), Input("cox-groups", "value"),
          Input(ids.CHOSEN_CUTOFFS, "data"), Input(COX_FORMS_OPEN, "is_open"), State("cox-forms", "data"))
def render_form_rows(cand, dataset_id, groups, chosen, is_open, forms):
    """A row of controls per candidate, while the box is open (closed, the rows are neither drawn nor updated: a
    row per candidate is hundreds of components; they are drawn again, from the current forms, when it opens)."""
    if not is_open:
        return no_update
    if not cand:
        return None
    try:
        ds = get_dataset(dataset_id)
        variables, _notes = cox_variables(ds, list(cand), chosen, bool(groups), forms)
    except (DatasetMissing, AnalysisError):
        return None
    rows = []
    for v in variables:
        prof = ds.profiles[v.column]
        cut = default_cutoff(v.column, ds.frame[v.column], paper=ds.follows_paper) if "cut" in prof.uses else None
        rows.append(_form_row(v, prof.uses, list(prof.levels), cut))
    return rows


clientside_callback(
    ClientsideFunction("cox", "toggleForms"),
    Output(COX_FORMS_OPEN, "is_open"), Input(ids.COX_FORMS_TOGGLE, "n_clicks"), State(COX_FORMS_OPEN, "is_open"),
    prevent_initial_call=True,
)

# the form decides which value input shows
clientside_callback(
    ClientsideFunction("cox", "formInputs"),
    Output({"type": "cox-per-box", "col": MATCH}, "style"), Output({"type": "cox-cut-box", "col": MATCH}, "style"),
    Output({"type": "cox-ref", "col": MATCH}, "style"),
    Input({"type": "cox-form", "col": MATCH}, "value"), prevent_initial_call=True,
)


@callback(Output("cox-forms", "data"),
          Input({"type": "cox-form", "col": ALL}, "value"), Input({"type": "cox-per", "col": ALL}, "value"),
          Input({"type": "cox-cut", "col": ALL}, "value"), Input({"type": "cox-ref", "col": ALL}, "value"),
          State({"type": "cox-form", "col": ALL}, "id"), State("cox-cand", "value"), State(ids.DATASET_ID, "data"),
          State("cox-groups", "value"), State(ids.CHOSEN_CUTOFFS, "data"), State("cox-forms", "data"),
          prevent_initial_call=True)
def collect_forms(forms, pers, cuts, refs, ids, cand, dataset_id, groups, chosen, current):
    """The forms the user chose that differ from each column's default ({column: text form}, kept in the URL)."""
    try:
        ds = get_dataset(dataset_id)
        defaults, _notes = cox_variables(ds, list(cand or []), chosen, bool(groups), None)
    except (DatasetMissing, AnalysisError):
        return no_update
    default_text = {v.column: v.text for v in defaults}
    out = {k: v for k, v in (current or {}).items() if k not in default_text}
    for form, per, cut, ref, ident in zip(forms, pers, cuts, refs, ids):
        col = ident["col"]
        try:
            spec = (CovariateSpec(col, per=float(per)) if form == "continuous" and per else
                    CovariateSpec(col, cutoff=float(cut)) if form == "cut" and cut is not None else
                    CovariateSpec(col, reference=str(ref)) if form == "categorical" and ref is not None else None)
        except (TypeError, ValueError):
            spec = None
        if spec is not None and spec.label != default_text.get(col) and (spec.per > 0):
            out[col] = spec.label
    out = clean_forms(out)
    return out if out != (current or {}) else no_update


@callback(Output(ids.COX_VARS, "options"), Input("cox-cand", "value"))
def fill_manual_options(cand):
    return [{"label": label_of(c), "value": c} for c in (cand or [])]


# switching to "by hand" starts from the variables the p < 0.05 rule chose; the checklist shows only then
clientside_callback(
    ClientsideFunction("cox", "manualVariables"),
    Output(ids.COX_VARS, "value"), Output(ids.COX_VARS_BOX, "style"),
    Input("cox-rule", "value"), State(ids.COX_VARS, "value"), State("cox-selected", "data"),
)

# view state -> URL query string and the navbar link (assets/url_state.js)
clientside_callback(
    ClientsideFunction("cox", "viewState"),
    Output(ids.VIEW_STATE, "data", allow_duplicate=True),
    Input(ids.COX_ENDPOINT, "value"), Input("cox-rule", "value"), Input(ids.COX_VARS, "value"),
    Input("cox-cand", "value"), Input("cox-groups", "value"), Input("cox-default-cand", "data"),
    Input("cox-forms", "data"), State(ids.VIEW_STATE, "data"), prevent_initial_call="initial_duplicate",
)


@callback(
    Output("cox-table-slot", "children"), Output("cox-model-slot", "children"), Output(ids.COX_FOREST, "figure"),
    Output("cox-alert", "children"), Output("cox-selected", "data"),
    Input(ids.COX_ENDPOINT, "value"), Input("cox-rule", "value"), Input(ids.COX_VARS, "value"),
    Input("cox-cand", "value"), Input("cox-groups", "value"), Input(ids.CHOSEN_CUTOFFS, "data"),
    Input("cox-forms", "data"), Input(ids.PRESENTATION, "value"), Input(ids.DATASET_ID, "data"),
)
def update_cox(endpoint, rule, manual, cand, groups, chosen, forms, presentation, dataset_id):
    if cand is None or endpoint is None:       # the candidates and endpoints are filled from the dataset first
        return no_update, no_update, no_update, no_update, no_update
    try:
        ds = get_dataset(dataset_id)
        view = cox_view(ds, endpoint, list(cand), chosen, rule, manual or [], bool(groups), forms=forms)
        name = endpoint_of(ds, endpoint).label
    except (DatasetMissing, AnalysisError) as exc:
        return (html.Div(error_alert(str(exc)), id=ids.COX_TABLE), html.Div(id=ids.COX_MULTI_TABLE),
                _empty_forest(str(exc)), None, no_update)
    return render_cox(view, name, bool(presentation))


def render_cox(view, name: str, presentation: bool):
    """The page's outputs for a CoxView: paper-style table card, model card, forest figure, alert, selection."""
    font = "1.2rem" if presentation else "0.95rem"
    endpoint = view.endpoint
    table = cox_table(view)
    title = f"Univariable and multivariable Cox regression: {name.lower()}"
    main = table_card(ids.COX_TABLE, title, static_html(table.to_component(ids.COX_TABLE, font)), table.to_frame(),
                      footnotes=table.footnotes, filename=f"cox_{endpoint}")
    selected = [v.column for v in view.selected]
    if view.multivariable is None:
        model = html.Div(dbc.Alert(f"Multivariable model: {view.multi_error}.",
                                   color="warning" if view.selected else "secondary", className="small"),
                         id=ids.COX_MULTI_TABLE)
        return main, model, _empty_forest(view.multi_error or ""), None, selected
    mt = cox_model_table(view)
    model = table_card(ids.COX_MULTI_TABLE, "Multivariable model: fit and diagnostics",
                       static_html(mt.to_component(ids.COX_MULTI_TABLE, font)), mt.to_frame(), footnotes=mt.footnotes,
                       filename=f"cox_{endpoint}_multivariable")
    return main, model, forest_figure(view, presentation=presentation), None, selected


def _empty_forest(message: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=plot_text(message or "no multivariable model"), showarrow=False, x=0.5, y=0.5, xref="paper",
                       yref="paper", font={"size": 14, "color": "#555"})
    fig.update_layout(template="plotly_white", height=220, xaxis={"visible": False}, yaxis={"visible": False},
                      margin={"l": 10, "r": 10, "t": 10, "b": 10})
    return fig
