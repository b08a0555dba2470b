"""Where Dash background callbacks (long jobs with progress and cancel) run.

* ``REDIS_URL`` set and celery importable: a :class:`dash.CeleryManager` on Redis (broker and result backend),
  so jobs run on separate worker processes or hosts: ``celery -A services.background.celery_app worker``.
  The worker imports ``app`` (``include=["app"]``), which registers the app's background callbacks as celery
  tasks, and each task runs inside the Flask app context so that it can reach the dataset store.
* otherwise: a :class:`dash.DiskcacheManager` in ``$HAIC_CACHE_DIR/background``, shared by the gunicorn workers
  of one host; each job runs in a process forked from the worker that received the request.

Jobs never get the data through their arguments: the survival page hands them a single-use ticket
(``services.store.issue_ticket``). Messages are JSON only (no pickle from the broker), results expire after an
hour, and the worker's logs go through the same redaction as the web processes'.
"""
from __future__ import annotations

import os

from services import config

RESULT_EXPIRES = 60 * 60


def celery_importable() -> bool:
    try:
        import celery  # noqa: F401
    except ImportError:
        return False
    return True


def make_celery(redis_url: str):
    """A Celery app on ``redis_url`` configured for Dash's CeleryManager."""
    from celery import Celery, signals

    from services.security import RedactingFilter, install_log_redaction

    app = Celery("haic", broker=redis_url, backend=redis_url, include=["app"])
    app.conf.update(
        task_serializer="json", result_serializer="json", accept_content=["json"],
        result_expires=RESULT_EXPIRES, task_track_started=True, worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True, worker_send_task_events=False, task_send_sent_event=False,
        task_time_limit=config.job_time_limit(),
    )
    install_log_redaction()

    @signals.after_setup_logger.connect(weak=False)
    @signals.after_setup_task_logger.connect(weak=False)
    def _redact_worker_logs(logger=None, **_kwargs):
        install_log_redaction()
        for handler in getattr(logger, "handlers", []):
            if not any(isinstance(f, RedactingFilter) for f in handler.filters):
                handler.addFilter(RedactingFilter())

    contexts: dict[str, object] = {}

    @signals.task_prerun.connect(weak=False)
    def _push_app_context(task_id=None, **_kwargs):
        import dash

        try:
            server = dash.get_app().server
        except Exception:  # the worker was started without the app: the task fails with a clear error
            return
        ctx = server.app_context()
        ctx.push()
        contexts[task_id] = ctx

    @signals.task_postrun.connect(weak=False)
    def _pop_app_context(task_id=None, **_kwargs):
        ctx = contexts.pop(task_id, None)
        if ctx is not None:
            ctx.pop()

    return app


#: the Celery app for ``celery -A services.background.celery_app worker`` (None without celery installed)
celery_app = make_celery(config.redis_url() or "redis://127.0.0.1:6379/0") if celery_importable() else None


#: modules that code run by a background job imports lazily (inside a function): imported by
#: :func:`import_job_modules` before the server takes requests
JOB_MODULES = ("statsmodels.api", "analysis.cutpoint", "analysis.meta.report", "reports.results", "reports.deck",
               "reports.manuscript", "reports.rscript", "reports.figures", "services.meta_views", "kaleido", "pptx",
               "docx", "pyreadstat", "python_calamine")


def import_job_modules() -> None:
    """Import now every module a background job imports lazily.

    Without Redis a job runs in a process forked from the server process, which has other threads. A thread that
    is importing a module when the fork happens leaves that module's import lock held in the child for ever, and a
    job that then imports the same module hangs (seen: a meta deliverable stuck on ``import statsmodels.api``
    inside Egger's test while a request thread imported it). With every such module imported before any fork, no
    import is under way to be copied half-done."""
    import importlib

    for name in JOB_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:             # an optional renderer missing here: the job reports it itself
            continue


def import_figure_modules() -> None:
    """Import now the parts of plotly that building a figure imports the first time it is used.

    plotly imports the module of a figure's part (``plotly.graph_objs.scatter._marker``, the trace defaults of
    the ``plotly_white`` template, ...) when a figure first uses it: ~170 modules, ~0.1 s, in whichever request or
    job builds the first figure of its kind. One figure with the parts the app's figures use imports them here.
    ``app.set_up_before_serving`` calls it when the app is imported, so before any request and therefore before
    any forked job (the hazard :func:`import_job_modules` describes), and in gunicorn's master, so that no worker
    pays for them in a user's request."""
    import plotly.graph_objects as go

    font = {"size": 12, "color": "#222", "family": "sans-serif"}
    edge = {"color": "#222", "width": 1}
    line = {**edge, "dash": "dot", "shape": "hv"}
    traces = [
        go.Scatter(x=[0, 1], y=[0, 1], mode="lines+markers+text", text=["a", "b"], textposition="middle left",
                   textfont=font, marker={"symbol": "square", "size": 8, "color": "#222", "line": edge,
                                          "opacity": 0.5},
                   line=line, error_x={"type": "data", "array": [0.1, 0.1], "visible": True},
                   hoverlabel={"font": font}, hovertemplate="%{x}", customdata=[0, 1], legendgroup="g",
                   fill="toself", fillcolor="rgba(0,0,0,0.1)", xaxis="x2", cliponaxis=False),
        go.Bar(x=[1, 2], y=["a", "b"], orientation="h", marker={"color": "#222", "line": edge}, text=["1", "2"],
               textfont=font, xaxis="x3"),
    ]
    axis = {"title": {"text": "x", "font": font, "standoff": 2}, "tickfont": font, "gridcolor": "#eee",
            "zeroline": False, "type": "log", "tickvals": [1], "ticktext": ["1"], "range": [0, 1]}
    go.Figure(traces, layout={
        "template": "plotly_white", "font": font, "title": {"text": "t", "font": font, "x": 0},
        "xaxis": axis, "xaxis2": {**axis, "domain": [0, 0.5]}, "xaxis3": {**axis, "domain": [0.5, 1]},
        "yaxis": {**axis, "type": "linear"}, "legend": {"font": font, "title": {"text": "t"}, "orientation": "h"},
        "margin": {"l": 10, "r": 10, "t": 10, "b": 10}, "hoverlabel": {"font": font}, "barmode": "relative",
        "annotations": [{"text": "a", "x": 0, "y": 0, "xref": "paper", "yref": "paper", "showarrow": False,
                         "font": font, "bgcolor": "#fff", "bordercolor": "#222", "align": "left"}],
        "shapes": [{"type": "line", "x0": 0, "x1": 1, "y0": 0, "y1": 1, "line": {**edge, "dash": "dot"},
                    "layer": "below"}],
    })


def background_manager():
    """CeleryManager on Redis when ``REDIS_URL`` is set and celery is importable, else a DiskcacheManager in the
    cache directory (the modules its forked jobs import are imported first: :func:`import_job_modules`)."""
    if config.redis_url() and celery_app is not None:
        from dash import CeleryManager

        return CeleryManager(celery_app, expire=RESULT_EXPIRES)
    import diskcache
    from dash import DiskcacheManager

    import_job_modules()
    directory = os.path.join(config.cache_dir(), "background")
    os.makedirs(directory, mode=0o700, exist_ok=True)
    return DiskcacheManager(diskcache.Cache(directory), expire=RESULT_EXPIRES)
