require_detection <- function(tb, what, call) {
  if (!has_python_function(tb, what)) {
    trapblur_abort(
      c(sprintf("The installed trapblur Python core (%s) has no detection (`trapblur.%s`).", core_version(tb), what),
        "Update it with `trapblur::install_trapblur()`, or run MegaDetector yourself and use `blur_people()`."),
      class = "trapblur_detection_unavailable_error", call = call
    )
  }
}

check_dots_named <- function(dots, call) {
  if (length(dots) > 0 && (is.null(names(dots)) || any(!nzchar(names(dots))))) {
    options_error("Extra arguments in `...` must be named, like `batch_size = 4`.", call = call)
  }
  # NA would reach Python as the string "NA": make it None.
  lapply(dots, function(v) if (length(v) == 1 && is.atomic(v) && is.na(v)) NULL else v)
}

#' Find people (and animals and vehicles) in camera-trap images
#'
#' Runs the detector of the trapblur Python core over a folder of images and returns its detections.
#' The results are also written as a MegaDetector results file (`output_json`), which [blur_people()]
#' and other camera-trap tools read.
#'
#' @param images Folder of images.
#' @param model Detection model: `NULL` for the core's default, a name listed in
#'   `trapblur_config()$models`, or the path of a weights file (for example a MegaDetector `.pt` file).
#' @param output_json Path of the MegaDetector results file to write, or `NULL` for a temporary file.
#' @param recursive If `TRUE`, also look in sub-folders.
#' @param device `NULL` (automatic), `"cpu"` or, for example, `"cuda"`.
#' @param include_empty Passed to [read_md_results()]: also return one row per image without detections.
#' @param quiet If `TRUE`, show no progress bar or summary.
#' @inheritParams blur_people
#' @param ... Further named options of the Python function `trapblur.detect()`.
#' @return A data frame with one row per detection, as from [read_md_results()], read from `output_json`;
#'   its attribute `"results_json"` is that file's path.
#' @seealso [anonymise()] to detect and blur in one step.
#' @export
#' @examples
#' ex <- trapblur_example()
#' if (trapblur_available(detection = TRUE)) {
#'   found <- detect_people(ex$images, output_json = tempfile(fileext = ".json"))
#'   table(found$category)
#' }
detect_people <- function(images, model = NULL, output_json = NULL, recursive = TRUE, device = NULL,
                          include_empty = FALSE, quiet = FALSE, ..., scheduler = NULL, cluster = NULL) {
  call <- sys.call()[1]
  images <- check_existing_dir(images, call = call)
  model <- check_string(model, call = call, null_ok = TRUE)
  output_json <- check_string(output_json, arg = "output_json", call = call, null_ok = TRUE)
  recursive <- check_flag(recursive, call = call)
  device <- check_string(device, call = call, null_ok = TRUE)
  include_empty <- check_flag(include_empty, call = call)
  quiet <- check_flag(quiet, call = call)
  dots <- check_dots_named(list(...), call = call)
  where <- cluster_arguments(scheduler, cluster, call = call)
  if (model_is_path(model)) model <- enc2utf8(path.expand(model))
  if (is.null(output_json)) {
    output_json <- tempfile("trapblur-detections-", fileext = ".json")
  } else {
    output_json <- enc2utf8(path.expand(output_json))
  }

  tb <- trapblur_module(call = call)
  require_detection(tb, "detect", call)
  client <- connect_cluster(tb, where, call = call)
  if (!is.null(client)) on.exit(client$close(), add = TRUE)
  args <- c(list(images), list(model = model, output_json = output_json, recursive = recursive,
                               device = device,
                               progress = progress_callback(quiet, "Detecting", envir = environment()),
                               client = client),
            dots)
  found <- with_python_errors(do.call(tb$detect, args), call = call)
  if (!file.exists(output_json)) {
    # Older cores return Results without writing the file: write it (format 1.5) from Python.
    with_python_errors(tb$write_results(found, output_json), call = call)
  }
  out <- read_md_results(output_json, include_empty = include_empty)
  attr(out, "results_json") <- output_json
  if (!quiet) {
    n_images <- length(unique(read_md_results(output_json, include_empty = TRUE)$file))
    n_people <- sum(out$category %in% "person")
    cli::cli_inform(c(v = "Found {nrow(out)} detection{?s} ({n_people} of them person) in {n_images} image{?s}.",
                      i = "Results: {.path {output_json}}."), class = "trapblur_summary_message")
  }
  out
}

model_is_path <- function(model) {
  !is.null(model) && (grepl("[/\\\\]", model) || grepl("\\.(pt|pth|onnx|torchscript)$", model) ||
                        file.exists(path.expand(model)))
}

#' Detect and blur people in one step
#'
#' Runs the core's detector over `images` and blurs what it finds, writing the anonymised copy to
#' `output` (the same as [detect_people()] followed by [blur_people()], without the intermediate file).
#'
#' @inheritParams blur_people
#' @inheritParams detect_people
#' @param ... Further named options of the Python function `trapblur.anonymise()`.
#' @return The per-image data frame described in [blur_people()].
#' @export
#' @examples
#' ex <- trapblur_example()
#' if (trapblur_available(detection = TRUE)) {
#'   res <- anonymise(ex$images, output = tempfile("shared-"))
#'   table(res$action)
#' }
anonymise <- function(images, output, model = NULL, device = NULL, threshold = 0.1, strength = 1,
                      categories = "person", padding = 0.1, shape = c("rectangle", "ellipse"),
                      method = c("gaussian", "pixelate", "fill"), copy_unlisted = FALSE,
                      link_unchanged = FALSE, overwrite = FALSE, workers = NULL,
                      jpeg_mode = c("lossless", "reencode"), corrections = NULL, quiet = FALSE, ...,
                      scheduler = NULL, cluster = NULL) {
  call <- sys.call()[1]
  images <- check_existing_dir(images, call = call)
  output <- check_output_dir(output, images, call = call)
  corrections <- corrections_argument(corrections, call = call)
  model <- check_string(model, call = call, null_ok = TRUE)
  device <- check_string(device, call = call, null_ok = TRUE)
  options <- blur_options(threshold = threshold, strength = strength, categories = categories,
                          padding = padding, shape = shape, method = method, copy_unlisted = copy_unlisted,
                          link_unchanged = link_unchanged, overwrite = overwrite, workers = workers,
                          jpeg_mode = jpeg_mode, call = call)
  quiet <- check_flag(quiet, call = call)
  dots <- check_dots_named(list(...), call = call)
  where <- cluster_arguments(scheduler, cluster, call = call)
  if (model_is_path(model)) model <- enc2utf8(path.expand(model))

  tb <- trapblur_module(call = call)
  require_detection(tb, "anonymise", call)
  client <- connect_cluster(tb, where, call = call)
  if (!is.null(client)) on.exit(client$close(), add = TRUE)
  args <- c(list(images, output), list(model = model, device = device), options, corrections, dots,
            list(progress = progress_callback(quiet, "Anonymising", envir = environment()), client = client))
  report <- with_python_errors(do.call(tb$anonymise, args), call = call)
  run_report_frame(report, quiet = quiet, verb = "Blurred")
}
