# Reference values for analysis/response.py, analysis/adverse_events.py and analysis/baseline.py.
#
# Run from the repository root:  Rscript tests/reference/tables.R
# Writes the SYNTHETIC seeded inputs tests/reference/data/tables_cohort.csv and tables_contingency.csv, reads
# them back (so R and Python see identical numbers) and writes tests/reference/tables.json with:
#   binom.test Clopper-Pearson CIs, fisher.test (2x2 and r x c), chisq.test(correct = FALSE), Welch t.test,
#   wilcox.test(exact = FALSE, correct = TRUE) with ties, kruskal.test, oneway.test(var.equal = TRUE),
#   quantile type 7, and Cohen's kappa with its Fleiss-Cohen-Everitt (1969) standard errors by formula.
# The Python code chooses its test by a rule (Fisher when any expected count < 5, and for 2x2 in the response
# and adverse-event tables); R reports both tests and the smallest expected count so the tests can check the
# rule independently.
suppressPackageStartupMessages(library(jsonlite))

datadir <- file.path("tests", "reference", "data")
dir.create(datadir, showWarnings = FALSE, recursive = TRUE)

# --- synthetic cohort ---------------------------------------------------------------------------------------
set.seed(20240611)
n <- 150
trt_levels <- c("HAIC + TKIs or ICIs", "HAIC + ICIs + TKIs/anti-VEGF")
pick <- function(levels, prob, k = n) sample(levels, k, replace = TRUE, prob = prob)
with_na <- function(x, k) { x[sample(seq_along(x), k)] <- NA; x }

treatment <- with_na(pick(trt_levels, c(0.45, 0.55)), 2)
arm3 <- pick(c("A", "B", "C"), c(0.5, 0.35, 0.15))
trt_effect <- ifelse(is.na(treatment), 0, ifelse(treatment == trt_levels[2], 1, 0))

age <- with_na(round(rnorm(n, 57, 10)), 3)                      # whole years: many ties
tb <- with_na(round(exp(rnorm(n, log(16), 0.5)), 1), 5)
afp <- with_na(round(exp(rnorm(n, 5, 2.2))), 4)                 # very skewed
albumin <- round(rnorm(n, 37 + 1.5 * trt_effect, 4), 1)
score <- with_na(sample(0:6, n, replace = TRUE), 2)             # a numeric extra with heavy ties
sex <- pick(c("Male", "Female"), c(0.85, 0.15))
etiology <- with_na(pick(c("HBV", "HCV", "Alcohol", "Others"), c(0.7, 0.1, 0.08, 0.12)), 6)
child_pugh <- pick(c("A", "B", "C"), c(0.75, 0.22, 0.03))
cnlc_stage <- pick(c("IIB", "IIIA", "IIIB", "IV"), c(0.1, 0.45, 0.35, 0.1))
shunt <- with_na(pick(c("No", "Yes"), c(0.7, 0.3)), 3)
ehm <- pick(c("No", "Yes"), c(0.6, 0.4))
prior_tace <- pick(c(0, 1), c(0.6, 0.4))                        # a 0/1 extra

codes <- c("CR", "PR", "SD", "PD", "NE")
recist <- ifelse(trt_effect == 1, pick(codes, c(0.08, 0.4, 0.3, 0.17, 0.05)),
                 pick(codes, c(0.05, 0.28, 0.37, 0.25, 0.05)))
upgrade <- runif(n) < 0.3                                        # mRECIST often shows a deeper response
idx <- match(recist, codes)
mrec <- codes[pmax(1, ifelse(upgrade & idx %in% 2:3, idx - 1, idx))]
mrec[runif(n) < 0.1] <- pick(codes, rep(0.2, 5), 1)
recist <- with_na(recist, 6)
mrec <- with_na(mrec, 9)

grade <- function(p) sample(0:5, n, replace = TRUE, prob = p)
ae <- data.frame(
  ae_fever = with_na(grade(c(0.45, 0.3, 0.15, 0.08, 0.02, 0)), 4),
  ae_abdominal_pain = with_na(grade(c(0.35, 0.35, 0.2, 0.08, 0.02, 0)), 2),
  ae_elevated_tb = with_na(grade(c(0.6, 0.2, 0.1, 0.07, 0.03, 0)), 7),
  ae_upper_gastrointestinal_bleeding = grade(c(0.93, 0.02, 0.01, 0.02, 0.01, 0.01)),
  ae_hand_foot_syndrome = ifelse(trt_effect == 1, grade(c(0.5, 0.3, 0.12, 0.08, 0, 0)),
                                 grade(c(0.8, 0.12, 0.05, 0.03, 0, 0))),
  ae_nausea = with_na(grade(c(0.5, 0.3, 0.2, 0, 0, 0)), 3)
)
pfs <- round(rexp(n, 1 / 9), 2)
os <- round(pfs + rexp(n, 1 / 10), 2)

cohort <- data.frame(
  patient_id = sprintf("P%03d", seq_len(n)), age, sex, etiology, tb, afp, albumin, child_pugh, cnlc_stage,
  shunt, ehm, treatment, arm3, score, prior_tace,
  pfs_months = pfs, pfs_event = rbinom(n, 1, 0.8), os_months = os, os_event = rbinom(n, 1, 0.6),
  recist_best = recist, mrecist_best = mrec, ae, check.names = FALSE, stringsAsFactors = FALSE
)
write.csv(cohort, file.path(datadir, "tables_cohort.csv"), row.names = FALSE, na = "")

# contingency tables for the exact r x c Fisher test (long format: table, row, col, count)
tabs <- list(
  t2x2 = matrix(c(3, 1, 1, 3), 2),
  t3x2 = matrix(c(2, 7, 1, 8, 4, 9), 3),
  t3x3 = matrix(c(2, 3, 1, 4, 0, 2, 1, 1, 5), 3, byrow = TRUE),
  t2x4 = matrix(c(5, 2, 0, 3, 1, 4, 3, 6), 2, byrow = TRUE),
  t4x3 = matrix(c(6, 2, 1, 3, 5, 2, 1, 2, 7, 2, 0, 3), 4, byrow = TRUE),
  t5x2 = matrix(c(0, 4, 1, 3, 2, 2, 0, 5, 3, 1), 5, byrow = TRUE),
  t2x3_zero_col = matrix(c(3, 0, 2, 4, 0, 1), 2, byrow = TRUE),
  t3x5 = matrix(c(8, 12, 5, 3, 1, 6, 15, 9, 2, 0, 4, 7, 11, 5, 2), 3, byrow = TRUE),
  t4x4 = matrix(c(10, 3, 2, 0, 4, 9, 3, 1, 2, 5, 8, 2, 1, 1, 4, 6), 4, byrow = TRUE),
  t6x2 = matrix(c(12, 1, 15, 3, 9, 0, 20, 4, 7, 2, 11, 6), 6, byrow = TRUE)
)
long <- do.call(rbind, lapply(names(tabs), function(id) {
  m <- tabs[[id]]
  data.frame(table = id, row = as.vector(row(m)), col = as.vector(col(m)), count = as.vector(m))
}))
write.csv(long, file.path(datadir, "tables_contingency.csv"), row.names = FALSE)

# --- everything below uses the files as read back --------------------------------------------------------------
d <- read.csv(file.path(datadir, "tables_cohort.csv"), stringsAsFactors = FALSE, na.strings = "")
ct <- read.csv(file.path(datadir, "tables_contingency.csv"), stringsAsFactors = FALSE)
d$treatment <- factor(d$treatment, levels = trt_levels)
d$arm3 <- factor(d$arm3, levels = c("A", "B", "C"))
groupings <- c("treatment", "arm3")

min_expected <- function(m) {
  m <- m[rowSums(m) > 0, colSums(m) > 0, drop = FALSE]
  min(outer(rowSums(m), colSums(m)) / sum(m))
}
drop_empty <- function(m) m[rowSums(m) > 0, colSums(m) > 0, drop = FALSE]
group_tests <- function(m) {
  m <- drop_empty(m)
  out <- list(testable = nrow(m) >= 2 && ncol(m) >= 2, min_expected = NULL, fisher = NULL, chi2 = NULL,
              chi2_stat = NULL, chi2_df = NULL)
  if (out$testable) {
    out$min_expected <- min_expected(m)
    out$fisher <- fisher.test(m, workspace = 2e7)$p.value
    ch <- suppressWarnings(chisq.test(m, correct = FALSE))
    out$chi2 <- unname(ch$p.value); out$chi2_stat <- unname(ch$statistic); out$chi2_df <- unname(ch$parameter)
  }
  out
}
binom_ci <- function(x, nn) {
  ci <- binom.test(x, nn)$conf.int
  list(n = x, total = nn, pct = 100 * x / nn, lo = 100 * ci[1], hi = 100 * ci[2])
}

# --- response ------------------------------------------------------------------------------------------------
resp_summary <- function(x) {
  x <- x[!is.na(x)]
  nn <- length(x)
  out <- list(n = nn)
  for (cc in codes) out[[cc]] <- list(n = sum(x == cc), pct = 100 * sum(x == cc) / nn)
  out$ORR <- binom_ci(sum(x %in% c("CR", "PR")), nn)
  out$DCR <- binom_ci(sum(x %in% c("CR", "PR", "SD")), nn)
  out
}
response <- list()
for (crit in c("recist_best", "mrecist_best")) {
  r <- list(overall = resp_summary(d[[crit]]), by = list())
  for (g in groupings) {
    groups <- list()
    tests <- list()
    for (lv in levels(d[[g]])) groups[[lv]] <- resp_summary(d[[crit]][which(d[[g]] == lv)])
    ok <- !is.na(d[[crit]]) & !is.na(d[[g]])
    for (endpoint in c("ORR", "DCR")) {
      set <- if (endpoint == "ORR") c("CR", "PR") else c("CR", "PR", "SD")
      m <- table(d[[g]][ok], factor(d[[crit]][ok] %in% set, levels = c(TRUE, FALSE)))
      tests[[endpoint]] <- c(group_tests(unclass(m)), list(table = unname(as.vector(t(unclass(m))))))
    }
    r$by[[g]] <- list(groups = groups, tests = tests)
  }
  response[[crit]] <- r
}

# Cohen's kappa by formula (Fleiss, Cohen & Everitt 1969), complete pairs
both <- !is.na(d$recist_best) & !is.na(d$mrecist_best)
tab <- table(factor(d$recist_best[both], levels = codes), factor(d$mrecist_best[both], levels = codes))
p <- unclass(tab) / sum(tab)
pr <- rowSums(p); pc <- colSums(p)
po <- sum(diag(p)); pe <- sum(pr * pc)
k <- (po - pe) / (1 - pe)
A <- sum(diag(p) * (1 - (pr + pc) * (1 - k))^2)
offd <- p * outer(pc, pr, "+")^2
diag(offd) <- 0
B <- (1 - k)^2 * sum(offd)
C <- (k - pe * (1 - k))^2
se <- sqrt((A + B - C) / (sum(tab) * (1 - pe)^2))
se0 <- sqrt((pe + pe^2 - sum(pr * pc * (pr + pc))) / (sum(tab) * (1 - pe)^2))
kappa <- list(table = unname(as.vector(t(unclass(tab)))), n = sum(tab), agree = sum(diag(tab)),
              percent_agreement = 100 * po, kappa = k, se = se, se0 = se0,
              lo = k - qnorm(0.975) * se, hi = k + qnorm(0.975) * se, z = k / se0,
              p = 2 * pnorm(-abs(k / se0)))

# --- adverse events -------------------------------------------------------------------------------------------
ae_cols <- grep("^ae_", names(d), value = TRUE)
ae_counts <- function(g) {
  g <- g[!is.na(g)]
  list(n = length(g), any = sum(g >= 1), grade_1_2 = sum(g %in% 1:2), grade_3_4 = sum(g %in% 3:4),
       grade_5 = sum(g == 5), grade_3_plus = sum(g >= 3))
}
ae_block <- function(g) {
  out <- list(overall = ae_counts(g), by = list())
  for (grp in groupings) {
    ok <- !is.na(g) & !is.na(d[[grp]])
    tests <- list()
    for (what in c("any", "grade_3_plus")) {
      thr <- if (what == "any") 1 else 3
      m <- table(d[[grp]][ok], factor(g[ok] >= thr, levels = c(TRUE, FALSE)))
      tests[[what]] <- c(group_tests(unclass(m)), list(table = unname(as.vector(t(unclass(m))))))
    }
    out$by[[grp]] <- list(groups = lapply(setNames(levels(d[[grp]]), levels(d[[grp]])),
                                          function(lv) ae_counts(g[which(d[[grp]] == lv)])),
                          tests = tests)
  }
  out
}
adverse <- lapply(setNames(ae_cols, ae_cols), function(cc) ae_block(d[[cc]]))
ae_mat <- as.matrix(d[ae_cols])
assessed <- rowSums(!is.na(ae_mat)) > 0
worst <- rep(NA_real_, nrow(d))
worst[assessed] <- apply(ae_mat[assessed, , drop = FALSE], 1, max, na.rm = TRUE)
adverse_summary <- list(any_ae = ae_block(worst), any_grade_3_plus = ae_block(ifelse(worst >= 3, worst, 0)))

# --- baseline -----------------------------------------------------------------------------------------------
num_summary <- function(x) {
  x <- x[!is.na(x)]
  q <- quantile(x, c(0.25, 0.5, 0.75), type = 7, names = FALSE)
  list(n = length(x), mean = mean(x), sd = sd(x), median = q[2], q1 = q[1], q3 = q[3], min = min(x),
       max = max(x))
}
numeric_vars <- c("age", "tb", "afp", "albumin", "score")
categorical_vars <- c("sex", "etiology", "child_pugh", "cnlc_stage", "shunt", "ehm", "prior_tace")
baseline <- list()
for (grp in groupings) {
  dd <- d[!is.na(d[[grp]]), ]
  res <- list(n = nrow(dd), numeric = list(), categorical = list())
  for (v in numeric_vars) {
    x <- dd[[v]]
    out <- list(overall = num_summary(x), groups = list())
    for (lv in levels(dd[[grp]])) out$groups[[lv]] <- num_summary(x[dd[[grp]] == lv])
    if (nlevels(dd[[grp]]) == 2) {
      tt <- t.test(x ~ dd[[grp]])
      ww <- wilcox.test(x ~ dd[[grp]], exact = FALSE, correct = TRUE)
      out$welch_t <- list(p = tt$p.value, statistic = unname(tt$statistic), df = unname(tt$parameter))
      out$wilcoxon <- list(p = ww$p.value, statistic = unname(ww$statistic))
    } else {
      ow <- oneway.test(x ~ dd[[grp]], var.equal = TRUE)
      av <- summary(aov(x ~ dd[[grp]]))[[1]]
      kw <- kruskal.test(x ~ dd[[grp]])
      out$anova <- list(p = ow$p.value, statistic = unname(ow$statistic), aov_p = av[["Pr(>F)"]][1],
                        df = unname(ow$parameter[1]))
      out$kruskal <- list(p = kw$p.value, statistic = unname(kw$statistic), df = unname(kw$parameter))
    }
    res$numeric[[v]] <- out
  }
  for (v in categorical_vars) {
    x <- as.character(dd[[v]])
    ok <- !is.na(x)
    m <- table(dd[[grp]][ok], x[ok])
    out <- c(group_tests(unclass(m)),
             list(levels = colnames(m), counts = lapply(setNames(levels(dd[[grp]]), levels(dd[[grp]])),
                                                        function(lv) as.vector(unclass(m)[lv, ])),
                  missing = sum(!ok)))
    res$categorical[[v]] <- out
  }
  baseline[[grp]] <- res
}
overall_numeric <- lapply(setNames(numeric_vars, numeric_vars), function(v) num_summary(d[[v]]))

# --- contingency tables ----------------------------------------------------------------------------------------
contingency <- list()
for (id in unique(ct$table)) {
  s <- ct[ct$table == id, ]
  m <- matrix(0, max(s$row), max(s$col))
  m[cbind(s$row, s$col)] <- s$count
  contingency[[id]] <- group_tests(m)
}

out <- list(
  generated_by = "tests/reference/tables.R",
  r_version = R.version.string,
  n = nrow(d),
  response = response,
  kappa = kappa,
  adverse = adverse,
  adverse_summary = adverse_summary,
  baseline = baseline,
  overall_numeric = overall_numeric,
  contingency = contingency
)
write_json(out, file.path("tests", "reference", "tables.json"), auto_unbox = TRUE, digits = NA, pretty = TRUE,
           null = "null", na = "null")
cat("wrote tests/reference/tables.json\n")
