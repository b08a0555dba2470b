"""The Redis backend (``REDIS_URL``): session isolation, idle expiry and deletion on a real ``redis-server``;
one cache shared by two app processes; background jobs on a Celery worker; deletion on the filesystem backend.

``redis-server`` (Debian package) is started on a free loopback port with persistence off. Without the binary
these tests skip with the reason, unless ``HAIC_REQUIRE_REDIS=1`` (then they fail).
"""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import requests
from flask import Flask, session

from analysis.io import load_cohort
from benchmarks.server import AppServer, build_body, find_callback
from services import store

ROOT = Path(__file__).resolve().parents[1]
CANARY = "canaryrediszz"
CSV = ("patient_id,OS (months),death,AST (U/L),group\n" + "".join(
    f"P{i},{2 + (i * 7) % 40},{i % 2},{15 + (i * 13) % 150},{CANARY if i % 2 else 'b'}\n" for i in range(40))).encode()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    binary = shutil.which("redis-server") or ("/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists()
                                              else None)
    if binary is None:
        if os.environ.get("HAIC_REQUIRE_REDIS") == "1":
            pytest.fail("HAIC_REQUIRE_REDIS=1 but redis-server is not installed (apt-get install redis-server)")
        pytest.skip("redis-server not installed (Debian: apt-get install redis-server); "
                    "set HAIC_REQUIRE_REDIS=1 to make this a failure")
    import redis

    port = _free_port()
    workdir = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(workdir), "--protected-mode", "yes"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    client = redis.Redis(host="127.0.0.1", port=port)
    deadline = time.time() + 20
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                pytest.fail("redis-server did not start")
            time.sleep(0.1)
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def redis_client(redis_url):
    import redis

    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.flushdb()


def everything_in(client) -> bytes:
    """Every key and value in the Redis database (strings, sets, lists, hashes), as bytes."""
    out = []
    for key in client.scan_iter("*"):
        out.append(key)
        kind = client.type(key)
        if kind == b"string":
            out.append(client.get(key) or b"")
        elif kind == b"set":
            out.extend(client.smembers(key))
        elif kind == b"list":
            out.extend(client.lrange(key, 0, -1))
        elif kind == b"hash":
            out.extend(b"%s=%s" % kv for kv in client.hgetall(key).items())
    return b"\n".join(out)


def files_with(directory: Path, needle: bytes) -> list[Path]:
    return [p for p in directory.rglob("*") if p.is_file() and needle in p.read_bytes()]


@pytest.fixture(params=["redis", "filesystem"])
def backend(request, tmp_path, monkeypatch):
    """A Flask app whose store is on Redis or on the filesystem, and a probe for data left behind."""
    monkeypatch.setenv("HAIC_CACHE_DIR", str(tmp_path / "cache"))
    if request.param == "redis":
        client = request.getfixturevalue("redis_client")
        monkeypatch.setenv("REDIS_URL", request.getfixturevalue("redis_url"))
        probe = lambda: everything_in(client)            # noqa: E731
    else:
        monkeypatch.delenv("REDIS_URL", raising=False)
        probe = lambda: b"".join(p.read_bytes() for p in (tmp_path / "cache").rglob("*") if p.is_file())  # noqa
    app = Flask(f"t-{request.param}")
    app.config["SECRET_KEY"] = "test"
    store.init_cache(app)
    return request.param, app, probe


def as_session(app, owner):
    ctx = app.test_request_context("/")
    ctx.push()
    session["owner"] = owner
    return ctx


def cohort():
    return load_cohort(CSV)


def levels(frame):
    return sorted(frame["group"].dropna().unique().tolist())


def test_backend_is_the_one_configured(backend):
    kind, app, _probe = backend
    with app.app_context():
        name = type(store.cache.cache).__name__
    assert name == ("RedisCache" if kind == "redis" else "FileSystemCache")


def test_two_sessions_are_isolated(backend):
    _kind, app, _probe = backend
    ctx = as_session(app, "alice")
    ds = store.put_dataset(cohort(), "a.csv")
    ticket_ok = store.issue_ticket(ds.id)
    ctx.pop()
    ctx = as_session(app, "mallory")
    with pytest.raises(store.DatasetMissing):
        store.get_dataset(ds.id)
    with pytest.raises(store.DatasetMissing):
        store.issue_ticket(ds.id)                      # no ticket for someone else's dataset
    assert store.delete_dataset(ds.id) is False
    assert store.delete_session_data() == 0
    ctx.pop()
    ctx = as_session(app, "alice")
    assert store.get_dataset(ds.id).n == 40
    assert store.redeem_ticket(ticket_ok).id == ds.id
    with pytest.raises(store.DatasetMissing):
        store.redeem_ticket(ticket_ok)                 # single use
    ctx.pop()


def test_delete_removes_dataset_results_and_raw_upload(backend):
    _kind, app, probe = backend
    ctx = as_session(app, "alice")
    store.put_pending(CSV, "a.csv")
    ds = store.put_dataset(cohort(), "a.csv")
    assert store.memoised(levels, ds) == ["b", CANARY]
    assert CANARY.encode() in probe()
    assert store.delete_dataset(ds.id) is True
    assert CANARY.encode() not in probe()
    with pytest.raises(store.DatasetMissing):
        store.get_dataset(ds.id)
    ctx.pop()


def test_remove_all_session_data(backend):
    _kind, app, probe = backend
    ctx = as_session(app, "alice")
    for i in range(3):
        store.memoised(levels, store.put_dataset(cohort(), f"{i}.csv"))
    assert store.delete_session_data() == 3
    assert CANARY.encode() not in probe()
    ctx.pop()


def test_idle_expiry_removes_everything(backend, monkeypatch):
    kind, app, probe = backend
    # The filesystem cache stores expiry as int(now) + ttl, so an entry can live as little as ttl - 1 s:
    # 3 s leaves a slow CI host 2 s for the writes and the first read below.
    monkeypatch.setenv("HAIC_DATASET_TTL", "3")
    ctx = as_session(app, "alice")
    ds = store.put_dataset(cohort(), "a.csv")
    store.memoised(levels, ds)
    store.put_pending(CSV, "a.csv")
    time.sleep(0.3)
    assert store.get_dataset(ds.id).id == ds.id       # used within the idle time: still there
    time.sleep(3.3)
    with pytest.raises(store.DatasetMissing):
        store.get_dataset(ds.id)
    if kind == "filesystem":
        store.sweep_expired()                          # files outlive their expiry until swept
    assert CANARY.encode() not in probe()
    ctx.pop()


# --- two app processes sharing one Redis ------------------------------------------------------------------

def test_two_app_processes_share_datasets_per_session_cookie(redis_url, redis_client):
    from scripts.loadtest import DashSession, km_ok

    env = {"REDIS_URL": redis_url, "HAIC_SECRET_KEY": "shared-secret-" + "x" * 24, "HAIC_WORKERS": "1"}
    with AppServer(env=env) as one, AppServer(env=env) as two:
        alice_one = DashSession(one.url)
        status, response, _s, _n = alice_one.upload(CSV, "shared.csv")
        assert status == 200
        dataset_id = response["dataset-id"]["data"]
        assert dataset_id and dataset_id != "demo"
        assert CANARY.encode() in everything_in(redis_client)

        # the same browser (its session cookie) on the other process sees the dataset
        alice_two = DashSession(two.url)
        alice_two.http.cookies.update(alice_one.http.cookies)
        status, response, _s, _n = alice_two.move_cutoff(dataset_id, "os", "ast", 60.0)
        assert status == 200 and km_ok(response)[0]
        banner = alice_two.call("dataset-banner.children", {"dataset-id.data": dataset_id}, ["dataset-id.data"])
        assert "shared.csv (n=40)" in str(banner[1])

        # another browser on either process does not
        for url in (one.url, two.url):
            bob = DashSession(url)
            status, response, _s, _n = bob.move_cutoff(dataset_id, "os", "ast", 60.0)
            assert status == 200 and not km_ok(response)[0]
            assert "no longer on the server" in str(response["km-alert"]) and CANARY not in str(response)

        # "Remove my data" on process two removes it for process one as well, and from Redis
        status, response, _s, _n = alice_two.call(
            "dataset-id.data", {"remove-data.n_clicks": 1, "dataset-id.data": dataset_id}, ["remove-data.n_clicks"])
        assert status == 200 and "were deleted" in str(response["upload-feedback"])
        status, response, _s, _n = alice_one.move_cutoff(dataset_id, "os", "ast", 60.0)
        assert not km_ok(response)[0] and "no longer on the server" in str(response["km-alert"])
        assert CANARY.encode() not in everything_in(redis_client)


def test_background_job_runs_on_a_celery_worker(redis_url, redis_client, tmp_path):
    """The survival page's "find optimal cutoff" job: issued a ticket in the user's request, run by a Celery
    worker (``celery -A services.background.celery_app worker``) that reaches the store through Redis."""
    pytest.importorskip("celery")
    from scripts.loadtest import DashSession

    env = dict(os.environ, REDIS_URL=redis_url, HAIC_SECRET_KEY="k" * 32, HAIC_CACHE_DIR=str(tmp_path / "w"))
    worker_log = tmp_path / "worker.log"
    celery = str(Path(sys.executable).parent / "celery")
    with open(worker_log, "wb") as log:
        worker = subprocess.Popen([celery, "-A", "services.background.celery_app", "worker", "--pool", "solo",
                                   "--concurrency", "1", "--loglevel", "info", "--without-heartbeat",
                                   "--without-gossip", "--without-mingle"], cwd=ROOT, env=env, stdout=log,
                                  stderr=subprocess.STDOUT)
        try:
            with AppServer(env={"REDIS_URL": redis_url, "HAIC_SECRET_KEY": "k" * 32, "HAIC_WORKERS": "1"}) as srv:
                alice = DashSession(srv.url)
                status, response, _s, _n = alice.upload(CSV, "bg.csv")
                dataset_id = response["dataset-id"]["data"]
                end_id = re.search(r'"end_id":"([^"]+)"', alice.http.get(srv.url + "/survival").text).group(1)
                status, response, _s, _n = alice.call("cp-ticket.data", {"cp-run.n_clicks": 1,
                                                                         "dataset-id.data": dataset_id},
                                                      ["cp-run.n_clicks"])
                assert status == 200
                ticket = response["cp-ticket"]["data"]
                body = build_body(find_callback(alice.deps, "cp-full-key.data"),
                                  {"cp-ticket.data": ticket, "km-endpoint.value": "os", "km-var.value": "ast"},
                                  ["cp-ticket.data"])
                first = alice.http.post(srv.url + "/_dash-update-component", params={"endId": end_id},
                                        json=body, timeout=60).json()
                assert "cacheKey" in first and "job" in first, first
                result, deadline = None, time.time() + 240
                while time.time() < deadline:
                    poll = alice.http.post(srv.url + "/_dash-update-component", json=body, timeout=60, params={
                        "endId": end_id, "cacheKey": first["cacheKey"], "job": first["job"]})
                    if poll.status_code == 200 and poll.content and "response" in poll.json():
                        result = poll.json()["response"]
                        break
                    time.sleep(0.5)
                assert result is not None, worker_log.read_text(errors="replace")[-3000:]
                content_hash, endpoint, var = result["cp-full-key"]["data"]
                assert (endpoint, var) == ("os", "ast") and len(content_hash) == 32
        finally:
            worker.terminate()
            worker.wait(timeout=30)
    text = worker_log.read_text(errors="replace")
    assert "succeeded" in text and CANARY not in text
