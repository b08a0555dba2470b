"""The cohort data contract: canonical columns, header aliases, codings, units and reference levels.

One row per patient. Only a time/event pair is required for survival; every other column is optional, and
unknown extra columns are kept as user variables. See ``docs/architecture.md`` and the README's CSV table.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

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
