"""Every number of a deliverable, computed by ``analysis`` for one :class:`~reports.spec.ReportSpec`.

:func:`compute` resolves the view against a cohort (column names as the file writes them or canonical names,
endpoints, default covariates, landmark and number-at-risk times) and calls the analysis functions: median
follow-up by reverse Kaplan-Meier, KM curves with log-rank test and hazard ratio, univariable Cox screen, the
selection rule, the multivariable model, the KM panels of the paper's Figure 3/4, response, adverse events,
baseline, and (when asked) the meta-analysis. Nothing here computes a statistic; what it adds is bookkeeping:
which columns, cutoffs, reference levels and times were used, so that the slides, the tables and the R script
say the same.
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from analysis import schema
from analysis.adverse_events import ae_columns, ae_table
from analysis.baseline import baseline_table
from analysis.cox import CovariateSpec, cox_fit, cox_univariable, select_by_pvalue
from analysis.cutoffs import PAPER_CUTOFFS, default_cutoff, format_cutoff, round_cutoff
from analysis.errors import AnalysisError
from analysis.response import response_table
from analysis.schema import Endpoint
from analysis.survival import km_by_group, reverse_km_followup
from reports.spec import ReportSpec, grouped_name
from services.cohort_views import CoxView, CoxVariable

#: nice steps (months) for number-at-risk and landmark times
_STEPS = (1.0, 2.0, 3.0, 6.0, 12.0, 24.0, 36.0, 60.0, 120.0)
#: panels on one grid slide (the paper's Figure 3 has 7, Figure 4 has 8)
MAX_PANELS = 9
#: a numeric column with at most this many distinct values enters the default covariates as categories
MAX_CATEGORY_VALUES = 5
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


# ---------------------------------------------------------------------------------------------------------
# the analysed cohort
# ---------------------------------------------------------------------------------------------------------
@dataclass
class Cohort:
    """A cleaned cohort (``analysis.io.load_cohort``'s canonical frame) and what its import found."""

    frame: pd.DataFrame
    name: str
    endpoints: list[Endpoint]
    kinds: dict[str, str] = field(default_factory=dict)      # column -> kind (id, time, event, numeric, ...)
    mapping: dict[str, str] = field(default_factory=dict)    # header in the file -> column
    synthetic: bool = False

    @classmethod
    def from_load(cls, result, name: str, synthetic: bool = False) -> "Cohort":
        """From an :class:`analysis.io.LoadResult` (the command line)."""
        return cls(result.data, name, list(result.report.endpoints),
                   {k: v.kind for k, v in result.report.columns.items()}, dict(result.mapping), synthetic)

    @classmethod
    def from_report(cls, frame: pd.DataFrame, report: dict, name: str, mapping: dict | None = None,
                    synthetic: bool = False) -> "Cohort":
        """From a frame and its import report as a dict (``services.store.Dataset``)."""
        endpoints = [Endpoint.from_dict(e) for e in report.get("endpoints", [])]
        kinds = {k: v.get("kind") for k, v in report.get("columns", {}).items()}
        return cls(frame, name, endpoints, kinds, dict(mapping or {}), synthetic)

    def resolve(self, name: str) -> str:
        """A column named by its header in the file or its canonical name."""
        if name in self.frame.columns:
            return name
        if name in self.mapping and self.mapping[name] in self.frame.columns:
            return self.mapping[name]
        canonical, _ = schema.canonical_name(name)
        if canonical in self.frame.columns:
            return canonical
        raise AnalysisError(f"column {name!r} is not in the data (columns: {', '.join(map(str, self.frame.columns))})")

    def kind(self, column: str) -> str:
        return self.kinds.get(column) or schema.column_kind(column, self.frame[column])


# ---------------------------------------------------------------------------------------------------------
# Cox: the covariates as the tables name them (the protocol of components.cox_views)
# ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CoxCovariate(CoxVariable):
    """A covariate of the Cox tables (the Cox page's :class:`services.cohort_views.CoxVariable`, which
    ``components.cox_views`` reads) in the three forms of :class:`analysis.cox.CovariateSpec`: ``kind`` ``cut``,
    ``cat`` or ``num`` (continuous, the HR per ``spec.per`` units)."""

    @property
    def ph_key(self) -> str:
        """The term label ``analysis.cox.cox_zph`` gives this covariate."""
        if self.kind == "num" and self.spec.per != 1:
            return f"{self.column} (per {format_cutoff(self.spec.per)})"
        return super().ph_key

    def comparison(self, term: str) -> str:
        """``> 56.5 vs ≤ 56.5``, ``B vs A``, ``per 10 years`` for a model term of this covariate."""
        if self.kind != "num":
            return super().comparison(term)
        unit = schema.NUMERIC_COLUMNS.get(self.column, {}).get("unit") or ""
        if self.spec.per == 1:
            return f"per 1 {unit}" if unit else "per unit"
        return f"per {format_cutoff(self.spec.per)} {unit or 'units'}"


def cutoff_source(column: str, cutoff: float, values) -> str:
    """Where a cutoff comes from, for the footnote: the paper's, the default near the median, or chosen."""
    if column in PAPER_CUTOFFS and float(PAPER_CUTOFFS[column]) == float(cutoff):
        return "paper"
    try:
        if float(default_cutoff(column, values)) == float(cutoff):
            return "median"
    except AnalysisError:
        pass
    return "chosen"


def _reference(frame: pd.DataFrame, cols: list[str], spec: CovariateSpec) -> str | None:
    """The reference level ``analysis.cox`` uses for a categorical covariate: the spec's, else
    :func:`analysis.schema.reference_level` of the levels among the complete cases."""
    complete = frame[cols].notna().all(axis=1)
    levels = schema.ordered_levels(spec.column, schema.level_texts(frame.loc[complete, spec.column]).dropna())
    if not levels:
        return None
    if spec.reference is not None:
        return schema.find_level(spec.reference, levels)
    return schema.reference_level(spec.column, levels)


def cox_covariate(cohort_frame: pd.DataFrame, endpoint: Endpoint, spec: CovariateSpec) -> CoxCovariate:
    col = spec.column
    series = cohort_frame[col]
    numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
    label = schema.label(col.removesuffix("_grouped")) + (" (grouped)" if col.endswith("_grouped") else "")
    if spec.cutoff is not None:
        values = series.to_numpy(dtype=float)
        return CoxCovariate(col, label, "cut", spec, spec.cutoff, cutoff_source(col, spec.cutoff, values))
    if numeric and spec.kind == "continuous":
        return CoxCovariate(col, label, "num", spec)
    ref = _reference(cohort_frame, [endpoint.time, endpoint.event, col], spec)
    return CoxCovariate(col, label, "cat", spec, reference=ref)


def default_covariates(cohort: Cohort, frame: pd.DataFrame, endpoints: list[Endpoint]) -> list[CovariateSpec]:
    """Every column usable as a Cox covariate (:func:`analysis.schema.column_uses`), the canonical baseline
    columns first: numeric ones cut at :func:`analysis.cutoffs.default_cutoff` (the paper's cutoff, else a
    round number near the median), numeric ones with at most five values and text ones as categories."""
    from analysis.baseline import BASELINE_COLUMNS

    used = {c for e in endpoints for c in (e.time, e.event)}
    order = [c for c in BASELINE_COLUMNS if c in frame.columns] + [c for c in frame.columns
                                                                   if c not in BASELINE_COLUMNS]
    out = []
    for col in order:
        if col in used or str(col).endswith("_id") or col.endswith("_grouped"):
            continue
        uses = schema.column_uses(frame[col], cohort.kind(col) if col in cohort.frame.columns else None)
        if not uses:
            continue
        series = frame[col]
        numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
        if numeric and series.dropna().nunique() > MAX_CATEGORY_VALUES:
            values = series.to_numpy(dtype=float)
            cut = float(default_cutoff(col, values))
            finite = values[np.isfinite(values)]
            if not (finite.min() <= cut < finite.max()):       # the paper's cutoff outside this cohort's values
                cut = float(round_cutoff(finite))
            out.append(CovariateSpec(col, cutoff=cut))
        elif "categorical" in uses:
            out.append(CovariateSpec(col, categorical=True))
    return out


def _cox_summary(frame: pd.DataFrame, endpoint: Endpoint, specs: list[CovariateSpec], spec: ReportSpec):
    """Univariable screen, selection rule and multivariable model of one endpoint as the Cox page's
    :class:`services.cohort_views.CoxView` (what ``components.cox_views`` reads), with the rule's ``alpha``."""
    variables = [cox_covariate(frame, endpoint, s) for s in specs]
    uni = cox_univariable(frame, endpoint.time, endpoint.event, specs)
    if spec.selection == "manual":
        wanted = set(spec.manual)
        selected = [v for v in variables if v.spec.label in wanted or v.column in wanted]
        rule = "manual"
    else:
        chosen = select_by_pvalue(uni, spec.alpha)
        selected = [v for v in variables if v.spec in chosen]
        rule = "p05" if spec.alpha == 0.05 else "p"
    summary = CoxView(endpoint.key, variables, uni, selected, rule)
    summary.alpha = spec.alpha
    if not selected:
        summary.multi_error = (f"no covariate has a univariable p < {spec.alpha:g}, so there is no multivariable "
                               f"model" if rule != "manual" else "no covariate was chosen for the multivariable model")
        return summary
    try:
        summary.multivariable = cox_fit(frame, endpoint.time, endpoint.event, [v.spec for v in selected])
    except AnalysisError as exc:
        summary.multi_error = str(exc)
    return summary


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
    cox: Any                     # services.cohort_views.CoxView (with .alpha), None without covariates
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
    endpoints: list[EndpointResults]
    view: Any                                 # StratifiedKM of the view (first endpoint, by/cutoff)
    view_by: str | None
    view_cutoff: float | None
    response: Any = None
    ae: Any = None
    baseline: Any = None
    meta: Any = None                          # services.meta_views.MetaView of the spec's outcome
    meta_pooled: dict = field(default_factory=dict)   # outcome -> PooledMeta (the pooled results table)
    cutpoint: Any = None                      # analysis.cutpoint.CutpointResult when the cutoff is the optimum
    groupings: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    generated: dt.date = field(default_factory=dt.date.today)

    @property
    def view_endpoint(self) -> EndpointResults:
        return self.endpoints[0]


def nice_times(longest: float, ticks: int) -> tuple[float, ...]:
    """0, s, 2s, ... up to the first multiple of a nice step s at or past ``longest``, about ``ticks`` steps."""
    if not (longest > 0 and math.isfinite(longest)):
        return (0.0,)
    step = next((s for s in _STEPS if longest / s <= ticks), _STEPS[-1] * math.ceil(longest / ticks / _STEPS[-1]))
    return tuple(float(step * k) for k in range(int(math.ceil(longest / step - 1e-9)) + 1))


def default_landmarks(longest: float) -> tuple[float, ...]:
    """Three landmark times (1, 2 and 3 nice steps) within the follow-up: 12/24/36 months for 4 years."""
    step = next((s for s in _STEPS if longest / s <= 4.5), _STEPS[-1])
    return tuple(float(step * k) for k in (1, 2, 3) if step * k < longest) or (float(step),)


def _endpoints(cohort: Cohort, spec: ReportSpec) -> list[Endpoint]:
    if not spec.endpoints:
        if not cohort.endpoints:
            raise AnalysisError("the data have no time/event pair: name the survival time and event columns")
        return list(cohort.endpoints)
    out = []
    for e in spec.endpoints:
        t, ev = cohort.resolve(e.time), cohort.resolve(e.event)
        known = next((x for x in cohort.endpoints if x.time == t and x.event == ev), None)
        if known is None:
            if cohort.endpoints or cohort.kinds:
                raise AnalysisError(f"'{e.time}' and '{e.event}' are not a time/event pair of this dataset "
                                    f"(pairs: {', '.join(f'{x.time}/{x.event}' for x in cohort.endpoints) or 'none'})")
            known = schema.endpoint_for(t, ev)
        out.append(Endpoint(known.key, e.label or known.label, t, ev, known.unit))
    return out


def _apply_groupings(cohort: Cohort, spec: ReportSpec, notes: list[str]) -> tuple[pd.DataFrame, dict]:
    frame, done = cohort.frame, {}
    for col, pairs in spec.groupings:
        column = cohort.resolve(col)
        mapping = dict(pairs)
        text = schema.level_texts(cohort.frame[column])
        unmapped = sorted(set(text.dropna()) - set(mapping))
        if unmapped:
            notes.append(f"grouping of {schema.display_name(column)}: level(s) {', '.join(unmapped)} not grouped, "
                         f"kept as they are")
        if frame is cohort.frame:
            frame = frame.copy()
        frame[grouped_name(column)] = text.map(lambda v: mapping.get(v, v), na_action="ignore")
        done[column] = mapping
    return frame, done


def _resolve_cov(cohort: Cohort, frame: pd.DataFrame, c: CovariateSpec) -> CovariateSpec:
    column = c.column if c.column in frame.columns else cohort.resolve(c.column)
    return CovariateSpec(column, c.cutoff, c.reference, c.per, c.categorical)


def _panels(frame, endpoint: Endpoint, covariates: list[CovariateSpec], spec: ReportSpec, at, notes) -> list[Panel]:
    panels = []
    for cov in covariates:
        if cov.kind == "continuous" and pd.api.types.is_numeric_dtype(frame[cov.column]):
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


def compute(cohort: Cohort, spec: ReportSpec, *, meta_data=None, today: dt.date | None = None) -> ReportResults:
    """Every number of the view ``spec`` on ``cohort`` (see the module docstring). Problems with a part (a
    multivariable model that cannot be fitted, a panel without two groups) become notes and empty parts; a view
    that cannot be read (an unknown column, an endpoint that is not one) raises :class:`AnalysisError`."""
    notes: list[str] = []
    frame, groupings = _apply_groupings(cohort, spec, notes)
    endpoints = _endpoints(cohort, spec)
    covariates = [_resolve_cov(cohort, frame, c) for c in spec.covariates] or \
        default_covariates(cohort, frame, endpoints)
    grid = None if spec.grid is None else [_resolve_cov(cohort, frame, c) for c in spec.grid]

    per_endpoint = []
    for endpoint in endpoints:
        both = frame[[endpoint.time, endpoint.event]].dropna()
        t = both[endpoint.time].to_numpy(dtype=float)
        longest = float(t.max()) if t.size else 0.0
        landmarks = spec.landmarks if spec.landmarks is not None else default_landmarks(longest)
        risk = spec.risk_times if spec.risk_times is not None else nice_times(longest, 8)
        at = tuple(sorted(set(risk) | set(landmarks)))
        overall = km_by_group(frame, endpoint.time, endpoint.event, ci=spec.ci, at=at)
        cox, cox_error = None, None
        if covariates:
            try:
                cox = _cox_summary(frame, endpoint, covariates, spec)
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
        panels = _panels(frame, endpoint, panel_covs, spec, at, notes)
        per_endpoint.append(EndpointResults(endpoint, len(both), int(both[endpoint.event].sum()),
                                            reverse_km_followup(t, both[endpoint.event].to_numpy(dtype=float)),
                                            overall, tuple(landmarks), tuple(risk), cox, cox_error, panels))

    first = per_endpoint[0]
    view_by = frame_column(cohort, frame, spec.by) if spec.by else None
    view_cutoff = spec.cutoff
    cutpoint = None
    if spec.cutoff_source == "optimal" and view_by is not None:
        from analysis.cutpoint import optimal_cutpoint

        cutpoint = optimal_cutpoint(frame, first.endpoint.time, first.endpoint.event, view_by, permutations=0,
                                    bootstrap=0, split=False)
        if view_cutoff is None:
            view_cutoff = float(cutpoint.cutpoint)
    if view_by is not None and view_cutoff is None:
        series = frame[view_by]
        if pd.api.types.is_numeric_dtype(series) and series.dropna().nunique() > 10:
            view_cutoff = float(default_cutoff(view_by, series.to_numpy(dtype=float)))
            notes.append(f"{schema.display_name(view_by)} was cut at {format_cutoff(view_cutoff)} (no cutoff given)")
    view = km_by_group(frame, first.endpoint.time, first.endpoint.event, by=view_by, cutoff=view_cutoff,
                       ci=spec.ci, at=tuple(sorted(set(first.risk_times) | set(first.landmarks))))

    original = cohort.frame
    results = ReportResults(spec=spec, name=spec.dataset_name or cohort.name, synthetic=spec.synthetic or
                            cohort.synthetic, n=int(len(frame)), frame=frame, columns=[], endpoints=per_endpoint,
                            view=view, view_by=view_by, view_cutoff=view_cutoff, groupings=groupings, notes=notes,
                            generated=today or dt.date.today(), cutpoint=cutpoint)
    if any(c in original.columns for c in schema.RESPONSE_COLUMNS):
        results.response = response_table(frame, by=frame_column(cohort, frame, spec.response_by))
    if ae_columns(original):
        results.ae = ae_table(frame, by=frame_column(cohort, frame, spec.ae_by))
    baseline_by = frame_column(cohort, frame, spec.baseline_by)
    base_frame = original if baseline_by is None or baseline_by in original.columns else \
        original.assign(**{baseline_by: frame[baseline_by]})
    results.baseline = baseline_table(base_frame, by=baseline_by,
                                      roles={c: k for c, k in cohort.kinds.items() if k})
    if spec.meta is not None:
        results.meta, results.meta_pooled = _meta(spec, meta_data, notes)
    results.columns = analysed_columns(results)
    return results


def frame_column(cohort: Cohort, frame: pd.DataFrame, name: str | None) -> str | None:
    if name is None:
        return None
    return name if name in frame.columns else cohort.resolve(name)


@dataclass
class PooledMeta:
    """The pooled analysis of one meta-analysis outcome: its effect labels and ``analysis.meta`` result."""

    outcome: str | None
    effect: Any                   # components.forest.EffectSpec (outcome name, measure)
    analysis: Any                 # analysis.meta.MetaAnalysisResult, None when no study can be pooled


def _meta(spec: ReportSpec, data, notes: list[str]):
    """The meta-analysis view of the spec's outcome (``services.meta_views.build_view``, what the meta page shows:
    the forest plot) and the pooled analysis of every outcome (``analysis.meta.meta_analysis`` with the page's
    parameters)."""
    from analysis.meta import meta_analysis, outcome_effects
    from services.meta_views import build_view, effect_spec, normalise_params, shipped_data, study_table

    data = data if data is not None else shipped_data()
    table = study_table(data)
    outcomes = list(table.outcomes) if table.kind == "outcomes" else [None]
    pooled = {}
    for outcome in outcomes:
        params = normalise_params(table, outcome=outcome, method=spec.meta.method, hk=spec.meta.hk)
        effect = effect_spec(table, params.outcome, params.measure)
        kw = params.run_kwargs(effect.counts)
        effects = outcome_effects(table, params.outcome, kw["measure"], kw["derive"])
        analysis = meta_analysis(effects, kw["method"], kw["hk"], mh=kw["mh"]) if effects.k else None
        if analysis is None:
            notes.append(f"meta-analysis of {effect.outcome.lower()}: no study can be pooled")
        pooled[outcome] = PooledMeta(outcome, effect, analysis)
    chosen = spec.meta.outcome if spec.meta.outcome in pooled else outcomes[0]
    view = build_view(data, normalise_params(table, outcome=chosen, method=spec.meta.method, hk=spec.meta.hk))
    return view, pooled


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
