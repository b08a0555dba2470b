"""Safe number conversion for text that comes from uploads.

pandas < 3 crashes the whole process (segmentation fault) when ``pd.to_numeric`` meets a number whose exponent
overflows a C int, e.g. ``"1e+342064567324"`` (pandas GH#63650, GH#62617). Any category label, code or cell of an
uploaded file can be such a string, so every conversion in ``analysis/`` goes through :func:`to_numeric` here:
text with an absurd exponent (5+ digits: no real measurement has one) is treated as not a number.
"""
from __future__ import annotations

import re
from typing import Callable

import numpy as np
import pandas as pd

from analysis.errors import AnalysisError
from analysis.validate import lines_where

HUGE_EXPONENT = re.compile(r"[eE]\s*[+-]?\s*\d{5,}")


def _screen(series: pd.Series) -> pd.Series:
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    if not len(uniques):
        return series
    bad_level = np.array([isinstance(u, (str, bytes)) and bool(HUGE_EXPONENT.search(str(u))) for u in uniques])
    if not bad_level.any():
        return series
    bad = (codes >= 0) & bad_level[np.where(codes >= 0, codes, 0)]
    return series.where(~bad, np.nan)


def to_numeric(values, errors: str = "coerce", **kwargs):
    """``pd.to_numeric`` with the absurd-exponent screen; same inputs and return types."""
    if isinstance(values, (str, bytes)):
        return np.nan if HUGE_EXPONENT.search(str(values)) and errors == "coerce" else \
            pd.to_numeric(values, errors=errors, **kwargs)
    if isinstance(values, pd.Series):
        if values.dtype == object or isinstance(values.dtype, pd.StringDtype):
            values = _screen(values)
        return pd.to_numeric(values, errors=errors, **kwargs)
    if isinstance(values, pd.Index):
        return pd.Index(to_numeric(pd.Series(values), errors=errors, **kwargs))
    if np.isscalar(values) or values is None:
        return pd.to_numeric(values, errors=errors, **kwargs)
    arr = np.asarray(values)
    if arr.dtype == object or arr.dtype.kind in "US":
        return to_numeric(pd.Series(arr.ravel(), dtype=object), errors=errors, **kwargs).to_numpy()
    return pd.to_numeric(arr, errors=errors, **kwargs)


def is_number(text: str) -> bool:
    """Whether Python's ``float`` reads ``text`` as a number (``"nan"`` and ``"inf"`` included; no pandas, so no
    exponent screen is needed)."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def numbers_or_raise(values, message: Callable[[str], str], index=None) -> pd.Series:
    """A column's values as numbers (booleans as 0/1, missing cells NaN), by :func:`to_numeric`. A cell holding
    text that is not a number raises :class:`~analysis.errors.AnalysisError` with ``message(lines)``, ``lines``
    naming the file lines of such cells (:func:`analysis.validate.lines_where`, with ``index`` as it takes it)."""
    series = values if isinstance(values, pd.Series) else pd.Series(values)
    if pd.api.types.is_bool_dtype(series):
        series = series.astype(float)
    numbers = to_numeric(series, errors="coerce")
    bad = numbers.isna() & series.notna()
    if bad.any():
        raise AnalysisError(message(lines_where(bad.to_numpy(), index=index)))
    return numbers
