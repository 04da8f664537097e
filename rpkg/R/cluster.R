# Running on a Dask cluster: `scheduler =` and `cluster =` of blur_people(), detect_people() and
# anonymise(), checked here and passed to the Python core's connect_cluster() (trapblur[distributed]).

cluster_kinds <- c("local", "slurm", "pbs", "sge", "lsf")
cluster_whole_settings <- c("jobs", "cores", "gpus", "processes", "task_images")
cluster_text_settings <- c("memory", "walltime", "queue", "account")

# The keyword arguments of the core's connect_cluster(), or NULL to run on this computer.
cluster_arguments <- function(scheduler, cluster, call = NULL) {
  scheduler <- check_string(scheduler, arg = "scheduler", call = call, null_ok = TRUE)
  if (is.null(cluster)) {
    return(if (is.null(scheduler)) NULL else list(scheduler = path.expand(scheduler)))
  }
  if (!is.null(scheduler)) {
    options_error("Give either `scheduler` (a running Dask cluster) or `cluster` (one to start), not both.",
                  call = call)
  }
  if (is.character(cluster)) {
    cluster <- list(type = cluster)
  }
  must <- "a cluster type (\"local\", \"slurm\", ...) or a named list like `list(type = \"slurm\", jobs = 4, cores = 8, memory = \"32GB\")`"
  if (!is.list(cluster) || is.null(names(cluster)) || any(!nzchar(names(cluster)))) {
    arg_error("cluster", must, cluster, call)
  }
  unknown <- setdiff(names(cluster), c("type", cluster_whole_settings, cluster_text_settings, "worker_timeout"))
  if (length(unknown) > 0) {
    options_error(sprintf("`cluster` has unknown setting%s %s; known: type, %s, worker_timeout.",
                          if (length(unknown) > 1) "s" else "", paste0("`", unknown, "`", collapse = ", "),
                          paste(c(cluster_whole_settings, cluster_text_settings), collapse = ", ")), call = call)
  }
  out <- list(cluster = check_choice(cluster$type, cluster_kinds, arg = "cluster$type", call = call))
  for (name in intersect(names(cluster), cluster_whole_settings)) {
    value <- cluster[[name]]
    least <- if (name == "gpus") 0 else 1
    if (!is_number(value) || value < least || value != round(value)) {
      arg_error(paste0("cluster$", name), sprintf("a whole number of at least %d", least), value, call)
    }
    out[[name]] <- as.integer(value)
  }
  for (name in intersect(names(cluster), cluster_text_settings)) {
    out[[name]] <- check_string(cluster[[name]], arg = paste0("cluster$", name), call = call)
  }
  if (!is.null(cluster$worker_timeout)) {
    out$worker_timeout <- check_number_between(cluster$worker_timeout, 0, Inf, arg = "cluster$worker_timeout",
                                               call = call, lower_open = TRUE)
  }
  out
}

# The core's Cluster for `arguments` (from cluster_arguments()), or NULL. The caller closes it.
connect_cluster <- function(tb, arguments, call = NULL) {
  if (is.null(arguments)) {
    return(NULL)
  }
  if (!has_python_function(tb, "connect_cluster")) {
    trapblur_abort(
      c(sprintf("The installed trapblur Python core (%s) cannot run on a Dask cluster.", core_version(tb)),
        "Update it with `trapblur::install_trapblur(distributed = TRUE)`."),
      class = "trapblur_cluster_error", call = call
    )
  }
  with_python_errors(do.call(tb$connect_cluster, arguments), call = call)
}
