"""Kaplan-Meier estimates, log-rank and trend tests, and the two-group Cox hazard ratio.

Everything here reproduces R's ``survival`` package (version 3.5, checked in ``tests/test_survival.py``
against ``tests/reference/survival.json`` written by ``tests/reference/survival.R``):

* :func:`kaplan_meier` = ``survfit(Surv(time, event) ~ 1, conf.type = ...)``: product-limit estimate,
  Greenwood variance, the "log", "log-log" and "plain" confidence intervals of ``survfit``, the median and
  its CI as ``print.survfit`` computes them, and values at chosen times as
  ``summary(fit, times = ...)``.
* :func:`logrank_test` = ``survdiff`` (rho = 0); :func:`trend_test` = the log-rank test for trend built from
  the same observed, expected and variance pieces, ``(s'U)^2 / (s'Vs)`` with scores ``s``.
* :func:`hazard_ratio` = ``coxph(Surv(time, event) ~ x, ties = "efron")`` for a 0/1 ``x``, with Wald CI and
  Wald p, fitted by a vectorised Newton-Raphson that is O(number of events) per iteration after one sort.
* :func:`km_by_group` puts these together for one column of a cohort frame (optionally dichotomised at a
  cutoff) and gives the ``km`` JSON contract through ``to_dict()``.

Times are first passed through R's ``aeqSurv`` rule (``timefix = TRUE``): times closer than
``sqrt(machine epsilon)`` are treated as tied.

References: Kaplan & Meier (1958); Greenwood (1926); Klein & Moeschberger, *Survival Analysis* (2003), 4.3;
Brookmeyer & Crowley (1982) for the median CI; Peto & Peto (1972) / Mantel (1966) for the log-rank test;
Collett, *Modelling Survival Data in Medical Research* (2015), 2.7 for the trend test; Efron (1977) for ties;
Therneau & Grambsch, *Modeling Survival Data* (2000).
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import special, stats

from analysis import schema
from analysis.dichotomise import dichotomise, outside_range_note
from analysis.efron import EfronRows, risk_set
from analysis.errors import AnalysisError
from analysis.jsonsafe import json_num
from analysis.numeric import numbers_or_raise, to_numeric
from analysis.schema import display_name
from analysis.validate import lines_where

CI_TYPES = ("log-log", "log", "plain")
_TOL = math.sqrt(np.finfo(float).eps)
#: a numeric grouping column without a cutoff is treated as categories only up to this many distinct values
MAX_NUMERIC_LEVELS = 10


# ---------------------------------------------------------------------------------------------------------
# input checks shared by the functions below
# ---------------------------------------------------------------------------------------------------------
def _as_time_event(time: Any, event: Any, what: str = "time") -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(to_numeric(pd.Series(np.asarray(time).ravel()), errors="coerce"), dtype=float)
    e = np.asarray(to_numeric(pd.Series(np.asarray(event).ravel()), errors="coerce"), dtype=float)
    if t.shape != e.shape:
        raise AnalysisError(f"{what} and event have different lengths")
    if t.size == 0:
        raise AnalysisError("no observations with a time and an event status")
    if np.isnan(t).any() or not np.isfinite(t).all():
        raise AnalysisError(f"{what} has missing or non-finite values")
    if np.isnan(e).any():
        raise AnalysisError("event has missing values")
    if (t < 0).any():
        raise AnalysisError(f"{what} has negative values")
    if not np.isin(e, (0.0, 1.0)).all():
        raise AnalysisError("event must be coded 0 (censored) or 1 (event)")
    return timefix(t), e


def timefix(t: np.ndarray) -> np.ndarray:
    """R's ``aeqSurv``: times that differ by <= sqrt(eps) (absolutely, or relative to mean |t|) are tied."""
    t = np.asarray(t, dtype=float)
    y = np.unique(t[np.isfinite(t)])
    if y.size < 2:
        return t
    dy = np.diff(y)
    scale = np.mean(np.abs(y))
    tied = (dy <= _TOL) | ((dy / scale) <= _TOL if scale > 0 else np.zeros_like(dy, dtype=bool))
    if not tied.any():
        return t
    cuts = y[np.concatenate(([True], ~tied))]
    out = t.copy()
    fin = np.isfinite(t)
    out[fin] = cuts[np.searchsorted(cuts, t[fin], side="right") - 1]
    return out


# ---------------------------------------------------------------------------------------------------------
# Kaplan-Meier
# ---------------------------------------------------------------------------------------------------------
@dataclass
class KMResult:
    """Kaplan-Meier estimate of one group.

    ``times`` .. ``n_censor`` are the step curve at the distinct observed times (event or censoring) as
    ``survfit`` stores it; ``std_err`` is survfit's ``std.err`` (Greenwood standard error of the cumulative
    hazard, i.e. of log S). ``lo``/``hi`` are NaN where R gives NA (S = 1 for "log-log", S = 0 for "log"
    and "log-log"). ``median*`` are NaN when not reached. ``at`` holds the values at requested times.
    """

    n: int
    events: int
    median: float
    median_lo: float
    median_hi: float
    times: np.ndarray
    surv: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    n_risk: np.ndarray
    n_event: np.ndarray
    n_censor: np.ndarray
    std_err: np.ndarray
    at: list[dict]
    ci: str
    conf_level: float

    def at_time(self, t: float) -> dict | None:
        """The ``at`` row of a requested time (``{time, surv, lo, hi, at_risk}``), or None if not requested."""
        return next((a for a in self.at if abs(float(a["time"]) - float(t)) <= 1e-9), None)

    def to_dict(self, curve: bool = False) -> dict:
        out = {"n": self.n, "events": self.events, "median": json_num(self.median),
               "median_lo": json_num(self.median_lo), "median_hi": json_num(self.median_hi),
               "at": [_at_dict(a) for a in self.at], "ci": self.ci, "conf_level": self.conf_level}
        if curve:
            out["curve"] = self.curve()
        return out

    def curve(self) -> dict:
        """The step curve for plotting, starting at (0, 1) (lists; CI NaN -> None).

        Also gives the censoring marks (``censor_time``/``censor_surv``: observed times with at least one
        censoring and the curve's value there).
        """
        start = 0.0
        has_start = self.times.size > 0 and self.times[0] == start
        t = self.times if has_start else np.concatenate(([start], self.times))
        pad = (lambda a, v: a) if has_start else (lambda a, v: np.concatenate(([v], a)))
        cmask = self.n_censor > 0
        return {
            "time": [float(v) for v in t],
            "surv": [float(v) for v in pad(self.surv, 1.0)],
            "lo": [json_num(v) for v in pad(self.lo, 1.0)],
            "hi": [json_num(v) for v in pad(self.hi, 1.0)],
            "n_risk": [int(v) for v in pad(self.n_risk, self.n)],
            "censor_time": [float(v) for v in self.times[cmask]],
            "censor_surv": [float(v) for v in self.surv[cmask]],
        }


def _at_dict(a: dict) -> dict:
    return {"time": json_num(a["time"]), "surv": json_num(a["surv"]), "lo": json_num(a["lo"]), "hi": json_num(a["hi"]),
            "at_risk": int(a["at_risk"]), "estimable": bool(a.get("estimable", True))}


def _confint(surv: np.ndarray, se: np.ndarray, ci: str, conf_level: float) -> tuple[np.ndarray, np.ndarray]:
    """R survival:::survfit_confint with logse = TRUE (se is the standard error of log S)."""
    z = special.ndtri(1 - (1 - conf_level) / 2)        # = stats.norm.ppf, without its per-call overhead
    with np.errstate(divide="ignore", invalid="ignore"):
        if ci == "plain":
            se2 = se * surv * z
            lo = np.maximum(surv - se2, 0.0)
            hi = np.minimum(surv + se2, 1.0)
            bad = ~np.isfinite(se2)          # R gives NaN where S = 0 (se = Inf)
            lo[bad] = np.nan
            hi[bad] = np.nan
        elif ci == "log":
            xx = np.where(surv == 0, np.nan, surv)
            se2 = z * se
            lo = np.exp(np.log(xx) - se2)
            hi = np.minimum(np.exp(np.log(xx) + se2), 1.0)
            hi[np.isnan(xx)] = np.nan
        elif ci == "log-log":
            xx = np.where((surv == 0) | (surv == 1), np.nan, surv)
            se2 = z * se / np.log(xx)
            lo = np.exp(-np.exp(np.log(-np.log(xx)) - se2))
            hi = np.exp(-np.exp(np.log(-np.log(xx)) + se2))
        else:  # pragma: no cover - checked by callers
            raise AnalysisError(f"unknown confidence interval type; use one of {', '.join(CI_TYPES)}")
    return lo, hi


def _median_time(times: np.ndarray, curve: np.ndarray, tol: float = _TOL) -> float:
    """Where a survival (or CI) curve reaches 0.5, as R's ``print.survfit`` (``survival:::survmean``).

    The first time with S <= 0.5 (NaN points ignored); if S is exactly 0.5 there (within sqrt(eps)) and the
    curve later drops below 0.5, the midpoint between that time and the time of the drop. NaN when the curve
    never reaches 0.5. (``quantile.survfit`` differs only when the curve stays at exactly 0.5 to the last
    observed time: it then takes the midpoint to the last time, ``print.survfit`` the first time.)
    """
    keep = ~np.isnan(curve) & (curve < 0.5 + tol)
    if not keep.any():
        return math.nan
    x, y = times[keep], curve[keep]
    if abs(y[0] - 0.5) < tol:
        lower = y < y[0]
        if lower.any():
            return float((x[0] + x[int(np.argmax(lower))]) / 2)
    return float(x[0])


def kaplan_meier(time: Any, event: Any, *, ci: str = "log-log", conf_level: float = 0.95,
                 at: Sequence[float] | None = None) -> KMResult:
    """Kaplan-Meier estimate with Greenwood variance, as R ``survfit(..., conf.type = ci)``.

    ``ci``: ``"log-log"`` (R conf.type "log-log"), ``"log"`` (R's default) or ``"plain"``. The median is the
    smallest time with S(t) <= 0.5 (midpoint of a stretch where S is exactly 0.5 when the curve later drops
    below 0.5); its CI is where the lower/upper CI curves reach 0.5, by the same rule (R ``print.survfit``,
    i.e. ``summary(fit)$table``; see :func:`_median_time`).

    ``at``: times for ``summary(fit, times = at)``-style values ``{time, surv, lo, hi, at_risk}``, ``at_risk``
    being the number with time >= t. Before the first observed time S = 1 (CI 1, 1). After the last
    observed time (where R's ``summary`` drops the time) S is reported only if the curve reached 0,
    otherwise it is not estimable: NaN with ``estimable`` False (shown as "—", never as "not reached");
    ``at_risk`` is 0.
    """
    if ci not in CI_TYPES:
        raise AnalysisError(f"unknown confidence interval type; use one of {', '.join(CI_TYPES)}")
    if not (0 < conf_level < 1):
        raise AnalysisError("the confidence level must be between 0 and 1")
    t, e = _as_time_event(time, event)
    order = np.argsort(t, kind="stable")
    ts, es = t[order], e[order]
    times, start, counts = np.unique(ts, return_index=True, return_counts=True)
    n_event = np.add.reduceat(es, start)
    n_risk = ts.size - np.concatenate(([0], np.cumsum(counts)[:-1]))
    return km_from_counts(times, n_risk, n_event, counts - n_event, ci=ci, conf_level=conf_level, at=at)


def km_from_counts(times: np.ndarray, n_risk: np.ndarray, n_event: np.ndarray, n_censor: np.ndarray, *,
                   ci: str = "log-log", conf_level: float = 0.95, at: Sequence[float] | None = None) -> KMResult:
    """Kaplan-Meier estimate from a life table: distinct ``times`` (increasing) with the numbers at risk,
    events and censorings at each. :func:`kaplan_meier` tabulates raw data and calls this; the slider's hot
    path (:mod:`analysis.cutoff_split`) tabulates both groups of a cutoff at once and calls it per group.
    """
    if ci not in CI_TYPES:
        raise AnalysisError(f"unknown confidence interval type; use one of {', '.join(CI_TYPES)}")
    times = np.asarray(times, dtype=float)
    n_risk = np.asarray(n_risk, dtype=float)
    n_event = np.asarray(n_event, dtype=float)
    n_censor = np.asarray(n_censor, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        surv = np.cumprod(1.0 - n_event / n_risk)
        inc = np.where(n_event > 0, n_event / (n_risk * (n_risk - n_event)), 0.0)
    inc = np.where((n_event > 0) & (n_risk == n_event), np.inf, inc)
    std_err = np.sqrt(np.cumsum(inc))
    lo, hi = _confint(surv, std_err, ci, conf_level)

    median = _median_time(times, surv)
    median_lo = _median_time(times, lo)
    median_hi = _median_time(times, hi)

    # number at risk at t = patients with time >= t = the risk set of the first observed time >= t
    risk_after = np.append(n_risk, 0.0)
    at_rows = []
    for tt in ([] if at is None else at):
        tt = float(tt)
        if not math.isfinite(tt):
            raise AnalysisError("survival times requested must be finite numbers")
        at_risk = int(risk_after[np.searchsorted(times, tt, side="left")])
        estimable = True
        if tt < times[0]:
            row = {"time": tt, "surv": 1.0, "lo": 1.0, "hi": 1.0}
        elif tt > times[-1]:
            if surv[-1] == 0:
                row = {"time": tt, "surv": 0.0, "lo": lo[-1], "hi": hi[-1]}
            else:
                row = {"time": tt, "surv": math.nan, "lo": math.nan, "hi": math.nan}
                estimable = False
        else:
            k = int(np.searchsorted(times, tt, side="right") - 1)
            row = {"time": tt, "surv": float(surv[k]), "lo": float(lo[k]), "hi": float(hi[k])}
        row["at_risk"] = at_risk
        row["estimable"] = estimable
        at_rows.append(row)

    return KMResult(
        n=int(n_risk[0]) if n_risk.size else 0, events=int(n_event.sum()), median=median, median_lo=median_lo,
        median_hi=median_hi, times=times, surv=surv, lo=lo, hi=hi, n_risk=n_risk.astype(int),
        n_event=n_event.astype(int), n_censor=n_censor.astype(int), std_err=std_err, at=at_rows, ci=ci,
        conf_level=conf_level,
    )


def km_quantile(times: np.ndarray, surv: np.ndarray, p: float, tol: float = _TOL) -> float:
    """The time by which a share ``p`` of the patients had the event on a KM curve, as R's
    ``quantile.survfit`` (``survival:::findq``): the first time where 1 - S reaches ``p``; where 1 - S equals
    ``p`` (within ``tol``) on a flat stretch, the midpoint of that stretch (to the last time if it is the last).
    NaN when the curve never gets there."""
    x = np.concatenate(([0.0], np.asarray(times, dtype=float)))
    y = np.concatenate(([0.0], 1.0 - np.asarray(surv, dtype=float)))
    if not np.nanmax(y) >= p:
        return math.nan
    if p == 0:
        return float(x[0])
    xmax = x[-1]
    keep = ~pd.Series(y).duplicated().to_numpy()
    x, y = x[keep], y[keep]
    n = y.size
    i1 = int(np.searchsorted(y + tol, p, side="left"))
    i2 = int(np.searchsorted(y - tol, p, side="left"))
    q = (x[i1] + x[i2]) / 2 if i1 < n and i2 < n else math.nan
    if abs(p - y[-1]) < tol and i1 < n:
        q = (x[i1] + xmax) / 2
    return float(q)


@dataclass
class FollowUp:
    """Median follow-up and its interquartile range by the reverse Kaplan-Meier method."""

    median: float
    q1: float
    q3: float
    n: int
    censored: int

    def to_dict(self) -> dict:
        return {"median": json_num(self.median), "q1": json_num(self.q1), "q3": json_num(self.q3), "n": self.n,
                "censored": self.censored, "method": "reverse Kaplan-Meier"}


def reverse_km_followup(time: Any, event: Any) -> FollowUp:
    """Median follow-up with its IQR by the reverse Kaplan-Meier method (Schemper & Smith, Control Clin
    Trials 1996;17:343-6): the Kaplan-Meier estimate of the time to censoring, the events censoring it.

    Equal to R ``quantile(survfit(Surv(time, 1 - event) ~ 1), c(0.25, 0.5, 0.75))`` (:func:`km_quantile`).
    A quartile the curve does not reach is NaN.
    """
    t, e = _as_time_event(time, event)
    km = kaplan_meier(t, 1.0 - e, ci="plain")
    q1, median, q3 = (km_quantile(km.times, km.surv, p) for p in (0.25, 0.5, 0.75))
    return FollowUp(median, q1, q3, int(t.size), int((e == 0).sum()))


# ---------------------------------------------------------------------------------------------------------
# log-rank (survdiff) and trend
# ---------------------------------------------------------------------------------------------------------
@dataclass
class LogRankResult:
    """Log-rank test (R ``survdiff``, rho = 0). ``observed``/``expected`` follow ``levels``."""

    chisq: float
    df: int
    p: float
    observed: np.ndarray
    expected: np.ndarray
    variance: np.ndarray
    levels: list

    def to_dict(self) -> dict:
        return {"chisq": json_num(self.chisq), "df": self.df, "p": json_num(self.p)}


@dataclass
class TrendResult:
    """Log-rank test for trend over ordered groups (chi-square on 1 df)."""

    chisq: float
    df: int
    p: float
    scores: list[float]
    levels: list

    def to_dict(self) -> dict:
        return {"chisq": json_num(self.chisq), "df": self.df, "p": json_num(self.p),
                "levels": [str(v) for v in self.levels], "scores": [float(s) for s in self.scores]}


def _group_codes(group: Any, levels: Sequence | None, n: int) -> tuple[np.ndarray, list]:
    g = pd.Series(np.asarray(group, dtype=object).ravel() if not isinstance(group, pd.Series)
                  else group.to_numpy(dtype=object))
    if len(g) != n:
        raise AnalysisError("group and time have different lengths")
    if g.isna().any():
        raise AnalysisError("group has missing values")
    if levels is None:
        if isinstance(group, pd.Series) and isinstance(group.dtype, pd.CategoricalDtype):
            levels = [c for c in group.cat.categories if (g == c).any()]
        else:
            try:
                levels = sorted(pd.unique(g))
            except TypeError:
                levels = sorted(pd.unique(g), key=str)
    levels = list(levels)
    codes = np.full(n, -1, dtype=int)
    for i, lev in enumerate(levels):
        codes[(g == lev).to_numpy()] = i
    if (codes < 0).any():
        raise AnalysisError("group has values that are not among the given levels")
    return codes, levels


def _survdiff_pieces(t: np.ndarray, e: np.ndarray, codes: np.ndarray, k: int):
    """Observed, expected and the hypergeometric variance matrix of survdiff (rho = 0)."""
    times, tid = np.unique(t, return_inverse=True)
    m = times.size
    cnt = np.zeros((m, k))
    dth = np.zeros((m, k))
    np.add.at(cnt, (tid, codes), 1.0)
    np.add.at(dth, (tid, codes), e)
    risk = np.cumsum(cnt[::-1], axis=0)[::-1]          # at risk in each group at each time
    nr = risk.sum(axis=1)
    d = dth.sum(axis=1)
    use = d > 0
    risk, nr, d, dth = risk[use], nr[use], d[use], dth[use]
    frac = risk / nr[:, None]
    observed = dth.sum(axis=0)
    expected = (d[:, None] * frac).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        kk = np.where(nr > 1, d * (nr - d) / (nr - 1), 0.0)
    var = np.einsum("t,tg,gh->gh", kk, frac, np.eye(k)) - np.einsum("t,tg,th->gh", kk, frac, frac)
    return observed, expected, var


def logrank_test(time: Any, event: Any, group: Any, levels: Sequence | None = None) -> LogRankResult:
    """Log-rank test of equal survival in 2+ groups, equal to R ``survdiff(Surv(time, event) ~ group)``.

    chisq = U' V^- U over the groups with expected > 0 (first one dropped), df = that count - 1.
    ``levels`` fixes the group order (default: sorted, or the categories of a categorical series).
    """
    t, e = _as_time_event(time, event)
    codes, levels = _group_codes(group, levels, t.size)
    present = np.bincount(codes, minlength=len(levels)) > 0
    if present.sum() < 2:
        raise AnalysisError("the log-rank test needs at least two groups with patients")
    observed, expected, var = _survdiff_pieces(t, e, codes, len(levels))
    keep = expected > 0
    df = int(keep.sum()) - 1
    if df < 1:
        return LogRankResult(0.0, 0, math.nan, observed, expected, var, levels)
    u = (observed - expected)[keep][1:]
    v = var[np.ix_(keep, keep)][1:, 1:]
    try:
        chisq = float(u @ np.linalg.solve(v, u))
    except np.linalg.LinAlgError:
        chisq = float(u @ np.linalg.pinv(v) @ u)
    return LogRankResult(chisq, df, float(stats.chi2.sf(chisq, df)), observed, expected, var, levels)


def trend_test(time: Any, event: Any, group: Any, scores: Sequence[float] | Mapping | None = None,
               levels: Sequence | None = None) -> TrendResult:
    """Log-rank test for trend across ordered groups.

    With U = observed - expected and V the log-rank (``survdiff``) variance matrix, and scores s (default
    1, 2, ..., k in level order), chisq = (s'U)^2 / (s'Vs) on 1 df (Collett 2015, 2.7.2). R's ``survdiff``
    has no trend option; the reference in tests is computed in R from the ``survdiff`` pieces the same way.
    ``scores`` may be a sequence aligned with the levels or a mapping level -> score.
    """
    t, e = _as_time_event(time, event)
    codes, levels = _group_codes(group, levels, t.size)
    k = len(levels)
    if (np.bincount(codes, minlength=k) > 0).sum() < 2:
        raise AnalysisError("the trend test needs at least two groups with patients")
    if scores is None:
        s = np.arange(1, k + 1, dtype=float)
    elif isinstance(scores, Mapping):
        try:
            s = np.array([float(scores[lev]) for lev in levels])
        except KeyError:
            raise AnalysisError("trend test scores must be given for every group") from None
    else:
        s = np.asarray(scores, dtype=float)
        if s.shape != (k,):
            raise AnalysisError("trend test needs one score per group")
    if not np.isfinite(s).all():
        raise AnalysisError("trend test scores must be finite numbers")
    observed, expected, var = _survdiff_pieces(t, e, codes, k)
    denom = float(s @ var @ s)
    if not denom > 0:
        return TrendResult(math.nan, 1, math.nan, list(s), levels)
    chisq = float((s @ (observed - expected)) ** 2 / denom)
    return TrendResult(chisq, 1, float(stats.chi2.sf(chisq, 1)), list(s), levels)


# ---------------------------------------------------------------------------------------------------------
# two-group Cox (Efron) by Newton-Raphson
# ---------------------------------------------------------------------------------------------------------
@dataclass
class HRResult:
    """Cox proportional-hazards estimate for one 0/1 covariate (1 vs 0): Efron ties, Wald CI and p.

    When the estimate is infinite (a group without events, or more generally a monotone likelihood) the
    numeric fields are NaN and ``note`` says why.
    """

    hr: float
    lo: float
    hi: float
    p: float
    coef: float
    se: float
    n: int = 0
    events: int = 0
    loglik: float = math.nan
    iterations: int = 0
    note: str | None = None

    def to_dict(self) -> dict:
        out = {"hr": json_num(self.hr), "lo": json_num(self.lo), "hi": json_num(self.hi), "p": json_num(self.p),
               "coef": json_num(self.coef), "se": json_num(self.se)}
        if self.note:
            out["note"] = self.note
        return out


class SortedSurvival:
    """Survival data sorted once, for repeated two-group Cox fits (e.g. a live cutoff slider).

    ``hazard_ratio(x)`` costs O(n) to tabulate the groups plus O(number of events) per Newton iteration.
    """

    def __init__(self, time: Any, event: Any):
        t, e = _as_time_event(time, event)
        self.n = t.size
        self.order = np.argsort(t, kind="stable")
        ts = t[self.order]
        self.event_sorted = e[self.order]
        self.times, self.tid, self.counts = np.unique(ts, return_inverse=True, return_counts=True)
        counts = self.counts
        self.m = self.times.size
        self.n_risk = risk_set(counts).astype(float)
        d = np.bincount(self.tid, weights=self.event_sorted, minlength=self.m)
        self.d_times = d
        self.rows = EfronRows(d)                             # one row per event (Efron's ties)
        self.events = self.rows.events

    def hazard_ratio(self, group_high: Any, max_iter: int = 50, tol: float = 1e-12) -> HRResult:
        x = np.asarray(to_numeric(pd.Series(np.asarray(group_high).ravel()), errors="coerce"),
                       dtype=float)
        if x.size != self.n:
            raise AnalysisError("group and time have different lengths")
        if np.isnan(x).any():
            raise AnalysisError("group has missing values")
        if not np.isin(x, (0.0, 1.0)).all():
            raise AnalysisError("the group indicator must be coded 0 / 1")
        n1 = x.sum()
        if n1 == 0 or n1 == self.n:
            raise AnalysisError("a hazard ratio needs two groups; all patients are in one group")
        xs = x[self.order]
        c1 = np.bincount(self.tid, weights=xs, minlength=self.m)
        d1t = np.bincount(self.tid, weights=xs * self.event_sorted, minlength=self.m)
        return self.hazard_ratio_from_counts(c1, d1t, max_iter=max_iter, tol=tol)

    def hazard_ratio_from_counts(self, c1: np.ndarray, d1t: np.ndarray, max_iter: int = 50,
                                 tol: float = 1e-12) -> HRResult:
        """The fit of :meth:`hazard_ratio` from group 1's counts per distinct time (``c1`` patients,
        ``d1t`` events, aligned with ``self.times``): the slider's hot path has them tabulated already."""
        r1 = risk_set(c1)                                    # at risk, group 1
        r0 = self.n_risk - r1                                # at risk, group 0
        rows = self.rows
        a = rows.risk_sums(r0, self.d_times - d1t)           # group-0 part of the Efron denominator
        b = rows.risk_sums(r1, d1t)                          # group-1 part (times exp(beta))
        n1r, n0r = r1[rows.time], r0[rows.time]
        D1 = float(d1t.sum())
        base = dict(n=self.n, events=self.events)
        # the MLE is finite iff  #rows(no group 0 at risk) < D1 < #rows(some group 1 at risk)
        low, high = float(np.sum(n0r == 0)), float(np.sum(n1r > 0))
        if not (low < D1 < high):
            if D1 == 0:
                note = "no events in the high group: the hazard ratio is 0 and cannot be estimated"
            elif D1 == self.events:
                note = "no events in the reference group: the hazard ratio is infinite and cannot be estimated"
            else:
                note = "monotone likelihood: the hazard ratio is 0 or infinite and cannot be estimated"
            nan = math.nan
            return HRResult(nan, nan, nan, nan, nan, nan, note=note, **base)

        def loglik(beta: float) -> float:
            return beta * D1 - float(np.sum(np.log(a + b * math.exp(beta))))

        beta, ll = 0.0, loglik(0.0)
        it = 0
        for it in range(1, max_iter + 1):
            r = math.exp(beta)
            den = a + b * r
            score = D1 - float(np.sum(b * r / den))
            info = float(np.sum(a * b * r / den ** 2))
            step = score / info
            new = beta + step
            new_ll = loglik(new)
            halvings = 0
            while new_ll < ll - 1e-12 * abs(ll) and halvings < 30:
                step /= 2
                new = beta + step
                new_ll = loglik(new)
                halvings += 1
            beta, ll = new, new_ll
            if abs(step) <= tol * (1 + abs(beta)):
                break
        r = math.exp(beta)
        den = a + b * r
        info = float(np.sum(a * b * r / den ** 2))
        se = 1 / math.sqrt(info)
        z = special.ndtri(0.975)
        return HRResult(
            hr=math.exp(beta), lo=math.exp(beta - z * se), hi=math.exp(beta + z * se),
            p=float(2 * special.ndtr(-abs(beta / se))), coef=beta, se=se, loglik=ll, iterations=it, **base,
        )


def hazard_ratio(time: Any, event: Any, group_high: Any) -> HRResult:
    """Hazard ratio of group 1 vs group 0 from a Cox model with one binary covariate.

    Efron ties, Wald CI (95%) and Wald p; equal to R ``coxph(Surv(time, event) ~ x, ties = "efron")``.
    Newton-Raphson with step halving from beta = 0 on the data sorted once (see :class:`SortedSurvival`
    to reuse the sort). A group without events (HR 0 or infinite) gives NaN fields and a ``note``; fewer
    than two groups raise :class:`AnalysisError`.
    """
    return SortedSurvival(time, event).hazard_ratio(group_high)


# ---------------------------------------------------------------------------------------------------------
# KM by group for one cohort column
# ---------------------------------------------------------------------------------------------------------
@dataclass
class KMGroup:
    label: str
    level: Any
    km: KMResult

    @property
    def n(self) -> int:
        return self.km.n

    @property
    def events(self) -> int:
        return self.km.events

    @property
    def median(self) -> float:
        return self.km.median

    @property
    def median_lo(self) -> float:
        return self.km.median_lo

    @property
    def median_hi(self) -> float:
        return self.km.median_hi

    @property
    def at(self) -> list[dict]:
        return self.km.at

    def to_dict(self) -> dict:
        return {"label": self.label, "n": self.n, "events": self.events, "median": json_num(self.median),
                "median_lo": json_num(self.median_lo), "median_hi": json_num(self.median_hi),
                "at": [_at_dict(a) for a in self.at]}


@dataclass
class GroupHR:
    """Two-group hazard ratio of ``group`` vs ``reference`` (labels)."""

    group: str
    reference: str
    result: HRResult

    def to_dict(self) -> dict:
        r = self.result
        out = {"group": self.group, "reference": self.reference, "hr": json_num(r.hr), "lo": json_num(r.lo),
               "hi": json_num(r.hi), "p": json_num(r.p)}
        if r.note:
            out["note"] = r.note
        return out


@dataclass
class StratifiedKM:
    """Kaplan-Meier curves of the groups of one column, with log-rank, HR and (ordered columns) trend."""

    n: int
    events: int
    excluded: int
    groups: list[KMGroup]
    logrank: LogRankResult | None
    hr: GroupHR | None
    trend: TrendResult | None
    ci: str
    conf_level: float
    by: str | None = None
    cutoff: float | None = None
    notes: list[str] = field(default_factory=list)
    followup: FollowUp | None = None      # median follow-up (reverse KM) of the patients analysed

    def to_dict(self) -> dict:
        """The ``km`` JSON contract (no curve arrays; see :meth:`curves`)."""
        return {
            "n": self.n, "events": self.events, "excluded": self.excluded,
            "groups": [g.to_dict() for g in self.groups],
            "logrank": self.logrank.to_dict() if self.logrank else None,
            "hr": self.hr.to_dict() if self.hr else None,
            "trend": self.trend.to_dict() if self.trend else None,
            "ci": self.ci, "conf_level": self.conf_level, "by": self.by,
            "cutoff": self.cutoff, "notes": list(self.notes),
            "followup": self.followup.to_dict() if self.followup else None,
        }

    def curves(self) -> list[dict]:
        """Per group ``{"label", **KMResult.curve()}`` for the figure builder."""
        return [{"label": g.label, **g.km.curve()} for g in self.groups]


def require_survival_columns(df: pd.DataFrame, cols: Sequence[str]) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise AnalysisError("column(s) not found: " + ", ".join(f"'{c}'" for c in missing))


def time_event_columns(df: pd.DataFrame, time_col: str, event_col: str) -> tuple[pd.Series, pd.Series]:
    """Numeric time/event columns with the problems a user can fix reported by column and file line (the
    frame's rows in file order, as :func:`analysis.io.load_cohort` gives them)."""
    t = numbers_or_raise(df[time_col], lambda lines: f"column '{time_col}' has non-numeric values ({lines})")
    if (t < 0).any():
        raise AnalysisError(f"column '{time_col}' has negative times ({lines_where(t < 0)})")
    if np.isinf(t).any():
        raise AnalysisError(f"column '{time_col}' has infinite times ({lines_where(np.isinf(t))})")
    e = to_numeric(df[event_col], errors="coerce")
    bad = (e.isna() & df[event_col].notna()) | (e.notna() & ~e.isin([0, 1]))
    if bad.any():
        raise AnalysisError(f"column '{event_col}' must be coded 0 (censored) / 1 (event) ({lines_where(bad)})")
    return t, e


ordered_levels = schema.ordered_levels
reference_level = schema.reference_level


def is_ordered_column(col: str) -> bool:
    return col in schema.ORDERED_FACTORS


def km_by_group(df: pd.DataFrame, time_col: str, event_col: str, by: str | None = None,
                cutoff: float | None = None, ci: str = "log-log", at: Sequence[float] | None = None,
                conf_level: float = 0.95) -> StratifiedKM:
    """Kaplan-Meier curves by the groups of column ``by`` with log-rank test, HR and trend test.

    * ``by=None``: one group ("All patients"); no tests.
    * ``cutoff``: ``by`` must be numeric and is split by :func:`analysis.dichotomise.dichotomise`
      (groups ``"AST <= 56.5"`` then ``"AST > 56.5"``; the ``<=`` group is the HR reference).
    * categorical ``by``: groups labelled ``"Child-Pugh = A"`` in schema order; the HR (two groups only) is
      against ``analysis.schema.reference_level``; for ordered columns (``schema.ORDERED_FACTORS``) the
      log-rank test for trend is added, with scores 1..k over the levels present.
    * a numeric ``by`` without cutoff is allowed only with at most :data:`MAX_NUMERIC_LEVELS` distinct values.

    Rows with a missing time, event or ``by`` value are left out and counted in ``excluded``. With a single
    group present the log-rank test and HR are ``None`` (and a note says why).
    """
    if ci not in CI_TYPES:
        raise AnalysisError(f"unknown confidence interval type; use one of {', '.join(CI_TYPES)}")
    cols = [time_col, event_col] + ([by] if by is not None else [])
    require_survival_columns(df, cols)
    if cutoff is not None and by is None:
        raise AnalysisError("a cutoff needs a grouping column")
    t, e = time_event_columns(df, time_col, event_col)
    keep = t.notna() & e.notna()
    notes: list[str] = []

    if by is None:
        g = pd.Series("All patients", index=df.index)
        levels = ["All patients"]
        labels = {"All patients": "All patients"}
        ref = None
    elif cutoff is not None:
        dich = dichotomise(df[by], cutoff, name=by)
        g = dich.high.map({0.0: "low", 1.0: "high"})
        levels = ["low", "high"]
        labels = {"low": dich.low_label, "high": dich.high_label}
        ref = "low"
    else:
        col = df[by]
        if pd.api.types.is_bool_dtype(col):
            col = col.map({True: "Yes", False: "No"})
        if pd.api.types.is_numeric_dtype(col):
            vals = to_numeric(col, errors="coerce")
            distinct = vals.dropna().unique()
            if distinct.size > MAX_NUMERIC_LEVELS:
                raise AnalysisError(f"column '{by}' is numeric with many values; give a cutoff to split it")
            g = schema.level_texts(vals)
            levels = list(dict.fromkeys(schema.level_text(v) for v in sorted(distinct)))
        else:
            g = schema.level_texts(col)
            present = pd.unique(g[keep & g.notna()])
            levels = ordered_levels(by, present)
        labels = {lev: f"{display_name(by)} = {lev}" for lev in levels}
        ref = None
    keep = keep & g.notna()
    excluded = int((~keep).sum())
    if not keep.any():
        what = f"time, event and '{by}'" if by else "time and event"
        raise AnalysisError(f"no rows have {what} available")

    tk = t[keep].to_numpy(dtype=float)
    ek = e[keep].to_numpy(dtype=float)
    gk = g[keep].to_numpy(dtype=object)
    levels = [lev for lev in levels if np.any(gk == lev)]
    groups = []
    for lev in levels:
        m = gk == lev
        groups.append(KMGroup(label=labels[lev], level=lev,
                              km=kaplan_meier(tk[m], ek[m], ci=ci, conf_level=conf_level, at=at)))

    logrank = hr = trend = None
    if len(levels) >= 2:
        logrank = logrank_test(tk, ek, gk, levels=levels)
        if len(levels) == 2:
            if ref is None:
                ref = reference_level(by, levels)
            other = [lev for lev in levels if lev != ref][0]
            res = hazard_ratio(tk, ek, (gk == other).astype(float))
            hr = GroupHR(group=labels[other], reference=labels[ref], result=res)
        else:
            notes.append("hazard ratio given for two groups only")
        if by is not None and cutoff is None and is_ordered_column(by):
            trend = trend_test(tk, ek, gk, levels=levels)
    elif by is not None and cutoff is not None:
        notes.append(outside_range_note(by, cutoff, "high" if levels == ["high"] else "low", len(gk)))
    elif by is not None:
        notes.append(f"only one group of '{by}' has data: no log-rank test or hazard ratio")

    return StratifiedKM(
        n=int(keep.sum()), events=int(ek.sum()), excluded=excluded, groups=groups, logrank=logrank, hr=hr,
        trend=trend, ci=ci, conf_level=conf_level, by=by,
        cutoff=float(cutoff) if cutoff is not None else None, notes=notes, followup=reverse_km_followup(tk, ek),
    )


def describe_endpoints(frame: pd.DataFrame, endpoints) -> list[dict]:
    """For each endpoint (:class:`analysis.schema.Endpoint`) of a canonical frame: its fields, the patients with
    a time and an event status, the events, and the median follow-up (:func:`reverse_km_followup`, months).
    What the upload step shows before a dataset is used, and ``validate`` prints."""
    out = []
    for e in endpoints:
        t, ev = frame[e.time], frame[e.event]
        keep = (t.notna() & ev.notna()).to_numpy()
        row = {**e.to_dict(), "n": int(keep.sum()), "events": int(ev[keep].sum()), "followup": None,
               "longest": None}
        if keep.any():
            row["followup"] = reverse_km_followup(t[keep], ev[keep]).to_dict()
            row["longest"] = float(t[keep].max())
        out.append(row)
    return out


# ---------------------------------------------------------------------------------------------------------
# time grids from the data: the axis (and number-at-risk table) and the landmark times
# ---------------------------------------------------------------------------------------------------------
#: steps (months) a clinician reads a survival axis in
AXIS_STEPS = (1.0, 2.0, 3.0, 6.0, 12.0, 24.0, 36.0, 60.0, 120.0, 240.0)
#: at most this many intervals on the time axis
MAX_AXIS_INTERVALS = 8
#: landmark sets (months) in order of preference: the first that fits inside follow-up is the default
#: (1-, 5- and 10-year; 1-, 3-, 5-year; ...; 1, 2, 3 months)
LANDMARK_SETS = ((12.0, 60.0, 120.0), (12.0, 36.0, 60.0), (12.0, 24.0, 36.0), (6.0, 12.0, 24.0), (6.0, 12.0, 18.0),
                 (3.0, 6.0, 12.0), (3.0, 6.0, 9.0), (1.0, 2.0, 3.0))
#: the seed paper's landmark times of its endpoints (defaults for a cohort like the paper's)
PAPER_LANDMARKS = {"pfs": (6.0, 12.0, 24.0), "os": (12.0, 24.0, 36.0)}


def time_axis(longest: float) -> tuple[float, ...]:
    """Ticks of a survival time axis (months) from 0 past the longest follow-up: the smallest step of
    :data:`AXIS_STEPS` that needs at most :data:`MAX_AXIS_INTERVALS` intervals (a 46-month follow-up gets
    0, 6, ..., 48). The number-at-risk table is given at these times."""
    longest = float(longest) if longest and math.isfinite(longest) and longest > 0 else 1.0
    step = next((s for s in AXIS_STEPS if math.ceil(longest / s) <= MAX_AXIS_INTERVALS), AXIS_STEPS[-1])
    k = max(1, math.ceil(longest / step - 1e-9))
    return tuple(step * i for i in range(k + 1))


def default_landmarks(longest: float, preferred: Sequence[float] = ()) -> tuple[float, ...]:
    """Landmark times (months) inside follow-up: ``preferred`` (e.g. the paper's 12/24/36) when all of them are
    below the longest follow-up; otherwise the first of :data:`LANDMARK_SETS` that is (a 46-month follow-up
    gets 12, 24, 36; a 30-month one 6, 12, 18); for a follow-up under 3 months, whole months below it. A rate
    at a landmark beyond a group's last observed time is reported as not estimable."""
    longest = float(longest) if longest and math.isfinite(longest) else 0.0
    for times in ((tuple(preferred),) if preferred else ()) + LANDMARK_SETS:
        if all(0 < t < longest for t in times):
            return tuple(float(t) for t in times)
    return tuple(t for t in (1.0, 2.0) if t < longest)
