"""Meta-analysis page: the 17 studies of HAIC + systemic therapy vs systemic therapy (Lu et al., Int J Surg 2025)
or the user's own study file, pooled live with the engine of ``analysis.meta``.

Forest plot as a journal prints it (every study listed; those without data greyed with the reason), our pooled
result next to the published one, and in tabs: funnel plot with Egger's test and trim-and-fill, leave-one-out and
cumulative analyses, meta-regression, the ORR-vs-OS correlation, the trial sequential analysis (the paper's
Fig. 6: z-curve, monitoring and futility boundaries, RIS; with its own RRR / alpha / beta controls) and the
per-study table. Below, the study table: edit cells (with a source for each edit), provenance on hover, upload a
file, download the edited table; everything recomputes live. A study leaves or rejoins the pool by a click on its
forest-plot row or its "In pool" box. Presentation mode (navbar) enlarges the forest, funnel and TSA plots.

The view lives in the URL: ``/meta?outcome=os&method=REML&hk=1&subgroup=platinum&exclude=3,7`` (``exclude`` =
data-row numbers, the grid's "#" column; the TSA panel adds ``tab=tsa&rrr=30&alpha=0.05&beta=0.2&fut=0``).
"""
from __future__ import annotations

import base64
import binascii

import dash
import dash_ag_grid as dag
import dash_bootstrap_components as dbc
from dash import ClientsideFunction, Input, Output, State, callback, clientside_callback, ctx, dcc, html, no_update

from analysis.errors import AnalysisError
from analysis.meta import DERIVATIONS
from analysis.meta.dataset import OUTCOME_CHOICES, OUTCOME_TITLES, column_label
from analysis.meta.edits import edits_frame
from analysis.meta.study_rows import study_frame
from analysis.meta.tsa import TSASettings
from components import ids
from components.forest import (
    NOT_POOLED, correlation_figure, cumulative_figure, forest_figure, funnel_caption, funnel_figure,
    leave_one_out_figure, metaregression_figure, per_study_display,
)
from components.format import format_ci, format_estimate, format_number, format_p, format_tau2
from components.layout import error_alert
from components.meta_grid import grid_rows, provenance_csv, studies_csv
from components.report_buttons import report_buttons, report_callbacks
from components.static_html import static_html
from components.table_card import table_card
from components.tsa_figure import tsa_figure, tsa_summary_frame
from services.meta_views import (
    METHODS, apply_edit, column_choices, current_data, default_rrr, load_upload, meta_view, normalise_params,
    study_table, tsa_view,
)
from services.store import delete_study_set

dash.register_page(__name__, path="/meta", name="Meta-analysis", title="Meta-analysis - HAIC Cohort Analytics")

META_GRID_WANTED = "meta-grid-wanted"
GRID_HEIGHT_PX = 460
TABS = ("funnel", "sensitivity", "metareg", "correlation", "tsa", "table")
TSA_ALPHAS = (0.01, 0.05, 0.10)
TSA_BETAS = (0.05, 0.10, 0.20)
METHOD_LABELS = {"REML": "Random effects: REML", "DL": "Random effects: DerSimonian-Laird",
                 "PM": "Random effects: Paule-Mandel", "FE": "Fixed effect only"}


def _rows_from_query(text) -> list[int]:
    out = []
    for part in str(text or "").split(","):
        part = part.strip()
        if part.isdigit() and int(part) >= 1:
            out.append(int(part) - 1)
    return sorted(set(out))


def _flag(value) -> bool:
    return str(value).lower() in ("1", "true", "yes", "on")


def _number(text, allowed=None, lo=None, hi=None):
    try:
        x = float(text)
    except (TypeError, ValueError):
        return None
    if allowed is not None:
        return x if x in allowed else None
    return x if lo < x < hi else None


def layout(outcome: str = "os", method: str = "REML", hk: str | None = None, mh: str | None = None,
           measure: str = "RR", se: str | None = None, pct: str | None = None, subgroup: str | None = None,
           moderator: str | None = None, exclude: str | None = None, tab: str = "funnel", rrr: str | None = None,
           alpha: str | None = None, beta: str | None = None, fut: str | None = None, **_other):
    data = current_data()
    try:
        table = study_table(data)
        choices = column_choices(table)
        outcomes = table.outcomes
    except AnalysisError:
        table, choices, outcomes = None, {"subgroup": [], "moderator": []}, []
    method = str(method or "REML").upper()
    method = method if method in METHODS else "REML"
    outcome = outcome if outcome in OUTCOME_CHOICES else "os"
    tab = tab if tab in TABS else "funnel"
    excluded = [i for i in _rows_from_query(exclude) if i < data.n]
    controls = dbc.Card(dbc.CardBody([
        dbc.Label("Outcome", className="fw-semibold small mb-1"),
        dbc.RadioItems(id=ids.META_OUTCOME, value=outcome, inline=True, className="small",
                       options=_outcome_options(outcomes)),
        html.Div(id=ids.META_OUTCOME_NOTE, className="small text-muted"),
        dbc.Label("Model", html_for=ids.META_METHOD, className="fw-semibold small mb-1 mt-3"),
        dbc.Select(id=ids.META_METHOD, value=method, size="sm",
                   options=[{"label": METHOD_LABELS[m], "value": m} for m in METHODS]),
        dbc.Switch(id=ids.META_HK, label="Hartung-Knapp CI (t-based, wider)", value=_flag(hk), className="mt-2 small"),
        html.Div([
            dbc.Label("Event counts", className="fw-semibold small mb-1 mt-2"),
            dbc.RadioItems(id="meta-measure", value=measure if measure in ("RR", "OR") else "RR", inline=True,
                           className="small", options=[{"label": "Risk ratio", "value": "RR"},
                                                       {"label": "Odds ratio", "value": "OR"}]),
            dbc.Switch(id=ids.META_MH, label="Mantel-Haenszel fixed effect", value=_flag(mh), className="small"),
        ], id=ids.META_COUNT_CONTROLS),
        dbc.Label("Derived values (flagged †)", className="fw-semibold small mb-1 mt-3"),
        dbc.Switch(id=ids.META_DERIVE_SE, value=str(se) != "0", className="small",
                   label="SE of a hazard ratio from its p-value (Altman & Bland 2011)"),
        dbc.Switch(id=ids.META_DERIVE_PCT, value=str(pct) != "0", className="small",
                   label="Event counts from reported percentages"),
        dbc.Label("Subgroups", html_for=ids.META_SUBGROUP, className="fw-semibold small mb-1 mt-3"),
        dcc.Dropdown(id=ids.META_SUBGROUP, value=subgroup, options=choices["subgroup"], clearable=True,
                     placeholder="none", className="small"),
        dbc.Label("Meta-regression moderator", html_for=ids.META_MODERATOR, className="fw-semibold small mb-1 mt-3"),
        dcc.Dropdown(id=ids.META_MODERATOR, value=moderator, options=choices["moderator"], clearable=True,
                     placeholder="none", className="small"),
        html.P(["Click a study in the forest plot, or untick it in the study table, to leave it out of the pool; "
                "click again to bring it back."], className="small text-muted mt-3 mb-0"),
        report_buttons("meta", kinds=("deck", "r"), what="this meta-analysis"),
    ]), className="shadow-sm")

    forest_card = dbc.Card([
        dbc.CardHeader(html.Div([
            html.Span("Forest plot", className="fw-semibold"),
            html.Div([
                dbc.Button("PNG", id=ids.META_FOREST_PNG, size="sm", color="secondary", outline=True, className="me-1",
                           title="Download the forest plot as PNG (3x screen resolution)"),
                dbc.Button("SVG", id=ids.META_FOREST_SVG, size="sm", color="secondary", outline=True, className="me-1",
                           title="Download the forest plot as SVG (vector, for print)"),
                dbc.Button("CSV", id="meta-forest-csv", size="sm", color="secondary", outline=True,
                           title="Download the per-study table behind the forest plot"),
                dcc.Download(id="meta-forest-download"), dcc.Store(id="meta-forest-done"),
            ], className="d-flex"),
        ], className="d-flex justify-content-between align-items-center"), className="bg-white"),
        dbc.CardBody([
            dcc.Loading(dcc.Graph(id=ids.META_FOREST, config=_graph_config("forest-plot"),
                                  figure=_empty_figure()), delay_show=500),
        ], className="p-2"),
    ], className="shadow-sm mb-3")

    tabs = dbc.Card([
        dbc.CardHeader(dbc.Tabs(id=ids.META_TABS, active_tab=tab, children=[
            dbc.Tab(label="Funnel plot & small-study effects", tab_id="funnel"),
            dbc.Tab(label="Leave-one-out & cumulative", tab_id="sensitivity"),
            dbc.Tab(label="Meta-regression", tab_id="metareg"),
            dbc.Tab(label="ORR vs OS (Fig. 5A)", tab_id="correlation"),
            dbc.Tab(label="Trial sequential analysis (Fig. 6)", tab_id="tsa"),
            dbc.Tab(label="Per-study table", tab_id="table"),
        ]), className="bg-white"),
        # a tab's height is kept from the start, so that what is below does not move when its content arrives
        dbc.CardBody([dcc.Loading(html.Div(id="meta-tab-content"), delay_show=500),
                      _tsa_panel(tab, outcome, rrr, alpha, beta, fut)], style={"minHeight": "480px"}),
    ], className="shadow-sm mb-3")

    data_card = dbc.Card([
        dbc.CardHeader(html.Span("Study data (editable) — published study-level results, not patients",
                                 className="fw-semibold"), className="bg-white"),
        dbc.CardBody([
            dbc.Row([
                dbc.Col([
                    dcc.Upload(id=ids.META_UPLOAD, multiple=True, className="upload-box",
                               children=html.Div(["Drop a study CSV here (the 17-study layout, optionally with its "
                                                  "provenance file, or a generic file: ",
                                                  html.Code("study,hr,lo,hi"), " or ",
                                                  html.Code("study,events_exp,n_exp,events_ctrl,n_ctrl"),
                                                  "), or ", html.A("choose a file")])),
                ], lg=6),
                dbc.Col([
                    dbc.Label("Source of your next edits", html_for=ids.META_EDIT_SOURCE, className="small mb-1"),
                    dbc.Input(id=ids.META_EDIT_SOURCE, size="sm", debounce=False, maxLength=300,
                              placeholder="e.g. full text, Table 2 (blank: 'edited by user')"),
                    html.Div([
                        dbc.Button("Download studies CSV", id="meta-download-studies", size="sm", color="secondary",
                                   outline=True, className="me-1 mt-2"),
                        dbc.Button("Download provenance CSV", id="meta-download-prov", size="sm", color="secondary",
                                   outline=True, className="me-1 mt-2"),
                        dbc.Button("Restore the 17-study file", id=ids.META_RESTORE, size="sm", color="danger",
                                   outline=True, className="mt-2"),
                        dcc.Download(id="meta-download"),
                    ]),
                ], lg=6),
            ], className="g-3"),
            html.Div(id=ids.META_DATA_FEEDBACK, className="mt-2"),
            html.Div(id=ids.META_DATA_INFO, className="small text-muted mt-2"),
            # the editable grid is made when this box comes into the window (it is below the forest plot and
            # the tabs; an AG Grid costs ~0.3 s to set up): assets/meta.js watches it, mount_grid draws it
            html.Div(html.Div("The study table is drawn when you scroll to it.", className="small text-muted p-3"),
                     id=ids.META_GRID_BOX, style={"minHeight": f"{GRID_HEIGHT_PX}px"}, className="mt-2"),
            dcc.Store(id=META_GRID_WANTED, data=False),
            html.Div([
                html.Span("■ ", style={"color": "#f5d76e"}), "edited by you  ",
                html.Span("■ ", style={"color": "#f4b183"}), "low confidence (computed from a percentage or from a "
                                                             "news report)  · hover a cell for its source, "
                                                             "confidence and quote · blank = not found in any "
                                                             "available source",
            ], className="small text-muted mt-1"),
            html.Div(id=ids.META_EDITS, className="mt-3"),
        ]),
    ], className="shadow-sm mb-4")

    return html.Div([
        html.H2("Meta-analysis: HAIC + systemic therapy vs systemic therapy", className="h4 mt-3"),
        html.P("Study-level results of the 17 studies in Lu D et al., Int J Surg 2025;111:3494, re-pooled from what "
               "the public sources report. Gaps are real and stay visible.", className="small text-muted"),
        dcc.Store(id=ids.META_EXCLUDE, data=excluded),
        dcc.Store(id="meta-version", data=data.content_hash),
        dbc.Row([
            dbc.Col(controls, lg=3, md=4),
            dbc.Col([
                html.Div(id="meta-alert"),
                html.Div(id=ids.META_SUMMARY, className="mb-3"),
                forest_card,
                tabs,
            ], lg=9, md=8),
        ], className="g-3"),
        data_card,
    ])


def _tsa_panel(tab, outcome, rrr, alpha, beta, fut) -> html.Div:
    """The TSA tab's controls and figure; always in the layout (its callback needs them), shown on that tab."""
    rrr_pct = _number(rrr, lo=0, hi=100)
    rrr_pct = rrr_pct if rrr_pct is not None else round(100 * default_rrr(outcome))
    alpha = _number(alpha, TSA_ALPHAS) or 0.05
    beta = _number(beta, TSA_BETAS) or 0.20
    controls = dbc.Row([
        dbc.Col([dbc.Label("Relative risk reduction to detect (%)", html_for=ids.META_TSA_RRR, className="small mb-1"),
                 dbc.Input(id=ids.META_TSA_RRR, type="number", min=1, max=99, step=1, value=rrr_pct, size="sm",
                           debounce=True)], md=3),
        dbc.Col([dbc.Label("α (two-sided)", html_for=ids.META_TSA_ALPHA, className="small mb-1"),
                 dbc.Select(id=ids.META_TSA_ALPHA, value=str(alpha), size="sm",
                            options=[{"label": f"{a:g}", "value": str(a)} for a in TSA_ALPHAS])], md=2),
        dbc.Col([dbc.Label("β (power 1 − β)", html_for=ids.META_TSA_BETA, className="small mb-1"),
                 dbc.Select(id=ids.META_TSA_BETA, value=str(beta), size="sm",
                            options=[{"label": f"{b:g} (power {100 * (1 - b):.0f}%)", "value": str(b)}
                                     for b in TSA_BETAS])], md=3),
        dbc.Col(dbc.Switch(id=ids.META_TSA_FUTILITY, value=str(fut) != "0", className="small mt-4",
                           label="Futility boundaries (non-binding)"), md=4),
    ], className="g-2 mb-2")
    return html.Div([
        controls,
        html.Div(id="meta-tsa-model", className="small text-muted mb-2"),
        dcc.Loading(dcc.Graph(id=ids.META_TSA_GRAPH, config=_graph_config("trial-sequential-analysis"),
                              figure=_empty_figure()), delay_show=500),
        html.Div(id="meta-tsa-summary"),
        html.Div(id=ids.META_TSA_PAPER, className="mt-3"),
    ], id=ids.META_TSA_PANEL, style={} if tab == "tsa" else {"display": "none"})


def _outcome_options(outcomes: list[str]) -> list[dict]:
    return [{"label": label, "value": o, "disabled": o not in outcomes} for o, label in OUTCOME_CHOICES.items()]


def _graph_config(name: str) -> dict:
    return {"displaylogo": False, "modeBarButtonsToRemove": ["lasso2d", "select2d", "zoom2d", "pan2d",
                                                             "zoomIn2d", "zoomOut2d", "autoScale2d"],
            "toImageButtonOptions": {"format": "png", "filename": name, "scale": 3}}


def _empty_figure(height: int = 420) -> dict:
    return {"layout": {"height": height, "xaxis": {"visible": False}, "yaxis": {"visible": False},
                       "template": "plotly_white"}}


# ---------------------------------------------------------------------------------------------------------
# parameters
# ---------------------------------------------------------------------------------------------------------

def _params(table, outcome, method, hk, mh, measure, derive_se, derive_pct, subgroup, moderator, exclude):
    derive = tuple(d for d, on in zip(DERIVATIONS, (derive_se, derive_pct)) if on)
    return normalise_params(table, outcome=outcome, method=method, hk=hk, mh=mh, measure=measure, derive=derive,
                            subgroup=subgroup, moderator=moderator, exclude=exclude or ())


PARAM_INPUTS = [Input(ids.META_OUTCOME, "value"), Input(ids.META_METHOD, "value"), Input(ids.META_HK, "value"),
                Input(ids.META_MH, "value"), Input("meta-measure", "value"), Input(ids.META_DERIVE_SE, "value"),
                Input(ids.META_DERIVE_PCT, "value"), Input(ids.META_SUBGROUP, "value"),
                Input(ids.META_MODERATOR, "value"), Input(ids.META_EXCLUDE, "data"), Input("meta-version", "data")]


def compute_view(outcome, method, hk, mh, measure, derive_se, derive_pct, subgroup, moderator, exclude):
    """The current session's table and its :class:`MetaView` for the control values."""
    data = current_data()
    table = study_table(data)
    params = _params(table, outcome, method, hk, mh, measure, derive_se, derive_pct, subgroup, moderator, exclude)
    return data, meta_view(data, params)


def report_view(_dataset_id, *controls) -> dict:
    """The deliverables' view of this page (:mod:`reports.spec`, ``cohort: false``): the meta-analysis alone --
    forest plot of the outcome and the pooled results of every outcome -- with this page's model, count measure,
    derivations, subgroups and the studies left out (the session's study table goes to the job with its ticket)."""
    p = _params(study_table(current_data()), *controls)
    return {"cohort": False,
            "meta": {"outcome": p.outcome or "os", "method": p.method, "hk": p.hk, "mh": p.mh, "measure": p.measure,
                     "derive": list(p.derive), "exclude": list(p.exclude), "subgroup": p.subgroup}}


report_callbacks("meta", [State(i.component_id, i.component_property) for i in PARAM_INPUTS[:-1]], report_view,
                 kinds=("deck", "r"))


# ---------------------------------------------------------------------------------------------------------
# results: forest plot and the comparison with the published pool
# ---------------------------------------------------------------------------------------------------------

@callback(
    Output(ids.META_FOREST, "figure"), Output(ids.META_SUMMARY, "children"), Output("meta-alert", "children"),
    Output(ids.META_OUTCOME_NOTE, "children"), Output(ids.META_COUNT_CONTROLS, "style"),
    *PARAM_INPUTS, Input(ids.PRESENTATION, "value"),
)
def update_results(outcome, method, hk, mh, measure, derive_se, derive_pct, subgroup, moderator, exclude,
                   _version, presentation=False):
    try:
        data, view = compute_view(outcome, method, hk, mh, measure, derive_se, derive_pct, subgroup, moderator,
                                  exclude)
    except AnalysisError as exc:
        return no_update, None, error_alert(str(exc)), None, {}
    p = view.params
    title = (f"{view.spec.outcome}: {view.spec.comparison}" if view.kind == "outcomes"
             else f"{data.name}: {view.spec.comparison}")
    figure = forest_figure(view.rows, view.report, view.spec, title=title, hk=p.hk,
                           group_label=column_label(p.subgroup) if p.subgroup else None,
                           presentation=bool(presentation))
    alerts = [dbc.Alert(m, color="warning", className="py-2 small mb-2") for m in view.messages]
    note = None if view.kind == "outcomes" else "This file has one outcome (a generic study file)."
    counts_style = {} if view.spec.counts else {"display": "none"}
    return figure, summary(view), alerts or None, note, counts_style


def summary(view) -> dbc.Row:
    """Our pooled result next to the published one, and plainly how many studies our pool rests on."""
    spec, rep = view.spec, view.report
    n_derived = sum(1 for r in view.pooled if r.derived)
    reasons: dict[str, int] = {}
    for r in view.not_pooled:
        key = "left out by you" if r.status == "left out" else (r.reason or "not pooled")
        reasons[key] = reasons.get(key, 0) + 1
    why = "; ".join(f"{k}: {v}" for k, v in reasons.items())
    k = view.k
    rests = (f"Our pool rests on {k} of the {view.n_total} studies"
             + (f" ({n_derived} with derived values †)" if n_derived else "")
             + (f". Not in the pool: {len(view.not_pooled)} ({why})." if view.not_pooled else "."))
    if rep is None:
        ours = [html.Div("No pooled estimate", className="fs-5 fw-semibold"),
                html.Div("no study can be pooled with these settings", className="small text-muted")]
    elif rep.k == 1:
        only = rep.analysis.studies[0]
        ours = [html.Div(html.Span(NOT_POOLED[0].lower() + NOT_POOLED[1:], id=ids.META_OUR_ESTIMATE),
                         className="fs-5 fw-semibold"),
                html.Div(f"{only.study}: {spec.short} {format_estimate(only.est, only.lo, only.hi)} (the study's own "
                         f"estimate; no pooled estimate, heterogeneity or prediction interval)", className="small")]
    else:
        a = rep.analysis
        prim = a.primary
        model = ("random effects (" + prim.method + (", Hartung-Knapp" if prim.hk else "") + ")"
                 if prim.model == "random" else ("fixed effect (Mantel-Haenszel)" if prim.method == "MH"
                                                 else "fixed effect (inverse variance)"))
        h = a.heterogeneity
        extra = []
        if a.random is not None:
            fx = a.fixed_reported
            extra.append(f"fixed effect{' (Mantel-Haenszel)' if fx.method == 'MH' else ''} "
                         f"{format_estimate(fx.est, fx.lo, fx.hi)}")
            if a.random.pi_lo is not None:
                extra.append(f"95% prediction interval {format_ci(a.random.pi_lo, a.random.pi_hi)}")
        ours = [
            html.Div([html.Span(f"{spec.short} ", className="text-muted"),
                      html.Span(format_estimate(prim.est, prim.lo, prim.hi), id=ids.META_OUR_ESTIMATE)],
                     className="fs-5 fw-semibold"),
            html.Div(f"{model}; {format_p(prim.p, prefix='p', short=True)}; I² {format_number(h.i2, 0)}%, "
                     f"τ² {format_tau2(h.tau2)}; k = {k}",
                     className="small"),
            html.Div("; ".join(extra), className="small text-muted") if extra else None,
        ]
    pub = view.published
    if pub is None:
        theirs = [html.Div("—", className="fs-5"), html.Div("no published result for an uploaded file",
                                                          className="small text-muted")]
    elif pub.get("est") is not None:
        theirs = [html.Div([html.Span(f"{pub['measure']} ", className="text-muted"),
                            html.Span(format_estimate(pub["est"], pub["lo"], pub["hi"]))],
                           className="fs-5 fw-semibold"),
                  html.Div(f"random effects; I² {format_number(pub['i2'], 0)}%; k = {pub['k']} studies",
                           className="small"),
                  html.Div("pooled on per-study data not all available publicly", className="small text-muted")]
    else:
        theirs = [html.Div(f"{pub['rate_haic_pct']:.2f}% vs {pub['rate_ctrl_pct']:.2f}%",
                           className="fs-5 fw-semibold"),
                  html.Div("incidence of grade ≥3 AEs, HAIC + systemic vs systemic (no pooled ratio published)",
                           className="small")]
    outcome = OUTCOME_TITLES.get(view.params.outcome, "Study file") if view.kind == "outcomes" else "Study file"
    return dbc.Card(dbc.CardBody([
        dbc.Row([
            dbc.Col([html.Div(f"This analysis — {outcome}", className="small fw-semibold text-uppercase "
                                                                       "text-muted"), *ours], md=6),
            dbc.Col([html.Div("Published — Lu et al. 2025", className="small fw-semibold text-uppercase "
                                                                      "text-muted"), *theirs],
                    md=6, className="border-start"),
        ]),
        html.Div(rests, id=ids.META_POOL_SIZE, className="small mt-2"),
        html.Div([html.Div(n, className="small text-muted") for n in (rep.notes if rep is not None else [])
                  if not n.startswith("one study:")]       # said above, in the card
                 + [html.Div(w, className="small text-muted") for w in view.warnings]),
    ]), className="shadow-sm")


# ---------------------------------------------------------------------------------------------------------
# tabs
# ---------------------------------------------------------------------------------------------------------

@callback(Output("meta-tab-content", "children"), Input(ids.META_TABS, "active_tab"), *PARAM_INPUTS,
          Input(ids.PRESENTATION, "value"))
def update_tab(tab, outcome, method, hk, mh, measure, derive_se, derive_pct, subgroup, moderator, exclude,
               _version, presentation=False):
    if tab == "tsa":
        return None                      # the TSA panel is in the layout; update_tsa fills it
    try:
        _data, view = compute_view(outcome, method, hk, mh, measure, derive_se, derive_pct, subgroup, moderator,
                                   exclude)
    except AnalysisError as exc:
        return error_alert(str(exc))
    return tab_content(tab, view, bool(presentation))


def _graph(gid: str, figure, name: str) -> dcc.Graph:
    return dcc.Graph(id=gid, figure=figure, config=_graph_config(name))


def _muted(text: str) -> html.P:
    return html.P(text, className="small text-muted")


def tab_content(tab: str, view, presentation: bool = False):
    rep, spec = view.report, view.spec
    if tab == "correlation":
        if view.kind != "outcomes":
            return _muted("The ORR-vs-OS correlation needs the 17-study layout (ORR counts and OS hazard ratios).")
        return [_graph("meta-correlation", correlation_figure(view.correlation_points, view.correlation,
                                                              {"correlation_orr_os": _published_corr()}),
                       "orr-vs-os"),
                _muted("Each dot is a study with ORR counts in both arms and an OS hazard ratio (point estimates, "
                       "as in the paper's Fig. 5A). Spearman's rho with a t-approximation p-value (R cor.test, "
                       "exact = FALSE). The line is a least-squares guide only. Studies left out of the pool are "
                       "left out here too.")]
    if tab == "table":
        frame = study_frame(view.rows, view.spec, view.report)
        body = static_html(dbc.Table.from_dataframe(per_study_display(frame, spec.short), size="sm", striped=True,
                                                    bordered=False, className="small mb-0"))
        return table_card("meta-studies", f"Per-study estimates — {spec.outcome}", body, frame,
                          filename=f"meta-{view.params.outcome or 'studies'}-per-study",
                          footnotes=["Estimates and 95% CIs on the ratio scale (two decimals; the CSV keeps four); "
                                     "weights in percent of the pooled analysis; rows not in the pool give the "
                                     "reason."])
    if rep is None:
        return _muted("No study can be pooled with these settings, so there is nothing to show here.")
    if tab == "funnel":
        return [_graph("meta-funnel", funnel_figure(rep, spec, presentation), "funnel-plot"),
                _muted(funnel_caption(rep) + ". Shaded: where a study would be significant (two-sided, around a "
                       "ratio of 1) at p < 0.10, < 0.05, < 0.01 (contour-enhanced funnel, Peters et al. 2008). "
                       "Egger's test (classical, weighted regression on the SE) and trim-and-fill (Duval & "
                       "Tweedie L0) need at least 3 studies; with few studies they have little power.")]
    if tab == "sensitivity":
        if not rep.leave_one_out:
            loo = _muted(f"Leave-one-out needs at least 3 studies (k = {rep.k}).")
        else:
            loo = _graph("meta-loo", leave_one_out_figure(rep, spec), "leave-one-out")
        return [loo, _graph("meta-cumulative", cumulative_figure(rep, spec), "cumulative")]
    if tab == "metareg":
        if rep.metaregression is None:
            why = [n for n in rep.notes if "meta-regression" in n]
            msgs = [m for m in view.messages if "moderator" in m]
            text = (why or msgs or ["Choose a moderator (left) for a meta-regression: a numeric column such as "
                                    "year, or a two-level column such as platinum drug."])[0]
            return _muted(text)
        m = rep.metaregression
        excl = ", ".join(e.study for e in m.excluded)
        return [_graph("meta-metareg", metaregression_figure(rep, spec), "meta-regression"),
                _muted(f"Mixed-effects meta-regression (metafor rma with mods); coding: {m.coding}; QM = "
                       f"{format_number(m.qm)} ({format_p(m.qm_p, prefix='p', short=True)}); residual heterogeneity "
                       f"QE = {format_number(m.qe)}, df = {m.qe_df} ({format_p(m.qe_p, prefix='p', short=True)})."
                       + (f" Without a value (not in the regression): {excl}." if excl else ""))]
    return None


def _published_corr():
    from analysis.meta import PUBLISHED_POOLED

    return PUBLISHED_POOLED["correlation_orr_os"]


# ---------------------------------------------------------------------------------------------------------
# trial sequential analysis (the TSA tab)
# ---------------------------------------------------------------------------------------------------------

TSA_INPUTS = [Input(ids.META_TSA_RRR, "value"), Input(ids.META_TSA_ALPHA, "value"), Input(ids.META_TSA_BETA, "value"),
              Input(ids.META_TSA_FUTILITY, "value")]


def tsa_settings(rrr_pct, alpha, beta, futility) -> TSASettings:
    """The panel's controls as :class:`TSASettings` (RRR in percent); AnalysisError for an unusable RRR."""
    try:
        rrr = float(rrr_pct) / 100
    except (TypeError, ValueError):
        raise AnalysisError("enter the relative risk reduction to detect, in percent (1-99)") from None
    if not 0 < rrr < 1:
        raise AnalysisError("the relative risk reduction must be between 1 and 99 percent")
    return TSASettings(rrr=rrr, alpha=_number(alpha, TSA_ALPHAS) or 0.05, beta=_number(beta, TSA_BETAS) or 0.20,
                       futility=bool(futility))


@callback(
    Output(ids.META_TSA_PANEL, "style"), Output(ids.META_TSA_GRAPH, "figure"), Output("meta-tsa-summary", "children"),
    Output(ids.META_TSA_PAPER, "children"), Output("meta-tsa-model", "children"),
    Input(ids.META_TABS, "active_tab"), *PARAM_INPUTS, *TSA_INPUTS, Input(ids.PRESENTATION, "value"),
)
def update_tsa(tab, outcome, method, hk, mh, measure, derive_se, derive_pct, subgroup, moderator, exclude, _version,
               rrr, alpha, beta, futility, presentation=False):
    if tab != "tsa":
        return {"display": "none"}, no_update, no_update, no_update, no_update
    shown = {}
    try:
        settings = tsa_settings(rrr, alpha, beta, futility)
        data = current_data()
        table = study_table(data)
        params = _params(table, outcome, method, hk, mh, measure, derive_se, derive_pct, subgroup, moderator,
                         exclude)
        view = tsa_view(data, params, settings)
    except AnalysisError as exc:
        return shown, _empty_figure(40), error_alert(str(exc)), None, None
    model = ("Model: fixed effect (" + ("Mantel-Haenszel" if params.mh else "inverse variance") + ")"
             if params.method == "FE" else "Model: random effects (DerSimonian-Laird; RIS adjusted by the diversity "
             "D²), Mantel-Haenszel where τ² = 0")
    model += (" — follows the model chosen on the left. Conventions of the TSA program as RTSA 0.2.2 reproduces "
              "them (docs/meta-analysis.md).")
    paper = _tsa_paper_table(view.paper)
    if view.result is None:
        return shown, _empty_figure(40), _muted(view.message or ""), paper, model
    r = view.result
    figure = tsa_figure(r, view.spec, presentation=bool(presentation))
    frame = tsa_summary_frame(r, view.spec)
    notes = [html.Div(n, className="small text-muted") for n in r.notes]
    if r.excluded:
        notes.append(html.Div("Not in the TSA: " + "; ".join(f"{e['study']} ({e['reason']})" for e in r.excluded),
                              className="small text-muted"))
    summary_div = static_html(html.Div([
        html.P(r.conclusion, id=ids.META_TSA_CONCLUSION, className="fw-semibold mb-2"),
        dbc.Table.from_dataframe(frame, size="sm", bordered=False, className="small mb-1", id="meta-tsa-table"),
        *notes,
    ]))
    return shown, figure, summary_div, paper, model


def _tsa_paper_table(rows: list[dict]):
    """ORR and DCR with the paper's settings, our RIS beside the paper's, and why they differ."""
    if not rows:
        return None
    body = []
    for r in rows:
        body.append(html.Tr([
            html.Td(r["outcome"]), html.Td(f"{100 * r['rrr']:.0f}%"),
            html.Td(f"{r['k']} studies, {r['n']:,} patients" if r["n"] is not None else f"{r['k']} studies"),
            html.Td(f"{100 * r['pc']:.1f}%" if r["pc"] is not None else "—"),
            html.Td(f"{100 * r['d2']:.1f}%" if r["d2"] is not None else "—"),
            html.Td(f"{r['ris']:,}" if r["ris"] is not None else (r["note"] or "—"), className="fw-semibold"),
            html.Td(f"{r['paper_ris']:,} ({r['paper_k']} studies)"),
        ]))
    head = html.Thead(html.Tr([html.Th(h) for h in ("Outcome", "RRR", "Our pool", "p_C", "D²", "Our RIS",
                                                    "Paper's RIS")]))
    table = dbc.Table([head, html.Tbody(body)], size="sm", bordered=False, className="small mb-1",
                      id="meta-tsa-paper-table")
    return static_html(html.Div([
        html.Div("The paper's settings (Lu et al. 2025, Fig. 6): α 5% two-sided, power 80%, random effects",
                 className="small fw-semibold"),
        table,
        html.P("Why ours differs: the paper's TSA pooled 16 studies for ORR and 15 for DCR, with per-study counts "
               "that the public sources do not all give; ours rests on the studies with counts in this table. The "
               "RIS depends on those studies through the control-arm risk p_C and the diversity D² (the RIS is "
               "the fixed-effect size divided by 1 − D²), so fewer, more heterogeneous studies give a larger RIS. "
               "The paper also used the TSA program itself, whose rounding we follow through RTSA.",
               className="small text-muted mb-0"),
    ]))


@callback(Output(ids.META_TSA_RRR, "value"), Input(ids.META_OUTCOME, "value"), prevent_initial_call=True)
def tsa_default_rrr(outcome):
    """A new outcome starts at its own RRR: the paper's 30 % (ORR) and 15 % (DCR), 20 % otherwise."""
    return round(100 * default_rrr(outcome))


# ---------------------------------------------------------------------------------------------------------
# the study table: grid, edits, toggles, upload, downloads
# ---------------------------------------------------------------------------------------------------------

@callback(Output(ids.META_GRID, "rowData"), Output(ids.META_GRID, "columnDefs"),
          Input("meta-version", "data"), Input(ids.META_EXCLUDE, "data"), prevent_initial_call=True)
def update_grid_rows(version, exclude):
    """The grid's rows and columns after an edit, an upload or a toggle (mount_grid makes the grid with them)."""
    return _grid_rows(exclude)


@callback(Output(ids.META_DATA_INFO, "children"), Output(ids.META_EDITS, "children"),
          Output(ids.META_SUBGROUP, "options"), Output(ids.META_MODERATOR, "options"),
          Output(ids.META_OUTCOME, "options"),
          Input("meta-version", "data"), Input(ids.META_EXCLUDE, "data"))
def update_data_info(version, exclude):
    """What the study table is, the user's edits, and the columns the subgroup, moderator and outcome
    choices offer (with the grid or without it: the grid is made when scrolled to)."""
    return data_info()


def refresh_grid(_version, exclude):
    """The study grid's rows and columns, then what :func:`update_data_info` shows (one study table)."""
    return (*_grid_rows(exclude), *data_info())


def _grid_rows(exclude) -> tuple[list[dict], list[dict]]:
    return grid_rows(current_data(), set(exclude or []))


def data_info() -> tuple:
    """The table's description, the edits card and the subgroup, moderator and outcome choices."""
    data = current_data()
    try:
        table = study_table(data)
        choices, outcomes = column_choices(table), table.outcomes
        kind = {"outcomes": "17-study layout", "ratio": "generic file: ratio with 95% CI",
                "counts": "generic file: event counts"}[table.kind]
    except AnalysisError:
        choices, outcomes, kind = {"subgroup": [], "moderator": []}, [], "unreadable"
    info = (f"{data.name} ({kind}): {data.n} studies"
            + ("" if data.shipped else " — your copy, kept on the server for this browser session")
            + (f"; {len(data.edits)} edit{'s' if len(data.edits) != 1 else ''}" if data.edits else "") + ".")
    edits = None
    if data.edits:
        frame = edits_frame(data.frame, data.provenance, data.edits)
        edits = table_card("meta-edits-table", "Your edits (their provenance)",
                           static_html(dbc.Table.from_dataframe(frame, size="sm", striped=True,
                                                                className="small mb-0")), frame,
                           filename="meta-edits",
                           footnotes=["Each edit replaces the provenance of its cell (confidence 'edited by user', "
                                      "source as given); the downloaded provenance file carries it."])
    return info, edits, choices["subgroup"], choices["moderator"], _outcome_options(outcomes)


def study_grid(rows: list[dict], defs: list[dict]) -> dag.AgGrid:
    """The editable study grid (components.meta_grid gives its rows and columns)."""
    return dag.AgGrid(id=ids.META_GRID, rowData=rows, columnDefs=defs, getRowId="params.data.__row",
                      defaultColDef={"resizable": True, "sortable": False, "filter": False, "singleClickEdit": False},
                      dashGridOptions={"tooltipShowDelay": 250, "tooltipHideDelay": 20000,
                                       "suppressColumnVirtualisation": True, "stopEditingWhenCellsLoseFocus": True,
                                       "enableBrowserTooltips": False, "animateRows": False},
                      style={"height": f"{GRID_HEIGHT_PX}px"}, className="ag-theme-alpine")


# the box asks for its grid once it comes into the window (an IntersectionObserver, assets/meta.js), watched from
# when the table's description or the forest plot has arrived and the browser is idle (the description always
# comes, also when nothing can be pooled and the grid is where the user mends the data)
clientside_callback(
    ClientsideFunction("meta", "watchGrid"),
    Output(META_GRID_WANTED, "data"), Input(ids.META_DATA_INFO, "children"), Input(ids.META_FOREST, "figure"),
    State(ids.META_GRID_BOX, "id"), State(META_GRID_WANTED, "id"),
)


@callback(Output(ids.META_GRID_BOX, "children"), Input(META_GRID_WANTED, "data"), State("meta-version", "data"),
          State(ids.META_EXCLUDE, "data"), prevent_initial_call=True)
def mount_grid(wanted, _version, exclude):
    """The study grid, made with the current rows (update_grid_rows keeps it up to date from then on)."""
    if not wanted:
        return no_update
    return study_grid(*_grid_rows(exclude))


def _toggle(exclude, row) -> list[int]:
    current = set(exclude or [])
    current ^= {int(row)}
    return sorted(current)


@callback(Output(ids.META_EXCLUDE, "data", allow_duplicate=True), Output(ids.META_FOREST, "clickData"),
          Input(ids.META_FOREST, "clickData"), State(ids.META_EXCLUDE, "data"), prevent_initial_call=True)
def toggle_from_forest(click, exclude):
    """A click on a study's row (its label, square or CI) leaves it out of the pool or brings it back."""
    try:
        row = click["points"][0]["customdata"]
    except (TypeError, KeyError, IndexError):
        return no_update, None
    if row is None:
        return no_update, None
    if isinstance(row, list):
        row = row[0]
    return _toggle(exclude, row), None


@callback(
    Output(ids.META_EXCLUDE, "data", allow_duplicate=True), Output("meta-version", "data", allow_duplicate=True),
    Output(ids.META_DATA_FEEDBACK, "children", allow_duplicate=True),
    Output(ids.META_GRID, "rowData", allow_duplicate=True),
    Input(ids.META_GRID, "cellValueChanged"), State(ids.META_EXCLUDE, "data"), State(ids.META_EDIT_SOURCE, "value"),
    prevent_initial_call=True,
)
def grid_changed(changes, exclude, source):
    """The 'In pool' box toggles the study; any other cell is an edit (kept only if the table stays readable)."""
    if not changes:
        return no_update, no_update, no_update, no_update
    changes = changes if isinstance(changes, list) else [changes]
    new_exclude = set(exclude or [])
    edited = False
    for ch in changes:
        col = ch.get("colId")
        row = (ch.get("data") or {}).get("__row", ch.get("rowIndex"))
        if row is None or col is None:
            continue
        if col == "__include":
            if ch.get("value"):
                new_exclude.discard(int(row))
            else:
                new_exclude.add(int(row))
            continue
        try:
            data = apply_edit(int(row), col, ch.get("value"), source)
            edited = True
        except AnalysisError as exc:
            data = current_data()
            rows, _defs = grid_rows(data, new_exclude)
            return sorted(new_exclude), no_update, error_alert(str(exc)), rows
    exclude_out = sorted(new_exclude) if new_exclude != set(exclude or []) else no_update
    if edited:
        msg = dbc.Alert("Edit applied; the pooled results are recomputed.", color="success", className="py-2 small",
                        dismissable=True, duration=4000)
        return exclude_out, data.content_hash, msg, no_update
    return exclude_out, no_update, no_update, no_update


def _decode(contents: str) -> bytes:
    try:
        _header, encoded = contents.split(",", 1)
        return base64.b64decode(encoded, validate=False)
    except (ValueError, binascii.Error, AttributeError):
        return b""


@callback(
    Output("meta-version", "data", allow_duplicate=True), Output(ids.META_EXCLUDE, "data", allow_duplicate=True),
    Output(ids.META_DATA_FEEDBACK, "children", allow_duplicate=True),
    Input(ids.META_UPLOAD, "contents"), State(ids.META_UPLOAD, "filename"), prevent_initial_call=True,
)
def upload(contents, filenames):
    """Read an uploaded study file (and optional provenance file); a bad file leaves the current table in use."""
    if not contents:
        return no_update, no_update, no_update
    contents = contents if isinstance(contents, list) else [contents]
    filenames = filenames if isinstance(filenames, list) else [filenames]
    files = [((name or "upload.csv"), _decode(c)) for c, name in zip(contents, filenames)]
    try:
        data = load_upload(files)
    except AnalysisError as exc:
        return no_update, no_update, dbc.Alert([html.Strong("Not loaded. "), str(exc),
                                                " The previous study table is still in use."],
                                               color="danger", className="py-2 small", dismissable=True)
    table = study_table(data)
    kind = {"outcomes": "17-study layout", "ratio": "ratio with 95% CI", "counts": "event counts"}[table.kind]
    text = [html.Strong(f"Loaded {data.name}: "), f"{data.n} studies ({kind})."]
    if table.warnings:
        text += [" ", "; ".join(table.warnings), "."]
    return data.content_hash, [], dbc.Alert(text, color="success", className="py-2 small", dismissable=True)


@callback(
    Output("meta-version", "data", allow_duplicate=True), Output(ids.META_EXCLUDE, "data", allow_duplicate=True),
    Output(ids.META_DATA_FEEDBACK, "children", allow_duplicate=True),
    Input(ids.META_RESTORE, "n_clicks"), prevent_initial_call=True,
)
def restore(_clicks):
    removed = delete_study_set()
    text = ("Your edited/uploaded table was deleted from the server; " if removed else "") + \
        "showing the 17-study file as shipped."
    return current_data().content_hash, [], dbc.Alert(text, color="info", className="py-2 small", dismissable=True)


def _trigger():
    """The id of the input that fired this callback (None when called outside a callback, e.g. in tests)."""
    try:
        return ctx.triggered_id
    except dash.exceptions.MissingCallbackContextException:
        return None


@callback(Output("meta-download", "data"), Input("meta-download-studies", "n_clicks"),
          Input("meta-download-prov", "n_clicks"), prevent_initial_call=True)
def download_data(_studies, _prov):
    data = current_data()
    stem = data.name.rsplit(".", 1)[0]
    stem = stem if data.shipped or stem.endswith("_edited") else stem + "_edited"
    if _trigger() == "meta-download-prov":
        text = provenance_csv(data)
        if text is None:
            return no_update
        return {"content": "\ufeff" + text, "filename": f"{stem}_provenance.csv", "type": "text/csv"}
    return {"content": "\ufeff" + studies_csv(data), "filename": f"{stem}.csv", "type": "text/csv"}


@callback(Output("meta-forest-download", "data"), Input("meta-forest-csv", "n_clicks"),
          *[State(i.component_id, i.component_property) for i in PARAM_INPUTS[:-1]], prevent_initial_call=True)
def download_forest_csv(_n, outcome, method, hk, mh, measure, derive_se, derive_pct, subgroup, moderator, exclude):
    from components.export import to_safe_csv

    try:
        _data, view = compute_view(outcome, method, hk, mh, measure, derive_se, derive_pct, subgroup, moderator,
                                   exclude)
    except AnalysisError:
        return no_update
    name = f"meta-{view.params.outcome or 'studies'}-per-study.csv"
    return {"content": "\ufeff" + to_safe_csv(study_frame(view.rows, view.spec, view.report)), "filename": name, "type": "text/csv"}


clientside_callback(
    ClientsideFunction("meta", "downloadForest"),
    Output("meta-forest-done", "data"), Input(ids.META_FOREST_PNG, "n_clicks"), Input(ids.META_FOREST_SVG, "n_clicks"),
    prevent_initial_call=True,
)

# view state -> URL query string and the navbar link (assets/url_state.js)
clientside_callback(
    ClientsideFunction("meta", "viewState"),
    Output(ids.VIEW_STATE, "data", allow_duplicate=True),
    Input(ids.META_OUTCOME, "value"), Input(ids.META_METHOD, "value"), Input(ids.META_HK, "value"),
    Input(ids.META_MH, "value"), Input("meta-measure", "value"), Input(ids.META_DERIVE_SE, "value"),
    Input(ids.META_DERIVE_PCT, "value"), Input(ids.META_SUBGROUP, "value"), Input(ids.META_MODERATOR, "value"),
    Input(ids.META_EXCLUDE, "data"), Input(ids.META_TABS, "active_tab"), Input(ids.META_TSA_RRR, "value"),
    Input(ids.META_TSA_ALPHA, "value"), Input(ids.META_TSA_BETA, "value"), Input(ids.META_TSA_FUTILITY, "value"),
    State(ids.VIEW_STATE, "data"), prevent_initial_call="initial_duplicate",
)
