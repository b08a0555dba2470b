"""The one family of formatters for what the pages, figures and deliverables print: p-values, ratios, confidence
intervals, medians, counts with percentages and plain numbers (in the manner of metafor's ``.pval`` / ``fmtx``).

Every table cell, caption, hover text, slide and document paragraph formats its numbers here, so a value reads
the same wherever it is the same kind of value:

- :func:`format_p` -- ``0.450`` / ``<0.001`` in a table's p column; ``p = 0.450`` / ``p < 0.001`` in text
  (``prefix``); ``short`` keeps two decimals from 0.1 up (``p = 0.45``, the meta-analysis pages' reading).
- :func:`format_ratio` -- a hazard, risk or odds ratio: two decimals, two significant digits below 0.095, none
  from 99.5 up; :func:`format_ci` -- ``0.40–0.65`` (a ratio's limits, or fixed decimals with ``digits``);
  :func:`format_estimate` -- ``0.51 (0.40–0.65)``.
- :func:`format_number`, :func:`format_percent`, :func:`format_n_pct`, :func:`format_median`,
  :func:`format_tau2` -- numbers with a fixed number of decimals and a true minus sign.
- :func:`format_group`, :func:`format_hr_label`, :func:`format_hr` -- a group label and a two-group hazard
  ratio with its direction (``HR ALP > 174.5 vs ≤ 174.5: 2.41 (1.69–3.43)``).

A missing value (``None``, NaN, ±inf) prints as ``MISSING`` (an en dash) unless a caller names another text
(``NR``, not reached, for a survival median or quantile). Nothing here computes a statistic.
"""
from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

#: what a cell shows for a value that is not there
MISSING = "–"
#: a survival median / quantile the curve does not reach
NOT_REACHED = "NR"


def finite(x: Any) -> bool:
    """A real number that is neither NaN nor infinite (``None``, booleans and text are not; numpy's integers and
    floats are)."""
    return isinstance(x, numbers.Real) and not isinstance(x, (bool, np.bool_)) and math.isfinite(float(x))


def _minus(text: str) -> str:
    return text.replace("-", "−")


# ---------------------------------------------------------------------------------------------------------
# p-values
# ---------------------------------------------------------------------------------------------------------
def format_p(p: Any, *, prefix: str = "", short: bool = False) -> str:
    """A p-value: three decimals, ``<0.001`` below 0.001.

    ``prefix=""``: the table cell (``0.450``, ``<0.001``, ``–`` when missing); ``prefix="p"``: running text
    (``p = 0.450``, ``p < 0.001``, ``p not available``). ``short``: two decimals from 0.1 up (``p = 0.45``,
    ``p = 0.018``), the meta-analysis pages' reading (as metafor prints it)."""
    if prefix not in ("", "p"):
        raise ValueError(f"unknown p prefix {prefix!r}")
    if not finite(p):
        return "p not available" if prefix else MISSING
    if p < 0.001:
        return "p < 0.001" if prefix else "<0.001"
    value = f"{p:.2f}" if short and p >= 0.1 else f"{p:.3f}"
    return f"p = {value}" if prefix else value


# ---------------------------------------------------------------------------------------------------------
# ratios and intervals
# ---------------------------------------------------------------------------------------------------------
def format_ratio(x: Any, *, missing: str = MISSING) -> str:
    """A hazard / risk / odds ratio: ``0.51``; two significant digits below 0.095 (``0.012``), no decimals from
    99.5 up (``120``)."""
    if not finite(x):
        return missing
    if x < 0.095:
        return f"{x:.2g}"
    return f"{x:.2f}" if x < 99.5 else f"{x:.0f}"


def format_number(x: Any, digits: int = 2, *, missing: str = MISSING) -> str:
    """``x`` with ``digits`` decimals and a true minus sign (``−1.25``)."""
    if not finite(x):
        return missing
    return _minus(f"{x:.{digits}f}")


def format_percent(x: Any, digits: int | None = 1, *, sign: bool = True, missing: str = MISSING) -> str:
    """A proportion as a percentage: ``0.1234`` -> ``12.3%`` (``sign=False``: ``12.3``); ``digits=None``: a
    whole percentage without decimals, else one (``30%``, ``2.5%``)."""
    if not finite(x):
        return missing
    v = 100 * x
    if digits is None:
        digits = 0 if abs(v - round(v)) < 1e-9 else 1
    return format_number(v, digits) + ("%" if sign else "")


def format_ci(lo: Any, hi: Any, digits: int | None = None, *, percent: bool = False, missing: str = MISSING,
              limit_missing: str | None = None) -> str:
    """``0.40–0.65``: the limits of an interval, as ratios (:func:`format_ratio`) or with ``digits`` decimals
    (``percent``: of a proportion, as percentages). ``missing`` when a limit is missing, or with
    ``limit_missing`` (``NR``) only that limit (``15.8–NR``)."""
    if limit_missing is None and not (finite(lo) and finite(hi)):
        return missing

    def one(x):
        if not finite(x):
            return limit_missing
        if percent:
            return format_percent(x, 1 if digits is None else digits, sign=False)
        return format_ratio(x) if digits is None else format_number(x, digits)

    return f"{one(lo)}–{one(hi)}"


def format_estimate(est: Any, lo: Any, hi: Any, digits: int | None = None, *, missing: str = MISSING) -> str:
    """An estimate and its interval: ``0.51 (0.40–0.65)`` (ratios, or ``digits`` decimals)."""
    value = format_ratio(est, missing=missing) if digits is None else format_number(est, digits, missing=missing)
    return f"{value} ({format_ci(lo, hi, digits, missing=missing)})"


def format_median(median: Any, lo: Any, hi: Any, digits: int = 1, *, missing: str = NOT_REACHED) -> str:
    """A survival median (or a median and its IQR) with its interval: ``12.3 (9.1–NR)``; NR, not reached."""
    return (f"{format_number(median, digits, missing=missing)} "
            f"({format_ci(lo, hi, digits, limit_missing=missing)})")


def format_tau2(x: Any) -> str:
    """τ²: ``0`` when zero, ``< 0.001`` below it, else three decimals."""
    if not finite(x):
        return MISSING
    if x == 0:
        return "0"
    return "< 0.001" if x < 0.001 else f"{x:.3f}"


def format_n_pct(n: int | str, pct: Any, digits: int = 1, sign: bool = False, zero_plain: bool = False) -> str:
    """``42 (13.9)`` (``sign=True``: ``42 (13.9%)``); with ``zero_plain`` a zero count is ``0`` alone, as the
    paper's Table 5 prints it; the count alone when there is no percentage."""
    if not finite(pct) or (zero_plain and n == 0):
        return f"{n}"
    return f"{n} ({pct:.{digits}f}{'%' if sign else ''})"


# ---------------------------------------------------------------------------------------------------------
# groups and two-group hazard ratios
# ---------------------------------------------------------------------------------------------------------
def format_group(label: Any) -> str:
    """A group label as the tables and figures print it: ``AST <= 56.5`` -> ``AST ≤ 56.5`` (the analysis layer's
    labels keep ASCII for the JSON contract)."""
    return str(label).replace(" <= ", " ≤ ").replace(" >= ", " ≥ ")


def _comparison(group: str, reference: str) -> str:
    """``AST > 56.5`` vs ``AST <= 56.5`` -> ``AST > 56.5 vs ≤ 56.5``; ``Sex = Female`` vs ``Sex = Male`` ->
    ``Sex = Female vs Male`` (the shared words said once)."""
    group, reference = format_group(group), format_group(reference)
    g, r = group.split(" "), reference.split(" ")
    k = 0
    while k < min(len(g), len(r)) - 1 and g[k] == r[k]:
        k += 1
    return f"{group} vs {' '.join(r[k:])}" if k else f"{group} vs {reference}"


def format_hr_label(hr) -> str:
    """``HR ALP > 174.5 vs ≤ 174.5``: which group's hazard is compared with which (the reference), from a
    stratified KM result's ``hr`` (its ``group`` and ``reference``)."""
    return f"HR {_comparison(hr.group, hr.reference)}"


def format_hr(result) -> str | None:
    """The two-group HR of a stratified KM result: ``HR ALP > 174.5 vs ≤ 174.5: 2.41 (1.69–3.43)``; ``...: not
    estimable`` when there is none to estimate; None without a two-group comparison."""
    if result.hr is None:
        return None
    r = result.hr.result
    if not finite(r.hr):
        return f"{format_hr_label(result.hr)}: not estimable"
    return f"{format_hr_label(result.hr)}: {format_estimate(r.hr, r.lo, r.hi)}"
