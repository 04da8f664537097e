# Finding and starting the Python core (installing it: install.R).
#
# Nothing here runs at library(trapblur): Python starts on the first call that needs it
# (blur_people(), detect_people(), anonymise(), trapblur_available(), trapblur_config()).
# Discovery order, as R users of reticulate expect:
#   1. the Python this R session already started (reticulate can only have one per session);
#   2. RETICULATE_PYTHON, if set;
#   3. the "r-trapblur" virtualenv made by install_trapblur();
#   4. otherwise an error telling the user to run install_trapblur().

.trapblur <- new.env(parent = emptyenv())

default_envname <- "r-trapblur"

# Where Python would come from, without starting it.
python_candidate <- function() {
  if (reticulate::py_available(initialize = FALSE)) {
    return(list(python = reticulate::py_exe(), source = "this R session"))
  }
  env <- Sys.getenv("RETICULATE_PYTHON", "")
  if (nzchar(env)) {
    return(list(python = env, source = "RETICULATE_PYTHON"))
  }
  if (isTRUE(tryCatch(reticulate::virtualenv_exists(default_envname), error = function(e) FALSE))) {
    python <- tryCatch(reticulate::virtualenv_python(default_envname), error = function(e) NA_character_)
    return(list(python = python, source = sprintf("virtualenv \"%s\"", default_envname)))
  }
  list(python = NA_character_, source = "none")
}

python_missing_error <- function(detail, call = NULL) {
  trapblur_abort(
    c(detail,
      "Run `trapblur::install_trapblur()` once (it makes the Python environment \"r-trapblur\"), then restart R;",
      "or set the environment variable RETICULATE_PYTHON to a Python that has the trapblur package."),
    class = "trapblur_python_missing_error", call = call
  )
}

# The imported Python module `trapblur`, starting Python on first use.
trapblur_module <- function(call = NULL) {
  if (!is.null(.trapblur$module)) {
    return(.trapblur$module)
  }
  candidate <- python_candidate()
  if (identical(candidate$source, "none")) {
    python_missing_error("No Python with the trapblur package was found.", call = call)
  }
  if (!reticulate::py_available(initialize = FALSE)) {
    if (is.na(candidate$python) || !file.exists(candidate$python)) {
      python_missing_error(sprintf("The Python named by %s (\"%s\") does not exist.",
                                   candidate$source, candidate$python), call = call)
    }
    if (identical(Sys.getenv("RETICULATE_PYTHON", unset = NA), "")) {
      # reticulate 1.28 takes an empty RETICULATE_PYTHON as set and would ignore use_python().
      Sys.unsetenv("RETICULATE_PYTHON")
    }
    problem <- NULL
    ok <- withCallingHandlers(
      tryCatch({
        reticulate::use_python(candidate$python, required = TRUE)
        reticulate::py_available(initialize = TRUE)
      }, error = function(e) {
        problem <<- first_line(conditionMessage(e))
        FALSE
      }),
      warning = function(w) {
        problem <<- first_line(conditionMessage(w))
        invokeRestart("muffleWarning")
      }
    )
    if (!isTRUE(ok)) {
      python_missing_error(sprintf("Python \"%s\" (from %s) could not be started%s.",
                                   candidate$python, candidate$source,
                                   if (is.null(problem)) "" else paste0(": ", problem)), call = call)
    }
  }
  module <- tryCatch(
    reticulate::import("trapblur", convert = TRUE),
    error = function(e) {
      hint <- switch(candidate$source,
        "this R session" = " (Python was already started in this R session, by reticulate or another package: restart R).",
        "RETICULATE_PYTHON" = " (unset RETICULATE_PYTHON to use the environment install_trapblur() makes).",
        " (remake the environment with `trapblur::install_trapblur(force = TRUE)`, then restart R)."
      )
      python_missing_error(sprintf(
        "Python \"%s\" (from %s) cannot import trapblur: %s%s",
        reticulate::py_exe(), candidate$source, first_line(conditionMessage(e)), hint
      ), call = call)
    }
  )
  .trapblur$module <- module
  .trapblur$source <- candidate$source
  check_core_version(module)
  module
}

first_line <- function(x) {
  sub("\n.*$", "", trimws(x))
}

core_version <- function(module) {
  tryCatch(as.character(reticulate::py_get_attr(module, "__version__")), error = function(e) NA_character_)
}

# The R package and the Python core are released together with the same version number.
check_core_version <- function(module) {
  core <- core_version(module)
  mine <- as.character(utils::packageVersion("trapblur"))
  if (!is.na(core) && !identical(release_version(core), release_version(mine))) {
    cli::cli_warn(c(
      "The trapblur Python core is version {core} but this R package is {mine}.",
      i = "Run {.code trapblur::install_trapblur()} and restart R to install the matching core."
    ), class = "trapblur_version_warning")
  }
  invisible(core)
}

# "0.1.0.9000" (R development version) and "0.1.0.dev3" (Python) both release as "0.1.0".
release_version <- function(x) {
  parts <- strsplit(sub("^([0-9.]+).*$", "\\1", x), ".", fixed = TRUE)[[1]]
  paste(utils::head(parts[nzchar(parts)], 3), collapse = ".")
}

has_python_function <- function(module, name) {
  isTRUE(tryCatch(reticulate::py_has_attr(module, name), error = function(e) FALSE))
}

#' Is the trapblur Python core available?
#'
#' Looks for Python in the order described in [trapblur_config()] and checks that it can import the
#' `trapblur` Python package. This starts Python (once per R session) if a candidate is found; it never
#' installs anything. Use it to guard code that needs the Python core, as the examples of this package do.
#'
#' @param detection If `TRUE`, also require that [detect_people()] and [anonymise()] can really run here:
#'   the detection packages import and a detection model's file is on this machine (the built-in model
#'   that `install_trapblur(detection = TRUE)` installs, or MegaDetector after [fetch_model()]).
#'   `trapblur_config()$detection_problem` says what is missing when it is `FALSE`.
#' @return `TRUE` or `FALSE`.
#' @seealso [trapblur_config()] to see what was found and why, [install_trapblur()] to set it up.
#' @export
#' @examples
#' if (trapblur_available()) {
#'   message("trapblur's Python core is ready")
#' } else {
#'   message("run install_trapblur() first")
#' }
trapblur_available <- function(detection = FALSE) {
  detection <- check_flag(detection, call = sys.call()[1])
  if (identical(python_candidate()$source, "none")) {
    return(FALSE)
  }
  module <- tryCatch(suppressWarnings(trapblur_module()), error = function(e) NULL)
  if (is.null(module)) {
    return(FALSE)
  }
  !detection || detection_status(module)$ok
}

# Whether detect() can run here: list(ok, model, problem), `problem` in R terms. Imports the detection
# packages (a few seconds, once per session) but loads no model.
detection_status <- function(module, model = NULL) {
  no <- function(problem) list(ok = FALSE, model = NA_character_, problem = problem)
  if (!has_python_function(module, "detect")) {
    return(no(sprintf("the installed trapblur Python core (%s) has no detection", core_version(module))))
  }
  detection <- tryCatch(reticulate::import("trapblur.detection", convert = TRUE), error = function(e) NULL)
  if (is.null(detection) || !has_python_function(detection, "check_detection")) {
    return(no(sprintf(
      "the installed trapblur Python core (%s) is older than this R package: run `trapblur::install_trapblur(detection = TRUE)`",
      core_version(module))))
  }
  tryCatch({
    info <- with_python_errors(detection$check_detection(model))
    list(ok = TRUE, model = as.character(reticulate::py_get_attr(info, "name")), problem = NA_character_)
  }, error = function(e) no(conditionMessage(e)))
}

#' Which Python and trapblur core this R session uses, and whether detection works
#'
#' Says where Python came from and whether the trapblur Python core, and its detection part, really work
#' here. Python is looked for in this order (the first one found is used):
#'
#' 1. the Python already started in this R session (by trapblur, reticulate or another package: an R
#'    session can only ever start one);
#' 2. the Python named by the environment variable `RETICULATE_PYTHON`;
#' 3. the virtual environment `"r-trapblur"` that [install_trapblur()] makes.
#'
#' Calling it starts Python when one is found (but installs nothing).
#'
#' @return A list of class `trapblur_config` (printed as a summary) with elements `r_package` (this
#'   package's version), `bundled_core` (version of the Python core inside this R package, which
#'   [install_trapblur()] installs), `available` (logical), `python` (path of the Python executable, or
#'   `NA`), `python_source` (where it came from: `"this R session"`, `"RETICULATE_PYTHON"`,
#'   `"virtualenv \"r-trapblur\""` or `"none"`), `python_version`, `core_version` (the version Python
#'   imports), `core_path`, `detection` (`TRUE` when [detect_people()] can run: the detection packages
#'   import and a model file is here), `detection_model` (the model it would use), `detection_problem`
#'   (why detection cannot run, or `NA`), `models` (the data frame of [list_models()], or `NULL`),
#'   `reticulate` (its version) and `error` (why the core is not available, or `NA`).
#' @seealso [trapblur_available()], [install_trapblur()].
#' @export
#' @examples
#' cfg <- trapblur_config()
#' cfg$available
#' cfg
trapblur_config <- function() {
  candidate <- python_candidate()
  out <- list(
    r_package = as.character(utils::packageVersion("trapblur")),
    bundled_core = bundled_core_version(),
    available = FALSE,
    python = candidate$python,
    python_source = candidate$source,
    python_version = NA_character_,
    core_version = NA_character_,
    core_path = NA_character_,
    detection = FALSE,
    detection_model = NA_character_,
    detection_problem = NA_character_,
    models = NULL,
    reticulate = as.character(utils::packageVersion("reticulate")),
    error = NA_character_
  )
  module <- if (identical(candidate$source, "none")) {
    out$error <- "No Python with the trapblur package was found: run `trapblur::install_trapblur()`, then restart R."
    NULL
  } else {
    tryCatch(suppressWarnings(trapblur_module()), error = function(e) {
      out$error <<- conditionMessage(e)
      NULL
    })
  }
  if (reticulate::py_available(initialize = FALSE)) {
    out$python <- reticulate::py_exe()
    out$python_version <- tryCatch(as.character(reticulate::py_version()), error = function(e) NA_character_)
    if (!is.null(.trapblur$source)) out$python_source <- .trapblur$source
  }
  if (!is.null(module)) {
    out$available <- TRUE
    out$core_version <- core_version(module)
    out$core_path <- tryCatch(dirname(as.character(reticulate::py_get_attr(module, "__file__"))),
                              error = function(e) NA_character_)
    status <- detection_status(module)
    out$detection <- status$ok
    out$detection_model <- status$model
    out$detection_problem <- status$problem
    out$models <- tryCatch(models_frame(module$list_models()), error = function(e) NULL)
  }
  structure(out, class = "trapblur_config")
}

# The version in the Python core this R package carries (inst/python), without Python.
bundled_core_version <- function() {
  file <- system.file("python", "python", "trapblur", "_version.py", package = "trapblur")
  if (!nzchar(file)) {
    return(NA_character_)
  }
  line <- grep("__version__", readLines(file, warn = FALSE), value = TRUE)
  if (length(line) == 0) NA_character_ else sub("^[^\"']*[\"']([^\"']+)[\"'].*$", "\\1", line[[1]])
}

#' @export
format.trapblur_config <- function(x, ...) {
  na <- function(v) if (is.null(v) || length(v) == 0 || is.na(v)) "(none)" else v
  lines <- c(
    sprintf("trapblur R package  %s (carries Python core %s; reticulate %s)", x$r_package, na(x$bundled_core),
            x$reticulate),
    sprintf("Python              %s [from %s]", na(x$python), x$python_source),
    sprintf("Python version      %s", na(x$python_version)),
    sprintf("trapblur core       %s", if (x$available) sprintf("%s (%s)", x$core_version, x$core_path) else "not available"),
    sprintf("detection           %s", if (isTRUE(x$detection)) sprintf("works (model %s)", na(x$detection_model))
            else if (x$available) sprintf("does not work: %s", na(x$detection_problem)) else "not available")
  )
  if (!is.null(x$models) && nrow(x$models) > 0) {
    lines <- c(lines, sprintf("models              %s", paste(
      sprintf("%s%s", x$models$name, ifelse(x$models$available %in% TRUE, "", " (not here)")), collapse = ", ")))
  }
  if (!x$available) {
    lines <- c(lines, sprintf("problem             %s", x$error))
  }
  lines
}

#' @export
print.trapblur_config <- function(x, ...) {
  cat(format(x), sep = "\n")
  invisible(x)
}
