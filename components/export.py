"""Table export: CSV safe to open in a spreadsheet, and an HTML table ready to paste into a document."""
from __future__ import annotations

import html as html_lib

import pandas as pd

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def escape_formula(value):
    """Prefix a cell that a spreadsheet would run as a formula with ``'`` (OWASP CSV injection).

    Numbers are left alone (a negative number is a number, not a formula); only text is escaped.
    """
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def to_safe_csv(frame: pd.DataFrame) -> str:
    """CSV text of ``frame`` with formula-leading text cells (and headers) escaped."""
    safe = frame.copy()
    safe.columns = [escape_formula(str(c)) for c in safe.columns]
    for col in safe.columns:
        if safe[col].dtype == object:
            safe[col] = safe[col].map(escape_formula)
    return safe.to_csv(index=False, lineterminator="\r\n")  # RFC 4180; cells holding CR/LF get quoted


def to_html_table(frame: pd.DataFrame, caption: str | None = None) -> str:
    """A plain HTML table (escaped text) for pasting into Word or PowerPoint."""
    head = "".join(f"<th>{html_lib.escape(str(c))}</th>" for c in frame.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{'' if pd.isna(v) else html_lib.escape(str(v))}</td>" for v in row) + "</tr>"
        for row in frame.itertuples(index=False)
    )
    cap = f"<caption>{html_lib.escape(caption)}</caption>" if caption else ""
    return f"<table border=\"1\" cellspacing=\"0\" cellpadding=\"4\">{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
