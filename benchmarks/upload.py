"""Import and validate a big cohort CSV through ``analysis.io.load_cohort``: wall time and peak memory; the same
through ``analysis.bounded.load_cohort`` (a child process with memory and time limits, as ``python -m analysis``
reads files), and optionally through another checkout's importer (``baseline_root``: before and after, side by
side in one run); and what a bounded load costs beyond the load itself (:func:`fork_cost`).

Each measurement runs in a fresh Python subprocess so that its peak resident set size belongs to this import
alone: ``VmHWM`` of ``/proc/self/status`` (the high-water mark of this process image; ``ru_maxrss`` is not used
because Linux carries it over from the parent across fork + exec, and the parent may have built big frames).
Elsewhere ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` is the fallback. The peak after the imports and before
reading is reported too, so the import's own share is visible. The file is read from disk without upload
limits, as ``python -m analysis`` does (the web upload route applies ``services.config.upload_limits()``, by
default at most 200,000 rows and 64 MB, so a 1M-row file is refused there before parsing).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.cohorts import upload_csv

ROOT = Path(__file__).resolve().parents[1]
TARGET_S, TARGET_GB = 10.0, 2.0

CHILD = r"""
import json, resource, sys, time
def hwm_kb():
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
via = sys.argv[2]
if via == "bounded":
    from analysis import bounded
    from analysis.io import load_cohort as in_process
    load = lambda path: bounded.load_cohort(path)
else:
    from analysis.io import load_cohort as load
base = hwm_kb()
t0 = time.perf_counter()
result = load(sys.argv[1])
seconds = time.perf_counter() - t0
peak = hwm_kb()
child = bounded._last.peak_mb if via == "bounded" else None
rows, cols = (result.data.shape if result.data is not None else (None, None))
print(json.dumps({"seconds": seconds, "peak_rss_mb": peak / 1024, "rss_after_imports_mb": base / 1024,
                  "child_peak_growth_mb": child, "ok": bool(result.ok), "rows": rows, "columns": cols,
                  "errors": len(result.report.errors), "warnings": len(result.report.warnings)}))
"""

VARIANTS = {"io": "analysis.io.load_cohort (in process)",
            "bounded": "analysis.bounded.load_cohort (child process, as the CLI)"}


def measure_import(path: Path, timeout_s: float = 300, root: Path = ROOT, via: str = "io") -> dict:
    """One import in a fresh interpreter whose working directory is ``root`` (this checkout or another)."""
    env = dict(os.environ, PYTHONPATH=str(root))
    proc = subprocess.run([sys.executable, "-c", CHILD, str(path), via], cwd=root, capture_output=True, text=True,
                          timeout=timeout_s, env=env)
    if proc.returncode != 0:
        raise RuntimeError("import subprocess failed: " + proc.stderr[-2000:])
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    if out["child_peak_growth_mb"] is not None:
        # the child starts as a copy of this process (imports done): its peak is that plus what it grew by
        out["child_peak_rss_mb"] = out["rss_after_imports_mb"] + out["child_peak_growth_mb"]
        out["parent_peak_rss_mb"] = out["peak_rss_mb"]
        out["peak_rss_mb"] = max(out["peak_rss_mb"], out["child_peak_rss_mb"])
    return out


def run_upload(n: int, columns: int = 30, log=print, baseline_root: Path | None = None) -> list[dict]:
    """The import of an n x columns file: through this checkout's importer in process and bounded, and through
    ``baseline_root``'s the same two ways when given (before and after alternate, so that a busy moment of the
    host does not fall on one variant only)."""
    t0 = time.perf_counter()
    path = upload_csv(n, columns)
    prep = time.perf_counter() - t0
    after = [("after", ROOT, "io"), ("after", ROOT, "bounded")]
    variants = after if not baseline_root else [("before", baseline_root, "io"), after[0],
                                                ("before", baseline_root, "bounded"), after[1]]
    rows = []
    for when, root, via in variants:
        out = measure_import(path, root=root, via=via)
        label = VARIANTS[via] + (f", {when}: {Path(root).name}" if baseline_root else "")
        out.update({"n": n, "columns_in_file": columns, "file_mb": path.stat().st_size / 2**20,
                    "csv_prepare_s": prep, "variant": label, "via": via, "when": when,
                    "target": f"<= {TARGET_S:g} s and <= {TARGET_GB:g} GB peak RSS"})
        out["met"] = bool(out["ok"] and out["seconds"] <= TARGET_S and out["peak_rss_mb"] <= TARGET_GB * 1024)
        log(f"  import n={n:,} x {columns} ({out['file_mb']:.0f} MB), {label}: {out['seconds']:.2f} s, "
            f"peak RSS {out['peak_rss_mb']:.0f} MB (after imports {out['rss_after_imports_mb']:.0f} MB), "
            f"ok={out['ok']}")
        rows.append(out)
    return rows


FORK_CHILD = r"""
import json, statistics, sys, time
from pathlib import Path
from analysis import bounded
from analysis.io import Limits, load_cohort
raw = Path(sys.argv[1]).read_bytes()
repeats = int(sys.argv[2])
def median_ms(f):
    xs = []
    for _ in range(repeats):
        t0 = time.perf_counter(); f(); xs.append((time.perf_counter() - t0) * 1000)
    return statistics.median(xs)
out = {"in_process_ms": median_ms(lambda: load_cohort(raw, limits=Limits()))}
out["fork_round_trip_ms"] = median_ms(lambda: bounded.run(len, b""))
out["fork_load_ms"] = median_ms(lambda: bounded.load_cohort(raw, limits=Limits()))
bounded.start()
out["server_round_trip_ms"] = median_ms(lambda: bounded.run(len, b""))
out["server_load_ms"] = median_ms(lambda: bounded.load_cohort(raw, limits=Limits()))
bounded.stop()
print(json.dumps(out))
"""


def fork_cost(path: Path, repeats: int = 15) -> dict:
    """What a bounded load adds to the load itself, median ms: an empty round trip (fork, request, answer) from
    this process and from the loader server, and the load of ``path`` in process and in both kinds of child."""
    proc = subprocess.run([sys.executable, "-c", FORK_CHILD, str(path), str(repeats)], cwd=ROOT, capture_output=True,
                          text=True, timeout=600, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    if proc.returncode != 0:
        raise RuntimeError("fork-cost subprocess failed: " + proc.stderr[-2000:])
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out.update({"file": path.name, "file_mb": path.stat().st_size / 2**20, "repeats": repeats})
    return out
