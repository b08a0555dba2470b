"""Server-side datasets and memoised analysis results.

Uploaded cohorts live on the server, never in the browser: a page holds only an unguessable dataset id
(``secrets.token_urlsafe``) and parameters. Datasets and analysis results are kept in one flask-caching backend:
a filesystem cache (shared by all gunicorn workers of one host; ``HAIC_CACHE_DIR``) or Redis when ``REDIS_URL``
is set (shared across hosts). Results are memoised on (dataset content hash, function, parameters), so two
uploads of the same file share results and nothing is recomputed when a worker restarts.

Uploaded datasets expire after ``HAIC_DATASET_TTL`` seconds without use (default 2 h). The synthetic demo
cohort has the fixed id ``demo`` and is reloaded from ``data/demo_cohort.csv`` whenever it is not cached.

Retention: results derived from an uploaded dataset count as its data. Every result key a dataset computes or
reads is recorded in that dataset's index, and :func:`delete_dataset` deletes the dataset, those results and the
session's pending (not yet mapped) uploads at once; :func:`delete_session_data` does so for every dataset of the
browser session. A deleted id is tombstoned so that a request already in flight cannot write it back. Expired
entries vanish by themselves on Redis; the filesystem backend keeps an expired file until it is read, so
:func:`sweep_expired` removes them (run from a request at most every ``HAIC_SWEEP_INTERVAL`` seconds, default 60).
"""
from __future__ import annotations

import hashlib
import os
import re
import secrets
import struct
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import pandas as pd
from flask_caching import Cache

from analysis import schema
from analysis.io import LoadResult, load_cohort

ROOT = Path(__file__).resolve().parents[1]
DEMO_PATH = ROOT / "data" / "demo_cohort.csv"
DEMO_ID = "demo"
DEFAULT_TTL = 2 * 60 * 60

cache = Cache()


class DatasetMissing(LookupError):
    """The dataset id is unknown or its data expired."""


class Dataset:
    """A cleaned cohort held on the server.

    Stored as two cache entries: this object's small metadata (owner, content hash, name, report, row count,
    column types) under ``dataset:<id>``, and the frame under ``frame:<id>``. :func:`get_dataset` reads the
    metadata only; ``frame`` is read from the cache the first time a request uses it. A cutoff move needs only
    the metadata (its statistics come from per-process splitters and memoised results keyed by the content
    hash), so it no longer unpickles the whole cohort: ~50 ms per request at n = 100k.
    """

    def __init__(self, id: str, name: str, frame: pd.DataFrame, content_hash: str, synthetic: bool = False,
                 report: dict | None = None, mapping: dict | None = None, owner: str | None = None,
                 touched: float = 0.0):
        self.id, self.name, self.content_hash, self.synthetic = id, name, content_hash, synthetic
        self.report, self.mapping = report or {}, mapping or {}
        self.owner = owner            # the browser session that uploaded it (None: the public demo)
        self.touched = touched        # when its idle expiry was last pushed back (time.time())
        self._frame = frame
        self.n = int(len(frame))
        self.numeric_columns = frozenset(c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c]))
        self._describe(frame)

    def _describe(self, frame: pd.DataFrame) -> None:
        """What the pages ask of a dataset without reading its frame: its endpoints, each column's profile
        (analysis.schema.ColumnProfile), whether the paper's defaults apply, each endpoint's longest time."""
        self.endpoints = dataset_endpoints(frame, self.report)
        kinds = {k: v.get("kind") for k, v in self.report.get("columns", {}).items()}
        self.profiles = schema.profile_columns(frame, kinds, self.endpoints)
        self.follows_paper = schema.follows_paper(frame.columns)
        self.longest = {e.key: float(frame[e.time].max()) for e in self.endpoints}    # follow-up span (months)

    @property
    def frame(self) -> pd.DataFrame:
        if self._frame is None:
            frame = cache.get(_frame_key(self.id))
            if frame is None:
                raise DatasetMissing("this dataset is no longer on the server (it expired or was removed); "
                                     "upload it again or switch to the demo cohort")
            self._frame = frame
        return self._frame

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_frame": None}     # the frame is stored under its own key

    def __setstate__(self, state: dict) -> None:
        if "frame" in state:     # pickled by a version that kept the frame inside: still readable
            frame = state.pop("frame")
            state.update(_frame=frame, n=int(len(frame)), numeric_columns=frozenset(
                c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])))
        self.__dict__.update(state)
        if "profiles" not in state:   # pickled before datasets had endpoints and column profiles
            self._describe(self.frame)

    def __repr__(self) -> str:
        return f"Dataset(id={self.id!r}, name={self.name!r}, n={self.n}, content_hash={self.content_hash!r})"

    @property
    def label(self) -> str:
        kind = "SYNTHETIC demo cohort" if self.synthetic else self.name
        return f"{kind} (n={self.n})"


def dataset_endpoints(frame: pd.DataFrame, report: dict) -> list[schema.Endpoint]:
    """The endpoints of a stored dataset: those its import found, else the canonical pairs it has."""
    found = [schema.Endpoint.from_dict(e) for e in report.get("endpoints", [])]
    if found or report.get("endpoints") is not None:
        return [e for e in found if e.time in frame.columns and e.event in frame.columns]
    return [schema.Endpoint(key, schema.ENDPOINT_NAMES[key], t, e) for key, (t, e) in schema.ENDPOINTS.items()
            if t in frame.columns and e in frame.columns]


def _frame_key(dataset_id: str) -> str:
    return f"frame:{dataset_id}"


def _store(ds: Dataset, timeout: int) -> None:
    """Write a dataset's two entries (the frame first: a reader that finds the metadata finds the frame)."""
    cache.set(_frame_key(ds.id), ds.frame, timeout=timeout)
    cache.set(_key(ds.id), ds, timeout=timeout)


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
    server.before_request(_maybe_sweep)
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


def _results_index(dataset_id: str) -> str:
    return f"index:results:{dataset_id}"


def _owner_index(owner: str) -> str:
    return f"index:datasets:{owner}"


def _pending_index(owner: str) -> str:
    return f"index:pending:{owner}"


def _tombstone(dataset_id: str) -> str:
    return f"gone:{dataset_id}"


TOMBSTONE_TTL = 60 * 60
PENDING_TTL = 30 * 60


# --- small indexes (lists of keys) kept in the cache, updated under a lock shared by all processes ----------

_thread_lock = threading.Lock()


@contextmanager
def _locked(name: str) -> Iterator[None]:
    """A lock for read-modify-write of one index: a Redis lock on Redis, ``flock`` on the filesystem backend
    (one host), a thread lock otherwise."""
    backend = cache.cache
    client = getattr(backend, "_write_client", None)
    if client is not None and hasattr(client, "lock"):
        prefix = backend._get_prefix() if hasattr(backend, "_get_prefix") else ""
        with client.lock(f"{prefix}lock:{name}", timeout=10, blocking_timeout=10):
            yield
        return
    directory = getattr(backend, "_path", None)
    if directory:
        import fcntl

        lock_dir = os.path.join(directory, "locks")
        os.makedirs(lock_dir, mode=0o700, exist_ok=True)
        path = os.path.join(lock_dir, hashlib.sha256(name.encode()).hexdigest()[:24])
        with open(path, "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        return
    with _thread_lock:
        yield


def _index_add(index: str, members: Iterable[str], timeout: int, refresh: bool = False) -> None:
    """Add members to a list kept under ``index``; writes only when something is new (or ``refresh``)."""
    with _locked(index):
        current = cache.get(index) or []
        new = [m for m in members if m not in current]
        if new or refresh:
            cache.set(index, current + new, timeout=timeout)


def _index_pop(index: str) -> list[str]:
    """The members of an index, deleting the index."""
    with _locked(index):
        members = cache.get(index) or []
        cache.delete(index)
    return list(members)


def _purge(dataset_id: str) -> None:
    """Delete a dataset and every result recorded for it; tombstone the id against in-flight writes."""
    cache.set(_tombstone(dataset_id), True, timeout=TOMBSTONE_TTL)
    cache.delete_many(_key(dataset_id), _frame_key(dataset_id))
    keys = _index_pop(_results_index(dataset_id))
    if keys:
        cache.delete_many(*keys)


def _gone(dataset_id: str) -> bool:
    return cache.get(_tombstone(dataset_id)) is not None or not cache.has(_key(dataset_id))


# --- expiry on the filesystem backend -------------------------------------------------------------------

_last_sweep = [0.0]
_HEX = re.compile(r"[0-9a-f]{32,128}")


def sweep_expired(now: float | None = None) -> int:
    """Delete expired entries of the filesystem cache (whose files stay on disk until read); returns how many.

    Redis expires keys by itself; for other backends this does nothing.
    """
    backend = cache.cache
    directory = getattr(backend, "_path", None)
    if not directory or getattr(backend, "_write_client", None) is not None:
        return 0
    now = time.time() if now is None else now
    removed = 0
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return 0
    for name in names:
        path = os.path.join(directory, name)
        if not _HEX.fullmatch(name) or not os.path.isfile(path):  # entries are named by a hex digest of the key
            continue
        try:
            with open(path, "rb") as handle:
                expires = struct.unpack("I", handle.read(4))[0]
            if expires != 0 and expires < now:
                os.remove(path)
                removed += 1
        except (FileNotFoundError, struct.error):
            continue
    if removed and hasattr(backend, "_update_count"):
        backend._update_count(delta=-removed)
    return removed


def _maybe_sweep() -> None:
    interval = float(os.environ.get("HAIC_SWEEP_INTERVAL", 60))
    now = time.time()
    if now - _last_sweep[0] >= interval:
        _last_sweep[0] = now
        sweep_expired(now)


def _load_demo() -> Dataset:
    result = load_cohort(DEMO_PATH)
    if not result.ok:  # the shipped file is tested; this would be a packaging fault
        raise DatasetMissing("the synthetic demo cohort could not be loaded")
    ds = Dataset(DEMO_ID, "demo_cohort.csv", result.data, frame_hash(result.data), synthetic=True,
                 report=result.report.to_dict(), mapping=result.mapping)
    _store(ds, timeout=0)
    return ds


def _touch_interval(ttl: int) -> float:
    return min(60.0, ttl / 10)


def get_dataset(dataset_id: str | None) -> Dataset:
    """The dataset for an id (the demo cohort for ``None``/``"demo"``); pushes back its idle expiry."""
    if not dataset_id or dataset_id == DEMO_ID:
        ds = cache.get(_key(DEMO_ID))
        return ds if ds is not None and cache.has(_frame_key(DEMO_ID)) else _load_demo()
    ds = cache.get(_key(dataset_id))
    if ds is None or ds.owner != current_owner():  # another session's id reads as "not there"
        raise DatasetMissing("this dataset is no longer on the server (it expired or was removed); "
                             "upload it again or switch to the demo cohort")
    ttl = dataset_ttl()
    now = time.time()
    if now - getattr(ds, "touched", 0.0) >= _touch_interval(ttl):
        # rewrite at most every min(60 s, ttl/10): a dataset idle for ttl is gone (a little early, never late)
        ds.touched = now
        _store(ds, timeout=ttl)
        _index_add(_owner_index(ds.owner), [ds.id], timeout=2 * ttl, refresh=True)
        if cache.get(_tombstone(dataset_id)) is not None:  # removed while this request was in flight
            cache.delete_many(_key(dataset_id), _frame_key(dataset_id))
            raise DatasetMissing("this dataset was removed from the server")
    return ds


def put_dataset(result: LoadResult, name: str) -> Dataset:
    """Store a loaded cohort under a new unguessable id."""
    if not result.ok:
        raise ValueError("only a loaded cohort without blocking errors can be stored")
    ttl = dataset_ttl()
    ds = Dataset(secrets.token_urlsafe(24), name, result.data, frame_hash(result.data),
                 report=result.report.to_dict(), mapping=result.mapping, owner=current_owner(),
                 touched=time.time())
    _store(ds, timeout=ttl)
    _index_add(_owner_index(ds.owner), [ds.id], timeout=2 * ttl, refresh=True)
    return ds


def put_pending(raw: bytes, name: str) -> str:
    """Keep an uploaded file's bytes briefly (for the column-mapping step); returns an unguessable token."""
    token = secrets.token_urlsafe(24)
    owner = current_owner()
    timeout = min(dataset_ttl(), PENDING_TTL)
    cache.set(f"pending:{token}", (raw, name, owner), timeout=timeout)
    _index_add(_pending_index(owner), [token], timeout=timeout, refresh=True)
    return token


def get_pending(token: str) -> tuple[bytes, str]:
    hit = cache.get(f"pending:{token}") if token else None
    if hit is None or hit[2] != current_owner():
        raise DatasetMissing("the uploaded file is no longer on the server; upload it again")
    return hit[0], hit[1]


def delete_pending() -> int:
    """Delete every pending upload (raw file bytes) of the current session; returns how many were there."""
    tokens = _index_pop(_pending_index(current_owner()))
    for token in tokens:
        cache.delete(f"pending:{token}")
    return len(tokens)


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
    """Delete an uploaded dataset of the current session now, with every result derived from it and the
    session's pending uploads. Returns whether a dataset was deleted."""
    if not dataset_id or dataset_id == DEMO_ID:
        delete_pending()
        return False
    ds = cache.get(_key(dataset_id))
    if ds is None or ds.owner != current_owner():
        return False
    _purge(dataset_id)
    delete_pending()
    return True


def delete_session_data() -> int:
    """Delete every uploaded dataset of the current browser session (with derived results) and its pending
    uploads. Returns how many datasets were deleted."""
    owner = current_owner()
    deleted = 0
    for dataset_id in _index_pop(_owner_index(owner)):
        ds = cache.get(_key(dataset_id))
        if ds is not None and ds.owner == owner:
            _purge(dataset_id)
            deleted += 1
    delete_pending()
    return deleted


#: keyword arguments that do not change a result (e.g. a progress callback) and stay out of the cache key
NOT_IN_KEY = ("progress",)


def memoised(func: Callable[..., Any], dataset: Dataset, *args: Any, **kwargs: Any) -> Any:
    """``func(dataset.frame, *args, **kwargs)``, cached on (content hash, function, parameters).

    Parameters must have a stable ``repr`` (numbers, strings, tuples). Errors are not cached. The result key is
    recorded in the dataset's index (on a hit too), so deleting the dataset deletes it; a result finished after
    its dataset was removed is returned but not stored.
    """
    name = f"{func.__module__}.{func.__qualname__}"
    params = repr((args, sorted((k, v) for k, v in kwargs.items() if k not in NOT_IN_KEY)))
    key = "result:" + hashlib.sha256(f"{dataset.content_hash}|{name}|{params}".encode()).hexdigest()[:40]
    uploaded = dataset.id != DEMO_ID
    hit = cache.get(key)
    if hit is not None:
        if uploaded:
            _index_add(_results_index(dataset.id), [key], timeout=dataset_ttl())
        return hit
    value = func(dataset.frame, *args, **kwargs)
    if uploaded and _gone(dataset.id):
        return value
    ttl = dataset_ttl()
    if uploaded:
        _index_add(_results_index(dataset.id), [key], timeout=ttl)
    cache.set(key, value, timeout=ttl)
    if uploaded and _gone(dataset.id):   # removed meanwhile: its purge may have run before this key existed
        cache.delete(key)
    return value
