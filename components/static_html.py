"""Static content drawn by the browser as plain HTML: one Dash component where a table would need hundreds.

The Dash renderer draws every component of a layout through its own React wrapper (props checked, the store
subscribed to), so its cost grows with the number of components, not with the size of the HTML: a clinical
table is a component per cell, row, mark and line break. A tree that no callback reads or writes -- a table,
its notes -- is therefore serialised here to HTML, every text and attribute escaped, and sent as the
``data-html`` attribute of one ``html.Div``; assets/static_html.js puts it in place (``innerHTML``) as soon as
the element appears or the attribute changes. The element ids inside (``#cox-table``) stay, so the page and its
tests find the table as before. Measured effect: docs/performance.md ("first views").

Only ``dash.html`` components of the tags listed below (text, tables, lists, links) and ``dbc.Table`` are accepted,
with the attributes listed below; anything else (a script, an input, a graph, a pattern-matching id, a
``javascript:`` link) raises ``ValueError``.
The tree a holder was made from stays on it as ``source`` (never sent to the browser), for tests that read it.
"""
from __future__ import annotations

import html as html_lib
import numbers
import re
from typing import Any

import dash_bootstrap_components as dbc
import numpy as np
from dash import html
from dash.development.base_component import Component

VOID = {"br", "hr", "wbr", "col"}
#: what static HTML may be made of: text, tables, lists and links -- nothing that runs, loads or takes input
TAGS = {"table", "thead", "tbody", "tfoot", "tr", "th", "td", "caption", "colgroup", "col", "div", "span", "p",
        "br", "hr", "wbr", "b", "strong", "i", "em", "small", "sup", "sub", "code", "pre", "ul", "ol", "li", "a",
        "h1", "h2", "h3", "h4", "h5", "h6", "abbr", "mark", "s", "u"}
ATTRIBUTES = {"id": "id", "className": "class", "title": "title", "colSpan": "colspan", "rowSpan": "rowspan",
              "scope": "scope", "lang": "lang", "role": "role", "href": "href", "target": "target"}
IGNORED = {"children", "style", "n_clicks", "n_clicks_timestamp", "disable_n_clicks", "key"}
UNITLESS = {"fontWeight", "lineHeight", "opacity", "zIndex", "flex", "flexGrow", "flexShrink", "order", "zoom"}
SAFE_HREF = re.compile(r"^(https?:|mailto:|#|/(?!/))", re.IGNORECASE)      # no scheme-relative //host
TABLE_FLAGS = {"striped": "table-striped", "bordered": "table-bordered", "borderless": "table-borderless",
               "hover": "table-hover"}


def static_html(component: Any, *, class_name: str | None = None) -> html.Div:
    """``component`` (a static Dash tree) as one ``html.Div`` holding its HTML in ``data-html``."""
    holder = html.Div(className="static-html" + (f" {class_name}" if class_name else ""),
                      **{"data-html": to_html(component)})
    holder.source = component       # the tree it was made from: read by tests, never serialised
    return holder


def to_html(node: Any) -> str:
    """The HTML of a static Dash tree (strings, numbers, lists, ``dash.html`` components, ``dbc.Table``)."""
    if node is None or isinstance(node, (bool, np.bool_)):
        return ""                                            # as React draws them: nothing
    if isinstance(node, (str, numbers.Number)):              # numpy's numbers too (a data frame's cells)
        return html_lib.escape(str(node.item() if isinstance(node, np.generic) else node), quote=False)
    if isinstance(node, (list, tuple)):
        return "".join(to_html(item) for item in node)
    if not isinstance(node, Component):
        raise ValueError(f"not a component: {type(node).__name__}")
    tag, attrs = _tag_and_attributes(node)
    opening = f"<{tag}" + "".join(f' {name}="{html_lib.escape(value, quote=True)}"' for name, value in attrs) + ">"
    if tag in VOID:
        return opening
    return opening + to_html(getattr(node, "children", None)) + f"</{tag}>"


def _tag_and_attributes(node: Component) -> tuple[str, list[tuple[str, str]]]:
    if isinstance(node, dbc.Table):
        classes = ["table"] + ([f"table-{node.size}"] if getattr(node, "size", None) else [])
        classes += [cls for prop, cls in TABLE_FLAGS.items() if getattr(node, prop, None)]
        classes += [f"table-{node.color}"] if getattr(node, "color", None) else []
        if getattr(node, "responsive", None):
            raise ValueError("dbc.Table(responsive=...) is not static: wrap the table in a scrolling html.Div")
        extra = getattr(node, "className", None) or getattr(node, "class_name", None)
        tag, attrs = "table", [("class", " ".join(classes + ([extra] if extra else [])))]
        skip = {"size", "color", "className", "class_name", *TABLE_FLAGS}
    elif getattr(node, "_namespace", None) == "dash_html_components" and node._type.lower() in TAGS:
        tag, attrs, skip = node._type.lower(), [], set()
    else:
        raise ValueError(f"{node._namespace}.{node._type} is not static HTML")
    for prop in node._prop_names:
        value = getattr(node, prop, None)
        if value is None or prop in IGNORED or prop in skip or prop.endswith("-*"):
            continue
        if prop == "id" and not isinstance(value, str):
            raise ValueError("a pattern-matching id needs Dash: it cannot be static HTML")
        if prop == "href" and not SAFE_HREF.match(str(value)):
            raise ValueError("only http(s), mailto, '/' and '#' links are static HTML")
        if prop not in ATTRIBUTES:
            raise ValueError(f"attribute {prop!r} of {node._type} is not static HTML")
        attrs.append((ATTRIBUTES[prop], str(value)))
    style = getattr(node, "style", None)
    if style:
        attrs.append(("style", css(style)))
    for name, value in vars(node).items():           # data-* and aria-* attributes
        if name.startswith(("data-", "aria-")) and value is not None:
            attrs.append((name, str(value)))
    return tag, attrs


def css(style: dict) -> str:
    """A React style object as CSS text: ``{"fontWeight": 600, "padding": 3}`` -> ``font-weight:600;padding:3px``
    (numbers take px as React gives them, except unitless properties)."""
    parts = []
    for key, value in style.items():
        if value is None or value == "":
            continue
        name = key if key.startswith("--") else re.sub(r"[A-Z]", lambda m: "-" + m.group(0).lower(), key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and key not in UNITLESS and value != 0:
            value = f"{value}px"
        parts.append(f"{name}:{value}")
    return ";".join(parts)
