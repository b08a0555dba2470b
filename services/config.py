"""The app's settings, read from the environment in this one place (docs/deployment.md lists every variable).

Each function reads its variable when called, not at import: a test, or an operator's restart with another
value, sees the value of the moment. The statistics layer (``analysis/``) reads no environment: the app passes it
:func:`upload_limits` and :func:`parse_budget`; the command line reads the same variables through the same
constructors (:meth:`analysis.io.Limits.from_settings`, :meth:`analysis.bounded.Budget.from_settings`).
gunicorn's own settings (``HAIC_BIND``, ``HAIC_WORKERS``, ...) are read by gunicorn.conf.py.
"""
from __future__ import annotations

import os
from pathlib import Path

from analysis.bounded import Budget
from analysis.io import Limits

ROOT = Path(__file__).resolve().parents[1]
#: how long an idle dataset is kept (``HAIC_DATASET_TTL`` seconds)
DEFAULT_TTL = 2 * 60 * 60


def _get(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


# --- storage ---------------------------------------------------------------------------------------------------

def cache_dir() -> str:
    """``HAIC_CACHE_DIR``: the filesystem backend's directory (datasets, background jobs, the signing key)."""
    return _get("HAIC_CACHE_DIR", str(ROOT / "cache"))


def redis_url() -> str | None:
    """``REDIS_URL``: datasets and jobs in Redis (several hosts); None: the filesystem backend."""
    return _get("REDIS_URL") or None


def redis_allows_eviction() -> bool:
    """``HAIC_REDIS_ALLOW_EVICTION=1``: accept a Redis that evicts keys (refused by default)."""
    return _get("HAIC_REDIS_ALLOW_EVICTION") == "1"


def dataset_ttl() -> int:
    """``HAIC_DATASET_TTL``: seconds an idle dataset is kept (default two hours)."""
    return int(_get("HAIC_DATASET_TTL", str(DEFAULT_TTL)))


def session_quota() -> tuple[int, int]:
    """(datasets, bytes) one browser session may hold: ``HAIC_SESSION_MAX_DATASETS`` (default 10) and
    ``HAIC_SESSION_MAX_MB`` (default 1024)."""
    return int(_get("HAIC_SESSION_MAX_DATASETS", "10")), int(float(_get("HAIC_SESSION_MAX_MB", "1024")) * 2**20)


def storage_reserve_bytes() -> int:
    """``HAIC_STORAGE_RESERVE_MB``: free disk a write must leave on the filesystem backend (default 512)."""
    return int(float(_get("HAIC_STORAGE_RESERVE_MB", "512")) * 2**20)


def sweep_interval() -> float:
    """``HAIC_SWEEP_INTERVAL``: seconds between sweeps of expired entries (default 30)."""
    return float(_get("HAIC_SWEEP_INTERVAL", "30"))


def job_time_limit() -> int:
    """``HAIC_JOB_TIME_LIMIT``: seconds a background job (a deck, the cutpoint search) may run (default 1800)."""
    return int(_get("HAIC_JOB_TIME_LIMIT", str(30 * 60)))


# --- who a request is, and what it may send -------------------------------------------------------------------

def secret_key_setting() -> str | None:
    """``HAIC_SECRET_KEY``: the key that signs session cookies (else one generated beside the cache)."""
    return _get("HAIC_SECRET_KEY") or None


def user_header() -> str:
    """``HAIC_USER_HEADER``: the header a trusted authenticating proxy names the user in ('' : none)."""
    return _get("HAIC_USER_HEADER").strip()


def proxy_count() -> int:
    """``HAIC_PROXY_COUNT``: how many proxies' ``X-Forwarded-*`` headers are trusted (default 0)."""
    return int(_get("HAIC_PROXY_COUNT", "0"))


def check_origin() -> bool:
    """``HAIC_CHECK_ORIGIN``: refuse cross-site POSTs (default on; ``0`` turns the check off)."""
    return _get("HAIC_CHECK_ORIGIN", "1") != "0"


def tls_mode(name: str) -> str:
    """A TLS setting (``HAIC_HSTS``, ``HAIC_SECURE_COOKIES``): ``on``, ``off`` or ``auto`` (on over TLS)."""
    value = _get(name, "auto").strip().lower()
    if value in ("1", "true", "yes", "on"):
        return "on"
    if value in ("0", "false", "no", "off"):
        return "off"
    return "auto"


# --- reading uploads -------------------------------------------------------------------------------------------

def upload_limits() -> Limits:
    """The size limits of an upload (``HAIC_MAX_UPLOAD_MB``, ``HAIC_MAX_ROWS``, ``HAIC_MAX_COLUMNS``,
    ``HAIC_MAX_CELL_CHARS``)."""
    return Limits.from_settings(os.environ)


def parse_budget() -> Budget:
    """What reading one upload may cost (``HAIC_PARSE_MEMORY_MB``, ``HAIC_PARSE_SECONDS``)."""
    return Budget.from_settings(os.environ)


def parse_concurrency() -> int:
    """``HAIC_PARSE_CONCURRENCY``: uploads read at the same time per loader server (default 2)."""
    return int(_get("HAIC_PARSE_CONCURRENCY", "2"))
