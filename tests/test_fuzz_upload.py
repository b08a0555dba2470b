"""Property-based fuzzing of uploads: malformed files of every kind never raise, every refusal says what is wrong
(without quoting cell values), and a dataset stored before stays usable.

Two layers: the importer and validator directly (``analysis.io.load_cohort`` with upload limits, 500 files per
run) with the server-side store around it, and the Data page's real upload callback through the Flask app
(fewer files; each is a full Dash request).
"""
from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest
from flask import Flask, session
from hypothesis import HealthCheck, example, given, settings, strategies as st

from analysis.io import Limits, load_cohort
from components import ids
from tests.support.server import build_body, find_callback
from services import store
from tests.support.examples import examples

LIMITS = Limits(max_bytes=200_000, max_rows=300, max_columns=40, max_cell_chars=200)
#: every generated cell value carries this marker, so a message that quotes a cell is caught
MARK = "qzv"

GOOD = b"patient_id,os_months,os_event,ast\nP1,10,1,40\nP2,20,0,80\nP3,5,1,120\nP4,30,0,33\n"

# --- generators of malformed files ----------------------------------------------------------------------------

HEADER_WORDS = ["patient_id", "OS (months)", "os_event", "PFS (days)", "pfs_event", "AST (U/L)", "ALT", "sex",
                "Child-Pugh", "etiology", "death", "ae_rash", "treatment", "age", "", " ", "x", "os_months",
                "=cmd|' /C calc'!A0", "<script>window.__pwned=1</script>", "<img src=x onerror=alert(1)>",
                "[link](javascript:alert(1))", "**bold**", "名前", "ÄST", "col\u200bzero", "a\"quote", "semi;colon"]
#: numbers whose exponent overflows a C int crash pandas < 3's number parser (segfault, pandas GH#63650); the
#: importer screens them (test_huge_exponents_do_not_crash_the_importer checks that in a subprocess)
HUGE_EXPONENTS = ["1e+342064567324", "8e2569614270", "-1E3000000000", "8e2569614270f3d8b9e7038efac9f116"]
CELL_SPECIALS = HUGE_EXPONENTS + [
    "", "NA", ".", "-", "1e308", "-1e308", "1e999", "9" * 400, "NaN", "nan", "inf", "-inf", "Infinity", "0x1F", "1,5",
    "1.234,5", "<0.5", ">1e6", "yes", "dead", "2", "=1+1", "@SUM(A1)", "+1", "<b>x</b>", "javascript:alert(1)",
    "\u202e", "😀", "ß", "\x00", "\ufeff"]


def marked(text: str) -> str:
    return f"{MARK}{text}"


cell = st.one_of(
    st.sampled_from(CELL_SPECIALS),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-10**30, max_value=10**30).map(str),
    st.text(max_size=12).map(marked),
)
# free-text headers never open a quote: a quoted header could swallow later lines, cells and all, into its name
header = st.one_of(st.sampled_from(HEADER_WORDS), st.text(max_size=15).map(lambda t: t.replace('"', "'")))
delimiter = st.sampled_from([",", ";", "\t", "|", " ", ":"])
newline = st.sampled_from(["\n", "\r\n", "\r"])
encoding = st.sampled_from(["utf-8", "utf-8-sig", "latin-1", "cp1252", "utf-16", "utf-16-le", "utf-32"])


def encode(text: str, enc: str) -> bytes:
    return text.encode(enc, errors="replace")


@st.composite
def table_file(draw) -> bytes:
    """A table with any headers (duplicated, empty, HTML, formulas) and ragged rows of odd cells."""
    n_cols = draw(st.integers(1, 8))
    headers = draw(st.lists(header, min_size=n_cols, max_size=n_cols))
    if draw(st.booleans()):
        headers.append(headers[0])                              # a duplicated header
    d, nl = draw(delimiter), draw(newline)
    rows = draw(st.lists(st.lists(cell, min_size=0, max_size=n_cols + 3), max_size=12))  # ragged
    lines = [d.join(headers)] + [d.join(r) for r in rows]
    return encode(nl.join(lines) + draw(st.sampled_from(["", nl])), draw(encoding))


@st.composite
def mixed_encoding_file(draw) -> bytes:
    base = "patient_id,OS (months),death,etiology\n"
    rows = [f"P{i},{draw(cell)},{draw(cell)},{draw(st.sampled_from(['HBV', 'Hépatite', 'ß', '名前']))}\n"
            for i in range(draw(st.integers(1, 6)))]
    parts = [encode(base, "utf-8")] + [encode(r, draw(encoding)) for r in rows]
    return b"".join(parts)


@st.composite
def broken_quotes_file(draw) -> bytes:
    body = "os_months,os_event,note\n" + "\n".join(
        f"{draw(cell)},{draw(cell)},\"{draw(st.text(max_size=8))}" for _ in range(draw(st.integers(1, 5))))
    return body.encode("utf-8", errors="replace")


@st.composite
def oversized_file(draw) -> bytes:
    kind = draw(st.sampled_from(["columns", "rows", "cell", "bytes"]))
    if kind == "columns":
        return (",".join(f"c{i}" for i in range(LIMITS.max_columns + draw(st.integers(1, 20)))) + "\n" +
                ",".join("1" for _ in range(LIMITS.max_columns + 25))).encode()
    if kind == "rows":
        return b"os_months,os_event\n" + b"1,1\n" * (LIMITS.max_rows + draw(st.integers(1, 50)))
    if kind == "cell":
        return b"os_months,os_event,x\n1,1," + b"y" * (LIMITS.max_cell_chars + draw(st.integers(1, 100))) + b"\n"
    return b"os_months,os_event\n" + b"1,1\n" * (LIMITS.max_bytes // 4 + 10)


malformed_file = st.one_of(
    table_file(),
    table_file(),
    mixed_encoding_file(),
    broken_quotes_file(),
    oversized_file(),
    st.binary(max_size=600),                                                    # binary junk
    st.builds(lambda b: b"\x00" + b, st.binary(max_size=100)),
    st.sampled_from([b"", b" ", b"\n\n\n", b"\xef\xbb\xbf", b"os_months,os_event\n", b"os_months;os_event\r\n",
                     b"PK\x03\x04junk", b"%PDF-1.7", b"\x89PNG\r\n", b"\xd0\xcf\x11\xe0xls"]),  # empty, header-only
    st.text(max_size=300).map(lambda t: t.encode("utf-8", errors="replace")),
)


def cell_values_of(raw: bytes) -> set[str]:
    """The marked cell values that could appear in a message if a message quoted data."""
    text = raw.decode("utf-8", errors="ignore") + raw.decode("latin-1", errors="ignore")
    found = set()
    start = text.find(MARK)
    while start >= 0:
        end = start + len(MARK)
        while end < len(text) and text[end] not in ",;\t|: \r\n\"" and end - start < 30:
            end += 1
        if end - start > len(MARK) + 2:    # long enough not to coincide with ordinary words
            found.add(text[start:end])
        start = text.find(MARK, start + 1)
    return found


# --- the importer and validator, with the store around them --------------------------------------------------

@pytest.fixture(scope="module")
def store_app(tmp_path_factory):
    app = Flask("fuzz")
    app.config["SECRET_KEY"] = "fuzz"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HAIC_CACHE_DIR", str(tmp_path_factory.mktemp("fuzz-store")))
        mp.delenv("REDIS_URL", raising=False)
        store.init_cache(app)
    with as_fuzzer(app):
        previous = store.put_dataset(load_cohort(GOOD), "previous.csv")
    return app, previous


def as_fuzzer(app):
    """A request of the fuzzing browser session (the owner of the stored datasets)."""
    ctx = app.test_request_context("/")

    class _Session:
        def __enter__(self):
            ctx.push()
            session["owner"] = "fuzzer"

        def __exit__(self, *exc):
            ctx.pop()

    return _Session()


@settings(max_examples=examples(600), deadline=None, suppress_health_check=list(HealthCheck))
@example(raw=b"os_months,os_event,ast\n1,1,1e+34 2064567324\n2,0,8e2569614270f3d8\n", time_unit=None)
@given(raw=malformed_file, time_unit=st.sampled_from([None, "days", "months", "years"]))
def test_importer_never_raises_and_every_refusal_names_the_problem(store_app, raw, time_unit):
    app, previous = store_app
    with as_fuzzer(app):
        check_one_file(raw, time_unit, previous)


def check_one_file(raw: bytes, time_unit, previous) -> None:
    result = load_cohort(raw, time_unit=time_unit, limits=LIMITS)      # must not raise
    report = result.report.to_dict()
    values = cell_values_of(raw)
    messages = [i["message"] for i in report["errors"] + report["warnings"]]
    if not result.ok:
        assert result.data is None and report["errors"], "a refusal without an error"
        for issue in report["errors"]:
            assert issue["code"] and len(issue["message"]) >= 10, issue
    else:
        assert result.data is not None and not report["errors"]
        stored = store.put_dataset(result, "fuzz.csv")            # what the Data page does with an accepted file
        assert store.get_dataset(stored.id).n == len(result.data)
        store.delete_dataset(stored.id)
    for message in messages:
        for value in values:
            assert value not in message, "a message quotes a cell value"
    again = store.get_dataset(previous.id)                         # the earlier upload is still usable
    assert again.content_hash == previous.content_hash and again.n == 4


# --- the Data page's upload callback, end to end in the Flask app ---------------------------------------------

@pytest.fixture(scope="module")
def app_client(tmp_path_factory):
    if "app" not in sys.modules:
        os.environ.setdefault("HAIC_CACHE_DIR", str(tmp_path_factory.mktemp("app-cache")))
    import app

    client = app.server.test_client()
    deps = client.get("/_dash-dependencies").get_json()
    upload_cb = find_callback(deps, f"{ids.DATASET_ID}.data")
    km_cb = find_callback(deps, f"{ids.KM_GRAPH}.figure")

    def upload(raw: bytes, current: str, name: str = "fuzz.csv"):
        values = {f"{ids.UPLOAD}.contents": "data:text/csv;base64," + base64.b64encode(raw).decode(),
                  f"{ids.UPLOAD}.filename": name, f"{ids.TIME_UNIT}.value": "months", f"{ids.DATASET_ID}.data": current}
        return client.post("/_dash-update-component", json=build_body(upload_cb, values, [f"{ids.UPLOAD}.contents"]))

    def km(dataset_id: str):
        values = {f"{ids.KM_ENDPOINT}.value": "os", f"{ids.KM_VAR}.value": "ast", f"{ids.KM_SLIDER}.value": 60.0,
                  f"{ids.KM_CI}.value": "log-log", f"{ids.DATASET_ID}.data": dataset_id, f"{ids.KM_CUTOFF}.value": 60.0}
        return client.post("/_dash-update-component", json=build_body(km_cb, values, [f"{ids.KM_CUTOFF}.value"]))

    def show(dataset_id: str):
        return client.post("/_dash-update-component", json=build_body(
            banner_cb, {f"{ids.DATASET_ID}.data": dataset_id}, [f"{ids.DATASET_ID}.data"]))

    banner_cb = find_callback(deps, f"{ids.DATASET_BANNER}.children")
    first = upload(GOOD, "demo", "previous.csv")
    assert first.status_code == 200
    previous = first.get_json()["response"][ids.DATASET_ID]["data"]
    return upload, km, show, previous


@settings(max_examples=examples(40), deadline=None, suppress_health_check=list(HealthCheck))
@given(raw=malformed_file)
def test_upload_callback_survives_malformed_files_and_keeps_the_previous_dataset(app_client, raw):
    upload, km, show, previous = app_client
    resp = upload(raw, previous)
    assert resp.status_code == 200, resp.status_code          # never a server error
    response = resp.get_json()["response"]
    feedback = str(response[ids.UPLOAD_FEEDBACK])
    if ids.DATASET_ID not in response:                          # refused, or held: the page says so and why
        assert "was not loaded" in feedback and "previous dataset is still active" in feedback
        # at least one error badge with its message, or the time-unit check with a button per reading
        assert "'children': 'error'" in feedback or ("check the time unit" in feedback and "unit-choice" in feedback)
        current = previous
    else:
        current = response[ids.DATASET_ID]["data"]
        assert current not in (None, "demo", previous)
    for value in cell_values_of(raw):
        assert value not in feedback                          # the feedback lists issues and columns, not cells
    banner = str(show(current).get_json()["response"][ids.DATASET_BANNER]["children"])
    assert "fuzz.csv" in banner or (current == previous and "previous.csv" in banner)   # the active dataset reads
    check = km(previous).get_json()["response"]                # and the earlier upload still does
    assert ids.KM_GRAPH in check and not check.get(ids.KM_ALERT, {}).get("children")


@pytest.mark.parametrize("cells", [["1e+342064567324"], ["8e2569614270"], ["1e+34 2064567324"], ["-1E3000000000"],
                                   ["8e2569614270f3d8b9e7038efac9f116"]])   # a hash-like sample code
def test_huge_exponents_do_not_crash_the_importer(cells):
    """An upload is untrusted: a cell must never crash the worker that reads it (run in a subprocess, since the
    failure mode is a segmentation fault)."""
    raw = ("os_months,os_event,ast\n" + "".join(f"{i + 1},{i % 2},{c}\n" for i, c in enumerate(cells * 3)))
    code = ("import sys; from analysis.io import load_cohort, Limits; "
            "r = load_cohort(sys.stdin.buffer.read(), limits=Limits()); print('ok' if r.data is not None else 'refused')")
    proc = subprocess.run([sys.executable, "-c", code], input=raw.encode(), capture_output=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[1])
    assert proc.returncode == 0, f"the importer process died (return code {proc.returncode})"
    assert proc.stdout.strip() in (b"ok", b"refused")
