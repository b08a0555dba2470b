"""The survival page in a real browser: first load to interactive, and cutoff change to the redrawn KM figure.

Debian's headless Chromium (``/usr/bin/chromium`` + ``/usr/bin/chromedriver``, ``SE_OFFLINE=true`` so that
selenium never downloads anything) drives the app served by gunicorn with the production config
(:class:`tests.support.server.AppServer`).

* **First load**: navigation start (``performance.now()`` origin) to the first completed draw of ``#km-graph``
  holding KM traces. ``plotly_afterplot`` cannot be listened to before Plotly has initialised the graph div,
  so a script installed before any page script (DevTools ``Page.addScriptToEvaluateOnNewDocument``) wraps
  ``Plotly.react``/``Plotly.newPlot`` and records when the returned promise resolves for ``#km-graph`` with
  data (Plotly resolves it right after emitting ``plotly_afterplot``). First visits with an empty browser cache
  run in three new browser profiles (median reported); later visits (assets cached) are reported separately.
* **Cutoff change**: a ``plotly_afterplot`` listener is attached to ``#km-graph .js-plotly-plot`` with
  ``execute_script`` and a capture-phase ``keydown`` listener on ``#km-cutoff`` records ``performance.now()``
  when Enter is pressed; the new value is typed (select all, type, Enter). Latency = the first afterplot after
  that Enter minus the Enter time. The ``/_dash-update-component`` resource timing of the ``update_km``
  response splits it into before the request, request (network + server) and after the response (JSON,
  React, Plotly drawing).
* **n = 100k**: the cohort CSV is uploaded through the Data page (``#upload input[type=file]``) and the
  survival page then works on it (the app has no ``HAIC_DEMO_PATH`` to start on a big file).
"""
from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from components import ids
from tests.support.browser import chrome_driver, have_browser as _chromium_installed

# installed before any page script: record when Plotly finishes drawing #km-graph with data
FIRST_PLOT_HOOK = r"""
(function () {
  window.__bench = {draws: []};
  function wrap(P) {
    ['react', 'newPlot'].forEach(function (name) {
      var orig = P[name];
      if (typeof orig !== 'function' || orig.__benchWrapped) { return; }
      var wrapped = function (gd) {
        var result = orig.apply(this, arguments);
        var el = (typeof gd === 'string') ? document.getElementById(gd) : gd;
        Promise.resolve(result).then(function () {
          var now = performance.now();
          var host = el && el.closest ? el.closest('#km-graph') : null;
          if (host && el.data && el.data.length > 0) { window.__bench.draws.push(now); }
        });
        return result;
      };
      wrapped.__benchWrapped = true;
      P[name] = wrapped;
    });
  }
  // fallback if a draw escaped the wrapper: the first time the graph div is seen holding traces (5 ms polling)
  var poll = setInterval(function () {
    var gd = document.querySelector('#km-graph .js-plotly-plot');
    if (gd && gd.data && gd.data.length > 0 && gd._fullLayout) {
      window.__bench.seen = performance.now();
      clearInterval(poll);
    }
  }, 5);
  var current;
  try {
    Object.defineProperty(window, 'Plotly', {
      configurable: true,
      get: function () { return current; },
      set: function (v) { current = v; if (v) { wrap(v); } }
    });
  } catch (e) { /* Plotly already defined */ }
})();
"""

ATTACH = r"""
const gd = document.querySelector('#km-graph .js-plotly-plot');
if (!gd || typeof gd.on !== 'function') { return false; }
window.__afterplots = window.__afterplots || [];
if (gd.__benchHooked !== true) {
  gd.on('plotly_afterplot', function () { window.__afterplots.push(performance.now()); });
  gd.__benchHooked = true;
}
const inp = document.getElementById('km-cutoff');
if (inp && inp.__benchHooked !== true) {
  inp.addEventListener('keydown', function (e) {
    if (e.key === 'Enter') { window.__enterAt = performance.now(); }
  }, true);
  inp.__benchHooked = true;
}
return true;
"""

STATE = r"""
const gd = document.querySelector('#km-graph .js-plotly-plot');
const t0 = window.__enterAt;
const after = (window.__afterplots || []).filter(function (t) { return t0 !== undefined && t > t0; });
const res = performance.getEntriesByType('resource').filter(function (r) {
  return r.name.indexOf('_dash-update-component') >= 0 && t0 !== undefined && r.startTime >= t0 - 1;
});
const loading = document.querySelector('[data-dash-is-loading="true"]');
return {enter: t0, after: after, hooked: !!(gd && gd.__benchHooked),
        names: gd && gd.data ? gd.data.filter(function (t) { return t.name; }).map(function (t) { return t.name; }) : [],
        resources: res.map(function (r) { return {start: r.startTime, end: r.responseEnd,
                                                  size: r.encodedBodySize || r.transferSize || 0}; }),
        loading: !!loading};
"""


# the browser's drawing cost alone: Plotly.react of the figure on screen (y scaled a little each time), no server
REDRAW = r"""
const done = arguments[arguments.length - 1];
const k = arguments[0];
const gd = document.querySelector('#km-graph .js-plotly-plot');
// plain arrays from the decoded full data (the figure's arrays may arrive base64-encoded)
const base = {layout: JSON.parse(JSON.stringify(gd.layout)), data: gd.data.map(function (t, j) {
  const c = JSON.parse(JSON.stringify(t));
  const f = gd._fullData.filter(function (ff) { return ff.index === j; })[0];
  if (f && f.x) { c.x = Array.from(f.x); }
  if (f && f.y) { c.y = Array.from(f.y); }
  return c;
})};
const times = [];
let i = 0;
function step() {
  const data = base.data.map(function (t) {
    const c = Object.assign({}, t);
    if (t.y && t.y.length > 3 && typeof t.y[0] === 'number') {
      c.y = t.y.map(function (v) { return v * (0.98 + 0.01 * (i % 3)); });
    }
    return c;
  });
  const t0 = performance.now();
  Plotly.react(gd, data, base.layout).then(function () {
    times.push(performance.now() - t0);
    i += 1;
    if (i < k) { setTimeout(step, 20); } else { done(times); }
  });
}
step();
"""


def redraw_only(driver, k: int = 15) -> dict:
    """Median/p95 ms of ``Plotly.react`` redraws of the KM figure on screen, and its number of traces/points."""
    times = driver.execute_async_script(REDRAW, k)
    shape = driver.execute_script(
        f"const gd = document.querySelector('#{ids.KM_GRAPH} .js-plotly-plot');"
        "return [gd._fullData.length, gd._fullData.reduce(function (a, t) { return a + (t.x ? t.x.length : 0); }, 0)];")
    return {"p50_ms": float(np.median(times)), "p95_ms": float(np.percentile(times, 95)), "traces": shape[0],
            "points": shape[1]}


def have_browser() -> tuple[bool, str]:
    if not _chromium_installed():
        return False, "Debian chromium + chromium-driver not installed"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return False, "selenium not installed"
    return True, ""


def make_driver(profile_dir: Path):
    driver = chrome_driver(profile_dir, ("performance", "browser"))
    driver.set_page_load_timeout(120)
    driver.set_script_timeout(60)
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": FIRST_PLOT_HOOK})
    driver.execute_cdp_cmd("Network.enable", {})
    return driver


def _wait(cond, timeout: float, poll: float = 0.005, what: str = "condition"):
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(poll)
    raise TimeoutError(f"timed out waiting for {what}")


def first_load(driver, url: str, timeout: float = 120.0) -> dict:
    """Navigation start to the first draw of the KM figure (ms), plus the navigation timing milestones."""
    driver.get(url)
    got = _wait(lambda: driver.execute_script(
        "const b = window.__bench; if (!b) { return null; }"
        "if (b.draws.length) { return [b.draws[0], 'plotly promise']; }"
        "return b.seen ? [b.seen, 'polling'] : null;"), timeout, 0.02, "the first KM figure")
    draw, how = got
    nav = driver.execute_script(
        "const n = performance.getEntriesByType('navigation')[0];"
        "return n ? {dcl: n.domContentLoadedEventEnd, load: n.loadEventEnd, ttfb: n.responseStart} : {};")
    res = driver.execute_script(
        "return performance.getEntriesByType('resource').map(function (r) {"
        "  return [r.name, r.startTime, r.responseEnd, r.encodedBodySize || 0]; });")
    calls = [[round(a), round(b), size] for name, a, b, size in res if "/_dash-update-component" in name and a < draw]
    plotly_js = [round(b) for name, _a, b, _s in res if name.split("?")[0].endswith("plotly.min.js")]
    out = {"first_plot_ms": float(draw), "detected_by": how,
           **{k: float(v) for k, v in nav.items() if v is not None}}
    # where the time went: callback round trips before the first draw ([start, end, bytes]), plotly.js loaded
    out["callbacks_before_plot"] = calls
    out["plotly_js_loaded_ms"] = plotly_js[0] if plotly_js else None
    out["last_response_before_plot_ms"] = max((c[1] for c in calls), default=None)
    return out


def sent_callbacks(driver) -> list[tuple[float, dict]]:
    """The ``/_dash-update-component`` request bodies Chromium sent since the DevTools performance log was last
    read, with the (monotonic) time each was sent."""
    sent = []
    for entry in driver.get_log("performance"):
        try:
            msg = json.loads(entry["message"])["message"]
        except (KeyError, ValueError):
            continue
        if msg.get("method") != "Network.requestWillBeSent":
            continue
        req = msg["params"].get("request", {})
        if "/_dash-update-component" in req.get("url", "") and req.get("postData"):
            try:
                sent.append((msg["params"]["timestamp"], json.loads(req["postData"])))
            except ValueError:
                continue
    return sent


def captured_km_body(driver) -> dict | None:
    """The last ``update_km`` request body Chromium sent (from the DevTools performance log)."""
    bodies = [body for _t, body in sent_callbacks(driver) if f"{ids.KM_GRAPH}.figure" in body.get("output", "")]
    return bodies[-1] if bodies else None


def cutoff_changes(driver, cutoffs: list[float], warmup: int = 3, timeout: float = 60.0) -> dict:
    """Type each cutoff into ``#km-cutoff`` + Enter; time Enter -> next ``plotly_afterplot`` of ``#km-graph``."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    _wait(lambda: driver.execute_script(ATTACH), timeout, 0.05, "the KM graph")
    box = driver.find_element(By.ID, ids.KM_CUTOFF)
    latencies, before, request, after, names = [], [], [], [], []
    previous, captured = None, None
    driver.get_log("performance")                      # drain: the first change's request is captured below
    current = box.get_attribute("value")
    for i, cutoff in enumerate(cutoffs):
        if current not in (None, "") and float(current) == cutoff:
            cutoff = cutoff + 0.1                      # typing the same value would not fire a callback
        current = f"{cutoff:g}"
        driver.execute_script(ATTACH)
        driver.execute_script("window.__enterAt = undefined; performance.clearResourceTimings();")
        box.send_keys(Keys.CONTROL, "a")
        box.send_keys(current, Keys.ENTER)
        state = _wait(lambda: (lambda s: s if s["after"] else None)(driver.execute_script(STATE)), timeout, 0.005,
                      "the redrawn KM figure")
        # let the update settle (the second callback of a cutoff change, loading flags) before the next one
        _wait(lambda: not driver.execute_script(STATE)["loading"], timeout, 0.01, "the page to settle")
        time.sleep(0.05)
        state = driver.execute_script(STATE)
        if i == 0:
            captured = captured_km_body(driver)
        if i < warmup:
            continue
        t_enter, t_plot = state["enter"], state["after"][0]
        latencies.append(t_plot - t_enter)
        km_res = [r for r in state["resources"] if r["end"] <= t_plot]
        if km_res:
            r = max(km_res, key=lambda r: r["size"])      # the figure response is the large one
            before.append(r["start"] - t_enter)
            request.append(r["end"] - r["start"])
            after.append(t_plot - r["end"])
        names.append(tuple(state["names"]) != previous)
        previous = tuple(state["names"])
    arr = np.asarray(latencies)
    return {"changes": int(arr.size), "p50_ms": float(np.percentile(arr, 50)), "p95_ms": float(np.percentile(arr, 95)),
            "max_ms": float(arr.max()), "mean_ms": float(arr.mean()),
            "breakdown_p50_ms": {"before_request": _p50(before), "request_network_server": _p50(request),
                                 "response_to_afterplot": _p50(after)},
            "figure_changed_share": float(np.mean(names)) if names else None, "captured_request": captured}


def _p50(values):
    return float(np.median(values)) if values else None


def upload_in_browser(driver, url: str, csv_path: Path, timeout: float = 300.0) -> float:
    """Upload ``csv_path`` on the Data page; seconds until the page reports it loaded."""
    from selenium.webdriver.common.by import By

    driver.get(url + "/")
    _wait(lambda: driver.find_elements(By.CSS_SELECTOR, f"#{ids.UPLOAD} input[type=file]"), 60, 0.05, "the upload box")
    field = driver.find_element(By.CSS_SELECTOR, f"#{ids.UPLOAD} input[type=file]")
    t0 = time.perf_counter()
    field.send_keys(str(Path(csv_path).resolve()))

    def loaded():
        text = driver.execute_script(f"const e = document.getElementById('{ids.UPLOAD_FEEDBACK}'); "
                                     "return e ? e.innerText : ''")
        if "was not loaded" in text:
            raise RuntimeError("the upload was rejected: " + text[:300])
        return "Loaded" in text

    _wait(loaded, timeout, 0.1, "the upload to load")
    seconds = time.perf_counter() - t0
    dataset = driver.execute_script(f"return window.sessionStorage.getItem('{ids.DATASET_ID}')")
    if not dataset or "demo" in dataset:
        raise RuntimeError("the browser did not switch to the uploaded dataset")
    return seconds


#: the exports a clinician uploads (issue 12's target: loaded within 2 s at 10k rows)
EXPORT_ROWS, EXPORT_KINDS = 10_000, ("xlsx", "sav")


def run_browser(base_url: str, cutoffs_302: list[float], big: tuple[int, Path, list[float]] | None,
                changes: int = 30, warm_loads: int = 3, cold_loads: int = 3, log=print,
                exports: bool = True) -> dict:
    """First load (cold and warm) and cutoff-change latency at n=302 and, when ``big`` is given, at its size."""
    ok, why = have_browser()
    if not ok:
        return {"skipped": why}
    survival = base_url + "/survival?endpoint=pfs&var=ast"
    # warm the server first (datasets read, splitters built, the cutoff scan memoised) with a throwaway profile,
    # so that the "cold" load below is a first visit to a running server with an empty browser cache
    warm_profile = Path(tempfile.mkdtemp(prefix="haic-bench-chrome-warm-"))
    warm_driver = make_driver(warm_profile)
    try:
        first_load(warm_driver, survival)
    finally:
        warm_driver.quit()
        shutil.rmtree(warm_profile, ignore_errors=True)
    # first visits with an empty browser cache: each in a new browser profile (one sample is too noisy)
    cold = []
    for _ in range(cold_loads):
        cold_profile = Path(tempfile.mkdtemp(prefix="haic-bench-chrome-cold-"))
        cold_driver = make_driver(cold_profile)
        try:
            cold.append(first_load(cold_driver, survival))
        finally:
            cold_driver.quit()
            shutil.rmtree(cold_profile, ignore_errors=True)
    cold_ms = [c["first_plot_ms"] for c in cold]
    profile = Path(tempfile.mkdtemp(prefix="haic-bench-chrome-"))
    out: dict = {"first_load": {}, "cutoff": []}
    driver = make_driver(profile)
    try:
        first_load(driver, survival)                 # this profile's own first visit fills its cache
        warm = [first_load(driver, survival)["first_plot_ms"] for _ in range(warm_loads)]
        out["first_load"] = {"n": 302, "cold_ms": float(np.median(cold_ms)), "cold_all_ms": cold_ms,
                             "warm_p50_ms": float(np.median(warm)), "cold_detail": cold[len(cold) // 2],
                             "warm_ms": warm}
        log(f"  browser first load: cold p50 {np.median(cold_ms):.0f} ms ({len(cold_ms)} new profiles), "
            f"warm p50 {np.median(warm):.0f} ms")
        r = cutoff_changes(driver, _sequence(cutoffs_302, changes + 3))
        r["n"] = 302
        out["captured_request"] = r.pop("captured_request")
        r["redraw_only"] = redraw_only(driver)
        out["cutoff"].append(r)
        log(f"  browser cutoff n=302: p50 {r['p50_ms']:.0f} ms, p95 {r['p95_ms']:.0f} ms over {r['changes']}")
        if big is not None:
            n_big, csv_path, cutoffs_big = big
            driver.get_log("performance")           # drop the log before the upload (it holds the file)
            up = upload_in_browser(driver, base_url, csv_path)
            out["upload_in_browser"] = {"n": n_big, "seconds": up, "bytes": Path(csv_path).stat().st_size}
            log(f"  browser upload n={n_big:,}: {up:.1f} s")
            driver.get_log("performance")
            big_load = first_load(driver, survival)
            out["first_load_big"] = {"n": n_big, "ms": big_load["first_plot_ms"]}
            r = cutoff_changes(driver, _sequence(cutoffs_big, changes + 3))
            r.pop("captured_request")
            r["n"] = n_big
            r["redraw_only"] = redraw_only(driver)
            out["cutoff"].append(r)
            log(f"  browser cutoff n={n_big:,}: p50 {r['p50_ms']:.0f} ms, p95 {r['p95_ms']:.0f} ms over "
                f"{r['changes']}")
            driver.get_log("performance")
        if exports:
            from benchmarks.cohorts import upload_export

            out["upload_exports"] = []
            for kind in EXPORT_KINDS:
                path = upload_export(EXPORT_ROWS, kind)
                seconds = upload_in_browser(driver, base_url, path)
                out["upload_exports"].append({"kind": kind, "n": EXPORT_ROWS, "seconds": seconds,
                                              "bytes": path.stat().st_size})
                log(f"  browser upload {kind} n={EXPORT_ROWS:,}: {seconds:.2f} s")
                driver.get_log("performance")
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
    return out


def _sequence(cutoffs: list[float], k: int) -> list[float]:
    """``k`` cutoffs cycling through ``cutoffs`` (neighbours always differ, so every entry changes the value)."""
    vals = [round(c, 1) for c in cutoffs]
    vals = [v for i, v in enumerate(vals) if i == 0 or v != vals[i - 1]]
    seq = [vals[i % len(vals)] for i in range(k)]
    return seq
