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
from analysis.baseline import baseline_table, variable_label
from analysis.cox import CovariateSpec, cox_fit, cox_univariable, select_by_pvalue
from analysis.cutoffs import PAPER_CUTOFFS, default_cutoff, format_cutoff
from analysis.errors import AnalysisError
from analysis.response import landmark, objective_response, response_crosstab, response_table
from analysis.survival import km_by_group
from services.store import Dataset, DatasetMissing, get_dataset, memoised
from services.survival_view import ENDPOINT_LABELS, LANDMARKS, RISK_TIMES

__all__ = ["ENDPOINT_LABELS", "LANDMARKS", "RISK_TIMES", "format_cutoff"]   # re-exported for the pages

#: the seed paper's candidate variables for the univariable Cox screen (Tables 3 and 4), in its order
PAPER_COX_VARIABLES = ("sex", "etiology", "age", "tb", "albumin", "alt", "ast", "alp", "ggt", "pt", "afp",
                       "pivka_ii", "crp", "nlr", "child_pugh", "tumor_size_mm", "cnlc_stage", "shunt", "ehm",
                       "metabolic_comorbidity", "treatment")
#: a categorical column with more levels than this is not offered as a covariate or grouping column
MAX_COVARIATE_LEVELS = 12
MAX_GROUP_LEVELS = 8
NOT_VARIABLES = {"patient_id", *schema.TIME_COLUMNS, *schema.EVENT_COLUMNS, *schema.RESPONSE_COLUMNS}

#: the paper's groupings (Tables 3-4): etiology viral vs non-viral, CNLC IIA/IIB vs IIIA/IIIB
VIRAL = {"HBV": "Viral", "HCV": "Viral", "Alcohol": "Non-viral", "Others": "Non-viral"}
CNLC_GROUPS = {"IA": "I–II", "IB": "I–II", "IIA": "I–II", "IIB": "I–II", "IIIA": "III–IV", "IIIB": "III–IV",
               "IV": "III–IV"}
GROUPINGS = {
    "etiology": ("etiology (viral vs non-viral)", VIRAL, "Non-viral"),
    "cnlc_stage": ("cnlc_stage (I–II vs III–IV)", CNLC_GROUPS, "I–II"),
}

RESPONSE_LABELS = {1.0: "Responder (CR/PR)", 0.0: "Non-responder (SD/PD/NE)"}
RESPONSE_COLUMN = "objective response"
CRITERIA = {"recist": "recist_best", "mrecist": "mrecist_best"}
CRITERION_NAMES = {"recist": "RECIST 1.1", "mrecist": "mRECIST"}


# ---------------------------------------------------------------------------------------------------------
# variable choices
# ---------------------------------------------------------------------------------------------------------
def _is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def label_of(col: str) -> str:
    """Display label with unit: ``AST (U/L)``, ``Child-Pugh class``; user columns tidied."""
    return variable_label(col)


def covariate_options(ds: Dataset) -> list[dict]:
    """Columns usable as Cox covariates: numeric (split at a cutoff) or categorical with 2-12 levels.

    Identifiers, times, events, responses (response is known only after treatment starts -- a covariate
    measured at baseline is needed) and adverse events are left out.
    """
    out = []
    for col in ds.frame.columns:
        if col in NOT_VARIABLES or schema.is_ae_column(col) or str(col).endswith("_id"):
            continue
        s = ds.frame[col]
        if _is_numeric(s):
            ok = s.dropna().nunique() >= 2
        else:
            ok = 2 <= s.dropna().nunique() <= MAX_COVARIATE_LEVELS
        if ok:
            out.append({"label": label_of(col), "value": col})
    return out


def default_candidates(ds: Dataset) -> list[str]:
    """The paper's candidate variables present in the dataset (its order); else every usable column."""
    usable = {o["value"] for o in covariate_options(ds)}
    paper = [c for c in PAPER_COX_VARIABLES if c in usable]
    return paper or [o["value"] for o in covariate_options(ds)]


def group_options(ds: Dataset, exclude: tuple[str, ...] = ()) -> list[dict]:
    """Columns that can split patients into groups: categorical with 2-8 levels (numeric with <= 5 values)."""
    out = []
    for col in ds.frame.columns:
        if col in NOT_VARIABLES or col in exclude or schema.is_ae_column(col) or str(col).endswith("_id"):
            continue
        s = ds.frame[col].dropna()
        k = s.nunique()
        if (_is_numeric(ds.frame[col]) and 2 <= k <= 5) or (not _is_numeric(ds.frame[col])
                                                              and 2 <= k <= MAX_GROUP_LEVELS):
            out.append({"label": label_of(col), "value": col})
    return out


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
@dataclass(frozen=True)
class CoxVariable:
    """One candidate covariate as the page shows it.

    ``kind``: ``cut`` (numeric split at ``cutoff``; HR of > cutoff vs <= cutoff) or ``cat`` (one term per
    non-reference level). ``spec`` is what ``analysis.cox`` fits; its column is a derived one for the paper's
    groupings (etiology viral/non-viral, CNLC I-II/III-IV).
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
    def ph_key(self) -> str:
        """The term label ``analysis.cox.cox_zph`` gives this covariate (its name in ``ph_test``)."""
        if self.kind == "cut":
            return f"{self.spec.column} > {format_cutoff(self.cutoff)}"
        return self.spec.column

    def comparison(self, term: str) -> str:
        """``> 56.5 vs ≤ 56.5``, ``B vs A``, ``Viral vs Non-viral`` for a model term of this covariate."""
        if self.kind == "cut":
            c = format_cutoff(self.cutoff)
            return f"> {c} vs ≤ {c}"
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


def _present_levels(series: pd.Series) -> list[str]:
    s = series.dropna().astype(str).str.strip()
    return sorted(set(s[s != ""]))


def cox_variables(ds: Dataset, columns: list[str], chosen: Any = None,
                  paper_groups: bool = True) -> tuple[list[CoxVariable], list[str]]:
    """The covariates for ``columns`` and notes about columns that cannot be used.

    Numeric columns are split at the cutoff chosen on the Survival page (session store), else the paper's
    cutoff (:data:`analysis.cutoffs.PAPER_CUTOFFS`), else the median (:func:`analysis.cutoffs.default_cutoff`);
    a two-valued numeric column is split between its two values. Categorical columns use the reference level of
    :func:`analysis.schema.reference_level`; with ``paper_groups`` etiology and CNLC stage are grouped as in the
    paper when all their levels are canonical (otherwise their levels are used and a note says why).
    """
    chosen = clean_cutoffs(chosen)
    frame = ds.frame
    out: list[CoxVariable] = []
    notes: list[str] = []
    for col in columns:
        if col not in frame.columns:
            notes.append(f"column '{col}' is not in this dataset")
            continue
        s = frame[col]
        label = label_of(col)
        if _is_numeric(s):
            finite = s[np.isfinite(s)]
            if finite.nunique() < 2:
                notes.append(f"column '{col}' has fewer than two distinct values")
                continue
            if finite.nunique() == 2:
                cutoff, source = float(finite.min()), "two values"
            elif col in chosen:
                # the Survival page records its starting value too: call the paper's cutoff by its name
                same = col in PAPER_CUTOFFS and chosen[col] == float(PAPER_CUTOFFS[col])
                cutoff, source = chosen[col], "paper" if same else "Survival page"
            elif col in PAPER_CUTOFFS:
                cutoff, source = float(PAPER_CUTOFFS[col]), "paper"
            else:
                cutoff, source = float(default_cutoff(col, finite)), "median"
            out.append(CoxVariable(col, label, "cut", CovariateSpec(col, cutoff=cutoff), cutoff, source))
            continue
        levels = _present_levels(s)
        if len(levels) < 2:
            notes.append(f"column '{col}' has fewer than two levels")
            continue
        if paper_groups and col in GROUPINGS:
            name, mapping, ref = GROUPINGS[col]
            if set(levels) <= set(mapping) and len({mapping[lv] for lv in levels}) == 2:
                out.append(CoxVariable(col, label, "cat", CovariateSpec(name, reference=ref), reference=ref,
                                       grouping=col))
                continue
            if not set(levels) <= set(mapping):
                notes.append(f"{label}: levels other than the canonical ones, so its levels are compared "
                             f"instead of the paper's grouping")
        ref = schema.reference_level(col, levels)
        out.append(CoxVariable(col, label, "cat", CovariateSpec(col, reference=ref), reference=ref))
    return out, notes


def with_groupings(frame: pd.DataFrame, groupings: tuple[str, ...]) -> pd.DataFrame:
    """``frame`` plus the derived columns of the paper's groupings (missing stays missing)."""
    if not groupings:
        return frame
    out = frame.copy()
    for col in groupings:
        name, mapping, _ref = GROUPINGS[col]
        text = out[col].map(lambda v: str(v).strip(), na_action="ignore")
        out[name] = text.map(mapping)
    return out


def _cox_univariable(frame: pd.DataFrame, time_col: str, event_col: str, specs: tuple, groupings: tuple):
    return cox_univariable(with_groupings(frame, groupings), time_col, event_col, list(specs))


def _cox_fit(frame: pd.DataFrame, time_col: str, event_col: str, specs: tuple, groupings: tuple):
    return cox_fit(with_groupings(frame, groupings), time_col, event_col, list(specs))


@dataclass
class CoxView:
    """Everything the Cox page shows for one endpoint."""

    endpoint: str
    variables: list[CoxVariable]
    univariable: Any                       # analysis.cox.UnivariableResult
    selected: list[CoxVariable]
    rule: str                              # "p05" or "manual"
    multivariable: Any = None              # analysis.cox.CoxResult or None
    multi_error: str | None = None
    notes: list[str] = field(default_factory=list)

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


def cox_view(ds: Dataset, endpoint: str, columns: list[str], chosen: Any = None, rule: str = "p05",
             manual: list[str] | None = None, paper_groups: bool = True, alpha: float = 0.05) -> CoxView:
    """Univariable screen of ``columns`` and the multivariable model of the variables the rule selects.

    ``rule="p05"``: :func:`analysis.cox.select_by_pvalue` (univariable p < ``alpha`` enters; the paper's rule);
    ``rule="manual"``: the columns in ``manual``. A multivariable model that cannot be fitted (e.g. collinear
    covariates) is reported in ``multi_error``; the univariable table still stands.
    """
    if endpoint not in schema.ENDPOINTS:
        raise AnalysisError(f"unknown endpoint '{endpoint}'; use pfs or os")
    time_col, event_col = schema.ENDPOINTS[endpoint]
    missing = [c for c in (time_col, event_col) if c not in ds.frame.columns]
    if missing:
        raise AnalysisError(f"this dataset has no {ENDPOINT_LABELS[endpoint].lower()} columns "
                            f"({', '.join(missing)})")
    variables, notes = cox_variables(ds, columns, chosen, paper_groups)
    if not variables:
        raise AnalysisError("choose at least one candidate variable")
    groupings = tuple(sorted({v.grouping for v in variables if v.grouping}))
    specs = tuple(v.spec for v in variables)
    uni = memoised(_cox_univariable, ds, time_col, event_col, specs, groupings)
    if rule == "manual":
        wanted = set(manual or [])
        selected = [v for v in variables if v.column in wanted]
    else:
        rule = "p05"
        chosen_specs = select_by_pvalue(uni, alpha)
        selected = [v for v in variables if v.spec in chosen_specs]
    view = CoxView(endpoint, variables, uni, selected, rule, notes=notes)
    if not selected:
        view.multi_error = ("no variable has a univariable p < 0.05, so there is no multivariable model"
                            if rule == "p05" else "tick the variables of the multivariable model")
        return view
    try:
        view.multivariable = memoised(_cox_fit, ds, time_col, event_col, tuple(v.spec for v in selected),
                                      groupings)
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


def _response_km(frame: pd.DataFrame, criterion: str, endpoint: str, at_months: float, at: tuple) -> ResponseKM:
    column = CRITERIA[criterion]
    time_col, event_col = schema.ENDPOINTS[endpoint]
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
    return ResponseKM(km, criterion, endpoint, float(at_months), n, n - int(len(work)))


def response_km(ds: Dataset, criterion: str, endpoint: str, landmark_months: float) -> ResponseKM:
    """Memoised KM of ``endpoint`` by objective response (CR/PR vs SD/PD/NE) of ``criterion``.

    With ``landmark_months`` > 0 only patients still at risk at the landmark are kept and time restarts there
    (:func:`analysis.response.landmark`).
    """
    if criterion not in CRITERIA:
        raise AnalysisError("unknown response criterion; use recist or mrecist")
    if CRITERIA[criterion] not in ds.frame.columns:
        raise AnalysisError(f"this dataset has no {CRITERION_NAMES[criterion]} column ({CRITERIA[criterion]})")
    if endpoint not in schema.ENDPOINTS:
        raise AnalysisError(f"unknown endpoint '{endpoint}'; use pfs or os")
    missing = [c for c in schema.ENDPOINTS[endpoint] if c not in ds.frame.columns]
    if missing:
        raise AnalysisError(f"this dataset has no {ENDPOINT_LABELS[endpoint].lower()} columns "
                            f"({', '.join(missing)})")
    at = tuple(sorted(set(RISK_TIMES[endpoint]) | set(LANDMARKS[endpoint])))
    return memoised(_response_km, ds, criterion, endpoint, float(landmark_months), at)


# ---------------------------------------------------------------------------------------------------------
# adverse events, baseline
# ---------------------------------------------------------------------------------------------------------
def has_adverse_events(ds: Dataset) -> bool:
    return bool(ae_columns(ds.frame))


def adverse_events(ds: Dataset, by: str | None = None):
    """Memoised :func:`analysis.adverse_events.ae_table`."""
    return memoised(ae_table, ds, by=by)


def baseline(ds: Dataset, by: str | None = None):
    """Memoised :func:`analysis.baseline.baseline_table`."""
    return memoised(baseline_table, ds, by=by)
