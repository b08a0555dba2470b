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
import itertools
import os
import re
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import formats, schema
from analysis.numeric import is_number, to_numeric
from analysis.schema import (BINARY_CODES, ETIOLOGY_CODES, EVENT_CODES, MISSING_MARKERS, RESPONSE_WORDS, SEX_CODES,
                             SURV_12_CODES, Endpoint)
from analysis.validate import ColumnInfo, ValidationReport, describe_lines, file_lines

#: the file-level twin of analysis.numeric.HUGE_EXPONENT: pandas < 3's C parser segfaults while typing a column
#: that holds an exponent overflowing a C int (pandas GH#63650), so such a file is read as text throughout and
#: its cells go through analysis.numeric.to_numeric, which screens them
HUGE_EXPONENT_BYTES = re.compile(rb"[eE][+-]?\s*\d{5,}")

#: the missing markers as the C parser needs them (exact text)
NA_VALUES = sorted({v for m in MISSING_MARKERS for v in (m, m.upper(), m.title(), m.capitalize())})
_MARKER_SET = frozenset(MISSING_MARKERS)
_MARKER_LEN = max(map(len, MISSING_MARKERS))
DELIMITERS = (",", ";", "\t")
MISSING_WARN_SHARE = 0.2


@dataclass(frozen=True)
class Limits:
    """Size limits for untrusted uploads (the command line reads trusted files without limits).

    Defaults fit a 100k-patient cohort with a few hundred columns. :meth:`from_settings` reads them from a
    deployment's settings (the app's ``services.config``, the command line's environment).
    """

    max_bytes: int = 64 * 1024 * 1024
    max_rows: int = 200_000
    max_columns: int = 500
    max_cell_chars: int = 1000

    @classmethod
    def from_settings(cls, settings: Mapping[str, str]) -> "Limits":
        """The limits ``HAIC_MAX_UPLOAD_MB``, ``HAIC_MAX_ROWS``, ``HAIC_MAX_COLUMNS`` and ``HAIC_MAX_CELL_CHARS``
        of ``settings`` (a mapping such as ``os.environ``), the defaults for those it lacks."""
        return cls(max_bytes=int(float(settings.get("HAIC_MAX_UPLOAD_MB", 64)) * 1024 * 1024),
                   max_rows=int(settings.get("HAIC_MAX_ROWS", 200_000)),
                   max_columns=int(settings.get("HAIC_MAX_COLUMNS", 500)),
                   max_cell_chars=int(settings.get("HAIC_MAX_CELL_CHARS", 1000)))


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


#: how many records of a file's start decide its delimiter
SNIFF_RECORDS = 50


def sniff_delimiter(text: str) -> str:
    """The delimiter among ``,`` ``;`` tab that splits the first records most consistently.

    Each candidate splits the first :data:`SNIFF_RECORDS` records of ``text`` with the csv module's reader (a
    quote-aware state machine: linear in the text). A candidate must occur in the header; the winner is the one
    whose commonest non-zero count per record is shared by the most records, then the one with more fields;
    ties go to the order of :data:`DELIMITERS`; no candidate: ``,``. (``csv.Sniffer`` is not used: its regular
    expressions backtrack, and 600 quotes in a 631-byte file held a worker for two minutes.)
    """
    best, best_score = ",", None
    for delimiter in DELIMITERS:
        counts = _field_counts(text, delimiter)
        if not counts or counts[0] < 2:
            continue
        body = counts[:-1] if len(counts) > 2 else counts     # the last record may be cut off by the head's end
        tally: dict[int, int] = {}
        for n in body:
            if n > 1:
                tally[n] = tally.get(n, 0) + 1
        if not tally:
            continue
        fields, agree = max(tally.items(), key=lambda kv: (kv[1], kv[0]))
        score = (agree / len(body), fields)
        if best_score is None or score > best_score:
            best, best_score = delimiter, score
    return best


def _field_counts(text: str, delimiter: str) -> list[int]:
    """Fields per non-empty record among the first SNIFF_RECORDS records of ``text`` (quote-aware)."""
    counts = []
    try:
        for record in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False):
            if record and any(f.strip() for f in record):
                counts.append(len(record))
                if len(counts) >= SNIFF_RECORDS:
                    break
    except csv.Error:            # a field beyond csv's field size limit: judge by the records read so far
        pass
    return counts


def unify_line_ends(raw: bytes) -> bytes:
    """``raw`` with a bare carriage return (an old Mac line end) made a ``\\n``; CR LF becomes ``\\n`` then too.

    pandas' C tokenizer (2.3) loops for ever on a bare ``\\r`` followed by a line that starts with blanks and
    then text, when blank lines are skipped: it backtracks to the previous ``\\n`` and reads the same bytes again,
    a new row each time (a 7-byte file ``c\\n,\\n\\r\\t"`` took ~300 MB/s until the host ran out of memory). With
    ``\\n`` line ends it backtracks to the line's start. The parser reads a bare ``\\r`` as a line end anyway, so
    only a carriage return inside a quoted cell is changed (it becomes a line feed).
    """
    if b"\r" not in raw:
        return raw
    if raw.count(b"\r") == raw.count(b"\r\n"):
        return raw
    return raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n")


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


class _Column:
    """One column of the file for cleaning.

    ``values`` is either the column itself (one entry per cell: a frame passed to :func:`load_cohort`, or a
    column of numbers), or, for a *coded* column, one entry per distinct value, typed exactly as pandas'
    parser types the whole column, plus a last NaN entry when some cells are missing; ``index`` then gives
    each cell's entry. Every entry occurs in some cell, so a check on the entries (any, all) is the same
    check on the cells; counts, file lines and the cleaned column go through :meth:`count`, :meth:`lines`
    and :meth:`cells`. The cleaning functions work on ``values`` either way: per distinct value for a coded
    column, which turns per-cell string work on 1M rows into work on a handful of levels.
    """

    def __init__(self, values: pd.Series, index: np.ndarray | None = None, *, text: bool = False):
        self.values = values
        self.index = index
        #: the cells are the parser's strings (str or NaN): safe to code by distinct value
        self.text = text
        self._counts = None

    @classmethod
    def coded(cls, values: pd.Series, codes: np.ndarray) -> _Column:
        """``values``: the distinct values (plus a NaN entry when a code is -1); ``codes``: -1 = missing."""
        index = codes.astype(np.intp)
        index[index < 0] = len(values) - 1
        return cls(values.reset_index(drop=True), index)

    @classmethod
    def from_cells(cls, series: pd.Series, *, text: bool) -> _Column:
        return cls(series.reset_index(drop=True), text=text)

    def by_value(self) -> _Column:
        """The same column coded by distinct value when its cells are text (str or NaN) from the parser."""
        if self.index is not None or not self.text or self.values.dtype != object or \
                pd.api.types.infer_dtype(self.values, skipna=True) not in ("string", "empty"):
            return self
        codes, uniques = pd.factorize(self.values, use_na_sentinel=True)
        values = pd.Series(uniques, dtype=object)
        if (codes < 0).any():
            values = pd.concat([values, pd.Series([np.nan], dtype=object)], ignore_index=True)
        return _Column.coded(values, codes)

    def _mask(self, mask) -> np.ndarray:
        return np.asarray(mask, dtype=bool)

    def any(self, mask) -> bool:
        return bool(self._mask(mask).any())

    def count(self, mask) -> int:
        if self.index is None:
            return int(self._mask(mask).sum())
        if self._counts is None:
            self._counts = np.bincount(self.index, minlength=len(self.values))
        return int(self._counts[self._mask(mask)].sum())

    def lines(self, mask) -> list[int]:
        mask = self._mask(mask)
        return file_lines(mask if self.index is None else mask[self.index])

    def cells(self, series: pd.Series) -> pd.Series:
        """A result computed on ``values`` (same index), spread to one entry per cell."""
        if self.index is None:
            return series
        if isinstance(series.dtype, np.dtype):
            return pd.Series(series.to_numpy().take(self.index), dtype=series.dtype)
        return series.take(self.index).reset_index(drop=True)


@dataclass
class _Table:
    """The file as read: column names as pandas made them, the columns, and (for read_raw_table) the frame."""

    columns: list[str]
    cols: list[_Column]
    n_rows: int
    frame: pd.DataFrame | None = None


def read_raw_table(source: str | Path | bytes, report: ValidationReport,
                   limits: Limits | None = None) -> pd.DataFrame | None:
    """Read the file as strings (header row kept verbatim). Problems go to ``report``; returns None then."""
    table = _read_table(source, report, limits, fast=False)
    return None if table is None else table.frame


def _read_table(source: str | Path | bytes, report: ValidationReport, limits: Limits | None = None, *,
                fast: bool = True, sheet: str | None = None) -> _Table | None:
    """The file's columns for :func:`load_cohort` (``fast``), or the frame pandas reads (``fast=False``).

    Both read the same values: let pandas' C parser type the columns (numbers stay numbers); identifiers stay
    text. ``fast`` reads the coded columns (categories, event codes, responses, text-looking extra columns)
    as categories and types their distinct values the way the parser would have typed the whole column,
    splits big files into parts parsed in parallel threads (the tokenizer releases the GIL), and falls back
    to the plain read whenever a part could be typed differently than the whole file.

    A workbook or SPSS file is first written out as CSV text (:func:`analysis.formats.to_csv`; ``sheet``
    chooses a workbook's sheet) and read like any CSV file.
    """
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
    fmt = formats.sniff_format(raw)
    if fmt != formats.CSV:
        report.file_format = fmt
        try:
            raw, report.sheet = formats.to_csv(raw, fmt, sheet, limits.max_rows if limits else None,
                                               limits.max_columns if limits else None)
        except formats.FormatError as exc:
            report.error("not_a_table", str(exc))
            return None
    if not raw or raw.isspace():
        report.error("empty", "the file is empty")
        return None
    if _looks_binary(raw):
        report.error("not_a_table", "this is not a text table (CSV/TSV), Excel workbook or SPSS .sav file: it "
                                    "looks like a binary, archive or image file")
        return None
    encoding = detect_encoding(raw)
    raw = unify_line_ends(raw)
    head = raw[:HEAD_BYTES].decode(encoding, errors="ignore")
    delimiter = sniff_delimiter(head)
    if not _fits_before_parsing(raw, head, delimiter, limits, report):
        return None
    first = next((ln for ln in head.splitlines() if ln.strip()), "")
    headers = next(csv.reader([first], delimiter=delimiter), [])
    text_columns = {h: str for h in headers if schema.canonical_name(h)[0] == "patient_id"}
    # a cell with an absurd exponent would crash pandas' number parsing: read everything as text then
    as_text = has_huge_exponent(raw)
    dtype = str if as_text else (text_columns or None)
    try:
        table = None
        if fast:
            coded = {} if as_text else _coded_positions(head, delimiter, headers)
            table = _read_fast(raw, delimiter, encoding, dtype, coded)
        if table is None:
            frame = _parse(raw, delimiter, encoding, dtype)
            table = _Table([str(c) for c in frame.columns],
                           [_Column.from_cells(frame.iloc[:, i], text=True) for i in range(frame.shape[1])],
                           frame.shape[0], frame)
    except pd.errors.ParserError as exc:
        match = re.search(r"line (\d+)", str(exc))
        where = f" at line {match.group(1)}" if match else ""
        report.error("not_a_table", f"the rows do not have a consistent number of columns{where}; "
                                    f"check the delimiter and quoting")
        return None
    except (pd.errors.EmptyDataError, ValueError, csv.Error):
        report.error("not_a_table", "could not read a table from this file")
        return None
    n_columns = len(table.columns)
    if n_columns == 0 or (n_columns == 1 and table.n_rows == 0 and not str(table.columns[0]).strip()):
        report.error("not_a_table", "no columns found")
        return None
    if table.n_rows == 0:
        report.error("no_rows", "the file has a header but no patient rows")
        return None
    if limits:
        if table.n_rows > limits.max_rows:
            _too_many_rows(report, table.n_rows, limits)
            return None
        if n_columns > limits.max_columns:
            report.error("too_many_columns", f"the file has {n_columns} columns; the limit is "
                                             f"{limits.max_columns}")
            return None
        too_long = [(i, c, c.values.astype(str).str.len() > limits.max_cell_chars)
                    for i, c in enumerate(table.cols) if c.values.dtype == object]
        too_long = [(i, c, mask) for i, c, mask in too_long if c.any(mask)]
        long_headers = [str(c) for c in table.columns if len(str(c)) > limits.max_cell_chars]
        if too_long or long_headers:
            where = ""
            if too_long:
                i, c, mask = too_long[0]
                where = f" (column {i + 1}, {describe_lines(c.lines(mask))})"
            report.error("cell_too_long", f"some cells are longer than {limits.max_cell_chars} characters{where}")
            return None
    return table


#: the start of a file that decides its delimiter and header before anything is parsed
HEAD_BYTES = 65536


def _fits_before_parsing(raw: bytes, head: str, delimiter: str, limits: Limits | None,
                         report: ValidationReport) -> bool:
    """What can be refused before the parser runs.

    The first data row may have one field more than the header (R's ``write.csv`` row names: the parser reads
    that field as the index and drops it), not more: the parser would take every extra field as a level of an
    index, shifting the columns (25,000 fields took it 6 s, 950,000 took 92 s). With ``limits``: a header with
    more columns or a longer name than allowed, a line longer than any row within the limits can be
    (``max_columns`` cells of ``max_cell_chars`` characters of up to 4 bytes each), and -- in a file without
    quotes, where lines are records and delimiters end fields -- more rows, lines or fields than allowed. What
    the parser would make of such files costs time and memory in proportion to their size; the same limits are
    checked on the parsed table too."""
    (header, _line), (first, line) = _first_records(head, delimiter)
    if first is not None and len(first) > len(header) + 1 and len(header) > 0:
        cut = len(raw) > HEAD_BYTES and line >= head.count("\n") + (not head.endswith("\n"))
        report.error("not_a_table", f"line {line} has {'at least ' if cut else ''}{len(first):,} fields but the "
                                    f"header has {len(header)}; check the delimiter, and that every column has a "
                                    f"name in the header")
        return False
    if limits is None:
        return True
    if len(header) > limits.max_columns:
        count = f"{len(header)}" if len(raw) <= HEAD_BYTES or "\n" in head else f"at least {len(header)}"
        report.error("too_many_columns", f"the file has {count} columns; the limit is {limits.max_columns}")
        return False
    if any(len(name) > limits.max_cell_chars for name in header):
        report.error("cell_too_long", f"some cells are longer than {limits.max_cell_chars} characters "
                                      f"(the header, line 1)")
        return False
    lines = raw.count(b"\n") + (not raw.endswith(b"\n"))
    if lines > LINES_PER_ROW * (limits.max_rows + 1):       # counted first: the line ends are indexed below
        report.error("too_many_lines", f"the file has {lines:,} lines; a table within the limit of "
                                       f"{limits.max_rows:,} rows has far fewer (blank lines count too)")
        return False
    longest, line = _longest_line(raw)
    if longest > limits.max_columns * (4 * limits.max_cell_chars + 3):
        report.error("line_too_long", f"line {line} is {longest:,} bytes long, longer than "
                                      f"{limits.max_columns} cells of {limits.max_cell_chars} characters can be")
        return False
    if b'"' not in raw and (lines > limits.max_rows + 1 or longest > limits.max_columns):
        # without quotes every line is one record and every delimiter ends a field: rows and fields are counted
        # exactly here (pandas reads rows with more fields than the header as index levels: minutes and GBs).
        # Only a file that may be over a limit is counted (more lines than rows allowed, or a line long enough
        # to hold more fields than columns allowed)
        rows, fields, line = _line_profile(raw, delimiter.encode())
        if rows - 1 > limits.max_rows:
            _too_many_rows(report, rows - 1, limits)
            return False
        if fields > limits.max_columns:
            report.error("too_many_columns", f"line {line} has {fields:,} fields; the limit is "
                                             f"{limits.max_columns} columns")
            return False
    return True


def _too_many_rows(report: ValidationReport, n_rows: int, limits: Limits) -> None:
    report.error("too_many_rows", f"the file has {n_rows} rows; the limit is {limits.max_rows}")


#: a file with more lines than this many per row allowed is refused before parsing (blank-line floods)
LINES_PER_ROW = 10
_PROFILE_BLOCK = 1 << 23
_BLANK = np.zeros(256, dtype=bool)
_BLANK[list(b" \t\r\x0b\x0c")] = True


def _line_profile(raw: bytes, delimiter: bytes) -> tuple[int, int, int]:
    """For a file without quotes: its non-blank lines (records, the header included), the most fields on one
    line and that line's number. In blocks of 8 MB, so that the counting costs a fixed amount of memory."""
    data = np.frombuffer(raw, dtype=np.uint8)
    non_blank, most, most_line = 0, 0, 1
    carry_text, carry_delims, line_base = False, 0, 0     # the line that runs across the block boundary
    for start in range(0, len(data), _PROFILE_BLOCK):
        block = data[start:start + _PROFILE_BLOCK]
        ends = np.flatnonzero(block == 10)
        text = np.cumsum(~_BLANK[block] & (block != 10), dtype=np.int64)
        delims = np.cumsum(block == delimiter[0], dtype=np.int64)
        if len(ends):
            at_text, at_delims = text[ends], delims[ends]
            line_text = np.diff(at_text, prepend=0)
            line_text[0] += carry_text
            line_delims = np.diff(at_delims, prepend=0)
            line_delims[0] += carry_delims
            non_blank += int(np.count_nonzero(line_text))
            k = int(np.argmax(line_delims))
            if line_delims[k] + 1 > most:
                most, most_line = int(line_delims[k]) + 1, line_base + k + 1
            line_base += len(ends)
            carry_text = bool(text[-1] - at_text[-1])
            carry_delims = int(delims[-1] - at_delims[-1])
        else:
            carry_text = carry_text or bool(text[-1])
            carry_delims += int(delims[-1])
    if carry_text:                                        # a last line without a line end
        non_blank += 1
        if carry_delims + 1 > most:
            most, most_line = carry_delims + 1, line_base + 1
    return non_blank, most, most_line


def _first_records(head: str, delimiter: str) -> tuple[tuple[list[str], int], tuple[list[str] | None, int]]:
    """The header and the first data record of ``head``, each with the line it ends on, split at ``delimiter``
    (quote-aware; blank lines skipped as the parser skips them; a record cut off by the end of ``head`` gives the
    fields seen so far; no data record: None)."""
    found: list[tuple[list[str], int]] = []
    reader = csv.reader(io.StringIO(head, newline=""), delimiter=delimiter, strict=False)
    try:
        for record in reader:
            if record and not (len(record) == 1 and not record[0].strip()):
                found.append((record, reader.line_num))
                if len(found) == 2:
                    break
    except csv.Error:           # a field beyond csv's field size limit: count the delimiters of its line instead
        lines = head.split("\n")
        line = lines[len(found)] if len(found) < len(lines) else ""
        found.append(([""] * (line.count(delimiter) + 1), len(found) + 1))
    if not found:
        return ([], 1), (None, 0)
    return found[0], (found[1] if len(found) > 1 else (None, 0))


def _longest_line(raw: bytes) -> tuple[int, int]:
    """The length in bytes of the longest line of ``raw`` (line ends unified) and its line number."""
    ends = np.flatnonzero(np.frombuffer(raw, dtype=np.uint8) == 10)
    lengths = np.diff(np.concatenate(([-1], ends, [len(raw)]))) - 1
    k = int(np.argmax(lengths))
    return int(lengths[k]), k + 1


#: how every read of cells goes through pandas' C parser: the file, its parts, and the distinct values of a coded
#: column re-typed in _typed_like_parser (which must type them exactly as the file read does)
_PARSER_OPTIONS = {"keep_default_na": False, "na_values": NA_VALUES, "skip_blank_lines": True, "engine": "c",
                   "low_memory": False}


def _parse(buf: bytes, delimiter: str, encoding: str, dtype) -> pd.DataFrame:
    """pandas' C parser on ``buf``; its "out of memory" (an allocation refused, e.g. under a memory limit) is
    raised as the MemoryError it is, not as a malformed file."""
    try:
        return pd.read_csv(io.BytesIO(buf), sep=delimiter, encoding=encoding,
                           dtype=dict(dtype) if isinstance(dtype, dict) else dtype, header=0, **_PARSER_OPTIONS)
    except pd.errors.ParserError as exc:
        if "out of memory" in str(exc):
            raise MemoryError("the parser ran out of memory") from None
        raise


#: files at least this big are parsed in parts, one thread per available core (at most 4), or PARALLEL_PARTS
PARALLEL_MIN_BYTES = 4 * 1024 * 1024
PARALLEL_PARTS: int | None = None


def _cpus() -> int:
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):                    # pragma: no cover - not Linux
        cpus = os.cpu_count() or 1
    return min(cpus, 4)


#: rows of the file's start that decide whether an extra column is read as categories
_SAMPLE_ROWS = 200
_CODED_KINDS = frozenset((*schema.CATEGORICAL_COLUMNS, *schema.EVENT_COLUMNS, *schema.RESPONSE_COLUMNS))


def _coded_positions(head: str, delimiter: str, headers: list[str]) -> dict[int, str]:
    """Columns worth reading as categories (few distinct values), by position: the coded canonical columns,
    and extra columns whose first rows hold repeated text. A speed choice only: either way the values are
    typed the same."""
    rows = list(csv.reader(head.splitlines()[1:_SAMPLE_ROWS + 1], delimiter=delimiter))
    coded = {}
    for j, header in enumerate(headers):
        name = schema.canonical_name(header)[0]
        if name == "patient_id" or name in schema.NUMERIC_COLUMNS or name in schema.TIME_COLUMNS or \
                schema.is_ae_column(name):
            continue
        if name not in _CODED_KINDS:
            sample = [r[j] for r in rows if j < len(r) and r[j] not in NA_VALUES]
            if not sample or all(is_number(v) for v in sample) or len(set(sample)) > len(sample) // 2:
                continue
        coded[j] = "category"
    return coded


def _read_fast(raw: bytes, delimiter: str, encoding: str, dtype, coded: dict[int, str]) -> _Table | None:
    """The coded read (see _read_table); None when the plain read must be used instead."""
    if isinstance(dtype, dict) or dtype is None:
        dtype = {**coded, **(dtype or {})}               # names first: pandas looks a column up by name first
    bounds = _split_points(raw)
    frames = None
    if bounds:
        header = raw[:bounds[0]]
        bufs = [raw[:bounds[1]]] + [header + raw[a:b] for a, b in itertools.pairwise(bounds[1:])]
        try:
            with ThreadPoolExecutor(len(bufs)) as pool:
                frames = list(pool.map(lambda b: _parse(b, delimiter, encoding, dtype), bufs))
        except Exception:                                # noqa: BLE001 - the whole-file read below says what is wrong
            frames = None
    if frames is None:
        frames = [_parse(raw, delimiter, encoding, dtype)]
    first = frames[0]
    if not isinstance(first.index, pd.RangeIndex) or any(
            not isinstance(f.index, pd.RangeIndex) or list(f.columns) != list(first.columns) for f in frames):
        return None                                      # e.g. the parser took a first column as the index
    cols = []
    for j in range(first.shape[1]):
        try:
            col = _merge_parts([f.iloc[:, j] for f in frames])
        except Exception:                                # noqa: BLE001 - the plain read is always right
            col = None
        if col is None:
            return None
        cols.append(col)
    return _Table([str(c) for c in first.columns], cols, sum(len(f) for f in frames))


def _split_points(raw: bytes) -> list[int] | None:
    """[end of the header line, part boundaries..., len(raw)] for a parallel parse, or None.

    Parts end at a newline. A newline inside a quoted cell is no record boundary, but then the part before it
    ends inside a quoted cell, which the parser refuses ("EOF inside string"), and the whole file is read
    instead; so every part that parses starts at a true record boundary. The header must be the first line
    (no quotes, ended by ``\\n`` or ``\\r\\n``): it is put before every part.
    """
    n = PARALLEL_PARTS or _cpus()
    if n < 2 or len(raw) < PARALLEL_MIN_BYTES:
        return None
    end = raw.find(b"\n") + 1
    if end <= 0 or not raw[:end].strip() or b"\r" in raw[:end].rstrip(b"\r\n") or b'"' in raw[:end]:
        return None
    bounds = [end]
    for k in range(1, n):
        pos = raw.find(b"\n", max(k * len(raw) // n, bounds[-1])) + 1
        if pos <= bounds[-1] or pos >= len(raw):
            break
        bounds.append(pos)
    bounds.append(len(raw))
    return bounds if len(bounds) > 2 else None


def _merge_parts(parts: list[pd.Series]) -> _Column | None:
    """One column from its parts: categories are merged and typed; plain columns are joined when every part
    was typed as the whole column would have been (else None: read the whole file instead)."""
    if isinstance(parts[0].dtype, pd.CategoricalDtype):
        return _coded_column(parts)
    parts = [p for p in parts if len(p)] or parts[:1]
    if len(parts) == 1:
        return _Column.from_cells(parts[0], text=True)
    kinds = {p.dtype for p in parts}
    values = [p.to_numpy() for p in parts]
    if kinds == {np.dtype(np.int64), np.dtype(np.float64)}:
        # whole-file typing would give float64 (read as floats, or integers with NaN): the same numbers
        # below 2**53; an int64 part is cast
        if max(max(abs(int(v.min())), abs(int(v.max()))) for v in values if v.dtype == np.int64) >= 2 ** 53:
            return None
        values = [v.astype(np.float64) for v in values]
    elif len(kinds) != 1:
        return None
    joined = np.concatenate(values)
    if joined.dtype == np.float64 and not _below_2_53(joined):
        return None                                    # integers read as int64 then float vs parsed as float
    elif joined.dtype == object and pd.Series(joined).isin(NA_VALUES).any():
        return None                                    # a part kept its missing markers as text
    elif joined.dtype not in (np.dtype(np.float64), np.dtype(np.int64), np.dtype(np.bool_), np.dtype(object)):
        return None
    return _Column.from_cells(pd.Series(joined, dtype=joined.dtype), text=True)


def _below_2_53(values: np.ndarray) -> bool:
    """Whether every finite value is below 2**53 in size (where float64 holds every integer exactly)."""
    with np.errstate(invalid="ignore"):
        low, high = np.nanmin(values, initial=0.0), np.nanmax(values, initial=0.0)
    if np.isfinite(low) and np.isfinite(high):
        return max(-low, high) < 2 ** 53
    finite = values[np.isfinite(values)]
    return not len(finite) or float(np.abs(finite).max()) < 2 ** 53


def _coded_column(parts: list[pd.Series]) -> _Column | None:
    """A column read as categories (in parts): its distinct texts, typed as the parser types a column."""
    cats = [p.cat.categories.to_numpy(dtype=object) for p in parts]
    codes = [p.cat.codes.to_numpy() for p in parts]
    if len(parts) == 1:
        tokens, code = cats[0], codes[0]
    else:
        union = pd.Index(np.concatenate(cats), dtype=object).unique()
        tokens = union.to_numpy(dtype=object)
        code = np.concatenate([np.append(union.get_indexer(c), -1)[k] for c, k in zip(cats, codes)])
    # the parser types a column by trying int64 (then uint64), float64, bool and text over its cells in file
    # order, and the first cell that fails decides the next step (an integer beyond the int64/uint64 range
    # before any non-integer makes the column text): the distinct texts in the order they first occur meet
    # their first failure in the same order
    first = pd.unique(code)
    first = first[first >= 0].astype(np.intp)
    has_na = bool((code < 0).any())
    values = _typed_like_parser(tokens[first], has_na)
    if values is None:
        return None
    where = np.empty(len(first), dtype=np.intp)
    where[first] = np.arange(len(first))                     # code -> position in first-occurrence order
    if has_na:
        where = np.append(where, len(first))
    return _Column.coded(values.iloc[where], code)


def _typed_like_parser(tokens: np.ndarray, has_na: bool) -> pd.Series | None:
    """The parser's typing of a column whose distinct texts are ``tokens`` in the order they first occur
    (and a missing cell if ``has_na``): the tokens are written as a one-column CSV, quoted, and read with the
    same options, so each distinct text gets the value it has in the file. The last entry is the missing value
    when ``has_na``. None if the parser kept the missing marker as text (it does for columns of integers
    beyond the int64 range mixed with negatives or NA): read the file plainly then."""
    lines = ['"' + t.replace('"', '""') + '"' for t in tokens]
    if has_na:
        lines.append("NA")
    if not lines:
        return pd.Series([], dtype=object)
    parsed = pd.read_csv(io.BytesIO(("\n".join(lines) + "\n").encode("utf-8")), sep=",", header=None,
                         encoding="utf-8", **_PARSER_OPTIONS)
    if parsed.shape != (len(lines), 1) or (has_na and not pd.isna(parsed.iloc[-1, 0])):
        return None
    return parsed.iloc[:, 0].rename(None)


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
    # the letter, else the class of the score (no fillna: on object data it downcasts, an error in pandas 3)
    return pd.Series(np.where(letter.notna(), letter, from_score), index=series.index, dtype=object)


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


@dataclass
class _Pair:
    """A time/event pair to read: column positions, whether bad values block (``strict``: pairs the caller
    names and the canonical ones) or leave the columns as variables (pairs found by name only), the
    caller's name for it, and the event column's value that means "event" when its coding is not 0/1."""

    time: int
    event: int
    strict: bool
    label: str | None = None
    event_value: str | None = None


def load_cohort(source: str | Path | bytes | pd.DataFrame, *, time_unit: str | None = None,
                mapping: dict[str, str] | None = None, limits: Limits | None = None,
                endpoints: list | None = None, sheet: str | None = None) -> LoadResult:
    """Read and clean a cohort table.

    ``source`` is a path, the file's bytes, or a DataFrame (copied, never changed): CSV/TSV text, an Excel
    workbook (``.xlsx``; ``sheet`` names the sheet, default the first) or an SPSS file (``.sav``; value labels
    become category levels), recognised by their content (:mod:`analysis.formats`). ``time_unit`` declares the
    unit of the time columns for the whole file (``months``, ``days``, ``weeks``, ``years``) where a header does
    not say; ``mapping`` maps file headers to canonical names for headers the importer did not recognise (the
    dashboard's column-mapping step); ``limits`` bounds untrusted uploads.

    ``endpoints`` names time/event pairs of the file, beside those the importer finds by name
    (:func:`analysis.schema.pair_endpoints`): each ``(time, event)`` or ``{"time", "event", "label",
    "event_value"}``, a column by its header or canonical name; they are checked as times and event indicators
    (errors block). ``event_value`` reads an event column of another coding: that value is the event, any other
    value censored (R's ``Surv(time, status == 2)`` for a 0/1/2 status).
    """
    report = ValidationReport()
    if isinstance(source, pd.DataFrame):
        raw = source.copy()
        raw.columns = [str(c) for c in raw.columns]
        table = _Table(list(raw.columns), [_Column.from_cells(raw.iloc[:, i], text=False)
                                           for i in range(raw.shape[1])], int(raw.shape[0]))
    else:
        table = _read_table(source, report, limits, sheet=sheet)
        if table is None:
            return LoadResult(None, report)
    if time_unit is not None and time_unit not in schema.TIME_UNIT_FACTORS:
        report.error("bad_parameter", f"unknown time unit {time_unit!r}; use one of "
                                      f"{', '.join(schema.TIME_UNIT_FACTORS)}")
        return LoadResult(None, report)
    headers = [str(c) for c in table.columns]
    names, units = _resolve_headers(headers, mapping or {}, report)
    names = _check_guesses(headers, names, table.cols, mapping or {}, report)
    plan = _plan_endpoints(headers, names, endpoints or [], report)
    if plan is None:
        return LoadResult(None, report)
    names, units = _time_names(names, units, plan)
    # a pair found by name only is used when both its columns read as time and event; else they stay variables
    for pair in list(plan):
        if pair.strict:
            continue
        scratch = ValidationReport()
        t, e = pair.time, pair.event
        for pos, role in ((t, "time"), (e, "event")):
            _clean_column(table.cols[pos], headers[pos], names[pos], role, units[pos] or time_unit, {}, scratch)
        if scratch.errors:
            plan.remove(pair)
            bad = next(i.column for i in scratch.errors)
            report.warn("endpoint_unreadable", f"columns {headers[t]!r} and {headers[e]!r} look like a time/event "
                                               f"pair, but {bad!r} cannot be read as "
                                               f"{'times' if bad == names[t] else 'an event indicator'}; they are "
                                               f"kept as variables (recode the event as 1 = event, 0 = censored, "
                                               f"or name the pair and its event value on the Data page or with "
                                               f"--time/--event)", bad)
    roles = {pos: (role, pair) for pair in plan for pos, role in ((pair.time, "time"), (pair.event, "event"))}
    report.n_rows = int(table.n_rows)
    out: dict[str, pd.Series] = {}
    for position, (header, name, unit) in enumerate(zip(headers, names, units)):
        col, table.cols[position] = table.cols[position], None       # each column is freed once cleaned
        role, pair = roles.get(position, (None, None))
        report.columns[name] = _clean_column(col, header, name, role, unit or time_unit, out, report,
                                             event_value=pair.event_value if pair else None)
    found: list[Endpoint] = []
    for pair in plan:
        info = report.columns[names[pair.time]]
        found.append(schema.endpoint_for(names[pair.time], names[pair.event], info.unit or "months", pair.label,
                                         taken=[x.key for x in found], event_value=pair.event_value))
    report.endpoints = found
    frame = _frame(out)
    _check_cohort(frame, report)
    result_mapping = dict(zip(headers, names))
    return LoadResult(frame if report.ok else None, report, result_mapping)


def _find_header(wanted: str, headers: list[str], names: list[str]) -> int | None:
    """Position of a column named by its header in the file or its (canonical) name."""
    for candidates in (headers, names):
        if wanted in candidates:
            return candidates.index(wanted)
    slug = schema.canonical_name(wanted)[0]
    if slug in names:
        return names.index(slug)
    folded = [i for i, h in enumerate(headers) if h.strip().lower() == wanted.strip().lower()]
    return folded[0] if len(folded) == 1 else None


def _plan_endpoints(headers: list[str], names: list[str], requested: list,
                    report: ValidationReport) -> list[_Pair] | None:
    """The time/event pairs to read (see :class:`_Pair`): those the caller names, then those found by name.
    Returns None (with an error in ``report``) when a named column is missing."""
    plan: list[_Pair] = []
    taken: set[int] = set()
    for item in requested:
        if isinstance(item, dict):
            tname, ename, label = item.get("time"), item.get("event"), item.get("label")
            event_value = item.get("event_value")
        else:
            (tname, ename), label, event_value = item, None, None
        positions = []
        for what, wanted in (("time", tname), ("event", ename)):
            pos = _find_header(str(wanted), headers, names) if wanted else None
            if pos is None:
                report.error("column_not_found", f"the {what} column {str(wanted)!r} is not in the file "
                                                 f"(columns: {', '.join(headers)})", str(wanted))
                return None
            positions.append(pos)
        t, e = positions
        if t == e:
            report.error("bad_parameter", f"the time and event columns must differ (both {headers[t]!r})")
            return None
        if t in taken or e in taken:
            continue                                  # the same pair named twice
        value = schema.level_text(event_value) if event_value is not None else None
        plan.append(_Pair(t, e, True, label or None, value))
        taken.update((t, e))
    free = [n if i not in taken else None for i, n in enumerate(names)]
    for tname, ename in schema.pair_endpoints([n for n in free if n is not None]):
        t, e = free.index(tname), free.index(ename)
        plan.append(_Pair(t, e, tname in schema.TIME_COLUMNS and ename in schema.EVENT_COLUMNS))
        taken.update((t, e))
    return plan


def _time_names(names: list[str], units: list[str | None], plan: list[_Pair]) -> tuple[list[str], list[str | None]]:
    """Names and declared units after the endpoint time columns: one named with a unit other than months
    (``ttr_days``) is renamed ``ttr_months`` (its values are converted to months) when that name is free, and
    the unit word is its declared unit unless a header bracket said otherwise. (A ``_months`` name declares
    nothing: the file's time-unit setting still applies to it, as to ``os_months``.)"""
    names, units = list(names), list(units)
    for pair in plan:
        t = pair.time
        slug = names[t]
        for suffix, word in (("_days", "days"), ("_weeks", "weeks"), ("_years", "years")):
            if slug.endswith(suffix) and len(slug) > len(suffix):
                target = slug[: -len(suffix)] + "_months"
                if target not in names:
                    names[t] = target
                units[t] = units[t] or word
                break
    return names, units


#: canonical columns read through a coding that turns unknown values into missing ones; an alias that names
#: one of them is a guess the values must confirm (analysis.schema.ALIASES: "stage", "status", "child", ...)
_CODED = {**{c: "event codes" for c in schema.EVENT_COLUMNS}, "sex": "male/female",
          "child_pugh": "Child-Pugh classes", "cnlc_stage": "CNLC stages",
          **{c: "yes/no codes" for c in schema.BINARY_FACTORS},
          **{c: "response codes" for c in schema.RESPONSE_COLUMNS}}


def _check_guesses(headers: list[str], names: list[str], cols: list, mapping: dict[str, str],
                   report: ValidationReport) -> list[str]:
    """Names after checking each alias guess against the values: a header the importer read as a coded
    canonical column only by an alias (``Stage`` as CNLC stage, ``status`` as the OS event) whose present values
    are mostly not that column's codes (a BCLC stage A-D), or an event column coded in other numbers (a 0/1/2
    status), keeps its own name and its values, as a variable of the user's, with a warning -- a guess never
    turns a user's data into missing values."""
    names = list(names)
    for i, (header, name) in enumerate(zip(headers, names)):
        slug = schema.normalise_header(header)[0]
        if name not in _CODED or slug == name or mapping.get(header) or slug in names:
            continue
        scratch = ValidationReport()
        c = cols[i].by_value()
        role = "event" if name in schema.EVENT_COLUMNS else None
        out: dict[str, pd.Series] = {}
        _clean_column(c, header, name, role, None, out, scratch)
        cells = c.cells(c.values)
        given = ~_missing_mask(cells).to_numpy()
        result = out[name].to_numpy() if name in out else np.full(len(cells), np.nan, dtype=object)
        present, read = int(given.sum()), int((given & pd.notna(result)).sum())
        # another numeric coding (a 0/1/2 status) contradicts the guess; a stray word ('maybe') is a typo in a
        # column that is what its name says, and is reported as such
        unread = pd.unique(cells[given & pd.isna(result)])
        numeric_code = bool(scratch.errors) and len(unread) > 0 and all(is_number(str(v)) for v in unread)
        if numeric_code or (present and read < present / 2):
            names[i] = slug
            report.warn("alias_not_applied", f"column {header!r} was not read as {name} ({_CODED[name]}): its values "
                                             f"do not fit that coding; it is kept as your own variable {slug!r}", slug)
    return names


def _frame(out: dict[str, pd.Series]) -> pd.DataFrame:
    """``pd.DataFrame(out)``, built with the columns of each dtype side by side and then put in order: pandas
    stacks runs of same-dtype columns and then merges those blocks again (about 1 s for 1M rows x 30)."""
    names = list(out)
    grouped = sorted(range(len(names)), key=lambda i: str(out[names[i]].dtype))
    frame = pd.DataFrame({names[i]: out[names[i]] for i in grouped})
    if grouped == sorted(grouped):
        return frame
    return frame.take(np.argsort(grouped), axis=1)


def _clean_id(c: _Column) -> tuple[pd.Series, int]:
    """The patient_id column: text stripped, missing markers as NaN; and the number missing."""
    if c.index is None and c.text and c.values.dtype == object and \
            pd.api.types.infer_dtype(c.values, skipna=True) in ("string", "empty"):
        # identifiers are (nearly) all distinct, so per distinct value is no gain: one pass over the cells,
        # the same rule as below (a cell is str or NaN here)
        stripped = [v.strip() if v.__class__ is str else None for v in c.values.to_numpy()]
        # (lower-casing never shortens a text, so a longer one is no marker)
        missing = np.fromiter((v is None or (len(v) <= _MARKER_LEN and v.lower() in _MARKER_SET) for v in stripped),
                              dtype=bool, count=len(stripped))
        ids = np.array(stripped, dtype=object)
        ids[missing] = np.nan
        return pd.Series(ids, dtype=object), int(missing.sum())
    col = c.values
    missing = _missing_mask(col)
    return c.cells(col.astype(str).str.strip().where(~missing)), c.count(missing)


def _clean_column(c: _Column, header: str, name: str, role: str | None, unit: str | None, out: dict,
                  report: ValidationReport, event_value: str | None = None) -> ColumnInfo:
    """Clean one column into ``out[name]`` and say how it was read. ``role`` is ``"time"``/``"event"`` for the
    columns of an endpoint (a lone canonical time or event column is read as one too); ``unit`` is the declared
    unit of a time column (None: months); ``event_value`` the value of an event column that means "event"
    (every other present value: censored)."""
    recognised = (name in schema.CANONICAL_COLUMNS or schema.is_ae_column(name) or role is not None)
    if role is None:
        role = "time" if name in schema.TIME_COLUMNS else "event" if name in schema.EVENT_COLUMNS else None
    label = f"{header!r}" if header == name else f"{header!r} ({name})"
    if name == "patient_id":
        out[name], n_missing = _clean_id(c)
        return ColumnInfo(name, header, "id", True, n_missing)

    c = c.by_value()
    col = c.values           # the cells, or one entry per distinct value: every check below is per entry
    if role == "time":
        values, missing, bad = parse_numbers(col)
        if c.any(bad):
            report.error("time_not_numeric", f"time column {label} has values that are not numbers",
                         name, c.lines(bad))
        negative = values < 0
        if c.any(negative):
            report.error("time_negative", f"time column {label} has negative times", name, c.lines(negative))
        declared = unit
        factor = schema.TIME_UNIT_FACTORS[declared] if declared else 1.0
        out[name] = c.cells(values * factor)
        _check_time_unit(values, declared or "months", label, name, report)
        if c.any(missing):
            report.warn("time_missing", f"time column {label} is missing for some patients; they are left "
                                        f"out of analyses of that endpoint", name, c.lines(missing))
        return ColumnInfo(name, header, "time", True, c.count(missing), declared or "months")

    if role == "event" and event_value is not None:
        missing = _missing_mask(col)
        is_event = schema.level_texts(col) == event_value
        out[name] = c.cells(pd.Series(np.where(missing, np.nan, is_event.astype(float)), index=col.index))
        if not c.any(is_event & ~missing):
            report.warn("event_value_absent", f"event column {label}: no patient has the event value given", name)
        if c.any(missing):
            report.warn("event_missing", f"event column {label} is missing for some patients; they are left "
                                         f"out of analyses of that endpoint", name, c.lines(missing))
        return ColumnInfo(name, header, "event", True, c.count(missing))

    if role == "event":
        mapped, missing, unmapped = _map_codes(col, EVENT_CODES)
        key = _norm(col)
        present = key[~missing]
        if len(present) and present.isin(set(SURV_12_CODES)).all() and present.isin({"2", "2.0"}).any():
            mapped = key.map(SURV_12_CODES)
            unmapped = (~missing) & mapped.isna()
            report.warn("event_coding_12", f"event column {label} is coded 1/2; read as R's Surv convention "
                                           f"(1 = censored, 2 = event)", name)
        if c.any(unmapped):
            report.error("event_unmapped", f"event column {label} has values that are not an event code "
                                           f"(use 1/0, yes/no, dead/alive, progressed/censored; for another "
                                           f"coding give the value that means the event: --event "
                                           f"{header}=VALUE, or the event value on the Data page)",
                         name, c.lines(unmapped))
        out[name] = c.cells(to_numeric(mapped, errors="coerce").astype("Int64").astype(float))
        if c.any(missing):
            report.warn("event_missing", f"event column {label} is missing for some patients; they are left "
                                         f"out of analyses of that endpoint", name, c.lines(missing))
        return ColumnInfo(name, header, "event", True, c.count(missing))

    if name in schema.RESPONSE_COLUMNS:
        mapped, missing, unmapped = _response(col)
        if c.any(unmapped):
            report.warn("response_unknown", f"response column {label} has codes other than CR, PR, SD, PD, NE; "
                                            f"those patients are treated as missing", name, c.lines(unmapped))
        out[name] = c.cells(mapped)
        return ColumnInfo(name, header, "response", True, c.count(missing | unmapped))

    if schema.is_ae_column(name):
        values, missing, bad = parse_numbers(col)
        invalid = bad | ((~values.isna()) & ~values.isin([0, 1, 2, 3, 4, 5]))
        if c.any(invalid):
            report.warn("ae_grade", f"adverse-event column {label} has values that are not CTCAE grades 0-5; "
                                    f"they are treated as missing", name, c.lines(invalid))
            values = values.where(~invalid)
        out[name] = c.cells(values)
        return ColumnInfo(name, header, "ae", True, c.count(values.isna()))

    if name in schema.NUMERIC_COLUMNS:
        values, missing, bad = parse_numbers(col)
        if c.any(bad):
            report.warn("not_numeric", f"column {label} should be numeric; values that are not numbers are "
                                       f"treated as missing", name, c.lines(bad))
        bounded = (~missing) & _bounded_mask(col) if col.dtype == object else pd.Series(False, index=col.index)
        if c.any(bounded):
            report.warn("bounded_value", f"column {label} has values given as a bound ('<' or '>'); the bound "
                                         f"itself is used", name, c.lines(bounded))
        low, high = schema.NUMERIC_COLUMNS[name]["range"]
        implausible = (values < low) | (values > high)
        if c.any(implausible):
            unit_text = schema.NUMERIC_COLUMNS[name]["unit"]
            report.warn("implausible", f"column {label} has values outside the plausible range {low:g}-{high:g}"
                                       f"{' ' + unit_text if unit_text else ''}; check the units",
                        name, c.lines(implausible))
        out[name] = c.cells(values)
        return ColumnInfo(name, header, "numeric", True, c.count(values.isna()))

    if name in schema.CATEGORICAL_COLUMNS:
        codes = {"sex": SEX_CODES, "etiology": ETIOLOGY_CODES}.get(name)
        missing = _missing_mask(col)
        if name in schema.BINARY_FACTORS:
            mapped, missing, unmapped = _map_codes(col, BINARY_CODES)
            if c.any(unmapped):
                report.warn("factor_unknown", f"column {label} is a yes/no factor but has other values; "
                                              f"they are treated as missing", name, c.lines(unmapped))
        elif name == "child_pugh":
            mapped = _child_pugh(col)
            unmapped = (~missing) & mapped.isna()
            if c.any(unmapped):
                report.warn("factor_unknown", f"column {label} should be Child-Pugh class A/B/C or score 5-15; "
                                              f"other values are treated as missing", name, c.lines(unmapped))
        elif name == "cnlc_stage":
            mapped = _cnlc(col)
            unmapped = (~missing) & mapped.isna()
            if c.any(unmapped):
                report.warn("factor_unknown", f"column {label} has values that are not CNLC stages "
                                              f"(IA-IV); they are treated as missing", name, c.lines(unmapped))
        else:
            stripped = via_uniques(col, lambda s: s.str.strip())
            mapped = _norm(col).map(codes).fillna(stripped) if codes else stripped
            mapped = mapped.where(~missing)
            if name == "sex":
                unknown = (~missing) & ~mapped.isin(["Male", "Female"])
                if c.any(unknown):
                    report.warn("factor_unknown", f"column {label} has values other than male/female",
                                name, c.lines(unknown))
        cleaned = mapped.where(~missing)
        out[name] = c.cells(cleaned)
        return ColumnInfo(name, header, "categorical", True, c.count(cleaned.isna()))

    # a user variable: numeric when every present value parses as a number, categorical otherwise
    values, missing, bad = parse_numbers(col)
    if not c.any(bad) and c.any(~missing):
        out[name] = c.cells(values)
        return ColumnInfo(name, header, "numeric", recognised, c.count(missing))
    out[name] = c.cells(via_uniques(col, lambda s: s.str.strip()).where(~missing))
    return ColumnInfo(name, header, "categorical", recognised, c.count(missing))


def _check_time_unit(values: pd.Series, unit: str, label: str, name: str, report: ValidationReport) -> None:
    """Warn (code ``time_unit``) when a time column's values do not fit its unit: the longest follow-up, read in
    ``unit``, is implausible for a cohort and another unit fits (:func:`analysis.schema.likely_time_unit`)."""
    finite = values[np.isfinite(values.to_numpy(dtype=float))]
    if finite.empty:
        return
    low, high = float(finite.min()), float(finite.max())
    likely = schema.likely_time_unit(high, unit)
    if likely is None:
        return
    months = high * schema.TIME_UNIT_FACTORS[unit]
    span = f"{months / 12:.0f} years" if months >= 24 else f"{months:.1f} months"
    report.warn("time_unit", f"time column {label} was read as {unit}, but its values run from {low:g} to "
                             f"{high:g}, a follow-up of up to {span}: they look like {likely}; declare the unit "
                             f"(the upload's time-unit setting, --time-unit {likely}, or a header such as "
                             f"'OS ({likely})')", name,
                details={"unit": unit, "likely_unit": likely, "min": low, "max": high})


def _check_cohort(frame: pd.DataFrame, report: ValidationReport) -> None:
    """Cross-column checks: a usable time/event pair, duplicated ids, missing shares."""
    usable = []
    for endpoint in report.endpoints:
        complete = frame[endpoint.time].notna() & frame[endpoint.event].notna()
        if complete.any():
            usable.append(endpoint)
    paired = {c for e in report.endpoints for c in (e.time, e.event)}
    for key, (tcol, ecol) in schema.ENDPOINTS.items():
        if tcol in frame and tcol not in paired:
            report.warn("event_column_missing", f"{tcol} has no matching event column {ecol!r}; "
                                                f"{key.upper()} cannot be analysed", tcol)
        elif ecol in frame and ecol not in paired:
            report.warn("time_column_missing", f"{ecol} has no matching time column {tcol!r}; "
                                               f"{key.upper()} cannot be analysed", ecol)
    if not usable and not any(i.code.startswith(("time_", "event_")) and i.severity == "error"
                              for i in report.issues):
        report.error("no_survival_pair", "no usable time/event pair: name the survival time and event columns "
                                         "(map them on the Data page, or give --time and --event), or use "
                                         "headers the importer recognises such as 'OS (months)' + 'death' or "
                                         "'time' + 'status'")
    keys = {e.key: e for e in report.endpoints}
    if "pfs" in keys and "os" in keys:
        longer = frame[keys["pfs"].time] > frame[keys["os"].time] + 1e-9
        if longer.any():
            report.warn("pfs_after_os", "PFS time is longer than OS time for some patients", keys["pfs"].time,
                        file_lines(longer))
    if "patient_id" in frame:
        dup = frame["patient_id"].notna() & frame["patient_id"].duplicated(keep=False)
        if dup.any():
            report.warn("duplicate_id", "patient_id is duplicated", "patient_id", file_lines(dup))
    n = len(frame)
    for name, info in report.columns.items():
        if n and info.kind not in ("time", "event") and info.n_missing / n > MISSING_WARN_SHARE:
            report.warn("missing_share", f"column {name!r} is missing for {info.n_missing} of {n} patients "
                                         f"({100 * info.n_missing / n:.0f}%)", name)
