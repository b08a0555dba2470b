"""Efron's approximation for tied event times in the Cox partial likelihood, shared by the two-group hazard
ratio of the slider (:class:`analysis.survival.SortedSurvival`) and the Cox models (:mod:`analysis.cox`).

At a distinct time with ``d`` events, Efron (1977) replaces the one risk-set sum of the Breslow likelihood by
``d`` sums, one per event row ``l = 0, ..., d-1``: the risk-set sum minus ``l/d`` of the sum over the ``d``
events at that time. :class:`EfronRows` is that row expansion (which distinct time each event row belongs to, and
its fraction ``l/d``); :meth:`EfronRows.risk_sums` evaluates the ``d`` sums of any per-time quantity (counts,
``exp(eta)``, ``exp(eta) x``, ``exp(eta) x x'``); :func:`risk_set` turns per-time tallies into risk-set tallies
(everyone whose time is at or after each distinct time).

Reference: Efron B. (1977), "The efficiency of Cox's likelihood function for censored data", JASA 72:557-565;
Therneau & Grambsch (2000), *Modeling Survival Data*, 3.3 (R ``coxph(ties = "efron")``).
"""
from __future__ import annotations

import numpy as np


def risk_set(per_time: np.ndarray) -> np.ndarray:
    """Sums over the risk set of each distinct time (sorted ascending): the reverse cumulative sum along the
    first axis of per-time tallies."""
    return np.cumsum(per_time[::-1], axis=0)[::-1]


class EfronRows:
    """One row per event: ``time`` is the index of its distinct time, ``frac`` is ``l/d`` for the ``l``-th of
    the ``d`` events at that time (0 for a time with one event).

    ``deaths``: the number of events at each distinct time (any numeric array; whole numbers).
    """

    __slots__ = ("time", "frac", "event_times", "events")

    def __init__(self, deaths: np.ndarray):
        self.event_times = np.flatnonzero(deaths > 0)
        dj = deaths[self.event_times].astype(int)
        self.time = np.repeat(self.event_times, dj)
        first = np.repeat(np.cumsum(dj) - dj, dj)
        self.frac = (np.arange(self.time.size) - first) / np.repeat(dj, dj)
        self.events = int(dj.sum())

    def risk_sums(self, at_risk: np.ndarray, at_events: np.ndarray) -> np.ndarray:
        """Efron's risk-set sum of each event row: ``at_risk[j] - frac * at_events[j]`` for the row's distinct
        time ``j``, where ``at_risk`` is a quantity summed over the risk set and ``at_events`` the same summed
        over the events, per distinct time (first axis; further axes are kept, as for ``x`` or ``x x'``)."""
        j = self.time
        f = self.frac if at_risk.ndim == 1 else self.frac.reshape((-1,) + (1,) * (at_risk.ndim - 1))
        return at_risk[j] - f * at_events[j]
