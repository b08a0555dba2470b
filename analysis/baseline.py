"""Table 1: baseline characteristics overall and by group, with the test used for each comparison.

The layout follows ``gtsummary::tbl_summary`` (Sjoberg et al., R Journal 2021):

* numeric variables: ``mean ± SD`` and ``median (Q1, Q3)`` (quantiles of type 7, R's default and numpy's
  ``linear``), with the number missing;
* categorical variables: ``n (%)`` per level, percent of the patients with a non-missing value, with the number
  missing.

With a grouping column (``by``) every statistic is given per group and for all patients with a known group
("Overall"; patients with a missing group are left out of the table and counted in ``by_missing``, as gtsummary
does), and a p-value is added:

* numeric, two groups: Welch's t-test (R ``t.test`` default) on the ``mean ± SD`` row and the Wilcoxon rank-sum
  test with normal approximation, tie correction and continuity correction (R ``wilcox.test(exact=FALSE,
  correct=TRUE)``; scipy ``mannwhitneyu(method="asymptotic", use_continuity=True)``) on the ``median`` row;
* numeric, more than two groups: one-way ANOVA (R ``oneway.test(var.equal=TRUE)`` / ``aov``) and
  Kruskal-Wallis (R ``kruskal.test``, tie corrected);
* categorical: Pearson's chi-square without continuity correction (R ``chisq.test(correct=FALSE)``) when every
  expected count is at least 5, otherwise Fisher's exact test (Cochran's rule, as gtsummary's default).  For 2x2
  tables that is scipy ``fisher_exact``; for larger tables the Freeman-Halton generalisation, computed exactly
  with the network algorithm (:func:`fisher_exact_rxc`, equal to R ``fisher.test``).  If that would exceed
  ``max_work`` the chi-square test is reported instead (``test="chi2"``) and the row's ``note`` says so.

The shared contingency machinery (:func:`contingency_test`, :func:`fisher_exact_rxc`, :func:`group_levels`) lives
here and is also used by :mod:`analysis.response` and :mod:`analysis.adverse_events`.

References: Freeman GH, Halton JH. Biometrika 1951;38:141-9. Welch BL. Biometrika 1947;34:28-35.
Mann HB, Whitney DR. Ann Math Stat 1947;18:50-60. Kruskal WH, Wallis WA. JASA 1952;47:583-621.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy import special, stats

from analysis import schema
from analysis.errors import AnalysisError
from analysis.jsonsafe import json_safe
from analysis.numeric import to_numeric
from analysis.validate import lines_where

#: work limit of the exact r x c Fisher test (past-weight x arc pairs in total); beyond it chi-square is reported
MAX_FISHER_WORK = 5_000_000
#: R's relative tolerance when comparing table probabilities with the observed one (fisher.test relErr)
_REL_ERR = 1 + 1e-7

#: canonical baseline columns in display order
BASELINE_COLUMNS = (
    "age", "sex", "etiology", "tb", "alt", "ast", "alp", "ggt", "plt", "pt", "afp", "pivka_ii", "crp", "nlr",
    "albumin", "child_pugh", "tumor_size_mm", "cnlc_stage", "shunt", "ehm", "metabolic_comorbidity", "treatment",
)

#: categorical columns with more distinct levels than this are left out of the default variables
MAX_DEFAULT_LEVELS = schema.MAX_TABLE_LEVELS

#: why a column of a given kind (analysis.schema.column_kind / the import report) is not a baseline variable
NOT_BASELINE = {"id": "identifier", "time": "survival time (an endpoint)",
                "event": "event indicator (an endpoint)", "response": "best response (see the response table)",
                "ae": "adverse-event grade (see the safety table)"}


# --- small shared helpers ---------------------------------------------------------------------------------

def require_columns(df: pd.DataFrame, columns: Sequence[str], what: str = "column") -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise AnalysisError(f"{what} {', '.join(repr(c) for c in missing)} not found in the data")


def group_levels(series: pd.Series, column: str | None = None) -> tuple[pd.Series, list[str]]:
    """A grouping/categorical column as strings (NaN kept) and its levels in display order.

    Pandas categoricals keep their category order (observed categories only); known columns use the canonical
    order of :data:`analysis.schema.LEVEL_ORDER`; anything else is sorted alphabetically (R ``factor()``), with
    whole numbers shown without a decimal point (``1.0`` -> ``"1"``).
    """
    column = column if column is not None else str(series.name)
    if isinstance(series.dtype, pd.CategoricalDtype):
        observed = set(series.dropna().astype(str))
        cats = [str(c) for c in series.cat.categories if str(c) in observed]
        return series.astype(object).where(series.notna()).map(lambda v: str(v), na_action="ignore"), cats
    text = schema.level_texts(series)
    present = pd.unique(text.dropna())
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        numeric = sorted(pd.unique(series.dropna()))
        levels = list(dict.fromkeys(schema.level_text(v) for v in numeric))
    else:
        levels = schema.ordered_levels(column, present)
    return text, levels


# --- contingency tables -------------------------------------------------------------------------------------

@dataclass
class TestResult:
    """One hypothesis test: ``test`` names the method, ``p`` its two-sided p-value (None when not computable)."""

    test: str | None
    p: float | None
    statistic: float | None = None
    df: float | None = None
    min_expected: float | None = None
    note: str | None = None

    def to_dict(self) -> dict:
        return json_safe({"test": self.test, "p": self.p, "statistic": self.statistic, "df": self.df,
                          "min_expected": self.min_expected, "note": self.note})


def _compositions(total: int, caps: Sequence[int]) -> np.ndarray:
    """All integer vectors x (rows of the result) with sum(x) == total and 0 <= x_i <= caps_i."""
    caps = np.asarray(caps, dtype=np.int64)
    suffix = np.concatenate([np.cumsum(caps[::-1])[::-1], [0]])
    parts = np.zeros((1, 0), dtype=np.int64)
    rem = np.array([total], dtype=np.int64)
    for i in range(caps.size - 1):
        lo = np.maximum(0, rem - suffix[i + 1])
        hi = np.minimum(rem, caps[i])
        counts = hi - lo + 1
        idx = np.repeat(np.arange(counts.size), counts)
        starts = np.repeat(np.cumsum(counts) - counts, counts)
        x = lo[idx] + (np.arange(int(counts.sum())) - starts)
        parts = np.column_stack([parts[idx], x])
        rem = rem[idx] - x
    return np.column_stack([parts, rem])


def _spread(total: int, caps: Sequence[int]) -> float:
    """max of -sum(log x_i!) over sum(x) == total, 0 <= x_i <= caps_i: x as even as the caps allow."""
    out, rem, caps = 0.0, total, sorted(caps)
    for i, cap in enumerate(caps):
        left = len(caps) - i
        if cap * left <= rem:
            out -= math.lgamma(cap + 1)
            rem -= cap
        else:
            base, extra = divmod(rem, left)
            return out - extra * math.lgamma(base + 2) - (left - extra) * math.lgamma(base + 1)
    return out


def _concentrate(total: int, caps: Sequence[int]) -> float:
    """min of -sum(log x_i!) over the same set: fill the largest caps first (that vector majorises all others)."""
    out, rem = 0.0, total
    for cap in sorted(caps, reverse=True):
        x = min(cap, rem)
        out -= math.lgamma(x + 1)
        rem -= x
        if rem == 0:
            break
    return out


def fisher_exact_rxc(table: Any, max_work: int = MAX_FISHER_WORK) -> float | None:
    """Two-sided Fisher exact (Freeman-Halton) p-value of an r x c table, as R ``fisher.test``.

    The p-value is the total multivariate-hypergeometric probability of the tables with the observed margins
    whose probability is not larger than the observed one (relative tolerance 1e-7, R's ``relErr``).  It is
    computed with the network algorithm of Mehta & Patel: the table is built column by column; a node is the
    multiset of remaining row totals, and each node keeps its distinct past path weights with multiplicities.
    For each (node, past weight), bounds on the remaining path weight (the longest and shortest remaining
    path, bounded by relaxing either the row or the column totals) decide whether *all* completions count --
    then their total probability is added in closed form, ``M! / (prod r_i! prod c_j!)`` -- or *none* do, and
    only the undecided ones are expanded.  Empty rows/columns are dropped first.

    Returns ``None`` when more than ``max_work`` (past weight, arc) pairs in total would be needed (the limit
    bounds time -- about a second per 10 million pairs -- and memory); callers then fall back to chi-square.
    Verified against R ``fisher.test`` and against brute-force enumeration in the tests.

    References: Freeman GH, Halton JH. Biometrika 1951;38:141-9. Mehta CR, Patel NR. JASA 1983;78:427-34;
    ACM TOMS 1986;12:154-61.
    """
    t = np.asarray(table, dtype=np.int64)
    if t.ndim != 2 or (t < 0).any():
        raise AnalysisError("a contingency table must be a two-dimensional table of non-negative counts")
    t = t[t.sum(axis=1) > 0][:, t.sum(axis=0) > 0]
    if t.shape[0] < 2 or t.shape[1] < 2:
        return 1.0
    if t.shape[0] > t.shape[1]:
        t = t.T  # the shorter side are the rows: fewer parts per column, fewer nodes
    rows = [int(v) for v in t.sum(axis=1)]
    cols = sorted((int(v) for v in t.sum(axis=0)), reverse=True)
    n = int(t.sum())
    const = sum(math.lgamma(v + 1) for v in rows) + sum(math.lgamma(v + 1) for v in cols) - math.lgamma(n + 1)
    threshold = float(-special.gammaln(t + 1).sum()) + math.log(_REL_ERR)
    radix = (np.array([(n + 1) ** i for i in range(len(rows))], dtype=np.int64)
             if (n + 1) ** len(rows) < 2 ** 62 else None)

    nodes = [tuple(sorted(rows))]
    past, count, item_node = np.zeros(1), np.ones(1), np.zeros(1, dtype=np.int64)
    p, work = 0.0, 0
    for k in range(len(cols) - 1):
        rest_cols = cols[k + 1:]
        order = np.argsort(item_node, kind="stable")
        cuts = np.searchsorted(item_node[order], np.arange(len(nodes) + 1))
        n_items = np.diff(cuts)
        arcs_w, arcs_rest, arcs_node, n_arcs_stage = [], [], [], 0
        for ni, node in enumerate(nodes):
            if n_items[ni] == 0:
                continue
            x = _compositions(cols[k], node)
            work += int(n_items[ni]) * x.shape[0]  # (past weight, arc) pairs this node will produce
            n_arcs_stage += x.shape[0]  # arcs are kept for the whole stage: a tighter memory limit
            if work > max_work or 5 * n_arcs_stage > max_work:
                return None
            arcs_w.append(-special.gammaln(x + 1).sum(axis=1))
            arcs_rest.append(np.sort(np.asarray(node)[None, :] - x, axis=1))
            arcs_node.append(np.full(x.shape[0], ni))
        w_all, a_node, rest = np.concatenate(arcs_w), np.concatenate(arcs_node), np.concatenate(arcs_rest)
        if radix is not None:
            _, first, inv = np.unique(rest @ radix, return_index=True, return_inverse=True)
            uniq = rest[first]
        else:
            uniq, inv = np.unique(rest, axis=0, return_inverse=True)
        del rest
        inv = np.asarray(inv).ravel()
        work += 100 * uniq.shape[0]  # the bounds of each new node are computed in Python
        if work > max_work:
            return None
        new_nodes = [tuple(row) for row in uniq.tolist()]
        longest, shortest, total = (np.empty(len(new_nodes)) for _ in range(3))
        for i, node in enumerate(new_nodes):
            longest[i] = min(sum(_spread(cc, node) for cc in rest_cols), sum(_spread(r, rest_cols) for r in node))
            shortest[i] = max(sum(_concentrate(cc, node) for cc in rest_cols),
                              sum(_concentrate(r, rest_cols) for r in node))
            total[i] = (math.lgamma(sum(node) + 1) - sum(math.lgamma(r + 1) for r in node)
                        - sum(math.lgamma(cc + 1) for cc in rest_cols))
        acuts = np.searchsorted(a_node, np.arange(len(nodes) + 1))
        n_arcs = np.diff(acuts)
        kept_v, kept_c, kept_n = [], [], []
        for ni in np.flatnonzero(n_items * n_arcs):  # one node at a time keeps memory small
            items = order[cuts[ni]:cuts[ni + 1]]
            w = w_all[acuts[ni]:acuts[ni + 1]]
            v = (past[items][:, None] + w[None, :]).ravel()
            c = np.repeat(count[items], w.size)
            nid = np.tile(inv[acuts[ni]:acuts[ni + 1]], items.size)
            every = v + longest[nid] <= threshold
            p += float((c[every] * np.exp(const + v[every] + total[nid[every]])).sum())
            undecided = ~every & (v + shortest[nid] <= threshold)
            kept_v.append(v[undecided])
            kept_c.append(c[undecided])
            kept_n.append(nid[undecided])
        v, c, nid = np.concatenate(kept_v), np.concatenate(kept_c), np.concatenate(kept_n)
        key = np.round(v, 9)  # merge equal past weights of the same node
        o = np.lexsort((key, nid))
        v, c, nid, key = v[o], c[o], nid[o], key[o]
        start = np.ones(v.size, dtype=bool)
        start[1:] = (nid[1:] != nid[:-1]) | (key[1:] != key[:-1])
        past, item_node = v[start], nid[start]
        count = np.bincount(np.cumsum(start) - 1, weights=c) if v.size else np.zeros(0)
        nodes = new_nodes
        if past.size == 0:
            break
    if past.size:  # one column left: its cells are the remaining row totals
        last = np.array([-sum(math.lgamma(r + 1) for r in node) for node in nodes])
        full = past + last[item_node]
        ok = full <= threshold
        p += float((count[ok] * np.exp(const + full[ok])).sum())
    return float(min(1.0, p))


def _chi2(t: np.ndarray, expected: np.ndarray) -> TestResult:
    stat, p, dof, _ = stats.chi2_contingency(t, correction=False)
    return TestResult("chi2", float(p), float(stat), float(dof), float(expected.min()))


def contingency_test(table: Any, *, fisher_if_2x2: bool = False,
                     max_work: int = MAX_FISHER_WORK) -> TestResult:
    """Compare the rows (groups) of a contingency table.

    Rule: Fisher's exact test when any expected count is below 5 (or always for a 2x2 table when
    ``fisher_if_2x2``), otherwise Pearson's chi-square without continuity correction (R
    ``chisq.test(correct=FALSE)``).  2x2: scipy ``fisher_exact`` (two-sided, as R ``fisher.test``); larger
    tables: :func:`fisher_exact_rxc`.  If the exact computation is too large, chi-square is reported with a note.
    Empty rows and columns are dropped first; with fewer than two of either no test is possible (p None).
    """
    t = np.asarray(table, dtype=np.int64)
    t = t[t.sum(axis=1) > 0][:, t.sum(axis=0) > 0] if t.size else t
    if t.ndim != 2 or t.shape[0] < 2 or t.shape[1] < 2:
        return TestResult(None, None, note="no comparison possible: fewer than two non-empty groups or "
                                           "outcome categories")
    expected = np.outer(t.sum(axis=1), t.sum(axis=0)) / t.sum()
    small = bool(expected.min() < 5)
    if t.shape == (2, 2) and (fisher_if_2x2 or small):
        p = stats.fisher_exact(t, alternative="two-sided").pvalue
        return TestResult("fisher", float(p), min_expected=float(expected.min()))
    if small:
        p = fisher_exact_rxc(t, max_work=max_work)
        if p is not None:
            return TestResult("fisher", p, min_expected=float(expected.min()))
        res = _chi2(t, expected)
        res.note = "expected counts below 5 but the exact test is too large to compute; chi-square shown"
        return res
    return _chi2(t, expected)


# --- numeric comparisons -----------------------------------------------------------------------------------

def _nan_to_none(x: float) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def numeric_tests(groups: Sequence[np.ndarray]) -> tuple[TestResult, TestResult]:
    """(parametric, rank) tests of a numeric variable across groups (missing values already removed).

    Two groups: Welch t-test and Wilcoxon rank-sum (normal approximation, tie and continuity corrected);
    more: one-way ANOVA and Kruskal-Wallis.  Groups without values are dropped; p is None when a test is
    undefined (e.g. fewer than two groups, or no variation).
    """
    data = [np.asarray(g, dtype=float) for g in groups]
    data = [g for g in data if g.size > 0]
    if len(data) < 2:
        note = "fewer than two groups with values"
        return TestResult(None, None, note=note), TestResult(None, None, note=note)
    if len(data) == 2:
        x, y = data
        if x.size < 2 or y.size < 2 or (np.var(x) == 0 and np.var(y) == 0):
            para = TestResult("welch_t", None, note="each group needs two values and some variation")
        else:
            res = stats.ttest_ind(x, y, equal_var=False)
            para = TestResult("welch_t", _nan_to_none(res.pvalue), _nan_to_none(res.statistic),
                              _nan_to_none(res.df))
        if np.all(np.concatenate(data) == data[0][0]):
            rank = TestResult("wilcoxon", None, note="all values are equal")
        else:
            res = stats.mannwhitneyu(x, y, use_continuity=True, alternative="two-sided", method="asymptotic")
            rank = TestResult("wilcoxon", _nan_to_none(res.pvalue), _nan_to_none(res.statistic))
        return para, rank
    total = sum(g.size for g in data)
    within = sum(((g - g.mean()) ** 2).sum() for g in data)
    if total <= len(data) or within == 0:
        para = TestResult("anova", None, note="no within-group variation or too few values")
    else:
        res = stats.f_oneway(*data)
        para = TestResult("anova", _nan_to_none(res.pvalue), _nan_to_none(res.statistic),
                          float(len(data) - 1))
    if np.all(np.concatenate(data) == data[0][0]):
        rank = TestResult("kruskal", None, note="all values are equal")
    else:
        res = stats.kruskal(*data)
        rank = TestResult("kruskal", _nan_to_none(res.pvalue), _nan_to_none(res.statistic),
                          float(len(data) - 1))
    return para, rank


# --- the table -------------------------------------------------------------------------------------------

def variable_label(column: str) -> str:
    """Display label of a column (:func:`analysis.schema.label`): ``AST (U/L)``, ``Child-Pugh class``."""
    return schema.label(column)


def _variable_type(df: pd.DataFrame, col: str) -> str:
    s = df[col]
    if col in schema.NUMERIC_COLUMNS:
        if not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
            converted = to_numeric(s, errors="coerce")
            bad = s.notna() & converted.isna()
            if bad.any():
                raise AnalysisError(f"column {col!r} should be numeric but has text in "
                                    f"file {lines_where(bad)}")
        return "numeric"
    if col in schema.CATEGORICAL_COLUMNS:
        return "categorical"
    if pd.api.types.is_bool_dtype(s) or not pd.api.types.is_numeric_dtype(s):
        return "categorical"
    # a user's numeric column with a few values (a 0/1 flag, grade 1-3, ECOG 0-4) is a set of categories, as
    # everywhere in the app (analysis.schema.default_form); gtsummary's rule is the same with 10 values
    if 0 < s.dropna().nunique() <= schema.MAX_LEVELS_AS_CATEGORIES:
        return "categorical"
    return "numeric"


def _numeric_values(df: pd.DataFrame, col: str) -> np.ndarray:
    """The column as floats (NaN missing); text or infinite values raise, naming the file lines."""
    s = df[col]
    v = to_numeric(s, errors="coerce").to_numpy(dtype=float)
    bad = s.notna().to_numpy() & np.isnan(v)
    if bad.any():
        raise AnalysisError(f"column {col!r} should be numeric but has text in file {lines_where(bad)}")
    if np.isinf(v).any():
        raise AnalysisError(f"column {col!r} has infinite values in file {lines_where(np.isinf(v))}")
    return v


@dataclass
class BaselineTable:
    """Table 1. ``frame`` is the tidy table (one row per displayed line); ``tests`` every test per variable.

    ``columns`` are the statistic columns: ``"Overall"`` then the group levels (when ``by`` is given);
    ``n`` the patients in each column; ``variables`` the variables shown with their type; ``skipped`` the
    default variables left out and why.
    """

    n: int
    by: str | None
    columns: list[str]
    column_n: dict[str, int]
    by_missing: int
    rows: list[dict]
    variables: list[dict]
    tests: dict[str, list[TestResult]]
    skipped: list[dict] = field(default_factory=list)
    digits: int = 1

    @property
    def frame(self) -> pd.DataFrame:
        """Tidy DataFrame: variable, label, level, one text column per statistic column, p, test, note."""
        records = []
        for row in self.rows:
            rec = {"variable": row["variable"], "label": row["label"], "level": row["level"]}
            rec.update({col: row["stats"].get(col) for col in self.columns})
            rec.update({"p": row["p"], "test": row["test"], "note": row["note"]})
            records.append(rec)
        return pd.DataFrame.from_records(
            records, columns=["variable", "label", "level", *self.columns, "p", "test", "note"])

    def to_dict(self) -> dict:
        return json_safe({
            "n": self.n,
            "by": None if self.by is None else {"column": self.by, "levels": self.columns[1:],
                                                "n": {c: self.column_n[c] for c in self.columns[1:]},
                                                "missing": self.by_missing},
            "columns": self.columns,
            "column_n": self.column_n,
            "variables": self.variables,
            "rows": self.rows,
            "tests": {k: [t.to_dict() for t in v] for k, v in self.tests.items()},
            "skipped": self.skipped,
        })


def _fmt(x: float, digits: int) -> str:
    return "NA" if x is None or not math.isfinite(x) else f"{x:.{digits}f}"


def _numeric_summary(values: np.ndarray) -> dict:
    v = values[~np.isnan(values)]
    out = {"n": int(v.size), "mean": float("nan"), "sd": float("nan"), "median": float("nan"),
           "q1": float("nan"), "q3": float("nan"), "min": float("nan"), "max": float("nan")}
    if v.size:
        q1, med, q3 = np.quantile(v, [0.25, 0.5, 0.75], method="linear")  # R quantile type 7
        out.update(mean=float(v.mean()), median=float(med), q1=float(q1), q3=float(q3),
                   min=float(v.min()), max=float(v.max()))
        if v.size > 1:
            out["sd"] = float(v.std(ddof=1))
    return out


def baseline_table(df: pd.DataFrame, by: str | None = None, variables: Sequence[str] | None = None, *,
                   types: dict[str, str] | None = None, digits: int = 1,
                   max_work: int = MAX_FISHER_WORK, roles: dict[str, str] | None = None) -> BaselineTable:
    """Baseline characteristics (Table 1), overall and by ``by`` with a test per variable (see module doc).

    ``variables`` defaults to every column: the canonical baseline columns present first (in the order of
    :data:`BASELINE_COLUMNS`), then the file's other columns in file order. A column that is not a baseline
    variable is listed in ``skipped`` with the reason: its role (``roles``: column -> kind from the import
    report, ``id``/``time``/``event``/``response``/``ae``; canonical columns are known by name), the grouping
    column, no values, or more than :data:`analysis.schema.MAX_TABLE_LEVELS` categories.
    ``types`` may force a variable to ``"numeric"`` or ``"categorical"``; otherwise the known numeric columns are
    numeric, and other numeric columns too unless they hold at most
    :data:`analysis.schema.MAX_LEVELS_AS_CATEGORIES` distinct values (a flag, a grade), shown as categories.
    """
    if not isinstance(df, pd.DataFrame):
        raise AnalysisError("baseline_table needs a table of patients")
    if by is not None:
        require_columns(df, [by], "grouping column")
    types = dict(types or {})
    for col, kind in types.items():
        if kind not in ("numeric", "categorical"):
            raise AnalysisError(f"type of {col!r} must be 'numeric' or 'categorical'")

    skipped: list[dict] = []
    if variables is None:
        roles = dict(roles or {})
        order = [c for c in BASELINE_COLUMNS if c in df.columns] + [c for c in df.columns if c not in BASELINE_COLUMNS]
        chosen = []
        for col in order:
            kind = roles.get(col) or schema.column_kind(str(col))
            if col == by:
                skipped.append({"variable": col, "reason": "the grouping column"})
            elif kind in NOT_BASELINE:
                skipped.append({"variable": col, "reason": NOT_BASELINE[kind]})
            elif df[col].isna().all():
                skipped.append({"variable": col, "reason": "no values"})
            elif (types.get(col) or _variable_type(df, col)) == "categorical" and \
                    schema.level_texts(df[col]).nunique(dropna=True) > MAX_DEFAULT_LEVELS:
                skipped.append({"variable": col, "reason": f"more than {MAX_DEFAULT_LEVELS} distinct values"})
            else:
                chosen.append(col)
    else:
        chosen = list(dict.fromkeys(variables))
        require_columns(df, chosen, "variable")
        if by is not None and by in chosen:
            raise AnalysisError(f"the grouping column {by!r} cannot also be a table variable")
    if not chosen:
        raise AnalysisError("no baseline variables to summarise")

    data = df
    keep = np.ones(len(df), dtype=bool)
    by_missing = 0
    columns = ["Overall"]
    masks: dict[str, np.ndarray] = {}
    if by is not None:
        gtext, levels = group_levels(df[by], by)
        known = gtext.notna().to_numpy()
        by_missing = int((~known).sum())
        if not known.any():
            raise AnalysisError(f"grouping column {by!r} has no values")
        data = df.loc[known]
        keep = known
        gtext = gtext[known]
        if "Overall" in levels:
            raise AnalysisError(f"grouping column {by!r} has a level named 'Overall'; rename it")
        columns += levels
        for lv in levels:
            masks[lv] = (gtext == lv).to_numpy()
    n_all = int(len(data))
    masks["Overall"] = np.ones(n_all, dtype=bool)
    column_n = {c: int(masks[c].sum()) for c in columns}
    group_cols = columns[1:]

    rows: list[dict] = []
    var_info: list[dict] = []
    tests: dict[str, list[TestResult]] = {}

    def add(variable, label, level, stats_, values, p=None, test=None, note=None):
        rows.append({"variable": variable, "label": label, "level": level, "stats": stats_, "values": values,
                     "p": p, "test": test, "note": note})

    for col in chosen:
        label = variable_label(col)
        kind = types.get(col) or _variable_type(df, col)
        s = data[col]
        miss = s.isna().to_numpy()
        any_missing = bool(miss.any())
        var_info.append({"variable": col, "label": label, "type": kind})
        if kind == "numeric":
            v = _numeric_values(df, col)[keep]  # validated on the whole file: line numbers stay right
            summ = {c: _numeric_summary(v[masks[c]]) for c in columns}
            para = rank = None
            if group_cols:
                para, rank = numeric_tests([v[masks[c] & ~np.isnan(v)] for c in group_cols])
                tests[col] = [para, rank]
            add(col, label, None, {c: "" for c in columns}, None)
            add(col, label, "Mean ± SD",
                {c: f"{_fmt(summ[c]['mean'], digits)} ± {_fmt(summ[c]['sd'], digits)}" for c in columns},
                {c: {"n": summ[c]["n"], "mean": summ[c]["mean"], "sd": summ[c]["sd"]} for c in columns},
                p=para.p if para else None, test=para.test if para else None, note=para.note if para else None)
            add(col, label, "Median (Q1, Q3)",
                {c: f"{_fmt(summ[c]['median'], digits)} ({_fmt(summ[c]['q1'], digits)}, "
                    f"{_fmt(summ[c]['q3'], digits)})" for c in columns},
                {c: {"n": summ[c]["n"], "median": summ[c]["median"], "q1": summ[c]["q1"], "q3": summ[c]["q3"],
                     "min": summ[c]["min"], "max": summ[c]["max"]} for c in columns},
                p=rank.p if rank else None, test=rank.test if rank else None, note=rank.note if rank else None)
        else:
            text, levels = group_levels(s, col)
            counts = {c: {lv: int(((text == lv).to_numpy() & masks[c]).sum()) for lv in levels} for c in columns}
            denom = {c: int((~miss & masks[c]).sum()) for c in columns}
            res = None
            if group_cols:
                table = np.array([[counts[g][lv] for lv in levels] for g in group_cols], dtype=np.int64)
                res = contingency_test(table, fisher_if_2x2=False, max_work=max_work)
                tests[col] = [res]
            add(col, label, None, {c: "" for c in columns}, None, p=res.p if res else None,
                test=res.test if res else None, note=res.note if res else None)
            for lv in levels:
                stats_, values = {}, {}
                for c in columns:
                    k, d = counts[c][lv], denom[c]
                    pct = 100.0 * k / d if d else float("nan")
                    stats_[c] = f"{k} ({_fmt(pct, digits)}%)" if d else f"{k}"
                    values[c] = {"n": k, "pct": pct, "denominator": d}
                add(col, label, lv, stats_, values)
        if any_missing:
            add(col, label, "Missing", {c: str(int((miss & masks[c]).sum())) for c in columns},
                {c: {"n": int((miss & masks[c]).sum())} for c in columns})

    return BaselineTable(n=n_all, by=by, columns=columns, column_n=column_n, by_missing=by_missing, rows=rows,
                         variables=var_info, tests=tests, skipped=skipped, digits=digits)
