"""Pooling of log-scale effects: fixed effect, random effects, Mantel-Haenszel, subgroups, meta-regression.

All estimators follow metafor 3.8 (Viechtbauer W. J Stat Softw 2010;36(3)) and are checked against it in
``tests/reference/meta.R``:

* fixed effect: inverse-variance weights ``1/vi`` (metafor ``rma(method="FE")``);
* Mantel-Haenszel for RR and OR from the uncorrected counts, with the Greenland-Robins (RR) and
  Robins-Breslow-Greenland (OR) variances and a Wald z-test (metafor ``rma.mh``);
* random effects with tau^2 >= 0 from DerSimonian-Laird (DL), restricted maximum likelihood (REML, root of the
  REML score equation) or Paule-Mandel (PM, root of the generalised Q equation), each truncated at 0;
* Hartung-Knapp(-Sidik-Jonkman): variance multiplied by ``q = sum w*(y - mu)^2 / (k - p)`` with a t-test on
  ``k - p`` df (metafor ``test="knha"``, no truncation of q). The ad hoc variant ``hk_adhoc`` uses ``max(1, q)``
  (Knapp & Hartung 2003; meta ``adhoc.hakn.ci="se"``; metafor ``test="adhoc"``);
* heterogeneity: Cochran's Q on ``k - p`` df, ``I2 = max(0, (Q - df) / Q)`` (Higgins & Thompson 2002, as the
  meta package and RevMan print it) and ``H2 = Q / df`` unfloored (meta prints H = max(1, sqrt(Q/df))), plus
  metafor's tau^2-based ``I2 = tau2 / (tau2 + vt)``, ``vt = (k - p) / tr(P)`` (identical to the Q-based one for
  DL);
* prediction interval ``mu +/- crit * sqrt(se^2 + tau2)``:
  ``pi="metafor"`` (default; metafor ``predict.rma``): crit = z, or t on ``k - 1`` df with the HK-scaled se when
  ``hk``; ``pi="meta"``: t on ``k - 1`` df with the classic se (meta >= 8.0, Veroniki et al. 2019; metafor
  ``predict(pi.type="t")``); ``pi="hts"``: t on ``k - 2`` df with the classic se (Higgins, Thompson &
  Spiegelhalter 2009, meta < 8; metafor ``predict(pi.type="riley")``).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import optimize, stats

from analysis.errors import AnalysisError
from analysis.jsonsafe import json_num
from analysis.meta.effects import EffectData, Excluded
from analysis.numeric import to_numeric

METHODS = ("FE", "DL", "REML", "PM")
PI_TYPES = ("metafor", "meta", "hts")



def exp_or_inf(x) -> float:
    """exp of a log-scale value; inf where it overflows (a regression's limit estimate can be huge), NaN for
    None/NaN."""
    if x is None or math.isnan(x):
        return math.nan
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


EVTOL = 1e-7   # metafor rma.uni control evtol: a model matrix with an eigenvalue of X'X at or below it is refused
QRTOL = 1e-7   # R lm()'s QR tolerance (LINPACK dqrdc2): a column this close to the span of the earlier ones is dropped


def full_rank(X) -> bool:
    """Whether ``X`` (k x p, unweighted) has full column rank by R's ``lm()`` criterion: every column keeps
    more than 1e-7 of its norm after removing its projection on the columns before it (what metafor's
    ``regtest`` checks before fitting)."""
    X = np.asarray(X, dtype=float)
    q = []
    for j in range(X.shape[1]):
        v = X[:, j].copy()
        norm = float(np.linalg.norm(v))
        for u in q:
            v -= (u @ v) * u
        rest = float(np.linalg.norm(v))
        if norm == 0 or rest <= QRTOL * norm:
            return False
        q.append(v / rest)
    return True


def well_conditioned(X) -> bool:
    """metafor ``rma.uni``'s check of a model matrix: every eigenvalue of X'X above 1e-7."""
    X = np.asarray(X, dtype=float)
    return bool(np.all(np.linalg.eigvalsh(X.T @ X) > EVTOL))


def result_dict(obj) -> dict:
    """A result dataclass as a dict, its floats JSON-safe (NaN/inf -> None)."""
    out = {}
    for key, val in asdict(obj).items():
        if isinstance(val, float) or isinstance(val, np.floating):
            out[key] = json_num(val)
        else:
            out[key] = val
    return out


def check_method(method: str) -> str:
    m = str(method).upper()
    if m not in METHODS:
        raise AnalysisError(f"method must be one of {', '.join(METHODS)}")
    return m


# ----------------------------------------------------------------------------------------------------------
# weighted least squares and tau^2 estimators
# ----------------------------------------------------------------------------------------------------------

def _design(k: int, X: np.ndarray | None) -> np.ndarray:
    if X is None:
        return np.ones((k, 1))
    X = np.asarray(X, dtype=float)
    return X.reshape(k, -1)


def _wls(yi: np.ndarray, vi: np.ndarray, X: np.ndarray, tau2: float):
    """Weighted least squares with weights 1/(vi + tau2): (beta, vb = (X'WX)^-1, w)."""
    w = 1.0 / (vi + tau2)
    XtW = X.T * w
    vb = np.linalg.inv(XtW @ X)
    beta = vb @ (XtW @ yi)
    return beta, vb, w


def _p_matrix(vi: np.ndarray, X: np.ndarray, tau2: float) -> np.ndarray:
    w = 1.0 / (vi + tau2)
    W = np.diag(w)
    WX = X * w[:, None]
    return W - WX @ np.linalg.inv(X.T @ WX) @ WX.T


def _tau2_dl(yi, vi, X) -> float:
    k, p = X.shape
    P = _p_matrix(vi, X, 0.0)
    q = float(yi @ P @ yi)
    return max(0.0, (q - (k - p)) / float(np.trace(P)))


def _bracket_root(f, start: float) -> float:
    """Smallest doubling of ``start`` at which the decreasing function f is negative."""
    hi = max(start, 1e-4)
    for _ in range(200):
        if f(hi) < 0:
            return hi
        hi *= 2.0
    raise AnalysisError("the between-study variance could not be estimated (no sign change of its equation)")


def _tau2_reml(yi, vi, X) -> float:
    """Root of the REML score  -tr(P)/2 + y'PPy/2 = 0 (0 when the score at 0 is not positive)."""

    def score(t2: float) -> float:
        P = _p_matrix(vi, X, t2)
        Py = P @ yi
        return float(-np.trace(P) + Py @ Py)

    if score(0.0) <= 0:
        return 0.0
    hi = _bracket_root(score, 10.0 * float(np.var(yi)) + float(np.mean(vi)))
    return float(optimize.brentq(score, 0.0, hi, xtol=1e-15, rtol=4 * np.finfo(float).eps, maxiter=500))


def _tau2_pm(yi, vi, X) -> float:
    """Root of the generalised Q equation  y'P(tau2)y = k - p (Paule & Mandel 1982)."""
    k, p = X.shape

    def gq(t2: float) -> float:
        P = _p_matrix(vi, X, t2)
        return float(yi @ P @ yi) - (k - p)

    if gq(0.0) <= 0:
        return 0.0
    hi = _bracket_root(gq, 10.0 * float(np.var(yi)) + float(np.mean(vi)))
    return float(optimize.brentq(gq, 0.0, hi, xtol=1e-15, rtol=4 * np.finfo(float).eps, maxiter=500))


def estimate_tau2(yi, vi, method: str = "REML", X=None) -> float:
    """Between-study variance tau^2 (>= 0) by ``method`` in FE (0), DL, REML, PM; ``X`` optional moderators
    (design matrix including the intercept column)."""
    method = check_method(method)
    yi = np.asarray(yi, dtype=float)
    vi = np.asarray(vi, dtype=float)
    X = _design(len(yi), X)
    k, p = X.shape
    if method == "FE" or k <= p:
        return 0.0
    if method == "DL":
        return _tau2_dl(yi, vi, X)
    if method == "REML":
        return _tau2_reml(yi, vi, X)
    return _tau2_pm(yi, vi, X)


# ----------------------------------------------------------------------------------------------------------
# result types
# ----------------------------------------------------------------------------------------------------------

@dataclass
class Heterogeneity:
    """Cochran's Q and derived statistics. ``i2``/``h2`` from Q (percent / ratio); ``i2_tau2``/``h2_tau2``
    metafor's tau^2-based versions for the fitted tau^2 (equal to the Q-based ones for FE and DL)."""

    q: float
    df: int
    p: float
    i2: float
    h2: float
    tau2: float
    tau: float
    i2_tau2: float
    h2_tau2: float
    vt: float

    def to_dict(self) -> dict:
        return result_dict(self)


@dataclass
class PooledEstimate:
    """A pooled log-ratio with its inference; ``est/lo/hi`` and ``pi_lo/pi_hi`` on the ratio scale."""

    model: str  # "fixed" or "random"
    method: str  # "FE", "MH", "DL", "REML", "PM"
    k: int
    log_est: float
    se: float
    log_lo: float
    log_hi: float
    est: float
    lo: float
    hi: float
    stat: float  # z, or t when df is set
    df: float | None
    p: float
    tau2: float = 0.0
    tau: float = 0.0
    hk: bool = False
    hk_adhoc: bool = False
    hk_factor: float | None = None  # q of Hartung-Knapp (before the ad hoc floor)
    se_classic: float | None = None
    pi_lo: float | None = None
    pi_hi: float | None = None
    pi_df: float | None = None
    pi_type: str | None = None
    level: float = 0.95

    def to_dict(self) -> dict:
        return result_dict(self)


@dataclass
class StudyRow:
    study: str
    log_est: float
    se: float
    est: float
    lo: float
    hi: float
    weight_fixed: float  # percent (Mantel-Haenszel weights when mh=True)
    weight_random: float | None  # percent, None for a fixed-effect analysis
    derived: bool
    derivation: str | None

    def to_dict(self) -> dict:
        return result_dict(self)


@dataclass
class MetaAnalysisResult:
    """One pooled analysis. ``fixed`` is inverse-variance; ``mh`` Mantel-Haenszel (counts, when asked);
    ``random`` None for method FE. ``heterogeneity`` is from the inverse-variance fixed-effect fit (tau^2 from
    the random-effects fit). ``mh_heterogeneity`` is metafor ``rma.mh``'s Q around the MH estimate."""

    k: int
    measure: str
    method: str
    fixed: PooledEstimate
    random: PooledEstimate | None
    mh: PooledEstimate | None
    heterogeneity: Heterogeneity
    mh_heterogeneity: Heterogeneity | None
    studies: list[StudyRow]
    excluded: list[Excluded]
    settings: dict = field(default_factory=dict)

    @property
    def primary(self) -> PooledEstimate:
        """The estimate the analysis reports first: random effects unless method FE (then MH or IV)."""
        if self.random is not None:
            return self.random
        return self.mh if self.mh is not None else self.fixed

    @property
    def fixed_reported(self) -> PooledEstimate:
        return self.mh if self.mh is not None else self.fixed

    def to_dict(self) -> dict:
        return {
            "k": self.k,
            "measure": self.measure,
            "method": self.method,
            "fixed": self.fixed.to_dict(),
            "random": None if self.random is None else self.random.to_dict(),
            "mh": None if self.mh is None else self.mh.to_dict(),
            "heterogeneity": self.heterogeneity.to_dict(),
            "mh_heterogeneity": None if self.mh_heterogeneity is None else self.mh_heterogeneity.to_dict(),
            "studies": [s.to_dict() for s in self.studies],
            "excluded": [e.to_dict() for e in self.excluded],
            "settings": dict(self.settings),
        }


# ----------------------------------------------------------------------------------------------------------
# fitting
# ----------------------------------------------------------------------------------------------------------

def _crit(level: float, df: float | None) -> float:
    a = 0.5 + level / 2
    if df is None:
        return float(stats.norm.ppf(a))
    if df <= 0:
        return math.nan
    return float(stats.t.ppf(a, df))


def _pvalue(stat: float, df: float | None) -> float:
    if not math.isfinite(stat):
        return math.nan
    if df is None:
        return float(2 * stats.norm.sf(abs(stat)))
    if df <= 0:
        return math.nan
    return float(2 * stats.t.sf(abs(stat), df))


def heterogeneity(yi, vi, tau2: float = 0.0, X=None) -> Heterogeneity:
    """Cochran's Q (fixed-effect weights), I2/H2 from Q, and metafor's tau^2-based I2/H2 for ``tau2``."""
    yi = np.asarray(yi, dtype=float)
    vi = np.asarray(vi, dtype=float)
    X = _design(len(yi), X)
    k, p = X.shape
    if k <= p:
        return Heterogeneity(0.0, 0, 1.0, 0.0, 1.0, tau2, math.sqrt(tau2), 0.0, 1.0, 0.0)
    P = _p_matrix(vi, X, 0.0)
    q = max(0.0, float(yi @ P @ yi))
    df = k - p
    pval = float(stats.chi2.sf(q, df))
    i2 = max(0.0, 100.0 * (q - df) / q) if q > 0 else 0.0
    h2 = q / df
    vt = df / float(np.trace(P))
    i2_tau2 = 100.0 * tau2 / (vt + tau2)
    h2_tau2 = tau2 / vt + 1.0
    return Heterogeneity(q, df, pval, i2, h2, tau2, math.sqrt(tau2), i2_tau2, h2_tau2, vt)


def _pooled(model, method, k, b, se, df, level, tau2=0.0, **extra) -> PooledEstimate:
    crit = _crit(level, df)
    lo, hi = b - crit * se, b + crit * se
    if se > 0:
        stat = b / se
    elif se == 0 and b != 0:
        stat = math.copysign(math.inf, b)
    else:
        stat = math.nan
    return PooledEstimate(
        model=model, method=method, k=k, log_est=float(b), se=float(se), log_lo=float(lo), log_hi=float(hi),
        est=exp_or_inf(b), lo=exp_or_inf(lo), hi=exp_or_inf(hi), stat=float(stat), df=df, p=_pvalue(stat, df),
        tau2=float(tau2), tau=math.sqrt(tau2), level=level, **extra,
    )


def fixed_effect(yi, vi, level: float = 0.95) -> PooledEstimate:
    """Inverse-variance fixed-effect (common-effect) estimate with a Wald z-test."""
    yi = np.asarray(yi, dtype=float)
    vi = np.asarray(vi, dtype=float)
    if len(yi) == 0:
        raise AnalysisError("no study to pool")
    X = np.ones((len(yi), 1))
    beta, vb, _ = _wls(yi, vi, X, 0.0)
    return _pooled("fixed", "FE", len(yi), float(beta[0]), math.sqrt(vb[0, 0]), None, level)


def _prediction(b, se_used, se_classic, tau2, k, p, hk, pi, level):
    """(lo, hi, df) of the prediction interval on the log scale (see module docstring)."""
    if pi == "metafor":
        df = (k - p) if hk else None
        se = se_used
    elif pi == "meta":
        df, se = k - p, se_classic
    elif pi == "hts":
        df, se = k - p - 1, se_classic
    else:
        raise AnalysisError(f"pi must be one of {', '.join(PI_TYPES)}")
    if df is not None and df < 1:
        return math.nan, math.nan, df
    crit = _crit(level, df)
    half = crit * math.sqrt(se**2 + tau2)
    return b - half, b + half, df


def random_effects(yi, vi, method: str = "REML", hk: bool = False, hk_adhoc: bool = False,
                   pi: str = "metafor", level: float = 0.95) -> PooledEstimate:
    """Random-effects estimate with tau^2 by ``method`` (DL, REML, PM); optional Hartung-Knapp.

    ``hk_adhoc=True`` implies Hartung-Knapp with the ad hoc floor ``max(1, q)``.
    """
    method = check_method(method)
    if method == "FE":
        raise AnalysisError("random_effects needs method DL, REML or PM")
    if pi not in PI_TYPES:
        raise AnalysisError(f"pi must be one of {', '.join(PI_TYPES)}")
    yi = np.asarray(yi, dtype=float)
    vi = np.asarray(vi, dtype=float)
    k = len(yi)
    if k == 0:
        raise AnalysisError("no study to pool")
    hk = bool(hk or hk_adhoc)
    X = np.ones((k, 1))
    tau2 = estimate_tau2(yi, vi, method, X)
    beta, vb, w = _wls(yi, vi, X, tau2)
    b = float(beta[0])
    se_classic = math.sqrt(vb[0, 0])
    df = None
    se = se_classic
    factor = None
    if hk:
        df = k - 1
        if df >= 1:
            rss = float(np.sum(w * (yi - b) ** 2))
            factor = 0.0 if rss <= np.finfo(float).eps else rss / df
            used = max(1.0, factor) if hk_adhoc else factor
            se = math.sqrt(used * vb[0, 0])
        else:
            se = math.nan
    est = _pooled("random", method, k, b, se, df, level, tau2, hk=hk, hk_adhoc=bool(hk_adhoc),
                  hk_factor=factor, se_classic=se_classic)
    lo, hi, pdf = _prediction(b, se, se_classic, tau2, k, 1, hk, pi, level)
    est.pi_lo, est.pi_hi, est.pi_df, est.pi_type = exp_or_inf(lo), exp_or_inf(hi), pdf, pi
    return est


def mantel_haenszel(ai, n1i, ci, n2i, measure: str = "RR", level: float = 0.95) -> tuple[PooledEstimate, np.ndarray]:
    """Mantel-Haenszel pooled RR or OR from uncorrected counts, as metafor ``rma.mh``.

    Variance: Greenland & Robins 1985 (RR), Robins, Breslow & Greenland 1986 (OR). Returns the estimate and the
    MH weights in percent (metafor ``weights.rma.mh``). Undefined (NaN) when all events of an arm sum to 0.
    """
    measure = measure.upper()
    ai, n1i, ci, n2i = (np.asarray(a, dtype=float) for a in (ai, n1i, ci, n2i))
    bi, di = n1i - ai, n2i - ci
    Ni = n1i + n2i
    k = len(ai)
    if measure == "RR":
        R = float(np.sum(ai * n2i / Ni))
        S = float(np.sum(ci * n1i / Ni))
        wi = ci * n1i / Ni
        if np.sum(ai) == 0 or np.sum(ci) == 0:
            b = se = math.nan
        else:
            b = math.log(R / S)
            se = math.sqrt(float(np.sum(n1i / Ni * n2i / Ni * (ai + ci) - ai / Ni * ci)) / (R * S))
    elif measure == "OR":
        Pi = (ai + di) / Ni
        Qi = (bi + ci) / Ni
        Ri = ai * di / Ni
        Si = bi * ci / Ni
        R, S = float(np.sum(Ri)), float(np.sum(Si))
        wi = Si
        if R == 0 or S == 0:
            b = se = math.nan
        else:
            b = math.log(R / S)
            se = math.sqrt(0.5 * (np.sum(Pi * Ri) / R**2 + np.sum(Pi * Si + Qi * Ri) / (R * S)
                                  + np.sum(Qi * Si) / S**2))
    else:
        raise AnalysisError("Mantel-Haenszel pooling needs measure RR or OR")
    weights = 100.0 * wi / np.sum(wi) if np.sum(wi) > 0 else np.full(k, math.nan)
    return _pooled("fixed", "MH", k, b, se, None, level), weights


def _mh_heterogeneity(yi, vi, b) -> Heterogeneity:
    """Q of the escalc effects around the MH estimate (metafor ``rma.mh``)."""
    k = len(yi)
    if k <= 1 or not math.isfinite(b):
        return Heterogeneity(0.0, 0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    q = max(0.0, float(np.sum((yi - b) ** 2 / vi)))
    df = k - 1
    i2 = max(0.0, 100.0 * (q - df) / q) if q > 0 else 0.0
    return Heterogeneity(q, df, float(stats.chi2.sf(q, df)), i2, q / df, 0.0, 0.0, i2, q / df, math.nan)


def _check_effects(effects: EffectData) -> None:
    if effects.k == 0:
        reasons = "; ".join(sorted({e.reason for e in effects.excluded})) or "no rows"
        raise AnalysisError(f"no study can be pooled ({reasons})")
    bad = [i + 1 for i in range(effects.k) if not (math.isfinite(effects.yi[i]) and effects.vi[i] > 0
                                                   and math.isfinite(effects.vi[i]))]
    if bad:
        raise AnalysisError(f"studies at positions {bad} have no usable estimate or variance")


def meta_analysis(effects: EffectData, method: str = "REML", hk: bool = False, hk_adhoc: bool = False,
                  mh: bool = False, pi: str = "metafor", level: float = 0.95) -> MetaAnalysisResult:
    """Fixed-effect and (unless ``method="FE"``) random-effects pooling of ``effects``.

    ``mh=True`` adds the Mantel-Haenszel estimate (count data only) and makes it the reported fixed effect
    and the source of ``weight_fixed``.
    """
    method = check_method(method)
    _check_effects(effects)
    yi, vi = effects.yi, effects.vi
    fixed = fixed_effect(yi, vi, level)
    random = None
    tau2 = 0.0
    if method != "FE":
        random = random_effects(yi, vi, method, hk, hk_adhoc, pi, level)
        tau2 = random.tau2
    het = heterogeneity(yi, vi, tau2)
    mh_est = mh_het = None
    w_fixed = 100.0 * (1 / vi) / np.sum(1 / vi)
    if mh:
        if effects.counts is None:
            raise AnalysisError("Mantel-Haenszel pooling needs event counts per arm, not ratios with CIs")
        c = effects.counts
        mh_est, mh_w = mantel_haenszel(c["ai"], c["n1i"], c["ci"], c["n2i"], effects.measure, level)
        mh_het = _mh_heterogeneity(yi, vi, mh_est.log_est)
        w_fixed = mh_w
    w_random = None
    if random is not None:
        wr = 1 / (vi + tau2)
        w_random = 100.0 * wr / np.sum(wr)
    rows = []
    for i, r in enumerate(effects.table(level)):
        rows.append(StudyRow(
            study=r["study"], log_est=r["log_est"], se=r["se"], est=r["est"], lo=r["lo"], hi=r["hi"],
            weight_fixed=float(w_fixed[i]), weight_random=None if w_random is None else float(w_random[i]),
            derived=r["derived"], derivation=r["derivation"],
        ))
    settings = {"method": method, "hk": bool(hk or hk_adhoc), "hk_adhoc": bool(hk_adhoc), "mh": bool(mh),
                "pi": pi, "level": level}
    return MetaAnalysisResult(effects.k, effects.measure, method, fixed, random, mh_est, het, mh_het, rows,
                              list(effects.excluded), settings)


def pool_by_method(yi, vi, method, hk=False, hk_adhoc=False, pi="metafor", level=0.95) -> PooledEstimate:
    """The fixed effect (``method="FE"``) or the random-effects estimate with ``method``'s tau^2."""
    if method == "FE":
        return fixed_effect(yi, vi, level)
    return random_effects(yi, vi, method, hk, hk_adhoc, pi, level)


# ----------------------------------------------------------------------------------------------------------
# sensitivity: leave-one-out and cumulative
# ----------------------------------------------------------------------------------------------------------

@dataclass
class RefitRow:
    """One refit (leave-one-out: ``study`` is the omitted one; cumulative: the study added last)."""

    study: str
    k: int
    log_est: float
    se: float
    est: float
    lo: float
    hi: float
    p: float
    q: float
    q_p: float
    tau2: float
    i2: float  # Q-based, percent
    i2_tau2: float  # metafor's definition (what leave1out()/cumul() print)
    h2_tau2: float

    def to_dict(self) -> dict:
        return result_dict(self)


def _refit_row(label, yi, vi, method, hk, hk_adhoc, level) -> RefitRow:
    est = pool_by_method(yi, vi, method, hk, hk_adhoc, "metafor", level)
    het = heterogeneity(yi, vi, est.tau2)
    i2_tau2 = het.i2 if method == "FE" else het.i2_tau2
    h2_tau2 = het.h2 if method == "FE" else het.h2_tau2
    return RefitRow(label, len(yi), est.log_est, est.se, est.est, est.lo, est.hi, est.p, het.q, het.p,
                    est.tau2, het.i2, i2_tau2, h2_tau2)


def leave_one_out(effects: EffectData, method: str = "REML", hk: bool = False, hk_adhoc: bool = False,
                  level: float = 0.95) -> list[RefitRow]:
    """Refit without each study in turn (metafor ``leave1out``). Needs k >= 3 (else an empty list)."""
    method = check_method(method)
    if effects.k < 3:
        return []
    out = []
    for i in range(effects.k):
        m = np.arange(effects.k) != i
        out.append(_refit_row(effects.studies[i], effects.yi[m], effects.vi[m], method, hk, hk_adhoc, level))
    return out


def cumulative(effects: EffectData, order: Sequence | None = None, method: str = "REML", hk: bool = False,
               hk_adhoc: bool = False, level: float = 0.95) -> list[RefitRow]:
    """Cumulative meta-analysis adding studies in increasing ``order`` (e.g. year; stable for ties, missing
    last), as metafor ``cumul(order=...)``. Without ``order`` the input order is used."""
    method = check_method(method)
    k = effects.k
    if order is None:
        idx = np.arange(k)
    else:
        key = to_numeric(pd.Series(list(order)), errors="coerce").to_numpy(dtype=float)
        key = np.where(np.isnan(key), np.inf, key)
        idx = np.argsort(key, kind="stable")
    out = []
    for j in range(1, k + 1):
        take = idx[:j]
        out.append(_refit_row(effects.studies[idx[j - 1]], effects.yi[take], effects.vi[take], method, hk,
                              hk_adhoc, level))
    return out


# ----------------------------------------------------------------------------------------------------------
# subgroups
# ----------------------------------------------------------------------------------------------------------

@dataclass
class SubgroupEstimate:
    group: str
    k: int
    studies: list[str]
    estimate: PooledEstimate
    heterogeneity: Heterogeneity

    def to_dict(self) -> dict:
        e, h = self.estimate, self.heterogeneity
        return {"group": self.group, "k": self.k, "studies": list(self.studies), "est": json_num(e.est),
                "lo": json_num(e.lo), "hi": json_num(e.hi), "p": json_num(e.p), "log_est": json_num(e.log_est),
                "se": json_num(e.se), "tau2": json_num(e.tau2), "q": json_num(h.q), "df": h.df, "i2": json_num(h.i2),
                "pi_lo": json_num(e.pi_lo), "pi_hi": json_num(e.pi_hi)}


@dataclass
class SubgroupResult:
    """Subgroup analysis: each subgroup pooled on its own (separate tau^2 per subgroup for random effects),
    then the test for subgroup differences ``q_between`` = Cochran's Q of the subgroup estimates with weights
    1/se^2 on G - 1 df (meta's default ``tau.common=FALSE``; in metafor: ``rma(est, sei=se, method="FE")$QE``).
    ``q_between_fixed`` is the same test on the fixed-effect subgroup estimates (= Q_total - sum Q_within)."""

    variable: str
    method: str
    groups: list[SubgroupEstimate]
    q_between: float
    df_between: int
    p_between: float
    q_between_fixed: float
    p_between_fixed: float
    excluded: list[Excluded]

    def to_dict(self) -> dict:
        return {"variable": self.variable, "method": self.method, "groups": [g.to_dict() for g in self.groups],
                "q_between": json_num(self.q_between), "df_between": self.df_between,
                "p_between": json_num(self.p_between), "q_between_fixed": json_num(self.q_between_fixed),
                "p_between_fixed": json_num(self.p_between_fixed),
                "excluded": [e.to_dict() for e in self.excluded]}


def _q_of(est: np.ndarray, se: np.ndarray) -> float:
    w = 1.0 / se**2
    mu = np.sum(w * est) / np.sum(w)
    return float(np.sum(w * (est - mu) ** 2))


def subgroup_analysis(effects: EffectData, groups: Sequence, variable: str = "subgroup",
                      method: str = "REML", hk: bool = False, hk_adhoc: bool = False, pi: str = "metafor",
                      level: float = 0.95) -> SubgroupResult:
    """Pool within each level of ``groups`` and test for differences between subgroups (see class doc).

    Studies with a missing group value are left out of the subgroup analysis and listed in ``excluded``.
    A subgroup with a single study contributes that study's estimate and standard error.
    """
    method = check_method(method)
    labels = ["" if g is None or (isinstance(g, float) and math.isnan(g)) else str(g).strip() for g in groups]
    if len(labels) != effects.k:
        raise AnalysisError(f"subgroup column '{variable}' does not match the studies")
    excluded = [Excluded(s, f"no value for subgroup variable '{variable}'")
                for s, g in zip(effects.studies, labels) if g == ""]
    levels = sorted({g for g in labels if g})
    if len(levels) < 2:
        raise AnalysisError(f"subgroup column '{variable}' needs at least two groups with data")
    out = []
    for g in levels:
        m = np.array([lab == g for lab in labels])
        yi, vi = effects.yi[m], effects.vi[m]
        if len(yi) == 1:
            est = _pooled("fixed" if method == "FE" else "random", method, 1, float(yi[0]),
                          math.sqrt(vi[0]), None, level)
        else:
            est = pool_by_method(yi, vi, method, hk, hk_adhoc, pi, level)
        het = heterogeneity(yi, vi, est.tau2)
        out.append(SubgroupEstimate(g, int(m.sum()), [s for s, keep in zip(effects.studies, m) if keep], est, het))
    est_arr = np.array([g.estimate.log_est for g in out])
    se_arr = np.array([g.estimate.se for g in out])
    qb = _q_of(est_arr, se_arr)
    df = len(out) - 1
    fe = [fixed_effect(effects.yi[np.array([lab == g for lab in labels])],
                       effects.vi[np.array([lab == g for lab in labels])], level) for g in levels]
    qbf = _q_of(np.array([f.log_est for f in fe]), np.array([f.se for f in fe]))
    return SubgroupResult(variable, method, out, qb, df, float(stats.chi2.sf(qb, df)), qbf,
                          float(stats.chi2.sf(qbf, df)), excluded)


# ----------------------------------------------------------------------------------------------------------
# meta-regression
# ----------------------------------------------------------------------------------------------------------

@dataclass
class MetaRegressionResult:
    """Mixed-effects meta-regression on one moderator: ``yi = b0 + b1 * x + u + e`` (metafor
    ``rma(yi, vi, mods=~x, method=...)``); slope on the log-ratio scale per unit of x."""

    moderator: str
    coding: str
    method: str
    k: int
    intercept: float
    intercept_se: float
    intercept_p: float
    slope: float
    slope_se: float
    slope_stat: float
    slope_df: float | None
    slope_p: float
    slope_lo: float
    slope_hi: float
    tau2: float
    i2: float  # residual, metafor's tau^2-based definition (Q-based for FE)
    r2: float | None  # percent of tau^2 explained (metafor), None for FE
    qm: float
    qm_p: float
    qe: float
    qe_df: int
    qe_p: float
    hk: bool
    studies: list[str] = field(default_factory=list)
    excluded: list[Excluded] = field(default_factory=list)
    points: list[dict] = field(default_factory=list)  # per study: study, x, log_est, se (for a bubble plot)

    def to_dict(self) -> dict:
        d = result_dict(self)
        d["excluded"] = [e.to_dict() for e in self.excluded]
        return d


def meta_regression(yi, vi, x, method: str = "REML", hk: bool = False, level: float = 0.95,
                    moderator: str = "x", coding: str = "numeric") -> MetaRegressionResult:
    """Meta-regression of log ratios on one numeric moderator ``x`` (needs k >= 3 and x not constant)."""
    method = check_method(method)
    yi = np.asarray(yi, dtype=float)
    vi = np.asarray(vi, dtype=float)
    x = np.asarray(x, dtype=float)
    k = len(yi)
    if k < 3:
        raise AnalysisError(f"meta-regression on '{moderator}' needs at least 3 studies with a value")
    if np.all(x == x[0]):
        raise AnalysisError(f"moderator '{moderator}' has the same value in every pooled study")
    X = np.column_stack([np.ones(k), x])
    if not well_conditioned(X):
        raise AnalysisError(f"moderator '{moderator}' is nearly the same in every pooled study: the regression "
                            f"cannot separate it from the intercept (metafor: model matrix not of full rank)")
    p = 2
    tau2 = estimate_tau2(yi, vi, method, X)
    beta, vb, w = _wls(yi, vi, X, tau2)
    df = None
    if hk:
        rss = float(np.sum(w * (yi - X @ beta) ** 2))
        s2w = 0.0 if rss <= np.finfo(float).eps else rss / (k - p)
        vb = s2w * vb
        df = k - p
    se = np.sqrt(np.diag(vb))
    stat = beta / se
    crit = _crit(level, df)
    qm = float(stat[1] ** 2)
    qm_p = float(stats.f.sf(qm, 1, df)) if hk else float(stats.chi2.sf(qm, 1))
    het = heterogeneity(yi, vi, tau2, X)
    r2 = None
    if method != "FE":
        tau2_re = estimate_tau2(yi, vi, method)
        r2 = 0.0 if tau2_re == 0 else max(0.0, 100.0 * (tau2_re - tau2) / tau2_re)
    return MetaRegressionResult(
        moderator=moderator, coding=coding, method=method, k=k, intercept=float(beta[0]),
        intercept_se=float(se[0]), intercept_p=_pvalue(float(stat[0]), df), slope=float(beta[1]),
        slope_se=float(se[1]), slope_stat=float(stat[1]), slope_df=df, slope_p=_pvalue(float(stat[1]), df),
        slope_lo=float(beta[1] - crit * se[1]), slope_hi=float(beta[1] + crit * se[1]), tau2=tau2,
        i2=het.i2 if method == "FE" else het.i2_tau2, r2=r2, qm=qm, qm_p=qm_p, qe=het.q, qe_df=het.df,
        qe_p=het.p, hk=bool(hk),
    )
