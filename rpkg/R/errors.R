# Conditions. Every error this package signals has class `trapblur_error`, plus one class per kind:
#
#   trapblur_options_error           an argument is wrong (checked in R, or by Python's OptionsError)
#   trapblur_results_format_error    a results file is malformed (Python's ResultsFormatError, read_md_results())
#   trapblur_output_folder_error     the output folder cannot be used (Python's OutputFolderError)
#   trapblur_image_error             one image cannot be processed (Python's ImageError)
#   trapblur_python_missing_error    no Python with trapblur was found
#   trapblur_install_error           install_trapblur() could not make a working environment
#   trapblur_model_error             a detection model cannot be found, fetched or loaded (Python's ModelError)
#   trapblur_fetch_error             a model download failed (Python's FetchError; also a trapblur_model_error)
#   trapblur_python_error            anything raised by Python (added to every Python-side error)
#
# Python exception classes are mapped by name: `trapblur.SomeNewError` becomes `trapblur_some_new_error`,
# so new Python subclasses need no change here. Messages are re-spelled in R terms by r_wording(); the
# Python original stays in the condition's `python_message`, the R argument it is about in `argument`.

trapblur_abort <- function(message, class = NULL, call = NULL, ...) {
  rlang::abort(message, class = unique(c(class, "trapblur_error")), call = call, ...)
}

options_error <- function(message, call = NULL) {
  trapblur_abort(message, class = "trapblur_options_error", call = call)
}

#' Run a Python call and turn any Python exception into a classed R error.
#'
#' reticulate 1.28 signals Python exceptions as `Rcpp::exception` with the exception only reachable through
#' `py_last_error()`; reticulate >= 1.29 signals the exception object itself. Both are handled.
#' @noRd
with_python_errors <- function(expr, call = NULL) {
  # The core's log warnings during the call become R warnings (class trapblur_python_warning), in R terms.
  helpers <- tryCatch(r_helpers(), error = function(e) NULL)
  collector <- if (is.null(helpers)) NULL else tryCatch(helpers$collect_warnings(), error = function(e) NULL)
  on.exit(if (!is.null(collector)) {
    said <- tryCatch(unlist(helpers$collected_warnings(collector)), error = function(e) character())
    for (message in r_wording(said)) {
      rlang::warn(message, class = c("trapblur_python_warning", "trapblur_warning"), call = call)
    }
  }, add = TRUE)
  withCallingHandlers(
    expr,
    error = function(e) {
      if (inherits(e, "trapblur_error")) {
        return() # ours already (for example raised by an R callback): let it through unchanged
      }
      converted <- python_condition(e, call = call)
      if (!is.null(converted)) stop(converted)
    }
  )
}

# The R package's own Python helpers (inst/r-helpers), once Python is started.
r_helpers <- function() {
  if (is.null(.trapblur$helpers)) {
    .trapblur$helpers <- reticulate::import_from_path("trapblur_r_helpers", system.file("r-helpers", package = "trapblur"),
                                                      convert = TRUE)
  }
  .trapblur$helpers
}

python_condition <- function(e, call = NULL) {
  last <- tryCatch(reticulate::py_last_error(), error = function(err) NULL)
  exc <- NULL
  if (inherits(e, "python.builtin.BaseException")) {
    exc <- e
  } else if (inherits(e, "Rcpp::exception") && !is.null(last) && is.character(last$value) &&
             grepl(last$value, conditionMessage(e), fixed = TRUE)) {
    # py_last_error() is not cleared between calls: only trust it when it describes this error.
    exc <- attr(last, "exception", exact = TRUE)
  } else {
    return(NULL)
  }
  # An exception object's R class lists its Python class hierarchy, e.g.
  # "trapblur.errors.ResultsFormatError", "trapblur.errors.TrapblurError", "python.builtin.Exception", ...
  hierarchy <- if (is.null(exc)) character() else class(exc)
  hierarchy <- hierarchy[grepl(".", hierarchy, fixed = TRUE)]
  type <- if (length(hierarchy) > 0) sub("^.*\\.", "", hierarchy[[1]]) else (last$type %||% "Exception")
  message <- last$value %||% conditionMessage(e)
  if (inherits(e, "python.builtin.BaseException")) {
    message <- tryCatch(as.character(reticulate::py_str(e)), error = function(err) message)
  }
  ours <- hierarchy[startsWith(hierarchy, "trapblur.")]
  classes <- if (length(ours) > 0) {
    paste0("trapblur_", snake_case(sub("^Trapblur", "", sub("^.*\\.", "", ours))))
  } else {
    character()
  }
  if (length(ours) == 0) {
    message <- sprintf("Python error %s: %s", type, message)
  }
  # The argument an OptionsError is about, as the R argument of the same meaning.
  argument <- if (is.null(exc)) NULL else tryCatch({
    value <- reticulate::py_get_attr(exc, "argument", silent = TRUE)
    value <- if (inherits(value, "python.builtin.object")) reticulate::py_to_r(value) else value
    if (is.character(value) && length(value) == 1) r_argument(value) else NULL
  }, error = function(err) NULL)
  rlang::error_cnd(
    class = unique(c(setdiff(classes, "trapblur_error"), "trapblur_python_error", "trapblur_error")),
    message = r_wording(message), call = call, python_type = type, argument = argument,
    python_message = message, python_traceback = last$traceback %||% NA_character_
  )
}

snake_case <- function(x) {
  tolower(gsub("([a-z0-9])([A-Z])", "\\1_\\2", x))
}

`%||%` <- function(x, y) if (is.null(x)) y else x
