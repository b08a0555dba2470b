"""The survival page's cutoff callback through the production server.

:class:`tests.support.server.AppServer` starts ``gunicorn -c gunicorn.conf.py app:server`` (the production config)
bound to a free loopback port (``HAIC_BIND``) with a fresh cache directory (``HAIC_CACHE_DIR``).
:func:`bench_callback` POSTs
the request a browser sends when the cutoff changes (``update_km``, built from the app's own callback map at
``/_dash-dependencies`` and checked against one captured from Chromium when the browser benchmark ran) to
``/_dash-update-component`` from 1 and from 10 concurrent clients, and reports p50/p95 latency and throughput.
Every request goes to 127.0.0.1, in bounded number and time.
"""
from __future__ import annotations

import base64
import json
import threading
import time
from pathlib import Path

import numpy as np
import requests

from components import ids
from tests.support.server import AppServer, build_body, find_callback

ROOT = Path(__file__).resolve().parents[1]
KM_OUTPUT = f"{ids.KM_GRAPH}.figure"
KM_TABLE_OUTPUT = f"{ids.KM_TABLE}.style"
KM_CARD_INPUT = f"{ids.KM_CARD_FOR}.data"      # what the browser writes once the figure is drawn: the card's request


def km_values(cutoff: float, dataset_id: str = "demo", endpoint: str = "pfs", var: str = "ast") -> dict:
    """Input/state values of the survival page's controls after the user moved the cutoff."""
    return {f"{ids.KM_ENDPOINT}.value": endpoint, f"{ids.KM_VAR}.value": var, f"{ids.KM_SLIDER}.value": cutoff,
            f"{ids.KM_CI}.value": "log-log", f"{ids.PRESENTATION}.value": False,
            f"{ids.DATASET_ID}.data": dataset_id, f"{ids.KM_CUTOFF}.value": cutoff}


def km_request(deps: list[dict], cutoff: float, dataset_id: str = "demo") -> dict:
    cb = find_callback(deps, KM_OUTPUT)
    return build_body(cb, km_values(cutoff, dataset_id), [f"{ids.KM_CUTOFF}.value"])


def km_table_request(deps: list[dict], drawn: dict) -> dict:
    """The request that follows a figure response: the KM estimates card for what ``update_km`` drew."""
    cb = find_callback(deps, KM_TABLE_OUTPUT)
    return build_body(cb, {KM_CARD_INPUT: drawn}, [KM_CARD_INPUT])


def same_shape(built: dict, captured: dict) -> tuple[bool, str]:
    """Whether a built body has the keys, outputs and dependency ids of a captured browser body."""
    if set(built) - set(captured):
        return False, f"keys {sorted(set(built) - set(captured))} not sent by the browser"
    for key in ("output", "outputs", "changedPropIds"):
        if built.get(key) != captured.get(key):
            return False, f"{key} differs"
    for key in ("inputs", "state"):
        ids_b = [(d.get("id"), d.get("property")) if isinstance(d, dict) else "list" for d in built.get(key, [])]
        ids_c = [(d.get("id"), d.get("property")) if isinstance(d, dict) else "list"
                 for d in captured.get(key, [])]
        if ids_b != ids_c:
            return False, f"{key} ids differ"
    return True, ""


def upload_request(deps: list[dict], csv_path: Path) -> dict:
    """The Data page's upload callback request for a CSV file (as dcc.Upload sends it: a base64 data URL)."""
    cb = find_callback(deps, f"{ids.DATASET_ID}.data")
    contents = "data:text/csv;base64," + base64.b64encode(Path(csv_path).read_bytes()).decode()
    values = {f"{ids.UPLOAD}.contents": contents, f"{ids.UPLOAD}.filename": Path(csv_path).name,
              f"{ids.TIME_UNIT}.value": "months", f"{ids.DATASET_ID}.data": "demo"}
    return build_body(cb, values, [f"{ids.UPLOAD}.contents"])


def upload_dataset(base_url: str, session: requests.Session, csv_path: Path, timeout: float = 300) -> tuple[str, float]:
    """Upload a CSV through the Data page's callback; returns (dataset id, seconds)."""
    deps = session.get(base_url + "/_dash-dependencies", timeout=30).json()
    body = upload_request(deps, csv_path)
    t0 = time.perf_counter()
    resp = session.post(base_url + "/_dash-update-component", json=body, timeout=timeout)
    seconds = time.perf_counter() - t0
    resp.raise_for_status()
    data = resp.json()["response"]
    dataset_id = data[ids.DATASET_ID]["data"]
    if not dataset_id or dataset_id == "demo":
        raise RuntimeError("the upload was not accepted")
    return dataset_id, seconds


# --- load -------------------------------------------------------------------------------------------------

def _pct(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def bench_callback(base_url: str, cutoffs: list[float], clients: int, requests_per_client: int,
                   dataset_id: str = "demo", cookies: dict | None = None, time_limit_s: float = 60.0,
                   warmup: int = 6) -> dict:
    """``clients`` threads, each making ``requests_per_client`` cutoff changes back to back.

    A change is what the browser sends: the figure request (``update_km``: ``p50_ms``/``p95_ms``, what the
    curves wait for), then the KM card's request with the ``km-drawn`` of its response (``update_km_table``:
    ``table_p50_ms``/``table_p95_ms``; the browser sends it once the figure is drawn, here at once).
    ``throughput_rps`` counts both requests."""
    deps = requests.get(base_url + "/_dash-dependencies", timeout=30).json()
    url = base_url + "/_dash-update-component"
    headers = {"Content-Type": "application/json"}

    def session() -> requests.Session:
        s = requests.Session()
        if cookies:
            s.cookies.update(cookies)
        return s

    # warm every worker: splitter built, dataset read (concurrent so that each worker gets some)
    warm = [session() for _ in range(min(clients, 4) or 1)]
    def warm_one(s, k):
        for i in range(warmup):
            s.post(url, data=json.dumps(km_request(deps, cutoffs[(i + k) % len(cutoffs)], dataset_id)),
                   headers=headers, timeout=120).raise_for_status()
    threads = [threading.Thread(target=warm_one, args=(s, k)) for k, s in enumerate(warm)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    latencies: list[float] = []
    table_latencies: list[float] = []
    sizes: list[int] = []
    errors: list[str] = []
    lock = threading.Lock()
    deadline = time.time() + time_limit_s

    def client(k: int):
        s = session()
        for i in range(requests_per_client):
            if time.time() > deadline:
                break
            body = json.dumps(km_request(deps, cutoffs[(k * 7 + i) % len(cutoffs)], dataset_id))
            t0 = time.perf_counter()
            try:
                resp = s.post(url, data=body, headers=headers, timeout=120)
                ms = (time.perf_counter() - t0) * 1000
                out = resp.json().get("response", {}) if resp.status_code == 200 else {}
                ok = ids.KM_GRAPH in out and out.get(ids.KM_DRAWN, {}).get("data") is not None
                if ok:
                    t1 = time.perf_counter()
                    table = s.post(url, data=json.dumps(km_table_request(deps, out[ids.KM_DRAWN]["data"])),
                                   headers=headers, timeout=120)
                    table_ms = (time.perf_counter() - t1) * 1000
                    ok = table.status_code == 200 and ids.KM_TABLE in table.json().get("response", {})
                    resp = resp if ok else table
            except (requests.RequestException, ValueError) as exc:
                ok, ms, resp = False, 0.0, exc
            with lock:
                if ok:
                    latencies.append(ms)
                    table_latencies.append(table_ms)
                    sizes.append(len(resp.content))
                else:
                    errors.append(str(getattr(resp, "status_code", resp))[:200])

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return {"clients": clients, "requests": len(latencies), "errors": len(errors), "error_samples": errors[:3],
            "p50_ms": _pct(latencies, 50), "p95_ms": _pct(latencies, 95), "max_ms": max(latencies, default=None),
            "table_p50_ms": _pct(table_latencies, 50), "table_p95_ms": _pct(table_latencies, 95),
            "throughput_rps": 2 * len(latencies) / wall if wall > 0 else None, "wall_s": wall,
            "response_bytes_median": int(np.median(sizes)) if sizes else None}


def run_server(cutoffs_by_n: dict[int, list[float]], quick: bool, big_csv: Path | None = None,
               captured_body: dict | None = None, log=print, root: Path = ROOT) -> dict:
    """Server benchmarks at the demo size (and at ``big_csv``'s size through an upload, when given), on a
    gunicorn serving the checkout ``root``."""
    out: dict = {"rows": []}
    per_client = (10, 5) if quick else (20, 8)
    with AppServer(root=root) as server:
        out["workers"] = server.workers
        deps = requests.get(server.url + "/_dash-dependencies", timeout=30).json()
        body = km_request(deps, cutoffs_by_n[302][0])
        out["request_body_example"] = body
        if captured_body is not None:
            ok, why = same_shape(body, captured_body)
            out["request_matches_browser"] = ok
            if not ok:
                out["request_mismatch"] = why
        for clients, reqs in ((1, per_client[0] * 2), (10, per_client[1])):
            r = bench_callback(server.url, cutoffs_by_n[302], clients, reqs, time_limit_s=30 if quick else 45)
            r["n"] = 302
            out["rows"].append(r)
            log(f"  server n=302 clients={clients}: p50 {r['p50_ms']:.1f} ms, p95 {r['p95_ms']:.1f} ms, "
                f"{r['throughput_rps']:.1f} req/s ({r['requests']} requests, {r['errors']} errors)")
        if big_csv is not None:
            n_big = sum(1 for _ in open(big_csv, "rb")) - 1
            s = requests.Session()
            try:
                dataset_id, up_s = upload_dataset(server.url, s, big_csv)
            except (requests.RequestException, RuntimeError, KeyError) as exc:
                out["upload_note"] = f"upload of the n={n_big} cohort failed: {str(exc)[:300]}"
                log("  " + out["upload_note"])
                return out
            out["upload_via_callback_s"] = up_s
            out["upload_n"] = n_big
            log(f"  server: uploaded n={n_big:,} through the Data page callback in {up_s:.1f} s")
            for clients, reqs in ((1, per_client[0]), (10, max(3, per_client[1] // 2))):
                r = bench_callback(server.url, cutoffs_by_n[n_big], clients, reqs, dataset_id=dataset_id,
                                   cookies=s.cookies.get_dict(), time_limit_s=30 if quick else 45, warmup=3)
                r["n"] = n_big
                out["rows"].append(r)
                log(f"  server n={n_big:,} clients={clients}: p50 {r['p50_ms']:.1f} ms, "
                    f"p95 {r['p95_ms']:.1f} ms, {r['throughput_rps']:.1f} req/s ({r['requests']} requests, "
                    f"{r['errors']} errors)")
        out["workers"] = server._count_workers()
        if any(r["errors"] for r in out["rows"]):
            out["server_log_errors"] = error_excerpt(server.log_tail(500_000))
    return out


def error_excerpt(log: str, limit: int = 4000) -> str:
    """The server log from its first traceback or error line on (to explain failed requests)."""
    lines = log.splitlines()
    for i, line in enumerate(lines):
        if "Traceback" in line or "[ERROR]" in line or " 500 " in line:
            return "\n".join(lines[i:])[:limit]
    return "no traceback or error line in the server log"
