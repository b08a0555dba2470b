"""Cox regression views: the seed paper's Tables 3-4 (univariable and multivariable side by side), the
multivariable model's fit and diagnostics, and a forest plot of the multivariable hazard ratios.

Built from a ``services.cohort_views.CoxView`` (which holds ``analysis.cox`` results); every HR, CI, p-value,
concordance and proportional-hazards test shown is a field of those results.
"""
from __future__ import annotations

import math

import plotly.graph_objects as go

from analysis.dichotomise import format_cutoff
from components.clinical_tables import FONT_FAMILY, Cell, ClinicalTable, Row, plot_text
from components.format import format_ci, format_estimate, format_number, format_p, format_ratio
from components.style import PALETTE

PH_ALPHA = 0.05
PH_FLAG = "PH"
PH_MARK = "†"


def ph_title(p: float) -> str:
    return (f"Proportional-hazards test (cox.zph, KM time scale) p = {format_p(p)} < {PH_ALPHA}: the hazard "
            f"ratio may change over follow-up, so the HR is an average over time. Look at the Kaplan-Meier curves "
            f"(do they cross or converge?) before relying on it.")


def _ph_p(result, var) -> float | None:
    if result is None:
        return None
    for row in result.ph_test:
        if row.term == var.ph_key:
            return row.p
    return None


def _hr_cells(term, ph_p: float | None, flag: bool) -> list[Cell]:
    hr = Cell(format_ratio(term.hr))
    if flag and ph_p is not None and ph_p < PH_ALPHA:
        hr.flag, hr.flag_title, hr.flag_export = PH_FLAG, ph_title(ph_p), PH_MARK
    return [hr, Cell(format_ci(term.lo, term.hi)), Cell(format_p(term.p))]


def _blank(k: int) -> list[Cell]:
    return [Cell("") for _ in range(k)]


def cox_table(view) -> ClinicalTable:
    """Variable | comparison | univariable HR, 95% CI, p | multivariable HR, 95% CI, p (Tables 3 and 4).

    One row per model term; a categorical covariate with several non-reference levels gets a heading row with
    its overall univariable p (global Wald test) and one indented row per level. Variables that did not enter
    the multivariable model have empty multivariable cells. A ``PH`` flag marks an HR whose covariate fails the
    proportional-hazards test (cox.zph p < 0.05) in that model.
    """
    multi = view.multivariable
    multi_terms = {t.term: t for t in multi.terms} if multi is not None else {}
    ns = [m.n for m in view.univariable.models]
    show_n = len(set(ns)) > 1
    columns = ["Variable", "Comparison"] + (["n"] if show_n else []) + ["HR", "95% CI", "p", "HR", "95% CI", "p"]
    spanners = [("", 2 + (1 if show_n else 0)), ("Univariable", 3), ("Multivariable", 3)]
    rows: list[Row] = []
    unestimable = []
    any_flag = False
    for var in view.variables:
        model = view.model_of(var)
        if model is None:
            err = view.error_of(var) or "not estimable"
            unestimable.append(f"{var.label}: {err}")
            rows.append(Row([Cell(var.label), Cell("not estimable")] + (_blank(1) if show_n else [])
                            + [Cell("–"), Cell(""), Cell("")] + _blank(3)))
            continue
        uni_ph = _ph_p(model, var)
        multi_ph = _ph_p(multi, var) if var in view.selected else None
        n_cell = [Cell(str(model.n))] if show_n else []
        if len(model.terms) == 1:
            term = model.terms[0]
            cells = [Cell(var.label), Cell(var.comparison(term.term))] + n_cell + _hr_cells(term, uni_ph, True)
            mt = multi_terms.get(term.term) if var in view.selected else None
            cells += _hr_cells(mt, multi_ph, True) if mt is not None else _blank(3)
            any_flag |= any(c.flag for c in cells)
            rows.append(Row(cells))
            continue
        head = [Cell(var.label), Cell(f"overall (reference {var.reference})")] + n_cell
        head += [Cell(""), Cell(""), Cell(format_p(model.covariate_p))] + _blank(3)
        for cell, p in ((head[-4], uni_ph), (head[-1], multi_ph)):   # the univariable p / multivariable p cells
            if p is not None and p < PH_ALPHA:
                cell.flag, cell.flag_title, cell.flag_export = PH_FLAG, ph_title(p), PH_MARK
                any_flag = True
        rows.append(Row(head, kind="heading"))
        for term in model.terms:
            cells = [Cell(var.comparison(term.term)), Cell("")] + _blank(1 if show_n else 0)
            cells += _hr_cells(term, None, False)
            mt = multi_terms.get(term.term) if var in view.selected else None
            cells += _hr_cells(mt, None, False) if mt is not None else _blank(3)
            rows.append(Row(cells, kind="level"))
    notes = table_notes(view)
    if any_flag:
        notes.append(f"{PH_FLAG} ({PH_MARK} in exports): proportional-hazards test (cox.zph) p < {PH_ALPHA} for "
                     f"that covariate in that model; the HR is an average over follow-up (hover for details).")
    notes += [f"Not estimable: {u}." for u in unestimable]
    return ClinicalTable(columns, rows, spanners=spanners, footnotes=notes,
                         align=["left", "left"] + ["center"] * (len(columns) - 2))


def cutoff_note(view) -> str | None:
    parts = [f"{v.label.split(' (')[0]} {format_cutoff(v.cutoff)} ({v.cutoff_source})" for v in view.variables
             if v.kind == "cut"]
    return ("Cutoffs (high group: value > cutoff): " + "; ".join(parts) + ".") if parts else None


def table_notes(view) -> list[str]:
    uni = view.univariable.models
    notes = []
    if uni:
        ns = sorted({m.n for m in uni})
        ev = sorted({m.events for m in uni})
        n_text = f"n = {ns[0]}" if len(ns) == 1 else f"n = {ns[0]}–{ns[-1]}"
        e_text = f"{ev[0]} events" if len(ev) == 1 else f"{ev[0]}–{ev[-1]} events"
        notes.append(f"Univariable: one Cox model per variable on its complete cases ({n_text}, {e_text}).")
    multi = view.multivariable
    if multi is not None:
        notes.append(f"Multivariable: {multi.n} patients with complete data, {multi.events} events, "
                     f"{multi.excluded} left out for missing values; concordance (Harrell's C) "
                     f"{format_number(multi.concordance, 3)}.")
    alpha = getattr(view, "alpha", 0.05)
    rule = ("variables of the multivariable model chosen by hand" if view.rule == "manual" else
            f"variables with univariable p < {alpha:g} entered the multivariable model"
            + (" (the paper's rule)" if alpha == 0.05 else ""))
    notes.append(f"Cox proportional-hazards regression, Efron ties, Wald 95% CI and p; {rule}.")
    cut = cutoff_note(view)
    if cut:
        notes.append(cut)
    undefined = [v.label for v in view.variables
                 if any(r.note for m in [view.model_of(v)] if m is not None for r in m.ph_test[:-1])]
    if undefined:
        notes.append("Proportional-hazards test not computable (singular: too few distinct event times) for "
                     + ", ".join(undefined) + ".")
    notes += [n[:1].upper() + n[1:] + "." for n in view.notes]
    return notes


def cox_model_table(view) -> ClinicalTable:
    """The multivariable model alone: term, HR (95% CI), p and its proportional-hazards test p, then the
    global PH test, the likelihood-ratio test, the concordance and the case counts."""
    multi = view.multivariable
    columns = ["Variable", "Comparison", "HR (95% CI)", "p", "PH test p"]
    rows = []
    by_term = {}
    for var in view.selected:
        for t in multi.terms:
            if t.column == var.model_column:
                by_term.setdefault(var, []).append(t)
    for var in view.selected:
        ph_p = _ph_p(multi, var)
        terms = by_term.get(var, [])
        for k, t in enumerate(terms):
            ph = Cell(format_p(ph_p) if k == 0 else "")
            if k == 0 and ph_p is not None and ph_p < PH_ALPHA:
                ph.flag, ph.flag_title, ph.flag_export = PH_FLAG, ph_title(ph_p), PH_MARK
            rows.append(Row([Cell(var.label if k == 0 else ""), Cell(var.comparison(t.term)),
                             Cell(format_estimate(t.hr, t.lo, t.hi)), Cell(format_p(t.p)), ph]))
    glob = next((r for r in multi.ph_test if r.term == "GLOBAL"), None)
    summary = [
        ("Patients (complete cases)", f"{multi.n} of {multi.n + multi.excluded} ({multi.excluded} left out)"),
        ("Events", str(multi.events)),
        ("Concordance (Harrell's C)", format_number(multi.concordance, 3)),
        ("Likelihood-ratio test", f"χ² = {format_number(multi.lr_test['chisq'])}, df = {multi.lr_test['df']}, "
                                  f"{format_p(multi.lr_test['p'], prefix='p')}"),
    ]
    if glob is not None:
        summary.append(("Global PH test (cox.zph)",
                        f"χ² = {format_number(glob.chisq)}, df = {glob.df}, {format_p(glob.p, prefix='p')}"))
    for k, (name, value) in enumerate(summary):
        rows.append(Row([Cell(name), Cell(value), Cell(""), Cell(""), Cell("")], kind="summary" if k == 0
                        else "data"))
    notes = ["PH test: score test of R's cox.zph (survival ≥ 3, KM time transform) per covariate; p < 0.05 "
             "suggests the hazard ratio changes over time."]
    return ClinicalTable(columns, rows, footnotes=notes, align=["left", "left", "center", "center", "center"])


def forest_figure(view, presentation: bool = False, title: str = "") -> go.Figure:
    """Forest plot of the multivariable HRs: one square per term at its HR, 95% CI whiskers, log x axis,
    a reference line at HR = 1, the term on the left and ``HR (95% CI) p`` on the right."""
    multi = view.multivariable
    labels, texts, hr, lo, hi, ps = [], [], [], [], [], []
    for var in view.selected:
        for t in multi.terms:
            if t.column == var.model_column:
                name, comparison = plot_text(var.label.split(" (")[0]), plot_text(var.comparison(t.term))
                joined = f"{name}  {comparison}"
                labels.append(joined if len(joined) <= 40 else f"{name}<br>{comparison}")
                hr.append(t.hr)
                lo.append(t.lo)
                hi.append(t.hi)
                ps.append(t.p)
                texts.append(f"{format_estimate(t.hr, t.lo, t.hi)}  {format_p(t.p, prefix='p')}")
    k = len(labels)
    y = list(range(k))[::-1]                          # first term at the top
    font = 17 if presentation else 13
    color = PALETTE[0]
    fig = go.Figure()
    wx, wy = [], []
    for yi, a, b in zip(y, lo, hi):
        wx += [a, b, None]
        wy += [yi, yi, None]
    fig.add_trace(go.Scatter(x=wx, y=wy, mode="lines", line={"color": "#222", "width": 2.2 if presentation else 1.6},
                             hoverinfo="skip", showlegend=False, name="95% CI"))
    fig.add_trace(go.Scatter(
        x=hr, y=y, mode="markers", name="HR", showlegend=False,
        marker={"symbol": "square", "size": 13 if presentation else 10, "color": color,
                "line": {"color": "#222", "width": 1}},
        customdata=[[lab, txt] for lab, txt in zip(labels, texts)],
        hovertemplate="%{customdata[0]}<br>HR %{customdata[1]}<extra></extra>"))
    finite = [v for v in lo + hi if v is not None and math.isfinite(v) and v > 0]
    x_lo = min(finite + [0.5]) / 1.25
    x_hi = max(finite + [2.0]) * 1.25
    fig.add_vline(x=1, line={"color": "#666", "width": 1.2, "dash": "dash"})
    ticks = [v for v in (0.05, 0.1, 0.2, 0.25, 0.5, 1, 2, 4, 5, 10, 20) if x_lo <= v <= x_hi]
    if len(ticks) > 7:
        ticks = [v for v in ticks if v not in (0.25, 4, 0.05)]
    fig.update_xaxes(type="log", range=[math.log10(x_lo), math.log10(x_hi)], tickvals=ticks,
                     ticktext=[f"{v:g}" for v in ticks], title_text="Hazard ratio (95% CI), log scale",
                     gridcolor="#ececec", zeroline=False, showline=True, linecolor="#222")
    fig.update_yaxes(tickvals=y, ticktext=labels, range=[-1.1, k - 0.3], showgrid=False, zeroline=False,
                     tickfont={"size": font}, automargin=True)
    for yi, txt in zip(y, texts):
        fig.add_annotation(x=1.0, xref="paper", y=yi, yref="y", xanchor="left", text=txt, showarrow=False,
                           font={"size": font - 1})
    fig.add_annotation(x=1.0, xref="paper", y=k - 0.35, yref="y", xanchor="left", yanchor="bottom",
                       text="<b>HR (95% CI)   p</b>", showarrow=False, font={"size": font - 1})
    fig.add_annotation(x=0.01, xref="x domain", y=-0.85, yref="y", xanchor="left", text="← lower hazard",
                       showarrow=False, font={"size": font - 2, "color": "#555"})
    fig.add_annotation(x=0.99, xref="x domain", y=-0.85, yref="y", xanchor="right", text="higher hazard →",
                       showarrow=False, font={"size": font - 2, "color": "#555"})
    fig.update_layout(template="plotly_white", font={"family": FONT_FAMILY, "size": font, "color": "#111"},
                      height=int((170 + 46 * k) * (1.15 if presentation else 1.0)),
                      margin={"l": 10, "r": 270 if presentation else 210, "t": 45 if not title else 70, "b": 55},
                      title={"text": title, "x": 0.01} if title else None, hovermode="closest", uirevision="forest")
    return fig
