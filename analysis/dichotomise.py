"""Dichotomising a continuous marker at a cutoff, and the display names used in group labels.

The rule is the seed paper's: the *low* group is ``value <= cutoff``, the *high* group is ``value > cutoff``.
A patient whose value is missing belongs to neither group (NaN).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis import schema
from analysis.errors import AnalysisError
from analysis.numeric import numbers_or_raise, to_numeric

#: cutoffs reported in the seed paper (units as in :data:`analysis.schema.NUMERIC_COLUMNS`)
PAPER_CUTOFFS: dict[str, float] = {
    "age": 58, "tb": 14.5, "albumin": 40, "alt": 42, "ast": 56.5, "alp": 174.5, "ggt": 188.5,
    "pt": 13.1, "afp": 48, "pivka_ii": 46, "crp": 16.5, "nlr": 1.77, "tumor_size_mm": 110,
}

def display_name(col: str) -> str:
    """Short name of a column in group labels (``ast`` -> ``AST``): :func:`analysis.schema.display_name`."""
    return schema.display_name(col)


def format_cutoff(x: float) -> str:
    """Shortest text that reads back as the same number: ``56.5``, ``1.77``, ``58`` (not ``58.0``)."""
    x = float(x)
    if not math.isfinite(x):
        raise AnalysisError("the cutoff must be a finite number")
    if x.is_integer() and abs(x) < 1e15:
        return str(int(x))
    return repr(x)


def default_cutoff(col: str, values: pd.Series | np.ndarray | None = None, paper: bool = True) -> float:
    """Starting cutoff for a column: the seed paper's (:data:`PAPER_CUTOFFS`) when it has one and ``paper``
    defaults apply (:func:`analysis.schema.follows_paper`), otherwise :func:`round_cutoff` near the median.
    Raises :class:`AnalysisError` when there is neither."""
    if paper and col in PAPER_CUTOFFS:
        return float(PAPER_CUTOFFS[col])
    arr = np.asarray(to_numeric(pd.Series(values if values is not None else [], dtype=object),
                                errors="coerce"), dtype=float)
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        raise AnalysisError(f"column '{col}' has no numeric values to choose a cutoff from")
    return round_cutoff(arr)


def round_cutoff(values: np.ndarray) -> float:
    """A round cutoff near the median that is no patient's value: the roundest number (fewest significant
    digits; 1, 2, 5 x 10^k steps) strictly between the two distinct values around the median, as the paper's
    56.5 lies between observed values. Every cutoff in that interval splits the patients the same way (low
    group: value <= cutoff), so the choice changes no number; it keeps a patient's value out of URLs and logs.
    A column with one distinct value gets that value."""
    u = np.unique(np.asarray(values, dtype=float)[np.isfinite(values)])
    if u.size == 0:
        raise AnalysisError("no numeric values to choose a cutoff from")
    if u.size == 1:
        return float(u[0])
    median = float(np.median(values[np.isfinite(values)]))
    k = int(np.searchsorted(u, median, side="right"))       # first distinct value above the median
    k = min(max(k, 1), u.size - 1)
    low, high = float(u[k - 1]), float(u[k])
    span = high - low
    exponent = math.floor(math.log10(span)) if span > 0 else 0
    for e in range(exponent + 1, exponent - 16, -1):
        for step in (10.0 ** e * m for m in (5, 2, 1)):
            first = math.floor(low / step) * step + step
            candidates = [first + i * step for i in range(0, 3)]
            inside = [c for c in candidates if low < c < high]
            if inside:
                best = min(inside, key=lambda c: abs(c - (low + high) / 2))
                return float(f"{best:.12g}")
    return (low + high) / 2


def outside_range_note(column: str, cutoff: float, group: str, n: int) -> str:
    """The note when a cutoff leaves every patient in one group (``group``: "low" or "high")."""
    name, text = schema.display_name(column), format_cutoff(cutoff)
    where = "at or above every" if group == "low" else "below every"
    return (f"the cutoff {text} is {where} value of {name}: all {n} patients are in the {group} group, so there "
            f"is no comparison; choose a cutoff inside the range of the data")


@dataclass
class Dichotomy:
    """A marker split at a cutoff.

    ``high`` is aligned with the input: 1.0 where value > cutoff, 0.0 where value <= cutoff, NaN where the
    value is missing.
    """

    high: pd.Series
    low_label: str
    high_label: str
    n_missing: int
    cutoff: float
    column: str
    n_low: int
    n_high: int

    def to_dict(self) -> dict:
        return {"column": self.column, "cutoff": self.cutoff, "low_label": self.low_label,
                "high_label": self.high_label, "n_low": self.n_low, "n_high": self.n_high,
                "n_missing": self.n_missing}


def group_labels(column: str, cutoff) -> tuple[float, str, str]:
    """The checked cutoff and the two group labels, ``("AST <= 56.5", "AST > 56.5")``."""
    try:
        cut = float(cutoff)
    except (TypeError, ValueError):
        raise AnalysisError(f"the cutoff for column '{column}' must be a number") from None
    if not math.isfinite(cut):
        raise AnalysisError(f"the cutoff for column '{column}' must be a finite number")
    label, text = display_name(column), format_cutoff(cut)
    return cut, f"{label} <= {text}", f"{label} > {text}"


def dichotomise(values: pd.Series, cutoff: float, name: str | None = None) -> Dichotomy:
    """Split ``values`` at ``cutoff``: low is ``value <= cutoff`` (the paper's rule), high is ``> cutoff``.

    ``name`` (default: the series name) is the column used in labels via :func:`display_name`, e.g.
    ``"AST <= 56.5"`` / ``"AST > 56.5"``. Non-numeric text in the column or a non-finite cutoff raises
    :class:`AnalysisError`.
    """
    col = name if name is not None else (str(values.name) if values.name is not None else "value")
    cut, low_label, high_label = group_labels(col, cutoff)
    series = values if isinstance(values, pd.Series) else pd.Series(values)
    num = numbers_or_raise(series, lambda lines: f"column '{col}' must be numeric to apply a cutoff; non-numeric "
                                                 f"values in {lines}", index=series.index)
    arr = num.to_numpy(dtype=float)
    missing = np.isnan(arr)
    high = np.where(missing, np.nan, (arr > cut).astype(float))
    return Dichotomy(
        high=pd.Series(high, index=series.index, name=f"{col} > {format_cutoff(cut)}"),
        low_label=low_label,
        high_label=high_label,
        n_missing=int(missing.sum()),
        cutoff=cut,
        column=col,
        n_low=int(np.sum(high == 0.0)),
        n_high=int(np.sum(high == 1.0)),
    )
