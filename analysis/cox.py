"""Univariable and multivariable Cox proportional-hazards models (Efron ties).

* The fit maximises the Efron partial likelihood by Newton-Raphson with step halving from beta = 0, as R's
  ``coxph`` (``coxph.fit``) does, iterated to full precision; a coefficient whose likelihood is monotone (R:
  "Loglik converged before variable ...; coefficient may be infinite") is reported by name instead of a
  number. lifelines' ``CoxPHFitter`` is an independent oracle in the tests.
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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from analysis import schema
from analysis.dichotomise import format_cutoff
from analysis.efron import EfronRows, risk_set
from analysis.errors import AnalysisError
from analysis.jsonsafe import json_num
from analysis.numeric import numbers_or_raise
from analysis.validate import lines_where
from analysis.survival import (
    kaplan_meier, require_survival_columns, time_event_columns, ordered_levels, reference_level, timefix,
)

#: a categorical covariate with more levels than this is almost certainly an identifier (schema.MAX_LEVELS is
#: what the app offers; a command-line user may go further)
MAX_LEVELS = 20


# ---------------------------------------------------------------------------------------------------------
# covariate specifications
# ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CovariateSpec:
    """One covariate of a Cox model, in one of three forms.

    * continuous: a numeric ``column`` as it is, the HR per ``per`` units (term ``"age"``, or ``"age (per 10)"``;
      R ``coxph(Surv(t, e) ~ I(age / 10))``);
    * cut: ``cutoff`` given -> 0/1 term ``"column > X"`` (the paper's rule; the low group ``<= X`` is the
      reference);
    * categorical: a text column, or any column with ``categorical=True`` or a ``reference`` -> one term
      ``"column=LEVEL"`` per non-reference level; levels are written as in the file (``1``, not ``1.0``), the
      reference is ``reference`` or :func:`analysis.schema.reference_level`.

    Its text form (:attr:`label`, read back by :func:`parse_covariates`): ``age``, ``age*10``, ``ast:56.5``,
    ``grade=1`` (categorical with reference level 1).
    """

    column: str
    cutoff: float | None = None
    reference: str | None = None
    per: float = 1.0
    categorical: bool = False

    @property
    def kind(self) -> str:
        """``"cut"``, ``"categorical"`` or ``"continuous"`` (a text column is categorical whatever this says)."""
        if self.cutoff is not None:
            return "cut"
        return "categorical" if self.categorical or self.reference is not None else "continuous"

    @property
    def label(self) -> str:
        """The spec as text: ``age``, ``age*10``, ``ast:56.5``, ``grade=1``."""
        if self.cutoff is not None:
            return f"{self.column}:{format_cutoff(self.cutoff)}"
        if self.reference is not None:
            return f"{self.column}={self.reference}"
        if self.per != 1:
            return f"{self.column}*{format_cutoff(self.per)}"
        return self.column


def _spec_number(item: str, text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise AnalysisError(f"covariate '{item}': the {what} must be a number") from None
    if not math.isfinite(value):
        raise AnalysisError(f"covariate '{item}': the {what} must be a finite number")
    return value


def parse_covariate(item: str, refs: Mapping[str, str] | None = None, per: Mapping[str, float] | None = None,
                    resolve: Callable[[str], str] | None = None) -> CovariateSpec:
    """One covariate from its text form (see :class:`CovariateSpec`): ``col``, ``col*N``, ``col:X``,
    ``col=LEVEL``. ``refs`` / ``per`` give a column's reference level or unit step (the command line's
    ``--ref COL=LEVEL`` and ``--per COL=N``); ``resolve`` maps the name written to the frame's column (a file
    header to its canonical name) before they are looked up."""
    item = item.strip()
    col, cutoff, reference, step = item, None, None, None
    if ":" in item:
        col, _, cut = item.rpartition(":")
        cutoff = _spec_number(item, cut, "cutoff after ':'")
    elif "=" in item:
        col, _, reference = item.partition("=")
        reference = reference.strip()
        if not reference:
            raise AnalysisError(f"covariate '{item}': give the reference level after '='")
    elif "*" in item:
        col, _, factor = item.rpartition("*")
        step = _spec_number(item, factor, "unit step after '*'")
    col = col.strip()
    if not col:
        raise AnalysisError(f"covariate '{item}' has no column name")
    if resolve is not None:
        col = resolve(col)
    if reference is None and refs and col in refs:
        reference = str(refs[col]).strip()
    if step is None:
        step = float(per[col]) if per and col in per else 1.0
    if not (math.isfinite(step) and step > 0):
        raise AnalysisError(f"covariate '{item}': the unit step must be a positive number")
    if cutoff is not None and (reference is not None or step != 1.0):
        raise AnalysisError(f"covariate '{item}': a cut covariate takes no reference level or unit step")
    if reference is not None and step != 1.0:
        raise AnalysisError(f"covariate '{item}': a categorical covariate takes no unit step")
    return CovariateSpec(col, cutoff, reference, step)


def parse_covariates(text: str | Sequence[str], refs: Mapping[str, str] | None = None,
                     per: Mapping[str, float] | None = None) -> list[CovariateSpec]:
    """Parse ``"age*10,ast:56.5,child_pugh"`` (or a list of such items) into :class:`CovariateSpec` objects
    (:func:`parse_covariate` for each item)."""
    items = [s.strip() for s in (text.split(",") if isinstance(text, str) else text)]
    items = [s for s in items if s]
    if not items:
        raise AnalysisError("no covariates given")
    specs = [parse_covariate(item, refs, per) for item in items]
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
    require_survival_columns(df, [time_col, event_col] + [s.column for s in specs])
    t, e = time_event_columns(df, time_col, event_col)
    complete = t.notna() & e.notna()
    prepared: list[tuple[CovariateSpec, str, pd.Series]] = []   # (spec, kind, values)
    for spec in specs:
        raw = df[spec.column]
        if pd.api.types.is_bool_dtype(raw):
            raw = raw.astype(float)
        numeric = pd.api.types.is_numeric_dtype(raw)
        if spec.cutoff is not None or (numeric and spec.kind == "continuous"):
            vals = numbers_or_raise(raw, lambda lines: f"column '{spec.column}' must be numeric (non-numeric "
                                                       f"values in {lines})")
            if np.isinf(vals).any():
                raise AnalysisError(f"column '{spec.column}' has infinite values ({lines_where(np.isinf(vals))})")
            kind = "cut" if spec.cutoff is not None else "num"
        else:
            if spec.per != 1:
                raise AnalysisError(f"column '{spec.column}' is not numeric: a HR per {format_cutoff(spec.per)} "
                                    f"units needs numbers")
            vals = schema.level_texts(raw)
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
            x = v.to_numpy(dtype=float) / spec.per
            if np.all(x == x[0]):
                raise AnalysisError(f"column '{col}' is constant among the {n} complete cases")
            idx = [len(columns)]
            columns.append(x)
            names.append(col if spec.per == 1 else f"{col} (per {format_cutoff(spec.per)})")
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
            if pd.api.types.is_numeric_dtype(df[col]) and not pd.api.types.is_bool_dtype(df[col]):
                levels = sorted(present, key=float)              # grade 1, 2, ..., 10 in numeric order
            else:
                levels = ordered_levels(col, present)
            ref = schema.find_level(spec.reference, levels, col) if spec.reference is not None else \
                reference_level(col, levels)
            if ref is None:
                raise AnalysisError(f"the reference level given for column '{col}' does not occur among "
                                    f"its complete cases (its levels: {', '.join(levels)})")
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
class _PartialLikelihood:
    """Sorted data with Efron's row expansion (:class:`analysis.efron.EfronRows`); evaluates log-lik, score,
    information (and zph pieces)."""

    def __init__(self, time: np.ndarray, event: np.ndarray, X: np.ndarray):
        order = np.argsort(time, kind="stable")
        self.t = time[order]
        self.e = event[order]
        Xs = X[order]
        self.X = Xs - Xs.mean(axis=0)           # centred (as R's zph1 does) for numerical stability
        times, start, self.tid = np.unique(self.t, return_index=True, return_inverse=True)
        self.start = start
        self.m = times.size
        self.rows = EfronRows(np.add.reduceat(self.e, start))

    def pieces(self, beta: np.ndarray, g: np.ndarray | None = None) -> dict:
        X, e = self.X, self.e
        eta = X @ beta
        r = np.exp(eta - eta.max())
        rx = r[:, None] * X
        rxx = rx[:, :, None] * X[:, None, :]

        def by_time(a):
            return np.add.reduceat(a, self.start, axis=0)

        S0, S1, S2 = risk_set(by_time(r)), risk_set(by_time(rx)), risk_set(by_time(rxx))
        D0, D1, D2 = by_time(e * r), by_time(e[:, None] * rx), by_time(e[:, None, None] * rxx)
        rows = self.rows
        j = rows.time
        den = rows.risk_sums(S0, D0)
        mean = rows.risk_sums(S1, D1) / den[:, None]
        v = rows.risk_sums(S2, D2) / den[:, None, None] - mean[:, :, None] * mean[:, None, :]
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
    event = np.asarray(event, float) == 1
    _, rk = np.unique(np.asarray(risk, float), return_inverse=True)     # risk ranks, ties equal
    _, tk = np.unique(time, return_inverse=True)
    # "later than event i": a larger time, or the same time and censored -- an order key where events at a time
    # share a key and its censorings come just after them
    key = 2 * tk + (~event)
    n = key.size
    by_key = np.sort(key)
    later = n - np.searchsorted(by_key, key, side="right")                 # patients later than each one
    # later with the same risk: count within each risk rank, in key order
    span = int(key.max()) + 1
    combined = np.sort(rk * span + key)
    tied_x = np.searchsorted(combined, rk * span + span - 1, side="right") - \
        np.searchsorted(combined, rk * span + key, side="right")
    # later with a lower risk: in key order (equal keys by rising risk, so that no pair of them counts)
    order = np.lexsort((rk, key))
    lower = np.empty(n, dtype=np.int64)
    lower[order] = _smaller_after(rk[order])
    ev = event
    conc = int(lower[ev].sum())
    tx = int(tied_x[ev].sum())
    disc = int(later[ev].sum()) - conc - tx
    # pairs of events at the same time: tied on risk too (tied_xy) or not (tied_y)
    d = np.bincount(tk[ev], minlength=tk.max() + 1 if n else 0)
    _, same_risk = np.unique(tk[ev] * (rk.max() + 1) + rk[ev], return_counts=True)
    txy = int((same_risk * (same_risk - 1) // 2).sum())
    ty = int((d * (d - 1) // 2).sum()) - txy
    total = conc + disc + tx
    c = (conc + tx / 2) / total if total > 0 else math.nan
    return {"concordance": c, "concordant": conc, "discordant": disc, "tied_x": tx, "tied_y": ty,
            "tied_xy": txy}


def _smaller_after(a: np.ndarray) -> np.ndarray:
    """For each position i, how many later positions j > i hold a smaller value (a_j < a_i): a bottom-up merge
    count, vectorised per level -- each left block's elements are located in the sorted right block beside it
    with one ``searchsorted`` over all block pairs (values offset by the pair). O(n log^2 n)."""
    a = np.asarray(a, dtype=np.int64)
    n = a.size
    counts = np.zeros(n, dtype=np.int64)
    if n < 2:
        return counts
    pos = np.arange(n)                     # original position of each entry of the block-sorted array
    vals = a.copy()
    width = int(vals.max()) + 2
    size = 1
    while size < n:
        block = np.arange(n) // size
        pair, left = block // 2, (block % 2) == 0
        keyed = pair * width + vals
        right_keys = keyed[~left]          # right blocks, each sorted, pairs in order: sorted overall
        start = np.searchsorted(right_keys, pair[left] * width, side="left")
        below = np.searchsorted(right_keys, keyed[left], side="left")
        counts[pos[left]] += below - start
        merged = np.lexsort((vals, pair))   # the next level's blocks (pairs), each sorted by value
        vals, pos = vals[merged], pos[merged]
        size *= 2
    return counts


@dataclass
class PHTest:
    """cox.zph row: score test of proportional hazards for one model term (or GLOBAL)."""

    term: str
    chisq: float
    df: int
    p: float
    note: str | None = None

    def to_dict(self) -> dict:
        out = {"term": self.term, "chisq": json_num(self.chisq), "df": self.df, "p": json_num(self.p)}
        if self.note:
            out["note"] = self.note
        return out


def cox_zph(design: _Design, beta: np.ndarray) -> list[PHTest]:
    """R ``cox.zph(fit, transform = "km", terms = TRUE)`` (survival >= 3.0 score-test form).

    g(t) = 1 - S(t-) with S the KM of the pooled complete cases, centred by its mean over the events.
    With U = sum over events of g (x - xbar_Efron) and the 2p x 2p information of (beta, gamma) at
    (beta_hat, 0), each term's statistic is u' I_kk^-1 u over the coefficients of the model plus that term's
    gamma, with u = (0, U_term); GLOBAL uses all gammas. Chi-square with df = number of coefficients.
    """
    ef = _PartialLikelihood(design.time, design.event, design.X)
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
        rows.append(_ph_row(label, u_full[kk], imat[np.ix_(kk, kk)], len(idx)))
    rows.append(_ph_row("GLOBAL", u_full, imat, p))
    return rows


def _ph_row(term: str, u: np.ndarray, info: np.ndarray, df: int) -> PHTest:
    """One row of the PH test; when the information matrix is singular (one event, or all events at one time,
    where g(t) is constant) the test is undefined: chisq and p are NaN and ``note`` says why."""
    try:
        if not np.all(np.isfinite(info)):
            raise np.linalg.LinAlgError
        if np.linalg.cond(info) > 1e12:
            raise np.linalg.LinAlgError
        chisq = float(u @ np.linalg.solve(info, u))
    except np.linalg.LinAlgError:
        return PHTest(term, math.nan, df, math.nan, note="not computable: the test's information matrix is "
                                                         "singular (too few distinct event times)")
    return PHTest(term, chisq, df, float(stats.chi2.sf(chisq, df)))


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
        return {"term": self.term, "coef": json_num(self.coef), "se": json_num(self.se), "hr": json_num(self.hr),
                "lo": json_num(self.lo), "hi": json_num(self.hi), "p": json_num(self.p)}


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
            "concordance": json_num(self.concordance), "loglik": json_num(self.loglik),
            "terms": [t.to_dict() for t in self.terms],
            "ph_test": [r.to_dict() for r in self.ph_test],
            "loglik_null": json_num(self.loglik_null),
            "lr_test": {k: json_num(v) if k != "df" else v for k, v in self.lr_test.items()},
            "wald_test": {k: json_num(v) if k != "df" else v for k, v in self.wald_test.items()},
            "covariates": [c.label for c in self.covariates],
            "conf_level": self.conf_level, "ties": self.ties,
        }


_FIT_OPTIONS = {"precision": 1e-16, "r_precision": 1e-16, "max_steps": 100}


def cox_fit(df: pd.DataFrame, time_col: str, event_col: str, covariates: Any, ties: str = "efron",
            conf_level: float = 0.95, concordance: bool = True) -> CoxResult:
    """Cox proportional-hazards model on the complete cases, Efron ties (R ``coxph`` default).

    ``covariates``: a list of :class:`CovariateSpec` (or the text :func:`parse_covariates` reads). Raises
    :class:`AnalysisError` naming the column for a constant or single-level column, collinear terms, or a
    coefficient that does not converge (e.g. a group without events, where the HR is 0 or infinite).
    ``concordance=False`` skips Harrell's C (NaN), which a screen of many univariable models does not show.
    """
    if ties != "efron":
        raise AnalysisError("only Efron's method for tied times is available (ties='efron')")
    if not (0 < conf_level < 1):
        raise AnalysisError("the confidence level must be between 0 and 1")
    specs = _as_specs(covariates)
    design = _build_design(df, time_col, event_col, specs)
    ef = _PartialLikelihood(design.time, design.event, design.X)
    beta, pc = _newton(ef, design)
    try:
        se = np.sqrt(np.diag(np.linalg.inv(pc["info"])))
    except np.linalg.LinAlgError:
        se = np.full(beta.size, np.nan)
    loglik = pc["loglik"]
    loglik_null = ef.pieces(np.zeros_like(beta))["loglik"]

    z = stats.norm.ppf(1 - (1 - conf_level) / 2)
    with np.errstate(over="ignore", invalid="ignore"):
        terms = [CoxTerm(term=name, column=col, coef=float(b), se=float(s), hr=float(np.exp(b)),
                         lo=float(np.exp(b - z * s)), hi=float(np.exp(b + z * s)),
                         p=float(2 * stats.norm.sf(abs(b / s))))
                 for name, col, b, s in zip(design.term_names, design.term_columns, beta, se)]
    p = beta.size
    lr = 2 * (loglik - loglik_null)
    wald = float(beta @ pc["info"] @ beta)
    conc = harrell_concordance(design.time, design.event, design.X @ beta) if concordance else \
        {"concordance": math.nan}
    return CoxResult(
        n=int(design.time.size), events=int(design.event.sum()), excluded=design.n_total - design.time.size,
        terms=terms, concordance=conc["concordance"], loglik=loglik, loglik_null=loglik_null,
        lr_test={"chisq": lr, "df": p, "p": float(stats.chi2.sf(lr, p))},
        wald_test={"chisq": wald, "df": p, "p": float(stats.chi2.sf(wald, p))},
        ph_test=cox_zph(design, beta), covariates=specs,
        concordance_counts={k: v for k, v in conc.items() if k != "concordance"},
        conf_level=conf_level,
    )


def _newton(ef: _PartialLikelihood, design: _Design, max_iter: int = 100) -> tuple[np.ndarray, dict]:
    """Maximise the Efron partial likelihood: Newton-Raphson from beta = 0 with step halving when the
    log-likelihood falls (R ``coxph.fit``), iterated until the step no longer changes beta or the likelihood.

    Raises :class:`AnalysisError` naming the term whose coefficient runs off to infinity (a monotone
    likelihood, e.g. a group without events: R warns "Loglik converged before variable ...; coefficient may be
    infinite" and prints a meaningless number). The test is R's: the last Newton step, relative to the
    covariate's spread, is not negligible once the likelihood has stopped changing.
    """
    p = design.X.shape[1]
    beta = np.zeros(p)
    pc = ef.pieces(beta)
    scale = design.X.std(axis=0)
    converged = False
    for _ in range(max_iter):
        step = _solve(pc["info"], pc["score"])
        if step is None:
            break
        halvings = 0
        while True:
            new = beta + step
            if np.all(np.abs(new * scale) < 700):             # exp() stays finite in the pieces
                new_pc = ef.pieces(new)
                if new_pc["loglik"] >= pc["loglik"] - 1e-12 * abs(pc["loglik"]):
                    break
            step = step / 2
            halvings += 1
            if halvings > 30:
                new_pc = None
                break
        if new_pc is None:
            break
        change = abs(new_pc["loglik"] - pc["loglik"])
        beta, pc = new, new_pc
        if np.max(np.abs(step) * np.maximum(scale, 1e-300)) < 1e-10 or change < 1e-13 * max(1.0, abs(pc["loglik"])):
            converged = True
            break
    step = _solve(pc["info"], pc["score"])
    scaled = np.full(p, np.inf) if step is None else np.abs(step) * scale
    if not converged or not np.all(np.isfinite(scaled)) or scaled.max() > 1e-4:
        k = int(np.nanargmax(np.where(np.isfinite(scaled), scaled, np.inf)))
        raise AnalysisError(
            f"the Cox model does not converge for term '{design.term_names[k]}' (column "
            f"'{design.term_columns[k]}'): its hazard ratio tends to 0 or infinity, e.g. a group without "
            f"events")
    return beta, pc


def _solve(info: np.ndarray, score: np.ndarray) -> np.ndarray | None:
    """The Newton step info^-1 score (None when the information matrix is singular or not finite)."""
    if not (np.all(np.isfinite(info)) and np.all(np.isfinite(score))):
        return None
    try:
        step = np.linalg.solve(info, score)
    except np.linalg.LinAlgError:
        return None
    return step if np.all(np.isfinite(step)) else None


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


def cox_univariable(df: pd.DataFrame, time_col: str, event_col: str, covariates: Any,
                    concordance: bool = True) -> UnivariableResult:
    """Fit :func:`cox_fit` separately for each covariate (each on its own complete cases)."""
    specs = _as_specs(covariates)
    require_survival_columns(df, [time_col, event_col])
    models, errors = [], []
    for spec in specs:
        try:
            models.append(cox_fit(df, time_col, event_col, [spec], concordance=concordance))
        except AnalysisError as exc:
            errors.append({"covariate": spec.label, "error": str(exc)})
        except (ArithmeticError, ValueError, np.linalg.LinAlgError) as exc:   # one covariate never ends the table
            errors.append({"covariate": spec.label,
                           "error": f"the Cox model of '{spec.column}' cannot be fitted ({type(exc).__name__})"})
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
