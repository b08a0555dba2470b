"""One cutoff update, timed: our hot path vs naive lifelines vs R ``survival``.

One *cutoff update* is what the survival page needs when the slider moves: re-split the cohort at the cutoff,
Kaplan-Meier per group with 95% CIs and numbers at risk at the axis ticks, log-rank test, two-group Cox HR.

* ours: ``CutoffSplitter(df, time, event, marker)`` built once (its sort is timed separately, ``sort_ms``),
  then ``splitter.split(cutoff, ci="log-log", at=ticks)`` per update;
* naive lifelines: ``KaplanMeierFitter`` per group (survival, CI and at-risk at the ticks), ``logrank_test``
  and ``CoxPHFitter`` (Efron) on (time, event, group), all from scratch per update;
* R: ``survfit`` + ``summary(fit, times=ticks)`` + ``survdiff`` + ``coxph(ties="efron")`` per update, timed
  inside R (``benchmarks/r_engine.R``), when ``Rscript`` with ``survival`` is installed.

Cutoffs vary over the updates: quantiles 0.1 ... 0.9 of the marker, cycled. The reported figure is the median
milliseconds per update; min and p95 are kept too.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.cohorts import CORE, scaled_cohort

HERE = Path(__file__).resolve().parent
ENDPOINT = ("pfs_months", "pfs_event")
MARKER = "ast"
#: targets (ms per update) on the reference 2-core machine, and the minimum speed-up over naive lifelines
TARGET_MS = {302: 1.0, 100_000: 15.0, 1_000_000: 150.0}
TARGET_RATIO_MIN_N, TARGET_RATIO = 100_000, 300.0


def ticks() -> tuple[float, ...]:
    """The survival page's axis ticks and landmark times on the demo cohort's PFS (what it asks the engine for:
    services.survival_view.km_times for a 46-month follow-up)."""
    from analysis.survival import PAPER_LANDMARKS, time_axis

    return tuple(sorted(set(time_axis(45.8)) | set(PAPER_LANDMARKS["pfs"])))


def cutoffs_for(marker: np.ndarray, k: int = 9) -> list[float]:
    """``k`` cutoffs at the marker's quantiles 0.1 ... 0.9 (both groups non-empty)."""
    finite = marker[np.isfinite(marker)]
    return [float(q) for q in np.quantile(finite, np.linspace(0.1, 0.9, k))]


def _summary(samples_ms: list[float]) -> dict:
    arr = np.asarray(samples_ms, dtype=float)
    return {"median_ms": float(np.median(arr)), "min_ms": float(arr.min()),
            "p95_ms": float(np.percentile(arr, 95)), "updates": int(arr.size)}


def _repeats(per_update_ms: float, budget_s: float, lo: int, hi: int) -> int:
    return int(max(lo, min(hi, budget_s * 1000 / max(per_update_ms, 1e-3))))


# --- ours ---------------------------------------------------------------------------------------------------

def time_ours(df: pd.DataFrame, cuts: list[float], at: tuple[float, ...], budget_s: float = 2.0,
              max_updates: int = 400) -> dict:
    from analysis.cutoff_split import CutoffSplitter

    time_col, event_col = ENDPOINT
    t0 = time.perf_counter()
    splitter = CutoffSplitter(df, time_col, event_col, MARKER)
    sort_ms = (time.perf_counter() - t0) * 1000
    t0 = time.perf_counter()
    splitter.split(cuts[0], ci="log-log", at=at)       # warm-up (imports, caches)
    first = (time.perf_counter() - t0) * 1000
    reps = _repeats(first, budget_s, 9, max_updates)
    samples = []
    for i in range(reps):
        c = cuts[i % len(cuts)]
        t0 = time.perf_counter()
        splitter.split(c, ci="log-log", at=at)
        samples.append((time.perf_counter() - t0) * 1000)
    out = _summary(samples)
    out["sort_ms"] = sort_ms
    out["distinct_times"] = int(splitter.times.size)
    return out


def ours_result(df: pd.DataFrame, cutoff: float, at) -> dict:
    from analysis.cutoff_split import CutoffSplitter

    res = CutoffSplitter(df, *ENDPOINT, MARKER).split(cutoff, ci="log-log", at=at)
    return {"p": res.logrank.p, "hr": res.hr.result.hr,
            "surv_at": [[row["surv"] for row in g.km.at] for g in res.groups],
            "at_risk": [[row["at_risk"] for row in g.km.at] for g in res.groups]}


# --- naive lifelines ----------------------------------------------------------------------------------------

def lifelines_update(t: np.ndarray, e: np.ndarray, x: np.ndarray, cutoff: float, at) -> dict:
    """Everything the page shows for one cutoff, from scratch with lifelines (the naive way)."""
    from lifelines import CoxPHFitter, KaplanMeierFitter
    from lifelines.statistics import logrank_test

    high = x > cutoff
    at = np.asarray(at, dtype=float)
    groups = []
    for g in (~high, high):
        kmf = KaplanMeierFitter().fit(t[g], e[g])     # lifelines' default CI is the log(-log) transform
        surv = kmf.survival_function_at_times(at).to_numpy()
        ci = kmf.confidence_interval_survival_function_
        idx = np.searchsorted(ci.index.to_numpy(), at, side="right") - 1
        lo_hi = ci.to_numpy()[np.clip(idx, 0, None)]
        at_risk = [int((t[g] >= a).sum()) for a in at]
        groups.append((surv, lo_hi, at_risk, kmf.median_survival_time_))
    lr = logrank_test(t[~high], t[high], e[~high], e[high])
    frame = pd.DataFrame({"t": t, "e": e, "g": high.astype(float)})
    cph = CoxPHFitter().fit(frame, "t", "e")
    hr = float(np.exp(cph.params_["g"]))
    ci_hr = np.exp(cph.confidence_intervals_.to_numpy()[0])
    return {"p": float(lr.p_value), "hr": hr, "hr_ci": ci_hr.tolist(),
            "surv_at": [g[0].tolist() for g in groups], "at_risk": [g[2] for g in groups]}


def complete_arrays(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Time, event and marker of the patients with all three finite (what every engine is given)."""
    t = df[ENDPOINT[0]].to_numpy(dtype=float)
    e = df[ENDPOINT[1]].to_numpy(dtype=float)
    x = df[MARKER].to_numpy(dtype=float)
    keep = np.isfinite(t) & np.isfinite(e) & np.isfinite(x)
    return t[keep], e[keep], x[keep]


def time_lifelines(df: pd.DataFrame, cuts: list[float], at, budget_s: float = 4.0, max_updates: int = 25,
                   min_updates: int = 3) -> dict:
    """Median of ``min_updates`` ... ``max_updates`` naive updates, as many as fit in ``budget_s``."""
    t, e, x = complete_arrays(df)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        w = slice(0, min(500, t.size))                  # warm-up on a small slice: imports and first calls
        lifelines_update(t[w], e[w], x[w], float(np.median(x[w])), at)
        samples: list[float] = []
        i = 0
        while True:
            c = cuts[(i + 1) % len(cuts)]
            t0 = time.perf_counter()
            lifelines_update(t, e, x, c, at)
            samples.append((time.perf_counter() - t0) * 1000)
            i += 1
            if i >= _repeats(samples[0], budget_s, min_updates, max_updates):
                break
    return _summary(samples)


# --- R survival ---------------------------------------------------------------------------------------------

def r_available() -> tuple[bool, str]:
    rscript = shutil.which("Rscript")
    if not rscript:
        return False, "Rscript not installed"
    try:
        probe = subprocess.run([rscript, "-e", "cat(requireNamespace('survival', quietly=TRUE) && "
                                               "requireNamespace('jsonlite', quietly=TRUE))"],
                               capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"Rscript failed to start ({type(exc).__name__})"
    if probe.stdout.strip() != "TRUE":
        return False, "R packages survival and jsonlite not both installed"
    return True, ""


def time_r(df: pd.DataFrame, cuts: list[float], at, budget_s: float = 4.0, max_updates: int = 25,
           timeout_s: float = 300) -> dict:
    """Run ``r_engine.R`` on the frame (passed as raw float64 vectors); returns its JSON plus R's version."""
    t, e, x = complete_arrays(df)
    with tempfile.TemporaryDirectory(prefix="haic-bench-r-") as tmp:
        data = Path(tmp) / "cohort.f64"
        np.concatenate([t, e, x]).astype("<f8").tofile(data)
        spec = {"data": str(data), "n": int(t.size), "cutoffs": cuts, "times": list(map(float, at)),
                "budget_s": budget_s, "max_updates": max_updates}
        spec_path = Path(tmp) / "spec.json"
        spec_path.write_text(json.dumps(spec))
        proc = subprocess.run(["Rscript", str(HERE / "r_engine.R"), str(spec_path)], capture_output=True,
                              text=True, timeout=timeout_s)
    if proc.returncode != 0:
        raise RuntimeError("r_engine.R failed: " + proc.stderr[-2000:])
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    samples = out.pop("samples_ms")
    out.update(_summary(samples))
    return out


# --- side by side -------------------------------------------------------------------------------------------

def agreement(df: pd.DataFrame, cutoff: float, at) -> dict:
    """Max relative difference between ours and lifelines at one cutoff (a check that both do the same work)."""
    t, e, x = complete_arrays(df)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = lifelines_update(t, e, x, cutoff, at)
    ours = ours_result(df, cutoff, at)

    def rel(a, b):
        a, b = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
        ok = np.isfinite(a) & np.isfinite(b)
        return float(np.max(np.abs(a[ok] - b[ok]) / np.maximum(np.abs(b[ok]), 1e-300))) if ok.any() else 0.0

    return {"hr_rel": rel(ours["hr"], theirs["hr"]), "logrank_p_rel": rel(ours["p"], theirs["p"]),
            "surv_rel": rel(ours["surv_at"], theirs["surv_at"]),
            "at_risk_equal": ours["at_risk"] == theirs["at_risk"]}


def target_check(n: int, ours_ms: float, ratio: float | None) -> tuple[str | None, bool | None]:
    """The target text and whether it is met (``None``: no target at this size)."""
    parts, met = [], True
    if n in TARGET_MS:
        parts.append(f"<= {TARGET_MS[n]:g} ms")
        met &= ours_ms <= TARGET_MS[n]
    if n >= TARGET_RATIO_MIN_N and ratio is not None:
        parts.append(f">= {TARGET_RATIO:g}x lifelines")
        met &= ratio >= TARGET_RATIO
    if not parts:
        return None, None
    return "; ".join(parts), bool(met)


def run_engine(sizes: list[int], lifelines_sizes: set[int], r_sizes: set[int], budget_s: float = 2.0,
               log=print, lifelines_min_updates: int = 3) -> tuple[list[dict], dict]:
    """Benchmark every size; returns (rows, notes)."""
    at = ticks()
    rows, notes = [], {}
    have_r, why_not = r_available() if r_sizes else (False, "not requested")
    if r_sizes and not have_r:
        notes["r"] = f"R baseline skipped: {why_not}"
    for n in sizes:
        t0 = time.perf_counter()
        df = scaled_cohort(n, columns=CORE)
        gen_s = time.perf_counter() - t0
        cuts = cutoffs_for(df[MARKER].to_numpy(dtype=float))
        ours = time_ours(df, cuts, at, budget_s=budget_s)
        row = {"n": n, "ours_ms": ours["median_ms"], "lifelines_ms": None, "ratio": None, "r_ms": None,
               "r_ratio": None, "ours": ours, "events": int(df[ENDPOINT[1]].sum()), "generate_s": gen_s}
        if n in lifelines_sizes:
            lf = time_lifelines(df, cuts, at, budget_s=2 * budget_s, min_updates=lifelines_min_updates)
            row["lifelines"] = lf
            row["lifelines_ms"] = lf["median_ms"]
            row["ratio"] = lf["median_ms"] / ours["median_ms"]
            row["agreement"] = agreement(df, cuts[len(cuts) // 2], at)
        else:
            row["lifelines_note"] = "skipped: too slow for the time budget"
        if n in r_sizes and have_r:
            try:
                r = time_r(df, cuts, at, budget_s=2 * budget_s)
                row["r"] = r
                row["r_ms"] = r["median_ms"]
                row["r_ratio"] = r["median_ms"] / ours["median_ms"]
            except (RuntimeError, subprocess.TimeoutExpired, ValueError) as exc:
                row["r_note"] = f"R run failed: {str(exc)[:300]}"
        row["target"], row["met"] = target_check(n, row["ours_ms"], row["ratio"])
        rows.append(row)
        log(f"  engine n={n:>9,}: ours {row['ours_ms']:.3f} ms (sort {ours['sort_ms']:.1f} ms)"
            + (f", lifelines {row['lifelines_ms']:.1f} ms, x{row['ratio']:.0f}" if row["ratio"] else "")
            + (f", R {row['r_ms']:.1f} ms" if row["r_ms"] else ""))
    return rows, notes

