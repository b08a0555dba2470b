"""Static HTML (components/static_html.py): what the browser is given for a table drawn without Dash components."""
from __future__ import annotations

from html.parser import HTMLParser

import dash_bootstrap_components as dbc
import numpy as np
import pandas as pd
import pytest
from dash import dcc, html

from components import clinical_tables as ct
from components.static_html import css, static_html, to_html
from tests.support.dash_tree import find, texts_of


class _Tree(HTMLParser):
    """Tags, attributes and text of an HTML string, as a browser's parser reads them."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def parse(text: str) -> _Tree:
    tree = _Tree()
    tree.feed(text)
    return tree


def test_markup_in_data_stays_text_in_cells_and_attributes():
    evil = '<img src=x onerror=alert(1)>"&'
    out = to_html(html.Table(html.Tbody(html.Tr([html.Td(evil, title=evil), html.Td(3)])), id="t"))
    tree = parse(out)
    assert [t for t, _a in tree.tags] == ["table", "tbody", "tr", "td", "td"]       # no <img> element
    assert evil in "".join(tree.text) and tree.tags[3][1]["title"] == evil
    assert "<img" not in out


def test_a_clinical_table_keeps_its_id_marks_flags_and_line_breaks():
    table = ct.ClinicalTable(["Name\nline 2", "HR"], [ct.Row([ct.Cell("AST"), ct.Cell("1.50", mark="b", flag="PH",
                                                                                    flag_title="why")])])
    holder = static_html(table.to_component("cox-table"))
    text = holder.to_plotly_json()["props"]["data-html"]
    tree = parse(text)
    tags = [t for t, _a in tree.tags]
    assert tags[0] == "table" and tree.tags[0][1]["id"] == "cox-table"
    assert "br" in tags and "sup" in tags
    flag = next(a for t, a in tree.tags if a.get("class") == "ph-flag")
    assert flag["title"] == "why"
    assert "font-variant-numeric:tabular-nums" in tree.tags[0][1]["style"]
    # the holder is one Div whose only content is the attribute; tests read the tree it was made from
    assert holder.children is None and holder.source is not None
    assert find(holder, "cox-table") is not None and "AST" in texts_of(holder)


def test_bootstrap_tables_numbers_and_numpy_values():
    frame = pd.DataFrame({"a": np.array([1, 2], dtype=np.int64), "b": [0.5, np.nan], "c": [True, False]})
    out = to_html(dbc.Table.from_dataframe(frame, size="sm", striped=True, hover=True, className="small"))
    tree = parse(out)
    assert tree.tags[0] == ("table", {"class": "table table-sm table-striped table-hover small"})
    cells = [t.strip() for t in tree.text if t.strip()]
    assert cells[:3] == ["a", "b", "c"] and "1" in cells and "0.5" in cells and "nan" in cells


def test_css_takes_pixels_as_react_does():
    assert css({"fontWeight": 600, "lineHeight": 1.35, "padding": 3, "margin": 0, "paddingLeft": "28px",
                "color": None}) == "font-weight:600;line-height:1.35;padding:3px;margin:0;padding-left:28px"


@pytest.mark.parametrize("component", [
    dcc.Graph(id="g"),
    dbc.Button("x"),
    html.Div("x", id={"type": "a", "index": 1}),
    html.A("x", href="javascript:alert(1)"),
    html.A("x", href="//elsewhere.example/"),
    html.Script("alert(1)"),
    html.Iframe(src="https://example.org"),
    html.Img(src="x"),
    html.Div("x", tabIndex="1"),
    dbc.Table([], responsive=True),
])
def test_what_needs_dash_is_refused(component):
    with pytest.raises(ValueError):
        to_html(html.Div([component]))


def test_every_static_id_is_unique_to_its_table():
    """The holder has no id of its own: the ids the page and its tests look for are the table's."""
    holder = static_html(html.Table(html.Tbody(html.Tr(html.Td("x"))), id="t"))
    assert getattr(holder, "id", None) is None and parse(holder.to_plotly_json()["props"]["data-html"]).tags[0][1] == \
        {"id": "t"}


def test_the_data_pages_first_rows_are_text_with_blanks_for_missing_values():
    from components.dataset_tables import preview_table

    frame = pd.DataFrame({"os_event": [1.0, np.nan, 0.0], "ast": [20.5, 31.0, None], "id": ["<b>P1</b>", "P2", None]})
    tree = parse(to_html(preview_table(frame, "preview-grid")))
    assert tree.tags[0][1]["id"] == "preview-grid" and "b" not in [t for t, _a in tree.tags]
    cells = [t for t in tree.text]
    assert cells[:3] == ["os_event", "ast", "id"]
    assert cells[3:6] == ["1", "20.5", "<b>P1</b>"]                     # a whole number read as a float: 1
    rows = [tag for tag, _a in tree.tags if tag == "tr"]
    assert len(rows) == 4 and len([t for t, _a in tree.tags if t == "td"]) == 9
