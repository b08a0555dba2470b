"""Import and validate a big cohort CSV through ``analysis.io.load_cohort``: wall time and peak memory.

Each measurement runs in a fresh Python subprocess so that its peak resident set size belongs to this import
alone: ``VmHWM`` of ``/proc/self/status`` (the high-water mark of this process image; ``ru_maxrss`` is not used
because Linux carries it over from the parent across fork + exec, and the parent may have built big frames).
Elsewhere ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` is the fallback. The peak after the imports and before
reading is reported too, so the import's own share is visible. The file is read from disk without upload
limits, as ``python -m analysis`` does (the web upload route applies ``Limits.from_env()``, by default at most
200,000 rows and 64 MB, so a 1M-row file is refused there before parsing).
"""
from __future__ import annotations

import json
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
from analysis.io import load_cohort
base = hwm_kb()
t0 = time.perf_counter()
result = load_cohort(sys.argv[1])
seconds = time.perf_counter() - t0
peak = hwm_kb()
rows, cols = (result.data.shape if result.data is not None else (None, None))
print(json.dumps({"seconds": seconds, "peak_rss_mb": peak / 1024, "rss_after_imports_mb": base / 1024,
                  "ok": bool(result.ok), "rows": rows, "columns": cols,
                  "errors": len(result.report.errors), "warnings": len(result.report.warnings)}))
"""


def measure_import(path: Path, timeout_s: float = 300) -> dict:
    proc = subprocess.run([sys.executable, "-c", CHILD, str(path)], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout_s)
    if proc.returncode != 0:
        raise RuntimeError("import subprocess failed: " + proc.stderr[-2000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_upload(n: int, columns: int = 30, log=print) -> dict:
    t0 = time.perf_counter()
    path = upload_csv(n, columns)
    prep = time.perf_counter() - t0
    out = measure_import(path)
    out.update({"n": n, "columns_in_file": columns, "file_mb": path.stat().st_size / 2**20,
                "csv_prepare_s": prep, "target": f"<= {TARGET_S:g} s and <= {TARGET_GB:g} GB peak RSS"})
    out["met"] = bool(out["ok"] and out["seconds"] <= TARGET_S and out["peak_rss_mb"] <= TARGET_GB * 1024)
    log(f"  import n={n:,} x {columns} ({out['file_mb']:.0f} MB): {out['seconds']:.2f} s, "
        f"peak RSS {out['peak_rss_mb']:.0f} MB (after imports {out['rss_after_imports_mb']:.0f} MB), ok={out['ok']}")
    return out
