"""Study-level effect sizes on the log scale for ratio measures.

Two kinds of input are supported:

* a ratio (hazard ratio or any other ratio) with its 95% confidence interval -- the generic inverse-variance
  input: ``yi = log(ratio)``, ``sei = (log(hi) - log(lo)) / (2 * z_0.975)`` (Cochrane Handbook 6.3.2; metafor
  ``escalc``-free ``rma(yi, sei=...)``);
* a 2x2 table per study (events and patients per arm) for the risk ratio (RR) or odds ratio (OR), computed as
  metafor ``escalc(measure="RR"|"OR")`` with its defaults ``add=1/2, to="only0"``: 0.5 is added to every cell of
  a study with at least one zero cell, and only of that study.

Studies that carry no information on a ratio -- no events in either arm, or every patient with the event in both
arms -- are excluded and reported with a reason (the rule of metafor ``escalc(drop00=TRUE)``; for
Mantel-Haenszel this equals ``rma.mh(drop00=c(TRUE, TRUE))``, and for double-zero studies also its default).

A log-HR standard error can be derived from a hazard ratio and its p-value (Altman & Bland, BMJ 2011;343:d2090:
``z = -0.862 + sqrt(0.743 - 2.404 * ln(p))``, ``se = |ln HR| / z``); such values are flagged ``derived``.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from analysis.errors import AnalysisError

Z975 = float(stats.norm.ppf(0.975))  # 1.959963984540054, R's qnorm(0.975)

MEASURES_COUNTS = ("RR", "OR")


@dataclass
class Excluded:
    """A listed study that is not pooled, with the reason in words."""

    study: str
    reason: str

    def to_dict(self) -> dict:
        return {"study": self.study, "reason": self.reason}


@dataclass
class EffectData:
    """Per-study log-scale effects ready for pooling.

    ``yi`` log ratio, ``vi`` its sampling variance. For count data ``counts`` holds the *uncorrected*
    ``ai, n1i, ci, n2i`` (events / patients in the experimental and control arm) used by Mantel-Haenszel.
    ``derived[i]`` is True when study i rests on a derivation (``derivation[i]`` says which).
    ``covariates`` is a DataFrame aligned with the studies (extra columns such as year, subgroup variables).
    ``positions[i]`` is the 0-based data row of study i in its file. ``zero_total`` (count data) holds the studies
    left out because no patient (or every patient) had the event in both arms -- ``studies, ai, n1i, ci, n2i,
    positions, year`` -- which a trial sequential analysis needs to follow RTSA's conventions.
    """

    studies: list[str]
    yi: np.ndarray
    vi: np.ndarray
    measure: str
    counts: dict[str, np.ndarray] | None = None
    derived: list[bool] = field(default_factory=list)
    derivation: list[str | None] = field(default_factory=list)
    excluded: list[Excluded] = field(default_factory=list)
    covariates: pd.DataFrame | None = None
    positions: list[int] = field(default_factory=list)
    zero_total: dict | None = None

    def __post_init__(self) -> None:
        self.yi = np.asarray(self.yi, dtype=float)
        self.vi = np.asarray(self.vi, dtype=float)
        k = len(self.studies)
        if self.yi.shape != (k,) or self.vi.shape != (k,):
            raise AnalysisError("internal: yi, vi and study labels differ in length")
        if not self.derived:
            self.derived = [False] * k
        if not self.derivation:
            self.derivation = [None] * k
        if not self.positions:
            self.positions = list(range(k))
        if self.covariates is None:
            self.covariates = pd.DataFrame(index=range(k))
        else:
            self.covariates = self.covariates.reset_index(drop=True)

    @property
    def k(self) -> int:
        return len(self.studies)

    @property
    def sei(self) -> np.ndarray:
        return np.sqrt(self.vi)

    def subset(self, mask: Sequence[bool]) -> "EffectData":
        """The studies where ``mask`` is True (exclusions are carried over unchanged)."""
        m = np.asarray(mask, dtype=bool)
        idx = np.flatnonzero(m)
        counts = None if self.counts is None else {key: val[m] for key, val in self.counts.items()}
        return EffectData(
            studies=[self.studies[i] for i in idx],
            yi=self.yi[m],
            vi=self.vi[m],
            measure=self.measure,
            counts=counts,
            derived=[self.derived[i] for i in idx],
            derivation=[self.derivation[i] for i in idx],
            excluded=list(self.excluded),
            covariates=self.covariates.iloc[idx].reset_index(drop=True),
            positions=[self.positions[i] for i in idx],
            zero_total=self.zero_total,
        )

    def to_dict(self, level: float = 0.95) -> dict:
        """Per-study rows (ratio scale and log scale), exclusions and the measure; JSON-safe."""
        rows = [{k: (v if not isinstance(v, float) or math.isfinite(v) else None) for k, v in r.items()}
                for r in self.table(level)]
        return {"measure": self.measure, "k": self.k, "studies": rows,
                "excluded": [e.to_dict() for e in self.excluded]}

    def table(self, level: float = 0.95) -> list[dict]:
        """Per-study estimate and CI on the ratio scale (Wald on the log scale, as metafor)."""
        z = float(stats.norm.ppf(0.5 + level / 2))
        se = self.sei
        return [
            {
                "study": s,
                "log_est": float(y),
                "se": float(e),
                "est": math.exp(y),
                "lo": math.exp(y - z * e),
                "hi": math.exp(y + z * e),
                "derived": bool(d),
                "derivation": dv,
            }
            for s, y, e, d, dv in zip(self.studies, self.yi, se, self.derived, self.derivation)
        ]


def log_ratio_from_ci(est, lo, hi, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """``(yi, vi)`` from ratios and their CI: ``yi = log(est)``, ``se = (log hi - log lo) / (2 z)``.

    Inputs must be positive with ``lo < hi`` (checked by the caller, which knows the row numbers).
    """
    est, lo, hi = (np.asarray(a, dtype=float) for a in (est, lo, hi))
    z = float(stats.norm.ppf(0.5 + level / 2))
    se = (np.log(hi) - np.log(lo)) / (2.0 * z)
    return np.log(est), se**2


def log_ratio_from_counts(ai, n1i, ci, n2i, measure: str = "RR", add: float = 0.5,
                          to: str = "only0") -> tuple[np.ndarray, np.ndarray]:
    """Log RR or log OR and sampling variance from 2x2 counts, as metafor ``escalc``.

    ``to="only0"`` (default) adds ``add`` to all four cells of studies with a zero cell; ``"all"`` to every
    study; ``"none"`` never. Double-zero studies must be removed before (see :func:`double_zero`).
    Reference: Viechtbauer W. J Stat Softw 2010;36(3); Cochrane Handbook 6.4.
    """
    measure = measure.upper()
    if measure not in MEASURES_COUNTS:
        raise AnalysisError(f"measure must be one of {', '.join(MEASURES_COUNTS)} for event counts")
    ai, n1i, ci, n2i = (np.asarray(a, dtype=float) for a in (ai, n1i, ci, n2i))
    bi, di = n1i - ai, n2i - ci
    if to == "only0":
        zero = (ai == 0) | (bi == 0) | (ci == 0) | (di == 0)
        inc = np.where(zero, add, 0.0)
    elif to == "all":
        inc = np.full(ai.shape, add)
    elif to == "none":
        inc = np.zeros(ai.shape)
    else:
        raise AnalysisError('continuity correction "to" must be "only0", "all" or "none"')
    a, b, c, d = ai + inc, bi + inc, ci + inc, di + inc
    with np.errstate(divide="ignore", invalid="ignore"):
        if measure == "RR":
            yi = np.log(a / (a + b)) - np.log(c / (c + d))
            vi = 1 / a - 1 / (a + b) + 1 / c - 1 / (c + d)
        else:
            yi = np.log(a * d / (b * c))
            vi = 1 / a + 1 / b + 1 / c + 1 / d
    return yi, vi


def double_zero(ai, n1i, ci, n2i) -> np.ndarray:
    """True where a study has no events in both arms or events in every patient of both arms."""
    ai, n1i, ci, n2i = (np.asarray(a, dtype=float) for a in (ai, n1i, ci, n2i))
    return ((ai == 0) & (ci == 0)) | ((ai == n1i) & (ci == n2i))


def se_from_p(log_ratio: float, p: float) -> float:
    """Standard error of a log ratio from its two-sided p-value (Altman & Bland, BMJ 2011;343:d2090).

    ``z = -0.862 + sqrt(0.743 - 2.404 * ln(p))`` and ``se = |log_ratio| / z``. Returns NaN when the p-value
    is outside (0, 1) or the ratio is 1 (no information on the standard error).
    """
    if not (0.0 < p < 1.0) or log_ratio == 0.0 or not math.isfinite(log_ratio):
        return math.nan
    z = -0.862 + math.sqrt(0.743 - 2.404 * math.log(p))
    if z <= 0:
        return math.nan
    return abs(log_ratio) / z


_P_RE = re.compile(r"^\s*(?:p\s*)?([<>≤≥]=?|=)?\s*(\d*\.?\d+(?:[eE][-+]?\d+)?)\s*$", re.IGNORECASE)


def parse_p_value(text) -> tuple[float, str] | None:
    """Parse a printed p-value: ``"0.039"`` -> (0.039, "exact"), ``"<0.001"`` -> (0.001, "upper bound").

    ``">0.05"`` -> (0.05, "lower bound"). Blank or unreadable text -> None.
    """
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return None
    if isinstance(text, (int, float, np.floating, np.integer)):
        return float(text), "exact"
    m = _P_RE.match(str(text))
    if not m:
        return None
    op, num = m.group(1), float(m.group(2))
    if op in ("<", "<=", "≤"):
        return num, "upper bound"
    if op in (">", ">=", "≥"):
        return num, "lower bound"
    return num, "exact"


def counts_from_percentage(pct: float, n: float) -> int:
    """Events from a reported percentage of ``n`` patients: ``round(pct / 100 * n)`` (halves round up)."""
    return int(math.floor(pct / 100.0 * n + 0.5))
