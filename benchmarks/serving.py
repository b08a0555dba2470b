"""The serving budget (issue 13, item 7): every page's first view in Chromium, and 50 simulated users for 120 s on
3 gunicorn workers with a worker killed (``kill -9``) and Redis restarted mid-run.

``python -m benchmarks.serving`` (about 5 minutes) writes ``benchmarks/runs/serving-<UTC time>.json`` and
``.md``; docs/performance.md explains the method and the numbers.

1. **First view of every page** (n = 302, the synthetic demo; assets cached): Debian's headless Chromium opens
   each page once to fill its cache, then three more times; a view is the time from navigation start to the
   last change of the page's DOM before it has been still for 400 ms with no callback pending (a
   ``MutationObserver`` installed before any page script; class toggles that style nothing -- a grid's scrollbar
   fading, dcc.Graph's ``dash-graph--pending`` marker around a redraw -- are not counted). The callback
   requests each page sends on its first
   view are recorded from the DevTools log (bodies and the order in which the renderer sent them, in waves:
   the requests of a wave go out together, the next wave after their responses).
2. **Load** (the production server: ``gunicorn -c gunicorn.conf.py``, 3 workers x 2 threads, on a Redis of its
   own with the compose file's persistence and eviction settings): each simulated user has its own session
   cookie, loads the app (``/``, ``/_dash-layout``, ``/_dash-dependencies``), then until the end alternates
   reading pauses (``--pause``, default 1-4 s) with an interaction: open a page (its recorded callbacks, waves in order, the requests
   of a wave at once, as the renderer sends them), move the survival page's cutoff (2-4 moves, each the figure
   and then the card request), change the Cox screen's endpoint, toggle a meta-analysis setting (method or
   Hartung-Knapp). ``--uploaders`` of the users first upload a cohort of 1-10 MB (6,000-55,000 patients x 30
   columns) through the Data page callback and work on it. A request that dies on a reused connection before
   any response byte is sent again once, as Chromium does; it is counted.
   Faults: at ``--kill-at`` s one worker is killed with SIGKILL (gunicorn starts another); at ``--redis-at`` s
   Redis is stopped (SIGTERM: it writes its append-only file) and started again ``--redis-down`` s later. During
   the outage an answer is "clear" when it carries the store's "cannot be reached" message. At the end every
   uploaded dataset must still be readable by its owner.
   Measured: interactions and requests, failures, p50/p95/max per kind of interaction, worker RSS every 5 s,
   the load generator's own CPU (it shares the machine's two cores).
"""
from __future__ import annotations

import argparse
import base64
import datetime as dt
import io
import json
import os
import random
import resource
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import requests

from benchmarks import RUNS
from components import ids
ROOT = Path(__file__).resolve().parents[1]
CALLBACK = "/_dash-update-component"
PAGES = [("/", f"#{ids.PREVIEW_GRID}"), ("/survival", f"#{ids.KM_GRAPH} .main-svg"),
         ("/cox", f"#{ids.COX_MULTI_TABLE}"), ("/response", f"#{ids.RESPONSE_TABLE}"), ("/safety", f"#{ids.AE_TABLE}"),
         ("/baseline", f"#{ids.BASELINE_TABLE}"), ("/meta", f"#{ids.META_FOREST} .main-svg")]
FIRST_VIEW_TARGET_MS = 500.0
INTERACTION_P95_TARGET_MS = 300.0
UNREACHABLE_TEXT = "cannot be reached"

# installed before any page script: the time of the last change to the page's DOM
QUIET_HOOK = r"""
(function () {
  // last: the last content change (what a view is measured by); lastAny: counting the redraw marker too
  window.__view = {last: 0, lastAny: 0, mutations: 0};
  // class toggles that style nothing are not content: a grid's scrollbar fading in and out (AG Grid toggles its
  // classes ~0.5 s after a render), and dcc.Graph's "dash-graph--pending" marker, set while plotly redraws or
  // resizes a figure (a redraw that changes the figure changes its SVG, which counts)
  function classOf(m) {
    var el = m.target.nodeType === 1 ? m.target : m.target.parentElement;
    return el && typeof el.className === 'string' ? el.className : '';
  }
  function anyChange(m) {
    return !(m.type === 'attributes' && classOf(m).indexOf('scroll') >= 0);
  }
  function content(m) {
    var marker = 'dash-graph--pending';
    return anyChange(m) && !(m.type === 'attributes' && m.attributeName === 'class' && m.oldValue !== null &&
                             m.oldValue.replace(marker, '').trim() === classOf(m).replace(marker, '').trim());
  }
  function start() {
    new MutationObserver(function (ms) {
      if (ms.some(content)) { window.__view.last = performance.now(); window.__view.mutations += 1; }
      if (ms.some(anyChange)) { window.__view.lastAny = performance.now(); }
    }).observe(document.documentElement, {childList: true, subtree: true, attributes: true, characterData: true,
                                          attributeOldValue: true});
  }
  (function go() { if (document.documentElement) { start(); } else { setTimeout(go, 1); } })();
})();
"""
VIEW_STATE = r"""
return {last: window.__view ? window.__view.last : 0, lastAny: window.__view ? window.__view.lastAny : 0,
        now: performance.now(),
        loading: !!document.querySelector('[data-dash-is-loading="true"]'),
        ready: !!document.querySelector(arguments[0])};
"""


# --- 1. first views in Chromium, and the requests each page sends ----------------------------------------------

def first_views(base_url: str, profile: Path, repeats: int = 3, log=print) -> dict:
    from benchmarks.browser import make_driver

    driver = make_driver(profile)
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": QUIET_HOOK})
    out = {"pages": [], "recorded": {}}
    try:
        for path, selector in PAGES:
            _view(driver, base_url + path, selector)                       # fills the cache for this page
            driver.get_log("performance")
            times, parts = [], []
            for k in range(repeats):
                ms, detail = _view(driver, base_url + path, selector)
                times.append(ms)
                parts.append(detail)
                if k == 0:
                    out["recorded"][path] = recorded_requests(driver)
                else:
                    driver.get_log("performance")
            row = {"path": path, "median_ms": float(np.median(times)), "runs_ms": [round(t) for t in times],
                   "callbacks": parts[0]["callbacks"], "last_response_ms": parts[0]["last_response_ms"],
                   "dom_content_loaded_ms": parts[0]["dcl"], "met": float(np.median(times)) <= FIRST_VIEW_TARGET_MS,
                   # the same views ended at the last change of any kind, redraw markers included
                   "with_markers_median_ms": float(np.median([p["with_markers_ms"] for p in parts]))}
            out["pages"].append(row)
            log(f"  first view {path:10s} median {row['median_ms']:6.0f} ms (runs {row['runs_ms']}; "
                f"{row['with_markers_median_ms']:.0f} ms with redraw markers), "
                f"{row['callbacks']} callbacks, last response {row['last_response_ms']} ms")
    finally:
        driver.quit()
    return out


def _view(driver, url: str, selector: str, quiet_ms: float = 400.0, timeout: float = 60.0) -> tuple[float, dict]:
    driver.get(url)
    deadline = time.perf_counter() + timeout
    while True:
        state = driver.execute_script(VIEW_STATE, selector)
        if state["ready"] and not state["loading"] and state["now"] - max(state["last"], state["lastAny"]) >= quiet_ms:
            break
        if time.perf_counter() > deadline:
            raise TimeoutError(f"{url} never settled")
        time.sleep(0.02)
    timing = driver.execute_script(
        "const n = performance.getEntriesByType('navigation')[0];"
        "const r = performance.getEntriesByType('resource').filter(e => e.name.indexOf('_dash-update-component') >= 0);"
        "return {dcl: n ? n.domContentLoadedEventEnd : null, n: r.length,"
        "        last: r.length ? Math.max.apply(null, r.map(e => e.responseEnd)) : null};")
    return float(state["last"]), {"callbacks": timing["n"], "dcl": timing["dcl"] and round(timing["dcl"]),
                                  "with_markers_ms": round(state["lastAny"]),
                                  "last_response_ms": timing["last"] and round(timing["last"])}


def recorded_requests(driver) -> list[list[dict]]:
    """The callback request bodies the page sent, in waves (a gap of more than 10 ms starts a new wave)."""
    from benchmarks.browser import sent_callbacks

    waves, last = [], None
    for stamp, body in sorted(sent_callbacks(driver), key=lambda x: x[0]):
        if last is None or stamp - last > 0.010:
            waves.append([])
        waves[-1].append(body)
        last = stamp
    return waves


# --- 2. the load --------------------------------------------------------------------------------------------------

def with_dataset(body: dict, dataset_id: str) -> dict:
    body = json.loads(json.dumps(body))
    for key in ("inputs", "state"):
        for dep in body.get(key, []):
            if isinstance(dep, dict) and dep.get("id") == ids.DATASET_ID and dep.get("property") == "data":
                dep["value"] = dataset_id
    return body


def toggled(waves: list[list[dict]], component: str, values: tuple) -> list[dict]:
    """The recorded requests that take ``component``'s value as an input, with that value changed to the next of
    ``values`` (as if the user had changed it)."""
    out = []
    for wave in waves:
        for body in wave:
            deps = [d for d in body.get("inputs", []) if isinstance(d, dict) and d.get("id") == component]
            if not deps:
                continue
            body = json.loads(json.dumps(body))
            for dep in body["inputs"]:
                if isinstance(dep, dict) and dep.get("id") == component:
                    current = dep.get("value")
                    dep["value"] = values[(values.index(current) + 1) % len(values)] if current in values else values[0]
                    body["changedPropIds"] = [f"{component}.{dep['property']}"]
            out.append(body)
    return out


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.interactions: dict[str, list[float]] = {}
        self.requests = 0
        self.failed: list[dict] = []
        self.retried: list[dict] = []
        self.clear_outage = 0
        self.unclear: list[dict] = []
        self.events: dict[str, float] = {}

    def interaction(self, kind: str, seconds: float) -> None:
        with self.lock:
            self.interactions.setdefault(kind, []).append(seconds)




class User:
    """One simulated person with their own session cookie."""

    def __init__(self, k: int, base_url: str, recorded: dict, stats: Stats, t0: float, upload: bytes | None,
                 cox_on_uploads: bool = True, pause: tuple[float, float] = (1.0, 4.0)):
        self.k, self.base_url, self.recorded, self.stats, self.t0 = k, base_url, recorded, stats, t0
        self.cox_on_uploads, self.pause = cox_on_uploads, pause
        self.http = requests.Session()
        self.http.headers.update({"Content-Type": "application/json", "Accept": "application/json"})
        self.rng = random.Random(7000 + k)
        self.upload, self.dataset_id = upload, "demo"
        self.on = "demo (n = 302)"                    # which dataset the interactions are on, for the report
        self.pool = ThreadPoolExecutor(4)

    def post(self, body: dict, kind: str) -> tuple[int | str, str]:
        data = json.dumps(body)
        for attempt in (0, 1):
            sent = time.perf_counter()
            try:
                resp = self.http.post(self.base_url + CALLBACK, data=data, timeout=120)
                text = resp.text
                status: int | str = resp.status_code
                break
            except requests.ConnectionError as exc:
                status, text = type(exc.__context__ or exc).__name__, ""
                if attempt == 0:
                    self.stats.retried.append({"t": round(sent - self.t0, 2), "kind": kind, "error": status})
                    continue
            except requests.RequestException as exc:          # a timeout: a failure, not sent again
                status, text = type(exc).__name__, ""
                break
        with self.stats.lock:
            self.stats.requests += 1
        t = round(time.perf_counter() - self.t0, 2)
        outage = self.stats.events.get("redis_down", 1e9) <= t <= self.stats.events.get("redis_up", -1) + 2
        if status not in (200, 204) or "Something went wrong" in text:
            if outage and UNREACHABLE_TEXT in text:
                with self.stats.lock:
                    self.stats.clear_outage += 1
            else:
                self.stats.failed.append({"t": t, "kind": kind, "status": status,
                                          "output": str(body.get("output"))[:60]})
                if outage:
                    self.stats.unclear.append({"t": t, "kind": kind, "status": status})
        elif UNREACHABLE_TEXT in text:
            with self.stats.lock:
                self.stats.clear_outage += 1
        return status, text

    def wave(self, bodies: list[dict], kind: str) -> None:
        list(self.pool.map(lambda b: self.post(with_dataset(b, self.dataset_id), kind), bodies))

    def open_page(self, path: str) -> None:
        if path == "/cox" and not self.cox_on_uploads:
            with self.on_demo():
                return self.open_page_here(path)
        return self.open_page_here(path)

    def open_page_here(self, path: str) -> None:
        t = time.perf_counter()
        for wave in self.recorded[path]:
            self.wave(wave, f"page {path}")
        self.stats.interaction(f"page {path}, {self.on}", time.perf_counter() - t)

    def on_demo(self):
        """For the next interaction the user works on the demo cohort (``--cox-demo-only``)."""
        user = self

        class _Demo:
            def __enter__(self):
                self.saved = user.dataset_id, user.on
                user.dataset_id, user.on = "demo", "demo (n = 302)"

            def __exit__(self, *exc):
                user.dataset_id, user.on = self.saved

        return _Demo()

    def first_load(self) -> None:
        t = time.perf_counter()
        for path in ("/", "/_dash-layout", "/_dash-dependencies"):
            self.http.get(self.base_url + path, timeout=60)
        self.stats.interaction("app load (HTML, layout, dependencies)", time.perf_counter() - t)
        self.open_page("/")
        if self.upload is not None:
            from tests.support.server import build_body, find_callback

            deps = self.http.get(self.base_url + "/_dash-dependencies", timeout=60).json()
            values = {f"{ids.UPLOAD}.contents": "data:text/csv;base64," + base64.b64encode(self.upload).decode(),
                      f"{ids.UPLOAD}.filename": f"user{self.k}.csv", f"{ids.TIME_UNIT}.value": "months",
                      f"{ids.DATASET_ID}.data": "demo"}
            t = time.perf_counter()
            status, text = self.post(build_body(find_callback(deps, f"{ids.DATASET_ID}.data"), values,
                                                [f"{ids.UPLOAD}.contents"]), "upload")
            self.stats.interaction(f"upload {len(self.upload) / 2**20:.0f} MB", time.perf_counter() - t)
            if status == 200:
                got = (json.loads(text).get("response", {}).get(ids.DATASET_ID) or {}).get("data")
                self.dataset_id = got or "demo"
                if got:
                    rows = self.upload.count(b"\n") - 1
                    self.on = f"uploaded (n = {rows:,})"

    def cutoff_moves(self) -> None:
        from benchmarks.server import KM_CARD_INPUT, KM_OUTPUT, KM_TABLE_OUTPUT, km_values
        from tests.support.server import build_body, find_callback

        deps = self.recorded["__deps__"]
        var = self.rng.choice(("ast", "alp", "nlr", "tb", "afp", "albumin"))
        lo, hi = self.recorded["__ranges__"].get(var, (1.0, 100.0))
        for _ in range(self.rng.randint(2, 4)):
            t = time.perf_counter()
            cutoff = round(self.rng.uniform(lo, hi), 2)
            status, text = self.post(build_body(find_callback(deps, KM_OUTPUT),
                                                km_values(cutoff, self.dataset_id, self.rng.choice(("os", "pfs")), var),
                                                [f"{ids.KM_CUTOFF}.value"]), "cutoff")
            drawn = None
            if status == 200:
                drawn = ((json.loads(text).get("response") or {}).get(ids.KM_DRAWN) or {}).get("data")
            if drawn:
                self.post(build_body(find_callback(deps, KM_TABLE_OUTPUT), {KM_CARD_INPUT: drawn}, [KM_CARD_INPUT]),
                          "cutoff")
            self.stats.interaction(f"cutoff move (figure + card), {self.on}", time.perf_counter() - t)
            time.sleep(self.rng.uniform(0.2, 0.6))

    def toggle(self, kind: str, bodies: list[dict]) -> None:
        t = time.perf_counter()
        self.wave(bodies, kind)
        self.stats.interaction(f"{kind}, {self.on}", time.perf_counter() - t)

    def run(self, deadline: float, start: threading.Event) -> None:
        start.wait()
        time.sleep(self.rng.uniform(0, 3))
        self.first_load()
        while time.perf_counter() < deadline:
            time.sleep(self.rng.uniform(*self.pause))                      # reading
            if time.perf_counter() >= deadline:
                break
            action = self.rng.choices(("page", "cutoff", "cox", "meta"), weights=(4, 3, 1, 1))[0]
            if action == "page":
                self.open_page(self.rng.choice([p for p, _s in PAGES]))
            elif action == "cutoff":
                self.cutoff_moves()
            elif action == "cox":
                bodies = self.recorded["__cox_toggle__"][self.rng.randrange(2)]
                if self.cox_on_uploads:
                    self.toggle("Cox screen: endpoint changed", bodies)
                else:
                    with self.on_demo():
                        self.toggle("Cox screen: endpoint changed", bodies)
            else:
                t = time.perf_counter()
                self.wave(self.rng.choice(self.recorded["__meta_toggles__"]), "meta")
                self.stats.interaction("meta-analysis: a setting toggled", time.perf_counter() - t)
        self.pool.shutdown()

    def dataset_still_there(self) -> bool:
        from scripts.loadtest import DashSession, km_ok

        session = DashSession(self.base_url, self.recorded["__deps__"])
        session.http = self.http
        status, response, _s, _b = session.move_cutoff(self.dataset_id, "os", "ast", 60.0)
        return status == 200 and km_ok(response)[0]


def upload_file(k: int, rng: random.Random) -> bytes:
    """A cohort of 1-10 MB (6,000-55,000 patients x 30 columns) as a user would upload it."""
    from benchmarks.cohorts import upload_frame

    n = int(rng.uniform(6_000, 55_000))
    buf = io.StringIO()
    upload_frame(n, 30, seed=100 + k).to_csv(buf, index=False)
    return buf.getvalue().encode()


def worker_pids(master_pid: int) -> list[int]:
    from tests.support.adversarial import worker_pids as pids

    return sorted(pids(master_pid))


def run_load(args, recorded: dict, log=print) -> dict:
    from tests.support.server import AppServer, RedisServer
    from scripts.loadtest import MemorySampler, cutoff_ranges

    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"haic-serving-{os.getpid()}"
    tmp.mkdir(exist_ok=True)
    redis_server = RedisServer(tmp, "--appendonly", "yes", "--appendfsync", "everysec", "--maxmemory", "2gb",
                               "--maxmemory-policy", "noeviction").start()
    stats = Stats()
    env = {"REDIS_URL": redis_server.url, "HAIC_SECRET_KEY": os.urandom(24).hex(), "HAIC_WORKERS": str(args.workers),
           "HAIC_SESSION_MAX_DATASETS": "20"}
    rng = random.Random(11)
    uploads = {k: upload_file(k, rng) for k in range(args.uploaders)}
    try:
        with AppServer(env=env) as server:
            base = server.url
            recorded["__deps__"] = requests.get(base + "/_dash-dependencies", timeout=30).json()
            recorded["__ranges__"] = cutoff_ranges()
            t0 = time.perf_counter()
            deadline = t0 + args.duration + 3
            start = threading.Event()
            users = [User(k, base, recorded, stats, t0, uploads.get(k), cox_on_uploads=not args.cox_demo_only,
                          pause=args.pause) for k in range(args.users)]
            threads = [threading.Thread(target=u.run, args=(deadline, start), daemon=True) for u in users]
            for th in threads:
                th.start()
            sampler = MemorySampler(server.proc.pid, 5.0, t0)
            cpu0 = resource.getrusage(resource.RUSAGE_SELF)
            start.set()
            sampler.start()
            killed = redis_done = False
            while any(th.is_alive() for th in threads):
                now = time.perf_counter() - t0
                if not killed and now >= args.kill_at:
                    victim = worker_pids(server.proc.pid)[0]
                    os.kill(victim, signal.SIGKILL)
                    stats.events["worker_killed"] = round(now, 2)
                    killed = True
                    log(f"  t={now:.0f} s: kill -9 worker {victim}")
                if not redis_done and now >= args.redis_at:
                    stats.events["redis_down"] = round(now, 2)
                    redis_server.stop()
                    log(f"  t={now:.0f} s: Redis stopped")
                    time.sleep(args.redis_down)
                    redis_server.start()
                    stats.events["redis_up"] = round(time.perf_counter() - t0, 2)
                    redis_done = True
                    log(f"  t={time.perf_counter() - t0:.0f} s: Redis started again")
                time.sleep(0.2)
                if now > args.duration + 180:
                    break
            wall = time.perf_counter() - t0
            cpu1 = resource.getrusage(resource.RUSAGE_SELF)
            sampler.stop()
            lost = [u.k for u in users if u.upload is not None and not u.dataset_still_there()]
            workers_after = len(worker_pids(server.proc.pid))
            uploaded = sum(1 for u in users if u.dataset_id != "demo")
    finally:
        redis_server.stop()
    totals = [s["total_workers_rss_mb"] for s in sampler.samples]
    # memory after the warm-up (first minute of a worker's life) and at the end; the killed worker's replacement
    # starts small, so the total dips at the kill
    per_kind = {kind: _latency(v) for kind, v in sorted(stats.interactions.items())}
    all_interactions = [x for kind, v in stats.interactions.items() if not kind.startswith(("upload", "app load"))
                        for x in v]
    on_demo = [x for kind, v in stats.interactions.items() if not kind.startswith(("upload", "app load"))
               and "uploaded" not in kind for x in v]
    return {
        "config": {"users": args.users, "duration_s": args.duration, "workers": args.workers, "threads": 2,
                   "uploaders": args.uploaders, "upload_mb": sorted(round(len(b) / 2**20, 1) for b in uploads.values()),
                   "kill_at_s": args.kill_at, "redis_at_s": args.redis_at, "redis_down_s": args.redis_down,
                   "backend": "Redis (appendonly everysec, noeviction)",
                   "cox_on_uploads": not args.cox_demo_only, "reading_pause_s": list(args.pause)},
        "events": stats.events, "wall_s": round(wall, 1), "requests": stats.requests,
        "interactions": sum(len(v) for v in stats.interactions.values()),
        "failed_requests": len(stats.failed), "failures": stats.failed[:20],
        "failed_outside_outage": [f for f in stats.failed
                                  if not (stats.events.get("redis_down", 1e9) <= f["t"] <= stats.events.get("redis_up", -1) + 2)],
        "retried_after_connection_reset": len(stats.retried), "retries": stats.retried[:10],
        "clear_outage_messages": stats.clear_outage, "unclear_during_outage": stats.unclear[:10],
        "datasets_uploaded": uploaded, "datasets_lost": lost, "workers_after": workers_after,
        "interaction_p95_ms_all_but_uploads": _latency(all_interactions)["p95_ms"],
        "interaction_p95_ms_on_the_demo": _latency(on_demo)["p95_ms"],
        "per_interaction": per_kind,
        "memory": {"samples": sampler.samples, "start_mb": totals[0] if totals else None,
                   "end_mb": totals[-1] if totals else None, "max_mb": max(totals) if totals else None},
        "load_generator_cpu_s": round((cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime), 1),
    }


def _latency(values: list[float]) -> dict:
    if not values:
        return {"n": 0, "p50_ms": None, "p95_ms": None, "max_ms": None}
    arr = np.asarray(values) * 1000
    return {"n": int(arr.size), "p50_ms": round(float(np.percentile(arr, 50)), 1),
            "p95_ms": round(float(np.percentile(arr, 95)), 1), "max_ms": round(float(arr.max()), 1)}


# --- report -------------------------------------------------------------------------------------------------------

def markdown(report: dict) -> str:
    m = report["machine"]
    lines = [f"# Serving budget, {report['started_utc']}", "",
             f"Machine: {m['cpu_model']}, {m['cores']} cores, {m['memory_gb']} GB; Python {m['python']}; "
             f"{m.get('chromium') or ''}. Load average at start {m['loadavg_start'][0]:.2f}. Method: "
             "`benchmarks/serving.py` (docs/performance.md, \"Serving budget\").", ""]
    fv = report.get("first_views")
    if fv:
        lines += ["## First view of every page (n = 302, assets cached, Chromium)", "",
                  f"| page | median ms | runs ms | with redraw markers, median ms | callbacks | "
                  f"last callback response ms | <= {FIRST_VIEW_TARGET_MS:.0f} ms |",
                  "|---|---:|---|---:|---:|---:|---|"]
        for p in fv["pages"]:
            lines.append(f"| `{p['path']}` | {p['median_ms']:.0f} | {', '.join(map(str, p['runs_ms']))} | "
                         f"{p.get('with_markers_median_ms', float('nan')):.0f} | "
                         f"{p['callbacks']} | {p['last_response_ms']} | {'yes' if p['met'] else '**no**'} |")
        lines.append("")
    ld = report.get("load")
    if ld:
        c = ld["config"]
        mem = ld["memory"]
        lines += [f"## {c['users']} users for {c['duration_s']:g} s on {c['workers']} workers x {c['threads']} threads "
                  f"({c['backend']})", "",
                  f"{c['uploaders']} users uploaded a cohort first ({', '.join(map(str, c['upload_mb']))} MB) and "
                  f"work on it{'' if c['cox_on_uploads'] else ' (the Cox screen on the demo cohort only)'}. Reading "
                  f"pauses {c['reading_pause_s'][0]:g}-{c['reading_pause_s'][1]:g} s. "
                  f"Events: {', '.join(f'{k} at {v} s' for k, v in ld['events'].items())}.", "",
                  "| measure | value |", "|---|---|",
                  f"| interactions / requests | {ld['interactions']} / {ld['requests']} in {ld['wall_s']} s |",
                  f"| failed requests (all) | **{ld['failed_requests']}** |",
                  f"| failed requests outside the Redis outage | **{len(ld['failed_outside_outage'])}** |",
                  f"| requests sent again after a connection reset (as Chromium does) | {ld['retried_after_connection_reset']} |",
                  f"| answers with the clear \"cannot be reached\" message during the outage | {ld['clear_outage_messages']} |",
                  f"| other errors during the outage | {len(ld['unclear_during_outage'])} |",
                  f"| datasets uploaded / lost | {ld['datasets_uploaded']} / {len(ld['datasets_lost'])} |",
                  f"| workers at the end | {ld['workers_after']} |",
                  f"| interaction p95 (all but uploads and the app load) | {ld['interaction_p95_ms_all_but_uploads']} ms |",
                  f"| interaction p95 on the demo cohort (n = 302) | {ld['interaction_p95_ms_on_the_demo']} ms |",
                  f"| worker RSS total start / end / max | {mem['start_mb']} / {mem['end_mb']} / {mem['max_mb']} MB |",
                  f"| load generator CPU (same machine) | {ld['load_generator_cpu_s']} s |", "",
                  "| interaction | n | p50 ms | p95 ms | max ms |", "|---|---:|---:|---:|---:|"]
        for kind, v in ld["per_interaction"].items():
            lines.append(f"| {kind} | {v['n']} | {v['p50_ms']} | {v['p95_ms']} | {v['max_ms']} |")
        lines += ["", "Worker memory (total RSS of the gunicorn workers, MB) every 5 s: " +
                  ", ".join(f"{s['t_s']:g}: {s['total_workers_rss_mb']}" for s in mem["samples"]), ""]
        if ld["failures"]:
            lines += ["Failed requests (first 20):", ""] + [f"- {f}" for f in ld["failures"]] + [""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--duration", type=float, default=120.0)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--uploaders", type=int, default=6)
    parser.add_argument("--kill-at", type=float, default=40.0)
    parser.add_argument("--redis-at", type=float, default=80.0)
    parser.add_argument("--redis-down", type=float, default=5.0)
    parser.add_argument("--skip-first-views", action="store_true")
    parser.add_argument("--pause", type=lambda t: tuple(float(x) for x in t.split(",")), default=(1.0, 4.0),
                        help="reading pause between interactions, MIN,MAX seconds (uniform; default 1,4)")
    parser.add_argument("--cox-demo-only", action="store_true",
                        help="the Cox screen on the demo cohort only (the uploaders use every other page on their data)")
    parser.add_argument("--out", type=Path, default=RUNS,
                        help="results directory (default benchmarks/runs, not committed; benchmarks/results records)")
    args = parser.parse_args(argv)
    from benchmarks.run import machine_info
    from tests.support.server import AppServer

    log = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731
    started = dt.datetime.now(dt.timezone.utc)
    report: dict = {"started_utc": started.isoformat(timespec="seconds"), "machine": machine_info()}
    profile = Path(os.environ.get("TMPDIR", "/tmp")) / f"haic-serving-profile-{os.getpid()}"
    log("first views in Chromium (n = 302)")
    with AppServer(env={"HAIC_SECRET_KEY": os.urandom(24).hex()}) as server:
        views = first_views(server.url, profile, log=log)
    recorded = views.pop("recorded")
    report["recorded_callbacks_per_page"] = {p: [len(w) for w in waves] for p, waves in recorded.items()}
    if not args.skip_first_views:
        report["first_views"] = views
    recorded["__cox_toggle__"] = [toggled(recorded["/cox"], ids.COX_ENDPOINT, ("pfs", "os")),
                                  toggled(recorded["/cox"], ids.COX_ENDPOINT, ("os", "pfs"))]
    recorded["__meta_toggles__"] = [b for b in (toggled(recorded["/meta"], ids.META_METHOD, ("REML", "DL", "PM")),
                                                toggled(recorded["/meta"], ids.META_HK, (True, False))) if b]
    log(f"load: {args.users} users, {args.duration:g} s, {args.workers} workers")
    report["load"] = run_load(args, recorded, log)
    report["finished_utc"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    text = markdown(report)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = f"serving-{started.strftime('%Y-%m-%dT%H%M%SZ')}"
    (args.out / f"{stem}.json").write_text(json.dumps(report, indent=1, default=str) + "\n")
    (args.out / f"{stem}.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
