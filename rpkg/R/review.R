#' Review a run before sharing it: an offline page of what to check
#'
#' Builds the review page of a finished run with the Python core and opens it. The page, written to
#' `<output>.review/index.html` beside the shareable folder (never inside it), shows a summary of the run
#' (counts, settings, model, threshold, a histogram of person confidences), then the images to check first
#' (person detections between a review floor and the blur threshold, so not blurred, shown from the
#' original with the boxes drawn), then withheld and failed images with their reasons, then the blurred
#' images per folder. It works offline in any browser. It shows the original images with people unblurred:
#' it is for the data owner, not for sharing.
#'
#' On the page, draw a box on a thumbnail with the mouse, or mark an image "blur whole image", "withhold" or
#' "accept", then press "Save corrections": the browser saves `corrections.csv`. Give that file to the same
#' [blur_people()] (or [anonymise()]) call as `corrections`: only the images it touches are redone.
#'
#' @param run The data frame returned by [blur_people()] or [anonymise()], or the path of the shareable
#'   folder a run wrote.
#' @param images The original image folder, or `NULL` for the one the run recorded (give it when the
#'   originals have moved).
#' @param floor Lowest person confidence listed under "Check these first", or `NULL` for the model's
#'   conservative threshold (0.05 when the results do not say).
#' @param open If `TRUE` (the default in interactive sessions), open the page: in RStudio's viewer when the
#'   page is under the session's temporary folder (the only place the viewer shows), otherwise in the browser.
#' @param quiet If `TRUE`, print nothing.
#' @return The path of the page (`index.html`), invisibly.
#' @seealso [blur_people()] and its `corrections` argument.
#' @export
#' @examples
#' ex <- trapblur_example()
#' if (trapblur_available()) {
#'   res <- blur_people(ex$images, results = ex$results, output = ex$output, quiet = TRUE)
#'   page <- review_run(res, open = FALSE)
#'   file.exists(page)
#' }
review_run <- function(run, images = NULL, floor = NULL, open = interactive(), quiet = FALSE) {
  call <- sys.call()[1]
  share <- run_output_folder(run, call = call)
  if (!is.null(images)) images <- check_existing_dir(images, call = call)
  if (!is.null(floor)) floor <- check_number_between(floor, 0, 1, arg = "floor", call = call)
  open <- check_flag(open, call = call)
  quiet <- check_flag(quiet, call = call)

  tb <- trapblur_module(call = call)
  if (!has_python_function(tb, "review")) {
    trapblur_abort(
      c(sprintf("The installed trapblur Python core (%s) has no review page (`trapblur.review`).", core_version(tb)),
        "Update it with `trapblur::install_trapblur()`."),
      class = "trapblur_review_unavailable_error", call = call
    )
  }
  args <- list(share)
  if (!is.null(images)) args$images <- images
  if (!is.null(floor)) args$floor <- floor
  page <- with_python_errors(do.call(tb$review, args), call = call)
  path <- reticulate::py_str(page$path)
  if (!quiet) {
    cli::cli_inform(c(
      v = "Review page: {.path {path}}.",
      "!" = "It shows the original images with people unblurred: do not share it."
    ), class = "trapblur_summary_message")
  }
  if (open) open_review_page(path)
  invisible(path)
}

# The shareable folder of a run: the `run` attribute's `output` (blur_people(), anonymise()) or a path.
run_output_folder <- function(run, call = NULL) {
  if (is.character(run)) {
    return(check_existing_dir(run, arg = "run", call = call))
  }
  info <- attr(run, "report", exact = TRUE) %||% attr(run, "run", exact = TRUE)
  output <- if (is.list(info)) info$output else NULL
  if (is.null(output) && is.list(run) && !is.data.frame(run)) output <- run$output
  if (!is.character(output) || length(output) != 1 || is.na(output)) {
    options_error(paste("`run` must be the result of blur_people() or anonymise(), or the path of the",
                        sprintf("shareable folder a run wrote, not %s.", describe_value(run))), call = call)
  }
  check_existing_dir(output, arg = "run", call = call)
}

open_review_page <- function(path) {
  viewer <- getOption("viewer")
  inside_temp <- startsWith(normalizePath(path, winslash = "/"), normalizePath(tempdir(), winslash = "/"))
  if (is.function(viewer) && inside_temp) {
    viewer(path)
  } else {
    utils::browseURL(path)
  }
  invisible(path)
}

# `corrections` of blur_people() and anonymise(): NULL, or an existing CSV file, as a list entry to pass on.
corrections_argument <- function(corrections, call = NULL) {
  if (is.null(corrections)) {
    return(list())
  }
  corrections <- check_string(corrections, call = call)
  path <- path.expand(corrections)
  if (!file.exists(path) || dir.exists(path)) {
    what <- if (dir.exists(path)) "is a folder, not a file" else "does not exist"
    options_error(sprintf("`corrections` must be an existing corrections file (CSV); \"%s\" %s.", corrections, what),
                  call = call)
  }
  list(corrections = enc2utf8(path))
}
