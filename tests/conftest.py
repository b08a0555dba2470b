"""Shared fixtures, and the Hypothesis profiles (tests/support/examples.py)."""
from __future__ import annotations

import pytest
from flask import Flask
from hypothesis import settings

from services import store
from tests.support.examples import PROFILE

settings.register_profile("ci", derandomize=True, database=None, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None, print_blob=True)
if PROFILE not in ("ci", "dev"):
    raise pytest.UsageError(f"HAIC_HYPOTHESIS_PROFILE must be 'ci' or 'dev', not {PROFILE!r}")
settings.load_profile(PROFILE)


@pytest.fixture
def cache_app(tmp_path, monkeypatch):
    """A bare Flask app with the store's cache in a fresh directory (filesystem backend, no Redis)."""
    monkeypatch.setenv("HAIC_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("REDIS_URL", raising=False)
    flask_app = Flask("t")
    flask_app.config["SECRET_KEY"] = "test"
    store.init_cache(flask_app)
    return flask_app
