# One cutoff update in R survival, timed inside R: survfit (log-log CI) + summary at the axis ticks
# (survival, CI, numbers at risk) + survdiff (log-rank) + coxph (Efron) on the two groups.
# Usage: Rscript benchmarks/r_engine.R spec.json
#   spec: {"data": file of 3n little-endian float64 (time, event, marker), "n": n, "cutoffs": [...],
#          "times": [...], "budget_s": s, "max_updates": k}
# Prints one JSON line: {"samples_ms": [...], "r_version", "survival_version", "hr", "p"} (last update's HR/p).
suppressPackageStartupMessages({library(survival); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
spec <- fromJSON(args[1])
n <- spec$n
v <- readBin(spec$data, what = "double", n = 3 * n, size = 8, endian = "little")
time <- v[1:n]; event <- v[(n + 1):(2 * n)]; marker <- v[(2 * n + 1):(3 * n)]
cuts <- spec$cutoffs
ticks <- spec$times

update <- function(cutoff) {
  g <- as.numeric(marker > cutoff)
  fit <- survfit(Surv(time, event) ~ g, conf.type = "log-log")
  s <- summary(fit, times = ticks, extend = TRUE)
  lr <- survdiff(Surv(time, event) ~ g)
  cx <- coxph(Surv(time, event) ~ g, ties = "efron")
  list(hr = unname(exp(coef(cx))), p = pchisq(lr$chisq, 1, lower.tail = FALSE), n_risk = s$n.risk)
}

t0 <- proc.time()[["elapsed"]]
res <- update(cuts[1])                                  # warm-up
first <- proc.time()[["elapsed"]] - t0
reps <- max(3, min(spec$max_updates, floor(spec$budget_s / max(first, 1e-4))))
samples <- numeric(reps)
for (i in seq_len(reps)) {
  cutoff <- cuts[(i %% length(cuts)) + 1]
  t0 <- proc.time()[["elapsed"]]
  res <- update(cutoff)
  samples[i] <- (proc.time()[["elapsed"]] - t0) * 1000
}
cat(toJSON(list(samples_ms = samples, r_version = paste(R.version$major, R.version$minor, sep = "."),
                survival_version = as.character(packageVersion("survival")), hr = res$hr, p = res$p),
           auto_unbox = TRUE, digits = NA), "\n")
