"""The deliverables' button group of a page: "Deck (.pptx)", "Tables (.docx)", "Reproduce in R (.zip)", a Cancel
button, a progress bar, the download and an alert -- and the two callbacks that make a file of the page's view.

A Dash all-in-one component: :func:`report_buttons` is the layout (ids from :func:`report_ids`, one set per
page), :func:`report_callbacks` registers its callbacks with the page's own controls as States. The pattern is
the cutpoint search's (``pages/survival.py``: ``start_search`` / ``run_search``):

1. ``start`` runs in the user's own request: the page's ``view_of(dataset_id, *controls)`` turns its controls into
   the view (:class:`reports.spec.ReportSpec`'s JSON form) and :func:`reports.jobs.start_job` checks access
   and issues a single-use ticket;
2. ``make`` is a background callback (``background=True``): :func:`reports.jobs.report_job` renders the file
   with progress ``(done, total)`` on the bar, the buttons disabled and Cancel enabled while it runs.

A view the data cannot give, an expired dataset or a missing Chromium becomes a readable alert, never a
traceback.
"""
from __future__ import annotations

from typing import Callable, Sequence

import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback, ctx, dcc, html, no_update

from analysis.errors import AnalysisError
from components.layout import error_alert
from reports.jobs import report_job, start_job
from services.store import DatasetMissing

KINDS = ("deck", "docx", "r")
LABELS = {"deck": "Deck (.pptx)", "docx": "Tables (.docx)", "r": "Reproduce in R (.zip)"}
TITLES = {"deck": "A 16:9 slide deck of this view for the tumour board: figures, native tables, methods",
          "docx": "The manuscript tables (Tables 1–5 in the paper's layout) with footnotes and a methods paragraph",
          "r": "An R script and the analysed data that reproduce every number of this view (R survival / metafor)"}
HIDDEN = {"display": "none"}


def report_ids(page: str) -> dict[str, str]:
    """The component ids of a page's button group: ``<page>-report-deck``, ``<page>-report-progress``, ..."""
    ids = {kind: f"{page}-report-{kind}" for kind in KINDS}
    ids.update({part: f"{page}-report-{part}" for part in ("cancel", "progress", "status", "download", "alert",
                                                            "job", "box")})
    return ids


def report_buttons(page: str, kinds: Sequence[str] = KINDS, what: str = "this view") -> html.Div:
    """The button group of ``page`` for the deliverables ``kinds``; ``what`` names what the files hold."""
    ids = report_ids(page)
    buttons = [dbc.Button(LABELS[k], id=ids[k], size="sm", color="primary", outline=True, title=TITLES[k],
                          className="report-button text-nowrap") for k in kinds]
    return html.Div([
        html.Div(f"Take {what} to the tumour board", className="small fw-semibold mb-1"),
        html.Div(buttons, className="d-flex flex-wrap gap-1 report-buttons"),
        html.Div(html.Div([    # the inner box is the flex one: Bootstrap's d-flex would override display: none
            dbc.Progress(id=ids["progress"], value=0, max=1, className="flex-grow-1 me-2", style={"height": "6px"}),
            dbc.Button("Cancel", id=ids["cancel"], size="sm", color="secondary", outline=True, disabled=True),
        ], className="d-flex align-items-center mt-1"), id=ids["status"], style=HIDDEN),
        html.Div(id=ids["alert"]),
        dcc.Download(id=ids["download"]),
        dcc.Store(id=ids["job"]),
    ], id=ids["box"], className="report-box mt-3")


def report_callbacks(page: str, states: Sequence[State], view_of: Callable[..., dict],
                     kinds: Sequence[str] = KINDS) -> None:
    """Register the callbacks of ``page``'s button group. ``view_of(dataset_id, *values of states)`` returns the
    view as a dict (the page's controls turned into the spec's JSON; it may raise AnalysisError or
    DatasetMissing, shown as the alert)."""
    ids = report_ids(page)
    kinds = tuple(kinds)

    @callback(Output(ids["job"], "data"), Output(ids["alert"], "children"),
              *[Input(ids[k], "n_clicks") for k in kinds], State("dataset-id", "data"), *states,
              prevent_initial_call=True)
    def start(*args):
        kind = next((k for k in kinds if ids[k] == ctx.triggered_id), None)
        if kind is None:
            return no_update, no_update
        dataset_id, controls = args[len(kinds)], args[len(kinds) + 1:]
        try:
            return start_job(dataset_id, kind, view_of(dataset_id, *controls)), None
        except (DatasetMissing, AnalysisError) as exc:
            return no_update, error_alert(str(exc))

    @callback(Output(ids["download"], "data"), Output(ids["alert"], "children", allow_duplicate=True),
              Input(ids["job"], "data"), background=True, prevent_initial_call=True,
              running=[*[(Output(ids[k], "disabled"), True, False) for k in kinds],
                       (Output(ids["cancel"], "disabled"), False, True),
                       (Output(ids["status"], "style"), {}, HIDDEN)],
              cancel=[Input(ids["cancel"], "n_clicks")],
              progress=[Output(ids["progress"], "value"), Output(ids["progress"], "max")])
    def make(set_progress, job):
        data, message = report_job(job, set_progress)
        if message is not None:
            return no_update, error_alert(f"The file could not be made: {message}")
        return data, dbc.Alert(["Made ", html.Code(data["filename"], className="report-file")], color="success",
                               className="py-1 px-2 my-1 small", dismissable=True)
