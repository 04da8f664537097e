#' The detection models trapblur knows, and which are on this machine
#'
#' Lists the models [detect_people()] and [anonymise()] can use by name: the built-in person model
#' (installed by `install_trapblur(detection = TRUE)`) and the MegaDetector releases, which
#' [fetch_model()] downloads once. Any other model file (`.pt` or `.onnx`) can be given to `model` by
#' its path.
#'
#' @return A data frame with one row per model: `name` (what to pass as `model`), `available` (`TRUE`
#'   when its weights are on this machine), `path` (where they are, or `NA`), `description`, `licence`,
#'   `typical_threshold` and `conservative_threshold` (the confidence thresholds the model's authors
#'   recommend: the typical one balances misses and false alarms, the conservative one misses fewer
#'   people), and `downloadable` (`TRUE` when [fetch_model()] can get it).
#' @seealso [fetch_model()], [trapblur_config()].
#' @export
#' @examples
#' if (trapblur_available()) {
#'   list_models()
#' }
list_models <- function() {
  call <- sys.call()[1]
  tb <- trapblur_module(call = call)
  models_frame(with_python_errors(tb$list_models(), call = call))
}

models_frame <- function(models) {
  field <- function(object, name, empty) {
    value <- tryCatch(reticulate::py_get_attr(object, name, silent = TRUE), error = function(e) NULL)
    if (inherits(value, "python.builtin.NoneType")) value <- NULL
    if (inherits(value, "python.builtin.object")) value <- tryCatch(reticulate::py_to_r(value), error = function(e) NULL)
    if (inherits(value, "python.builtin.object")) value <- as.character(reticulate::py_str(value)) # a Path
    if (is.null(value) || length(value) != 1) empty else value
  }
  spec_field <- function(m, name, empty) {
    spec <- tryCatch(reticulate::py_get_attr(m, "spec", silent = TRUE), error = function(e) NULL)
    if (is.null(spec) || inherits(spec, "python.builtin.NoneType")) empty else field(spec, name, empty)
  }
  path <- vapply(models, function(m) {
    p <- field(m, "path", NA_character_)
    if (is.na(p)) NA_character_ else as.character(p)
  }, character(1))
  data.frame(
    name = vapply(models, field, character(1), name = "name", empty = NA_character_),
    available = vapply(models, field, logical(1), name = "available", empty = NA),
    path = path,
    description = vapply(models, field, character(1), name = "description", empty = NA_character_),
    licence = vapply(models, spec_field, character(1), name = "licence", empty = NA_character_),
    typical_threshold = vapply(models, spec_field, numeric(1), name = "typical_threshold", empty = NA_real_),
    conservative_threshold = vapply(models, spec_field, numeric(1), name = "conservative_threshold", empty = NA_real_),
    downloadable = vapply(models, function(m) !is.na(spec_field(m, "url", NA_character_)), logical(1)),
    stringsAsFactors = FALSE
  )
}

#' Download a detection model's weights once
#'
#' Downloads the published weights of a model [list_models()] names (for example MegaDetector v5a,
#' about 280 MB) into trapblur's per-user model folder, with a progress bar, and checks the file against
#' its published checksum before it is put in place, so that a truncated or altered download is never
#' used. An interrupted download resumes where it stopped when you call this again. Afterwards the model
#' is found by name (`detect_people(images, model = "md-v5a")`); [anonymise()] and [detect_people()]
#' use MegaDetector v5a by default once it is there.
#'
#' Without internet access (or when the server cannot be reached) this fails with an error of class
#' `trapblur_fetch_error` that says so. Then download the file on another machine, put it in the folder
#' named by the environment variable `TRAPBLUR_MODEL_DIR`, or pass its path to `model`.
#'
#' @param name Model name, as in `list_models()$name` (for example `"md-v5a"`).
#' @param destination Folder to put the file in, or `NULL` for the per-user model folder
#'   (`TRAPBLUR_CACHE_DIR/models` when that environment variable is set).
#' @param url Download from this address instead of the model's published one (a mirror).
#' @param force If `TRUE`, download again even when a file that matches the checksum is already there.
#' @param quiet If `TRUE`, show no progress bar.
#' @return The path of the weights file (invisibly).
#' @seealso [list_models()].
#' @export
#' @examples
#' \dontrun{
#' fetch_model("md-v5a")
#' anonymise("D:/cameras/2024", output = "D:/share/2024", model = "md-v5a")
#' }
fetch_model <- function(name, destination = NULL, url = NULL, force = FALSE, quiet = FALSE) {
  call <- sys.call()[1]
  name <- check_string(name, arg = "name", call = call)
  destination <- check_string(destination, arg = "destination", call = call, null_ok = TRUE)
  if (!is.null(destination)) destination <- enc2utf8(path.expand(destination))
  url <- check_string(url, arg = "url", call = call, null_ok = TRUE)
  force <- check_flag(force, call = call)
  quiet <- check_flag(quiet, call = call)
  tb <- trapblur_module(call = call)
  progress <- progress_callback(quiet, sprintf("Downloading %s", name), envir = environment(), unit = "bytes")
  path <- with_python_errors(tb$fetch_model(name, destination = destination, url = url, force = force,
                                            progress = progress), call = call)
  path <- as.character(path)
  if (!quiet) {
    cli::cli_inform(c(v = "{.val {name}} is at {.path {path}}."), class = "trapblur_summary_message")
  }
  invisible(path)
}
