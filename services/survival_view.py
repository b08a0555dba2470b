"""What the survival pages ask of a dataset: variable choices, cutoff controls, and memoised KM results."""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
import time
from threading import Lock

import numpy as np
import pandas as pd

from analysis import schema
from analysis.cutoffs import default_cutoff, display_name
from analysis.cutoff_split import CutoffSplitter
from analysis.cutpoint import optimal_cutpoint
from analysis.survival import km_by_group
from services.store import Dataset, dataset_ttl, memoised

ENDPOINT_LABELS = {"pfs": "Progression-free survival", "os": "Overall survival"}
#: landmark rates shown on the figure (the paper's: PFS 6/12/24, OS 12/24/36 months)
LANDMARKS = {"pfs": (6.0, 12.0, 24.0), "os": (12.0, 24.0, 36.0)}
#: x-axis ticks and the number-at-risk table
RISK_TIMES = {"pfs": (0.0, 6.0, 12.0, 18.0, 24.0, 30.0, 36.0, 42.0, 48.0),
              "os": (0.0, 6.0, 12.0, 18.0, 24.0, 30.0, 36.0, 42.0, 48.0)}
#: the paper's Figure 3/4 panels
GRID_VARIABLES = ("ast", "alp", "nlr", "child_pugh", "ehm", "metabolic_comorbidity", "treatment", "tb", "crp")
MAX_LEVELS = 12
NOT_STRATIFIERS = {"patient_id", *schema.TIME_COLUMNS, *schema.EVENT_COLUMNS}


@dataclass(frozen=True)
class CutoffSpec:
    low: float
    high: float
    step: float
    default: float
    marks: dict


def variable_options(ds: Dataset) -> list[dict]:
    """Dropdown options: no stratification, numeric columns (cut), categorical columns with few levels."""
    frame = ds.frame
    options = [{"label": "None (all patients)", "value": "none"}]
    numeric, categorical = [], []
    for col in frame.columns:
        if col in NOT_STRATIFIERS or schema.is_ae_column(col):
            continue
        series = frame[col]
        if pd.api.types.is_numeric_dtype(series):
            if series.notna().sum() >= 2 and series.nunique() >= 2:
                numeric.append({"label": f"{display_name(col)} (cutoff)", "value": col})
        elif 2 <= series.nunique() <= MAX_LEVELS:
            categorical.append({"label": display_name(col), "value": col})
    return options + numeric + categorical


def _nice_step(span: float) -> float:
    raw = span / 400 if span > 0 else 1.0
    power = 10 ** np.floor(np.log10(raw))
    return float(min((m * power for m in (1, 2, 5, 10) if m * power >= raw), default=raw))


def is_cuttable(ds: Dataset, var: str | None) -> bool:
    """Whether ``var`` is a numeric column (split at a cutoff): from the dataset's metadata, without its frame."""
    return bool(var) and var != "none" and var in ds.numeric_columns


def cutoff_control_spec(ds: Dataset, var: str | None) -> CutoffSpec | None:
    """Slider range, step, marks and default cutoff for a numeric column; None for categorical or none.

    Quantiles over the whole column: called when the variable changes, not on every cutoff update."""
    if not is_cuttable(ds, var):
        return None
    values = ds.frame[var]
    finite = values[np.isfinite(values)]
    if finite.empty:
        return None
    low, high = float(finite.quantile(0.02)), float(finite.quantile(0.98))
    if high <= low:
        low, high = float(finite.min()), float(finite.max())
    step = _nice_step(high - low)
    low, high = np.floor(low / step) * step, np.ceil(high / step) * step
    default = default_cutoff(var, finite)
    default = min(max(default, low), high)
    marks = {float(round(v, 10)): f"{v:.3g}" for v in np.linspace(low, high, 5)}
    return CutoffSpec(float(low), float(high), step, float(default), marks)


class SplitterCache:
    """Per-process LRU of :class:`CutoffSplitter` objects, keyed by (dataset content hash, endpoint, column).

    The one process-local cache in the app, and deliberately so: a splitter is derived, immutable data (the
    cohort sorted once), keyed by content, identical in every worker; keeping it in memory is what makes a
    slider drag O(n) instead of a sort plus a cache read. It holds no user state, and it is reached only after
    ``get_dataset`` has checked that the dataset exists and belongs to the session. Entries unused for
    ``max_idle`` seconds (default: 10 minutes, at most the dataset expiry) are dropped at the next access, so
    patient values do not linger in a worker's memory long after their dataset was removed.
    """

    def __init__(self, size: int = 8, max_idle: float | None = None):
        self.size, self._items, self._lock = size, OrderedDict(), Lock()
        self.max_idle = max_idle

    def _idle_limit(self) -> float:
        return self.max_idle if self.max_idle is not None else min(600.0, float(dataset_ttl()))

    def get(self, ds: Dataset, endpoint: str, var: str) -> CutoffSplitter:
        key = (ds.content_hash, endpoint, var)
        now = time.monotonic()
        with self._lock:
            for old in [k for k, (_s, used) in self._items.items() if now - used > self._idle_limit()]:
                del self._items[old]
            if key in self._items:
                self._items.move_to_end(key)
                splitter = self._items[key][0]
                self._items[key] = (splitter, now)
                return splitter
        time_col, event_col = schema.ENDPOINTS[endpoint]
        splitter = CutoffSplitter(ds.frame, time_col, event_col, var)
        with self._lock:
            self._items[key] = (splitter, now)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return splitter

    def __len__(self) -> int:
        return len(self._items)


splitters = SplitterCache()


def km_times(endpoint: str) -> tuple[float, ...]:
    return tuple(sorted(set(RISK_TIMES[endpoint]) | set(LANDMARKS[endpoint])))


def stratified_km(ds: Dataset, endpoint: str, var: str | None, cutoff: float | None, ci: str):
    """KM by group with the page's risk-table and landmark times.

    A numeric column cut at ``cutoff`` takes the hot path (:class:`CutoffSplitter`, sorted once per process);
    everything else is :func:`analysis.survival.km_by_group`, memoised in the shared cache.
    """
    time_col, event_col = schema.ENDPOINTS[endpoint]
    by = None if not var or var == "none" else var
    if by is not None and cutoff is not None:
        return splitters.get(ds, endpoint, by).split(float(cutoff), ci=ci, at=km_times(endpoint))
    return memoised(km_by_group, ds, time_col, event_col, by=by, cutoff=None, ci=ci, at=km_times(endpoint))


#: resampling for the "find optimal cutoff" button (the quick scan uses none)
PERMUTATIONS, BOOTSTRAP = 1000, 500


def cutpoint_scan(ds: Dataset, endpoint: str, var: str, full: bool = False, progress=None):
    """Memoised maximally selected log-rank statistic of ``var``; ``full`` adds permutations and bootstrap."""
    time_col, event_col = schema.ENDPOINTS[endpoint]
    return memoised(optimal_cutpoint, ds, time_col, event_col, var,
                    permutations=PERMUTATIONS if full else 0, bootstrap=BOOTSTRAP if full else 0, split=full,
                    progress=progress)
