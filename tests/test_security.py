"""HTTP hardening of the served app: security headers and CSP, 413 for oversize bodies, same-origin POSTs, and
formula-safe CSV exports."""
from __future__ import annotations

import base64
import csv
import hashlib
import io
import os
import re
import sys

import pandas as pd
import pytest
from hypothesis import assume, given, settings, strategies as st

from components import ids
from tests.support.server import AppServer, build_body, find_callback
from components.export import FORMULA_PREFIXES, to_safe_csv
from services.security import content_security_policy, redact_text
from tests.support.examples import examples

CALLBACK = "/_dash-update-component"


@pytest.fixture(scope="module")
def dash_app(tmp_path_factory):
    if "app" not in sys.modules:
        os.environ.setdefault("HAIC_CACHE_DIR", str(tmp_path_factory.mktemp("app-cache")))
    import app

    return app


@pytest.fixture
def client(dash_app):
    return dash_app.server.test_client()


def call(client, output, values, changed, **kwargs):
    deps = client.get("/_dash-dependencies").get_json()
    return client.post(CALLBACK, json=build_body(find_callback(deps, output), values, changed), **kwargs)


def upload_values(raw: bytes, name: str = "f.csv") -> dict:
    return {f"{ids.UPLOAD}.contents": "data:text/csv;base64," + base64.b64encode(raw).decode(),
            f"{ids.UPLOAD}.filename": name, f"{ids.TIME_UNIT}.value": "months", f"{ids.DATASET_ID}.data": "demo"}


def csp_directives(header: str) -> dict[str, list[str]]:
    out = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            out[words[0]] = words[1:]
    return out


EXPECTED = {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer"}


def test_security_headers_on_every_kind_of_response(client):
    km = call(client, f"{ids.KM_GRAPH}.figure", {f"{ids.KM_ENDPOINT}.value": "os", f"{ids.KM_VAR}.value": "none",
                                                 f"{ids.KM_CI}.value": "log-log", f"{ids.DATASET_ID}.data": "demo"},
              [f"{ids.KM_VAR}.value"])
    responses = {"index": client.get("/"), "page": client.get("/survival"), "layout": client.get("/_dash-layout"),
                 "dependencies": client.get("/_dash-dependencies"), "asset": client.get("/assets/app.css"),
                 "missing": client.get("/no/such/thing.txt"), "callback": km}
    assert km.status_code == 200 and ids.KM_GRAPH in km.get_json()["response"]
    for name, resp in responses.items():
        for header, value in EXPECTED.items():
            assert resp.headers.get(header) == value, (name, header)
        policy = csp_directives(resp.headers["Content-Security-Policy"])
        assert policy["frame-ancestors"] == ["'none'"], name
        assert policy["object-src"] == ["'none'"] and policy["base-uri"] == ["'none'"], name
        assert policy["default-src"] == ["'self'"], name
        assert "'unsafe-inline'" not in policy["script-src"] and "'unsafe-eval'" not in policy["script-src"], name
        assert "Permissions-Policy" in resp.headers
    # results never sit in a browser or proxy cache; static files may
    assert km.headers["Cache-Control"] == "no-store"
    assert responses["index"].headers["Cache-Control"] == "no-store"
    assert "no-store" not in responses["asset"].headers.get("Cache-Control", "")
    # an asset as the page links it (?m=<modification time>: the URL changes with the file) is kept a year;
    # the same file asked for without it is revalidated
    linked = [src for src in re.findall(r'(?:src|href)="(/assets/[^"]+)"', responses["page"].get_data(as_text=True))
              if "?m=" in src]
    assert any("plotly-basic.min.js" in src for src in linked) and any("app.css" in src for src in linked)
    for src in linked:
        cached = client.get(src)
        assert cached.status_code == 200
        assert cached.headers["Cache-Control"] == "public, max-age=31536000, immutable", src
    assert "immutable" not in responses["asset"].headers.get("Cache-Control", "")


def test_csp_allows_exactly_the_inline_scripts_dash_writes(client):
    resp = client.get("/")
    html = resp.get_data(as_text=True)
    policy = csp_directives(resp.headers["Content-Security-Policy"])
    inline = [m.group(2) for m in re.finditer(r"<script([^>]*)>(.*?)</script>", html, re.S)
              if "src=" not in m.group(1) and "application/json" not in m.group(1)
              and not m.group(0).strip().startswith("<!--")]
    inline = [s for s in inline if "alert(\"Dash v2.7+" not in s]   # inside an IE-only HTML comment
    assert len(inline) >= 2      # the renderer's start-up line and the clientside callbacks
    allowed = {w for w in policy["script-src"] if w.startswith("'sha256-")}
    for script in inline:
        digest = "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"
        assert digest in allowed, script[:80]
    assert len(allowed) == len(set(inline))   # nothing else is allowed


def test_policy_text_is_well_formed():
    text = content_security_policy(["'sha256-abc='"])
    policy = csp_directives(text)
    assert policy["script-src"] == ["'self'", "'sha256-abc='"]
    assert policy["style-src"] == ["'self'", "'unsafe-inline'"]
    assert policy["img-src"] == ["'self'", "data:", "blob:"]


def test_oversize_callback_body_gets_a_clear_413(dash_app, client, monkeypatch):
    monkeypatch.setitem(dash_app.server.config, "MAX_CONTENT_LENGTH", 200_000)
    resp = call(client, f"{ids.DATASET_ID}.data", upload_values(b"os_months,os_event\n" + b"1,1\n" * 100_000),
                [f"{ids.UPLOAD}.contents"])
    assert resp.status_code == 413
    body = resp.get_json()
    assert body["status"] == 413 and "too large" in body["error"] and "limit" in body["error"]
    assert "Traceback" not in resp.get_data(as_text=True)


def test_install_security_on_a_plain_flask_server():
    """Any other route: a text 413, and the headers."""
    from flask import Flask, request

    from services.security import install_security

    server = Flask("plain")
    server.config["MAX_CONTENT_LENGTH"] = 1000
    server.add_url_rule("/echo", "echo", lambda: str(len(request.get_data())), methods=["POST"])
    install_security(server)
    client = server.test_client()
    assert client.post("/echo", data=b"x" * 10).get_data() == b"10"
    plain = client.post("/echo", data=b"x" * 5000, headers={"Accept": "text/html"})
    assert plain.status_code == 413 and plain.mimetype == "text/plain"
    assert "too large" in plain.get_data(as_text=True) and plain.headers["Connection"] == "close"
    assert plain.headers["X-Frame-Options"] == "DENY" and "frame-ancestors 'none'" in \
        plain.headers["Content-Security-Policy"]


def test_cross_site_posts_are_refused(client):
    values = {f"{ids.KM_ENDPOINT}.value": "os", f"{ids.KM_VAR}.value": "none", f"{ids.KM_CI}.value": "log-log",
              f"{ids.DATASET_ID}.data": "demo"}

    def post(origin=None, **headers):
        if origin is not None:
            headers["Origin"] = origin
        return call(client, f"{ids.KM_GRAPH}.figure", values, [f"{ids.KM_VAR}.value"], headers=headers).status_code

    assert post("https://evil.example") == 403
    assert post("null") == 403
    assert post("http://localhost") == 200 and post("http://LOCALHOST:80") == 200      # this server, exactly
    assert post() == 200                                                                 # no Origin: allowed
    # another port or scheme of the same host is another site (issue 13: another port was accepted)
    assert post("http://localhost:8443") == 403
    assert post("https://localhost") == 403
    # a client cannot claim to be behind a proxy: X-Forwarded-* count only from HAIC_PROXY_COUNT proxies
    assert post("https://haic.example.org", **{"X-Forwarded-Host": "haic.example.org",
                                              "X-Forwarded-Proto": "https"}) == 403
    assert post("http://evil.example", **{"X-Forwarded-Host": "evil.example"}) == 403


def plain_server(monkeypatch, **env):
    """A bare Flask server with install_security (settings read at install time), and a route that starts a
    session."""
    from flask import Flask, session as flask_session

    from services.security import install_security

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    server = Flask("plain")
    server.config["SECRET_KEY"] = "k" * 32

    def start():
        flask_session["owner"] = "someone"
        return "ok"

    server.add_url_rule("/start", "start", start, methods=["GET", "POST"])
    install_security(server)
    return server


def test_behind_a_configured_proxy_its_forwarded_origin_is_the_one_compared(monkeypatch):
    client = plain_server(monkeypatch, HAIC_PROXY_COUNT="1").test_client()
    proxied = {"X-Forwarded-Host": "haic.example.org", "X-Forwarded-Proto": "https", "X-Forwarded-For": "10.1.2.3"}
    assert client.post("/start", headers={"Origin": "https://haic.example.org", **proxied}).status_code == 200
    assert client.post("/start", headers={"Origin": "https://haic.example.org:8443", **proxied}).status_code == 403
    assert client.post("/start", headers={"Origin": "http://haic.example.org", **proxied}).status_code == 403
    assert client.post("/start", headers={"Origin": "https://evil.example", **proxied}).status_code == 403


def cookie_and_hsts(resp):
    cookie = resp.headers.get("Set-Cookie", "")
    return "; Secure" in cookie, "Strict-Transport-Security" in resp.headers, cookie


def test_secure_cookie_and_hsts_when_served_over_tls_by_default(monkeypatch):
    monkeypatch.delenv("HAIC_SECURE_COOKIES", raising=False)
    monkeypatch.delenv("HAIC_HSTS", raising=False)
    client = plain_server(monkeypatch).test_client()
    secure, hsts, cookie = cookie_and_hsts(client.get("/start", base_url="https://haic.example.org"))
    assert secure and hsts and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert cookie_and_hsts(client.get("/start", base_url="http://localhost"))[:2] == (False, False)
    # a client claiming TLS without a configured proxy is not believed
    assert cookie_and_hsts(client.get("/start", headers={"X-Forwarded-Proto": "https"}))[:2] == (False, False)
    # the proxy that terminates TLS, when configured, is
    proxied = plain_server(monkeypatch, HAIC_PROXY_COUNT="1").test_client()
    assert cookie_and_hsts(proxied.get("/start", headers={"X-Forwarded-Proto": "https"}))[:2] == (True, True)


def test_the_tls_settings_can_force_or_refuse(monkeypatch):
    always = plain_server(monkeypatch, HAIC_SECURE_COOKIES="1", HAIC_HSTS="1").test_client()
    assert cookie_and_hsts(always.get("/start"))[:2] == (True, True)
    never = plain_server(monkeypatch, HAIC_SECURE_COOKIES="0", HAIC_HSTS="0").test_client()
    assert cookie_and_hsts(never.get("/start", base_url="https://localhost"))[:2] == (False, False)


MALFORMED = [
    b"", b"not json", b"[]", b"null", b'"text"', b"{}", b'{"output": 5}', b'{"output": "no-such.children"}',
    b'{"output": "km-graph.figure"}',                                              # no inputs
    b'{"output": "km-graph.figure", "inputs": "x", "changedPropIds": []}',
    b'{"output": "km-graph.figure", "inputs": [1, 2], "changedPropIds": []}',
    b'{"output": "km-graph.figure", "inputs": [{"id": "km-var"}], "changedPropIds": []}',
    b'{"output": "km-graph.figure", "inputs": [], "state": {"a": 1}, "changedPropIds": []}',
    b'{"output": "km-graph.figure", "inputs": [], "changedPropIds": [1]}',
    b'{"output": "..nav-data.href...nav-survival.href...nav-cox.href...nav-response.href...nav-safety.href...'
    b'nav-baseline.href...nav-meta.href..", "inputs": [], "changedPropIds": []}',   # a clientside callback
    b'{"output": "km-graph.figure", "outputs": 7, "inputs": [], "changedPropIds": []}',
]


@pytest.mark.parametrize("body", MALFORMED)
def test_a_malformed_callback_body_gets_400_with_a_short_json_error(client, body):
    resp = client.post(CALLBACK, data=body, headers={"Content-Type": "application/json"})
    assert resp.status_code == 400, resp.status_code              # was HTTP 500
    payload = resp.get_json()
    assert payload["status"] == 400 and payload["error"].startswith("malformed callback request")
    assert len(payload["error"]) < 200 and "Traceback" not in resp.get_data(as_text=True)


def test_a_wellformed_callback_body_is_served(client):
    deps = client.get("/_dash-dependencies").get_json()
    body = build_body(find_callback(deps, f"{ids.KM_GRAPH}.figure"),
                      {f"{ids.KM_ENDPOINT}.value": "os", f"{ids.KM_VAR}.value": "none", f"{ids.KM_CI}.value": "log-log",
                       f"{ids.DATASET_ID}.data": "demo"}, [f"{ids.KM_VAR}.value"])
    assert client.post(CALLBACK, json=body).status_code == 200
    body["inputs"] = body["inputs"][:-1]                                           # one input short
    assert client.post(CALLBACK, json=body).status_code == 400


def test_oversize_upload_through_gunicorn_gets_413_and_the_server_carries_on():
    """The production server (gunicorn, production config) with a 1 MB file limit."""
    from scripts.loadtest import DashSession, km_ok

    with AppServer(env={"HAIC_MAX_UPLOAD_MB": "1", "HAIC_SECRET_KEY": "k" * 32}) as server:
        session = DashSession(server.url)
        good = b"os_months,os_event,ast\n" + b"".join(b"%d,%d,%d\n" % (i % 40 + 1, i % 2, 20 + i % 90)
                                                      for i in range(200))
        status, response, _s, _n = session.upload(good, "good.csv")
        assert status == 200
        dataset_id = response[ids.DATASET_ID]["data"]
        huge = b"os_months,os_event\n" + b"1,1\n" * 1_000_000          # 4 MB: over the request limit
        resp = session.http.post(server.url + CALLBACK, json=session.body(
            f"{ids.DATASET_ID}.data", upload_values(huge), [f"{ids.UPLOAD}.contents"]), timeout=60)
        assert resp.status_code == 413
        assert "too large" in resp.json()["error"] and "1 MB" in resp.json()["error"]
        # just over the file limit but under the request limit: the importer refuses it with a clear message
        mid = b"os_months,os_event\n" + b"1,1\n" * 300_000              # 1.2 MB
        status, response, _s, _n = session.upload(mid, "mid.csv", dataset_id)
        assert status == 200 and ids.DATASET_ID not in response           # the active dataset is unchanged
        assert "larger than the limit of 1 MB" in str(response[ids.UPLOAD_FEEDBACK])
        # the earlier upload is still there for this session
        status, response, _s, _n = session.move_cutoff(dataset_id, "os", "ast", 60.0)
        assert status == 200 and km_ok(response)[0]
        assert "Traceback" not in server.log_tail(100_000)


# --- CSV exports ---------------------------------------------------------------------------------------------

def parse_csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


formula_text = st.one_of(
    st.sampled_from(['=cmd|" /C calc"!A0', "=HYPERLINK(\"http://x\",\"y\")", "+1+1", "-2+3", "@SUM(A1:A2)",
                     "\t=1", "\r=1", "=1\r\n=2"]),
    st.builds(lambda p, s: p + s, st.sampled_from(FORMULA_PREFIXES), st.text(max_size=20)),
    st.text(max_size=20),
)


@settings(max_examples=examples(200), deadline=None)
@given(header=formula_text, cells=st.lists(formula_text, min_size=1, max_size=6))
def test_csv_export_never_starts_a_field_with_a_formula(header, cells):
    assume(header != "number")
    frame = pd.DataFrame({header: cells, "number": [-1.5] * len(cells)})
    rows = parse_csv(to_safe_csv(frame))
    assert len(rows) == len(cells) + 1
    for row, original in zip(rows, [[header, "number"]] + [[c, "-1.5"] for c in cells]):
        for field, value in zip(row, original):
            if value == "-1.5":
                assert field == "-1.5"           # a number stays a number
                continue
            assert not field.startswith(FORMULA_PREFIXES)
            assert field == (("'" + value) if value.startswith(FORMULA_PREFIXES) else value)


def test_table_card_exports_escape_formulas_in_every_format():
    from components.table_card import export_texts

    frame = pd.DataFrame({"=evil": ["=1+1", "@x", "ok"], "n": [1, 2, 3]})
    texts = export_texts(frame)
    for field in (f for row in parse_csv(texts["csv"]) for f in row):
        assert not field.startswith(FORMULA_PREFIXES)
    for field in (f for line in texts["tsv"].split("\r\n") for f in line.split("\t")):
        assert not field.startswith(FORMULA_PREFIXES)
    assert "<td>&#x27;=1+1</td>" in texts["html"] and "<th>&#x27;=evil</th>" in texts["html"]


def test_redact_text_removes_payloads():
    data_uri = "data:text/csv;base64," + base64.b64encode(b"id,x\nCANARY,1\n" * 20).decode()
    assert "CANARY" not in redact_text(f"upload {data_uri}") and "Q0FOQVJZ" not in redact_text(data_uri)
    assert redact_text('{"output": "x", "inputs": [{"value": "CANARY"}]}').startswith("<request body redacted")
    assert redact_text("a\r\nforged line") == "a\\r\nforged line"
    assert redact_text("esc \x1b[31m") == "esc \\x1b[31m"


def test_query_strings_never_reach_a_log():
    line = '127.0.0.1 - - [01/Jan/2026 10:00:00] "GET /survival?var=age&cutoff=56.7 HTTP/1.1" 200 -'
    assert redact_text(line) == '127.0.0.1 - - [01/Jan/2026 10:00:00] "GET /survival?<query redacted> HTTP/1.1" 200 -'
    assert "56.7" not in redact_text("redirect to https://haic.example.org/cox?covariates=age:56.7#x")
    assert redact_text("GET /assets/app.css HTTP/1.1") == "GET /assets/app.css HTTP/1.1"


# --- the key that signs sessions (issue 13, item 4) ----------------------------------------------------------

KEY_CHILD = "import os; from services.security import secret_key; print(secret_key())"


def test_without_a_configured_key_one_is_kept_beside_the_cache_for_every_process(tmp_path):
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = {k: v for k, v in os.environ.items() if k not in ("HAIC_SECRET_KEY", "REDIS_URL")}
    env["HAIC_CACHE_DIR"] = str(tmp_path / "cache")
    keys = {subprocess.run([sys.executable, "-c", KEY_CHILD], cwd=root, env=env, capture_output=True, text=True,
                           timeout=60).stdout.strip() for _ in range(3)}
    assert len(keys) == 1 and len(keys.pop()) == 64                    # one key, kept across starts
    path = tmp_path / "cache" / "keys" / "secret_key"
    assert path.stat().st_mode & 0o777 == 0o600 and (path.parent.stat().st_mode & 0o777) == 0o700
    env["REDIS_URL"] = "redis://127.0.0.1:1/0"                          # several hosts: no file to share
    proc = subprocess.run([sys.executable, "-c", KEY_CHILD], cwd=root, env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode != 0 and "HAIC_SECRET_KEY is not" in proc.stderr


def test_a_restart_without_a_configured_key_keeps_users_data_reachable(tmp_path):
    """A per-start key left users unable to read or remove their data after a restart ("Remove my data" said
    none of theirs was there while their files stayed until expiry)."""
    from scripts.loadtest import DashSession, km_ok

    env = {"HAIC_SECRET_KEY": "", "HAIC_CACHE_DIR": str(tmp_path / "cache"), "HAIC_WORKERS": "2"}
    good = b"os_months,os_event,ast\n" + b"".join(b"%d,%d,%d\n" % (i % 40 + 1, i % 2, 20 + i % 90) for i in range(60))
    with AppServer(env=env) as first:
        alice = DashSession(first.url)
        status, response, _s, _n = alice.upload(good, "a.csv")
        dataset_id = response[ids.DATASET_ID]["data"]
        cookies = alice.http.cookies.get_dict()
    with AppServer(env=env) as second:                                  # the same host, restarted
        again = DashSession(second.url)
        again.http.cookies.update(cookies)
        status, response, _s, _n = again.move_cutoff(dataset_id, "os", "ast", 60.0)
        assert status == 200 and km_ok(response)[0]
        status, response, _s, _n = again.call(f"{ids.DATASET_ID}.data", {f"{ids.REMOVE_DATA}.n_clicks": 1,
                                                                          f"{ids.DATASET_ID}.data": dataset_id},
                                              [f"{ids.REMOVE_DATA}.n_clicks"])
        assert "were deleted" in str(response[ids.UPLOAD_FEEDBACK])


# --- gunicorn (issue 13, items 5 and 6) ------------------------------------------------------------------------

def test_gunicorn_listens_on_loopback_unless_told_and_trusts_no_forwarded_header(monkeypatch):
    import runpy
    from pathlib import Path

    conf_path = str(Path(__file__).resolve().parents[1] / "gunicorn.conf.py")
    monkeypatch.delenv("HAIC_BIND", raising=False)
    conf = runpy.run_path(conf_path)
    assert conf["bind"] == "127.0.0.1:8050"
    assert conf["forwarded_allow_ips"] == ""
    monkeypatch.setenv("HAIC_BIND", "0.0.0.0:8050")                     # the container's setting
    assert runpy.run_path(conf_path)["bind"] == "0.0.0.0:8050"
    dockerfile = (Path(conf_path).parent / "Dockerfile").read_text()
    assert "HAIC_BIND=0.0.0.0:8050" in dockerfile


def test_the_access_log_format_has_no_query_string_and_no_referrer():
    import runpy
    from pathlib import Path

    fmt = runpy.run_path(str(Path(__file__).resolve().parents[1] / "gunicorn.conf.py"))["access_log_format"]
    # %(r)s is the request line with its query, %(q)s the query, %(f)s the referrer (a URL with a query)
    assert "%(U)s" in fmt and not any(code in fmt for code in ("%(r)s", "%(q)s", "%(f)s", "%({"))
