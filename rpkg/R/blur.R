#' Blur the people in a folder of camera-trap images
#'
#' Reads the detections of a MegaDetector results file, blurs every box of the chosen `categories`
#' whose confidence reaches `threshold`, and writes a copy of the image tree to `output`. Images
#' without such a box are copied unchanged. An image the results do not vouch for (the detector failed
#' on it, or it is not listed and `copy_unlisted = FALSE`) is **withheld**: not written, because it is not
#' known to be safe. The originals are never modified.
#'
#' @details Actions: `blurred` (written with every selected box hidden), `copied` (written unchanged:
#'   nothing to hide), `withheld` (not written because not known to be safe: not in the results, the
#'   detector failed on it, unsupported file type), `failed` (not written: reading, editing or writing it
#'   went wrong, or its results entry is malformed: the reason names the entry's index and field),
#'   `missing` (listed in the results but not in the folder, or its path could name two images),
#'   `refused` (listed with a path outside the image folder, or in another folder on this computer:
#'   never read), `malformed` (a results entry too broken to name a file; `input` is its position,
#'   `images[N]`), `ignored` (not an image).
#'
#'   Category names are read through synonyms, whatever their case: `"people"`, `"human"` or
#'   `"homo sapiens"` mean `"person"`, `"cars"` or `"truck"` mean `"vehicle"`. A category that the
#'   results file does not define is an error (class `trapblur_options_error`) naming what it defines,
#'   and so are results that list none of the images in `images`.
#' @param images Folder of images (searched recursively). Windows paths (`"D:/cameras/2024"` or
#'   `"D:\\cameras\\2024"`), spaces and non-ASCII characters are fine.
#' @param results Path of the MegaDetector batch-output JSON file for `images` (any format version, and
#'   the variants written by PyTorch-Wildlife and animl).
#' @param output Folder to write the anonymised copy to; created if needed. Must differ from `images`.
#' @param threshold Lowest confidence of a box to blur: one number between 0 and 1, or a named vector per
#'   category such as `c(person = 0.1, vehicle = 0.3)`. Low values blur more (safer for privacy);
#'   MegaDetector's own "conservative" threshold for MDv5 is 0.05.
#' @param strength Blur strength, a number greater than 0 and at most 10; 1 is the default
#'   privacy-grade blur, larger is stronger.
#' @param categories Detection categories to hide, by name: `"person"`, and `"vehicle"` for number plates.
#' @param padding Fraction of each box's size added around it (between 0 and 1).
#' @param shape Shape of the blurred region: `"rectangle"` or `"ellipse"`.
#' @param method How regions are hidden: `"gaussian"` blur, `"pixelate"`, or `"fill"` (solid colour).
#' @param copy_unlisted If `TRUE`, copy images that the results file does not list; if `FALSE` (default)
#'   withhold them.
#' @param link_unchanged If `TRUE`, hard-link unchanged images into `output` instead of copying them
#'   (faster, no extra disk space; same file system only).
#' @param overwrite If `TRUE`, replace files already in `output`.
#' @param workers Number of parallel workers, or `NULL` to choose automatically.
#' @param jpeg_mode How blurred JPEGs are written: `"lossless"` (default) rewrites only the 8x8 blocks a
#'   blurred region touches, so the rest keeps its exact image data (the blurred area rounds out to whole
#'   blocks; files that cannot be edited so are re-encoded); `"reencode"` decodes and re-encodes the
#'   photograph with its own quantisation tables and subsampling. The `encoding` column of the result says
#'   which path each image took.
#' @param corrections `NULL`, or the path of a reviewer's corrections file (`corrections.csv`, as saved by
#'   the page of [review_run()]): its boxes are blurred whatever the threshold, and its "blur-image" and
#'   "withhold" rows hide or keep out whole images. The `correction` column says what it did to each image;
#'   a re-run with a new or changed file redoes only the images it touches.
#' @param quiet If `TRUE`, show no progress bar or summary. Warnings about withheld or failed images are
#'   still given (wrap in [suppressWarnings()] to silence them).
#' @param scheduler `NULL` (run on this computer), or a running Dask cluster to run on: its scheduler's
#'   address (`"tcp://10.0.0.5:8786"`) or the scheduler file `dask scheduler --scheduler-file` wrote. The
#'   folders must be on storage every worker sees at the same paths. Needs the Python core's extra
#'   `distributed` (`install_trapblur(extras = "distributed")`). The result is the same as on this computer.
#' @param cluster `NULL`, or a Dask cluster to start for the run and stop after it: `"local"` (worker
#'   processes on this computer) or a list such as `list(type = "slurm", jobs = 20, cores = 8,
#'   memory = "32GB", walltime = "04:00:00", gpus = 1)` (types `"slurm"`, `"pbs"`, `"sge"`, `"lsf"`;
#'   settings `jobs`, `cores`, `memory`, `walltime`, `gpus`, `processes`, `queue`, `account`,
#'   `task_images`, `worker_timeout`, as the command line's `--cluster` options). Not with `scheduler`.
#' @return A data frame with one row per image, read from the run's CSV report: `input` and `output`
#'   (paths relative to `images` and `output`; `output` is `NA` for images not written), `action` (a
#'   factor with levels `blurred`, `copied`, `withheld`, `failed`, `missing`, `refused`, `malformed`,
#'   `ignored`; see Details), `regions` (number of regions hidden), `max_person_conf` (highest person confidence in the results, `NA` if none) and `reason`,
#'   plus any further columns the core writes. The attribute `"run"` holds a list with `output`,
#'   `report_csv`, `results_json`, `counts` (a named integer vector), `total`, `elapsed_s`,
#'   `images_per_second`, `matched_by_trailing_part` (results entries from another computer matched by
#'   the end of their path) and `warnings` (the run's warnings, as text).
#'
#'   Withheld and failed images are reported with a warning of class `trapblur_withheld_warning`.
#'   What the run says must be checked before sharing (under half of the images listed in the results,
#'   results from another computer matched to a folder of another name) comes as warnings of class
#'   `trapblur_run_warning`, one per message, before the others.
#'   Errors are conditions of class `trapblur_error` and a subclass such as
#'   `trapblur_options_error`, `trapblur_results_format_error` or `trapblur_output_folder_error`.
#' @seealso [read_md_results()] to look at the detections first, [anonymise()] to detect and blur in one
#'   step, [trapblur_example()] for a small dataset to try.
#' @export
#' @examples
#' ex <- trapblur_example()
#' if (trapblur_available()) {
#'   res <- blur_people(ex$images, results = ex$results, output = ex$output, threshold = 0.2)
#'   table(res$action)
#'   res[res$action == "withheld", c("input", "reason")]
#' }
blur_people <- function(images, results, output, threshold = 0.1, strength = 1, categories = "person",
                        padding = 0.1, shape = c("rectangle", "ellipse"),
                        method = c("gaussian", "pixelate", "fill"), copy_unlisted = FALSE,
                        link_unchanged = FALSE, overwrite = FALSE, workers = NULL,
                        jpeg_mode = c("lossless", "reencode"), corrections = NULL, quiet = FALSE,
                        scheduler = NULL, cluster = NULL) {
  call <- sys.call()[1]
  images <- check_existing_dir(images, call = call)
  results <- check_existing_file(results, call = call)
  corrections <- corrections_argument(corrections, call = call)
  output <- check_output_dir(output, images, call = call)
  options <- blur_options(threshold = threshold, strength = strength, categories = categories,
                          padding = padding, shape = shape, method = method, copy_unlisted = copy_unlisted,
                          link_unchanged = link_unchanged, overwrite = overwrite, workers = workers,
                          jpeg_mode = jpeg_mode, call = call)
  quiet <- check_flag(quiet, call = call)
  where <- cluster_arguments(scheduler, cluster, call = call)

  tb <- trapblur_module(call = call)
  client <- connect_cluster(tb, where, call = call)
  if (!is.null(client)) on.exit(client$close(), add = TRUE)
  args <- c(list(images, results, output), options, corrections,
            list(progress = progress_callback(quiet, "Blurring", envir = environment()), client = client))
  report <- with_python_errors(do.call(tb$blur_dataset, args), call = call)
  run_report_frame(report, quiet = quiet, verb = "Blurred")
}

# The blur options shared by blur_people() and anonymise(), checked and in plain Python types.
blur_options <- function(threshold, strength, categories, padding, shape, method, copy_unlisted,
                         link_unchanged, overwrite, workers, jpeg_mode, call = NULL) {
  list(
    threshold = check_threshold(threshold, call = call),
    strength = check_number_between(strength, 0, 10, arg = "strength", call = call, lower_open = TRUE),
    categories = check_categories(categories, call = call),
    padding = check_number_between(padding, 0, 1, arg = "padding", call = call),
    shape = check_choice(shape, c("rectangle", "ellipse"), arg = "shape", call = call),
    method = check_choice(method, c("gaussian", "pixelate", "fill"), arg = "method", call = call),
    copy_unlisted = check_flag(copy_unlisted, arg = "copy_unlisted", call = call),
    link_unchanged = check_flag(link_unchanged, arg = "link_unchanged", call = call),
    overwrite = check_flag(overwrite, arg = "overwrite", call = call),
    workers = check_workers(workers, call = call),
    jpeg_mode = check_choice(jpeg_mode, c("lossless", "reencode"), arg = "jpeg_mode", call = call)
  )
}

report_actions <- c("blurred", "copied", "withheld", "failed", "missing", "refused", "malformed", "ignored")

report_col_classes <- c(input = "character", output = "character", action = "character",
                        regions = "integer", max_person_conf = "numeric", reason = "character",
                        correction = "character")

# The per-image data frame, read from the CSV the core wrote (not passed as big lists through reticulate).
read_report_csv <- function(path) {
  header <- names(utils::read.csv(path, nrows = 1, check.names = FALSE, fileEncoding = "UTF-8"))
  col_classes <- rep("character", length(header))
  names(col_classes) <- header
  known <- intersect(header, names(report_col_classes))
  col_classes[known] <- report_col_classes[known]
  frame <- utils::read.csv(path, colClasses = col_classes, check.names = FALSE, na.strings = "",
                           fileEncoding = "UTF-8", stringsAsFactors = FALSE)
  for (name in setdiff(header, names(report_col_classes))) {
    frame[[name]] <- utils::type.convert(frame[[name]], as.is = TRUE, na.strings = "")
  }
  if ("action" %in% names(frame)) {
    frame$action <- factor(frame$action, levels = union(report_actions, unique(stats_na_omit(frame$action))))
  }
  frame
}

stats_na_omit <- function(x) x[!is.na(x)]

run_report_frame <- function(report, quiet, verb) {
  py_field <- function(name, empty = NULL) {
    value <- tryCatch(reticulate::py_get_attr(report, name, silent = TRUE), error = function(e) NULL)
    if (inherits(value, "python.builtin.object")) value <- reticulate::py_to_r(value)
    value %||% empty
  }
  counts <- unlist(py_field("counts", list()))
  storage.mode(counts) <- "integer"
  run <- list(
    output = as.character(py_field("output", NA_character_)),
    report_csv = as.character(py_field("report_csv", NA_character_)),
    results_json = as.character(py_field("results_json", NA_character_)),
    counts = counts,
    total = as.integer(py_field("total", NA_integer_)),
    elapsed_s = as.double(py_field("elapsed_s", NA_real_)),
    images_per_second = as.double(py_field("images_per_second", NA_real_)),
    matched_by_trailing_part = as.integer(py_field("matched_by_trailing_part", 0L)),
    warnings = as.character(unlist(py_field("warnings", list())))
  )
  frame <- read_report_csv(run$report_csv)
  attr(frame, "run") <- run
  count <- function(action) if (action %in% names(counts)) counts[[action]] else 0L

  # The core's own warnings first: they say whether the results fit the folder at all.
  for (message in run$warnings) {
    cli::cli_warn("{message}", class = "trapblur_run_warning")
  }

  if (!quiet) {
    parts <- vapply(names(counts)[counts > 0], function(a) sprintf("%d %s", counts[[a]], a), character(1))
    cli::cli_inform(c(
      v = "{verb} {count('blurred')} image{?s} of {run$total} in {format(round(run$elapsed_s, 1), nsmall = 1)} s ({paste(parts, collapse = ', ')}).",
      i = "Output: {.path {run$output}}; report: {.path {run$report_csv}}."
    ), class = "trapblur_summary_message")
  }
  not_written <- count("withheld") + count("failed")
  if (not_written > 0) {
    how <- c(withheld = "withheld (not known to be safe)", failed = "failed")
    how <- vapply(names(how)[c(count("withheld"), count("failed")) > 0],
                  function(a) sprintf("%d %s", count(a), how[[a]]), character(1))
    cli::cli_warn(c(
      "{not_written} image{?s} {?was/were} not written to the output: {paste(how, collapse = ', ')}.",
      i = "See the {.field reason} column: {.code res[res$action %in% c(\"withheld\", \"failed\"), ]}."
    ), class = "trapblur_withheld_warning")
  }
  if (count("missing") > 0 && !quiet) {
    cli::cli_inform(c(i = "{count('missing')} image{?s} listed in the results {?was/were} not found in the images folder."))
  }
  frame
}
