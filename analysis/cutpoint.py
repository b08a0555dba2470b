"""Honest cutoffs: the maximally selected log-rank statistic with p-values that pay for the search.

Dragging a cutoff until the log-rank p drops below 0.05 is a multiple-testing procedure: the naive p of the
best of many cutpoints is far too small (Altman et al. 1994, JNCI 86:829). This module finds the optimal
cutpoint of a continuous variable for a survival outcome and reports what it is worth:

* the **maximally selected standardised log-rank statistic** ``M`` over all candidate cutpoints, computed
  exactly as R ``maxstat::maxstat.test(Surv(time, event) ~ x, smethod = "LogRank")`` (Hothorn & Lausen 2003,
  Comput Stat Data Anal 43:121);
* p-values corrected for the selection: Lausen & Schumacher (1992, Biometrics 48:73) asymptotic
  approximation (``pmethod = "Lau92"``), Lausen, Sauerbrei & Schumacher (1994) improved Bonferroni bound
  (``pmethod = "Lau94"``) and a seeded conditional Monte Carlo (permutation) p (``pmethod = "condMC"``);
* a **bootstrap distribution** of the optimal cutpoint with a percentile interval (how stable is it?), and a
  **split-sample check**: the cutoff chosen on a random half, its hazard ratio and log-rank p on the other.

Method, as in maxstat 0.7-25 (``maxstat:::cmaxstat``, ``exactRankTests::cscores.Surv``)
-----------------------------------------------------------------------------------------------------------
Log-rank scores: with ``r_i`` the *largest* rank of ``time_i`` among tied times, ``a_i = event_i -
sum_{j: r_j <= r_i} event_j / (N - r_j + 1)`` (for tied event times this is Hothorn & Lausen's tie handling,
which differs slightly from the textbook Nelson-Aalen scores; we follow maxstat). Sort the observations by
``x``; a candidate split puts the ``m`` smallest observations in the low group (``x <= cutpoint``), where ``m``
is the number of observations below a distinct value of ``x``, restricted to ``max(1, floor(N minprop)) <= m
<= floor(N maxprop)``. The statistic is ``|S_m - E_m| / sqrt(V_m)`` with ``S_m`` the sum of the low group's
scores, ``E_m = m/N sum(a)``, ``V_m = m (N - m) / (N^2 (N - 1)) (N sum(a^2) - sum(a)^2)``; the cutpoint is the
largest ``x`` of the low group at the first maximum. Sorting once and taking cumulative sums makes all
cutpoints cost O(N log N); permutations and bootstrap replicates are computed as 2-D arrays, in blocks.

Differences from maxstat, on purpose: the Lau92 and Lau94 p-values are approximations that can exceed 1 for
small statistics (maxstat returns them raw); we clip them to 1. The permutation p is the Phipson & Smyth
(2010) estimate ``(b + 1) / (B + 1)`` with ``b`` the number of permutations whose maximal statistic is at
least the observed one (maxstat's ``condMC`` reports ``b / B`` with strict ">"); the two agree within Monte
Carlo error and ours is never 0. Statistics equal to the maximum up to 1e-12 (relative) count as tied and the
smallest such cutpoint is chosen (maxstat uses exact equality, so its choice among mathematical ties depends
on rounding).

References: Lausen B, Schumacher M (1992) Maximally selected rank statistics. Biometrics 48:73-85.
Lausen B, Sauerbrei W, Schumacher M (1994) Classification and regression trees (CART) used for the
exploration of prognostic factors measured on different scales. In: Dirschedl P, Ostermann R (eds)
Computational Statistics, Physica, 483-496. Hothorn T, Lausen B (2003) On the exact distribution of maximally
selected rank statistics. Comput Stat Data Anal 43:121-137. Phipson B, Smyth GK (2010) Permutation p-values
should never be zero. Stat Appl Genet Mol Biol 9:39.

Progress and cancellation
-------------------------
:func:`optimal_cutpoint` accepts ``progress(done, total)``. It is called with ``done = 0`` before the
resampling work starts, after each block of permutations and bootstrap replicates, and with ``done = total``
at the end (``total = permutations + bootstrap``; the quick split-sample check is not counted). To cancel,
raise any exception from the callback: it propagates unchanged out of :func:`optimal_cutpoint` and no result
is returned.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from analysis.dichotomise import PAPER_CUTOFFS
from analysis.errors import AnalysisError
from analysis.jsonsafe import json_num
from analysis.numeric import numbers_or_raise
from analysis.validate import lines_where

ProgressCallback = Callable[[int, int], None]

#: default numbers of resamples; the command line and the page use the same defaults
DEFAULT_PERMUTATIONS = 1000
DEFAULT_BOOTSTRAP = 500
DEFAULT_SEED = 20240601
#: cells per resampling block (rows x patients); bounds memory to a few tens of MB
_BLOCK_CELLS = 1 << 19
#: at least this many progress updates for a long run
_MIN_PROGRESS_STEPS = 20
#: relative tolerance when counting permuted statistics "at least as large" as the observed one
_TIE_RTOL = 1e-10
#: statistics within this relative distance of the maximum are ties; the smallest such cutpoint is chosen
_TIE_RTOL_BEST = 1e-12


# --- results -------------------------------------------------------------------------------------------

@dataclass
class BootstrapResult:
    """Bootstrap distribution of the optimal cutpoint.

    ``cutpoints`` holds the optimum of each successful replicate (a replicate fails when its resample has
    no events or no candidate cutpoint; ``n_failed`` counts those). ``lo``/``hi`` are the percentile
    interval at ``level`` (R quantile type 1, so both are values of the variable that were optima), and
    ``share_at_optimum`` is the fraction of replicates whose optimum equals the cutpoint found on all data.
    """

    lo: float | None
    hi: float | None
    cutpoints: np.ndarray
    level: float
    n_boot: int
    n_failed: int
    share_at_optimum: float | None

    def to_dict(self) -> dict:
        return {"lo": json_num(self.lo), "hi": json_num(self.hi), "level": self.level, "n_boot": self.n_boot,
                "n_failed": self.n_failed, "share_at_optimum": json_num(self.share_at_optimum),
                "cutpoints": [float(c) for c in self.cutpoints]}


@dataclass
class SplitResult:
    """Split-sample check: cutoff chosen on a random half (``n_train``), judged on the other (``n_test``).

    ``hr`` (95% CI ``hr_lo``-``hr_hi``) is the hazard ratio high (``x > cutpoint``) versus low from a Cox
    model with Efron ties (:func:`analysis.survival.hazard_ratio`), and ``p_logrank`` the log-rank p
    (:func:`analysis.survival.logrank_test`), both on the held-out half.
    ``p_train_naive`` is the unadjusted p of the selected cutpoint on the half it was chosen on, for
    contrast. Fields are None when they cannot be computed; ``note`` then says why.
    """

    cutpoint: float | None
    n_train: int
    n_test: int
    statistic_train: float | None
    p_train_naive: float | None
    n_low: int
    n_high: int
    events_test: int
    hr: float | None
    hr_lo: float | None
    hr_hi: float | None
    p_logrank: float | None
    note: str | None = None

    def to_dict(self) -> dict:
        return {"cutpoint": json_num(self.cutpoint), "n_train": self.n_train, "n_test": self.n_test,
                "statistic_train": json_num(self.statistic_train), "p_train_naive": json_num(self.p_train_naive),
                "n_low": self.n_low, "n_high": self.n_high, "events_test": self.events_test,
                "hr": json_num(self.hr), "hr_lo": json_num(self.hr_lo), "hr_hi": json_num(self.hr_hi),
                "p_logrank": json_num(self.p_logrank), "note": self.note}


@dataclass
class CutpointResult:
    """Optimal cutpoint of ``variable`` for the survival outcome (``time``, ``event``).

    ``cutpoint``: low group is ``variable <= cutpoint``. ``statistic``: maximally selected standardised
    log-rank statistic M. ``p_naive``: the two-sided normal p of M as if the cutpoint had been fixed in
    advance (what dragging a slider shows; optimistic). ``p_lau92``, ``p_lau94``, ``p_permutation``: p-values
    corrected for the search (None when not computed). ``candidates``: every candidate cutpoint with its
    statistic and low-group size. ``next_value``: the smallest value of the variable above the cutpoint
    (every cutoff in ``[cutpoint, next_value)`` gives the same two groups).
    """

    cutpoint: float
    statistic: float
    p_lau92: float
    p_lau94: float
    p_permutation: float | None
    n: int
    minprop: float
    candidates: pd.DataFrame
    bootstrap: BootstrapResult | None = None
    split: SplitResult | None = None
    maxprop: float = 0.9
    p_naive: float = float("nan")
    n_events: int = 0
    n_low: int = 0
    n_high: int = 0
    n_excluded: int = 0
    next_value: float | None = None
    n_permutations: int = 0
    seed: int | None = None
    variable: str | None = None
    time: str | None = None
    event: str | None = None

    def to_dict(self) -> dict:
        cand = [{"cutoff": float(c), "statistic": json_num(s), "n_low": int(k)}
                for c, s, k in zip(self.candidates["cutoff"], self.candidates["statistic"],
                                   self.candidates["n_low"])]
        return {
            "variable": self.variable, "time": self.time, "event": self.event,
            "cutpoint": json_num(self.cutpoint), "statistic": json_num(self.statistic),
            "p_naive": json_num(self.p_naive), "p_lau92": json_num(self.p_lau92), "p_lau94": json_num(self.p_lau94),
            "p_permutation": json_num(self.p_permutation), "n_permutations": self.n_permutations,
            "n": self.n, "n_events": self.n_events, "n_low": self.n_low, "n_high": self.n_high,
            "n_excluded": self.n_excluded, "minprop": self.minprop, "maxprop": self.maxprop,
            "next_value": json_num(self.next_value), "seed": self.seed,
            "candidates": cand,
            "bootstrap": self.bootstrap.to_dict() if self.bootstrap is not None else None,
            "split": self.split.to_dict() if self.split is not None else None,
        }


@dataclass
class ReferenceCutoff:
    """A cutoff a clinician could defend without looking at the outcome (or the seed paper's, labelled so)."""

    value: float
    label: str
    explanation: str
    kind: str = "guideline"   # "uln" (multiple of the upper limit of normal) | "guideline" | "paper"

    def to_dict(self) -> dict:
        return {"value": self.value, "label": self.label, "explanation": self.explanation, "kind": self.kind}


# --- the statistic -------------------------------------------------------------------------------------

def _logrank_scores_rows(time: np.ndarray, event: np.ndarray) -> np.ndarray:
    """maxstat's log-rank scores for each row of 2-D ``time``/``event`` arrays (rows are samples)."""
    k, n = time.shape
    order = np.argsort(time, axis=1, kind="stable")
    ts = np.take_along_axis(time, order, axis=1)
    es = np.take_along_axis(event, order, axis=1).astype(float)
    pos = np.broadcast_to(np.arange(n), (k, n))
    is_last = np.ones((k, n), dtype=bool)
    is_last[:, :-1] = ts[:, :-1] != ts[:, 1:]
    # end[j]: sorted position of the last observation tied with position j (its largest rank - 1)
    end = np.minimum.accumulate(np.where(is_last, pos, n)[:, ::-1], axis=1)[:, ::-1]
    fact = es / (n - end)                      # event / (N - maxrank + 1)
    cum = np.cumsum(fact, axis=1)
    sorted_scores = es - np.take_along_axis(cum, end, axis=1)
    scores = np.empty((k, n))
    np.put_along_axis(scores, order, sorted_scores, axis=1)
    return scores


def logrank_scores(time, event) -> np.ndarray:
    """Log-rank scores exactly as R ``exactRankTests::cscores(Surv(time, event), type = "LogRank")``."""
    t = np.asarray(time, dtype=float)[None, :]
    e = np.asarray(event, dtype=float)[None, :]
    return _logrank_scores_rows(t, e)[0]


def _split_bounds(n: int, minprop: float, maxprop: float) -> tuple[int, int]:
    """Allowed low-group sizes m, as maxstat: max(1, floor(N minprop)) <= m <= floor(N maxprop)."""
    return max(1, math.floor(n * minprop)), math.floor(n * maxprop)


def _maxstat_rows(scores: np.ndarray, x: np.ndarray, lo: int, hi: int):
    """Standardised statistics of every split of every row.

    Returns ``(xs, stat)``: ``xs`` the rows of ``x`` sorted; ``stat[:, m - 1]`` the statistic of the split
    with low group ``xs[:, :m]`` (NaN where ``m`` is not a candidate: not between distinct values, outside
    ``[lo, hi]``, or zero variance).
    """
    k, n = scores.shape
    order = np.argsort(x, axis=1, kind="stable")
    xs = np.take_along_axis(x, order, axis=1)
    ys = np.take_along_axis(scores, order, axis=1)
    m = np.arange(1, n)                                       # low-group sizes 1..n-1
    valid = xs[:, 1:] != xs[:, :-1]                           # a new distinct value starts at position m
    valid &= (m >= lo) & (m <= hi)
    ss = ys.sum(axis=1, keepdims=True)
    ss2 = (ys * ys).sum(axis=1, keepdims=True)
    expect = m / n * ss
    var = m * (n - m) / (n ** 2 * (n - 1)) * (n * ss2 - ss ** 2)
    csum = np.cumsum(ys, axis=1)[:, :-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = np.abs((csum - expect) / np.sqrt(var))
    stat = np.where(valid & ~_constant_rows(ys)[:, None], stat, np.nan)
    return xs, stat


def _constant_rows(scores: np.ndarray) -> np.ndarray:
    """Rows whose scores are all equal (up to rounding): zero variance, no statistic (e.g. no events)."""
    centred = ((scores - scores.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
    return centred <= 1e-12 * (scores ** 2).sum(axis=1)


def _best(xs: np.ndarray, stat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row: (maximal statistic, cutpoint at its first occurrence); NaN where a row has no candidate."""
    has = ~np.all(np.isnan(stat), axis=1)
    filled = np.where(np.isnan(stat), -np.inf, stat)
    best = filled.max(axis=1, keepdims=True)
    # first maximum, as maxstat's which(); statistics equal up to rounding count as tied
    idx = np.argmax(filled >= best * (1 - _TIE_RTOL_BEST), axis=1)
    best = best[:, 0]
    cut = xs[np.arange(len(idx)), idx]
    return np.where(has, best, np.nan), np.where(has, cut, np.nan)


def p_lausen92(statistic: float, minprop: float = 0.1, maxprop: float = 0.9) -> float:
    """Lausen & Schumacher (1992) approximation to P(M > b), as ``maxstat:::pLausen92`` (clipped to 1).

    ``p = 4 phi(b)/b + phi(b) (b - 1/b) log(maxprop (1 - minprop) / ((1 - maxprop) minprop))`` for b >= 1.
    """
    b = float(statistic)
    if not math.isfinite(b) or b < 1:
        return 1.0
    db = stats.norm.pdf(b)
    p = 4 * db / b + db * (b - 1 / b) * math.log((maxprop * (1 - minprop)) / ((1 - maxprop) * minprop))
    return float(min(max(p, 0.0), 1.0))


def p_lausen94(statistic: float, n: int, minprop: float = 0.1, maxprop: float = 0.9,
               m: np.ndarray | None = None) -> float:
    """Lausen, Sauerbrei & Schumacher (1994) improved Bonferroni bound, as ``maxstat:::pLausen94``.

    ``p = 2 (1 - Phi(b)) + sum_i phi'(b, t_i)`` with ``t_i = sqrt(1 - m_i (N - m_{i+1}) / ((N - m_i)
    m_{i+1}))`` over consecutive candidate low-group sizes ``m`` (default: every size between the quantiles),
    and each term ``exp(-b^2/2) / pi (t - (b^2/4 - 1) t^3 / 6)``. Clipped to 1, and never below
    ``2 (1 - Phi(b))``: the p-value of the maximum over cutpoints is at least that of one cutpoint, and far in
    the tail (b above ~15) the series' terms turn negative and maxstat returns a negative "p" (e.g. -4e-86), not
    a probability.
    """
    b = float(statistic)
    if not math.isfinite(b):
        return 1.0
    if m is None:
        m = np.arange(math.floor(n * minprop), math.floor(n * maxprop) + 1)
    m = np.asarray(m, dtype=float)
    if len(m) <= 1:
        d = 0.0
    else:
        m1, m2 = m[:-1], m[1:]
        t = np.sqrt(1 - m1 * (n - m2) / ((n - m1) * m2))
        d = float(np.sum(1 / math.pi * math.exp(-b * b / 2) * (t - (b * b / 4 - 1) * t ** 3 / 6)))
    single = 2 * stats.norm.sf(b)
    return float(min(max(single + d, single), 1.0))


# --- input checking ------------------------------------------------------------------------------------

def _numeric_column(data: pd.DataFrame, col: str, role: str) -> np.ndarray:
    if col not in data.columns:
        raise AnalysisError(f"{role} column {col!r} is not in the data "
                            f"(columns: {', '.join(map(str, data.columns))})")
    converted = numbers_or_raise(data[col], lambda lines: f"{role} column {col!r} must be numeric; non-numeric "
                                                          f"entries at {lines}", index=data.index)
    return converted.to_numpy(dtype=float, na_value=np.nan)


def _prepare(data: pd.DataFrame, time: str, event: str, variable: str):
    if not isinstance(data, pd.DataFrame):
        raise AnalysisError("the data must be a table (DataFrame)")
    t = _numeric_column(data, time, "time")
    e = _numeric_column(data, event, "event")
    x = _numeric_column(data, variable, "variable")
    complete = ~(np.isnan(t) | np.isnan(e) | np.isnan(x))
    if np.isinf(x[complete]).any() or np.isinf(t[complete]).any():
        raise AnalysisError(f"columns {time!r} and {variable!r} must hold finite numbers")
    bad_event = complete & ~np.isin(e, (0.0, 1.0))
    if bad_event.any():
        raise AnalysisError(f"event column {event!r} must be coded 0 (censored) / 1 (event); other codes at "
                            f"{lines_where(bad_event, index=data.index)}")
    bad_time = complete & (t < 0)
    if bad_time.any():
        raise AnalysisError(f"time column {time!r} has negative times at {lines_where(bad_time, index=data.index)}")
    n_excluded = int((~complete).sum())
    t, e, x = t[complete], e[complete], x[complete]
    if len(t) < 4:
        raise AnalysisError(f"too few patients with {time!r}, {event!r} and {variable!r} all present "
                            f"({len(t)}); at least 4 are needed")
    if e.sum() == 0:
        raise AnalysisError(f"no events in column {event!r} among the patients with {variable!r} present; "
                            f"a cutpoint cannot be chosen")
    return t, e, x, n_excluded


def _check_props(minprop: float, maxprop: float | None) -> tuple[float, float]:
    try:
        minprop = float(minprop)
        maxprop = 1.0 - minprop if maxprop is None else float(maxprop)
    except (TypeError, ValueError):
        raise AnalysisError("minprop and maxprop must be numbers") from None
    if not (0 < minprop < maxprop < 1):
        raise AnalysisError("the cutpoint search range needs 0 < minprop < maxprop < 1 "
                            "(e.g. minprop 0.1: each group keeps at least 10% of the patients)")
    return minprop, maxprop


def _count(value, name: str) -> int:
    if isinstance(value, bool) or not float(value).is_integer() or int(value) < 0:
        raise AnalysisError(f"{name} must be a whole number >= 0")
    return int(value)


# --- resampling ----------------------------------------------------------------------------------------

class _Progress:
    def __init__(self, callback: ProgressCallback | None, total: int):
        self.callback, self.total, self.done = callback, total, 0

    def advance(self, k: int) -> None:
        self.done += k
        if self.callback is not None:
            self.callback(self.done, self.total)


def _block_size(n: int, b: int) -> int:
    by_memory = max(1, _BLOCK_CELLS // max(n, 1))
    by_progress = max(1, -(-b // _MIN_PROGRESS_STEPS))
    return max(1, min(b, by_memory, by_progress))


def _permutation_p(scores_sorted: np.ndarray, m: np.ndarray, observed: float, b: int,
                   rng: np.random.Generator, progress: _Progress) -> float:
    """Conditional Monte Carlo p of the maximal statistic: permute scores against the sorted variable."""
    n = len(scores_sorted)
    ss = scores_sorted.sum()
    expect = m / n * ss
    sd = np.sqrt(m * (n - m) / (n ** 2 * (n - 1)) * (n * np.sum(scores_sorted ** 2) - ss ** 2))
    threshold = observed * (1 - _TIE_RTOL)
    exceed = 0
    done = 0
    block = _block_size(n, b)
    while done < b:
        k = min(block, b - done)
        perm = rng.permuted(np.broadcast_to(scores_sorted, (k, n)), axis=1)
        csum = np.cumsum(perm, axis=1)[:, m - 1]
        maxima = np.max(np.abs(csum - expect) / sd, axis=1)
        exceed += int(np.count_nonzero(maxima >= threshold))
        done += k
        progress.advance(k)
    return (exceed + 1) / (b + 1)


def _bootstrap(t, e, x, lo, hi, b, level, rng, progress, optimum) -> BootstrapResult:
    n = len(t)
    cuts = []
    done = 0
    block = _block_size(n, b)
    while done < b:
        k = min(block, b - done)
        idx = rng.integers(0, n, size=(k, n))
        sc = _logrank_scores_rows(t[idx], e[idx])
        xs, stat = _maxstat_rows(sc, x[idx], lo, hi)
        best, cut = _best(xs, stat)
        cuts.append(cut[~np.isnan(best)])
        done += k
        progress.advance(k)
    cuts = np.concatenate(cuts) if cuts else np.array([])
    alpha = (1 - level) / 2
    if len(cuts):
        lo_q, hi_q = np.quantile(cuts, [alpha, 1 - alpha], method="inverted_cdf")
        share = float(np.mean(cuts == optimum))
    else:
        lo_q = hi_q = share = None
    return BootstrapResult(lo=json_num(lo_q), hi=json_num(hi_q), cutpoints=cuts, level=level, n_boot=b,
                           n_failed=int(b - len(cuts)), share_at_optimum=share)


def _two_group_survival(t, e, high):
    """Hazard ratio high vs low (Cox, Efron ties, Wald 95% CI; NaN + note when not estimable) and log-rank p.

    Uses the project's survival engine (:mod:`analysis.survival`, checked against R ``coxph`` and
    ``survdiff``).
    """
    from analysis.survival import hazard_ratio, logrank_test

    p = logrank_test(t, e, high.astype(int)).p
    hr = hazard_ratio(t, e, high.astype(int))
    return hr, float(p)


def _split_sample(t, e, x, minprop, maxprop, rng) -> SplitResult:
    n = len(t)
    order = rng.permutation(n)
    n_train = n // 2
    tr, te = order[:n_train], order[n_train:]
    empty = dict(n_train=n_train, n_test=n - n_train, n_low=0, n_high=0, events_test=int(e[te].sum()),
                 hr=None, hr_lo=None, hr_hi=None, p_logrank=None)
    lo, hi = _split_bounds(n_train, minprop, maxprop)
    if e[tr].sum() == 0:
        return SplitResult(cutpoint=None, statistic_train=None, p_train_naive=None,
                           note="no events in the training half", **empty)
    xs, stat = _maxstat_rows(logrank_scores(t[tr], e[tr])[None, :], x[tr][None, :], lo, hi)
    best, cut = _best(xs, stat)
    if np.isnan(best[0]):
        return SplitResult(cutpoint=None, statistic_train=None, p_train_naive=None,
                           note="no candidate cutpoint in the training half", **empty)
    cut_v, stat_v = float(cut[0]), float(best[0])
    high = x[te] > cut_v
    result = SplitResult(cutpoint=cut_v, statistic_train=stat_v, p_train_naive=float(2 * stats.norm.sf(stat_v)),
                         **{**empty, "n_low": int((~high).sum()), "n_high": int(high.sum())})
    if high.all() or (~high).all():
        result.note = "the cutoff puts every held-out patient in one group"
        return result
    if e[te].sum() == 0:
        result.note = "no events in the held-out half"
        return result
    hr, result.p_logrank = _two_group_survival(t[te], e[te], high)
    result.hr, result.hr_lo, result.hr_hi = json_num(hr.hr), json_num(hr.lo), json_num(hr.hi)
    if result.hr is None:
        result.note = f"held-out half: {hr.note or 'the hazard ratio cannot be estimated'} (log-rank p given)"
    return result


# --- public API ----------------------------------------------------------------------------------------

def optimal_cutpoint(data: pd.DataFrame, time: str, event: str, variable: str, *, minprop: float = 0.1,
                     maxprop: float | None = None, permutations: int = DEFAULT_PERMUTATIONS,
                     bootstrap: int = DEFAULT_BOOTSTRAP, split: bool = True, seed: int | None = DEFAULT_SEED,
                     level: float = 0.95, progress: ProgressCallback | None = None) -> CutpointResult:
    """Maximally selected log-rank statistic of ``variable`` for the outcome (``time``, ``event``).

    Rows with any of the three columns missing are excluded (counted in ``n_excluded``). ``event`` must be
    0/1. Candidate cutpoints are the distinct values of ``variable`` that leave at least ``floor(N minprop)``
    patients (and at least one) in the low group and at most ``floor(N maxprop)`` (default ``1 - minprop``),
    as R maxstat. ``permutations`` (B of the conditional Monte Carlo p; 0 = skip), ``bootstrap`` (replicates
    of the cutpoint distribution; 0 = skip) and ``split`` (split-sample check) use independent random
    streams ``np.random.SeedSequence(seed).spawn(3)`` (in that order), so the same seed gives the same answer
    and changing one B does not change the others. The split puts the first ``N // 2`` rows of
    ``default_rng(stream[2]).permutation(N)`` (positions among the complete rows) in the training half.
    ``progress(done, total)`` is called during resampling; raise from it to cancel (the exception
    propagates, no result is returned).

    Reference: Hothorn T, Lausen B (2003) On the exact distribution of maximally selected rank statistics.
    Comput Stat Data Anal 43:121-137; Lausen B, Schumacher M (1992) Biometrics 48:73-85.
    """
    minprop, maxprop = _check_props(minprop, maxprop)
    permutations = _count(permutations, "the number of permutations")
    bootstrap = _count(bootstrap, "the number of bootstrap replicates")
    if not 0 < float(level) < 1:
        raise AnalysisError("the interval level must be between 0 and 1")
    t, e, x, n_excluded = _prepare(data, time, event, variable)
    n = len(t)
    lo, hi = _split_bounds(n, minprop, maxprop)
    scores = logrank_scores(t, e)
    if _constant_rows(scores[None, :])[0]:
        raise AnalysisError(f"every patient has the same log-rank score for {time!r} / {event!r} (e.g. all "
                            f"events at one time): the outcome cannot separate any two groups")
    xs, stat = _maxstat_rows(scores[None, :], x[None, :], lo, hi)
    cand = ~np.isnan(stat[0])
    if not cand.any():
        raise AnalysisError(f"column {variable!r} has no cutpoint that leaves at least {minprop:.0%} of the "
                            f"{n} patients in each group (too few distinct values); lower minprop")
    m = np.flatnonzero(cand) + 1
    cand_stat = stat[0, cand]
    best, cut = _best(xs, stat)
    statistic, cutpoint = float(best[0]), float(cut[0])
    above = x[x > cutpoint]
    candidates = pd.DataFrame({"cutoff": xs[0, m - 1], "statistic": cand_stat, "n_low": m})

    ss = np.random.SeedSequence(seed)
    rng_perm, rng_boot, rng_split = (np.random.default_rng(s) for s in ss.spawn(3))
    tracker = _Progress(progress, permutations + bootstrap)
    if progress is not None:
        progress(0, tracker.total)
    p_perm = None
    if permutations:
        order = np.argsort(x, kind="stable")
        p_perm = _permutation_p(scores[order], m, statistic, permutations, rng_perm, tracker)
    boot = _bootstrap(t, e, x, lo, hi, bootstrap, float(level), rng_boot, tracker, cutpoint) if bootstrap else None
    split_res = _split_sample(t, e, x, minprop, maxprop, rng_split) if split else None

    return CutpointResult(
        cutpoint=cutpoint, statistic=statistic,
        p_lau92=p_lausen92(statistic, minprop, maxprop),
        p_lau94=p_lausen94(statistic, n, minprop, maxprop, m=m),
        p_permutation=p_perm, n=n, minprop=minprop, candidates=candidates, bootstrap=boot, split=split_res,
        maxprop=maxprop, p_naive=float(2 * stats.norm.sf(statistic)), n_events=int(e.sum()),
        n_low=int((x <= cutpoint).sum()), n_high=int((x > cutpoint).sum()), n_excluded=n_excluded,
        next_value=float(above.min()) if len(above) else None, n_permutations=permutations,
        seed=seed, variable=variable, time=time, event=event,
    )


def is_data_driven_optimum(current_cutoff: float, result: CutpointResult, tol: float = 1e-9) -> bool:
    """True when ``current_cutoff`` is (equivalent to) the optimum ``result`` found on the same data.

    Equivalent means it splits the patients into the same two groups: within ``tol`` (relative to the
    cutpoint's magnitude, at least absolute ``tol``) of the cutpoint, or between the cutpoint and the next
    observed value (a paper's "56.5" between observed 56 and 57 is the same split as 56). The page then warns
    that the naive p of this cutoff is optimistic and shows the corrected ones.
    """
    if current_cutoff is None or result is None:
        return False
    c = float(current_cutoff)
    if not math.isfinite(c):
        return False
    cut = float(result.cutpoint)
    if abs(c - cut) <= tol * max(1.0, abs(cut)):
        return True
    upper = result.next_value
    return c > cut and (upper is None or c < float(upper))


# --- reference cutoffs ---------------------------------------------------------------------------------

_PAPER = "Chen et al. (seed paper), data-derived"
_PAPER_NOTE = ("chosen on the seed paper's own cohort by an optimal-cutoff search; not an external threshold, "
               "so its p-value on that cohort is optimistic")
# the seed paper's cutoffs: one list, in analysis.dichotomise (imported above)

#: upper limits of normal used for CTCAE v5.0 multiples (CTCAE grades liver tests as multiples of the
#: local laboratory's ULN; these are common adult reference limits -- use your laboratory's if it differs)
ULN = {"ast": 40.0, "alt": 40.0, "alp": 125.0, "tb": 21.0}


def _uln(column: str, unit: str, multiples: tuple[tuple[float, str], ...], what: str) -> list[ReferenceCutoff]:
    uln = ULN[column]
    out = []
    for k, meaning in multiples:
        value = round(uln * k, 4)
        label = "ULN" if k == 1 else f"{k:g}x ULN"
        out.append(ReferenceCutoff(value, f"{label} ({value:g} {unit})",
                                   f"{what}: {meaning} (CTCAE v5.0, ULN taken as {uln:g} {unit}).", "uln"))
    return out


_GUIDELINE: dict[str, list[ReferenceCutoff]] = {
    "ast": _uln("ast", "U/L", ((1, "upper limit of normal; above it is CTCAE grade 1"),
                               (3, "above it is CTCAE grade 2"), (5, "above it is CTCAE grade 3")), "AST"),
    "alt": _uln("alt", "U/L", ((1, "upper limit of normal; above it is CTCAE grade 1"),
                               (3, "above it is CTCAE grade 2"), (5, "above it is CTCAE grade 3")), "ALT"),
    "alp": _uln("alp", "U/L", ((1, "upper limit of normal; above it is CTCAE grade 1"),
                               (2.5, "above it is CTCAE grade 2"), (5, "above it is CTCAE grade 3")), "ALP"),
    "tb": _uln("tb", "µmol/L", ((1, "upper limit of normal (1.2 mg/dL); above it is CTCAE grade 1"),
                                (1.5, "above it is CTCAE grade 2"), (3, "above it is CTCAE grade 3")),
               "Total bilirubin") + [
        ReferenceCutoff(34.0, "Child-Pugh 34 µmol/L (2 mg/dL)",
                        "Bilirubin above 34 µmol/L scores 2 Child-Pugh points instead of 1 "
                        "(Pugh et al. 1973).")],
    "albumin": [ReferenceCutoff(35.0, "Child-Pugh 35 g/L",
                                "Albumin below 35 g/L scores 2 Child-Pugh points instead of 1 "
                                "(Pugh et al. 1973).")],
    "nlr": [ReferenceCutoff(3.0, "NLR 3", "Common prognostic threshold for systemic inflammation in HCC "
                                          "(e.g. Templeton et al. 2014 meta-analysis, J Natl Cancer Inst)."),
            ReferenceCutoff(5.0, "NLR 5", "Threshold of the first HCC studies of NLR (Gomez et al. 2008, "
                                          "J Surg Res; Halazun et al. 2009, Ann Surg).")],
    "afp": [ReferenceCutoff(20.0, "AFP 20 ng/mL", "Usual upper reference limit and surveillance threshold "
                                                  "for HCC."),
            ReferenceCutoff(100.0, "AFP 100 ng/mL", "CRAFITY score threshold under immunotherapy "
                                                     "(Scheiner et al. 2022, J Hepatol)."),
            ReferenceCutoff(400.0, "AFP 400 ng/mL", "Diagnostic level for HCC and eligibility threshold of "
                                                     "REACH-2 (ramucirumab; Zhu et al. 2019, Lancet Oncol).")],
    "crp": [ReferenceCutoff(10.0, "CRP 10 mg/L (1 mg/dL)", "CRAFITY score threshold under immunotherapy "
                                                            "(Scheiner et al. 2022, J Hepatol).")],
    "pivka_ii": [ReferenceCutoff(40.0, "PIVKA-II 40 mAU/mL", "Usual upper reference limit of PIVKA-II / DCP.")],
    "tumor_size_mm": [ReferenceCutoff(50.0, "5 cm", "Largest single tumour within the Milan criteria "
                                                    "(Mazzaferro et al. 1996, N Engl J Med)."),
                      ReferenceCutoff(100.0, "10 cm", "Conventional definition of 'huge' HCC.")],
    "age": [ReferenceCutoff(65.0, "65 years", "Conventional threshold for older adults in oncology trials.")],
}


def clinical_reference_cutoffs(column: str) -> list[ReferenceCutoff]:
    """Outcome-independent cutoffs for a canonical column, then the seed paper's data-derived one.

    Liver tests: multiples of the upper limit of normal (ULN) that bound CTCAE v5.0 grades; CTCAE uses the
    local laboratory's ULN, here AST/ALT 40 U/L, ALP 125 U/L and total bilirubin 21 µmol/L (1.2 mg/dL, a
    common adult limit; some laboratories use 17.1 µmol/L = 1.0 mg/dL). Others: Child-Pugh, NLR, AFP, CRAFITY,
    Milan thresholds. Unknown columns give ``[]``. Sorted by value within each kind; the paper's last.
    """
    key = str(column).strip().lower()
    out = sorted(_GUIDELINE.get(key, []), key=lambda r: (r.kind != "uln", r.value))
    if key in PAPER_CUTOFFS:
        out.append(ReferenceCutoff(PAPER_CUTOFFS[key], _PAPER, f"{_PAPER_NOTE}.", "paper"))
    return [ReferenceCutoff(r.value, r.label, r.explanation, r.kind) for r in out]
