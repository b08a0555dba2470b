"""The "how much is this cutoff worth?" panel: the standardised log-rank statistic over every candidate cutoff
(as X-tile / R maxstat draw it) with the current cutoff, the optimum and clinical reference cutoffs marked."""
from __future__ import annotations


import plotly.graph_objects as go
from dash import html

from components.format import format_estimate, format_number, format_p, format_percent
from components.style import PALETTE


#: index of the current cutoff's line in the chart's ``layout.shapes`` (moved in the browser as the slider moves)
CUTOFF_SHAPE = 0


def statistic_chart(result, current_cutoff: float | None, references=(), presentation: bool = False) -> go.Figure:
    """Standardised log-rank statistic by cutoff; current cutoff (solid), optimum (dot), references (dashed).

    The current cutoff is ``layout.shapes[CUTOFF_SHAPE]`` (hidden while there is none): the survival page moves
    it in the browser with a partial update instead of rebuilding the chart on every slider move.
    """
    cand = result.candidates
    x = cand["cutoff"].to_numpy()
    top = float(cand["statistic"].max()) if len(cand) else 1.0
    traces = [
        {"type": "scatter", "x": x, "y": cand["statistic"].to_numpy(), "mode": "lines", "name": "statistic",
         "line": {"color": "#444", "width": 1.5}, "hovertemplate": "cutoff %{x:g}: |Z| %{y:.2f}<extra></extra>"},
        {"type": "scatter", "x": [result.cutpoint], "y": [result.statistic], "mode": "markers", "name": "optimum",
         "marker": {"color": PALETTE[1], "size": 9}, "hovertemplate": "optimum %{x:g}<extra></extra>"},
    ]

    def vline(value, color, dash, width):
        return {"type": "line", "xref": "x", "yref": "paper", "x0": value, "x1": value, "y0": 0, "y1": 1,
                "line": {"color": color, "dash": dash, "width": width}}

    current = {**vline(current_cutoff if current_cutoff is not None else 0.0, PALETTE[0], "solid", 2),
               "visible": current_cutoff is not None}
    shapes = [current] + [vline(ref.value, "#999", "dash", 1) for ref in references
                          if len(x) and x.min() <= ref.value <= x.max()]
    layout = {"template": {}, "paper_bgcolor": "white", "plot_bgcolor": "white", "height": 200,
              "margin": {"l": 40, "r": 10, "t": 10, "b": 35}, "showlegend": False,
              "font": {"size": 14 if presentation else 11, "family": "Arial, Helvetica, sans-serif"},
              "uirevision": "cutpoint", "shapes": shapes,
              "xaxis": {"title": {"text": "cutoff", "standoff": 2}, "gridcolor": "#eee", "zeroline": False},
              "yaxis": {"title": {"text": "|Z|", "standoff": 2}, "range": [0, top * 1.1], "gridcolor": "#eee"}}
    return go.Figure({"data": traces, "layout": layout}, _validate=False)   # valid: tests/test_cutpoint_figure.py


def worth_at_cutoff(naive_p: float | None, is_optimum: bool) -> html.Div:
    """The naive log-rank p of the current cutoff, with a warning when the cutoff is the data-driven optimum."""
    rows = [html.Div([html.Span("Naive log-rank p at this cutoff: "), html.Strong(format_p(naive_p), id="cp-naive-p")])]
    if is_optimum:
        rows.append(html.Div("This cutoff is the data-driven optimum on these same patients: its naive p is "
                             "optimistic. Quote the corrected p, or validate the cutoff in other patients.",
                             className="text-danger fw-semibold mt-1", id="cp-optimistic"))
    return html.Div(rows, className="small")


def worth_summary(result, full: bool) -> html.Div:
    """The best cutoff on these data and the p-values corrected for searching all cutoffs."""
    rows = [
        html.Div([html.Span("Best cutoff on these data: "),
                  html.Strong(f"{result.cutpoint:.4g}", id="cp-optimum"),
                  html.Span(f" (|Z| = {format_number(result.statistic)}, "
                            f"naive {format_p(result.p_naive, prefix='p')})")]),
        html.Div([html.Span("p corrected for the search: "),
                  html.Strong(f"Lau94 {format_p(result.p_lau94)}", id="cp-corrected-p"),
                  html.Span(f" · Lau92 {format_p(result.p_lau92)}")]
                 + ([html.Span(f" · permutation {format_p(result.p_permutation)} (B = {result.n_permutations})")]
                    if full and result.p_permutation is not None else [])),
    ]
    if full and result.bootstrap is not None:
        b = result.bootstrap
        rows.append(html.Div(f"Bootstrap {format_percent(b.level, 0)} interval of the optimum: {b.lo:.4g} – {b.hi:.4g} "
                             f"({b.n_boot} resamples)", id="cp-bootstrap"))
    if full and result.split is not None and result.split.hr is not None:
        s = result.split
        rows.append(html.Div(f"Split sample: cutoff {s.cutpoint:g} chosen on half the patients gives HR "
                             f"{format_estimate(s.hr, s.hr_lo, s.hr_hi)}, {format_p(s.p_logrank, prefix='p')} on the "
                             f"other half"))
    return html.Div(rows, className="small")


def reference_list(references) -> html.Ul | None:
    if not references:
        return None
    return html.Ul([html.Li([html.Strong(f"{r.value:g}"), f" — {r.label}: {r.explanation}"])
                    for r in references], className="small text-muted mb-0 ps-3", id="cp-references")
