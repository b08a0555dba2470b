"""Median follow-up by the reverse Kaplan-Meier method against R: ``quantile(survfit(Surv(time, 1 - status) ~ 1))``
on public datasets, the demo cohort and toy data (flat stretches, ties, quartiles not reached); reference values
written by tests/reference/followup.R into tests/reference/followup.json."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from analysis.survival import reverse_km_followup

ROOT = Path(__file__).resolve().parents[1]
REF = json.loads((ROOT / "tests" / "reference" / "followup.json").read_text())
CASES = {k: v for k, v in REF.items() if isinstance(v, dict)}


def close(a, b) -> bool:
    if b is None:
        return math.isnan(a)
    return abs(a - b) <= 1e-6 * abs(b) + 1e-12


@pytest.mark.parametrize("name", sorted(CASES))
def test_reverse_km_quartiles_equal_r(name):
    case = CASES[name]
    d = pd.read_csv(ROOT / case["file"])
    both = d[[case["time"], case["event"]]].dropna()
    fu = reverse_km_followup(both[case["time"]], both[case["event"]])
    assert (fu.n, fu.censored) == (case["n"], case["censored"])
    for key in ("q1", "median", "q3"):
        assert close(getattr(fu, key), case[key]), (key, getattr(fu, key), case[key])


def test_reference_covers_the_hard_cases():
    assert any(c["median"] is None for c in CASES.values())                   # not reached
    assert any(c["q1"] == c["q3"] is not None for c in CASES.values())        # every censoring at one time
    assert len(CASES) >= 10
