"""The structured validation report of a cohort file: blocking errors and informative warnings.

Every issue names its column and the file lines involved (the header is line 1, the first patient line 2), so
a user can find the cell in a spreadsheet. Issues never quote cell values: patient data stay out of messages.
"""
from __future__ import annotations

from dataclasses import dataclass, field

MAX_LINES_LISTED = 10


def describe_lines(lines: list[int]) -> str:
    """``[2, 3, 9]`` -> ``"lines 2, 3, 9"``; long lists are cut with a count."""
    if not lines:
        return ""
    shown = ", ".join(str(n) for n in lines[:MAX_LINES_LISTED])
    more = len(lines) - MAX_LINES_LISTED
    word = "line" if len(lines) == 1 else "lines"
    return f"{word} {shown}" + (f" and {more} more" if more > 0 else "")


@dataclass
class Issue:
    """One finding. ``severity`` is ``"error"`` (blocks analysis) or ``"warning"`` (informs)."""

    severity: str
    code: str
    message: str
    column: str | None = None
    lines: list[int] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"severity": self.severity, "code": self.code, "column": self.column,
                "lines": self.lines[:1000], "n_lines": len(self.lines), "message": self.message}


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
    n_rows: int = 0
    columns: dict[str, ColumnInfo] = field(default_factory=dict)
    issues: list[Issue] = field(default_factory=list)

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "error"]

    @property
    def warnings(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def error(self, code: str, message: str, column: str | None = None, lines: list[int] | None = None) -> None:
        self.issues.append(Issue("error", code, _with_lines(message, lines), column, list(lines or [])))

    def warn(self, code: str, message: str, column: str | None = None, lines: list[int] | None = None) -> None:
        self.issues.append(Issue("warning", code, _with_lines(message, lines), column, list(lines or [])))

    def to_dict(self) -> dict:
        return {"ok": self.ok, "n_rows": self.n_rows,
                "columns": {k: v.to_dict() for k, v in self.columns.items()},
                "errors": [i.to_dict() for i in self.errors],
                "warnings": [i.to_dict() for i in self.warnings]}


def _with_lines(message: str, lines: list[int] | None) -> str:
    return f"{message} ({describe_lines(lines)})" if lines else message
