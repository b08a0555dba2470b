"""What the meta-analysis page asks of a study table: the browser session's own (edited or uploaded) copy, and
memoised :func:`analysis.meta.run_meta` and trial sequential analysis results for it.

* **The study table of a session.** Every session starts on the shipped 17-study file (``data/meta17.csv`` with
  ``data/meta17_provenance.csv``). An edit or an upload makes the session's own copy, kept by
  :mod:`services.store` (:func:`~services.store.put_study_set`: bound to the browser session, expiring after
  ``HAIC_DATASET_TTL`` seconds without use, deleted with its results by
  :func:`~services.store.delete_study_set` and by "Remove my data"). What an edit does to the table and its
  provenance is :func:`analysis.meta.edits.edit_cell`.
* **Validation.** An edit or upload is accepted only if the engine can read every outcome of the table
  (:func:`analysis.meta.edits.check_readable`); otherwise :class:`AnalysisError` (column and data row named, never
  a value) and the previous table stays in use.
* **Results** are memoised on (table content hash, parameters) (:func:`services.store.memoised_for_study_set`):
  the shipped table's results are shared by all sessions; results of a session's own table are keyed by session
  too and deleted with it.

Nothing here computes a statistic; numbers come from ``analysis.meta``, the rows of every study from
:mod:`analysis.meta.study_rows`; the page lays out the study grid itself (``meta_grid``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import pandas as pd

from analysis.bounded import read_raw_table   # the upload is read in a bounded child process (issue 13)
from analysis.errors import AnalysisError
from analysis.io import Limits
from analysis.meta import DERIVATIONS, OUTCOMES, PUBLISHED_POOLED, StudyTable, load_study_file, orr_os_correlation, \
    outcome_effects, run_meta
from analysis.meta.dataset import OUTCOME_CHOICES, column_label
from analysis.meta.edits import (
    MAX_CELL_CHARS, MAX_STUDIES, check_readable, edit_cell, is_provenance, provenance_frame, text_frame,
    uploaded_studies,
)
from analysis.meta.report import MetaReport, NothingToPool
from analysis.meta.study_rows import EffectSpec, ForestStudy, correlation_points, effect_spec, study_rows
from analysis.meta.tsa import TSAResult, TSASettings, tsa_for_effects
from analysis.validate import ValidationReport
from services import config
from services.store import StudyData, get_study_set, memoised_for_study_set, put_study_set

ROOT = Path(__file__).resolve().parents[1]
META_PATH = ROOT / "data" / "meta17.csv"
PROVENANCE_PATH = ROOT / "data" / "meta17_provenance.csv"

MAX_UPLOAD_BYTES = 2 * 1024 * 1024
METHODS = ("REML", "DL", "PM", "FE")
VIEW_VERSION = 3   # part of the result key: bump when MetaView/ForestStudy change shape (old pickles unusable)


# ---------------------------------------------------------------------------------------------------------
# the study table of a session
# ---------------------------------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def _shipped() -> StudyData:
    frame = pd.read_csv(META_PATH, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    prov = pd.read_csv(PROVENANCE_PATH, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    return StudyData(META_PATH.name, text_frame(frame), text_frame(prov), [], shipped=True)


def shipped_data() -> StudyData:
    """The shipped 17-study file with its provenance (a fresh copy: callers may not change the shared one)."""
    d = _shipped()
    return StudyData(d.name, d.frame.copy(), d.provenance.copy(), [], True, d.content_hash)


def current_data() -> StudyData:
    """The study table of this browser session (the shipped file until the user edits or uploads)."""
    data = get_study_set()
    return shipped_data() if data is None else data


def study_table(data: StudyData) -> StudyTable:
    return load_study_file(data.frame, provenance=data.provenance)


def validate(data: StudyData) -> StudyTable:
    """The loaded table, if the engine can read every outcome of it; AnalysisError (column, data row) if not."""
    return check_readable(data.frame, data.provenance)


def apply_edit(row: int, column: str, value, source: str | None) -> StudyData:
    """Set one cell of this session's table (``row`` 0-based) and record where the value comes from.

    The edit is kept only if the table stays readable; otherwise AnalysisError and nothing changes.
    """
    data = current_data()
    edited = edit_cell(data.frame, data.provenance, row, column, value, source)
    if edited is None:
        return data
    frame, prov, edit = edited
    candidate = StudyData(data.name, frame, prov, list(data.edits) + [edit])
    try:
        validate(candidate)
    except AnalysisError as exc:
        raise AnalysisError(f"your edit was not applied: {exc}") from None
    return put_study_set(candidate)


def _read_upload(name: str, raw: bytes) -> pd.DataFrame:
    report = ValidationReport()
    limits = Limits(max_bytes=MAX_UPLOAD_BYTES, max_rows=MAX_STUDIES * 20, max_columns=200,
                    max_cell_chars=MAX_CELL_CHARS * 4)
    frame = read_raw_table(raw, report, limits, base=config.parse_budget())
    if frame is None:
        reason = "; ".join(i.message for i in report.errors) or "could not read a table"
        raise AnalysisError(f"{name}: {reason}")
    return text_frame(frame)


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
        if is_provenance(frame):
            prov = provenance_frame(frame)
        else:
            studies.append((name, frame))
    if len(studies) > 1:
        raise AnalysisError("upload one study file at a time (optionally with its provenance file)")
    if studies:
        name, frame = studies[0]
        data = StudyData(name, uploaded_studies(frame), prov)
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
    return put_study_set(data)


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
    rows = study_rows(full, params.outcome, outcome_effects(full, params.outcome, params.measure, derive), report,
                      row_of, params.exclude, "se_from_p" in params.derive)

    corr, points = None, []
    if sub_table is not None and sub_table.kind == "outcomes":
        try:
            corr = orr_os_correlation(sub_table, derive)
            points = correlation_points(sub_table, derive)
        except AnalysisError as exc:
            messages.append(f"ORR-OS correlation: {exc}")
    published = None
    if full.kind == "outcomes":
        published = {"source": PUBLISHED_POOLED["source"], **PUBLISHED_POOLED.get(params.outcome, {})}
    return MetaView(params, full.kind, spec, report, rows, messages, corr, points, data.n, published,
                    list(full.warnings))


def _memoised(data: StudyData, kind: str, params, build):
    """``build()`` memoised on (table content hash, ``params``) by :func:`services.store.memoised_for_study_set`."""
    return memoised_for_study_set(data, kind, params, build, VIEW_VERSION)


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


# ---------------------------------------------------------------------------------------------------------
# choices for the controls
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
