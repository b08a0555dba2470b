"""HTTP hardening, secrets and log redaction for serving patient data to several users from one server.

:func:`install_security` (called once on the Flask server behind the Dash app) adds

* security headers on every response: a Content-Security-Policy under which every page renders with no CSP
  console errors (checked in headless Chromium by ``tests/browser/test_xss.py``), ``X-Content-Type-Options:
  nosniff``, ``X-Frame-Options: DENY`` with ``frame-ancestors 'none'``, ``Referrer-Policy: no-referrer``, a
  ``Permissions-Policy`` that turns off device access, ``Cross-Origin-Opener-Policy`` / ``-Resource-Policy``,
  ``Cache-Control: no-store`` on everything that is not a static file (callback responses carry results), a
  year's caching for assets requested as the page links them (``?m=`` modification time), and
  ``Strict-Transport-Security`` on responses served over TLS (``HAIC_HSTS``: ``auto`` by default, ``1`` always,
  ``0`` never);
* the session cookie ``Secure`` when the request came over TLS (``HAIC_SECURE_COOKIES``: ``auto`` by default,
  ``1`` always, ``0`` never), ``HttpOnly`` and ``SameSite=Lax``;
* ``X-Forwarded-*`` trusted only from configured proxies: werkzeug's ``ProxyFix`` with ``HAIC_PROXY_COUNT``
  proxies in front (default 0: the headers are ignored; gunicorn itself trusts none, see gunicorn.conf.py), so
  "over TLS", the host and the port are what the proxy saw, and a client cannot claim them;
* a same-origin check for state-changing requests: a ``POST`` whose ``Origin`` is not exactly this server's
  scheme, host and port gets 403 (``HAIC_CHECK_ORIGIN=0`` turns it off);
* a 400 with a short JSON error for a callback request whose body is not what the Dash renderer sends (it got
  HTTP 500), and a 413 handler: a request body over ``MAX_CONTENT_LENGTH`` gets a short JSON (callbacks) or
  text message naming the limit, never a stack trace;
* log redaction (:func:`install_log_redaction`): no request body, no query string and no cell value reaches a
  log.

:func:`secret_key` is the key that signs session cookies: ``HAIC_SECRET_KEY``, else -- one host, filesystem
cache -- a key generated once and kept beside the cache (``$HAIC_CACHE_DIR/keys/secret_key``, mode 0600), so a
restart or another worker keeps every user's session and data; with ``REDIS_URL`` (several hosts) and no
``HAIC_SECRET_KEY`` the app refuses to start.

The policy
----------
``script-src 'self'`` plus the SHA-256 hashes of exactly the inline scripts Dash itself writes into its index
page (the renderer start-up line and the clientside-callback functions, from ``Dash.csp_hashes``): no
``'unsafe-inline'`` and no ``'unsafe-eval'`` for scripts -- Dash 4's renderer, dcc, Dash Bootstrap Components,
dash-ag-grid and plotly.js's SVG traces run without them (plotly's WebGL traces would need ``'unsafe-eval'``;
the app draws none). ``style-src`` keeps ``'unsafe-inline'``: the Dash renderer, dcc (react-select, sliders), plotly.js and AG Grid
set inline styles and insert ``<style>`` elements at run time and none of them takes a nonce; injected CSS
cannot run script. ``img-src`` allows ``data:`` (Bootstrap's and AG Grid's SVG icons) and ``blob:`` (plotly's
PNG export). Each of these was found necessary by removing it and watching Chromium's console; everything
else falls back to ``default-src 'self'``.

Log redaction
-------------
A log record factory (so it covers every logger: Flask, werkzeug, gunicorn, dash, celery, pandas warnings)
rewrites each record as it is made:

* arguments that hold data -- DataFrames, Series, arrays, bytes, datasets -- are replaced by a placeholder
  naming only their type and shape;
* in the message, base64 ``data:`` URIs, long base64 runs and JSON request bodies (Dash callback payloads) are
  replaced by placeholders, control characters are escaped (no forged log lines) and the length is capped;
* query strings of request lines and URLs (view state such as a cutoff, which can be a patient's value) are
  replaced by ``?<query redacted>``;
* exceptions keep their traceback frames and type, but not their message -- library messages quote values
  (``could not convert string to float: 'X'``); only exception types that promise clean messages
  (:class:`analysis.errors.AnalysisError`, :class:`services.store.DatasetMissing`, werkzeug's HTTP errors)
  keep theirs.

The same rules are available as :class:`RedactingFilter` for handlers configured elsewhere.
"""
from __future__ import annotations

import json
import logging
import os
import re
import secrets
import traceback
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, has_request_context, request
from flask.sessions import SecureCookieSessionInterface

from services import config

# --- headers --------------------------------------------------------------------------------------------

BASE_POLICY = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'", "'unsafe-inline'"],
    "img-src": ["'self'", "data:", "blob:"],
    "connect-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'none'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}

STATIC_PREFIXES = ("/assets/", "/_dash-component-suites/", "/_favicon.ico")
ASSET_MAX_AGE = 365 * 24 * 3600   # as Dash caches its fingerprinted component scripts
CALLBACK_PATH = "/_dash-update-component"


_hash_cache: dict[Any, list[str]] = {}


def _dash_hashes(server: Flask) -> list[str]:
    """CSP hashes of the inline scripts of the Dash app served by ``server`` (empty if there is none)."""
    try:
        import dash
        from dash import _callback

        app = dash.get_app()
    except Exception:  # no Dash app (a bare Flask server in tests)
        return []
    if getattr(app, "server", None) is not server:
        return []
    # scripts are only ever added (pages register clientside callbacks as they import): count them
    key = (id(app), len(getattr(app, "_inline_scripts", ())), len(getattr(_callback, "GLOBAL_INLINE_SCRIPTS", ())))
    if key not in _hash_cache:
        hashes = list(app.csp_hashes("sha256"))
        key = (id(app), len(getattr(app, "_inline_scripts", ())), 0)
        _hash_cache[key] = hashes
    return _hash_cache[key]


def content_security_policy(script_hashes: list[str] | tuple[str, ...] = ()) -> str:
    """The policy text, with the given ``'sha256-...'`` script hashes allowed."""
    policy = {k: list(v) for k, v in BASE_POLICY.items()}
    policy["script-src"] += list(script_hashes)
    return "; ".join(f"{k} {' '.join(v)}" for k, v in policy.items())


def security_headers(csp: str) -> dict[str, str]:
    headers = {
        "Content-Security-Policy": csp,
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cross-Origin-Resource-Policy": "same-origin",
    }
    if _tls_setting("HAIC_HSTS"):
        headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
    return headers


def _tls_setting(name: str) -> bool:
    """A setting that is ``auto`` (on when this request came over TLS), ``1`` (on) or ``0`` (off)."""
    mode = config.tls_mode(name)
    if mode != "auto":
        return mode == "on"
    return has_request_context() and request.is_secure


class _SessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie session, ``Secure`` as ``HAIC_SECURE_COOKIES`` says (by default: over TLS)."""

    def get_cookie_secure(self, app) -> bool:
        return bool(app.config.get("SESSION_COOKIE_SECURE")) or _tls_setting("HAIC_SECURE_COOKIES")


# --- the key that signs session cookies -------------------------------------------------------------------------

def secret_key() -> str:
    """``HAIC_SECRET_KEY``; else a key generated once and kept beside the filesystem cache (mode 0600), shared by
    every worker and kept across restarts; with ``REDIS_URL`` and no ``HAIC_SECRET_KEY``, RuntimeError (several
    hosts cannot share a file, and a key per start loses every user's session and with it their data)."""
    key = config.secret_key_setting()
    if key:
        return key
    if config.redis_url():
        raise RuntimeError("REDIS_URL is set but HAIC_SECRET_KEY is not: set HAIC_SECRET_KEY to one long random "
                           "value for every app process and the Celery worker (see docs/deployment.md)")
    directory = Path(config.cache_dir()) / "keys"
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = directory / "secret_key"
    if not path.exists():
        # written in full under another name, then linked: a concurrent starter reads a whole key or makes its own
        # and finds this one already there
        tmp = directory / f"secret_key.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)
    return path.read_text().strip()


def _limit_text(server: Flask) -> str:
    limit = server.config.get("MAX_CONTENT_LENGTH")
    if not limit:
        return "the server's limit"
    return f"{config.upload_limits().max_bytes / (1024 * 1024):g} MB per file"


def _origin(scheme: str, netloc: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an origin, the port made explicit; None if it is not one."""
    try:
        parts = urlsplit(f"{scheme}://{netloc}")
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:
        return None
    if not parts.hostname or port is None or parts.scheme not in ("http", "https"):
        return None
    return parts.scheme, parts.hostname.lower(), port


def _same_origin(origin_header: str) -> bool:
    """Whether an ``Origin`` is exactly this server's scheme, host and port (as the request reached the proxy,
    when ``HAIC_PROXY_COUNT`` trusts one)."""
    if not origin_header or origin_header == "null":
        return False
    claimed = urlsplit(origin_header)
    theirs = _origin(claimed.scheme, claimed.netloc)
    return theirs is not None and theirs == _origin(request.scheme, request.host)


def install_proxy_fix(server: Flask) -> None:
    """Trust ``X-Forwarded-For/-Proto/-Host/-Port`` from exactly ``HAIC_PROXY_COUNT`` proxies (default 0: none)."""
    count = config.proxy_count()
    if count > 0:
        from werkzeug.middleware.proxy_fix import ProxyFix

        server.wsgi_app = ProxyFix(server.wsgi_app, x_for=count, x_proto=count, x_host=count, x_port=count,
                                   x_prefix=0)


def _callback_map(server: Flask) -> dict | None:
    """The callbacks of the Dash app served by ``server`` (None without one: a bare Flask server in tests)."""
    try:
        import dash

        app = dash.get_app()
    except Exception:
        return None
    return app.callback_map if getattr(app, "server", None) is server else None


def callback_body_problem(body: Any, callback_map: dict | None) -> str | None:
    """What is wrong with a ``/_dash-update-component`` body, or None when it has the shape the Dash renderer
    sends: an ``output`` naming a server callback, ``inputs`` (and ``state``) lists of ``{id, property}``
    entries (or lists of them, for pattern-matching ids) as many as the callback has, ``outputs`` and
    ``changedPropIds``."""
    if not isinstance(body, dict):
        return "the body is not a JSON object"
    output = body.get("output")
    if not isinstance(output, str):
        return "'output' is missing or not a string"
    cb = (callback_map or {}).get(output) if callback_map is not None else {}
    if cb is None or (callback_map is not None and "callback" not in cb):
        return "'output' names no server callback"
    for key in ("inputs", "state"):
        entries = body.get(key, [])
        if not isinstance(entries, list) or not all(_dependency(e) for e in entries):
            return f"'{key}' is not a list of {{id, property}} entries"
        if callback_map is not None and len(entries) != len(cb.get(key, [])):
            return f"'{key}' has {len(entries)} entries; the callback has {len(cb.get(key, []))}"
    outputs = body.get("outputs", [])
    if not (isinstance(outputs, list) and all(_dependency(o) for o in outputs)) and not _dependency(outputs):
        return "'outputs' is not an {id, property} entry or a list of them"
    changed = body.get("changedPropIds", [])
    if not isinstance(changed, list) or not all(isinstance(c, str) for c in changed):
        return "'changedPropIds' is not a list of strings"
    return None


def _dependency(entry: Any) -> bool:
    if isinstance(entry, list):                      # pattern-matching: a list of matched ids
        return all(_dependency(e) for e in entry if not isinstance(e, list))
    return isinstance(entry, dict) and isinstance(entry.get("id"), (str, dict)) and \
        isinstance(entry.get("property"), str)


def _json_error(status: int, message: str) -> Response:
    return Response(json.dumps({"error": message, "status": status}), status=status, mimetype="application/json")


def install_security(server: Flask) -> Flask:
    """Add security headers, cookie and proxy settings, the 400/413 handlers, the same-origin check and log
    redaction to ``server``."""
    install_log_redaction()
    install_proxy_fix(server)
    server.session_interface = _SessionInterface()
    server.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax")
    cached: dict[str, Any] = {"n": -1, "csp": content_security_policy()}

    def current_csp() -> str:
        hashes = _dash_hashes(server)
        if len(hashes) != cached["n"]:  # clientside callbacks are registered as pages import; recompute then
            cached["n"], cached["csp"] = len(hashes), content_security_policy(hashes)
        return cached["csp"]

    @server.before_request
    def _same_origin_only():
        if request.method in ("GET", "HEAD", "OPTIONS") or not config.check_origin():
            return None
        origin = request.headers.get("Origin")
        if origin is None:
            return None
        # exactly this server's scheme, host and port: another port of the same host is another site; the host
        # and scheme come from the proxy only when HAIC_PROXY_COUNT trusts it (a client cannot claim them)
        if not _same_origin(origin):
            return Response("cross-site request refused\n", status=403, mimetype="text/plain")
        return None

    @server.before_request
    def _well_formed_callbacks_only():
        if request.method != "POST" or not request.path.endswith(CALLBACK_PATH):
            return None
        body = request.get_json(silent=True)
        problem = "the body is not JSON" if body is None else callback_body_problem(body, _callback_map(server))
        return None if problem is None else _json_error(400, f"malformed callback request: {problem}")

    @server.after_request
    def _headers(response: Response) -> Response:
        for name, value in security_headers(current_csp()).items():
            response.headers.setdefault(name, value)
        if not request.path.startswith(STATIC_PREFIXES):
            response.headers["Cache-Control"] = "no-store"
        elif request.args.get("m") and response.status_code == 200:
            # an asset as the page links it: Dash appends the file's modification time (?m=), so the URL changes
            # with the file and the browser can keep it without asking again on every page load
            response.headers["Cache-Control"] = f"public, max-age={ASSET_MAX_AGE}, immutable"
        return response

    @server.errorhandler(400)
    def _bad_request(error):
        if request.path.endswith(CALLBACK_PATH):
            return _json_error(400, "malformed callback request")
        return error

    @server.errorhandler(413)
    def _too_large(_error):
        message = (f"The upload is too large: the limit is {_limit_text(server)}. "
                   "Nothing was stored; the previous dataset is still active.")
        if request.path.endswith(CALLBACK_PATH) or request.accept_mimetypes.best == "application/json":
            response = Response(json.dumps({"error": message, "status": 413}), status=413,
                                mimetype="application/json")
        else:
            response = Response(message + "\n", status=413, mimetype="text/plain")
        response.headers["Connection"] = "close"  # the unread body must not be parsed as the next request
        return response

    return server


# --- log redaction ----------------------------------------------------------------------------------------

MAX_MESSAGE_CHARS = 2000
SAFE_EXCEPTIONS = ("analysis.errors.AnalysisError", "services.store.DatasetMissing", "services.store.StorageError",
                   "analysis.bounded.OverBudget")

_DATA_URI = re.compile(r"data:[\w.+/-]*(?:;[\w=.+-]+)*;base64,[A-Za-z0-9+/=\s]*")
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/]{80,}={0,2}")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u2028\u2029]")
_JSON_BODY = re.compile(r"\{\s*\"(?:output|outputs|inputs|state|changedPropIds|contents|data)\"\s*:")
#: a query string after a path in a request line ("GET /survival?cutoff=... HTTP/1.1") or in a URL
_QUERY = re.compile(r"((?:\b(?:GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) |https?://[^\s?#\"']*)[^\s?#\"']*)\?[^\s#\"']*")


def _placeholder(value: Any) -> Any:
    """A placeholder for an argument that holds data; other arguments are kept."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"<{len(value)} bytes>"
    kind = type(value)
    module = kind.__module__ or ""
    if module.startswith(("pandas", "numpy")) and hasattr(value, "shape") and getattr(value, "ndim", 0) > 0:
        return f"<{kind.__name__} shape={tuple(value.shape)}>"
    if (module, kind.__name__) in (("services.store", "Dataset"), ("analysis.io", "LoadResult")):
        return f"<{kind.__name__}>"
    return value


def redact_text(text: str) -> str:
    """Remove data-bearing payloads from a log message; escape control characters; cap the length."""
    if _JSON_BODY.search(text):
        return f"<request body redacted ({len(text)} chars)>"
    text = _DATA_URI.sub("data:<redacted>", text)
    text = _QUERY.sub(r"\1?<query redacted>", text)
    text = _BASE64_RUN.sub("<base64 redacted>", text)
    text = text.replace("\r", "\\r")
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[:MAX_MESSAGE_CHARS] + f"... <{len(text) - MAX_MESSAGE_CHARS} chars cut>"
    return text


def _exception_is_safe(exc: BaseException) -> bool:
    for cls in type(exc).__mro__:
        name = f"{cls.__module__}.{cls.__qualname__}"
        if name in SAFE_EXCEPTIONS or name.startswith("werkzeug.exceptions."):
            return True
    return False


def safe_traceback(exc_info) -> str:
    """A traceback with frames and exception types; messages are dropped unless the type is known clean."""
    _type, exc, tb = exc_info
    if exc is None:
        return ""
    lines: list[str] = []
    seen: set[int] = set()
    chain: list[tuple[BaseException, str]] = []
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        chain.append((current, ""))
        if current.__cause__ is not None:
            current = current.__cause__
            chain[-1] = (chain[-1][0], "The above exception was the direct cause of the following exception:")
        elif current.__context__ is not None and not current.__suppress_context__:
            current = current.__context__
            chain[-1] = (chain[-1][0], "During handling of the above exception, another exception occurred:")
        else:
            current = None
    for item, link in reversed(chain):
        frames = traceback.extract_tb(item.__traceback__)
        lines.append("Traceback (most recent call last):")
        lines.extend(line.rstrip("\n") for line in traceback.format_list(frames))
        name = f"{type(item).__module__}.{type(item).__qualname__}".removeprefix("builtins.")
        message = redact_text(str(item)) if _exception_is_safe(item) else "<message redacted>"
        lines.append(f"{name}: {message}")
        if link:
            lines.append("")
            lines.append(link)
            lines.append("")
    return "\n".join(lines)


def redact_record(record: logging.LogRecord) -> logging.LogRecord:
    """Rewrite a record in place so that it carries no data values (idempotent)."""
    if getattr(record, "_haic_redacted", False):
        return record
    try:
        if isinstance(record.args, dict):
            record.args = {k: _placeholder(v) for k, v in record.args.items()}
        elif isinstance(record.args, tuple):
            record.args = tuple(_placeholder(v) for v in record.args)
        message = record.getMessage()
    except Exception:  # a record that cannot be formatted is not written with its arguments
        message = f"<unformattable log message from {record.name}>"
    record.msg, record.args = redact_text(str(message)), ()
    if record.exc_info and record.exc_info[1] is not None:
        record.exc_text = safe_traceback(record.exc_info)
        record.exc_info = None
    elif record.exc_text:
        record.exc_text = "<traceback text redacted>"
    record._haic_redacted = True
    return record


class RedactingFilter(logging.Filter):
    """The redaction rules as a handler filter (for handlers set up by a logging config file)."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


_installed = {"factory": False}
NAMED_LOGGERS = ("", "werkzeug", "gunicorn.error", "gunicorn.access", "dash", "flask.app", "celery",
                 "celery.task", "celery.worker", "py.warnings")


def install_log_redaction() -> None:
    """Redact every log record of this process at creation, and put :class:`RedactingFilter` on the handlers
    that exist now (records made by another factory are still caught there). Idempotent."""
    if not _installed["factory"]:
        previous = logging.getLogRecordFactory()

        def factory(*args, **kwargs):
            return redact_record(previous(*args, **kwargs))

        factory._haic = True  # type: ignore[attr-defined]
        if not getattr(previous, "_haic", False):
            logging.setLogRecordFactory(factory)
        logging.captureWarnings(True)
        _installed["factory"] = True
    for name in NAMED_LOGGERS:
        for handler in logging.getLogger(name).handlers:
            if not any(isinstance(f, RedactingFilter) for f in handler.filters):
                handler.addFilter(RedactingFilter())
