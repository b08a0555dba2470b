"""An unexpected error in any callback reaches the user as a readable alert, never a traceback."""
from __future__ import annotations

import json
import logging
from contextvars import copy_context

import plotly
from dash._callback_context import context_value
from dash._utils import AttributeDict


def test_unexpected_callback_error_becomes_an_alert_without_data_in_logs(caplog):
    import app

    assert app.app._on_error is not None          # the handler is installed on the real app

    def run():
        context_value.set(AttributeDict(updated_props={}))
        app.on_callback_error(KeyError("SECRET-CELL-VALUE"))
        return context_value.get().updated_props

    with caplog.at_level(logging.DEBUG):
        props = copy_context().run(run)
    alert = json.dumps(props["global-alert"], cls=plotly.utils.PlotlyJSONEncoder)
    assert "Something went wrong" in alert and "KeyError" in alert
    assert "SECRET-CELL-VALUE" not in alert and "Traceback" not in alert
    assert "SECRET-CELL-VALUE" not in caplog.text and "KeyError" in caplog.text
