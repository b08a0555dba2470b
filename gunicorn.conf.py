"""Production gunicorn settings (`gunicorn -c gunicorn.conf.py app:server`). Override with environment variables."""
import multiprocessing
import os

bind = os.environ.get("HAIC_BIND", "0.0.0.0:8050")
workers = int(os.environ.get("HAIC_WORKERS", min(4, multiprocessing.cpu_count() + 1)))
threads = int(os.environ.get("HAIC_THREADS", "2"))
timeout = int(os.environ.get("HAIC_TIMEOUT", "120"))
# Access logs carry URLs, and view state lives in query strings (never data): keep them, but no request bodies.
accesslog = os.environ.get("HAIC_ACCESS_LOG", "-")
errorlog = "-"
loglevel = os.environ.get("HAIC_LOG_LEVEL", "info")
# Load the app before forking so workers share the imported libraries.
preload_app = True


def pre_fork(server, worker):
    """Freeze the preloaded app's objects (gc.freeze) before a worker is forked.

    The imported libraries and the app leave ~150,000 long-lived objects. Without this, each full (generation 2)
    collection in a worker walks all of them: about 100 ms, once every several hundred requests, and a slider
    move that meets one is late. Frozen objects are never scanned again (full collections then take a few ms),
    and the workers keep sharing those memory pages with the master instead of copying them when the collector
    writes to them. See the ``gc.freeze`` documentation.
    """
    import gc

    gc.freeze()
