"""The one formatter family (components/format.py): numpy's numbers read as Python's, missing values as the
dash or NR, never as a number."""
from __future__ import annotations

import math

import numpy as np
import pytest

from components.format import (MISSING, NOT_REACHED, finite, format_ci, format_estimate, format_median,
                               format_number, format_p, format_ratio)


@pytest.mark.parametrize("value", [np.int64(7), np.int32(7), np.float32(7.0), np.float64(7.0), 7, 7.0])
def test_numpy_numbers_read_as_python_numbers(value):
    assert finite(value)
    assert format_number(value, 1) == "7.0"
    assert format_ratio(value) == "7.00"


@pytest.mark.parametrize("value", [None, math.nan, np.nan, math.inf, -np.inf, True, np.bool_(True), "0.5"])
def test_what_is_not_a_finite_number_prints_as_missing(value):
    assert not finite(value)
    assert format_number(value) == MISSING and format_ratio(value) == MISSING and format_p(value) == MISSING
    assert format_p(value, prefix="p") == "p not available"


def test_p_values_intervals_and_medians():
    assert format_p(np.float32(0.0004)) == "<0.001" and format_p(0.0004, prefix="p") == "p < 0.001"
    assert format_p(0.45) == "0.450" and format_p(0.45, prefix="p", short=True) == "p = 0.45"
    assert format_estimate(0.512, 0.4, np.float64(0.654)) == "0.51 (0.40–0.65)"
    assert format_ci(0.4, None) == MISSING
    assert format_median(12.34, 9.1, None) == f"12.3 (9.1–{NOT_REACHED})"
    assert format_number(-1.25, 2) == "−1.25"
