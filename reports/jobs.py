"""The deliverables of a dataset for the pages: the deck (.pptx), the manuscript tables (.docx) and the R bundle
(.zip) of a view, and the background job that makes them with a progress bar (the cutpoint search's pattern:
``pages/survival.py``'s ``start_search`` / ``run_search``, ``services.background``).

A page describes its view as a plain dict in :class:`reports.spec.ReportSpec`'s JSON form (endpoints, ``km``,
``cox``, ``grid``, ``groupings``, ``group_by``, ``meta``; ``cohort: false`` for the meta page's); the dataset's name
and SYNTHETIC flag come from the dataset, never from the page. Results are memoised with the dataset's other
results (``services.store.memoised``: deleted with the dataset), so the second deliverable of a view costs only
its writing.

A page's Deck / Tables / Reproduce-in-R button group (``report_buttons``) runs two callbacks:

1. in the user's own request, :func:`start_job` checks access and hands the job a single-use ticket: to the
   dataset (``services.store.issue_ticket``), or for the meta page to a copy of the session's study table (a job
   has no browser session, so it cannot find the session's edited table itself);
2. the background callback calls :func:`report_job` with that job and Dash's progress setter: the file as
   ``dcc.Download`` data, or a readable message for the page's alert.
"""
from __future__ import annotations

import base64
import json
import logging
import re
import secrets
from typing import Any, Callable

from analysis.errors import AnalysisError
from reports import build
from reports.figures import RenderError
from reports.results import compute
from reports.spec import ReportSpec
from services.store import Dataset, DatasetMissing, cache, issue_ticket, memoised, redeem_ticket

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


#: how long a job's ticket to the session's study table is valid (seconds)
META_TICKET_TTL = 10 * 60


def view_spec(ds: Dataset | None, view: dict | None) -> ReportSpec:
    """The page's view as a :class:`ReportSpec`, with the dataset's own name and SYNTHETIC flag (a view of the
    meta-analysis alone is named after its study table)."""
    view = dict(view or {})
    view["dataset"] = {"name": ds.name, "synthetic": ds.synthetic} if ds is not None else {}
    return ReportSpec.from_dict(view)


def endpoints_first(ds: Dataset, key: str | None) -> list[dict]:
    """The dataset's endpoints as the spec writes them, the page's endpoint (``key``) first: the view's."""
    eps = sorted(ds.endpoints, key=lambda e: e.key != key)
    return [{"time": e.time, "event": e.event, "label": e.label} for e in eps]


def default_view(ds: Dataset, endpoint: str | None = None) -> dict:
    """The pages' defaults as a view: every endpoint (``endpoint``, else the first, leading: the KM figure's) and
    the Survival page's default stratification (its default cutoff follows in :func:`reports.results.compute`);
    the Cox candidates, forms and groupings default to the Cox page's. A page replaces the parts it shows."""
    from services.survival_view import default_variable, endpoint_key

    var = default_variable(ds)
    return {"endpoints": endpoints_first(ds, endpoint_key(ds, endpoint)),
            "km": {"by": None if var == "none" else var}}


def grouped_view(ds: Dataset, table: str, by: str | None, endpoint: str | None = None) -> dict:
    """:func:`default_view` with the ``table`` (``response``, ``ae`` or ``baseline``) compared by a page's
    "compare by" choice (``"none"``: not compared)."""
    view = default_view(ds, endpoint)
    view["group_by"] = {table: None if not by or by == "none" else by}
    return view


def _results(frame, dataset_json: str, spec_json: str):
    """:func:`reports.results.compute` from plain, hashable arguments (what ``memoised`` keys on)."""
    info = json.loads(dataset_json)
    ds = Dataset(info["id"], info["name"], frame, info["content_hash"], synthetic=info["synthetic"],
                 report=info["report"], mapping=info["mapping"])
    return compute(ds, ReportSpec.from_json(spec_json))


def report_results(ds: Dataset | None, view: dict | None, meta_data=None):
    """Every number of the view (:class:`reports.results.ReportResults`), memoised on the dataset's content and
    the view. ``meta_data``: the session's own meta-analysis table (``services.meta_views.current_data()``) when it
    is not the shipped one; those results are not memoised."""
    spec = view_spec(ds, view)
    if ds is None or (meta_data is not None and not getattr(meta_data, "shipped", False) and spec.meta is not None):
        return compute(ds, spec, meta_data=meta_data)
    info = json.dumps({"id": ds.id, "name": ds.name, "content_hash": ds.content_hash, "synthetic": ds.synthetic,
                       "report": ds.report or {}, "mapping": ds.mapping or {}}, sort_keys=True, default=str)
    return memoised(_results, ds, info, spec.to_json())


def filename(kind: str, results) -> str:
    """``<dataset>-tumour-board-<date>.pptx``; the demo's files start ``SYNTHETIC-demo``, the meta page's
    ``meta-analysis``."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", (results.name or "dataset").rsplit(".", 1)[0]).strip("-") or "dataset"
    if results.synthetic:
        stem = "SYNTHETIC-demo"
    if not results.has_cohort:
        stem = f"meta-analysis-{stem}"
    return f"{stem}-{FILE_STEMS[kind]}-{results.generated.isoformat()}{KINDS[kind][0]}"


def build_report(ds: Dataset | None, view: dict | None, kind: str, progress: Progress | None = None,
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
    return filename(kind, results), data


def download(name: str, data: bytes, kind: str) -> dict:
    """``dcc.Download`` data for the bytes (what ``dcc.send_bytes`` returns; JSON-safe for the job's result)."""
    return {"content": base64.b64encode(data).decode("ascii"), "filename": name, "type": KINDS[kind][1],
            "base64": True}


def start_job(dataset_id: str | None, kind: str, view: dict | None) -> dict:
    """In the user's own request: the job a page's background callback runs, ``{"ticket", "kind", "view"}``.

    The ticket is single-use and short-lived: to the dataset (its access checked here), or -- for a view of the
    meta-analysis alone (``"cohort": false``) -- to a copy of this session's study table
    (``services.meta_views.current_data``). Raises :class:`DatasetMissing` when the dataset is not this
    session's, :class:`AnalysisError` for an unknown kind."""
    if kind not in KINDS:
        raise AnalysisError(f"unknown deliverable {kind!r}; use deck, docx or r")
    view = dict(view or {})
    if view.get("cohort") is False:
        from services.meta_views import current_data

        ticket = secrets.token_urlsafe(24)
        cache.set(f"report-meta:{ticket}", current_data(), timeout=META_TICKET_TTL)
    else:
        ticket = issue_ticket(dataset_id)
    return {"ticket": ticket, "kind": kind, "view": view}


def _redeem_meta(ticket: str):
    data = cache.get(f"report-meta:{ticket}")
    if data is None:
        raise DatasetMissing("this job's access to the study table expired; start it again")
    cache.delete(f"report-meta:{ticket}")
    return data


def report_job(job: dict | None, set_progress: Callable[[Any], None] | None = None) -> tuple[dict | None, str | None]:
    """The body of a page's background callback: ``(download data, None)`` or ``(None, message)``.

    ``job`` is :func:`start_job`'s (made in the user's request: a job has no browser session); ``set_progress`` is
    Dash's progress setter, called with ``(done, total)``. Problems become the message for the page's alert,
    never a traceback."""
    job = job or {}
    kind = job.get("kind")
    try:
        ticket, view = job.get("ticket"), job.get("view") or {}
        if view.get("cohort") is False:
            ds, meta_data = None, _redeem_meta(ticket)
        else:
            ds, meta_data = redeem_ticket(ticket), None
        progress = (lambda done, total: set_progress((done, total))) if set_progress is not None else None
        name, data = build_report(ds, view, kind, progress, meta_data)
    except (DatasetMissing, AnalysisError, RenderError) as exc:
        return None, str(exc)
    except Exception as exc:                # never a traceback on the page; the log gets the type name only
        log.error("report %s failed: %s", kind, type(exc).__name__)
        return None, (f"the {kind} could not be made (internal error {type(exc).__name__}); please report this "
                      f"with the view used")
    return download(name, data, kind), None
