# Reference answers of R (metafor 3.8, and the meta package for H / I^2) on the edge cases of issue 15.
# Run from the repo root; the meta package is not in Debian and is loaded from a private library in R_LIBS
# (built from its CRAN GitHub mirror; not part of this repository):
#   R_LIBS=/path/to/private/library Rscript tests/reference/meta_edge.R   -> tests/reference/meta_edge.json
# It writes the small edge-case study files tests/reference/data/meta_edge_*.csv (made for the purpose, in the
# app's generic layouts) that the Python tests read. Where R refuses, the JSON holds R's error message.
suppressMessages({
  library(metafor)
  library(meta)
  library(jsonlite)
})

data_dir <- "tests/reference/data"
z975 <- qnorm(0.975)
ctrl <- list(threshold = 1e-12, tol = 1e-12, maxiter = 1000)
wr <- function(d, name) {
  write.csv(d, file.path(data_dir, paste0("meta_edge_", name, ".csv")), row.names = FALSE)
  d
}
answer <- function(expr) tryCatch(expr, error = function(e) list(error = conditionMessage(e)))

pool <- function(m) list(est = as.numeric(m$beta[1]), se = m$se[1], ci_lb = m$ci.lb[1], ci_ub = m$ci.ub[1],
                         pval = m$pval[1], tau2 = m$tau2, QE = m$QE, k = m$k)
egger <- function(m) list(
  lm = answer({r <- regtest(m, model = "lm"); list(stat = unname(r$zval), pval = unname(r$pval), df = r$dfs,
                                                     bias = unname(coef(r$fit)[2]), limit = unname(r$est))}),
  rma = answer({r <- regtest(m); list(stat = unname(r$zval), pval = unname(r$pval))}))
trim <- function(m) answer({t <- trimfill(m, control = ctrl); list(k0 = t$k0, est = as.numeric(t$beta[1]),
                                                                     ci_lb = t$ci.lb, ci_ub = t$ci.ub)})
ratio_case <- function(d) {
  yi <- log(d$hr); sei <- (log(d$hi) - log(d$lo)) / (2 * z975)
  out <- list(sei = sei)
  for (meth in c("REML", "DL", "FE")) {
    m <- rma(yi, sei = sei, method = meth, control = ctrl)
    out[[meth]] <- c(pool(m), list(egger = egger(m), trimfill = trim(m)))
  }
  out
}
count_case <- function(d, measure = "RR") {
  e <- escalc(measure, ai = events_exp, n1i = n_exp, ci = events_ctrl, n2i = n_ctrl, data = d, drop00 = TRUE)
  keep <- !is.na(e$yi)
  out <- list(yi = as.numeric(e$yi[keep]), vi = as.numeric(e$vi[keep]))
  for (meth in c("REML", "DL", "FE")) {
    m <- rma(e$yi[keep], e$vi[keep], method = meth, control = ctrl)
    out[[meth]] <- c(pool(m), list(egger = egger(m), trimfill = trim(m)))
  }
  mh <- rma.mh(ai = events_exp, n1i = n_exp, ci = events_ctrl, n2i = n_ctrl, data = d, measure = measure)
  out$MH <- list(est = if (is.na(mh$beta[1])) NULL else as.numeric(mh$beta[1]),
                 ci_lb = if (is.na(mh$ci.lb)) NULL else mh$ci.lb)
  out
}

out <- list(generated_by = "tests/reference/meta_edge.R",
            metafor_version = as.character(packageVersion("metafor")),
            meta_version = as.character(packageVersion("meta")), r_version = R.version.string)

# CI widths equal up to one rounding bit: the SEs differ in the last bit only
out$equal_bit <- ratio_case(wr(data.frame(study = c("A", "B", "C", "D"), hr = c(0.5, 0.8, 1.2, 0.6),
                                          lo = c(0.25, 0.4, 0.6, 0.3), hi = c(1.0, 1.6, 2.4, 1.2)), "equal_bit"))
# CI widths equal to 4 digits: Egger's regression is fitted by R (a huge limit estimate), rma refuses
out$equal_4 <- ratio_case(wr(data.frame(study = c("A", "B", "C", "D"), hr = c(0.5, 0.8, 1.2, 0.6),
                                        lo = c(0.25, 0.4, 0.6, 0.3), hi = c(1.0, 1.6001, 2.4, 1.2002)), "equal_4"))
# three identical 2x2 studies (different names)
out$identical <- count_case(wr(data.frame(study = c("A", "B", "C"), events_exp = 10, n_exp = 50,
                                          events_ctrl = 15, n_ctrl = 50), "identical"))
# an exactly repeated row (pooled once: R's pool of the rows without the copy) and a repeated label
dup <- wr(data.frame(study = c("A", "B", "A", "C", "C"), events_exp = c(10, 12, 10, 5, 6),
                     n_exp = c(50, 60, 50, 40, 40), events_ctrl = c(15, 20, 15, 9, 9),
                     n_ctrl = c(50, 61, 50, 38, 38)), "duplicate")
out$duplicate <- count_case(dup[-3, ])
# no events in the experimental arm of any study: Mantel-Haenszel undefined (rma.mh: NA)
out$no_events_arm <- count_case(wr(data.frame(study = c("A", "B", "C", "D"), events_exp = 0,
                                              n_exp = c(50, 60, 40, 45), events_ctrl = c(3, 2, 5, 1),
                                              n_ctrl = c(50, 61, 38, 44)), "no_events_arm"))

# trim-and-fill with Hartung-Knapp: k0 = 0 returns the model unchanged (knha / adhoc CI); k0 > 0 refits with z
d <- read.csv("data/meta17.csv", stringsAsFactors = FALSE)
sel <- !is.na(d$os_lo)
y <- log(d$os_hr[sel]); s <- (log(d$os_hi[sel]) - log(d$os_lo[sel])) / (2 * z975)
h <- dat.hackshaw1998
hy <- log(h$or); hs <- (log(h$or.ub) - log(h$or.lb)) / (2 * z975)
out$trimfill_hk <- list()
for (t in c("knha", "adhoc")) {
  out$trimfill_hk[[paste0("meta17_os_", t)]] <- trim(rma(y, sei = s, method = "REML", test = t, control = ctrl))
  out$trimfill_hk[[paste0("hackshaw_", t)]] <- trim(rma(hy, sei = hs, method = "REML", test = t, control = ctrl))
}

# H and I^2 as the meta package prints them (H = max(1, sqrt(Q/df)))
out$meta_h <- list()
het <- function(yi, sei) {
  m <- metagen(yi, sei)
  list(H = m$H, I2 = m$I2, Q = m$Q, df = m$df.Q)
}
e <- escalc("RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
out$meta_h$bcg <- het(e$yi, sqrt(e$vi))
n <- dat.nielweise2007
e <- escalc("RR", ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = n, drop00 = TRUE)
k <- !is.na(e$yi)
out$meta_h$nielweise <- het(e$yi[k], sqrt(e$vi[k]))
out$meta_h$meta17_os <- het(y, s)

# one study (grade >= 3 AEs of the 17-study file): metafor returns that study; nothing is pooled
ae <- !is.na(d$ae34_haic) & !is.na(d$ae34_ctrl)
e <- escalc("RR", ai = d$ae34_haic[ae], n1i = d$n_haic[ae], ci = d$ae34_ctrl[ae], n2i = d$n_ctrl[ae])
m1 <- rma(e$yi, e$vi, method = "REML")
out$one_study <- list(yi = as.numeric(e$yi), vi = as.numeric(e$vi), est = as.numeric(m1$beta), k = m1$k,
                      ci_lb = m1$ci.lb, ci_ub = m1$ci.ub)

writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, na = "null", null = "null", pretty = FALSE),
           "tests/reference/meta_edge.json")
cat("wrote tests/reference/meta_edge.json\n")
