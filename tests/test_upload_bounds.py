"""The importer's own bounds on pathological files (issue 13): files that cost a worker its memory or minutes
of CPU before, each a reproduction that failed on the code before the fix.

The process-level bound (every load in a child process with a memory and a wall-clock limit) is tested in
``tests/test_bounded.py``; these tests are about the importer not needing it for the known cases.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from analysis import io as aio
from analysis.io import Limits, load_cohort, sniff_delimiter, unify_line_ends

ROOT = Path(__file__).resolve().parents[1]

#: pandas' C tokenizer looped on this for ever (~300 MB/s) before line ends were unified
TOKENIZER_LOOP = b'c\n,\n\r\t"'
#: csv.Sniffer's regular expressions backtracked on this for ~120 s (cost x16 per doubling of the quotes)
SNIFFER_BACKTRACK = b',"a",\n' + b'"' * 600 + b"a"

PEAK = r"""
import json, resource, sys
from analysis.io import load_cohort, Limits
def hwm_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
base = hwm_mb()
result = load_cohort(sys.stdin.buffer.read(), limits=Limits())
print(json.dumps({"grew_mb": hwm_mb() - base, "errors": [i.code for i in result.report.errors]}))
"""


def run_limited(code: str, raw: bytes, memory_mb: int = 1500, timeout: float = 60) -> subprocess.CompletedProcess:
    """``code`` in a fresh interpreter with an address-space limit, so that a regression fails the test instead of
    exhausting the host."""
    import resource

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (memory_mb << 20, memory_mb << 20))

    return subprocess.run([sys.executable, "-c", code], input=raw, capture_output=True, timeout=timeout, cwd=ROOT,
                          preexec_fn=limit)


@pytest.mark.parametrize("raw", [TOKENIZER_LOOP, b"c\n,\n\r c", b"id,x\n1,2\r\r\t3", b"c\n,\r\r \"",
                                 b"os_months,os_event\r1,1\r,\r\t\"x\r2,0\r"])
def test_a_bare_carriage_return_before_an_indented_line_is_read_in_bounded_memory(raw):
    proc = run_limited(PEAK, raw)
    assert proc.returncode == 0, proc.stderr[-1500:]
    out = json.loads(proc.stdout.decode().strip().splitlines()[-1])
    assert out["grew_mb"] < 150, out                   # the loop allocated until the limit (1.5 GB here)
    assert "not_a_table" not in out["errors"]          # read as the table it is, not refused for "out of memory"


def test_line_ends_are_unified_only_where_a_bare_carriage_return_occurs():
    assert unify_line_ends(b"a,b\n1,2\n") == b"a,b\n1,2\n"
    crlf = b"a,b\r\n1,2\r\n"
    assert unify_line_ends(crlf) is crlf                       # a Windows file is passed through as it is
    assert unify_line_ends(b"a,b\r1,2\r") == b"a,b\n1,2\n"
    assert unify_line_ends(b"a,b\r\n1,2\r3,4") == b"a,b\n1,2\n3,4"
    # the same table either way
    mac = load_cohort(b"id,os_months,os_event\rP1,1,1\rP2,2,0\r")
    unix = load_cohort(b"id,os_months,os_event\nP1,1,1\nP2,2,0\n")
    assert mac.ok and mac.data.equals(unix.data)


def test_delimiter_detection_is_linear_on_a_quote_flood():
    code = ("import sys; from analysis.io import sniff_delimiter; "
            "print(repr(sniff_delimiter(sys.stdin.buffer.read().decode())))")
    proc = subprocess.run([sys.executable, "-c", code], input=SNIFFER_BACKTRACK * 4, capture_output=True,
                          timeout=20, cwd=ROOT)     # csv.Sniffer: hours for this input
    assert proc.returncode == 0 and proc.stdout.strip() == b"','"


@pytest.mark.parametrize("text, expected", [
    ("a;b;c\n1;2,5;3\n4;5,5;6\n", ";"),                 # decimal commas inside a semicolon file
    ("a\tb\n1\t2\n", "\t"),
    ("a,b,c\n1,2,3\n4,5,6\n", ","),
    ('"x;y",b\n"1;2",3\n"4;5",6\n', ","),               # the semicolons are inside quotes
    ('a;"b,c";d\n1;"2,5";3\n', ";"),
    ("name\nSmith, John\nDoe\n", ","),                  # one column (no delimiter in the header): the default
    ("", ","),
    ("a,b\n" + '"' * 5000, ","),                         # a quote never closed: judged by the records before it
])
def test_sniffer_prefers_the_delimiter_that_splits_the_records_consistently(text, expected):
    assert sniff_delimiter(text) == expected


@pytest.fixture
def no_parsing(monkeypatch):
    """The parser must not run: a file refused before parsing never reaches it."""
    def refuse(*_args, **_kwargs):
        raise AssertionError("the parser ran")

    monkeypatch.setattr(aio, "_parse", refuse)
    monkeypatch.setattr(pd, "read_csv", refuse)


@pytest.mark.parametrize("raw, code", [
    (b"," * 5_000_000, "too_many_columns"),                                                    # 5 MB of commas
    ((",".join(f"c{i}" for i in range(100_000)) + "\n" + ",".join("1" * 100_000) + "\n").encode(),
     "too_many_columns"),                                                                      # 100,000 columns
    (b"os_months,os_event\n1,1\n" + b"x;" * 10_000_000 + b"\n", "line_too_long"),           # a 20 MB line
    (b"os_months,os_event\n1,1\n2," + b'"' * 3_000_000 + b"\n", "line_too_long"),            # a quote flood
    (b"os_months," + b"h" * 5000 + b"\n1,1\n", "cell_too_long"),                             # a header name
])
def test_limits_are_checked_before_parsing(no_parsing, raw, code):
    result = load_cohort(raw, limits=Limits())
    assert not result.ok and [i.code for i in result.report.errors] == [code]
    message = result.report.errors[0].message
    assert "limit" in message or "longer than" in message


def test_limits_before_parsing_keep_every_file_within_them(monkeypatch):
    """The checks before parsing refuse nothing the limits allow: the widest, longest-celled file passes."""
    limits = Limits(max_bytes=10 << 20, max_rows=10, max_columns=40, max_cell_chars=50)
    header = ",".join(["os_months", "os_event"] + [f"v{i}" for i in range(38)])
    row = ",".join(["1", "1"] + ["é" * 50] * 38)          # 38 cells of 50 two-byte characters
    result = load_cohort(f"{header}\n{row}\n{row}\n".encode(), limits=limits)
    assert result.ok, result.report.errors


SMALL = Limits(max_bytes=10 << 20, max_rows=1000, max_columns=40, max_cell_chars=100)


@pytest.mark.parametrize("raw, code, message", [
    # rows with more fields than the header: pandas read the extra fields as index levels (19 MB of such rows
    # took 92 s); without quotes every delimiter ends a field, so they are counted before parsing
    (b"os_months,os_event\n1,1\n" + b"," * 3000 + b"\n", "too_many_columns", "line 3 has 3,001 fields"),
    (b"os_months,os_event\n" + b"1,1\n" * 5000, "too_many_rows", "the file has 5000 rows; the limit is 1000"),
    (b"os_months,os_event\n1,1\n" + b"\n" * 20_000, "too_many_lines", "the file has 20,002 lines"),
    (b"os_months,os_event\n1,1\n" + b" \t\n" * 20_000, "too_many_lines", "the file has 20,002 lines"),
])
def test_rows_lines_and_fields_of_an_unquoted_file_are_counted_before_parsing(no_parsing, raw, code, message):
    result = load_cohort(raw, limits=SMALL)
    assert [i.code for i in result.report.errors] == [code]
    assert result.report.errors[0].message.startswith(message)


def test_counting_before_parsing_agrees_with_the_parser():
    """Blank and whitespace-only lines are no rows (the parser skips them); a file with quotes is left to the
    parser (a quoted cell may hold line ends and delimiters)."""
    blank_lines = b"os_months,os_event\n" + b"1,1\n\n \t\n" * 1000
    assert load_cohort(blank_lines, limits=SMALL).report.n_rows == 1000
    quoted = b'os_months,os_event,note\n' + b'1,1,"a\nb,c"\n' * 1001
    result = load_cohort(quoted, limits=SMALL)
    assert [i.code for i in result.report.errors] == ["too_many_rows"]
    assert result.report.errors[0].message == "the file has 1001 rows; the limit is 1000"


def test_the_line_profile_counts_across_its_blocks(monkeypatch):
    raw = b"a,b\n1,2\n\n  \n3,4,5\n6,7"
    expected = aio._line_profile(raw, b",")
    assert expected == (4, 3, 5)
    for block in (1, 2, 3, 5, 7):
        monkeypatch.setattr(aio, "_PROFILE_BLOCK", block)
        assert aio._line_profile(raw, b",") == expected, block


def test_a_first_row_with_many_more_fields_than_the_header_is_refused_before_parsing(no_parsing):
    """The parser takes every extra field of the first row as an index level (25,000 fields: 6 s; columns
    shifted). One extra field -- R's row names -- is still read (by the parser, as before)."""
    raw = b"a,b\n" + b'"x",' * 25_000 + b"\n"
    for limits in (Limits(), None):
        result = load_cohort(raw, limits=limits)
        [error] = result.report.errors
        assert error.code == "not_a_table" and error.message.startswith("line 2 has at least 16,384 fields but the "
                                                                         "header has 2")
    short = load_cohort(b"os_months,os_event\n\n1,1,3,4\n", limits=None)
    assert short.report.errors[0].message.startswith("line 3 has 4 fields but the header has 2")


def test_r_row_names_are_still_read():
    result = load_cohort(b'os_months,os_event\n"1",3,1\n"2",4,0\n"3",5,1\n')
    assert result.ok and result.data["os_months"].tolist() == [3.0, 4.0, 5.0]
