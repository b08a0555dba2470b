"""Study-level files for the meta-analysis: the 17-study HAIC file and generic files.

Layouts (recognised by their columns, case-insensitive):

* **outcome file** (``data/meta17.csv``): ``first_author``, ``year`` and outcome columns -- ``os_hr, os_lo,
  os_hi, os_p`` and ``pfs_*`` (hazard ratios), ``orr_haic/orr_ctrl``, ``dcr_haic/dcr_ctrl``,
  ``ae34_haic/ae34_ctrl`` (events per arm) with ``n_haic/n_ctrl``. Pick one with ``outcome``.
* **generic ratio file**: ``study, hr, lo, hi`` (any ratio with its 95% CI); optional ``p``.
* **generic count file**: ``study, events_exp, n_exp, events_ctrl, n_ctrl``; optional ``pct_exp, pct_ctrl``.

Every study stays listed: one without data for the outcome is reported in ``excluded`` with a reason and not
pooled. Malformed cells (text in a number column, a ratio <= 0, lo >= hi, more events than patients) raise
:class:`AnalysisError` naming the column and the data rows (1 = first row under the header).

Derivations -- ON by default in :func:`analysis.meta.report.run_meta` and ``python -m analysis meta`` (each
switchable off: ``derive=False`` / ``--no-derive``, or one of them); the low-level :func:`outcome_effects` and
:func:`orr_os_correlation` use none unless asked (``derive=False`` there). Each derived study is flagged
``derived`` with the ``derivation`` in words:

* ``se_from_p``: log-HR standard error from the HR and its p-value when no CI is reported (Altman & Bland, BMJ
  2011;343:d2090); a printed ``p<0.001`` is used as p = 0.001, an upper bound, which makes the standard error an
  upper bound (a conservative, i.e. too wide, CI). ``p>x`` is not used.
* ``count_from_pct``: event counts computed as round(percentage x n). In the 17-study file such counts are
  identified from the provenance file (a count whose supporting quote gives a percentage but not the count);
  in a generic count file from ``pct_exp``/``pct_ctrl`` when the events are blank.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from analysis.errors import AnalysisError
from analysis.schema import MISSING_MARKERS
from analysis.meta.effects import (
    EffectData, Excluded, counts_from_percentage, double_zero, log_ratio_from_ci, log_ratio_from_counts,
    parse_p_value, se_from_p,
)

DERIVATIONS = ("se_from_p", "count_from_pct")

OUTCOMES = {
    "os": {"type": "ratio", "label": "overall survival", "measure": "HR", "est": "os_hr", "lo": "os_lo",
           "hi": "os_hi", "p": "os_p"},
    "pfs": {"type": "ratio", "label": "progression-free survival", "measure": "HR", "est": "pfs_hr",
            "lo": "pfs_lo", "hi": "pfs_hi", "p": "pfs_p"},
    "orr": {"type": "counts", "label": "objective response", "exp": "orr_haic", "ctrl": "orr_ctrl"},
    "dcr": {"type": "counts", "label": "disease control", "exp": "dcr_haic", "ctrl": "dcr_ctrl"},
    "ae": {"type": "counts", "label": "grade >= 3 adverse events", "exp": "ae34_haic", "ctrl": "ae34_ctrl"},
}

#: the outcomes' names on the page, in figures and deliverables: short (selector) and title (figure titles, with
#: the typographic "≥"); ``OUTCOMES[...]["label"]`` is the plain-text name the engine's messages use
OUTCOME_CHOICES = {"os": "OS", "pfs": "PFS", "orr": "ORR", "dcr": "DCR", "ae": "Grade ≥3 AEs"}
OUTCOME_TITLES = {"os": "Overall survival", "pfs": "Progression-free survival", "orr": "Objective response",
                  "dcr": "Disease control", "ae": "Grade ≥3 adverse events"}

#: readable names of the 17-study file's columns (grid headers, selector labels). These label a study file's
#: columns (one study per row); :func:`analysis.schema.label` labels a cohort's (one patient per row) and owns
#: that idea -- no column means the same in both, and a study file's other columns keep their own names.
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
    """A study file's column for display (:data:`COLUMN_LABELS`; any other column by its own name)."""
    return COLUMN_LABELS.get(col, col)


#: Pooled results published by Lu D et al., Int J Surg 2025;111:3494 (doi 10.1097/JS9.0000000000002326),
#: random-effects (the paper used random effects when I2 >= 50%, which all four reach; R package meta); ``tsa``:
#: its trial sequential analyses (Fig. 6; TSA software 0.9.5.10 beta, random effects, 16 and 15 trials).
PUBLISHED_POOLED = {
    "source": "Lu D et al. Int J Surg 2025;111:3494 (doi 10.1097/JS9.0000000000002326)",
    "os": {"measure": "HR", "est": 0.52, "lo": 0.48, "hi": 0.58, "i2": 51.0, "k": 17},
    "pfs": {"measure": "HR", "est": 0.54, "lo": 0.46, "hi": 0.63, "i2": 65.0, "k": 14},
    "orr": {"measure": "RR", "est": 2.20, "lo": 1.77, "hi": 2.72, "i2": 65.0, "k": 16,
            "tsa": {"rrr": 0.30, "alpha": 0.05, "beta": 0.20, "model": "random", "ris": 2633, "k": 16}},
    "dcr": {"measure": "RR", "est": 1.21, "lo": 1.14, "hi": 1.29, "i2": 55.0, "k": 15,
            "tsa": {"rrr": 0.15, "alpha": 0.05, "beta": 0.20, "model": "random", "ris": 1469, "k": 15}},
    "ae": {"measure": None, "rate_haic_pct": 7.20, "rate_ctrl_pct": 4.58, "k": None,
           "note": "incidence of grade >= 3 adverse events per arm as published; no pooled ratio given"},
    "correlation_orr_os": {"method": "spearman", "rho": -0.54, "p": 0.031},
}

#: cell texts of a study file that :func:`is_missing_cell` reads as missing (compared stripped and lower-cased). The cohort's
#: missing markers (:data:`analysis.schema.MISSING_MARKERS`, the one owner of that idea) differ here on purpose: a
#: study table is transcribed from papers, where "NR" / "not reported" is how a value is absent, while ".", "--",
#: "?", "missing" and "#n/a" mark a transcription still to be resolved -- in a number column they are reported as
#: an error naming the cell, not read as a blank.
NOT_REPORTED = frozenset({"nr", "not reported"})
UNRESOLVED = frozenset({".", "--", "?", "missing", "#n/a"})
_NA_TOKENS = (frozenset(MISSING_MARKERS) - UNRESOLVED) | NOT_REPORTED

_OUTCOME_MARKERS = {"os_hr", "pfs_hr", "orr_haic", "dcr_haic", "ae34_haic"}
_RATIO_COLS = ("study", "hr", "lo", "hi")
_COUNT_COLS = ("study", "events_exp", "n_exp", "events_ctrl", "n_ctrl")


@dataclass
class StudyTable:
    """A loaded study file. ``frame`` keeps every column as text (lower-case names); ``kind`` is ``"outcomes"``
    (the 17-study layout), ``"ratio"`` or ``"counts"``."""

    frame: pd.DataFrame
    kind: str
    studies: list[str]
    provenance: pd.DataFrame | None = None
    warnings: list[str] = field(default_factory=list)
    source: str | None = None
    duplicate_of: dict[int, int] = field(default_factory=dict)   # data row -> the earlier row it repeats exactly

    @property
    def outcomes(self) -> list[str]:
        """Outcomes available in this file (``[None]`` for a generic file)."""
        if self.kind != "outcomes":
            return []
        return [o for o, spec in OUTCOMES.items()
                if (spec.get("est") or spec.get("exp")) in self.frame.columns]

    def columns(self) -> dict[str, list[str]]:
        """Columns usable as ``subgroup`` (few distinct text values) and ``moderator`` (numeric or two levels)."""
        skip = set(_RATIO_COLS + _COUNT_COLS + ("study_id", "first_author", "p", "pct_exp", "pct_ctrl"))
        for spec in OUTCOMES.values():
            skip.update(v for k, v in spec.items() if k in ("est", "lo", "hi", "p", "exp", "ctrl"))
        skip.update({"n_haic", "n_ctrl", "quote"})
        sub, mod = [], []
        for col in self.frame.columns:
            if col in skip:
                continue
            vals = [v for v in self.frame[col] if not is_missing_cell(v)]
            if not vals:
                continue
            numeric = all(cell_float(v) is not None for v in vals)
            levels = set(vals)
            if numeric:
                mod.append(col)
            elif len(levels) == 2:
                mod.append(col)
            if not numeric and 2 <= len(levels) <= max(2, len(vals) // 2):
                sub.append(col)
        return {"subgroup": sub, "moderator": mod}


def is_missing_cell(v) -> bool:
    """Whether a study file's cell is missing: None, NaN or one of the study file's missing tokens."""
    if v is None:
        return True
    if isinstance(v, float) and math.isnan(v):
        return True
    return str(v).strip().lower() in _NA_TOKENS


def cell_float(v) -> float | None:
    """A study file's cell as a finite float, else None."""
    try:
        x = float(str(v).strip())
    except ValueError:
        return None
    return x if math.isfinite(x) else None


def data_rows(idx: Iterable[int]) -> str:
    """0-based positions as the study table's data rows (1 = the first row under the header, as the meta page's
    grid numbers them; not file lines, unlike the cohort side's :func:`analysis.validate.lines_where`): "data row
    2", "data rows 1, 3", at most ten named."""
    rows = [int(i) + 1 for i in idx]
    shown = ", ".join(map(str, rows[:10])) + (", ..." if len(rows) > 10 else "")
    return f"data row{'s' if len(rows) > 1 else ''} {shown}"


def _numeric(frame: pd.DataFrame, col: str) -> np.ndarray:
    """Column as floats (NaN = missing); text that is not a number -> AnalysisError naming column and rows."""
    out = np.full(len(frame), np.nan)
    bad = []
    for i, v in enumerate(frame[col]):
        if is_missing_cell(v):
            continue
        x = cell_float(v)
        if x is None:
            bad.append(i)
        else:
            out[i] = x
    if bad:
        raise AnalysisError(f"column '{col}' must hold numbers; {data_rows(bad)} do not")
    return out


def _read(source) -> tuple[pd.DataFrame, str | None]:
    if isinstance(source, pd.DataFrame):
        frame = source.copy().astype(object)
        name = None
    else:
        path = Path(source)
        if not path.exists():
            raise AnalysisError(f"file not found: {path}")
        try:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise AnalysisError(f"could not read {path.name} as CSV ({type(exc).__name__})") from None
        name = str(path)
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    if frame.columns.duplicated().any():
        dup = sorted(set(frame.columns[frame.columns.duplicated()]))
        raise AnalysisError(f"duplicate column names: {', '.join(dup)}")
    frame = frame.map(lambda v: v.strip() if isinstance(v, str) else v)
    return frame.reset_index(drop=True), name


def _labels(frame: pd.DataFrame, kind: str, warnings: list[str]) -> list[str]:
    if kind == "outcomes":
        if "first_author" not in frame.columns:
            raise AnalysisError("the outcome layout needs a 'first_author' column (and 'year')")
        years = frame["year"] if "year" in frame.columns else [""] * len(frame)
        labels = []
        for a, y in zip(frame["first_author"], years):
            yv = cell_float(y)
            ytxt = str(int(yv)) if yv is not None and yv == int(yv) else ("" if is_missing_cell(y) else str(y))
            labels.append(f"{'' if is_missing_cell(a) else a} {ytxt}".strip())
    else:
        labels = ["" if is_missing_cell(s) else str(s) for s in frame["study"]]
    blank = [i for i, s in enumerate(labels) if not s]
    if blank:
        warnings.append(f"study label missing in {data_rows(blank)}; labelled 'Study <row>'")
        labels = [s or f"Study {i + 1}" for i, s in enumerate(labels)]
    seen: dict[str, int] = {}
    out = []
    for s in labels:
        seen[s] = seen.get(s, 0) + 1
        out.append(s if seen[s] == 1 else f"{s} ({seen[s]})")
    groups: dict[str, list[int]] = {}
    for i, s in enumerate(labels):
        groups.setdefault(s, []).append(i)
    repeated = [rows for rows in groups.values() if len(rows) > 1]
    if repeated:
        where = "; ".join(data_rows(rows) for rows in repeated[:5]) + ("; ..." if len(repeated) > 5 else "")
        warnings.append(f"the same study label is used more than once ({where}): the second copy is labelled "
                        f"'<label> (2)', the third '<label> (3)', ...")
    return out


def _exact_duplicates(frame: pd.DataFrame) -> dict[int, int]:
    """Data rows whose every cell equals an earlier row's (the same study entered twice): row -> first row."""
    first: dict[tuple, int] = {}
    out = {}
    for i, row in enumerate(frame.itertuples(index=False, name=None)):
        key = tuple("" if is_missing_cell(v) else str(v).strip() for v in row)
        if key in first:
            out[i] = first[key]
        else:
            first[key] = i
    return out


def load_study_file(source, provenance="auto") -> StudyTable:
    """Read a study file (path or DataFrame) and recognise its layout (see module docstring).

    ``provenance``: for the 17-study layout, the provenance CSV (``"auto"`` looks for
    ``<name>_provenance.csv`` next to the file; ``None`` to skip). It is only used to recognise counts computed
    from percentages.
    """
    frame, name = _read(source)
    cols = set(frame.columns)
    warnings: list[str] = []
    if cols & _OUTCOME_MARKERS:
        kind = "outcomes"
    elif set(_RATIO_COLS) <= cols and set(_COUNT_COLS) <= cols:
        raise AnalysisError("the file has both ratio columns (hr, lo, hi) and count columns (events_exp, ...); "
                            "keep one kind")
    elif set(_RATIO_COLS) <= cols:
        kind = "ratio"
    elif set(_COUNT_COLS) <= cols:
        kind = "counts"
    else:
        have_ratio = [c for c in _RATIO_COLS if c not in cols]
        have_count = [c for c in _COUNT_COLS if c not in cols]
        raise AnalysisError(
            "unrecognised study file: expected columns study, hr, lo, hi (ratios with CI) or study, events_exp, "
            f"n_exp, events_ctrl, n_ctrl (counts), or the 17-study outcome columns; missing for ratios: "
            f"{', '.join(have_ratio)}; for counts: {', '.join(have_count)}")
    if len(frame) == 0:
        raise AnalysisError("the study file has no rows")
    studies = _labels(frame, kind, warnings)
    dups = _exact_duplicates(frame)
    if dups:
        pairs = "; ".join(f"{data_rows([i])} = {data_rows([j])}" for i, j in list(dups.items())[:5])
        warnings.append(f"{len(dups)} row{'s repeat' if len(dups) > 1 else ' repeats'} an earlier row exactly ({pairs}"
                        f"{'; ...' if len(dups) > 5 else ''}): each study is pooled once, the copies are listed "
                        f"as not pooled")
    prov = None
    if kind == "outcomes":
        if isinstance(provenance, pd.DataFrame):
            prov = provenance
        elif provenance == "auto":
            if name is not None:
                cand = Path(name).with_name(Path(name).stem + "_provenance.csv")
                if cand.exists():
                    prov = pd.read_csv(cand, dtype=str, keep_default_na=False)
        elif provenance is not None:
            prov = pd.read_csv(provenance, dtype=str, keep_default_na=False)
        if prov is None and cols & {"orr_haic", "dcr_haic", "ae34_haic"}:
            warnings.append("no provenance file: counts are taken as reported (none flagged as computed from "
                            "percentages)")
        if "design" in cols and "design_class" not in cols:
            frame["design_class"] = [
                "" if is_missing_cell(d) else ("RCT" if str(d).upper().startswith("RCT") else "non-randomised")
                for d in frame["design"]]
    return StudyTable(frame, kind, studies, prov, warnings, name, dups)


def _percent_cells(prov: pd.DataFrame | None) -> set[tuple[str, str]]:
    """(study_id, field) of counts computed from a percentage: the supporting quote states a percentage and
    the count itself does not appear in it as a number."""
    if prov is None or not {"study_id", "field", "value", "quote"} <= set(prov.columns):
        return set()
    out = set()
    for _, r in prov.iterrows():
        fld = str(r["field"])
        if not re.search(r"_(haic|ctrl)$", fld) or fld.startswith("n_") or fld.startswith("m"):
            continue
        quote, value = str(r["quote"]), str(r["value"]).strip()
        if "%" not in quote or not value:
            continue
        if not re.search(rf"(?<![\d.]){re.escape(value)}(?![\d.])", quote):
            out.add((str(r["study_id"]).strip(), fld))
    return out


def wanted_derivations(derive) -> set[str]:
    """The derivations ``derive`` asks for (True: all of :data:`DERIVATIONS`), unknown names refused."""
    if derive is True:
        return set(DERIVATIONS)
    if not derive:
        return set()
    want = {str(d) for d in derive}
    unknown = want - set(DERIVATIONS)
    if unknown:
        raise AnalysisError(f"unknown derivation(s): {', '.join(sorted(unknown))}; choose from "
                            f"{', '.join(DERIVATIONS)}")
    return want


def _covariates(table: StudyTable, rows: list[int]) -> pd.DataFrame:
    cov = table.frame.iloc[rows].reset_index(drop=True).copy()
    if "year" in cov.columns:
        cov["year"] = [cell_float(v) if not is_missing_cell(v) else np.nan for v in cov["year"]]
    return cov


def _ratio_effects(table: StudyTable, est_c, lo_c, hi_c, p_c, measure, want, level) -> EffectData:
    f = table.frame
    for c in (est_c, lo_c, hi_c):
        if c not in f.columns:
            raise AnalysisError(f"column '{c}' is missing")
    est, lo, hi = _numeric(f, est_c), _numeric(f, lo_c), _numeric(f, hi_c)
    for col, arr in ((est_c, est), (lo_c, lo), (hi_c, hi)):
        bad = np.flatnonzero(~np.isnan(arr) & (arr <= 0))
        if len(bad):
            raise AnalysisError(f"column '{col}' must be a ratio > 0; {data_rows(bad)} are not")
    full = ~np.isnan(est) & ~np.isnan(lo) & ~np.isnan(hi)
    bad = np.flatnonzero(full & (lo >= hi))
    if len(bad):
        raise AnalysisError(f"columns '{lo_c}'/'{hi_c}': the lower limit must be below the upper limit; "
                            f"{data_rows(bad)}")
    bad = np.flatnonzero(full & ((est < lo) | (est > hi)))
    if len(bad):
        raise AnalysisError(f"column '{est_c}' lies outside its confidence interval ('{lo_c}'-'{hi_c}') in "
                            f"{data_rows(bad)}")
    pcol = f[p_c] if p_c and p_c in f.columns else [None] * len(f)
    rows, yi, vi, derived, how, excluded = [], [], [], [], [], []
    y_ci, v_ci = log_ratio_from_ci(np.where(full, est, 1.0), np.where(full, lo, 0.5),
                                   np.where(full, hi, 2.0), level)
    for i, s in enumerate(table.studies):
        if i in table.duplicate_of:
            excluded.append(Excluded(s, _copy_reason(table, i)))
            continue
        if full[i]:
            rows.append(i); yi.append(y_ci[i]); vi.append(v_ci[i]); derived.append(False); how.append(None)
            continue
        if np.isnan(est[i]):
            reason = "not reported" if np.isnan(lo[i]) and np.isnan(hi[i]) else f"CI without {measure}"
            excluded.append(Excluded(s, reason))
            continue
        if not np.isnan(lo[i]) or not np.isnan(hi[i]):
            excluded.append(Excluded(s, "incomplete CI"))
            continue
        parsed = None if is_missing_cell(pcol[i]) else parse_p_value(pcol[i])
        if "se_from_p" not in want:
            excluded.append(Excluded(s, f"{measure} without CI"))
            continue
        if parsed is None:
            excluded.append(Excluded(s, f"{measure} without CI or p-value"))
            continue
        pval, kind = parsed
        if kind == "lower bound":
            excluded.append(Excluded(s, f"{measure} without CI; p-value only as a lower bound"))
            continue
        se = se_from_p(math.log(est[i]), pval)
        if not math.isfinite(se) or se <= 0:
            excluded.append(Excluded(s, f"{measure} without CI; p-value gives no standard error"))
            continue
        rows.append(i); yi.append(math.log(est[i])); vi.append(se**2); derived.append(True)
        how.append("SE from p-value (Altman & Bland 2011)" + (
            f"; 'p<{pval:g}' used as p = {pval:g}, an upper bound (SE conservative)" if kind == "upper bound"
            else f"; p = {pval:g}"))
    return EffectData([table.studies[i] for i in rows], np.array(yi), np.array(vi), measure, None, derived, how,
                      excluded, _covariates(table, rows), rows)


def _copy_reason(table: StudyTable, i: int) -> str:
    return f"exact copy of {data_rows([table.duplicate_of[i]])} (every cell identical): pooled once"


def _count_effects(table: StudyTable, ev_e, n_e, ev_c, n_c, pct_e, pct_c, measure, want,
                   percent_cells: set, study_ids) -> EffectData:
    f = table.frame
    for c in (ev_e, n_e, ev_c, n_c):
        if c not in f.columns:
            raise AnalysisError(f"column '{c}' is missing")
    a, n1, c_, n2 = (_numeric(f, col) for col in (ev_e, n_e, ev_c, n_c))
    pa = _numeric(f, pct_e) if pct_e and pct_e in f.columns else np.full(len(f), np.nan)
    pc = _numeric(f, pct_c) if pct_c and pct_c in f.columns else np.full(len(f), np.nan)
    for col, arr in ((ev_e, a), (n_e, n1), (ev_c, c_), (n_c, n2)):
        bad = np.flatnonzero(~np.isnan(arr) & ((arr < 0) | (arr != np.round(arr))))
        if len(bad):
            raise AnalysisError(f"column '{col}' must hold whole numbers >= 0; {data_rows(bad)} do not")
    for col, arr in ((n_e, n1), (n_c, n2)):
        bad = np.flatnonzero(arr == 0)
        if len(bad):
            raise AnalysisError(f"column '{col}' must be at least 1; {data_rows(bad)}")
    for col, arr in ((pct_e, pa), (pct_c, pc)):
        bad = np.flatnonzero(~np.isnan(arr) & ((arr < 0) | (arr > 100)))
        if len(bad):
            raise AnalysisError(f"column '{col}' must be a percentage (0-100); {data_rows(bad)}")
    for ev, n, ce, cn in ((a, n1, ev_e, n_e), (c_, n2, ev_c, n_c)):
        bad = np.flatnonzero(~np.isnan(ev) & ~np.isnan(n) & (ev > n))
        if len(bad):
            raise AnalysisError(f"column '{ce}' exceeds '{cn}' in {data_rows(bad)}")
    rows, A, N1, C, N2, derived, how, excluded = [], [], [], [], [], [], [], []
    zero = {"studies": [], "ai": [], "n1i": [], "ci": [], "n2i": [], "positions": []}
    for i, s in enumerate(table.studies):
        ai, ci_ = a[i], c_[i]
        notes = []
        if i in table.duplicate_of:
            excluded.append(Excluded(s, _copy_reason(table, i)))
            continue
        if np.isnan(n1[i]) or np.isnan(n2[i]):
            excluded.append(Excluded(s, "number of patients per arm not reported"))
            continue
        if np.isnan(ai) and not np.isnan(pa[i]):
            if "count_from_pct" not in want:
                excluded.append(Excluded(s, "events only as a percentage (derivation off)"))
                continue
            ai = counts_from_percentage(pa[i], n1[i]); notes.append("experimental-arm events = round(% x n)")
        if np.isnan(ci_) and not np.isnan(pc[i]):
            if "count_from_pct" not in want:
                excluded.append(Excluded(s, "events only as a percentage (derivation off)"))
                continue
            ci_ = counts_from_percentage(pc[i], n2[i]); notes.append("control-arm events = round(% x n)")
        if np.isnan(ai) or np.isnan(ci_):
            excluded.append(Excluded(s, "not reported"))
            continue
        sid = study_ids[i] if study_ids is not None else None
        from_pct = [col for col in (ev_e, ev_c) if (sid, col) in percent_cells]
        if from_pct:
            if "count_from_pct" not in want:
                excluded.append(Excluded(s, "counts computed from reported percentages (derivation off)"))
                continue
            notes.append("counts computed as round(reported % x n): " + ", ".join(from_pct))
        if double_zero([ai], [n1[i]], [ci_], [n2[i]])[0]:
            reason = ("no events in either arm" if ai == 0 else "every patient had the event in both arms")
            excluded.append(Excluded(s, reason + " (no information on the ratio)"))
            for key, val in (("studies", s), ("ai", ai), ("n1i", n1[i]), ("ci", ci_), ("n2i", n2[i]),
                             ("positions", i)):
                zero[key].append(val)
            continue
        rows.append(i); A.append(ai); N1.append(n1[i]); C.append(ci_); N2.append(n2[i])
        derived.append(bool(notes)); how.append("; ".join(notes) if notes else None)
    A, N1, C, N2 = (np.array(x, dtype=float) for x in (A, N1, C, N2))
    yi, vi = log_ratio_from_counts(A, N1, C, N2, measure) if len(A) else (np.array([]), np.array([]))
    zero["year"] = list(_covariates(table, zero["positions"]).get("year", [np.nan] * len(zero["positions"])))
    return EffectData([table.studies[i] for i in rows], yi, vi, measure,
                      {"ai": A, "n1i": N1, "ci": C, "n2i": N2}, derived, how, excluded, _covariates(table, rows),
                      rows, zero)


def outcome_effects(table: StudyTable, outcome: str | None = None, measure: str = "RR",
                    derive: bool | Iterable[str] = False, level: float = 0.95) -> EffectData:
    """Per-study effects for ``outcome`` (17-study layout; default ``"os"``) or the generic file's effects.

    ``measure`` (RR or OR) applies to count data. ``derive``: False (default), True (all derivations) or a
    subset of :data:`DERIVATIONS`.
    """
    want = wanted_derivations(derive)
    measure = str(measure).upper()
    if measure not in ("RR", "OR"):
        raise AnalysisError("measure must be RR or OR")
    if table.kind == "outcomes":
        outcome = (outcome or "os").lower()
        if outcome not in OUTCOMES:
            raise AnalysisError(f"outcome must be one of {', '.join(OUTCOMES)}")
        spec = OUTCOMES[outcome]
        if spec["type"] == "ratio":
            return _ratio_effects(table, spec["est"], spec["lo"], spec["hi"], spec["p"], spec["measure"], want,
                                  level)
        ids = list(table.frame["study_id"]) if "study_id" in table.frame.columns else None
        ids = None if ids is None else [str(x).strip() for x in ids]
        cells = _percent_cells(table.provenance) if ids is not None else set()
        return _count_effects(table, spec["exp"], "n_haic", spec["ctrl"], "n_ctrl", None, None, measure, want,
                              cells, ids)
    if outcome is not None:
        raise AnalysisError("outcome applies only to the 17-study layout (columns os_hr, orr_haic, ...); "
                            "a generic file has one outcome")
    if table.kind == "ratio":
        return _ratio_effects(table, "hr", "lo", "hi", "p", "ratio", want, level)
    return _count_effects(table, "events_exp", "n_exp", "events_ctrl", "n_ctrl", "pct_exp", "pct_ctrl",
                          measure, want, set(), None)


def orr_os_correlation(table: StudyTable, derive: bool | Iterable[str] = False):
    """Spearman correlation between per-study ORR risk ratios and OS hazard ratios (point estimates, as in
    Lu et al. 2025, Fig. 5A), over the studies with both. None when fewer than 3 studies have both."""
    from analysis.meta.bias import spearman_correlation

    if table.kind != "outcomes" or not {"os_hr", "orr_haic"} <= set(table.frame.columns):
        return None
    orr = outcome_effects(table, "orr", "RR", derive)
    hr = _numeric(table.frame, "os_hr")
    by_label = {s: i for i, s in enumerate(table.studies)}
    x, y, labels = [], [], []
    for s, yi in zip(orr.studies, orr.yi):
        h = hr[by_label[s]]
        if not np.isnan(h):
            x.append(math.exp(yi)); y.append(h); labels.append(s)
    if len(x) < 3:
        return None
    return spearman_correlation(x, y, labels)
