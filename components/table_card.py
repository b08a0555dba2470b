"""Cards that carry a table or a figure with its exports.

* :func:`table_card`: title, the table, footnotes, and two buttons -- "CSV" (``components.export.to_safe_csv``
  through ``dcc.Download``, UTF-8 with a byte-order mark so spreadsheet programs read ≤, ± and χ² right) and
  "Copy table" (``dcc.Clipboard`` holding the ``to_html_table`` HTML for Word/PowerPoint and tab-separated text
  for spreadsheets). The export text is made on the server when the card is built; the buttons work in the
  browser without another round trip.
* :func:`figure_card`: a ``dcc.Graph`` with plotly's PNG export at slide resolution in the mode bar and two
  buttons for PNG and SVG files.

All callbacks here are pattern-matching (``{"type": ..., "name": card name}``) and client-side, registered once
when this module is imported; their functions are in assets/table_card.js (window.dash_clientside.tableCard), and
the PNG scale reaches the script in the card's ``fc-info`` store.
"""
from __future__ import annotations

import html as html_lib
from typing import Any

import dash_bootstrap_components as dbc
import pandas as pd
from dash import MATCH, ClientsideFunction, Input, Output, State, clientside_callback, dcc, html

from components.export import escape_formula, to_html_table, to_safe_csv

PNG_SCALE = 3   # displayed size x 3: ~3000 px wide, sharp on a 4K projector and in print


def graph_config(name: str) -> dict:
    """plotly's mode bar: PNG at the displayed aspect ratio, 3x resolution; no plotly logo."""
    return {"displaylogo": False, "toImageButtonOptions": {"format": "png", "filename": name, "scale": PNG_SCALE},
            "modeBarButtonsToRemove": ["lasso2d", "select2d"]}


def export_texts(frame: pd.DataFrame, caption: str | None = None, footnotes: list[str] | None = None) -> dict:
    """CSV, HTML and tab-separated text of a table (formula-leading text escaped in all three).

    The copied HTML and text carry the footnotes under the table (a journal table is not complete without
    them); the CSV holds the table only, so that it reads back as data.
    """
    safe = frame.copy()
    safe.columns = [escape_formula(str(c)) for c in safe.columns]
    for col in safe.columns:
        if safe[col].dtype == object:
            safe[col] = safe[col].map(escape_formula)
    tsv_lines = ["\t".join(str(c) for c in safe.columns)]
    for row in safe.itertuples(index=False):
        tsv_lines.append("\t".join("" if pd.isna(v) else str(v).replace("\t", " ").replace("\n", " ")
                                   for v in row))
    notes = [str(escape_formula(n)) for n in (footnotes or []) if n]
    html_text = to_html_table(safe, caption=caption) + "".join(
        f"<p style=\"font-size:smaller\">{html_lib.escape(n)}</p>" for n in notes)
    if notes:
        tsv_lines += [""] + notes
    return {"csv": to_safe_csv(frame), "html": html_text, "tsv": "\r\n".join(tsv_lines)}


def table_card(name: str, title: str, body: Any, frame: pd.DataFrame, *, footnotes: list[str] | None = None,
               filename: str | None = None, caption: str | None = None, extra_header: Any = None) -> dbc.Card:
    """A card: title and export buttons in the header, ``body`` (the table), ``footnotes`` under it.

    ``frame`` is the table as text (what is exported); ``filename`` without extension. A card whose table changes
    often (on every slider move) is better laid out once and updated in parts: see :func:`table_card_update`.
    """
    exports = table_card_update(name, frame, caption=caption or title, footnotes=footnotes, filename=filename)
    buttons = html.Div([
        dbc.Button("CSV", id={"type": "tc-csv", "name": name}, size="sm", color="secondary", outline=True,
                   className="me-1", title="Download this table as CSV"),
        html.Span(dcc.Clipboard(id={"type": "tc-copy", "name": name}, content=exports["content"],
                                html_content=exports["html_content"],
                                title="Copy the table (paste into Word, PowerPoint or a spreadsheet)",
                                children=html.Span("Copy table"), copied_children=html.Span("Copied ✓"),
                                className="btn btn-sm btn-outline-secondary"),
                  style={"display": "inline-block"}),
        dcc.Download(id={"type": "tc-download", "name": name}),
        dcc.Store(id={"type": "tc-store", "name": name}, data=exports["data"]),
    ], className="d-flex align-items-center flex-shrink-0")
    header = dbc.CardHeader(html.Div([
        html.Div([html.Span(title, className="fw-semibold"), extra_header], className="me-3"),
        buttons,
    ], className="d-flex justify-content-between align-items-center flex-wrap gap-2"), className="bg-white")
    return dbc.Card([
        header,
        dbc.CardBody([html.Div(body, style={"overflowX": "auto"}, id={"type": "tc-body", "name": name}),
                      html.Div(footnote_divs(footnotes), className="mt-2", id={"type": "tc-notes", "name": name})],
                     className="pt-2"),
    ], className="shadow-sm mb-3", id={"type": "table-card", "name": name})


def footnote_divs(footnotes: list[str] | None) -> list:
    return [html.Div(text, className="small text-muted") for text in (footnotes or []) if text]


def table_card_update(name: str, frame: pd.DataFrame, *, caption: str, footnotes: list[str] | None = None,
                      filename: str | None = None) -> dict:
    """The export values of a table card, keyed by the property they go to (``data`` of its store, ``content``
    and ``html_content`` of its clipboard): what a callback returns to update a card laid out once, together with
    new ``children`` for the card's body and notes (:func:`table_card_outputs` lists the outputs)."""
    texts = export_texts(frame, caption=caption, footnotes=footnotes)
    return {"data": {"csv": texts["csv"], "filename": (filename or name) + ".csv"}, "content": texts["tsv"],
            "html_content": texts["html"]}


def table_card_outputs(name: str) -> list[Output]:
    """Outputs that update a card laid out once: body, notes, and the three export values, in this order."""
    return [Output({"type": "tc-body", "name": name}, "children"),
            Output({"type": "tc-notes", "name": name}, "children"),
            Output({"type": "tc-store", "name": name}, "data"),
            Output({"type": "tc-copy", "name": name}, "content"),
            Output({"type": "tc-copy", "name": name}, "html_content")]


def figure_card(name: str, title: str, graph_id: str, figure: Any = None, *, footnotes: list[str] | None = None,
                loading: bool = True) -> dbc.Card:
    """A card with a figure, plotly's PNG export in its mode bar and PNG / SVG download buttons."""
    graph = dcc.Graph(id=graph_id, figure=figure if figure is not None else {}, config=graph_config(name))
    buttons = html.Div([
        dbc.Button("PNG", id={"type": "fc-png", "name": name}, size="sm", color="secondary", outline=True,
                   className="me-1", title="Download the figure as PNG (3x screen resolution)"),
        dbc.Button("SVG", id={"type": "fc-svg", "name": name}, size="sm", color="secondary", outline=True,
                   title="Download the figure as SVG (vector, for print)"),
        dcc.Store(id={"type": "fc-info", "name": name},
                  data={"graph": graph_id, "filename": name, "scale": PNG_SCALE}),   # read by assets/table_card.js
        dcc.Store(id={"type": "fc-done", "name": name}),
    ], className="d-flex")
    notes = [html.Div(text, className="small text-muted") for text in (footnotes or []) if text]
    return dbc.Card([
        dbc.CardHeader(html.Div([html.Span(title, className="fw-semibold"), buttons],
                                className="d-flex justify-content-between align-items-center"),
                       className="bg-white"),
        dbc.CardBody([dcc.Loading(graph, delay_show=400) if loading else graph, html.Div(notes)], className="pt-2"),
    ], className="shadow-sm mb-3")


clientside_callback(
    ClientsideFunction("tableCard", "downloadCsv"),
    Output({"type": "tc-download", "name": MATCH}, "data"),
    Input({"type": "tc-csv", "name": MATCH}, "n_clicks"), State({"type": "tc-store", "name": MATCH}, "data"),
    prevent_initial_call=True,
)

clientside_callback(
    ClientsideFunction("tableCard", "downloadFigure"),
    Output({"type": "fc-done", "name": MATCH}, "data"),
    Input({"type": "fc-png", "name": MATCH}, "n_clicks"), Input({"type": "fc-svg", "name": MATCH}, "n_clicks"),
    State({"type": "fc-info", "name": MATCH}, "data"), prevent_initial_call=True,
)
