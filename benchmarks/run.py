"""Run the benchmark suite: ``python -m benchmarks.run [--quick] [--json]``.

Full run (~2-4 minutes on the reference 2-core machine): the engine at n = 302, 10k, 100k (ours, naive
lifelines, R survival) and 1M (ours alone); import of a 1M-row, 30-column CSV; the cutoff callback through
gunicorn at 1 and 10 concurrent clients (n = 302 and an uploaded n = 100k); the survival page in headless
Chromium (first load, and >= 30 cutoff changes at n = 302 and n = 100k).
``--quick`` (~20 s): the engine at n = 302 and 100k against lifelines and at 1M for ours alone.

Results go to ``benchmarks/runs/`` (not committed: ``latest.json``, ``latest.md`` and dated copies
``<mode>-<UTC time>``); ``--out benchmarks/results`` records a run beside the committed ones, ``--out`` any other
directory. The Markdown table is printed; with ``--json`` exactly one JSON object is printed on stdout instead
(progress goes to stderr). ``--baseline DIR`` measures another checkout beside this one in the same run (engine,
server and import parts; :mod:`benchmarks.compare`).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import numpy as np

from benchmarks import RUNS

HERE = Path(__file__).resolve().parent
ALL_PARTS = ("engine", "r", "upload", "server", "browser")
VARIANT_IO = "analysis.io.load_cohort (in process)"


# --- machine ----------------------------------------------------------------------------------------------

def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gb() -> float | None:
    try:
        import psutil

        return round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        try:
            return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
        except (ValueError, OSError):
            return None


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _cmd_version(cmd: list[str]) -> str | None:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (out.stdout or out.stderr).strip().splitlines()
    return text[0].strip() if text else None


def calibration_ms(repeats: int = 3) -> float:
    """Median time to sort 1M random doubles: a yardstick of how much CPU this process got at that moment."""
    x = np.random.default_rng(0).random(1_000_000)
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        np.sort(x)
        samples.append((time.perf_counter() - t0) * 1000)
    return float(np.median(samples))


def code_state() -> dict:
    """The commit measured and the app files that differed from it (others may be editing the checkout)."""
    root = HERE.parent
    commit = _cmd_version(["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"])
    try:
        out = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--", "analysis", "services",
                              "components", "pages", "app.py", "gunicorn.conf.py", "assets"],
                             capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        out = ""
    return {"commit": commit, "modified": [line[3:] for line in out.splitlines() if line.strip()]}


def machine_info() -> dict:
    libs = {name: _version(name) for name in ("numpy", "pandas", "scipy", "lifelines", "dash", "plotly", "Flask",
                                              "Flask-Caching", "gunicorn", "selenium", "psutil")}
    return {
        "cpu_model": _cpu_model(), "cores": os.cpu_count(), "memory_gb": _memory_gb(),
        "platform": platform.platform(), "python": platform.python_version(), "libraries": libs,
        "r": _cmd_version(["Rscript", "-e", "cat(R.version.string, '| survival', "
                                            "as.character(packageVersion('survival')))"]),
        "chromium": _cmd_version(["/usr/bin/chromium", "--version"]) if Path("/usr/bin/chromium").exists()
        else None,
        "loadavg_start": list(os.getloadavg()),
        "calibration_sort_1m_ms_start": calibration_ms(),
    }


# --- running ------------------------------------------------------------------------------------------------

def plan(quick: bool, sizes: list[int] | None, lifelines_sizes: list[int] | None, r_sizes: list[int] | None):
    if quick:
        sizes = sizes or [302, 100_000, 1_000_000]
        lf = lifelines_sizes if lifelines_sizes is not None else [302, 100_000]
        rs = r_sizes if r_sizes is not None else []
    else:
        sizes = sizes or [302, 10_000, 100_000, 1_000_000]
        lf = lifelines_sizes if lifelines_sizes is not None else [302, 10_000, 100_000]
        rs = r_sizes if r_sizes is not None else [302, 10_000, 100_000]
    return sizes, set(lf), set(rs)


def run(args, log) -> dict:
    from benchmarks import cohorts, engine

    started = time.perf_counter()
    parts = set(args.parts)
    results: dict = {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                     "mode": "quick" if args.quick else "full", "machine": machine_info(), "code": code_state(),
                     "notes": []}
    base, source = cohorts.base_cohort()
    results["cohort"] = {"base": source, "base_n": int(len(base)), "seed": cohorts.SEED,
                         "jitter_sd": cohorts.JITTER_SD, "endpoint": "pfs", "marker": engine.MARKER,
                         "ticks": list(engine.ticks())}
    m = results["machine"]
    log(f"# HAIC benchmarks ({results['mode']}) on {m['cpu_model']}, {m['cores']} cores, "
        f"load {m['loadavg_start'][0]:.1f}")

    sizes, lf_sizes, r_sizes = plan(args.quick, args.sizes, args.lifelines_sizes, args.r_sizes)
    if "r" not in parts:
        r_sizes = set()
    if not r_sizes:
        results["notes"].append("R survival baseline not run (full run only, or not requested)")
    if "engine" in parts:
        log("engine (one cutoff update)")
        rows, notes = engine.run_engine(sizes, lf_sizes, r_sizes, budget_s=args.budget, log=log,
                                        lifelines_min_updates=2 if args.quick else 3)
        results["engine"] = rows
        results["notes"].extend(notes.values())

    if "upload" in parts:
        from benchmarks.upload import run_upload

        from benchmarks.cohorts import upload_csv
        from benchmarks.upload import fork_cost

        sizes_up = args.upload_n or [100_000 if args.quick else 1_000_000]
        n_up = max(sizes_up)
        log("import (analysis.io.load_cohort; analysis.bounded.load_cohort)")
        try:
            results["import"] = [row for n in sizes_up
                                 for row in run_upload(n, 30, log=log, baseline_root=args.baseline)]
            results["fork_cost"] = [fork_cost(cohorts.DEMO_CSV, repeats=15),
                                    fork_cost(upload_csv(min(n_up, 100_000), 30), repeats=5 if args.quick else 7)]
            for fc in results["fork_cost"]:
                log(f"  bounded load of {fc['file']}: in process {fc['in_process_ms']:.0f} ms, forked from this "
                    f"process {fc['fork_load_ms']:.0f} ms, from the loader server {fc['server_load_ms']:.0f} ms "
                    f"(empty round trip {fc['fork_round_trip_ms']:.1f} / {fc['server_round_trip_ms']:.1f} ms)")
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            results["notes"].append(f"import benchmark failed: {str(exc)[:300]}")

    def marker_cutoffs(n: int) -> list[float]:
        frame = cohorts.scaled_cohort(n, columns=cohorts.CORE)
        return engine.cutoffs_for(frame[engine.MARKER].to_numpy(dtype=float), k=11)

    big_n = args.big_n
    big_csv = cohorts.upload_csv(big_n, 30) if ({"server", "browser"} & parts and big_n) else None
    cutoffs = {302: marker_cutoffs(int(len(base)))}      # the demo cohort, whatever its exact size
    if big_csv is not None:
        cutoffs[big_n] = marker_cutoffs(big_n)

    if "browser" in parts:
        from benchmarks.browser import run_browser
        from tests.support.server import AppServer

        log("browser (headless Chromium, gunicorn)")
        try:
            with AppServer() as server:
                results["browser"] = run_browser(server.url, cutoffs[302],
                                                 (big_n, big_csv, cutoffs[big_n]) if big_csv else None,
                                                 changes=args.changes, log=log)
        except Exception as exc:   # a browser failure must not lose the other results
            results["browser"] = {"error": f"{type(exc).__name__}: {str(exc)[-800:]}"}
            log(f"  browser benchmark failed: {results['browser']['error']}")
        if "skipped" in results.get("browser", {}):
            results["notes"].append(f"browser benchmark skipped: {results['browser']['skipped']}")

    if "server" in parts:
        from benchmarks.server import run_server

        log("server (gunicorn, /_dash-update-component)")
        captured = results.get("browser", {}).get("captured_request")
        try:
            results["server"] = run_server(cutoffs, args.quick, big_csv=big_csv, captured_body=captured, log=log)
        except Exception as exc:
            results["server"] = {"error": f"{type(exc).__name__}: {str(exc)[-800:]}"}
            log(f"  server benchmark failed: {results['server']['error']}")

    if args.baseline and {"engine", "server"} & parts:
        from benchmarks import compare

        side: dict = {"baseline": str(args.baseline)}
        if "engine" in parts:
            log(f"engine, before and after side by side ({args.baseline} / this checkout)")
            side["engine"] = compare.engine_side_by_side(args.baseline, sizes, rounds=args.rounds,
                                                         budget_s=args.budget, log=log)
        if "server" in parts:
            log(f"server, before and after side by side ({args.baseline} / this checkout)")
            try:
                side["server"] = compare.server_side_by_side(args.baseline, cutoffs, big_csv,
                                                             rounds=max(1, args.rounds - 1), log=log)
            except Exception as exc:
                side["server_error"] = f"{type(exc).__name__}: {str(exc)[-800:]}"
                log(f"  side-by-side server benchmark failed: {side['server_error']}")
        results["before_after"] = side

    results["machine"]["loadavg_end"] = list(os.getloadavg())
    results["machine"]["calibration_sort_1m_ms_end"] = calibration_ms()
    results["targets"] = targets(results)
    results["elapsed_s"] = time.perf_counter() - started
    return results


# --- targets and tables ----------------------------------------------------------------------------------

def targets(results: dict) -> list[dict]:
    """Every target of the issue with the measured value and whether it is met (None: not measured)."""
    from benchmarks.engine import TARGET_MS, TARGET_RATIO, TARGET_RATIO_MIN_N

    out = []
    rows = {r["n"]: r for r in results.get("engine", [])}
    for n, limit in TARGET_MS.items():
        r = rows.get(n)
        out.append({"name": f"engine update n={n:,}", "target": f"<= {limit:g} ms",
                    "value": _r(r["ours_ms"], 3) if r else None, "unit": "ms",
                    "met": (r["ours_ms"] <= limit) if r else None})
    for n, r in sorted(rows.items()):
        if n >= TARGET_RATIO_MIN_N and r.get("ratio") is not None:
            out.append({"name": f"speed-up vs lifelines n={n:,}", "target": f">= {TARGET_RATIO:g}x",
                        "value": _r(r["ratio"], 1), "unit": "x", "met": r["ratio"] >= TARGET_RATIO})
    for imp in results.get("import", []):
        if imp.get("when") == "before":
            continue                            # the baseline is shown beside the current code, not judged
        how = " (bounded)" if imp.get("via") == "bounded" else ""
        out.append({"name": f"import n={imp['n']:,} x {imp['columns_in_file']}{how} time", "target": "<= 10 s",
                    "value": _r(imp["seconds"], 2), "unit": "s", "met": imp["seconds"] <= 10.0})
        out.append({"name": f"import n={imp['n']:,} x {imp['columns_in_file']}{how} peak memory", "target": "<= 2 GB",
                    "value": _r(imp["peak_rss_mb"] / 1024, 2), "unit": "GB",
                    "met": imp["peak_rss_mb"] <= 2048})
    br = results.get("browser", {})
    limits = {302: 100.0, 100_000: 400.0}
    for c in br.get("cutoff", []):
        if c["n"] in limits:
            out.append({"name": f"browser cutoff change n={c['n']:,} p95", "target": f"<= {limits[c['n']]:g} ms",
                        "value": _r(c["p95_ms"], 0), "unit": "ms", "met": c["p95_ms"] <= limits[c["n"]]})
    up = br.get("upload_in_browser")
    if up:
        out.append({"name": f"upload n={up['n']:,} CSV until the Data page shows it loaded", "target": "<= 2 s",
                    "value": _r(up["seconds"], 2), "unit": "s", "met": up["seconds"] <= 2.0})
    for ex in br.get("upload_exports", []):
        out.append({"name": f"upload n={ex['n']:,} {ex['kind']} until the Data page shows it loaded",
                    "target": "<= 2 s", "value": _r(ex["seconds"], 2), "unit": "s", "met": ex["seconds"] <= 2.0})
    fl = br.get("first_load")
    if fl:
        out.append({"name": "browser first load to KM figure (cold cache)", "target": "<= 1500 ms",
                    "value": _r(fl["cold_ms"], 0), "unit": "ms", "met": fl["cold_ms"] <= 1500})
        out.append({"name": "browser first load to KM figure (assets cached)", "target": "<= 1500 ms",
                    "value": _r(fl["warm_p50_ms"], 0), "unit": "ms", "met": fl["warm_p50_ms"] <= 1500})
    return out


def _r(x, k):
    return None if x is None or not math.isfinite(x) else round(float(x), k)


def _f(x, fmt="{:.3g}", none="–"):
    if x is None:
        return none
    if isinstance(x, bool):
        return "yes" if x else "**no**"
    return fmt.format(x)


def _ms(x):
    if x is None:
        return "–"
    return f"{x:.3f}" if x < 10 else f"{x:.1f}" if x < 1000 else f"{x:,.0f}"


def markdown(results: dict) -> str:
    m = results["machine"]
    libs = ", ".join(f"{k} {v}" for k, v in m["libraries"].items() if v)
    lines = [f"# Benchmark results ({results['mode']} run, {results['date']})", "",
             f"Machine: {m['cpu_model']}, {m['cores']} cores, {m['memory_gb']} GB RAM; {m['platform']}; "
             f"Python {m['python']}; {libs}" + (f"; {m['r']}" if m.get("r") else "")
             + (f"; {m['chromium']}" if m.get("chromium") else "") + ".",
             f"Load average at start {m['loadavg_start'][0]:.2f}, at end {m.get('loadavg_end', [math.nan])[0]:.2f}; "
             f"CPU yardstick (sort 1M doubles) {m['calibration_sort_1m_ms_start']:.0f} ms at start, "
             f"{m.get('calibration_sort_1m_ms_end', math.nan):.0f} ms at end.",
             f"Code: commit {results.get('code', {}).get('commit')}"
             + (f" with uncommitted changes in {', '.join(results['code']['modified'])}"
                if results.get("code", {}).get("modified") else " (app files unmodified)") + ".",
             f"Cohorts: {results['cohort']['base']} (n={results['cohort']['base_n']}) resampled with seed "
             f"{results['cohort']['seed']}; endpoint PFS, marker {results['cohort']['marker']}.", ""]
    if results.get("engine"):
        lines += ["## One cutoff update (median ms)", "",
                  "| n | ours | one-off sort | lifelines (naive) | ratio | R survival | ratio vs R | target | met |",
                  "|---:|---:|---:|---:|---:|---:|---:|---|---|"]
        for r in results["engine"]:
            lines.append(f"| {r['n']:,} | {_ms(r['ours_ms'])} | {_ms(r['ours']['sort_ms'])} | "
                         f"{_ms(r['lifelines_ms']) if r['lifelines_ms'] else 'skipped'} | "
                         f"{_f(r['ratio'], '{:,.0f}x')} | {_ms(r['r_ms']) if r['r_ms'] else 'skipped'} | "
                         f"{_f(r['r_ratio'], '{:,.0f}x')} | {r['target'] or '–'} | {_f(r['met'])} |")
        lines.append("")
    if results.get("import"):
        lines += ["## Import and validation", "",
                  "Peak RSS of a bounded load is that of the process that parses (the child); the caller's own "
                  "peak is in the JSON (`parent_peak_rss_mb`).", "",
                  "| rows x columns | how | file MB | seconds | peak RSS MB | RSS after imports MB | target | met |",
                  "|---|---|---:|---:|---:|---:|---|---|"]
        for r in results["import"]:
            lines.append(f"| {r['n']:,} x {r['columns_in_file']} | {r.get('variant', VARIANT_IO)} | "
                         f"{r['file_mb']:.0f} | {r['seconds']:.2f} | {r['peak_rss_mb']:.0f} | "
                         f"{r['rss_after_imports_mb']:.0f} | {r['target']} | {_f(r['met'])} |")
        lines.append("")
    if results.get("fork_cost"):
        lines += ["## What a bounded load adds (median ms)", "",
                  "| file | MB | in process | child forked from the caller | child from the loader server | "
                  "empty round trip: caller / server |", "|---|---:|---:|---:|---:|---|"]
        for r in results["fork_cost"]:
            lines.append(f"| {r['file']} | {r['file_mb']:.1f} | {r['in_process_ms']:.0f} | {r['fork_load_ms']:.0f} | "
                         f"{r['server_load_ms']:.0f} | {r['fork_round_trip_ms']:.1f} / {r['server_round_trip_ms']:.1f} |")
        lines.append("")
    srv = results.get("server")
    if srv and srv.get("rows"):
        lines += [f"## A cutoff change through gunicorn ({srv.get('workers')} workers; POST /_dash-update-component)",
                  "", "Each change is two requests, as the browser sends them: `update_km` (the figure; what the "
                  "curves wait for), then `update_km_table` (the KM card) with the `km-drawn` of its response (the "
                  "browser sends it once the figure is drawn; here at once).", "",
                  "| n | clients | changes | errors | figure p50 ms | figure p95 ms | card p50 ms | card p95 ms | "
                  "requests/s | figure response KB |",
                  "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in srv["rows"]:
            lines.append(f"| {r['n']:,} | {r['clients']} | {r['requests']} | {r['errors']} | {_ms(r['p50_ms'])} | "
                         f"{_ms(r['p95_ms'])} | {_ms(r.get('table_p50_ms'))} | {_ms(r.get('table_p95_ms'))} | "
                         f"{_f(r['throughput_rps'], '{:.1f}')} | "
                         f"{_f((r['response_bytes_median'] or 0) / 1024, '{:.0f}')} |")
        lines.append("")
        if "request_matches_browser" in srv:
            lines.append("Request body built from `/_dash-dependencies` matches the one Chromium sent: "
                         + ("yes" if srv["request_matches_browser"] else f"no ({srv.get('request_mismatch')})"))
        if srv.get("upload_via_callback_s"):
            lines.append("")
            lines.append(f"Upload of the n={srv['upload_n']:,} CSV through the Data page callback: "
                         f"{srv['upload_via_callback_s']:.1f} s.")
        lines.append("")
    br = results.get("browser")
    if br and br.get("cutoff"):
        lines += ["## Survival page in headless Chromium", "",
                  "Cutoff changes: p50 of each part (the parts do not add up to the total p50 exactly).", "",
                  "| what | n | p50 ms | p95 ms | changes | before request | request (network+server) | "
                  "response to afterplot |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for c in br["cutoff"]:
            b = c["breakdown_p50_ms"]
            lines.append(f"| cutoff change -> plotly_afterplot | {c['n']:,} | {c['p50_ms']:.0f} | {c['p95_ms']:.0f} | "
                         f"{c['changes']} | {_f(b['before_request'], '{:.0f}')} | "
                         f"{_f(b['request_network_server'], '{:.0f}')} | {_f(b['response_to_afterplot'], '{:.0f}')} |")
        for c in br["cutoff"]:
            if c.get("redraw_only"):
                rd = c["redraw_only"]
                lines.append(f"| Plotly.react redraw alone ({rd['traces']} traces, {_f(rd['points'], '{:,}')} points) | "
                             f"{c['n']:,} | {rd['p50_ms']:.0f} | {rd['p95_ms']:.0f} | 15 | | | |")
        fl = br.get("first_load")
        if fl:
            lines.append(f"| first load to KM figure, empty cache (median) | 302 | {fl['cold_ms']:.0f} | | "
                         f"{len(fl.get('cold_all_ms', [0]))} | | | |")
            lines.append(f"| first load to KM figure, assets cached | 302 | {fl['warm_p50_ms']:.0f} | | "
                         f"{len(fl['warm_ms'])} | | | |")
        if br.get("first_load_big"):
            lines.append(f"| first load to KM figure, assets cached | {br['first_load_big']['n']:,} | "
                         f"{br['first_load_big']['ms']:.0f} | | 1 | | | |")
        if br.get("upload_in_browser"):
            u = br["upload_in_browser"]
            lines.append(f"| upload on the Data page until loaded | {u['n']:,} | {u['seconds'] * 1000:.0f} | | 1 | | | |")
        for ex in br.get("upload_exports", []):
            lines.append(f"| upload of a {ex['kind']} export until loaded | {ex['n']:,} | {ex['seconds'] * 1000:.0f} | | "
                         f"1 | | | |")
        lines.append("")
    elif br:
        lines += ["## Survival page in headless Chromium", "", f"Not measured: {br.get('skipped') or br.get('error')}",
                  ""]
    if results.get("before_after"):
        from benchmarks.compare import markdown as side_by_side

        lines += side_by_side(results["before_after"])
    if results.get("targets"):
        lines += ["## Targets", "", "| target | goal | measured | met |", "|---|---|---:|---|"]
        for t in results["targets"]:
            value = "–" if t["value"] is None else f"{t['value']:g} {t['unit']}"
            lines.append(f"| {t['name']} | {t['target']} | {value} | {_f(t['met'])} |")
        lines.append("")
    if results.get("notes"):
        lines += ["## Notes", ""] + [f"- {n}" for n in results["notes"]] + [""]
    lines.append(f"Total run time {results.get('elapsed_s', 0):.0f} s.")
    return "\n".join(lines) + "\n"


def _json_safe(obj):
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


def write(results: dict, out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = results["date"].replace(":", "").replace("+0000", "Z").replace("+00:00", "Z")
    text_json = json.dumps(results, indent=1, allow_nan=False)
    names = ("latest", f"{results['mode']}-{stamp}")
    for name in names:                       # the JSON first: a table bug must not lose the measurements
        (out_dir / f"{name}.json").write_text(text_json + "\n")
    text_md = markdown(results)
    for name in names:
        (out_dir / f"{name}.md").write_text(text_md)
    return out_dir / "latest.json", out_dir / "latest.md"


def _ints(text: str) -> list[int]:
    return [int(float(v)) for v in text.split(",") if v.strip()]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="the ~20 s subset (engine at 302, 100k, 1M)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout instead of the table")
    p.add_argument("--out", type=Path, default=RUNS,
                   help="results directory (default benchmarks/runs, not committed; benchmarks/results records)")
    p.add_argument("--parts", type=lambda s: [x for x in s.split(",") if x], default=None,
                   help=f"comma-separated subset of {','.join(ALL_PARTS)}")
    p.add_argument("--sizes", type=_ints, default=None, help="engine cohort sizes, e.g. 302,10000")
    p.add_argument("--lifelines-sizes", type=_ints, default=None)
    p.add_argument("--r-sizes", type=_ints, default=None)
    p.add_argument("--upload-n", type=_ints, default=None,
                   help="rows of the import benchmark, e.g. 1000000,100000 (default 1M; 100k with --quick)")
    p.add_argument("--baseline", "--upload-baseline", type=Path, default=None,
                   help="another checkout (e.g. `git worktree add /tmp/base <commit>`) measured in the same run, "
                        "side by side: its engine, server and importer (the parts asked for)")
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds per side with --baseline")
    p.add_argument("--big-n", type=int, default=100_000, help="cohort size uploaded for server/browser runs")
    p.add_argument("--changes", type=int, default=30, help="cutoff changes per size in the browser")
    p.add_argument("--budget", type=float, default=None, help="seconds of timed updates per engine size")
    args = p.parse_args(argv)
    if args.parts is None:
        args.parts = ["engine"] if args.quick else list(ALL_PARTS)
    unknown = set(args.parts) - set(ALL_PARTS)
    if unknown:
        p.error(f"unknown parts: {', '.join(sorted(unknown))}")
    if args.budget is None:
        args.budget = 1.0 if args.quick else 2.0

    def log(msg: str) -> None:
        print(msg, file=sys.stderr if args.json else sys.stdout, flush=True)

    results = _json_safe(run(args, log))
    json_path, md_path = write(results, args.out)
    if args.json:
        print(json.dumps(results, allow_nan=False))
    else:
        print()
        print(md_path.read_text())
        print(f"written: {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
