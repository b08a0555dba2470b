"""The slider's hot path equals km_by_group (itself checked against R and lifelines), number for number."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter, KaplanMeierFitter
from lifelines.statistics import logrank_test as ll_logrank

from analysis.cutoff_split import CutoffSplitter
from analysis.errors import AnalysisError
from analysis.survival import km_by_group

REF = Path(__file__).parent / "reference" / "data"
AT = (0.0, 100.0, 180.0, 365.0, 730.0, 5000.0)


def same(a, b):
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return a == pytest.approx(b, rel=1e-12, abs=1e-12)


def assert_equal(fast, slow):
    assert (fast.n, fast.events, fast.excluded) == (slow.n, slow.events, slow.excluded)
    assert [g.label for g in fast.groups] == [g.label for g in slow.groups]
    for gf, gs in zip(fast.groups, slow.groups):
        for field in ("times", "surv", "lo", "hi", "n_risk", "n_event", "n_censor", "std_err"):
            np.testing.assert_allclose(getattr(gf.km, field), getattr(gs.km, field), rtol=1e-12, equal_nan=True)
        for field in ("median", "median_lo", "median_hi"):
            assert same(getattr(gf.km, field), getattr(gs.km, field))
        for af, as_ in zip(gf.km.at, gs.km.at):
            assert af["at_risk"] == as_["at_risk"]
            for k in ("surv", "lo", "hi"):
                assert same(af[k], as_[k])
    if slow.logrank is None:
        assert fast.logrank is None
    else:
        assert fast.logrank.chisq == pytest.approx(slow.logrank.chisq, rel=1e-10)
        assert fast.logrank.p == pytest.approx(slow.logrank.p, rel=1e-9)
        assert fast.logrank.df == slow.logrank.df
    if slow.hr is None:
        assert fast.hr is None
    else:
        assert (fast.hr.group, fast.hr.reference) == (slow.hr.group, slow.hr.reference)
        for k in ("hr", "lo", "hi", "p"):
            assert same(getattr(fast.hr.result, k), getattr(slow.hr.result, k))
    fd, sd = fast.to_dict(), slow.to_dict()
    fd.pop("logrank"), sd.pop("logrank")           # compared above to 1e-10 (summation order differs)
    assert fd == sd


@pytest.mark.parametrize("marker,cutoffs", [("age", (50, 62.5, 63, 70)), ("ph_karno", (60, 80, 90)),
                                            ("wt_loss", (0, 7.5, 20))])
@pytest.mark.parametrize("ci", ["log-log", "log", "plain"])
def test_lung_equals_km_by_group(marker, cutoffs, ci):
    df = pd.read_csv(REF / "lung.csv")
    splitter = CutoffSplitter(df, "time", "status", marker)
    for cut in cutoffs:
        fast = splitter.split(cut, ci=ci, at=AT)
        slow = km_by_group(df, "time", "status", by=marker, cutoff=cut, ci=ci, at=AT)
        assert_equal(fast, slow)


def test_ties_and_a_group_without_events():
    rng = np.random.default_rng(3)
    n = 400
    df = pd.DataFrame({"t": rng.integers(1, 30, n).astype(float), "e": rng.integers(0, 2, n).astype(float),
                       "x": rng.integers(0, 10, n).astype(float)})
    df.loc[df.x >= 9, "e"] = 0.0            # the high group at cutoff 8.5 has no events
    df.loc[rng.choice(n, 20, replace=False), "x"] = np.nan
    splitter = CutoffSplitter(df, "t", "e", "x")
    for cut in (0, 3, 4.5, 8.5):
        assert_equal(splitter.split(cut, at=(0, 5, 10, 29, 40)),
                     km_by_group(df, "t", "e", by="x", cutoff=cut, at=(0, 5, 10, 29, 40)))
    no_events = splitter.split(8.5)
    assert no_events.groups[1].events == 0 and math.isnan(no_events.hr.result.hr) and no_events.hr.result.note


def test_one_group_only():
    df = pd.DataFrame({"t": [1.0, 2, 3, 4], "e": [1.0, 0, 1, 1], "x": [1.0, 2, 3, 4]})
    fast = CutoffSplitter(df, "t", "e", "x").split(10)
    assert_equal(fast, km_by_group(df, "t", "e", by="x", cutoff=10))
    assert fast.logrank is None and fast.hr is None and len(fast.groups) == 1


def test_against_lifelines_oracle():
    df = pd.read_csv(REF / "veteran.csv")
    res = CutoffSplitter(df, "time", "status", "karno").split(55)
    high = df.karno > 55
    for g, mask in zip(res.groups, (~high, high)):
        kmf = KaplanMeierFitter().fit(df.time[mask], df.status[mask])
        np.testing.assert_allclose(g.km.surv, kmf.survival_function_.iloc[1:, 0].to_numpy(), rtol=1e-10)
    lr = ll_logrank(df.time[~high], df.time[high], df.status[~high], df.status[high])
    assert res.logrank.chisq == pytest.approx(lr.test_statistic, rel=1e-8)
    cph = CoxPHFitter().fit(pd.DataFrame({"t": df.time, "e": df.status, "x": high.astype(float)}), "t", "e",
                            fit_options={"precision": 1e-12})
    assert res.hr.result.hr == pytest.approx(float(cph.hazard_ratios_["x"]), rel=1e-6)


def test_bad_input():
    df = pd.DataFrame({"t": [1.0, 2], "e": [1.0, 0], "x": ["a", "b"]})
    with pytest.raises(AnalysisError, match="numeric"):
        CutoffSplitter(df, "t", "e", "x")
    with pytest.raises(AnalysisError, match="not found"):
        CutoffSplitter(df, "t", "e", "nope")
    with pytest.raises(AnalysisError):
        CutoffSplitter(pd.DataFrame({"t": [1.0], "e": [1.0], "x": [1.0]}), "t", "e", "x").split(float("nan"))
