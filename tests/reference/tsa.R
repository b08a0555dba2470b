# Reference values for analysis/meta/tsa.py (trial sequential analysis) from the R package RTSA.
#
# RTSA is not in Debian: it is loaded from a private library given in R_LIBS (built there from the CRAN GitHub
# mirror, with CompQuadForm which it needs; neither is part of this repository). Run from the repo root:
#   R_LIBS=/path/to/private/library Rscript tests/reference/tsa.R   -> tests/reference/tsa.json
# It also writes the count files tests/reference/data/tsa_*.csv (public data sets of metafor, in the app's generic
# count layout study,year,events_exp,n_exp,events_ctrl,n_ctrl, oldest study first) that the Python tests read.
#
# Convention checked (the TSA program's, as issue 15 fixes it): RTSA(type = "analysis", outcome = "RR",
# side = 2, es_alpha = "esOF", weights = "MH" | "IV", re_method = "DL", random_adj = "D2", power_adj = FALSE,
# futility = "none" | "non-binding", es_beta = "esOF"), fixed = TRUE for the fixed-effect model.
# Counts are passed as doubles: RTSA's Mantel-Haenszel variance multiplies counts and overflows R's integers
# (NA z-values) for trials of ~90,000 patients (dat.bcg).
suppressMessages({
  library(RTSA)
  library(metafor)
  library(jsonlite)
})

data_dir <- "tests/reference/data"

count_file <- function(name, study, year, eI, nI, eC, nC) {
  d <- data.frame(study = study, year = year, events_exp = eI, n_exp = nI, events_ctrl = eC, n_ctrl = nC,
                  stringsAsFactors = FALSE)
  d <- d[order(d$year), ]  # stable: ties keep the data set's order
  write.csv(d, file.path(data_dir, paste0("tsa_", name, ".csv")), row.names = FALSE)
  d
}

sets <- list()
b <- dat.bcg
sets$bcg <- count_file("bcg", paste(b$author, b$year), b$year, b$tpos, b$tpos + b$tneg, b$cpos, b$cpos + b$cneg)
cl <- dat.collins1985a
ok <- !is.na(cl$b.xti) & !is.na(cl$b.xci)
sets$collins <- count_file("collins", cl$trial[ok], cl$year[ok], cl$b.xti[ok], cl$nti[ok], cl$b.xci[ok],
                           cl$nci[ok])
e <- dat.egger2001
sets$egger <- count_file("egger", e$study, e$year, e$ai, e$n1i, e$ci, e$n2i)
n <- dat.nielweise2007
sets$nielweise <- count_file("nielweise", paste(n$author, n$year), n$year, n$ai, n$n1i, n$ci, n$n2i)
l <- dat.lee2004
sets$lee <- count_file("lee", l$study, l$year, l$ai, l$n1i, l$ci, l$n2i)
l <- dat.li2007
sets$li <- count_file("li", l$study, l$year, l$ai, l$n1i, l$ci, l$n2i)
# the 17-study HAIC file: ORR and DCR counts as in the file (the pooled sets of the app's default, derivations on)
m <- read.csv("data/meta17.csv", stringsAsFactors = FALSE)
lab <- paste(m$first_author, m$year)
for (o in c("orr", "dcr")) {
  a <- m[[paste0(o, "_haic")]]; c_ <- m[[paste0(o, "_ctrl")]]
  ok <- !is.na(a) & !is.na(c_)
  d <- data.frame(study = lab[ok], year = m$year[ok], events_exp = a[ok], n_exp = m$n_haic[ok],
                  events_ctrl = c_[ok], n_ctrl = m$n_ctrl[ok], stringsAsFactors = FALSE)
  sets[[paste0("meta17_", o)]] <- d[order(d$year), ]
}

num <- function(x) if (is.null(x)) NULL else as.numeric(x)

run <- function(set, rrr, model = "random", weights = "MH", futility = FALSE, alpha = 0.05, beta = 0.2,
                pC = NULL) {
  d <- sets[[set]]
  rd <- data.frame(study = d$study, eI = as.numeric(d$events_exp), nI = as.numeric(d$n_exp),
                   eC = as.numeric(d$events_ctrl), nC = as.numeric(d$n_ctrl), stringsAsFactors = FALSE)
  args <- list(type = "analysis", data = rd, outcome = "RR", RRR = rrr, side = 2, alpha = alpha, beta = beta,
               es_alpha = "esOF", weights = weights, re_method = "DL", random_adj = "D2", power_adj = FALSE,
               fixed = model == "fixed", futility = if (futility) "non-binding" else "none")
  if (futility) args$es_beta <- "esOF"
  if (!is.null(pC)) args$pC <- pC
  r <- suppressWarnings(suppressMessages(do.call(RTSA, args)))
  df <- r$results$results_df
  fixed <- isTRUE(r$settings$fixed)
  studies <- !is.na(df$z_fixed)
  # the CI print.RTSA reports: naive once the RIS is overrun, else the last TSA-adjusted one of the model
  if (r$results$seq_inf$overrun) {
    lo <- if (fixed) df$naiveCIfixed_lower else df$naiveCIrandom_lower
    hi <- if (fixed) df$naiveCIfixed_upper else df$naiveCIrandom_upper
    ci_type <- "naive (RIS exceeded)"
  } else {
    lo <- if (fixed) df$TSAadjCIfixed_lower else df$TSAadjCIrandom_lower
    hi <- if (fixed) df$TSAadjCIfixed_upper else df$TSAadjCIrandom_upper
    ci_type <- "TSA-adjusted"
  }
  last <- if (any(!is.na(lo))) max(which(!is.na(lo))) else NA
  hete <- r$results$metaanalysis$hete_results$hete_est
  list(
    settings = list(set = set, rrr = rrr, model = model, weights = weights, futility = futility, alpha = alpha,
                    beta = beta, pc = if (is.null(pC)) NULL else pC),
    ris = if (fixed) r$results$RIS else r$results$HARIS,
    ris_fixed = r$results$RIS,
    fixed = fixed,
    pc = r$settings$Pax$pC, pi = r$settings$Pax$pI,
    d2 = hete$D.2, tau2 = hete$tau2, i2 = hete$I.2,
    subjects = num(r$settings$Pax$subjects),
    z = if (fixed) df$z_fixed[studies] else df$z_random[studies],
    z_fixed = df$z_fixed[studies], z_random = df$z_random[studies],
    estimate = if (fixed) df$outcome_fixed[studies] else df$outcome_random[studies],
    # per study: RTSA's naive fixed-effect CI and the variance it keeps with it (peF[7]; for Mantel-Haenszel
    # weights with a cumulative tau^2 > 0 this is the inverse-variance variance, which its TSA-adjusted CI uses)
    naive_fixed_lo = df$naiveCIfixed_lower[studies], naive_fixed_hi = df$naiveCIfixed_upper[studies],
    var_fixed = df$sdvalues_fixed[studies],
    bounds = list(info_frac = num(r$bounds$inf_frac), upper = num(r$bounds$alpha_ubound),
                  lower = num(r$bounds$alpha_lbound),
                  futility_upper = if (futility) num(r$bounds$beta_ubound) else NULL,
                  futility_lower = if (futility) num(r$bounds$beta_lbound) else NULL),
    stop_time = if (is.null(r$results$seq_inf$stop_time)) NULL else r$results$seq_inf$stop_time,
    stop_direction = if (is.null(r$results$seq_inf$stop_direction)) NULL else r$results$seq_inf$stop_direction,
    overrun = r$results$seq_inf$overrun,
    adjusted_ci = list(lo = if (is.na(last)) NULL else lo[last], hi = if (is.na(last)) NULL else hi[last],
                       type = if (is.na(last)) NULL else ci_type)
  )
}

# each data set as random effects (without and with futility), fixed Mantel-Haenszel and fixed inverse variance
four <- function(set, rrr) {
  runs <- list(run(set, rrr), run(set, rrr, futility = TRUE), run(set, rrr, model = "fixed"),
               run(set, rrr, model = "fixed", weights = "IV"))
  setNames(runs, paste0(set, c("", "_futility", "_fixed_mh", "_fixed_iv")))
}

cases <- c(
  # the paper's settings (Lu et al. 2025, Figure 6): ORR RRR 30 %, DCR RRR 15 %, alpha 5 %, power 80 %
  four("meta17_orr", 0.30),
  four("meta17_dcr", 0.15),
  # BCG vaccine: 13 trials, large heterogeneity, information far beyond the RIS
  four("bcg", 0.20),
  # diuretics and pre-eclampsia: one double-zero trial, zero cells; other alpha/beta; a given control risk
  four("collins", 0.20),
  list(collins_rrr30_alpha01_beta10 = run("collins", 0.30, model = "fixed", weights = "IV", alpha = 0.01,
                                          beta = 0.10),
       collins_pc = run("collins", 0.25, pC = 0.20, futility = TRUE)),
  # intravenous magnesium in myocardial infarction (Egger 2001): a zero cell, a mega-trial
  four("egger", 0.25),
  # catheter infections (Niel-Weise 2007): tau^2 = 0 (random falls back to fixed), double zero, zero cells
  four("nielweise", 0.30),
  # Lee 2004 and Li 2007: boundaries crossed
  four("lee", 0.20),
  four("li", 0.20),
  list(li_rrr15_beta10_futility = run("li", 0.15, futility = TRUE, beta = 0.10))
)

out <- list(
  generated_by = "tests/reference/tsa.R",
  rtsa_version = as.character(packageVersion("RTSA")),
  metafor_version = as.character(packageVersion("metafor")),
  r_version = R.version.string,
  cases = cases
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, na = "null", null = "null", pretty = FALSE),
           "tests/reference/tsa.json")
cat("wrote tests/reference/tsa.json (", length(cases), "cases )\n")
