"""Adversarial uploads: generators of files that attack the importer, and a run that reports what they cost.

``python -m benchmarks.adversarial`` (the long run, ~15 minutes): every generator at sizes up to the upload
byte limit (64 MB), through the bounded loader directly (time and the reading child's peak memory, for the web
path's limits and for the command line's), through ``python -m analysis validate`` (one JSON object and the
exit code) and through the Data page's upload callback of a real gunicorn server with 3 workers (HTTP status,
answer time, worker deaths). Results go to ``benchmarks/runs/adversarial-<UTC time>.json`` and ``.md``.
``tests/test_adversarial.py`` runs the same generators at CI size (about a minute).
The generators and the paths they go through are in ``tests/support/adversarial.py``.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from pathlib import Path

from benchmarks import RUNS
from tests.support.adversarial import cases, through_cli, through_http, through_loader

ROOT = Path(__file__).resolve().parents[1]


def summarise(rows: list[dict], key: str = "seconds") -> dict:
    times = [r[key] for r in rows if r.get(key) is not None]
    peaks = [r["peak_mb"] for r in rows if r.get("peak_mb") is not None]
    worst = max(rows, key=lambda r: r.get(key) or 0) if rows else {}
    return {"cases": len(rows), "worst_seconds": max(times, default=None),
            "worst_seconds_case": f"{worst.get('generator')} ({worst.get('size')} bytes)" if worst else None,
            "worst_peak_mb": max(peaks, default=None)}


# --- the long run ----------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="the long adversarial run (not for CI)")
    parser.add_argument("--per-generator", type=int, default=6)
    parser.add_argument("--sizes", default="1000,100000,4000000,20000000,64000000",
                        help="file sizes in bytes, used in turn")
    parser.add_argument("--http-per-generator", type=int, default=6)
    parser.add_argument("--cli-per-generator", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RUNS,
                        help="results directory (default benchmarks/runs, not committed; benchmarks/results records)")
    args = parser.parse_args(argv)
    from analysis import bounded
    from benchmarks.run import machine_info
    from tests.support.server import AppServer

    started = dt.datetime.now(dt.timezone.utc)
    sizes = tuple(int(s) for s in args.sizes.split(","))
    log = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731
    report: dict = {"started_utc": started.isoformat(timespec="seconds"), "machine": machine_info(),
                    "sizes": sizes, "loader": {}, "cli": [], "http": {}}
    bounded.start()
    loader_rows = []
    for name, size, raw in cases(args.per_generator, sizes):
        for web in (True, False):
            row = {"generator": name, "size": len(raw), "path": "web" if web else "cli", **through_loader(raw, web)}
            loader_rows.append(row)
        log(f"  loader {name:18s} {len(raw):>10,} B  web {loader_rows[-2]['answer']:8s} "
            f"{loader_rows[-2]['seconds']:6.2f} s {loader_rows[-2]['peak_mb']} MB | cli {loader_rows[-1]['answer']:8s} "
            f"{loader_rows[-1]['seconds']:6.2f} s {loader_rows[-1]['peak_mb']} MB")
    report["loader"] = {"rows": loader_rows, "web": summarise([r for r in loader_rows if r["path"] == "web"]),
                        "cli": summarise([r for r in loader_rows if r["path"] == "cli"]),
                        "answers": _count(r["answer"] for r in loader_rows)}
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"haic-adversarial-{os.getpid()}"
    tmp.mkdir(exist_ok=True)
    for name, size, raw in cases(args.cli_per_generator, sizes, seed=14):
        path = tmp / f"{name}.csv"
        path.write_bytes(raw)
        row = {"generator": name, "size": len(raw), **through_cli(path)}
        report["cli"].append(row)
        log(f"  cli    {name:18s} {len(raw):>10,} B  exit {row['exit']} {row['seconds']:6.2f} s "
            f"{row['peak_mb']} MB one JSON {row['one_json']}")
        path.unlink()
    tmp.rmdir()
    report["cli_summary"] = summarise(report["cli"])
    report["cli_summary"]["all_exit_0_or_2_one_json"] = all(
        r["exit"] in (0, 2) and r["one_json"] and not r["traceback"] and not r["internal_error"] for r in report["cli"])
    with AppServer(env={"HAIC_WORKERS": "3", "HAIC_SECRET_KEY": os.urandom(24).hex()}) as server:
        http = through_http(server, cases(args.http_per_generator, sizes, seed=15), log)
    http["summary"] = summarise(http["rows"])
    http["summary"]["all_answered"] = all(r["answered"] for r in http["rows"])
    report["http"] = http
    report["finished_utc"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    stem = f"adversarial-{started.strftime('%Y-%m-%dT%H%M%SZ')}"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{stem}.json").write_text(json.dumps(report, indent=1, default=str) + "\n")
    (args.out / f"{stem}.md").write_text(markdown(report))
    print(markdown(report))
    return 0 if http["worker_deaths"] == 0 and http["summary"]["all_answered"] else 1


def _count(values) -> dict:
    out: dict = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return out


def markdown(report: dict) -> str:
    m = report["machine"]
    lw, lc, cli, http = report["loader"]["web"], report["loader"]["cli"], report["cli_summary"], report["http"]
    lines = [
        f"# Adversarial uploads, {report['started_utc']}",
        "",
        f"Machine: {m['cpu_model']}, {m['cores']} cores, {m['memory_gb']} GB; Python {m['python']}; load average "
        f"at start {m['loadavg_start'][0]:.2f}. Sizes used in turn: {', '.join(f'{s:,}' for s in report['sizes'])} "
        "bytes. Generators: `tests/support/adversarial.py`.",
        "",
        "| path | cases | worst time s | worst case | worst child peak RSS MB | other |",
        "|---|---:|---:|---|---:|---|",
        f"| bounded loader, web limits | {lw['cases']} | {lw['worst_seconds']} | {lw['worst_seconds_case']} | "
        f"{lw['worst_peak_mb']} | answers: {report['loader']['answers']} (both paths) |",
        f"| bounded loader, command line (no limits) | {lc['cases']} | {lc['worst_seconds']} | "
        f"{lc['worst_seconds_case']} | {lc['worst_peak_mb']} | |",
        f"| `python -m analysis validate` | {cli['cases']} | {cli['worst_seconds']} | {cli['worst_seconds_case']} | "
        f"{cli['worst_peak_mb']} (command + child) | exit 0/2 with one JSON object every time: "
        f"{cli['all_exit_0_or_2_one_json']} |",
        f"| HTTP upload, gunicorn 3 workers | {http['summary']['cases']} | {http['summary']['worst_seconds']} | "
        f"{http['summary']['worst_seconds_case']} | workers {http['worst_worker_rss_mb']} | **worker deaths "
        f"{http['worker_deaths']}**, all answered {http['summary']['all_answered']}, previous dataset usable "
        f"{http['previous_dataset_usable']}, WORKER TIMEOUT lines {http['timeouts_in_log']} |",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
