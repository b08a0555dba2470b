"""Univariable and multivariable Cox proportional-hazards models (Efron ties).

* The fit is lifelines' ``CoxPHFitter`` (Efron's approximation for ties, Newton-Raphson) with tight
  convergence settings, so coefficients agree with R ``coxph(..., ties = "efron")`` to ~1e-9.
* Wald standard errors, CIs and p-values; likelihood-ratio and Wald global tests.
* ``concordance``: Harrell's C exactly as R ``coxph`` reports it (``concordance(fit)``: pairs whose shorter
  time is an event, an event and a censoring at the same time count as comparable (the censored one lived
  longer), pairs tied on an event time are left out, ties in the linear predictor count 1/2).
* ``ph_test``: the proportional-hazards test of R ``cox.zph(fit)`` in its survival >= 3.0 form -- a score
  test, at the fitted coefficients, for adding ``x * g(t)`` to the model, with ``g`` the "km" transform
  (1 - left-continuous KM of the pooled data, centred over the events); per model term (a categorical
  covariate is one term with one df per non-reference level) and GLOBAL. lifelines'
  ``proportional_hazard_test`` implements the older (Grambsch-Therneau 1994 approximation) test, which R no
  longer uses, so the score test is implemented here (numpy, following R's ``zph1.c``).

References: Cox (1972); Efron (1977); Harrell et al. (1996) for C; Grambsch & Therneau (1994) and
Therneau, ``survival`` 3.x vignette "Proportional hazards tests" for cox.zph; Therneau & Grambsch (2000).
Checked against R survival 3.5 in ``tests/test_cox.py`` (reference ``tests/reference/survival.json``).
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from analysis.cutoffs import format_cutoff
from analysis.errors import AnalysisError
from analysis.numeric import to_numeric
from analysis.survival import (
    _num, _require_columns, _rows, _time_event_columns, kaplan_meier, ordered_levels, reference_level,
    timefix,
)

#: a categorical covariate with more levels than this is almost certainly an identifier
MAX_LEVELS = 20


# ---------------------------------------------------------------------------------------------------------
# covariate specifications
# ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CovariateSpec:
    """One covariate of a Cox model.

    ``column`` numeric -> per-unit term ``column``; with ``cutoff`` -> 0/1 term ``"column > X"`` (the
    paper's rule, low group ``<= X`` is the reference); categorical -> one term ``"column=LEVEL"`` per
    non-reference level, the reference being ``reference`` or ``analysis.schema.reference_level``.
    """

    column: str
    cutoff: float | None = None
    reference: str | None = None

    @property
    def label(self) -> str:
        """The spec as text: ``age``, ``ast:56.5``."""
        return self.column if self.cutoff is None else f"{self.column}:{format_cutoff(self.cutoff)}"


def parse_covariates(text: str | Sequence[str], refs: Mapping[str, str] | None = None) -> list[CovariateSpec]:
    """Parse ``"age,ast:56.5,child_pugh"`` (or a list of such items) into :class:`CovariateSpec` objects.

    ``col:X`` dichotomises ``col`` at X; ``refs`` maps a categorical column to its reference level.
    """
    items = [s.strip() for s in (text.split(",") if isinstance(text, str) else text)]
    items = [s for s in items if s]
    if not items:
        raise AnalysisError("no covariates given")
    refs = dict(refs or {})
    specs: list[CovariateSpec] = []
    for item in items:
        col, sep, cut = item.partition(":")
        col = col.strip()
        if not col:
            raise AnalysisError(f"covariate '{item}' has no column name")
        cutoff = None
        if sep:
            try:
                cutoff = float(cut)
            except ValueError:
                raise AnalysisError(f"covariate '{item}': the cutoff after ':' must be a number") from None
            if not math.isfinite(cutoff):
                raise AnalysisError(f"covariate '{item}': the cutoff must be a finite number")
        specs.append(CovariateSpec(col, cutoff, refs.get(col)))
    labels = [s.label for s in specs]
    dup = sorted({lab for lab in labels if labels.count(lab) > 1})
    if dup:
        raise AnalysisError("covariate(s) given more than once: " + ", ".join(dup))
    return specs


def _as_specs(covariates: Any) -> list[CovariateSpec]:
    if isinstance(covariates, str):
        return parse_covariates(covariates)
    specs = []
    for c in covariates:
        if isinstance(c, CovariateSpec):
            specs.append(c)
        elif isinstance(c, str):
            specs.extend(parse_covariates(c))
        else:
            raise AnalysisError("covariates must be column names or CovariateSpec objects")
    if not specs:
        raise AnalysisError("no covariates given")
    return specs


# ---------------------------------------------------------------------------------------------------------
# design matrix (complete cases)
# ---------------------------------------------------------------------------------------------------------
@dataclass
class _Design:
    time: np.ndarray
    event: np.ndarray
    X: np.ndarray                 # n x p, float
    term_names: list[str]         # one per coefficient
    term_columns: list[str]       # source column of each coefficient
    groups: list[tuple[str, str, list[int]]]   # (model term name, column, coefficient indices)
    n_total: int


def _build_design(df: pd.DataFrame, time_col: str, event_col: str, specs: list[CovariateSpec]) -> _Design:
    _require_columns(df, [time_col, event_col] + [s.column for s in specs])
    t, e = _time_event_columns(df, time_col, event_col)
    complete = t.notna() & e.notna()
    prepared: list[tuple[CovariateSpec, str, pd.Series]] = []   # (spec, kind, values)
    for spec in specs:
        raw = df[spec.column]
        if pd.api.types.is_bool_dtype(raw):
            raw = raw.astype(float)
        if spec.cutoff is not None or (pd.api.types.is_numeric_dtype(raw) and spec.reference is None):
            vals = to_numeric(raw, errors="coerce")
            bad = vals.isna() & raw.notna()
            if bad.any():
                raise AnalysisError(f"column '{spec.column}' must be numeric (non-numeric values in rows "
                                    f"{_rows(df.index[bad])})")
            if np.isinf(vals).any():
                raise AnalysisError(f"column '{spec.column}' has infinite values "
                                    f"(rows {_rows(df.index[np.isinf(vals)])})")
            kind = "cut" if spec.cutoff is not None else "num"
        else:
            vals = raw.where(raw.isna(), raw.astype(str).str.strip())
            vals = vals.where(vals != "", np.nan)
            kind = "cat"
        prepared.append((spec, kind, vals))
        complete &= vals.notna()

    n = int(complete.sum())
    if n == 0:
        cols = ", ".join(f"'{s.column}'" for s in specs)
        raise AnalysisError(f"no complete cases: every row misses the time, the event or one of {cols}")
    time = timefix(t[complete].to_numpy(dtype=float))
    event = e[complete].to_numpy(dtype=float)
    if event.sum() == 0:
        raise AnalysisError(f"no events in column '{event_col}' among the complete cases")

    columns: list[np.ndarray] = []
    names: list[str] = []
    term_columns: list[str] = []
    groups: list[tuple[str, str, list[int]]] = []
    for spec, kind, vals in prepared:
        v = vals[complete]
        col = spec.column
        if kind == "num":
            x = v.to_numpy(dtype=float)
            if np.all(x == x[0]):
                raise AnalysisError(f"column '{col}' is constant among the {n} complete cases")
            idx = [len(columns)]
            columns.append(x)
            names.append(col)
        elif kind == "cut":
            x = (v.to_numpy(dtype=float) > spec.cutoff).astype(float)
            label = f"{col} > {format_cutoff(spec.cutoff)}"
            if np.all(x == x[0]):
                raise AnalysisError(f"all {n} complete cases of column '{col}' are on the same side of the "
                                    f"cutoff {format_cutoff(spec.cutoff)}")
            idx = [len(columns)]
            columns.append(x)
            names.append(label)
        else:
            present = list(pd.unique(v))
            if len(present) < 2:
                raise AnalysisError(f"column '{col}' has a single level among the {n} complete cases")
            if len(present) > MAX_LEVELS:
                raise AnalysisError(f"column '{col}' has more than {MAX_LEVELS} levels; is it an identifier?")
            levels = ordered_levels(col, present)
            ref = spec.reference if spec.reference is not None else reference_level(col, levels)
            if str(ref) not in levels:
                raise AnalysisError(f"the reference level given for column '{col}' does not occur among "
                                    f"its complete cases")
            ref = str(ref)
            idx = []
            arr = v.to_numpy(dtype=object)
            for lev in levels:
                if lev == ref:
                    continue
                idx.append(len(columns))
                columns.append((arr == lev).astype(float))
                names.append(f"{col}={lev}")
        label = names[idx[0]] if kind != "cat" else col
        groups.append((label, col, idx))
        term_columns.extend([col] * len(idx))

    X = np.column_stack(columns)
    _check_collinearity(X, names, term_columns)
    return _Design(time=time, event=event, X=X, term_names=names, term_columns=term_columns, groups=groups,
                   n_total=len(df))


def _check_collinearity(X: np.ndarray, names: list[str], columns: list[str]) -> None:
    """Raise naming the first term that is a linear combination of the ones before it (or constant)."""
    Z = X - X.mean(axis=0)
    sd = Z.std(axis=0)
    for k in range(X.shape[1]):
        if sd[k] == 0:
            raise AnalysisError(f"term '{names[k]}' (column '{columns[k]}') is constant among the complete "
                                f"cases")
    Z = Z / sd
    for k in range(1, X.shape[1] + 1):
        if np.linalg.matrix_rank(Z[:, :k], tol=1e-8 * math.sqrt(X.shape[0])) < k:
            others = sorted(set(columns[: k - 1]) - {columns[k - 1]}) or [columns[k - 1]]
            raise AnalysisError(
                f"term '{names[k - 1]}' (column '{columns[k - 1]}') is collinear with other covariates "
                f"({', '.join(repr(c) for c in others)}); remove one of them")


# ---------------------------------------------------------------------------------------------------------
# Efron partial likelihood pieces (vectorised), used for checks, the null model and cox.zph
# ---------------------------------------------------------------------------------------------------------
class _Efron:
    """Sorted data with Efron row expansion; evaluates log-lik, score, information (and zph pieces)."""

    def __init__(self, time: np.ndarray, event: np.ndarray, X: np.ndarray):
        order = np.argsort(time, kind="stable")
        self.t = time[order]
        self.e = event[order]
        Xs = X[order]
        self.X = Xs - Xs.mean(axis=0)           # centred (as R's zph1 does) for numerical stability
        times, start, self.tid = np.unique(self.t, return_index=True, return_inverse=True)
        self.start = start
        self.m = times.size
        d = np.add.reduceat(self.e, start)
        ev = np.flatnonzero(d > 0)
        dj = d[ev].astype(int)
        self.row_time = np.repeat(ev, dj)
        first = np.repeat(np.cumsum(dj) - dj, dj)
        self.row_frac = (np.arange(self.row_time.size) - first) / np.repeat(dj, dj)

    def pieces(self, beta: np.ndarray, g: np.ndarray | None = None) -> dict:
        X, e = self.X, self.e
        eta = X @ beta
        r = np.exp(eta - eta.max())
        rx = r[:, None] * X
        rxx = rx[:, :, None] * X[:, None, :]

        def by_time(a):
            return np.add.reduceat(a, self.start, axis=0)

        def rev_cumsum(a):
            return np.cumsum(a[::-1], axis=0)[::-1]

        S0, S1, S2 = rev_cumsum(by_time(r)), rev_cumsum(by_time(rx)), rev_cumsum(by_time(rxx))
        D0, D1, D2 = by_time(e * r), by_time(e[:, None] * rx), by_time(e[:, None, None] * rxx)
        j, f = self.row_time, self.row_frac
        den = S0[j] - f * D0[j]
        mean = (S1[j] - f[:, None] * D1[j]) / den[:, None]
        v = (S2[j] - f[:, None, None] * D2[j]) / den[:, None, None] - mean[:, :, None] * mean[:, None, :]
        out = {
            "loglik": float(np.sum(e * (eta - eta.max())) - np.sum(np.log(den))),
            "score": (e[:, None] * X).sum(axis=0) - mean.sum(axis=0),
            "info": v.sum(axis=0),
        }
        if g is not None:
            gs = g[j]
            out["score_g"] = ((e * g[self.tid])[:, None] * X).sum(axis=0) - (gs[:, None] * mean).sum(axis=0)
            out["info_g"] = (gs[:, None, None] * v).sum(axis=0)
            out["info_gg"] = (gs[:, None, None] ** 2 * v).sum(axis=0)
        return out


# ---------------------------------------------------------------------------------------------------------
# concordance and the PH test
# ---------------------------------------------------------------------------------------------------------
def harrell_concordance(time: np.ndarray, event: np.ndarray, risk: np.ndarray) -> dict:
    """Harrell's C of a risk score (higher = shorter survival) as R ``coxph``/``concordance()`` reports it.

    Comparable pairs: the shorter time is an event; an event and a censoring at the same time count (the
    censored patient is taken to have lived longer); two events at the same time are ``tied_y`` and left
    out. C = (concordant + tied_x / 2) / (concordant + discordant + tied_x).
    """
    time = np.asarray(time, float)
    event = np.asarray(event, float)
    risk = np.asarray(risk, float)
    conc = disc = tx = ty = txy = 0
    ev = np.flatnonzero(event == 1)
    for chunk in np.array_split(ev, max(1, ev.size // 256 + 1)):
        if chunk.size == 0:
            continue
        ti = time[chunk][:, None]
        ri = risk[chunk][:, None]
        later = (time[None, :] > ti) | ((time[None, :] == ti) & (event[None, :] == 0))
        gt = ri > risk[None, :]
        lt = ri < risk[None, :]
        eq = ~gt & ~lt
        conc += int(np.sum(later & gt))
        disc += int(np.sum(later & lt))
        tx += int(np.sum(later & eq))
        same = (time[None, :] == ti) & (event[None, :] == 1)
        same[np.arange(chunk.size), chunk] = False
        ty += int(np.sum(same & ~eq))
        txy += int(np.sum(same & eq))
    # tied event pairs were counted from both sides
    ty //= 2
    txy //= 2
    total = conc + disc + tx
    c = (conc + tx / 2) / total if total > 0 else math.nan
    return {"concordance": c, "concordant": conc, "discordant": disc, "tied_x": tx, "tied_y": ty,
            "tied_xy": txy}


@dataclass
class PHTest:
    """cox.zph row: score test of proportional hazards for one model term (or GLOBAL)."""

    term: str
    chisq: float
    df: int
    p: float

    def to_dict(self) -> dict:
        return {"term": self.term, "chisq": _num(self.chisq), "df": self.df, "p": _num(self.p)}


def cox_zph(design: _Design, beta: np.ndarray) -> list[PHTest]:
    """R ``cox.zph(fit, transform = "km", terms = TRUE)`` (survival >= 3.0 score-test form).

    g(t) = 1 - S(t-) with S the KM of the pooled complete cases, centred by its mean over the events.
    With U = sum over events of g (x - xbar_Efron) and the 2p x 2p information of (beta, gamma) at
    (beta_hat, 0), each term's statistic is u' I_kk^-1 u over the coefficients of the model plus that term's
    gamma, with u = (0, U_term); GLOBAL uses all gammas. Chi-square with df = number of coefficients.
    """
    ef = _Efron(design.time, design.event, design.X)
    km = kaplan_meier(ef.t, ef.e, ci="plain")
    # left-continuous KM at each distinct time: S just before it
    s_left = np.concatenate(([1.0], km.surv[:-1]))
    g_time = 1.0 - s_left
    g_time = g_time - g_time[ef.tid][ef.e == 1].mean()
    pc = ef.pieces(beta, g=g_time)
    p = beta.size
    imat = np.zeros((2 * p, 2 * p))
    imat[:p, :p] = pc["info"]
    imat[:p, p:] = pc["info_g"]
    imat[p:, :p] = pc["info_g"].T
    imat[p:, p:] = pc["info_gg"]
    u_full = np.concatenate((np.zeros(p), pc["score_g"]))
    rows = []
    for label, _col, idx in design.groups:
        kk = list(range(p)) + [p + i for i in idx]
        u = u_full[kk]
        chisq = float(u @ np.linalg.solve(imat[np.ix_(kk, kk)], u))
        rows.append(PHTest(label, chisq, len(idx), float(stats.chi2.sf(chisq, len(idx)))))
    chisq = float(u_full @ np.linalg.solve(imat, u_full))
    rows.append(PHTest("GLOBAL", chisq, p, float(stats.chi2.sf(chisq, p))))
    return rows


# ---------------------------------------------------------------------------------------------------------
# the fit
# ---------------------------------------------------------------------------------------------------------
@dataclass
class CoxTerm:
    term: str
    column: str
    coef: float
    se: float
    hr: float
    lo: float
    hi: float
    p: float

    def to_dict(self) -> dict:
        return {"term": self.term, "coef": _num(self.coef), "se": _num(self.se), "hr": _num(self.hr),
                "lo": _num(self.lo), "hi": _num(self.hi), "p": _num(self.p)}


@dataclass
class CoxResult:
    """A fitted Cox model (complete cases). ``terms`` has one row per coefficient."""

    n: int
    events: int
    excluded: int
    terms: list[CoxTerm]
    concordance: float
    loglik: float
    loglik_null: float
    lr_test: dict
    wald_test: dict
    ph_test: list[PHTest]
    covariates: list[CovariateSpec]
    concordance_counts: dict = field(default_factory=dict)
    conf_level: float = 0.95
    ties: str = "efron"

    @property
    def covariate_p(self) -> float:
        """The p-value for the whole covariate: the term's Wald p, or the global Wald p for several terms."""
        return self.terms[0].p if len(self.terms) == 1 else self.wald_test["p"]

    def to_dict(self) -> dict:
        """The ``cox`` JSON contract (plus ``loglik_null``, ``lr_test``, ``wald_test``, ``covariates``)."""
        return {
            "n": self.n, "events": self.events, "excluded": self.excluded,
            "concordance": _num(self.concordance), "loglik": _num(self.loglik),
            "terms": [t.to_dict() for t in self.terms],
            "ph_test": [r.to_dict() for r in self.ph_test],
            "loglik_null": _num(self.loglik_null),
            "lr_test": {k: _num(v) if k != "df" else v for k, v in self.lr_test.items()},
            "wald_test": {k: _num(v) if k != "df" else v for k, v in self.wald_test.items()},
            "covariates": [c.label for c in self.covariates],
            "conf_level": self.conf_level, "ties": self.ties,
        }


_FIT_OPTIONS = {"precision": 1e-16, "r_precision": 1e-16, "max_steps": 100}


def cox_fit(df: pd.DataFrame, time_col: str, event_col: str, covariates: Any, ties: str = "efron",
            conf_level: float = 0.95) -> CoxResult:
    """Cox proportional-hazards model on the complete cases, Efron ties (R ``coxph`` default).

    ``covariates``: a list of :class:`CovariateSpec` (or the text :func:`parse_covariates` reads). Raises
    :class:`AnalysisError` naming the column for a constant or single-level column, collinear terms, or a
    coefficient that does not converge (e.g. a group without events, where the HR is 0 or infinite).
    """
    if ties != "efron":
        raise AnalysisError("only Efron's method for tied times is available (ties='efron')")
    if not (0 < conf_level < 1):
        raise AnalysisError("the confidence level must be between 0 and 1")
    specs = _as_specs(covariates)
    design = _build_design(df, time_col, event_col, specs)
    beta, se, loglik = _lifelines_fit(design)

    ef = _Efron(design.time, design.event, design.X)
    pc = ef.pieces(beta)
    try:
        step = np.linalg.solve(pc["info"], pc["score"])
    except np.linalg.LinAlgError:
        step = np.full(beta.size, np.inf)
    scale = design.X.std(axis=0)
    scaled = np.abs(step) * scale
    if not np.all(np.isfinite(scaled)) or scaled.max() > 1e-4 or not np.all(np.isfinite(se)):
        k = int(np.nanargmax(np.where(np.isfinite(scaled), scaled, np.inf)))
        raise AnalysisError(
            f"the Cox model does not converge for term '{design.term_names[k]}' (column "
            f"'{design.term_columns[k]}'): its hazard ratio tends to 0 or infinity, e.g. a group without "
            f"events")
    loglik_null = ef.pieces(np.zeros_like(beta))["loglik"]

    z = stats.norm.ppf(1 - (1 - conf_level) / 2)
    terms = [CoxTerm(term=name, column=col, coef=float(b), se=float(s), hr=math.exp(b),
                     lo=math.exp(b - z * s), hi=math.exp(b + z * s), p=float(2 * stats.norm.sf(abs(b / s))))
             for name, col, b, s in zip(design.term_names, design.term_columns, beta, se)]
    p = beta.size
    lr = 2 * (loglik - loglik_null)
    wald = float(beta @ pc["info"] @ beta)
    conc = harrell_concordance(design.time, design.event, design.X @ beta)
    return CoxResult(
        n=int(design.time.size), events=int(design.event.sum()), excluded=design.n_total - design.time.size,
        terms=terms, concordance=conc["concordance"], loglik=loglik, loglik_null=loglik_null,
        lr_test={"chisq": lr, "df": p, "p": float(stats.chi2.sf(lr, p))},
        wald_test={"chisq": wald, "df": p, "p": float(stats.chi2.sf(wald, p))},
        ph_test=cox_zph(design, beta), covariates=specs,
        concordance_counts={k: v for k, v in conc.items() if k != "concordance"},
        conf_level=conf_level,
    )


def _lifelines_fit(design: _Design) -> tuple[np.ndarray, np.ndarray, float]:
    from lifelines import CoxPHFitter
    from lifelines.exceptions import ConvergenceError, ConvergenceWarning

    names = [f"x{i}" for i in range(design.X.shape[1])]
    frame = pd.DataFrame(design.X, columns=names)
    frame["__time"] = design.time
    frame["__event"] = design.event
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            cph = CoxPHFitter().fit(frame, duration_col="__time", event_col="__event",
                                    fit_options=dict(_FIT_OPTIONS))
        except ConvergenceError:
            cols = ", ".join(f"'{c}'" for c in dict.fromkeys(design.term_columns))
            raise AnalysisError(f"the Cox model did not converge; check the covariates ({cols}) for "
                                f"collinearity or a group without events") from None
    beta = cph.params_.reindex(names).to_numpy(dtype=float)
    se = cph.standard_errors_.reindex(names).to_numpy(dtype=float)
    return beta, se, float(cph.log_likelihood_)


# ---------------------------------------------------------------------------------------------------------
# univariable screening
# ---------------------------------------------------------------------------------------------------------
@dataclass
class UnivariableResult:
    """One Cox model per covariate; covariates whose model cannot be fitted are listed in ``errors``."""

    models: list[CoxResult]
    errors: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"models": [m.to_dict() for m in self.models], "errors": list(self.errors)}


def cox_univariable(df: pd.DataFrame, time_col: str, event_col: str, covariates: Any) -> UnivariableResult:
    """Fit :func:`cox_fit` separately for each covariate (each on its own complete cases)."""
    specs = _as_specs(covariates)
    _require_columns(df, [time_col, event_col])
    models, errors = [], []
    for spec in specs:
        try:
            models.append(cox_fit(df, time_col, event_col, [spec]))
        except AnalysisError as exc:
            errors.append({"covariate": spec.label, "error": str(exc)})
    return UnivariableResult(models=models, errors=errors)


def select_by_pvalue(univariable: UnivariableResult, alpha: float = 0.05) -> list[CovariateSpec]:
    """Covariates whose univariable p < ``alpha`` (the paper's entry rule for the multivariable model).

    The p-value is the term's Wald p; for a categorical covariate with several non-reference levels it is
    the model's global Wald test (all its levels together; :attr:`CoxResult.covariate_p`).
    """
    out: list[CovariateSpec] = []
    for model in univariable.models:
        if model.covariate_p < alpha:
            out.extend(model.covariates)
    return out
