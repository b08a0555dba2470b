# Reference values for Cox fits where the data are few: the first 30 patients of the SYNTHETIC demo cohort
# (tests/reference/data/demo_head30.csv = `head -31 data/demo_cohort.csv`), a cohort whose deaths all happen at
# one time (its proportional-hazards test is singular), and a factor stored as numbers.
#
# Run from the repository root:   Rscript tests/reference/small_cohort.R
# Writes tests/reference/small_cohort.json, read by tests/test_small_cohort.py.
#
# For every univariable model of the seed paper's variables on the 30 patients it records R's coxph
# coefficients, standard errors, Wald p and log partial likelihood, or -- where coxph warns that a coefficient
# may be infinite ("Loglik converged before variable", "Ran out of iterations") -- that the model does not
# converge (the app gives a note there instead of a number). Cut variables use the paper's cutoffs (x > c).
suppressPackageStartupMessages({
  library(survival)
  library(jsonlite)
})

d <- read.csv("tests/reference/data/demo_head30.csv", stringsAsFactors = FALSE)
cuts <- c(age = 58, tb = 14.5, albumin = 40, alt = 42, ast = 56.5, alp = 174.5, ggt = 188.5, pt = 13.1, afp = 48,
          crp = 16.5, nlr = 1.77, tumor_size_mm = 110)
# the reference level is the first of the canonical order that occurs (analysis.schema.LEVEL_ORDER)
refs <- list(sex = c("Male", "Female"), etiology = c("HBV", "HCV", "Alcohol", "Others"), child_pugh = c("A", "B", "C"),
             cnlc_stage = c("IA", "IB", "IIA", "IIB", "IIIA", "IIIB", "IV"), shunt = c("No", "Yes"),
             ehm = c("No", "Yes"), metabolic_comorbidity = c("No", "Yes"),
             treatment = c("HAIC + TKIs or ICIs", "HAIC + ICIs + TKIs/anti-VEGF"))

fit_one <- function(data, formula) {
  warned <- NULL
  fit <- withCallingHandlers(coxph(formula, data = data, ties = "efron", model = TRUE),
                             warning = function(w) { warned <<- conditionMessage(w); invokeRestart("muffleWarning") })
  infinite <- !is.null(warned) && grepl("infinite|did not converge|Ran out of iterations", warned)
  s <- summary(fit)$coefficients
  zph <- tryCatch({ z <- cox.zph(fit); list(ok = TRUE, chisq = unname(z$table[, "chisq"]),
                                             p = unname(z$table[, "p"])) },
                  error = function(e) list(ok = FALSE, message = conditionMessage(e)))
  list(infinite = infinite, warning = if (is.null(warned)) NA else warned, terms = rownames(s),
       coef = unname(s[, "coef"]), se = unname(s[, "se(coef)"]), p = unname(s[, "Pr(>|z|)"]),
       loglik = fit$loglik[2], zph = zph)
}

screen <- list()
for (endpoint in c("pfs", "os")) {
  t <- paste0(endpoint, "_months"); e <- paste0(endpoint, "_event")
  for (v in names(cuts)) {
    x <- as.numeric(d[[v]] > cuts[[v]])
    dd <- data.frame(time = d[[t]], status = d[[e]], x = x)
    dd <- dd[complete.cases(dd), ]
    if (length(unique(dd$x)) < 2) { screen[[length(screen) + 1]] <- list(endpoint = endpoint, spec = paste0(v, ":", cuts[[v]]), single_group = TRUE); next }
    r <- fit_one(dd, Surv(time, status) ~ x)
    screen[[length(screen) + 1]] <- c(list(endpoint = endpoint, spec = paste0(v, ":", cuts[[v]]), single_group = FALSE), r)
  }
  for (v in names(refs)) {
    dd <- data.frame(time = d[[t]], status = d[[e]], x = d[[v]], stringsAsFactors = FALSE)
    dd <- dd[complete.cases(dd) & dd$x != "", ]
    if (length(unique(dd$x)) < 2) { screen[[length(screen) + 1]] <- list(endpoint = endpoint, spec = v, single_group = TRUE); next }
    order <- refs[[v]]
    dd$x <- factor(dd$x, levels = c(order[order %in% dd$x], sort(setdiff(unique(dd$x), order))))
    r <- fit_one(dd, Surv(time, status) ~ x)
    r$terms <- sub("^x", paste0(v, "="), r$terms)
    screen[[length(screen) + 1]] <- c(list(endpoint = endpoint, spec = v, single_group = FALSE), r)
  }
}

# every death at one time: coxph fits, cox.zph's information matrix is singular
tied <- data.frame(time = c(5, 8, 8, 3, 9, 14, 20, 8, 11, 6), status = c(0, 1, 1, 0, 0, 0, 0, 1, 0, 0),
                   x = c(1.5, 2, 3, 4, 5, 6.5, 7, 8, 2.5, 9))
write.csv(tied, "tests/reference/data/deaths_at_one_time.csv", row.names = FALSE)
tied_fit <- fit_one(tied, Surv(time, status) ~ x)

# a factor stored as numbers (grade 1.0 / 2.0 / 3.0), reference level 2; and age per 10 years
lung <- read.csv("tests/reference/data/lung.csv")
lung$grade <- as.numeric(ifelse(is.na(lung$ph_ecog), NA, pmin(lung$ph_ecog, 2) + 1))
# written as the float a spreadsheet export gives: 1.0, 2.0, 3.0
out_grade <- data.frame(time = lung$time, status = lung$status, age = lung$age,
                        grade = ifelse(is.na(lung$grade), NA, sprintf("%.1f", lung$grade)))
write.csv(out_grade, "tests/reference/data/lung_grade.csv", row.names = FALSE, na = "", quote = FALSE)
lung$gradef <- relevel(factor(lung$grade), ref = "2")
grade_fit <- fit_one(lung, Surv(time, status) ~ gradef + I(age / 10))

out <- list(survival = as.character(packageVersion("survival")), screen = screen, tied = tied_fit,
            grade = grade_fit)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, na = "null"), "tests/reference/small_cohort.json")
