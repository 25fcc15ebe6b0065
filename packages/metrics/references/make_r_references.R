#!/usr/bin/env Rscript
# Reference values for @fedval/metrics computed with R: DeLong AUC intervals (pROC), the logistic
# recalibration fit (glm), chi-square tail probabilities (pchisq) and Wilson intervals (prop.test).
#
# Run after make_references.py, on the same directory (it reads the CSV and JSON inputs written there):
#   Rscript packages/metrics/references/make_r_references.R [DIR]
# Writes DIR/r_references.json (jsonlite prints 15 significant digits) and DIR/versions_r.json.
suppressPackageStartupMessages({
  library(pROC)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = FALSE)
script <- sub("^--file=", "", args[grep("^--file=", args)])
trailing <- commandArgs(trailingOnly = TRUE)
dir <- if (length(trailing) >= 1) trailing[1] else dirname(normalizePath(script))

delong <- function(label, score) {
  if (sum(label == 1) < 2 || sum(label == 0) < 2) return(NULL)
  r <- roc(response = label, predictor = score, levels = c(0, 1), direction = "<", quiet = TRUE)
  ci <- ci.auc(r, method = "delong", conf.level = 0.95)
  list(auc = as.numeric(auc(r)), variance = var(r, method = "delong"), ci95 = c(ci[1], ci[3]))
}

level_of_age <- function(age) ifelse(age < 50, "<50", ifelse(age < 70, "50-70", ">=70"))

rotterdam <- read.csv(file.path(dir, "rotterdam_binary.csv"), colClasses = c(meno = "character", size = "character"))
known <- rotterdam[!is.na(rotterdam$label), ]
groups <- list(meno = known$meno, age = level_of_age(known$age), size = known$size)

delong_blocks <- list()
for (column in c("score", "score_grid")) {
  key <- if (column == "score") "continuous" else "grid"
  by_group <- list()
  for (g in names(groups)) {
    levels_out <- list()
    for (level in sort(unique(groups[[g]]))) {
      members <- known[groups[[g]] == level, ]
      levels_out[[level]] <- delong(members$label, members[[column]])
    }
    by_group[[g]] <- levels_out
  }
  delong_blocks[[key]] <- list(overall = delong(known$label, known[[column]]), by_group = by_group)
}

edge <- fromJSON(file.path(dir, "sklearn_edge_cases.json"), simplifyVector = TRUE)
edge_out <- list()
for (name in names(edge)) {
  case <- edge[[name]]
  if (length(case$labels) > 0) {
    result <- delong(case$labels, case$scores)
    if (!is.null(result)) edge_out[[name]] <- result
  }
}
delong_blocks[["edge_cases"]] <- edge_out

# Logistic recalibration (Cox 1958): slope from glm(y ~ logit(p)), intercept from glm(y ~ offset(logit(p))).
eps <- 1e-8
logit <- function(p) { q <- pmin(pmax(p, eps), 1 - eps); log(q / (1 - q)) }
x <- logit(known$score)
slope_fit <- glm(known$label ~ x, family = binomial(), control = glm.control(epsilon = 1e-14, maxit = 100))
offset_fit <- glm(known$label ~ 1 + offset(x), family = binomial(), control = glm.control(epsilon = 1e-14, maxit = 100))
recalibration <- list(
  slope = unname(coef(slope_fit)[2]),
  slope_model_intercept = unname(coef(slope_fit)[1]),
  intercept = unname(coef(offset_fit)[1])
)

chisq <- list()
for (df in c(1, 2, 3, 5, 8, 10, 30, 100)) {
  for (x in c(0.001, 0.5, 1, 3.841458820694124, 10, 50, 200)) {
    chisq[[length(chisq) + 1]] <- list(x = x, df = df, upper = pchisq(x, df, lower.tail = FALSE), lower = pchisq(x, df))
  }
}

wilson <- list()
for (case in list(c(0, 10), c(10, 10), c(1, 1), c(3, 7), c(45, 120), c(512, 1337), c(1, 1000))) {
  ci <- prop.test(case[1], case[2], correct = FALSE, conf.level = 0.95)$conf.int
  wilson[[length(wilson) + 1]] <- list(successes = case[1], trials = case[2], ci95 = c(ci[1], ci[2]))
}

out <- list(
  delong = delong_blocks,
  recalibration = recalibration,
  pchisq = chisq,
  wilson_prop_test = wilson
)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE, null = "null"), file.path(dir, "r_references.json"))
versions <- list(R = paste(R.version$major, R.version$minor, sep = "."), pROC = as.character(packageVersion("pROC")), jsonlite = as.character(packageVersion("jsonlite")))
writeLines(toJSON(versions, auto_unbox = TRUE, pretty = TRUE), file.path(dir, "versions_r.json"))
