"""Server-side datasets and memoised analysis results.

Uploaded cohorts live on the server, never in the browser: a page holds only an unguessable dataset id
(``secrets.token_urlsafe``) and parameters. Datasets and analysis results are kept in one flask-caching backend:
a filesystem cache (shared by all gunicorn workers of one host; ``HAIC_CACHE_DIR``) or Redis when ``REDIS_URL``
is set (shared across hosts). Results are memoised on (dataset content hash, function, parameters), so two
uploads of the same file share results and nothing is recomputed when a worker restarts.

Uploaded datasets expire after ``HAIC_DATASET_TTL`` seconds without use (default 2 h). The synthetic demo
cohort has the fixed id ``demo`` and is reloaded from ``data/demo_cohort.csv`` whenever it is not cached.
"""
from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pandas as pd
from flask_caching import Cache

from analysis.io import LoadResult, load_cohort

ROOT = Path(__file__).resolve().parents[1]
DEMO_PATH = ROOT / "data" / "demo_cohort.csv"
DEMO_ID = "demo"
DEFAULT_TTL = 2 * 60 * 60

cache = Cache()


class DatasetMissing(LookupError):
    """The dataset id is unknown or its data expired."""


@dataclass
class Dataset:
    """A cleaned cohort held on the server."""

    id: str
    name: str
    frame: pd.DataFrame
    content_hash: str
    synthetic: bool = False
    report: dict = field(default_factory=dict)
    mapping: dict = field(default_factory=dict)
    owner: str | None = None   # the browser session that uploaded it (None: the public demo)

    @property
    def n(self) -> int:
        return int(len(self.frame))

    @property
    def label(self) -> str:
        kind = "SYNTHETIC demo cohort" if self.synthetic else self.name
        return f"{kind} (n={self.n})"


def dataset_ttl() -> int:
    return int(os.environ.get("HAIC_DATASET_TTL", DEFAULT_TTL))


def cache_config() -> dict:
    """flask-caching configuration from the environment."""
    if os.environ.get("REDIS_URL"):
        return {"CACHE_TYPE": "RedisCache", "CACHE_REDIS_URL": os.environ["REDIS_URL"],
                "CACHE_DEFAULT_TIMEOUT": dataset_ttl(), "CACHE_KEY_PREFIX": "haic:"}
    directory = os.environ.get("HAIC_CACHE_DIR", str(ROOT / "cache"))
    return {"CACHE_TYPE": "FileSystemCache", "CACHE_DIR": directory, "CACHE_THRESHOLD": 5000,
            "CACHE_DEFAULT_TIMEOUT": dataset_ttl()}


def init_cache(server) -> Cache:
    cache.init_app(server, config=cache_config())
    return cache


def frame_hash(frame: pd.DataFrame) -> str:
    """A content hash of a frame (values, column names and dtypes)."""
    digest = hashlib.sha256()
    digest.update(repr(list(map(str, frame.columns))).encode())
    digest.update(repr([str(t) for t in frame.dtypes]).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).values.tobytes())
    return digest.hexdigest()[:32]


def current_owner() -> str:
    """The id of the browser session making this request, kept in Flask's signed session cookie.

    Outside a request (command line, tests calling functions directly) the owner is ``"local"``.
    """
    from flask import has_request_context, session

    if not has_request_context():
        return "local"
    owner = session.get("owner")
    if not owner:
        owner = secrets.token_urlsafe(24)
        session["owner"] = owner
    return owner


def _key(dataset_id: str) -> str:
    return f"dataset:{dataset_id}"


def _load_demo() -> Dataset:
    result = load_cohort(DEMO_PATH)
    if not result.ok:  # the shipped file is tested; this would be a packaging fault
        raise DatasetMissing("the synthetic demo cohort could not be loaded")
    ds = Dataset(DEMO_ID, "demo_cohort.csv", result.data, frame_hash(result.data), synthetic=True,
                 report=result.report.to_dict(), mapping=result.mapping)
    cache.set(_key(DEMO_ID), ds, timeout=0)
    return ds


def get_dataset(dataset_id: str | None) -> Dataset:
    """The dataset for an id (the demo cohort for ``None``/``"demo"``); refreshes its idle expiry."""
    if not dataset_id or dataset_id == DEMO_ID:
        ds = cache.get(_key(DEMO_ID))
        return ds if ds is not None else _load_demo()
    ds = cache.get(_key(dataset_id))
    if ds is None or ds.owner != current_owner():  # another session's id reads as "not there"
        raise DatasetMissing("this dataset is no longer on the server (it expired or was removed); "
                             "upload it again or switch to the demo cohort")
    cache.set(_key(dataset_id), ds, timeout=dataset_ttl())
    return ds


def put_dataset(result: LoadResult, name: str) -> Dataset:
    """Store a loaded cohort under a new unguessable id."""
    if not result.ok:
        raise ValueError("only a loaded cohort without blocking errors can be stored")
    ds = Dataset(secrets.token_urlsafe(24), name, result.data, frame_hash(result.data),
                 report=result.report.to_dict(), mapping=result.mapping, owner=current_owner())
    cache.set(_key(ds.id), ds, timeout=dataset_ttl())
    return ds


def put_pending(raw: bytes, name: str) -> str:
    """Keep an uploaded file's bytes briefly (for the column-mapping step); returns an unguessable token."""
    token = secrets.token_urlsafe(24)
    cache.set(f"pending:{token}", (raw, name, current_owner()), timeout=min(dataset_ttl(), 30 * 60))
    return token


def get_pending(token: str) -> tuple[bytes, str]:
    hit = cache.get(f"pending:{token}") if token else None
    if hit is None or hit[2] != current_owner():
        raise DatasetMissing("the uploaded file is no longer on the server; upload it again")
    return hit[0], hit[1]


def issue_ticket(dataset_id: str | None) -> str:
    """A short-lived, single-use token that lets a background job (no browser session there) read a dataset.

    The ownership check happens here, in the request of the session that owns the dataset.
    """
    ds = get_dataset(dataset_id)
    ticket = secrets.token_urlsafe(24)
    cache.set(f"ticket:{ticket}", ds.id, timeout=10 * 60)
    return ticket


def redeem_ticket(ticket: str | None) -> Dataset:
    dataset_id = cache.get(f"ticket:{ticket}") if ticket else None
    if dataset_id is None:
        raise DatasetMissing("this job's access to the dataset expired; start it again")
    cache.delete(f"ticket:{ticket}")
    if dataset_id == DEMO_ID:
        return get_dataset(DEMO_ID)
    ds = cache.get(_key(dataset_id))
    if ds is None:
        raise DatasetMissing("this dataset is no longer on the server; upload it again")
    return ds


def delete_dataset(dataset_id: str) -> bool:
    """Delete an uploaded dataset of the current session now. Returns whether something was deleted."""
    if not dataset_id or dataset_id == DEMO_ID:
        return False
    ds = cache.get(_key(dataset_id))
    if ds is None or ds.owner != current_owner():
        return False
    return bool(cache.delete(_key(dataset_id)))


#: keyword arguments that do not change a result (e.g. a progress callback) and stay out of the cache key
NOT_IN_KEY = ("progress",)


def memoised(func: Callable[..., Any], dataset: Dataset, *args: Any, **kwargs: Any) -> Any:
    """``func(dataset.frame, *args, **kwargs)``, cached on (content hash, function, parameters).

    Parameters must have a stable ``repr`` (numbers, strings, tuples). Errors are not cached.
    """
    name = f"{func.__module__}.{func.__qualname__}"
    params = repr((args, sorted((k, v) for k, v in kwargs.items() if k not in NOT_IN_KEY)))
    key = "result:" + hashlib.sha256(f"{dataset.content_hash}|{name}|{params}".encode()).hexdigest()[:40]
    hit = cache.get(key)
    if hit is not None:
        return hit
    value = func(dataset.frame, *args, **kwargs)
    cache.set(key, value, timeout=dataset_ttl())
    return value
