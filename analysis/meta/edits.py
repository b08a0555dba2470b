"""A user's edits to a study table, the provenance that goes with them, and the rules an edited or uploaded table
must keep.

A study table as the page holds it is text: every cell a stripped string ("" for blank), lower-case column names
(:func:`text_frame`). Its provenance (the 17-study file's ``meta17_provenance.csv`` layout,
:data:`PROVENANCE_COLUMNS`) says where each value comes from. An accepted edit (:func:`edit_cell`) replaces the
provenance row of that cell with the user's source (confidence :data:`USER_CONFIDENCE`), so provenance tooltips,
the downloaded provenance file and the engine's "counts computed from a percentage" rule all see it; it is
recorded as ``{"row", "column", "old", "new", "source"}`` (``row`` 0-based). A table is usable only if the engine
can read every outcome of it (:func:`check_readable`).

Pure functions of DataFrames and plain values; where a table is kept is :mod:`services.store`'s business.
"""
from __future__ import annotations

import math

import pandas as pd

from analysis.errors import AnalysisError
from analysis.meta.dataset import StudyTable, data_rows, load_study_file, outcome_effects

USER_CONFIDENCE = "edited by user"
NO_SOURCE = "edited by user (no source given)"
MAX_STUDIES = 500
MAX_CELL_CHARS = 300
PROVENANCE_COLUMNS = ("study_id", "first_author", "year", "field", "value", "confidence", "source_url", "quote")


def text_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` as a study table holds it: lower-case stripped column names, every cell stripped text ("" for
    None/NaN)."""
    out = frame.copy().astype(object)
    out.columns = [str(c).strip().lower() for c in out.columns]
    return out.map(lambda v: "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v).strip())


def cell_text(value) -> str:
    """An edited value as cell text: integral floats without ``.0``, non-finite as blank."""
    if value is None or isinstance(value, bool):
        return "" if value is None else str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return ""
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value).strip()


def is_provenance(frame: pd.DataFrame) -> bool:
    """Whether an uploaded (text) frame is a provenance file rather than a study file."""
    return {"study_id", "field", "value", "quote"} <= set(frame.columns)


def provenance_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """An uploaded provenance file with every :data:`PROVENANCE_COLUMNS` column (missing ones blank)."""
    for c in PROVENANCE_COLUMNS:
        if c not in frame.columns:
            frame[c] = ""
    return frame


def uploaded_studies(frame: pd.DataFrame) -> pd.DataFrame:
    """An uploaded study file as a table: ``design_class`` goes when ``design`` is there (the engine recomputes
    it from ``design``)."""
    if "design_class" in frame.columns and "design" in frame.columns:
        return frame.drop(columns=["design_class"])
    return frame


def check_readable(frame: pd.DataFrame, provenance: pd.DataFrame | None) -> StudyTable:
    """The loaded table, if the engine can read every outcome of it; AnalysisError (column, data row) if not."""
    n = int(len(frame))
    if n > MAX_STUDIES:
        raise AnalysisError(f"the study file has {n} rows; the limit is {MAX_STUDIES}")
    table = load_study_file(frame, provenance=provenance)
    for outcome in (table.outcomes or [None]):
        outcome_effects(table, outcome, "RR", True)
    return table


def edit_cell(frame: pd.DataFrame, provenance: pd.DataFrame | None, row: int, column: str, value,
              source: str | None) -> tuple[pd.DataFrame, pd.DataFrame | None, dict] | None:
    """One cell of a text table set to ``value`` (``row`` 0-based): the new table, its new provenance and the
    edit's record; None when the cell already holds that value. AnalysisError for a column or row the table
    lacks, or a value longer than :data:`MAX_CELL_CHARS`. Nothing passed in is changed."""
    col = str(column).strip().lower()
    if col not in frame.columns:
        raise AnalysisError(f"column '{column}' is not in the study table")
    if not 0 <= int(row) < len(frame):
        raise AnalysisError(f"{data_rows([row])} is not in the study table")
    new = cell_text(value)
    if len(new) > MAX_CELL_CHARS:
        raise AnalysisError(f"column '{col}', {data_rows([row])}: a cell holds at most {MAX_CELL_CHARS} "
                            f"characters")
    old = frame.at[int(row), col]
    if new == old:
        return None
    frame = frame.copy()
    frame.at[int(row), col] = new
    source = (source or "").strip()[:MAX_CELL_CHARS] or NO_SOURCE
    prov = provenance
    if prov is not None and "study_id" in frame.columns and col not in ("study_id",):
        sid = frame.at[int(row), "study_id"]
        prov = prov[~((prov["study_id"] == sid) & (prov["field"] == col))].copy()
        if new:
            entry = {"study_id": sid, "first_author": frame.at[int(row), "first_author"]
                     if "first_author" in frame.columns else "",
                     "year": frame.at[int(row), "year"] if "year" in frame.columns else "", "field": col,
                     "value": new, "confidence": USER_CONFIDENCE, "source_url": source, "quote": ""}
            prov = pd.concat([prov, pd.DataFrame([entry])], ignore_index=True)
    return frame, prov, {"row": int(row), "column": col, "old": old, "new": new, "source": source}


def provenance_lookup(frame: pd.DataFrame, provenance: pd.DataFrame | None) -> dict[tuple[str, str], dict]:
    """The provenance row of each (study_id, column), for a table with a ``study_id`` column."""
    if provenance is None or "study_id" not in frame.columns:
        return {}
    return {(str(r["study_id"]), str(r["field"])): dict(r) for _, r in provenance.iterrows()}


def edits_frame(frame: pd.DataFrame, provenance: pd.DataFrame | None, edits: list[dict]) -> pd.DataFrame:
    """The user's edits (the provenance of edited values), oldest first."""
    labels = load_study_file(frame, provenance=provenance).studies
    return pd.DataFrame([{"#": e["row"] + 1, "Study": labels[e["row"]] if e["row"] < len(labels) else "",
                          "Column": e["column"], "Value in file": e["old"], "New value": e["new"],
                          "Source": e["source"]} for e in edits],
                        columns=["#", "Study", "Column", "Value in file", "New value", "Source"])
