"""Meta-analysis figures from :class:`analysis.meta.MetaReport` results: the forest plot as a journal prints it,
the contour-enhanced funnel plot, leave-one-out and cumulative plots, the meta-regression bubble plot and the
ORR-vs-OS correlation scatter (Lu et al. 2025, Fig. 5A).

Every number printed on a figure comes from the engine's results; this module only lays them out. The forest plot
is one plotly figure with three x-axes sharing one y-axis: the text columns on the left (study, n per arm), the
plot (log ratio axis with the line of no effect at 1) and the text columns on the right (estimate [95% CI],
weights). Rows are numbered from the top (y = 0, -1, -2, ...). Clickable rows carry their table row in
``customdata`` (the page toggles the study in or out of the pool).
"""
from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from analysis.meta.study_rows import EffectSpec, ForestStudy
from components.clinical_tables import plot_text
from components.format import finite, format_ci, format_estimate, format_number, format_p, format_ratio, format_tau2
from components.style import PALETTE

FONT = "Arial, Helvetica, sans-serif"
INK = "#222222"
GREY = "#9a9a9a"
SQUARE = "#4d4d4d"
FIXED_FILL = "#bdbdbd"
RANDOM_FILL = PALETTE[0]
PI_COLOUR = PALETTE[1]
ROW_PX = 22
TICKS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0)
DAGGER = "†"
NOT_POOLED = "Not pooled (one study)"

HIDDEN_AXIS = {"showticklabels": False, "showgrid": False, "zeroline": False, "showline": False, "ticks": ""}

# x-domains of the three column groups (fractions of the figure width)
LEFT = (0.0, 0.40)
PLOT = (0.415, 0.675)
RIGHT = (0.69, 1.0)
PRESENTATION_SCALE = 1.3   # presentation mode: text and rows of the forest and funnel plots this much larger
FOOTNOTE_CHARS = 150       # characters per footnote line (10.5 px text on the forest plot's ~900 px at 1,280 px)


# ---------------------------------------------------------------------------------------------------------
# formatting
# ---------------------------------------------------------------------------------------------------------

def per_study_display(frame: pd.DataFrame, short: str) -> pd.DataFrame:
    """The per-study table as a journal prints it: one number format per column -- the ratio and its CI limits
    with two decimals (``format_ratio``), weights with one; blanks where a study has no value."""
    out = frame.copy().astype(object)
    for col in out.columns:
        if col in (short, "95% CI lower", "95% CI upper"):
            out[col] = [format_ratio(v, missing="") for v in frame[col]]
        elif str(col).startswith("Weight"):
            out[col] = [format_number(v, 1, missing="") for v in frame[col]]
    return out.where(out.notna(), "")


def _arm_text(spec: EffectSpec, events: str, n: str) -> str:
    if spec.counts:
        return f"{events}/{n}" if events != "" and n != "" else (n and f"–/{n}")
    return n


def _model_label(est, hk: bool) -> str:
    if est.model == "random":
        return f"Random effects ({est.method}{', Hartung-Knapp' if hk else ''})"
    return "Fixed effect (Mantel-Haenszel)" if est.method == "MH" else "Fixed effect (inverse variance)"


# ---------------------------------------------------------------------------------------------------------
# axis range on the log scale
# ---------------------------------------------------------------------------------------------------------

def log_range(values) -> tuple[float, float]:
    """A range of nice ticks (1-2-5) covering ``values`` within [0.01, 100], always from at most 0.5 to at
    least 2 so that the line of no effect has room on both sides."""
    vals = [v for v in values if finite(v) and v > 0]
    if not vals:
        return 0.2, 5.0
    lo, hi = min(vals), max(vals)
    xmin = max([t for t in TICKS if t <= lo * 1.0001] or [TICKS[0]])
    xmax = min([t for t in TICKS if t >= hi * 0.9999] or [TICKS[-1]])
    return min(xmin, 0.5), max(xmax, 2.0)


def _ticks(xmin: float, xmax: float) -> list[float]:
    ticks = [t for t in TICKS if xmin * 0.999 <= t <= xmax * 1.001]
    if len(ticks) > 7:  # keep 1 and every other tick
        i1 = ticks.index(1.0)
        ticks = [t for i, t in enumerate(ticks) if (i - i1) % 2 == 0]
    return ticks


def _tick_text(t: float) -> str:
    return f"{t:g}"


# ---------------------------------------------------------------------------------------------------------
# a generic table-with-plot ("forest layout") renderer
# ---------------------------------------------------------------------------------------------------------

@dataclass
class Line:
    """One row of a forest layout. ``mark``: ``square`` | ``diamond`` | ``pi`` | ``ghost`` (left-out study) |
    ``None``. ``style``: ``normal`` | ``bold`` | ``grey`` | ``italic`` | ``note``."""

    left: list[str]
    right: list[str] = field(default_factory=list)
    mark: str | None = None
    est: float | None = None
    lo: float | None = None
    hi: float | None = None
    size: float = 10.0
    style: str = "normal"
    fill: str | None = None
    row: int | None = None          # customdata for a click
    hover: str | None = None
    kind: str = "row"               # free tag (tests look for "study", "excluded", "diamond-fixed", ...)


@dataclass
class Column:
    header: str
    x: float          # position within its domain (0-1)
    align: str        # left | center | right


def _text_trace(xaxis: str, xs, ys, texts, colors, sizes, align: str, name: str) -> go.Scatter:
    position = {"left": "middle right", "center": "middle center", "right": "middle left"}[align]
    return go.Scatter(x=xs, y=ys, mode="text", text=texts, textposition=position, xaxis=xaxis, yaxis="y",
                      textfont={"color": colors, "size": sizes, "family": FONT}, hoverinfo="skip",
                      showlegend=False, cliponaxis=False, name=name)


def _style(text: str, style: str) -> tuple[str, str]:
    if style == "bold":
        return f"<b>{text}</b>", INK
    if style == "grey":
        return text, GREY
    if style == "italic":
        return f"<i>{text}</i>", INK
    if style == "greyitalic":
        return f"<i>{text}</i>", GREY
    return text, INK


def render_forest(lines: list[Line], left_cols: list[Column], right_cols: list[Column], *, x_title: str,
                  favours: tuple[str, str] | None, title: str | None, footnotes: list[str],
                  ref_span: tuple[int, int] | None, center: float | None = None,
                  values: list[float] | None = None, width: int = 1100, presentation: bool = False) -> go.Figure:
    """Lay ``lines`` out top to bottom: text columns left and right, marks on a log axis in the middle.
    ``presentation``: every text and row PRESENTATION_SCALE times larger (the navbar's presentation mode)."""
    f = PRESENTATION_SCALE if presentation else 1.0
    # footnotes wrapped to the width a ~900 px figure holds (fewer characters in presentation mode)
    footnotes = [line for note in footnotes for line in textwrap.wrap(note, int(FOOTNOTE_CHARS / f)) or [""]]
    fig = go.Figure()
    n = len(lines)
    ys = [-float(i) for i in range(n)]
    header_y = 1.0
    vals = list(values or [])
    for ln in lines:
        if ln.mark:
            vals += [ln.lo, ln.hi, ln.est]
    xmin, xmax = log_range(vals)

    # text columns (header row first)
    for axis, cols, side in (("x2", left_cols, "left"), ("x3", right_cols, "right")):
        for j, col in enumerate(cols):
            # headers: bottom-aligned on one baseline whatever their number of lines
            position = {"left": "top right", "center": "top center", "right": "top left"}[col.align]
            fig.add_trace(go.Scatter(x=[col.x], y=[header_y - 0.2], mode="text", text=[f"<b>{col.header}</b>"],
                                     textposition=position, xaxis=axis, yaxis="y", hoverinfo="skip",
                                     textfont={"color": INK, "size": 12 * f, "family": FONT}, showlegend=False,
                                     cliponaxis=False, name=f"{side}-header-{j}"))
            xs, yv, texts, colors, sizes = [], [], [], [], []
            for y, ln in zip(ys, lines):
                cells = ln.left if side == "left" else ln.right
                if j < len(cells) and cells[j]:
                    text, colour = _style(cells[j], ln.style if not (j > 0 and ln.style == "bold") else "normal")
                    xs.append(col.x); yv.append(y); texts.append(text); colors.append(colour)
                    sizes.append((11 if ln.style in ("note", "greyitalic") else 12) * f)
            fig.add_trace(_text_trace(axis, xs, yv, texts, colors, sizes, col.align, f"{side}-col-{j}"))

    # a rule under the header row, as in print
    fig.add_shape(type="line", xref="paper", yref="y", x0=0, x1=1, y0=0.55, y1=0.55,
                  line={"color": INK, "width": 0.8})

    # line of no effect (1) and the pooled estimate
    if ref_span is not None:
        y0, y1 = -ref_span[0] + 0.6, -ref_span[1] - 0.5
        fig.add_trace(go.Scatter(x=[1, 1], y=[y0, y1], mode="lines", line={"color": INK, "width": 1},
                                 hoverinfo="skip", showlegend=False, name="reference-1"))
        if finite(center):
            fig.add_trace(go.Scatter(x=[center, center], y=[y0, y1], mode="lines",
                                     line={"color": GREY, "width": 1, "dash": "dot"}, hoverinfo="skip",
                                     showlegend=False, name="pooled-line"))

    # confidence intervals (clipped at the axis, with arrows) and squares
    def clip(v):
        return min(max(v, xmin), xmax)

    ci_x, ci_y, ghost_x, ghost_y = [], [], [], []
    arrows = {"triangle-left": ([], []), "triangle-right": ([], [])}
    sq = {"x": [], "y": [], "size": [], "row": [], "hover": [], "color": []}
    ghost = {"x": [], "y": [], "row": [], "hover": []}
    for y, ln in zip(ys, lines):
        if ln.mark not in ("square", "ghost") or not (finite(ln.lo) and finite(ln.hi)):
            continue
        tx, ty = (ci_x, ci_y) if ln.mark == "square" else (ghost_x, ghost_y)
        tx += [clip(ln.lo), clip(ln.hi), None]
        ty += [y, y, None]
        if ln.mark == "square":
            if ln.lo < xmin:
                arrows["triangle-left"][0].append(xmin); arrows["triangle-left"][1].append(y)
            if ln.hi > xmax:
                arrows["triangle-right"][0].append(xmax); arrows["triangle-right"][1].append(y)
        if finite(ln.est) and xmin <= ln.est <= xmax:
            target = sq if ln.mark == "square" else ghost
            target["x"].append(ln.est); target["y"].append(y); target["row"].append(ln.row)
            target["hover"].append(ln.hover or "")
            if ln.mark == "square":
                sq["size"].append(ln.size); sq["color"].append(ln.fill or SQUARE)
    fig.add_trace(go.Scatter(x=ci_x, y=ci_y, mode="lines", line={"color": INK, "width": 1.3},
                             hoverinfo="skip", showlegend=False, name="ci-lines"))
    if ghost_x:
        fig.add_trace(go.Scatter(x=ghost_x, y=ghost_y, mode="lines", line={"color": "#c8c8c8", "width": 1.2},
                                 hoverinfo="skip", showlegend=False, name="ghost-ci"))
    fig.add_trace(go.Scatter(x=sq["x"], y=sq["y"], mode="markers", name="squares", showlegend=False,
                             customdata=sq["row"], hovertext=sq["hover"], hoverinfo="text",
                             marker={"symbol": "square", "size": [v * f for v in sq["size"]], "color": sq["color"],
                                     "line": {"width": 0}}))
    if ghost["x"]:
        fig.add_trace(go.Scatter(x=ghost["x"], y=ghost["y"], mode="markers", name="ghost-squares",
                                 showlegend=False, customdata=ghost["row"], hovertext=ghost["hover"],
                                 hoverinfo="text",
                                 marker={"symbol": "square-open", "size": 8, "color": "#b0b0b0"}))

    # diamonds and prediction intervals
    for y, ln in zip(ys, lines):
        if ln.mark == "diamond" and finite(ln.est) and finite(ln.lo) and finite(ln.hi):
            lo, hi, est = clip(ln.lo), clip(ln.hi), clip(ln.est)
            fig.add_trace(go.Scatter(x=[lo, est, hi, est, lo], y=[y, y + 0.36, y, y - 0.36, y], mode="lines",
                                     fill="toself", fillcolor=ln.fill or RANDOM_FILL,
                                     line={"color": INK, "width": 1}, name=ln.kind, showlegend=False,
                                     hoverinfo="text", hoveron="fills", text=ln.hover or ""))
        if ln.mark == "pi" and finite(ln.lo) and finite(ln.hi):
            fig.add_trace(go.Scatter(x=[clip(ln.lo), clip(ln.hi)], y=[y, y], mode="lines", name=ln.kind,
                                     line={"color": ln.fill or PI_COLOUR, "width": 5}, showlegend=False,
                                     hoverinfo="text", text=ln.hover or ""))
        if ln.mark in ("diamond", "pi") and finite(ln.lo) and finite(ln.hi):   # interval beyond the axis: arrow
            if ln.lo < xmin:
                arrows["triangle-left"][0].append(xmin); arrows["triangle-left"][1].append(y)
            if ln.hi > xmax:
                arrows["triangle-right"][0].append(xmax); arrows["triangle-right"][1].append(y)
    for symbol, (ax, ay) in arrows.items():
        if ax:
            fig.add_trace(go.Scatter(x=ax, y=ay, mode="markers", hoverinfo="skip", showlegend=False,
                                     marker={"symbol": symbol, "size": 8, "color": INK}, name=f"arrow-{symbol}"))

    # click targets across the study label column (transparent markers)
    hx, hy, hrow, htext = [], [], [], []
    for y, ln in zip(ys, lines):
        if ln.row is None:
            continue
        for x in np.linspace(0.02, 0.98, 13):
            hx.append(float(x)); hy.append(y); hrow.append(ln.row); htext.append(ln.hover or "")
    if hx:
        fig.add_trace(go.Scatter(x=hx, y=hy, xaxis="x2", yaxis="y", mode="markers", name="click-targets",
                                 customdata=hrow, hovertext=htext, hoverinfo="text", showlegend=False,
                                 marker={"size": 16, "color": "rgba(0,0,0,0)", "symbol": "square"}))

    ticks = _ticks(xmin, xmax)
    header_lines = max([c.header.count("<br>") + 1 for c in left_cols + right_cols] or [1])
    height = int(f * (ROW_PX * (n + 1.5 + 0.75 * header_lines) + 70 + 16 * len(footnotes) + (30 if title else 0)))
    fig.update_layout(
        template="plotly_white", font={"family": FONT, "size": 12 * f, "color": INK}, width=None, height=height,
        margin={"l": 12, "r": 12, "t": (40 if title else 12) * f, "b": (78 + 16 * len(footnotes)) * f},
        title={"text": title, "x": 0.005, "xanchor": "left", "font": {"size": 15 * f}} if title else None,
        showlegend=False, hovermode="closest", plot_bgcolor="white", paper_bgcolor="white",
        xaxis={"type": "log", "domain": list(PLOT), "range": [math.log10(xmin), math.log10(xmax)],
               "tickvals": ticks, "ticktext": [_tick_text(t) for t in ticks], "showgrid": False,
               "zeroline": False, "showline": True, "linecolor": INK, "ticks": "outside", "ticklen": 4,
               "title": {"text": x_title, "font": {"size": 12 * f}, "standoff": 4}, "fixedrange": True},
        # text columns: axes kept "visible" (plotly gives invisible axes no click handling) but undecorated
        xaxis2={"domain": list(LEFT), "range": [0, 1], "fixedrange": True, **HIDDEN_AXIS},
        xaxis3={"domain": list(RIGHT), "range": [0, 1], "fixedrange": True, **HIDDEN_AXIS},
        yaxis={"range": [-(n - 1) - 0.7, header_y + 0.1 + 0.75 * header_lines], "visible": False,
               "fixedrange": True},
        dragmode=False, uirevision="forest",
    )
    if favours:
        for text, anchor in ((f"← {favours[0]}", "right"), (f"{favours[1]} →", "left")):
            fig.add_annotation(xref="x", yref="paper", x=0, y=0, yshift=-48 * f, xanchor=anchor, yanchor="top",
                               xshift=-6 if anchor == "right" else 6, text=text, showarrow=False,
                               font={"size": 11.5 * f, "color": INK})
    for i, note in enumerate(footnotes):
        fig.add_annotation(xref="paper", yref="paper", x=0, y=0, yshift=(-70 - 16 * i) * f, xanchor="left",
                           yanchor="top", text=note, showarrow=False, align="left",
                           font={"size": 10.5 * f, "color": "#555555"})
    return fig


# ---------------------------------------------------------------------------------------------------------
# the forest plot
# ---------------------------------------------------------------------------------------------------------

def _square_size(weight, wmax) -> float:
    if not finite(weight) or not finite(wmax) or wmax <= 0:
        return 8.0
    return 5.0 + 15.0 * math.sqrt(max(weight, 0.0) / wmax)


def _study_line(r: ForestStudy, spec: EffectSpec, weight_key: str, wmax: float, show_random: bool) -> Line:
    # study labels, counts and reasons come from the (possibly uploaded) file: escaped, never read as markup
    study = plot_text(r.study)
    label = study + (f" {DAGGER}" if r.derived else "")
    left = [label, plot_text(_arm_text(spec, r.events_exp, r.n_exp)),
            plot_text(_arm_text(spec, r.events_ctrl, r.n_ctrl))]
    if r.status == "pooled":
        weights = [format_number(r.weight_fixed, 1)] + ([format_number(r.weight_random, 1)] if show_random else [])
        return Line(left=left, right=[format_estimate(r.est, r.lo, r.hi)] + weights, mark="square", est=r.est, lo=r.lo,
                    hi=r.hi, size=_square_size(getattr(r, weight_key), wmax), row=r.row, kind="study",
                    hover=f"{study}: {spec.short} {format_estimate(r.est, r.lo, r.hi)} — click to leave it out of "
                          f"the pool")
    if r.status == "left out":
        est_text = format_estimate(r.est, r.lo, r.hi) if finite(r.est) and finite(r.lo) else ""
        text = f"{est_text}  left out by you" if est_text else plot_text(r.reason or "left out by you")
        return Line(left=left, right=[text], mark="ghost" if est_text else None,
                    est=r.est, lo=r.lo, hi=r.hi, style="grey", row=r.row, kind="left-out",
                    hover=f"{study}: left out by you — click to put it back into the pool")
    return Line(left=left, right=[plot_text(r.reason or "not reported")], style="grey", kind="excluded")


def forest_figure(rows: list[ForestStudy], report, spec: EffectSpec, *, title: str | None = None,
                  hk: bool = False, group_label: str | None = None, presentation: bool = False) -> go.Figure:
    """The forest plot of ``report`` (a :class:`analysis.meta.MetaReport`, or None when no study can be pooled)
    listing every study of ``rows``: pooled ones with a square (area ~ weight) and CI, the others greyed with
    the reason; a diamond for the fixed and the random-effects estimate, the prediction interval as a bar,
    heterogeneity and the test for the overall effect; subgroup blocks when the report has subgroups. With one
    study nothing is pooled: the study and "Not pooled (one study)", no diamond, no weights."""
    analysis = None if report is None else report.analysis
    single = analysis is not None and analysis.k == 1
    show_random = analysis is not None and analysis.random is not None and not single
    weight_key = "weight_random" if show_random else "weight_fixed"
    pooled = [r for r in rows if r.status == "pooled"]
    wmax = max([getattr(r, weight_key) for r in pooled if finite(getattr(r, weight_key))] or [1.0])
    lines: list[Line] = []

    def add_studies(items):
        for r in items:
            lines.append(_study_line(r, spec, weight_key, wmax, show_random))

    def add_pooled(est, label, fill, kind, het_text=None):
        lines.append(Line(left=[label, "", ""], right=[format_estimate(est.est, est.lo, est.hi)], mark="diamond",
                          est=est.est, lo=est.lo, hi=est.hi, fill=fill, style="bold", kind=kind,
                          hover=f"{label}: {spec.short} {format_estimate(est.est, est.lo, est.hi)}"))

    subgroups = None if report is None else report.subgroups
    if subgroups is not None:
        var = plot_text(group_label or subgroups.variable)
        for g in subgroups.groups:
            lines.append(Line(left=[f"{var}: {plot_text(g.group)}"], style="bold", kind="group-header"))
            add_studies([r for r in pooled if r.group == g.group])
            e = g.estimate
            model = "random effects" if e.model == "random" else "fixed effect"
            add_pooled(e, f"Subtotal, {model} ({e.method}), k = {g.k}", RANDOM_FILL if e.model == "random"
                       else FIXED_FILL, "diamond-subgroup")
            h = g.heterogeneity
            het = ("Heterogeneity: not applicable (one study)" if h.df < 1 else
                   f"Heterogeneity: I² = {format_number(h.i2, 0)}%"
                   + (f", τ² = {format_tau2(e.tau2)}" if e.model == "random" else "")
                   + f", {format_p(h.p, prefix='p', short=True)}")
            lines.append(Line(left=[het], style="note", kind="note"))
        nogroup = [r for r in pooled if r.group not in {g.group for g in subgroups.groups}]
        if nogroup:
            lines.append(Line(left=[f"{var} not reported (overall pool only)"], style="bold",
                              kind="group-header"))
            add_studies(nogroup)
    else:
        add_studies(pooled)

    others = [r for r in rows if r.status != "pooled"]
    first_study = 0
    if others:
        lines.append(Line(left=[f"Not in the pool: {len(others)} of {len(rows)} studies"], style="greyitalic",
                          kind="section"))
        add_studies(others)
    last_study = len(lines) - 1

    footnotes = []
    center = None
    if single:
        ref_end = len(lines) - 1
        lines.append(Line(left=[NOT_POOLED], style="bold", kind="not-pooled"))
        footnotes.append("Square: the study's estimate; line: its 95% CI. With one study nothing is pooled: no "
                         "pooled estimate, heterogeneity or prediction interval.")
    elif analysis is not None:
        fx = analysis.fixed_reported
        add_pooled(fx, _model_label(fx, False), FIXED_FILL, "diamond-fixed")
        rnd = analysis.random
        if rnd is not None:
            add_pooled(rnd, _model_label(rnd, hk), RANDOM_FILL, "diamond-random")
            if finite(rnd.pi_lo) and finite(rnd.pi_hi):
                lines.append(Line(left=["Prediction interval (95%)", "", ""],
                                  right=[f"({format_ci(rnd.pi_lo, rnd.pi_hi)})"], mark="pi",
                                  lo=rnd.pi_lo, hi=rnd.pi_hi, style="italic", kind="prediction-interval",
                                  hover=f"95% prediction interval {format_ci(rnd.pi_lo, rnd.pi_hi)}"))
        center = analysis.primary.est
        ref_end = len(lines) - 1
        h = analysis.heterogeneity
        if h.df < 1:
            het = "Heterogeneity: not applicable (one study)"
        else:
            het = (f"Heterogeneity: Q = {format_number(h.q)}, df = {h.df} ({format_p(h.p, prefix='p', short=True)}); "
                   f"I² = {format_number(h.i2, 0)}%"
                   + (f"; τ² = {format_tau2(h.tau2)}" if rnd is not None else ""))
        lines.append(Line(left=[het], style="note", kind="heterogeneity"))
        prim = analysis.primary
        stat = "t" if prim.df is not None else "z"
        df_txt = f" (df = {format_number(prim.df, 0)})" if prim.df is not None else ""
        lines.append(Line(left=[f"Test for overall effect ({'random' if prim.model == 'random' else 'fixed'}): "
                                f"{stat}{df_txt} = {format_number(prim.stat)}, "
                                f"{format_p(prim.p, prefix='p', short=True)}"], style="note",
                          kind="overall-test"))
        if subgroups is not None:
            lines.append(Line(left=[f"Test for subgroup differences: Q = {format_number(subgroups.q_between)}, "
                                    f"df = {subgroups.df_between}, "
                                    f"{format_p(subgroups.p_between, prefix='p', short=True)}"], style="note",
                              kind="subgroup-test"))
        weight_note = "random-effects" if show_random else ("Mantel-Haenszel" if fx.method == "MH"
                                                              else "inverse-variance")
        footnotes.append(f"Squares: study estimates, area proportional to the {weight_note} weight; lines: 95% CI;"
                         " diamonds: pooled estimates with 95% CI" + ("; bar: 95% prediction interval."
                                                                      if show_random else "."))
    else:
        ref_end = last_study
        lines.append(Line(left=["No study can be pooled with these settings."], style="note", kind="note"))

    derived = {}
    for r in rows:
        if r.derived and r.status != "excluded" and r.derivation:
            derived.setdefault(r.derivation, []).append(r.study)
    for how, studies in derived.items():
        footnotes.append(f"{DAGGER} Derived ({plot_text(', '.join(studies))}): {plot_text(how)}.")
    unit = "events/n" if spec.counts else "n"
    left_cols = [Column("Study", 0.0, "left")]
    if any(r.n_exp or r.n_ctrl or r.events_exp or r.events_ctrl for r in rows):   # a file may give no n
        left_cols += [Column(f"{spec.exp_header}<br>{unit}", 0.72, "center"),
                      Column(f"{spec.ctrl_header}<br>{unit}", 0.91, "center")]
    right_cols = [Column(f"{spec.short} (95% CI)", 0.03, "left")]
    if show_random:   # one "Weight (%)" over the two columns: two full headers overlap at 1,280 px
        right_cols += [Column("fixed", 0.70, "center"), Column("random", 0.90, "center"),
                       Column("Weight (%)<br> ", 0.80, "center")]
    elif not single:
        right_cols += [Column("Weight (%)", 0.85, "center")]
    ref_span = (first_study, ref_end) if lines else None
    return render_forest(lines, left_cols, right_cols, x_title=f"{spec.name} (log scale)",
                         favours=(spec.favours_left, spec.favours_right),
                         title=plot_text(title) if title else None, footnotes=footnotes, ref_span=ref_span,
                         center=center, presentation=presentation)


# ---------------------------------------------------------------------------------------------------------
# leave-one-out and cumulative
# ---------------------------------------------------------------------------------------------------------

def _refit_figure(refits, report, spec: EffectSpec, *, label, title: str, first_header: str) -> go.Figure:
    lines = []
    for r in refits:
        lines.append(Line(left=[label(r), str(r.k)], right=[format_estimate(r.est, r.lo, r.hi),
                                                             f"{format_number(r.i2, 0)}%",
                                                             format_tau2(r.tau2)],
                          mark="square", est=r.est, lo=r.lo, hi=r.hi, size=8, kind="refit",
                          hover=f"{label(r)}: {spec.short} {format_estimate(r.est, r.lo, r.hi)}, "
                                f"I² {format_number(r.i2, 0)}%"))
    a = report.analysis
    prim = a.primary
    lines.append(Line(left=[f"All {a.k} studies", str(a.k)],
                      right=[format_estimate(prim.est, prim.lo, prim.hi), f"{format_number(a.heterogeneity.i2, 0)}%",
                             format_tau2(a.heterogeneity.tau2)],
                      mark="diamond", est=prim.est, lo=prim.lo, hi=prim.hi, style="bold", kind="diamond-all",
                      fill=RANDOM_FILL if prim.model == "random" else FIXED_FILL))
    left_cols = [Column(first_header, 0.0, "left"), Column("k", 0.92, "center")]
    right_cols = [Column(f"{spec.short} (95% CI)", 0.03, "left"), Column("I²", 0.70, "center"),
                  Column("τ²", 0.90, "center")]
    model = _model_label(prim, bool(a.settings.get("hk")))
    return render_forest(lines, left_cols, right_cols, x_title=f"{spec.name} (log scale)",
                         favours=(spec.favours_left, spec.favours_right), title=title,
                         footnotes=[f"Each row re-pooled: {model}; dotted line: the estimate with all "
                                    f"studies. I² from Q."], ref_span=(0, len(lines) - 1), center=prim.est)


def leave_one_out_figure(report, spec: EffectSpec) -> go.Figure:
    """Each row: the pooled estimate without that study (metafor ``leave1out``); bottom: all studies."""
    return _refit_figure(report.leave_one_out, report, spec, label=lambda r: f"Omitting {plot_text(r.study)}",
                         title=f"Leave-one-out: {spec.outcome}", first_header="Study left out")


def cumulative_figure(report, spec: EffectSpec) -> go.Figure:
    """Each row: the pooled estimate of the studies up to that one, by publication year (metafor ``cumul``)."""
    return _refit_figure(report.cumulative, report, spec, label=lambda r: f"+ {plot_text(r.study)}",
                         title=f"Cumulative meta-analysis by year: {spec.outcome}", first_header="Study added")


# ---------------------------------------------------------------------------------------------------------
# funnel plot (contour-enhanced)
# ---------------------------------------------------------------------------------------------------------

CONTOUR_SHADES = {0.10: "#9e9e9e", 0.05: "#c6c6c6", 0.01: "#e8e8e8"}


def funnel_figure(report, spec: EffectSpec, presentation: bool = False) -> go.Figure:
    """Contour-enhanced funnel plot (Peters et al., J Clin Epidemiol 2008;61:991): study estimates against
    their standard error (reversed axis), shaded where a study would be significant at p < 0.10, < 0.05 and
    < 0.01 (around a ratio of 1), the pseudo 95% limits around the pooled estimate, and studies imputed by
    trim-and-fill (open circles). Egger's test and trim-and-fill in the title. ``presentation``: larger text
    and points."""
    scale = PRESENTATION_SCALE if presentation else 1.0
    f = report.funnel
    fig = go.Figure()
    tf = report.trimfill
    se_pts = [p["se"] for p in f.points if finite(p["se"])] + ([s["se"] for s in tf.filled] if tf else [])
    se_top = max(se_pts + [f.se_max, 0.05]) * 1.12
    est_pts = [p["est"] for p in f.points] + ([math.exp(s["log_est"]) for s in tf.filled] if tf else [])
    xmin, xmax = log_range(est_pts + [math.exp(-2.6 * se_top), math.exp(2.6 * se_top), f.center])
    # significance regions: between the contour of p_a and the next stricter one
    contours = sorted(f.contours, key=lambda c: c["p"], reverse=True)   # 0.10, 0.05, 0.01
    zs = []
    for c in contours:
        lo_end = c["lo"][1]
        zs.append((c["p"], -math.log(lo_end) / f.se_max if f.se_max > 0 and finite(lo_end) else None))
    zs = [(p, z) for p, z in zs if z is not None and z > 0]
    for j, (p, z) in enumerate(zs):
        z_next = zs[j + 1][1] if j + 1 < len(zs) else None
        label = (f"{p:g} > p > {zs[j + 1][0]:g}" if z_next else f"p < {p:g}")
        for sign in (-1, 1):
            inner = [math.exp(sign * z * s) for s in (0, se_top)]
            if z_next:
                outer = [math.exp(sign * z_next * s) for s in (0, se_top)]
                xs = [inner[0], inner[1], outer[1], outer[0]]
                yv = [0, se_top, se_top, 0]
            else:
                edge = xmin if sign < 0 else xmax
                xs = [inner[0], inner[1], edge, edge]
                yv = [0, se_top, se_top, 0]
            fig.add_trace(go.Scatter(x=xs, y=yv, mode="lines", fill="toself", line={"width": 0},
                                     fillcolor=CONTOUR_SHADES.get(round(p, 2), "#dddddd"),
                                     name=label, legendgroup=label, showlegend=sign > 0, hoverinfo="skip"))
    # pseudo 95% limits around the pooled estimate, reference lines
    c = f.center
    zc = None
    if f.se_max > 0 and finite(f.pseudo_ci["lo"][1]):
        zc = (math.log(c) - math.log(f.pseudo_ci["lo"][1])) / f.se_max
    if zc:
        fig.add_trace(go.Scatter(x=[math.exp(math.log(c) - zc * se_top), c, math.exp(math.log(c) + zc * se_top)],
                                 y=[se_top, 0, se_top], mode="lines", line={"color": INK, "width": 1,
                                                                            "dash": "dash"},
                                 name="pseudo 95% limits", hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=[c, c], y=[0, se_top], mode="lines", line={"color": PALETTE[0], "width": 1.5},
                             name=f"pooled {spec.short} {format_ratio(c)}", hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=[1, 1], y=[0, se_top], mode="lines", line={"color": INK, "width": 1},
                             showlegend=False, hoverinfo="skip", name="reference-1"))
    fig.add_trace(go.Scatter(x=[p["est"] for p in f.points], y=[p["se"] for p in f.points], mode="markers",
                             name="studies", text=[plot_text(p["study"]) for p in f.points],
                             hovertemplate="%{text}<br>" + spec.short + " %{x:.2f}, SE %{y:.3f}<extra></extra>",
                             marker={"size": 9 * scale, "color": INK, "line": {"color": "white", "width": 1}}))
    if tf is not None and tf.filled:
        fig.add_trace(go.Scatter(x=[math.exp(s["log_est"]) for s in tf.filled], y=[s["se"] for s in tf.filled],
                                 mode="markers", name="imputed (trim-and-fill)",
                                 marker={"size": 9 * scale, "symbol": "circle-open", "color": PALETTE[1],
                                         "line": {"width": 2}}, hoverinfo="skip"))
    ticks = _ticks(xmin, xmax)
    fig.update_layout(
        template="plotly_white", font={"family": FONT, "size": 12 * scale, "color": INK}, height=int(460 * scale),
        margin={"l": 60 * scale, "r": 20, "t": 80 * scale, "b": 50 * scale},
        title={"text": f"Funnel plot: {spec.outcome}<br><span style='font-size:{12 * scale:g}px'>"
                       f"{funnel_caption(report)}</span>", "x": 0.01, "xanchor": "left", "font": {"size": 15 * scale}},
        xaxis={"type": "log", "range": [math.log10(xmin), math.log10(xmax)], "tickvals": ticks,
               "ticktext": [_tick_text(t) for t in ticks], "title": f"{spec.name} (log scale)",
               "showgrid": False, "zeroline": False, "showline": True, "linecolor": INK},
        yaxis={"range": [se_top, 0], "title": "Standard error of the log ratio", "showgrid": False,
               "zeroline": False, "showline": True, "linecolor": INK},
        legend={"orientation": "v", "x": 1.02, "xanchor": "left", "y": 1.0, "yanchor": "top",
                "font": {"size": 11 * scale}, "title": {"text": "Significance contours", "font": {"size": 11 * scale}}},
        plot_bgcolor="white", uirevision="funnel",
    )
    return fig


def funnel_caption(report) -> str:
    """One line: Egger's test and trim-and-fill (or why they are not available)."""
    parts = []
    e = report.egger
    if e is not None:
        parts.append(f"Egger's test: intercept {format_number(e.bias)} (SE {format_number(e.bias_se)}), "
                     f"{'t' if e.df is not None else 'z'} = {format_number(e.stat)}, "
                     f"{format_p(e.p, prefix='p', short=True)}")
    elif report.k < 3:
        parts.append(f"Egger's test needs ≥ 3 studies (k = {report.k})")
    else:
        parts.append("Egger's test undefined (the studies' standard errors are all the same)")
    t = report.trimfill
    if t is not None:
        est = t.estimate
        parts.append(f"trim-and-fill: {t.k0} imputed ({t.side} side), "
                     f"adjusted {format_estimate(est.est, est.lo, est.hi)}")
    return "; ".join(parts)


# ---------------------------------------------------------------------------------------------------------
# meta-regression bubble plot
# ---------------------------------------------------------------------------------------------------------

def _coding_labels(coding: str) -> dict[float, str] | None:
    """``"1 = 'oxaliplatin', 0 = 'cisplatin' (reference)"`` -> {1.0: "oxaliplatin", 0.0: "cisplatin"}."""
    import re

    found = re.findall(r"([01]) = '([^']*)'", coding or "")
    return {float(k): plot_text(v) for k, v in found} if len(found) == 2 else None


def metaregression_figure(report, spec: EffectSpec) -> go.Figure:
    """Bubble plot of the meta-regression: study estimates (log axis) against the moderator, bubble area ~
    random-effects weight 1/(se² + τ²), the fitted line exp(b0 + b1·x)."""
    m = report.metaregression
    pts = m.points
    x = np.array([p["x"] for p in pts], dtype=float)
    y = np.exp(np.array([p["log_est"] for p in pts], dtype=float))
    w = 1.0 / (np.array([p["se"] for p in pts], dtype=float) ** 2 + max(m.tau2, 0.0))
    size = 10 + 30 * np.sqrt(w / w.max())
    labels = _coding_labels(m.coding)
    jitter = x.copy()
    fig = go.Figure()
    xs = np.linspace(x.min(), x.max(), 50) if labels is None else np.array([0.0, 1.0])
    fig.add_trace(go.Scatter(x=xs, y=np.exp(m.intercept + m.slope * xs), mode="lines", name="fitted line",
                             line={"color": PALETTE[1], "width": 2}, hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=[xs.min(), xs.max()], y=[1, 1], mode="lines", showlegend=False,
                             line={"color": INK, "width": 1, "dash": "dot"}, hoverinfo="skip", name="reference-1"))
    fig.add_trace(go.Scatter(x=jitter, y=y, mode="markers+text", name="studies",
                             text=[plot_text(p["study"]) for p in pts],
                             textposition="top center", textfont={"size": 10, "color": "#555555"},
                             marker={"size": size, "color": "rgba(0,114,178,0.35)",
                                     "line": {"color": PALETTE[0], "width": 1.5}},
                             hovertemplate="%{text}<br>" + spec.short + " %{y:.2f}<extra></extra>"))
    per = "" if labels is not None else " per unit"
    ci = f"{format_number(m.slope)} ({format_number(m.slope_lo)} to {format_number(m.slope_hi)})"
    r2 = f"; R² = {format_number(m.r2, 0)}%" if m.r2 is not None else ""
    caption = (f"slope (log {spec.short}){per}: {ci}, {format_p(m.slope_p, prefix='p', short=True)}{r2}; "
               f"residual I² = {format_number(m.i2, 0)}%; "
               f"k = {m.k} ({m.method}{', Hartung-Knapp' if m.hk else ''})")
    yvals = list(y) + [1.0]
    ymin, ymax = log_range(yvals)
    moderator = plot_text(m.moderator)
    xaxis = {"title": moderator, "showgrid": False, "zeroline": False, "showline": True, "linecolor": INK}
    if labels is not None:
        xaxis.update(tickvals=[0, 1], ticktext=[labels[0.0] + " (reference)", labels[1.0]], range=[-0.5, 1.5])
    yt = _ticks(ymin, ymax)
    fig.update_layout(
        template="plotly_white", font={"family": FONT, "size": 12, "color": INK}, height=440,
        margin={"l": 60, "r": 20, "t": 70, "b": 50}, showlegend=False, plot_bgcolor="white",
        title={"text": f"Meta-regression on {moderator}: {spec.outcome}<br><span style='font-size:12px'>"
                       f"{caption}</span>", "x": 0.01, "xanchor": "left", "font": {"size": 15}},
        xaxis=xaxis,
        yaxis={"type": "log", "range": [math.log10(ymin), math.log10(ymax)], "tickvals": yt,
               "ticktext": [_tick_text(t) for t in yt], "title": f"{spec.name} (log scale)", "showgrid": False,
               "zeroline": False, "showline": True, "linecolor": INK},
    )
    return fig


# ---------------------------------------------------------------------------------------------------------
# ORR vs OS (Lu et al. 2025, Fig. 5A)
# ---------------------------------------------------------------------------------------------------------

def correlation_figure(points: list[dict], corr, published: dict | None = None) -> go.Figure:
    """Per-study OS hazard ratio against ORR risk ratio with Spearman's rho and p (engine), a least-squares line
    as a visual guide (as the paper's Fig. 5A), and the published rho for comparison."""
    fig = go.Figure()
    xs = [p["orr_rr"] for p in points]
    ys = [p["os_hr"] for p in points]
    labels = [plot_text(p["study"]) + (f" {DAGGER}" if p.get("derived") else "") for p in points]
    if len(points) >= 2 and len(set(xs)) > 1:
        slope, intercept = np.polyfit(xs, ys, 1)
        gx = np.array([min(xs), max(xs)])
        fig.add_trace(go.Scatter(x=gx, y=intercept + slope * gx, mode="lines", name="least-squares line",
                                 line={"color": PALETTE[3], "width": 2}, hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="markers+text", text=labels, textposition="top center",
                             textfont={"size": 10.5, "color": "#444444"}, name="studies",
                             marker={"size": 11, "color": PALETTE[0], "line": {"color": "white", "width": 1}},
                             hovertemplate="%{text}<br>ORR RR %{x:.2f}, OS HR %{y:.2f}<extra></extra>"))
    if corr is not None:
        cap = f"Spearman ρ = {format_number(corr.rho)}, {format_p(corr.p, prefix='p', short=True)} (n = {corr.n})"
    else:
        cap = (f"Spearman correlation needs ≥ 3 studies with ORR counts and an OS HR (n = {len(points)})")
    pub = (published or {}).get("correlation_orr_os")
    if pub:
        cap += (f"; published (all studies of Lu et al. 2025): ρ = {format_number(pub['rho'])}, "
                f"{format_p(pub['p'], prefix='p', short=True)}")
    fig.update_layout(
        template="plotly_white", font={"family": FONT, "size": 12, "color": INK}, height=440,
        margin={"l": 60, "r": 20, "t": 70, "b": 50}, showlegend=False, plot_bgcolor="white",
        title={"text": f"ORR vs OS across studies<br><span style='font-size:12px'>{cap}</span>", "x": 0.01,
               "xanchor": "left", "font": {"size": 15}},
        xaxis={"title": "ORR risk ratio (HAIC + systemic vs systemic)", "showgrid": True, "gridcolor": "#eeeeee",
               "zeroline": False, "showline": True, "linecolor": INK},
        yaxis={"title": "OS hazard ratio", "showgrid": True, "gridcolor": "#eeeeee", "zeroline": False,
               "showline": True, "linecolor": INK},
    )
    return fig
