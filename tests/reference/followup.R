# Reference values for analysis.survival.reverse_km_followup: the median follow-up and its quartiles by the reverse
# Kaplan-Meier method (Schemper & Smith 1996), i.e. the KM estimate of the time to censoring with the events
# censoring it:   quantile(survfit(Surv(time, 1 - status) ~ 1), probs = c(0.25, 0.5, 0.75))
# (quantile.survfit: where the curve is flat at exactly p, the midpoint of the flat stretch; NA if never reached).
#
# Run from the repository root:   Rscript tests/reference/followup.R    -> tests/reference/followup.json
# Data: public datasets in tests/reference/data (their own units: days, weeks or months, as the files hold them),
# the synthetic demo cohort, and the hand-made toy files (flat stretches at 0.5, ties, a last censored point).
suppressPackageStartupMessages({
  library(survival)
  library(jsonlite)
})
cases <- list(
  list(name = "lung", file = "tests/reference/data/lung.csv", time = "time", event = "status"),
  list(name = "veteran", file = "tests/reference/data/veteran.csv", time = "time", event = "status"),
  list(name = "rossi", file = "tests/reference/data/rossi.csv", time = "week", event = "arrest"),
  list(name = "gbsg", file = "tests/reference/data/gbsg.csv", time = "rfstime", event = "status"),
  list(name = "mgus2-progression", file = "tests/reference/data/mgus2.csv", time = "ptime", event = "pstat"),
  list(name = "mgus2-death", file = "tests/reference/data/mgus2.csv", time = "futime", event = "death"),
  list(name = "ovarian", file = "tests/reference/data/ovarian.csv", time = "futime", event = "fustat"),
  list(name = "demo-pfs", file = "data/demo_cohort.csv", time = "pfs_months", event = "pfs_event"),
  list(name = "demo-os", file = "data/demo_cohort.csv", time = "os_months", event = "os_event"),
  list(name = "toy-flat", file = "tests/reference/data/toy_flat.csv", time = "time", event = "status"),
  list(name = "toy-lastpt", file = "tests/reference/data/toy_lastpt.csv", time = "time", event = "status"),
  list(name = "toy-ties", file = "tests/reference/data/toy_ties.csv", time = "time", event = "status")
)
num <- function(x) { x <- as.numeric(x); if (is.na(x)) NA else x }
out <- list()
for (case in cases) {
  d <- read.csv(case$file, stringsAsFactors = FALSE)
  time <- d[[case$time]]; event <- d[[case$event]]
  ok <- !is.na(time) & !is.na(event)
  fit <- survfit(Surv(time[ok], 1 - event[ok]) ~ 1)
  q <- quantile(fit, probs = c(0.25, 0.5, 0.75), conf.int = FALSE)
  out[[case$name]] <- list(file = case$file, time = case$time, event = case$event, n = sum(ok),
                           censored = sum(event[ok] == 0), q1 = num(q[1]), median = num(q[2]), q3 = num(q[3]))
}
out$r_version <- R.version.string
out$survival_version <- as.character(packageVersion("survival"))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, na = "null", pretty = TRUE), "tests/reference/followup.json")
