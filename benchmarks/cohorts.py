"""Benchmark cohorts: the SYNTHETIC demo cohort scaled to any size by seeded resampling with small jitter.

``scaled_cohort(n)`` returns the base cohort itself for its own size (302) and otherwise draws ``n`` rows with replacement from the base cohort (``data/demo_cohort.csv``, read
through the importer; a generated stand-in with the same core columns when that file is missing), then
multiplies every continuous column by ``exp(N(0, JITTER_SD))`` and rounds it back to the resolution the base
column was recorded at (survival times to 0.01 month, as in the demo file). Events, categories and integer
columns are resampled as they are. Everything is driven by ``numpy.random.default_rng(seed)``: the same
``(n, seed)`` gives the same frame, byte for byte, on every machine.

``upload_csv(n, columns=30)`` writes such a cohort as a CSV the importer reads (``patient_id`` first), padded
with extra numeric columns when the base has fewer than ``columns``; files are cached under
:func:`cache_dir` keyed by size, width, seed and the base file's content.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DEMO_CSV = ROOT / "data" / "demo_cohort.csv"
SEED = 20250316
JITTER_SD = 0.02
SIZES = (302, 10_000, 100_000, 1_000_000)
#: the columns the engine benchmarks need
CORE = ("os_months", "os_event", "pfs_months", "pfs_event", "alp", "ast", "nlr")


def cache_dir() -> Path:
    """Where generated CSVs are kept between runs (``HAIC_BENCH_CACHE`` or the system temp dir)."""
    path = Path(os.environ.get("HAIC_BENCH_CACHE", Path(tempfile.gettempdir()) / "haic-bench"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def generated_base(n: int = 302, seed: int = SEED) -> pd.DataFrame:
    """A stand-in for the demo cohort (used only while ``data/demo_cohort.csv`` does not exist).

    Exponential survival with hazards raised by high AST/ALP/NLR, administrative censoring, log-normal labs.
    """
    rng = np.random.default_rng(seed)
    ast = np.round(np.exp(rng.normal(np.log(50), 0.6, n)), 1)
    alp = np.round(np.exp(rng.normal(np.log(160), 0.5, n)), 1)
    nlr = np.round(np.exp(rng.normal(np.log(2.5), 0.6, n)), 2)
    risk = np.exp(0.4 * (ast > 56.5) + 0.5 * (alp > 174.5) + 0.7 * (nlr > 1.77))
    follow = rng.uniform(12, 73, n)
    t_os = rng.exponential(40 / risk)
    t_pfs = np.minimum(rng.exponential(16 / risk), t_os)
    frame = pd.DataFrame({
        "patient_id": [f"G{i:04d}" for i in range(1, n + 1)],
        "age": np.round(rng.normal(57, 11, n)),
        "sex": rng.choice(["Male", "Female"], n, p=[0.85, 0.15]),
        "etiology": rng.choice(["HBV", "HCV", "Alcohol", "Others"], n, p=[0.8, 0.05, 0.05, 0.1]),
        "child_pugh": rng.choice(["A", "B"], n, p=[0.83, 0.17]),
        "ehm": rng.choice(["No", "Yes"], n, p=[0.69, 0.31]),
        "tb": np.round(np.exp(rng.normal(np.log(15), 0.5, n)), 1),
        "alt": np.round(ast * np.exp(rng.normal(0, 0.3, n)), 1),
        "ast": ast, "alp": alp, "nlr": nlr,
        "crp": np.round(np.exp(rng.normal(np.log(10), 0.9, n)), 1),
        "os_months": np.round(np.minimum(t_os, follow), 2),
        "os_event": (t_os <= follow).astype(int),
        "pfs_months": np.round(np.minimum(t_pfs, follow), 2),
        "pfs_event": (t_pfs <= follow).astype(int),
    })
    return frame


@lru_cache(maxsize=1)
def base_cohort() -> tuple[pd.DataFrame, str]:
    """The base frame (canonical columns) and where it came from (``demo_cohort.csv`` or ``generated``)."""
    if DEMO_CSV.exists():
        from analysis.io import load_cohort

        result = load_cohort(DEMO_CSV)
        if result.ok:
            return result.data, "data/demo_cohort.csv"
    return generated_base(), "generated stand-in (data/demo_cohort.csv missing)"


def base_fingerprint() -> str:
    """Short content hash of the base cohort's source (names the cached CSV files)."""
    if DEMO_CSV.exists():
        return hashlib.sha256(DEMO_CSV.read_bytes()).hexdigest()[:12]
    return "generated"


def _decimals(values: np.ndarray) -> int:
    """The number of decimals a column was recorded with (0-4)."""
    finite = values[np.isfinite(values)]
    for k in range(5):
        if np.allclose(finite, np.round(finite, k), rtol=0, atol=1e-9):
            return k
    return 4


def continuous_columns(frame: pd.DataFrame) -> list[str]:
    """Float columns that are measurements (not events, not adverse-event grades, not small-integer codes)."""
    out = []
    for col in frame.columns:
        s = frame[col]
        if not pd.api.types.is_float_dtype(s) and not pd.api.types.is_integer_dtype(s):
            continue
        if col.endswith("_event") or col.startswith("ae_"):
            continue
        if s.nunique(dropna=True) <= 10:
            continue
        out.append(col)
    return out


def scaled_cohort(n: int, seed: int = SEED, base: pd.DataFrame | None = None,
                  columns: tuple[str, ...] | None = None) -> pd.DataFrame:
    """``n`` rows resampled from the base cohort with seeded multiplicative jitter on continuous columns.

    ``columns`` restricts the frame to those base columns first (the engine benchmark needs only :data:`CORE`);
    the rows drawn do not depend on it.
    """
    if base is None:
        base = base_cohort()[0]
    if columns is not None:
        base = base[list(columns)]
    if n == len(base):   # the demo size is the demo cohort itself, as the app serves it
        return base.copy()
    rng = np.random.default_rng(seed + n)
    idx = rng.integers(0, len(base), n)
    out = base.iloc[idx].reset_index(drop=True).copy()
    if "patient_id" in out.columns:
        out["patient_id"] = [f"S{i:07d}" for i in range(1, n + 1)]
    for col in continuous_columns(base):
        v = out[col].to_numpy(dtype=float)
        dec = _decimals(base[col].to_numpy(dtype=float))
        jittered = v * np.exp(rng.normal(0.0, JITTER_SD, n))
        jittered = np.round(jittered, dec)
        if col.endswith("_months"):   # keep times positive at the recorded resolution
            jittered = np.maximum(jittered, 10.0 ** -dec if dec else 1.0)
        out[col] = np.where(np.isfinite(v), jittered, np.nan)
    # keep OS >= PFS where both are present (the demo cohort guarantees it; jitter could break it)
    if {"os_months", "pfs_months"} <= set(out.columns):
        out["pfs_months"] = np.fmin(out["pfs_months"], out["os_months"])
    return out


def upload_frame(n: int, columns: int = 30, seed: int = SEED) -> pd.DataFrame:
    """A ``columns``-wide cohort of ``n`` rows as a user would upload it (canonical headers)."""
    frame = scaled_cohort(n, seed)
    keep = [c for c in frame.columns if not c.startswith("ae_")]
    keep = keep[:columns]
    frame = frame[keep]
    rng = np.random.default_rng(seed + 7 * n + columns)
    k = 1
    while frame.shape[1] < columns:
        frame[f"extra_marker_{k}"] = np.round(np.exp(rng.normal(2.0, 0.8, n)), 2)
        k += 1
    return frame


def upload_csv(n: int, columns: int = 30, seed: int = SEED) -> Path:
    """Path of a cached CSV of :func:`upload_frame` (written on first use)."""
    path = cache_dir() / f"cohort_{n}x{columns}_{seed}_{base_fingerprint()}.csv"
    if not path.exists():
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        upload_frame(n, columns, seed).to_csv(tmp, index=False, lineterminator="\n")
        tmp.replace(path)
    return path


def upload_export(n: int, kind: str, columns: int = 30, seed: int = SEED) -> Path:
    """Path of a cached Excel workbook (``kind="xlsx"``, openpyxl) or SPSS file (``"sav"``, pyreadstat) of
    :func:`upload_frame`: what a clinician exports from a spreadsheet or from SPSS (written on first use)."""
    path = cache_dir() / f"cohort_{n}x{columns}_{seed}_{base_fingerprint()}.{kind}"
    if not path.exists():
        frame = upload_frame(n, columns, seed)
        tmp = path.with_name(f"tmp{os.getpid()}_{path.name}")
        if kind == "xlsx":
            frame.to_excel(tmp, index=False, engine="openpyxl")
        elif kind == "sav":
            import pyreadstat

            pyreadstat.write_sav(frame, str(tmp))
        else:
            raise ValueError(f"unknown export kind {kind!r}")
        tmp.replace(path)
    return path
