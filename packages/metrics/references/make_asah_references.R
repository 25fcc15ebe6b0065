#!/usr/bin/env Rscript
# The aSAH data of pROC (Turck et al. 2009; Robin et al. 2011, BMC Bioinformatics 12:77), GPL (>= 3) like pROC:
# the ndka marker scaled to [0, 1] as a score for the outcome Poor, and pROC's AUC and DeLong interval on it.
# See PROVENANCE.md. Scaling: score = (ndka − min ndka) / (max ndka − min ndka) over the 113 patients
# (min 3.01, max 419.19), a monotone map, so every ROC quantity equals that of ndka itself.
#
#   Rscript packages/metrics/references/make_asah_references.R [DIR]
# Writes DIR/asah_ndka.csv (scores printed with 17 significant digits: they parse back to the same doubles)
# and DIR/r_asah.json (jsonlite prints 15 significant digits).
suppressPackageStartupMessages({
  library(pROC)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = FALSE)
script <- sub("^--file=", "", args[grep("^--file=", args)])
trailing <- commandArgs(trailingOnly = TRUE)
dir <- if (length(trailing) >= 1) trailing[1] else dirname(normalizePath(script))

data(aSAH, package = "pROC")
low <- min(aSAH$ndka)
high <- max(aSAH$ndka)
score <- (aSAH$ndka - low) / (high - low)
label <- as.integer(aSAH$outcome == "Poor")

lines <- c("patient,outcome,label,ndka,score", sprintf("%d,%s,%d,%s,%s", seq_along(score), as.character(aSAH$outcome), label, format(aSAH$ndka, trim = TRUE), sprintf("%.17g", score)))
writeLines(lines, file.path(dir, "asah_ndka.csv"))

r <- roc(response = label, predictor = score, levels = c(0, 1), direction = "<", quiet = TRUE)
ci <- ci.auc(r, method = "delong", conf.level = 0.95)
out <- list(
  data = list(patients = length(score), poor = sum(label), good = sum(1 - label), distinct_scores = length(unique(score)), ndka_min = low, ndka_max = high),
  delong = list(auc = as.numeric(auc(r)), variance = var(r, method = "delong"), ci95 = c(ci[1], ci[3]))
)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), file.path(dir, "r_asah.json"))
