"""Server-side dataset store: isolation between browser sessions, expiry, deletion, memoised results."""
from __future__ import annotations

import os
import time

import pandas as pd
import pytest
from flask import session

from analysis.io import load_cohort
from services import config, store


@pytest.fixture
def app(cache_app):
    return cache_app


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


def test_ids_are_unguessable_and_distinct(app, monkeypatch):
    monkeypatch.setenv("HAIC_SESSION_MAX_DATASETS", "20")
    with app.test_request_context("/"):
        ids = {store.put_dataset(cohort(), "x.csv").id for _ in range(20)}
    assert len(ids) == 20 and all(len(i) >= 32 for i in ids)


def test_datasets_expire_after_idle_time(app, monkeypatch):
    monkeypatch.setenv("HAIC_DATASET_TTL", "2")   # filesystem expiry is int(now) + ttl: 1 s could lapse at once
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


# --- retention: deletion and expiry remove the data, what was derived from it and the raw upload -------------

CANARY = "canaryretentionzz"


def canary_cohort():
    return load_cohort(pd.DataFrame({"os_months": [1.0, 2.0, 3.0, 4.0], "os_event": [1, 0, 1, 1],
                                     "tag": [CANARY, "b", CANARY, "b"]}))


def levels(frame, col):
    """A derived result that carries a cell value, so its presence on disk is visible."""
    return sorted(frame[col].dropna().unique().tolist())


def files_with(cache_dir, needle: bytes):
    return [p for p in cache_dir.rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_deleting_a_dataset_deletes_its_results_and_pending_upload_from_disk(app, tmp_path):
    cache_dir = tmp_path / "cache"
    ctx = as_session(app, "alice")
    store.put_pending(b"os_months,os_event,tag\n1,1," + CANARY.encode() + b"\n", "a.csv")
    ds = store.put_dataset(canary_cohort(), "a.csv")
    assert store.memoised(levels, ds, "tag") == ["b", CANARY]
    assert files_with(cache_dir, CANARY.encode())          # dataset, result and raw upload are on disk
    assert store.delete_dataset(ds.id) is True
    assert files_with(cache_dir, CANARY.encode()) == []
    with pytest.raises(store.DatasetMissing):
        store.get_dataset(ds.id)
    ctx.pop()


def test_deleting_one_dataset_removes_shared_results_it_used_and_the_other_recomputes(app, tmp_path):
    calls = []

    def stat(frame):
        calls.append(1)
        return levels(frame, "tag")

    ctx = as_session(app, "alice")
    a = store.put_dataset(canary_cohort(), "a.csv")
    ctx.pop()
    ctx = as_session(app, "bob")
    b = store.put_dataset(canary_cohort(), "b.csv")         # the same content in another session
    assert store.memoised(stat, b) == ["b", CANARY]
    ctx.pop()
    ctx = as_session(app, "alice")
    assert store.memoised(stat, a) == ["b", CANARY]          # a hit, recorded for alice's dataset too
    assert len(calls) == 1
    assert store.delete_dataset(a.id)
    ctx.pop()
    ctx = as_session(app, "bob")
    assert store.get_dataset(b.id).id == b.id                # bob's dataset is untouched
    assert store.memoised(stat, b) == ["b", CANARY]
    assert len(calls) == 2                                    # the shared result went with alice's data
    ctx.pop()


def test_remove_during_an_inflight_request_does_not_resurrect_the_dataset(app, monkeypatch):
    ctx = as_session(app, "alice")
    ds = store.put_dataset(canary_cohort(), "a.csv")
    monkeypatch.setattr(store, "_touch_interval", lambda ttl: 0.0)   # every read rewrites the entry
    real_set = store.cache.set

    def set_after_concurrent_delete(key, value, timeout=None):
        if key == store._key(ds.id):
            store._purge(ds.id)        # "Remove my data" lands between this request's read and its write
        return real_set(key, value, timeout=timeout)

    monkeypatch.setattr(store.cache, "set", set_after_concurrent_delete)
    with pytest.raises(store.DatasetMissing):
        store.get_dataset(ds.id)
    monkeypatch.setattr(store.cache, "set", real_set)
    assert store.cache.get(store._key(ds.id)) is None
    ctx.pop()


def test_a_result_finished_after_removal_is_not_stored(app, tmp_path):
    ctx = as_session(app, "alice")
    ds = store.put_dataset(canary_cohort(), "a.csv")

    def slow_stat(frame):
        store.delete_dataset(ds.id)      # the user removes the data while the job runs
        return levels(frame, "tag")

    assert store.memoised(slow_stat, ds) == ["b", CANARY]   # the running job still gets its answer
    assert files_with(tmp_path / "cache", CANARY.encode()) == []
    ctx.pop()


def test_delete_session_data_removes_every_dataset_of_the_session_only(app):
    ctx = as_session(app, "alice")
    mine = [store.put_dataset(canary_cohort(), f"{i}.csv") for i in range(3)]
    ctx.pop()
    ctx = as_session(app, "bob")
    bobs = store.put_dataset(canary_cohort(), "bob.csv")
    ctx.pop()
    ctx = as_session(app, "alice")
    assert store.delete_session_data() == 3
    for ds in mine:
        with pytest.raises(store.DatasetMissing):
            store.get_dataset(ds.id)
    ctx.pop()
    ctx = as_session(app, "bob")
    assert store.get_dataset(bobs.id).id == bobs.id
    ctx.pop()


def test_expired_entries_are_swept_from_the_filesystem(app, tmp_path, monkeypatch):
    cache_dir = tmp_path / "cache"
    monkeypatch.setenv("HAIC_DATASET_TTL", "1")
    ctx = as_session(app, "alice")
    ds = store.put_dataset(canary_cohort(), "a.csv")
    store.memoised(levels, ds, "tag")
    store.put_pending(CANARY.encode(), "raw.csv")
    assert files_with(cache_dir, CANARY.encode())
    time.sleep(2.1)
    # an expired file stays on disk until something reads it: the sweep deletes it
    assert files_with(cache_dir, CANARY.encode())
    assert store.sweep_expired() >= 3
    assert files_with(cache_dir, CANARY.encode()) == []
    assert store.get_dataset(None).synthetic               # the demo (no expiry) is kept
    ctx.pop()


def test_expired_data_are_swept_within_the_interval_without_any_request(app, tmp_path, monkeypatch):
    cache_dir = tmp_path / "cache"
    monkeypatch.setenv("HAIC_DATASET_TTL", "2")
    monkeypatch.setenv("HAIC_SWEEP_INTERVAL", "0.3")
    ctx = as_session(app, "alice")
    ds = store.put_dataset(canary_cohort(), "a.csv")
    store.memoised(levels, ds, "tag")
    store.put_pending(CANARY.encode(), "raw.csv")
    ctx.pop()
    store.start_sweeper()                       # as gunicorn's post_fork does; no request follows
    assert files_with(cache_dir, CANARY.encode())
    deadline = time.time() + 10
    while files_with(cache_dir, CANARY.encode()) and time.time() < deadline:
        time.sleep(0.2)
    assert files_with(cache_dir, CANARY.encode()) == []
    assert store._sweeper["thread"].is_alive()


def test_splitter_cache_drops_idle_entries(app):
    import time as _time

    from services.survival_view import SplitterCache

    demo_like = pd.DataFrame({"os_months": [1.0, 2, 3, 4], "os_event": [1, 0, 1, 1], "ast": [10.0, 20, 30, 40]})
    with app.test_request_context("/"):
        ds = store.put_dataset(load_cohort(demo_like), "x.csv")
        cache = SplitterCache(size=4, max_idle=0.2)
        first = cache.get(ds, "os", "ast")
        assert cache.get(ds, "os", "ast") is first and len(cache) == 1      # reused while in use
        _time.sleep(0.3)
        assert cache.get(ds, "os", "ast") is not first                      # idle too long: rebuilt
        assert len(cache) == 1


def test_reading_a_dataset_does_not_read_its_frame_until_used(app, monkeypatch):
    ctx = as_session(app, "alice")
    ds = store.put_dataset(cohort(), "a.csv")
    read = []
    real_get = store.cache.get
    monkeypatch.setattr(store.cache, "get", lambda key: read.append(key) or real_get(key))
    got = store.get_dataset(ds.id)
    assert store._frame_key(ds.id) not in read                  # owner check, label, column types: metadata only
    assert got.n == 3 and got.label.endswith("(n=3)") and got.numeric_columns == {"os_months", "os_event"}
    assert got.frame.shape == (3, 2) and read.count(store._frame_key(ds.id)) == 1
    got.frame
    assert read.count(store._frame_key(ds.id)) == 1             # read once per request object
    ctx.pop()


def test_the_frame_goes_with_the_dataset_and_a_lost_frame_reads_as_missing(app):
    ctx = as_session(app, "alice")
    ds = store.put_dataset(cohort(), "a.csv")
    assert store.cache.get(store._frame_key(ds.id)) is not None
    assert store.delete_dataset(ds.id)
    assert store.cache.get(store._frame_key(ds.id)) is None
    other = store.put_dataset(cohort(), "b.csv")
    store.cache.delete(store._frame_key(other.id))               # evicted by the cache's size limit
    with pytest.raises(store.DatasetMissing):
        store.get_dataset(other.id).frame
    ctx.pop()


def test_a_dataset_pickled_by_the_previous_version_is_still_readable():
    frame = cohort().data
    old = store.Dataset.__new__(store.Dataset)
    old.__setstate__({"id": "x", "name": "x.csv", "frame": frame, "content_hash": "h", "synthetic": False,
                      "report": {}, "mapping": {}, "owner": "alice", "touched": 0.0})
    assert old.frame is frame and old.n == 3 and "os_months" in old.numeric_columns
    import pickle
    again = pickle.loads(pickle.dumps(old))
    assert again._frame is None and again.n == 3              # a pickle holds the metadata only


# --- storage that never silently loses data (issue 13, item 3) -------------------------------------------------

def test_other_sessions_activity_never_evicts_an_idle_users_dataset_nor_scans_the_store(app, monkeypatch):
    """cachelib's 5,000-entry threshold deleted the entries nearest to expiry -- an idle user's dataset -- once
    other sessions had written enough (2,500 uploads), and past it every write listed and read every file
    (upload p50 27 -> 500 ms)."""
    import cachelib.file

    ctx = as_session(app, "victim")
    victim = store.put_dataset(canary_cohort(), "victim.csv")
    ctx.pop()
    time.sleep(1.1)                               # the victim is idle: its expiry is the nearest (whole seconds)
    listed = []
    real = os.listdir
    monkeypatch.setattr(cachelib.file.os, "listdir", lambda path: listed.append(path) or real(path))
    for i in range(50):                          # other sessions upload ...
        ctx = as_session(app, f"other-{i}")
        store.put_dataset(cohort((1.0 + i, 2.0, 3.0)), f"{i}.csv")
        ctx.pop()
    with app.test_request_context("/"):          # ... and their results fill the store past 5,000 entries
        for i in range(5_100):
            store.cache.set(f"result:other-{i}", i, timeout=config.dataset_ttl())
    ctx = as_session(app, "victim")
    assert store.get_dataset(victim.id).frame["tag"].tolist() == [CANARY, "b", CANARY, "b"]
    ctx.pop()
    assert listed == []


def test_one_session_cannot_fill_the_store_and_is_told_what_to_remove(app, monkeypatch):
    monkeypatch.setenv("HAIC_SESSION_MAX_DATASETS", "3")
    ctx = as_session(app, "bob")
    kept = [store.put_dataset(cohort(), f"visit{i}.csv") for i in range(3)]
    with pytest.raises(store.QuotaExceeded) as info:
        store.put_dataset(cohort(), "visit3.csv")
    message = str(info.value)
    assert message.startswith("visit3.csv was not stored: it already holds 3 datasets")
    assert all(f"visit{i}.csv" in message for i in range(3)) and "Remove my data" in message
    assert CANARY not in message
    assert [store.get_dataset(d.id).name for d in kept] == ["visit0.csv", "visit1.csv", "visit2.csv"]
    assert store.delete_dataset(kept[0].id)
    assert store.put_dataset(cohort(), "visit3.csv").name == "visit3.csv"    # room again
    ctx.pop()
    ctx = as_session(app, "carol")                                           # another session is not affected
    assert store.put_dataset(cohort(), "c.csv")
    ctx.pop()


def test_the_byte_quota_counts_the_cleaned_frames(app, monkeypatch):
    monkeypatch.setenv("HAIC_SESSION_MAX_MB", "0.01")                         # ~10 KB
    big = load_cohort(pd.DataFrame({"os_months": [float(i) for i in range(1000)], "os_event": [1] * 1000}))
    with app.test_request_context("/"):
        small = store.put_dataset(cohort(), "small.csv")
        with pytest.raises(store.QuotaExceeded, match=r"big.csv was not stored: this dataset \(.*\) and the .* "
                                                      r"already stored would exceed the .* one session may keep"):
            store.put_dataset(big, "big.csv")
        assert store.get_dataset(small.id).n == 3


def test_a_session_keeps_only_its_latest_pending_uploads(app):
    ctx = as_session(app, "dora")
    tokens = [store.put_pending(b"os_months,os_event\n1,1\n", f"{i}.csv") for i in range(5)]
    for token in tokens[:2]:
        with pytest.raises(store.DatasetMissing):
            store.get_pending(token)
    assert [store.get_pending(t)[1] for t in tokens[2:]] == ["2.csv", "3.csv", "4.csv"]
    ctx.pop()


def test_a_full_disk_is_said_as_such_and_nothing_stored_is_touched(app, monkeypatch):
    ctx = as_session(app, "erin")
    before = store.put_dataset(canary_cohort(), "before.csv")
    monkeypatch.setenv("HAIC_STORAGE_RESERVE_MB", str(10**9))                # less free space than the reserve
    with pytest.raises(store.StorageFull) as info:
        store.put_dataset(cohort(), "after.csv")
    assert str(info.value) == store.FULL and "storage for uploaded data is full" in str(info.value)
    with pytest.raises(store.StorageFull):
        store.put_pending(b"x" * 100, "raw.csv")
    monkeypatch.delenv("HAIC_STORAGE_RESERVE_MB")
    assert store.get_dataset(before.id).frame["tag"].tolist()[0] == CANARY
    ctx.pop()


def test_a_failed_write_is_never_silent(app, monkeypatch):
    """The filesystem backend only logs a failed write and returns False: the upload must not look stored."""
    ctx = as_session(app, "fay")
    monkeypatch.setattr(store.cache.cache, "set", lambda *a, **k: False)
    with pytest.raises(store.StorageUnavailable) as info:
        store.put_dataset(cohort(), "a.csv")
    assert "cannot be reached" in str(info.value) and isinstance(info.value, store.DatasetMissing)
    ctx.pop()


def test_an_unreachable_store_is_said_as_such_and_the_demo_still_works(app, monkeypatch):
    import redis

    ctx = as_session(app, "gus")
    ds = store.put_dataset(canary_cohort(), "a.csv")
    ctx.pop()

    def down(*_a, **_k):
        raise redis.exceptions.ConnectionError("Error 111 connecting to redis:6379. Connection refused.")

    for name in ("get", "set", "has", "delete", "delete_many"):
        monkeypatch.setattr(store.cache.cache, name, down)
    ctx = as_session(app, "gus")
    with pytest.raises(store.StorageUnavailable) as info:
        store.get_dataset(ds.id)
    assert str(info.value) == store.UNREACHABLE and "Nothing has been deleted" in str(info.value)
    for call in (lambda: store.put_dataset(cohort(), "b.csv"), lambda: store.put_pending(b"x", "x.csv"),
                 lambda: store.delete_session_data(), lambda: store.issue_ticket(ds.id)):
        with pytest.raises(store.StorageUnavailable):
            call()
    demo = store.get_dataset(None)                                   # from this process's own copy
    assert demo.synthetic and demo.n == 302
    assert store.memoised(lambda frame: len(frame), demo) == 302     # computed, not kept
    ctx.pop()
    monkeypatch.undo()
    ctx = as_session(app, "gus")
    assert store.get_dataset(ds.id).frame["tag"].tolist()[0] == CANARY   # usable again when the store is back
    ctx.pop()


# --- identity: session and, behind an authenticating proxy, user (issue 13, item 4) -------------------------

def test_datasets_are_bound_to_the_proxys_user_as_well_as_the_session(app, monkeypatch):
    monkeypatch.setenv("HAIC_USER_HEADER", "X-Forwarded-User")

    def request_as(user):
        ctx = app.test_request_context("/", headers={"X-Forwarded-User": user} if user else {})
        ctx.push()
        session["owner"] = "shared-workstation-cookie"
        return ctx

    ctx = request_as("alice")
    ds = store.put_dataset(canary_cohort(), "alice.csv")
    ctx.pop()
    for other in ("bob", "", "Alice"):
        ctx = request_as(other)
        with pytest.raises(store.DatasetMissing):
            store.get_dataset(ds.id)
        assert store.delete_session_data() == 0
        ctx.pop()
    ctx = request_as("alice")
    assert store.get_dataset(ds.id).name == "alice.csv"
    assert store.delete_session_data() == 1
    ctx.pop()


def test_without_a_user_header_setting_the_header_is_ignored(app, monkeypatch):
    monkeypatch.delenv("HAIC_USER_HEADER", raising=False)
    with app.test_request_context("/", headers={"X-Forwarded-User": "alice"}):
        session["owner"] = "cookie"
        ds = store.put_dataset(cohort(), "a.csv")
    with app.test_request_context("/", headers={"X-Forwarded-User": "mallory"}):
        session["owner"] = "cookie"
        assert store.get_dataset(ds.id).id == ds.id     # a client-supplied header means nothing unless configured
