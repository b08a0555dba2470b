# Reference values for analysis/survival.py and analysis/cox.py, computed with R's survival package.
#
# Run from the repository root:   Rscript tests/reference/survival.R
# Writes tests/reference/survival.json and the CSV files in tests/reference/data/ that both R and the Python
# tests read (so both sides see byte-identical data):
#   lung.csv      survival::lung      (time in days, status recoded to 0/1, sex/ecog as labelled categories)
#   veteran.csv   survival::veteran   (trt/prior recoded to labelled categories)
#   toy_*.csv     small hand-made data for edge cases (median exactly on a flat 0.5 step, ties, a group
#                 without events)
#   rossi.csv     Rossi et al. recidivism data as shipped with lifelines (lifelines.datasets.load_rossi());
#                 exported once by Python, only READ here.  Weekly times: heavily tied (Efron matters).
#
# What is computed
#   km        survfit(conf.type = "log" | "log-log" | "plain"): full step curve (time, surv, std.err, lower,
#             upper, n.risk, n.event, n.censor), summary(fit, times = ..., extend = FALSE) and the median with
#             its CI from summary(fit)$table (= print.survfit; quantile.survfit also
#             stored: it differs only when S stays at exactly 0.5 to the last time).  Each group is fitted on its own subset.
#   logrank   survdiff(): observed, expected, variance matrix, chisq, df = (#groups with expected > 0) - 1.
#   trend     survdiff() has no trend test.  The log-rank test for trend is computed from the survdiff
#             pieces: U = observed - expected, V = survdiff variance matrix, scores s (default 1..k in level
#             order):  chisq = (s'U)^2 / (s'Vs)  on 1 df.
#   hr        coxph(ties = "efron") with one 0/1 covariate: coef, se (Wald), HR, 95% CI, Wald p.
#   cox       coxph(ties = "efron"): coefficients, se, Wald CI/p, concordance (Harrell's C as coxph reports
#             it), final and null log partial likelihood, likelihood-ratio and Wald global tests, and
#             cox.zph(fit) (default transform "km", terms = TRUE) per term + GLOBAL.
suppressPackageStartupMessages({
  library(survival)
  library(jsonlite)
})

out_dir <- "tests/reference"
data_dir <- file.path(out_dir, "data")
dir.create(data_dir, showWarnings = FALSE, recursive = TRUE)

num <- function(x) {
  x <- as.numeric(x)
  x[!is.finite(x)] <- NA
  x
}

# ---------------------------------------------------------------------------------------------------------
# Data sets
# ---------------------------------------------------------------------------------------------------------
lung_df <- with(survival::lung, data.frame(
  time = time,
  status = as.integer(status == 2),
  age = age,
  sex = ifelse(sex == 1, "Male", "Female"),
  ph_ecog = ph.ecog,
  ecog = ifelse(is.na(ph.ecog), NA, ifelse(ph.ecog >= 2, "2+", as.character(ph.ecog))),
  ph_karno = ph.karno,
  wt_loss = wt.loss,
  stringsAsFactors = FALSE
))
# a group with no events: every second censored patient
lung_df$noevent_grp <- ifelse(lung_df$status == 0 & seq_len(nrow(lung_df)) %% 2 == 0, "Yes", "No")
write.csv(lung_df, file.path(data_dir, "lung.csv"), row.names = FALSE, na = "")

veteran_df <- with(survival::veteran, data.frame(
  time = time,
  status = status,
  trt = ifelse(trt == 1, "standard", "test"),
  celltype = as.character(celltype),
  karno = karno,
  diagtime = diagtime,
  age = age,
  prior = ifelse(prior == 0, "No", "Yes"),
  stringsAsFactors = FALSE
))
write.csv(veteran_df, file.path(data_dir, "veteran.csv"), row.names = FALSE, na = "")

# S(t) lands exactly on 0.5 and stays flat: median is the midpoint of the flat step (5.5)
toy_flat <- data.frame(time = c(1:10, 1:10), status = c(rep(1L, 10), rep(c(1L, 0L), 5)),
                       grp = rep(c("a", "b"), each = 10), stringsAsFactors = FALSE)
write.csv(toy_flat, file.path(data_dir, "toy_flat.csv"), row.names = FALSE)

# S(t) reaches 0.5 at the last event and stays flat to the last (censored) time: R's "lastpt" rule
toy_lastpt <- data.frame(time = c(1, 2, 3, 4, 2, 2, 5, 7, 7, 8, 9, 9),
                         status = c(1, 1, 0, 0, 1, 0, 1, 1, 0, 0, 1, 0),
                         grp = c(rep("x", 4), rep("y", 8)), stringsAsFactors = FALSE)
write.csv(toy_lastpt, file.path(data_dir, "toy_lastpt.csv"), row.names = FALSE)

# ties (events and censorings at the same time) and a curve that reaches 0
toy_ties <- data.frame(time = c(1, 2, 2, 3, 4, 5, 6, 7, 8, 9, 2, 2, 3, 3, 3, 6, 6, 10),
                       status = c(0, 1, 1, 0, 1, 1, 0, 1, 1, 1, 1, 0, 1, 1, 0, 1, 1, 0),
                       grp = c(rep("A", 10), rep("B", 8)), stringsAsFactors = FALSE)
write.csv(toy_ties, file.path(data_dir, "toy_ties.csv"), row.names = FALSE)

rossi_df <- read.csv(file.path(data_dir, "rossi.csv"))

datasets <- list(
  "lung.csv" = lung_df, "veteran.csv" = veteran_df, "toy_flat.csv" = toy_flat,
  "toy_lastpt.csv" = toy_lastpt, "toy_ties.csv" = toy_ties, "rossi.csv" = rossi_df
)

# ---------------------------------------------------------------------------------------------------------
# Kaplan-Meier
# ---------------------------------------------------------------------------------------------------------
km_one <- function(d, time, event, conf_type, at) {
  y <- Surv(d[[time]], d[[event]])
  fit <- survfit(y ~ 1, conf.type = conf_type)
  tab <- summary(fit)$table
  s <- summary(fit, times = at, extend = FALSE)
  q <- quantile(fit, 0.5)
  list(
    n = nrow(d), events = sum(d[[event]]),
    median = num(tab[["median"]]), median_lo = num(tab[["0.95LCL"]]), median_hi = num(tab[["0.95UCL"]]),
    # quantile.survfit's answer, for the record: differs from print.survfit only when S stays at 0.5 to the end
    quantile_median = num(q$quantile), quantile_lo = num(q$lower), quantile_hi = num(q$upper),
    curve = list(time = fit$time, surv = fit$surv, std_err = num(fit$std.err), lower = num(fit$lower),
                 upper = num(fit$upper), n_risk = fit$n.risk, n_event = fit$n.event,
                 n_censor = fit$n.censor),
    at = list(time = s$time, surv = num(s$surv), lower = num(s$lower), upper = num(s$upper),
              n_risk = s$n.risk)
  )
}

km_cases <- list(
  list(name = "lung_all", data = "lung.csv", time = "time", event = "status", group = NULL,
       at = c(0, 5, 30, 100, 182.5, 365, 500, 730, 1000, 1022)),
  list(name = "lung_sex", data = "lung.csv", time = "time", event = "status", group = "sex",
       at = c(0, 100, 182.5, 365, 500, 730, 1000)),
  list(name = "lung_ecog", data = "lung.csv", time = "time", event = "status", group = "ecog",
       at = c(0, 100, 365, 730)),
  list(name = "lung_noevent", data = "lung.csv", time = "time", event = "status", group = "noevent_grp",
       at = c(0, 100, 365, 730)),
  list(name = "veteran_trt", data = "veteran.csv", time = "time", event = "status", group = "trt",
       at = c(0, 30, 90, 180, 365)),
  list(name = "veteran_celltype", data = "veteran.csv", time = "time", event = "status",
       group = "celltype", at = c(0, 30, 90, 180)),
  list(name = "rossi_all", data = "rossi.csv", time = "week", event = "arrest", group = NULL,
       at = c(0, 10, 26, 52)),
  list(name = "rossi_fin", data = "rossi.csv", time = "week", event = "arrest", group = "fin",
       at = c(0, 10, 26, 52)),
  list(name = "toy_flat", data = "toy_flat.csv", time = "time", event = "status", group = "grp",
       at = c(0, 0.5, 1, 2.5, 5, 5.5, 9, 10)),
  list(name = "toy_lastpt", data = "toy_lastpt.csv", time = "time", event = "status", group = "grp",
       at = c(0, 1, 2, 3.5, 4, 9)),
  list(name = "toy_ties", data = "toy_ties.csv", time = "time", event = "status", group = "grp",
       at = c(0, 1, 2, 2.5, 6, 9, 10))
)

km_out <- list()
for (case in km_cases) {
  d <- datasets[[case$data]]
  d <- d[!is.na(d[[case$time]]) & !is.na(d[[case$event]]), ]
  for (ct in c("log", "log-log", "plain")) {
    if (is.null(case$group)) {
      groups <- list(c(list(level = NULL), km_one(d, case$time, case$event, ct, case$at)))
    } else {
      d2 <- d[!is.na(d[[case$group]]), ]
      levs <- sort(unique(as.character(d2[[case$group]])))
      groups <- lapply(levs, function(l) {
        c(list(level = l), km_one(d2[as.character(d2[[case$group]]) == l, ], case$time, case$event, ct,
                                  case$at))
      })
    }
    km_out[[length(km_out) + 1]] <- list(
      name = case$name, data = case$data, time = case$time, event = case$event, group = case$group,
      conf_type = ct, at = case$at, groups = groups
    )
  }
}

# ---------------------------------------------------------------------------------------------------------
# Log-rank and trend
# ---------------------------------------------------------------------------------------------------------
lr_cases <- list(
  list(name = "lung_sex", data = "lung.csv", time = "time", event = "status", group = "sex"),
  list(name = "lung_ecog", data = "lung.csv", time = "time", event = "status", group = "ecog"),
  list(name = "lung_ph_ecog4", data = "lung.csv", time = "time", event = "status", group = "ph_ecog"),
  list(name = "lung_noevent", data = "lung.csv", time = "time", event = "status", group = "noevent_grp"),
  list(name = "veteran_trt", data = "veteran.csv", time = "time", event = "status", group = "trt"),
  list(name = "veteran_celltype", data = "veteran.csv", time = "time", event = "status",
       group = "celltype"),
  list(name = "rossi_fin", data = "rossi.csv", time = "week", event = "arrest", group = "fin"),
  list(name = "toy_ties", data = "toy_ties.csv", time = "time", event = "status", group = "grp")
)

logrank_one <- function(d, time, event, group, levels) {
  g <- factor(d[[group]], levels = levels)
  sd <- survdiff(Surv(d[[time]], d[[event]]) ~ g)
  keep <- sd$exp > 0
  u <- (sd$obs - sd$exp)[keep][-1]
  v <- sd$var[keep, keep][-1, -1, drop = FALSE]
  chisq <- sum(solve(v, u) * u)
  df <- sum(keep) - 1
  list(sd = sd, chisq = chisq, df = df, p = pchisq(chisq, df, lower.tail = FALSE))
}

lr_out <- list()
for (case in lr_cases) {
  d <- datasets[[case$data]]
  d <- d[!is.na(d[[case$time]]) & !is.na(d[[case$event]]) & !is.na(d[[case$group]]), ]
  levs <- sort(unique(d[[case$group]]))
  r <- logrank_one(d, case$time, case$event, case$group, levs)
  stopifnot(abs(r$chisq - r$sd$chisq) < 1e-8 * max(1, r$sd$chisq))
  lr_out[[length(lr_out) + 1]] <- list(
    name = case$name, data = case$data, time = case$time, event = case$event, group = case$group,
    levels = as.character(levs), observed = r$sd$obs, expected = r$sd$exp,
    var = unname(r$sd$var), chisq = r$chisq, df = r$df, p = r$p
  )
}

trend_cases <- list(
  list(name = "lung_ecog", data = "lung.csv", time = "time", event = "status", group = "ecog",
       levels = c("0", "1", "2+"), scores = NULL),
  list(name = "lung_ecog_scores", data = "lung.csv", time = "time", event = "status", group = "ecog",
       levels = c("0", "1", "2+"), scores = c(0, 1, 2.5)),
  list(name = "lung_ph_ecog4", data = "lung.csv", time = "time", event = "status", group = "ph_ecog",
       levels = c(0, 1, 2, 3), scores = NULL),
  list(name = "veteran_celltype", data = "veteran.csv", time = "time", event = "status",
       group = "celltype", levels = c("squamous", "smallcell", "adeno", "large"), scores = NULL),
  list(name = "rossi_fin", data = "rossi.csv", time = "week", event = "arrest", group = "fin",
       levels = c(0, 1), scores = NULL)
)
trend_out <- list()
for (case in trend_cases) {
  d <- datasets[[case$data]]
  d <- d[!is.na(d[[case$time]]) & !is.na(d[[case$event]]) & !is.na(d[[case$group]]), ]
  g <- factor(d[[case$group]], levels = case$levels)
  sd <- survdiff(Surv(d[[case$time]], d[[case$event]]) ~ g)
  s <- if (is.null(case$scores)) seq_along(case$levels) else case$scores
  u <- sd$obs - sd$exp
  chisq <- drop((s %*% u)^2 / (s %*% sd$var %*% s))
  trend_out[[length(trend_out) + 1]] <- list(
    name = case$name, data = case$data, time = case$time, event = case$event, group = case$group,
    levels = case$levels, scores = s, given_scores = !is.null(case$scores), chisq = chisq, df = 1,
    p = pchisq(chisq, 1, lower.tail = FALSE)
  )
}

# ---------------------------------------------------------------------------------------------------------
# Two-group Cox HR
# ---------------------------------------------------------------------------------------------------------
hr_cases <- list(
  list(name = "lung_sex", data = "lung.csv", time = "time", event = "status", group = "sex", high = "Female"),
  list(name = "veteran_trt", data = "veteran.csv", time = "time", event = "status", group = "trt",
       high = "test"),
  list(name = "rossi_fin", data = "rossi.csv", time = "week", event = "arrest", group = "fin", high = 1),
  list(name = "rossi_wexp", data = "rossi.csv", time = "week", event = "arrest", group = "wexp", high = 1),
  list(name = "toy_ties", data = "toy_ties.csv", time = "time", event = "status", group = "grp",
       high = "B"),
  list(name = "lung_age63", data = "lung.csv", time = "time", event = "status", group = "age",
       cutoff = 63),
  list(name = "lung_karno80", data = "lung.csv", time = "time", event = "status", group = "ph_karno",
       cutoff = 80)
)
hr_out <- list()
for (case in hr_cases) {
  d <- datasets[[case$data]]
  d <- d[!is.na(d[[case$time]]) & !is.na(d[[case$event]]) & !is.na(d[[case$group]]), ]
  x <- if (!is.null(case$cutoff)) as.numeric(d[[case$group]] > case$cutoff) else
    as.numeric(d[[case$group]] == case$high)
  fit <- coxph(Surv(d[[case$time]], d[[case$event]]) ~ x, ties = "efron")
  b <- unname(coef(fit)); se <- unname(sqrt(diag(vcov(fit))))
  hr_out[[length(hr_out) + 1]] <- list(
    name = case$name, data = case$data, time = case$time, event = case$event, group = case$group,
    high = if (is.null(case$high)) NULL else as.character(case$high), cutoff = case$cutoff,
    n = fit$n, events = fit$nevent,
    coef = b, se = se, hr = exp(b), lo = exp(b - qnorm(0.975) * se), hi = exp(b + qnorm(0.975) * se),
    p = 2 * pnorm(-abs(b / se)), loglik = fit$loglik[2]
  )
}

# ---------------------------------------------------------------------------------------------------------
# Cox models.  spec mirrors analysis.cox.parse_covariates: "col" numeric per unit, "col:X" -> I(col > X),
# categorical -> factor with the reference level first and the other levels sorted.
# ---------------------------------------------------------------------------------------------------------
cox_case <- function(name, data, time, event, spec, refs = list()) {
  d <- datasets[[data]]
  items <- strsplit(strsplit(spec, ",")[[1]], ":")
  mf <- data.frame(.time = d[[time]], .event = d[[event]])
  term_labels <- character(0)   # one per coefficient, in analysis.cox naming
  zph_labels <- character(0)    # one per model term
  for (i in seq_along(items)) {
    col <- items[[i]][1]
    v <- d[[col]]
    vn <- paste0("x", i)
    if (length(items[[i]]) == 2) {
      cut <- as.numeric(items[[i]][2])
      mf[[vn]] <- as.numeric(v > cut)
      lab <- paste0(col, " > ", items[[i]][2])
      term_labels <- c(term_labels, lab); zph_labels <- c(zph_labels, lab)
    } else if (is.character(v)) {
      levs <- sort(unique(v[!is.na(v)]))
      ref <- if (!is.null(refs[[col]])) refs[[col]] else levs[1]
      levs <- c(ref, setdiff(levs, ref))
      mf[[vn]] <- factor(v, levels = levs)
      term_labels <- c(term_labels, paste0(col, "=", levs[-1])); zph_labels <- c(zph_labels, col)
    } else {
      mf[[vn]] <- as.numeric(v)
      term_labels <- c(term_labels, col); zph_labels <- c(zph_labels, col)
    }
  }
  f <- as.formula(paste("Surv(.time, .event) ~", paste(paste0("x", seq_along(items)), collapse = " + ")))
  fit <- coxph(f, data = mf, ties = "efron")
  b <- unname(coef(fit)); se <- unname(sqrt(diag(vcov(fit))))
  z <- qnorm(0.975)
  zp <- cox.zph(fit)
  zt <- zp$table
  lr <- 2 * (fit$loglik[2] - fit$loglik[1])
  list(
    name = name, data = data, time = time, event = event, spec = spec, refs = refs,
    n = fit$n, events = fit$nevent, excluded = nrow(d) - fit$n,
    terms = lapply(seq_along(b), function(j) list(term = term_labels[j], coef = b[j], se = se[j],
                                                  hr = exp(b[j]), lo = exp(b[j] - z * se[j]),
                                                  hi = exp(b[j] + z * se[j]),
                                                  p = 2 * pnorm(-abs(b[j] / se[j])))),
    concordance = unname(fit$concordance["concordance"]),
    concordance_counts = as.list(fit$concordance[c("concordant", "discordant", "tied.x", "tied.y",
                                                   "tied.xy")]),
    loglik = fit$loglik[2], loglik_null = fit$loglik[1],
    lr = list(chisq = lr, df = length(b), p = pchisq(lr, length(b), lower.tail = FALSE)),
    wald = list(chisq = unname(fit$wald.test), df = length(b),
                p = pchisq(unname(fit$wald.test), length(b), lower.tail = FALSE)),
    ph_test = lapply(seq_len(nrow(zt)), function(j) list(
      term = if (j <= length(zph_labels)) zph_labels[j] else "GLOBAL",
      chisq = zt[j, "chisq"], df = zt[j, "df"], p = zt[j, "p"]))
  )
}

cox_out <- list(
  cox_case("lung_sex", "lung.csv", "time", "status", "sex", list(sex = "Male")),
  cox_case("lung_age", "lung.csv", "time", "status", "age"),
  cox_case("lung_age_cut", "lung.csv", "time", "status", "age:63"),
  cox_case("lung_ecog", "lung.csv", "time", "status", "ecog", list(ecog = "0")),
  cox_case("lung_multi", "lung.csv", "time", "status", "age,sex,ecog,ph_karno,wt_loss",
           list(sex = "Male", ecog = "0")),
  cox_case("lung_multi_cut", "lung.csv", "time", "status", "age:63,sex,ecog,ph_karno:80",
           list(sex = "Male", ecog = "0")),
  cox_case("veteran_multi", "veteran.csv", "time", "status", "trt,celltype,karno,age,prior,diagtime",
           list(trt = "standard", celltype = "squamous", prior = "No")),
  cox_case("veteran_celltype", "veteran.csv", "time", "status", "celltype", list(celltype = "squamous")),
  cox_case("veteran_karno", "veteran.csv", "time", "status", "karno"),
  cox_case("rossi_multi", "rossi.csv", "week", "arrest", "fin,age,race,wexp,mar,paro,prio"),
  cox_case("rossi_prio", "rossi.csv", "week", "arrest", "prio"),
  cox_case("toy_ties_grp", "toy_ties.csv", "time", "status", "grp", list(grp = "A"))
)

ref <- list(
  meta = list(R = R.version.string, survival = as.character(packageVersion("survival")),
              script = "tests/reference/survival.R"),
  km = km_out, logrank = lr_out, trend = trend_out, hr = hr_out, cox = cox_out
)
writeLines(toJSON(ref, auto_unbox = TRUE, digits = NA, na = "null", null = "null", pretty = FALSE),
           file.path(out_dir, "survival.json"))
cat("wrote", file.path(out_dir, "survival.json"), "\n")
