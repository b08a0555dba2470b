"""App-wide layout pieces: the navigation bar, the dataset badge, alerts."""
from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import dcc, html

from components import ids

NAV_ITEMS = (
    ("Data", "/"),
    ("Survival", "/survival"),
    ("Cox", "/cox"),
    ("Response", "/response"),
    ("Safety", "/safety"),
    ("Baseline", "/baseline"),
    ("Meta-analysis", "/meta"),
)


def nav_id(path: str) -> str:
    return "nav-" + (path.strip("/") or "data")


def navbar() -> dbc.Navbar:
    links = [dbc.NavItem(dbc.NavLink(label, href=href, active="partial" if href != "/" else "exact",
                                     id=nav_id(href)))
             for label, href in NAV_ITEMS]
    return dbc.Navbar(
        dbc.Container([
            dbc.NavbarBrand("HAIC Cohort Analytics", href="/", className="fw-semibold"),
            dbc.Nav(links, navbar=True, className="me-auto"),
            dbc.Switch(id=ids.PRESENTATION, label="Presentation mode", value=False, persistence=True,
                       persistence_type="local", className="text-light mb-0", label_class_name="text-light small"),
        ], fluid=True),
        color="dark", dark=True, className="py-1",
    )


def dataset_badge(label: str, synthetic: bool, note: str | None = None) -> html.Div:
    """The bar that says which dataset every page is showing, unmistakably: the synthetic demo in amber, a
    user's own file in blue; ``note`` says why a link's dataset is not the one shown."""
    parts = [html.Span("Dataset: ", className="text-muted"), html.Strong(label, id="dataset-label")]
    if synthetic:
        parts.append(dbc.Badge("SYNTHETIC - not real patients", color="warning", text_color="dark",
                               className="ms-2", id="synthetic-badge"))
    bar = html.Div(parts, className="small dataset-bar " + ("dataset-demo" if synthetic else "dataset-own"))
    if not note:
        return bar
    return html.Div([bar, dbc.Alert(note, color="warning", className="py-1 px-2 my-1 small", id="dataset-note")])


#: where the file format is described (pages/format.py)
FORMAT_PATH = "/format"


def absent_note(what: str, needs: str, anchor: str = "") -> dbc.Alert:
    """What a page shows when the dataset lacks the columns it needs: a plain note naming them, with a link to
    the file format -- absent optional data are not an error (no red alert, no empty axes)."""
    return dbc.Alert([html.Strong(f"No {what} in this dataset. "), f"This page needs {needs}. ",
                      dcc.Link("See the file format", href=FORMAT_PATH + (f"#{anchor}" if anchor else "")), "."],
                     color="light", className="border small my-2 absent-note")


def error_alert(message: str) -> dbc.Alert:
    """A readable alert for a problem the user can act on (never a traceback)."""
    return dbc.Alert(message, color="danger", className="my-2", dismissable=True)


def controls_page(title: str, controls, main, *, intro=None) -> html.Div:
    """The layout every analysis page shares: a title, the controls on the left, the results on the right."""
    return html.Div([
        html.H2(title, className="h4 mt-3"),
        *([intro] if intro is not None else []),
        dbc.Row([dbc.Col(controls, lg=3, md=4), dbc.Col(main, lg=9, md=8)], className="g-3"),
    ])
