"""Adverse events: worst CTCAE grade per patient and term, tabulated as any grade / 1-2 / 3-4 / 5.

Each ``ae_<term>`` column holds the worst CTCAE v5.0 grade (0-5) a patient had for that term, NaN when not
assessed.  Per term the table counts patients with any grade (>= 1), grade 1-2, grade 3-4, grade 5 and grade
>= 3, as a percentage of the patients *assessed for that term* (non-missing).  Two summary rows work per
patient on the worst grade over all terms: "any adverse event" (assessed = at least one term recorded) and
"any grade >= 3 adverse event".

Group comparison (``by``), per term for any grade and for grade >= 3 among assessed patients: Fisher's exact
test for two groups (2x2, scipy ``fisher_exact`` = R ``fisher.test``); with more than two groups Pearson's
chi-square without continuity correction (R ``chisq.test(correct=FALSE)``) when every expected count is at
least 5, else the exact Freeman-Halton test on the r x 2 table (= R ``fisher.test``), see
:func:`analysis.baseline.contingency_test`.

Reference: National Cancer Institute. Common Terminology Criteria for Adverse Events (CTCAE) v5.0, 2017.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd

from analysis import schema
from analysis.baseline import TestResult, contingency_test, group_levels, require_columns
from analysis.errors import AnalysisError
from analysis.jsonsafe import json_safe
from analysis.numeric import to_numeric
from analysis.validate import lines_where

AE_PREFIX = schema.AE_PREFIX

#: labels for terms whose mechanical label would read badly (keys without the ``ae_`` prefix)
TERM_LABELS = {
    "hand_foot_syndrome": "Hand-Foot syndrome",
    "hand_foot_skin_reaction": "Hand-Foot skin reaction",
    "sjogrens_syndrome": "Sjogren's syndrome",
    "sjogren_syndrome": "Sjogren's syndrome",
    "sjogren_s_syndrome": "Sjogren's syndrome",
    "elevated_tb": "Elevated TB",
    "pseudoaneurysm_hematoma": "Pseudoaneurysm/hematoma",
    "pseudoaneurysm_haematoma": "Pseudoaneurysm/haematoma",
}
#: tokens written in capitals in generated labels
_ACRONYMS = {"tb", "alt", "ast", "alp", "ggt", "afp", "crp", "inr", "gi", "tsh", "ae", "haic", "tace", "ici",
             "tki", "vegf"}

SUMMARY_TERMS = {"any_ae": "Any adverse event", "any_grade_3_plus": "Any grade ≥3 adverse event"}


def ae_columns(df: pd.DataFrame) -> list[str]:
    """The adverse-event columns (``ae_<term>``), in file order."""
    return [c for c in df.columns if isinstance(c, str) and schema.is_ae_column(c)]


def ae_term_label(column: str) -> str:
    """``"ae_upper_gastrointestinal_bleeding"`` -> ``"Upper gastrointestinal bleeding"``."""
    term = column[len(AE_PREFIX):] if column.startswith(AE_PREFIX) else column
    if term in TERM_LABELS:
        return TERM_LABELS[term]
    words = [w for w in term.split("_") if w]
    if not words:
        return column
    words = [w.upper() if w in _ACRONYMS else w for w in words]
    first = words[0]
    words[0] = first if first.isupper() else first[:1].upper() + first[1:]
    return " ".join(words)


def ae_grades(df: pd.DataFrame, column: str) -> pd.Series:
    """The column as float grades 0-5 (NaN missing); anything else raises :class:`AnalysisError`."""
    require_columns(df, [column], "adverse-event column")
    s = df[column]
    if pd.api.types.is_bool_dtype(s):
        raise AnalysisError(f"adverse-event column {column!r} must hold CTCAE grades 0-5, not yes/no values")
    values = to_numeric(s, errors="coerce").astype(float)
    present = s.notna() & ~(s.astype(str).str.strip() == "") if s.dtype == object else s.notna()
    arr = values.to_numpy()
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(arr) & (arr >= 0) & (arr <= 5) & (np.floor(arr) == arr)
    bad = present.to_numpy() & ~ok
    if bad.any():
        raise AnalysisError(f"adverse-event column {column!r} has values that are not whole CTCAE grades 0-5 in "
                            f"file {lines_where(bad)}")
    return values.where(present)


def _counts(g: np.ndarray) -> dict[str, Any]:
    """Counts among the non-missing grades ``g``."""
    g = g[~np.isnan(g)]
    n = int(g.size)
    c = {"n": n, "any": int((g >= 1).sum()), "grade_1_2": int(((g >= 1) & (g <= 2)).sum()),
         "grade_3_4": int(((g >= 3) & (g <= 4)).sum()), "grade_5": int((g == 5).sum()),
         "grade_3_plus": int((g >= 3).sum())}
    for k in ("any", "grade_1_2", "grade_3_4", "grade_5", "grade_3_plus"):
        c[f"pct_{k}"] = 100.0 * c[k] / n if n else float("nan")
    return c


@dataclass
class AERow:
    """One term (or summary row): counts over all patients, per group, and the group tests."""

    term: str
    label: str
    counts: dict[str, Any]
    missing: int
    groups: list[dict] = field(default_factory=list)
    tests: dict[str, TestResult] = field(default_factory=dict)

    def to_dict(self) -> dict:
        out = {"term": self.term, "label": self.label, **self.counts, "missing": self.missing}
        if self.groups:
            out["groups"] = self.groups
            out["tests"] = {k: v.to_dict() for k, v in self.tests.items()}
        return json_safe(out)


@dataclass
class AETable:
    """Adverse-event table: ``events`` per term (most frequent first) and two per-patient ``summary`` rows."""

    n: int
    events: list[AERow]
    summary: list[AERow]
    by: str | None = None
    levels: list[str] = field(default_factory=list)
    level_n: dict[str, int] = field(default_factory=dict)
    by_missing: int = 0

    def to_dict(self) -> dict:
        out: dict[str, Any] = {"n": self.n, "events": [e.to_dict() for e in self.events],
                               "summary": [s.to_dict() for s in self.summary]}
        if self.by is not None:
            out["by"] = {"column": self.by, "levels": self.levels, "n": self.level_n, "missing": self.by_missing}
        return json_safe(out)

    def to_frame(self) -> pd.DataFrame:
        """One row per summary row then per term: kind, term, label, n (assessed) and the counts/percentages."""
        recs = []
        for kind, rows in (("summary", self.summary), ("term", self.events)):
            for r in rows:
                rec = {"kind": kind, "term": r.term, "label": r.label, **r.counts, "missing": r.missing}
                for name, t in r.tests.items():
                    rec[f"p_{name}"] = t.p
                    rec[f"test_{name}"] = t.test
                recs.append(rec)
        return pd.DataFrame.from_records(recs)


def _row(term: str, label: str, grades: np.ndarray, masks: list[tuple[str, np.ndarray]]) -> AERow:
    row = AERow(term, label, _counts(grades), int(np.isnan(grades).sum()))
    if masks:
        for level, m in masks:
            row.groups.append({"level": level, **_counts(grades[m])})
        for name, key in (("any", "any"), ("grade_3_plus", "grade_3_plus")):
            table = np.array([[g[key], g["n"] - g[key]] for g in row.groups], dtype=np.int64).reshape(-1, 2)
            row.tests[name] = contingency_test(table, fisher_if_2x2=True)
    return row


def ae_table(df: pd.DataFrame, by: str | None = None, terms: Sequence[str] | None = None) -> AETable:
    """Per-term any grade / grade 1-2 / grade 3-4 / grade 5 (and >= 3) counts and group tests (module doc).

    ``terms`` (column names) defaults to every ``ae_`` column.  Terms are ordered by any-grade count (descending,
    then label).  With ``by``, patients with a missing group are counted overall but not in any group.
    """
    cols = ae_columns(df) if terms is None else list(dict.fromkeys(terms))
    if not cols:
        raise AnalysisError("no adverse-event columns found (columns named ae_<term> with grades 0-5)")
    require_columns(df, cols, "adverse-event column")
    grades = {c: ae_grades(df, c).to_numpy(dtype=float) for c in cols}

    masks: list[tuple[str, np.ndarray]] = []
    table = AETable(n=int(len(df)), events=[], summary=[])
    if by is not None:
        require_columns(df, [by], "grouping column")
        gtext, levels = group_levels(df[by], by)
        table.by, table.levels, table.by_missing = by, levels, int(gtext.isna().sum())
        masks = [(lv, (gtext == lv).to_numpy()) for lv in levels]
        table.level_n = {lv: int(m.sum()) for lv, m in masks}

    events = [_row(c, ae_term_label(c), grades[c], masks) for c in cols]
    events.sort(key=lambda r: (-r.counts["any"], r.label.lower(), r.term))
    table.events = events

    stack = np.column_stack([grades[c] for c in cols])
    assessed = ~np.isnan(stack).all(axis=1)
    worst = np.full(stack.shape[0], np.nan)
    worst[assessed] = np.nanmax(stack[assessed], axis=1)
    table.summary.append(_row("any_ae", SUMMARY_TERMS["any_ae"], worst, masks))
    # grade >= 3 row: "any" counts patients whose worst grade is >= 3 (grade_1_2 is then always 0)
    worst3 = np.where(np.isnan(worst), np.nan, np.where(worst >= 3, worst, 0.0))
    table.summary.append(_row("any_grade_3_plus", SUMMARY_TERMS["any_grade_3_plus"], worst3, masks))
    return table
