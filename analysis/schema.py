"""The cohort data contract: canonical columns, header aliases, codings, labels, units, reference levels,
endpoints (time/event pairs) and what each column can be used for.

One row per patient. Only a time/event pair is required for survival; every other column is optional, and
unknown extra columns are kept as user variables. The paper's columns, cutoffs and variable lists are defaults
for the columns that have them; every rule here works the same on a user's own columns. See
``docs/architecture.md`` and the README's file-format section.
"""
from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

# --- canonical columns -------------------------------------------------------------------------------

#: numeric columns with their unit (as the seed paper reports them) and a plausible range; values outside
#: the range are not errors, only warnings ("implausible"), because units differ between centres.
NUMERIC_COLUMNS: dict[str, dict] = {
    "age": {"label": "Age", "unit": "years", "range": (10, 110)},
    "tb": {"label": "Total bilirubin", "unit": "µmol/L", "range": (0, 1000)},
    "alt": {"label": "ALT", "unit": "U/L", "range": (0, 5000)},
    "ast": {"label": "AST", "unit": "U/L", "range": (0, 5000)},
    "alp": {"label": "ALP", "unit": "U/L", "range": (0, 5000)},
    "ggt": {"label": "GGT", "unit": "U/L", "range": (0, 5000)},
    "plt": {"label": "Platelets", "unit": "10^9/L", "range": (0, 2000)},
    "pt": {"label": "Prothrombin time", "unit": "s", "range": (5, 100)},
    "afp": {"label": "AFP", "unit": "ng/mL", "range": (0, 1e7)},
    "pivka_ii": {"label": "PIVKA-II", "unit": "mAU/mL", "range": (0, 1e7)},
    "crp": {"label": "CRP", "unit": "mg/L", "range": (0, 1000)},
    "nlr": {"label": "NLR", "unit": "", "range": (0, 200)},
    "albumin": {"label": "Albumin", "unit": "g/L", "range": (5, 80)},
    "tumor_size_mm": {"label": "Tumour size", "unit": "mm", "range": (0, 400)},
}

TIME_COLUMNS = ("pfs_months", "os_months")
EVENT_COLUMNS = ("pfs_event", "os_event")
#: endpoint name -> (time column, event column)
ENDPOINTS = {"pfs": ("pfs_months", "pfs_event"), "os": ("os_months", "os_event")}

BINARY_FACTORS = ("shunt", "ehm", "metabolic_comorbidity")
RESPONSE_COLUMNS = ("recist_best", "mrecist_best")
RESPONSE_CODES = ("CR", "PR", "SD", "PD", "NE")

#: categorical columns with their canonical levels in display order; the first level is the reference.
LEVEL_ORDER: dict[str, tuple[str, ...]] = {
    "sex": ("Male", "Female"),
    "etiology": ("HBV", "HCV", "Alcohol", "Others"),
    "child_pugh": ("A", "B", "C"),
    "cnlc_stage": ("IA", "IB", "IIA", "IIB", "IIIA", "IIIB", "IV"),
    "shunt": ("No", "Yes"),
    "ehm": ("No", "Yes"),
    "metabolic_comorbidity": ("No", "Yes"),
    "treatment": ("HAIC + TKIs or ICIs", "HAIC + ICIs + TKIs/anti-VEGF"),
    "recist_best": RESPONSE_CODES,
    "mrecist_best": RESPONSE_CODES,
}
#: categorical columns whose levels are ordered (a log-rank test for trend applies)
ORDERED_FACTORS = ("child_pugh", "cnlc_stage")

CATEGORICAL_COLUMNS = ("sex", "etiology", "child_pugh", "cnlc_stage", *BINARY_FACTORS, "treatment",
                       *RESPONSE_COLUMNS)

CANONICAL_COLUMNS = (
    "patient_id", "age", "sex", "etiology", "tb", "alt", "ast", "alp", "ggt", "plt", "pt", "afp", "pivka_ii",
    "crp", "nlr", "albumin", "child_pugh", "tumor_size_mm", "cnlc_stage", "shunt", "ehm",
    "metabolic_comorbidity", "treatment", "pfs_months", "pfs_event", "os_months", "os_event", "recist_best",
    "mrecist_best",
)

AE_PREFIX = "ae_"

# --- codings of cell values ----------------------------------------------------------------------------

#: cell texts read as missing (compared stripped and lower-cased)
MISSING_MARKERS = ("", "na", "n/a", "nan", ".", "-", "--", "null", "none", "missing", "#n/a", "?")

EVENT_CODES = {
    "1": 1, "0": 0, "1.0": 1, "0.0": 0, "yes": 1, "no": 0, "y": 1, "n": 0, "true": 1, "false": 0,
    "t": 1, "f": 0, "dead": 1, "alive": 0, "died": 1, "deceased": 1, "death": 1, "progressed": 1,
    "progression": 1, "progressive": 1, "no progression": 0, "not progressed": 0, "censored": 0,
    "censor": 0, "event": 1, "no event": 0, "relapse": 1, "recurrence": 1, "recurred": 1,
    "no recurrence": 0, "no relapse": 0,
}
#: an event column whose present values are all among these, with a 2 among them, is R's Surv 1/2 coding
SURV_12_CODES = {"1": 0, "1.0": 0, "2": 1, "2.0": 1}
BINARY_CODES = {
    "1": "Yes", "0": "No", "1.0": "Yes", "0.0": "No", "yes": "Yes", "no": "No", "y": "Yes", "n": "No",
    "true": "Yes", "false": "No", "with": "Yes", "without": "No", "present": "Yes", "absent": "No",
    "positive": "Yes", "negative": "No", "pos": "Yes", "neg": "No",
}
SEX_CODES = {"male": "Male", "m": "Male", "man": "Male", "female": "Female", "f": "Female",
             "woman": "Female"}
ETIOLOGY_CODES = {"hbv": "HBV", "hepatitis b": "HBV", "hcv": "HCV", "hepatitis c": "HCV",
                  "alcohol": "Alcohol", "alcoholic": "Alcohol", "ald": "Alcohol", "other": "Others",
                  "others": "Others"}
RESPONSE_WORDS = {"cr": "CR", "complete response": "CR", "pr": "PR", "partial response": "PR",
                  "sd": "SD", "stable disease": "SD", "pd": "PD", "progressive disease": "PD",
                  "progression": "PD", "ne": "NE", "not evaluable": "NE", "ue": "NE", "inevaluable": "NE"}
#: the codings by canonical column, for reading a level the way the file wrote it (``--ref sex=f``)
CODINGS = {"sex": SEX_CODES, "etiology": ETIOLOGY_CODES, **{c: BINARY_CODES for c in BINARY_FACTORS},
           **{c: RESPONSE_WORDS for c in RESPONSE_COLUMNS}}

# --- header aliases ------------------------------------------------------------------------------------

#: normalised header -> canonical name (normalisation: see :func:`normalise_header`)
ALIASES: dict[str, str] = {
    "id": "patient_id", "patient": "patient_id", "patientid": "patient_id", "patient_no": "patient_id",
    "subject_id": "patient_id", "pid": "patient_id", "case_id": "patient_id",
    "age_years": "age", "gender": "sex",
    "aetiology": "etiology", "cause": "etiology",
    "total_bilirubin": "tb", "tbil": "tb", "bilirubin": "tb", "t_bil": "tb",
    "alanine_aminotransferase": "alt", "sgpt": "alt",
    "aspartate_aminotransferase": "ast", "sgot": "ast",
    "alkaline_phosphatase": "alp",
    "gamma_gt": "ggt", "g_gt": "ggt", "gamma_glutamyl_transferase": "ggt", "γ_gt": "ggt",
    "platelets": "plt", "platelet": "plt", "platelet_count": "plt",
    "prothrombin_time": "pt",
    "alpha_fetoprotein": "afp", "α_fetoprotein": "afp",
    "pivka": "pivka_ii", "pivka2": "pivka_ii", "pivkaii": "pivka_ii", "dcp": "pivka_ii",
    "c_reactive_protein": "crp",
    "neutrophil_lymphocyte_ratio": "nlr", "neutrophil_to_lymphocyte_ratio": "nlr",
    "alb": "albumin",
    "child_pugh_class": "child_pugh", "childpugh": "child_pugh", "child_pugh_grade": "child_pugh",
    "child": "child_pugh",
    "tumor_size": "tumor_size_mm", "tumour_size": "tumor_size_mm", "tumour_size_mm": "tumor_size_mm",
    "tumor_diameter": "tumor_size_mm", "tumour_diameter": "tumor_size_mm", "tumor_diameter_mm": "tumor_size_mm",
    "cnlc": "cnlc_stage", "stage": "cnlc_stage",
    "arterio_portal_venous_shunt": "shunt", "av_shunt": "shunt", "ap_shunt": "shunt",
    "extrahepatic_metastasis": "ehm", "extrahepatic_spread": "ehm", "metastasis": "ehm",
    "metabolic": "metabolic_comorbidity", "metabolic_comorbidities": "metabolic_comorbidity",
    "therapy": "treatment", "regimen": "treatment", "treatment_group": "treatment", "arm": "treatment",
    "pfs": "pfs_months", "pfs_time": "pfs_months", "pfs_month": "pfs_months",
    "pfs_status": "pfs_event", "progression": "pfs_event", "progressed": "pfs_event", "pfs_censor": "pfs_event",
    "os": "os_months", "os_time": "os_months", "os_month": "os_months", "survival_time": "os_months",
    "os_status": "os_event", "death": "os_event", "dead": "os_event", "vital_status": "os_event",
    "status": "os_event",
    "recist": "recist_best", "recist_1_1": "recist_best", "recist11": "recist_best",
    "best_response_recist": "recist_best", "recist_1_1_best": "recist_best",
    "mrecist": "mrecist_best", "best_response_mrecist": "mrecist_best",
}

#: units written in a time column's header -> factor to months. 1 month = 365.25/12 days.
DAYS_PER_MONTH = 365.25 / 12
TIME_UNIT_FACTORS = {"months": 1.0, "days": 1.0 / DAYS_PER_MONTH, "weeks": 7.0 / DAYS_PER_MONTH,
                     "years": 12.0}
_UNIT_WORDS = {"month": "months", "months": "months", "mo": "months", "m": "months",
               "day": "days", "days": "days", "d": "days",
               "week": "weeks", "weeks": "weeks", "wk": "weeks", "w": "weeks",
               "year": "years", "years": "years", "yr": "years", "y": "years"}

#: the longest follow-up (months) that is plausible for a cohort, and the shortest, for the unit check
PLAUSIBLE_FOLLOW_UP_MONTHS = (2.0, 240.0)


def likely_time_unit(longest: float, unit: str) -> str | None:
    """The unit a time column's values more likely are in, when its longest time read in ``unit`` is not a
    plausible follow-up (:data:`PLAUSIBLE_FOLLOW_UP_MONTHS`: 2 months to 20 years) and another unit makes it
    one; None when ``unit`` fits or nothing fits better. Days read as months give follow-ups of centuries;
    months read as days, a few weeks."""
    low, high = PLAUSIBLE_FOLLOW_UP_MONTHS
    if not (longest > 0 and math.isfinite(longest)):
        return None

    def fits(u: str) -> bool:
        return low <= longest * TIME_UNIT_FACTORS[u] <= high

    if fits(unit):
        return None
    for candidate in ("days", "months", "weeks", "years"):
        if candidate != unit and fits(candidate):
            return candidate
    return None


_BRACKETS = re.compile(r"[\(\[\{](.*?)[\)\]\}]")


def _slug(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).strip().lower()
    text = text.replace("%", " pct ")
    text = re.sub(r"[^\w]+", "_", text, flags=re.UNICODE)
    return re.sub(r"_+", "_", text).strip("_")


def normalise_header(header: str) -> tuple[str, str | None]:
    """Split a raw header into (slug without bracketed units, unit text or None).

    ``"AST (U/L)"`` -> ``("ast", "u/l")``; ``" OS time [days] "`` -> ``("os_time", "days")``.
    """
    raw = unicodedata.normalize("NFKC", str(header)).replace("\ufeff", "").strip()
    units = _BRACKETS.findall(raw)
    base = _BRACKETS.sub(" ", raw)
    return _slug(base), (units[-1].strip().lower() if units else None)


def time_unit_from_text(text: str | None) -> str | None:
    """``"days"``/``"d"``/``"months"`` ... -> canonical unit name, else None."""
    if not text:
        return None
    return _UNIT_WORDS.get(_slug(text))


def canonical_name(header: str) -> tuple[str, str | None]:
    """Map a raw header to (canonical column name, declared time unit or None).

    Time columns may declare their unit in brackets (``OS (days)``) or as a suffix (``os_days``).
    Unknown headers come back slugged (``"My Score"`` -> ``my_score``) and are kept as user variables.
    """
    slug, unit_text = normalise_header(header)
    unit = time_unit_from_text(unit_text)
    for suffix, word in (("_days", "days"), ("_day", "days"), ("_weeks", "weeks"), ("_years", "years"),
                         ("_months", "months"), ("_month", "months"), ("_mo", "months")):
        stem = slug[: -len(suffix)]
        if slug not in TIME_COLUMNS and slug.endswith(suffix) and stem in ("pfs", "os", "pfs_time", "os_time"):
            slug, unit = stem, unit or word
            break
    if slug in CANONICAL_COLUMNS or slug.startswith(AE_PREFIX):
        name = slug
    else:
        name = ALIASES.get(slug, slug)
    if name not in TIME_COLUMNS:
        unit = None
    return name, unit


def is_ae_column(col: str) -> bool:
    return col.startswith(AE_PREFIX) and len(col) > len(AE_PREFIX)


def reference_level(column: str, levels: Iterable[str]) -> str:
    """The reference level of a categorical column.

    Known columns: the first of :data:`LEVEL_ORDER` that occurs; otherwise the alphabetically first level,
    as R's ``factor()`` would choose.
    """
    present = [str(v) for v in levels]
    if not present:
        raise ValueError(f"column {column!r} has no levels")
    for level in LEVEL_ORDER.get(column, ()):
        if level in present:
            return level
    return sorted(present)[0]


def ordered_levels(column: str, levels: Iterable[str]) -> list[str]:
    """Levels in display order: the canonical order for known columns, then the rest alphabetically."""
    present = list(dict.fromkeys(str(v) for v in levels))
    known = [lv for lv in LEVEL_ORDER.get(column, ()) if lv in present]
    return known + sorted(lv for lv in present if lv not in known)


# --- levels of categorical columns ---------------------------------------------------------------------

def level_text(value) -> str | None:
    """A cell as a category level, written as in the file: ``1.0`` -> ``"1"``, ``2.5`` -> ``"2.5"``, text
    stripped; None for a missing value or empty text."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        return "Yes" if value else "No"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        x = float(value)
        if not math.isfinite(x):
            return None if math.isnan(x) else str(x)
        return str(int(x)) if x.is_integer() and abs(x) < 1e15 else repr(x)
    text = str(value).strip()
    return text or None


def level_texts(series: pd.Series) -> pd.Series:
    """:func:`level_text` of every cell (object Series of str, NaN where missing), computed per distinct value."""
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    texts = np.array([level_text(v) for v in uniques] + [None], dtype=object)
    out = texts[codes]                              # code -1 (missing) takes the last entry
    out[pd.isna(out)] = np.nan
    return pd.Series(out, index=series.index, dtype=object)


def find_level(wanted, levels: Iterable[str], column: str | None = None) -> str | None:
    """The level among ``levels`` that ``wanted`` names: the same text, else the file's own code of a recoded
    canonical column (``f`` for ``Female`` in ``sex``), else the same number (``1`` and ``1.0``), else the same
    text ignoring case; None when none does."""
    levels = [str(v) for v in levels]
    text = level_text(wanted)
    if text is None:
        return None
    if text in levels:
        return text
    coded = CODINGS.get(column or "", {}).get(text.lower())
    if coded is not None and str(coded) in levels:
        return str(coded)
    try:
        number = float(text)
    except ValueError:
        number = None
    if number is not None and math.isfinite(number):
        for level in levels:
            try:
                if float(level) == number:
                    return level
            except ValueError:
                continue
    folded = [lv for lv in levels if lv.lower() == text.lower()]
    return folded[0] if len(folded) == 1 else None


# --- labels ------------------------------------------------------------------------------------------------

#: short names of canonical columns for group labels and legends ("AST <= 56.5", "Child-Pugh = A")
DISPLAY_NAMES: dict[str, str] = {
    "ast": "AST", "alp": "ALP", "nlr": "NLR", "tb": "TB", "crp": "CRP", "ggt": "GGT", "pt": "PT",
    "afp": "AFP", "pivka_ii": "PIVKA-II", "alt": "ALT", "plt": "PLT", "age": "Age", "albumin": "Albumin",
    "tumor_size_mm": "Tumour size (mm)", "child_pugh": "Child-Pugh", "ehm": "EHM",
    "metabolic_comorbidity": "Metabolic comorbidity", "treatment": "Treatment", "shunt": "Shunt",
    "cnlc_stage": "CNLC stage", "sex": "Sex", "etiology": "Etiology", "patient_id": "Patient id",
    "recist_best": "RECIST 1.1 best response", "mrecist_best": "mRECIST best response",
    "os_months": "OS time", "pfs_months": "PFS time", "os_event": "Death", "pfs_event": "Progression or death",
}
#: longer labels of canonical categorical columns for tables (numeric ones: label and unit of NUMERIC_COLUMNS)
TABLE_LABELS: dict[str, str] = {
    "sex": "Sex", "etiology": "Etiology", "child_pugh": "Child-Pugh class", "cnlc_stage": "CNLC stage",
    "shunt": "Arterioportal/arteriovenous shunt", "ehm": "Extrahepatic metastasis",
    "metabolic_comorbidity": "Metabolic comorbidity", "treatment": "Treatment",
}


def tidy_name(column: str) -> str:
    """A user column's name for display: ``wt_loss`` -> ``Wt loss`` (capital first letter, spaces)."""
    text = str(column).replace("_", " ").strip()
    return text[:1].upper() + text[1:] if text else str(column)


def display_name(column: str) -> str:
    """Short name of a column for group labels and legends: ``ast`` -> ``AST``; ``ae_fatigue`` ->
    ``Fatigue``; a user column tidied (``wt_loss`` -> ``Wt loss``)."""
    if column in DISPLAY_NAMES:
        return DISPLAY_NAMES[column]
    if is_ae_column(column):
        return tidy_name(column[len(AE_PREFIX):])
    return tidy_name(column)


def label(column: str) -> str:
    """Label of a column for tables, with its unit: ``AST (U/L)``, ``Child-Pugh class``; else as
    :func:`display_name`."""
    if column in NUMERIC_COLUMNS:
        info = NUMERIC_COLUMNS[column]
        return f"{info['label']} ({info['unit']})" if info.get("unit") else info["label"]
    return TABLE_LABELS.get(column) or display_name(column)


# --- endpoints: time/event pairs ------------------------------------------------------------------------

#: endpoint abbreviations -> names; an endpoint named after one of these (its time column's stem) reads so
ENDPOINT_NAMES = {
    "os": "Overall survival", "pfs": "Progression-free survival", "dfs": "Disease-free survival",
    "rfs": "Recurrence-free survival", "efs": "Event-free survival", "ttp": "Time to progression",
    "ttr": "Time to recurrence", "css": "Cancer-specific survival", "dss": "Disease-specific survival",
    "mfs": "Metastasis-free survival", "dmfs": "Distant metastasis-free survival", "tts": "Time to surgery",
    "ttf": "Time to treatment failure", "ttnt": "Time to next treatment", "lrfs": "Local recurrence-free survival",
}

#: a header that ends in one of these words (or is one) looks like a survival time; the rest is its stem
_TIME_WORDS = ("time", "months", "days", "weeks", "years", "futime", "fu_time", "follow_up", "followup",
               "survival")
#: ... like an event indicator (1 = event); "censor" columns are left out (they are often 1 = censored)
_EVENT_WORDS = ("status", "event", "events", "fustat", "fu_stat", "death", "dead", "died", "recur", "recurrence",
                "relapse", "progression", "progressed", "failure", "fail", "cens_event")
#: stems that mean "follow-up" rather than an endpoint name: ``futime`` + ``fustat`` are one pair
_NEUTRAL_STEMS = ("", "fu", "follow_up", "followup", "surv", "survival", "t", "obs")


@dataclass(frozen=True)
class Endpoint:
    """A time-to-event endpoint of a cohort: its ``time`` column (months in the canonical frame) and ``event``
    column (0/1). ``key`` names it in URLs and on the command line (``os``, ``pfs``, ``ttr``, ``time``), ``label``
    in the app ("Overall survival"); ``unit`` is the unit the file's times were in before conversion to months."""

    key: str
    label: str
    time: str
    event: str
    unit: str = "months"
    event_value: str | None = None    # the file's event coding when not 0/1: this value is the event

    def to_dict(self) -> dict:
        out = {"key": self.key, "label": self.label, "time": self.time, "event": self.event, "unit": self.unit}
        if self.event_value is not None:
            out["event_value"] = self.event_value
        return out

    @classmethod
    def from_dict(cls, d: dict) -> "Endpoint":
        return cls(d["key"], d["label"], d["time"], d["event"], d.get("unit", "months"), d.get("event_value"))


def _split_word(name: str, words: tuple[str, ...]) -> str | None:
    """The stem of ``name`` when it ends in one of ``words`` (``rfstime`` -> ``rfs``, ``ttr_days`` -> ``ttr``)."""
    for word in sorted(words, key=len, reverse=True):
        if name == word:
            return ""
        if name.endswith(word):
            stem = name[: -len(word)].rstrip("_")
            return "" if stem in _NEUTRAL_STEMS else stem
    return None


def time_stem(name: str) -> str | None:
    """The stem of a time-like column name (``os_months`` -> ``os``, ``futime`` -> ``""``), else None."""
    for tcol, ecol in ENDPOINTS.values():
        if name == tcol:
            return next(k for k, v in ENDPOINTS.items() if v[0] == name)
    return _split_word(name, _TIME_WORDS)


def event_stem(name: str) -> str | None:
    """The stem of an event-like column name (``os_event`` -> ``os``, ``status`` -> ``""``), else None."""
    for key, (_tcol, ecol) in ENDPOINTS.items():
        if name == ecol:
            return key
    return _split_word(name, _EVENT_WORDS)


def pair_endpoints(names: Iterable[str]) -> list[tuple[str, str]]:
    """Time/event pairs among column names, in file order of the time column.

    The canonical pairs (``os_months``/``os_event``, ``pfs_months``/``pfs_event``) first; then a time-like and an
    event-like column with the same stem (``rfs_time``/``rfs_status``, ``futime``/``fustat``, ``time``/``status``);
    then a time stem that begins the event column's name (``rtime``/``recur``, ``dtime``/``death``); then, if
    exactly one time-like column and one plainly named event column (``status``, ``event``, ``death``) are left,
    those two (``rfstime``/``status``). A time-like column without a partner (``diagtime``) stays a variable. Callers check
    the values: a pair whose columns cannot be read as times and events is not used.
    """
    names = [str(n) for n in names]
    # a canonical event column without its time column (``status`` read as os_event) pairs like ``status``
    lone = {ecol for tcol, ecol in ENDPOINTS.values() if tcol not in names}
    times = [(n, time_stem(n)) for n in names if time_stem(n) is not None]
    events = [(n, "" if n in lone else event_stem(n)) for n in names
              if event_stem(n) is not None and time_stem(n) is None]
    pairs: list[tuple[str, str]] = []
    used: set[str] = set()

    def pair(rule) -> None:
        for tname, tstem in times:
            if tname in used:
                continue
            match = [e for e, estem in events if e not in used and rule(tstem, e, estem)]
            rivals = [t for t, s in times if t not in used and any(rule(s, e, es) for e, es in events if e in match)]
            if len(match) == 1 and rivals == [tname]:
                pairs.append((tname, match[0]))
                used.update((tname, match[0]))

    pair(lambda tstem, _e, estem: tstem == estem)                              # rfs_time / rfs_status
    pair(lambda tstem, e, estem: bool(tstem) and not estem and e.startswith(tstem))   # rtime / recur
    left_t = [t for t, _s in times if t not in used]
    left_e = [e for e, s in events if e not in used and s == ""]
    if len(left_t) == 1 and len(left_e) == 1:                                  # rfstime / status
        pairs.append((left_t[0], left_e[0]))
    order = {n: i for i, n in enumerate(names)}
    return sorted(pairs, key=lambda p: order[p[0]])


def endpoint_for(time_col: str, event_col: str, unit: str = "months", label: str | None = None,
                 taken: Iterable[str] = (), event_value: str | None = None) -> Endpoint:
    """The :class:`Endpoint` of a pair. Its key is the endpoint's abbreviation when the time column's stem is
    one (``rfstime`` -> ``rfs``) or the event column is a canonical one (``death`` read as os_event -> ``os``),
    else the time column's stem (``ttr_days`` -> ``ttr``) or name (``rtime``, ``futime``)."""
    tstem, estem = time_stem(time_col) or "", event_stem(event_col) or ""
    if tstem in ENDPOINT_NAMES:
        key = tstem
    elif estem in ENDPOINTS:
        key = estem
    elif len(tstem) > 1:
        key = tstem
    else:
        key = re.sub(r"_months$", "", time_col)
    base, k, taken = key, 1, set(taken)
    while key in taken:
        k += 1
        key = f"{base}{k}"
    if not label:
        label = ENDPOINT_NAMES.get(base) or f"{time_col} / {event_col}"
    return Endpoint(key, label, time_col, event_col, unit, event_value)


# --- what a column can be used for -----------------------------------------------------------------------

#: a categorical column with more levels than this is not offered for stratifying, grouping or as a Cox factor
MAX_LEVELS = 12
#: a numeric column with at most this many distinct values can also be used as categories (grade, ECOG)
MAX_NUMERIC_LEVELS = 10
#: the baseline table summarises categorical columns of up to this many levels (more: listed as skipped)
MAX_TABLE_LEVELS = 20

#: column kinds (analysis.validate.ColumnInfo.kind) that are never analysis variables
NOT_VARIABLE_KINDS = ("id", "time", "event", "response", "ae")


def column_kind(column: str, series: pd.Series | None = None) -> str:
    """The kind of a canonical-frame column when no import report says it: id, time, event, response, ae,
    numeric or categorical."""
    if column == "patient_id":
        return "id"
    if column in TIME_COLUMNS:
        return "time"
    if column in EVENT_COLUMNS:
        return "event"
    if column in RESPONSE_COLUMNS:
        return "response"
    if is_ae_column(column):
        return "ae"
    if series is not None and pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        return "numeric"
    return "categorical"


def _is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


#: past this many distinct values a column's levels are not written out (it has far too many to be categories)
_LEVELS_WRITTEN = 1000


def distinct_levels(series: pd.Series) -> list[str]:
    """The distinct present values of a column as level texts (:func:`level_text`), numbers in numeric order,
    text in first-seen order; one hash pass over the cells (``pd.factorize``), the rest per distinct value. A
    column with more than a thousand distinct values (a measurement, an identifier) gets placeholders instead
    of its texts: only their number matters then (:func:`column_uses`)."""
    _codes, uniques = pd.factorize(series, use_na_sentinel=True)
    if _is_numeric(series):
        values = np.asarray(uniques, dtype=float)
        uniques = np.sort(values[np.isfinite(values)])
    if len(uniques) > _LEVELS_WRITTEN:
        return [""] * len(uniques)
    return list(dict.fromkeys(t for t in (level_text(v) for v in uniques) if t is not None))


def column_uses(series: pd.Series, kind: str | None = None, levels: list[str] | None = None) -> frozenset[str]:
    """What a variable column can be used for, from its values (``levels``: its :func:`distinct_levels`, when
    already known).

    * ``"continuous"`` and ``"cut"``: numeric with at least two distinct values;
    * ``"categorical"``: 2 to :data:`MAX_LEVELS` levels (text), or 2 to :data:`MAX_NUMERIC_LEVELS` distinct
      values (numeric: grade 1/2/3, ECOG 0-4).

    Stratifying a KM plot takes ``cut`` or ``categorical``; grouping a table ``categorical``; a Cox covariate any.
    """
    if kind in NOT_VARIABLE_KINDS:
        return frozenset()
    k = len(distinct_levels(series) if levels is None else levels)
    if _is_numeric(series):
        uses = {"continuous", "cut"} if k >= 2 else set()
        if 2 <= k <= MAX_NUMERIC_LEVELS:
            uses.add("categorical")
        return frozenset(uses)
    return frozenset({"categorical"}) if 2 <= k <= MAX_LEVELS else frozenset()


#: a numeric column with at most this many distinct values is shown as categories by default (one KM curve
#: per value, a factor in Cox): grade 1/2/3, ECOG 0-3, 0/1 flags
MAX_LEVELS_AS_CATEGORIES = 5


#: columns only a liver cohort has; a file with at least PAPER_LIKE_MIN of them is a cohort like the seed paper's
LIVER_COLUMNS = ("tb", "alt", "ast", "alp", "ggt", "afp", "pivka_ii", "child_pugh", "cnlc_stage", "etiology")
PAPER_LIKE_MIN = 3


def follows_paper(columns: Iterable[str]) -> bool:
    """Whether the seed paper's defaults (its cutoffs, variable list and groupings) apply to a dataset with these
    columns: a liver cohort (:data:`LIVER_COLUMNS`). A lung-cancer file's ``age`` is not cut at the paper's 58."""
    return len(set(map(str, columns)) & set(LIVER_COLUMNS)) >= PAPER_LIKE_MIN


def default_form(column: str, series: pd.Series, uses: frozenset[str] | None = None,
                 paper: bool = False, levels: list[str] | None = None) -> str | None:
    """How a variable is used unless the user chooses otherwise: ``"cut"`` (a numeric column the seed paper
    cut, when ``paper`` defaults apply; the caller supplies the cutoff), ``"categorical"`` (text, or numeric with
    at most :data:`MAX_LEVELS_AS_CATEGORIES` distinct values) or ``"continuous"`` (other numeric columns); None
    when the column cannot be used (see :func:`column_uses`)."""
    from analysis.dichotomise import PAPER_CUTOFFS

    levels = distinct_levels(series) if levels is None else levels
    uses = column_uses(series, levels=levels) if uses is None else uses
    if not uses:
        return None
    if "continuous" not in uses:
        return "categorical"
    if paper and column in PAPER_CUTOFFS:
        return "cut"
    if "categorical" in uses and len(levels) <= MAX_LEVELS_AS_CATEGORIES:
        return "categorical"
    return "continuous"


def default_per(series: pd.Series) -> float:
    """The unit step for a continuous covariate's HR: the power of ten at or below its interquartile range
    (age -> per 10 years, platelets -> per 100, a ratio -> per 1), so the HR is readable; 1 when the IQR is 0."""
    values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)
    values = values[np.isfinite(values)]
    if values.size < 2:
        return 1.0
    q1, q3 = np.quantile(values, [0.25, 0.75])
    spread = float(q3 - q1) or float(values.max() - values.min())
    if not spread > 0:
        return 1.0
    return float(10.0 ** math.floor(math.log10(spread)))


@dataclass(frozen=True)
class ColumnProfile:
    """What a column of a dataset is and can do, computed once when the dataset is stored: ``kind`` (the
    import's: id, time, event, response, ae, numeric, categorical), ``uses`` (:func:`column_uses`), ``form``
    (:func:`default_form`), ``levels`` (categories in display order, when categorical use is possible)."""

    name: str
    kind: str
    uses: frozenset
    form: str | None
    levels: tuple = ()

    def to_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "uses": sorted(self.uses), "form": self.form,
                "levels": list(self.levels)}


def profile_columns(frame: pd.DataFrame, kinds: dict[str, str] | None = None,
                    endpoints: Iterable[Endpoint] = ()) -> dict[str, ColumnProfile]:
    """:class:`ColumnProfile` of every column of a canonical frame. ``kinds`` are the import report's column
    kinds; the columns of ``endpoints`` are time/event columns whatever their names."""
    kinds = dict(kinds or {})
    for e in endpoints:
        kinds[e.time], kinds[e.event] = "time", "event"
    paper = follows_paper(frame.columns)
    out = {}
    for col in frame.columns:
        series = frame[col]
        kind = kinds.get(col) or column_kind(str(col), series)
        if kind in NOT_VARIABLE_KINDS:
            out[str(col)] = ColumnProfile(str(col), kind, frozenset(), None)
            continue
        levels = distinct_levels(series)
        uses = column_uses(series, kind, levels)
        if "categorical" in uses and not _is_numeric(series):
            levels = ordered_levels(str(col), levels)
        shown = tuple(levels) if "categorical" in uses else ()
        out[str(col)] = ColumnProfile(str(col), kind, uses, default_form(str(col), series, uses, paper, levels), shown)
    return out
