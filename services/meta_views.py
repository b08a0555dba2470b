"""What the meta-analysis page asks of a study table: the browser session's own (edited or uploaded) copy held on
the server, memoised :func:`analysis.meta.run_meta` results, and the per-study rows the figures and the data grid
show.

* **The study table of a session.** Every session starts on the shipped 17-study file (``data/meta17.csv`` with
  ``data/meta17_provenance.csv``). An edit or an upload stores the session's own copy in ``services.store.cache``
  under a key bound to the browser session (:func:`services.store.current_owner`), so one session never sees
  another's table; it expires after ``HAIC_DATASET_TTL`` seconds without use and :func:`discard_session_data`
  deletes it (with the results computed from it) at once. Every accepted edit is recorded with its source and
  replaces the provenance row of that cell (confidence ``edited by user``), so provenance tooltips, the
  downloaded provenance file and the engine's "counts computed from a percentage" rule all see it.
* **Validation.** An edit or upload is accepted only if the engine can read every outcome of the table; otherwise
  :class:`AnalysisError` (column and data row named, never a value) and the previous table stays in use.
* **Results** are memoised on (table content hash, parameters): the shipped table's results are shared by all
  sessions; results of a session's own table are keyed by session too and deleted with it.

Nothing here computes a statistic; numbers come from ``analysis.meta``.
"""
from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.bounded import read_raw_table   # the upload is read in a bounded child process (issue 13)
from analysis.errors import AnalysisError
from analysis.io import Limits
from analysis.meta import (
    DERIVATIONS, OUTCOMES, PUBLISHED_POOLED, StudyTable, load_study_file, orr_os_correlation, outcome_effects,
    run_meta,
)
from analysis.meta.report import MetaReport, NothingToPool
from analysis.meta.tsa import TSAResult, TSASettings, tsa_for_effects
from analysis.numeric import is_number
from analysis.validate import ValidationReport
from components.export import to_safe_csv
from components.forest import EffectSpec, ForestStudy
from services.store import cache, current_owner, dataset_ttl, frame_hash
# the store's locked list-in-cache helpers (shared by all workers), for the index of a session's results
from services.store import _index_add, _index_pop

ROOT = Path(__file__).resolve().parents[1]
META_PATH = ROOT / "data" / "meta17.csv"
PROVENANCE_PATH = ROOT / "data" / "meta17_provenance.csv"

USER_CONFIDENCE = "edited by user"
NO_SOURCE = "edited by user (no source given)"
MAX_STUDIES = 500
MAX_UPLOAD_BYTES = 2 * 1024 * 1024
MAX_CELL_CHARS = 300
METHODS = ("REML", "DL", "PM", "FE")
VIEW_VERSION = 2   # part of the result key: bump when MetaView/ForestStudy change shape (old pickles unusable)
PROVENANCE_COLUMNS = ("study_id", "first_author", "year", "field", "value", "confidence", "source_url", "quote")

OUTCOME_CHOICES = {"os": "OS", "pfs": "PFS", "orr": "ORR", "dcr": "DCR", "ae": "Grade ≥3 AEs"}
OUTCOME_TITLES = {"os": "Overall survival", "pfs": "Progression-free survival", "orr": "Objective response",
                  "dcr": "Disease control", "ae": "Grade ≥3 adverse events"}
#: readable names of the 17-study file's columns (grid headers, selector labels)
COLUMN_LABELS = {
    "study_id": "study_id", "first_author": "First author", "year": "Year", "journal": "Journal", "design": "Design",
    "design_class": "Design (RCT vs non-randomised)", "platinum": "Platinum drug", "systemic": "Systemic therapy",
    "n_haic": "n HAIC arm", "n_ctrl": "n control arm", "os_hr": "OS HR", "os_lo": "OS HR lower 95%",
    "os_hi": "OS HR upper 95%", "pfs_hr": "PFS HR", "pfs_lo": "PFS HR lower 95%", "pfs_hi": "PFS HR upper 95%",
    "orr_haic": "ORR events HAIC", "orr_ctrl": "ORR events control", "orr_criterion": "ORR criterion",
    "dcr_haic": "DCR events HAIC", "dcr_ctrl": "DCR events control", "ae34_haic": "Grade ≥3 AE HAIC",
    "ae34_ctrl": "Grade ≥3 AE control", "mos_haic": "Median OS HAIC (mo)", "mos_ctrl": "Median OS control (mo)",
    "mpfs_haic": "Median PFS HAIC (mo)", "mpfs_ctrl": "Median PFS control (mo)", "os_p": "OS p-value",
    "pfs_p": "PFS p-value", "os_events_haic": "Deaths HAIC", "os_events_ctrl": "Deaths control",
    "country": "Country",
}


def column_label(col: str) -> str:
    return COLUMN_LABELS.get(col, col)


# ---------------------------------------------------------------------------------------------------------
# the study table of a session
# ---------------------------------------------------------------------------------------------------------

@dataclass
class StudyData:
    """A study table as the page holds it: text cells with lower-case column names (as in the file), the
    provenance that goes with it (or None), and the user's edits (``row`` 0-based, newest last)."""

    name: str
    frame: pd.DataFrame
    provenance: pd.DataFrame | None
    edits: list[dict] = field(default_factory=list)
    shipped: bool = False
    content_hash: str = ""
    touched: float = 0.0      # when its idle expiry was last pushed back (time.time())

    def __post_init__(self) -> None:
        if not self.content_hash:
            digest = hashlib.sha256(frame_hash(self.frame).encode())
            digest.update(b"|" + (frame_hash(self.provenance) if self.provenance is not None else "-").encode())
            self.content_hash = digest.hexdigest()[:32]

    @property
    def n(self) -> int:
        return int(len(self.frame))


def _text_frame(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy().astype(object)
    out.columns = [str(c).strip().lower() for c in out.columns]
    return out.map(lambda v: "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v).strip())


@lru_cache(maxsize=1)
def _shipped() -> StudyData:
    frame = pd.read_csv(META_PATH, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    prov = pd.read_csv(PROVENANCE_PATH, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    return StudyData(META_PATH.name, _text_frame(frame), _text_frame(prov), [], shipped=True)


def shipped_data() -> StudyData:
    """The shipped 17-study file with its provenance (a fresh copy: callers may not change the shared one)."""
    d = _shipped()
    return StudyData(d.name, d.frame.copy(), d.provenance.copy(), [], True, d.content_hash)


def _table_key() -> str:
    return f"meta:table:{current_owner()}"


def _results_key() -> str:
    return f"meta:results:{current_owner()}"


def current_data() -> StudyData:
    """The study table of this browser session (the shipped file until the user edits or uploads)."""
    data = cache.get(_table_key())
    if data is None:
        return shipped_data()
    ttl = dataset_ttl()
    if time.time() - data.touched >= min(60.0, ttl / 10):   # in use: push back its idle expiry (not every read)
        _save(data)
    return data


def _save(data: StudyData) -> StudyData:
    data.touched = time.time()
    cache.set(_table_key(), data, timeout=dataset_ttl())
    return data


def discard_session_data() -> bool:
    """Delete this session's edited/uploaded table and the results computed from it; the session is back on
    the shipped file. Returns whether there was something to delete."""
    had = cache.get(_table_key()) is not None
    cache.delete(_table_key())
    keys = _index_pop(_results_key())
    if keys:
        cache.delete_many(*keys)
    return had


def study_table(data: StudyData) -> StudyTable:
    return load_study_file(data.frame, provenance=data.provenance)


def validate(data: StudyData) -> StudyTable:
    """The loaded table, if the engine can read every outcome of it; AnalysisError (column, data row) if not."""
    if data.n > MAX_STUDIES:
        raise AnalysisError(f"the study file has {data.n} rows; the limit is {MAX_STUDIES}")
    table = study_table(data)
    for outcome in (table.outcomes or [None]):
        outcome_effects(table, outcome, "RR", True)
    return table


def _cell_text(value) -> str:
    if value is None or isinstance(value, bool):
        return "" if value is None else str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return ""
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value).strip()


def apply_edit(row: int, column: str, value, source: str | None) -> StudyData:
    """Set one cell of this session's table (``row`` 0-based) and record where the value comes from.

    The edit is kept only if the table stays readable; otherwise AnalysisError and nothing changes.
    """
    data = current_data()
    col = str(column).strip().lower()
    if col not in data.frame.columns:
        raise AnalysisError(f"column '{column}' is not in the study table")
    if not 0 <= int(row) < data.n:
        raise AnalysisError(f"data row {int(row) + 1} is not in the study table")
    new = _cell_text(value)
    if len(new) > MAX_CELL_CHARS:
        raise AnalysisError(f"column '{col}', data row {int(row) + 1}: a cell holds at most {MAX_CELL_CHARS} "
                            f"characters")
    old = data.frame.at[int(row), col]
    if new == old:
        return data
    frame = data.frame.copy()
    frame.at[int(row), col] = new
    source = (source or "").strip()[:MAX_CELL_CHARS] or NO_SOURCE
    prov = data.provenance
    if prov is not None and "study_id" in frame.columns and col not in ("study_id",):
        sid = frame.at[int(row), "study_id"]
        prov = prov[~((prov["study_id"] == sid) & (prov["field"] == col))].copy()
        if new:
            entry = {"study_id": sid, "first_author": frame.at[int(row), "first_author"]
                     if "first_author" in frame.columns else "",
                     "year": frame.at[int(row), "year"] if "year" in frame.columns else "", "field": col,
                     "value": new, "confidence": USER_CONFIDENCE, "source_url": source, "quote": ""}
            prov = pd.concat([prov, pd.DataFrame([entry])], ignore_index=True)
    edits = list(data.edits) + [{"row": int(row), "column": col, "old": old, "new": new, "source": source}]
    candidate = StudyData(data.name, frame, prov, edits)
    try:
        validate(candidate)
    except AnalysisError as exc:
        raise AnalysisError(f"your edit was not applied: {exc}") from None
    return _save(candidate)


def _read_upload(name: str, raw: bytes) -> pd.DataFrame:
    report = ValidationReport()
    limits = Limits(max_bytes=MAX_UPLOAD_BYTES, max_rows=MAX_STUDIES * 20, max_columns=200,
                    max_cell_chars=MAX_CELL_CHARS * 4)
    frame = read_raw_table(raw, report, limits)
    if frame is None:
        reason = "; ".join(i.message for i in report.errors) or "could not read a table"
        raise AnalysisError(f"{name}: {reason}")
    return _text_frame(frame)


def _is_provenance(frame: pd.DataFrame) -> bool:
    return {"study_id", "field", "value", "quote"} <= set(frame.columns)


def load_upload(files: list[tuple[str, bytes]]) -> StudyData:
    """Read uploaded file(s): a study file (the 17-study layout, or the generic ``study,hr,lo,hi`` /
    ``study,events_exp,n_exp,events_ctrl,n_ctrl``), optionally with its provenance file
    (``study_id,field,value,...,quote``); a provenance file alone is attached to the current 17-study-layout
    table. Stores and returns the session's new table; AnalysisError (previous table kept) if unusable."""
    if not files:
        raise AnalysisError("no file received")
    studies, prov = [], None
    for name, raw in files:
        frame = _read_upload(name, raw)
        if _is_provenance(frame):
            missing = [c for c in PROVENANCE_COLUMNS if c not in frame.columns]
            for c in missing:
                frame[c] = ""
            prov = frame
        else:
            studies.append((name, frame))
    if len(studies) > 1:
        raise AnalysisError("upload one study file at a time (optionally with its provenance file)")
    if studies:
        name, frame = studies[0]
        if "design_class" in frame.columns and "design" in frame.columns:
            frame = frame.drop(columns=["design_class"])  # recomputed from 'design' by the engine
        data = StudyData(name, frame, prov)
    else:
        current = current_data()
        if "study_id" not in current.frame.columns:
            raise AnalysisError("a provenance file belongs to a 17-study-layout table with a 'study_id' column; "
                                "upload it together with its study file")
        data = StudyData(current.name, current.frame.copy(), prov, list(current.edits))
    try:
        validate(data)   # a 17-study table without provenance: the engine's warning is shown with the results
    except AnalysisError as exc:
        raise AnalysisError(f"{data.name} was not loaded: {exc} (data row 1 = the first row under the header)") \
            from None
    return _save(data)


def export_frame(data: StudyData) -> pd.DataFrame:
    """The table as it would be uploaded again: blanks for missing values; number cells typed as strings of a
    non-object dtype so the CSV export keeps e.g. ``-0.5`` as a number (only text is formula-escaped)."""
    out = data.frame.copy()
    for col in out.columns:
        vals = [v for v in out[col] if v != ""]
        numeric = bool(vals) and all(is_number(v) for v in vals)
        if numeric:
            out[col] = out[col].astype("string")
    return out


def studies_csv(data: StudyData) -> str:
    return to_safe_csv(export_frame(data))


def provenance_csv(data: StudyData) -> str | None:
    if data.provenance is None:
        return None
    return to_safe_csv(data.provenance[[c for c in PROVENANCE_COLUMNS if c in data.provenance.columns]])


# ---------------------------------------------------------------------------------------------------------
# analysis parameters and results
# ---------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MetaParams:
    """Everything that changes a result. ``exclude``: 0-based rows of the table left out by the user."""

    outcome: str | None = "os"
    method: str = "REML"
    hk: bool = False
    mh: bool = False
    measure: str = "RR"
    derive: tuple[str, ...] = DERIVATIONS
    subgroup: str | None = None
    moderator: str | None = None
    exclude: tuple[int, ...] = ()

    def run_kwargs(self, counts: bool) -> dict:
        """Keyword arguments of :func:`run_meta` (``mh`` only for count outcomes)."""
        derive = True if set(self.derive) == set(DERIVATIONS) else (False if not self.derive else
                                                                     tuple(self.derive))
        return {"measure": self.measure, "method": self.method, "hk": self.hk, "mh": self.mh and counts,
                "derive": derive}


def normalise_params(table: StudyTable, *, outcome=None, method="REML", hk=False, mh=False, measure="RR",
                     derive=DERIVATIONS, subgroup=None, moderator=None, exclude=()) -> MetaParams:
    """Page control values -> valid parameters for this table (unknown values fall back to defaults)."""
    if table.kind == "outcomes":
        outcome = outcome if outcome in table.outcomes else "os"
    else:
        outcome = None
    method = str(method or "REML").upper()
    method = method if method in METHODS else "REML"
    measure = str(measure or "RR").upper()
    measure = measure if measure in ("RR", "OR") else "RR"
    derive = tuple(d for d in DERIVATIONS if d in set(derive or ()))
    cols = set(table.frame.columns)
    subgroup = subgroup if subgroup in cols else None
    moderator = moderator if moderator in cols else None
    n = len(table.frame)
    exclude = tuple(sorted({int(i) for i in exclude or () if 0 <= int(i) < n}))
    return MetaParams(outcome, method, bool(hk), bool(mh), measure, derive, subgroup, moderator, exclude)


def effect_spec(table: StudyTable, outcome: str | None, measure: str) -> EffectSpec:
    """Labels of the effect measure, the arms and the 'favours' sides for the figures."""
    if table.kind == "outcomes":
        spec = OUTCOMES[outcome]
        counts = spec["type"] == "counts"
        short = measure if counts else "HR"
        # a ratio < 1 favours HAIC for hazards and adverse events; for response, a ratio > 1 does
        lower_favours = outcome in ("os", "pfs", "ae")
        return EffectSpec(short=short, name=_measure_name(short), outcome=OUTCOME_TITLES[outcome],
                          exp_label="HAIC + systemic", ctrl_label="Systemic", counts=counts,
                          favours_left="Favours HAIC + systemic" if lower_favours else "Favours systemic",
                          favours_right="Favours systemic" if lower_favours else "Favours HAIC + systemic",
                          exp_header="HAIC +<br>systemic", ctrl_header="Systemic<br>alone",
                          comparison="HAIC + systemic therapy vs systemic therapy alone")
    if table.kind == "ratio":
        return EffectSpec(short="Ratio", name="Ratio", outcome="Study file", exp_label="Experimental",
                          ctrl_label="Control", counts=False, favours_left="Lower in experimental arm",
                          favours_right="Higher in experimental arm", exp_header="Experimental<br>arm",
                          ctrl_header="Control<br>arm", comparison="experimental vs control arm")
    return EffectSpec(short=measure, name=_measure_name(measure), outcome="Study file", exp_label="Experimental",
                      ctrl_label="Control", counts=True, favours_left="Fewer events, experimental arm",
                      favours_right="More events, experimental arm", exp_header="Experimental<br>arm",
                      ctrl_header="Control<br>arm", comparison="experimental vs control arm")


def _measure_name(short: str) -> str:
    return {"HR": "Hazard ratio", "RR": "Risk ratio", "OR": "Odds ratio"}.get(short, short)


@dataclass
class MetaView:
    """What the page shows for one set of parameters."""

    params: MetaParams
    kind: str
    spec: EffectSpec
    report: MetaReport | None
    rows: list[ForestStudy]
    messages: list[str]
    correlation: object | None
    correlation_points: list[dict]
    n_total: int
    published: dict | None
    warnings: list[str] = field(default_factory=list)

    @property
    def k(self) -> int:
        return 0 if self.report is None else self.report.k

    @property
    def pooled(self) -> list[ForestStudy]:
        return [r for r in self.rows if r.status == "pooled"]

    @property
    def not_pooled(self) -> list[ForestStudy]:
        return [r for r in self.rows if r.status != "pooled"]


def _arm_columns(table: StudyTable, outcome: str | None) -> tuple[str | None, str | None, str | None, str | None]:
    cols = table.frame.columns
    if table.kind == "outcomes":
        spec = OUTCOMES[outcome]
        ev = (spec.get("exp"), spec.get("ctrl")) if spec["type"] == "counts" else (None, None)
        return ("n_haic" if "n_haic" in cols else None, "n_ctrl" if "n_ctrl" in cols else None) + ev
    if table.kind == "counts":
        return "n_exp", "n_ctrl", "events_exp", "events_ctrl"
    return ("n_exp" if "n_exp" in cols else None, "n_ctrl" if "n_ctrl" in cols else None, None, None)


def build_view(data: StudyData, params: MetaParams) -> MetaView:
    """:class:`MetaView` of ``data`` for ``params`` (not cached; :func:`meta_view` is the memoised one)."""
    full = study_table(data)
    spec = effect_spec(full, params.outcome, params.measure)
    kw = params.run_kwargs(spec.counts)
    derive = kw["derive"]
    keep = [i for i in range(data.n) if i not in set(params.exclude)]
    messages: list[str] = []
    report = None
    row_of: dict[str, int] = {}
    sub_table = _pool_table(data, params)
    if sub_table is not None:
        row_of = dict(zip(sub_table.studies, keep))
        attempts = [(params.subgroup, params.moderator)]
        if params.subgroup and params.moderator:
            attempts += [(params.subgroup, None), (None, params.moderator)]
        if params.subgroup or params.moderator:
            attempts.append((None, None))
        for sg, mod in attempts:
            try:
                report = run_meta(sub_table, params.outcome, subgroup=sg, moderator=mod, **kw)
                break
            except AnalysisError as exc:
                text = str(exc)
                if isinstance(exc, NothingToPool) and exc.derivations_would_help:   # the page's switch, not a flag
                    text = exc.reason + " — switch on 'Derived values' (left) to use derived values"
                if text not in messages:
                    messages.append(text)
    else:
        messages.append("every study is left out of the pool; tick studies in the table (or click them in the "
                        "forest plot) to bring them back")

    # every study of the table, pooled or not, with the reason
    eff_full = outcome_effects(full, params.outcome, params.measure, derive)
    full_row = {s: i for i, s in enumerate(full.studies)}
    own = {full_row[r["study"]]: r for r in eff_full.table()}
    why = {full_row[e.study]: e.reason for e in eff_full.excluded}
    n_e, n_c, ev_e, ev_c = _arm_columns(full, params.outcome)
    pooled = {}
    if report is not None:
        for s in report.analysis.studies:
            pooled[row_of[s.study]] = s
    group_col = report.subgroups.variable if report is not None and report.subgroups is not None else None
    rows = []
    for i, label in enumerate(full.studies):
        f = full.frame.iloc[i]
        r = ForestStudy(row=i, study=label, status="pooled", reason=None,
                        n_exp=f[n_e] if n_e else "", n_ctrl=f[n_c] if n_c else "",
                        events_exp=f[ev_e] if ev_e else "", events_ctrl=f[ev_c] if ev_c else "",
                        group=(str(f[group_col]).strip() or None) if group_col else None)
        if i in pooled:
            s = pooled[i]
            r.est, r.lo, r.hi = s.est, s.lo, s.hi
            r.weight_fixed, r.weight_random = s.weight_fixed, s.weight_random
            r.derived, r.derivation = bool(s.derived), s.derivation
        else:
            if i in own:
                o = own[i]
                r.est, r.lo, r.hi = o["est"], o["lo"], o["hi"]
                r.derived, r.derivation = bool(o["derived"]), o["derivation"]
            if i in set(params.exclude):
                r.status, r.reason = "left out", "left out by you" + ("" if i in own else f"; {why.get(i, '')}")
            else:
                r.status = "excluded"
                r.reason = why.get(i, "not pooled")
                if r.reason.endswith("without CI") and "se_from_p" not in params.derive:
                    r.reason += " (derivation off)"
        rows.append(r)

    corr, points = None, []
    if sub_table is not None and sub_table.kind == "outcomes":
        try:
            corr = orr_os_correlation(sub_table, derive)
            points = _correlation_points(sub_table, derive)
        except AnalysisError as exc:
            messages.append(f"ORR-OS correlation: {exc}")
    published = None
    if full.kind == "outcomes":
        published = {"source": PUBLISHED_POOLED["source"], **PUBLISHED_POOLED.get(params.outcome, {})}
    return MetaView(params, full.kind, spec, report, rows, messages, corr, points, data.n, published,
                    list(full.warnings))


def _correlation_points(table: StudyTable, derive) -> list[dict]:
    """Per study with both: ORR risk ratio and OS hazard ratio (the points of the paper's Fig. 5A)."""
    orr = outcome_effects(table, "orr", "RR", derive)
    row = {s: i for i, s in enumerate(table.studies)}
    out = []
    for s, y, d in zip(orr.studies, orr.yi, orr.derived):
        text = table.frame.iloc[row[s]].get("os_hr", "")
        try:
            hr = float(text)
        except (TypeError, ValueError):
            continue
        if math.isfinite(hr):
            out.append({"study": s, "orr_rr": math.exp(float(y)), "os_hr": hr, "derived": bool(d)})
    return out


def _memoised(data: StudyData, kind: str, params, build):
    """``build()`` memoised on (table content hash, ``params``) in the shared cache. Results of the shipped
    table are shared; a session's own table's results are keyed by session and deleted by
    :func:`discard_session_data`. AnalysisError is not cached."""
    scope = "shipped" if data.shipped else current_owner()
    raw = f"{VIEW_VERSION}|{scope}|{data.content_hash}|{params!r}"
    key = f"meta:{kind}:" + hashlib.sha256(raw.encode()).hexdigest()[:40]
    hit = cache.get(key)
    if hit is not None:
        return hit
    value = build()
    ttl = dataset_ttl()
    if not data.shipped:
        if cache.get(_table_key()) is None:   # discarded (or expired) while this ran: do not store its results
            return value
        _index_add(_results_key(), [key], timeout=ttl, refresh=True)
    cache.set(key, value, timeout=ttl)
    return value


def meta_view(data: StudyData, params: MetaParams) -> MetaView:
    """:class:`MetaView` for the table and parameters, memoised (:func:`_memoised`)."""
    return _memoised(data, "view", params, lambda: build_view(data, params))


# ---------------------------------------------------------------------------------------------------------
# trial sequential analysis
# ---------------------------------------------------------------------------------------------------------

#: The relative risk reductions of Lu et al. 2025 (Fig. 6); other outcomes and files start at 20 %.
PAPER_RRR = {"orr": 0.30, "dcr": 0.15}
DEFAULT_RRR = 0.20


def default_rrr(outcome: str | None) -> float:
    return PAPER_RRR.get(outcome or "", DEFAULT_RRR)


@dataclass
class TSAView:
    """What the TSA panel shows: the analysis of the current outcome (or why there is none) and, for the 17-study
    layout, ORR and DCR with the paper's settings beside the paper's RIS."""

    result: TSAResult | None
    message: str | None
    spec: EffectSpec
    paper: list[dict] = field(default_factory=list)


def _pool_table(data: StudyData, params: MetaParams) -> StudyTable | None:
    keep = [i for i in range(data.n) if i not in set(params.exclude)]
    if not keep:
        return None
    return load_study_file(data.frame.iloc[keep].reset_index(drop=True), provenance=data.provenance)


def build_tsa_view(data: StudyData, params: MetaParams, settings: TSASettings) -> TSAView:
    """TSA of the studies in the pool (the user's exclusions apply) with the page's model (FE: fixed, MH with
    the Mantel-Haenszel switch; else random effects by DerSimonian-Laird)."""
    full = study_table(data)
    spec = effect_spec(full, params.outcome, params.measure)
    derive = params.run_kwargs(spec.counts)["derive"]
    table = _pool_table(data, params)
    result, message = None, None
    if table is None:
        message = "every study is left out of the pool"
    elif not spec.counts:
        message = ("A trial sequential analysis needs event counts per arm (a risk ratio): choose ORR, DCR or "
                   "grade ≥3 AEs, or upload a count file. Hazard ratios are not supported here.")
    elif params.measure != "RR":
        message = "The trial sequential analysis is for the risk ratio: choose 'Risk ratio' (left)."
    else:
        try:
            effects = outcome_effects(table, params.outcome, "RR", derive)
            result = tsa_for_effects(effects, settings, params.method, params.mh)
        except AnalysisError as exc:
            message = str(exc)
    paper = []
    if table is not None and table.kind == "outcomes":
        for outcome, rrr in PAPER_RRR.items():
            published = PUBLISHED_POOLED.get(outcome, {}).get("tsa")
            if outcome not in table.outcomes or not published:
                continue
            row = {"outcome": OUTCOME_CHOICES[outcome], "rrr": rrr, "paper_ris": published["ris"],
                   "paper_k": published["k"], "k": 0, "n": None, "ris": None, "pc": None, "d2": None, "note": None}
            try:
                eff = outcome_effects(table, outcome, "RR", derive)
                r = tsa_for_effects(eff, TSASettings(rrr=rrr, alpha=published["alpha"], beta=published["beta"]),
                                    "DL", False)
                row.update(k=eff.k, n=r.n_total, ris=r.ris, pc=r.pc, d2=r.d2)
            except AnalysisError as exc:
                row["note"] = str(exc)
            paper.append(row)
    return TSAView(result, message, spec, paper)


def tsa_view(data: StudyData, params: MetaParams, settings: TSASettings) -> TSAView:
    """:class:`TSAView`, memoised (:func:`_memoised`)."""
    return _memoised(data, "tsa", (params, settings), lambda: build_tsa_view(data, params, settings))


def study_frame(view: MetaView) -> pd.DataFrame:
    """The per-study table behind the forest plot (what the CSV export holds)."""
    spec = view.spec
    rows = []
    for r in view.rows:
        d = {"#": r.row + 1, "Study": r.study,
             f"n {spec.exp_label}": r.n_exp, f"n {spec.ctrl_label}": r.n_ctrl}
        if spec.counts:
            d[f"Events {spec.exp_label}"] = r.events_exp
            d[f"Events {spec.ctrl_label}"] = r.events_ctrl
        d[spec.short] = _round(r.est)
        d["95% CI lower"] = _round(r.lo)
        d["95% CI upper"] = _round(r.hi)
        d["Weight fixed (%)"] = _round(r.weight_fixed, 1) if r.status == "pooled" else None
        d["Weight random (%)"] = _round(r.weight_random, 1) if r.status == "pooled" else None
        d["In pool"] = "yes" if r.status == "pooled" else "no"
        d["Reason not pooled"] = r.reason or ""
        d["Derived value"] = r.derivation or ""
        if r.group is not None or (view.report is not None and view.report.subgroups is not None):
            d["Subgroup"] = r.group or ""
        rows.append(d)
    return pd.DataFrame(rows)


def _round(x, digits: int = 4):
    return None if x is None or not np.isfinite(x) else round(float(x), digits)


# ---------------------------------------------------------------------------------------------------------
# choices for the controls and the data grid
# ---------------------------------------------------------------------------------------------------------

def column_choices(table: StudyTable) -> dict[str, list[dict]]:
    """Dropdown options: subgroup columns (the engine's suggestions first, then any other non-outcome column)
    and meta-regression moderators (numeric, or two-level text)."""
    suggested = table.columns()
    skip = {"study", "study_id", "first_author", "hr", "lo", "hi", "p", "events_exp", "n_exp", "events_ctrl",
            "n_ctrl", "pct_exp", "pct_ctrl", "n_haic"}
    for spec in OUTCOMES.values():
        skip.update(v for k, v in spec.items() if k in ("est", "lo", "hi", "p", "exp", "ctrl"))
    others = [c for c in table.frame.columns if c not in skip and c not in suggested["subgroup"]
              and any(v != "" for v in table.frame[c])]
    sub = [{"label": column_label(c), "value": c} for c in suggested["subgroup"]]
    sub += [{"label": f"{column_label(c)} (any column)", "value": c} for c in others]
    mod = [{"label": column_label(c), "value": c} for c in suggested["moderator"]]
    return {"subgroup": sub, "moderator": mod}


def provenance_lookup(data: StudyData) -> dict[tuple[str, str], dict]:
    if data.provenance is None or "study_id" not in data.frame.columns:
        return {}
    return {(str(r["study_id"]), str(r["field"])): dict(r) for _, r in data.provenance.iterrows()}


def _tooltip(prov: dict | None, edit: dict | None, value: str, has_provenance: bool) -> str | None:
    parts = []
    if edit is not None:
        was = edit["first_old"] or "blank"
        parts.append(f"EDITED BY YOU — source: {edit['source']}; value in the file: {was}")
    if prov is not None and prov.get("confidence") != USER_CONFIDENCE:
        conf = prov.get("confidence", "")
        src = prov.get("source_url", "")
        quote = prov.get("quote", "")
        if conf == "listing":
            parts.append("confidence: listing (from Table 1 of Lu et al. 2025 only)")
        else:
            parts.append(f"confidence: {conf}" + (f" · source: {src}" if src else "")
                         + (f" · quote: “{quote}”" if quote else ""))
    elif prov is None and edit is None and has_provenance and value == "":
        parts.append("blank: not found in any available source")
    return "  ||  ".join(parts) if parts else None


_FIXED_JS = ("(params.value === '' || params.value == null || isNaN(Number(params.value))) ? params.value : "
             "Number(params.value).toFixed({places})")


def number_places(values) -> int | None:
    """Decimal places to show a column of number cells with one format: the most any cell has; None when a cell
    is not a plain decimal number (text, '<0.001', an exponent) or no cell has decimals."""
    places = 0
    seen = False
    for v in values:
        text = str(v).strip()
        if text == "":
            continue
        if not is_number(text) or "e" in text.lower():
            return None
        seen = True
        if "." in text:
            places = max(places, len(text.split(".", 1)[1]))
    return places if seen and places else None


def grid_rows(data: StudyData, exclude: set[int]) -> tuple[list[dict], list[dict]]:
    """rowData and columnDefs of the editable grid: an 'in pool' checkbox, the row number, every column of the
    table (editable), provenance tooltips; edited cells and low-confidence cells are tinted."""
    prov = provenance_lookup(data)
    has_prov = bool(prov)
    edits: dict[tuple[int, str], dict] = {}
    for e in data.edits:
        key = (e["row"], e["column"])
        first = edits.get(key, {}).get("first_old", e["old"])
        edits[key] = {**e, "first_old": first}
    cols = list(data.frame.columns)
    rows = []
    for i in range(data.n):
        rec = {"__row": i, "__n": i + 1, "__include": i not in exclude}
        sid = str(data.frame.iloc[i]["study_id"]) if "study_id" in cols else None
        for c in cols:
            v = data.frame.iat[i, cols.index(c)]
            rec[c] = v
            p = prov.get((sid, c)) if sid is not None else None
            e = edits.get((i, c))
            tip = _tooltip(p, e, v, has_prov)
            if tip:
                rec[f"__tip_{c}"] = tip
            if e is not None:
                rec[f"__edited_{c}"] = True
            if p is not None and p.get("confidence") in ("low",):
                rec[f"__low_{c}"] = True
        rows.append(rec)
    defs = [
        {"field": "__include", "headerName": "In pool", "cellDataType": "boolean", "editable": True,
         "width": 82, "pinned": "left", "headerTooltip": "Untick to leave the study out of the pool"},
        {"field": "__n", "headerName": "#", "editable": False, "width": 58, "pinned": "left",
         "headerTooltip": "Data row (1 = first row under the header); error messages use this number"},
    ]
    label_cols = {"first_author", "study"}
    for c in cols:
        d = {"field": c, "headerName": column_label(c), "editable": c != "study_id", "cellDataType": "text",
             "tooltipField": f"__tip_{c}", "headerTooltip": c,
             "cellStyle": {"styleConditions": [
                 {"condition": f"params.data.__edited_{c} === true",
                  "style": {"backgroundColor": "#fff3bf", "fontWeight": "600"}},
                 {"condition": f"params.data.__low_{c} === true", "style": {"backgroundColor": "#fde8d8"}},
             ]}}
        places = number_places(data.frame[c]) if c not in ("study_id", "year") else None
        if places:   # one number format per column (0.60 and 0.384 -> 0.600 and 0.384); the editor keeps the text
            d["valueFormatter"] = {"function": _FIXED_JS.format(places=places)}
        if c in label_cols:
            d["pinned"] = "left"
            d["width"] = 120
        rows_len = max((len(str(r.get(c, ""))) for r in rows), default=0)
        if "width" not in d:
            d["width"] = int(min(220, max(84, 9 * max(len(column_label(c)) * 0.8, rows_len) + 24)))
        defs.append(d)
    return rows, defs


def edits_frame(data: StudyData) -> pd.DataFrame:
    """The user's edits (the provenance of edited values), oldest first."""
    labels = load_study_file(data.frame, provenance=data.provenance).studies
    return pd.DataFrame([{"#": e["row"] + 1, "Study": labels[e["row"]] if e["row"] < len(labels) else "",
                          "Column": e["column"], "Value in file": e["old"], "New value": e["new"],
                          "Source": e["source"]} for e in data.edits],
                        columns=["#", "Study", "Column", "Value in file", "New value", "Source"])
