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
from flask import Flask, session

from analysis.io import load_cohort
from components import ids
from tests.support.server import AppServer, RedisServer, build_body, find_callback
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
        dataset_id = response[ids.DATASET_ID]["data"]
        assert dataset_id and dataset_id != "demo"
        assert CANARY.encode() in everything_in(redis_client)

        # the same browser (its session cookie) on the other process sees the dataset
        alice_two = DashSession(two.url)
        alice_two.http.cookies.update(alice_one.http.cookies)
        status, response, _s, _n = alice_two.move_cutoff(dataset_id, "os", "ast", 60.0)
        assert status == 200 and km_ok(response)[0]
        banner = alice_two.call(f"{ids.DATASET_BANNER}.children", {f"{ids.DATASET_ID}.data": dataset_id},
                                [f"{ids.DATASET_ID}.data"])
        assert "shared.csv (n=40)" in str(banner[1])

        # another browser on either process does not
        for url in (one.url, two.url):
            bob = DashSession(url)
            status, response, _s, _n = bob.move_cutoff(dataset_id, "os", "ast", 60.0)
            assert status == 200 and not km_ok(response)[0]
            assert "no longer on the server" in str(response[ids.KM_ALERT]) and CANARY not in str(response)

        # "Remove my data" on process two removes it for process one as well, and from Redis
        status, response, _s, _n = alice_two.call(
            f"{ids.DATASET_ID}.data", {f"{ids.REMOVE_DATA}.n_clicks": 1, f"{ids.DATASET_ID}.data": dataset_id},
            [f"{ids.REMOVE_DATA}.n_clicks"])
        assert status == 200 and "were deleted" in str(response[ids.UPLOAD_FEEDBACK])
        status, response, _s, _n = alice_one.move_cutoff(dataset_id, "os", "ast", 60.0)
        assert not km_ok(response)[0] and "no longer on the server" in str(response[ids.KM_ALERT])
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
                dataset_id = response[ids.DATASET_ID]["data"]
                end_id = re.search(r'"end_id":"([^"]+)"', alice.http.get(srv.url + "/survival").text).group(1)
                status, response, _s, _n = alice.call(f"{ids.CP_TICKET}.data", {f"{ids.CP_RUN}.n_clicks": 1,
                                                                                f"{ids.DATASET_ID}.data": dataset_id},
                                                      [f"{ids.CP_RUN}.n_clicks"])
                assert status == 200
                ticket = response[ids.CP_TICKET]["data"]
                body = build_body(find_callback(alice.deps, f"{ids.CP_FULL_KEY}.data"),
                                  {f"{ids.CP_TICKET}.data": ticket, f"{ids.KM_ENDPOINT}.value": "os",
                                   f"{ids.KM_VAR}.value": "ast"},
                                  [f"{ids.CP_TICKET}.data"])
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
                content_hash, endpoint, var = result[ids.CP_FULL_KEY]["data"]
                assert (endpoint, var) == ("os", "ast") and len(content_hash) == 32
        finally:
            worker.terminate()
            worker.wait(timeout=30)
    text = worker_log.read_text(errors="replace")
    assert "succeeded" in text and CANARY not in text


# --- storage that never silently loses data, on Redis (issue 13, item 3) --------------------------------------

@pytest.fixture
def own_redis(redis_url, tmp_path):
    """Start a Redis with the given options (the module's redis fixture checks the binary is there)."""
    servers = []

    def make(*options: str) -> RedisServer:
        server = RedisServer(tmp_path, *options).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


def redis_app(url: str, monkeypatch, tmp_path) -> Flask:
    monkeypatch.setenv("REDIS_URL", url)
    monkeypatch.setenv("HAIC_CACHE_DIR", str(tmp_path / "cache"))
    app = Flask("t-own-redis")
    app.config["SECRET_KEY"] = "test"
    store.init_cache(app)
    return app


def wide_cohort(rows: int = 2000, seed: int = 0):
    frame = pd.DataFrame({"os_months": [1.0 + (i * 7 + seed) % 50 for i in range(rows)],
                          "os_event": [i % 2 for i in range(rows)],
                          **{f"m{j}": [float(i * j + seed) for i in range(rows)] for j in range(12)}})
    return load_cohort(frame)


def test_a_redis_that_evicts_is_refused_at_start(own_redis, monkeypatch, tmp_path):
    """docker-compose ran Redis with maxmemory and volatile-lru: memory pressure deleted users' datasets."""
    server = own_redis("--maxmemory", "50mb", "--maxmemory-policy", "volatile-lru")
    with pytest.raises(RuntimeError, match="maxmemory-policy volatile-lru"):
        redis_app(server.url, monkeypatch, tmp_path)
    ok = own_redis("--maxmemory", "50mb", "--maxmemory-policy", "noeviction")
    assert redis_app(ok.url, monkeypatch, tmp_path)


def test_a_full_redis_refuses_new_data_with_a_clear_message_and_keeps_what_it_holds(own_redis, monkeypatch,
                                                                                       tmp_path):
    server = own_redis("--maxmemory", "6mb", "--maxmemory-policy", "noeviction")
    app = redis_app(server.url, monkeypatch, tmp_path)
    ctx = as_session(app, "victim")
    victim = store.put_dataset(cohort(), "victim.csv")
    ctx.pop()
    refused = None
    for i in range(60):
        ctx = as_session(app, f"other-{i // 5}")
        try:
            store.put_dataset(wide_cohort(seed=i), f"{i}.csv")
        except store.StorageFull as exc:
            refused = exc
            break
        finally:
            ctx.pop()
    assert refused is not None and str(refused) == store.FULL
    ctx = as_session(app, "victim")
    assert store.get_dataset(victim.id).frame["group"].tolist().count(CANARY) == 20
    ctx.pop()


def test_a_redis_restart_keeps_the_datasets_and_the_outage_is_said(own_redis, monkeypatch, tmp_path):
    """Redis ran without persistence (a restart lost every dataset) and an outage showed a ConnectionError."""
    server = own_redis("--appendonly", "yes", "--appendfsync", "always")
    app = redis_app(server.url, monkeypatch, tmp_path)
    ctx = as_session(app, "alice")
    ds = store.put_dataset(cohort(), "a.csv")
    ctx.pop()
    server.stop()
    ctx = as_session(app, "alice")
    with pytest.raises(store.StorageUnavailable) as info:
        store.get_dataset(ds.id)
    assert str(info.value) == store.UNREACHABLE
    assert store.get_dataset(None).synthetic                       # the demo still works
    ctx.pop()
    server.start()
    ctx = as_session(app, "alice")
    assert store.get_dataset(ds.id).frame["group"].tolist().count(CANARY) == 20
    ctx.pop()


def test_removed_data_leave_redis_append_only_file(own_redis, monkeypatch, tmp_path):
    server = own_redis("--appendonly", "yes", "--appendfsync", "always", "--appenddirname", "aof")
    app = redis_app(server.url, monkeypatch, tmp_path)
    aof = tmp_path / "aof"
    ctx = as_session(app, "alice")
    ds = store.put_dataset(cohort(), "a.csv")
    store.memoised(levels, ds)
    assert files_with(aof, CANARY.encode())
    assert store.delete_dataset(ds.id)
    assert files_with(aof, CANARY.encode())                       # deleted, but still in the log on disk
    ctx.pop()
    with app.app_context():
        store.sweep_expired()
    client, deadline = server.client(), time.time() + 20
    while (client.info("persistence")["aof_rewrite_in_progress"] or files_with(aof, CANARY.encode())) and \
            time.time() < deadline:
        time.sleep(0.1)
    assert files_with(aof, CANARY.encode()) == []


def test_an_outage_reaches_the_user_as_a_clear_message_and_the_data_come_back(own_redis):
    from scripts.loadtest import DashSession, km_ok

    server = own_redis("--appendonly", "yes", "--appendfsync", "always")
    env = {"REDIS_URL": server.url, "HAIC_SECRET_KEY": "k" * 32, "HAIC_WORKERS": "2"}
    with AppServer(env=env) as app_server:
        alice = DashSession(app_server.url)
        status, response, _s, _n = alice.upload(CSV, "a.csv")
        dataset_id = response[ids.DATASET_ID]["data"]
        server.stop()
        status, response, _s, _n = alice.move_cutoff(dataset_id, "os", "ast", 60.0)
        assert status == 200 and not km_ok(response)[0]
        alert = str(response[ids.KM_ALERT])
        assert "cannot be reached" in alert and "Nothing has been deleted" in alert and "ConnectionError" not in alert
        server.start()
        status, response, _s, _n = alice.move_cutoff(dataset_id, "os", "ast", 60.0)
        assert status == 200 and km_ok(response)[0]


def compose_redis_command() -> list[str]:
    """The redis service's command in docker-compose.yml, ``${VAR:-default}`` taken as its default and
    ``${VAR:?...}`` as a test value."""
    import json

    text = (ROOT / "docker-compose.yml").read_text()
    service = text[text.index("\n  redis:\n"):]
    start = service.index("command: [") + len("command: ")
    depth, end = 0, start
    for end in range(start, len(service)):
        depth += {"[": 1, "]": -1}.get(service[end], 0)
        if depth == 0:
            break
    flow = re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", service[start:end + 1])
    flow = re.sub(r"\$\{[A-Z_]+:\?[^}]*\}", "compose-test-password", flow)
    return json.loads(flow)


def test_compose_runs_redis_without_eviction_and_with_an_append_only_file(redis_url, tmp_path, monkeypatch):
    """docker-compose.yml's own Redis flags (the data directory moved to a temporary one): the app accepts it,
    and a restart keeps a stored dataset."""
    command = compose_redis_command()
    assert command[0] == "redis-server"
    flags = dict(zip(command[1::2], command[2::2]))
    assert flags["--maxmemory-policy"] == "noeviction" and flags["--appendonly"] == "yes"
    options = [a if a != "/data" else str(tmp_path) for a in command[1:]]
    server = RedisServer(tmp_path, *options)
    server.url = f"redis://:compose-test-password@127.0.0.1:{server.port}/0"
    server.start = _with_password(server)
    server.start()
    try:
        app = redis_app(server.url, monkeypatch, tmp_path)               # not refused: noeviction
        ctx = as_session(app, "alice")
        ds = store.put_dataset(cohort(), "a.csv")
        ctx.pop()
        server.stop()
        time.sleep(1.2)                                                  # appendfsync everysec
        server.start()
        ctx = as_session(app, "alice")
        assert store.get_dataset(ds.id).frame["group"].tolist().count(CANARY) == 20
        ctx.pop()
    finally:
        server.stop()
    compose = (ROOT / "docker-compose.yml").read_text()
    assert "redis-data:/data" in compose and 'HAIC_PROXY_COUNT: "1"' in compose
    assert 'HAIC_SECURE_COOKIES: "1"' in compose and "HAIC_HSTS: \"${HAIC_HSTS:-1}\"" in compose


def _with_password(server: RedisServer):
    """``server.start`` for a password-protected Redis (the readiness probe authenticates)."""
    import redis

    def start():
        server.proc = subprocess.Popen([server.binary, "--port", str(server.port), "--bind", "127.0.0.1",
                                        *server.options], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        client, deadline = redis.Redis(port=server.port, password="compose-test-password"), time.time() + 20
        while True:
            try:
                client.ping()
                return server
            except (redis.exceptions.BusyLoadingError, redis.ConnectionError):
                assert server.proc.poll() is None and time.time() < deadline, "redis-server did not start"
                time.sleep(0.05)

    return start
