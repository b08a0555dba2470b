"""Server-side datasets and memoised analysis results, and the meta-analysis page's study set of a session.

Uploaded cohorts live on the server, never in the browser: a page holds only an unguessable dataset id
(``secrets.token_urlsafe``) and parameters. Datasets and analysis results are kept in one flask-caching backend:
a filesystem cache (shared by all gunicorn workers of one host; ``HAIC_CACHE_DIR``) or Redis when ``REDIS_URL``
is set (shared across hosts). Results are memoised on (dataset content hash, function, parameters), so two
uploads of the same file share results and nothing is recomputed when a worker restarts.

Uploaded datasets expire after ``HAIC_DATASET_TTL`` seconds without use (default 2 h). The synthetic demo
cohort has the fixed id ``demo`` and is reloaded from ``data/demo_cohort.csv`` whenever it is not cached (and
served from this process's own copy while the store cannot be reached).

Nothing is lost silently:

* **No eviction.** The filesystem cache has no entry-count threshold (its pruning deleted the datasets of idle
  users nearest to expiry once other sessions had written 5,000 entries); on Redis, :func:`init_cache`
  refuses a server that would evict keys under memory pressure (``maxmemory`` with a policy other than
  ``noeviction``).
* **Quota per browser session**: at most ``HAIC_SESSION_MAX_DATASETS`` datasets (default 10) and
  ``HAIC_SESSION_MAX_MB`` MB of cleaned frames (default 1024); an upload beyond it is refused with
  :class:`QuotaExceeded`, whose message names the session's datasets and how to remove them. A session keeps at
  most :data:`PENDING_PER_SESSION` raw uploads waiting for the column-mapping step (older ones of the same session
  go: the page only ever asks for the latest).
* **Full or unreachable storage** is said as such: :class:`StorageFull` (the disk's free space would fall below
  ``HAIC_STORAGE_RESERVE_MB``, default 512, or Redis refuses writes at ``maxmemory``), :class:`StorageUnavailable`
  (Redis down or restarting, a cache directory that cannot be written). Both leave stored data as they were;
  a dataset is usable again when the store is back. :class:`StorageUnavailable` is a :class:`DatasetMissing`,
  so a page that shows "dataset missing" messages shows this one instead.

Retention: results derived from an uploaded dataset count as its data. Every result key a dataset computes or
reads is recorded in that dataset's index, and :func:`delete_dataset` deletes the dataset, those results and the
session's pending (not yet mapped) uploads at once; :func:`delete_session_data` does so for every dataset of the
browser session and deletes its meta-analysis study set (:class:`StudyData`, with the results computed from it)
too. A deleted id is tombstoned so that a request already in flight cannot write it back. A background thread
in every server process (:func:`start_sweeper`, every ``HAIC_SWEEP_INTERVAL`` seconds, default 30) deletes
expired files of the filesystem cache whether or not requests arrive, and on Redis with an append-only file has
it rewritten when keys were deleted or expired, so that removed data leave the disk too.

Identity: datasets belong to the browser session (a random id in Flask's signed session cookie) and, when
``HAIC_USER_HEADER`` names the header a trusted authenticating proxy sets (e.g. ``X-Forwarded-User``), to that
user as well: the same cookie with another user reads nothing (a shared workstation).
"""
from __future__ import annotations

import functools
import hashlib
import logging
import os
import re
import secrets
import shutil
import struct
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import pandas as pd
from flask_caching import Cache

from analysis import schema
from analysis.io import LoadResult, load_cohort
from services import config

ROOT = Path(__file__).resolve().parents[1]
DEMO_PATH = ROOT / "data" / "demo_cohort.csv"
DEMO_ID = "demo"

cache = Cache()
logger = logging.getLogger("haic.store")


class DatasetMissing(LookupError):
    """The dataset cannot be read: its id is unknown, it expired or was removed, or (:class:`StorageUnavailable`)
    the store cannot be reached now."""


class StorageError(Exception):
    """The store could not keep or read data now. The message says what happened and what the user can do; it
    never names a patient value."""


class StorageUnavailable(StorageError, DatasetMissing):
    """The store cannot be reached (Redis down or restarting, a cache directory that cannot be written)."""


class StorageFull(StorageError):
    """The store has no room for this write; nothing stored before was touched."""


class QuotaExceeded(StorageError):
    """This browser session holds as many datasets, or as many megabytes, as it may."""


UNREACHABLE = ("The server's data store cannot be reached at the moment, so your data cannot be read or saved "
               "now. Nothing has been deleted: your datasets are usable again when the store is back (try again in "
               "a minute).")
FULL = ("The server's storage for uploaded data is full, so this was not stored. Your datasets are unchanged; "
        "try again later, or remove data you no longer need (\"Remove my data\" on the Data page).")


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
        #: what the frame takes in the store, for the session quota (its size in memory, strings included)
        self.nbytes = frame_nbytes(frame)
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
            frame = _guarded(cache.get)(_frame_key(self.id))
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


def frame_nbytes(frame: pd.DataFrame) -> int:
    """A frame's size in memory, strings included (``memory_usage(deep=True)``), counted per distinct string: a
    text column's cells point at its few distinct values (the importer reads coded columns so); see
    docs/performance.md for what sizing each cell's string cost."""
    total = 0
    for name in frame.columns:
        col = frame[name]
        if col.dtype == object:
            codes, uniques = pd.factorize(col, use_na_sentinel=True)
            total += codes.size * 8 + sum(sys.getsizeof(v) for v in uniques)
        else:
            total += int(col.memory_usage(index=False, deep=True))
    return int(total)


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
    _write(_frame_key(ds.id), ds.frame, timeout)
    _write(_key(ds.id), ds, timeout)


def _write(key: str, value: Any, timeout: int) -> None:
    """``cache.set`` that says when it failed (the filesystem backend returns False on a full or unwritable disk
    and only logs it)."""
    if not cache.set(key, value, timeout=timeout):
        raise StorageFull(FULL) if _disk_free() is not None and _disk_free() < config.storage_reserve_bytes() else \
            StorageUnavailable(UNREACHABLE)


def _guarded(func: Callable) -> Callable:
    """``func`` with the backend's failures said as :class:`StorageFull` / :class:`StorageUnavailable`."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except StorageError:
            raise
        except Exception as exc:
            kind = _failure_kind(exc)
            if kind == "full":
                raise StorageFull(FULL) from None
            if kind == "down":
                logger.warning("data store unreachable: %s", type(exc).__name__)
                raise StorageUnavailable(UNREACHABLE) from None
            raise

    return wrapper


def storage_failure(exc: BaseException) -> StorageError | None:
    """``exc`` said as the store's own error when it is the backend failing (Redis unreachable or full, a cache
    directory that cannot be written), wherever it was raised; None otherwise. For code that reaches the cache
    directly (the last line of defence in app.py shows it to the user)."""
    if isinstance(exc, StorageError):
        return exc
    kind = _failure_kind(exc)
    if kind == "full":
        return StorageFull(FULL)
    if kind == "down" and not isinstance(exc, OSError):     # an OSError may be anything: only the backend's own
        return StorageUnavailable(UNREACHABLE)
    return None


def _failure_kind(exc: BaseException) -> str | None:
    """``full``, ``down`` or None (not a storage failure) for an exception from the cache backend."""
    try:
        import redis.exceptions as rx
    except ImportError:                          # pragma: no cover - redis is a requirement
        rx = None
    if rx is not None:
        if isinstance(exc, rx.OutOfMemoryError):
            return "full"
        if isinstance(exc, (rx.ConnectionError, rx.TimeoutError, rx.ReadOnlyError, rx.LockError)):
            return "down"
    if isinstance(exc, OSError):
        return "full" if getattr(exc, "errno", None) in (28, 122) else "down"      # ENOSPC, EDQUOT
    return None


def _disk_free() -> int | None:
    directory = getattr(cache.cache, "_path", None)
    if not directory or getattr(cache.cache, "_write_client", None) is not None:
        return None
    try:
        return shutil.disk_usage(directory).free
    except OSError:
        return None


def _check_room(nbytes: int) -> None:
    """Refuse a write that would leave less than the reserve free on the filesystem backend's disk."""
    free = _disk_free()
    if free is not None and free - nbytes < config.storage_reserve_bytes():
        raise StorageFull(FULL)


def cache_config() -> dict:
    """flask-caching configuration from the environment."""
    if config.redis_url():
        # an outage must be noticed in seconds, not hang a request
        return {"CACHE_TYPE": "RedisCache", "CACHE_REDIS_URL": config.redis_url(),
                "CACHE_DEFAULT_TIMEOUT": config.dataset_ttl(), "CACHE_KEY_PREFIX": "haic:",
                "CACHE_OPTIONS": {"socket_timeout": 5, "socket_connect_timeout": 3, "health_check_interval": 15}}
    directory = config.cache_dir()
    # no count threshold: cachelib's pruning deletes live entries (other users' datasets) past it
    return {"CACHE_TYPE": "FileSystemCache", "CACHE_DIR": directory, "CACHE_THRESHOLD": 0,
            "CACHE_DEFAULT_TIMEOUT": config.dataset_ttl()}


_app: list = [None]


def init_cache(server) -> Cache:
    """Configure the store on ``server``; refuse a Redis that would evict data. Each server process sweeps
    expired data in a background thread (started after its first request, or by gunicorn's ``post_fork``)."""
    cache.init_app(server, config=cache_config())
    _app[0] = server
    with server.app_context():
        check_no_eviction()
    server.after_request(_sweeper_running)
    return cache


def _sweeper_running(response):
    """After a request (not before: the app's set-up at import runs the before-request hooks in gunicorn's
    master, which must fork its workers with one thread), make sure this process sweeps."""
    start_sweeper()
    return response


def check_no_eviction() -> None:
    """Refuse a Redis that evicts keys under memory pressure: a ``maxmemory`` with a policy other than
    ``noeviction`` deletes users' datasets to make room. (Redis unreachable now: logged; checked again at the
    next start.)"""
    client = getattr(cache.cache, "_write_client", None)
    if client is None:
        return
    try:
        info = client.info("memory")
    except Exception as exc:                      # noqa: BLE001 - the app still starts; users are told if it stays down
        logger.warning("could not check Redis' eviction policy (%s)", type(exc).__name__)
        return
    policy = str(info.get("maxmemory_policy", "noeviction"))
    if int(info.get("maxmemory", 0) or 0) > 0 and policy != "noeviction" and \
            not config.redis_allows_eviction():
        raise RuntimeError(f"Redis evicts keys when it reaches maxmemory (maxmemory-policy {policy}): uploaded "
                           f"datasets would vanish. Run it with --maxmemory-policy noeviction (docker-compose.yml "
                           f"does), or give the app a Redis of its own")


def frame_hash(frame: pd.DataFrame) -> str:
    """A content hash of a frame (values, column names and dtypes)."""
    digest = hashlib.sha256()
    digest.update(repr(list(map(str, frame.columns))).encode())
    digest.update(repr([str(t) for t in frame.dtypes]).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).values.tobytes())
    return digest.hexdigest()[:32]


def current_owner() -> str:
    """Who owns what this request stores: the browser session (a random id in Flask's signed session cookie)
    and, when ``HAIC_USER_HEADER`` names the header a trusted authenticating proxy sets, the user it names.

    Outside a request (command line, tests calling functions directly) the owner is ``"local"``.
    """
    from flask import has_request_context, request, session

    if not has_request_context():
        return "local"
    owner = session.get("owner")
    if not owner:
        owner = secrets.token_urlsafe(24)
        session["owner"] = owner
    header = config.user_header()
    if header:
        user = request.headers.get(header, "")
        owner = owner + ":" + hashlib.sha256(user.encode()).hexdigest()[:32]
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
#: raw uploads a session keeps for the column-mapping step (one per browser tab; the page asks for its latest)
PENDING_PER_SESSION = 3


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
        with _flocked(directory, name):
            yield
        return
    with _thread_lock:
        yield


@contextmanager
def _flocked(directory: str, name: str, blocking: bool = True) -> Iterator[bool]:
    """``flock`` on a lock file of the cache directory; yields whether it was taken (always, when blocking)."""
    import fcntl

    lock_dir = os.path.join(directory, "locks")
    os.makedirs(lock_dir, mode=0o700, exist_ok=True)
    path = os.path.join(lock_dir, hashlib.sha256(name.encode()).hexdigest()[:24])
    with open(path, "a+b") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _index_add(index: str, members: Iterable[str], timeout: int, refresh: bool = False) -> None:
    """Add members to a list kept under ``index``; writes only when something is new (or ``refresh``)."""
    with _locked(index):
        _index_merge(index, members, timeout, refresh)


def _index_merge(index: str, members: Iterable[str], timeout: int, refresh: bool = False) -> list[str]:
    """:func:`_index_add` for a caller that holds the index's lock; returns the new list."""
    current = cache.get(index) or []
    new = [m for m in members if m not in current]
    if new or refresh:
        _write(index, current + new, timeout)
    return current + new


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


# --- expiry: a background sweeper in every server process ----------------------------------------------------

_HEX = re.compile(r"[0-9a-f]{32,128}")


def sweep_expired(now: float | None = None) -> int:
    """Delete expired entries of the filesystem cache (whose files stay on disk until read); returns how many.
    On Redis (which expires keys itself) with an append-only file, have the file rewritten when keys were
    deleted or expired since the last rewrite, so that removed data leave the disk; returns 0."""
    backend = cache.cache
    client = getattr(backend, "_write_client", None)
    if client is not None:
        _compact_append_only_file(client)
        return 0
    directory = getattr(backend, "_path", None)
    if not directory:
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
    return removed


def _compact_append_only_file(client) -> bool:
    """``BGREWRITEAOF`` when Redis keeps an append-only file and keys expired or were deleted since the last
    rewrite this checked (at most once per sweep interval over all processes). Returns whether it asked."""
    try:
        info = client.info()
        if not info.get("aof_enabled") or info.get("aof_rewrite_in_progress") or info.get("loading"):
            return False
        marker = f"{info.get('expired_keys', 0)}:{client.get('haic:deletions') or b'0'}"
        last = client.get("haic:aof-compacted")
        if last is not None and last.decode() == marker:
            return False
        if not client.set("haic:aof-compaction-lock", b"1", nx=True, ex=max(1, int(config.sweep_interval()))):
            return False
        client.bgrewriteaof()
        client.set("haic:aof-compacted", marker)
        return True
    except Exception as exc:                           # noqa: BLE001 - retried at the next sweep
        logger.warning("could not compact Redis' append-only file (%s)", type(exc).__name__)
        return False


_sweeper: dict = {"pid": None, "thread": None}
_sweeper_lock = threading.Lock()


def start_sweeper() -> None:
    """Start this process's sweeper thread if it is not running (idempotent, cheap: it runs after every request
    too, so any server starts it; gunicorn's ``post_fork`` starts it in each worker before any request). The
    sweep itself runs in one process at a time (a file lock); the others skip that round."""
    if _sweeper["pid"] == os.getpid() and _sweeper["thread"].is_alive():
        return
    with _sweeper_lock:
        if _sweeper["pid"] == os.getpid() and _sweeper["thread"].is_alive():
            return
        thread = threading.Thread(target=_sweep_forever, name="haic-sweeper", daemon=True)
        _sweeper.update(pid=os.getpid(), thread=thread)
        thread.start()


def _sweep_forever() -> None:
    last = time.monotonic()
    while True:
        time.sleep(min(1.0, max(0.2, config.sweep_interval())))       # wakes often: the interval is read every time
        if time.monotonic() - last < config.sweep_interval():
            continue
        last = time.monotonic()
        server = _app[0]
        if server is None:
            continue
        try:
            with server.app_context():
                directory = getattr(cache.cache, "_path", None)
                if directory and getattr(cache.cache, "_write_client", None) is None:
                    with _flocked(directory, "sweep", blocking=False) as mine:
                        if mine:
                            sweep_expired()
                else:
                    sweep_expired()
        except Exception as exc:                       # noqa: BLE001 - the next round tries again
            logger.warning("sweeping expired data failed (%s)", type(exc).__name__)


# --- datasets ------------------------------------------------------------------------------------------------

_local_demo: list = [None]


def _load_demo(store: bool = True) -> Dataset:
    result = load_cohort(DEMO_PATH)
    if not result.ok:  # the shipped file is tested; this would be a packaging fault
        raise DatasetMissing("the synthetic demo cohort could not be loaded")
    ds = Dataset(DEMO_ID, "demo_cohort.csv", result.data, frame_hash(result.data), synthetic=True,
                 report=result.report.to_dict(), mapping=result.mapping)
    if store:
        _store(ds, timeout=0)
    return ds


def _demo_without_store() -> Dataset:
    """The demo cohort from this process's own copy, while the store cannot be reached."""
    if _local_demo[0] is None:
        _local_demo[0] = _load_demo(store=False)
    return _local_demo[0]


def _touch_interval(ttl: int) -> float:
    return min(60.0, ttl / 10)


def get_dataset(dataset_id: str | None) -> Dataset:
    """The dataset for an id (the demo cohort for ``None``/``"demo"``); pushes back its idle expiry."""
    if not dataset_id or dataset_id == DEMO_ID:
        try:
            return _guarded(_get_demo)()
        except StorageError:
            return _demo_without_store()
    return _guarded(_get_uploaded)(dataset_id)


def _get_demo() -> Dataset:
    ds = cache.get(_key(DEMO_ID))
    return ds if ds is not None and cache.has(_frame_key(DEMO_ID)) else _load_demo()


def _get_uploaded(dataset_id: str) -> Dataset:
    ds = cache.get(_key(dataset_id))
    if ds is None or ds.owner != current_owner():  # another session's id reads as "not there"
        raise DatasetMissing("this dataset is no longer on the server (it expired or was removed); "
                             "upload it again or switch to the demo cohort")
    ttl = config.dataset_ttl()
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


def session_datasets(owner: str | None = None) -> list[Dataset]:
    """The datasets the session holds now, oldest first (their metadata only)."""
    owner = owner or current_owner()
    held = []
    for dataset_id in _guarded(cache.get)(_owner_index(owner)) or []:
        ds = _guarded(cache.get)(_key(dataset_id))
        if ds is not None and ds.owner == owner:
            held.append(ds)
    return held


@_guarded
def put_dataset(result: LoadResult, name: str) -> Dataset:
    """Store a loaded cohort under a new unguessable id, within the session's quota and the store's room."""
    if not result.ok:
        raise ValueError("only a loaded cohort without blocking errors can be stored")
    ttl = config.dataset_ttl()
    owner = current_owner()
    ds = Dataset(secrets.token_urlsafe(24), name, result.data, frame_hash(result.data),
                 report=result.report.to_dict(), mapping=result.mapping, owner=owner, touched=time.time())
    with _locked(_owner_index(owner)):              # one upload of a session at a time is counted
        _check_quota(session_datasets(owner), ds)
        _check_room(ds.nbytes)
        _store(ds, timeout=ttl)
        _index_merge(_owner_index(owner), [ds.id], timeout=2 * ttl, refresh=True)
    return ds


def _check_quota(held: list[Dataset], new: Dataset) -> None:
    max_datasets, max_bytes = config.session_quota()
    used = sum(getattr(d, "nbytes", 0) for d in held)
    if len(held) + 1 <= max_datasets and used + new.nbytes <= max_bytes:
        return
    names = ", ".join(f"{d.name} ({_megabytes(getattr(d, 'nbytes', 0))})" for d in held) or "none"
    if len(held) + 1 > max_datasets:
        reason = f"it already holds {len(held)} datasets, the most one session may keep"
    else:
        reason = (f"this dataset ({_megabytes(new.nbytes)}) and the {_megabytes(used)} already stored would exceed "
                  f"the {_megabytes(max_bytes)} one session may keep")
    raise QuotaExceeded(f"{new.name} was not stored: {reason}. Your datasets on the server: {names}. Remove data "
                        f"you no longer need (\"Remove my data\" on the Data page deletes all of them) and upload "
                        f"again; nothing of yours was deleted.")


def _megabytes(n: int) -> str:
    return f"{n / 2**20:,.1f} MB" if n >= 0.05 * 2**20 else "<0.1 MB"


@_guarded
def put_pending(raw: bytes, name: str) -> str:
    """Keep an uploaded file's bytes briefly (for the column-mapping step); returns an unguessable token. The
    session's oldest pending uploads beyond :data:`PENDING_PER_SESSION` are deleted (the page only ever maps its
    latest)."""
    token = secrets.token_urlsafe(24)
    owner = current_owner()
    timeout = min(config.dataset_ttl(), PENDING_TTL)
    _check_room(len(raw))
    with _locked(_pending_index(owner)):
        _write(f"pending:{token}", (raw, name, owner), timeout)
        tokens = _index_merge(_pending_index(owner), [token], timeout=timeout, refresh=True)
        if len(tokens) > PENDING_PER_SESSION:
            old, keep = tokens[:-PENDING_PER_SESSION], tokens[-PENDING_PER_SESSION:]
            cache.delete_many(*[f"pending:{t}" for t in old])
            _write(_pending_index(owner), keep, timeout)
    return token


@_guarded
def get_pending(token: str) -> tuple[bytes, str]:
    hit = cache.get(f"pending:{token}") if token else None
    if hit is None or hit[2] != current_owner():
        raise DatasetMissing("the uploaded file is no longer on the server; upload it again")
    return hit[0], hit[1]


@_guarded
def delete_pending() -> int:
    """Delete every pending upload (raw file bytes) of the current session; returns how many were there."""
    tokens = _index_pop(_pending_index(current_owner()))
    for token in tokens:
        cache.delete(f"pending:{token}")
    return len(tokens)


@_guarded
def issue_ticket(dataset_id: str | None) -> str:
    """A short-lived, single-use token that lets a background job (no browser session there) read a dataset.

    The ownership check happens here, in the request of the session that owns the dataset.
    """
    ds = get_dataset(dataset_id)
    ticket = secrets.token_urlsafe(24)
    _write(f"ticket:{ticket}", ds.id, 10 * 60)
    return ticket


@_guarded
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


@_guarded
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
    _count_deletion()
    delete_pending()
    return True


@_guarded
def delete_session_data() -> int:
    """Delete everything the current browser session put on the server: every uploaded dataset (with derived
    results), its pending uploads and its meta-analysis study set (:func:`delete_study_set`). Returns how many
    were deleted (datasets, and the study set counting as one)."""
    owner = current_owner()
    deleted = 0
    for dataset_id in _index_pop(_owner_index(owner)):
        ds = cache.get(_key(dataset_id))
        if ds is not None and ds.owner == owner:
            _purge(dataset_id)
            deleted += 1
    if deleted:
        _count_deletion()
    delete_pending()
    return deleted + int(delete_study_set())


def _count_deletion() -> None:
    """Note a deletion for the sweeper (Redis: the append-only file is rewritten after deletions)."""
    client = getattr(cache.cache, "_write_client", None)
    if client is not None:
        client.incr("haic:deletions")


# --- the meta-analysis page's study set ----------------------------------------------------------------------

@dataclass
class StudyData:
    """A meta-analysis study table as the page holds it (:mod:`analysis.meta.edits`): text cells with lower-case
    column names (as in the file), the provenance that goes with it (or None), and the user's edits (``row``
    0-based, newest last). ``shipped``: the shipped 17-study file, shared by every session; otherwise the
    session's own copy, stored by :func:`put_study_set`."""

    name: str
    frame: pd.DataFrame
    provenance: pd.DataFrame | None
    edits: list[dict] = field(default_factory=list)
    shipped: bool = False
    content_hash: str = ""
    touched: float = 0.0      # when its idle expiry was last pushed back (time.time())

    def __post_init__(self) -> None:
        if not self.content_hash:
            digest = hashlib.sha256(frame_hash(self.frame).encode())
            digest.update(b"|" + (frame_hash(self.provenance) if self.provenance is not None else "-").encode())
            self.content_hash = digest.hexdigest()[:32]

    @property
    def n(self) -> int:
        return int(len(self.frame))


def _study_set_key(owner: str | None = None) -> str:
    return f"meta:table:{owner or current_owner()}"


def _study_results_index(owner: str | None = None) -> str:
    return f"meta:results:{owner or current_owner()}"


def get_study_set() -> StudyData | None:
    """This browser session's own (edited or uploaded) study table, or None (the session is on the shipped
    file); pushes back its idle expiry (``HAIC_DATASET_TTL``) while it is in use."""
    data = cache.get(_study_set_key())
    if data is None:
        return None
    if time.time() - data.touched >= _touch_interval(config.dataset_ttl()):   # in use: not rewritten on every read
        put_study_set(data)
    return data


def put_study_set(data: StudyData) -> StudyData:
    """Keep ``data`` as this browser session's study table (it expires after ``HAIC_DATASET_TTL`` without use)."""
    data.touched = time.time()
    cache.set(_study_set_key(), data, timeout=config.dataset_ttl())
    return data


def delete_study_set() -> bool:
    """Delete this session's own study table and the results computed from it; the session is back on the
    shipped file. Returns whether there was something to delete."""
    had = cache.get(_study_set_key()) is not None
    cache.delete(_study_set_key())
    keys = _index_pop(_study_results_index())
    if keys:
        cache.delete_many(*keys)
    return had


def memoised_for_study_set(data: StudyData, kind: str, params: Any, build: Callable[[], Any],
                           version: int = 0) -> Any:
    """``build()`` memoised on (``version``, the table's content hash, ``params``; ``params`` with a stable
    ``repr``). Results of the shipped table are shared by all sessions; a session's own table's results are keyed
    by session and deleted with it (:func:`delete_study_set`). Errors are not cached."""
    scope = "shipped" if data.shipped else current_owner()
    raw = f"{version}|{scope}|{data.content_hash}|{params!r}"
    key = f"meta:{kind}:" + hashlib.sha256(raw.encode()).hexdigest()[:40]
    hit = cache.get(key)
    if hit is not None:
        return hit
    value = build()
    ttl = config.dataset_ttl()
    if not data.shipped:
        if cache.get(_study_set_key()) is None:   # deleted (or expired) while this ran: do not store its results
            return value
        _index_add(_study_results_index(), [key], timeout=ttl, refresh=True)
    cache.set(key, value, timeout=ttl)
    return value


#: keyword arguments that do not change a result (e.g. a progress callback) and stay out of the cache key
NOT_IN_KEY = ("progress",)


def memoised(func: Callable[..., Any], dataset: Dataset, *args: Any, **kwargs: Any) -> Any:
    """``func(dataset.frame, *args, **kwargs)``, cached on (content hash, function, parameters).

    Parameters must have a stable ``repr`` (numbers, strings, tuples). Errors are not cached. The result key is
    recorded in the dataset's index (on a hit too), so deleting the dataset deletes it; a result finished after
    its dataset was removed is returned but not stored. A result is a cache, not the user's data: when the store
    is full or cannot be reached it is computed and returned without being kept (an uploaded dataset's frame
    that cannot be read raises :class:`StorageUnavailable` as ever).
    """
    name = f"{func.__module__}.{func.__qualname__}"
    params = repr((args, sorted((k, v) for k, v in kwargs.items() if k not in NOT_IN_KEY)))
    key = "result:" + hashlib.sha256(f"{dataset.content_hash}|{name}|{params}".encode()).hexdigest()[:40]
    uploaded = dataset.id != DEMO_ID
    ttl = config.dataset_ttl()
    hit = _quietly(cache.get, key)
    if hit is not None:
        if uploaded:
            _quietly(_index_add, _results_index(dataset.id), [key], timeout=ttl)
        return hit
    value = func(dataset.frame, *args, **kwargs)
    if uploaded and _quietly(_gone, dataset.id, failed=True):
        return value
    if uploaded and _quietly(_index_add, _results_index(dataset.id), [key], timeout=ttl, failed=False) is False:
        return value                     # not recorded for deletion with the dataset: not kept either
    _quietly(cache.set, key, value, timeout=ttl)
    if uploaded and _quietly(_gone, dataset.id, failed=True):   # removed meanwhile: its purge may have run first
        _quietly(cache.delete, key)
    return value


def _quietly(func: Callable, *args: Any, failed: Any = None, **kwargs: Any) -> Any:
    """``func(...)``, or ``failed`` when the store is full or cannot be reached."""
    try:
        return func(*args, **kwargs)
    except Exception as exc:
        if isinstance(exc, StorageError) or _failure_kind(exc) is not None:
            return failed
        raise
