"""KM figure builder: everything drawn comes from the analysis result."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.survival import km_by_group
from components.clinical_tables import plot_text
from components.km_figure import MAX_POINTS, MAX_TICKS, curves_from_stratified, km_figure, thin_marks, thin_step
from components.style import PALETTE
from components.survival_tables import km_summary_parts, km_summary_update
from components.table_card import footnote_divs

LUNG = pd.read_csv(Path(__file__).parent / "reference" / "data" / "lung.csv")
RISK = (0.0, 200.0, 400.0, 600.0, 800.0)
LAND = (365.0,)


def drawn_hv_edges(x, y, probe):
    """Upper and lower edges of a closed polygon drawn with plotly's ``hv`` line shape (from each point:
    horizontal to the next x at this point's y, then vertical), at the ``probe`` times; the polygon runs right
    along the top and back left along the bottom, with as many points each way."""
    m = len(x) // 2
    fx, fy, bx, by = x[:m], y[:m], x[m:], y[m:]
    top = fy[np.searchsorted(fx, probe, side="right") - 1]                    # forwards: y of the left point
    k = len(bx) - np.searchsorted(bx[::-1], probe, side="right")              # backwards: y of the right point
    bottom = by[np.clip(k - 1, 0, len(by) - 1)]
    return top, bottom


def result():
    return km_by_group(LUNG, "time", "status", by="sex", at=sorted(set(RISK) | set(LAND)))


def test_curve_views_carry_the_analysis_numbers():
    res = result()
    views = curves_from_stratified(res, RISK, LAND)
    assert [v.label for v in views] == [g.label for g in res.groups]
    for v, g in zip(views, res.groups):
        at = {a["time"]: a for a in g.km.at}
        assert v.at_risk == [at[t]["at_risk"] for t in RISK]
        assert v.at_risk[0] == g.n
        assert v.landmarks[0][1] == at[365.0]["surv"]
        assert v.median == g.median
        np.testing.assert_array_equal(v.censor_times, g.km.times[g.km.n_censor > 0])


def test_figure_has_curves_bands_risk_table_and_stats():
    res = result()
    fig = km_figure(curves_from_stratified(res, RISK, LAND), risk_times=list(RISK), logrank_p=res.logrank.p,
                    hr_text="HR 0.59 (0.42-0.82)")
    names = [t.name for t in fig.data if t.name]
    assert any(n.startswith("Sex = Male") for n in names) and any(n.startswith("Sex = Female") for n in names)
    bands = [t for t in fig.data if t.fill == "toself"]
    assert len(bands) == 2                                   # one CI band per group, one closed polygon each
    views = curves_from_stratified(res, RISK, LAND)
    for band, v in zip(bands, views):
        assert band.line.shape == "hv"
        t = np.r_[0.0, v.times]
        upper = np.r_[1.0, np.where(np.isnan(v.hi), v.surv, v.hi)]
        lower = np.r_[1.0, np.where(np.isnan(v.lo), v.surv, v.lo)]
        # the polygon, drawn as plotly draws hv steps, is the KM band: at every time the drawn upper and lower
        # edges are the limits of the interval [t_i, t_(i+1)) that holds it
        probe = np.r_[t[:-1] + np.diff(t) / 2, t[:-1] + 1e-9]
        want = np.searchsorted(t, probe, side="right") - 1
        top, bottom = drawn_hv_edges(np.asarray(band.x, float), np.asarray(band.y, float), probe)
        np.testing.assert_allclose(top, upper[want], atol=1e-6)
        np.testing.assert_allclose(bottom, lower[want], atol=1e-6)
    # the number-at-risk table is in the time axis' tick labels: the time, an empty line (the heading's), then
    # one line per group in its curve's colour
    assert list(fig.layout.xaxis.tickvals) == list(RISK) and fig.layout.xaxis.tickangle == 0
    for j, label in enumerate(fig.layout.xaxis.ticktext):
        lines = label.split("<br>")
        assert lines[0] == f"{RISK[j]:g}" and lines[1] == "\u00a0"
        assert lines[2:] == [f"<span style='color:{PALETTE[i]}'>{v.at_risk[j]}</span>" for i, v in enumerate(views)]
    # its heading and row names: annotations hung from the axis, one line per line of the labels
    heading, names = fig.layout.annotations[-2:]
    assert heading.text.split("<br>")[1] == "Number at risk"
    assert names.text.split("<br>")[2:] == [plot_text(v.label) for v in views]
    assert heading.y == names.y == fig.layout.yaxis.domain[0] and heading.yshift == names.yshift < 0
    assert not [t for t in fig.data if t.mode == "text"] and "xaxis2" not in fig.to_plotly_json()["layout"]
    note = fig.layout.annotations[0].text
    assert "Log-rank p = 0.001" in note and "HR 0.59" in note
    assert fig.layout.yaxis.tickformat == ".0%"


def test_censor_ticks_are_one_path_shape_per_group_at_the_censored_times():
    res = result()
    views = curves_from_stratified(res, RISK, LAND)
    fig = km_figure(views, risk_times=list(RISK))
    ticks = [s for s in fig.layout.shapes if s.type == "path"]
    assert len(ticks) == len(views)
    assert not [t for t in fig.data if t.x is not None and np.isnan(np.asarray(t.x, float)).any()]  # no gap lines
    curves = [t for t in fig.data if t.name]
    for shape, v, curve in zip(ticks, views, curves):
        assert shape.xref == "x" and shape.yref == "y" and shape.line.color == curve.line.color
        assert shape.legendgroup == curve.legendgroup          # hidden with its curve from the legend
        segs = np.array(re.findall(r"M([-\d.e+]+),([-\d.e+]+)V([-\d.e+]+)", shape.path), float)
        assert len(segs) * len("M") == shape.path.count("M")   # nothing but "M t,lo V hi" segments
        np.testing.assert_allclose(segs[:, 0], v.censor_times, rtol=1e-5)        # vertical, at the time
        np.testing.assert_allclose((segs[:, 1] + segs[:, 2]) / 2, v.censor_surv, atol=1e-4)  # centred on the curve
        assert np.all(segs[:, 2] > segs[:, 1])


def test_presentation_mode_is_larger_and_compact_has_no_risk_table():
    res = result()
    views = curves_from_stratified(res, RISK, LAND)
    normal = km_figure(views, risk_times=list(RISK))
    big = km_figure(views, risk_times=list(RISK), presentation=True)
    assert big.layout.font.size > normal.layout.font.size and big.layout.height > normal.layout.height
    compact = km_figure(views, risk_times=list(RISK), compact=True)
    assert compact.layout.xaxis.ticktext is None and len(compact.layout.annotations) == 1
    assert [a.text.split("<br>")[1] for a in big.layout.annotations[-2:-1]] == ["Number at risk"]


def test_every_variant_is_a_valid_plotly_figure():
    # km_figure skips plotly's validation for speed: rebuild each variant with it on (raises on a bad property)
    import plotly.graph_objects as go

    views = curves_from_stratified(result(), RISK, LAND)
    for kwargs in ({}, {"presentation": True}, {"compact": True}, {"title": "t", "logrank_p": 0.01}):
        fig = km_figure(views, risk_times=list(RISK), **kwargs)
        go.Figure(fig.to_plotly_json(), skip_invalid=False)


def test_labels_print_le_and_the_hr_says_its_direction():
    from components.format import format_group, format_hr

    res = km_by_group(LUNG, "time", "status", by="age", cutoff=65, at=list(RISK))
    fig = km_figure(curves_from_stratified(res, RISK, ()), risk_times=list(RISK), height=432)
    names = [t.name for t in fig.data if t.name]
    assert names[0].startswith("Age ≤ 65  (n=") and names[1].startswith("Age &gt; 65  (n=")
    assert fig.layout.annotations[-1].text.endswith("Age ≤ 65<br>Age &gt; 65") and fig.layout.height == 432
    r = res.hr.result
    assert format_hr(res) == f"HR Age > 65 vs ≤ 65: {r.hr:.2f} ({r.lo:.2f}–{r.hi:.2f})"
    assert format_group("AST <= 56.5") == "AST ≤ 56.5" and format_group("a >= b") == "a ≥ b"
    sex = km_by_group(LUNG, "time", "status", by="sex")
    assert format_hr(sex).startswith("HR Sex = Female vs Male: ")
    assert format_hr(km_by_group(LUNG, "time", "status")) is None


def test_censor_marks_are_thinned_to_one_per_column_for_drawing_only():
    t = np.sort(np.random.default_rng(1).uniform(0, 60, 20_000))
    s = np.linspace(1, 0.2, t.size)
    tt, ss = thin_marks(t, s)
    assert len(tt) <= MAX_TICKS and tt[0] == t[0]
    assert np.isin(tt, t).all() and np.all(np.diff(tt) > 0)
    assert np.all(np.diff(np.floor((tt - t[0]) / (t[-1] - t[0]) * MAX_TICKS)) >= 1)   # one per column
    assert len(thin_marks(t[:50], s[:50])[0]) == 50                                  # few marks: all kept


def test_thinning_keeps_endpoints_and_bounds_points():
    t = np.linspace(0, 100, 50_000)
    s = np.linspace(1, 0, 50_000)
    tt, ss = thin_step(t, s)
    assert tt[0] == 0 and tt[-1] == 100 and ss[-1] == 0
    assert len(tt) <= MAX_POINTS + 2
    assert np.all(np.diff(tt) > 0)
    small_t, small_s = thin_step(t[:10], s[:10])
    assert len(small_t) == 10                               # small curves are untouched


def test_summary_table_shows_medians_and_test():
    res = result()
    text = str(km_summary_parts(res, LAND)["body"])
    g = res.groups[0]
    assert f"{g.median:.1f}" in text and "Log-rank" in text and "<0.001" not in text


def test_summary_update_fills_the_card_laid_out_once_with_the_summary_table():
    res = result()
    parts = km_summary_parts(res, LAND)
    body, notes, store, text, html_text = km_summary_update(res, LAND)
    assert str(body) == str(parts["body"]) and str(notes) == str(footnote_divs(parts["footnotes"]))
    assert store["filename"] == "km-summary.csv" and store["csv"].startswith("Group,n,Events")
    assert f"{res.groups[1].median:.1f}" in store["csv"]
    assert f"{res.groups[0].median:.1f}" in text and "Log-rank" in html_text
