# Reference values for analysis/meta from metafor (run from the repo root):
#   Rscript tests/reference/meta.R        -> tests/reference/meta.json
#
# Datasets: metafor's dat.bcg (2x2 counts, RR/OR), dat.hackshaw1998 (odds ratios with 95% CIs -> generic
# inverse variance), dat.nielweise2007 (zero cells and one double-zero study), and data/meta17.csv (the
# 17-study HAIC file). Iterative estimators are run with tight tolerances (REML threshold / PM uniroot tol
# 1e-12) so that the comparison at ~1e-6 relative tests the estimator, not metafor's stopping rule.
suppressMessages({
  library(metafor)
  library(jsonlite)
})

ctrl <- list(threshold = 1e-12, tol = 1e-12, maxiter = 1000)
z975 <- qnorm(0.975)

fit <- function(yi, vi, method, test = "z", mods = NULL) {
  if (is.null(mods)) {
    rma(yi, vi, method = method, test = test, control = ctrl)
  } else {
    rma(yi, vi, mods = mods, method = method, test = test, control = ctrl)
  }
}

summ <- function(m) {
  out <- list(
    est = as.numeric(m$beta[1]), se = m$se[1], ci_lb = m$ci.lb[1], ci_ub = m$ci.ub[1],
    stat = m$zval[1], pval = m$pval[1], tau2 = m$tau2, QE = m$QE, QEp = m$QEp, I2 = m$I2, H2 = m$H2,
    k = m$k, weights = as.numeric(weights(m))
  )
  if (!(m$method %in% c("FE", "EE", "CE"))) {
    p0 <- predict(m)
    pr <- predict(m, pi.type = "riley")
    pt <- predict(m, pi.type = "t")
    out$pi_lb <- p0$pi.lb; out$pi_ub <- p0$pi.ub
    out$pi_riley_lb <- pr$pi.lb; out$pi_riley_ub <- pr$pi.ub
    out$pi_t_lb <- pt$pi.lb; out$pi_t_ub <- pt$pi.ub
  }
  out
}

all_models <- function(yi, vi) {
  res <- list()
  for (meth in c("FE", "DL", "REML", "PM")) res[[meth]] <- summ(fit(yi, vi, meth))
  for (meth in c("DL", "REML", "PM")) {
    res[[paste0(meth, "_knha")]] <- summ(fit(yi, vi, meth, test = "knha"))
    res[[paste0(meth, "_adhoc")]] <- summ(fit(yi, vi, meth, test = "adhoc"))
  }
  res
}

egger <- function(m) {
  lm_ <- regtest(m, model = "lm")
  rma_ <- regtest(m)
  list(
    lm = list(stat = unname(lm_$zval), pval = unname(lm_$pval), df = lm_$dfs, est = unname(lm_$est),
              ci_lb = unname(lm_$ci.lb), ci_ub = unname(lm_$ci.ub),
              bias = unname(coef(lm_$fit)[2])),
    rma = list(stat = unname(rma_$zval), pval = unname(rma_$pval), est = unname(rma_$est),
               ci_lb = unname(rma_$ci.lb), ci_ub = unname(rma_$ci.ub), bias = unname(rma_$fit$beta[2]))
  )
}

tf <- function(m) {
  t <- trimfill(m, control = ctrl)
  list(k0 = t$k0, se_k0 = t$se.k0, side = t$side, est = as.numeric(t$beta[1]), se = t$se,
       ci_lb = t$ci.lb, ci_ub = t$ci.ub, pval = t$pval, tau2 = t$tau2, k = t$k,
       filled_yi = as.numeric(t$yi[t$fill]), filled_vi = as.numeric(t$vi[t$fill]))
}

l1o <- function(m) {
  x <- as.data.frame(leave1out(m))  # refits use m$control
  list(est = x$estimate, se = x$se, ci_lb = x$ci.lb, ci_ub = x$ci.ub, pval = x$pval, Q = x$Q,
       tau2 = x$tau2, I2 = x$I2, H2 = x$H2)
}

cum <- function(yi, vi, method, ord) {
  o <- order(ord)  # stable, as cumul(order=)
  x <- cumul(fit(yi[o], vi[o], method))  # refits use the model's control
  list(est = x$estimate, se = x$se, ci_lb = x$ci.lb, ci_ub = x$ci.ub, pval = x$pval, Q = x$Q,
       tau2 = x$tau2, I2 = x$I2, order = as.numeric(o))
}

metareg <- function(yi, vi, x, method, test = "z") {
  m <- fit(yi, vi, method, test = test, mods = cbind(x))
  list(b0 = as.numeric(m$beta[1]), b1 = as.numeric(m$beta[2]), se0 = m$se[1], se1 = m$se[2],
       stat1 = m$zval[2], p0 = m$pval[1], p1 = m$pval[2], ci_lb1 = m$ci.lb[2], ci_ub1 = m$ci.ub[2],
       tau2 = m$tau2, I2 = m$I2, R2 = if (is.null(m$R2)) NA else m$R2, QM = m$QM, QMp = m$QMp,
       QE = m$QE, QEp = m$QEp)
}

subgroup <- function(yi, vi, g, method) {
  lev <- sort(unique(g))
  est <- se <- tau2 <- numeric(0)
  for (l in lev) {
    sel <- g == l
    m <- if (sum(sel) == 1) fit(yi[sel], vi[sel], "FE") else fit(yi[sel], vi[sel], method)
    est <- c(est, as.numeric(m$beta[1])); se <- c(se, m$se[1]); tau2 <- c(tau2, m$tau2)
  }
  between <- rma(est, sei = se, method = "FE")
  # fixed-effect version: subgroup FE estimates, and Q_total - sum(Q_within) as a cross-check
  estf <- sef <- qw <- numeric(0)
  for (l in lev) {
    sel <- g == l
    m <- fit(yi[sel], vi[sel], "FE")
    estf <- c(estf, as.numeric(m$beta[1])); sef <- c(sef, m$se[1]); qw <- c(qw, m$QE)
  }
  betweenf <- rma(estf, sei = sef, method = "FE")
  qtot <- fit(yi, vi, "FE")$QE
  list(levels = lev, est = est, se = se, tau2 = tau2, Qb = between$QE, Qbp = between$QEp,
       Qb_fixed = betweenf$QE, Qbp_fixed = betweenf$QEp, Qb_fixed_decomp = qtot - sum(qw))
}

out <- list(
  generated_by = "tests/reference/meta.R",
  metafor_version = as.character(packageVersion("metafor")),
  r_version = R.version.string
)

# ---------------------------------------------------------------- dat.bcg (counts)
b <- dat.bcg
bcg <- list(
  data = list(study = paste(b$author, b$year), ai = b$tpos, n1i = b$tpos + b$tneg, ci = b$cpos,
              n2i = b$cpos + b$cneg, year = b$year, ablat = b$ablat, alloc = as.character(b$alloc))
)
for (ms in c("RR", "OR")) {
  e <- escalc(ms, ai = tpos, bi = tneg, ci = cpos, di = cneg, data = b)
  r <- list(yi = as.numeric(e$yi), vi = as.numeric(e$vi), models = all_models(e$yi, e$vi))
  mh <- rma.mh(ai = tpos, bi = tneg, ci = cpos, di = cneg, data = b, measure = ms)
  r$MH <- list(est = as.numeric(mh$beta), se = mh$se, ci_lb = mh$ci.lb, ci_ub = mh$ci.ub, stat = mh$zval,
               pval = mh$pval, QE = mh$QE, QEp = mh$QEp, I2 = mh$I2, H2 = mh$H2,
               weights = as.numeric(weights(mh)))
  mREML <- fit(e$yi, e$vi, "REML")
  mDL <- fit(e$yi, e$vi, "DL")
  r$egger_REML <- egger(mREML)
  r$egger_DL <- egger(mDL)
  r$trimfill_REML <- tf(mREML)
  r$trimfill_DL <- tf(mDL)
  r$trimfill_FE <- tf(fit(e$yi, e$vi, "FE"))
  r$leave1out_REML <- l1o(mREML)
  r$leave1out_DL <- l1o(mDL)
  r$leave1out_FE <- l1o(fit(e$yi, e$vi, "FE"))
  r$cumul_REML <- cum(e$yi, e$vi, "REML", b$year)
  r$cumul_DL <- cum(e$yi, e$vi, "DL", b$year)
  r$metareg_REML <- metareg(e$yi, e$vi, b$ablat, "REML")
  r$metareg_DL <- metareg(e$yi, e$vi, b$ablat, "DL")
  r$metareg_PM <- metareg(e$yi, e$vi, b$ablat, "PM")
  r$metareg_FE <- metareg(e$yi, e$vi, b$ablat, "FE")
  r$metareg_REML_knha <- metareg(e$yi, e$vi, b$ablat, "REML", test = "knha")
  r$subgroup_REML <- subgroup(e$yi, e$vi, as.character(b$alloc), "REML")
  r$subgroup_DL <- subgroup(e$yi, e$vi, as.character(b$alloc), "DL")
  ct <- cor.test(as.numeric(e$yi), b$ablat, method = "spearman", exact = FALSE)
  r$spearman_ablat <- list(rho = unname(ct$estimate), pval = ct$p.value)
  bcg[[ms]] <- r
}
out$bcg <- bcg

# ---------------------------------------------------------------- dat.hackshaw1998 (OR with 95% CI)
h <- dat.hackshaw1998
hy <- log(h$or)
hv <- ((log(h$or.ub) - log(h$or.lb)) / (2 * z975))^2
mh_ <- fit(hy, hv, "REML")
out$hackshaw <- list(
  data = list(study = paste(h$author, h$year), or = h$or, or_lb = h$or.lb, or_ub = h$or.ub, year = h$year,
              design = as.character(h$design), yi = h$yi, vi = h$vi),
  from_ci = list(yi = hy, vi = hv, models = all_models(hy, hv), egger_REML = egger(mh_),
                 trimfill_REML = tf(mh_), trimfill_PM = tf(fit(hy, hv, "PM")),
                 leave1out_REML = l1o(mh_), cumul_REML = cum(hy, hv, "REML", h$year),
                 subgroup_REML = subgroup(hy, hv, as.character(h$design), "REML"),
                 subgroup_PM = subgroup(hy, hv, as.character(h$design), "PM"),
                 metareg_REML_year = metareg(hy, hv, h$year, "REML")),
  stored = list(models = all_models(h$yi, h$vi))
)

# ---------------------------------------------------------------- dat.nielweise2007 (zero cells)
n <- dat.nielweise2007
niel <- list(data = list(study = paste(n$author, n$year), ai = n$ai, n1i = n$n1i, ci = n$ci, n2i = n$n2i,
                         year = n$year))
for (ms in c("RR", "OR")) {
  e <- escalc(ms, ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = n, drop00 = TRUE)
  keep <- !is.na(e$yi)
  r <- list(yi = as.numeric(e$yi), vi = as.numeric(e$vi), dropped = I(which(!keep)),
            models = all_models(e$yi[keep], e$vi[keep]))
  mh <- rma.mh(ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = n, measure = ms)
  r$MH <- list(est = as.numeric(mh$beta), se = mh$se, ci_lb = mh$ci.lb, ci_ub = mh$ci.ub, stat = mh$zval,
               pval = mh$pval, QE = mh$QE, QEp = mh$QEp, I2 = mh$I2, H2 = mh$H2,
               weights = as.numeric(weights(mh)))
  mREML <- fit(e$yi[keep], e$vi[keep], "REML")
  r$egger_REML <- egger(mREML)
  r$trimfill_REML <- tf(mREML)
  r$leave1out_REML <- l1o(mREML)
  niel[[ms]] <- r
}
out$nielweise <- niel

# ---------------------------------------------------------------- meta17 (the 17-study HAIC file)
d <- read.csv("data/meta17.csv", stringsAsFactors = FALSE)
lab <- paste(d$first_author, d$year)
m17 <- list()
hr_set <- function(hr, lo, hi, labels) {
  ok <- !is.na(hr) & !is.na(lo) & !is.na(hi)
  list(study = labels[ok], yi = log(hr[ok]), vi = ((log(hi[ok]) - log(lo[ok])) / (2 * z975))^2)
}
pool_all <- function(s) {
  r <- list(study = s$study, yi = s$yi, vi = s$vi, models = all_models(s$yi, s$vi))
  if (length(s$yi) >= 3) {
    m <- fit(s$yi, s$vi, "REML")
    r$egger_REML <- egger(m)
    r$trimfill_REML <- tf(m)
    r$leave1out_REML <- l1o(m)
  }
  r
}
os <- hr_set(d$os_hr, d$os_lo, d$os_hi, lab)
m17$os <- pool_all(os)
m17$pfs <- pool_all(hr_set(d$pfs_hr, d$pfs_lo, d$pfs_hi, lab))
# derived: Guan 2024 and Chang 2024 report HR and p<0.001 only; SE from p = 0.001 (Altman & Bland 2011)
ab_se <- function(hr, p) abs(log(hr)) / (-0.862 + sqrt(0.743 - 2.404 * log(p)))
add_derived <- function(s, hr_col) {
  sel <- is.na(d[[sub("_hr", "_lo", hr_col)]]) & !is.na(d[[hr_col]])
  p <- as.numeric(sub("<", "", d[[sub("_hr", "_p", hr_col)]][sel]))
  list(study = c(s$study, lab[sel]), yi = c(s$yi, log(d[[hr_col]][sel])),
       vi = c(s$vi, ab_se(d[[hr_col]][sel], p)^2))
}
m17$os_derived <- pool_all(add_derived(os, "os_hr"))
m17$pfs_derived <- pool_all(add_derived(hr_set(d$pfs_hr, d$pfs_lo, d$pfs_hi, lab), "pfs_hr"))
cnt_set <- function(a, c, labels) {
  ok <- !is.na(d[[a]]) & !is.na(d[[c]])
  e <- escalc("RR", ai = d[[a]][ok], n1i = d$n_haic[ok], ci = d[[c]][ok], n2i = d$n_ctrl[ok])
  s <- list(study = labels[ok], yi = as.numeric(e$yi), vi = as.numeric(e$vi))
  r <- pool_all(s)
  mh <- rma.mh(ai = d[[a]][ok], n1i = d$n_haic[ok], ci = d[[c]][ok], n2i = d$n_ctrl[ok], measure = "RR")
  r$MH <- list(est = as.numeric(mh$beta), ci_lb = mh$ci.lb, ci_ub = mh$ci.ub, pval = mh$pval)
  r
}
# counts as in the file (derived ones included: Mei, Chang, Huang are round(percentage x n))
m17$orr_all <- cnt_set("orr_haic", "orr_ctrl", lab)
m17$dcr_all <- cnt_set("dcr_haic", "dcr_ctrl", lab)
# reported-only counts: Chen 2021 and Zheng 2022 (ORR)
sel <- lab %in% c("Chen S 2021", "Zheng K 2022")
e <- escalc("RR", ai = d$orr_haic[sel], n1i = d$n_haic[sel], ci = d$orr_ctrl[sel], n2i = d$n_ctrl[sel])
m17$orr_reported <- list(study = lab[sel], yi = as.numeric(e$yi), vi = as.numeric(e$vi),
                          models = all_models(e$yi, e$vi))
# Spearman: per-study ORR RR vs OS HR (point estimates), studies with both
e <- escalc("RR", ai = d$orr_haic, n1i = d$n_haic, ci = d$orr_ctrl, n2i = d$n_ctrl)
both <- !is.na(e$yi) & !is.na(d$os_hr)
ct <- cor.test(exp(as.numeric(e$yi[both])), d$os_hr[both], method = "spearman", exact = FALSE)
m17$spearman_orr_os <- list(study = lab[both], rho = unname(ct$estimate), pval = ct$p.value)
out$meta17 <- m17

writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, na = "null", pretty = FALSE),
           "tests/reference/meta.json")
cat("wrote tests/reference/meta.json\n")
