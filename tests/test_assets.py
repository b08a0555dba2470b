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
