"""The trial sequential analysis figure (as Lu et al. 2025, Fig. 6, and the TSA program draw it) and its tables,
from an :class:`analysis.meta.tsa.TSAResult`.

x: cumulative number of patients; y: cumulative z. The z-curve (one point per study, hollow where a study is not
a look), the conventional boundaries +/- z_{1-alpha/2}, the monitoring boundaries (drawn from the first look where
they are finite; the TSA program's "20" means "not yet crossable" and is left off the chart), the futility region
(non-binding, shaded) and the required information size (RIS) as a vertical line. Every number comes from the
engine; this module only lays it out.
"""
from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go
from scipy import stats

from analysis.meta.study_rows import EffectSpec
from components.clinical_tables import plot_text
from components.forest import FONT, INK
from components.format import format_ci, format_number, format_percent
from components.style import PALETTE

Y_MAX = 8.0               # the TSA program's chart: |z| up to 8
CURVE = PALETTE[0]
BOUNDARY = "#c0392b"
CONVENTIONAL = "#8d6e63"
FUTILITY = "rgba(192, 57, 43, 0.10)"


def _finite(v) -> bool:
    return v is not None and math.isfinite(v) and abs(v) < 20


def settings_text(r) -> str:
    """'RRR 30%, α 5% (two-sided), power 80%'"""
    return (f"RRR {format_percent(r.rrr, None)}, α {format_percent(r.alpha, None)} (two-sided), "
            f"power {format_percent(1 - r.beta, None)}")


def tsa_figure(r, spec: EffectSpec, *, title: str | None = None, presentation: bool = False) -> go.Figure:
    """Cumulative z-curve against patients with monitoring boundaries, futility region, RIS line and +/-1.96."""
    font = 16 if presentation else 12
    width = 3.2 if presentation else 2.2
    b = r.boundary
    x_b = [t * r.ris for t in b["info_frac"]]
    studies = [lk for lk in r.looks if lk.study is not None]
    x_max = max([r.ris, r.n_total] + [lk.n_cum for lk in studies]) * 1.08
    zs = [abs(lk.z) for lk in studies if lk.z is not None and math.isfinite(lk.z)]
    finite_b = [abs(v) for v in b["upper"] if _finite(v)]
    y_top = min(Y_MAX, max([4.0] + [z + 0.8 for z in zs] + [v + 0.5 for v in finite_b]))
    fig = go.Figure()

    # futility region (inner wedge), then the boundaries, conventional lines, RIS, and the z-curve on top
    fut = [(x, lo, hi) for x, lo, hi in zip(x_b, b["futility_lower"], b["futility_upper"])
           if _finite(lo) and _finite(hi) and hi > 0]
    if fut:
        xs = [fut[0][0]] + [p[0] for p in fut] + [p[0] for p in reversed(fut)] + [fut[0][0]]
        ys = [0.0] + [p[2] for p in fut] + [p[1] for p in reversed(fut)] + [0.0]
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", fill="toself", fillcolor=FUTILITY,
                                 line={"color": BOUNDARY, "width": width * 0.6, "dash": "dot"},
                                 name="Futility region (non-binding β-spending)", hoverinfo="skip"))
    for key, show in (("upper", True), ("lower", False)):
        pts = [(x, v) for x, v in zip(x_b, b[key]) if _finite(v)]
        fig.add_trace(go.Scatter(
            x=[p[0] for p in pts], y=[p[1] for p in pts], mode="lines+markers", name="Monitoring boundary "
            "(O'Brien-Fleming α-spending)", legendgroup="monitoring", showlegend=show,
            line={"color": BOUNDARY, "width": width}, marker={"size": 5 if not presentation else 7},
            hovertemplate="monitoring boundary %{y:.2f}<br>%{x:,.0f} patients<extra></extra>"))
    hidden = [x for x, v in zip(x_b, b["upper"]) if v is not None and not _finite(v)]
    if hidden:   # looks whose boundary is the TSA program's 20: not crossable yet, marked at the chart's edge
        for sign, symbol, show in ((1, "triangle-up", True), (-1, "triangle-down", False)):
            fig.add_trace(go.Scatter(
                x=hidden, y=[sign * y_top] * len(hidden), mode="markers", legendgroup="hidden", showlegend=show,
                name="Look whose boundary is off the chart (spends < 1e-9: not crossable)", cliponaxis=False,
                marker={"symbol": symbol, "size": 9 if presentation else 7, "color": BOUNDARY},
                hovertemplate="monitoring boundary beyond ±20 at %{x:,.0f} patients<extra></extra>"))
    zc = float(stats.norm.isf(r.alpha / 2))
    for sign, show in ((1, True), (-1, False)):
        fig.add_trace(go.Scatter(x=[0, x_max], y=[sign * zc, sign * zc], mode="lines",
                                 name=f"Conventional boundary (±{format_number(zc)})", legendgroup="conventional",
                                 showlegend=show, line={"color": CONVENTIONAL, "width": width * 0.7,
                                                        "dash": "dash"}, hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=[r.ris, r.ris], y=[-y_top, y_top], mode="lines", name=f"RIS = {r.ris:,} patients",
                             line={"color": INK, "width": width * 0.7}, hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=[0, x_max], y=[0, 0], mode="lines", line={"color": "#999999", "width": 0.8},
                             showlegend=False, hoverinfo="skip", name="zero"))
    looks = [lk for lk in studies if lk.z is not None]
    hover = [f"{plot_text(lk.study)}<br>{lk.n_cum:,} patients ({format_percent(lk.info_frac, 0)} of RIS)<br>"
             f"cumulative z = {format_number(lk.z)}; {spec.short} {format_number(lk.estimate)}"
             + ("" if lk.look is not None else "<br>not a look (adds ≤ 1% of the RIS)") for lk in looks]
    fig.add_trace(go.Scatter(
        x=[0] + [lk.n_cum for lk in looks], y=[0] + [max(-y_top, min(y_top, lk.z)) for lk in looks],
        mode="lines+markers", name="Cumulative z-curve", line={"color": CURVE, "width": width * 1.2},
        marker={"size": [0] + [9 if presentation else 7 for _ in looks],
                "symbol": ["circle"] + ["square" if lk.look is not None else "square-open" for lk in looks],
                "color": CURVE},
        text=[""] + hover, hovertemplate="%{text}<extra></extra>"))

    fig.add_annotation(xref="paper", yref="y", x=0.005, y=y_top * 0.93, xanchor="left", showarrow=False,
                       text=plot_text(spec.favours_right), font={"size": font - 1, "color": "#555555"})
    fig.add_annotation(xref="paper", yref="y", x=0.005, y=-y_top * 0.93, xanchor="left", showarrow=False,
                       text=plot_text(spec.favours_left), font={"size": font - 1, "color": "#555555"})
    fig.add_annotation(x=r.ris, y=y_top, yref="y", xanchor="left", yanchor="top", showarrow=False,
                       text=f" RIS {r.ris:,}", font={"size": font - 1, "color": INK})
    heading = title or f"Trial sequential analysis: {spec.outcome}"
    fig.update_layout(
        template="plotly_white", font={"family": FONT, "size": font, "color": INK},
        height=int(520 * (1.2 if presentation else 1.0)), plot_bgcolor="white",
        margin={"l": 70, "r": 20, "t": 78 if not presentation else 92, "b": 60},
        title={"text": f"{plot_text(heading)}<br><span style='font-size:{font}px'>{settings_text(r)}; "
                       f"{plot_text(r.model_label)}</span>", "x": 0.01, "xanchor": "left",
               "font": {"size": font + 3}},
        xaxis={"title": "Cumulative number of patients", "range": [0, x_max], "showgrid": False,
               "zeroline": False, "showline": True, "linecolor": INK, "tickformat": ",d"},
        yaxis={"title": "Cumulative z-score", "range": [-y_top, y_top], "showgrid": False, "zeroline": False,
               "showline": True, "linecolor": INK},
        legend={"orientation": "h", "x": 0, "y": -0.16, "yanchor": "top", "font": {"size": font - 1}},
        uirevision="tsa",
    )
    return fig


def tsa_summary_frame(r, spec: EffectSpec) -> pd.DataFrame:
    """The numbers behind the figure, one per row (what the page lists next to it)."""
    ci = r.adjusted_type or "TSA-adjusted"
    ci_text = f"({format_ci(r.adjusted_lo, r.adjusted_hi)})" if r.adjusted_lo is not None else "not available"
    rows = [
        ("Required information size (RIS)", f"{r.ris:,} patients"),
        ("RIS without heterogeneity adjustment", f"{r.ris_fixed:,} patients"),
        ("Diversity D²", format_percent(r.d2)),
        ("Control-arm risk p_C", f"{format_percent(r.pc)} ({r.pc_source})"),
        ("Experimental-arm risk p_I = p_C (1 − RRR)", format_percent(r.pi)),
        ("Patients so far", f"{r.n_total:,} ({format_percent(r.n_total / r.ris, 0)} of the RIS)"),
        (f"{spec.short}, {r.model_label}", format_number(r.estimate)),
        (f"{ci} 95% CI" + (f" (at {r.adjusted_study})" if r.adjusted_study else ""), ci_text),
    ]
    return pd.DataFrame(rows, columns=["Quantity", "Value"])
