"""HTTP hardening and log redaction for serving patient data to several users from one server.

:func:`install_security` (called once on the Flask server behind the Dash app) adds

* security headers on every response: a Content-Security-Policy under which every page renders with no CSP
  console errors (checked in headless Chromium by ``tests/browser/test_xss.py``), ``X-Content-Type-Options:
  nosniff``, ``X-Frame-Options: DENY`` with ``frame-ancestors 'none'``, ``Referrer-Policy: no-referrer``, a
  ``Permissions-Policy`` that turns off device access, ``Cross-Origin-Opener-Policy`` / ``-Resource-Policy``,
  ``Cache-Control: no-store`` on everything that is not a static file (callback responses carry results), a
  year's caching for assets requested as the page links them (``?m=`` modification time), and
  ``Strict-Transport-Security`` when ``HAIC_HSTS=1`` (only behind TLS);
* a 413 handler: a request body over ``MAX_CONTENT_LENGTH`` gets a short JSON (callbacks) or text message
  naming the limit, never a stack trace;
* a same-origin check for state-changing requests (``POST`` with an ``Origin`` header from another host gets
  403; the proxy must pass ``Host`` or ``X-Forwarded-Host``; ``HAIC_CHECK_ORIGIN=0`` turns it off);
* log redaction (:func:`install_log_redaction`): no request body and no cell value reaches a log.

The policy
----------
``script-src 'self'`` plus the SHA-256 hashes of exactly the inline scripts Dash itself writes into its index
page (the renderer start-up line and the clientside-callback functions, from ``Dash.csp_hashes``): no
``'unsafe-inline'`` and no ``'unsafe-eval'`` for scripts -- Dash 4's renderer, dcc, dash-bootstrap-components,
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
import traceback
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, request

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
    if os.environ.get("HAIC_HSTS") == "1":
        headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
    return headers


def _limit_text(server: Flask) -> str:
    limit = server.config.get("MAX_CONTENT_LENGTH")
    if not limit:
        return "the server's limit"
    try:
        from analysis.io import Limits

        file_mb = Limits.from_env().max_bytes / (1024 * 1024)
        return f"{file_mb:g} MB per file"
    except Exception:  # pragma: no cover - analysis is always importable in the app
        return f"{limit / (1024 * 1024):.0f} MB"


def _hostname(netloc: str) -> str:
    return (urlsplit("//" + netloc.strip()).hostname or "") if netloc else ""


def install_security(server: Flask) -> Flask:
    """Add security headers, the 413 handler, the same-origin check and log redaction to ``server``."""
    install_log_redaction()
    cached: dict[str, Any] = {"n": -1, "csp": content_security_policy()}

    def current_csp() -> str:
        hashes = _dash_hashes(server)
        if len(hashes) != cached["n"]:  # clientside callbacks are registered as pages import; recompute then
            cached["n"], cached["csp"] = len(hashes), content_security_policy(hashes)
        return cached["csp"]

    @server.before_request
    def _same_origin_only():
        if request.method in ("GET", "HEAD", "OPTIONS") or os.environ.get("HAIC_CHECK_ORIGIN", "1") == "0":
            return None
        origin = request.headers.get("Origin")
        if not origin:
            return None
        # compare host names (not ports: a proxy's "Host: $host" drops the port); X-Forwarded-Host may stand in
        # for a proxy that rewrites Host -- a cross-site page cannot set either header
        allowed = {_hostname(request.host), _hostname(request.headers.get("X-Forwarded-Host", "").split(",")[0])}
        if origin == "null" or _hostname(urlsplit(origin).netloc) not in allowed - {""}:
            return Response("cross-site request refused\n", status=403, mimetype="text/plain")
        return None

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
SAFE_EXCEPTIONS = ("analysis.errors.AnalysisError", "services.store.DatasetMissing")

_DATA_URI = re.compile(r"data:[\w.+/-]*(?:;[\w=.+-]+)*;base64,[A-Za-z0-9+/=\s]*")
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/]{80,}={0,2}")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u2028\u2029]")
_JSON_BODY = re.compile(r"\{\s*\"(?:output|outputs|inputs|state|changedPropIds|contents|data)\"\s*:")


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


class RedactingFormatter(logging.Formatter):
    """A formatter that redacts before formatting (``logconfig_dict`` users can name it)."""

    def format(self, record: logging.LogRecord) -> str:
        return super().format(redact_record(record))


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
