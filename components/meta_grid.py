"""The meta-analysis page's study grid (dash-ag-grid) and the study table's downloads.

:func:`grid_rows` lays out a study table (``services.store.StudyData``: text cells, provenance, the user's
edits) as the editable grid: rowData with provenance tooltips, and columnDefs with the tints of edited and
low-confidence cells and one number format per column. :func:`studies_csv` and :func:`provenance_csv` are the
table and its provenance as the page downloads them (formula-safe CSV; uploaded again, the same table).
What an edit does and where provenance comes from is :mod:`analysis.meta.edits`.
"""
from __future__ import annotations

import pandas as pd

from analysis.meta.dataset import column_label
from analysis.meta.edits import PROVENANCE_COLUMNS, USER_CONFIDENCE, provenance_lookup
from analysis.numeric import is_number
from components.export import to_safe_csv


def _tooltip(prov: dict | None, edit: dict | None, value: str, has_provenance: bool) -> str | None:
    parts = []
    if edit is not None:
        was = edit["first_old"] or "blank"
        parts.append(f"EDITED BY YOU — source: {edit['source']}; value in the file: {was}")
    if prov is not None and prov.get("confidence") != USER_CONFIDENCE:
        conf = prov.get("confidence", "")
        src = prov.get("source_url", "")
        quote = prov.get("quote", "")
        if conf == "listing":
            parts.append("confidence: listing (from Table 1 of Lu et al. 2025 only)")
        else:
            parts.append(f"confidence: {conf}" + (f" · source: {src}" if src else "")
                         + (f" · quote: “{quote}”" if quote else ""))
    elif prov is None and edit is None and has_provenance and value == "":
        parts.append("blank: not found in any available source")
    return "  ||  ".join(parts) if parts else None


_FIXED_JS = ("(params.value === '' || params.value == null || isNaN(Number(params.value))) ? params.value : "
             "Number(params.value).toFixed({places})")


def number_places(values) -> int | None:
    """Decimal places to show a column of number cells with one format: the most any cell has; None when a cell
    is not a plain decimal number (text, '<0.001', an exponent) or no cell has decimals."""
    places = 0
    seen = False
    for v in values:
        text = str(v).strip()
        if text == "":
            continue
        if not is_number(text) or "e" in text.lower():
            return None
        seen = True
        if "." in text:
            places = max(places, len(text.split(".", 1)[1]))
    return places if seen and places else None


def grid_rows(data, exclude: set[int]) -> tuple[list[dict], list[dict]]:
    """rowData and columnDefs of the editable grid: an 'in pool' checkbox, the row number, every column of the
    table (editable), provenance tooltips; edited cells and low-confidence cells are tinted. ``data``: the
    session's study table (``services.store.StudyData``: ``frame``, ``provenance``, ``edits``)."""
    prov = provenance_lookup(data.frame, data.provenance)
    has_prov = bool(prov)
    edits: dict[tuple[int, str], dict] = {}
    for e in data.edits:
        key = (e["row"], e["column"])
        first = edits.get(key, {}).get("first_old", e["old"])
        edits[key] = {**e, "first_old": first}
    cols = list(data.frame.columns)
    rows = []
    for i in range(data.n):
        rec = {"__row": i, "__n": i + 1, "__include": i not in exclude}
        sid = str(data.frame.iloc[i]["study_id"]) if "study_id" in cols else None
        for c in cols:
            v = data.frame.iat[i, cols.index(c)]
            rec[c] = v
            p = prov.get((sid, c)) if sid is not None else None
            e = edits.get((i, c))
            tip = _tooltip(p, e, v, has_prov)
            if tip:
                rec[f"__tip_{c}"] = tip
            if e is not None:
                rec[f"__edited_{c}"] = True
            if p is not None and p.get("confidence") in ("low",):
                rec[f"__low_{c}"] = True
        rows.append(rec)
    defs = [
        {"field": "__include", "headerName": "In pool", "cellDataType": "boolean", "editable": True,
         "width": 82, "pinned": "left", "headerTooltip": "Untick to leave the study out of the pool"},
        {"field": "__n", "headerName": "#", "editable": False, "width": 58, "pinned": "left",
         "headerTooltip": "Data row (1 = first row under the header); error messages use this number"},
    ]
    label_cols = {"first_author", "study"}
    for c in cols:
        d = {"field": c, "headerName": column_label(c), "editable": c != "study_id", "cellDataType": "text",
             "tooltipField": f"__tip_{c}", "headerTooltip": c,
             "cellStyle": {"styleConditions": [
                 {"condition": f"params.data.__edited_{c} === true",
                  "style": {"backgroundColor": "#fff3bf", "fontWeight": "600"}},
                 {"condition": f"params.data.__low_{c} === true", "style": {"backgroundColor": "#fde8d8"}},
             ]}}
        places = number_places(data.frame[c]) if c not in ("study_id", "year") else None
        if places:   # one number format per column (0.60 and 0.384 -> 0.600 and 0.384); the editor keeps the text
            d["valueFormatter"] = {"function": _FIXED_JS.format(places=places)}
        if c in label_cols:
            d["pinned"] = "left"
            d["width"] = 120
        rows_len = max((len(str(r.get(c, ""))) for r in rows), default=0)
        if "width" not in d:
            d["width"] = int(min(220, max(84, 9 * max(len(column_label(c)) * 0.8, rows_len) + 24)))
        defs.append(d)
    return rows, defs


def export_frame(data) -> pd.DataFrame:
    """The table as it would be uploaded again: blanks for missing values; number cells typed as strings of a
    non-object dtype so the CSV export keeps e.g. ``-0.5`` as a number (only text is formula-escaped)."""
    out = data.frame.copy()
    for col in out.columns:
        vals = [v for v in out[col] if v != ""]
        numeric = bool(vals) and all(is_number(v) for v in vals)
        if numeric:
            out[col] = out[col].astype("string")
    return out


def studies_csv(data) -> str:
    return to_safe_csv(export_frame(data))


def provenance_csv(data) -> str | None:
    if data.provenance is None:
        return None
    return to_safe_csv(data.provenance[[c for c in PROVENANCE_COLUMNS if c in data.provenance.columns]])
