# Reference values for analysis/cutpoint.py (maximally selected log-rank statistic).
#
# Run from the repository root:  Rscript tests/reference/cutpoint.R
# Writes tests/reference/data/cutpoint_*.csv (public data sets: maxstat::DLBCL, survival::lung,
# survival::veteran) and tests/reference/cutpoint.json.  Every analysis below is run on the CSV as read
# back from disk, so R and Python see bit-identical numbers.
suppressPackageStartupMessages({
  library(survival)
  library(maxstat)
  library(jsonlite)
})

datadir <- file.path("tests", "reference", "data")
dir.create(datadir, showWarnings = FALSE, recursive = TRUE)

export <- function(df, name) {
  path <- file.path(datadir, paste0("cutpoint_", name, ".csv"))
  write.csv(df, path, row.names = FALSE, na = "")
  list(path = path, data = read.csv(path))
}

data(DLBCL, package = "maxstat")
files <- list(
  dlbcl = export(data.frame(time = DLBCL$time, event = DLBCL$cens, MGE = DLBCL$MGE, IPI = DLBCL$IPI), "dlbcl"),
  lung = export(data.frame(time = lung$time, event = lung$status - 1, age = lung$age,
                           ph_karno = lung$ph.karno, meal_cal = lung$meal.cal, wt_loss = lung$wt.loss), "lung"),
  veteran = export(data.frame(time = veteran$time, event = veteran$status, karno = veteran$karno,
                              age = veteran$age, diagtime = veteran$diagtime), "veteran")
)

# The same lung and veteran patients as a cohort file the app's importer reads (analysis.io.load_cohort):
# time in days in an "OS (days)" header (converted to months: ranks, and so every result, are unchanged),
# lung's event in R's Surv coding 1 = censored / 2 = dead under the "status" alias.  The command-line tests
# run on these files and compare to the cases named in `cli_cases`.
write.csv(data.frame(patient_id = sprintf("L%03d", seq_len(nrow(lung))), "OS (days)" = lung$time,
                     status = lung$status, age = lung$age, ph.karno = lung$ph.karno, meal.cal = lung$meal.cal,
                     check.names = FALSE),
          file.path(datadir, "cutpoint_lung_cohort.csv"), row.names = FALSE, na = "")
write.csv(data.frame(patient_id = sprintf("V%03d", seq_len(nrow(veteran))), "OS (days)" = veteran$time,
                     death = veteran$status, karno = veteran$karno, age = veteran$age, check.names = FALSE),
          file.path(datadir, "cutpoint_veteran_cohort.csv"), row.names = FALSE, na = "")
cli_cases <- list(
  list(csv = file.path(datadir, "cutpoint_lung_cohort.csv"), time = "OS (days)", event = "status",
       variable = "age", case = "lung_age", minprop = 0.1),
  list(csv = file.path(datadir, "cutpoint_lung_cohort.csv"), time = "OS (days)", event = "status",
       variable = "meal.cal", case = "lung_meal_cal", minprop = 0.1),
  list(csv = file.path(datadir, "cutpoint_veteran_cohort.csv"), time = "OS (days)", event = "death",
       variable = "karno", case = "veteran_karno_minprop25", minprop = 0.25)
)

B_MC <- 20000L

run_case <- function(name, file, x, minprop = 0.1, maxprop = 1 - minprop, seed = 1) {
  d <- files[[file]]$data
  d <- d[complete.cases(d[, c("time", "event", x)]), ]
  f <- as.formula(paste("Surv(time, event) ~", x))
  fit92 <- maxstat.test(f, data = d, smethod = "LogRank", pmethod = "Lau92",
                        minprop = minprop, maxprop = maxprop)
  fit94 <- maxstat.test(f, data = d, smethod = "LogRank", pmethod = "Lau94",
                        minprop = minprop, maxprop = maxprop)
  set.seed(seed)
  fitmc <- maxstat.test(f, data = d, smethod = "LogRank", pmethod = "condMC",
                        minprop = minprop, maxprop = maxprop, B = B_MC)
  stopifnot(isTRUE(all.equal(fit92$statistic, fit94$statistic)),
            isTRUE(all.equal(fit92$statistic, fitmc$statistic)))
  scores <- exactRankTests::cscores(Surv(d$time, d$event), type = "LogRank")
  list(
    name = name,
    csv = files[[file]]$path,
    time = "time", event = "event", variable = x,
    minprop = minprop, maxprop = maxprop,
    n = nrow(d),
    n_ties_x = sum(duplicated(d[[x]])),
    n_ties_time = sum(duplicated(d$time)),
    statistic = unname(fit92$statistic),
    cutpoint = unname(fit92$estimate),
    p_lau92 = fit92$p.value,
    p_lau94 = fit94$p.value,
    p_condmc = fitmc$p.value,
    condmc_B = B_MC,
    cuts = unname(fit92$cuts),
    stats = unname(fit92$stats),
    logrank_scores = as.numeric(scores)
  )
}

cases <- list(
  run_case("dlbcl_MGE", "dlbcl", "MGE"),
  run_case("dlbcl_MGE_minprop20", "dlbcl", "MGE", minprop = 0.2),
  run_case("dlbcl_IPI", "dlbcl", "IPI"),
  run_case("lung_age", "lung", "age"),
  run_case("lung_ph_karno", "lung", "ph_karno"),
  run_case("lung_meal_cal", "lung", "meal_cal"),
  run_case("lung_wt_loss_minprop15", "lung", "wt_loss", minprop = 0.15),
  run_case("veteran_karno", "veteran", "karno"),
  run_case("veteran_karno_minprop25", "veteran", "karno", minprop = 0.25),
  run_case("veteran_age", "veteran", "age")
)

out <- list(
  generated_by = "tests/reference/cutpoint.R",
  r_version = R.version.string,
  maxstat_version = as.character(packageVersion("maxstat")),
  survival_version = as.character(packageVersion("survival")),
  cases = cases,
  cli_cases = cli_cases
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE),
           file.path("tests", "reference", "cutpoint.json"))
cat("wrote tests/reference/cutpoint.json with", length(cases), "cases\n")
