require_detection <- function(tb, model, call) {
  status <- detection_status(tb, model)
  if (!status$ok) {
    trapblur_abort(
      c(if (is.null(model)) sprintf("Detection cannot run here: %s", status$problem)
        else sprintf("The model \"%s\" cannot be used: %s", model, status$problem),
        i = "`trapblur_config()` shows what is installed; without detection, run MegaDetector yourself and use `blur_people()`."),
      class = "trapblur_detection_unavailable_error", call = call
    )
  }
  invisible(status)
}

# What a value given by position (after the required arguments) was probably meant to be; `results_arg`
# names the argument for a .json file, if the function has one.
guess_detection_argument <- function(results_arg) {
  function(value) {
    if (!is.character(value) || length(value) != 1 || is.na(value)) {
      return(if (is_number(value) && value >= 0 && value <= 1) "threshold" else NULL)
    }
    if (grepl("\\.json$", value, ignore.case = TRUE)) {
      return(results_arg)
    }
    if (grepl("\\.(pt|pth|onnx)$", value, ignore.case = TRUE) || grepl("^(md-|builtin)", value)) {
      return("model")
    }
    NULL
  }
}

check_model <- function(model, call) {
  model <- check_string(model, arg = "model", call = call, null_ok = TRUE)
  if (!is.null(model) && grepl("\\.json$", model, ignore.case = TRUE)) {
    options_error(c(
      sprintf("`model` must be a model name or a weights file (.pt, .onnx), not a results file (\"%s\").", model),
      i = "Model names are listed by `list_models()`; to write the detections to a file, use `output_json`."
    ), call = call)
  }
  if (model_is_path(model)) enc2utf8(path.expand(model)) else model
}

#' Find people (and animals and vehicles) in camera-trap images
#'
#' Runs an offline detector over a folder of images and returns its detections, with a progress bar.
#' The detections are also written as a MegaDetector results file (`output_json`), which
#' [blur_people()], Timelapse and MegaDetector's own tools read. Nothing is downloaded: the model must be
#' on this machine (see [list_models()]). Images the detector cannot read get a `failure` entry, which
#' [blur_people()] withholds.
#'
#' @param images Folder of images (or one image).
#' @param ... These must be empty, or name further options of the Python function `trapblur.detect()`
#'   (such as `batch_size = 4`, `checkpoint_every = 500`, `confidence_floor = 0.01`). Every argument
#'   after `images` must be named: `detect_people(images, output_json = "det.json")`.
#' @param model Which detector: `NULL` (default) uses MegaDetector v5a when its weights are on this
#'   machine ([fetch_model()]), otherwise the built-in person model; or a name from
#'   `list_models()$name`; or the path of a weights file (`.pt` or `.onnx`, for example another
#'   MegaDetector release). The built-in model is small and fast but misses more hard cases than
#'   MegaDetector: prefer MegaDetector for real releases.
#' @param output_json Where to write the results file, or `NULL` for a temporary file. Keep it: it lets
#'   you choose another threshold later without detecting again.
#' @param recursive If `TRUE` (default), also look in sub-folders.
#' @param device Where the model runs: `NULL` (default) a GPU when there is one, else the CPU; or
#'   `"cpu"`, `"cuda"`, `"cuda:1"`.
#' @param include_empty If `FALSE` (default) the result has one row per detection; if `TRUE`, also one
#'   row for each image where nothing was found (as in [read_md_results()]).
#' @param quiet If `TRUE`, show no progress bar or summary.
#' @inheritParams blur_people
#' @return A data frame with one row per detection, as from [read_md_results()] (read from
#'   `output_json`): `file`, `category`, `conf` and the box. Detections down to a confidence of 0.005
#'   are kept, so that thresholds can be chosen afterwards. Its attribute `"results_json"` is the file's
#'   path.
#' @seealso [anonymise()] to detect and blur in one step, [list_models()], [fetch_model()].
#' @export
#' @examples
#' ex <- trapblur_example()
#' if (trapblur_available(detection = TRUE)) {
#'   found <- detect_people(ex$images, output_json = tempfile(fileext = ".json"))
#'   table(found$category)
#' }
detect_people <- function(images, ..., model = NULL, output_json = NULL, recursive = TRUE, device = NULL,
                          include_empty = FALSE, quiet = FALSE, scheduler = NULL, cluster = NULL) {
  call <- sys.call()[1]
  dots <- check_dots_unnamed(list(...), after = "images", guess = guess_detection_argument("output_json"),
                             call = call)
  images <- check_existing_path(images, call = call)
  model <- check_model(model, call)
  output_json <- check_string(output_json, arg = "output_json", call = call, null_ok = TRUE)
  recursive <- check_flag(recursive, call = call)
  device <- check_string(device, call = call, null_ok = TRUE)
  include_empty <- check_flag(include_empty, call = call)
  quiet <- check_flag(quiet, call = call)
  where <- cluster_arguments(scheduler, cluster, call = call)
  if (is.null(output_json)) {
    output_json <- tempfile("trapblur-detections-", fileext = ".json")
  } else {
    output_json <- enc2utf8(path.expand(output_json))
  }

  tb <- trapblur_module(call = call)
  dots <- check_dots_known(dots, tb$detect, "detect_people", call = call,
                           taken = c("images", "model", "output_json", "recursive", "device", "progress", "client"))
  require_detection(tb, model, call)
  client <- connect_cluster(tb, where, call = call)
  if (!is.null(client)) on.exit(client$close(), add = TRUE)
  args <- c(list(images), list(model = model, output_json = output_json, recursive = recursive,
                               device = device,
                               progress = progress_callback(quiet, "Detecting", envir = environment()),
                               client = client),
            dots)
  with_python_errors(do.call(tb$detect, args), call = call)
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
#' Runs the offline detector over `images` (with a progress bar), then blurs what it found, writing the
#' shareable copy to `output`: [detect_people()] followed by [blur_people()]. The detections are kept
#' *beside* the output folder, as `<output>.detections.json` (not inside it: the folder is what gets
#' shared, and that file says which images had people in them). Re-running the same call reuses them
#' when the images and the model are the same, and otherwise resumes detection from its checkpoint.
#' Images the detector could not check are withheld.
#'
#' @inheritParams blur_people
#' @inheritParams detect_people
#' @param ... These must be empty, or name further options of the Python function
#'   `trapblur.anonymise()` (such as `detections_json = "det.json"` to keep the detections elsewhere,
#'   or `batch_size = 4`). Every argument after `output` must be named.
#' @return The `trapblur_run` described in [blur_people()].
#' @export
#' @examples
#' ex <- trapblur_example()
#' if (trapblur_available(detection = TRUE)) {
#'   res <- anonymise(ex$images, output = tempfile("shared-"))
#'   res
#' }
anonymise <- function(images, output, ..., model = NULL, device = NULL, threshold = 0.1, strength = 1,
                      categories = "person", padding = 0.1, shape = c("rectangle", "ellipse"),
                      method = c("gaussian", "pixelate", "fill"), copy_unlisted = FALSE,
                      link_unchanged = FALSE, overwrite = FALSE, workers = NULL,
                      jpeg_mode = c("lossless", "reencode"), corrections = NULL, quiet = FALSE,
                      scheduler = NULL, cluster = NULL) {
  call <- sys.call()[1]
  dots <- check_dots_unnamed(list(...), after = "output", guess = guess_detection_argument("detections_json"),
                             call = call)
  images <- check_existing_dir(images, call = call)
  output <- check_output_dir(output, images, call = call)
  corrections <- corrections_argument(corrections, call = call)
  model <- check_model(model, call)
  device <- check_string(device, call = call, null_ok = TRUE)
  options <- blur_options(threshold = threshold, strength = strength, categories = categories,
                          padding = padding, shape = shape, method = method, copy_unlisted = copy_unlisted,
                          link_unchanged = link_unchanged, overwrite = overwrite, workers = workers,
                          jpeg_mode = jpeg_mode, call = call)
  quiet <- check_flag(quiet, call = call)
  where <- cluster_arguments(scheduler, cluster, call = call)

  tb <- trapblur_module(call = call)
  params <- python_parameters(tb$anonymise)$names
  dots <- check_dots_known(dots, tb$anonymise, "anonymise", call = call,
                           taken = c("images", "output", "model", "device", names(options), "corrections",
                                     "progress", "detect_progress", "client"))
  if (!is.null(dots$detections_json)) dots$detections_json <- enc2utf8(path.expand(dots$detections_json))
  status <- require_detection(tb, model, call)
  silence_python_weak_blur_warning(tb)
  progress <- list(progress = progress_callback(quiet, "Blurring", envir = environment()))
  if ("detect_progress" %in% params) {
    progress$detect_progress <- progress_callback(quiet, "Detecting", envir = environment())
  }
  client <- connect_cluster(tb, where, call = call)
  if (!is.null(client)) on.exit(client$close(), add = TRUE)
  args <- c(list(images, output), list(model = model, device = device), options, corrections, dots, progress,
            list(client = client))
  report <- with_python_errors(do.call(tb$anonymise, args), call = call)
  detections <- dots$detections_json %||% tryCatch(
    as.character(reticulate::import("trapblur.detection.anonymise")$detections_path_for(output)),
    error = function(e) NA_character_
  )
  settings <- c(list(`function` = "anonymise", images = images, results = detections, output = output,
                     model = status$model, device = device),
                options, corrections, dots)
  new_trapblur_run(report, settings, quiet = quiet)
}
