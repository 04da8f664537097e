#' Blur the people in a folder of camera-trap images
#'
#' Reads the detections of a MegaDetector results file, blurs every box of the chosen `categories`
#' whose confidence reaches `threshold`, and writes a copy of the image tree to `output`: the same
#' folders and file names, the metadata (EXIF dates and all) kept as it was. Images without such a box
#' are copied byte for byte. An image the results do not vouch for (the detector failed on it, or it is
#' not listed and `copy_unlisted = FALSE`) is **withheld**: not written, because it is not known to be
#' safe. The originals are never modified, and nothing is written inside `images`.
#'
#' Re-running the same call resumes an interrupted run. Running it again with other settings into the
#' same `output` is refused (the folder would mix two policies) unless `overwrite = TRUE`.
#'
#' @details What each `action` means:
#'   * `blurred`: written, with every selected box hidden;
#'   * `copied`: written unchanged, byte for byte (nothing above the threshold to hide);
#'   * `withheld`: not written, because it is not known to be safe: not in the results, the detector
#'     failed on it, a video, an unsupported format, listed twice with different detections, changed
#'     since trapblur's detector looked at it, or an image in its metadata that could not be re-rendered
#'     or removed;
#'   * `failed`: not written, because reading, decoding, editing or writing it went wrong (a truncated or
#'     empty file), or its results entry is malformed (the reason names the entry's index and field);
#'   * `missing`: listed in the results, but not in the folder (or its path could name two images);
#'   * `refused`: listed with a path outside the image folder (`../x.jpg`), or in another folder on this
#'     computer: never read;
#'   * `malformed`: a results entry too broken to name a file (`input` is its position, `images[N]`);
#'   * `ignored`: not an image (text files, spreadsheets): not written.
#'
#'   Category names are read through synonyms, whatever their case: `"people"`, `"human"` or
#'   `"homo sapiens"` mean `"person"`, `"cars"` or `"truck"` mean `"vehicle"`. A category that the
#'   results file does not define is an error (class `trapblur_options_error`) naming what it defines,
#'   and so are results that list none of the images in `images`.
#'
#'   Beside the images, `output` holds `trapblur_report.csv` (the same table, for the people you share
#'   with) and `trapblur_results.json`, a MegaDetector results file for the shared images.
#'
#' @param images Folder of images (searched recursively). Windows paths (`"D:/cameras/2024"` or
#'   `"D:\\cameras\\2024"`), spaces and non-ASCII characters are fine.
#' @param results Path of the MegaDetector batch-output JSON file for `images` (any format version, and
#'   the variants written by PyTorch-Wildlife and animl). Its paths are matched to the files in `images`
#'   as [read_md_results()] describes.
#' @param output Folder to write the shareable copy to; created if needed. It must not be `images`, nor
#'   be inside it, nor contain it.
#' @param ... These must be empty, or name further options of the Python function behind this one
#'   (`trapblur.blur_dataset()`), for options this R package does not list yet. Every argument after
#'   `output` must be named: `blur_people(images, results, output, threshold = 0.2)`.
#' @param threshold Lowest confidence of a box to blur: one number between 0 and 1, or one per category,
#'   such as `c(person = 0.05, vehicle = 0.3)` (a category without its own threshold gets 0.1). Lower
#'   blurs more boxes: more animals blurred by mistake, fewer people missed. MegaDetector v5 calls 0.2
#'   *typical* and 0.05 *conservative*; the default, 0.1, sits between them because a missed person cannot
#'   be un-shared. Use 0.05 for public releases.
#' @param strength How strong the blur is, relative to each box: the blur's radius (Gaussian sigma) is
#'   `strength` times the box's longest side divided by 8, so a distant hiker 80 px tall gets 10 px and a
#'   face filling the frame hundreds, and both end up equally unrecognisable. At the default 1, faces,
#'   clothing patterns and body details are gone and only a soft silhouette remains; 2 is twice as strong
#'   (up to 10). Do not go below 1 for shared data: a person model still found faces after a blur of
#'   strength 0.5, and weak blurs can be undone by learned models. Below 1 a warning of class
#'   `trapblur_weak_blur_warning` says so.
#' @param categories Which detection categories to hide, by name: `"person"` (default); add `"vehicle"` to
#'   hide number plates, as in `c("person", "vehicle")`.
#' @param padding How much each box grows before it is blurred, as a fraction of its size: 0.1 (default)
#'   adds 10% of the box's width on the left and on the right and 10% of its height above and below,
#'   because detector boxes are often tight around hair, elbows and feet. Between 0 and 1. A box that then
#'   stops within 2% of the image's edge is extended to the edge.
#' @param shape `"rectangle"` (default) hides the whole padded box; `"ellipse"` hides the ellipse inside
#'   it, which looks less blocky but leaves the box's corners sharp.
#' @param method How regions are hidden: `"gaussian"` (default) a smooth blur, `"pixelate"` a mosaic
#'   whose cells are twice the blur radius wide, `"fill"` a black box (whatever the `strength`).
#' @param copy_unlisted Images the results file does not list are withheld by default, because nobody
#'   checked them for people. `TRUE` copies them unchanged instead; use it only when you know those images
#'   are safe.
#' @param link_unchanged If `TRUE`, images with nothing to blur are hard-linked into `output` instead of
#'   copied: faster and no extra disk space (same disk only; elsewhere they are copied), but do not edit
#'   those output files in place: the originals would change too.
#' @param overwrite If `TRUE`, redo every image, even those an earlier run into `output` finished, and
#'   accept an `output` that holds a run made with other settings (or files trapblur did not make).
#' @param workers Number of images processed at the same time, or `NULL` (default) for the number of CPU
#'   cores.
#' @param jpeg_mode How blurred JPEGs are written. `"lossless"` (default) rewrites only the 8x8-pixel
#'   blocks a blurred region touches, so every other block of the photograph (the scientific record)
#'   keeps its exact image data; the blurred area therefore rounds out to whole 8 or 16 px blocks. Files
#'   that cannot be edited that way (CMYK, arithmetic-coded, 12-bit) are re-encoded instead.
#'   `"reencode"` decodes and re-encodes the whole photograph with its own quality settings (no visible
#'   loss, but not bit-exact). The `encoding` column says which way each image was written.
#' @param corrections `NULL`, or the path of a reviewer's corrections file (`corrections.csv`, as saved by
#'   the page of [review_run()]): its boxes are blurred whatever the threshold, and its "blur-image" and
#'   "withhold" rows hide or keep out whole images. The `correction` column says what it did to each image;
#'   a re-run with a new or changed file redoes only the images it touches.
#' @param quiet If `TRUE`, show no progress bar and no summary. Warnings about withheld or failed images
#'   are still given (wrap the call in [suppressWarnings()] to silence them).
#' @param scheduler `NULL` (run on this computer), or a running Dask cluster to run on: its scheduler's
#'   address (`"tcp://10.0.0.5:8786"`) or the scheduler file `dask scheduler --scheduler-file` wrote. The
#'   folders must be on storage every worker sees at the same paths. Needs the Python core's extra
#'   `distributed` (`install_trapblur(distributed = TRUE)`). The result is the same as on this computer.
#' @param cluster `NULL`, or a Dask cluster to start for the run and stop after it: `"local"` (worker
#'   processes on this computer) or a list such as `list(type = "slurm", jobs = 20, cores = 8,
#'   memory = "32GB", walltime = "04:00:00", gpus = 1)` (types `"slurm"`, `"pbs"`, `"sge"`, `"lsf"`;
#'   settings `jobs`, `cores`, `memory`, `walltime`, `gpus`, `processes`, `queue`, `account`,
#'   `task_images`, `worker_timeout`, as the command line's `--cluster` options). Not with `scheduler`.
#' @return A `trapblur_run`: a data frame (dplyr, `table()`, `merge()` and `write.csv()` work on it as on
#'   any data frame) with one row per file, read from the run's report. Its columns:
#'   * `file`: the image's path relative to `images`, with forward slashes: the same key as the `file`
#'     column of [read_md_results()], so `merge(res, read_md_results(results), by = "file")` joins them;
#'   * `input`: the path as the report writes it (relative to `images`);
#'   * `output`: its path relative to `output`, or `NA` when it was not written;
#'   * `action`: a factor, see Details;
#'   * `regions`: how many regions were hidden;
#'   * `max_person_conf`: the highest person confidence in the results, blurred or not (`NA` if none);
#'   * `encoding`: how the output file was made: `"copy"` (byte for byte), `"link"` (hard link),
#'     `"lossless"` (only the blurred blocks rewritten), `"reencode"` (the whole JPEG, or PNG/TIFF,
#'     encoded again); `NA` when nothing was written;
#'   * `reason`: why an image was withheld or failed (`NA` otherwise);
#'   * `correction`: what a reviewer's corrections file did to the image (`NA` when nothing);
#'   * `input_sha256`, `entry_sha256`: the SHA-256 of the input bytes and of the results entry the output
#'     was made from (a re-run redoes an image when either changed);
#'   * any further column a newer Python core writes, as it is.
#'
#'   `print()` shows what happened in a few lines, `summary()` the counts, reasons and settings, and
#'   `plot()` ([preview_blur()]) before/after pictures. `attr(res, "report")` holds the run's report (a list
#'   with `output`, `report_csv`, `results_json`, `counts`, `total`, `processed`, `elapsed_s`, `reasons`,
#'   `warnings`, `matched_by_trailing_part`, ...) and `attr(res, "settings")` the settings it was made
#'   with. Each of the run's `warnings` (few of the folder's images listed in the results, paths matched
#'   from another computer's folder of another name) is also given as an R warning of class
#'   `trapblur_run_warning`.
#'
#'   Withheld and failed images are reported with a warning of class `trapblur_withheld_warning`.
#'   What the run says must be checked before sharing (under half of the images listed in the results,
#'   results from another computer matched to a folder of another name) comes as warnings of class
#'   `trapblur_run_warning`, one per message, before the others.
#'   Errors are conditions of class `trapblur_error` and a subclass such as
#'   `trapblur_options_error`, `trapblur_results_format_error` or `trapblur_output_folder_error`.
#' @seealso [read_md_results()] to look at the detections first, [preview_blur()] to look at the result,
#'   [anonymise()] to detect and blur in one step, [trapblur_example()] for a small dataset to try.
#' @export
#' @examples
#' ex <- trapblur_example()
#' if (trapblur_available()) {
#'   res <- blur_people(ex$images, results = ex$results, output = ex$output, threshold = 0.2)
#'   res
#'   table(res$action)
#'   res[res$action == "withheld", c("file", "reason")]
#'   # the detections next to what was done
#'   merge(res[c("file", "action")], read_md_results(ex$results), by = "file")
#' }
blur_people <- function(images, results, output, ..., threshold = 0.1, strength = 1, categories = "person",
                        padding = 0.1, shape = c("rectangle", "ellipse"),
                        method = c("gaussian", "pixelate", "fill"), copy_unlisted = FALSE,
                        link_unchanged = FALSE, overwrite = FALSE, workers = NULL,
                        jpeg_mode = c("lossless", "reencode"), corrections = NULL, quiet = FALSE,
                        scheduler = NULL, cluster = NULL) {
  call <- sys.call()[1]
  dots <- check_dots_unnamed(list(...), after = "output", guess = guess_detection_argument(NULL), call = call)
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
  silence_python_weak_blur_warning(tb)
  dots <- check_dots_known(dots, tb$blur_dataset, "blur_people",
                           taken = c("images", "results", "output", names(options), "corrections", "progress",
                                     "client"),
                           call = call)
  client <- connect_cluster(tb, where, call = call)
  if (!is.null(client)) on.exit(client$close(), add = TRUE)
  args <- c(list(images, results, output), options, corrections, dots,
            list(progress = progress_callback(quiet, "Blurring", envir = environment()), client = client))
  report <- with_python_errors(do.call(tb$blur_dataset, args), call = call)
  settings <- c(list(`function` = "blur_people", images = images, results = results, output = output),
                options, corrections, dots)
  new_trapblur_run(report, settings, quiet = quiet)
}

# The blur options shared by blur_people() and anonymise(), checked and in plain Python types.
blur_options <- function(threshold, strength, categories, padding, shape, method, copy_unlisted,
                         link_unchanged, overwrite, workers, jpeg_mode, call = NULL) {
  strength <- check_number_between(strength, 0, 10, arg = "strength", call = call, lower_open = TRUE)
  warn_weak_blur(strength)
  list(
    threshold = check_threshold(threshold, call = call),
    strength = strength,
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

# A blur weaker than the default can be undone by learned models: say so, as an R warning.
warn_weak_blur <- function(strength) {
  if (strength < 1) {
    cli::cli_warn(c(
      "`strength` = {format(strength)} is weaker than the privacy-grade default of 1.",
      i = "Weak blurs can be undone by learned models, so faces and clothing may stay recognisable; use 1 or more for shared data."
    ), class = c("trapblur_weak_blur_warning", "trapblur_warning"))
  }
  invisible(strength)
}

# The Python core gives the same warning through Python's warnings module, which would print a second,
# Python-style line in the R console: R users get the R warning above instead.
silence_python_weak_blur_warning <- function(tb) {
  if (has_python_function(tb, "WeakBlurWarning")) {
    reticulate::import("warnings")$filterwarnings("ignore", category = tb$WeakBlurWarning)
  }
  invisible(NULL)
}
