"""Before and after, side by side in one run: this checkout against another (``--baseline DIR`` of
``python -m benchmarks.run``, e.g. ``git worktree add /tmp/base <commit>``).

* **engine**: one cutoff update (:func:`benchmarks.engine.time_ours`) measured in a fresh interpreter per
  checkout -- each checkout's own harness times its own engine on the same seeded cohort -- in alternating
  rounds (before, after, before, after, ...), so that a busy moment of the host does not fall on one side only;
* **server**: the cutoff callback through gunicorn (:func:`benchmarks.server.run_server`), one server per
  checkout, in alternating rounds;
* **import**: :func:`benchmarks.upload.run_upload` has its own ``baseline_root``.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

ENGINE_CHILD = r"""
import json, sys
from benchmarks import engine
from benchmarks.cohorts import CORE, scaled_cohort
n, budget = int(sys.argv[1]), float(sys.argv[2])
df = scaled_cohort(n, columns=CORE)
cuts = engine.cutoffs_for(df[engine.MARKER].to_numpy(dtype=float))
print(json.dumps(engine.time_ours(df, cuts, engine.ticks(), budget_s=budget)))
"""


def sides(baseline: Path) -> list[tuple[str, Path]]:
    return [("before", Path(baseline).resolve()), ("after", ROOT)]


def engine_side_by_side(baseline: Path, sizes: list[int], rounds: int = 3, budget_s: float = 1.0,
                        log=print) -> list[dict]:
    """Per size and round, the median ms of one cutoff update before and after (each in its own interpreter)."""
    rows = []
    for n in sizes:
        for k in range(rounds):
            for when, root in sides(baseline):
                proc = subprocess.run([sys.executable, "-c", ENGINE_CHILD, str(n), str(budget_s)], cwd=root,
                                      capture_output=True, text=True, timeout=900,
                                      env=dict(os.environ, PYTHONPATH=str(root)))
                if proc.returncode != 0:
                    raise RuntimeError(f"engine run in {root} failed: " + proc.stderr[-2000:])
                out = json.loads(proc.stdout.strip().splitlines()[-1])
                rows.append({"n": n, "round": k + 1, "when": when, "root": str(root), **out})
                log(f"  engine n={n:>9,} round {k + 1} {when}: {out['median_ms']:.3f} ms "
                    f"(sort {out['sort_ms']:.1f} ms, {out['updates']} updates)")
    return rows


def server_side_by_side(baseline: Path, cutoffs_by_n: dict[int, list[float]], big_csv: Path | None,
                        rounds: int = 2, log=print) -> list[dict]:
    """:func:`benchmarks.server.run_server` (quick) against a gunicorn of each checkout, alternating."""
    from benchmarks.server import run_server

    rows = []
    for k in range(rounds):
        for when, root in sides(baseline):
            log(f"  server round {k + 1} {when} ({root})")
            out = run_server(cutoffs_by_n, True, big_csv=big_csv, log=log, root=root)
            for r in out["rows"]:
                rows.append({"round": k + 1, "when": when, "root": str(root), **r})
    return rows


def _median(values: list[float]) -> float | None:
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def markdown(result: dict) -> list[str]:
    """The before/after tables: every round, then the median over the rounds."""
    lines = [f"## Before and after, side by side (baseline: {result['baseline']})", ""]
    engine = result.get("engine") or []
    if engine:
        lines += ["One cutoff update, median ms per round (each round: a fresh interpreter per checkout, before "
                  "first).", "", "| n | before, per round | after, per round | before (median) | after (median) |",
                  "|---:|---|---|---:|---:|"]
        for n in dict.fromkeys(r["n"] for r in engine):
            b = [r["median_ms"] for r in engine if r["n"] == n and r["when"] == "before"]
            a = [r["median_ms"] for r in engine if r["n"] == n and r["when"] == "after"]
            lines.append(f"| {n:,} | {', '.join(f'{x:.3f}' for x in b)} | {', '.join(f'{x:.3f}' for x in a)} | "
                         f"{_median(b):.3f} | {_median(a):.3f} |")
        lines.append("")
    server = result.get("server") or []
    if server:
        lines += ["The cutoff callback through gunicorn (figure request, then the card request), p50 / p95 ms per "
                  "round.", "", "| n | clients | before: figure p50 / p95 | after: figure p50 / p95 | "
                  "before: card p50 / p95 | after: card p50 / p95 |", "|---:|---:|---|---|---|---|"]
        for n, clients in dict.fromkeys((r["n"], r["clients"]) for r in server):
            cells = []
            for key in ("p", "table_p"):
                for when in ("before", "after"):
                    rs = [r for r in server if r["n"] == n and r["clients"] == clients and r["when"] == when]
                    cells.append("; ".join(f"{r[key + '50_ms']:.1f} / {r[key + '95_ms']:.1f}" for r in rs
                                           if r.get(key + "50_ms") is not None) or "–")
            lines.append(f"| {n:,} | {clients} | {cells[0]} | {cells[1]} | {cells[2]} | {cells[3]} |")
        lines.append("")
    return lines
