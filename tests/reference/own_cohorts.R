# Reference values for tests/test_own_cohorts.py: public survival datasets as a clinician brings them.
#
# Run from the repository root:   Rscript tests/reference/own_cohorts.R
# Writes tests/reference/data/own/ (eight CSV files, gbsg.xlsx, veteran.sav) and tests/reference/own_cohorts.json.
# (The .xlsx and .sav record when they were written: a rerun changes their bytes, not their content.)
#
# The data are R survival package datasets exported WITH THEIR OWN column names, units and codings (no renaming,
# no recoding): times in days, events coded 0/1, 1/2 (lung) or 0/1/2 (pbc), sex as 1/2, f/m or F/M, factors as
# numbers or text.  Made from them: gbsg.xlsx (a "codebook" sheet first, the data in sheet "gbsg": --sheet gbsg
# matters) and veteran.sav (SPSS, value labels on trt, celltype, prior and status).
#
#   dataset    n     endpoint(s) (file columns)            what it exercises
#   lung       228   time (days) / status 1 = censored, 2 = dead      1/2 event coding, sex 1/2, ECOG 0-3
#   veteran    137   time (days) / status 0/1               text celltype (4 levels), prior coded 0/10
#   pbc        418   time (days) / status 0/1/2 (2 = death) --event status=2, edema 0/0.5/1, missing trt
#   gbsg       686   rfstime (days) / status                endpoint found by name (rfs), grade 1-3
#   rotterdam  2982  rtime/recur and dtime/death (days)     two endpoints in one file, text size bands
#   colon      929   time (days) / status (etype == 2 rows) three treatment arms (ANOVA, Kruskal-Wallis)
#   ovarian    26    futime (days) / fustat                 small-sample Cox, landmark past follow-up
#   flchain    7874  futime (days) / death                  largest file, time 0, flc.grp 1-10
#
# Every analysis is computed on the file as read back from disk, the way the app documents it reads it:
#   times in days / (365.25 / 12) -> months (every time below, landmarks included, is in months);
#   event 0/1 as is, 1/2 as R's Surv (status == 2), or status == VALUE for `--event status=VALUE`;
#   sex f/m, F/M -> Female/Male with reference Male (the canonical coding, analysis.schema.LEVEL_ORDER);
#   categories: text levels sorted (C locale), numeric levels numerically, written as in the file ("0.5", "1").
#
# What is computed (R survival, maxstat):
#   validate   per endpoint: patients, events, reverse-KM follow-up quartiles (quantile(survfit(Surv(t, 1 - e) ~ 1)))
#              and the longest time; the raw time range (the time-unit warning's details when the unit is not given)
#   km         survfit(conf.type = "log-log") per group: n, events, median and CI (summary(fit)$table, as
#              print.survfit), summary(fit, times =) at the landmarks (a landmark past a group's last time is not
#              estimable unless the curve reached 0); survdiff chisq, df = groups with expected > 0 minus 1, p;
#              two groups: coxph(ties = "efron", eps = 1e-11) HR of the other group vs the reference (the low group
#              of a cut, else the first level) with Wald CI and p; reverse-KM follow-up of the patients analysed
#   cox        coxph(ties = "efron", eps = 1e-11) with the covariates as the command line's --covariates spells them:
#              col*N -> I(col / N), col:X -> I(col > X), col=LEVEL -> relevel(factor(col), LEVEL), col -> as is;
#              coef, se, HR, Wald CI and p, concordance (and its pair counts), loglik (model, null), LR and Wald
#              tests, cox.zph(fit) rows (per term + GLOBAL); and each covariate alone (the univariable screen)
#   baseline   per variable and group: numeric n, mean, sd, median, Q1, Q3 (quantile type 7), Welch t.test and
#              wilcox.test(exact = FALSE, correct = TRUE) (2 groups) or oneway.test(var.equal = TRUE) and
#              kruskal.test (3+); categorical counts per level, chisq.test(correct = FALSE) when every expected
#              count is >= 5, else fisher.test (the rule of analysis/baseline.py)
#   cutpoint   maxstat.test(Surv(t, e) ~ x, smethod = "LogRank", pmethod = "Lau94" | "Lau92", minprop = 0.1):
#              statistic, estimate, p-values
suppressPackageStartupMessages({
  library(survival)
  library(maxstat)
  library(jsonlite)
  library(haven)
  library(openxlsx)
})

out_dir <- file.path("tests", "reference")
own_dir <- file.path(out_dir, "data", "own")
dir.create(own_dir, showWarnings = FALSE, recursive = TRUE)
DAYS_PER_MONTH <- 365.25 / 12
# coxph iterated until the log-likelihood changes by less than 1e-11 (relative; the default stops at 1e-9), as
# analysis/cox.py iterates to full precision: p-values of 1e-60 then agree to 1e-6 relative, not only the
# coefficients on the scale of their SE
FULL_CONVERGENCE <- coxph.control(eps = 1e-11, iter.max = 100)

num <- function(x) {
  x <- as.numeric(x)
  x[!is.finite(x)] <- NA
  x
}

# ---------------------------------------------------------------------------------------------------------
# The files, exported as they are
# ---------------------------------------------------------------------------------------------------------
raw <- list(
  lung = survival::lung,
  veteran = survival::veteran,
  pbc = survival::pbc,
  gbsg = survival::gbsg,
  rotterdam = survival::rotterdam,
  colon = survival::colon[survival::colon$etype == 2, ],
  ovarian = survival::ovarian,
  flchain = survival::flchain
)
for (name in names(raw)) {
  write.csv(raw[[name]], file.path(own_dir, paste0(name, ".csv")), row.names = FALSE, na = "")
}

# gbsg.xlsx: a codebook sheet first, the data in the second sheet
wb <- createWorkbook()
addWorksheet(wb, "codebook")
writeData(wb, "codebook", data.frame(
  variable = names(survival::gbsg),
  description = c("patient identifier", "age (years)", "menopausal status (0 = pre, 1 = post)",
                  "tumour size (mm)", "tumour grade", "positive lymph nodes", "progesterone receptor (fmol/l)",
                  "estrogen receptor (fmol/l)", "hormonal therapy (0 = no, 1 = yes)",
                  "recurrence-free survival time (days)", "0 = censored, 1 = recurrence or death")))
addWorksheet(wb, "gbsg")
writeData(wb, "gbsg", survival::gbsg)
saveWorkbook(wb, file.path(own_dir, "gbsg.xlsx"), overwrite = TRUE)

# veteran.sav: the same patients with SPSS value labels (value labels become the levels in the app)
vet <- survival::veteran
sav <- data.frame(
  trt = labelled(as.numeric(vet$trt), c(standard = 1, test = 2)),
  celltype = labelled(as.numeric(vet$celltype), c(squamous = 1, smallcell = 2, adeno = 3, large = 4)),
  time = vet$time,
  status = labelled(as.numeric(vet$status), c(alive = 0, dead = 1)),
  karno = vet$karno, diagtime = vet$diagtime, age = vet$age,
  prior = labelled(as.numeric(vet$prior), c(no = 0, yes = 10))
)
write_sav(sav, file.path(own_dir, "veteran.sav"))
back <- as_factor(read_sav(file.path(own_dir, "veteran.sav")))
stopifnot(identical(as.character(back$celltype), as.character(vet$celltype)), all(back$time == vet$time),
          identical(as.character(back$trt), c("standard", "test")[vet$trt]))

# The endpoints of each file as the command line names them: time column, event column, and the event value
# (`--event status=2`) when the coding is not 0/1 or 1/2.  `found`: the pairs the importer must find by name.
endpoints <- list(
  lung = list(list(time = "time", event = "status")),
  veteran = list(list(time = "time", event = "status")),
  pbc = list(list(time = "time", event = "status", event_value = "2")),
  gbsg = list(list(time = "rfstime", event = "status")),
  rotterdam = list(list(time = "dtime", event = "death"), list(time = "rtime", event = "recur")),
  colon = list(list(time = "time", event = "status")),
  ovarian = list(list(time = "futime", event = "fustat")),
  flchain = list(list(time = "futime", event = "death"))
)
found_by_name <- list(lung = TRUE, veteran = TRUE, pbc = FALSE, gbsg = TRUE, rotterdam = TRUE, colon = TRUE,
                      ovarian = TRUE, flchain = TRUE)

# ---------------------------------------------------------------------------------------------------------
# The data as the app reads them
# ---------------------------------------------------------------------------------------------------------
files <- lapply(setNames(names(raw), names(raw)), function(name) {
  read.csv(file.path(own_dir, paste0(name, ".csv")), check.names = FALSE, stringsAsFactors = FALSE,
           na.strings = "")
})

app_event <- function(x, value = NULL) {
  if (!is.null(value)) return(as.numeric(as.character(x) == value))
  present <- x[!is.na(x)]
  if (all(present %in% c(1, 2)) && any(present == 2)) return(as.numeric(x == 2))   # R's Surv 1/2
  as.numeric(x)
}

app_data <- function(ds, endpoint = 1) {
  d <- files[[ds]]
  ep <- endpoints[[ds]][[endpoint]]
  if ("sex" %in% names(d) && all(tolower(d$sex[!is.na(d$sex)]) %in% c("f", "m"))) {
    d$sex <- ifelse(tolower(d$sex) == "f", "Female", "Male")
  }
  d$.time <- d[[ep$time]] / DAYS_PER_MONTH
  d$.event <- app_event(d[[ep$event]], ep$event_value)
  d
}

# the app's order of categories: sex Male first; numbers numerically; text in C-locale order
app_levels <- function(col, x) {
  x <- x[!is.na(x)]
  if (col == "sex" && all(x %in% c("Male", "Female"))) return(intersect(c("Male", "Female"), unique(x)))
  if (is.numeric(x)) return(as.character(sort(unique(x))))
  sort(unique(as.character(x)), method = "radix")
}

followup <- function(t, e) {
  q <- quantile(survfit(Surv(t, 1 - e) ~ 1), probs = c(0.25, 0.5, 0.75))$quantile
  list(q1 = num(q[1]), median = num(q[2]), q3 = num(q[3]))
}

endpoint_args <- function(ds, endpoint) {
  ep <- endpoints[[ds]][[endpoint]]
  list(time = ep$time, event = if (is.null(ep$event_value)) ep$event else paste0(ep$event, "=", ep$event_value))
}

# ---------------------------------------------------------------------------------------------------------
# validate
# ---------------------------------------------------------------------------------------------------------
validate_out <- lapply(names(raw), function(ds) {
  eps <- lapply(seq_along(endpoints[[ds]]), function(k) {
    d <- app_data(ds, k)
    ep <- endpoints[[ds]][[k]]
    keep <- !is.na(d$.time) & !is.na(d$.event)
    c(endpoint_args(ds, k), list(
      n = sum(keep), events = sum(d$.event[keep]), followup = followup(d$.time[keep], d$.event[keep]),
      longest = max(d$.time[keep]), raw_min = min(d[[ep$time]], na.rm = TRUE),
      raw_max = max(d[[ep$time]], na.rm = TRUE)))
  })
  list(dataset = ds, file = paste0(ds, ".csv"), n_rows = nrow(files[[ds]]), columns = I(names(files[[ds]])),
       found_by_name = found_by_name[[ds]], endpoints = eps)
})

# ---------------------------------------------------------------------------------------------------------
# km: medians, landmarks, log-rank, two-group HR, follow-up
# ---------------------------------------------------------------------------------------------------------
km_group <- function(t, e, at) {
  fit <- survfit(Surv(t, e) ~ 1, conf.type = "log-log")
  tab <- summary(fit)$table
  s <- summary(fit, times = at, extend = TRUE)
  reached_zero <- min(fit$surv) == 0
  estimable <- at <= max(fit$time) | reached_zero
  list(n = length(t), events = sum(e),
       median = num(tab[["median"]]), median_lo = num(tab[["0.95LCL"]]), median_hi = num(tab[["0.95UCL"]]),
       at = lapply(seq_along(at), function(j) list(
         time = at[j], estimable = estimable[j], at_risk = s$n.risk[j],
         surv = if (estimable[j]) num(s$surv[j]) else NA, lo = if (estimable[j]) num(s$lower[j]) else NA,
         hi = if (estimable[j]) num(s$upper[j]) else NA)))
}

km_case <- function(name, ds, by = NULL, cutoff = NULL, at, endpoint = 1) {
  d <- app_data(ds, endpoint)
  keep <- !is.na(d$.time) & !is.na(d$.event)
  if (!is.null(by)) keep <- keep & !is.na(d[[by]])
  dk <- d[keep, ]
  if (is.null(by)) {
    g <- rep("all", nrow(dk)); levs <- "all"
  } else if (!is.null(cutoff)) {
    g <- ifelse(dk[[by]] > cutoff, "high", "low"); levs <- intersect(c("low", "high"), g)
  } else {
    levs <- app_levels(by, dk[[by]]); g <- as.character(dk[[by]])
  }
  groups <- lapply(levs, function(l) c(list(level = l), km_group(dk$.time[g == l], dk$.event[g == l], at)))
  logrank <- hr <- NULL
  if (length(levs) >= 2) {
    sd <- survdiff(Surv(.time, .event) ~ factor(g, levels = levs), data = dk)
    df <- sum(sd$exp > 0) - 1
    logrank <- list(chisq = sd$chisq, df = df, p = pchisq(sd$chisq, df, lower.tail = FALSE))
  }
  if (length(levs) == 2) {
    x <- as.numeric(g == levs[2])
    fit <- coxph(Surv(dk$.time, dk$.event) ~ x, ties = "efron", control = FULL_CONVERGENCE)
    b <- unname(coef(fit)); se <- unname(sqrt(vcov(fit)[1, 1])); z <- qnorm(0.975)
    hr <- list(reference = levs[1], group = levs[2], coef = b, se = se, hr = exp(b), lo = exp(b - z * se),
               hi = exp(b + z * se), p = 2 * pnorm(-abs(b / se)))
  }
  c(list(name = name, dataset = ds), endpoint_args(ds, endpoint),
    list(by = by, cutoff = cutoff, at = I(at), n = nrow(dk), events = sum(dk$.event), excluded = nrow(d) - nrow(dk),
         groups = groups, logrank = logrank, hr = hr, followup = followup(dk$.time, dk$.event)))
}

km_out <- list(
  km_case("lung_sex", "lung", by = "sex", at = c(6, 12, 24, 36)),
  km_case("lung_age65", "lung", by = "age", cutoff = 65, at = c(6, 12, 24)),
  km_case("lung_ecog", "lung", by = "ph.ecog", at = c(6, 12)),
  km_case("veteran_celltype", "veteran", by = "celltype", at = c(3, 6, 12)),
  km_case("veteran_trt", "veteran", by = "trt", at = c(3, 6, 12, 24)),
  km_case("veteran_karno50", "veteran", by = "karno", cutoff = 50, at = c(3, 6, 12)),
  km_case("pbc_all", "pbc", at = c(12, 60, 120, 160)),
  km_case("pbc_stage", "pbc", by = "stage", at = c(12, 60, 120)),
  km_case("pbc_edema", "pbc", by = "edema", at = c(12, 60)),
  km_case("pbc_bili2", "pbc", by = "bili", cutoff = 2, at = c(12, 60, 120)),
  km_case("gbsg_hormon", "gbsg", by = "hormon", at = c(12, 24, 60)),
  km_case("gbsg_grade", "gbsg", by = "grade", at = c(12, 24, 60)),
  km_case("gbsg_nodes3", "gbsg", by = "nodes", cutoff = 3, at = c(12, 24, 60)),
  km_case("rotterdam_os_size", "rotterdam", by = "size", at = c(12, 60, 120)),
  km_case("rotterdam_os_nodes0", "rotterdam", by = "nodes", cutoff = 0, at = c(12, 60, 120)),
  km_case("rotterdam_recur_chemo", "rotterdam", endpoint = 2, by = "chemo", at = c(12, 60, 120)),
  km_case("colon_rx", "colon", by = "rx", at = c(12, 36, 60)),
  km_case("colon_nodes4", "colon", by = "nodes", cutoff = 4, at = c(12, 36, 60)),
  km_case("ovarian_rx", "ovarian", by = "rx", at = c(6, 12, 24, 48)),
  km_case("ovarian_age55", "ovarian", by = "age", cutoff = 55, at = c(6, 12, 24)),
  km_case("flchain_sex", "flchain", by = "sex", at = c(12, 60, 120)),
  km_case("flchain_creatinine1.2", "flchain", by = "creatinine", cutoff = 1.2, at = c(12, 60, 120))
)

# ---------------------------------------------------------------------------------------------------------
# cox: the three covariate forms, as --covariates spells them
# ---------------------------------------------------------------------------------------------------------
cox_case <- function(name, ds, covariates, endpoint = 1) {
  d <- app_data(ds, endpoint)
  items <- strsplit(covariates, ",")[[1]]
  mf <- data.frame(.time = d$.time, .event = d$.event)
  terms <- list(); zph_terms <- list()
  for (i in seq_along(items)) {
    item <- items[i]; vn <- paste0("x", i)
    if (grepl(":", item, fixed = TRUE)) {                       # col:X  -> I(col > X)
      col <- sub(":[^:]*$", "", item); cut <- sub("^.*:", "", item)
      mf[[vn]] <- as.numeric(d[[col]] > as.numeric(cut))
      term <- list(column = col, form = "cut", cutoff = cut)
      terms <- c(terms, list(term)); zph_terms <- c(zph_terms, list(term))
    } else if (grepl("=", item, fixed = TRUE)) {                # col=LEVEL -> relevel(factor(col), LEVEL)
      col <- sub("=.*$", "", item); ref <- sub("^[^=]*=", "", item)
      levs <- app_levels(col, d[[col]])
      stopifnot(ref %in% levs)
      levs <- c(ref, setdiff(levs, ref))
      mf[[vn]] <- factor(as.character(d[[col]]), levels = levs)
      for (l in levs[-1]) terms <- c(terms, list(list(column = col, form = "categorical", level = l)))
      zph_terms <- c(zph_terms, list(list(column = col, form = "categorical")))
    } else if (grepl("*", item, fixed = TRUE)) {                # col*N -> I(col / N)
      col <- sub("\\*[^*]*$", "", item); per <- sub("^.*\\*", "", item)
      mf[[vn]] <- d[[col]] / as.numeric(per)
      term <- list(column = col, form = "per", per = per)
      terms <- c(terms, list(term)); zph_terms <- c(zph_terms, list(term))
    } else {                                                    # col -> as is
      mf[[vn]] <- as.numeric(d[[item]])
      term <- list(column = item, form = "continuous")
      terms <- c(terms, list(term)); zph_terms <- c(zph_terms, list(term))
    }
  }
  f <- as.formula(paste("Surv(.time, .event) ~", paste(paste0("x", seq_along(items)), collapse = " + ")))
  fit <- coxph(f, data = mf, ties = "efron", control = FULL_CONVERGENCE)
  b <- unname(coef(fit)); se <- unname(sqrt(diag(vcov(fit)))); z <- qnorm(0.975)
  stopifnot(length(b) == length(terms), !any(is.na(b)))
  zt <- cox.zph(fit)$table
  stopifnot(nrow(zt) == length(zph_terms) + 1)
  lr <- 2 * (fit$loglik[2] - fit$loglik[1])
  c(list(name = name, dataset = ds), endpoint_args(ds, endpoint), list(
    covariates = covariates, n = fit$n, events = fit$nevent, excluded = nrow(d) - fit$n,
    terms = lapply(seq_along(b), function(j) c(terms[[j]], list(
      coef = b[j], se = se[j], hr = exp(b[j]), lo = exp(b[j] - z * se[j]), hi = exp(b[j] + z * se[j]),
      p = 2 * pnorm(-abs(b[j] / se[j]))))),
    concordance = unname(fit$concordance["concordance"]),
    concordance_counts = as.list(fit$concordance[c("concordant", "discordant", "tied.x", "tied.y", "tied.xy")]),
    loglik = fit$loglik[2], loglik_null = fit$loglik[1],
    lr = list(chisq = lr, df = length(b), p = pchisq(lr, length(b), lower.tail = FALSE)),
    wald = list(chisq = unname(fit$wald.test), df = length(b),
                p = pchisq(unname(fit$wald.test), length(b), lower.tail = FALSE)),
    ph_test = lapply(seq_len(nrow(zt)), function(j) c(
      if (j <= length(zph_terms)) zph_terms[[j]] else list(form = "GLOBAL"),
      list(chisq = zt[j, "chisq"], df = zt[j, "df"], p = zt[j, "p"])))))
}

cox_out <- list(
  cox_case("lung", "lung", "age*10,sex=1,ph.ecog=0,ph.karno:80,wt.loss"),
  cox_case("veteran", "veteran", "karno*10,celltype=squamous,trt=1,age:60,prior=0"),
  cox_case("pbc", "pbc", "age*10,bili:2,edema=0,albumin,stage=1"),
  cox_case("gbsg", "gbsg", "age*10,size*10,nodes:3,grade=1,hormon=0,pgr*100"),
  cox_case("rotterdam_os", "rotterdam", "age*10,size=<=20,nodes:0,grade=2,hormon=0"),
  cox_case("rotterdam_recur", "rotterdam", "age*10,pgr*100,er:10,chemo=0,meno=0", endpoint = 2),
  cox_case("colon", "colon", "rx=Obs,age*10,nodes:4,differ=1,extent=3"),
  cox_case("ovarian", "ovarian", "age*10,rx=1,resid.ds=1,ecog.ps=1"),
  cox_case("flchain", "flchain", "age*10,sex=Male,flc.grp=1,creatinine:1.2,mgus=0,lambda")
)
# the univariable screen (--univariable): one model per covariate of each multivariable case
cox_univariable_out <- lapply(cox_out, function(case) {
  ep <- which(vapply(endpoints[[case$dataset]], function(e) e$time == case$time, logical(1)))
  items <- strsplit(case$covariates, ",")[[1]]
  c(case[c("name", "dataset", "time", "event", "covariates")],
    list(models = lapply(items, function(item) cox_case(item, case$dataset, item, endpoint = ep))))
})

# ---------------------------------------------------------------------------------------------------------
# baseline: a few variables by a group
# ---------------------------------------------------------------------------------------------------------
cat_test <- function(tab) {
  tab <- tab[rowSums(tab) > 0, colSums(tab) > 0, drop = FALSE]
  expected <- outer(rowSums(tab), colSums(tab)) / sum(tab)
  if (min(expected) < 5) {
    list(test = "fisher", p = fisher.test(tab, workspace = 2e8)$p.value, statistic = NA)
  } else {
    ch <- chisq.test(tab, correct = FALSE)
    list(test = "chi2", p = unname(ch$p.value), statistic = unname(ch$statistic))
  }
}

numeric_summary <- function(v) {
  v <- v[!is.na(v)]
  q <- quantile(v, c(0.25, 0.5, 0.75), type = 7, names = FALSE)
  list(n = length(v), mean = mean(v), sd = sd(v), median = q[2], q1 = q[1], q3 = q[3])
}

baseline_case <- function(name, ds, by, numeric = character(0), categorical = character(0)) {
  d <- app_data(ds)
  d <- d[!is.na(d[[by]]), ]
  groups <- app_levels(by, d[[by]])
  g <- factor(as.character(d[[by]]), levels = groups)
  numeric_out <- lapply(numeric, function(col) {
    x <- d[[col]]
    tests <- if (length(groups) == 2) {
      list(list(test = "welch_t", p = t.test(x ~ g)$p.value, statistic = unname(t.test(x ~ g)$statistic)),
           list(test = "wilcoxon", p = wilcox.test(x ~ g, exact = FALSE, correct = TRUE)$p.value))
    } else {
      list(list(test = "anova", p = oneway.test(x ~ g, var.equal = TRUE)$p.value),
           list(test = "kruskal", p = kruskal.test(x ~ g)$p.value))
    }
    list(variable = col, type = "numeric", missing = sum(is.na(x)),
         stats = c(list(Overall = numeric_summary(x)),
                   setNames(lapply(groups, function(l) numeric_summary(x[g == l])), groups)),
         tests = tests)
  })
  categorical_out <- lapply(categorical, function(col) {
    x <- d[[col]]
    levs <- app_levels(col, x)
    tab <- table(g, factor(as.character(x), levels = levs))
    list(variable = col, type = "categorical", levels = I(levs), missing = sum(is.na(x)),
         counts = c(list(Overall = as.list(setNames(as.numeric(colSums(tab)), levs))),
                    setNames(lapply(groups, function(l) as.list(setNames(as.numeric(tab[l, ]), levs))), groups)),
         tests = list(cat_test(tab)))
  })
  list(name = name, dataset = ds, by = by, groups = I(groups), n = nrow(d),
       by_missing = nrow(files[[ds]]) - nrow(d), variables = c(numeric_out, categorical_out))
}

baseline_out <- list(
  baseline_case("lung_sex", "lung", "sex", numeric = c("age", "ph.karno", "wt.loss"), categorical = "ph.ecog"),
  baseline_case("veteran_trt", "veteran", "trt", numeric = c("karno", "age", "diagtime"),
                categorical = c("celltype", "prior")),
  baseline_case("pbc_trt", "pbc", "trt", numeric = c("age", "bili", "albumin"),
                categorical = c("sex", "stage", "ascites", "edema")),
  baseline_case("gbsg_hormon", "gbsg", "hormon", numeric = c("age", "size", "nodes", "pgr"),
                categorical = c("grade", "meno")),
  baseline_case("rotterdam_chemo", "rotterdam", "chemo", numeric = c("age", "nodes", "pgr"),
                categorical = c("size", "grade", "meno")),
  baseline_case("colon_rx", "colon", "rx", numeric = c("age", "nodes"),
                categorical = c("sex", "obstruct", "differ", "extent")),
  baseline_case("ovarian_rx", "ovarian", "rx", numeric = c("age"), categorical = c("resid.ds", "ecog.ps")),
  baseline_case("flchain_sex", "flchain", "sex", numeric = c("age", "kappa", "creatinine", "flc.grp"),
                categorical = c("mgus"))
)

# ---------------------------------------------------------------------------------------------------------
# cutpoint: maximally selected log-rank statistic
# ---------------------------------------------------------------------------------------------------------
cutpoint_case <- function(name, ds, variable, minprop = 0.1, endpoint = 1) {
  d <- app_data(ds, endpoint)
  d <- data.frame(time = d$.time, event = d$.event, x = d[[variable]])
  d <- d[complete.cases(d), ]
  f92 <- maxstat.test(Surv(time, event) ~ x, data = d, smethod = "LogRank", pmethod = "Lau92", minprop = minprop)
  f94 <- maxstat.test(Surv(time, event) ~ x, data = d, smethod = "LogRank", pmethod = "Lau94", minprop = minprop)
  # the app clips the bounds to [0, 1]; far in the tail (p < 1e-20) the Lau94 formula cancels (R gives negative
  # p-values there), so the cases are variables with moderate statistics
  stopifnot(f94$p.value < 1, f94$p.value > 1e-20)
  c(list(name = name, dataset = ds), endpoint_args(ds, endpoint), list(
    variable = variable, minprop = minprop, n = nrow(d), statistic = unname(f94$statistic),
    cutpoint = unname(f94$estimate), p_lau92 = f92$p.value, p_lau94 = f94$p.value))
}

cutpoint_out <- list(
  cutpoint_case("lung_pat.karno", "lung", "pat.karno"),
  cutpoint_case("veteran_karno", "veteran", "karno"),
  cutpoint_case("pbc_platelet", "pbc", "platelet"),
  cutpoint_case("gbsg_pgr", "gbsg", "pgr"),
  cutpoint_case("rotterdam_os_er", "rotterdam", "er"),
  cutpoint_case("rotterdam_recur_pgr", "rotterdam", "pgr", endpoint = 2),
  cutpoint_case("colon_age", "colon", "age"),
  cutpoint_case("ovarian_age", "ovarian", "age"),
  cutpoint_case("flchain_sample.yr", "flchain", "sample.yr")
)

ref <- list(
  meta = list(R = R.version.string, script = "tests/reference/own_cohorts.R",
              packages = lapply(c(survival = "survival", maxstat = "maxstat", jsonlite = "jsonlite",
                                  haven = "haven", openxlsx = "openxlsx"),
                                function(p) as.character(packageVersion(p))),
              days_per_month = DAYS_PER_MONTH),
  files = list(xlsx = list(file = "gbsg.xlsx", sheet = "gbsg", first_sheet = "codebook", csv = "gbsg.csv"),
               sav = list(file = "veteran.sav", csv = "veteran.csv",
                          labels = list(trt = list("1" = "standard", "2" = "test"),
                                        prior = list("0" = "no", "10" = "yes"),
                                        status = list("0" = "alive", "1" = "dead")))),
  validate = validate_out, km = km_out, cox = cox_out, cox_univariable = cox_univariable_out,
  baseline = baseline_out, cutpoint = cutpoint_out
)
writeLines(toJSON(ref, auto_unbox = TRUE, digits = NA, na = "null", null = "null", pretty = FALSE),
           file.path(out_dir, "own_cohorts.json"))
cat("wrote", file.path(out_dir, "own_cohorts.json"), "\n")
