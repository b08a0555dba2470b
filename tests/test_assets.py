"""Vendored browser files: the partial Plotly bundle matches the installed plotly and covers every trace type."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = ROOT / "assets" / "vendor" / "plotly-basic.min.js"
BASIC_TRACES = {"scatter", "bar", "pie"}


def test_partial_plotly_bundle_is_the_installed_plotly_version():
    from plotly.offline import get_plotlyjs_version

    header = BUNDLE.read_text(encoding="utf-8")[:300]
    found = re.search(r"plotly\.js \(basic - minified\) v(\d+\.\d+\.\d+)", header)
    assert found, "assets/vendor/plotly-basic.min.js is not plotly.js' basic bundle"
    assert found.group(1) == get_plotlyjs_version()


def test_the_bundle_defines_window_plotly_for_dcc_graph():
    # dcc.Graph only skips loading the full plotly.min.js when window.Plotly exists
    assert "window.Plotly = Plotly" in BUNDLE.read_text(encoding="utf-8")[-400:]


def test_every_trace_type_used_is_in_the_basic_bundle():
    used = set()
    for path in [p for package in ("components", "pages", "services") for p in (ROOT / package).glob("*.py")]:
        text = path.read_text(encoding="utf-8")
        used |= {m.lower() for m in re.findall(r"go\.([A-Z][a-zA-Z]*)\(", text) if m not in {"Figure", "Layout"}}
        used |= set(re.findall(r"\{\"type\": \"([a-z0-9]+)\", \"x\"", text))
        used |= set(re.findall(r"\"type\": \"(scatter[a-z0-9]*|bar[a-z]*|pie|heatmap|box|violin|histogram)\"",
                               text))
    assert used, "no traces found: the pattern above is out of date"
    assert used <= BASIC_TRACES, f"trace types outside plotly.js' basic bundle: {sorted(used - BASIC_TRACES)}"


def _assets_functions() -> dict[str, set[str]]:
    """{namespace: function names} defined in assets/*.js as ``window.dash_clientside.<ns> = ...{ name: function``."""
    out: dict[str, set[str]] = {}
    for path in sorted((ROOT / "assets").glob("*.js")):
        text = path.read_text(encoding="utf-8")
        # each namespace's block runs to the next namespace assignment (or the end of the file)
        blocks = re.split(r"window\.dash_clientside\.(\w+) = ", text)
        for ns, block in zip(blocks[1::2], blocks[2::2]):
            out.setdefault(ns, set()).update(re.findall(r"^\s+(\w+): function\b", block, re.M))
    return out


def test_every_clientside_callback_of_the_pages_is_a_function_in_assets(tmp_path):
    """The pages', the components' and the shell's clientside callbacks name functions in assets/*.js (no
    JavaScript in Python strings), and every one they name is defined there and linked from the page."""
    import os
    import sys

    if "app" not in sys.modules:
        os.environ.setdefault("HAIC_CACHE_DIR", str(tmp_path / "cache"))
    import app

    client = app.server.test_client()
    deps = client.get("/_dash-dependencies").get_json()
    # Dash's private namespace holds the inline ones: Dash's own page router's
    named = {(cb["clientside_function"]["namespace"], cb["clientside_function"]["function_name"])
             for cb in deps if cb.get("clientside_function")
             and not cb["clientside_function"]["namespace"].startswith("_dashprivate")}
    defined = _assets_functions()
    assert {ns for ns, _ in named} >= {"haic", "survival", "cox", "meta", "baseline", "response", "safety",
                                     "tableCard"}
    for ns, name in named:
        assert name in defined.get(ns, set()), f"{ns}.{name} is not defined in assets/*.js"
    for path in [*(ROOT / "pages").glob("*.py"), *(ROOT / "components").glob("*.py"), ROOT / "app.py"]:
        assert '"""function(' not in path.read_text(encoding="utf-8"), f"JavaScript in a Python string: {path.name}"
    page = client.get("/").get_data(as_text=True)
    for path in (ROOT / "assets").glob("*.js"):
        assert f"/assets/{path.name}?m=" in page, path.name
