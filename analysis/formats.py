"""Spreadsheet and statistics-package exports, read into the same text table as a CSV.

Clinicians export cohorts from Excel and SPSS as often as CSV. A workbook (``.xlsx``, also ``.xls``, ``.xlsb``,
``.ods``) is read with calamine (``python-calamine``, the Rust reader pandas offers as ``engine="calamine"``:
about six times faster than openpyxl on a 10,000-row sheet) and an SPSS file (``.sav``/``.zsav``) with
pyreadstat, value labels applied (a 1 = "Male" coding arrives as ``Male``) and user-defined missing values read
as missing. Either is then written out as CSV text, one line per sheet row, so that
:func:`analysis.io.load_cohort` reads it with exactly the rules, checks, limits and messages of a CSV file:
the header is the first row with a value (line 1) and "line N" in a message is row N of the sheet when the
header is in row 1.

Cells are written as a person would type them: whole numbers without a decimal point (Excel stores ``1`` as
``1.0``), other numbers at full precision, dates as ISO dates, booleans as true/false.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import math
import os
import tempfile
import zipfile

#: what :func:`sniff_format` can answer
CSV, WORKBOOK, SPSS = "csv", "workbook", "spss"
#: file-name endings the upload box accepts, with the format each means
EXTENSIONS = {".csv": CSV, ".tsv": CSV, ".txt": CSV, ".xlsx": WORKBOOK, ".xlsm": WORKBOOK, ".xls": WORKBOOK,
              ".xlsb": WORKBOOK, ".ods": WORKBOOK, ".sav": SPSS, ".zsav": SPSS}
#: a workbook whose parts would unpack to more than this many bytes is refused before it is read (zip bombs)
MAX_UNPACKED_RATIO = 40


class FormatError(ValueError):
    """The file is a workbook or SPSS file that cannot be read; the message says why (never a cell value)."""


def sniff_format(raw: bytes) -> str:
    """The format of a file from its first bytes: a workbook (a zip with a workbook part, or an OLE2 ``.xls``),
    an SPSS system file (``$FL2``/``$FL3``), else CSV text."""
    head = raw[:8]
    if head.startswith((b"$FL2", b"$FL3")):
        return SPSS
    if head.startswith(b"\xd0\xcf\x11\xe0"):                       # OLE2 compound file: .xls
        return WORKBOOK
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(raw)) as zf:
                names = set(zf.namelist())
        except (zipfile.BadZipFile, ValueError, OSError):
            return CSV
        if {"xl/workbook.xml", "xl/workbook.bin", "content.xml"} & names:
            return WORKBOOK
    return CSV


def sheet_names(raw: bytes) -> list[str]:
    """The names of a workbook's sheets in their order ([] when it cannot be opened)."""
    try:
        return list(_open_workbook(raw).sheet_names)
    except FormatError:
        return []


def _open_workbook(raw: bytes):
    from python_calamine import CalamineWorkbook

    if raw.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(raw)) as zf:
                unpacked = sum(i.file_size for i in zf.infolist())
        except (zipfile.BadZipFile, ValueError, OSError):
            raise FormatError("this workbook is damaged (its zip container cannot be opened)") from None
        if unpacked > MAX_UNPACKED_RATIO * max(len(raw), 1 << 20):
            raise FormatError("this workbook unpacks to far more data than its size suggests; save it again "
                              "or export the sheet as CSV")
    try:
        return CalamineWorkbook.from_filelike(io.BytesIO(raw))
    except Exception as exc:                                       # noqa: BLE001 - the reader's own errors
        raise FormatError(f"this workbook cannot be read ({type(exc).__name__}); save it again as .xlsx or "
                          f"export the sheet as CSV") from None


def workbook_rows(raw: bytes, sheet: str | None = None, max_rows: int | None = None,
                  max_columns: int | None = None) -> tuple[str, list[list]]:
    """(sheet name, rows of cell values) of a workbook sheet: ``sheet`` by name, default the first one.

    The rows start at the sheet's row 1 (``A1``); trailing empty rows and columns are dropped. Limits are
    checked on the sheet's dimensions before its cells are read.
    """
    book = _open_workbook(raw)
    names = list(book.sheet_names)
    if not names:
        raise FormatError("this workbook has no sheets")
    if sheet is None or sheet == "":
        name = names[0]
    elif sheet in names:
        name = sheet
    else:
        raise FormatError(f"the workbook has no sheet named {sheet!r} (sheets: {', '.join(names)})")
    try:
        data = book.get_sheet_by_name(name)
        height, width = int(data.height or 0), int(data.width or 0)
        if max_rows is not None and height - 1 > max_rows:
            raise FormatError(f"sheet {name!r} has {height - 1} rows; the limit is {max_rows}")
        if max_columns is not None and width > max_columns:
            raise FormatError(f"sheet {name!r} has {width} columns; the limit is {max_columns}")
        rows = data.to_python(skip_empty_area=False)
    except FormatError:
        raise
    except Exception as exc:                                       # noqa: BLE001
        raise FormatError(f"sheet {name!r} cannot be read ({type(exc).__name__})") from None
    while rows and all(_blank(v) for v in rows[-1]):
        rows.pop()
    if rows:
        width = max((i + 1 for r in rows for i, v in enumerate(r) if not _blank(v)), default=0)
        rows = [list(r[:width]) + [None] * (width - len(r)) for r in rows]
    return name, rows


def spss_rows(raw: bytes, max_rows: int | None = None, max_columns: int | None = None) -> list[list]:
    """Rows (header first) of an SPSS ``.sav``/``.zsav`` file, value labels applied, user missing values
    missing. Limits are checked on the file's metadata before its cases are read."""
    import pyreadstat

    fd, path = tempfile.mkstemp(suffix=".sav")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(raw)
        try:
            _frame, meta = pyreadstat.read_sav(path, metadataonly=True)
        except Exception as exc:                                   # noqa: BLE001 - the reader's own errors
            raise FormatError(f"this SPSS file cannot be read ({type(exc).__name__}); save it again from SPSS "
                              f"or export it as CSV") from None
        n_rows = getattr(meta, "number_rows", None)
        n_cols = len(meta.column_names)
        if max_rows is not None and n_rows is not None and n_rows > max_rows:
            raise FormatError(f"the SPSS file has {n_rows} cases; the limit is {max_rows}")
        if max_columns is not None and n_cols > max_columns:
            raise FormatError(f"the SPSS file has {n_cols} variables; the limit is {max_columns}")
        try:
            frame, _meta = pyreadstat.read_sav(path, apply_value_formats=True, formats_as_category=False,
                                               dates_as_pandas_datetime=False)
        except Exception as exc:                                   # noqa: BLE001
            raise FormatError(f"this SPSS file cannot be read ({type(exc).__name__})") from None
    finally:
        try:
            os.remove(path)
        except OSError:
            pass
    header = [str(c) for c in frame.columns]
    return [header] + frame.astype(object).where(frame.notna(), None).values.tolist()


def _blank(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def cell_text(value) -> str:
    """A cell as CSV text, written as a person would type it (see the module docstring)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time(0) else value.isoformat(sep=" ")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return repr(value.total_seconds() / 86400)
    if hasattr(value, "item") and not isinstance(value, str):    # numpy scalars
        return cell_text(value.item())
    return str(value)


def rows_to_csv(rows: list[list]) -> bytes:
    """UTF-8 CSV bytes of rows of cell values (:func:`cell_text` for each cell)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row in rows:
        writer.writerow([cell_text(v) for v in row])
    return out.getvalue().encode("utf-8")


def to_csv(raw: bytes, fmt: str, sheet: str | None = None, max_rows: int | None = None,
           max_columns: int | None = None) -> tuple[bytes, str | None]:
    """(CSV bytes, sheet read or None) of a workbook or SPSS file; :class:`FormatError` when it cannot be read."""
    if fmt == WORKBOOK:
        name, rows = workbook_rows(raw, sheet, max_rows, max_columns)
        while rows and all(_blank(v) for v in rows[0]):       # the header is the first row with a value
            rows.pop(0)
        if not rows:
            raise FormatError(f"sheet {name!r} is empty")
        return rows_to_csv(rows), name
    if fmt == SPSS:
        return rows_to_csv(spss_rows(raw, max_rows, max_columns)), None
    raise FormatError("not a workbook or SPSS file")
