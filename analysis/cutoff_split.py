"""The live-slider hot path: KM curves, log-rank test and two-group HR for any cutoff, after one sort.

:class:`CutoffSplitter` sorts a cohort by time once per (dataset, endpoint, marker). Each cutoff then costs
O(n) vectorised numpy: one comparison for the group indicator, a few ``bincount`` tabulations over the distinct
times, cumulative sums for the numbers at risk, the Kaplan-Meier product and Greenwood sums per group, the
log-rank observed/expected/variance, and Newton steps for the Efron Cox HR on the pre-sorted event rows.

The result is the same :class:`analysis.survival.StratifiedKM` that :func:`analysis.survival.km_by_group`
returns for ``by=marker, cutoff=x``, number for number (tested against it, and through it against R and
lifelines, including ties and groups without events).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import special

from analysis.dichotomise import group_labels, outside_range_note
from analysis.errors import AnalysisError
from analysis.numeric import to_numeric
from analysis.survival import (CI_TYPES, GroupHR, KMGroup, LogRankResult, SortedSurvival, StratifiedKM,
                               time_event_columns, km_from_counts, reverse_km_followup, timefix)


class CutoffSplitter:
    """Sorted survival data of one endpoint with one numeric marker, ready to split at any cutoff.

    Rows with a missing time, event or marker are dropped once here and counted in ``excluded``.
    """

    def __init__(self, df: pd.DataFrame, time_col: str, event_col: str, marker: str):
        for col in (time_col, event_col, marker):
            if col not in df.columns:
                raise AnalysisError(f"column(s) not found: '{col}'")
        t, e = time_event_columns(df, time_col, event_col)
        x = to_numeric(df[marker], errors="coerce")
        if x.isna().sum() > df[marker].isna().sum():
            raise AnalysisError(f"column '{marker}' must be numeric to be cut")
        keep = (t.notna() & e.notna() & x.notna()).to_numpy()
        self.marker = marker
        self.n_total = len(df)
        self.excluded = int((~keep).sum())
        tt = timefix(t.to_numpy(dtype=float)[keep])
        ee = e.to_numpy(dtype=float)[keep]
        xx = x.to_numpy(dtype=float)[keep]
        if tt.size == 0:
            raise AnalysisError(f"no rows have time, event and '{marker}' available")
        self._cox = cox = SortedSurvival(tt, ee)          # the one sort: order, distinct times, event rows
        self.order, self.times, self.tid, self.counts, self.d = cox.order, cox.times, cox.tid, cox.counts, cox.d_times
        self.x_sorted = xx[self.order]
        self.e_sorted = cox.event_sorted
        self.n = int(tt.size)
        self.events = int(ee.sum())
        self.followup = reverse_km_followup(tt, ee)

    def split(self, cutoff: float, ci: str = "log-log", at: Sequence[float] | None = None,
              conf_level: float = 0.95) -> StratifiedKM:
        """KM per group, log-rank and HR at ``cutoff`` (low group: marker <= cutoff, the HR reference)."""
        if ci not in CI_TYPES:
            raise AnalysisError(f"unknown confidence interval type; use one of {', '.join(CI_TYPES)}")
        cut, low_label, high_label = group_labels(self.marker, cutoff)
        high_sorted = self.x_sorted > cut
        m = self.times.size
        c1 = np.bincount(self.tid, weights=high_sorted, minlength=m)
        d1 = np.bincount(self.tid, weights=high_sorted * self.e_sorted, minlength=m)
        c0, d0 = self.counts - c1, self.d - d1
        r1 = np.cumsum(c1[::-1])[::-1]
        r0 = np.cumsum(c0[::-1])[::-1]
        groups = []
        for label, level, c, dd, r in ((low_label, "low", c0, d0, r0), (high_label, "high", c1, d1, r1)):
            present = c > 0
            if not present.any():
                continue
            km = km_from_counts(self.times[present], r[present], dd[present], (c - dd)[present], ci=ci,
                                conf_level=conf_level, at=at)
            groups.append(KMGroup(label=label, level=level, km=km))
        logrank = hr = None
        notes: list[str] = []
        if len(groups) == 2:
            logrank = self._logrank(d1, r1, r0)
            res = self._cox.hazard_ratio_from_counts(c1, d1)
            hr = GroupHR(group=high_label, reference=low_label, result=res)
        else:
            notes.append(outside_range_note(self.marker, cut, groups[0].level, self.n))
        return StratifiedKM(n=self.n, events=self.events, excluded=self.excluded, groups=groups, logrank=logrank,
                            hr=hr, trend=None, ci=ci, conf_level=conf_level, by=self.marker,
                            cutoff=cut, notes=notes, followup=self.followup)

    def _logrank(self, d1: np.ndarray, r1: np.ndarray, r0: np.ndarray) -> LogRankResult:
        """Two-group log-rank (R survdiff, rho = 0) from the tabulated counts."""
        use = self.d > 0
        d, r_1, r = self.d[use], r1[use], (r1 + r0)[use]
        frac = r_1 / r
        observed1, expected1 = float(d1[use].sum()), float((d * frac).sum())
        with np.errstate(divide="ignore", invalid="ignore"):
            kk = np.where(r > 1, d * (r - d) / (r - 1), 0.0)
        var = float((kk * frac * (1 - frac)).sum())
        events = float(d.sum())
        observed = np.array([events - observed1, observed1])
        expected = np.array([events - expected1, expected1])
        variance = np.array([[var, -var], [-var, var]])
        if not var > 0:
            return LogRankResult(0.0, 0, math.nan, observed, expected, variance, ["low", "high"])
        chisq = (observed1 - expected1) ** 2 / var
        return LogRankResult(chisq, 1, float(special.chdtrc(1, chisq)), observed, expected, variance,
                             ["low", "high"])
