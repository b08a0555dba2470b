"""What the survival pages ask of a dataset: its endpoints, variable choices, cutoff controls, time grids, and
memoised KM results. Every choice comes from the dataset's own columns (``Dataset.endpoints``,
``Dataset.profiles``); the paper's cutoffs, landmarks and Figure 3/4 panels are defaults for a cohort like the
paper's (``Dataset.follows_paper``), nothing more."""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
import time
from threading import Lock

import numpy as np

from analysis import schema
from analysis.cutoff_split import CutoffSplitter
from analysis.cutpoint import optimal_cutpoint
from analysis.dichotomise import default_cutoff
from analysis.errors import AnalysisError
from analysis.survival import PAPER_LANDMARKS, default_landmarks, km_by_group, time_axis
from services import config
from services.store import Dataset, memoised

#: the paper's Figure 3/4 panels
GRID_VARIABLES = ("ast", "alp", "nlr", "child_pugh", "ehm", "metabolic_comorbidity", "treatment", "tb", "crp")
#: panels of the grid for a dataset without the paper's variables
GRID_PANELS = 9


@dataclass(frozen=True)
class CutoffSpec:
    low: float
    high: float
    step: float
    default: float
    marks: dict


# --- endpoints -----------------------------------------------------------------------------------------------

def endpoint_options(ds: Dataset) -> list[dict]:
    """Radio options of the endpoints the dataset has (its own names: "Overall survival", "rfstime / status")."""
    return [{"label": e.label, "value": e.key} for e in ds.endpoints]


def endpoint_of(ds: Dataset, key: str | None) -> schema.Endpoint:
    """The endpoint ``key`` of the dataset, else its first one; AnalysisError when it has none."""
    if not ds.endpoints:
        raise AnalysisError("this dataset has no time/event pair to analyse; map its survival time and event "
                            "columns on the Data page")
    return next((e for e in ds.endpoints if e.key == key), ds.endpoints[0])


def endpoint_key(ds: Dataset, key: str | None) -> str | None:
    """``key`` when the dataset has that endpoint, else its first endpoint's key (None: no endpoint)."""
    return endpoint_of(ds, key).key if ds.endpoints else None


def risk_times(ds: Dataset, endpoint: str) -> tuple[float, ...]:
    """Time-axis ticks and number-at-risk times (months) of an endpoint, from its follow-up."""
    return time_axis(ds.longest.get(endpoint_of(ds, endpoint).key, 0.0))


def landmarks(ds: Dataset, endpoint: str, requested=None) -> tuple[float, ...]:
    """Landmark times (months): ``requested`` (the user's, finite and positive), else round times inside the
    follow-up (the paper's 6/12/24 and 12/24/36 for a cohort like the paper's)."""
    wanted = tuple(sorted({float(t) for t in (requested or []) if t is not None and np.isfinite(t) and t > 0}))
    if wanted:
        return wanted[:6]
    e = endpoint_of(ds, endpoint)
    preferred = PAPER_LANDMARKS.get(e.key, ()) if ds.follows_paper else ()
    return default_landmarks(ds.longest.get(e.key, 0.0), preferred)


def km_times(ds: Dataset, endpoint: str, marks=None) -> tuple[float, ...]:
    return tuple(sorted(set(risk_times(ds, endpoint)) | set(landmarks(ds, endpoint, marks))))


# --- variables -------------------------------------------------------------------------------------------------

def variable_options(ds: Dataset) -> list[dict]:
    """Dropdown options: no stratification, then every usable column -- numeric ones cut at a cutoff, columns
    with a few categories (text, or numeric grade/ECOG-like) one curve per level."""
    options = [{"label": "None (all patients)", "value": "none"}]
    numeric, categorical = [], []
    for col, prof in ds.profiles.items():
        if is_cut_stratifier(prof):
            numeric.append({"label": f"{schema.label(col)} — cutoff", "value": col})
        elif "categorical" in prof.uses:
            categorical.append({"label": schema.label(col), "value": col})
    return options + numeric + categorical


def is_cut_stratifier(prof: schema.ColumnProfile) -> bool:
    """A column the survival page splits at a cutoff (rather than one curve per level)."""
    return "cut" in prof.uses and prof.form != "categorical"


def default_variable(ds: Dataset, wanted=()) -> str:
    """The first of ``wanted`` the dataset can stratify by; else AST (the paper's first panel); else none."""
    values = {o["value"] for o in variable_options(ds)}
    return next((w for w in (*wanted, "ast") if w in values), "none")


def grid_variables(ds: Dataset) -> list[str]:
    """The grid's panels: the paper's Figure 3/4 variables the dataset has, else its first stratifiers."""
    values = [o["value"] for o in variable_options(ds)[1:]]
    paper = [v for v in GRID_VARIABLES if v in values] if ds.follows_paper else []
    return paper or values[:GRID_PANELS]


def _nice_step(span: float) -> float:
    raw = span / 400 if span > 0 else 1.0
    power = 10 ** np.floor(np.log10(raw))
    return float(min((m * power for m in (1, 2, 5, 10) if m * power >= raw), default=raw))


def is_cuttable(ds: Dataset, var: str | None) -> bool:
    """Whether ``var`` is split at a cutoff on the survival page: from the dataset's metadata, without its frame."""
    return bool(var) and var != "none" and var in ds.profiles and is_cut_stratifier(ds.profiles[var])


def cutoff_control_spec(ds: Dataset, var: str | None) -> CutoffSpec | None:
    """Slider range, step, marks and default cutoff for a numeric column; None for categorical or none.

    Quantiles over the whole column: called when the variable changes, not on every cutoff update. The default
    is the paper's cutoff for a cohort like the paper's, else a round value between two observed values near
    the median (:func:`analysis.dichotomise.default_cutoff`): never one patient's value."""
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
    default = default_cutoff(var, finite, paper=ds.follows_paper)
    default = min(max(default, low), high)
    marks = {float(round(v, 10)): f"{v:.3g}" for v in np.linspace(low, high, 5)}
    return CutoffSpec(float(low), float(high), step, float(default), marks)


# --- results ---------------------------------------------------------------------------------------------------

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
        return self.max_idle if self.max_idle is not None else min(600.0, float(config.dataset_ttl()))

    def get(self, ds: Dataset, endpoint: str, var: str) -> CutoffSplitter:
        e = endpoint_of(ds, endpoint)
        key = (ds.content_hash, e.time, e.event, var)
        now = time.monotonic()
        with self._lock:
            for old in [k for k, (_s, used) in self._items.items() if now - used > self._idle_limit()]:
                del self._items[old]
            if key in self._items:
                self._items.move_to_end(key)
                splitter = self._items[key][0]
                self._items[key] = (splitter, now)
                return splitter
        splitter = CutoffSplitter(ds.frame, e.time, e.event, var)
        with self._lock:
            self._items[key] = (splitter, now)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return splitter

    def __len__(self) -> int:
        return len(self._items)


splitters = SplitterCache()


def stratified_km(ds: Dataset, endpoint: str, var: str | None, cutoff: float | None, ci: str, marks=None):
    """KM by group with the page's risk-table and landmark times (``marks``: the user's landmarks).

    A numeric column cut at ``cutoff`` takes the hot path (:class:`CutoffSplitter`, sorted once per process);
    everything else is :func:`analysis.survival.km_by_group`, memoised in the shared cache.
    """
    e = endpoint_of(ds, endpoint)
    by = None if not var or var == "none" else var
    at = km_times(ds, e.key, marks)
    if by is not None and cutoff is not None:
        return splitters.get(ds, e.key, by).split(float(cutoff), ci=ci, at=at)
    return memoised(km_by_group, ds, e.time, e.event, by=by, cutoff=None, ci=ci, at=at)


#: resampling for the "find optimal cutoff" button (the quick scan uses none)
PERMUTATIONS, BOOTSTRAP = 1000, 500


def cutpoint_scan(ds: Dataset, endpoint: str, var: str, full: bool = False, progress=None):
    """Memoised maximally selected log-rank statistic of ``var``; ``full`` adds permutations and bootstrap."""
    e = endpoint_of(ds, endpoint)
    return memoised(optimal_cutpoint, ds, e.time, e.event, var,
                    permutations=PERMUTATIONS if full else 0, bootstrap=BOOTSTRAP if full else 0, split=full,
                    progress=progress)
