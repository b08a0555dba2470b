"""Production gunicorn settings (`gunicorn -c gunicorn.conf.py app:server`). Override with environment variables.

The app has no login of its own: it listens on loopback unless ``HAIC_BIND`` says otherwise (the container sets
``0.0.0.0:8050`` inside, published on the host's loopback only), and a TLS reverse proxy on the same host that
authenticates every request is the way in (docs/deployment.md).
"""
import multiprocessing
import os

bind = os.environ.get("HAIC_BIND", "127.0.0.1:8050")
workers = int(os.environ.get("HAIC_WORKERS", min(4, multiprocessing.cpu_count() + 1)))
threads = int(os.environ.get("HAIC_THREADS", "2"))
timeout = int(os.environ.get("HAIC_TIMEOUT", "120"))
# The access log has no query strings and no referrer: view state lives in the query string, and a cutoff can be
# a patient's value. Method, path, protocol, status, size and time only; never a request body.
accesslog = os.environ.get("HAIC_ACCESS_LOG", "-")
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms'
errorlog = "-"
loglevel = os.environ.get("HAIC_LOG_LEVEL", "info")
# X-Forwarded-* headers are trusted by the app only (werkzeug's ProxyFix with HAIC_PROXY_COUNT proxies), never by
# gunicorn for whichever local process connects: one place decides what a proxy may claim.
forwarded_allow_ips = ""
# Load the app before forking so workers share the imported libraries.
preload_app = True
# gunicorn's control socket (for gunicornc: worker status, scaling, reload) is off unless HAIC_CONTROL_SOCKET names
# its path. Its default path, ~/.gunicorn/gunicorn.ctl, cannot be created under the container's read-only home, and
# gunicorn logged "Control server error" at every start; nothing here uses it.
_control_socket = os.environ.get("HAIC_CONTROL_SOCKET", "")
control_socket_disable = not _control_socket
if _control_socket:
    control_socket = _control_socket


def pre_fork(server, worker):
    """Freeze the preloaded app's objects (gc.freeze) before a worker is forked.

    The imported libraries and the app leave ~150,000 long-lived objects. Without this, each full (generation 2)
    collection in a worker walks all of them: about 100 ms, once every several hundred requests, and a slider
    move that meets one is late. Frozen objects are never scanned again (full collections then take a few ms),
    and the workers keep sharing those memory pages with the master instead of copying them when the collector
    writes to them. See the ``gc.freeze`` documentation.

    The master forks workers with one thread: importing the app starts no thread (the loader server that reads
    uploads is a separate process, ``analysis.bounded``; each worker starts its own sweeper thread after the
    fork, in ``post_fork``), so no lock can be inherited held.
    """
    import gc

    gc.freeze()


def post_fork(server, worker):
    """Start the worker's sweeper thread, which deletes expired data whether or not requests arrive."""
    from services.store import start_sweeper

    start_sweeper()
