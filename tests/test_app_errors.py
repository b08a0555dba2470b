"""An unexpected error in any callback reaches the user as a readable alert, never a traceback."""
from __future__ import annotations

import json
import logging
from contextvars import copy_context

import plotly
from dash._callback_context import context_value
from dash._utils import AttributeDict

from components import ids


def test_unexpected_callback_error_becomes_an_alert_without_data_in_logs(caplog):
    import app

    assert app.app._on_error is not None          # the handler is installed on the real app

    def run():
        context_value.set(AttributeDict(updated_props={}))
        app.on_callback_error(KeyError("SECRET-CELL-VALUE"))
        return context_value.get().updated_props

    with caplog.at_level(logging.DEBUG):
        props = copy_context().run(run)
    alert = json.dumps(props[ids.GLOBAL_ALERT], cls=plotly.utils.PlotlyJSONEncoder)
    assert "Something went wrong" in alert and "KeyError" in alert
    assert "SECRET-CELL-VALUE" not in alert and "Traceback" not in alert
    assert "SECRET-CELL-VALUE" not in caplog.text and "KeyError" in caplog.text


def test_a_store_refusal_reaches_the_user_as_it_is_and_the_previous_dataset_stays(monkeypatch, tmp_path):
    """An upload over the session's quota (or into a full store) is told in the store's own words."""
    import base64
    import os
    import sys

    if "app" not in sys.modules:
        os.environ.setdefault("HAIC_CACHE_DIR", str(tmp_path / "cache"))
    import app
    from tests.support.server import build_body, find_callback

    client = app.server.test_client()
    deps = client.get("/_dash-dependencies").get_json()
    upload = find_callback(deps, f"{ids.DATASET_ID}.data")
    raw = b"os_months,os_event,ast\n" + b"".join(b"%d,%d,%d\n" % (i + 1, i % 2, 20 + i) for i in range(30))

    def send(name: str, current: str):
        values = {f"{ids.UPLOAD}.contents": "data:text/csv;base64," + base64.b64encode(raw).decode(),
                  f"{ids.UPLOAD}.filename": name, f"{ids.TIME_UNIT}.value": "months", f"{ids.DATASET_ID}.data": current}
        return client.post("/_dash-update-component", json=build_body(upload, values, [f"{ids.UPLOAD}.contents"]))

    monkeypatch.setenv("HAIC_SESSION_MAX_DATASETS", "1")
    first = send("first.csv", "demo").get_json()["response"][ids.DATASET_ID]["data"]
    resp = send("second.csv", first)
    assert resp.status_code == 200
    body = resp.get_json()
    assert ids.DATASET_ID not in body.get("response", {})                    # the active dataset is unchanged
    alert = json.dumps(body, cls=plotly.utils.PlotlyJSONEncoder)
    assert "second.csv was not stored" in alert and "first.csv" in alert and "Remove my data" in alert
    assert "Something went wrong" not in alert


def test_a_backend_outage_anywhere_is_said_as_such():
    """Code that uses the cache directly (the meta page's table) meets Redis' own ConnectionError: the user reads
    that the store cannot be reached, not "Something went wrong"."""
    import redis

    import app
    from services import store

    def run():
        context_value.set(AttributeDict(updated_props={}))
        app.on_callback_error(redis.exceptions.ConnectionError("Error 111 connecting to 10.0.0.5:6379"))
        return context_value.get().updated_props

    alert = json.dumps(copy_context().run(run)[ids.GLOBAL_ALERT], cls=plotly.utils.PlotlyJSONEncoder)
    assert store.UNREACHABLE in alert and "Something went wrong" not in alert and "10.0.0.5" not in alert
    assert store.storage_failure(KeyError("x")) is None and store.storage_failure(OSError("x")) is None
