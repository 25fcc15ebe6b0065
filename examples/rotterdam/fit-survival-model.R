# fit-survival-model.R — the survival view's model: a Cox model for recurrence-free survival on the Rotterdam development
# cohort (diagnosed up to 1987, data/development-rfs.csv), with the predictors of the binary bundle (age, meno, size class,
# grade, log1p(nodes), log1p(pgr), log1p(er), hormon; as in Royston & Altman, BMC Med Res Methodol 2013;13:33, log
# transforms of the skewed counts and receptors). Writes survival-model-cox.json: the coefficients on the raw (transformed)
# covariates, the baseline cumulative hazard at 1826 days (uncentered), and R's 5-year risks 1 − exp(−H₀(1826)·e^lp) for
# the GBSG sites, which build-survival-model.ts's bundle must reproduce.
# Run: Rscript examples/rotterdam/fit-survival-model.R
suppressPackageStartupMessages({
  library(survival)
  library(jsonlite)
})
here <- dirname(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)))
horizon <- 1826
read_rfs <- function(name) {
  d <- read.csv(file.path(here, "data", name), colClasses = c(size = "character"))
  d$size <- factor(d$size, levels = c("<=20", "20-50", ">50"))
  d
}
development <- read_rfs("development-rfs.csv")
fit <- coxph(Surv(rfstime, status) ~ age + meno + size + grade + log1p(nodes) + log1p(pgr) + log1p(er) + hormon, data = development, ties = "efron")
base <- basehaz(fit, centered = FALSE)
H0 <- approx(base$time, base$hazard, xout = horizon, method = "constant", rule = 2, f = 0)$y
risk <- function(d) 1 - exp(-H0 * exp(predict(fit, newdata = d, type = "lp", reference = "zero")))
b <- coef(fit)
out <- list(
  horizon_days = horizon,
  n = fit$n,
  events = fit$nevent,
  coefficients = list(age = b[["age"]], meno = b[["meno"]], `size=<=20` = 0, `size=20-50` = b[["size20-50"]], `size=>50` = b[["size>50"]],
                      grade = b[["grade"]], nodes = b[["log1p(nodes)"]], pgr = b[["log1p(pgr)"]], er = b[["log1p(er)"]], hormon = b[["hormon"]]),
  baseline_cumulative_hazard_at_horizon = H0,
  concordance_development = unname(concordance(fit)$concordance),
  risk_site_b = risk(read_rfs("site-b-rfs.csv")),
  risk_site_c = risk(read_rfs("site-c-rfs.csv")),
  versions = list(R = paste(R.version$major, R.version$minor, sep = "."), survival = as.character(packageVersion("survival")))
)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), file.path(here, "survival-model-cox.json"))
cat(sprintf("Cox model on %d development patients (%d events); baseline cumulative hazard at %d days %.6f; C %.4f\n", fit$n, fit$nevent, horizon, H0, concordance(fit)$concordance))
