"""Tables of the survival page: per-group n, events, median (95% CI) and landmark rates, with HR and p."""
from __future__ import annotations

import math

import dash_bootstrap_components as dbc
from dash import html


def _num(x, digits=1, pct=False):
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "NR"
    return f"{100 * x:.{digits}f}" if pct else f"{x:.{digits}f}"


def fmt_p(p) -> str:
    if p is None or not math.isfinite(p):
        return "–"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def km_summary_table(result, landmarks) -> dbc.Table:
    """One row per group: n, events, median (95% CI), survival % (95% CI) at each landmark."""
    head = [html.Th("Group"), html.Th("n"), html.Th("Events"), html.Th("Median, months (95% CI)")]
    head += [html.Th(f"{t:g} mo, % (95% CI)") for t in landmarks]
    rows = []
    for g in result.groups:
        at = {round(float(a["time"]), 9): a for a in g.km.at}
        cells = [html.Td(g.label), html.Td(g.n), html.Td(g.events),
                 html.Td(f"{_num(g.median)} ({_num(g.median_lo)}–{_num(g.median_hi)})")]
        for t in landmarks:
            a = at.get(round(float(t), 9))
            cells.append(html.Td("–" if a is None or a["surv"] is None else
                                 f"{_num(a['surv'], pct=True)} ({_num(a['lo'], pct=True)}–{_num(a['hi'], pct=True)})"))
        rows.append(html.Tr(cells))
    foot = []
    if result.logrank is not None:
        text = f"Log-rank χ² = {result.logrank.chisq:.2f}, df = {result.logrank.df}, p = {fmt_p(result.logrank.p)}"
        if result.hr is not None:
            r = result.hr.result
            text += (f" · HR {result.hr.group} vs {result.hr.reference}: " +
                     (f"{r.hr:.2f} (95% CI {r.lo:.2f}–{r.hi:.2f}), Wald p = {fmt_p(r.p)}" if math.isfinite(r.hr)
                      else (r.note or "not estimable")))
        if result.trend is not None:
            text += f" · trend p = {fmt_p(result.trend.p)}"
        foot.append(html.Caption(text, id="km-stats-caption"))
    return dbc.Table([*foot, html.Thead(html.Tr(head)), html.Tbody(rows)], size="sm", bordered=True,
                     className="small mt-2 caption-top", id="km-summary")
