"""Read a messy cohort CSV into the canonical frame, with a structured validation report.

Accepted: ``,`` ``;`` and tab delimiters; UTF-8 with or without BOM, and latin-1 (cp1252); decimal commas;
header aliases with units in brackets (``AST (U/L)`` -> ``ast``); events coded 0/1, 1/2 (R's Surv), yes/no,
true/false, dead/alive, progressed/censored; binary factors coded 0/1, yes/no, with/without, present/absent;
missing markers ``""``, ``NA``, ``N/A``, ``.``, ``-``; times in days, weeks, months or years (declared in the
header, e.g. ``OS (days)``, or for the whole file with ``time_unit=``) converted to months.

:func:`load_cohort` never raises for bad content and never mutates its input: everything it finds is in the
:class:`~analysis.validate.ValidationReport`; ``data`` is ``None`` when a blocking error was found.
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import schema
from analysis.validate import ColumnInfo, ValidationReport, describe_lines
from analysis.numeric import to_numeric

#: the file-level twin of analysis.numeric.HUGE_EXPONENT: pandas < 3's C parser segfaults while typing a column
#: that holds an exponent overflowing a C int (pandas GH#63650), so such a file is read as text throughout and
#: its cells go through analysis.numeric.to_numeric, which screens them
HUGE_EXPONENT_BYTES = re.compile(rb"[eE][+-]?\s*\d{5,}")

MISSING_MARKERS = ("", "na", "n/a", "nan", ".", "-", "--", "null", "none", "missing", "#n/a", "?")
#: the same markers as the C parser needs them (exact text)
NA_VALUES = sorted({v for m in MISSING_MARKERS for v in (m, m.upper(), m.title(), m.capitalize())})
DELIMITERS = (",", ";", "\t")
MISSING_WARN_SHARE = 0.2

EVENT_CODES = {
    "1": 1, "0": 0, "1.0": 1, "0.0": 0, "yes": 1, "no": 0, "y": 1, "n": 0, "true": 1, "false": 0,
    "t": 1, "f": 0, "dead": 1, "alive": 0, "died": 1, "deceased": 1, "death": 1, "progressed": 1,
    "progression": 1, "progressive": 1, "no progression": 0, "not progressed": 0, "censored": 0,
    "censor": 0, "event": 1, "no event": 0, "relapse": 1, "recurrence": 1,
}
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


@dataclass(frozen=True)
class Limits:
    """Size limits for untrusted uploads (the command line reads trusted files without limits).

    Defaults fit a 100k-patient cohort with a few hundred columns. ``from_env`` reads ``HAIC_MAX_UPLOAD_MB``,
    ``HAIC_MAX_ROWS``, ``HAIC_MAX_COLUMNS`` and ``HAIC_MAX_CELL_CHARS``.
    """

    max_bytes: int = 64 * 1024 * 1024
    max_rows: int = 200_000
    max_columns: int = 500
    max_cell_chars: int = 1000

    @classmethod
    def from_env(cls) -> "Limits":
        import os

        return cls(max_bytes=int(float(os.environ.get("HAIC_MAX_UPLOAD_MB", 64)) * 1024 * 1024),
                   max_rows=int(os.environ.get("HAIC_MAX_ROWS", 200_000)),
                   max_columns=int(os.environ.get("HAIC_MAX_COLUMNS", 500)),
                   max_cell_chars=int(os.environ.get("HAIC_MAX_CELL_CHARS", 1000)))


@dataclass
class LoadResult:
    """The canonical frame (``None`` when loading was blocked) and what was found on the way."""

    data: pd.DataFrame | None
    report: ValidationReport
    mapping: dict[str, str] = field(default_factory=dict)   # file header -> canonical column

    @property
    def ok(self) -> bool:
        return self.report.ok and self.data is not None


# --- reading the raw table -----------------------------------------------------------------------------

def detect_encoding(raw: bytes) -> str:
    """UTF-8 (BOM stripped) when valid, else cp1252, else latin-1 (which decodes any byte)."""
    for encoding in ("utf-8-sig", "cp1252", "latin-1"):
        try:
            raw.decode(encoding)
            return encoding
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes every byte")  # pragma: no cover


def sniff_delimiter(text: str) -> str:
    """The delimiter among ``,`` ``;`` tab that splits the first lines most consistently."""
    lines = [ln for ln in text.splitlines()[:50] if ln.strip()]
    if not lines:
        return ","
    try:
        return csv.Sniffer().sniff("\n".join(lines[:20]), delimiters="".join(DELIMITERS)).delimiter
    except csv.Error:
        pass
    header = lines[0]
    counts = {d: header.count(d) for d in DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _looks_binary(raw: bytes) -> bool:
    head = raw[:8192]
    return b"\x00" in head or head.startswith((b"PK\x03\x04", b"\x89PNG", b"%PDF", b"\xd0\xcf\x11\xe0",
                                               b"\x1f\x8b", b"GIF8", b"\xff\xd8\xff"))


def has_huge_exponent(raw: bytes) -> bool:
    """Whether :data:`HUGE_EXPONENT_BYTES` occurs in ``raw`` (the same answer as ``.search``, faster).

    The regular expression, run over a whole file, tries a match at every byte (~1 s for 180 MB). A match can
    only start at an ``e``/``E`` followed by a sign, white space or a digit: those places are found with
    ``bytes.translate`` + ``bytes.find`` and the expression is tried there only. If a file has very many of
    them the plain search takes over, so this is never much slower than the search itself.
    """
    if len(raw) < _SCREEN_DIRECT:
        return HUGE_EXPONENT_BYTES.search(raw) is not None
    for start in range(0, len(raw), _SCREEN_BLOCK):
        block = raw[start:start + _SCREEN_BLOCK + 1].translate(_EXPONENT_CLASSES)
        pos, tried = block.find(b"ed"), 0
        while 0 <= pos < _SCREEN_BLOCK:                 # a place at _SCREEN_BLOCK belongs to the next block
            if tried > _SCREEN_MAX_TRIES:
                return HUGE_EXPONENT_BYTES.search(raw, start + pos) is not None
            if HUGE_EXPONENT_BYTES.match(raw, start + pos):
                return True
            pos, tried = block.find(b"ed", pos + 1), tried + 1
    return False


_SCREEN_DIRECT = 1 << 16
_SCREEN_BLOCK = 1 << 24
_SCREEN_MAX_TRIES = 200_000
#: byte classes for has_huge_exponent: ``e`` for e/E, ``d`` for what may follow it in a match, ``x`` otherwise
_EXPONENT_CLASSES = bytes(ord("e") if chr(b) in "eE" else ord("d") if chr(b) in "0123456789+- \t\n\r\x0b\x0c"
                          else ord("x") for b in range(256))


def read_raw_table(source: str | Path | bytes, report: ValidationReport,
                   limits: Limits | None = None) -> pd.DataFrame | None:
    """Read the file as strings (header row kept verbatim). Problems go to ``report``; returns None then."""
    if isinstance(source, (str, Path)):
        try:
            raw = Path(source).read_bytes()
        except OSError as exc:
            report.error("unreadable", f"cannot read the file ({exc.strerror or type(exc).__name__})")
            return None
    else:
        raw = bytes(source)
    if limits and len(raw) > limits.max_bytes:
        report.error("too_large", f"the file is larger than the limit of {limits.max_bytes // (1024 * 1024)} MB")
        return None
    if not raw or raw.isspace():
        report.error("empty", "the file is empty")
        return None
    if _looks_binary(raw):
        report.error("not_a_table", "this is not a text table (CSV): it looks like a binary, archive, "
                                    "image or spreadsheet file; export the sheet as CSV")
        return None
    encoding = detect_encoding(raw)
    head = raw[:65536].decode(encoding, errors="ignore")
    delimiter = sniff_delimiter(head)
    # Let pandas' C parser type the columns (numbers stay numbers: 1M rows x 30 columns read in seconds);
    # columns it leaves as text are cleaned below (decimal commas, codes, bounds). Identifiers stay text.
    first = next((ln for ln in head.splitlines() if ln.strip()), "")
    headers = next(csv.reader([first], delimiter=delimiter), [])
    text_columns = {h: str for h in headers if schema.canonical_name(h)[0] == "patient_id"}
    # a cell with an absurd exponent would crash pandas' number parsing: read everything as text then
    dtype = str if has_huge_exponent(raw) else (text_columns or None)
    try:
        frame = pd.read_csv(io.BytesIO(raw), sep=delimiter, encoding=encoding, dtype=dtype,
                            keep_default_na=False, na_values=NA_VALUES, skip_blank_lines=True, header=0,
                            engine="c", low_memory=False)
    except pd.errors.ParserError as exc:
        match = re.search(r"line (\d+)", str(exc))
        where = f" at line {match.group(1)}" if match else ""
        report.error("not_a_table", f"the rows do not have a consistent number of columns{where}; "
                                    f"check the delimiter and quoting")
        return None
    except (pd.errors.EmptyDataError, ValueError, csv.Error):
        report.error("not_a_table", "could not read a table from this file")
        return None
    if frame.shape[1] == 0 or (frame.shape[1] == 1 and frame.shape[0] == 0 and not str(frame.columns[0]).strip()):
        report.error("not_a_table", "no columns found")
        return None
    if frame.shape[0] == 0:
        report.error("no_rows", "the file has a header but no patient rows")
        return None
    if limits:
        if frame.shape[0] > limits.max_rows:
            report.error("too_many_rows", f"the file has {frame.shape[0]} rows; the limit is {limits.max_rows}")
            return None
        if frame.shape[1] > limits.max_columns:
            report.error("too_many_columns", f"the file has {frame.shape[1]} columns; the limit is "
                                             f"{limits.max_columns}")
            return None
        lengths = [(i, frame.iloc[:, i].astype(str).str.len()) for i in range(frame.shape[1])
                   if frame.iloc[:, i].dtype == object]
        too_long = [(i, ln) for i, ln in lengths if (ln > limits.max_cell_chars).any()]
        long_headers = [str(c) for c in frame.columns if len(str(c)) > limits.max_cell_chars]
        if too_long or long_headers:
            where = ""
            if too_long:
                i, ln = too_long[0]
                where = f" (column {i + 1}, {describe_lines(_lines(ln > limits.max_cell_chars))})"
            report.error("cell_too_long", f"some cells are longer than {limits.max_cell_chars} characters{where}")
            return None
    return frame


# --- cell parsing --------------------------------------------------------------------------------------

def via_uniques(series: pd.Series, func) -> pd.Series:
    """``func`` (a Series -> Series text transform) applied to the distinct values only, then spread back.

    Coded columns hold a handful of distinct values in 100k+ rows, so this turns per-cell string work into
    per-level work. Missing cells are passed to ``func`` as the text ``"nan"``.
    """
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    levels = pd.Series(list(uniques) + [np.nan], dtype=object)
    mapped = func(levels.astype(str).where(levels.notna(), "nan")).to_numpy(dtype=object)
    return pd.Series(mapped[codes], index=series.index)          # code -1 (missing) takes the last entry


def _norm(series: pd.Series) -> pd.Series:
    return via_uniques(series, lambda s: s.str.strip().str.lower())


def _missing_mask(series: pd.Series) -> pd.Series:
    return series.isna() | _norm(series).isin(MISSING_MARKERS)


def parse_numbers(series: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Parse strings to floats.

    Returns (values, missing mask, bad mask). Decimal commas are accepted: within a column, when any value
    holds both ``.`` and ``,`` the commas are thousands separators, otherwise a comma is the decimal mark.
    Censored lab values such as ``<0.5`` or ``>121000`` are read as the bound (a warning says so elsewhere).
    """
    if pd.api.types.is_numeric_dtype(series):
        values = to_numeric(series, errors="coerce").astype(float)
        missing = values.isna()
        bad = pd.Series(~np.isfinite(values.to_numpy()) & ~missing.to_numpy(), index=series.index)
        return values.where(~bad), missing, bad
    # work on the distinct values (a coded or repeated column has few), then spread back to the cells
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    text = pd.Series(uniques, dtype=object).astype(str).str.strip()
    u_missing = text.str.lower().isin(MISSING_MARKERS).to_numpy()
    present = text[~u_missing]
    if present.str.contains(",", regex=False).any():
        thousands = (present.str.contains(",", regex=False) & present.str.contains(".", regex=False)).any()
        present = present.str.replace(",", "" if thousands else ".", regex=False)
    present = present.str.replace(r"^[<>≤≥]=?\s*", "", regex=True).str.replace(" ", "", regex=False)
    u_values = np.full(len(text), np.nan)
    u_values[~u_missing] = to_numeric(present, errors="coerce").astype(float).to_numpy()
    u_values[~np.isfinite(u_values)] = np.nan
    u_bad = ~u_missing & np.isnan(u_values)
    na = codes < 0
    safe = np.where(na, 0, codes)
    values = pd.Series(np.where(na, np.nan, u_values[safe] if len(text) else np.nan), index=series.index)
    missing = pd.Series(na | (u_missing[safe] if len(text) else False), index=series.index)
    bad = pd.Series(~na & (u_bad[safe] if len(text) else False), index=series.index)
    return values, missing, bad


def _bounded_mask(series: pd.Series) -> pd.Series:
    return series.astype(str).str.strip().str.match(r"^[<>≤≥]")


def _map_codes(series: pd.Series, codes: dict) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Map strings through ``codes`` (case-insensitive). Returns (mapped, missing, unmapped)."""
    key = _norm(series)
    missing = series.isna() | key.isin(MISSING_MARKERS)
    mapped = key.map(codes)
    unmapped = (~missing) & mapped.isna()
    return mapped, missing, unmapped


def _lines(mask: pd.Series) -> list[int]:
    """File line numbers (header = line 1) of the True rows."""
    return (np.flatnonzero(np.asarray(mask)) + 2).tolist()


def _child_pugh(series: pd.Series) -> pd.Series:
    return via_uniques(series, _child_pugh_levels)


def _child_pugh_levels(series: pd.Series) -> pd.Series:
    key = series.astype(str).str.strip().str.upper().str.replace(r"^(CHILD[- ]?PUGH|CLASS|GRADE)\s*", "",
                                                                  regex=True)
    letter = key.str.extract(r"^([ABC])\s*\d*$")[0]
    score = to_numeric(key, errors="coerce")
    from_score = pd.Series(np.select([score.between(5, 6), score.between(7, 9), score.between(10, 15)],
                                     ["A", "B", "C"], default=""), index=series.index, dtype=object)
    from_score = from_score.where(from_score != "")
    return letter.fillna(from_score)


def _cnlc(series: pd.Series) -> pd.Series:
    return via_uniques(series, _cnlc_levels)


def _cnlc_levels(series: pd.Series) -> pd.Series:
    key = series.astype(str).str.strip().str.upper().str.replace(r"^CNLC\s*", "", regex=True)
    key = key.str.replace(r"\s+", "", regex=True)
    return key.where(key.isin(schema.LEVEL_ORDER["cnlc_stage"]))


def _response(series: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    return _map_codes(series, RESPONSE_WORDS)


# --- the canonical frame -------------------------------------------------------------------------------

def _resolve_headers(headers: list[str], overrides: dict[str, str], report: ValidationReport):
    """Canonical names for the file's headers; duplicates keep the first and suffix the rest."""
    names, units, seen = [], [], {}
    for i, header in enumerate(headers):
        name, unit = schema.canonical_name(header)
        if header in overrides and overrides[header]:
            name, unit2 = schema.canonical_name(overrides[header])
            unit = unit or unit2 if name in schema.TIME_COLUMNS else None
        if not name:
            name = f"column_{i + 1}"
        if name in seen:
            new = f"{name}_{seen[name] + 1}"
            report.warn("duplicate_column", f"columns {headers[names.index(name)]!r} and {header!r} both mean "
                                            f"{name!r}; the first is used and the second is kept as {new!r}",
                        column=name)
            seen[name] += 1
            name = new
        else:
            seen[name] = 1
        names.append(name)
        units.append(unit)
    return names, units


def load_cohort(source: str | Path | bytes | pd.DataFrame, *, time_unit: str | None = None,
                mapping: dict[str, str] | None = None, limits: Limits | None = None) -> LoadResult:
    """Read and clean a cohort table.

    ``source`` is a path, the file's bytes, or a DataFrame (copied, never changed). ``time_unit`` declares the
    unit of the time columns for the whole file (``months``, ``days``, ``weeks``, ``years``) where a header
    does not say; ``mapping`` maps file headers to canonical names for headers the importer did not
    recognise (the dashboard's column-mapping step); ``limits`` bounds untrusted uploads.
    """
    report = ValidationReport()
    if isinstance(source, pd.DataFrame):
        raw = source.copy()
        raw.columns = [str(c) for c in raw.columns]
    else:
        raw = read_raw_table(source, report, limits)
        if raw is None:
            return LoadResult(None, report)
    if time_unit is not None and time_unit not in schema.TIME_UNIT_FACTORS:
        report.error("bad_parameter", f"unknown time unit {time_unit!r}; use one of "
                                      f"{', '.join(schema.TIME_UNIT_FACTORS)}")
        return LoadResult(None, report)
    headers = [str(c) for c in raw.columns]
    names, units = _resolve_headers(headers, mapping or {}, report)
    report.n_rows = int(raw.shape[0])
    out: dict[str, pd.Series] = {}
    for header, name, unit, position in zip(headers, names, units, range(len(headers))):
        col = raw.iloc[:, position].reset_index(drop=True)
        info = _clean_column(col, header, name, unit or time_unit, time_unit, out, report)
        report.columns[name] = info
    frame = pd.DataFrame(out)
    _check_cohort(frame, report)
    result_mapping = dict(zip(headers, names))
    return LoadResult(frame if report.ok else None, report, result_mapping)


def _clean_column(col: pd.Series, header: str, name: str, unit: str | None, file_unit: str | None,
                  out: dict, report: ValidationReport) -> ColumnInfo:
    recognised = (name in schema.CANONICAL_COLUMNS or schema.is_ae_column(name))
    label = f"{header!r}" if header == name else f"{header!r} ({name})"
    if name == "patient_id":
        missing = _missing_mask(col)
        out[name] = col.astype(str).str.strip().where(~missing)
        return ColumnInfo(name, header, "id", True, int(missing.sum()))

    if name in schema.TIME_COLUMNS:
        values, missing, bad = parse_numbers(col)
        if bad.any():
            report.error("time_not_numeric", f"time column {label} has values that are not numbers",
                         name, _lines(bad))
        negative = values < 0
        if negative.any():
            report.error("time_negative", f"time column {label} has negative times", name, _lines(negative))
        declared = unit
        factor = schema.TIME_UNIT_FACTORS[declared] if declared else 1.0
        out[name] = values * factor
        if declared is None and values.max(skipna=True) > 240:
            report.warn("time_unit", f"time column {label} was read as months but its largest value exceeds "
                                     f"240; if it is in days, declare the unit (e.g. header 'OS (days)')", name)
        if missing.any():
            report.warn("time_missing", f"time column {label} is missing for some patients; they are left "
                                        f"out of analyses of that endpoint", name, _lines(missing))
        return ColumnInfo(name, header, "time", True, int(missing.sum()), declared or "months")

    if name in schema.EVENT_COLUMNS:
        mapped, missing, unmapped = _map_codes(col, EVENT_CODES)
        key = _norm(col)
        present = key[~missing]
        if len(present) and present.isin({"1", "2", "1.0", "2.0"}).all() and present.isin({"2", "2.0"}).any():
            mapped = key.map({"1": 0, "1.0": 0, "2": 1, "2.0": 1})
            unmapped = (~missing) & mapped.isna()
            report.warn("event_coding_12", f"event column {label} is coded 1/2; read as R's Surv convention "
                                           f"(1 = censored, 2 = event)", name)
        if unmapped.any():
            report.error("event_unmapped", f"event column {label} has values that are not an event code "
                                           f"(use 1/0, yes/no, dead/alive, progressed/censored)",
                         name, _lines(unmapped))
        out[name] = to_numeric(mapped, errors="coerce").astype("Int64").astype(float)
        if missing.any():
            report.warn("event_missing", f"event column {label} is missing for some patients; they are left "
                                         f"out of analyses of that endpoint", name, _lines(missing))
        return ColumnInfo(name, header, "event", True, int(missing.sum()))

    if name in schema.RESPONSE_COLUMNS:
        mapped, missing, unmapped = _response(col)
        if unmapped.any():
            report.warn("response_unknown", f"response column {label} has codes other than CR, PR, SD, PD, NE; "
                                            f"those patients are treated as missing", name, _lines(unmapped))
        out[name] = mapped
        return ColumnInfo(name, header, "response", True, int((missing | unmapped).sum()))

    if schema.is_ae_column(name):
        values, missing, bad = parse_numbers(col)
        invalid = bad | ((~values.isna()) & ~values.isin([0, 1, 2, 3, 4, 5]))
        if invalid.any():
            report.warn("ae_grade", f"adverse-event column {label} has values that are not CTCAE grades 0-5; "
                                    f"they are treated as missing", name, _lines(invalid))
            values = values.where(~invalid)
        out[name] = values
        return ColumnInfo(name, header, "ae", True, int(values.isna().sum()))

    if name in schema.NUMERIC_COLUMNS:
        values, missing, bad = parse_numbers(col)
        if bad.any():
            report.warn("not_numeric", f"column {label} should be numeric; values that are not numbers are "
                                       f"treated as missing", name, _lines(bad))
        bounded = (~missing) & _bounded_mask(col) if col.dtype == object else pd.Series(False, index=col.index)
        if bounded.any():
            report.warn("bounded_value", f"column {label} has values given as a bound ('<' or '>'); the bound "
                                         f"itself is used", name, _lines(bounded))
        low, high = schema.NUMERIC_COLUMNS[name]["range"]
        implausible = (values < low) | (values > high)
        if implausible.any():
            unit_text = schema.NUMERIC_COLUMNS[name]["unit"]
            report.warn("implausible", f"column {label} has values outside the plausible range {low:g}-{high:g}"
                                       f"{' ' + unit_text if unit_text else ''}; check the units",
                        name, _lines(implausible))
        out[name] = values
        return ColumnInfo(name, header, "numeric", True, int(values.isna().sum()))

    if name in schema.CATEGORICAL_COLUMNS:
        codes = {"sex": SEX_CODES, "etiology": ETIOLOGY_CODES}.get(name)
        missing = _missing_mask(col)
        if name in schema.BINARY_FACTORS:
            mapped, missing, unmapped = _map_codes(col, BINARY_CODES)
            if unmapped.any():
                report.warn("factor_unknown", f"column {label} is a yes/no factor but has other values; "
                                              f"they are treated as missing", name, _lines(unmapped))
        elif name == "child_pugh":
            mapped = _child_pugh(col)
            unmapped = (~missing) & mapped.isna()
            if unmapped.any():
                report.warn("factor_unknown", f"column {label} should be Child-Pugh class A/B/C or score 5-15; "
                                              f"other values are treated as missing", name, _lines(unmapped))
        elif name == "cnlc_stage":
            mapped = _cnlc(col)
            unmapped = (~missing) & mapped.isna()
            if unmapped.any():
                report.warn("factor_unknown", f"column {label} has values that are not CNLC stages "
                                              f"(IA-IV); they are treated as missing", name, _lines(unmapped))
        else:
            stripped = via_uniques(col, lambda s: s.str.strip())
            mapped = _norm(col).map(codes).fillna(stripped) if codes else stripped
            mapped = mapped.where(~missing)
            if name == "sex":
                unknown = (~missing) & ~mapped.isin(["Male", "Female"])
                if unknown.any():
                    report.warn("factor_unknown", f"column {label} has values other than male/female",
                                name, _lines(unknown))
        out[name] = mapped.where(~missing)
        return ColumnInfo(name, header, "categorical", True, int(out[name].isna().sum()))

    # a user variable: numeric when every present value parses as a number, categorical otherwise
    values, missing, bad = parse_numbers(col)
    if not bad.any() and (~missing).any():
        out[name] = values
        return ColumnInfo(name, header, "numeric", recognised, int(missing.sum()))
    out[name] = via_uniques(col, lambda s: s.str.strip()).where(~missing)
    return ColumnInfo(name, header, "categorical", recognised, int(missing.sum()))


def _check_cohort(frame: pd.DataFrame, report: ValidationReport) -> None:
    """Cross-column checks: a usable time/event pair, duplicated ids, missing shares."""
    usable = []
    for endpoint, (tcol, ecol) in schema.ENDPOINTS.items():
        if tcol in frame and ecol in frame:
            complete = frame[tcol].notna() & frame[ecol].notna()
            if complete.any():
                usable.append(endpoint)
        elif tcol in frame:
            report.warn("event_column_missing", f"{tcol} has no matching event column {ecol!r}; "
                                                f"{endpoint.upper()} cannot be analysed", tcol)
        elif ecol in frame:
            report.warn("time_column_missing", f"{ecol} has no matching time column {tcol!r}; "
                                               f"{endpoint.upper()} cannot be analysed", ecol)
    if not usable and not any(i.code.startswith(("time_", "event_")) and i.severity == "error"
                              for i in report.issues):
        report.error("no_survival_pair", "no usable time/event pair: the file needs pfs_months + pfs_event "
                                         "or os_months + os_event (or recognisable aliases such as "
                                         "'OS (months)' and 'death'); map the columns if they have other names")
    if {"pfs_months", "os_months"} <= set(frame):
        longer = frame["pfs_months"] > frame["os_months"] + 1e-9
        if longer.any():
            report.warn("pfs_after_os", "PFS time is longer than OS time for some patients", "pfs_months",
                        _lines(longer))
    if "patient_id" in frame:
        dup = frame["patient_id"].notna() & frame["patient_id"].duplicated(keep=False)
        if dup.any():
            report.warn("duplicate_id", "patient_id is duplicated", "patient_id", _lines(dup))
    n = len(frame)
    for name, info in report.columns.items():
        if n and info.kind not in ("time", "event") and info.n_missing / n > MISSING_WARN_SHARE:
            report.warn("missing_share", f"column {name!r} is missing for {info.n_missing} of {n} patients "
                                         f"({100 * info.n_missing / n:.0f}%)", name)
