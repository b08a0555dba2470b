"""Speed of the deliverables: ``python -m benchmarks.reports [--repeats 3] [--out DIR]``.

For the demo cohort (n = 302) and two views -- the seed paper's (``reports/views/paper_demo.json``: two endpoints,
21 Cox candidates, groupings, Figure 3/4 grids, meta-analysis) and the default view of the file (no view given)
-- each deliverable is made ``repeats`` times in this process from the loaded cohort:

* **end to end**: the results (``reports.results.compute``: every analysis of the view) and the file;
* **file only**: the file from results already computed (the service memoises results per view, so the second
  deliverable of a view costs only this).

Targets (issue 14): deck <= 10 s, manuscript <= 3 s, R bundle <= 1 s, end to end, median of the repeats. The
deck's time includes starting Chromium and rendering every figure (kaleido). Also measured once: the command line
(``python -m reports KIND``) in a fresh interpreter, imports included, as a script would call it. Results go to
``benchmarks/runs/reports-<UTC time>.json`` and ``.md`` with the machine, its load and a CPU yardstick.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import RUNS
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEMO = ROOT / "data" / "demo_cohort.csv"
PAPER_VIEW = ROOT / "reports" / "views" / "paper_demo.json"
TARGETS = {"deck": 10.0, "docx": 3.0, "r": 1.0}
NAMES = {"deck": "deck (.pptx)", "docx": "manuscript (.docx)", "r": "R bundle (.zip)"}


def _views() -> dict:
    return {"paper": json.loads(PAPER_VIEW.read_text(encoding="utf-8")), "default": {}}


def measure(repeats: int, log) -> list[dict]:
    from analysis.io import load_cohort
    from reports import build
    from reports.results import compute, dataset_from_load
    from reports.spec import ReportSpec

    t0 = time.perf_counter()
    cohort = dataset_from_load(load_cohort(DEMO), DEMO.name, synthetic=True)
    load_s = time.perf_counter() - t0
    rows = []
    for view_name, view in _views().items():
        spec = ReportSpec.from_dict(view)
        for kind in ("r", "docx", "deck"):
            total, files, compute_s, size = [], [], [], 0
            for _ in range(repeats):
                t0 = time.perf_counter()
                results = compute(cohort, spec)
                t1 = time.perf_counter()
                data = build(results, kind)
                t2 = time.perf_counter()
                total.append(t2 - t0)
                compute_s.append(t1 - t0)
                files.append(t2 - t1)
                size = len(data)
            row = {"view": view_name, "kind": kind, "n": cohort.frame.shape[0], "repeats": repeats,
                   "end_to_end_s": statistics.median(total), "end_to_end_max_s": max(total),
                   "results_s": statistics.median(compute_s), "file_only_s": statistics.median(files),
                   "bytes": size, "target_s": TARGETS[kind], "end_to_end_all_s": total}
            row["met"] = row["end_to_end_s"] <= TARGETS[kind]
            rows.append(row)
            log(f"  {view_name:8s} {kind:5s} end to end {row['end_to_end_s']:.2f} s (results "
                f"{row['results_s']:.2f} s + file {row['file_only_s']:.2f} s)")
    return rows, load_s


def measure_cli(log) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("r", "docx", "deck"):
            out = Path(tmp) / f"out-{kind}"
            t0 = time.perf_counter()
            p = subprocess.run([sys.executable, "-m", "reports", kind, str(DEMO), "--spec", str(PAPER_VIEW), "-o",
                                str(out)], cwd=ROOT, capture_output=True, text=True, timeout=600,
                               env={**os.environ, "PYTHONPATH": str(ROOT)})
            seconds = time.perf_counter() - t0
            rows.append({"kind": kind, "seconds": seconds, "ok": p.returncode == 0})
            log(f"  command line {kind:5s} {seconds:.2f} s")
    return rows


def markdown(res: dict) -> str:
    m = res["machine"]
    lines = [f"# Report generation (demo cohort, n = 302), {res['date']}", "",
             f"Machine: {m['cpu_model']}, {m['cores']} cores, {m['memory_gb']} GB RAM; {m['platform']}; Python "
             f"{m['python']}; {m.get('chromium') or 'no Chromium'}; python-pptx {res['versions']['python-pptx']}, "
             f"python-docx {res['versions']['python-docx']}, kaleido {res['versions']['kaleido']}.",
             f"Load average at start {m['loadavg_start'][0]:.2f}, at end {res['loadavg_end'][0]:.2f}; CPU yardstick "
             f"(sort 1M doubles) {m['calibration_sort_1m_ms_start']:.0f} ms at start, "
             f"{res['calibration_sort_1m_ms_end']:.0f} ms at end.",
             f"Code: commit {res['code']['commit']}" + (f" (modified: {', '.join(res['code']['modified'])})"
                                                       if res['code']['modified'] else " (app files unmodified)") + ".",
             f"Reading the CSV (load_cohort): {res['load_s']:.2f} s (not in the times below).", "",
             "| view | deliverable | end to end s (median) | first s | max s | of which results s | file only s | "
             "size KB | target | met |", "|---|---|---:|---:|---:|---:|---:|---:|---|---|"]
    for r in res["rows"]:
        lines.append(f"| {r['view']} | {NAMES[r['kind']]} | {r['end_to_end_s']:.2f} | {r['end_to_end_all_s'][0]:.2f} | "
                     f"{r['end_to_end_max_s']:.2f} | "
                     f"{r['results_s']:.2f} | {r['file_only_s']:.2f} | {r['bytes'] / 1024:.0f} | <= "
                     f"{r['target_s']:g} s | {'yes' if r['met'] else '**no**'} |")
    if res.get("cli"):
        lines += ["", "Command line, fresh interpreter (imports included), paper view: " + "; ".join(
            f"{NAMES[c['kind']]} {c['seconds']:.1f} s" + ("" if c["ok"] else " (failed)") for c in res["cli"]) + "."]
    lines += ["", "First = the first repeat of the row: the first deliverable of a kind in a process also imports what "
              "it needs (analysis.meta, python-docx, python-pptx, kaleido).",
              "", "End to end = every analysis of the view (reports.results.compute) + writing the file; the deck "
              "includes starting Chromium and rendering every figure with kaleido (one tab). File only = the file "
              "from results computed before (reports.jobs memoises a view's results with the dataset)."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    from benchmarks.run import _version, calibration_ms, code_state, machine_info

    p = argparse.ArgumentParser(prog="python -m benchmarks.reports", description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", type=Path, default=RUNS,
                        help="results directory (default benchmarks/runs, not committed; benchmarks/results records)")
    p.add_argument("--no-cli", action="store_true", help="skip the command-line timings")
    args = p.parse_args(argv)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    res = {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "machine": machine_info(),
           "code": code_state(), "versions": {k: _version(k) for k in ("python-pptx", "python-docx", "kaleido")}}
    res["rows"], res["load_s"] = measure(args.repeats, log)
    res["cli"] = [] if args.no_cli else measure_cli(log)
    res["loadavg_end"] = list(os.getloadavg())
    res["calibration_sort_1m_ms_end"] = calibration_ms()
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = res["date"].replace(":", "").replace("-", "")[:15] + "Z"
    (args.out / f"reports-{stamp}.json").write_text(json.dumps(res, indent=1))
    md = markdown(res)
    (args.out / f"reports-{stamp}.md").write_text(md)
    print(md)
    return 0 if all(r["met"] for r in res["rows"]) else 1


if __name__ == "__main__":
    sys.exit(main())
