"""Server-side dataset store: isolation between browser sessions, expiry, deletion, memoised results."""
from __future__ import annotations

import time

import pandas as pd
import pytest
from flask import Flask, session

from analysis.io import load_cohort
from services import store


@pytest.fixture
def app(tmp_path, monkeypatch):
    monkeypatch.setenv("HAIC_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("REDIS_URL", raising=False)
    flask_app = Flask("t")
    flask_app.config["SECRET_KEY"] = "test"
    store.init_cache(flask_app)
    return flask_app


def cohort(values=(1.0, 2.0, 3.0)):
    return load_cohort(pd.DataFrame({"os_months": list(values), "os_event": [1, 0, 1]}))


def as_session(app, owner):
    ctx = app.test_request_context("/")
    ctx.push()
    session["owner"] = owner
    return ctx


def test_one_session_cannot_read_or_delete_anothers_dataset(app):
    ctx = as_session(app, "alice")
    ds = store.put_dataset(cohort(), "a.csv")
    assert store.get_dataset(ds.id).frame.shape == (3, 2)
    ctx.pop()

    ctx = as_session(app, "mallory")
    with pytest.raises(store.DatasetMissing):
        store.get_dataset(ds.id)          # knowing the id is not enough
    assert store.delete_dataset(ds.id) is False
    ctx.pop()

    ctx = as_session(app, "alice")
    assert store.get_dataset(ds.id).id == ds.id
    assert store.delete_dataset(ds.id) is True
    with pytest.raises(store.DatasetMissing):
        store.get_dataset(ds.id)
    ctx.pop()


def test_ids_are_unguessable_and_distinct(app):
    with app.test_request_context("/"):
        ids = {store.put_dataset(cohort(), "x.csv").id for _ in range(20)}
    assert len(ids) == 20 and all(len(i) >= 32 for i in ids)


def test_datasets_expire_after_idle_time(app, monkeypatch):
    monkeypatch.setenv("HAIC_DATASET_TTL", "1")
    with app.test_request_context("/"):
        ds = store.put_dataset(cohort(), "x.csv")
        assert store.get_dataset(ds.id)
        time.sleep(2.1)
        with pytest.raises(store.DatasetMissing):
            store.get_dataset(ds.id)


def test_demo_is_public_and_synthetic(app):
    with app.test_request_context("/"):
        demo = store.get_dataset(None)
        assert demo.synthetic and demo.n == 302 and "SYNTHETIC" in demo.label


def test_memoised_results_keyed_on_content_and_parameters(app):
    calls = []

    def stat(frame, k):
        calls.append(k)
        return float(frame["os_months"].sum()) * k

    with app.test_request_context("/"):
        a = store.put_dataset(cohort(), "a.csv")
        b = store.put_dataset(cohort(), "b.csv")      # same content, other id
        c = store.put_dataset(cohort((5.0, 6.0, 7.0)), "c.csv")
        assert store.memoised(stat, a, 2) == 12.0
        assert store.memoised(stat, b, 2) == 12.0     # shared through the content hash
        assert store.memoised(stat, a, 3) == 18.0
        assert store.memoised(stat, c, 2) == 36.0
    assert calls == [2, 3, 2]
