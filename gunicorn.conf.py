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
