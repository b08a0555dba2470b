"""Every number of a deliverable, computed by ``analysis`` for one :class:`~reports.spec.ReportSpec`.

:func:`compute` resolves the view against a dataset (a :class:`services.store.Dataset`, the pages' own; the
command line makes one with :func:`dataset_from_load`) with the pages' definitions: the Survival page's landmark,
number-at-risk and default cutoff (``services.survival_view``), the Cox page's candidates, forms, groupings and
selection rule (``services.cohort_views.cox_view``), the Baseline page's roles. It then calls the analysis
functions: median follow-up by reverse Kaplan-Meier, KM curves with log-rank test and hazard ratio, the KM panels
of the paper's Figure 3/4, response, adverse events, baseline, and (when asked) the meta page's meta-analysis.
Nothing here computes a statistic; what it adds is bookkeeping: which columns, cutoffs, reference levels and
times were used, so that the slides, the tables and the R script say the same.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd

from analysis import schema
from analysis.adverse_events import ae_columns, ae_table
from analysis.baseline import baseline_table
from analysis.cox import CovariateSpec, parse_covariate
from analysis.dichotomise import format_cutoff
from analysis.errors import AnalysisError
from analysis.response import response_table
from analysis.schema import Endpoint
from analysis.survival import km_by_group, reverse_km_followup
from reports.spec import ReportSpec, grouped_name
from services.cohort_views import (GROUPINGS, baseline_roles, cox_view, default_candidates, group_levels,
                                   with_groupings)
from services.store import Dataset, frame_hash
from services.survival_view import cutoff_control_spec, is_cuttable, landmarks, risk_times

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


# ---------------------------------------------------------------------------------------------------------
# the analysed cohort: a services.store.Dataset (the pages' own), made directly for the command line
# ---------------------------------------------------------------------------------------------------------
def dataset_from_load(result, name: str, synthetic: bool = False, dataset_id: str = "local") -> Dataset:
    """A :class:`services.store.Dataset` of an :class:`analysis.io.LoadResult` (the command line, tests),
    not stored anywhere: the pages' defaults (endpoints, column profiles, ``follows_paper``) come with it."""
    return Dataset(dataset_id, name, result.data, frame_hash(result.data), synthetic=synthetic,
                   report=result.report.to_dict(), mapping=dict(result.mapping))


def resolve_column(ds: Dataset, name: str) -> str:
    """A column named by its header in the file or its canonical name."""
    frame = ds.frame
    if name in frame.columns:
        return name
    mapping = ds.mapping or {}
    if name in mapping and mapping[name] in frame.columns:
        return mapping[name]
    canonical, _ = schema.canonical_name(name)
    if canonical in frame.columns:
        return canonical
    raise AnalysisError(f"column {name!r} is not in the data (columns: {', '.join(map(str, frame.columns))})")


def _with_frame(ds: Dataset, frame: pd.DataFrame, tag: str) -> Dataset:
    """``ds`` with columns added to its frame (the spec's groupings), profiled like any stored dataset."""
    return Dataset(ds.id, ds.name, frame, f"{ds.content_hash}|{tag}", synthetic=ds.synthetic, report=ds.report,
                   mapping=ds.mapping)


def _cox_candidates(ds: Dataset, spec: ReportSpec) -> tuple[list[str], dict[str, str]]:
    """The Cox page's candidate columns and forms ({column: form text}) of the spec; default: the page's
    default candidates (:func:`services.cohort_views.default_candidates`) in their default forms."""
    if not spec.covariates:
        return default_candidates(ds), {}
    columns, forms = [], {}
    for written, form in spec.cox_items:
        column = resolve_column(ds, written)
        columns.append(column)
        if form is not None:               # the form with the column as the frame names it
            forms[column] = replace(parse_covariate(form), column=column).label
    return columns, forms


# ---------------------------------------------------------------------------------------------------------
# KM panels
# ---------------------------------------------------------------------------------------------------------
@dataclass
class Panel:
    """One KM panel of the paper's Figure 3/4: its letter, title, covariate and the KM result."""

    letter: str
    title: str
    covariate: CovariateSpec
    km: Any                      # analysis.survival.StratifiedKM


def panel_title(column: str, cutoff: float | None) -> str:
    base = column.removesuffix("_grouped")
    name = schema.display_name(base) + (" (grouped)" if column.endswith("_grouped") else "")
    if cutoff is None:
        return schema.label(base) if not column.endswith("_grouped") else name
    unit = schema.NUMERIC_COLUMNS.get(base, {}).get("unit", "")
    return f"{name}, cutoff {format_cutoff(cutoff)}{(' ' + unit) if unit else ''}"


# ---------------------------------------------------------------------------------------------------------
# all results
# ---------------------------------------------------------------------------------------------------------
@dataclass
class EndpointResults:
    endpoint: Endpoint
    n: int
    events: int
    followup: Any                # analysis.survival.FollowUp
    overall: Any                 # StratifiedKM of all patients (medians and landmark rates)
    landmarks: tuple[float, ...]
    risk_times: tuple[float, ...]
    cox: Any                     # services.cohort_views.CoxView, None without covariates
    cox_error: str | None
    panels: list[Panel]


@dataclass
class ReportResults:
    spec: ReportSpec
    name: str
    synthetic: bool
    n: int
    frame: pd.DataFrame                       # the analysed data (groupings added)
    columns: list[str]                        # the columns the numbers use (the R bundle's data)
    endpoints: list[EndpointResults]          # none for a deliverable of the meta-analysis alone
    view: Any                                 # StratifiedKM of the view (first endpoint, by/cutoff)
    view_by: str | None
    view_cutoff: float | None
    response: Any = None
    ae: Any = None
    baseline: Any = None
    meta: Any = None                          # services.meta_views.MetaView of the spec's outcome
    meta_pooled: dict = field(default_factory=dict)   # outcome -> PooledMeta (the pooled results table)
    cutpoint: Any = None                      # analysis.cutpoint.CutpointResult when the cutoff is the optimum
    groupings: dict = field(default_factory=dict)     # column -> {level: group}: the grouped columns used
    notes: list[str] = field(default_factory=list)
    generated: dt.date = field(default_factory=dt.date.today)

    @property
    def view_endpoint(self) -> EndpointResults:
        return self.endpoints[0]

    @property
    def has_cohort(self) -> bool:
        return bool(self.endpoints)


def _endpoints(ds: Dataset, spec: ReportSpec) -> list[Endpoint]:
    if not spec.endpoints:
        if not ds.endpoints:
            raise AnalysisError("the data have no time/event pair: name the survival time and event columns")
        return list(ds.endpoints)
    out = []
    for e in spec.endpoints:
        t, ev = resolve_column(ds, e.time), resolve_column(ds, e.event)
        known = next((x for x in ds.endpoints if x.time == t and x.event == ev), None)
        if known is None:
            raise AnalysisError(f"'{e.time}' and '{e.event}' are not a time/event pair of this dataset "
                                f"(pairs: {', '.join(f'{x.time}/{x.event}' for x in ds.endpoints) or 'none'})")
        out.append(Endpoint(known.key, e.label or known.label, t, ev, known.unit))
    return out


def _apply_groupings(ds: Dataset, spec: ReportSpec, notes: list[str]) -> tuple[pd.DataFrame, dict]:
    """The frame with the spec's groupings as ``<column>_grouped`` columns (levels the mapping does not name
    kept as they are, with a note)."""
    frame, done = ds.frame, {}
    for col, pairs in spec.groupings:
        column = resolve_column(ds, col)
        mapping = dict(pairs)
        unmapped = sorted(set(schema.level_texts(ds.frame[column]).dropna()) - set(mapping))
        if unmapped:
            notes.append(f"grouping of {schema.display_name(column)}: level(s) {', '.join(unmapped)} not grouped, "
                         f"kept as they are")
        if frame is ds.frame:
            frame = frame.copy()
        frame[grouped_name(column)] = group_levels(ds.frame[column], mapping)
        done[column] = mapping
    return frame, done


def _resolve_cov(ds: Dataset, c: CovariateSpec) -> CovariateSpec:
    return replace(c, column=resolve_column(ds, c.column))


def _panels(ds: Dataset, frame, endpoint: Endpoint, covariates: list[CovariateSpec], spec: ReportSpec, at,
            notes) -> list[Panel]:
    """KM panels: a cut covariate split at its cutoff; a categorical one (or a column the Survival page shows one
    curve per level of) by its levels; a continuous one has no panel (a note says how to get one)."""
    panels = []
    for cov in covariates:
        continuous = cov.kind == "continuous" and pd.api.types.is_numeric_dtype(frame[cov.column])
        if continuous and (cov.per != 1 or cov.column not in ds.profiles or is_cuttable(ds, cov.column)):
            notes.append(f"{schema.display_name(cov.column)} is a continuous covariate: no KM panel (give a cutoff, "
                         f"e.g. '{cov.column}:X', to draw one)")
            continue
        try:
            km = km_by_group(frame, endpoint.time, endpoint.event, by=cov.column, cutoff=cov.cutoff, ci=spec.ci,
                             at=at)
        except AnalysisError as exc:
            notes.append(f"KM panel of {schema.display_name(cov.column)}: {exc}")
            continue
        letter = LETTERS[len(panels) % len(LETTERS)]
        panels.append(Panel(letter, panel_title(cov.column, cov.cutoff), cov, km))
    return panels


def _cox(ds: Dataset, endpoint: Endpoint, spec: ReportSpec, columns: list[str], forms: dict):
    """The Cox page's view of one endpoint (:func:`services.cohort_views.cox_view`: the page's covariates, forms,
    groupings and selection rule), fitted without the shared cache."""
    rule = "manual" if spec.selection == "manual" else "p05"
    paper_groups = spec.paper_groups and not spec.groupings
    return cox_view(ds, endpoint.key, columns, dict(spec.cutoffs), rule, list(spec.manual), paper_groups,
                    spec.alpha, forms, cached=False, concordance=True)


def compute(ds: Dataset | None, spec: ReportSpec, *, meta_data=None, today: dt.date | None = None) -> ReportResults:
    """Every number of the view ``spec`` on the dataset ``ds`` (see the module docstring); ``ds`` may be None for
    a view of the meta-analysis alone (``cohort: false``), whose ``meta_data`` is the study table
    (``services.store.StudyData``; default: the shipped 17 studies). Problems with a part (a multivariable
    model that cannot be fitted, a panel without two groups) become notes and empty parts; a view that cannot be
    read (an unknown column, an endpoint that is not one) raises :class:`AnalysisError`."""
    if ds is None and spec.cohort:
        raise AnalysisError("a view of a cohort needs its dataset")
    notes: list[str] = []
    results = ReportResults(spec=spec, name=spec.dataset_name or (ds.name if ds is not None else ""),
                            synthetic=spec.synthetic or bool(ds is not None and ds.synthetic),
                            n=int(ds.n) if ds is not None else 0,
                            frame=ds.frame if ds is not None else pd.DataFrame(), columns=[], endpoints=[],
                            view=None, view_by=None, view_cutoff=None, notes=notes,
                            generated=today or dt.date.today())
    if spec.cohort:
        _cohort(results, ds, spec, notes)
    if spec.meta is not None:
        from services.meta_views import shipped_data

        data = meta_data if meta_data is not None else shipped_data()
        results.meta, results.meta_pooled = _meta(spec, data, notes)
        if not spec.cohort:                       # the deliverable's "dataset" is the study table
            results.name, results.n = spec.dataset_name or data.name, data.n
    results.columns = analysed_columns(results) if results.has_cohort else []
    return results


def _cohort(results: ReportResults, ds: Dataset, spec: ReportSpec, notes: list[str]) -> None:
    """The cohort's analyses of the view, as the pages compute them, into ``results``."""
    frame, groupings = _apply_groupings(ds, spec, notes)
    work = ds if frame is ds.frame else _with_frame(ds, frame, json.dumps(spec.to_dict()["groupings"]))
    endpoints = _endpoints(ds, spec)
    columns, forms = _cox_candidates(work, spec)
    grid = None if spec.grid is None else [_resolve_cov(work, c) for c in spec.grid]

    per_endpoint, model_groupings = [], set()
    for endpoint in endpoints:
        both = frame[[endpoint.time, endpoint.event]].dropna()
        marks = landmarks(work, endpoint.key, spec.landmarks)
        risk = spec.risk_times if spec.risk_times is not None else risk_times(work, endpoint.key)
        at = tuple(sorted(set(risk) | set(marks)))
        overall = km_by_group(frame, endpoint.time, endpoint.event, ci=spec.ci, at=at)
        cox, cox_error = None, None
        if columns:
            try:
                cox = _cox(work, endpoint, spec, columns, forms)
                model_groupings.update(cox.groupings)
            except AnalysisError as exc:
                cox_error = str(exc)
        else:
            cox_error = "no covariates to screen"
        if grid is not None:
            panel_covs = grid
        elif cox is not None and cox.multivariable is not None:
            panel_covs = [v.spec for v in cox.selected]
        else:
            panel_covs = []
        per_endpoint.append((endpoint, both, marks, risk, at, overall, cox, cox_error, panel_covs))

    # the paper's groupings the Cox models use: their grouped columns in the analysed data (and the R script)
    frame = with_groupings(frame, tuple(sorted(model_groupings)))
    groupings.update({col: GROUPINGS[col][1] for col in sorted(model_groupings)})
    for endpoint, both, marks, risk, at, overall, cox, cox_error, panel_covs in per_endpoint:
        panels = _panels(work, frame, endpoint, panel_covs, spec, at, notes)
        results.endpoints.append(EndpointResults(
            endpoint, len(both), int(both[endpoint.event].sum()),
            reverse_km_followup(both[endpoint.time].to_numpy(dtype=float), both[endpoint.event].to_numpy(dtype=float)),
            overall, tuple(marks), tuple(risk), cox, cox_error, panels))

    first = results.endpoints[0]
    view_by = resolve_column(work, spec.by) if spec.by else None
    view_cutoff = spec.cutoff
    if spec.cutoff_source == "optimal" and view_by is not None:
        from analysis.cutpoint import optimal_cutpoint

        results.cutpoint = optimal_cutpoint(frame, first.endpoint.time, first.endpoint.event, view_by,
                                            permutations=0, bootstrap=0, split=False)
        if view_cutoff is None:
            view_cutoff = float(results.cutpoint.cutpoint)
    if view_by is not None and view_cutoff is None and is_cuttable(work, view_by):
        view_cutoff = cutoff_control_spec(work, view_by).default        # the Survival page's default cutoff
        notes.append(f"{schema.display_name(view_by)} was cut at {format_cutoff(view_cutoff)} (no cutoff given)")
    results.view = km_by_group(frame, first.endpoint.time, first.endpoint.event, by=view_by, cutoff=view_cutoff,
                               ci=spec.ci, at=tuple(sorted(set(first.risk_times) | set(first.landmarks))))
    results.view_by, results.view_cutoff = view_by, view_cutoff
    results.frame, results.groupings = frame, groupings

    original = ds.frame
    if any(c in original.columns for c in schema.RESPONSE_COLUMNS):
        results.response = response_table(frame, by=frame_column(work, spec.response_by))
    if ae_columns(original):
        results.ae = ae_table(frame, by=frame_column(work, spec.ae_by))
    baseline_by = frame_column(work, spec.baseline_by)
    base_frame = original if baseline_by is None or baseline_by in original.columns else \
        original.assign(**{baseline_by: frame[baseline_by]})
    results.baseline = baseline_table(base_frame, by=baseline_by, roles=dict(baseline_roles(ds)))


def frame_column(ds: Dataset, name: str | None) -> str | None:
    return None if name is None else resolve_column(ds, name)


@dataclass
class PooledMeta:
    """The pooled analysis of one meta-analysis outcome: its effect labels and ``analysis.meta`` result."""

    outcome: str | None
    effect: Any                   # analysis.meta.study_rows.EffectSpec (outcome name, measure)
    analysis: Any                 # analysis.meta.MetaAnalysisResult, None when no study can be pooled


def _meta(spec: ReportSpec, data, notes: list[str]):
    """The meta page's view of the spec's outcome (``services.meta_views.build_view`` with the page's parameters:
    the forest plot) and the pooled analysis of every outcome with the same parameters (what the page shows when
    that outcome is chosen)."""
    from services.meta_views import build_view, normalise_params, study_table

    m = spec.meta
    table = study_table(data)
    outcomes = list(table.outcomes) if table.kind == "outcomes" else [None]

    def params(outcome, subgroup=None):
        return normalise_params(table, outcome=outcome, method=m.method, hk=m.hk, mh=m.mh, measure=m.measure,
                                derive=m.derive, subgroup=subgroup, exclude=m.exclude)

    pooled = {}
    for outcome in outcomes:
        view = build_view(data, params(outcome))
        analysis = view.report.analysis if view.report is not None else None
        if analysis is None:
            notes.append(f"meta-analysis of {view.spec.outcome.lower()}: no study can be pooled")
        pooled[outcome] = PooledMeta(outcome, view.spec, analysis)
    chosen = m.outcome if m.outcome in pooled else outcomes[0]
    return build_view(data, params(chosen, m.subgroup)), pooled


def analysed_columns(results: ReportResults) -> list[str]:
    """The columns the numbers use, in the frame's order: endpoints, the view's column, covariates, panels,
    response, adverse events and baseline variables (the R bundle's data)."""
    wanted: set[str] = set()
    for e in results.endpoints:
        wanted.update((e.endpoint.time, e.endpoint.event))
        if e.cox is not None:
            wanted.update(v.column for v in e.cox.variables)
        wanted.update(p.covariate.column for p in e.panels)
    if results.view_by:
        wanted.add(results.view_by)
    if results.response is not None:
        wanted.update(c.column for c in results.response.criteria.values())
        if results.response.by:
            wanted.add(results.response.by)
    if results.ae is not None:
        wanted.update(r.term for r in results.ae.events)
        if results.ae.by:
            wanted.add(results.ae.by)
    if results.baseline is not None:
        wanted.update(v["variable"] for v in results.baseline.variables)
        if results.baseline.by:
            wanted.add(results.baseline.by)
    grouped = {grouped_name(c): c for c in results.groupings}
    wanted = {grouped.get(c, c) for c in wanted}          # a grouped column is derived in R from its source
    return [c for c in results.frame.columns if c in wanted]
