"""Cohorts that tests build (random numbers only, never patient data)."""
from __future__ import annotations

import numpy as np
import pandas as pd


def make_cohort(n: int = 240, seed: int = 11) -> pd.DataFrame:
    """A synthetic cohort in the canonical layout: both endpoints, labs, factors, best responses and adverse
    events, with a few values missing; survival depends on AST, Child-Pugh and EHM."""
    rng = np.random.default_rng(seed)
    ast = rng.lognormal(4.1, 0.5, n)
    nlr = rng.lognormal(1.0, 0.5, n)
    child = np.where(rng.random(n) < 0.2, "B", "A")
    ehm = np.where(rng.random(n) < 0.3, "Yes", "No")
    treat = np.where(rng.random(n) < 0.4, "HAIC + TKIs or ICIs", "HAIC + ICIs + TKIs/anti-VEGF")
    lp = 0.5 * (ast > 56.5) + 0.6 * (child == "B") + 0.4 * (ehm == "Yes")
    t_os = rng.exponential(30, n) * np.exp(-lp)
    t_pfs = np.minimum(t_os, rng.exponential(12, n) * np.exp(-lp))
    cens = rng.uniform(6, 60, n)
    etiology = rng.choice(["HBV", "HCV", "Alcohol", "Others"], n, p=[0.7, 0.1, 0.1, 0.1])
    stage = rng.choice(["IIA", "IIB", "IIIA", "IIIB"], n, p=[0.1, 0.1, 0.5, 0.3])
    recist = rng.choice(["CR", "PR", "SD", "PD", "NE"], n, p=[0.05, 0.5, 0.25, 0.15, 0.05])
    mrecist = np.where(rng.random(n) < 0.8, recist, rng.choice(["CR", "PR", "SD", "PD"], n))
    frame = pd.DataFrame({
        "patient_id": [f"S{i:04d}" for i in range(n)],
        "age": rng.normal(57, 11, n).round(),
        "sex": np.where(rng.random(n) < 0.85, "Male", "Female"),
        "etiology": etiology, "ast": ast.round(1), "nlr": nlr.round(2), "child_pugh": child,
        "cnlc_stage": stage, "ehm": ehm, "treatment": treat,
        "pfs_months": np.minimum(t_pfs, cens).round(2), "pfs_event": (t_pfs <= cens).astype(int),
        "os_months": np.minimum(t_os, cens).round(2), "os_event": (t_os <= cens).astype(int),
        "recist_best": recist, "mrecist_best": mrecist,
        "ae_fever": rng.choice([0, 1, 2, 3], n, p=[0.7, 0.15, 0.1, 0.05]).astype(float),
        "ae_upper_gastrointestinal_bleeding": rng.choice([0, 1, 3, 4, 5], n, p=[0.85, 0.04, 0.06, 0.03, 0.02]
                                                          ).astype(float),
        "ae_rash": rng.choice([0, 1, 2], n, p=[0.8, 0.15, 0.05]).astype(float),
    })
    frame.loc[rng.choice(n, 9, replace=False), "ast"] = np.nan
    frame.loc[rng.choice(n, 5, replace=False), "ae_rash"] = np.nan
    frame.loc[rng.choice(n, 4, replace=False), "mrecist_best"] = np.nan
    return frame
