"""Shared fixtures."""
from __future__ import annotations

import pytest
from flask import Flask

from services import store


@pytest.fixture
def cache_app(tmp_path, monkeypatch):
    """A bare Flask app with the store's cache in a fresh directory (filesystem backend, no Redis)."""
    monkeypatch.setenv("HAIC_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("REDIS_URL", raising=False)
    flask_app = Flask("t")
    flask_app.config["SECRET_KEY"] = "test"
    store.init_cache(flask_app)
    return flask_app
