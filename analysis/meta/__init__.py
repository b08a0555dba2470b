"""Meta-analysis engine (metafor-compatible) for ratio measures: HR/any ratio with CI, RR/OR from 2x2 counts.

Layers:

* :mod:`analysis.meta.effects` -- per-study log effects (:class:`EffectData`), continuity correction, SE from p;
* :mod:`analysis.meta.pooling` -- fixed effect, Mantel-Haenszel, DL/REML/PM random effects, Hartung-Knapp,
  prediction intervals, heterogeneity, leave-one-out, cumulative, subgroups, meta-regression;
* :mod:`analysis.meta.bias` -- Egger's test, trim-and-fill, funnel plot data, Spearman correlation;
* :mod:`analysis.meta.dataset` -- the 17-study HAIC file and generic study files, derivations, published results;
* :mod:`analysis.meta.report` -- :func:`run_meta`, everything for one outcome (used by the CLI and the page).

See ``docs/meta-analysis.md`` for conventions and the checks against R (``tests/reference/meta.R``).
"""
from analysis.meta.bias import (
    CorrelationResult, EggerResult, FunnelData, TrimFillResult, egger_test, funnel_data, spearman_correlation,
    trim_and_fill,
)
from analysis.meta.dataset import (
    DERIVATIONS, OUTCOMES, PUBLISHED_POOLED, StudyTable, load_study_file, orr_os_correlation, outcome_effects,
)
from analysis.meta.effects import (
    EffectData, Excluded, log_ratio_from_ci, log_ratio_from_counts, parse_p_value, se_from_p,
)
from analysis.meta.pooling import (
    METHODS, PI_TYPES, Heterogeneity, MetaAnalysisResult, MetaRegressionResult, PooledEstimate, RefitRow,
    StudyRow, SubgroupEstimate, SubgroupResult, cumulative, estimate_tau2, fixed_effect, heterogeneity,
    leave_one_out, mantel_haenszel, meta_analysis, meta_regression, random_effects, subgroup_analysis,
)
from analysis.meta.report import MetaReport, run_meta

__all__ = [
    "CorrelationResult", "EggerResult", "FunnelData", "TrimFillResult", "egger_test", "funnel_data",
    "spearman_correlation", "trim_and_fill", "DERIVATIONS", "OUTCOMES", "PUBLISHED_POOLED", "StudyTable",
    "load_study_file", "orr_os_correlation", "outcome_effects", "EffectData", "Excluded", "log_ratio_from_ci",
    "log_ratio_from_counts", "parse_p_value", "se_from_p", "METHODS", "PI_TYPES", "Heterogeneity",
    "MetaAnalysisResult", "MetaRegressionResult", "PooledEstimate", "RefitRow", "StudyRow", "SubgroupEstimate",
    "SubgroupResult", "cumulative", "estimate_tau2", "fixed_effect", "heterogeneity", "leave_one_out",
    "mantel_haenszel", "meta_analysis", "meta_regression", "random_effects", "subgroup_analysis", "MetaReport",
    "run_meta",
]
