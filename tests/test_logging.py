"""No patient value reaches a log, and none reaches another browser session.

A canary cohort (patient id ``CANARY-7f3a9``, an AST of 987654.321, a category ``canarylevelzz``) is imported,
uploaded through the Data page's real upload callback, analysed by every server callback that reads the dataset,
and by the command line, while ALL logging is captured (the root logger at DEBUG plus the werkzeug, gunicorn,
dash, flask and celery loggers). The canaries must appear in no log record -- message, arguments or traceback --
and in no response to a second browser session. A real server process (gunicorn, debug log level, access log
on) is checked the same way through its whole output. Finally the redaction itself is exercised with the
things libraries do log: exceptions quoting values, DataFrames and bytes as arguments, request bodies.
"""
from __future__ import annotations

import base64
import contextlib
import io
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import requests

from components import ids
from tests.support.server import build_body, find_callback, free_port

ROOT = Path(__file__).resolve().parents[1]
CANARY_ID = "CANARY-7f3a9"
CANARY_AST = 987654.321
CANARY_LEVEL = "canarylevelzz"
#: every way the canaries could be written (the number also as pandas/numpy/plotly would format it)
NEEDLES = (CANARY_ID, CANARY_ID.lower(), CANARY_LEVEL, "987654.3", "987654", "9.87654", "9.876543",
           base64.b64encode(CANARY_ID.encode()).decode()[:10])
LOGGERS = ("", "werkzeug", "gunicorn", "gunicorn.error", "gunicorn.access", "dash", "flask.app", "app", "haic",
           "celery", "py.warnings", "analysis", "services", "pages")


def canary_csv() -> bytes:
    rows = ["patient_id,OS (months),death,PFS (months),progression,AST (U/L),risk_group,etiology"]
    for i in range(24):
        pid = CANARY_ID if i == 3 else f"P{i:03d}"
        ast = CANARY_AST if i == 3 else 20 + 7 * i
        group = CANARY_LEVEL if i % 3 == 0 else ("low" if i % 3 == 1 else "mid")
        rows.append(f"{pid},{3 + i * 1.5},{i % 2},{1 + i},{(i + 1) % 2},{ast},{group},HBV")
    return ("\n".join(rows) + "\n").encode()


def leaks(text: str) -> list[str]:
    return [n for n in NEEDLES if n in text]


class Capture(logging.Handler):
    """Everything logged, formatted as a handler would write it, plus the raw message and arguments."""

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.texts: list[str] = []
        self.seen: set[int] = set()
        self.formatter_ = logging.Formatter("%(levelname)s %(name)s %(message)s")

    def emit(self, record: logging.LogRecord) -> None:
        if id(record) in self.seen:
            return
        self.seen.add(id(record))
        self.texts.append(self.formatter_.format(record))
        self.texts.append(f"{record.msg!r} {record.args!r} {record.exc_text or ''} {record.stack_info or ''}")


@pytest.fixture
def all_logs():
    capture = Capture()
    saved = []
    for name in LOGGERS:
        logger = logging.getLogger(name)
        saved.append((logger, logger.level, logger.disabled))
        logger.setLevel(logging.DEBUG)
        logger.disabled = False
        logger.addHandler(capture)
    logging.captureWarnings(True)
    yield capture
    for logger, level, disabled in saved:
        logger.removeHandler(capture)
        logger.setLevel(level)
        logger.disabled = disabled


@pytest.fixture(scope="module")
def dash_app(tmp_path_factory):
    if "app" not in sys.modules:
        os.environ.setdefault("HAIC_CACHE_DIR", str(tmp_path_factory.mktemp("app-cache")))
    import app

    return app


def post(client, cb, values, changed):
    return client.post("/_dash-update-component", json=build_body(cb, values, changed))


def test_importer_upload_callbacks_and_cli_log_no_canary(dash_app, all_logs, tmp_path):
    from analysis.io import Limits, load_cohort

    raw = canary_csv()
    # the importer, directly
    result = load_cohort(raw, limits=Limits())
    assert result.ok and CANARY_ID in set(result.data["patient_id"])
    logging.getLogger("analysis").debug("imported %d rows", len(result.data))   # the capture works

    # session A uploads through the Data page's callback and analyses on every page
    alice = dash_app.server.test_client()
    deps = alice.get("/_dash-dependencies").get_json()
    upload_cb = find_callback(deps, f"{ids.DATASET_ID}.data")
    resp = post(alice, upload_cb, {f"{ids.UPLOAD}.contents": "data:text/csv;base64," + base64.b64encode(raw).decode(),
                                   f"{ids.UPLOAD}.filename": "canary.csv", f"{ids.TIME_UNIT}.value": "months",
                                   f"{ids.DATASET_ID}.data": "demo"}, [f"{ids.UPLOAD}.contents"])
    assert resp.status_code == 200
    dataset_id = resp.get_json()["response"][ids.DATASET_ID]["data"]
    assert dataset_id and dataset_id != "demo"

    km_cb = find_callback(deps, f"{ids.KM_GRAPH}.figure")
    for var, cutoff in (("ast", 100.0), ("ast", CANARY_AST), ("risk_group", None), ("etiology", None)):
        values = {f"{ids.KM_ENDPOINT}.value": "os", f"{ids.KM_VAR}.value": var, f"{ids.KM_SLIDER}.value": cutoff,
                  f"{ids.KM_CI}.value": "log-log", f"{ids.DATASET_ID}.data": dataset_id,
                  f"{ids.KM_CUTOFF}.value": cutoff}
        r = post(alice, km_cb, values, [f"{ids.KM_CUTOFF}.value"])
        assert r.status_code == 200 and ids.KM_GRAPH in r.get_json()["response"]
    preview = post(alice, find_callback(deps, f"{ids.PREVIEW}.children"), {f"{ids.DATASET_ID}.data": dataset_id},
                   [f"{ids.DATASET_ID}.data"])
    assert CANARY_ID in preview.get_data(as_text=True)         # the owner sees its own data

    # every other server callback that reads the dataset, with the canary dataset and empty controls
    called = 0
    for cb in deps:
        if cb.get("clientside_function"):
            continue
        deps_all = cb["inputs"] + cb.get("state", [])
        if not any(d["id"] == ids.DATASET_ID for d in deps_all) or cb is km_cb or cb is upload_cb:
            continue
        values = {f"{ids.DATASET_ID}.data": dataset_id}
        changed = [f"{d['id']}.{d['property']}" for d in cb["inputs"] if d["id"] == ids.DATASET_ID] or \
            [f"{cb['inputs'][0]['id']}.{cb['inputs'][0]['property']}"]
        r = post(alice, cb, values, changed)
        assert r.status_code in (200, 204, 500), cb["output"]   # 500: an unhandled None input, logged below
        called += 1
    assert called >= 3

    # session B: the same dataset id reads as "not there", and nothing of A's data is in what B is shown
    bob = dash_app.server.test_client()
    for cb in (km_cb, find_callback(deps, f"{ids.PREVIEW}.children"),
               find_callback(deps, f"{ids.DATASET_BANNER}.children")):
        values = {f"{ids.KM_ENDPOINT}.value": "os", f"{ids.KM_VAR}.value": "ast", f"{ids.KM_SLIDER}.value": 100.0,
                  f"{ids.KM_CI}.value": "log-log", f"{ids.DATASET_ID}.data": dataset_id,
                  f"{ids.KM_CUTOFF}.value": 100.0}
        r = post(bob, cb, values, [f"{ids.DATASET_ID}.data"])
        text = r.get_data(as_text=True)
        assert r.status_code == 200 and leaks(text) == [], cb["output"]
        assert "no longer on the server" in text
    bad = post(bob, upload_cb, {f"{ids.UPLOAD}.contents": "data:text/csv;base64," + base64.b64encode(
        b"patient_id,OS (months),death\nX,-1,maybe\n").decode(), f"{ids.UPLOAD}.filename": "b.csv",
        f"{ids.TIME_UNIT}.value": "months", f"{ids.DATASET_ID}.data": dataset_id}, [f"{ids.UPLOAD}.contents"])
    assert bad.status_code == 200 and "was not loaded" in bad.get_data(as_text=True)
    assert leaks(bad.get_data(as_text=True)) == []

    # the command line on the canary file, including a failing run (its message is shown to the user)
    from analysis.cli import main

    path = tmp_path / "canary.csv"
    path.write_bytes(raw)
    broken = tmp_path / "broken.csv"
    broken.write_bytes(raw.replace(b"\nP001,", b"\nP001,-").replace(b",1,HBV", b",maybe,HBV", 1))
    outputs = []
    for argv in (["validate", str(path)],
                 ["km", str(path), "--time", "os_months", "--event", "os_event", "--by", "ast", "--cutoff", "100"],
                 ["km", str(path), "--time", "os_months", "--event", "os_event", "--by", "risk_group"],
                 ["cutpoint", str(path), "--time", "os_months", "--event", "os_event", "--variable", "ast",
                  "--permutations", "0", "--bootstrap", "0", "--no-split"],
                 ["km", str(broken), "--time", "os_months", "--event", "os_event"],
                 ["km", str(path), "--time", "os_months", "--event", "os_event", "--by", "nope"]):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv)
        outputs.append((argv[0], code, out.getvalue(), err.getvalue()))
    assert [c for _n, c, _o, _e in outputs][:4] == [0, 0, 0, 0] and outputs[4][1] == 2 and outputs[5][1] == 2
    for name, _code, out, err in outputs:
        assert leaks(err) == [], name                     # stderr is a log: never a value
        if '"error"' in out:
            assert leaks(json.loads(out)["error"]) == [], name

    assert any("imported 24 rows" in t for t in all_logs.texts)   # the capture saw records
    found = {n: [t for t in all_logs.texts if n in t][:2] for n in NEEDLES if any(n in t for t in all_logs.texts)}
    assert found == {}


def test_redaction_holds_for_what_libraries_log(all_logs):
    """Values reach a log only through exception messages, data-holding arguments or request bodies; none
    survives."""
    from services.security import install_log_redaction

    install_log_redaction()
    log = logging.getLogger("werkzeug")
    frame = pd.DataFrame({"patient_id": [CANARY_ID], "ast": [CANARY_AST], "g": [CANARY_LEVEL]})
    try:
        float(CANARY_ID)
    except ValueError:
        log.exception("Exception on /_dash-update-component [POST]")
    try:
        try:
            frame.loc[frame["g"] == CANARY_LEVEL, "ast"].astype(int).iloc[5]
        except IndexError as inner:
            raise KeyError(f"{CANARY_LEVEL} at {CANARY_AST}") from inner
    except KeyError:
        logging.getLogger("gunicorn.error").error("Error handling request", exc_info=True)
    body = json.dumps({"output": "x", "inputs": [{"id": ids.UPLOAD, "property": "contents",
                                                  "value": "data:text/csv;base64," +
                                                  base64.b64encode(canary_csv()).decode()}]})
    logging.getLogger("flask.app").debug("request body: %s", body)
    logging.getLogger("dash").info("frame %s, series %s, values %s", frame, frame["ast"], frame["g"].values)
    logging.getLogger("").info("raw upload %r", canary_csv())
    logging.getLogger("").warning("upload %s", "data:text/csv;base64," + base64.b64encode(canary_csv()).decode())
    logging.getLogger("celery").info("task %(name)s got %(frame)s", {"name": "job", "frame": frame})
    text = "\n".join(all_logs.texts)
    assert "Traceback (most recent call last)" in text and "ValueError: <message redacted>" in text
    assert "KeyError: <message redacted>" in text and "IndexError: <message redacted>" in text
    assert "<DataFrame shape=(1, 3)>" in text and "<Series shape=(1,)>" in text and "bytes>" in text
    assert "<request body redacted" in text and "data:<redacted>" in text
    assert leaks(text) == []


def test_a_real_server_process_logs_no_canary(tmp_path):
    """gunicorn with the production config at debug level and its access log on: upload and analyse the canary
    file over HTTP; nothing in the process's output may carry a value."""
    port = free_port()
    log_path = tmp_path / "server.log"
    env = dict(os.environ, HAIC_BIND=f"127.0.0.1:{port}", HAIC_CACHE_DIR=str(tmp_path / "cache"),
               HAIC_ACCESS_LOG="-", HAIC_LOG_LEVEL="debug", HAIC_WORKERS="2", HAIC_SECRET_KEY="s" * 32)
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    with open(log_path, "wb") as out:
        proc = subprocess.Popen([gunicorn, "-c", "gunicorn.conf.py", "app:server"], cwd=ROOT, env=env,
                                stdout=out, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.time() + 90
            while time.time() < deadline:
                try:
                    if requests.get(url + "/_dash-layout", timeout=5).status_code == 200:
                        break
                except requests.RequestException:
                    time.sleep(0.3)
            from scripts.loadtest import DashSession, km_ok

            session = DashSession(url)
            status, response, _s, _n = session.upload(canary_csv(), "canary.csv")
            assert status == 200
            dataset_id = response[ids.DATASET_ID]["data"]
            for var, cutoff in (("ast", 100.0), ("ast", CANARY_AST), ("risk_group", None)):
                status, response, _s, _n = session.move_cutoff(dataset_id, "os", var, cutoff)
                assert status == 200 and km_ok(response)[0]
            # a request that makes a callback fail (an unknown endpoint value) and a malformed body
            status, _r, _s, _n = session.move_cutoff(dataset_id, CANARY_ID, "ast", 100.0)
            assert status in (200, 204, 500)
            requests.post(url + "/_dash-update-component", data=b'{"output": "' + CANARY_ID.encode() + b'"',
                          headers={"Content-Type": "application/json"}, timeout=30)
            other = DashSession(url)
            status, response, _s, _n = other.move_cutoff(dataset_id, "os", "ast", 100.0)
            assert status == 200 and leaks(json.dumps(response)) == []
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    text = log_path.read_text(errors="replace")
    assert "POST /_dash-update-component" in text and "DEBUG" in text   # the access and debug logs were on
    assert leaks(text) == [], [line for line in text.splitlines() if leaks(line)][:3]
