"""The committed SYNTHETIC demo cohort (data/demo_cohort.csv) reproduces the seed paper's published figures.

Targets are read from the transcription of the paper (tests/reference/cohort_paper_targets.json, a committed
copy of ../shared/reference/cohort_paper_targets.json), never from the generator, so the generator's own
constants are checked independently. Survival and Cox figures are computed with the project's analysis layer.
"""
from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.cox import CovariateSpec, cox_fit
from analysis.io import load_cohort
from analysis.survival import kaplan_meier, km_by_group

REPO = Path(__file__).resolve().parents[1]
CSV = REPO / "data" / "demo_cohort.csv"
GENERATOR = REPO / "scripts" / "make_demo_cohort.py"
LOCAL_TARGETS = REPO / "tests" / "reference" / "cohort_paper_targets.json"
SHARED_TARGETS = Path(__file__).resolve().parents[2] / "shared/reference/cohort_paper_targets.json"

TRIPLE = "HAIC + ICIs + TKIs/anti-VEGF"
DOUBLET = "HAIC + TKIs or ICIs"

# JSON label -> canonical level
WITH_WITHOUT = {"With": "Yes", "Without": "No"}
TREATMENT_LABELS = {"HAIC + TKIs or ICIs": DOUBLET, "HAIC + ICIs + TKIs/anti-VEGF antibody": TRIPLE}
# JSON Table 1 key -> canonical column
NUMERIC_KEYS = {
    "age_years": "age", "tb_umol_l": "tb", "alt_u_l": "alt", "ast_u_l": "ast", "alp_u_l": "alp",
    "ggt_u_l": "ggt", "plt_10e9_l": "plt", "pt_s": "pt", "afp_ng_ml": "afp", "pivka_mau_ml": "pivka_ii",
    "crp_mg_l": "crp", "nlr": "nlr", "tumor_size_mm": "tumor_size_mm",
}
# Table 3/4 row label -> (covariate spec, term name the analysis layer gives)
COX_ROWS = {
    "TB (<=14.5 vs >14.5)": (CovariateSpec("tb", cutoff=14.5), "tb > 14.5"),
    "AST (<=56.5 vs >56.5)": (CovariateSpec("ast", cutoff=56.5), "ast > 56.5"),
    "ALP (<=174.5 vs >174.5)": (CovariateSpec("alp", cutoff=174.5), "alp > 174.5"),
    "CRP (<=16.5 vs >16.5)": (CovariateSpec("crp", cutoff=16.5), "crp > 16.5"),
    "NLR (<=1.77 vs >1.77)": (CovariateSpec("nlr", cutoff=1.77), "nlr > 1.77"),
    "Child-Pugh (A vs B)": (CovariateSpec("child_pugh"), "child_pugh=B"),
    "EHM (Without vs With)": (CovariateSpec("ehm"), "ehm=Yes"),
    "Metabolic comorbidity (Without vs With)": (CovariateSpec("metabolic_comorbidity"), "metabolic_comorbidity=Yes"),
    "Treatment (HAIC+TKIs or ICIs vs HAIC+ICIs+TKIs/anti-VEGF)": (CovariateSpec("treatment"), f"treatment={TRIPLE}"),
}


def ae_column(term: str) -> str:
    """Table 5 term -> ``ae_<snake case>`` (apostrophes dropped)."""
    text = term.lower().replace("'", "").replace("\u2019", "")
    return "ae_" + re.sub(r"[^a-z0-9]+", "_", text).strip("_")


@pytest.fixture(scope="module")
def targets() -> dict:
    path = LOCAL_TARGETS if LOCAL_TARGETS.exists() else SHARED_TARGETS
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def cohort() -> pd.DataFrame:
    result = load_cohort(CSV)
    assert result.ok, "the demo cohort must load without blocking errors"
    return result.data


@pytest.fixture(scope="module")
def raw() -> pd.DataFrame:
    return pd.read_csv(CSV, dtype={"patient_id": str})


def test_target_copy_matches_shared_transcription():
    local = json.loads(LOCAL_TARGETS.read_text(encoding="utf-8"))
    assert local["n"] == 302
    if SHARED_TARGETS.exists():  # the committed copy must not drift from the shared transcription
        assert local == json.loads(SHARED_TARGETS.read_text(encoding="utf-8"))


# ---------------------------------------------------------------------------------------------------------
# shape, synthetic identifiers, codings
# ---------------------------------------------------------------------------------------------------------
def test_every_row_is_marked_synthetic(raw, targets):
    assert len(raw) == targets["n"]
    assert raw["patient_id"].is_unique
    assert raw["patient_id"].str.fullmatch(r"SYNTH-\d{4}").all()
    assert list(raw["patient_id"][:2]) == ["SYNTH-0001", "SYNTH-0002"]


def test_columns_and_codings(cohort, raw, targets):
    expected = ["patient_id", "age", "sex", "etiology", "tb", "alt", "ast", "alp", "ggt", "plt", "pt", "afp",
                "pivka_ii", "crp", "nlr", "albumin", "child_pugh", "tumor_size_mm", "cnlc_stage", "shunt", "ehm",
                "metabolic_comorbidity", "treatment", "systemic_regimen", "pfs_months", "pfs_event", "os_months",
                "os_event", "recist_best", "mrecist_best"]
    ae_terms = [t for t in targets["table5_adverse_events"] if not t.startswith("_")]
    assert list(raw.columns) == expected + [ae_column(t) for t in ae_terms]
    assert list(cohort.columns) == list(raw.columns)           # the loader recognises every header
    assert not cohort.isna().any().any()
    for col in ("shunt", "ehm", "metabolic_comorbidity"):
        assert set(cohort[col]) == {"No", "Yes"}
    assert set(cohort["pfs_event"]) == {0, 1} and set(cohort["os_event"]) == {0, 1}


# ---------------------------------------------------------------------------------------------------------
# Table 1
# ---------------------------------------------------------------------------------------------------------
def _counts(series: pd.Series) -> dict:
    return {str(k): int(v) for k, v in series.value_counts().items()}


def test_table1_category_counts_exact(cohort, targets):
    t1 = targets["table1_baseline"]
    assert _counts(cohort["sex"]) == t1["sex"]
    assert _counts(cohort["etiology"]) == t1["etiology"]
    assert _counts(cohort["child_pugh"]) == t1["child_pugh"]
    assert _counts(cohort["cnlc_stage"]) == t1["cnlc_stage"]
    assert _counts(cohort["shunt"]) == {WITH_WITHOUT[k]: v for k, v in t1["shunt"].items()}
    assert _counts(cohort["metabolic_comorbidity"]) == {WITH_WITHOUT[k]: v for k, v in
                                                         t1["metabolic_comorbidity"].items()}
    assert _counts(cohort["ehm"]) == {WITH_WITHOUT[k]: v for k, v in t1["extrahepatic_metastasis"].items()}
    assert _counts(cohort["treatment"]) == {TREATMENT_LABELS[k]: v for k, v in t1["treatment"].items()}
    assert _counts(cohort["systemic_regimen"]) == t1["systemic_regimen_detail"]


def test_regimen_detail_nests_in_treatment_and_ehm_is_cnlc_iiib(cohort):
    nest = cohort.groupby("systemic_regimen")["treatment"].unique()
    assert set(nest["TKI only"]) == {DOUBLET} and set(nest["ICI monotherapy"]) == {DOUBLET}
    assert set(nest["TKI + ICI"]) == {TRIPLE}
    assert ((cohort["ehm"] == "Yes") == (cohort["cnlc_stage"] == "IIIB")).all()


@pytest.mark.parametrize("key", sorted(NUMERIC_KEYS))
def test_table1_numeric_mean_and_sd(cohort, targets, key):
    target = targets["table1_baseline"][key]
    values = cohort[NUMERIC_KEYS[key]].to_numpy(float)
    assert abs(values.mean() - target["mean"]) <= 0.05 * target["mean"]
    assert abs(values.std(ddof=1) - target["sd"]) <= 0.10 * target["sd"]
    assert (values > 0).all()


def test_age_range_and_assumed_albumin(cohort, targets):
    age = targets["table1_baseline"]["age_years"]
    assert cohort["age"].min() == age["min"] and cohort["age"].max() == age["max"]
    assert abs(cohort["albumin"].mean() - 38.0) <= 0.05 * 38.0      # assumed, not published
    assert abs(cohort["albumin"].std() - 5.0) <= 0.5


def test_labs_are_right_skewed(cohort):
    for col in ("tb", "alt", "ast", "alp", "ggt", "afp", "pivka_ii", "crp", "nlr"):
        assert cohort[col].mean() > cohort[col].median(), col


def test_laboratory_correlations(cohort):
    assert 0.60 <= np.corrcoef(cohort["ast"], cohort["alt"])[0, 1] <= 0.70
    assert 0.50 <= np.corrcoef(cohort["alp"], cohort["ggt"])[0, 1] <= 0.60
    # Child-Pugh B goes with worse liver function
    by_cp = cohort.groupby("child_pugh")[["tb", "albumin", "pt"]].mean()
    assert by_cp.loc["B", "tb"] > by_cp.loc["A", "tb"]
    assert by_cp.loc["B", "albumin"] < by_cp.loc["A", "albumin"]
    assert by_cp.loc["B", "pt"] > by_cp.loc["A", "pt"]


def test_nlr_low_group_is_a_minority(cohort, targets):
    cut = targets["cutoffs_used_in_paper"]["nlr"]
    share_low = float((cohort["nlr"] <= cut).mean())
    assert 0.08 <= share_low <= 0.18


# ---------------------------------------------------------------------------------------------------------
# Table 2
# ---------------------------------------------------------------------------------------------------------
def test_table2_response_counts_exact(cohort, targets):
    t2 = targets["table2_response"]
    for col, key in (("recist_best", "RECIST1.1"), ("mrecist_best", "mRECIST")):
        counts = _counts(cohort[col])
        assert counts == {k: t2[key][k] for k in ("CR", "PR", "SD", "PD")}
        assert counts["CR"] + counts["PR"] == t2[key]["ORR"]
        assert counts["CR"] + counts["PR"] + counts["SD"] == t2[key]["DCR"]


def test_response_crosstab_is_concordant(cohort):
    rank = {"CR": 0, "PR": 1, "SD": 2, "PD": 3}
    r = cohort["recist_best"].map(rank)
    m = cohort["mrecist_best"].map(rank)
    assert (m <= r).mean() >= 0.95            # mRECIST equal or better for nearly everyone
    assert (m == r).mean() >= 0.80
    assert ((r - m).abs() <= 1).all()          # never more than one category apart
    assert (cohort.loc[cohort["recist_best"] == "CR", "mrecist_best"] == "CR").all()


# ---------------------------------------------------------------------------------------------------------
# Table 5
# ---------------------------------------------------------------------------------------------------------
def test_table5_adverse_event_counts_exact(cohort, targets):
    assert targets["table5_adverse_events"]["_columns"] == ["any_grade", "grade_1_2", "grade_3_4"]
    t5 = {k: v for k, v in targets["table5_adverse_events"].items() if not k.startswith("_")}
    assert len(t5) == 41
    for term, (n_any, n12, n34) in t5.items():
        grade = cohort[ae_column(term)].to_numpy(float)
        assert set(np.unique(grade)) <= {0.0, 1.0, 2.0, 3.0, 4.0}, term      # grade 5 = 0
        assert int((grade >= 1).sum()) == n_any, term
        assert int(((grade >= 1) & (grade <= 2)).sum()) == n12, term
        assert int(((grade >= 3) & (grade <= 4)).sum()) == n34, term


def test_drug_class_specific_events_follow_the_regimen(cohort):
    reg = cohort["systemic_regimen"]
    has_tki = reg.isin(["TKI only", "TKI + ICI"])
    has_ici = reg != "TKI only"
    assert (cohort.loc[~has_tki, "ae_hand_foot_syndrome"] == 0).all()
    assert (cohort.loc[reg == "ICI monotherapy", "ae_hypertension"] == 0).all()
    for col in ("ae_hypothyroidism", "ae_myocarditis", "ae_colitis", "ae_adrenocortical_insufficiency"):
        assert (cohort.loc[~has_ici, col] == 0).all(), col


# ---------------------------------------------------------------------------------------------------------
# survival
# ---------------------------------------------------------------------------------------------------------
def test_outcome_consistency(cohort):
    assert (cohort["os_months"] >= cohort["pfs_months"]).all()
    assert (cohort["pfs_months"] > 0).all()
    died = cohort["os_event"] == 1
    assert (cohort.loc[died, "pfs_event"] == 1).all()               # death counts as a PFS event
    censored = cohort["pfs_event"] == 0                              # progression-free at last contact
    assert (cohort.loc[censored, "pfs_months"] == cohort.loc[censored, "os_months"]).all()
    # administrative censoring: nobody followed beyond Dec 2018 .. Dec 2024, nobody censored before 13 months
    assert cohort["os_months"].max() <= 73.0
    assert cohort.loc[cohort["os_event"] == 0, "os_months"].min() >= 13.0


def test_deaths(cohort, targets):
    assert abs(int(cohort["os_event"].sum()) - targets["deaths"]) <= 10


@pytest.mark.parametrize("endpoint,tol", [("pfs", 1.5), ("os", 4.0)])
def test_median_and_landmarks(cohort, targets, endpoint, tol):
    target = targets["survival"][endpoint]
    times = [float(t) for t in target["rate_at_months"]]
    km = kaplan_meier(cohort[f"{endpoint}_months"], cohort[f"{endpoint}_event"], at=times)
    assert abs(km.median - target["median_months"]) <= tol
    for row in km.at:
        expected = target["rate_at_months"][f"{row['time']:g}"]
        assert abs(row["surv"] - expected) <= 0.05, (endpoint, row["time"])


def test_median_follow_up_is_close_to_published(cohort, targets):
    # reverse Kaplan-Meier: censoring is the "event"
    km = kaplan_meier(cohort["os_months"], 1 - cohort["os_event"])
    assert abs(km.median - targets["follow_up_median_months"]) <= 3.0


@pytest.mark.parametrize("criterion", ["recist_best", "mrecist_best"])
@pytest.mark.parametrize("endpoint", ["pfs", "os"])
def test_responders_live_longer(cohort, criterion, endpoint):
    df = cohort.assign(objective_response=np.where(cohort[criterion].isin(["CR", "PR"]), "Yes", "No"))
    res = km_by_group(df, f"{endpoint}_months", f"{endpoint}_event", by="objective_response")
    medians = {g.level: (math.inf if math.isnan(g.km.median) else g.km.median) for g in res.groups}
    assert medians["Yes"] > medians["No"]
    assert res.logrank.p < 0.001                                     # as in the paper (both p < 0.001)
    assert res.hr.result.hr < 1


def _paper_multivariable(targets: dict, table: str) -> dict:
    return {row["variable"]: row["multi"] for row in targets[table]["rows"] if "multi" in row}


@pytest.mark.parametrize("endpoint,table", [("pfs", "table3_pfs_cox"), ("os", "table4_os_cox")])
def test_multivariable_hazard_ratios_inside_paper_ci(cohort, targets, endpoint, table):
    paper = _paper_multivariable(targets, table)
    assert len(paper) == (7 if endpoint == "pfs" else 8)
    specs = [COX_ROWS[v][0] for v in paper]
    fit = cox_fit(cohort, f"{endpoint}_months", f"{endpoint}_event", covariates=specs)
    got = {t.term: t for t in fit.terms}
    assert len(got) == len(paper)
    for variable, (hr, lo, hi, _p) in paper.items():
        term = got[COX_ROWS[variable][1]]
        assert (term.hr > 1) == (hr > 1), variable                  # right side of 1
        assert lo < term.hr < hi, (variable, term.hr, lo, hi)        # inside the paper's 95% CI


# ---------------------------------------------------------------------------------------------------------
# the generator
# ---------------------------------------------------------------------------------------------------------
def _run_generator(tmp_path: Path, *args: str) -> tuple[bytes, str]:
    out = tmp_path / "demo.csv"
    proc = subprocess.run([sys.executable, str(GENERATOR), "--out", str(out), *args], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return out.read_bytes(), proc.stderr


def test_generator_search_reproduces_committed_file(tmp_path):
    data, log = _run_generator(tmp_path)
    assert data == CSV.read_bytes()
    seed = int(re.search(r"from seed (\d+)", log).group(1))
    source = GENERATOR.read_text(encoding="utf-8")
    assert re.search(rf"^ACCEPTED_SEED = {seed}\b", source, flags=re.M)


def test_generator_direct_seed_reproduces_committed_file(tmp_path):
    seed = re.search(r"^ACCEPTED_SEED = (\d+)", GENERATOR.read_text(encoding="utf-8"), flags=re.M).group(1)
    data, _ = _run_generator(tmp_path, "--seed", seed)
    assert data == CSV.read_bytes()
