"""Meta-analysis figures (components.forest) built from real engine results on data/meta17.csv: what is drawn
where, and that every printed number is the engine's."""
from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest

from analysis.meta import load_study_file, run_meta
from components import forest as F
from analysis.meta.study_rows import EffectSpec, ForestStudy, effect_spec
from components.format import format_estimate, format_number, format_p
from services.meta_views import build_view, normalise_params, shipped_data, study_table


@pytest.fixture(scope="module")
def data():
    return shipped_data()


def view_of(data, **kw):
    return build_view(data, normalise_params(study_table(data), **kw))


def traces(fig, name):
    return [t for t in fig.data if t.name == name]


def texts(fig, axis):
    """(text, colour) of every text cell in a column group ('x2' left, 'x3' right), headers excluded."""
    out = []
    for t in fig.data:
        if t.mode == "text" and t.xaxis == axis and "header" not in (t.name or ""):
            colors = t.textfont.color if isinstance(t.textfont.color, (list, tuple)) else [t.textfont.color] * len(t.text)
            out += list(zip([re.sub(r"</?[bi]>", "", x) for x in t.text], colors))
    return out


def all_text(fig) -> str:
    parts = []
    for t in fig.data:
        if t.mode == "text":
            parts += [str(x) for x in t.text]
    parts += [a.text for a in fig.layout.annotations]
    return "\n".join(parts)


# ------------------------------------------------------------------------------------------------ forest

def test_forest_one_square_per_pooled_study_at_its_estimate(data):
    v = view_of(data, outcome="os")
    fig = F.forest_figure(v.rows, v.report, v.spec, title="OS")
    sq = traces(fig, "squares")[0]
    studies = v.report.analysis.studies
    assert v.report.k == 9 and len(sq.x) == 9
    np.testing.assert_allclose(sq.x, [s.est for s in studies], rtol=1e-12)
    # the squares' rows are the table rows of the pooled studies, for the click toggle
    assert list(sq.customdata) == [r.row for r in v.rows if r.status == "pooled"]
    # squares sized by weight: the heaviest random-effects weight draws the largest square
    w = [s.weight_random for s in studies]
    assert sq.marker.size[int(np.argmax(w))] == max(sq.marker.size)
    assert sq.marker.size[int(np.argmin(w))] == min(sq.marker.size)
    # one CI line per pooled study, from lo to hi
    ci = traces(fig, "ci-lines")[0]
    segs = [(ci.x[i], ci.x[i + 1]) for i in range(0, len(ci.x), 3)]
    assert len(segs) == 9
    np.testing.assert_allclose([a for a, _ in segs], [s.lo for s in studies], rtol=1e-12)


def test_forest_diamond_per_pooled_estimate_and_prediction_bar(data):
    v = view_of(data, outcome="os")
    fig = F.forest_figure(v.rows, v.report, v.spec)
    a = v.report.analysis
    for kind, est in (("diamond-fixed", a.fixed), ("diamond-random", a.random)):
        (d,) = traces(fig, kind)
        assert d.fill == "toself"
        assert min(d.x) == pytest.approx(est.lo) and max(d.x) == pytest.approx(est.hi)
        assert d.x[1] == pytest.approx(est.est)
    (pi,) = traces(fig, "prediction-interval")
    assert tuple(pi.x) == pytest.approx((a.random.pi_lo, a.random.pi_hi))
    right = [t for t, _c in texts(fig, "x3")]
    assert format_estimate(a.random.est, a.random.lo, a.random.hi) in right   # "0.51 (0.40–0.65)"
    assert "0.51 (0.40–0.65)" in right and "0.53 (0.47–0.61)" in right


def test_forest_lists_not_reported_studies_greyed_with_count(data):
    v = view_of(data, outcome="os")
    fig = F.forest_figure(v.rows, v.report, v.spec)
    right = texts(fig, "x3")
    not_rep = [(t, c) for t, c in right if t == "not reported"]
    assert len(not_rep) == 8 and all(c == F.GREY for _t, c in not_rep)
    left = dict(texts(fig, "x2"))
    for r in v.rows:
        if r.status != "pooled":
            assert left[r.study] == F.GREY
    assert "Not in the pool: 8 of 17 studies" in all_text(fig)
    assert left["Mei J 2021"] == F.INK


def test_forest_log_axis_reference_line_and_favours(data):
    v = view_of(data, outcome="os")
    fig = F.forest_figure(v.rows, v.report, v.spec)
    ax = fig.layout.xaxis
    assert ax.type == "log" and "Hazard ratio" in ax.title.text
    lo, hi = 10 ** ax.range[0], 10 ** ax.range[1]
    assert lo <= min(r.lo for r in v.pooled) and hi >= max(r.hi for r in v.pooled)
    assert lo < 1 < hi and 1.0 in ax.tickvals
    (ref,) = traces(fig, "reference-1")
    assert list(ref.x) == [1, 1]
    notes = [a.text for a in fig.layout.annotations]
    assert "← Favours HAIC + systemic" in notes and "Favours systemic →" in notes
    # response: a ratio > 1 favours HAIC, so the sides swap
    v2 = view_of(data, outcome="orr")
    notes2 = [a.text for a in F.forest_figure(v2.rows, v2.report, v2.spec).layout.annotations]
    assert "← Favours systemic" in notes2 and "Favours HAIC + systemic →" in notes2


def test_forest_heterogeneity_and_overall_test_text(data):
    v = view_of(data, outcome="os")
    fig = F.forest_figure(v.rows, v.report, v.spec)
    h = v.report.analysis.heterogeneity
    text = all_text(fig)
    assert f"Q = {h.q:.2f}, df = {h.df} (p < 0.001); I² = {h.i2:.0f}%; τ² = {h.tau2:.3f}" in text
    prim = v.report.analysis.primary
    assert f"z = {format_number(prim.stat)}" in text


def test_forest_marks_derived_values_with_dagger_and_footnote(data):
    v = view_of(data, outcome="os")
    fig = F.forest_figure(v.rows, v.report, v.spec)
    labels = [t for t, _c in texts(fig, "x2")]
    assert "Guan R 2024 †" in labels and "Chang X 2024 †" in labels and "Mei J 2021" in labels
    foot = [a.text for a in fig.layout.annotations if a.text.startswith("†")]
    assert len(foot) == 1 and "Guan R 2024, Chang X 2024" in foot[0] and "Altman &amp; Bland" in foot[0]
    # derivations off: no dagger, the two studies listed as not pooled with the reason
    off = view_of(data, outcome="os", derive=())
    fig = F.forest_figure(off.rows, off.report, off.spec)
    assert off.report.k == 7
    assert not [a for a in fig.layout.annotations if a.text.startswith("†")]
    assert "HR without CI (derivation off)" in [t for t, _c in texts(fig, "x3")]


def test_forest_subgroup_blocks_have_their_own_diamonds(data):
    v = view_of(data, outcome="os", subgroup="platinum")
    fig = F.forest_figure(v.rows, v.report, v.spec, group_label="Platinum drug")
    sg = v.report.subgroups
    diamonds = traces(fig, "diamond-subgroup")
    assert len(diamonds) == len(sg.groups) == 2
    for d, g in zip(diamonds, sg.groups):
        assert d.x[1] == pytest.approx(g.estimate.est)
    text = all_text(fig)
    assert "Platinum drug: cisplatin" in text and "Platinum drug: oxaliplatin" in text
    assert f"Test for subgroup differences: Q = {sg.q_between:.2f}, df = 1" in text
    assert "Platinum drug not reported (overall pool only)" in text
    assert len(traces(fig, "diamond-random")) == 1 and len(traces(fig, "squares")[0].x) == v.report.k


def test_forest_fixed_effect_only(data):
    v = view_of(data, outcome="os", method="FE")
    fig = F.forest_figure(v.rows, v.report, v.spec)
    assert traces(fig, "diamond-random") == [] and traces(fig, "prediction-interval") == []
    assert len(traces(fig, "diamond-fixed")) == 1
    h = v.report.analysis.heterogeneity
    assert f"Heterogeneity: Q = {h.q:.2f}, df = 8 (p < 0.001); I² = {h.i2:.0f}%" in all_text(fig)
    assert "τ²" not in all_text(fig)                          # no between-study variance in a fixed-effect model
    headers = [t.text[0] for t in fig.data if "header" in (t.name or "")]
    assert "<b>Weight (%)</b>" in headers and not any("random" in h for h in headers)


def test_forest_counts_show_events_per_arm_and_mantel_haenszel(data):
    v = view_of(data, outcome="orr", mh=True)
    fig = F.forest_figure(v.rows, v.report, v.spec)
    left = [t for t, _c in texts(fig, "x2")]
    assert "18/45" in left and "4/25" in left          # Mei 2021: events/n per arm
    text = all_text(fig)
    assert "Fixed effect (Mantel-Haenszel)" in text and "RR (95% CI)" in text
    (d,) = traces(fig, "diamond-fixed")
    assert d.x[1] == pytest.approx(v.report.analysis.mh.est)


def test_forest_left_out_study_is_greyed_clickable_and_outside_the_pool(data):
    v = view_of(data, outcome="os", exclude=[13])       # Kudo M 2018 (row 14)
    fig = F.forest_figure(v.rows, v.report, v.spec)
    assert v.report.k == 8 and "Kudo M 2018" not in [s.study for s in v.report.analysis.studies]
    right = [t for t, _c in texts(fig, "x3")]
    assert "1.01 (0.74–1.37)  left out by you" in right
    (ghost,) = traces(fig, "ghost-squares")
    assert list(ghost.customdata) == [13]
    (hits,) = traces(fig, "click-targets")
    clickable = set(hits.customdata)
    assert 13 in clickable and {r.row for r in v.pooled} <= clickable
    assert not clickable & {r.row for r in v.rows if r.status == "excluded"}


def test_forest_without_any_pooled_study(data):
    v = view_of(data, outcome="dcr", exclude=[0, 1, 6, 8])
    assert v.report is None and any("no study can be pooled" in m or "every study" in m for m in v.messages)
    fig = F.forest_figure(v.rows, v.report, v.spec)
    assert len(traces(fig, "squares")[0].x) == 0
    assert "No study can be pooled with these settings." in all_text(fig)
    assert "Not in the pool: 17 of 17 studies" in all_text(fig)


def test_forest_clips_wide_intervals_with_arrows():
    spec = EffectSpec("HR", "Hazard ratio", "OS", "A", "B", False, "Favours A", "Favours B")
    rows = [ForestStudy(0, "Wide", "pooled", est=1.5, lo=0.005, hi=450.0, weight_fixed=50, weight_random=50),
            ForestStudy(1, "Narrow", "pooled", est=0.8, lo=0.6, hi=1.1, weight_fixed=50, weight_random=50)]
    fig = F.forest_figure(rows, None, spec)
    assert tuple(fig.layout.xaxis.range) == pytest.approx((-2, 2))    # clamped to 0.01-100
    assert len(traces(fig, "arrow-triangle-left")[0].x) == 1
    assert len(traces(fig, "arrow-triangle-right")[0].x) == 1
    # no n in the rows: no n columns
    assert [t.name for t in fig.data if "header" in (t.name or "")][:2] == ["left-header-0", "right-header-0"]


def test_log_range_and_formatting():
    assert F.log_range([0.15, 1.37]) == (0.1, 2.0)
    assert F.log_range([0.8, 0.9]) == (0.5, 2.0)
    assert F.log_range([1.4, 28.75]) == (0.5, 50.0)
    assert F.log_range([]) == (0.2, 5.0)
    assert format_estimate(0.5063, 0.395, 0.6488) == "0.51 (0.40–0.65)"
    assert (format_p(0.00001, prefix="p", short=True) == "p < 0.001" and format_p(0.0183, prefix="p", short=True)
            == "p = 0.018" and format_p(0.45, prefix="p", short=True) == "p = 0.45")
    assert format_number(-1.25) == "−1.25"


# ------------------------------------------------------------------------------------------------ other figures

def test_funnel_contours_points_and_egger(data):
    v = view_of(data, outcome="os")
    fig = F.funnel_figure(v.report, v.spec)
    pts = traces(fig, "studies")[0]
    np.testing.assert_allclose(pts.x, [p["est"] for p in v.report.funnel.points])
    np.testing.assert_allclose(pts.y, [p["se"] for p in v.report.funnel.points])
    shaded = [t for t in fig.data if t.fill == "toself"]
    assert len(shaded) == 6                                   # 3 significance bands x 2 sides
    assert {t.name for t in shaded} == {"0.1 > p > 0.05", "0.05 > p > 0.01", "p < 0.01"}
    # the p = 0.05 band starts on the engine's contour: x = exp(-1.96 se) at se_max
    c95 = next(c for c in v.report.funnel.contours if c["p"] == pytest.approx(0.05))
    band = next(t for t in shaded if t.name == "0.05 > p > 0.01")
    z = -math.log(c95["lo"][1]) / v.report.funnel.se_max
    assert z == pytest.approx(1.959964, rel=1e-6)
    assert min(band.x) <= math.exp(-z * v.report.funnel.se_max)
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.range[0] > fig.layout.yaxis.range[1]  # SE reversed
    assert f"p = {v.report.egger.p:.2f}" in fig.layout.title.text


def test_funnel_shows_trim_and_fill_imputed_studies(tmp_path):
    # small studies with big effects only on one side: trim-and-fill imputes the missing ones
    rows = ["study,hr,lo,hi"] + [f"S{i},{hr},{lo},{hi}" for i, (hr, lo, hi) in enumerate([
        (0.50, 0.40, 0.62), (0.55, 0.42, 0.72), (0.45, 0.30, 0.68), (0.35, 0.18, 0.68), (0.30, 0.12, 0.75),
        (0.25, 0.08, 0.80), (0.60, 0.50, 0.72), (0.40, 0.22, 0.73)])]
    p = tmp_path / "asym.csv"
    p.write_text("\n".join(rows) + "\n")
    rep = run_meta(load_study_file(p))
    assert rep.trimfill is not None and rep.trimfill.k0 > 0
    spec = EffectSpec("Ratio", "Ratio", "file", "E", "C", False, "l", "r")
    fig = F.funnel_figure(rep, spec)
    (imp,) = traces(fig, "imputed (trim-and-fill)")
    assert len(imp.x) == rep.trimfill.k0
    assert f"{rep.trimfill.k0} imputed" in fig.layout.title.text


def test_leave_one_out_and_cumulative_rows(data):
    v = view_of(data, outcome="os")
    fig = F.leave_one_out_figure(v.report, v.spec)
    sq = traces(fig, "squares")[0]
    np.testing.assert_allclose(sq.x, [r.est for r in v.report.leave_one_out])
    labels = [t for t, _c in texts(fig, "x2") if t.startswith("Omitting")]
    assert labels == [f"Omitting {r.study}" for r in v.report.leave_one_out]
    kudo = next(r for r in v.report.leave_one_out if r.study == "Kudo M 2018")
    assert f"{kudo.i2:.0f}%" in [t for t, _c in texts(fig, "x3")]
    (all_d,) = traces(fig, "diamond-all")
    assert all_d.x[1] == pytest.approx(v.report.analysis.primary.est)

    fig = F.cumulative_figure(v.report, v.spec)
    labels = [t for t, _c in texts(fig, "x2") if t.startswith("+ ")]
    assert labels == [f"+ {r.study}" for r in v.report.cumulative]
    assert labels[0] == "+ Ikeda M 2016"                       # by year: 2016 first
    assert traces(fig, "squares")[0].x[-1] == pytest.approx(v.report.analysis.primary.est)


def test_metaregression_bubble_plot(data):
    v = view_of(data, outcome="os", moderator="platinum")
    m = v.report.metaregression
    fig = F.metaregression_figure(v.report, v.spec)
    pts = traces(fig, "studies")[0]
    assert len(pts.x) == m.k == 5 and sorted(pts.x) == [0, 0, 1, 1, 1]
    line = traces(fig, "fitted line")[0]
    np.testing.assert_allclose(line.y, np.exp(m.intercept + m.slope * np.asarray(line.x)), rtol=1e-12)
    assert list(fig.layout.xaxis.ticktext) == ["cisplatin (reference)", "oxaliplatin"]
    assert fig.layout.yaxis.type == "log" and format_p(m.slope_p, prefix="p", short=True) in fig.layout.title.text


def test_correlation_scatter(data):
    v = view_of(data, outcome="os")
    fig = F.correlation_figure(v.correlation_points, v.correlation, {"correlation_orr_os": {"rho": -0.54,
                                                                                          "p": 0.031}})
    pts = traces(fig, "studies")[0]
    assert [p["study"] for p in v.correlation_points] == v.correlation.studies
    assert len(pts.x) == v.correlation.n == 4
    assert f"ρ = {format_number(v.correlation.rho)}" in fig.layout.title.text and "ρ = −0.54, p = 0.031" in \
        fig.layout.title.text
    off = view_of(data, outcome="os", derive=())
    fig = F.correlation_figure(off.correlation_points, off.correlation)
    assert off.correlation is None and "needs ≥ 3 studies" in fig.layout.title.text


def test_effect_spec_for_generic_files(tmp_path):
    p = tmp_path / "g.csv"
    p.write_text("study,events_exp,n_exp,events_ctrl,n_ctrl\nA,10,50,5,50\nB,3,30,1,31\n")
    t = load_study_file(p)
    spec = effect_spec(t, None, "OR")
    assert spec.counts and spec.short == "OR" and spec.name == "Odds ratio" and spec.exp_label == "Experimental"
    assert spec.favours_left == "Fewer events, experimental arm"
    fig = F.forest_figure(build_view_generic(p).rows, None, spec)
    assert "Experimental<br>arm<br>events/n" in [t.text[0].strip("<b>/") for t in fig.data
                                                 if t.name == "left-header-1"][0]


def build_view_generic(path, **kw):
    from services.store import StudyData
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    data = StudyData(path.name, frame, None)
    return build_view(data, normalise_params(study_table(data), **kw))


def test_text_from_the_file_is_never_read_as_plotly_markup(tmp_path):
    """Study labels, subgroup levels and file names are data: '<', '>' and '&' become entities everywhere."""
    evil = "<b>Evil</b><img src=x onerror=alert(1)> & co"
    p = tmp_path / "evil.csv"
    p.write_text("study,hr,lo,hi,region,year\n"
                 f'"{evil}",0.5,0.3,0.8,"<i>Asia</i>",2001\nB,0.7,0.5,0.98,Europe,2002\nC,0.6,0.4,0.9,Europe,2003\n'
                 "D,,,,Asia,2004\n")
    v = build_view_generic(p, subgroup="region", moderator="year")
    spec = v.spec
    figs = [F.forest_figure(v.rows, v.report, spec, title="<script>x</script>.csv", group_label="<u>region</u>"),
            F.funnel_figure(v.report, spec), F.leave_one_out_figure(v.report, spec),
            F.cumulative_figure(v.report, spec), F.metaregression_figure(v.report, spec)]
    for fig in figs:
        payload = "\n".join([all_text(fig), fig.layout.title.text or ""]
                            + [str(x) for t in fig.data for x in (t.hovertext or [])]
                            + [str(x) for t in fig.data if t.mode != "text" for x in (t.text or [])])
        assert "<img" not in payload and "<b>Evil" not in payload and "<script>" not in payload
        assert "<i>Asia" not in payload and "<u>" not in payload
    text = all_text(figs[0])
    assert "&lt;b&gt;Evil&lt;/b&gt;&lt;img src=x onerror=alert(1)&gt; &amp; co" in text
    assert "&lt;u&gt;region&lt;/u&gt;: &lt;i&gt;Asia&lt;/i&gt;" in text
    assert "Heterogeneity: not applicable (one study)" in text          # the one-study subgroup
    assert figs[0].layout.title.text == "&lt;script&gt;x&lt;/script&gt;.csv"
