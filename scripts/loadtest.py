"""Multi-user load test of the production server, on loopback only.

``python scripts/loadtest.py`` starts ``gunicorn -c gunicorn.conf.py app:server`` (the production config, via
:class:`tests.support.server.AppServer`) on a free 127.0.0.1 port with a fresh cache directory, then simulates
``--users`` people (default 20), each with their own browser session cookie, moving the survival page's cutoff
every ``--interval`` seconds (default 0.5) for ``--duration`` seconds (default 60): every move is the request the
browser sends for the ``update_km`` callback (built from ``/_dash-dependencies``; the same shape as one
captured from Chromium), POSTed to ``/_dash-update-component``. ``--uploaders`` of the users (default 4) first
upload their own cohort through the Data page's upload callback (the synthetic demo file, rows shuffled so each
upload is a different dataset) and work on it, uploading a fresh copy every ``--upload-every`` seconds.

Checked on every response: HTTP 200, the KM figure present and no error alert (an upload user reading someone
else's dataset, or a lost dataset, would show as an error). Reported: requests, errors (must be 0),
p50/p95/p99/max latency, the achieved rate, and the resident memory (RSS) of each gunicorn worker, sampled
every 5 s (every 30 s with ``--soak``). ``--soak`` runs 10 minutes (not for CI) to show memory stays flat.

Results: ``benchmarks/runs/load-<UTC date>.json`` and ``.md`` (``--out`` for another directory), with the
machine described. The run is bounded in time and count, and refuses any target that is not loopback
(``--url`` may name an already running server on 127.0.0.0/8 or ::1; memory is then not measured unless
``--pid`` gives its gunicorn master).
"""
from __future__ import annotations

import argparse
import base64
import datetime as dt
import io
import ipaddress
import json
import os
import platform
import random
import socket
import statistics
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import requests  # noqa: E402

from benchmarks import RUNS  # noqa: E402
from benchmarks.server import KM_CARD_INPUT, KM_OUTPUT, KM_TABLE_OUTPUT, km_values  # noqa: E402
from components import ids  # noqa: E402
from tests.support.server import AppServer, build_body, find_callback  # noqa: E402

DEMO = ROOT / "data" / "demo_cohort.csv"
CALLBACK = "/_dash-update-component"
UPLOAD_OUTPUT = f"{ids.DATASET_ID}.data"
#: the variables the simulated users cut, with the cutoff range they move in (demo quantiles 10-90 %)
VARIABLES = ("ast", "alp", "nlr", "tb", "crp", "afp", "albumin", "plt")
REQUEST_TIMEOUT = 60.0


# --- talking to the app as a browser does -------------------------------------------------------------------

class DashSession:
    """One browser session (its own cookie jar) calling the app's server callbacks by output name."""

    def __init__(self, base_url: str, deps: list[dict] | None = None):
        self.base_url = base_url.rstrip("/")
        self.http = requests.Session()
        self.http.headers.update({"Content-Type": "application/json", "Accept": "application/json"})
        self._deps = deps

    @property
    def deps(self) -> list[dict]:
        if self._deps is None:
            self._deps = self.http.get(self.base_url + "/_dash-dependencies", timeout=30).json()
        return self._deps

    def body(self, output: str, values: dict, changed: list[str]) -> dict:
        return build_body(find_callback(self.deps, output), values, changed)

    def call(self, output: str, values: dict, changed: list[str], timeout: float = REQUEST_TIMEOUT):
        """POST the callback; returns (status code, parsed ``response`` dict or None, seconds, bytes)."""
        data = json.dumps(self.body(output, values, changed))
        t0 = time.perf_counter()
        resp = self.http.post(self.base_url + CALLBACK, data=data, timeout=timeout)
        seconds = time.perf_counter() - t0
        try:
            parsed = resp.json().get("response") if resp.status_code == 200 else None
        except ValueError:
            parsed = None
        return resp.status_code, parsed, seconds, len(resp.content)

    def move_cutoff(self, dataset_id: str, endpoint: str, var: str, cutoff: float):
        """A cutoff move as the browser makes it: the figure (``update_km``), then the KM card for what it drew
        (``update_km_table``). Returns the figure's status and response, and the seconds and bytes of both."""
        status, response, seconds, size = self.call(KM_OUTPUT, km_values(cutoff, dataset_id, endpoint, var),
                                                    [f"{ids.KM_CUTOFF}.value"])
        drawn = ((response or {}).get(ids.KM_DRAWN) or {}).get("data")
        if status == 200 and drawn:
            card_status, _card, card_seconds, card_size = self.call(
                KM_TABLE_OUTPUT, {KM_CARD_INPUT: drawn}, [KM_CARD_INPUT])
            status = status if card_status == 200 else card_status
            seconds, size = seconds + card_seconds, size + card_size
        return status, response, seconds, size

    def upload(self, raw: bytes, filename: str, current: str = "demo"):
        """The Data page's upload callback, as dcc.Upload sends a file (a base64 data URL)."""
        values = {f"{ids.UPLOAD}.contents": "data:text/csv;base64," + base64.b64encode(raw).decode(),
                  f"{ids.UPLOAD}.filename": filename, f"{ids.TIME_UNIT}.value": "months",
                  f"{ids.DATASET_ID}.data": current}
        return self.call(UPLOAD_OUTPUT, values, [f"{ids.UPLOAD}.contents"])


def km_ok(response: dict | None) -> tuple[bool, str]:
    """Whether an update_km response drew a figure without an error alert."""
    if not response:
        return False, "no callback response"
    if ids.KM_GRAPH not in response or not response[ids.KM_GRAPH].get("figure", {}).get("data"):
        alert = response.get(ids.KM_ALERT, {}).get("children")
        return False, "no figure" + (" (alert shown)" if alert else "")
    if response.get(ids.KM_ALERT, {}).get("children"):
        return False, "error alert shown"
    return True, ""


def uploaded_id(response: dict | None) -> str | None:
    dataset_id = (response or {}).get(ids.DATASET_ID, {}).get("data")
    return dataset_id if dataset_id and dataset_id != "demo" else None


def shuffled_demo(seed: int) -> bytes:
    frame = pd.read_csv(DEMO, dtype=str, keep_default_na=False)
    frame = frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue().encode()


def cutoff_ranges() -> dict[str, tuple[float, float]]:
    frame = pd.read_csv(DEMO)
    return {v: (float(frame[v].quantile(0.1)), float(frame[v].quantile(0.9))) for v in VARIABLES if v in frame}


# --- safety -----------------------------------------------------------------------------------------------------

def require_loopback(url: str) -> None:
    """Refuse any target that is not this machine's loopback interface."""
    host = urlsplit(url).hostname or ""
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except socket.gaierror as exc:
        raise SystemExit(f"cannot resolve {host!r}: {exc}")
    if not addresses or not all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses):
        raise SystemExit(f"refusing to load-test {url}: only loopback targets (127.0.0.0/8, ::1) are allowed")


# --- measuring -------------------------------------------------------------------------------------------------

def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {"cpu_model": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform()}
    try:
        import psutil

        info["memory_gb"] = round(psutil.virtual_memory().total / 2**30, 1)
        info["physical_cores"] = psutil.cpu_count(logical=False)
    except ImportError:
        pass
    return info


class MemorySampler(threading.Thread):
    """RSS of each gunicorn worker (children of the master), sampled every ``every`` seconds."""

    def __init__(self, master_pid: int | None, every: float, t0: float):
        super().__init__(daemon=True)
        self.master_pid, self.every, self.t0 = master_pid, every, t0
        self.samples: list[dict] = []
        self._stop_event = threading.Event()

    def sample(self) -> dict | None:
        if self.master_pid is None:
            return None
        import psutil

        try:
            master = psutil.Process(self.master_pid)
            workers = [c for c in master.children(recursive=False) if not _loader_server(c)]
            rss, cpu = {}, 0.0
            for w in workers:
                try:
                    rss[w.pid] = w.memory_info().rss
                    times = w.cpu_times()
                    cpu += times.user + times.system
                except psutil.NoSuchProcess:
                    continue
            point = {"t_s": round(time.perf_counter() - self.t0, 1),
                     "workers_rss_mb": {str(pid): round(v / 2**20, 1) for pid, v in sorted(rss.items())},
                     "total_workers_rss_mb": round(sum(rss.values()) / 2**20, 1),
                     "master_rss_mb": round(master.memory_info().rss / 2**20, 1),
                     "workers_cpu_s": round(cpu, 2)}
        except psutil.NoSuchProcess:
            return None
        self.samples.append(point)
        return point

    def run(self) -> None:
        while not self._stop_event.wait(self.every):
            self.sample()

    def stop(self) -> None:
        self._stop_event.set()


def _loader_server(proc) -> bool:
    """Whether a child of the gunicorn master is the loader server uploads are read in (not a worker)."""
    try:
        return "analysis.bounded" in " ".join(proc.cmdline())
    except Exception:                                   # noqa: BLE001 - gone, or unreadable: not a worker to count
        return True


def pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)) * 1000, 1) if values else None


def latency_summary(seconds: list[float]) -> dict:
    return {"n": len(seconds), "p50_ms": pct(seconds, 50), "p95_ms": pct(seconds, 95), "p99_ms": pct(seconds, 99),
            "max_ms": round(max(seconds) * 1000, 1) if seconds else None,
            "mean_ms": round(statistics.fmean(seconds) * 1000, 1) if seconds else None}


# --- the simulated users -------------------------------------------------------------------------------------

class Recorder:
    def __init__(self):
        self.lock = threading.Lock()
        self.km: list[float] = []
        self.uploads: list[float] = []
        self.errors: list[str] = []
        self.requests = 0
        self.bytes = 0

    def add(self, kind: str, ok: bool, seconds: float, size: int, why: str = "") -> None:
        with self.lock:
            self.requests += 1
            self.bytes += size
            if ok:
                (self.km if kind == "km" else self.uploads).append(seconds)
            else:
                self.errors.append(f"{kind}: {why}"[:200])


def user(k: int, base_url: str, deps: list[dict], args, ranges: dict, recorder: Recorder,
         start: threading.Event, deadline_holder: list) -> None:
    rng = random.Random(1000 + k)
    session = DashSession(base_url, deps)
    uploader = k < args.uploaders
    dataset_id, next_upload, uploads_done = "demo", 0.0, 0
    start.wait()
    deadline = deadline_holder[0]
    next_tick = time.perf_counter() + rng.uniform(0, args.interval)   # users out of phase, as people are
    while True:
        now = time.perf_counter()
        if now >= deadline:
            break
        if uploader and now >= next_upload:
            raw = shuffled_demo(seed=k * 100 + uploads_done)
            if dataset_id != "demo":
                # as a person replacing a file does: "Remove my data" first (a session may keep 10 datasets)
                session.call(UPLOAD_OUTPUT, {f"{ids.REMOVE_DATA}.n_clicks": 1, f"{ids.DATASET_ID}.data": dataset_id},
                             [f"{ids.REMOVE_DATA}.n_clicks"])
                dataset_id = "demo"
            try:
                status, response, seconds, size = session.upload(raw, f"user{k}-{uploads_done}.csv", dataset_id)
                new_id = uploaded_id(response)
                ok = status == 200 and new_id is not None
                recorder.add("upload", ok, seconds, size, f"HTTP {status}" if status != 200 else "not loaded")
                if ok:
                    dataset_id = new_id
            except requests.RequestException as exc:
                recorder.add("upload", False, 0.0, 0, type(exc).__name__)
            uploads_done += 1
            next_upload = time.perf_counter() + args.upload_every
            continue
        if now < next_tick:
            time.sleep(min(next_tick - now, max(0.0, deadline - now)))
            continue
        next_tick += args.interval
        if next_tick < time.perf_counter():          # behind schedule: no burst, start the next period now
            next_tick = time.perf_counter() + args.interval
        var = rng.choice(sorted(ranges))
        low, high = ranges[var]
        cutoff = round(rng.uniform(low, high), 2)
        endpoint = rng.choice(("pfs", "os"))
        try:
            status, response, seconds, size = session.move_cutoff(dataset_id, endpoint, var, cutoff)
            ok, why = km_ok(response) if status == 200 else (False, f"HTTP {status}")
            recorder.add("km", ok, seconds, size, why)
        except requests.RequestException as exc:
            recorder.add("km", False, 0.0, 0, type(exc).__name__)


def run_load(base_url: str, args, master_pid: int | None, log=print) -> dict:
    deps = requests.get(base_url + "/_dash-dependencies", timeout=30).json()
    ranges = cutoff_ranges()
    # warm-up, outside the measurement: concurrent, so that every worker imports its lazy modules and builds
    # the demo's splitters
    failures: list[str] = []

    def warm(k: int) -> None:
        session = DashSession(base_url, deps)
        for i in range(len(VARIABLES) * 2):
            var = VARIABLES[(i + k) % len(VARIABLES)]
            status, response, _s, _b = session.move_cutoff("demo", ("pfs", "os")[i % 2], var, ranges[var][0])
            if status != 200 or not km_ok(response)[0]:
                failures.append(f"HTTP {status}")

    warmers = [threading.Thread(target=warm, args=(k,)) for k in range(6)]
    for t in warmers:
        t.start()
    for t in warmers:
        t.join()
    if failures:
        raise SystemExit(f"warm-up requests failed ({failures[0]}); is this the HAIC app?")
    recorder = Recorder()
    start = threading.Event()
    deadline_holder = [0.0]
    threads = [threading.Thread(target=user, args=(k, base_url, deps, args, ranges, recorder, start,
                                                   deadline_holder), daemon=True) for k in range(args.users)]
    for t in threads:
        t.start()
    t0 = time.perf_counter()
    load_start = os.getloadavg()
    sampler = MemorySampler(master_pid, 30.0 if args.soak else 5.0, t0)
    first = sampler.sample()
    deadline_holder[0] = t0 + args.duration
    start.set()
    sampler.start()
    last_log = t0
    while any(t.is_alive() for t in threads):
        time.sleep(0.5)
        if time.perf_counter() - last_log >= (30 if args.soak else 10):
            last_log = time.perf_counter()
            mem = sampler.samples[-1]["total_workers_rss_mb"] if sampler.samples else None
            log(f"  t={last_log - t0:5.0f} s  requests={recorder.requests}  errors={len(recorder.errors)}"
                + (f"  workers RSS={mem} MB" if mem is not None else ""))
        if time.perf_counter() > deadline_holder[0] + REQUEST_TIMEOUT + 5:
            break   # bounded: never wait past the last request's timeout
    wall = time.perf_counter() - t0
    sampler.stop()
    last = sampler.sample()
    samples = sampler.samples
    memory = None
    if samples:
        totals = [s["total_workers_rss_mb"] for s in samples]
        memory = {"workers": len(samples[-1]["workers_rss_mb"]), "start_total_mb": totals[0],
                  "end_total_mb": totals[-1], "max_total_mb": max(totals),
                  "growth_mb": round(totals[-1] - totals[0], 1),
                  "max_worker_mb": max(max(s["workers_rss_mb"].values(), default=0) for s in samples),
                  "samples": samples}
    cpu_ms = None
    if first and last and recorder.requests:
        cpu_ms = round((last["workers_cpu_s"] - first["workers_cpu_s"]) / recorder.requests * 1000, 1)
    expected = args.users * args.duration / args.interval
    return {
        "load_average_start_end": [round(load_start[0], 2), round(os.getloadavg()[0], 2)],
        "server_cpu_ms_per_request": cpu_ms,
        "requests": recorder.requests,
        "errors": len(recorder.errors),
        "error_samples": recorder.errors[:10],
        "km_requests": len(recorder.km),
        "uploads": len(recorder.uploads),
        "wall_s": round(wall, 1),
        "achieved_rps": round(recorder.requests / wall, 1) if wall else None,
        "scheduled_km_requests": int(expected),
        "km_latency": latency_summary(recorder.km),
        "upload_latency": latency_summary(recorder.uploads),
        "response_mb_total": round(recorder.bytes / 2**20, 1),
        "memory": memory,
    }


# --- report ---------------------------------------------------------------------------------------------------

def markdown(report: dict) -> str:
    m, c, r = report["machine"], report["config"], report["result"]
    km, up = r["km_latency"], r["upload_latency"]
    lines = [
        f"# Load test {report['started_utc']}",
        "",
        f"Machine: {m['cpu_model']}, {m['cores']} logical cores"
        + (f" ({m.get('physical_cores')} physical)" if m.get("physical_cores") else "")
        + (f", {m['memory_gb']} GB memory" if m.get("memory_gb") else "") + f"; Python {m['python']}; "
        f"{m['platform']}.",
        "",
        f"Server: `gunicorn -c gunicorn.conf.py app:server` on 127.0.0.1, {c.get('gunicorn_workers')} workers x "
        f"{c.get('gunicorn_threads')} threads, filesystem cache. The load generator runs on the same machine "
        "and shares its cores.",
        "",
        f"Load: {c['users']} simulated users, each with its own session cookie, moving the survival page's "
        f"cutoff every {c['interval_s']} s for {c['duration_s']} s (each move is two callbacks through "
        f"`/_dash-update-component`, as the browser makes them: `update_km` for the figure, then "
        f"`update_km_table` for the KM card; random variable, endpoint and cutoff); {c['uploaders']} of them upload "
        f"their own cohort (n=302, rows shuffled) through the Data page's upload callback every "
        f"{c['upload_every_s']} s and work on it.",
        "",
        "| measure | value |",
        "|---|---|",
        f"| operations | {r['requests']} ({r['km_requests']} cutoff moves, {r['uploads']} uploads) in "
        f"{r['wall_s']} s |",
        f"| errors | **{r['errors']}** |",
        f"| achieved rate | {r['achieved_rps']} operations/s (schedule: {r['scheduled_km_requests']} cutoff moves) |",
        f"| cutoff move latency (both requests) p50 / p95 / p99 / max | {km['p50_ms']} / {km['p95_ms']} / "
        f"{km['p99_ms']} / "
        f"{km['max_ms']} ms |",
        f"| upload latency p50 / max | {up['p50_ms']} / {up['max_ms']} ms |",
        f"| server CPU per operation (workers' user+system time / operations) | {r['server_cpu_ms_per_request']} ms |",
        f"| machine load average (1 min) at start / end | {r['load_average_start_end'][0]} / "
        f"{r['load_average_start_end'][1]} |",
    ]
    scheduled_rps = c["users"] / c["interval_s"]
    reading = []
    if r["achieved_rps"] is not None and r["achieved_rps"] < 0.9 * scheduled_rps:
        cpu = r.get("server_cpu_ms_per_request")
        capacity = (f" about {m['cores'] * 1000 / cpu:.0f} operations/s if the server had every core to itself"
                    if cpu else "")
        reading = ["", f"Reading: the schedule asks for {scheduled_rps:g} operations/s; the server delivered "
                      f"{r['achieved_rps']} operations/s, so it was saturated and each user waited for the previous "
                      f"response before moving again (closed loop). Latency is then mostly queueing. At "
                      f"{cpu} ms of server CPU per operation, the machine's {m['cores']} cores give{capacity}; here "
                      f"they were shared with the {c['users']} client threads and with other work (see the load "
                      "average)."]
    mem = r.get("memory")
    if mem:
        lines += [f"| worker RSS total start / end / max | {mem['start_total_mb']} / {mem['end_total_mb']} / "
                  f"{mem['max_total_mb']} MB ({mem['workers']} workers; largest worker {mem['max_worker_mb']} "
                  f"MB) |",
                  f"| worker RSS growth over the run | {mem['growth_mb']} MB |"]
    lines += reading
    if mem:
        lines += ["", "Worker memory over time (total RSS of the gunicorn workers):", "",
                  "| t (s) | total MB | per worker MB |", "|---|---|---|"]
        for s in mem["samples"]:
            lines.append(f"| {s['t_s']} | {s['total_workers_rss_mb']} | "
                         f"{', '.join(str(v) for v in s['workers_rss_mb'].values())} |")
    if r["error_samples"]:
        lines += ["", "Errors (first 10):", ""] + [f"- {e}" for e in r["error_samples"]]
    lines += ["", f"Command: `{report['command'].strip()}`", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds (default 60; --soak: 600)")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between one user's cutoff moves")
    parser.add_argument("--uploaders", type=int, default=4, help="users who upload their own cohort")
    parser.add_argument("--upload-every", type=float, default=20.0, help="seconds between one user's uploads")
    parser.add_argument("--soak", action="store_true", help="10 minutes, memory every 30 s (not for CI)")
    parser.add_argument("--url", help="an already running server on loopback (default: start gunicorn)")
    parser.add_argument("--pid", type=int, help="with --url: its gunicorn master pid, for worker memory")
    parser.add_argument("--out", type=Path, default=RUNS,
                        help="results directory (default benchmarks/runs, not committed; benchmarks/results records)")
    parser.add_argument("--no-write", action="store_true", help="print the report only")
    args = parser.parse_args(argv)
    if args.soak and "--duration" not in " ".join(argv if argv is not None else sys.argv[1:]):
        args.duration = 600.0
    if not (1 <= args.users <= 200 and 0 < args.duration <= 3600 and args.interval >= 0.05):
        raise SystemExit("bounded runs only: 1-200 users, at most 3600 s, interval >= 0.05 s")
    args.uploaders = min(args.uploaders, args.users)
    started = dt.datetime.now(dt.timezone.utc)
    log = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731
    config = {"users": args.users, "duration_s": args.duration, "interval_s": args.interval,
              "uploaders": args.uploaders, "upload_every_s": args.upload_every, "soak": args.soak}
    if args.url:
        require_loopback(args.url)
        log(f"load test against {args.url}")
        result = run_load(args.url, args, args.pid, log)
        if result["memory"]:
            config["gunicorn_workers"] = result["memory"]["workers"]
    else:
        with AppServer(env={"HAIC_SECRET_KEY": os.urandom(24).hex()}) as server:
            require_loopback(server.url)
            config["gunicorn_threads"] = int(os.environ.get("HAIC_THREADS", "2"))
            log(f"gunicorn (production config) on {server.url}; {args.users} users for {args.duration:g} s")
            result = run_load(server.url, args, server.proc.pid, log)
            if result["memory"]:
                config["gunicorn_workers"] = result["memory"]["workers"]
    report = {"started_utc": started.strftime("%Y-%m-%d %H:%M UTC"), "machine": machine(), "config": config,
              "result": result, "command": ("python scripts/loadtest.py " + " ".join(argv or sys.argv[1:])).strip()}
    text = markdown(report)
    print(text)
    if not args.no_write:
        args.out.mkdir(parents=True, exist_ok=True)
        stem = f"load-{'soak-' if args.soak else ''}{started.strftime('%Y-%m-%d')}"
        (args.out / f"{stem}.json").write_text(json.dumps(report, indent=1) + "\n")
        (args.out / f"{stem}.md").write_text(text)
        log(f"wrote {args.out / (stem + '.json')} and .md")
    return 0 if result["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
