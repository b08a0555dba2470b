"""Trial sequential analysis (TSA) of a cumulative meta-analysis of two-arm event counts (risk ratio).

Conventions are those of the Copenhagen Trial Unit's TSA program as the R package RTSA 0.2.2 reproduces them with
``RTSA(type = "analysis", outcome = "RR", side = 2, es_alpha = "esOF", weights = "MH", re_method = "DL",
random_adj = "D2", power_adj = FALSE, futility = "none" | "non-binding", es_beta = "esOF")``; checked against
RTSA in ``tests/reference/tsa.R`` (z, RIS, D^2 and p_C to 1e-6, boundaries to 1e-3):

* **Studies** in chronological order. Studies without events in either arm are left out (and their patients not
  counted); 0.5 is added to every cell of a study with no events in one arm (RTSA's ``zero_adj``; unlike
  metafor's ``escalc`` not when a non-event cell is zero). A study with the event in every patient of both arms
  is left out too (RTSA leaves it out of the pool but keeps counting its patients; here it is not counted).
* **Control-arm risk** ``p_C``: pooled over the analysed studies, ``sum(events_ctrl) / sum(n_ctrl)``, or given.
  As RTSA, once a study without events is left out, the pooled risk is taken over the zero-corrected counts.
* **Required information size** for two equal arms:
  ``RIS_F = ceil(4 (z_{1-alpha/2} + z_{1-beta})^2 p(1-p) / (p_C - p_I)^2)`` with ``p_I = p_C (1 - RRR)`` and
  ``p = (p_C + p_I)/2``; random effects: ``RIS = ceil(RIS_F / (1 - D^2))``, the diversity
  ``D^2 = 1 - V_F / V_R`` of the DerSimonian-Laird model of all studies (Wetterslev et al. 2009). Not inflated
  for the sequential design (``power_adj = FALSE``).
* **Information fraction** ``t_j`` = cumulative patients / RIS. Looks are the studies; a study adding <= 1 % of
  the RIS (or before 1 % is reached) is not a look (RTSA's 1 % filter), the RIS itself is always the last look
  (t = 1) and studies beyond it are not looks (except the first study past the RIS, compared with the final
  boundary).
* **Monitoring boundaries**: Lan-DeMets alpha spending with the O'Brien-Fleming-type function, per side
  ``alpha*(t) = 2 - 2 Phi(z_{1 - alpha/4} / sqrt(t))``; a look where less than 1e-9 is spent gets the boundary 20
  (the TSA program's convention). Boundaries are found by recursive numerical integration (Armitage, McPherson &
  Rowe 1969; Jennison & Turnbull 2000, ch. 19, grid r = 18), as RTSA does, with the root solved to machine
  precision (RTSA's stepping search stops at a spend within 1e-9, hence the 1e-3 tolerance on boundaries).
* **Futility** (optional, non-binding): beta spending with the same function, ``2 - 2 Phi(z_{1 - beta/2}/sqrt(t))``,
  under the drift ``z_{1-alpha/2} + z_{1-beta}``; the inner wedge between ``-b_j`` and ``+b_j``; looks whose
  wedge would be negative spend nothing (spending deferred, three passes as RTSA); the last futility bound is
  capped at the monitoring boundary.
* **z-curve**: the cumulative z of the model. Random effects: DerSimonian-Laird z; where the cumulative tau^2
  is 0 (and for the first study) the fixed-effect z. Fixed effect: Mantel-Haenszel (on the zero-corrected
  counts, as RTSA) or inverse variance. When tau^2 of all studies is 0 the random model falls back to the
  fixed-effect model and its RIS.
* **TSA-adjusted CI**: ``exp(log RR +/- b_j SE)`` at the last look with an estimate (b_j the monitoring
  boundary); once the information exceeds the RIS by more than 5 % the naive 95 % CI (as RTSA prints).

References: Wetterslev J, Thorlund K, Brok J, Gluud C. J Clin Epidemiol 2008;61:64; Wetterslev J, et al. BMC Med
Res Methodol 2009;9:86 (D^2); Lan KKG, DeMets DL. Biometrika 1983;70:659; Thorlund K, et al. User manual for TSA
(Copenhagen Trial Unit, 2017).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from scipy import optimize, stats

from analysis.errors import AnalysisError
from analysis.jsonsafe import json_num

ZERO_ADJ = 0.5
LOOK_MIN = 0.01          # RTSA's time_tf: a look must add more than 1 % of the RIS
ALPHA_TOL = 1e-9         # RTSA alpha_boundary: less spend than this -> boundary 20
BETA_TOL = 1e-15         # RTSA beta_boundary: less spend than this -> no futility bound
Z_INF = 20.0             # RTSA's "infinite" boundary
GRID_R = 18              # Jennison & Turnbull grid size
OVERRUN = 1.05           # RTSA: beyond 105 % of the RIS the naive CI is reported

MODELS = ("random", "fixed")
WEIGHTS = ("MH", "IV")


@dataclass(frozen=True)
class TSASettings:
    """What a trial sequential analysis is asked for: the relative risk reduction to detect, two-sided alpha,
    beta (power 1 - beta), the control-arm risk (None: pooled from the studies) and non-binding futility."""

    rrr: float
    alpha: float = 0.05
    beta: float = 0.20
    pc: float | None = None
    futility: bool = False


# ---------------------------------------------------------------------------------------------------------
# group sequential numerics (Jennison & Turnbull's recursive integration, as RTSA's first.cpp / helpers)
# ---------------------------------------------------------------------------------------------------------

@dataclass
class _Info:
    """sqrt of the information increments (``incr``) and of the cumulative information (``proc``)."""

    incr: np.ndarray
    proc: np.ndarray

    @classmethod
    def of(cls, timing) -> "_Info":
        t = np.asarray(timing, dtype=float)
        return cls(np.sqrt(np.diff(np.concatenate([[0.0], t]))), np.sqrt(t))


def _grid(info: _Info, lo: float, hi: float, i: int, delta: float) -> tuple[np.ndarray, np.ndarray]:
    """Simpson grid on the z-scale for look ``i`` (0-based) truncated to [lo, hi] (RTSA ``z_n_w``, r = 18)."""
    r = GRID_R
    j = np.arange(1, 6 * r, dtype=float)
    base = np.where(j < r, -3 - 4 * np.log(r / j),
                    np.where(j <= 5 * r, -3 + 3 * (j - r) / (2 * r), 3 + 4 * np.log(r / (6 * r - j))))
    xi = delta * info.incr[i] + base
    below = np.flatnonzero(xi < lo)
    if below.size:
        xi = xi[below[-1]:].copy()
        xi[0] = lo
    above = np.flatnonzero(xi > hi)
    if above.size:
        xi = xi[: above[0] + 1].copy()
        xi[-1] = hi
    m = 2 * len(xi) - 1
    z = np.empty(m)
    z[0::2] = xi
    z[1::2] = (xi[:-1] + xi[1:]) / 2
    w = np.empty(m)
    if m == 1:
        return z, np.zeros(1)
    w[0] = (z[2] - z[0]) / 6
    w[-1] = (z[-1] - z[-3]) / 6
    w[2:-1:2] = (z[4::2] - z[:-4:2]) / 6
    w[1::2] = 4 * (z[2::2] - z[:-2:2]) / 6
    return z, w


def _first_density(z: np.ndarray, w: np.ndarray, info: _Info, delta: float) -> np.ndarray:
    return w * stats.norm.pdf(z - delta * info.incr[0])


def _next_density(info: _Info, i: int, z_prev, dens_prev, z_up, w_up, delta: float) -> np.ndarray:
    """Sub-density at look ``i`` (0-based, i >= 1) on ``z_up`` from look i - 1 (RTSA ``recur_int``)."""
    s_inc, s_now, s_prev = info.incr[i], info.proc[i], info.proc[i - 1]
    arg = (z_up[:, None] * s_now - z_prev[None, :] * s_prev) / s_inc - delta * s_inc
    return w_up * (stats.norm.pdf(arg) @ dens_prev) * s_now / s_inc


def _exceed(x: float, info: _Info, i: int, z_prev, dens_prev, delta: float, below: bool) -> float:
    """P(continue to look i and S_i > x) (``below``: S_i < x), x on the score scale (RTSA ``prob``)."""
    s_inc, s_prev = info.incr[i], info.proc[i - 1]
    if below:
        arg = (x - z_prev * s_prev) / s_inc - delta * s_inc
    else:
        arg = (z_prev * s_prev - x) / s_inc + delta * s_inc
    return float(stats.norm.cdf(arg) @ dens_prev)


def _rtsa_search(prob, start: float, target: float, tol: float, below: bool) -> float:
    """RTSA's ``searchfunc``: from ``start`` (score scale), decimal steps (1, 0.1, 0.01, ...; at most 50 per
    size) until the crossing probability ``prob(x)`` is within ``tol`` of ``target``. ``below`` (beta spending):
    ``prob`` increases with x. The same arithmetic as RTSA, so the same (coarse, where the spend is below ~1e-8)
    boundary; the number of refinements is capped where RTSA would loop forever."""
    x = start
    step = 10.0
    q = prob(x)
    for _ in range(64):
        if abs(q - target) <= tol:
            break
        if q > target + tol:
            step /= 10
            for _k in range(50):
                if below:
                    x = x - 2 * step
                x = x + step
                q = prob(x)
                if q <= target + tol:
                    break
        if q < target - tol:
            step /= 10
            for _k in range(50):
                if below:
                    x = x + 2 * step
                x = x - step
                q = prob(x)
                if q >= target - tol:
                    break
    return x


def _exact_root(prob, start: float, target: float, below: bool) -> float:
    """The root of ``prob(x) = target`` to machine precision (``prob`` monotone; bracketed outward)."""
    def f(x):
        return prob(x) - target

    lo = hi = start
    step = 1.0
    for _ in range(200):
        flo, fhi = f(lo), f(hi)
        inside = (flo <= 0 <= fhi) if below else (fhi <= 0 <= flo)
        if inside:
            break
        if (flo > 0) if below else (flo < 0):
            lo -= step
        if (fhi < 0) if below else (fhi > 0):
            hi += step
        step *= 2
    else:
        raise AnalysisError("the sequential boundary could not be computed (no sign change)")
    if lo == hi:
        return lo
    return float(optimize.brentq(f, lo, hi, xtol=1e-14, rtol=4 * np.finfo(float).eps, maxiter=500))


def _boundary(prob, start: float, target: float, tol: float, below: bool, exact: bool) -> float:
    if exact:
        return _exact_root(prob, start, target, below)
    return _rtsa_search(prob, start, target, tol, below)


def _of_spending(level: float, timing) -> tuple[np.ndarray, np.ndarray]:
    """Lan-DeMets O'Brien-Fleming-type spending of ``level`` (RTSA ``esOF``): cumulative and incremental."""
    t = np.asarray(timing, dtype=float)
    with np.errstate(divide="ignore"):
        cum = np.where(t > 0, 2 * stats.norm.sf(stats.norm.isf(level / 2) / np.sqrt(np.where(t > 0, t, 1.0))), 0.0)
    return cum, np.diff(np.concatenate([[0.0], cum]))


def alpha_boundaries(timing: Sequence[float], alpha: float = 0.05, exact: bool = False) -> np.ndarray:
    """Two-sided symmetric Lan-DeMets O'Brien-Fleming monitoring boundaries (z-scale) at the information
    fractions ``timing`` (increasing, the last = 1): alpha/2 spent per side, ``2 - 2 Phi(z_{1-alpha/4}/sqrt(t))``.
    A look spending less than 1e-9 gets 20 (RTSA ``alpha_boundary``). Each boundary is found with RTSA's search
    (the spent probability within 1e-9 of the target); ``exact=True`` solves to machine precision instead."""
    t = np.asarray(timing, dtype=float)
    if np.any(t > 1):
        t_spend = t / t.max()
    else:
        t_spend = t
    _cum, inc = _of_spending(alpha / 2, t_spend)
    info = _Info.of(t)
    n = len(t)
    zb = np.zeros(n)
    inc = inc.copy()
    inc[0] = min(max(inc[0], 0.0), alpha)
    zb[0] = Z_INF if inc[0] < ALPHA_TOL else float(stats.norm.isf(inc[0]))
    z, w = _grid(info, -zb[0], zb[0], 0, 0.0)
    dens = _first_density(z, w, info, 0.0)
    for i in range(1, n):
        a = min(max(inc[i], 0.0), 1.0)
        if a < ALPHA_TOL:
            zb[i] = Z_INF
        elif a == 1.0:
            zb[i] = 0.0
        else:
            s = info.proc[i]
            x = _boundary(lambda x: _exceed(x, info, i, z, dens, 0.0, False), zb[i - 1] * s, a, ALPHA_TOL,
                          False, exact)
            zb[i] = x / s
        if i < n - 1:
            z_up, w_up = _grid(info, -zb[i], zb[i], i, 0.0)
            dens = _next_density(info, i, z, dens, z_up, w_up, 0.0)
            z = z_up
    return zb


def _beta_pass(timing: np.ndarray, upper: np.ndarray, beta: float, delta: float, skip: int,
               exact: bool) -> np.ndarray:
    """One pass of RTSA ``beta_boundary`` (side 1, esOF): lower futility bound per look, -20 = none."""
    t = np.asarray(timing, dtype=float)
    t_spend = np.concatenate([t[t < 1], [1.0]])       # RTSA: design_R = 1 always closes the spending at t = 1
    n = len(t_spend)
    if skip:
        t_spend = np.concatenate([np.zeros(skip), t_spend[skip:]])
    _cum, inc = _of_spending(beta, t_spend)
    info = _Info.of(t[:n])
    za = np.zeros(n)
    inc = inc.copy()
    if inc[0] <= 0 or inc[0] >= beta:
        inc[0] = min(max(inc[0], 0.0), beta)
    if inc[0] == 0:
        za[0] = -Z_INF
    elif inc[0] == beta:
        za[0] = 0.0
    else:
        za[0] = float(stats.norm.ppf(inc[0], loc=info.proc[0] * delta))
    z, w = _grid(info, za[0], upper[0], 0, delta)
    dens = _first_density(z, w, info, delta)
    for i in range(1, n):
        b = min(max(inc[i], 0.0), 1.0)
        if b < BETA_TOL:
            za[i] = -Z_INF
        elif b == beta:
            za[i] = 0.0
        else:
            s = info.proc[i]
            x = _boundary(lambda x: _exceed(x, info, i, z, dens, delta, True), za[i - 1] * s, b, BETA_TOL, True,
                          exact)
            za[i] = x / s
        if i < n - 1:
            z_up, w_up = _grid(info, za[i], upper[i], i, delta)
            dens = _next_density(info, i, z, dens, z_up, w_up, delta)
            z = z_up
    return za


def futility_boundaries(timing: Sequence[float], upper: Sequence[float], alpha: float = 0.05,
                        beta: float = 0.20, exact: bool = False) -> np.ndarray:
    """Non-binding beta-spending futility bounds ``b_j`` (the futility region is ``-b_j < z < b_j``; NaN where
    a look has none) for the monitoring boundaries ``upper``, as RTSA ``boundaries(futility = "non-binding",
    type = "analysis")`` for two-sided tests: drift ``z_{1-alpha/2} + z_{1-beta}``, three passes deferring the
    spending of looks whose bound would be negative; the last bound capped at the monitoring boundary."""
    t = np.asarray(timing, dtype=float)
    ub = np.asarray(upper, dtype=float)
    delta = abs(float(stats.norm.ppf(alpha / 2)) + float(stats.norm.ppf(beta)))
    za = _beta_pass(t, ub, beta, delta, 0, exact)
    za = _beta_pass(t, ub, beta, delta, int(np.sum(za < 0)), exact)
    za = _beta_pass(t, ub, beta, delta, int(np.sum(za < 0)), exact)
    none = int(np.sum(np.abs(za) == Z_INF))
    out = np.concatenate([np.full(none, np.nan), za[np.abs(za) < Z_INF]])
    if len(out) == len(ub) and np.isfinite(out[-1]) and out[-1] > ub[-1]:
        out[-1] = ub[-1]
    return out


def required_information_size(pc: float, rrr: float, alpha: float = 0.05, beta: float = 0.20,
                              d2: float = 0.0) -> tuple[int, int]:
    """(RIS, fixed-effect RIS) in patients, two equal arms: ``ceil(4 (z_{1-alpha/2} + z_{1-beta})^2 p(1-p) /
    (p_C - p_I)^2)`` with ``p_I = p_C (1 - RRR)``, ``p = (p_C + p_I)/2``; the RIS ``ceil(RIS_F / (1 - D^2))``
    (RTSA ``ris``: both rounded up)."""
    pi = pc * (1 - rrr)
    p = (pc + pi) / 2
    zsum = float(stats.norm.isf(alpha / 2)) + float(stats.norm.isf(beta))
    nf = math.ceil(2 * zsum ** 2 * 2 * p * (1 - p) / (pc - pi) ** 2)
    if d2 <= 0:
        return nf, nf
    if d2 >= 1:
        raise AnalysisError("the diversity D^2 is 1: the heterogeneity-adjusted information size is infinite")
    return math.ceil(nf / (1 - d2)), nf


# ---------------------------------------------------------------------------------------------------------
# the cumulative meta-analyses (RTSA metaPrepare / synthesize for RR)
# ---------------------------------------------------------------------------------------------------------

@dataclass
class _Pool:
    """One RTSA-style pooling of risk ratios: fixed (MH or IV) and DerSimonian-Laird."""

    k: int
    log_fixed: float
    var_fixed: float
    tau2: float
    log_random: float | None
    var_random: float | None
    q: float
    i2: float
    d2: float

    @property
    def z_fixed(self) -> float:
        return self.log_fixed / math.sqrt(self.var_fixed)

    @property
    def z_random(self) -> float | None:
        """DL z; None where tau^2 = 0 (RTSA then uses the fixed-effect z)."""
        if self.log_random is None:
            return None
        return self.log_random / math.sqrt(self.var_random)


def _pool(a, n1, c, n2, weights: str) -> _Pool:
    """RTSA ``synthesize`` of zero-corrected counts (RR)."""
    te = (a / n1) / (c / n2)
    var = 1 / a - 1 / n1 + 1 / c - 1 / n2
    y = np.log(te)
    k = len(a)
    w_iv = 1 / var
    if weights == "MH":
        b, d = n1 - a, n2 - c
        n = a + b + c + d
        w = n1 * c / n
        d1 = ((a + b) * (c + d) * (a + c) - a * c * n) / n ** 2
        r = a * (c + d) / n
        s = c * (a + b) / n
        var_f = float(np.sum(d1) / (np.sum(r) * np.sum(s)))
        log_f = math.log(float(np.sum(te * w) / np.sum(w)))
    else:
        rw = w_iv / np.sum(w_iv)
        log_f = float(np.sum(y * rw))
        var_f = float(1 / np.sum(w_iv)) if k > 1 else float(var[0])
    if k == 1:
        return _Pool(1, log_f, var_f, 0.0, None, None, 0.0, 0.0, 0.0)
    df = k - 1
    q = float(np.sum(w_iv * y ** 2) - np.sum(w_iv * y) ** 2 / np.sum(w_iv))
    u = float(np.sum(w_iv) - np.sum(w_iv ** 2) / np.sum(w_iv))
    tau2 = (q - df) / u if q > df else 0.0
    i2 = (q - df) / q if q > 0 and (q - df) / q >= 0 else 0.0
    if tau2 == 0:
        return _Pool(k, log_f, var_f, 0.0, None, None, q, i2, 0.0)
    w_r = 1 / (var + tau2)
    var_r = float(1 / np.sum(w_r))
    log_r = float(np.sum(y * w_r * var_r))
    d2 = 1 - float(1 / np.sum(w_iv)) / var_r
    return _Pool(k, log_f, var_f, tau2, log_r, var_r, q, i2, d2)


# ---------------------------------------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------------------------------------

@dataclass
class TSALook:
    """One analysed study in chronological order (or the RIS itself, ``study`` None): cumulative patients, the
    information fraction, the cumulative z of the model and the boundaries it is compared with (None where the
    study is not a look)."""

    study: str | None
    n_cum: int
    info_frac: float
    z: float | None
    upper: float | None = None
    lower: float | None = None
    futility_upper: float | None = None
    futility_lower: float | None = None
    look: int | None = None          # 1-based index of the look, None = not a look
    estimate: float | None = None    # cumulative pooled RR of the model

    def to_dict(self) -> dict:
        return {"study": self.study, "n_cum": self.n_cum, "info_frac": json_num(self.info_frac), "z": json_num(self.z),
                "upper": json_num(self.upper), "lower": json_num(self.lower),
                "futility_upper": json_num(self.futility_upper), "futility_lower": json_num(self.futility_lower),
                "look": self.look, "estimate": json_num(self.estimate)}


@dataclass
class TSAResult:
    """A trial sequential analysis (see the module docstring for the conventions)."""

    ris: int
    ris_fixed: int
    d2: float
    i2: float
    tau2: float
    pc: float
    pc_source: str           # "pooled control arms" or "given"
    pi: float
    rrr: float
    alpha: float
    beta: float
    model: str               # "random" or "fixed"
    weights: str             # fixed-effect weights, "MH" or "IV"
    futility: bool
    n_total: int
    looks: list[TSALook]
    boundary: dict           # the boundary curves: info_frac, upper, lower, futility_upper, futility_lower
    estimate: float          # final pooled RR of the model
    adjusted_lo: float | None
    adjusted_hi: float | None
    adjusted_type: str | None        # "TSA-adjusted" | "naive (RIS exceeded)" | None
    adjusted_study: str | None
    crossing: dict | None            # {"boundary": "upper"|"lower", "study", "look", "z", "bound"}
    futility_crossing: dict | None   # {"study", "look", "z", "bound"}
    conclusion: str
    excluded: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ris_reached(self) -> bool:
        return self.n_total >= self.ris

    @property
    def model_label(self) -> str:
        if self.model == "random":
            return "random effects (DerSimonian-Laird), RIS adjusted by diversity D²"
        return "fixed effect (Mantel-Haenszel)" if self.weights == "MH" else "fixed effect (inverse variance)"

    def to_dict(self) -> dict:
        return {
            "ris": self.ris, "ris_fixed": self.ris_fixed, "d2": json_num(self.d2), "i2": json_num(self.i2),
            "tau2": json_num(self.tau2), "pc": json_num(self.pc), "pc_source": self.pc_source, "pi": json_num(self.pi),
            "rrr": json_num(self.rrr), "alpha": json_num(self.alpha), "beta": json_num(self.beta),
            "model": self.model, "model_label": self.model_label, "weights": self.weights,
            "futility": self.futility, "n_total": self.n_total,
            "info_frac": json_num(self.n_total / self.ris), "ris_reached": self.ris_reached,
            "looks": [lk.to_dict() for lk in self.looks],
            "boundary": {key: [json_num(v) for v in vals] for key, vals in self.boundary.items()},
            "estimate": json_num(self.estimate),
            "adjusted_ci": {"lo": json_num(self.adjusted_lo), "hi": json_num(self.adjusted_hi), "type": self.adjusted_type,
                            "study": self.adjusted_study},
            "crossing": self.crossing, "futility_crossing": self.futility_crossing,
            "conclusion": self.conclusion, "excluded": list(self.excluded), "notes": list(self.notes),
        }


# ---------------------------------------------------------------------------------------------------------
# the analysis
# ---------------------------------------------------------------------------------------------------------

def _check(rrr, alpha, beta, pc) -> None:
    if not (isinstance(rrr, (int, float)) and 0 < rrr < 1):
        raise AnalysisError("the relative risk reduction (RRR) must be between 0 and 1, e.g. 0.30")
    if not 0 < alpha < 0.5:
        raise AnalysisError("alpha must be between 0 and 0.5 (two-sided), e.g. 0.05")
    if not 0 < beta < 0.5:
        raise AnalysisError("beta must be between 0 and 0.5 (power 1 - beta), e.g. 0.20")
    if pc is not None and not 0 < pc < 1:
        raise AnalysisError("the control-arm risk p_C must be between 0 and 1")


def _looks_timing(frac: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """Information fractions of the looks and the (0-based) study index of each; the RIS (t = 1) is the last
    look. RTSA ``RTSA()`` with ``power_adj = FALSE``: studies at or beyond the RIS are replaced by the RIS, then
    the 1 % filter."""
    t = list(frac)
    idx = list(range(len(t)))
    if max(t) < 1:
        t.append(1.0); idx.append(len(frac))
    elif max(t) > 1:
        keep = [j for j, v in enumerate(t) if v < 1]
        t = [t[j] for j in keep] + [1.0]
        idx = keep + [len(keep)]
    t = np.array(t)
    idx = np.array(idx)
    inc = np.diff(np.concatenate([[0.0], t]))
    if np.any(inc <= LOOK_MIN):
        if not np.any(t > LOOK_MIN):
            raise AnalysisError("the studies hold less than 1 % of the required information size; there is too "
                                "little information for a trial sequential analysis")
        sel = t > LOOK_MIN
        t, idx = t[sel], idx[sel]
        inc = np.diff(np.concatenate([[0.0], t]))
        sel = inc > LOOK_MIN
        t, idx = t[sel], idx[sel]
    if t.max() < 1:
        t = np.append(t, 1.0)
    return t, [int(i) for i in idx]


def trial_sequential_analysis(studies: Sequence[str], ai, n1i, ci, n2i, *, rrr: float, alpha: float = 0.05,
                              beta: float = 0.20, pc: float | None = None, model: str = "random",
                              weights: str = "MH", futility: bool = False) -> TSAResult:
    """Trial sequential analysis of studies given **in chronological order** with events / patients in the
    experimental (``ai/n1i``) and control (``ci/n2i``) arm, for the risk ratio. ``model`` "random"
    (DerSimonian-Laird, RIS adjusted by D^2) or "fixed"; ``weights`` of the fixed-effect model "MH" or "IV";
    ``futility`` adds non-binding beta-spending futility boundaries. See the module docstring."""
    _check(rrr, alpha, beta, pc)
    if model not in MODELS:
        raise AnalysisError(f"TSA model must be one of {', '.join(MODELS)}")
    if weights not in WEIGHTS:
        raise AnalysisError(f"TSA weights must be one of {', '.join(WEIGHTS)}")
    a, n1, c, n2 = (np.asarray(v, dtype=float) for v in (ai, n1i, ci, n2i))
    studies = list(studies)
    if not (len(studies) == len(a) == len(n1) == len(c) == len(n2)):
        raise AnalysisError("internal: TSA inputs differ in length")
    bad = [i + 1 for i in range(len(a)) if not (0 <= a[i] <= n1[i] and 0 <= c[i] <= n2[i] and n1[i] >= 1
                                                 and n2[i] >= 1)]
    if bad:
        raise AnalysisError(f"TSA: studies at positions {bad} have impossible counts")
    zero = (a == 0) & (c == 0)
    full = (a == n1) & (c == n2)
    drop = zero | full
    excluded = [{"study": s, "reason": "no events in either arm" if z else "every patient had the event in both arms"}
                for s, z, d in zip(studies, zero, drop) if d]
    keep = ~drop
    if keep.sum() == 0:
        raise AnalysisError("no study has events: a trial sequential analysis of the risk ratio needs studies with "
                            "events in at least one arm")
    names = [s for s, k in zip(studies, keep) if k]
    a, n1, c, n2 = a[keep], n1[keep], c[keep], n2[keep]
    subjects = np.cumsum(n1 + n2).astype(int)
    corr = (a == 0) | (c == 0)
    a_, n1_, c_, n2_ = (a + corr * ZERO_ADJ, n1 + corr * 2 * ZERO_ADJ, c + corr * ZERO_ADJ,
                        n2 + corr * 2 * ZERO_ADJ)
    notes = []
    pc_source = "given"
    if pc is None:
        # RTSA: pooled over the analysed studies; once a study is left out, over the zero-corrected counts
        pc = float(np.sum(c_) / np.sum(n2_)) if drop.any() else float(np.sum(c) / np.sum(n2))
        pc_source = "pooled control arms"
        if pc <= 0:
            raise AnalysisError("no events in any control arm: the control-arm risk is 0; give p_C (--pc)")
        if pc >= 1:
            raise AnalysisError("every control-arm patient had the event: give p_C (--pc) below 1")
    full_pool = _pool(a_, n1_, c_, n2_, weights)
    use_random = model == "random" and full_pool.tau2 > 0
    if model == "random" and not use_random:
        notes.append("tau² = 0 over all studies: the random-effects TSA falls back to the fixed-effect model "
                     "and its information size (as RTSA and the TSA program)")
    d2 = full_pool.d2 if use_random else 0.0
    ris, ris_fixed = required_information_size(pc, rrr, alpha, beta, d2)
    frac = subjects / ris
    timing, look_idx = _looks_timing(frac)
    upper = alpha_boundaries(timing, alpha)
    fut = futility_boundaries(timing, upper, alpha, beta) if futility else None

    pools = [_pool(a_[: j + 1], n1_[: j + 1], c_[: j + 1], n2_[: j + 1], weights) for j in range(len(a))]
    z_fixed = [p.z_fixed for p in pools]
    z_random = [z_fixed[0]] + [p.z_random if p.z_random is not None else p.z_fixed for p in pools[1:]]
    z_model = z_random if use_random else z_fixed
    est = [math.exp(p.log_random if (use_random and p.log_random is not None and j > 0) else p.log_fixed)
           for j, p in enumerate(pools)]

    # pair look j with its study (RTSA inference: the j-th analysis time is the j-th boundary)
    k = len(a)
    paired = [(j, s) for j, s in enumerate(look_idx) if s < k]
    looks = []
    study_look = {s: j for j, s in paired}
    for s in range(k):
        lk = TSALook(names[s], int(subjects[s]), float(frac[s]), float(z_model[s]), estimate=est[s])
        if s in study_look:
            _set_bounds(lk, study_look[s], upper, fut)
        looks.append(lk)
    if len(paired) < len(timing):          # the final boundary (RIS) has no study: a row of its own
        lk = TSALook(None, int(ris), float(timing[-1]), None)
        _set_bounds(lk, len(timing) - 1, upper, fut)
        looks.append(lk)

    crossing = None
    tested = [(j, s) for j, s in paired]
    for name, sign in (("upper", 1), ("lower", -1)):
        for j, s in tested:
            if sign * z_model[s] > upper[j]:
                crossing = {"boundary": name, "study": names[s], "look": j + 1, "z": z_model[s],
                            "bound": sign * float(upper[j])}
                break
        if crossing:
            break
    fcross = None
    if fut is not None:
        for j, s in tested:
            if j < len(fut) and np.isfinite(fut[j]) and -fut[j] < z_model[s] < fut[j]:
                fcross = {"study": names[s], "look": j + 1, "z": z_model[s], "bound": float(fut[j])}
                break

    lo = hi = None
    ci_type = ci_study = None
    org = frac.copy()
    if abs(org.max() - timing.max()) < LOOK_MIN:
        org[np.argmax(org)] = timing.max()
    last = pools[-1]
    if org.max() > timing.max() * OVERRUN:
        log_e, var_e = ((last.log_random, last.var_random) if use_random and last.log_random is not None
                        else (last.log_fixed, last.var_fixed))
        zc = float(stats.norm.isf(0.025))
        lo, hi = math.exp(log_e - zc * math.sqrt(var_e)), math.exp(log_e + zc * math.sqrt(var_e))
        ci_type, ci_study = "naive (RIS exceeded)", names[-1]
    elif not (len(paired) == 1 and paired[0][1] == 0 and len(timing) > 2):
        for j, s in reversed(paired):
            p = pools[s]
            if use_random and p.log_random is None:
                continue            # RTSA: no random-effects CI where tau^2 = 0 at that look
            log_e, var_e = (p.log_random, p.var_random) if use_random else (p.log_fixed, p.var_fixed)
            lo = math.exp(log_e - upper[j] * math.sqrt(var_e))
            hi = math.exp(log_e + upper[j] * math.sqrt(var_e))
            ci_type, ci_study = "TSA-adjusted", names[s]
            break

    result = TSAResult(
        ris=int(ris), ris_fixed=int(ris_fixed), d2=d2, i2=full_pool.i2, tau2=full_pool.tau2, pc=pc,
        pc_source=pc_source, pi=pc * (1 - rrr), rrr=rrr, alpha=alpha, beta=beta,
        model="random" if use_random else "fixed", weights=weights, futility=bool(futility),
        n_total=int(subjects[-1]), looks=looks,
        boundary={"info_frac": list(timing), "upper": list(upper), "lower": list(-upper),
                  "futility_upper": list(fut) if fut is not None else [None] * len(timing),
                  "futility_lower": list(-fut) if fut is not None else [None] * len(timing)},
        estimate=math.exp(last.log_random if use_random else last.log_fixed), adjusted_lo=lo, adjusted_hi=hi,
        adjusted_type=ci_type, adjusted_study=ci_study, crossing=crossing, futility_crossing=fcross,
        conclusion="", excluded=excluded, notes=notes)
    if len(looks) and len(paired) < k:
        skipped = [names[s] for s in range(k) if s not in study_look and frac[s] <= 1]
        if skipped:
            result.notes.append("not a look (adds 1 % of the information size or less, RTSA's 1 % rule): "
                                + ", ".join(skipped))
    result.conclusion = conclusion(result)
    return result


def _set_bounds(lk: TSALook, j: int, upper, fut) -> None:
    lk.look = j + 1
    lk.upper, lk.lower = float(upper[j]), -float(upper[j])
    if fut is not None and j < len(fut) and np.isfinite(fut[j]):
        lk.futility_upper, lk.futility_lower = float(fut[j]), -float(fut[j])


def conclusion(r: TSAResult) -> str:
    """The TSA's answer in one plain sentence."""
    share = f"{r.n_total:,} of the required {r.ris:,} patients, {100 * r.n_total / r.ris:.0f}%"
    if r.crossing is not None:
        side = "RR > 1" if r.crossing["boundary"] == "upper" else "RR < 1"
        return (f"The cumulative z-curve crosses the {r.crossing['boundary']} monitoring boundary ({side}) at "
                f"{r.crossing['study']}: firm evidence of an effect, after adjustment for repeated testing "
                f"({share}).")
    if r.futility_crossing is not None:
        return (f"The cumulative z-curve enters the futility region at {r.futility_crossing['study']}: an effect "
                f"as large as a {100 * r.rrr:.0f}% relative risk reduction can be rejected ({share}).")
    if r.ris_reached:
        return (f"The required information size is reached ({share}) without crossing a monitoring boundary: "
                f"an effect as large as a {100 * r.rrr:.0f}% relative risk reduction is unlikely.")
    return (f"No monitoring boundary is crossed and the required information size is not reached ({share}): "
            f"the evidence is not yet conclusive; more trials are needed.")


def chronological(effects) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The count studies of ``effects`` (an :class:`analysis.meta.effects.EffectData`), with those left out for
    having no events in either arm, oldest first: by the ``year`` column (ties and studies without a year in
    file order, the latter last); without years in file order."""
    c = effects.counts
    zt = effects.zero_total or {"studies": [], "ai": [], "n1i": [], "ci": [], "n2i": [], "positions": [],
                                "year": []}
    years = (list(effects.covariates["year"]) if "year" in effects.covariates.columns
             else [np.nan] * effects.k)
    rows = [(y, pos, s, a, n1, ci, n2) for y, pos, s, a, n1, ci, n2 in
            zip(years, effects.positions, effects.studies, c["ai"], c["n1i"], c["ci"], c["n2i"])]
    rows += list(zip(zt.get("year") or [np.nan] * len(zt["studies"]), zt["positions"], zt["studies"], zt["ai"],
                     zt["n1i"], zt["ci"], zt["n2i"]))

    def key(r):
        y = r[0]
        y = float(y) if y is not None and not (isinstance(y, float) and math.isnan(y)) else math.inf
        return (y, r[1])

    rows.sort(key=key)
    cols = list(zip(*rows)) if rows else [[]] * 7
    return list(cols[2]), *(np.array(cols[i], dtype=float) for i in (3, 4, 5, 6))


def tsa_for_effects(effects, settings: TSASettings, method: str = "DL", mh: bool = False) -> TSAResult:
    """TSA of the count studies of ``effects`` in chronological order. ``method`` FE: the fixed-effect model
    (Mantel-Haenszel with ``mh``, else inverse variance); DL, REML or PM: random effects by DerSimonian-Laird
    (RTSA and the TSA program have no other tau^2 estimator) with Mantel-Haenszel as the fixed-effect fall-back."""
    if effects.counts is None:
        raise AnalysisError("a trial sequential analysis needs event counts per arm (a risk ratio); this outcome "
                            "gives ratios with confidence intervals")
    if effects.measure != "RR":
        raise AnalysisError("the trial sequential analysis is for the risk ratio (measure RR), not the odds ratio")
    model = "fixed" if method == "FE" else "random"
    weights = ("MH" if mh else "IV") if model == "fixed" else "MH"
    studies, a, n1, c, n2 = chronological(effects)
    result = trial_sequential_analysis(studies, a, n1, c, n2, rrr=settings.rrr, alpha=settings.alpha,
                                       beta=settings.beta, pc=settings.pc, model=model, weights=weights,
                                       futility=settings.futility)
    if model == "random" and method != "DL":
        result.notes.append(f"random effects of the TSA by DerSimonian-Laird (as RTSA and the TSA program); the "
                            f"pooled analysis above uses {method}")
    if "year" not in effects.covariates.columns:
        result.notes.append("studies in file order (no 'year' column)")
    return result


__all__ = ["TSASettings", "TSALook", "TSAResult", "chronological", "tsa_for_effects", "alpha_boundaries", "futility_boundaries", "required_information_size",
           "trial_sequential_analysis", "conclusion"]
