"""The tables and texts of the deliverables, as :class:`components.clinical_tables.ClinicalTable` objects (the
pages' own table builders where the pages have the table) and the methods paragraph.

The deck and the manuscript both write these tables (:mod:`reports.deck` as native PowerPoint tables,
:mod:`reports.manuscript` as Word tables), so a number reads the same on a slide, in the document and on the
page. Every number comes from the analysis results in :class:`reports.results.ReportResults`; this module only
formats.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

from analysis import schema
from analysis.dichotomise import format_cutoff
from components.clinical_tables import (Cell, ClinicalTable, Row, ae_clinical_table, baseline_view_table,
                                        response_by_group_table, response_summary_table)
from components.cox_tables import PH_ALPHA, PH_FLAG, PH_MARK, cox_table
from components.format import (NOT_REACHED, format_ci, format_estimate, format_group, format_hr, format_median,
                               format_number, format_p, format_percent)
from components.survival_tables import km_summary_frame

CI_NAMES = {"log-log": "log-log", "log": "log", "plain": "plain (linear)"}

#: abbreviations a table's footnote explains when the table uses them
ABBREVIATIONS = {
    "AE": "adverse event", "AFP": "α-fetoprotein", "ALP": "alkaline phosphatase", "ALT": "alanine aminotransferase",
    "AST": "aspartate aminotransferase", "CI": "confidence interval", "CNLC": "China Liver Cancer staging",
    "CR": "complete response", "CRP": "C-reactive protein", "CTCAE": "Common Terminology Criteria for Adverse "
    "Events", "DCR": "disease control rate", "EHM": "extrahepatic metastasis", "GGT": "γ-glutamyl transferase",
    "HAIC": "hepatic arterial infusion chemotherapy", "HR": "hazard ratio", "ICIs": "immune checkpoint inhibitors",
    "mRECIST": "modified RECIST", "NE": "not evaluable", "NLR": "neutrophil-to-lymphocyte ratio",
    "NR": "not reached", "ORR": "objective response rate", "OS": "overall survival", "PD": "progressive disease",
    "PFS": "progression-free survival", "PH": "proportional hazards", "PIVKA-II": "protein induced by vitamin K "
    "absence or antagonist-II", "PLT": "platelets", "PR": "partial response", "PT": "prothrombin time",
    "RECIST": "Response Evaluation Criteria in Solid Tumours", "TB": "total bilirubin",
    "TKIs": "tyrosine kinase inhibitors", "VEGF": "vascular endothelial growth factor",
}


def abbreviations(table: ClinicalTable, extra: dict | None = None) -> str | None:
    """``Abbreviations: AST, aspartate aminotransferase; ...`` for the abbreviations the table's text uses."""
    words = set()
    texts = list(table.columns) + [c.text for r in table.rows for c in r.cells] + [s for s, _n in table.spanners]
    for text in texts:
        words.update(re.findall(r"[A-Za-z][A-Za-z0-9-]*", str(text)))
    glossary = {**ABBREVIATIONS, **(extra or {})}
    used = [k for k in glossary if k in words or (k.endswith("s") and k[:-1] in words)]
    if not used:
        return None
    return "Abbreviations: " + "; ".join(f"{k}, {glossary[k]}" for k in sorted(used, key=str.lower)) + "."


@dataclass
class TableItem:
    """A numbered table of the manuscript / a table slide of the deck."""

    key: str                     # "baseline", "response", "cox:<endpoint key>", "ae", "km", "meta", ...
    title: str
    table: ClinicalTable
    extra_notes: list[str]


# ---------------------------------------------------------------------------------------------------------
# survival
# ---------------------------------------------------------------------------------------------------------
def km_caption(result) -> str:
    """Log-rank test, HR with its direction and the trend test of a StratifiedKM, as one line."""
    parts = []
    if result.logrank is not None:
        lr = result.logrank
        parts.append(f"Log-rank χ² = {format_number(lr.chisq)}, df = {lr.df}, {format_p(lr.p, prefix='p')}")
    text = format_hr(result)
    if text:
        r = result.hr.result
        wald = f", Wald {format_p(r.p, prefix='p')}" if math.isfinite(r.p) else ""
        parts.append(text.replace(": ", ", ", 1) + wald)
    if result.trend is not None:
        parts.append(f"log-rank test for trend {format_p(result.trend.p, prefix='p')}")
    return "; ".join(parts)


def km_estimates_table(result, landmarks) -> ClinicalTable:
    """Per group: n, events, median (95% CI) and survival at the landmarks (``km_summary_frame``, the page's)."""
    frame = km_summary_frame(result, landmarks)
    columns = [str(c).replace("Median, months (95% CI)", "Median, months\n(95% CI)").replace(" mo, % (95% CI)",
                                                                                          " months, %\n(95% CI)")
               for c in frame.columns]
    rows = [Row([Cell(format_group(v) if j == 0 else str(v)) for j, v in enumerate(rec)])
            for rec in frame.itertuples(index=False)]
    notes = [f"Kaplan–Meier estimates with Greenwood variance and {CI_NAMES[result.ci]}-transformed 95% CIs "
             f"(R survfit(conf.type = \"{result.ci}\")); NR, not reached."]
    if result.excluded:
        notes.append(f"{result.excluded} patients without a value of the grouping column or the endpoint left out.")
    caption = km_caption(result)
    if caption:
        notes.insert(0, caption + ".")
    return ClinicalTable(columns, rows, footnotes=notes, align=["left"] + ["center"] * (len(columns) - 1),
                         nowrap_first=True)


def view_title(results) -> str:
    """``Progression-free survival by AST (cutoff 56.5 U/L)``: the view's endpoint and stratification."""
    ep = results.view_endpoint.endpoint
    if results.view_by is None:
        return f"{ep.label}: all patients"
    base = results.view_by.removesuffix("_grouped")
    name = schema.display_name(base)
    if results.view_cutoff is None:
        return f"{ep.label} by {name}"
    unit = schema.NUMERIC_COLUMNS.get(base, {}).get("unit", "")
    return f"{ep.label} by {name} (cutoff {format_cutoff(results.view_cutoff)}{(' ' + unit) if unit else ''})"


def followup_text(fu) -> str:
    if fu is None or not math.isfinite(fu.median):
        return "median follow-up not estimable (the reverse Kaplan–Meier curve does not reach 50%)"
    return (f"median follow-up {format_number(fu.median, 1)} months "
            f"(IQR {format_ci(fu.q1, fu.q3, 1, limit_missing=NOT_REACHED)})")


def survival_summary_table(results) -> ClinicalTable:
    """One row per endpoint: patients, events, median (95% CI), landmark rates, median follow-up (IQR)."""
    columns = ["Endpoint", "n", "Events", "Median, months\n(95% CI)", "Survival at landmarks, %\n(95% CI)",
               "Follow-up, months\nmedian (IQR)"]
    rows = []
    for ep in results.endpoints:
        g = ep.overall.groups[0]
        marks = []
        for t in ep.landmarks:
            a = g.km.at_time(t)
            if a is not None and a["estimable"] and a["surv"] is not None and math.isfinite(a["surv"]):
                ci = format_ci(a["lo"], a["hi"], percent=True, missing="")
                marks.append(f"{t:g} mo: {format_percent(a['surv'], sign=False)}" + (f" ({ci})" if ci else ""))
        fu = ep.followup
        fu_text = format_median(fu.median, fu.q1, fu.q3) if math.isfinite(fu.median) else NOT_REACHED
        rows.append(Row([Cell(ep.endpoint.label), Cell(str(ep.n)), Cell(str(ep.events)),
                         Cell(format_median(g.median, g.median_lo, g.median_hi)),
                         Cell("; ".join(marks) or "–"), Cell(fu_text)]))
    notes = ["Kaplan–Meier estimates (Greenwood variance, "
             f"{CI_NAMES[results.spec.ci]}-transformed 95% CIs); median follow-up and its interquartile range by the "
             "reverse Kaplan–Meier method (Schemper & Smith 1996; R quantile(survfit(Surv(time, 1 - event) ~ 1))). "
             "NR, not reached."]
    return ClinicalTable(columns, rows, footnotes=notes, align=["left"] + ["center"] * 5)


# ---------------------------------------------------------------------------------------------------------
# Cox, response, adverse events, baseline, meta
# ---------------------------------------------------------------------------------------------------------
def cox_report_table(ep) -> ClinicalTable:
    """The paper's Table 3/4 (``components.cox_tables.cox_table``) with the multivariable model's problem, if any.
    The page's PH flag is a hover badge; in a document it is the footnote mark † (its export form)."""
    table = cox_table(ep.cox)
    table.footnotes = [f"{PH_MARK} Proportional-hazards test (cox.zph) p < {PH_ALPHA} for that covariate in that "
                       f"model: the HR is an average over follow-up." if n.startswith(f"{PH_FLAG} (") else n
                       for n in table.footnotes]
    if ep.cox.multi_error:
        table.footnotes.append(f"No multivariable model: {ep.cox.multi_error}.")
    return table


def meta_pooled_table(results) -> ClinicalTable:
    """Pooled results of every outcome: k, model, pooled ratio (95% CI), p, I², τ², prediction interval."""
    columns = ["Outcome", "Studies", "Model", "Pooled (95% CI)", "p", "I², %", "τ²", "95% PI"]
    rows = []
    for pooled in results.meta_pooled.values():
        title = pooled.effect.outcome
        if pooled.analysis is None:
            rows.append(Row([Cell(title), Cell("0"), Cell("–"), Cell("not poolable"), Cell(""), Cell(""), Cell(""),
                             Cell("")]))
            continue
        a = pooled.analysis
        ests = [a.fixed_reported] + ([a.random] if a.random is not None and a.k > 1 else [])
        for k, est in enumerate(ests):
            model = ("Random effects, " + est.method + (" + HK" if est.hk else "")) if est.model == "random" else \
                ("Fixed effect, " + ("Mantel–Haenszel" if est.method == "MH" else "inverse variance"))
            pi = format_ci(est.pi_lo, est.pi_hi, missing="")
            rows.append(Row([Cell(f"{title} ({pooled.effect.short})" if k == 0 else ""), Cell(str(a.k) if k == 0 else ""),
                             Cell(model), Cell(format_estimate(est.est, est.lo, est.hi)), Cell(format_p(est.p)),
                             Cell(format_number(a.heterogeneity.i2, 1) if k == 0 else ""),
                             Cell(format_number(a.heterogeneity.tau2, 4) if est.model == "random" else ""),
                             Cell(pi)],
                            kind="data" if k == 0 else "level"))      # an outcome's two rows are one block
    spec = results.spec.meta
    knha = ', test = "knha"' if spec.hk else ""
    notes = [f"Inverse-variance pooling of log ratios; random effects by {spec.method} (R metafor::rma(method = "
             f"\"{spec.method}\"{knha})); I² from Cochran's Q; PI, prediction interval. HR for survival, risk ratio "
             f"for response and adverse events."]
    return ClinicalTable(columns, rows, footnotes=notes, align=["left", "center", "left"] + ["center"] * 5)


def table_items(results, slide: bool = False) -> list[TableItem]:
    """The tables in the paper's order: baseline (Table 1), response (Table 2), Cox per endpoint (Tables 3, 4),
    adverse events (Table 5); ``slide`` gives the baseline one summary line per numeric variable."""
    items: list[TableItem] = []
    if results.baseline is not None:
        by = results.baseline.by
        title = "Baseline characteristics" + (f" by {_name(by)}" if by else "")
        table = baseline_view_table(results.baseline, numeric="mean" if slide else "both")
        items.append(TableItem("baseline", title, table, []))
    if results.response is not None:
        items.append(TableItem("response", "Tumour response according to RECIST 1.1 and mRECIST",
                               response_summary_table(results.response), []))
        if results.response.by:
            items.append(TableItem("response-by", f"Objective response and disease control by "
                                   f"{_name(results.response.by)}", response_by_group_table(results.response), []))
    for ep in results.endpoints:
        if ep.cox is None:
            continue
        items.append(TableItem(f"cox:{ep.endpoint.key}", f"Univariable and multivariable Cox regression of "
                               f"{ep.endpoint.label.lower()}", cox_report_table(ep), []))
    if results.ae is not None:
        title = "Adverse events graded by CTCAE 5.0" + (f" by {_name(results.ae.by)}" if results.ae.by else "")
        items.append(TableItem("ae", title, ae_clinical_table(results.ae), []))
    return items


def _name(column: str) -> str:
    base = column.removesuffix("_grouped")
    return schema.display_name(base) + (" (grouped)" if base != column else "")


# ---------------------------------------------------------------------------------------------------------
# methods
# ---------------------------------------------------------------------------------------------------------
def cutoff_phrases(results) -> list[str]:
    """``AST 56.5 U/L`` for every cut covariate and the view's cutoff (each once)."""
    seen, out = set(), []

    def add(column, cutoff):
        if (column, cutoff) in seen:
            return
        seen.add((column, cutoff))
        unit = schema.NUMERIC_COLUMNS.get(column, {}).get("unit", "")
        out.append(f"{schema.display_name(column)} {format_cutoff(cutoff)}{(' ' + unit) if unit else ''}")

    if results.view_by is not None and results.view_cutoff is not None:
        add(results.view_by, results.view_cutoff)
    for ep in results.endpoints:
        for v in (ep.cox.variables if ep.cox else []):
            if v.kind == "cut":
                add(v.column, v.cutoff)
        for p in ep.panels:
            if p.covariate.cutoff is not None:
                add(p.covariate.column, p.covariate.cutoff)
    return out


def methods_paragraphs(results, version: str) -> list[str]:
    """The statistical-methods paragraph(s): each method with its R equivalent, the view's choices (CI transform,
    cutoffs, reference levels, per-N scaling, selection rule, landmarks), as the numbers were computed."""
    spec = results.spec
    out = []
    base = results.baseline
    p1 = ("Continuous variables are summarised as mean ± standard deviation and median (first, third quartile; "
          "R quantile type 7), categorical variables as counts and percentages of the patients with a known value.")
    if base is not None and base.by:
        p1 += (" Groups were compared with Welch's t-test (R t.test) and the Wilcoxon rank-sum test with continuity "
               "correction (R wilcox.test(exact = FALSE)) or, for more than two groups, one-way ANOVA (R oneway.test"
               "(var.equal = TRUE)) and the Kruskal–Wallis test (R kruskal.test); categorical variables with "
               "Pearson's χ² test without continuity correction (R chisq.test(correct = FALSE)), or Fisher's exact "
               "test (R fisher.test) when an expected count was below 5.")
    out.append(p1)
    ci = spec.ci
    lm = ", ".join(f"{t:g}" for t in results.view_endpoint.landmarks)
    p2 = (f"Survival was estimated with the Kaplan–Meier method, Greenwood variance and {CI_NAMES[ci]}-transformed "
          f"95% confidence intervals (R survival::survfit(conf.type = \"{ci}\")); medians and their CIs as R's "
          f"print.survfit, survival rates at {lm} months as summary.survfit. Median follow-up and its interquartile "
          f"range were estimated by the reverse Kaplan–Meier method (Schemper & Smith 1996; R quantile(survfit("
          f"Surv(time, 1 - event) ~ 1))). Groups were compared with the log-rank test (R survdiff)")
    if results.view.trend is not None or any(p.km.trend is not None for e in results.endpoints for p in e.panels):
        p2 += (", and ordered groups with the log-rank test for trend (scores 1, 2, …; from survdiff's observed, "
               "expected and variance)")
    p2 += "."
    cuts = cutoff_phrases(results)
    if cuts:
        p2 += (" Continuous markers were dichotomised at " + ", ".join(cuts) + " (low group: value ≤ cutoff, the "
               "reference group).")
    if spec.cutoff_source == "optimal":
        p2 += (" The cutoff of " + schema.display_name(results.view_by) + " is the maximally selected log-rank "
               "statistic's optimum (R maxstat::maxstat.test(smethod = \"LogRank\")); its naive p-value is too small "
               "and the corrected p (Lausen & Schumacher) is reported.")
    out.append(p2)
    coxes = [e.cox for e in results.endpoints if e.cox is not None]
    if coxes:
        cox = coxes[0]
        refs = sorted({f"{_name(v.column)} {v.reference}" for c in coxes for v in c.variables
                       if v.kind == "cat" and v.reference is not None})
        pers = sorted({f"{_name(v.column)} per {format_cutoff(v.spec.per)} units" for c in coxes for v in c.variables
                       if v.kind == "num" and v.spec.per != 1})
        p3 = ("Hazard ratios were estimated with Cox proportional-hazards regression with Efron's method for tied "
              "times, Wald 95% confidence intervals and Wald p-values (R survival::coxph(ties = \"efron\")); each "
              "univariable model uses the patients with complete data for its covariate.")
        if refs:
            p3 += " Reference levels: " + "; ".join(refs) + "."
        if pers:
            p3 += " Hazard ratios of continuous covariates are given " + "; ".join(pers) + " (R I(x / N))."
        if cox.rule == "manual":
            p3 += " The covariates of the multivariable model were chosen by the investigators."
        else:
            p3 += (f" Covariates with a univariable p < {cox.alpha:g} (Wald test; the global Wald test for a "
                   f"categorical covariate with several levels) entered the multivariable model, fitted on the "
                   f"patients with complete data.")
        p3 += (" The proportional-hazards assumption was checked with the score test of R cox.zph (Kaplan–Meier "
               "time transform); discrimination is given as Harrell's C (R concordance).")
        if results.groupings:
            p3 += " " + " ".join(f"{_name(col)} was grouped as " + "; ".join(
                f"{', '.join(k for k, g in mapping.items() if g == grp)} → {grp}"
                for grp in dict.fromkeys(mapping.values())) + "." for col, mapping in results.groupings.items())
        out.append(p3)
    p4 = []
    if results.response is not None:
        p4.append("Best overall response was assessed by RECIST 1.1 and mRECIST; objective response (CR + PR) and "
                  "disease control (CR + PR + SD) rates are given with exact Clopper–Pearson 95% CIs (R binom.test)"
                  + ("; groups were compared with Fisher's exact test (R fisher.test)" if results.response.by else "")
                  + ".")
    if results.ae is not None:
        p4.append("Adverse events were graded by CTCAE 5.0; the worst grade per patient and term is tabulated as a "
                  "percentage of the patients assessed for the term.")
    if results.meta is not None:
        m = spec.meta
        knha = ', test = "knha"' if m.hk else ""
        p4.append(f"Published studies were pooled by inverse-variance meta-analysis of log ratios with {m.method} "
                  f"random effects{' and the Hartung–Knapp adjustment' if m.hk else ''} (R metafor::rma(method = "
                  f"\"{m.method}\"{knha})); heterogeneity by Cochran's Q and I².")
    if p4:
        out.append(" ".join(p4))
    out.append(f"Two-sided p < 0.05 was considered statistically significant. Analyses were run with HAIC Cohort "
               f"Analytics {version} (Python; every statistic is checked against R's survival, maxstat and metafor "
               f"packages to six significant digits); the accompanying R script reproduces every number from the "
               f"analysed data.")
    return out
