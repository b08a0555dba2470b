"""The importer's fast read (categories typed like the parser, big files parsed in parallel parts) gives exactly
what a plain ``pd.read_csv`` of the file, cleaned cell by cell, gives: same frame, same report."""
from __future__ import annotations

import csv
import io
import random
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis import io as aio
from analysis import schema
from analysis.io import Limits, load_cohort
from tests.support.examples import examples

ROOT = Path(__file__).resolve().parents[1]


def naive_read(raw: bytes) -> pd.DataFrame:
    """The plain read the fast one must match: the whole file through pandas' C parser, letting it type the
    columns (identifiers as text; everything as text when a cell has an absurd exponent)."""
    encoding = aio.detect_encoding(raw)
    head = raw[:65536].decode(encoding, errors="ignore")
    delimiter = aio.sniff_delimiter(head)
    first = next((ln for ln in head.splitlines() if ln.strip()), "")
    headers = next(csv.reader([first], delimiter=delimiter), [])
    ids = {h: str for h in headers if schema.canonical_name(h)[0] == "patient_id"}
    dtype = str if re.search(rb"[eE][+-]?\s*\d{5,}", raw) else (ids or None)
    return pd.read_csv(io.BytesIO(raw), sep=delimiter, encoding=encoding, dtype=dtype, keep_default_na=False,
                       na_values=aio.NA_VALUES, skip_blank_lines=True, header=0, engine="c", low_memory=False)


def assert_same(fast, reference) -> None:
    assert fast.mapping == reference.mapping
    assert [vars(i) for i in fast.report.issues] == [vars(i) for i in reference.report.issues]
    assert fast.report.to_dict() == reference.report.to_dict()
    assert (fast.data is None) == (reference.data is None)
    if fast.data is not None:
        assert list(fast.data.dtypes) == list(reference.data.dtypes)
        pd.testing.assert_frame_equal(fast.data, reference.data, check_exact=True)


def assert_same_table(raw: bytes) -> None:
    """The columns the fast read hands to the cleaning are the plain read's columns, cell for cell."""
    table = aio._read_table(raw, aio.ValidationReport())
    frame = naive_read(raw)
    assert table.columns == [str(c) for c in frame.columns] and table.n_rows == len(frame)
    for j, c in enumerate(table.cols):
        pd.testing.assert_series_equal(c.cells(c.values), frame.iloc[:, j].reset_index(drop=True),
                                       check_names=False, check_exact=True)


@pytest.fixture
def parallel(monkeypatch):
    """Split every file into three parts (as a big file on a 3-core machine)."""
    monkeypatch.setattr(aio, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(aio, "PARALLEL_PARTS", 3)


# --- randomised messy files ----------------------------------------------------------------------------------

HEADERS = ["patient_id", "ID", "age", "Sex", "etiology", "AST (U/L)", "alt", "afp", "Child-Pugh", "CNLC", "ehm",
           "shunt", "metabolic", "treatment", "regimen", "OS (months)", "os_event", "death", "PFS (days)",
           "pfs_event", "recist", "mrecist", "ae_rash", "AE Fever", "My Score", "Group", "note", "status", "", "id"]
MISSING = ["", "NA", "na", "N/A", ".", "-", "--", "null", "None", "missing", "#N/A", "?", " NA ", "nan"]
NUMBERS = ["1", "0", "2", "12.5", "12,5", "1,234.5", "1.234,5", "-3", "<0.5", ">100", "≤2", "1e3", "1E-2", "inf",
           "-inf", "Infinity", "1e308", "1e999", "9" * 25, "18446744073709551616", "9223372036854775808",
           "-9223372036854775809", "0x1F", " 7 ", "+4", "007", "1.0", "2.0", "3.00", "10", "15", "400", "1 000"]
CODES = ["yes", "no", "Yes", "NO", "y", "n", "TRUE", "false", "True", "dead", "alive", "progressed", "censored",
         "with", "without", "present", "absent", "male", "Female", "M", "f", "HBV", "hcv", "Alcohol", "other", "A",
         "B", "C", "A5", "class B", "Child-Pugh C", "IIA", "CNLC IIIb", "IV", "cr", "PR", "stable disease", "PD",
         "NE", "HAIC + TKIs", "x", " a ", "b", "Ä", "ß", "名", "q,r", 'say "hi"', "two\nlines"]


def _cell(rng: random.Random, style: str) -> str:
    if rng.random() < 0.12:
        return rng.choice(MISSING)
    if style == "number":
        return rng.choice(NUMBERS) if rng.random() < 0.3 else f"{rng.uniform(0, 300):.{rng.randint(0, 3)}f}"
    if style == "integer":
        return str(rng.randint(-2, 50)) if rng.random() < 0.9 else rng.choice(NUMBERS)
    if style == "code":
        return rng.choice(CODES[:rng.randint(3, len(CODES))]) if rng.random() < 0.9 else rng.choice(NUMBERS)
    if style == "event":
        return rng.choice(["0", "1"]) if rng.random() < 0.8 else rng.choice(["2", "1.0", "0.0", "yes", "dead", "x"])
    if style == "id":
        return f"P{rng.randint(0, 10 ** 6)}" if rng.random() < 0.9 else rng.choice([" P1 ", "1", "1.0", "x"])
    return rng.choice(NUMBERS + CODES)


def messy_file(seed: int) -> bytes:
    """A file of random headers (aliases, duplicates, unknown, empty) and columns of numbers, codes, events,
    identifiers or a mix, with missing markers, odd numbers, quotes, embedded newlines, blank lines, any of
    the delimiters, line ends and encodings."""
    rng = random.Random(seed)
    heads = [rng.choice(HEADERS) for _ in range(rng.randint(1, 8))]
    if rng.random() < 0.7:
        heads = ["os_months", "os_event", *heads]
    styles = [rng.choice(["number", "integer", "code", "event", "id", "mixed"]) for _ in heads]
    pure = [rng.random() < 0.4 for _ in heads]               # some columns are clean
    delimiter = rng.choice([",", ";", "\t"])
    rows = []
    for _ in range(rng.choice([1, 3, 10, 40, 200, 600])):
        row = []
        for style, clean in zip(styles, pure):
            value = _cell(rng, style)
            if clean and style in ("number", "integer", "event") and value not in MISSING and \
                    not value.replace(".", "").replace("-", "").isdigit():
                value = "1"
            row.append(value)
        rows.append(row)
    quote_all = rng.random() < 0.2

    def fmt(value: str) -> str:
        if quote_all or delimiter in value or '"' in value or "\n" in value:
            return '"' + value.replace('"', '""') + '"'
        return value

    newline = rng.choice(["\n", "\n", "\r\n"])
    lines = [delimiter.join(fmt(h) for h in heads)] + [delimiter.join(fmt(v) for v in row) for row in rows]
    if rng.random() < 0.1:
        lines.insert(rng.randint(1, len(lines)), "")
    text = newline.join(lines) + rng.choice(["", newline])
    return text.encode(rng.choice(["utf-8", "utf-8", "utf-8-sig", "cp1252"]), errors="replace")


@pytest.mark.parametrize("seed", range(120))
def test_fast_read_matches_plain_read_on_messy_files(seed, parallel, monkeypatch):
    raw = messy_file(seed)
    time_unit = random.Random(-seed).choice([None, None, "days"])
    try:
        frame = naive_read(raw)
    except (pd.errors.ParserError, ValueError):
        assert not load_cohort(raw).ok                       # unreadable both ways
        return
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        return                                               # refused by the reader (checked in test_io)
    reference = load_cohort(frame, time_unit=time_unit)      # a frame is cleaned cell by cell
    assert_same(load_cohort(raw, time_unit=time_unit), reference)
    assert_same_table(raw)
    monkeypatch.setattr(aio, "PARALLEL_MIN_BYTES", 1 << 60)  # and the whole file in one part
    assert_same(load_cohort(raw, time_unit=time_unit), reference)


@pytest.mark.parametrize("column", [
    # the parser's typing depends on which cell fails first: an integer beyond uint64 before any non-integer
    # makes the column text, a non-integer first makes it numbers
    ["9" * 25, "88.5", "?", "1"], ["88.5", "9" * 25, "1"],
    ["18446744073709551615", "1.5"], ["1", "-1", "18446744073709551615"],
    ["18446744073709551615", "NA", "3"],                     # uint64 with a missing cell: kept as text
    ["1", "2", "NA"], ["True", "false", "NA"], ["True", "FALSE"], ["1", "01", "1.0", "1e0"], ["x", " 1", "1 "],
])
def test_order_and_range_dependent_typing_matches(column, parallel):
    cells = (column * 4)[:12]
    # read as categories (a coded column), plainly (a numeric one), and sampled (an extra column)
    raw = ("os_months,os_event,treatment,age,grp\n" + "".join(
        f"{i + 1},{i % 2},{c},{c},{c}\n" for i, c in enumerate(cells))).encode()
    assert_same(load_cohort(raw), load_cohort(naive_read(raw)))
    assert_same_table(raw)


@pytest.mark.parametrize("late", [
    ["2.5"],                                   # integers, then a float: float64 either way
    ["NA"],                                    # integers, then a missing cell: float64
    ["abc"],                                   # integers, then text: all text
    ["9007199254740993.0"],                    # beyond 2**53: an integer read as int64 differs from float
    ["-1", "18446744073709551615", "NA"],      # a part of integers beyond int64 with negatives and NA
    ["True", "False"],                         # a part of booleans after integers
    ["999999999999999999", "2.5"],             # integers beyond 2**53 first: parsed as floats they differ
    ["999999999999999999", "NA", "2.5"],       # the same, the integers' part with a missing cell (float64)
])
def test_parts_typed_differently_from_the_whole_file_fall_back(late, parallel):
    """A plain (numbers) column typed by part: the parts must agree with the whole file's typing."""
    values = [str(i % 90 + 10) for i in range(300)]
    values[-len(late):] = late
    if late == ["-1", "18446744073709551615", "NA"]:
        values[5] = values[150] = "abc"        # text in the first parts, integer-only conflict in the last
    if late[0] == "999999999999999999":        # the big integer (and missing cell) in the first part
        values[:len(late) - 1] = late[:-1]
        values[-len(late):-1] = ["10"] * (len(late) - 1)
    raw = ("os_months,os_event,age,My Score\n" + "".join(
        f"{i + 1},{i % 2},{v},{v}\n" for i, v in enumerate(values))).encode()
    assert_same(load_cohort(raw), load_cohort(naive_read(raw)))
    assert_same_table(raw)


def test_quoted_newlines_at_a_split_point_fall_back_to_the_whole_file(monkeypatch):
    rows = "".join(f'{i},1,"note\nline {i}",{i % 3}\n' for i in range(1, 200))
    raw = ("os_months,os_event,note,grp\n" + rows).encode()
    monkeypatch.setattr(aio, "PARALLEL_MIN_BYTES", 0)
    for parts in (2, 3, 4, 7):
        monkeypatch.setattr(aio, "PARALLEL_PARTS", parts)
        assert_same(load_cohort(raw), load_cohort(naive_read(raw)))


def test_a_clean_big_file_takes_the_parallel_coded_path(parallel, monkeypatch):
    """No silent fallback: the parts are parsed once each, coded columns stay coded."""
    rows = "".join(f"P{i},{i % 50 + 1}.5,{i % 2},{['A', 'B'][i % 2]},{['yes', 'no'][i % 3 == 0]},"
                   f"{['HAIC', 'TACE', 'x'][i % 3]}\n" for i in range(3000))
    raw = ("patient_id,os_months,os_event,child_pugh,ehm,arm2\n" + rows).encode()
    calls = []
    real_parse = aio._parse
    monkeypatch.setattr(aio, "_parse", lambda *a, **k: calls.append(1) or real_parse(*a, **k))
    report = aio.ValidationReport()
    table = aio._read_table(raw, report)
    assert len(calls) == 3 and report.ok
    coded = [name for name, c in zip(table.columns, table.cols) if c.index is not None]
    assert coded == ["os_event", "child_pugh", "ehm", "arm2"]
    assert_same(load_cohort(raw), load_cohort(naive_read(raw)))


def test_read_raw_table_is_the_plain_read():
    raw = messy_file(7)
    frame = aio.read_raw_table(raw, aio.ValidationReport())
    pd.testing.assert_frame_equal(frame, naive_read(raw))


def test_limits_name_the_same_cell_either_way(parallel):
    rows = "".join(f"{i},1,{'y' * (30 if i == 150 else 3)},{'Z' * (30 if i == 90 else 1)}\n" for i in range(1, 200))
    raw = ("os_months,os_event,note,grp\n" + rows).encode()
    r = load_cohort(raw, limits=Limits(max_cell_chars=20))
    (issue,) = r.report.errors
    assert issue.code == "cell_too_long" and "(column 3, line 151)" in issue.message


# --- the absurd-exponent screen --------------------------------------------------------------------------------

_bytes = st.lists(st.sampled_from([b"e", b"E", b"1", b"0", b"+", b"-", b" ", b"\n", b"\t", b"x", b",", b'"', b"9"]),
                  max_size=60).map(b"".join)


@settings(max_examples=examples(400), deadline=None)
@given(raw=_bytes)
def test_exponent_screen_equals_the_regular_expression(raw):
    expected = bool(aio.HUGE_EXPONENT_BYTES.search(raw))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(aio, "_SCREEN_DIRECT", 0)
        mp.setattr(aio, "_SCREEN_BLOCK", 7)                  # matches across block boundaries
        assert aio.has_huge_exponent(raw) == expected
        mp.setattr(aio, "_SCREEN_MAX_TRIES", 1)              # the plain search taking over
        assert aio.has_huge_exponent(raw) == expected


@pytest.mark.parametrize("where", ["start", "middle", "end", "coded"])
def test_huge_exponents_in_a_parallel_read_do_not_crash(where):
    """In a subprocess (the failure is a segmentation fault): a file read in parts with an absurd exponent
    anywhere is read as text throughout, whichever part holds it."""
    code = f"""
import numpy as np
from analysis import io as aio
aio.PARALLEL_MIN_BYTES, aio.PARALLEL_PARTS = 0, 3
rows = [f"{{i}},{{i % 2}},{{i % 7}}.5,{{'ab'[i % 2]}}" for i in range(1, 3000)]
at = {{"start": 0, "middle": 1500, "end": 2998, "coded": 2000}}[{where!r}]
rows[at] = rows[at].split(",")[0] + (",1,1,8e2569614270" if {where!r} == "coded" else ",1,1e+342064567324,a")
raw = ("os_months,os_event,ast,grp\\n" + "\\n".join(rows) + "\\n").encode()
r = aio.load_cohort(raw)
print("ok" if r.ok else "refused", r.data["ast"].isna().sum() if r.ok else "")
"""
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split()[0] == "ok"


def test_typed_like_parser_keeps_first_occurrence_order():
    values = aio._typed_like_parser(np.array(["9" * 25, "1.5"], dtype=object), False)
    assert values.dtype == object                          # the overflow came first: text
    values = aio._typed_like_parser(np.array(["1.5", "9" * 25], dtype=object), True)
    assert values.dtype == float and np.isnan(values.iloc[-1])
    assert aio._typed_like_parser(np.array(["18446744073709551615"], dtype=object), True) is None
