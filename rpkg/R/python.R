# Finding, starting and installing the Python core.
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
      python_missing_error(sprintf(
        "Python \"%s\" (from %s) cannot import trapblur: %s%s",
        reticulate::py_exe(), candidate$source, first_line(conditionMessage(e)),
        if (identical(candidate$source, "this R session")) " (Python was already started in this R session: restart R)." else "."
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
#' Looks for Python in the order described in [install_trapblur()] and checks that it can import the
#' `trapblur` Python package. This starts Python (once per R session) if a candidate is found; it never
#' installs anything. Use it to guard code that needs the Python core, as the examples of this package do.
#'
#' @param detection If `TRUE`, also require the detection part of the core ([detect_people()],
#'   [anonymise()]).
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
  if (identical(python_candidate()$source, "none")) {
    return(FALSE)
  }
  module <- tryCatch(suppressWarnings(trapblur_module()), error = function(e) NULL)
  if (is.null(module)) {
    return(FALSE)
  }
  !isTRUE(detection) || has_python_function(module, "detect")
}

#' Report which Python and trapblur core this R session uses
#'
#' @return A list of class `trapblur_config` (printed as a summary) with elements `r_package` (this
#'   package's version), `available` (logical), `python` (path of the Python executable, or `NA`),
#'   `python_source` (where it was found: `"RETICULATE_PYTHON"`, `"virtualenv \"r-trapblur\""`,
#'   `"this R session"` or `"none"`), `python_version`, `core_version` (the Python package's version),
#'   `core_path`, `detection` (whether [detect_people()] can work), `models` (a data frame of the
#'   detection models the core knows, or `NULL`), `reticulate` (its version) and `error` (why the core
#'   is not available, or `NA`).
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
    available = FALSE,
    python = candidate$python,
    python_source = candidate$source,
    python_version = NA_character_,
    core_version = NA_character_,
    core_path = NA_character_,
    detection = FALSE,
    models = NULL,
    reticulate = as.character(utils::packageVersion("reticulate")),
    error = NA_character_
  )
  module <- if (identical(candidate$source, "none")) {
    out$error <- "No Python with the trapblur package was found; run install_trapblur()."
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
    out$core_path <- tryCatch(as.character(reticulate::py_get_attr(module, "__file__")),
                              error = function(e) NA_character_)
    out$detection <- has_python_function(module, "detect")
    if (has_python_function(module, "list_models")) {
      out$models <- tryCatch(models_frame(module$list_models()), error = function(e) NULL)
    }
  }
  structure(out, class = "trapblur_config")
}

models_frame <- function(models) {
  field <- function(m, name, empty) {
    value <- tryCatch(reticulate::py_get_attr(m, name, silent = TRUE), error = function(e) NULL)
    if (inherits(value, "python.builtin.object")) value <- reticulate::py_to_r(value)
    if (is.null(value) || length(value) != 1) empty else value
  }
  data.frame(
    name = vapply(models, field, character(1), name = "name", empty = NA_character_),
    description = vapply(models, field, character(1), name = "description", empty = NA_character_),
    available = vapply(models, field, logical(1), name = "available", empty = NA),
    path = vapply(models, function(m) as.character(field(m, "path", NA_character_)), character(1)),
    stringsAsFactors = FALSE
  )
}

#' @export
format.trapblur_config <- function(x, ...) {
  na <- function(v) if (is.null(v) || is.na(v)) "(none)" else v
  lines <- c(
    sprintf("trapblur R package  %s (reticulate %s)", x$r_package, x$reticulate),
    sprintf("Python              %s [%s]", na(x$python), x$python_source),
    sprintf("Python version      %s", na(x$python_version)),
    sprintf("trapblur core       %s", if (x$available) sprintf("%s (%s)", x$core_version, x$core_path) else "not available"),
    sprintf("detection           %s", if (x$detection) "available" else "not available")
  )
  if (!is.null(x$models) && nrow(x$models) > 0) {
    lines <- c(lines, sprintf("models              %s", paste(
      sprintf("%s%s", x$models$name, ifelse(x$models$available %in% TRUE, "", " (not installed)")), collapse = ", ")))
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

#' Install the trapblur Python core
#'
#' Creates (or reuses) the Python virtual environment `"r-trapblur"` and installs the `trapblur` Python
#' package pinned to the version of this R package, from the package registry (PyPI) or from a local
#' checkout of the trapblur repository (for development and CI). Safe to run again: it reuses the
#' environment and reinstalls or upgrades the core. Restart R afterwards if Python was already started
#' in this session.
#'
#' Python is found in this order by every function of the package: the Python already started in the R
#' session, the `RETICULATE_PYTHON` environment variable, the `"r-trapblur"` virtualenv made by this
#' function. If you pass another `envname`, set `RETICULATE_PYTHON` to its Python (the path this
#' function returns).
#'
#' @param source `NULL` to install `trapblur==<version>` from the registry, or the path of a local
#'   checkout of the trapblur repository (the folder holding `pyproject.toml`), a wheel or a source archive.
#'   Defaults to the environment variable `TRAPBLUR_SOURCE` when it is set.
#' @param envname Name of the virtualenv (under `reticulate::virtualenv_root()`).
#' @param python Python used to create the virtualenv when it does not exist yet; `NULL` lets
#'   reticulate choose. On Linux a system Python (`/usr/bin/python3`) is the safest choice.
#' @param extras Optional extras of the Python package to install as well, for example `"detect"`.
#' @param force If `TRUE`, delete and recreate the virtualenv first.
#' @param quiet If `TRUE`, print no progress messages.
#' @return The path of the virtualenv's Python executable, invisibly.
#' @seealso [trapblur_available()], [trapblur_config()].
#' @export
#' @examples
#' \dontrun{
#' # once, from the registry
#' install_trapblur()
#' # or from a local checkout (development, CI)
#' install_trapblur(source = "~/src/trapblur")
#' }
install_trapblur <- function(source = NULL, envname = default_envname, python = NULL, extras = character(),
                             force = FALSE, quiet = FALSE) {
  call <- sys.call()[1]
  if (is.null(source) && nzchar(Sys.getenv("TRAPBLUR_SOURCE"))) {
    source <- Sys.getenv("TRAPBLUR_SOURCE")
  }
  source <- check_string(source, arg = "source", call = call, null_ok = TRUE)
  envname <- check_string(envname, arg = "envname", call = call)
  python <- check_string(python, arg = "python", call = call, null_ok = TRUE)
  force <- check_flag(force, call = call)
  quiet <- check_flag(quiet, call = call)
  if (!is.character(extras) || anyNA(extras)) {
    arg_error("extras", "a character vector", extras, call)
  }
  version <- release_version(as.character(utils::packageVersion("trapblur")))
  extras_spec <- if (length(extras) > 0) sprintf("[%s]", paste(extras, collapse = ",")) else ""

  if (is.null(source)) {
    spec <- sprintf("trapblur%s==%s", extras_spec, version)
  } else {
    path <- normalizePath(path.expand(source), winslash = "/", mustWork = FALSE)
    if (!file.exists(path)) {
      options_error(sprintf("`source` must be a local trapblur checkout, wheel or archive; \"%s\" does not exist.",
                            source), call = call)
    }
    if (dir.exists(path)) {
      pyproject <- file.path(path, "pyproject.toml")
      if (!file.exists(pyproject)) {
        options_error(sprintf("`source` must be a trapblur checkout holding pyproject.toml; \"%s\" has none.",
                              source), call = call)
      }
      found <- checkout_version(pyproject)
      if (!is.na(found) && !identical(release_version(found), version)) {
        cli::cli_warn("The checkout at {.path {path}} is trapblur {found}, not {version} like this R package.")
      }
    }
    spec <- paste0(path, extras_spec)
  }

  # A Python started from R inherits R's LD_LIBRARY_PATH, which can make it load another libpython
  # (pip then fails on _ssl): run installer subprocesses without it.
  if (.Platform$OS.type == "unix" && nzchar(Sys.getenv("LD_LIBRARY_PATH"))) {
    old <- Sys.getenv("LD_LIBRARY_PATH")
    Sys.unsetenv("LD_LIBRARY_PATH")
    on.exit(Sys.setenv(LD_LIBRARY_PATH = old), add = TRUE)
  }
  if (force && reticulate::virtualenv_exists(envname)) {
    if (!quiet) cli::cli_inform("Removing virtualenv {.val {envname}}.")
    reticulate::virtualenv_remove(envname, confirm = FALSE)
  }
  if (!reticulate::virtualenv_exists(envname)) {
    if (!quiet) cli::cli_inform("Creating virtualenv {.val {envname}}.")
    args <- list(envname = envname)
    if (!is.null(python)) args$python <- python
    do.call(reticulate::virtualenv_create, args)
  }
  if (!quiet) cli::cli_inform("Installing {.code {spec}} into {.val {envname}}.")
  reticulate::virtualenv_install(envname, packages = spec, ignore_installed = FALSE)

  env_python <- reticulate::virtualenv_python(envname)
  installed <- suppressWarnings(system2(env_python, c("-c", shQuote("import trapblur; print(trapblur.__version__)")),
                                        stdout = TRUE, stderr = TRUE))
  status <- attr(installed, "status")
  if (!is.null(status) && status != 0) {
    trapblur_abort(c(sprintf("trapblur was installed into \"%s\" but cannot be imported:", envname),
                     utils::tail(installed, 5)), class = "trapblur_install_error", call = call)
  }
  installed <- utils::tail(installed, 1)
  if (!quiet) {
    cli::cli_inform(c(v = "trapblur {installed} is installed in virtualenv {.val {envname}} ({.path {env_python}})."))
    if (reticulate::py_available(initialize = FALSE)) {
      cli::cli_inform(c(i = "Python is already running in this R session: restart R to use it."))
    }
    if (!identical(envname, default_envname)) {
      cli::cli_inform(c(i = "Set {.envvar RETICULATE_PYTHON} to {.path {env_python}} to use it."))
    }
  }
  invisible(env_python)
}

checkout_version <- function(pyproject) {
  lines <- readLines(pyproject, warn = FALSE, encoding = "UTF-8")
  hit <- grep("^version[[:space:]]*=", lines, value = TRUE)
  if (length(hit) == 0) {
    return(NA_character_)
  }
  sub("^version[[:space:]]*=[[:space:]]*[\"']([^\"']+)[\"'].*$", "\\1", hit[[1]])
}
