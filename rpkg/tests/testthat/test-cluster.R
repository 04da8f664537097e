# scheduler = / cluster =: checked in R, then a real Dask scheduler and worker (started with the `dask`
# command of the core's environment) serve blur_people(), whose files are those of a local run.

test_that("scheduler and cluster are checked before Python starts", {
  ex <- trapblur_example(tempfile("tb-cluster-args-"))
  out <- tempfile("out-")
  expect_error(blur_people(ex$images, ex$results, out, scheduler = 8786), class = "trapblur_options_error")
  expect_error(blur_people(ex$images, ex$results, out, scheduler = "tcp://h:1", cluster = "local"),
               "not both", class = "trapblur_options_error")
  expect_error(blur_people(ex$images, ex$results, out, cluster = "kubernetes"), class = "trapblur_options_error")
  expect_error(blur_people(ex$images, ex$results, out, cluster = list(type = "slurm", jobs = 1.5)),
               "cluster\\$jobs", class = "trapblur_options_error")
  expect_error(blur_people(ex$images, ex$results, out, cluster = list(type = "slurm", nodes = 2)),
               "unknown setting `nodes`", class = "trapblur_options_error")
  expect_identical(
    cluster_arguments(NULL, list(type = "slurm", jobs = 4, cores = 8, memory = "32GB", gpus = 1)),
    list(cluster = "slurm", jobs = 4L, cores = 8L, gpus = 1L, memory = "32GB")
  )
  expect_null(cluster_arguments(NULL, NULL))
})

# A process started in the background by sh, its pid written to a file; R's LD_LIBRARY_PATH is dropped
# (R's own would make the core's Python load another libpython).
start_background <- function(command, args, log, pid_file) {
  script <- sprintf("echo $$ > '%s'; exec env -u LD_LIBRARY_PATH %s > '%s' 2>&1", pid_file,
                    paste(shQuote(c(command, args)), collapse = " "), log)
  system2("sh", c("-c", shQuote(script)), wait = FALSE)
}

wait_for <- function(condition, seconds, what) {
  deadline <- Sys.time() + seconds
  while (Sys.time() < deadline) {
    if (condition()) return(invisible(TRUE))
    Sys.sleep(0.2)
  }
  stop("timed out waiting for ", what)
}

test_that("blur_people(scheduler = ) runs on a Dask cluster and writes what a local run writes", {
  skip_if_no_blur()
  dask <- file.path(dirname(reticulate::py_config()$python), "dask")
  if (!file.exists(dask)) {
    skip_or_fail("the core's environment has no Dask (extra `distributed`)",
                 identical(tolower(Sys.getenv("TRAPBLUR_REQUIRE_DISTRIBUTED")), "true"))
  }
  ex <- trapblur_example(tempfile("tb-cluster-"))
  dir <- tempfile("dask-")
  dir.create(dir)
  scheduler_file <- file.path(dir, "scheduler.json")
  pids <- file.path(dir, c("scheduler.pid", "worker.pid"))
  on.exit(for (pid in pids) if (file.exists(pid)) tools::pskill(as.integer(readLines(pid)), tools::SIGTERM),
          add = TRUE)
  start_background(dask, c("scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                           "--scheduler-file", scheduler_file), file.path(dir, "scheduler.log"), pids[[1]])
  wait_for(function() file.exists(scheduler_file), 60, "the Dask scheduler")
  start_background(dask, c("worker", "--scheduler-file", scheduler_file, "--nthreads", "2", "--no-dashboard",
                           "--local-directory", dir), file.path(dir, "worker.log"), pids[[2]])

  # The example has one image the results do not vouch for: withheld (with its warning) in both runs.
  quietly <- function(expr) {
    withCallingHandlers(expr, trapblur_withheld_warning = function(w) invokeRestart("muffleWarning"))
  }
  local <- quietly(blur_people(ex$images, ex$results, tempfile("local-"), threshold = 0.2, quiet = TRUE))
  on_cluster <- quietly(blur_people(ex$images, ex$results, tempfile("cluster-"), threshold = 0.2, quiet = TRUE,
                                    scheduler = scheduler_file))
  expect_identical(on_cluster[, c("input", "action", "reason")], local[, c("input", "action", "reason")])
  files <- function(run) {
    root <- attr(run, "report")$output
    paths <- list.files(root, recursive = TRUE)
    stats::setNames(unname(tools::md5sum(file.path(root, paths))), paths)
  }
  expect_identical(files(on_cluster), files(local))
  expect_true(any(on_cluster$action == "blurred"))
})
