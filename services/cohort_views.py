"""What the Cox, response, safety and baseline pages ask of a dataset: variable choices, cutoffs, and memoised
analysis results (glue between ``services.store`` datasets and ``analysis``; like ``services.survival_view``).

Nothing here computes a statistic: models, tests and estimates come from ``analysis.cox``,
``analysis.response``, ``analysis.adverse_events``, ``analysis.baseline`` and ``analysis.survival``. What this
module adds is bookkeeping a page needs -- which cutoff a numeric covariate gets and why, the seed paper's
groupings of two categorical covariates, and the landmark frame for survival by response.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from analysis import schema
from analysis.adverse_events import ae_columns, ae_table
from analysis.baseline import baseline_table
from analysis.cox import CovariateSpec, cox_fit, cox_univariable, parse_covariate, select_by_pvalue
from analysis.dichotomise import PAPER_CUTOFFS, default_cutoff, format_cutoff
from analysis.errors import AnalysisError
from analysis.response import landmark, objective_response, response_crosstab, response_table
from analysis.survival import km_by_group
from services.store import Dataset, DatasetMissing, get_dataset, memoised
from services.survival_view import endpoint_of, km_times

__all__ = ["format_cutoff"]   # re-exported for the pages

#: the seed paper's candidate variables for the univariable Cox screen (Tables 3 and 4), in its order
PAPER_COX_VARIABLES = ("sex", "etiology", "age", "tb", "albumin", "alt", "ast", "alp", "ggt", "pt", "afp",
                       "pivka_ii", "crp", "nlr", "child_pugh", "tumor_size_mm", "cnlc_stage", "shunt", "ehm",
                       "metabolic_comorbidity", "treatment")
#: a grouping column of a table (response, safety, baseline) has at most this many groups: one table column each
MAX_GROUP_LEVELS = 8

#: a grouping of a categorical column's levels makes the column ``<column>_grouped`` (:func:`grouped_name`)
GROUPED_SUFFIX = "_grouped"


def grouped_name(column: str) -> str:
    """The column a grouping of ``column``'s levels makes: ``cnlc_stage`` -> ``cnlc_stage_grouped``."""
    return f"{column}{GROUPED_SUFFIX}"


#: the paper's groupings (Tables 3-4): etiology viral vs non-viral, CNLC IIA/IIB vs IIIA/IIIB
VIRAL = {"HBV": "Viral", "HCV": "Viral", "Alcohol": "Non-viral", "Others": "Non-viral"}
CNLC_GROUPS = {"IA": "I–II", "IB": "I–II", "IIA": "I–II", "IIB": "I–II", "IIIA": "III–IV", "IIIB": "III–IV",
               "IV": "III–IV"}
#: column -> (the grouped column, level -> group, the reference group)
GROUPINGS = {
    "etiology": (grouped_name("etiology"), VIRAL, "Non-viral"),
    "cnlc_stage": (grouped_name("cnlc_stage"), CNLC_GROUPS, "I–II"),
}

RESPONSE_LABELS = {1.0: "Responder (CR/PR)", 0.0: "Non-responder (SD/PD/NE)"}
RESPONSE_COLUMN = "objective response"
CRITERIA = {"recist": "recist_best", "mrecist": "mrecist_best"}
CRITERION_NAMES = {"recist": "RECIST 1.1", "mrecist": "mRECIST"}


# ---------------------------------------------------------------------------------------------------------
# variable choices
# ---------------------------------------------------------------------------------------------------------
def label_of(col: str) -> str:
    """Display label with unit: ``AST (U/L)``, ``Child-Pugh class``; user columns tidied."""
    return schema.label(col)


def covariate_options(ds: Dataset) -> list[dict]:
    """Every column usable as a Cox covariate (continuous, cut or categorical): identifiers, endpoints, responses
    (known only after treatment starts -- a covariate measured at baseline is needed) and adverse events are
    not; nor is a text column with more than :data:`analysis.schema.MAX_LEVELS` levels."""
    return [{"label": label_of(col), "value": col} for col, prof in ds.profiles.items() if prof.uses]


def default_candidates(ds: Dataset) -> list[str]:
    """Every usable column: for a cohort like the paper's, its candidate variables first (in its order)."""
    usable = [o["value"] for o in covariate_options(ds)]
    paper = [c for c in PAPER_COX_VARIABLES if c in usable] if ds.follows_paper else []
    return paper + [c for c in usable if c not in paper]


def group_options(ds: Dataset, exclude: tuple[str, ...] = ()) -> list[dict]:
    """Columns that can split patients into the groups of a table: categorical use, 2 to
    :data:`MAX_GROUP_LEVELS` levels."""
    return [{"label": label_of(col), "value": col} for col, prof in ds.profiles.items()
            if col not in exclude and "categorical" in prof.uses and 2 <= len(prof.levels) <= MAX_GROUP_LEVELS]


def valid_choice(value: Any, options: list[dict]) -> Any:
    values = {o["value"] for o in options}
    return value if value in values else None


def group_dropdown(dataset_id: str | None, current: Any, url_value: Any, none_label: str) -> tuple[list, str]:
    """Options and value of a page's "compare by" dropdown: "none" first, then the grouping columns; the value
    kept if still valid, else the URL's, else "none" (the dropdown drops values it has no option for yet)."""
    try:
        ds = get_dataset(dataset_id)
    except DatasetMissing:
        return [{"label": "None", "value": "none"}], "none"
    options = [{"label": none_label, "value": "none"}] + group_options(ds)
    return options, valid_choice(current, options) or valid_choice(url_value, options) or "none"


# ---------------------------------------------------------------------------------------------------------
# Cox: covariates, cutoffs, models
# ---------------------------------------------------------------------------------------------------------
#: the forms a covariate can take on the Cox page (CovariateSpec.kind), as the page names them
FORMS = {"continuous": "Continuous", "cut": "Cut at a cutoff", "categorical": "Categorical"}


@dataclass(frozen=True)
class CoxVariable:
    """One candidate covariate as the page shows it.

    ``kind``: ``num`` (continuous: HR per ``per`` units), ``cut`` (numeric split at ``cutoff``; HR of > cutoff vs
    <= cutoff) or ``cat`` (one term per non-reference level). ``spec`` is what ``analysis.cox`` fits; its column is
    a derived one for the paper's groupings (etiology viral/non-viral, CNLC I-II/III-IV). ``text`` is the
    covariate's text form (``age*10``, ``ast:56.5``, ``grade=1``): what the URL keeps of a user's choice.
    """

    column: str
    label: str
    kind: str
    spec: CovariateSpec
    cutoff: float | None = None
    cutoff_source: str | None = None
    reference: str | None = None
    grouping: str | None = None

    @property
    def model_column(self) -> str:
        return self.spec.column

    @property
    def form(self) -> str:
        return {"num": "continuous", "cut": "cut", "cat": "categorical"}[self.kind]

    @property
    def text(self) -> str:
        return self.spec.label if self.grouping is None else self.column

    @property
    def ph_key(self) -> str:
        """The term label ``analysis.cox.cox_zph`` gives this covariate (its name in ``ph_test``)."""
        if self.kind == "cut":
            return f"{self.spec.column} > {format_cutoff(self.cutoff)}"
        if self.kind == "num" and self.spec.per != 1:
            return f"{self.spec.column} (per {format_cutoff(self.spec.per)})"
        return self.spec.column

    def comparison(self, term: str) -> str:
        """``> 56.5 vs ≤ 56.5``, ``per 10 years``, ``B vs A``, ``Viral vs Non-viral`` for a model term."""
        if self.kind == "cut":
            c = format_cutoff(self.cutoff)
            return f"> {c} vs ≤ {c}"
        if self.kind == "num":
            unit = schema.NUMERIC_COLUMNS.get(self.column, {}).get("unit") or "units"
            step = format_cutoff(self.spec.per)
            return f"per {step} {unit}" if self.spec.per != 1 or unit != "units" else "per unit"
        prefix = f"{self.spec.column}="
        level = term[len(prefix):] if term.startswith(prefix) else term
        return f"{level} vs {self.reference}"


def clean_cutoffs(chosen: Any) -> dict[str, float]:
    """The session store ``chosen-cutoffs`` ({column: cutoff}) with anything not a finite number dropped."""
    out = {}
    if isinstance(chosen, dict):
        for k, v in chosen.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                out[str(k)] = float(v)
    return out


def clean_forms(forms: Any, columns: list[str] | None = None) -> dict[str, str]:
    """The user's covariate forms ({column: text form}, from the URL) that parse and name their column."""
    out = {}
    if isinstance(forms, dict):
        for col, text in forms.items():
            try:
                spec = parse_covariate(str(text))
            except AnalysisError:
                continue
            if spec.column == col and (columns is None or col in columns):
                out[str(col)] = spec.label
    return out


def _cut_default(ds: Dataset, col: str, finite: pd.Series, chosen: dict[str, float]) -> tuple[float, str]:
    """The cutoff of a cut covariate and where it comes from: the Survival page's choice, the paper's, or the
    round value near the median (between two values for a two-valued column)."""
    if finite.nunique() == 2:
        return float(default_cutoff(col, finite, paper=False)), "two values"
    if col in chosen:
        # the Survival page records its starting value too: call the paper's cutoff by its name
        same = col in PAPER_CUTOFFS and chosen[col] == float(PAPER_CUTOFFS[col])
        return chosen[col], "paper" if same else "Survival page"
    if ds.follows_paper and col in PAPER_CUTOFFS:
        return float(PAPER_CUTOFFS[col]), "paper"
    return float(default_cutoff(col, finite, paper=False)), "median"


def cox_variables(ds: Dataset, columns: list[str], chosen: Any = None, paper_groups: bool = True,
                  forms: Any = None) -> tuple[list[CoxVariable], list[str]]:
    """The covariates for ``columns`` and notes about columns that cannot be used.

    Each column takes the user's form (``forms``: {column: text form such as ``age*10``, ``ast:56.5``,
    ``grade=1``}) when it is one the column allows, else its default (:func:`analysis.schema.default_form`):
    a numeric column the paper cut (in a cohort like the paper's) is cut at the Survival page's cutoff, else the
    paper's; other numeric columns are continuous, the HR per a round number of units near their spread
    (:func:`analysis.schema.default_per`); text columns and numeric ones with a few values are categorical with
    the reference of :func:`analysis.schema.reference_level`. With ``paper_groups`` etiology and CNLC stage are
    grouped as in the paper when all their levels are canonical (otherwise a note says why).
    """
    chosen = clean_cutoffs(chosen)
    forms = clean_forms(forms)
    frame = ds.frame
    out: list[CoxVariable] = []
    notes: list[str] = []
    for col in columns:
        prof = ds.profiles.get(col)
        if prof is None:
            notes.append(f"column '{col}' is not in this dataset")
            continue
        if not prof.uses:
            notes.append(f"column '{col}' cannot be a covariate (fewer than two values, or too many categories)")
            continue
        label = label_of(col)
        spec = parse_covariate(forms[col]) if col in forms else None
        form = spec.kind if spec is not None else prof.form
        if form not in prof.uses:
            form = prof.form
            spec = None
        s = frame[col]
        if form in ("continuous", "cut"):
            finite = s[np.isfinite(s)]
            if form == "continuous":
                per = spec.per if spec is not None else schema.default_per(finite)
                out.append(CoxVariable(col, label, "num", CovariateSpec(col, per=per)))
                continue
            cutoff, source = ((spec.cutoff, "chosen") if spec is not None
                              else _cut_default(ds, col, finite, chosen))
            out.append(CoxVariable(col, label, "cut", CovariateSpec(col, cutoff=cutoff), cutoff, source))
            continue
        levels = list(prof.levels)
        if paper_groups and col in GROUPINGS and spec is None:
            name, mapping, ref = GROUPINGS[col]
            if set(levels) <= set(mapping) and len({mapping[lv] for lv in levels}) == 2:
                out.append(CoxVariable(col, label, "cat", CovariateSpec(name, reference=ref), reference=ref,
                                       grouping=col))
                continue
            if not set(levels) <= set(mapping):
                notes.append(f"{label}: levels other than the canonical ones, so its levels are compared "
                             f"instead of the paper's grouping")
        wanted = spec.reference if spec is not None else None
        ref = schema.find_level(wanted, levels) if wanted is not None else None
        ref = ref or schema.reference_level(col, levels)
        out.append(CoxVariable(col, label, "cat", CovariateSpec(col, reference=ref), reference=ref))
    return out, notes


def group_levels(series: pd.Series, mapping: dict[str, str]) -> pd.Series:
    """The levels of ``series`` (as :func:`analysis.schema.level_texts` writes them) mapped to their groups; a
    level the mapping does not name is kept as it is, missing stays missing."""
    return schema.level_texts(series).map(lambda v: mapping.get(v, v), na_action="ignore")


def with_groupings(frame: pd.DataFrame, groupings: tuple[str, ...]) -> pd.DataFrame:
    """``frame`` plus the grouped columns of the paper's groupings of ``groupings`` (column names)."""
    if not groupings:
        return frame
    out = frame.copy()
    for col in groupings:
        name, mapping, _ref = GROUPINGS[col]
        out[name] = group_levels(out[col], mapping)
    return out


def _cox_univariable(frame: pd.DataFrame, time_col: str, event_col: str, specs: tuple, groupings: tuple,
                     concordance: bool = False):
    # the page's table shows no concordance per variable (the multivariable model's is in its footnote); at 50k
    # patients it is most of a univariable fit's time
    return cox_univariable(with_groupings(frame, groupings), time_col, event_col, list(specs),
                           concordance=concordance)


def _cox_fit(frame: pd.DataFrame, time_col: str, event_col: str, specs: tuple, groupings: tuple):
    return cox_fit(with_groupings(frame, groupings), time_col, event_col, list(specs))


@dataclass
class CoxView:
    """Everything the Cox page shows for one endpoint (and the deliverables' Cox tables: ``reports.results``)."""

    endpoint: str
    variables: list[CoxVariable]
    univariable: Any                       # analysis.cox.UnivariableResult
    selected: list[CoxVariable]
    rule: str                              # "p05" (univariable p < alpha enters) or "manual"
    multivariable: Any = None              # analysis.cox.CoxResult or None
    multi_error: str | None = None
    notes: list[str] = field(default_factory=list)
    alpha: float = 0.05                    # the entry p-value of the rule "p05"

    @property
    def groupings(self) -> tuple[str, ...]:
        """The columns whose paper grouping a covariate uses (:data:`GROUPINGS`)."""
        return tuple(sorted({v.grouping for v in self.variables if v.grouping}))

    def model_of(self, var: CoxVariable):
        """The univariable model of ``var`` (None when it could not be fitted)."""
        for m in self.univariable.models:
            if m.covariates and m.covariates[0] == var.spec:
                return m
        return None

    def error_of(self, var: CoxVariable) -> str | None:
        for e in self.univariable.errors:
            if e.get("covariate") == var.spec.label:
                return e.get("error")
        return None


def _direct(func, ds: Dataset, *args):
    """``func(ds.frame, *args)`` without the shared cache (:func:`services.store.memoised`'s signature)."""
    return func(ds.frame, *args)


def cox_view(ds: Dataset, endpoint: str, columns: list[str], chosen: Any = None, rule: str = "p05",
             manual: list[str] | None = None, paper_groups: bool = True, alpha: float = 0.05,
             forms: Any = None, cached: bool = True, concordance: bool = False) -> CoxView:
    """Univariable screen of ``columns`` (:func:`cox_variables`) and the multivariable model of the variables the
    rule selects.

    ``rule="p05"``: :func:`analysis.cox.select_by_pvalue` (univariable p < ``alpha`` enters; the paper's rule);
    ``rule="manual"``: the covariates in ``manual`` (by column or text form). A multivariable model that cannot
    be fitted (e.g. collinear covariates) is reported in ``multi_error``; the univariable table still stands.
    ``cached=False`` fits without the shared cache (the deliverables memoise their results as a whole);
    ``concordance=True`` adds Harrell's C to every univariable model (the R bundle reproduces it).
    """
    run = memoised if cached else _direct
    e = endpoint_of(ds, endpoint)
    endpoint, time_col, event_col = e.key, e.time, e.event
    variables, notes = cox_variables(ds, columns, chosen, paper_groups, forms)
    if not variables:
        raise AnalysisError("choose at least one candidate variable")
    groupings = tuple(sorted({v.grouping for v in variables if v.grouping}))
    specs = tuple(v.spec for v in variables)
    uni = run(_cox_univariable, ds, time_col, event_col, specs, groupings, concordance)
    if rule == "manual":
        wanted = set(manual or [])
        selected = [v for v in variables if wanted & {v.column, v.text, v.spec.label}]
    else:
        rule = "p05"
        chosen_specs = select_by_pvalue(uni, alpha)
        selected = [v for v in variables if v.spec in chosen_specs]
    view = CoxView(endpoint, variables, uni, selected, rule, notes=notes, alpha=alpha)
    if not selected:
        view.multi_error = (f"no variable has a univariable p < {alpha:g}, so there is no multivariable model"
                            if rule == "p05" else "tick the variables of the multivariable model")
        return view
    try:
        view.multivariable = run(_cox_fit, ds, time_col, event_col, tuple(v.spec for v in selected), groupings)
    except AnalysisError as exc:
        view.multi_error = str(exc)
    return view


# ---------------------------------------------------------------------------------------------------------
# response
# ---------------------------------------------------------------------------------------------------------
def response_columns(ds: Dataset) -> list[str]:
    return [c for c in schema.RESPONSE_COLUMNS if c in ds.frame.columns]


def response_summary(ds: Dataset, by: str | None = None):
    """Memoised :func:`analysis.response.response_table` (both criteria present; by-group when asked)."""
    return memoised(response_table, ds, None, by=by)


def response_cross(ds: Dataset):
    """Memoised RECIST 1.1 x mRECIST cross-tab (agreement in ``attrs``) or None without both columns."""
    if len(response_columns(ds)) < 2:
        return None
    return memoised(response_crosstab, ds, "recist_best", "mrecist_best")


@dataclass
class ResponseKM:
    """KM by objective response, optionally from a landmark."""

    km: Any                    # analysis.survival.StratifiedKM
    criterion: str             # "recist" | "mrecist"
    endpoint: str
    landmark: float            # 0 = no landmark
    n_classified: int          # patients with time, event and a response class
    n_dropped: int             # left out by the landmark (event or censored before it)


def _response_km(frame: pd.DataFrame, criterion: str, endpoint: tuple, at_months: float, at: tuple) -> ResponseKM:
    column = CRITERIA[criterion]
    key, time_col, event_col = endpoint
    resp = objective_response(frame, column)
    work = pd.DataFrame({time_col: frame[time_col], event_col: frame[event_col],
                         RESPONSE_COLUMN: resp.map(RESPONSE_LABELS)}, index=frame.index)
    work = work[work[time_col].notna() & work[event_col].notna() & work[RESPONSE_COLUMN].notna()]
    n = int(len(work))
    if at_months > 0:
        work = landmark(work, time_col, event_col, at_months)
    if work.empty:
        raise AnalysisError(f"no patient is still at risk at the {at_months:g}-month landmark")
    km = km_by_group(work, time_col, event_col, by=RESPONSE_COLUMN, at=at)
    return ResponseKM(km, criterion, key, float(at_months), n, n - int(len(work)))


def response_km(ds: Dataset, criterion: str, endpoint: str, landmark_months: float) -> ResponseKM:
    """Memoised KM of ``endpoint`` by objective response (CR/PR vs SD/PD/NE) of ``criterion``.

    With ``landmark_months`` > 0 only patients still at risk at the landmark are kept and time restarts there
    (:func:`analysis.response.landmark`).
    """
    if criterion not in CRITERIA:
        raise AnalysisError("unknown response criterion; use recist or mrecist")
    if CRITERIA[criterion] not in ds.frame.columns:
        raise AnalysisError(f"this dataset has no {CRITERION_NAMES[criterion]} column ({CRITERIA[criterion]})")
    e = endpoint_of(ds, endpoint)
    return memoised(_response_km, ds, criterion, (e.key, e.time, e.event), float(landmark_months),
                    km_times(ds, e.key))


# ---------------------------------------------------------------------------------------------------------
# adverse events, baseline
# ---------------------------------------------------------------------------------------------------------
def has_adverse_events(ds: Dataset) -> bool:
    return bool(ae_columns(ds.frame))


def adverse_events(ds: Dataset, by: str | None = None):
    """Memoised :func:`analysis.adverse_events.ae_table`."""
    return memoised(ae_table, ds, by=by)


def baseline_roles(ds: Dataset) -> tuple[tuple[str, str], ...]:
    """The columns that are no baseline variable (identifiers, endpoints, responses, adverse events -- by the
    dataset's own roles) with their kind: what :func:`analysis.baseline.baseline_table` lists as skipped."""
    return tuple(sorted((col, p.kind) for col, p in ds.profiles.items() if p.kind in schema.NOT_VARIABLE_KINDS))


def baseline(ds: Dataset, by: str | None = None):
    """Memoised :func:`analysis.baseline.baseline_table`: every column, those of :func:`baseline_roles` listed
    as skipped."""
    return memoised(baseline_table, ds, by=by, roles=baseline_roles(ds))
