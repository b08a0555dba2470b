"""Tumour response: best overall response by RECIST 1.1 and mRECIST, ORR/DCR with exact CIs, agreement.

* Categories CR, PR, SD, PD, NE (Eisenhauer et al., Eur J Cancer 2009;45:228-47; Lencioni & Llovet, Semin Liver
  Dis 2010;30:52-60).  Codes are matched after trimming and upper-casing; anything else is *unknown*: counted,
  listed (``unknown_codes``) and left out of the denominator, never silently dropped.
* Denominator ``n`` of a criterion: patients with a valid assessment (CR/PR/SD/PD/NE) in that criterion;
  missing values are counted in ``missing``.  NE stays in the denominator (non-evaluable counts as
  non-response, the usual intention-to-treat convention among assessed patients).
* ORR = CR + PR, DCR = CR + PR + SD, with the exact Clopper-Pearson 95% interval (Clopper & Pearson,
  Biometrika 1934;26:404-13), computed with scipy ``binomtest(...).proportion_ci(method="exact")`` -- the same
  interval as R ``binom.test``.
* Group comparison of ORR and DCR (``by``): Fisher's exact test for a 2x2 table (R ``fisher.test``); with more
  than two groups Pearson's chi-square without continuity correction (R ``chisq.test(correct=FALSE)``) when
  every expected count is at least 5, else the exact Freeman-Halton test (R ``fisher.test`` on the r x 2 table);
  see :func:`analysis.baseline.contingency_test`.
* Agreement between the two criteria: percent agreement and Cohen's unweighted kappa with the large-sample
  standard error of Fleiss, Cohen & Everitt (Psychol Bull 1969;72:323-7) and the null standard error for the
  z-test (as statsmodels ``cohens_kappa``).
* :func:`landmark` implements the landmark method (Anderson, Cain & Gelber, J Clin Oncol 1983;1:710-9) used to
  compare survival by response without guarantee-time bias.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from analysis import schema
from analysis.baseline import TestResult, contingency_test, group_levels, require_columns
from analysis.errors import AnalysisError
from analysis.jsonsafe import json_safe
from analysis.numeric import to_numeric
from analysis.validate import lines_where

CATEGORIES = tuple(schema.RESPONSE_CODES)  # ("CR", "PR", "SD", "PD", "NE")
CRITERION_LABELS = {"recist_best": "RECIST1.1", "mrecist_best": "mRECIST"}
_RESPONDERS = ("CR", "PR")
_CONTROLLED = ("CR", "PR", "SD")


def criterion_label(column: str) -> str:
    return CRITERION_LABELS.get(column, column)


def _codes(series: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """(normalised codes with NaN for missing, valid mask, unknown mask)."""
    present = series.notna()
    text = series.map(lambda v: str(v).strip().upper(), na_action="ignore").where(present)
    text = text.where(text != "")
    present = text.notna()
    valid = present & text.isin(CATEGORIES)
    return text, valid, present & ~valid


@dataclass
class Proportion:
    """x of n with the exact (Clopper-Pearson) 95% confidence interval; ``pct``/``lo``/``hi`` in percent."""

    n: int
    total: int
    pct: float
    lo: float
    hi: float

    def to_dict(self) -> dict:
        return json_safe({"n": self.n, "total": self.total, "pct": self.pct, "lo": self.lo, "hi": self.hi})


def clopper_pearson(x: int, n: int, level: float = 0.95) -> Proportion:
    """Exact binomial CI (Clopper-Pearson), equal to R ``binom.test(x, n)$conf.int``; in percent."""
    if n <= 0:
        return Proportion(int(x), int(n), float("nan"), float("nan"), float("nan"))
    ci = stats.binomtest(int(x), int(n)).proportion_ci(confidence_level=level, method="exact")
    return Proportion(int(x), int(n), 100.0 * x / n, 100.0 * float(ci.low), 100.0 * float(ci.high))


@dataclass
class CriterionSummary:
    """Best-response distribution for one criterion (column)."""

    column: str
    label: str
    n: int                     # denominator: valid assessments
    missing: int
    counts: dict[str, int]
    pct: dict[str, float]
    orr: Proportion
    dcr: Proportion
    unknown: int = 0
    unknown_codes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        out: dict[str, Any] = {"column": self.column, "n": self.n, "missing": self.missing}
        for cat in CATEGORIES:
            out[cat] = {"n": self.counts[cat], "pct": self.pct[cat]}
        out["ORR"] = {"n": self.orr.n, "pct": self.orr.pct, "lo": self.orr.lo, "hi": self.orr.hi}
        out["DCR"] = {"n": self.dcr.n, "pct": self.dcr.pct, "lo": self.dcr.lo, "hi": self.dcr.hi}
        out["unknown"] = {"n": self.unknown, "codes": list(self.unknown_codes)}
        return json_safe(out)


def _summarise(series: pd.Series, column: str) -> CriterionSummary:
    text, valid, unknown = _codes(series)
    counts = {cat: int((text[valid] == cat).sum()) for cat in CATEGORIES}
    n = int(valid.sum())
    pct = {cat: (100.0 * counts[cat] / n if n else float("nan")) for cat in CATEGORIES}
    orr = clopper_pearson(sum(counts[c] for c in _RESPONDERS), n)
    dcr = clopper_pearson(sum(counts[c] for c in _CONTROLLED), n)
    codes = sorted(pd.unique(text[unknown]).tolist())
    return CriterionSummary(column, criterion_label(column), n, int(text.isna().sum()), counts, pct, orr, dcr,
                            int(unknown.sum()), codes)


@dataclass
class GroupResponse:
    level: str
    n: int
    criteria: dict[str, CriterionSummary]

    def to_dict(self) -> dict:
        return {"level": self.level, "n": self.n, "criteria": {k: v.to_dict() for k, v in self.criteria.items()}}


@dataclass
class ResponseTable:
    """Response summary: ``criteria`` keyed by label (``"RECIST1.1"``, ``"mRECIST"``); with ``by`` also per-group
    summaries and ORR/DCR tests (``tests[label]["ORR"|"DCR"]``)."""

    n: int
    criteria: dict[str, CriterionSummary]
    by: str | None = None
    groups: list[GroupResponse] = field(default_factory=list)
    tests: dict[str, dict[str, TestResult]] = field(default_factory=dict)
    by_missing: int = 0

    def to_dict(self) -> dict:
        out: dict[str, Any] = {"n": self.n, "criteria": {k: v.to_dict() for k, v in self.criteria.items()}}
        if self.by is not None:
            out["by"] = {"column": self.by, "missing": self.by_missing,
                         "groups": [g.to_dict() for g in self.groups],
                         "tests": {k: {e: t.to_dict() for e, t in v.items()} for k, v in self.tests.items()}}
        return json_safe(out)

    def to_frame(self) -> pd.DataFrame:
        """Long table: criterion, group (``"Overall"`` or level), category, n, denominator, pct, lo, hi."""
        recs = []
        blocks = [("Overall", self.criteria)] + [(g.level, g.criteria) for g in self.groups]
        for level, crit in blocks:
            for label, s in crit.items():
                for cat in CATEGORIES:
                    recs.append({"criterion": label, "group": level, "category": cat, "n": s.counts[cat],
                                 "denominator": s.n, "pct": s.pct[cat], "lo": None, "hi": None})
                for name, prop in (("ORR", s.orr), ("DCR", s.dcr)):
                    recs.append({"criterion": label, "group": level, "category": name, "n": prop.n,
                                 "denominator": s.n, "pct": prop.pct, "lo": prop.lo, "hi": prop.hi})
        return pd.DataFrame.from_records(recs)


def _criteria_columns(df: pd.DataFrame, criteria: Sequence[str] | str | None) -> list[str]:
    if criteria is None:
        cols = [c for c in schema.RESPONSE_COLUMNS if c in df.columns]
        if not cols:
            raise AnalysisError("no response column found: the data need recist_best and/or mrecist_best")
        return cols
    cols = [criteria] if isinstance(criteria, str) else list(dict.fromkeys(criteria))
    if not cols:
        raise AnalysisError("no response criterion given")
    require_columns(df, cols, "response column")
    return cols


def response_table(df: pd.DataFrame, criteria: Sequence[str] | str | None = None,
                   by: str | None = None) -> ResponseTable:
    """Best-response counts, ORR and DCR (exact 95% CI) per criterion, optionally per group with tests.

    ``criteria`` defaults to ``recist_best`` and ``mrecist_best`` (those present).  With ``by``, patients with a
    missing group are left out of the groups (counted in ``by_missing``) but kept in the overall summary.
    """
    cols = _criteria_columns(df, criteria)
    overall = {criterion_label(c): _summarise(df[c], c) for c in cols}
    table = ResponseTable(n=int(len(df)), criteria=overall)
    if by is None:
        return table
    require_columns(df, [by], "grouping column")
    gtext, levels = group_levels(df[by], by)
    table.by = by
    table.by_missing = int(gtext.isna().sum())
    for lv in levels:
        mask = (gtext == lv).to_numpy()
        table.groups.append(GroupResponse(lv, int(mask.sum()),
                                          {criterion_label(c): _summarise(df[c][mask], c) for c in cols}))
    for c in cols:
        label = criterion_label(c)
        table.tests[label] = {}
        for name, attr in (("ORR", "orr"), ("DCR", "dcr")):
            counts = []
            for g in table.groups:
                prop = getattr(g.criteria[label], attr)
                counts.append([prop.n, prop.total - prop.n])
            table.tests[label][name] = contingency_test(np.array(counts, dtype=np.int64).reshape(-1, 2),
                                                        fisher_if_2x2=True)
    return table


# --- agreement between criteria -------------------------------------------------------------------------

@dataclass
class Agreement:
    """Agreement of two categorical ratings on the same patients (complete, valid pairs only)."""

    n: int
    agree: int
    percent_agreement: float
    kappa: float
    se: float          # large-sample SE (Fleiss, Cohen & Everitt 1969), for the CI
    se0: float         # SE under kappa = 0, for the z-test
    lo: float
    hi: float
    z: float
    p: float

    def to_dict(self) -> dict:
        return json_safe(self.__dict__.copy())


def _paired_codes(df: pd.DataFrame, row: str, col: str) -> tuple[pd.Series, pd.Series]:
    require_columns(df, [row, col], "response column")
    a, va, _ = _codes(df[row])
    b, vb, _ = _codes(df[col])
    both = va & vb
    return a[both], b[both]


def _count_table(a: pd.Series, b: pd.Series) -> np.ndarray:
    idx = {c: i for i, c in enumerate(CATEGORIES)}
    t = np.zeros((len(CATEGORIES), len(CATEGORIES)), dtype=np.int64)
    np.add.at(t, (a.map(idx).to_numpy(dtype=int), b.map(idx).to_numpy(dtype=int)), 1)
    return t


def kappa_from_table(table: Any, level: float = 0.95) -> Agreement:
    """Cohen's unweighted kappa of a square count table with the Fleiss-Cohen-Everitt (1969) variances.

    kappa = (po - pe) / (1 - pe); var = [sum_i p_ii (1 - (p_i. + p_.i)(1 - k))^2 + (1 - k)^2 sum_{i != j} p_ij
    (p_.i + p_j.)^2 - (k - pe (1 - k))^2] / (n (1 - pe)^2); var0 = [pe + pe^2 - sum_i p_i. p_.i (p_i. + p_.i)] /
    (n (1 - pe)^2).  CI: kappa +/- z * se; test: z = kappa / se0.
    """
    t = np.asarray(table, dtype=float)
    n = t.sum()
    nan = float("nan")
    if n == 0:
        return Agreement(0, 0, nan, nan, nan, nan, nan, nan, nan, nan)
    p = t / n
    pr, pc = p.sum(axis=1), p.sum(axis=0)
    po, pe = float(np.trace(p)), float((pr * pc).sum())
    agree = int(round(np.trace(t)))
    if pe >= 1:  # a single category used by both raters: kappa undefined
        return Agreement(int(n), agree, 100.0 * po, nan, nan, nan, nan, nan, nan, nan)
    k = (po - pe) / (1 - pe)
    a = (np.diag(p) * (1 - (pr + pc) * (1 - k)) ** 2).sum()
    off = p * (pc[:, None] + pr[None, :]) ** 2
    np.fill_diagonal(off, 0.0)
    b = (1 - k) ** 2 * off.sum()
    c = (k - pe * (1 - k)) ** 2
    var = max((a + b - c) / (n * (1 - pe) ** 2), 0.0)
    var0 = (pe + pe ** 2 - (pr * pc * (pr + pc)).sum()) / (n * (1 - pe) ** 2)
    se, se0 = math.sqrt(var), math.sqrt(max(var0, 0.0))
    zq = stats.norm.ppf(0.5 + level / 2)
    z = k / se0 if se0 > 0 else nan
    pval = float(2 * stats.norm.sf(abs(z))) if math.isfinite(z) else nan
    return Agreement(int(n), agree, 100.0 * po, float(k), se, se0, float(k - zq * se), float(k + zq * se),
                     float(z), pval)


def response_agreement(df: pd.DataFrame, row: str = "recist_best", col: str = "mrecist_best") -> Agreement:
    """Percent agreement and Cohen's kappa between two response criteria (patients valid in both)."""
    a, b = _paired_codes(df, row, col)
    return kappa_from_table(_count_table(a, b))


def response_crosstab(df: pd.DataFrame, row: str = "recist_best", col: str = "mrecist_best") -> pd.DataFrame:
    """Counts of ``row`` (index) by ``col`` (columns) in the order CR, PR, SD, PD, NE, with ``Total`` margins.

    Only patients with a valid code in both columns are counted.  The agreement statistics of
    :func:`response_agreement` are attached as ``result.attrs["agreement"]`` (a plain dict).
    """
    a, b = _paired_codes(df, row, col)
    t = _count_table(a, b)
    out = pd.DataFrame(t, index=pd.Index(CATEGORIES, name=row), columns=pd.Index(CATEGORIES, name=col))
    out["Total"] = out.sum(axis=1)
    out.loc["Total"] = out.sum(axis=0)
    out.attrs["agreement"] = kappa_from_table(t).to_dict()
    return out


# --- response as a covariate ----------------------------------------------------------------------------

def objective_response(df: pd.DataFrame, criterion: str = "recist_best") -> pd.Series:
    """1.0 for CR/PR, 0.0 for SD/PD/NE, NaN when missing; unknown codes raise :class:`AnalysisError`."""
    require_columns(df, [criterion], "response column")
    text, valid, unknown = _codes(df[criterion])
    if unknown.any():
        raise AnalysisError(f"column {criterion!r} has codes other than CR/PR/SD/PD/NE in "
                            f"file {lines_where(unknown)}")
    out = pd.Series(np.nan, index=df.index, name=f"{criterion}_objective_response")
    out[valid] = text[valid].isin(_RESPONDERS).astype(float)
    return out


def landmark(df: pd.DataFrame, time_col: str, event_col: str, at_months: float) -> pd.DataFrame:
    """Landmark data set: patients still at risk at ``at_months`` with time measured from the landmark.

    Patients whose time is below the landmark (event or censoring before it) and patients with a missing time
    are dropped; the others keep all columns with ``time_col`` replaced by ``time - at_months``.  Classify
    response (or any other time-dependent status) by what was known at the landmark, then compare survival from
    the landmark: the standard way to avoid guarantee-time (immortal-time) bias.
    Reference: Anderson JR, Cain KC, Gelber RD. J Clin Oncol 1983;1:710-9.
    """
    require_columns(df, [time_col, event_col])
    try:
        at = float(at_months)
    except (TypeError, ValueError):
        raise AnalysisError("the landmark time must be a number of months") from None
    if not math.isfinite(at) or at < 0:
        raise AnalysisError("the landmark time must be a non-negative number of months")
    time = to_numeric(df[time_col], errors="coerce")
    bad = df[time_col].notna() & time.isna()
    if bad.any():
        raise AnalysisError(f"column {time_col!r} should be numeric but has text in file {lines_where(bad)}")
    keep = (time >= at).to_numpy()
    out = df.loc[keep].copy()
    out[time_col] = time[keep] - at
    return out
