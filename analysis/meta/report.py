"""One call for a complete meta-analysis of a study file: :func:`run_meta` -> :class:`MetaReport`.

``MetaReport.to_dict()`` is the JSON printed by ``python -m analysis meta`` (estimates on the ratio scale,
tau^2 on the log scale, I^2 in percent). Rules:

* the pooled analysis uses the studies with data for the outcome; the others are in ``excluded``;
* Egger's test and trim-and-fill are null when k < 3 (a regression on the standard error needs k - 2 >= 1 df;
  metafor's ``regtest``/``trimfill`` need the same); leave-one-out is empty when k < 3;
* subgroup analysis pools each subgroup separately (random effects with its own tau^2 unless method FE) and tests
  differences with Cochran's Q of the subgroup estimates (``q_between``);
* meta-regression uses the analysis' estimator (REML by default; FE gives a fixed-effects meta-regression) on one
  moderator: a numeric column, or a two-level text column coded 0 (the alphabetically first level) / 1;
* Egger's test (and trim-and-fill, which needs the same regression to choose its side) is null with a note when
  the studies' standard errors are (nearly) all equal -- undefined, as R refuses it;
* a trial sequential analysis (``tsa``, count data, risk ratio) follows RTSA's conventions
  (:mod:`analysis.meta.tsa`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

from analysis.errors import AnalysisError
from analysis.jsonsafe import json_num
from analysis.meta.bias import (
    CorrelationResult, EggerResult, FunnelData, TrimFillResult, egger_test, funnel_data, trim_and_fill,
)
from analysis.meta.dataset import (
    DERIVATIONS, OUTCOMES, PUBLISHED_POOLED, StudyTable, is_missing_cell, cell_float, wanted_derivations, load_study_file,
    orr_os_correlation, outcome_effects,
)
from analysis.meta.effects import EffectData, Excluded
from analysis.meta.pooling import (
    PI_TYPES, MetaAnalysisResult, MetaRegressionResult, RefitRow, SubgroupResult, check_method,
    cumulative, leave_one_out, meta_analysis, meta_regression, subgroup_analysis,
)
from analysis.meta.tsa import TSAResult, TSASettings, tsa_for_effects


@dataclass
class MetaReport:
    """Everything the meta-analysis page and the command line show for one outcome."""

    outcome: str | None
    analysis: MetaAnalysisResult
    egger: EggerResult | None
    trimfill: TrimFillResult | None
    leave_one_out: list[RefitRow]
    cumulative: list[RefitRow]
    subgroups: SubgroupResult | None
    metaregression: MetaRegressionResult | None
    funnel: FunnelData
    correlation_orr_os: CorrelationResult | None
    published: dict | None
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    tsa: TSAResult | None = None

    @property
    def k(self) -> int:
        return self.analysis.k

    def to_dict(self) -> dict:
        a = self.analysis
        fx = a.fixed_reported
        rnd = a.random
        het = a.heterogeneity
        out = {
            "k": a.k,
            "measure": a.measure,
            "outcome": self.outcome,
            "method": a.method,
            "fixed": {"est": json_num(fx.est), "lo": json_num(fx.lo), "hi": json_num(fx.hi), "p": json_num(fx.p),
                      "method": fx.method, "log_est": json_num(fx.log_est), "se": json_num(fx.se)},
            "random": None if rnd is None else {
                "est": json_num(rnd.est), "lo": json_num(rnd.lo), "hi": json_num(rnd.hi), "p": json_num(rnd.p),
                "tau2": json_num(rnd.tau2), "tau": json_num(rnd.tau), "pi_lo": json_num(rnd.pi_lo), "pi_hi": json_num(rnd.pi_hi),
                "pi_type": rnd.pi_type, "pi_df": json_num(rnd.pi_df), "method": rnd.method, "hk": rnd.hk,
                "hk_adhoc": rnd.hk_adhoc, "df": json_num(rnd.df), "log_est": json_num(rnd.log_est), "se": json_num(rnd.se)},
            "heterogeneity": {"q": json_num(het.q), "df": het.df, "p": json_num(het.p), "i2": json_num(het.i2),
                              "h2": json_num(het.h2), "tau2": json_num(het.tau2), "i2_tau2": json_num(het.i2_tau2)},
            "egger": None if self.egger is None else {
                "t": json_num(self.egger.stat), "p": json_num(self.egger.p), "df": json_num(self.egger.df),
                "bias": json_num(self.egger.bias), "bias_se": json_num(self.egger.bias_se), "model": self.egger.model},
            "trimfill": None if self.trimfill is None else self.trimfill.to_dict(),
            "leave_one_out": [_refit(r) for r in self.leave_one_out],
            "cumulative": [_refit(r) for r in self.cumulative],
            "studies": [{"study": s.study, "est": json_num(s.est), "lo": json_num(s.lo), "hi": json_num(s.hi),
                         "weight_fixed": json_num(s.weight_fixed), "weight_random": json_num(s.weight_random),
                         "log_est": json_num(s.log_est), "se": json_num(s.se), "derived": s.derived,
                         "derivation": s.derivation} for s in a.studies],
            "excluded": [e.to_dict() for e in a.excluded],
            "subgroups": None,
            "q_between": None,
            "df_between": None,
            "p_between": None,
            "metaregression": None if self.metaregression is None else _metareg(self.metaregression),
            "funnel": self.funnel.to_dict(),
            "correlation_orr_os": None if self.correlation_orr_os is None else self.correlation_orr_os.to_dict(),
            "published": self.published,
            "settings": dict(a.settings),
            "notes": list(self.notes),
            "warnings": list(self.warnings),
            "tsa": None if self.tsa is None else self.tsa.to_dict(),
        }
        if self.subgroups is not None:
            sg = self.subgroups.to_dict()
            out["subgroups"] = sg["groups"]
            out["q_between"] = sg["q_between"]
            out["df_between"] = sg["df_between"]
            out["p_between"] = sg["p_between"]
            out["subgroup_test"] = {k: sg[k] for k in ("variable", "method", "q_between_fixed", "p_between_fixed",
                                                       "excluded")}
        return out


def _refit(r: RefitRow) -> dict:
    return {"study": r.study, "k": r.k, "est": json_num(r.est), "lo": json_num(r.lo), "hi": json_num(r.hi), "p": json_num(r.p),
            "i2": json_num(r.i2), "i2_tau2": json_num(r.i2_tau2), "tau2": json_num(r.tau2), "q": json_num(r.q)}


def _metareg(m: MetaRegressionResult) -> dict:
    d = m.to_dict()
    keep = ("moderator", "coding", "method", "k", "intercept", "intercept_se", "slope", "slope_se", "slope_p",
            "slope_lo", "slope_hi", "slope_df", "tau2", "i2", "r2", "qm", "qm_p", "qe", "qe_df", "qe_p", "hk",
            "studies", "excluded", "points")
    return {k: d[k] for k in keep}


def _column(effects: EffectData, name: str, what: str) -> tuple[str, list]:
    col = name.strip().lower()
    if col not in effects.covariates.columns:
        cols = ", ".join(c for c in effects.covariates.columns)
        raise AnalysisError(f"{what} column '{name}' is not in the file (columns: {cols})")
    return col, list(effects.covariates[col])


def _moderator(effects: EffectData, name: str) -> tuple[str, np.ndarray, str]:
    """Numeric values of the moderator (NaN = missing) and a description of the coding."""
    col, vals = _column(effects, name, "moderator")
    present = [v for v in vals if not is_missing_cell(v)]
    nums = [cell_float(v) for v in present]
    if present and all(n is not None for n in nums):
        return col, np.array([np.nan if is_missing_cell(v) else cell_float(v) for v in vals], dtype=float), "numeric"
    levels = sorted({str(v) for v in present})
    if len(levels) != 2:
        raise AnalysisError(f"moderator '{col}' must be numeric or have exactly two levels among the pooled "
                            f"studies (it has {len(levels)}); use a subgroup analysis instead")
    ref, other = levels
    x = np.array([np.nan if is_missing_cell(v) else (1.0 if str(v) == other else 0.0) for v in vals], dtype=float)
    return col, x, f"1 = '{other}', 0 = '{ref}' (reference)"


class NothingToPool(AnalysisError):
    """No study of the table can be pooled for the outcome. ``reason`` says why (the studies' reasons);
    ``derivations_would_help``: some study lacks only a derived value (derivations are off), so a caller can say
    how its user switches them on. The message adds the engine's own hint (its keyword and command-line flag)."""

    HINT = (" (derivations are switched off; with them on -- the default, derive=True, no --no-derive -- "
            "derived values would be used)")

    def __init__(self, reason: str, derivations_would_help: bool = False):
        self.reason = reason
        self.derivations_would_help = derivations_would_help
        super().__init__(reason + (self.HINT if derivations_would_help else ""))

    def __reduce__(self):
        return type(self), (self.reason, self.derivations_would_help)


def run_meta(source, outcome: str | None = None, *, measure: str = "RR", method: str = "REML", hk: bool = False,
             hk_adhoc: bool = False, mh: bool = False, pi: str = "metafor", derive: bool | Iterable[str] = True,
             subgroup: str | None = None, moderator: str | None = None, egger_model: str = "lm",
             level: float = 0.95, tsa: TSASettings | None = None) -> MetaReport:
    """Full meta-analysis of ``source`` (a :class:`StudyTable`, a CSV path or a DataFrame).

    ``outcome`` os|pfs|orr|dcr|ae for the 17-study layout (default os); ``measure`` RR|OR for counts;
    ``method`` FE|DL|REML|PM; ``hk`` Hartung-Knapp (metafor ``test="knha"``), ``hk_adhoc`` with the floor
    max(1, q); ``mh`` Mantel-Haenszel fixed effect (counts); ``pi`` metafor|meta|hts prediction interval;
    ``derive`` True (default: both derivations on, each derived study flagged ``derived``), False (reported
    numbers only) or the subset of ``("se_from_p", "count_from_pct")`` to use; ``subgroup`` / ``moderator``
    column names; ``egger_model`` "lm" (classical) or "rma"; ``tsa`` the settings of a trial sequential
    analysis (count data, risk ratio; :func:`analysis.meta.tsa.tsa_for_effects`).
    """
    method = check_method(method)
    if pi not in PI_TYPES:
        raise AnalysisError(f"pi must be one of {', '.join(PI_TYPES)}")
    table = source if isinstance(source, StudyTable) else load_study_file(source)
    if table.kind == "outcomes":
        outcome = (outcome or "os").lower()
    effects = outcome_effects(table, outcome, measure, derive, level)
    if mh and effects.counts is None:
        raise AnalysisError("Mantel-Haenszel pooling (--mh) needs event counts per arm, not ratios with CIs")
    if effects.k == 0:
        what = f"outcome '{outcome}'" if outcome else "this file"
        reasons = sorted({e.reason for e in effects.excluded})
        raise NothingToPool(f"no study can be pooled for {what}: {'; '.join(reasons)}", derivations_would_help=any(
            r.endswith("(derivation off)") or r.endswith("without CI") for r in reasons))
    analysis = meta_analysis(effects, method, hk, hk_adhoc, mh, pi, level)
    analysis.settings["derive"] = [d for d in DERIVATIONS if d in wanted_derivations(derive)]  # which derivations were on
    notes: list[str] = []
    if effects.k == 1:
        notes.append("one study: nothing is pooled (the 'pooled' estimates are that study's own)")
    if mh and analysis.mh is not None and not np.isfinite(analysis.mh.log_est):
        arms = [name for name, key in (("experimental", "ai"), ("control", "ci"))
                if float(np.sum(effects.counts[key])) == 0]
        notes.append(f"the Mantel-Haenszel estimate is undefined: no events in the {' or '.join(arms)} arm of "
                     f"any study (metafor rma.mh gives NA); the inverse-variance fixed effect uses the "
                     f"continuity-corrected counts")
    egger = tf = None
    if effects.k >= 3:
        try:
            egger = egger_test(effects.yi, effects.vi, egger_model, method, hk or hk_adhoc, level)
        except AnalysisError as exc:
            notes.append(str(exc))
        try:
            tf = trim_and_fill(effects.yi, effects.vi, method, level=level, hk=hk or hk_adhoc, hk_adhoc=hk_adhoc)
        except AnalysisError as exc:
            notes.append(f"trim-and-fill not available: {exc}")
    else:
        notes.append(f"Egger's test, trim-and-fill and leave-one-out need at least 3 studies (k = {effects.k})")
    l1o = leave_one_out(effects, method, hk, hk_adhoc, level)
    order = list(effects.covariates["year"]) if "year" in effects.covariates.columns else None
    if order is None:
        notes.append("cumulative analysis in file order (no 'year' column)")
    cum = cumulative(effects, order, method, hk, hk_adhoc, level)
    sg = None
    if subgroup:
        col, groups = _column(effects, subgroup, "subgroup")
        sg = subgroup_analysis(effects, groups, col, method, hk, hk_adhoc, pi, level)
    mr = None
    if moderator:
        col, x, coding = _moderator(effects, moderator)
        keep = ~np.isnan(x)
        sub = effects.subset(keep)
        excl = [Excluded(s, f"no value for moderator '{col}'") for s, kk in zip(effects.studies, keep) if not kk]
        if sub.k < 3:
            notes.append(f"meta-regression on '{col}' needs at least 3 studies with a value (k = {sub.k})")
        elif np.all(x[keep] == x[keep][0]):
            notes.append(f"meta-regression on '{col}': the moderator is the same in every pooled study")
        else:
            mr = meta_regression(sub.yi, sub.vi, x[keep], method, hk or hk_adhoc, level, col, coding)
            mr.studies = list(sub.studies)
            mr.excluded = excl
            mr.points = [{"study": st, "x": float(xv), "log_est": float(yv), "se": float(math.sqrt(vv))}
                         for st, xv, yv, vv in zip(sub.studies, x[keep], sub.yi, sub.vi)]
    center = analysis.primary.log_est
    funnel = funnel_data(effects.yi, effects.vi, center, effects.studies, level=level)
    corr = None
    published = None
    if table.kind == "outcomes":
        try:
            corr = orr_os_correlation(table, derive)
        except AnalysisError:
            corr = None
        published = {"source": PUBLISHED_POOLED["source"], **PUBLISHED_POOLED.get(outcome, {})}
        published["label"] = OUTCOMES[outcome]["label"]
    if analysis.settings.get("hk") and tf is not None and tf.k0 > 0:
        notes.append("trim-and-fill refits with imputed studies use a z-based CI (as metafor trimfill)")
    tsa_result = None
    if tsa is not None:
        tsa_result = tsa_for_effects(effects, tsa, method, mh)
    return MetaReport(outcome, analysis, egger, tf, l1o, cum, sg, mr, funnel, corr, published, notes,
                      list(table.warnings), tsa_result)
