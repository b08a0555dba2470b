"""An unexpected error in any callback reaches the user as a readable alert, never a traceback."""
from __future__ import annotations

import json
import logging

import dash
from dash import Input, Output, html


def test_unexpected_callback_error_becomes_an_alert_without_data_in_logs(caplog):
    from app import on_callback_error

    mini = dash.Dash(__name__, on_error=on_callback_error)
    mini.layout = html.Div([html.Button(id="b"), html.Div(id="out"), html.Div(id="global-alert")])

    @mini.callback(Output("out", "children"), Input("b", "n_clicks"))
    def boom(n):
        raise KeyError("SECRET-CELL-VALUE")

    client = mini.server.test_client()
    body = {"output": "out.children", "outputs": {"id": "out", "property": "children"},
            "inputs": [{"id": "b", "property": "n_clicks", "value": 1}], "changedPropIds": ["b.n_clicks"],
            "state": []}
    with caplog.at_level(logging.DEBUG):
        response = client.post("/_dash-update-component", json=body)
    text = response.get_data(as_text=True)
    assert response.status_code == 200
    payload = json.loads(text)
    alert = json.dumps(payload["sideUpdate"]["global-alert"])
    assert "Something went wrong" in alert and "KeyError" in alert
    assert "Traceback" not in text and "SECRET-CELL-VALUE" not in text
    assert "SECRET-CELL-VALUE" not in caplog.text
