"""Small-study effects and related diagnostics: Egger's test, trim-and-fill, funnel plot data, Spearman.

* Egger's regression test (Egger et al., BMJ 1997;315:629). ``model="lm"`` (default) is the classical test as
  metafor ``regtest(model="lm")`` and meta ``metabias(method.bias="Egger")``: weighted least squares of the log
  ratio on its standard error with weights 1/se^2 (equivalently, the standardised effect on precision), t-test
  of the standard-error coefficient (= Egger's intercept) on k - 2 df. ``model="rma"`` is metafor's default
  ``regtest()``: a meta-regression on the standard error with the analysis' tau^2 estimator and a z-test (t when
  Hartung-Knapp). Both need k >= 3, and standard errors that differ: where they are all (nearly) equal the
  regression has no slope and the test is undefined (metafor refuses: "model matrix no longer of full rank",
  by R's ``lm()`` criterion; ``rma`` also needs X'X's eigenvalues above 1e-7).
* Trim-and-fill (Duval & Tweedie, Biometrics 2000;56:455) with the L0 (default) or R0 estimator, the side
  chosen as metafor ``trimfill`` does (the side opposite to the sign of the Egger-type slope from a
  meta-regression on the standard error), refits with the analysis' estimator and a z-based CI; when nothing is
  imputed (k0 = 0) the analysis' own fit is returned unchanged, Hartung-Knapp CI included (as metafor).
* Funnel plot data: studies (estimate, standard error), pseudo 95% limits around the pooled estimate and
  contour lines of two-sided significance around the null (Peters et al., J Clin Epidemiol 2008;61:991).
* Spearman rank correlation with the t approximation of its p-value (scipy ``spearmanr``; R
  ``cor.test(method="spearman", exact=FALSE)``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from scipy import stats

import warnings

from analysis.errors import AnalysisError
from analysis.jsonsafe import json_num
from analysis.meta.pooling import (
    PooledEstimate, check_method, exp_or_inf, full_rank, meta_regression, pool_by_method, result_dict,
)

EQUAL_SE = ("Egger's test is undefined: the studies' standard errors are (nearly) all the same, so a regression "
            "on the standard error has no slope (R/metafor: model matrix not of full rank)")


@dataclass
class EggerResult:
    """Egger's test. ``bias`` is the coefficient of the standard error (Egger's intercept), ``stat`` its t (lm)
    or z (rma) statistic; ``limit_est`` the intercept (the effect at se = 0), ratio scale."""

    model: str
    k: int
    bias: float
    bias_se: float
    stat: float
    df: float | None
    p: float
    limit_est: float
    limit_lo: float
    limit_hi: float

    def to_dict(self) -> dict:
        return result_dict(self)


def egger_test(yi, vi, model: str = "lm", method: str = "REML", hk: bool = False,
               level: float = 0.95) -> EggerResult:
    """Egger's regression test for funnel-plot asymmetry (see module docstring). Needs k >= 3."""
    yi = np.asarray(yi, dtype=float)
    vi = np.asarray(vi, dtype=float)
    k = len(yi)
    if k < 3:
        raise AnalysisError("Egger's test needs at least 3 studies")
    sei = np.sqrt(vi)
    if model not in ("lm", "rma"):
        raise AnalysisError('Egger model must be "lm" or "rma"')
    if not full_rank(np.column_stack([np.ones(k), sei])):
        raise AnalysisError(EQUAL_SE)
    if model == "lm":
        import statsmodels.api as sm  # imported here: statsmodels costs ~1 s at start-up of every command

        X = sm.add_constant(sei, has_constant="add")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")     # the rank is checked above; statsmodels' warnings are not ours
            fit = sm.WLS(yi, X, weights=1.0 / vi).fit()
        df = float(fit.df_resid)
        crit = float(stats.t.ppf(0.5 + level / 2, df))
        b0, se0 = float(fit.params[0]), float(fit.bse[0])
        return EggerResult("lm", k, float(fit.params[1]), float(fit.bse[1]), float(fit.tvalues[1]), df,
                           float(fit.pvalues[1]), exp_or_inf(b0), exp_or_inf(b0 - crit * se0), exp_or_inf(b0 + crit * se0))
    if model == "rma":
        try:
            reg = meta_regression(yi, vi, sei, method=method, hk=hk, level=level, moderator="sei")
        except AnalysisError:
            raise AnalysisError(EQUAL_SE) from None
        crit = float(stats.norm.ppf(0.5 + level / 2)) if reg.slope_df is None else float(
            stats.t.ppf(0.5 + level / 2, reg.slope_df))
        b0, se0 = reg.intercept, reg.intercept_se
        return EggerResult("rma", k, reg.slope, reg.slope_se, reg.slope_stat, reg.slope_df, reg.slope_p,
                           exp_or_inf(b0), exp_or_inf(b0 - crit * se0), exp_or_inf(b0 + crit * se0))


@dataclass
class TrimFillResult:
    """Trim-and-fill. ``k0`` imputed studies on ``side``; ``estimate`` pooled over observed + filled studies
    (the analysis' estimator, z-based CI); ``filled`` the imputed studies as (log_est, se)."""

    k0: int
    se_k0: float
    side: str
    estimator: str
    k_total: int
    estimate: PooledEstimate
    filled: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        e = self.estimate
        return {"k0": self.k0, "se_k0": json_num(self.se_k0), "side": self.side, "estimator": self.estimator,
                "k_total": self.k_total, "est": json_num(e.est), "lo": json_num(e.lo), "hi": json_num(e.hi),
                "p": json_num(e.p), "tau2": json_num(e.tau2), "log_est": json_num(e.log_est), "se": json_num(e.se),
                "filled": [{"log_est": json_num(f["log_est"]), "se": json_num(f["se"]), "est": json_num(exp_or_inf(f["log_est"]))}
                           for f in self.filled]}


def _fit_beta(yi, vi, method) -> float:
    return pool_by_method(yi, vi, method).log_est


def trim_and_fill(yi, vi, method: str = "REML", side: str | None = None, estimator: str = "L0",
                  level: float = 0.95, maxiter: int = 100, hk: bool = False,
                  hk_adhoc: bool = False) -> TrimFillResult:
    """Duval-Tweedie trim-and-fill as metafor ``trimfill.rma.uni`` (see module docstring). Needs k >= 3.
    ``hk``/``hk_adhoc`` are the analysis' Hartung-Knapp settings: kept when nothing is imputed (metafor returns
    the model unchanged), not used by the refit with imputed studies (z-based, as metafor)."""
    method = check_method(method)
    estimator = estimator.upper()
    if estimator not in ("L0", "R0"):
        raise AnalysisError('trim-and-fill estimator must be "L0" or "R0"')
    yi = np.asarray(yi, dtype=float)
    vi = np.asarray(vi, dtype=float)
    k = len(yi)
    if k < 3:
        raise AnalysisError("trim-and-fill needs at least 3 studies")
    if side is None:
        try:
            reg = meta_regression(yi, vi, np.sqrt(vi), method=method, moderator="sei")
        except AnalysisError:
            raise AnalysisError("the side to fill cannot be chosen: the studies' standard errors are (nearly) all "
                                "the same (R/metafor cannot fit the regression on the standard error either)") from None
        side = "right" if reg.slope < 0 else "left"
    elif side not in ("left", "right"):
        raise AnalysisError('trim-and-fill side must be "left" or "right"')
    sgn = -1.0 if side == "right" else 1.0
    ys = sgn * yi
    ix = np.argsort(ys, kind="stable")
    ys, vs = ys[ix], vi[ix]
    k0, k0_prev, it = 0, -1, 0
    se_k0 = math.nan
    beta = math.nan
    while k0 != k0_prev:
        k0_prev = k0
        it += 1
        if it > maxiter:
            raise AnalysisError("trim-and-fill did not converge")
        beta = _fit_beta(ys[: k - k0], vs[: k - k0], method)
        yc = ys - beta
        ranks = stats.rankdata(np.abs(yc), method="ordinal")
        signed = np.sign(yc) * ranks
        if estimator == "L0":
            sr = float(np.sum(signed[signed > 0]))
            k0f = (4 * sr - k * (k + 1)) / (2 * k - 1)
            var_sr = (k * (k + 1) * (2 * k + 1) + 10 * k0f**3 + 27 * k0f**2 + 17 * k0f - 18 * k * k0f**2
                      - 18 * k * k0f + 6 * k**2 * k0f) / 24.0
            se_k0 = 4 * math.sqrt(var_sr) / (2 * k - 1) if var_sr >= 0 else math.nan
        else:
            neg = -signed[signed < 0]
            if len(neg) == 0:
                raise AnalysisError("trim-and-fill (R0) is undefined here: no study on one side")
            k0f = (k - float(np.max(neg))) - 1
            se_k0 = math.sqrt(2 * max(0.0, k0f) + 2)
        k0 = max(0, int(round(k0f)))  # R's round(): halves to even, as Python's
        se_k0 = max(0.0, se_k0)
        if k0 >= k:
            raise AnalysisError("trim-and-fill would trim every study")
    filled = []
    if k0 > 0:
        fill_s = 2 * beta - ys[k - k0:]  # reflection about the trimmed estimate (flipped space)
        fill = sgn * fill_s
        fill_v = vs[k - k0:]
        filled = [{"log_est": float(f), "se": float(math.sqrt(v))} for f, v in zip(fill, fill_v)]
        y_all = np.concatenate([yi, fill])
        v_all = np.concatenate([vi, fill_v])
        est = pool_by_method(y_all, v_all, method, level=level)
    else:
        y_all, v_all = yi, vi
        est = pool_by_method(yi, vi, method, hk, hk_adhoc, level=level)
    return TrimFillResult(k0, se_k0, side, estimator, len(y_all), est, filled)


@dataclass
class FunnelData:
    """Everything to draw a (contour-enhanced) funnel plot. Estimates are on the ratio scale (use a log
    x-axis); ``se`` on the log scale (y-axis, reversed). Each line is given by its two end points at se = 0 and
    se = ``se_max`` -- straight on a log x-axis."""

    center: float
    se_max: float
    points: list[dict]
    pseudo_ci: dict
    contours: list[dict]

    def to_dict(self) -> dict:
        return {"center": json_num(self.center), "se_max": json_num(self.se_max), "points": self.points,
                "pseudo_ci": self.pseudo_ci, "contours": self.contours}


def funnel_data(yi, vi, center_log: float, studies: Sequence[str] | None = None,
                levels: Sequence[float] = (0.90, 0.95, 0.99), level: float = 0.95) -> FunnelData:
    """Funnel plot data around ``center_log`` (the pooled log ratio) with significance contours at
    ``levels`` (two-sided p = 1 - level around a ratio of 1)."""
    yi = np.asarray(yi, dtype=float)
    sei = np.sqrt(np.asarray(vi, dtype=float))
    if studies is None:
        studies = [f"Study {i + 1}" for i in range(len(yi))]
    se_max = float(np.max(sei)) if len(sei) else 0.0
    z = float(stats.norm.ppf(0.5 + level / 2))
    points = [{"study": s, "est": json_num(math.exp(y)), "log_est": json_num(y), "se": json_num(e)}
              for s, y, e in zip(studies, yi, sei)]
    pseudo = {"level": level, "se": [0.0, se_max],
              "lo": [json_num(math.exp(center_log)), json_num(math.exp(center_log - z * se_max))],
              "hi": [json_num(math.exp(center_log)), json_num(math.exp(center_log + z * se_max))]}
    contours = []
    for lev in levels:
        zc = float(stats.norm.ppf(0.5 + lev / 2))
        contours.append({"level": lev, "p": json_num(round(1 - lev, 10)), "se": [0.0, se_max],
                         "lo": [1.0, json_num(math.exp(-zc * se_max))], "hi": [1.0, json_num(math.exp(zc * se_max))]})
    return FunnelData(math.exp(center_log), se_max, points, pseudo, contours)


@dataclass
class CorrelationResult:
    """Spearman's rank correlation between two per-study quantities."""

    rho: float
    p: float
    n: int
    studies: list[str]
    method: str = "spearman, t approximation (R cor.test exact=FALSE)"

    def to_dict(self) -> dict:
        return {"rho": json_num(self.rho), "p": json_num(self.p), "n": self.n, "studies": list(self.studies),
                "method": self.method}


def spearman_correlation(x, y, studies: Sequence[str] | None = None) -> CorrelationResult:
    """Spearman's rho and its two-sided p-value (t approximation with n - 2 df) over pairs with both values."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if studies is None:
        studies = [f"Study {i + 1}" for i in range(len(x))]
    keep = np.isfinite(x) & np.isfinite(y)
    n = int(keep.sum())
    if n < 3:
        raise AnalysisError("a Spearman correlation needs at least 3 studies with both values")
    res = stats.spearmanr(x[keep], y[keep])
    return CorrelationResult(float(res.statistic), float(res.pvalue), n,
                             [s for s, kk in zip(studies, keep) if kk])


__all__ = [
    "EggerResult", "egger_test", "TrimFillResult", "trim_and_fill", "FunnelData", "funnel_data",
    "CorrelationResult", "spearman_correlation",
]
