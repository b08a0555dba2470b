"""Data page callbacks as plain functions: upload, a refused upload keeps the dataset, "Remove my data"."""
from __future__ import annotations

import base64
from contextvars import copy_context

import pytest
from dash._callback_context import context_value
from dash._utils import AttributeDict

from components import ids


@pytest.fixture
def server():
    import app as app_module

    return app_module.server


def trigger(prop_id, func, *args):
    def run():
        context_value.set(AttributeDict(triggered_inputs=[{"prop_id": prop_id, "value": 1}]))
        return func(*args)
    return copy_context().run(run)


def upload(text: str) -> str:
    return "data:text/csv;base64," + base64.b64encode(text.encode()).decode()


GOOD = "id;OS (days);death;AST\n1;300;yes;40,5\n2;600;no;80\n3;90;yes;120\n"
BAD = "id,OS (days),death\n1,-5,yes\n"


def call(prop, contents=None, current="demo", pending=None, settings=None):
    from pages.data import handle_upload

    outputs = trigger(prop, handle_upload, contents, None, None, [], [], [], [], "good.csv", "months", pending,
                      settings, [], [], [], [], [], [])
    return outputs[:4]


def test_upload_refusal_and_remove_my_data(server):
    from services import meta_views, store

    with server.test_request_context("/"):
        new_id, feedback, pending, _mapping = call(f"{ids.UPLOAD}.contents", upload(GOOD))
        assert new_id != "demo" and "Loaded good.csv" in str(feedback)
        assert store.get_dataset(new_id).n == 3

        same, feedback, _p, _m = call(f"{ids.UPLOAD}.contents", upload(BAD), current=new_id)
        assert same is dash_no_update() and "was not loaded" in str(feedback) and "negative times" in str(feedback)
        assert store.get_dataset(new_id).n == 3               # the earlier dataset is still there

        meta_views.apply_edit(0, "os_hr", "0.61", "my re-extraction")
        assert meta_views.current_data().frame.loc[0, "os_hr"] == "0.61"

        back, feedback, _p, _m = call(f"{ids.REMOVE_DATA}.n_clicks", current=new_id)
        assert back == "demo" and "deleted" in str(feedback)
        with pytest.raises(store.DatasetMissing):
            store.get_dataset(new_id)
        assert meta_views.current_data().frame.loc[0, "os_hr"] != "0.61"   # the meta edits went too


def dash_no_update():
    from dash import no_update

    return no_update
