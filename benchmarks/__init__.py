"""Speed measurements (docs/performance.md). A run writes to :data:`RUNS` (not committed) unless told
``--out`` -- ``--out benchmarks/results`` records it beside the committed results (:data:`RESULTS`)."""
from pathlib import Path

#: the committed results that docs/performance.md cites; written only when a run is asked to (--out)
RESULTS = Path(__file__).resolve().parent / "results"
#: where every benchmark writes by default (ignored by git): no run overwrites a committed result unasked
RUNS = Path(__file__).resolve().parent / "runs"
