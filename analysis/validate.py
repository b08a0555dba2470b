"""The structured validation report of a cohort file: blocking errors and informative warnings.

Every issue names its column and the file lines involved (the header is line 1, the first patient line 2), so
a user can find the cell in a spreadsheet. Issues never quote cell values: patient data stay out of messages.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

MAX_LINES_LISTED = 10
#: the file line of the first patient row (the header is line 1)
FIRST_DATA_LINE = 2


def file_lines(rows) -> list[int]:
    """File line numbers (header = line 1, first patient = line 2) of rows given as a boolean mask over the
    rows in file order, or as 0-based row positions. The one place where a row becomes a line: every message
    about a cell names its file line, which is also the row number a spreadsheet shows."""
    rows = np.asarray(rows)
    positions = np.flatnonzero(rows) if rows.dtype == bool else rows.astype(np.int64).ravel()
    return (positions + FIRST_DATA_LINE).tolist()


def describe_lines(lines: list[int]) -> str:
    """``[2, 3, 9]`` -> ``"lines 2, 3, 9"``; long lists are cut with a count."""
    if not lines:
        return ""
    shown = ", ".join(str(n) for n in lines[:MAX_LINES_LISTED])
    more = len(lines) - MAX_LINES_LISTED
    word = "line" if len(lines) == 1 else "lines"
    return f"{word} {shown}" + (f" and {more} more" if more > 0 else "")


def lines_where(mask, index=None) -> str:
    """The file lines of the True rows of a frame's column as text (``"line 5"``, ``"lines 2, 3"``), never the
    values. The rows are the mask's positions; with ``index`` (the frame's index) and integer labels, the labels:
    a frame from :func:`analysis.io.load_cohort` is labelled by file row, and a subset of it keeps the labels."""
    mask = np.asarray(mask, dtype=bool)
    labels = None if index is None else np.asarray(index)
    if labels is not None and np.issubdtype(labels.dtype, np.integer):
        return describe_lines(file_lines(labels[mask]))
    return describe_lines(file_lines(mask))


@dataclass
class Issue:
    """One finding. ``severity`` is ``"error"`` (blocks analysis) or ``"warning"`` (informs)."""

    severity: str
    code: str
    message: str
    column: str | None = None
    lines: list[int] = field(default_factory=list)
    details: dict[str, Any] | None = None     # structured facts behind the message (e.g. the time-unit check's)

    def to_dict(self) -> dict:
        out = {"severity": self.severity, "code": self.code, "column": self.column,
               "lines": self.lines[:1000], "n_lines": len(self.lines), "message": self.message}
        if self.details:
            out["details"] = dict(self.details)
        return out


@dataclass
class ColumnInfo:
    """How one column of the file was understood."""

    name: str                 # canonical (or slugged user) name
    source: str               # header as written in the file
    kind: str                 # id | numeric | categorical | time | event | response | ae
    recognised: bool          # a canonical column (True) or kept as a user variable (False)
    n_missing: int = 0
    unit: str | None = None   # declared time unit that was converted to months

    def to_dict(self) -> dict:
        return {"source": self.source, "kind": self.kind, "recognised": self.recognised,
                "n_missing": self.n_missing, "unit": self.unit}


@dataclass
class ValidationReport:
    """What an import found: the columns and how each was read, the endpoints (time/event pairs, as
    :class:`analysis.schema.Endpoint`), and the issues."""

    n_rows: int = 0
    columns: dict[str, ColumnInfo] = field(default_factory=dict)
    issues: list[Issue] = field(default_factory=list)
    endpoints: list = field(default_factory=list)
    file_format: str = "csv"          # csv | workbook | spss (analysis.formats)
    sheet: str | None = None          # the workbook sheet that was read

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "error"]

    @property
    def warnings(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def error(self, code: str, message: str, column: str | None = None, lines: list[int] | None = None,
              details: dict | None = None) -> None:
        self.issues.append(Issue("error", code, _with_lines(message, lines), column, list(lines or []), details))

    def warn(self, code: str, message: str, column: str | None = None, lines: list[int] | None = None,
             details: dict | None = None) -> None:
        self.issues.append(Issue("warning", code, _with_lines(message, lines), column, list(lines or []), details))

    def to_dict(self) -> dict:
        out = {"ok": self.ok, "n_rows": self.n_rows, "format": self.file_format,
               "columns": {k: v.to_dict() for k, v in self.columns.items()},
               "endpoints": [e.to_dict() if hasattr(e, "to_dict") else dict(e) for e in self.endpoints],
               "errors": [i.to_dict() for i in self.errors],
               "warnings": [i.to_dict() for i in self.warnings]}
        if self.sheet is not None:
            out["sheet"] = self.sheet
        return out


def _with_lines(message: str, lines: list[int] | None) -> str:
    return f"{message} ({describe_lines(lines)})" if lines else message
