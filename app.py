"""HAIC Cohort Analytics: the Dash app shell.

Run locally with ``python app.py`` (http://127.0.0.1:8050); in production ``gunicorn app:server``.
Pages live in ``pages/`` (one file each, ``dash.register_page``); statistics live in ``analysis/``; figures and
tables are built by ``components/`` from analysis results.
"""
from __future__ import annotations

import logging
import os
from urllib.parse import parse_qs

import dash
import dash_bootstrap_components as dbc
from dash import ClientsideFunction, Dash, Input, Output, State, dcc, html, no_update, set_props

from analysis import bounded
from components import ids
from components.layout import NAV_ITEMS, dataset_badge, nav_id, navbar
from services import config
from services.background import background_manager, import_figure_modules
from services.security import install_security, secret_key
from services.store import DatasetMissing, get_dataset, init_cache, storage_failure

logger = logging.getLogger("haic")


def on_callback_error(err: Exception) -> None:
    """Last line of defence: an unexpected error in any callback becomes a readable alert, never a traceback.

    Expected problems (bad data, bad parameters) are handled in the pages as alerts of their own; this catches
    the rest. The store's own errors (quota reached, storage full or unreachable, also when the backend's error
    reaches here from code that uses the cache directly) say what happened and what to do, in words that hold
    no data: they are shown as they are. Otherwise only the error type is shown and
    logged (its message could quote data).
    """
    said = storage_failure(err)          # the store's errors, and the backend's own (Redis down) said as such
    if said is not None:
        logger.warning("callback refused by the store: %s", type(err).__name__)
        set_props(ids.GLOBAL_ALERT, {"children": dbc.Alert(str(said), color="warning", dismissable=True,
                                                           className="my-2")})
        return
    logger.error("callback failed: %s", type(err).__name__)
    set_props(ids.GLOBAL_ALERT, {"children": dbc.Alert(
        f"Something went wrong while updating this view ({type(err).__name__}). The rest of the page still works; "
        f"try another setting, or reload.", color="danger", dismissable=True, className="my-2")})


app = Dash(
    __name__,
    on_error=on_callback_error,
    use_pages=True,
    background_callback_manager=background_manager(),
    title="HAIC Cohort Analytics",
    suppress_callback_exceptions=True,
    update_title=None,
    serve_locally=True,
    # every page's layout gets the tab's dataset id, so that a page draws its controls filled in from the dataset
    # at once instead of in a callback that its figures and tables would have to wait for
    routing_callback_inputs={"dataset_id": State(ids.DATASET_ID, "data")},
)
server = app.server
server.config.update(
    # HAIC_SECRET_KEY, or one host's key kept beside the cache; never a silent key per start (services/security.py)
    SECRET_KEY=secret_key(),
    MAX_CONTENT_LENGTH=config.upload_limits().max_bytes * 4 // 3 + 1024 * 1024,  # base64 upload + callback JSON
)
init_cache(server)
# the process uploads are read in (analysis/bounded.py); under gunicorn it starts in the master, before the workers
bounded.start(config.parse_concurrency())
# security headers (CSP, HSTS over TLS), Secure cookies over TLS, trusted proxies (ProxyFix), same-origin POSTs,
# 400 for malformed callback bodies, 413 message, log redaction
install_security(server)

app.layout = html.Div(
    [
        dcc.Location(id=ids.URL, refresh=False),
        # the id of the server-side dataset this browser tab works on; never the data itself
        dcc.Store(id=ids.DATASET_ID, storage_type="session", data="demo"),
        # per page path, the query string of its last view (see assets/url_state.js)
        dcc.Store(id=ids.VIEW_STATE, storage_type="session", data={}),
        # cutoffs chosen on the survival page, {column: cutoff}; the Cox page uses them
        dcc.Store(id=ids.CHOSEN_CUTOFFS, storage_type="session", data={}),
        navbar(),
        dbc.Container(
            [html.Div(id=ids.DATASET_BANNER, className="mt-2"), html.Div(id=ids.GLOBAL_ALERT), dash.page_container],
            fluid=True, className="pb-5",
        ),
    ],
    id="app-root",
)


app.clientside_callback(
    ClientsideFunction("haic", "navHrefs"),
    [Output(nav_id(path), "href") for _label, path in NAV_ITEMS],
    Input(ids.VIEW_STATE, "data"), Input(ids.DATASET_ID, "data"),
    *[State(nav_id(path), "id") for _label, path in NAV_ITEMS],
)


# presentation mode: large fonts, thick lines, high contrast (figures read the switch; CSS does the rest)
app.clientside_callback(
    ClientsideFunction("haic", "presentation"),
    Output("app-root", "className"),
    Input(ids.PRESENTATION, "value"),
)


def set_up_before_serving() -> None:
    """Finish Dash's per-process set-up now, not in the first request.

    Dash sets itself up in ``before_request`` hooks of the first request a process serves (``_setup_server``:
    the callback map and the files ``/_dash-component-suites/`` may serve; the pages router's callback). Each
    hook marks itself done before doing its work, so with gunicorn's threads a second concurrent first request
    skips it and fails: a fresh worker answered the parallel script requests of a first visit with HTTP 500
    (blank page). Running the hooks at import -- in gunicorn's master with ``preload_app``, inherited by every
    worker -- removes the race. plotly's lazily imported figure parts are imported here too
    (:func:`services.background.import_figure_modules`).
    """
    with server.test_request_context("/"):
        server.preprocess_request()
    import_figure_modules()


@app.callback(Output(ids.DATASET_BANNER, "children"), Input(ids.DATASET_ID, "data"), State(ids.URL, "search"))
def show_dataset(dataset_id, search=None):
    try:
        ds = get_dataset(dataset_id)
    except DatasetMissing as exc:
        return dbc.Alert(str(exc), color="warning", className="py-2")
    wanted = parse_qs((search or "").lstrip("?")).get("ds", [None])[0]
    note = None
    if wanted and wanted != ds.id:
        note = ("This link was made on another dataset, which is not open in this browser session (it belongs to "
                "another session, or it expired or was removed): the numbers below are those of the dataset named "
                "here, not the link's.")
    return dataset_badge(ds.label, ds.synthetic, note)


@app.callback(Output(ids.DATASET_ID, "data", allow_duplicate=True), Input(ids.URL, "search"),
              State(ids.DATASET_ID, "data"), prevent_initial_call="initial_duplicate")
def open_linked_dataset(search, current):
    """A view URL names its dataset (``ds=<id>``, written by assets/url_state.js): opened in another tab of the
    same browser session, it switches to that dataset -- if this session owns it and it is still on the server
    (otherwise the banner says the numbers are not the link's)."""
    wanted = parse_qs((search or "").lstrip("?")).get("ds", [None])[0]
    if not wanted or wanted == current:
        return no_update
    try:
        return get_dataset(wanted).id
    except DatasetMissing:
        return no_update


set_up_before_serving()


if __name__ == "__main__":
    app.run(host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ.get("PORT", "8050")), debug=False)
