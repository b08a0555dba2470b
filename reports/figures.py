"""The deck's figures: built by the same builders the pages use (``components.km_figure``,
``components.cox_tables``, ``components.forest``) and rendered to PNG on the server by kaleido in Chromium.

Rendering never downloads a browser. :func:`browser_path` picks the browser: the ``BROWSER_PATH`` environment
variable when it is set (kaleido's and choreographer's own override), else Debian's ``/usr/bin/chromium`` (the
Dockerfile installs the ``chromium`` package), else a ``chromium`` on ``PATH``; the path is handed to kaleido, so
its own lookup (which would also try a browser downloaded by ``kaleido_get_chrome``) is not used. MathJax is
switched off (kaleido would fetch it from a CDN) and plotly.js is the app's own vendored basic bundle
(``assets/vendor``; no network). All figures of a deck are rendered in one browser session and tab, one after the
other (measured on two shared cores: 3.2 s for the paper view's 13 figures, against 4.9 s with two tabs and 6.7 s
with plotly's full bundle).

Sizes: a picture is rendered at the pixel size that makes the builder's fonts come out at the point size a
projector needs (:data:`PX_PER_INCH` pixels per inch of slide), at twice that resolution for sharpness.
"""
from __future__ import annotations

import asyncio
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import plotly.graph_objects as go

from components.format import format_hr
from components.km_figure import curves_from_stratified, km_figure

DEBIAN_CHROMIUM = "/usr/bin/chromium"
#: the app's own plotly.js (the basic partial bundle the pages load; its version is the plotly package's, checked by
#: tests/test_assets.py): a quarter of the full bundle's size, it halves the deck's rendering time
PLOTLY_JS = Path(__file__).resolve().parents[1] / "assets" / "vendor" / "plotly-basic.min.js"
#: pixels of a figure per inch of slide: the KM figure's 18 px presentation font prints at 14.4 pt
PX_PER_INCH = 90
SCALE = 2
TIMEOUT = 60


class RenderError(RuntimeError):
    """The figures cannot be rendered (no browser, or the browser failed); the message says what to install."""


def browser_path() -> str:
    """The Chromium kaleido drives: ``BROWSER_PATH``, else ``/usr/bin/chromium``, else ``chromium`` on PATH."""
    explicit = os.environ.get("BROWSER_PATH", "").strip()
    if explicit:
        if not (Path(explicit).is_file() and os.access(explicit, os.X_OK)):
            raise RenderError(f"BROWSER_PATH={explicit!r} is not an executable browser")
        return explicit
    if Path(DEBIAN_CHROMIUM).is_file():
        return DEBIAN_CHROMIUM
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    raise RenderError("the slide figures need Chromium: install Debian's 'chromium' package (apt-get install "
                      "chromium) or set BROWSER_PATH to a Chromium executable")


@dataclass
class Picture:
    """A figure to render at ``width`` x ``height`` px (layout size; the PNG has ``SCALE`` times the pixels)."""

    figure: go.Figure
    width: int
    height: int


def render(pictures: list[Picture], progress=None) -> list[bytes]:
    """PNG bytes of each picture, in order, from one Chromium session (kaleido); ``progress(done, total)`` after
    each. Raises :class:`RenderError` when Chromium is missing or a render fails."""
    if not pictures:
        return []
    import kaleido

    path = browser_path()
    total = len(pictures)
    done = [0]

    async def one(k, pic: Picture) -> bytes:
        png = await k.calc_fig(pic.figure, opts={"format": "png", "width": pic.width, "height": pic.height,
                                                 "scale": SCALE})
        done[0] += 1
        if progress is not None:
            progress(done[0], total)
        return png

    plotly_js = PLOTLY_JS.as_uri() if PLOTLY_JS.is_file() else None     # else the plotly package's full bundle

    async def run() -> list[bytes]:
        # one tab: on two shared cores a second tab's page load costs more than its parallel renders save
        async with kaleido.Kaleido(n=1, path=path, mathjax=False, plotlyjs=plotly_js, timeout=TIMEOUT) as k:
            return [await one(k, p) for p in pictures]

    try:
        return asyncio.run(run())
    except RenderError:
        raise
    except Exception as exc:     # kaleido / choreographer errors: the message names the cause, not the data
        raise RenderError(f"the figures could not be rendered ({type(exc).__name__}: {exc})") from None


# ---------------------------------------------------------------------------------------------------------
# the figures (builders of the pages; sizes for a 13.33 x 7.5 in slide)
# ---------------------------------------------------------------------------------------------------------
def km_view_picture(results, width_in: float, height_in: float) -> Picture:
    """The KM figure of the view with its number-at-risk table, HR (with its direction) and log-rank p."""
    ep = results.view_endpoint
    km = results.view
    width, height = int(width_in * PX_PER_INCH), int(height_in * PX_PER_INCH)
    curves = curves_from_stratified(km, ep.risk_times, ep.landmarks)
    fig = km_figure(curves, risk_times=list(ep.risk_times), x_title="Months", y_title=ep.endpoint.label,
                    logrank_p=km.logrank.p if km.logrank else None, hr_text=format_hr(km), presentation=True,
                    x_max=ep.risk_times[-1], height=height)
    return Picture(fig, width, height)


def panel_picture(panel, ep, width_in: float, height_in: float) -> Picture:
    """One panel of the Figure 3/4 grid: lettered title, compact KM figure; every panel of a grid the same size."""
    width, height = int(width_in * PX_PER_INCH * 1.1), int(height_in * PX_PER_INCH * 1.1)
    curves = curves_from_stratified(panel.km, ep.risk_times, ())
    fig = km_figure(curves, risk_times=list(ep.risk_times), title=f"<b>{panel.letter}</b>  {panel.title}",
                    x_title="Months", y_title=_short(ep.endpoint), compact=True, presentation=True,
                    logrank_p=panel.km.logrank.p if panel.km.logrank else None, x_max=ep.risk_times[-1],
                    height=height)
    return Picture(fig, width, height)


def _short(endpoint) -> str:
    key = endpoint.key.upper() if endpoint.key.lower() in ("os", "pfs", "dfs", "rfs", "efs", "ttp") else None
    return key or "Survival"


def cox_forest_picture(cox, width_in: float, height_in: float) -> Picture:
    """Forest plot of the multivariable model (``components.cox_tables.forest_figure``, presentation size)."""
    from components.cox_tables import forest_figure

    fig = forest_figure(cox, presentation=True)
    return _fit(fig, width_in, height_in)


def meta_forest_picture(view, width_in: float, height_in: float) -> Picture:
    """The meta-analysis forest plot (``components.forest.forest_figure``, as the meta page draws it) of the pooled
    studies (the studies without an estimate are named in the slide's note)."""
    from components.forest import forest_figure
    from analysis.meta.dataset import column_label

    pooled = [r for r in view.rows if r.status == "pooled"]      # a slide lists the pooled studies only
    subgroup = view.params.subgroup
    fig = forest_figure(pooled, view.report, view.spec, hk=view.params.hk, presentation=True,
                        group_label=column_label(subgroup) if subgroup else None)
    return _fit(fig, width_in, height_in)


def _fit(fig: go.Figure, width_in: float, height_in: float) -> Picture:
    """A figure with its own layout height, at the slide box's aspect ratio: full width when its height fits
    at :data:`PX_PER_INCH`, else scaled down to the box's height."""
    height = int(fig.layout.height or 600)
    px_per_in = max(PX_PER_INCH, height / height_in)
    width = int(width_in * px_per_in)
    if fig.layout.width:
        width = max(width, int(fig.layout.width))
    fig.update_layout(width=width)
    return Picture(fig, width, height)
