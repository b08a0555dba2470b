"""The 'how much is this cutoff worth' panel shows what the maxstat result says."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis.cutpoint import clinical_reference_cutoffs, is_data_driven_optimum, optimal_cutpoint
import plotly.graph_objects as go

from components.cutpoint_figure import CUTOFF_SHAPE, reference_list, statistic_chart, worth_at_cutoff, worth_summary

DEMO = pd.read_csv(Path(__file__).resolve().parents[1] / "data" / "demo_cohort.csv")


def result(full=False):
    return optimal_cutpoint(DEMO, "pfs_months", "pfs_event", "ast", permutations=200 if full else 0,
                            bootstrap=50 if full else 0, split=full, seed=1)


def test_chart_marks_current_cutoff_optimum_and_references():
    r = result()
    refs = clinical_reference_cutoffs("ast")
    fig = statistic_chart(r, 56.5, refs)
    curve, optimum = fig.data
    assert list(curve.x) == list(r.candidates["cutoff"]) and list(curve.y) == list(r.candidates["statistic"])
    assert optimum.x == (r.cutpoint,) and optimum.y == (r.statistic,)
    lines = [(s.x0, s.line.dash) for s in fig.layout.shapes]
    assert lines[CUTOFF_SHAPE] == (56.5, "solid")                    # the current cutoff, where the page moves it
    assert fig.layout.shapes[CUTOFF_SHAPE].visible
    assert not statistic_chart(r, None, refs).layout.shapes[CUTOFF_SHAPE].visible
    go.Figure(fig.to_plotly_json(), skip_invalid=False)              # built unvalidated for speed: valid anyway
    in_range = [ref.value for ref in refs if r.candidates.cutoff.min() <= ref.value <= r.candidates.cutoff.max()]
    assert sorted(x for x, dash in lines if dash == "dash") == sorted(in_range)


def test_summary_warns_only_at_the_data_driven_optimum():
    r = result(full=True)
    text = str(worth_summary(r, True))
    assert "permutation" in text and "Bootstrap" in text and "optimistic" not in text
    at = str(worth_at_cutoff(0.01, is_data_driven_optimum(r.cutpoint, r)))
    assert "optimistic" in at and "0.010" in at
    away = r.candidates["cutoff"].iloc[0]
    assert not is_data_driven_optimum(away, r)
    assert "optimistic" not in str(worth_at_cutoff(0.2, False))
    assert "Chen et al." in str(reference_list(clinical_reference_cutoffs("ast")))
