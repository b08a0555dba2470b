"""Kaplan-Meier figure: step curves with 95% CI bands, censor marks, median lines, statistics on the figure and a
number-at-risk table aligned under the time axis.

Built from analysis results only (:class:`CurveView` lists made by :func:`curves_from_result`); every number
shown comes from ``analysis.survival``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import plotly.graph_objects as go

from components.clinical_tables import plot_text
from components.format import finite, format_group, format_median, format_p, format_percent
from components.style import DASHES, PALETTE

MAX_POINTS = 1000   # per curve sent to the browser: two points per ~2 px column of the plot, every visible step
MAX_TICKS = 500     # censor ticks per group: one per ~2 px column (1.5 px wide ticks overlap closer than that)


@dataclass
class CurveView:
    """What the figure needs of one group's KM estimate."""

    label: str
    n: int
    events: int
    times: np.ndarray          # distinct event/censor times (step x), starting after 0
    surv: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    censor_times: np.ndarray
    censor_surv: np.ndarray
    median: float | None = None
    median_lo: float | None = None
    median_hi: float | None = None
    at_risk: list[int] = field(default_factory=list)       # at the risk-table times
    landmarks: list[tuple[float, float, float, float]] = field(default_factory=list)  # (t, surv, lo, hi)


def thin_step(times, *series, max_points: int = MAX_POINTS):
    """Drop step points that fall in the same screen pixel column, keeping each column's first and last point.

    Only what is drawn is thinned; every estimate shown as a number comes from the full curve.
    """
    times = np.asarray(times, dtype=float)
    if times.size <= max_points:
        return (times, *[np.asarray(s, dtype=float) for s in series])
    bins = _columns(times, max_points // 2)
    first = np.r_[True, bins[1:] != bins[:-1]]
    last = np.r_[bins[1:] != bins[:-1], True]
    keep = first | last
    return (times[keep], *[np.asarray(s, dtype=float)[keep] for s in series])


def km_figure(curves: list[CurveView], *, risk_times: list[float], title: str = "", x_title: str = "Months",
              y_title: str = "Survival probability", logrank_p: float | None = None,
              hr_text: str | None = None, presentation: bool = False, show_ci: bool = True,
              x_max: float | None = None, compact: bool = False, height: float | None = None) -> go.Figure:
    """The KM figure. ``compact`` is the small-multiple variant (no risk table, short legend); ``height`` (px)
    replaces the default height (a slide's picture is rendered at the size its fonts need).

    Built as a plain figure dictionary and wrapped once (no property validation, no subplot machinery): on
    the slider's hot path this is most of the server's work per update.
    """
    scale = 1.45 if presentation else 1.0
    line_width = (3.5 if presentation else 2.0) * (0.8 if compact else 1.0)
    font = int((18 if presentation else 13) * (0.85 if compact else 1.0))
    x_end = x_max or max([float(c.times[-1]) for c in curves if len(c.times)] + [1.0])
    height = height or (330 if compact else 560) * (1.15 if presentation else 1.0)
    # a small multiple on the page has no title: room above its plot for plotly's mode bar, which would cover the
    # statistics box's first line (the log-rank p)
    top_margin = 40 if title else (32 if compact else 15)
    bottom_margin = 45 if compact else 10
    # the plot area's height: the figure's less its margins and the one-row legend above it (~3 font sizes)
    area_px = height - top_margin - bottom_margin - (0 if compact else 3 * font)
    y_bottom = 0.0 if compact else risk_table_px(len(curves), font) / area_px
    plot_px = area_px * (1.0 - y_bottom)                               # the y axis' length in pixels
    tick_half = 3.5 * scale * 1.02 / plot_px                           # a 7 px censor tick, in survival units
    traces: list[dict] = []
    shapes: list[dict] = []
    for i, c in enumerate(curves):
        color, dash = PALETTE[i % len(PALETTE)], DASHES[i % len(DASHES)]
        t, s, lo, hi = thin_step(np.r_[0.0, c.times], np.r_[1.0, c.surv], np.r_[1.0, c.lo], np.r_[1.0, c.hi])
        lo, hi = np.where(np.isnan(lo), s, lo), np.where(np.isnan(hi), s, hi)  # R's NA limits (S = 0 or 1)
        label = plot_text(format_group(c.label))   # labels come from data: shown as text, never read as HTML
        group = {"legendgroup": label, "showlegend": False, "hoverinfo": "skip", "type": "scatter"}
        if show_ci:   # the band as one closed polygon: the upper limit forwards, the lower limit back
            traces.append({**group, **_band(t, hi, lo), "mode": "lines", "line": {"width": 0, "shape": "hv"},
                           "fill": "toself", "fillcolor": _rgba(color, 0.15)})
        name = label if compact else f"{label}  (n={c.n}, events={c.events})"
        traces.append({"type": "scatter", "x": t, "y": s, "mode": "lines", "name": name, "legendgroup": label,
                       "line": {"color": color, "width": line_width, "shape": "hv",
                                "dash": "solid" if not presentation else dash},
                       "hovertemplate": "%{x:.1f} mo: %{y:.3f}<extra>" + label + "</extra>"})
        ct, cs = thin_marks(c.censor_times, c.censor_surv)
        if len(ct):   # censor ticks: one path shape of many segments (a trace with gaps draws one per segment)
            shapes.append({"type": "path", "path": _ticks_path(ct, cs, tick_half), "xref": "x", "yref": "y",
                           "line": {"color": color, "width": 1.5 * scale}, "legendgroup": label,
                           "layer": "above"})
        if c.median is not None and np.isfinite(c.median):
            traces.append({**group, "x": [0, c.median, c.median], "y": [0.5, 0.5, 0], "mode": "lines",
                           "line": {"color": color, "width": 1, "dash": "dot"}})
    lines = []
    if logrank_p is not None or hr_text:
        lines.append("Log-rank " + format_p(logrank_p, prefix="p") + (f"<br>{hr_text}" if hr_text else ""))
    for i, c in enumerate(curves):
        median = format_median(c.median, c.median_lo, c.median_hi) if finite(c.median) else "not reached"
        text = f"<span style='color:{PALETTE[i % len(PALETTE)]}'>■</span> median {median}"
        if c.landmarks and not compact:
            text += "<br>\u00a0\u00a0\u00a0" + " · ".join(f"{t:g} mo {format_percent(s)}" for t, s, _lo, _hi in c.landmarks
                                            if s is not None and np.isfinite(s))
        lines.append(text)
    annotations = [{"xref": "x domain", "yref": "y domain", "x": 0.99, "y": 0.99, "xanchor": "right",
                    "yanchor": "top", "align": "left", "showarrow": False, "text": "<br>".join(lines),
                    "font": {"size": font - (1 if not presentation else 0)},
                    "bgcolor": "rgba(255,255,255,0.85)", "bordercolor": "#888", "borderwidth": 1,
                    "borderpad": 4}]
    x_range = [-0.03 * x_end, x_end * 1.03]  # room for the first and last numbers at risk
    axis = {"showline": True, "linecolor": "#444", "ticks": "outside", "zeroline": False}
    layout = {
        "font": {"size": font, "family": "Arial, Helvetica, sans-serif", "color": "#222"},
        "paper_bgcolor": "white", "plot_bgcolor": "white",
        "margin": {"l": 60 if compact else 150, "r": 15, "t": top_margin, "b": bottom_margin},
        "legend": ({"orientation": "v", "x": 0.01, "y": 0.01, "yanchor": "bottom", "bgcolor": "rgba(255,255,255,0.8)"}
                   if compact else {"orientation": "h", "x": 0, "y": 1.06, "yanchor": "bottom"}),
        "height": height,
        "uirevision": "km", "hovermode": "closest", "annotations": annotations, "shapes": shapes,
        "template": {},          # every style is set here; plotly's default template would add ~6 kB per update
        "xaxis": {**axis, "range": x_range, "gridcolor": "#e5e5e5", "showgrid": True,
                  "title": {"text": x_title, "standoff": TITLE_STANDOFF},
                  "tickvals": list(risk_times) if risk_times else None, "anchor": "y"},
        "yaxis": {**axis, "range": [0, 1.02], "tickformat": ".0%", "title": {"text": y_title},
                  "gridcolor": "#e5e5e5", "showgrid": True, "domain": [y_bottom, 1.0]},
    }
    if title:
        layout["title"] = {"text": title, "x": 0.01, "font": {"size": font + 3}}
    if not compact:   # the table is in the tick labels: never rotated, however narrow the figure
        layout["xaxis"].update(ticktext=risk_tick_labels(curves, risk_times), tickangle=0)
        longest = max((len(c.label) for c in curves), default=0)
        layout["margin"]["l"] = max(150, int(0.6 * font * longest) + 16)   # room for the group names
        annotations.extend(_risk_table_names(curves, font, y_bottom))
    # wrapped without plotly's property validation (~3 ms per update): every property is a valid one,
    # tests/test_km_figure.py rebuilds each variant with validation on
    return go.Figure({"data": traces, "layout": layout}, _validate=False)


# plotly.js text layout (src/constants/alignment.js): the line height of multi-line text, in font sizes
LINE_SPACING = 1.3
TICK_LEN = 5            # plotly's default tick length (px), the time axis' ticks are drawn outside
TITLE_STANDOFF = 8      # px between the time axis' labels and its title


def _names_shift(font: int) -> float:
    """How far (px) the annotation's lines sit above the tick labels' when both hang from the axis, measured in
    Chromium with plotly.js 3 at the page's two font sizes (13 px, 18 px in presentation mode) to within 0.6 px;
    tests/browser/test_pages.py checks the 13 px page to within a pixel."""
    return TICK_LEN + 0.43 * font - 3.0


def risk_table_px(n_groups: int, font: int) -> float:
    """Height (px) under the KM plot for the time axis' labels with the number-at-risk table, and its title."""
    labels = TICK_LEN + (n_groups + 2) * LINE_SPACING * font + 0.5 * font
    return labels + TITLE_STANDOFF + LINE_SPACING * font + 6


def risk_tick_labels(curves: list[CurveView], risk_times) -> list[str]:
    """The time axis' tick labels with the number-at-risk table under them.

    At each risk time one multi-line label: the time, an empty line (the "Number at risk" heading's), then one
    line per group coloured as its curve. The whole table is one SVG text per time on the axis the figure draws
    anyway, not a text trace per group on a subplot of its own (docs/performance.md: the redraw it saves). The
    group names are a multi-line annotation hung from the same height (:func:`_risk_table_names`): multi-line text has the same
    line height everywhere in plotly, so row k of the names is line k of every label whatever the figure's size.
    """
    colours = [PALETTE[i % len(PALETTE)] for i in range(len(curves))]
    return [f"{t:g}<br>\u00a0<br>" + "<br>".join(f"<span style='color:{col}'>{c.at_risk[j]}</span>"
                                                for col, c in zip(colours, curves))
            for j, t in enumerate(risk_times)]


def _risk_table_names(curves: list[CurveView], font: int, y: float) -> list[dict]:
    """The heading (left, on the empty line) and the group names (in the left margin) of the table."""
    common = {"xref": "paper", "yref": "paper", "x": 0, "y": y, "yanchor": "top", "showarrow": False,
              "yshift": -_names_shift(font), "font": {"size": font}}
    blank = "\u00a0"
    return [{**common, "xanchor": "left", "align": "left", "text": f"{blank}<br>Number at risk"},
            {**common, "xanchor": "right", "align": "right", "xshift": -8,
             "text": "<br>".join([blank, blank] + [plot_text(format_group(c.label)) for c in curves])}]


def thin_marks(times, values, max_marks: int = MAX_TICKS):
    """At most one mark per ``1 / max_marks`` of the time span (the first in each column); drawing only."""
    times, values = np.asarray(times, dtype=float), np.asarray(values, dtype=float)
    if times.size <= max_marks:
        return times, values
    bins = _columns(times, max_marks)
    first = np.r_[True, bins[1:] != bins[:-1]]
    return times[first], values[first]


def _columns(times: np.ndarray, n: int) -> np.ndarray:
    """The column (0 .. n-1) of each of the sorted ``times`` when their span is cut into ``n`` equal columns."""
    span = times[-1] - times[0] or 1.0
    return np.minimum(np.floor((times - times[0]) / span * n).astype(np.int64), n - 1)


def _band(times: np.ndarray, hi: np.ndarray, lo: np.ndarray) -> dict:
    """The CI band of a step curve as one closed ``hv`` polygon: the upper limits forwards, then the lower limits
    backwards, each lower value moved to the right end of its interval so that ``hv`` steps (horizontal first)
    draw the right-continuous lower step function when running from right to left.

    Drawing only (no hover), so single precision: half the bytes, far below a pixel.
    """
    back = np.r_[lo[0], lo[:-1]][::-1]       # at t_i (right to left): lo_{i-1}, held back to t_{i-1}
    return {"x": np.r_[times, times[::-1]].astype(np.float32), "y": np.r_[hi, back].astype(np.float32)}


def _ticks_path(times: np.ndarray, surv: np.ndarray, half: float) -> str:
    """Vertical ticks at (time, surv) as one SVG path in data coordinates ("M t,s-h V s+h ..."), drawing only."""
    lo, hi = surv - half, surv + half
    return "".join(f"M{t:.6g},{a:.5g}V{b:.5g}" for t, a, b in zip(times.tolist(), lo.tolist(), hi.tolist()))


def _rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def curves_from_stratified(result, risk_times, landmark_times=()) -> list[CurveView]:
    """CurveViews from an ``analysis.survival.StratifiedKM`` computed with ``at = risk_times + landmark_times``."""
    views = []
    for g in result.groups:
        km = g.km
        censored = km.n_censor > 0
        views.append(CurveView(
            label=format_group(g.label), n=g.n, events=g.events, times=km.times, surv=km.surv, lo=km.lo, hi=km.hi,
            censor_times=km.times[censored], censor_surv=km.surv[censored],
            median=_finite(g.median), median_lo=_finite(g.median_lo), median_hi=_finite(g.median_hi),
            at_risk=[int(km.at_time(t)["at_risk"]) for t in risk_times],
            landmarks=[(float(t), *(km.at_time(t)[k] for k in ("surv", "lo", "hi"))) for t in landmark_times],
        ))
    return views


def _finite(x) -> float | None:
    return float(x) if x is not None and np.isfinite(x) else None
