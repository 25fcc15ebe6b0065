#!/usr/bin/env Rscript
# Reference values for the survival task of @fedval/metrics, computed by R on the raw, unbinned data:
# survival::concordance (Harrell's C and its infinitesimal-jackknife variance; Uno's C with timewt = "n/G2",
# ymax = horizon), riskRegression::Score (cumulative/dynamic AUC and IPCW Brier score at the horizon, Kaplan–Meier
# censoring model), survival::survfit (observed risk 1 − KM(h) with its log-scale Greenwood interval, per risk group
# and above each net-benefit threshold).
#
#   Rscript packages/metrics/references/make_survival_references.R [DIR]
# Writes DIR/survival_gbsg.csv, DIR/survival_pbc.csv, DIR/survival_ties.csv (pid, site, time, event, risk), then
# re-reads each CSV (so R and fedval see the same printed numbers) and writes DIR/r_survival.json and
# DIR/versions_r_survival.json.
suppressPackageStartupMessages({
  library(survival)
  library(riskRegression)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = FALSE)
script <- sub("^--file=", "", args[grep("^--file=", args)])
trailing <- commandArgs(trailingOnly = TRUE)
dir <- if (length(trailing) >= 1) trailing[1] else dirname(normalizePath(script))

# Five-year risk 1 − S0(h)^exp(lp) of a Cox fit (uncentered baseline cumulative hazard at h).
cox_risk <- function(fit, newdata, h) {
  lp <- predict(fit, newdata = newdata, type = "lp", reference = "zero")
  base <- basehaz(fit, centered = FALSE)
  H0 <- approx(base$time, base$hazard, xout = h, method = "constant", rule = 2, f = 0)$y
  1 - exp(-H0 * exp(lp))
}

write_cases <- function(name, time, event, risk) {
  n <- length(time)
  site <- c("a", "b", "c")[(seq_len(n) - 1) %% 3 + 1]
  lines <- c("pid,site,time,event,risk", sprintf("%d,%s,%s,%d,%s", seq_len(n), site, format(time, trim = TRUE, scientific = FALSE), as.integer(event), sprintf("%.17g", risk)))
  writeLines(lines, file.path(dir, name))
  read.csv(file.path(dir, name), colClasses = c(site = "character"))
}

km_risk <- function(d, h) {
  if (nrow(d) == 0) return(list(n = 0, risk = NULL, ci95 = NULL))
  fit <- survfit(Surv(time, event) ~ 1, data = d, conf.type = "log")
  s <- summary(fit, times = h, extend = TRUE)
  list(n = nrow(d), risk = 1 - s$surv, ci95 = if (is.na(s$lower)) NULL else c(1 - s$upper, 1 - s$lower))
}

references <- function(d, h, thresholds, groups) {
  harrell <- concordance(Surv(time, event) ~ risk, data = d, reverse = TRUE)
  uno <- concordance(Surv(time, event) ~ risk, data = d, reverse = TRUE, timewt = "n/G2", ymax = h)
  score <- Score(list(model = matrix(d$risk, ncol = 1)), formula = Surv(time, event) ~ 1, data = d, times = h,
                 metrics = c("auc", "brier"), cens.model = "km", null.model = FALSE, conf.int = FALSE)
  observed <- km_risk(d, h)
  calibration <- lapply(seq_len(groups), function(g) {
    lower <- (g - 1) / groups
    upper <- g / groups
    members <- d[d$risk >= lower & (d$risk < upper | (g == groups & d$risk <= 1)), ]
    km <- km_risk(members, h)
    list(lower = lower, upper = upper, n = nrow(members), mean_predicted_risk = if (nrow(members) > 0) mean(members$risk) else NULL,
         observed_risk = km$risk, observed_risk_ci95 = km$ci95)
  })
  net_benefit <- lapply(thresholds, function(pt) {
    above <- d[d$risk >= pt, ]
    if (nrow(above) == 0) return(list(threshold = pt, net_benefit = 0))
    s <- 1 - km_risk(above, h)$risk
    list(threshold = pt, net_benefit = nrow(above) / nrow(d) * ((1 - s) - s * pt / (1 - pt)))
  })
  list(
    horizon = h,
    n = nrow(d),
    events = sum(d$event),
    events_by_horizon = sum(d$event == 1 & d$time <= h),
    censored_before_horizon = sum(d$event == 0 & d$time <= h),
    c_index = unname(harrell$concordance),
    c_index_variance = unname(harrell$var),
    c_index_uno = unname(uno$concordance),
    td_auc = score$AUC$score$AUC,
    brier_at_horizon = score$Brier$score$Brier,
    observed_risk_at_horizon = observed$risk,
    observed_risk_at_horizon_ci95 = observed$ci95,
    expected_risk_at_horizon = mean(d$risk),
    calibration_at_horizon = calibration,
    net_benefit_at_horizon = net_benefit
  )
}

thresholds <- seq(0.05, 0.5, by = 0.05)
out <- list()

# GBSG scored by a Cox model for recurrence-free survival developed on the Rotterdam patients diagnosed up to 1987
# (Royston & Altman, BMC Med Res Methodol 2013;13:33; covariates with the Sauerbrei–Royston transforms exp(−0.12·nodes)
# and log(pgr + 1)). Rotterdam RFS is the survival package's "liberal" definition: time rtime if recur, else dtime.
horizon <- 1826
rott <- rotterdam
rott$rfs <- pmax(rott$recur, rott$death)
rott$rfstime <- ifelse(rott$recur == 1, rott$rtime, rott$dtime)
development <- rott[rott$year <= 1987, ]
cox <- coxph(Surv(rfstime, rfs) ~ age + meno + size + grade + I(exp(-0.12 * nodes)) + I(log(pgr + 1)) + hormon, data = development)
g <- gbsg
g$size <- factor(ifelse(g$size <= 20, "<=20", ifelse(g$size <= 50, "20-50", ">50")), levels = levels(rott$size))
d <- write_cases("survival_gbsg.csv", g$rfstime, g$status, cox_risk(cox, g, horizon))
out$gbsg <- references(d, horizon, thresholds, 10)
out$gbsg$sites <- lapply(split(d, d$site), function(s) references(s, horizon, thresholds, 10)[c("n", "c_index", "td_auc")])
out$gbsg$cox <- list(coefficients = as.list(coef(cox)), baseline_cumulative_hazard_at_horizon = approx(basehaz(cox, centered = FALSE)$time, basehaz(cox, centered = FALSE)$hazard, xout = horizon, method = "constant", rule = 2, f = 0)$y)

# PBC (Mayo Clinic primary biliary cirrhosis): death (status 2; transplant censored) scored by a Cox model fitted on the
# randomized trial patients (the first 312), the covariates of the Mayo risk score (Dickson et al. Hepatology 1989;10:1).
p <- pbc[complete.cases(pbc[, c("time", "status", "age", "bili", "albumin", "protime", "edema")]), ]
p$death <- as.integer(p$status == 2)
mayo <- coxph(Surv(time, death) ~ age + log(bili) + log(albumin) + log(protime) + edema, data = p[!is.na(p$trt), ])
d <- write_cases("survival_pbc.csv", p$time, p$death, cox_risk(mayo, p, horizon))
out$pbc <- references(d, horizon, thresholds, 10)

# Ties: integer times 1..60 (months) and risks on ten values (k + 0.5)/10, so a grid of width 1 and 10 score bins holds
# every distinct time and risk apart: on this grid fedval must agree with R to rounding.
set.seed(15)
n <- 300
risk <- (sample(0:9, n, replace = TRUE) + 0.5) / 10
time <- pmin(60L, 1L + as.integer(rexp(n, rate = 0.02 + 0.08 * risk) * 1))
time[sample(n, 10)] <- 36L
event <- rbinom(n, 1, 0.7)
d <- write_cases("survival_ties.csv", time, event, risk)
out$ties <- references(d, 36, seq(0.1, 0.5, by = 0.1), 10)

writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE, null = "null"), file.path(dir, "r_survival.json"))
versions <- list(R = paste(R.version$major, R.version$minor, sep = "."), survival = as.character(packageVersion("survival")),
                 riskRegression = as.character(packageVersion("riskRegression")), jsonlite = as.character(packageVersion("jsonlite")))
writeLines(toJSON(versions, auto_unbox = TRUE, pretty = TRUE), file.path(dir, "versions_r_survival.json"))
