"""The deliverables of a dataset for the pages: the deck (.pptx), the manuscript tables (.docx) and the R bundle
(.zip) of a view, and the background job that makes them with a progress bar (the cutpoint search's pattern:
``pages/survival.py``'s ``start_search`` / ``run_search``, ``services.background``).

A page describes its view as a plain dict in :class:`reports.spec.ReportSpec`'s JSON form (endpoints, ``km``,
``cox``, ``grid``, ``groupings``, ``group_by``, ``meta``); the dataset's name and SYNTHETIC flag come from the
dataset, never from the page. Results are memoised with the dataset's other results (``services.store.memoised``:
deleted with the dataset), so the second deliverable of a view costs only its writing.

How a page uses it (phase 2)::

    # 1. in the user's own request: check access, hand the job a single-use ticket
    @callback(Output("report-ticket", "data"), Input("report-deck", "n_clicks"), State("dataset-id", "data"),
              prevent_initial_call=True)
    def start(_n, dataset_id):
        return {"ticket": issue_ticket(dataset_id), "kind": "deck"}

    # 2. the background job: the file as dcc.Download data, progress (done, total) to a dbc.Progress
    @callback(Output("report-download", "data"), Output("report-alert", "children"),
              Input("report-ticket", "data"), State(<the page's view controls>...),
              background=True, prevent_initial_call=True,
              running=[(Output("report-deck", "disabled"), True, False)],
              progress=[Output("report-progress", "value"), Output("report-progress", "max")])
    def make(set_progress, job, *controls):
        return report_job(job["ticket"], job["kind"], view_from_controls(*controls), set_progress)
"""
from __future__ import annotations

import base64
import json
import logging
import re
from typing import Any, Callable

from analysis.errors import AnalysisError
from reports import build
from reports.figures import RenderError
from reports.results import compute
from reports.spec import ReportSpec
from services.store import Dataset, DatasetMissing, memoised, redeem_ticket

#: kind -> (file extension, MIME type)
KINDS = {
    "deck": (".pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation"),
    "docx": (".docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    "r": (".zip", "application/zip"),
}
#: the name a deliverable's file gets: dataset name, kind, date
FILE_STEMS = {"deck": "tumour-board", "docx": "manuscript-tables", "r": "reproduce-in-R"}

Progress = Callable[[int, int], None]
log = logging.getLogger(__name__)


def view_spec(ds: Dataset, view: dict | None) -> ReportSpec:
    """The page's view as a :class:`ReportSpec`, with the dataset's own name and SYNTHETIC flag."""
    view = dict(view or {})
    view["dataset"] = {"name": ds.name, "synthetic": ds.synthetic}
    return ReportSpec.from_dict(view)


def _results(frame, dataset_json: str, spec_json: str):
    """:func:`reports.results.compute` from plain, hashable arguments (what ``memoised`` keys on)."""
    info = json.loads(dataset_json)
    ds = Dataset(info["id"], info["name"], frame, info["content_hash"], synthetic=info["synthetic"],
                 report=info["report"], mapping=info["mapping"])
    return compute(ds, ReportSpec.from_json(spec_json))


def report_results(ds: Dataset, view: dict | None, meta_data=None):
    """Every number of the view (:class:`reports.results.ReportResults`), memoised on the dataset's content and
    the view. ``meta_data``: the session's own meta-analysis table (``services.meta_views.current_data()``) when it
    is not the shipped one; those results are not memoised."""
    spec = view_spec(ds, view)
    if meta_data is not None and not getattr(meta_data, "shipped", False) and spec.meta is not None:
        return compute(ds, spec, meta_data=meta_data)
    info = json.dumps({"id": ds.id, "name": ds.name, "content_hash": ds.content_hash, "synthetic": ds.synthetic,
                       "report": ds.report or {}, "mapping": ds.mapping or {}}, sort_keys=True, default=str)
    return memoised(_results, ds, info, spec.to_json())


def filename(ds: Dataset, kind: str, results) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", (ds.name or "dataset").rsplit(".", 1)[0]).strip("-") or "dataset"
    if ds.synthetic:
        stem = "SYNTHETIC-demo"
    return f"{stem}-{FILE_STEMS[kind]}-{results.generated.isoformat()}{KINDS[kind][0]}"


def build_report(ds: Dataset, view: dict | None, kind: str, progress: Progress | None = None,
                 meta_data=None) -> tuple[str, bytes]:
    """(file name, bytes) of one deliverable -- ``kind`` ``"deck"``, ``"docx"`` or ``"r"`` -- of the view.

    ``progress(done, total)``: the results (1 step), each figure of a deck (the slow part), the writing (1 step).
    Raises :class:`AnalysisError` (a view the data cannot give: the message names the column) or
    :class:`reports.figures.RenderError` (no Chromium)."""
    if kind not in KINDS:
        raise AnalysisError(f"unknown deliverable {kind!r}; use deck, docx or r")
    results = report_results(ds, view, meta_data)
    steps = {"total": 2}

    def figures(done: int, total: int) -> None:
        steps["total"] = total + 2
        if progress is not None:
            progress(1 + done, total + 2)

    if progress is not None:
        progress(1, 2)
    data = build(results, kind, progress=figures)
    if progress is not None:
        progress(steps["total"], steps["total"])
    return filename(ds, kind, results), data


def download(name: str, data: bytes, kind: str) -> dict:
    """``dcc.Download`` data for the bytes (what ``dcc.send_bytes`` returns; JSON-safe for the job's result)."""
    return {"content": base64.b64encode(data).decode("ascii"), "filename": name, "type": KINDS[kind][1],
            "base64": True}


def report_job(ticket: str | None, kind: str, view: dict | None, set_progress: Callable[[Any], None] | None = None,
               meta_data=None) -> tuple[dict | None, str | None]:
    """The body of a page's background callback: ``(download data, None)`` or ``(None, message)``.

    ``ticket`` is ``services.store.issue_ticket(dataset_id)`` from the user's own request (a job has no browser
    session); ``set_progress`` is Dash's progress setter, called with ``(done, total)``. Problems become the
    message for the page's alert, never a traceback."""
    try:
        ds = redeem_ticket(ticket)
        progress = (lambda done, total: set_progress((done, total))) if set_progress is not None else None
        name, data = build_report(ds, view, kind, progress, meta_data)
    except (DatasetMissing, AnalysisError, RenderError) as exc:
        return None, str(exc)
    except Exception as exc:                # never a traceback on the page; the log gets the type name only
        log.error("report %s failed: %s", kind, type(exc).__name__)
        return None, (f"the {kind} could not be made (internal error {type(exc).__name__}); please report this "
                      f"with the view used")
    return download(name, data, kind), None
