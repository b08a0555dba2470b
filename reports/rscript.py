"""The R bundle (.zip): ``reproduce.R``, the analysed data as ``data.csv`` (and the meta-analysis' study effects),
the view (``view.json``) and the app's numbers (``app_results.json``).

``Rscript reproduce.R`` recomputes every number of the view with R's survival package (and maxstat, metafor when
the view uses them) -- the same endpoints, cutoffs (high group: value > cutoff), CI transform, landmark times,
reference levels, per-N scaling, groupings and selection rule -- writes them to ``r_results.json`` in the shape of
``app_results.json``, and reports how many numbers agree with the app's to 1e-6 (relative).

:func:`app_numbers` is that shape filled from the app's results; :func:`compare` compares two such objects (the
tests run the script and use it). The R code is written for a statistician to read: one section per analysis,
each call with its options spelled out.
"""
from __future__ import annotations

import io
import json
import math
import zipfile

import pandas as pd

from analysis import schema
from analysis.baseline import group_levels
from analysis.dichotomise import format_cutoff
from reports import app_version
from reports.spec import grouped_name

RTOL = 1e-6


# ---------------------------------------------------------------------------------------------------------
# the app's numbers, in the shape the R script writes
# ---------------------------------------------------------------------------------------------------------
def _n(x):
    """A JSON number (None for missing / not finite)."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def km_numbers(km) -> dict:
    """Groups (n, events, median and CI, survival at the requested times up to the last observed time), log-rank,
    two-group HR and the trend test of a StratifiedKM."""
    groups = []
    for g in km.groups:
        last = float(g.km.times[-1]) if g.km.times.size else -math.inf
        at = [{"time": _n(a["time"]), "surv": _n(a["surv"]), "lo": _n(a["lo"]), "hi": _n(a["hi"]),
               "at_risk": int(a["at_risk"])} for a in g.km.at if float(a["time"]) <= last]
        groups.append({"label": g.label, "n": g.n, "events": g.events, "median": _n(g.median),
                       "median_lo": _n(g.median_lo), "median_hi": _n(g.median_hi), "at": at})
    out = {"groups": groups}
    if km.logrank is not None:
        out["logrank"] = {"chisq": _n(km.logrank.chisq), "df": km.logrank.df, "p": _n(km.logrank.p)}
    if km.hr is not None:
        r = km.hr.result
        out["hr"] = {"hr": _n(r.hr), "lo": _n(r.lo), "hi": _n(r.hi), "p": _n(r.p)}
    if km.trend is not None:
        out["trend"] = {"chisq": _n(km.trend.chisq), "p": _n(km.trend.p)}
    return out


def _model(m) -> dict:
    zph = [{"term": r.term, "chisq": _n(r.chisq), "df": r.df, "p": _n(r.p)} for r in m.ph_test]
    return {"n": m.n, "events": m.events,
            "terms": [{"term": t.term, "coef": _n(t.coef), "se": _n(t.se), "hr": _n(t.hr), "lo": _n(t.lo),
                       "hi": _n(t.hi), "p": _n(t.p)} for t in m.terms],
            "p": _n(m.covariate_p), "concordance": _n(m.concordance), "loglik": _n(m.loglik),
            "lr_chisq": _n(m.lr_test["chisq"]), "lr_p": _n(m.lr_test["p"]), "zph": zph}


def app_numbers(results) -> dict:
    """Every number of the view, in the shape of the R script's ``r_results.json``."""
    out: dict = {"followup": {}, "km": {"view": km_numbers(results.view)}, "cox": {}} if results.has_cohort else {}
    for ep in results.endpoints:
        key = ep.endpoint.key
        fu = ep.followup
        out["followup"][key] = {"median": _n(fu.median), "q1": _n(fu.q1), "q3": _n(fu.q3)}
        out["km"][f"overall:{key}"] = km_numbers(ep.overall)
        for p in ep.panels:
            out["km"][f"panel:{key}:{p.letter}"] = km_numbers(p.km)
        if ep.cox is not None:
            cox = ep.cox
            uni = {}
            for v in cox.variables:
                m = cox.model_of(v)
                uni[v.spec.label] = None if m is None else _model(m)
            out["cox"][key] = {"univariable": uni, "selected": [v.spec.label for v in cox.selected],
                               "multivariable": None if cox.multivariable is None else _model(cox.multivariable)}
    if results.response is not None:
        out["response"] = _response_numbers(results.response)
    if results.ae is not None:
        out["ae"] = _ae_numbers(results.ae)
    if results.baseline is not None:
        out["baseline"] = _baseline_numbers(results.baseline)
    if results.meta is not None:
        out["meta"] = {}
        for outcome, pooled in results.meta_pooled.items():
            if pooled.analysis is None:
                continue
            a = pooled.analysis
            h = a.heterogeneity
            entry = {"k": a.k, "fixed": _pooled(a.fixed), "q": _n(h.q), "i2": _n(h.i2)}
            if a.random is not None and a.k > 1:     # one study: no random-effects fit (as the pooled table)
                entry["random"] = {**_pooled(a.random), "tau2": _n(a.random.tau2), "i2": _n(h.i2_tau2)}
            out["meta"][str(outcome)] = entry
    if getattr(results, "cutpoint", None) is not None:
        c = results.cutpoint
        out["maxstat"] = {"cutpoint": _n(c.cutpoint), "statistic": _n(c.statistic), "p_lau94": _n(c.p_lau94)}
    return out


def _pooled(est) -> dict:
    return {"est": _n(est.est), "lo": _n(est.lo), "hi": _n(est.hi), "p": _n(est.p)}


def _crit(s) -> dict:
    return {"n": s.n, "counts": {k: int(v) for k, v in s.counts.items()},
            "orr": {"n": s.orr.n, "lo": _n(s.orr.lo), "hi": _n(s.orr.hi)},
            "dcr": {"n": s.dcr.n, "lo": _n(s.dcr.lo), "hi": _n(s.dcr.hi)}}


def _response_numbers(table) -> dict:
    out = {"overall": {label: _crit(s) for label, s in table.criteria.items()}}
    if table.by is not None:
        out["groups"] = {g.level: {label: _crit(s) for label, s in g.criteria.items()} for g in table.groups}
        out["tests"] = {label: {name: _n(t.p) for name, t in tests.items()} for label, tests in table.tests.items()}
    return out


def _ae_counts(c: dict) -> dict:
    return {k: int(c[k]) for k in ("n", "any", "grade_1_2", "grade_3_4", "grade_5", "grade_3_plus")}


def _ae_numbers(table) -> dict:
    out = {"terms": {}, "summary": {}}
    for key, rows in (("summary", table.summary), ("terms", table.events)):
        for r in rows:
            entry = {"all": _ae_counts(r.counts)}
            if r.groups:
                entry["groups"] = {g["level"]: _ae_counts(g) for g in r.groups}
                entry["tests"] = {name: _n(t.p) for name, t in r.tests.items()}
            out[key][r.term] = entry
    return out


def _baseline_numbers(table) -> dict:
    out = {}
    for row in table.rows:
        values = row.get("values")
        if not values:
            if row["p"] is not None and row["level"] is None:
                out.setdefault(row["variable"], {})["p"] = _n(row["p"])
            continue
        entry = out.setdefault(row["variable"], {})
        level = row["level"]
        if level in ("Mean ± SD", "Median (Q1, Q3)"):
            for col, v in values.items():
                stats = entry.setdefault("summary", {}).setdefault(col, {})
                stats.update({k: (int(x) if k == "n" else _n(x)) for k, x in v.items() if k not in ("min", "max")})
            key = "p_mean" if level == "Mean ± SD" else "p_median"
            if row["p"] is not None:
                entry[key] = _n(row["p"])
        elif level == "Missing":
            entry["missing"] = {col: int(v["n"]) for col, v in values.items()}
        else:
            entry.setdefault("counts", {})[str(level)] = {col: int(v["n"]) for col, v in values.items()}
    return out


# ---------------------------------------------------------------------------------------------------------
# comparison
# ---------------------------------------------------------------------------------------------------------
def compare(app, r, rtol: float = RTOL, path: str = "") -> tuple[int, list[str]]:
    """(numbers compared, differences) between the app's numbers and R's: every number of ``app`` must be in
    ``r`` and agree within ``rtol`` relative (1e-12 absolute near zero); a missing value must be missing in both;
    texts (labels, terms) must be equal."""
    diffs: list[str] = []
    count = 0
    if isinstance(app, dict):
        if not isinstance(r, dict):
            return 0, [f"{path}: R has {type(r).__name__}, the app an object"]
        for k, v in app.items():
            if k not in r:
                if v is None or (isinstance(v, dict) and not v):
                    continue
                diffs.append(f"{path}/{k}: missing in R's results")
                continue
            c, d = compare(v, r[k], rtol, f"{path}/{k}")
            count += c
            diffs += d
        return count, diffs
    if isinstance(app, list):
        if not isinstance(r, list) or len(r) != len(app):
            return 0, [f"{path}: {len(app)} items in the app, {len(r) if isinstance(r, list) else 'no list'} in R"]
        for i, (a, b) in enumerate(zip(app, r)):
            c, d = compare(a, b, rtol, f"{path}[{i}]")
            count += c
            diffs += d
        return count, diffs
    if isinstance(app, str):
        return 0, ([] if app == r else [f"{path}: {app!r} in the app, {r!r} in R"])
    if app is None:
        return 0, ([] if r is None else [f"{path}: missing in the app, {r} in R"])
    if r is None or isinstance(r, (str, list, dict)):
        return 1, [f"{path}: {app} in the app, {r!r} in R"]
    a, b = float(app), float(r)
    if abs(a - b) > rtol * abs(a) + 1e-12:
        return 1, [f"{path}: {a!r} in the app, {b!r} in R"]
    return 1, []


# ---------------------------------------------------------------------------------------------------------
# the R script
# ---------------------------------------------------------------------------------------------------------
def rstr(text) -> str:
    """An R string literal."""
    return json.dumps(str(text), ensure_ascii=False)


def rnum(x) -> str:
    x = float(x)
    return format_cutoff(x) if math.isfinite(x) else "NA"


def rvec(items, num: bool = False) -> str:
    return "c(" + ", ".join(rnum(i) if num else rstr(i) for i in items) + ")"


def col(name: str) -> str:
    return f"d[[{rstr(name)}]]"


PRELUDE = r'''suppressPackageStartupMessages({
  library(survival)
  library(jsonlite)
})
num <- function(x) { x <- suppressWarnings(as.numeric(x)); x[!is.finite(x)] <- NA; x }
z975 <- qnorm(0.975)
# Cox fits iterated to full precision, as the app's Newton-Raphson is (coxph's default stops at a relative change
# of 1e-9 in the log-likelihood: a coefficient near 0 can then differ in its sixth significant digit)
full <- coxph.control(eps = 1e-11, toler.inf = sqrt(1e-9), iter.max = 100)

d <- read.csv("data.csv", na.strings = "", stringsAsFactors = FALSE, check.names = FALSE, encoding = "UTF-8")
res <- list(followup = list(), km = list(), cox = list())

# Median follow-up and its IQR by the reverse Kaplan-Meier method (Schemper & Smith 1996): the KM estimate of the
# time to censoring, death censoring it.
followup <- function(time, event) {
  q <- quantile(survfit(Surv(time, 1 - event) ~ 1), probs = c(0.25, 0.5, 0.75), conf.int = FALSE)
  list(median = num(q[2]), q1 = num(q[1]), q3 = num(q[3]))
}

# Kaplan-Meier by group: each group's survfit (medians as print.survfit, survival at the given times as
# summary.survfit), survdiff's log-rank test, the two-group Cox HR (Efron) and, for ordered groups, the log-rank
# test for trend from survdiff's observed, expected and variance (scores 1, 2, ...).
km <- function(time, event, group, levels, labels, times, conf.type, hr_group = NULL, trend = FALSE) {
  ok <- !is.na(time) & !is.na(event) & !is.na(group)
  time <- time[ok]; event <- event[ok]; group <- as.character(group[ok])
  out <- list(groups = list())
  for (k in seq_along(levels)) {
    sel <- group == levels[k]
    fit <- survfit(Surv(time[sel], event[sel]) ~ 1, conf.type = conf.type)
    tab <- summary(fit)$table
    s <- summary(fit, times = times[times <= max(time[sel])], extend = FALSE)
    at <- lapply(seq_along(s$time), function(i) list(time = s$time[i], surv = num(s$surv[i]),
      lo = num(s$lower[i]), hi = num(s$upper[i]), at_risk = s$n.risk[i]))
    out$groups[[k]] <- list(label = labels[k], n = sum(sel), events = sum(event[sel]),
      median = num(tab[["median"]]), median_lo = num(tab[["0.95LCL"]]), median_hi = num(tab[["0.95UCL"]]),
      at = at)
  }
  if (length(levels) >= 2) {
    g <- factor(group, levels = levels)
    sd <- survdiff(Surv(time, event) ~ g)
    df <- sum(sd$exp > 0) - 1
    out$logrank <- list(chisq = sd$chisq, df = df, p = pchisq(sd$chisq, df, lower.tail = FALSE))
    if (!is.null(hr_group)) {
      fit <- coxph(Surv(time, event) ~ I(as.numeric(group == hr_group)), ties = "efron", control = full)
      b <- unname(coef(fit)); se <- sqrt(fit$var[1, 1])
      out$hr <- list(hr = exp(b), lo = exp(b - z975 * se), hi = exp(b + z975 * se),
                     p = 2 * pnorm(-abs(b / se)))
    }
    if (trend) {
      s <- seq_along(levels)
      u <- sum(s * (sd$obs - sd$exp))
      chisq <- u^2 / drop(t(s) %*% sd$var %*% s)
      out$trend <- list(chisq = chisq, p = pchisq(chisq, 1, lower.tail = FALSE))
    }
  }
  out
}

# A Cox covariate as the app codes it: "cut" (1 when value > cutoff, the low group <= cutoff is the reference),
# "num" (the value divided by N: the HR per N units), "cat" (a factor, the reference level first).
covariate <- function(name, kind, x) list(name = name, kind = kind, x = x)

# Cox proportional-hazards model (Efron ties) on the complete cases of its covariates, with Wald CIs and p, the
# covariate's p (its term's Wald p, or the global Wald test for a factor with several levels), Harrell's C, the
# likelihood-ratio test and cox.zph. A model that does not converge (a coefficient tending to infinity) or whose
# covariates are collinear is not estimable (NULL), as in the app.
cox <- function(time, event, covs) {
  df <- data.frame(time = time, event = event, check.names = FALSE)
  for (cv in covs) df[[cv$name]] <- cv$x
  df <- df[complete.cases(df), , drop = FALSE]
  for (cv in covs) if (cv$kind == "cat") df[[cv$name]] <- droplevels(df[[cv$name]])
  f <- as.formula(paste("Surv(time, event) ~", paste0("`", sapply(covs, `[[`, "name"), "`", collapse = " + ")))
  fit <- tryCatch(coxph(f, data = df, ties = "efron", control = full), warning = function(w) NULL,
                  error = function(e) NULL)
  if (is.null(fit) || any(is.na(coef(fit)))) return(NULL)
  terms <- unlist(lapply(covs, function(cv)
    if (cv$kind == "cat") paste0(cv$name, "=", levels(df[[cv$name]])[-1]) else cv$name))
  b <- unname(coef(fit)); se <- sqrt(diag(fit$var))
  wald <- summary(fit)$waldtest
  zph <- tryCatch(cox.zph(fit)$table, error = function(e) NULL)
  list(n = fit$n, events = fit$nevent,
       terms = lapply(seq_along(b), function(i) list(term = terms[i], coef = b[i], se = se[i], hr = exp(b[i]),
         lo = exp(b[i] - z975 * se[i]), hi = exp(b[i] + z975 * se[i]), p = 2 * pnorm(-abs(b[i] / se[i])))),
       p = if (length(b) == 1) 2 * pnorm(-abs(b / se)) else unname(wald[["pvalue"]]),
       concordance = unname(fit$concordance[["concordance"]]), loglik = fit$loglik[2],
       lr_chisq = 2 * diff(fit$loglik), lr_p = pchisq(2 * diff(fit$loglik), length(b), lower.tail = FALSE),
       zph = if (is.null(zph)) list() else lapply(seq_len(nrow(zph)), function(i)
         list(term = gsub("`", "", rownames(zph)[i]), chisq = num(zph[i, "chisq"]), df = zph[i, "df"], p = num(zph[i, "p"]))))
}

# Univariable screen, the selection rule and the multivariable model of one endpoint.
cox_screen <- function(time, event, covs, alpha = NULL, manual = NULL) {
  uni <- lapply(covs, function(cv) cox(time, event, list(cv)))
  p <- sapply(uni, function(m) if (is.null(m)) NA else m$p)
  selected <- if (!is.null(manual)) manual else names(covs)[!is.na(p) & p < alpha]
  multi <- if (length(selected)) cox(time, event, covs[selected]) else NULL
  list(univariable = uni, selected = as.list(selected), multivariable = multi)
}

# Two-sided test of a contingency table after dropping empty rows and columns: the test the app chose
# (Fisher's exact test, or Pearson's chi-square without continuity correction).
ctest <- function(tab, test) {
  tab <- tab[rowSums(tab) > 0, colSums(tab) > 0, drop = FALSE]
  if (nrow(tab) < 2 || ncol(tab) < 2) return(NA)
  if (test == "fisher") fisher.test(tab, workspace = 2e8)$p.value else chisq.test(tab, correct = FALSE)$p.value
}
'''


def _group_code(by: str | None, cutoff: float | None, km) -> tuple[str, list[str], list[str]]:
    """R code for a grouping vector, and the levels (as R sees them) with their labels, in the app's order."""
    if by is None:
        return 'rep("All patients", nrow(d))', ["All patients"], ["All patients"]
    if cutoff is not None:
        labels = [g.label for g in km.groups]
        levels = ["low" if g.level == "low" else "high" for g in km.groups]
        return (f'ifelse({col(by)} > {rnum(cutoff)}, "high", "low")', levels, labels)
    return f"as.character({col(by)})", [str(g.level) for g in km.groups], [g.label for g in km.groups]


def _km_call(name: str, endpoint, by, cutoff, km, times, ci: str) -> str:
    code, levels, labels = _group_code(by, cutoff, km)
    hr = "NULL"
    if km.hr is not None:
        other = next(g for g in km.groups if g.label == km.hr.group)
        hr = rstr("high" if cutoff is not None else other.level)
    trend = "TRUE" if km.trend is not None else "FALSE"
    return (f"res$km[[{rstr(name)}]] <- km({col(endpoint.time)}, {col(endpoint.event)}, {code},\n"
            f"  levels = {rvec(levels)},\n  labels = {rvec(labels)},\n"
            f"  times = {rvec(times, num=True)}, conf.type = {rstr(ci)}, hr_group = {hr}, trend = {trend})\n")


def _covariate_code(frame: pd.DataFrame, v) -> str:
    """``covariate(...)`` of one Cox covariate (its R coding spelled out)."""
    spec = v.spec
    name = v.ph_key
    if v.kind == "cut":
        return f"covariate({rstr(name)}, \"cut\", as.numeric({col(spec.column)} > {rnum(spec.cutoff)}))"
    if v.kind == "num":
        x = col(spec.column) if spec.per == 1 else f"{col(spec.column)} / {rnum(spec.per)}"
        return f"covariate({rstr(name)}, \"num\", {x})"
    levels = schema.ordered_levels(spec.column, schema.level_texts(frame[spec.column]).dropna().unique())
    if v.reference in levels:
        levels = [v.reference] + [lv for lv in levels if lv != v.reference]
    return f"covariate({rstr(name)}, \"cat\", factor(as.character({col(spec.column)}), levels = {rvec(levels)}))"


def _grouping_code(results) -> str:
    lines = []
    for column, mapping in results.groupings.items():
        pairs = ", ".join(f"{rstr(k)} = {rstr(v)}" for k, v in mapping.items())
        source = f"as.character({col(column)})"
        lines.append(f"groups <- c({pairs})\n"
                     f"d[[{rstr(grouped_name(column))}]] <- ifelse({source} %in% names(groups), "
                     f"unname(groups[{source}]), {source})")
    return "\n".join(lines)


def _response_code(results) -> str:
    table = results.response
    crits = {label: s.column for label, s in table.criteria.items()}
    lines = ["resp <- function(x) {",
             "  x <- toupper(trimws(as.character(x))); x[x == \"\"] <- NA",
             "  valid <- !is.na(x) & x %in% c(\"CR\", \"PR\", \"SD\", \"PD\", \"NE\"); n <- sum(valid)",
             "  counts <- sapply(c(\"CR\", \"PR\", \"SD\", \"PD\", \"NE\"), function(k) sum(x[valid] == k), simplify = FALSE)",
             "  rate <- function(k) { ci <- if (n > 0) binom.test(k, n)$conf.int * 100 else c(NA, NA)",
             "    list(n = k, lo = ci[1], hi = ci[2]) }",
             "  list(n = n, counts = counts, orr = rate(sum(x[valid] %in% c(\"CR\", \"PR\"))),",
             "       dcr = rate(sum(x[valid] %in% c(\"CR\", \"PR\", \"SD\"))))",
             "}",
             "res$response <- list(overall = list(" + ", ".join(f"{rstr(k)} = resp({col(c)})" for k, c in crits.items())
             + "))"]
    if table.by is not None:
        levels = [g.level for g in table.groups]
        lines.append(f"g <- as.character({col(table.by)})")
        lines.append("res$response$groups <- list(" + ", ".join(
            f"{rstr(lv)} = list(" + ", ".join(f"{rstr(k)} = resp({col(c)}[!is.na(g) & g == {rstr(lv)}])"
                                              for k, c in crits.items()) + ")" for lv in levels) + ")")
        tests = []
        for label, by_rate in table.tests.items():
            parts = []
            for rate, t in by_rate.items():
                if t.test is None:
                    continue
                key = rate.lower()
                parts.append(f"{rstr(rate)} = ctest(t(sapply(res$response$groups, function(x) c(x[[{rstr(label)}]]$"
                             f"{key}$n, x[[{rstr(label)}]]$n - x[[{rstr(label)}]]${key}$n))), {rstr(t.test)})")
            tests.append(f"{rstr(label)} = list({', '.join(parts)})")
        lines.append("res$response$tests <- list(" + ", ".join(tests) + ")")
    return "\n".join(lines)


def _ae_code(results) -> str:
    table = results.ae
    lines = ["ae_counts <- function(g) { g <- g[!is.na(g)]",
             "  list(n = length(g), any = sum(g >= 1), grade_1_2 = sum(g >= 1 & g <= 2), grade_3_4 = sum(g >= 3 & g <= 4),",
             "       grade_5 = sum(g == 5), grade_3_plus = sum(g >= 3)) }",
             f"ae_terms <- {rvec([r.term for r in table.events])}",
             "grades <- sapply(ae_terms, function(term) num(d[[term]]))",
             "# per patient: the worst grade over the terms (any adverse event), and grade >= 3 or 0 (any grade >= 3)",
             "worst <- apply(grades, 1, function(r) if (all(is.na(r))) NA else max(r, na.rm = TRUE))",
             "columns <- list(any_ae = worst, any_grade_3_plus = ifelse(is.na(worst), NA, ifelse(worst >= 3, worst, 0)))",
             "for (term in ae_terms) columns[[term]] <- grades[, term]",
             "res$ae <- list(terms = list(), summary = list())",
             "for (term in names(columns)) {",
             "  part <- if (term %in% ae_terms) \"terms\" else \"summary\"",
             "  res$ae[[part]][[term]] <- list(all = ae_counts(columns[[term]]))"]
    if table.by is not None:
        lines.insert(0, f"g <- as.character({col(table.by)})")
        lines.insert(1, f"ae_levels <- {rvec(table.levels)}")
        lines.append("  res$ae[[part]][[term]]$groups <- sapply(ae_levels, function(lv)")
        lines.append("    ae_counts(columns[[term]][!is.na(g) & g == lv]), simplify = FALSE)")
    lines.append("}")
    if table.by is not None:
        for part, rows in (("summary", table.summary), ("terms", table.events)):
            for r in rows:
                for name, t in r.tests.items():
                    if t.test is None:
                        continue
                    ref = f"res$ae${part}[[{rstr(r.term)}]]"
                    lines.append(f"{ref}$tests[[{rstr(name)}]] <- ctest(t(sapply({ref}$groups, function(x) "
                                 f"c(x${name}, x$n - x${name}))), {rstr(t.test)})")
    return "\n".join(lines)


TEST_CODE = {
    "welch_t": "t.test(x[g == lv[1]], x[g == lv[2]])$p.value",
    "wilcoxon": "wilcox.test(x[g == lv[1]], x[g == lv[2]], exact = FALSE, correct = TRUE)$p.value",
    "anova": "oneway.test(x ~ factor(g), var.equal = TRUE)$p.value",
    "kruskal": "kruskal.test(x ~ factor(g))$p.value",
}


def _baseline_code(results) -> str:
    table = results.baseline
    kinds = {v["variable"]: v["type"] for v in table.variables}
    lines = ["summ <- function(x) { x <- x[!is.na(x)]; q <- quantile(x, c(0.25, 0.5, 0.75), type = 7, names = FALSE)",
             "  list(n = length(x), mean = mean(x), sd = if (length(x) > 1) sd(x) else NA, median = q[2], q1 = q[1],"
             " q3 = q[3]) }",
             "res$baseline <- list()"]
    if table.by is not None:
        lines.append(f"grp <- as.character({col(table.by)})")
        lines.append("known <- !is.na(grp)")
        groups = table.columns[1:]
        lines.append(f"columns <- list(Overall = known, {', '.join(f'{rstr(c)} = known & grp == {rstr(c)}' for c in groups)})")
    else:
        lines.append("columns <- list(Overall = rep(TRUE, nrow(d)))")
    tests = {}
    for row in table.rows:
        if row.get("test") and row["p"] is not None:
            key = "p" if kinds.get(row["variable"]) != "numeric" else ("p_mean" if row["level"] == "Mean ± SD"
                                                                        else "p_median")
            tests.setdefault(row["variable"], []).append((key, row["test"]))
    for var, kind in kinds.items():
        v = rstr(var)
        if kind == "numeric":
            lines.append(f"x <- num({col(var)})")
            lines.append(f"res$baseline[[{v}]] <- list(summary = lapply(columns, function(m) summ(x[m])))")
        else:
            levels = group_levels(results.frame[var], var)[1]
            lines.append(f"x <- as.character({col(var)}); x[!is.na(x)] <- trimws(x[!is.na(x)])")
            lines.append(f"lv_{_ident(var)} <- {rvec(levels)}")
            lines.append(f"res$baseline[[{v}]] <- list(counts = sapply(lv_{_ident(var)}, function(l) lapply(columns, "
                         f"function(m) sum(m & !is.na(x) & x == l)), simplify = FALSE))")
        if results.frame[var].isna().any():
            lines.append(f"res$baseline[[{v}]]$missing <- lapply(columns, function(m) sum(m & is.na(x)))")
        for key, test in tests.get(var, []):
            if table.by is None:
                continue
            if kind == "numeric":
                lines.append(f"res$baseline[[{v}]][[{rstr(key)}]] <- local({{ lv <- names(columns)[-1]; "
                             f"g <- grp[known & !is.na(x)]; x <- x[known & !is.na(x)]; {TEST_CODE[test]} }})")
            else:
                lines.append(f"res$baseline[[{v}]]$p <- ctest(table(factor(grp[known & !is.na(x)], levels = "
                             f"names(columns)[-1]), factor(x[known & !is.na(x)], levels = lv_{_ident(var)})), "
                             f"{rstr(test)})")
    return "\n".join(lines)


def _ident(name: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in str(name))


def _meta_code(results) -> str:
    m = results.spec.meta
    test = '"knha"' if m.hk else '"z"'
    lines = ["suppressPackageStartupMessages(library(metafor))",
             "# tight tolerances: the comparison at 1e-6 tests the estimator, not metafor's stopping rule",
             "ctrl <- list(threshold = 1e-12, tol = 1e-12, maxiter = 1000)",
             "pooled <- function(fit) list(est = exp(fit$b[1]), lo = exp(fit$ci.lb), hi = exp(fit$ci.ub), p = fit$pval)",
             "res$meta <- list()"]
    for outcome, pooled in results.meta_pooled.items():
        if pooled.analysis is None:
            continue
        key = str(outcome)
        lines.append(f"e <- read.csv({rstr(f'meta_{key}.csv')}, stringsAsFactors = FALSE)")
        lines.append("fe <- rma(yi = e$log_est, sei = e$se, method = \"FE\", control = ctrl)")
        lines.append(f"res$meta[[{rstr(key)}]] <- list(k = fe$k, fixed = pooled(fe), q = fe$QE, i2 = fe$I2)")
        if pooled.analysis.random is not None and pooled.analysis.k > 1:
            lines.append(f"re <- rma(yi = e$log_est, sei = e$se, method = {rstr(m.method)}, test = {test}, "
                         f"control = ctrl)")
            lines.append(f"res$meta[[{rstr(key)}]]$random <- c(pooled(re), list(tau2 = re$tau2, i2 = re$I2))")
    return "\n".join(lines)


def r_script(results) -> str:
    """The R script reproducing every number of ``results`` from ``data.csv``."""
    spec = results.spec
    frame = results.frame
    head = [f"# Reproduces every number of the view of {results.name} ({results.n} patients) computed by HAIC Cohort",
            f"# Analytics {app_version()} on {results.generated.isoformat()}.",
            "#   Run in this folder:  Rscript reproduce.R",
            "#   Needs R with the packages survival and jsonlite"
            + (", maxstat" if getattr(results, "cutpoint", None) is not None else "")
            + (", metafor" if results.meta is not None else "") + " (Debian: r-cran-survival ...).",
            "# data.csv: the analysed data -- times in months, events 1 = event / 0 = censored, categories as text.",
            "# Writes r_results.json (the numbers below) and compares them with app_results.json (the app's).",
            ""]
    if results.synthetic:
        head.insert(2, "# SYNTHETIC DATA: made-up patients, not real people.")
    if not results.has_cohort:
        return "\n".join(_meta_head(results) + [META_PRELUDE, f"## {META_TITLE}\n{_meta_code(results)}\n", POSTLUDE])
    body = [PRELUDE]
    grouping = _grouping_code(results)
    if grouping:
        body.append("# Groupings of categorical columns, as the view defines them\n" + grouping + "\n")
    view_ep = results.view_endpoint
    for ep in results.endpoints:
        e = ep.endpoint
        body.append(f"## {e.label} ({e.time} / {e.event})")
        body.append(f"res$followup[[{rstr(e.key)}]] <- followup({col(e.time)}, {col(e.event)})")
        times = sorted(set(ep.risk_times) | set(ep.landmarks))
        body.append(_km_call(f"overall:{e.key}", e, None, None, ep.overall, times, spec.ci))
        if ep is view_ep:
            body.append("# The view: " + _view_comment(results))
            body.append(_km_call("view", e, results.view_by, results.view_cutoff, results.view, times, spec.ci))
        for p in ep.panels:
            body.append(f"# Panel {p.letter}: {p.title}")
            body.append(_km_call(f"panel:{e.key}:{p.letter}", e, p.covariate.column, p.covariate.cutoff, p.km,
                                 times, spec.ci))
        if ep.cox is not None:
            cox = ep.cox
            covs = ",\n".join(f"  {rstr(v.spec.label)} = {_covariate_code(frame, v)}" for v in cox.variables)
            body.append(f"# {e.label}: the candidate covariates (factors list their reference level first)")
            body.append(f"covs <- list(\n{covs}\n)")
            if cox.rule == "manual":
                rule = f"manual = {rvec([v.spec.label for v in cox.selected])}"
                comment = "# the multivariable model's covariates, chosen by hand"
            else:
                rule = f"alpha = {rnum(cox.alpha)}"
                comment = f"# covariates with a univariable p < {cox.alpha:g} enter the multivariable model"
            body.append(comment)
            body.append(f"res$cox[[{rstr(e.key)}]] <- cox_screen({col(e.time)}, {col(e.event)}, covs, {rule})\n")
    if results.cutpoint is not None:
        body.append("## The cutoff as the maximally selected log-rank statistic's optimum (maxstat)")
        body.append("suppressPackageStartupMessages(library(maxstat))")
        body.append(f"ms <- maxstat.test(Surv(`{view_ep.endpoint.time}`, `{view_ep.endpoint.event}`) ~ `{results.view_by}`, "
                    f"data = d, smethod = \"LogRank\", pmethod = \"Lau94\", minprop = {rnum(results.cutpoint.minprop)}, "
                    f"maxprop = {rnum(results.cutpoint.maxprop)})")
        body.append("res$maxstat <- list(cutpoint = unname(ms$estimate), statistic = unname(ms$statistic), "
                    "p_lau94 = ms$p.value)\n")
    sections = (
        (results.response, "Tumour response: ORR (CR + PR) and DCR (CR + PR + SD) with exact Clopper-Pearson 95% CIs",
         _response_code),
        (results.ae, "Adverse events: worst CTCAE grade per patient and term", _ae_code),
        (results.baseline, "Baseline characteristics: mean, SD, median and quartiles (type 7); counts; the app's tests",
         _baseline_code),
        (results.meta, META_TITLE, _meta_code),
    )
    for part, title, code in sections:
        if part is not None:
            body.append(f"## {title}\n{code(results)}\n")
    body.append(POSTLUDE)
    return "\n".join(head + body)


META_TITLE = "Meta-analysis of the published studies (log ratios and their standard errors per study)"
META_PRELUDE = """suppressPackageStartupMessages(library(jsonlite))
res <- list()
"""


def _meta_head(results) -> list[str]:
    """The header of the script of a meta-analysis alone (the meta page's): no patient data, the studies' effects."""
    view = results.meta
    return [f"# Reproduces the pooled results of the meta-analysis of {results.name} ({results.n} studies; forest "
            f"plot of {view.spec.outcome.lower()}) computed by",
            f"# HAIC Cohort Analytics {app_version()} on {results.generated.isoformat()}.",
            "#   Run in this folder:  Rscript reproduce.R",
            "#   Needs R with the packages metafor and jsonlite (Debian: r-cran-metafor r-cran-jsonlite).",
            "# meta_<outcome>.csv: the pooled studies' log ratios and standard errors, as the app derived them from "
            "the study table.",
            "# Writes r_results.json (the numbers below) and compares them with app_results.json (the app's).",
            ""]


def _view_comment(results) -> str:
    if results.view_by is None:
        return "all patients"
    if results.view_cutoff is None:
        return f"groups of {results.view_by}"
    return f"{results.view_by} cut at {format_cutoff(results.view_cutoff)} (low group: value <= cutoff)"


POSTLUDE = r'''## Write the numbers and compare them with the app's
out <- toJSON(res, auto_unbox = TRUE, digits = NA, na = "null", null = "null", pretty = TRUE)
writeLines(out, "r_results.json")
if (file.exists("app_results.json")) {
  a <- unlist(fromJSON("app_results.json", simplifyVector = FALSE))
  b <- unlist(fromJSON(out, simplifyVector = FALSE))
  shared <- intersect(names(a), names(b))
  an <- suppressWarnings(as.numeric(a[shared])); bn <- suppressWarnings(as.numeric(b[shared]))
  both <- !is.na(an) & !is.na(bn)
  rel <- abs(an[both] - bn[both]) / pmax(abs(an[both]), 1e-12)
  bad <- shared[both][rel > 1e-6 & abs(an[both] - bn[both]) > 1e-12]
  cat(sprintf("%d numbers compared with the app's: %d differ by more than 1e-6 (relative)\n", sum(both), length(bad)))
  if (length(bad)) print(head(bad, 20))
}
'''


# ---------------------------------------------------------------------------------------------------------
# the bundle
# ---------------------------------------------------------------------------------------------------------
def data_csv(results) -> bytes:
    """The analysed data: the columns the numbers use, times in months, events 0/1, full precision."""
    frame = results.frame[results.columns]
    text = frame.to_csv(index=False, lineterminator="\n", float_format=None)
    return text.encode("utf-8")


def meta_csvs(results) -> dict[str, bytes]:
    out = {}
    for outcome, pooled in results.meta_pooled.items():
        if pooled.analysis is None:
            continue
        rows = [{"study": s.study, "log_est": s.log_est, "se": s.se} for s in pooled.analysis.studies]
        out[f"meta_{outcome}.csv"] = pd.DataFrame(rows).to_csv(index=False, lineterminator="\n").encode("utf-8")
    return out


README = """Reproduce the numbers of {name} in R
{synthetic}
  Rscript reproduce.R

reproduce.R       the R code (survival{extra}): every number of the view, written to r_results.json
data.csv          the analysed data ({n} patients, {k} columns): times in months, events 1 = event / 0 = censored
app_results.json  the app's numbers; reproduce.R reports how many agree to 1e-6
view.json         the view (endpoints, cutoffs, covariates, selection rule) as the app's report tools read it
Generated {date} by HAIC Cohort Analytics {version}.
"""


META_README = """Reproduce the pooled results of the meta-analysis of {name} in R

  Rscript reproduce.R

reproduce.R         the R code (metafor): the pooled results of every outcome, written to r_results.json
meta_<outcome>.csv  the pooled studies of each outcome: log ratio and its standard error (from the {n}-study table)
app_results.json    the app's numbers; reproduce.R reports how many agree to 1e-6
view.json           the view (outcome, model, studies left out) as the app's report tools read it
Generated {date} by HAIC Cohort Analytics {version}.
"""


def build_bundle(results) -> bytes:
    """The .zip bytes: reproduce.R, data.csv, app_results.json, view.json, README.txt (and meta_*.csv)."""
    app = app_numbers(results)
    extra = (", maxstat" if results.cutpoint is not None else "") + (", metafor" if results.meta is not None else "")
    if results.has_cohort:
        readme = README.format(name=results.name, n=results.n, k=len(results.columns),
                               date=results.generated.isoformat(), version=app_version(), extra=extra,
                               synthetic="\nSYNTHETIC DATA: made-up patients, not real people.\n"
                               if results.synthetic else "")
    else:
        readme = META_README.format(name=results.name, n=results.n, date=results.generated.isoformat(),
                                    version=app_version())
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("reproduce.R", r_script(results))
        if results.has_cohort:
            zf.writestr("data.csv", data_csv(results))
        zf.writestr("app_results.json", json.dumps(app, indent=1, allow_nan=False))
        zf.writestr("view.json", results.spec.to_json())
        zf.writestr("README.txt", readme)
        for name, data in meta_csvs(results).items():
            zf.writestr(name, data)
    return out.getvalue()
