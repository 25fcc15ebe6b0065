# check-sites.R — recomputes the site outcome counts from the source CSVs in base R, independently of prepare-sites.ts,
# and compares them with the committed site files.
# Run: Rscript examples/rotterdam/data/check-sites.R > examples/rotterdam/data/check-sites.out
here <- dirname(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)))
r <- read.csv(file.path(here, "rotterdam.csv"))
g <- read.csv(file.path(here, "gbsg.csv"))
horizon <- 1826
outcome <- function(event, time) ifelse(event & time <= horizon, "1", ifelse(time >= horizon, "0", ""))
r_out <- outcome(r$recur == 1 | r$death == 1, ifelse(r$recur == 1, r$rtime, r$dtime))
g_out <- outcome(g$status == 1, g$rfstime)
g_size <- as.character(cut(g$size, c(-Inf, 20, 50, Inf), labels = c("<=20", "20-50", ">50")))
copied <- c("age", "meno", "grade", "nodes", "pgr", "er", "hormon")
expected <- list(
  "development.csv" = list(out = r_out[r$year <= 1987], size = r$size[r$year <= 1987], src = r[r$year <= 1987, copied]),
  "site-a.csv" = list(out = r_out[r$year > 1987], size = r$size[r$year > 1987], src = r[r$year > 1987, copied]),
  "site-b.csv" = list(out = g_out[g$meno == 0], size = g_size[g$meno == 0], src = g[g$meno == 0, copied]),
  "site-c.csv" = list(out = g_out[g$meno == 1], size = g_size[g$meno == 1], src = g[g$meno == 1, copied])
)
for (name in names(expected)) {
  site <- read.csv(file.path(here, name), colClasses = c(size = "character", event5y = "character"), na.strings = character(0))
  e <- expected[[name]]
  cat(sprintf("%s: rows=%d events=%d event_free=%d unknown=%d size(<=20,20-50,>50)=%d,%d,%d matches_committed=%s\n",
              name, length(e$out), sum(e$out == "1"), sum(e$out == "0"), sum(e$out == ""),
              sum(e$size == "<=20"), sum(e$size == "20-50"), sum(e$size == ">50"),
              identical(site$event5y, e$out) && identical(site$size, e$size) &&
                isTRUE(all.equal(site[, copied], e$src, check.attributes = FALSE))))
}
# The survival view's files: the same predictors with recurrence-free follow-up kept whole (time in days, event 0/1).
r_time <- ifelse(r$recur == 1, r$rtime, r$dtime)
r_status <- as.integer(r$recur == 1 | r$death == 1)
rfs <- list(
  "development-rfs.csv" = list(keep = r$year <= 1987, src = r, size = r$size, time = r_time, status = r_status),
  "site-a-rfs.csv" = list(keep = r$year > 1987, src = r, size = r$size, time = r_time, status = r_status),
  "site-b-rfs.csv" = list(keep = g$meno == 0, src = g, size = g_size, time = g$rfstime, status = g$status),
  "site-c-rfs.csv" = list(keep = g$meno == 1, src = g, size = g_size, time = g$rfstime, status = g$status)
)
for (name in names(rfs)) {
  site <- read.csv(file.path(here, name), colClasses = c(size = "character"))
  e <- rfs[[name]]
  k <- e$keep
  cat(sprintf("%s: rows=%d events=%d censored_before_1826=%d matches_committed=%s\n", name, sum(k), sum(e$status[k]),
              sum(e$status[k] == 0 & e$time[k] < horizon),
              identical(site$rfstime, as.integer(e$time[k])) && identical(site$status, as.integer(e$status[k])) &&
                identical(site$size, as.character(e$size[k])) && isTRUE(all.equal(site[, copied], e$src[k, copied], check.attributes = FALSE))))
}
