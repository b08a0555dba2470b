# Public survival datasets of R's survival package, exported verbatim (their own column names, units and codings)
# for the report tests (tests/test_reports_r.py): the app must reproduce in R what it shows for files it was not
# built around. Run from the repository root:   Rscript tests/reference/datasets.R
#
#   gbsg.csv     German Breast Cancer Study Group 2: recurrence-free survival (rfstime in days, status 0/1),
#                686 patients; grade 1-3, menopausal status, hormonal therapy coded 0/1.
#   mgus2.csv    Monoclonal gammopathy: two endpoints on one file -- time to plasma-cell malignancy
#                (ptime, pstat) and death (futime, death), months; sex F/M.
#   ovarian.csv  Ovarian cancer trial: futime (days), fustat; 26 patients.
suppressPackageStartupMessages(library(survival))
out_dir <- "tests/reference/data"
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)
write_data <- function(d, name) {
  d[] <- lapply(d, function(x) if (is.factor(x)) as.character(x) else as.vector(x))
  write.csv(d, file.path(out_dir, name), row.names = FALSE, na = "")
}
write_data(survival::gbsg, "gbsg.csv")
write_data(survival::mgus2, "mgus2.csv")
write_data(survival::ovarian, "ovarian.csv")
