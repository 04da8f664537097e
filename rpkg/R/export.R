#' Export a blurred folder as Zooniverse subject sets
#'
#' Turns the shareable folder written by [blur_people()] or [anonymise()] into subject sets that
#' `panoptes subject-set upload-subjects` accepts: downscaled JPEGs that fit Zooniverse's upload limit,
#' without metadata, with each burst of a camera shown as one multi-image subject, and one `manifest.csv`
#' per set (folders `set_001/`, `set_002/`, ...).
#'
#' @details Only images the shareable folder holds are exported (blurred or copied there), read from that
#'   folder, never from the originals; withheld and failed images never are. Each image is turned upright,
#'   shrunk so that its longest side is at most `max_side` pixels (never enlarged) and saved at the highest
#'   JPEG quality, from 90 down to `min_quality`, that fits `max_bytes`. An image that does not fit even at
#'   `min_quality` is withheld (see the `reason` column). No metadata is kept except the EXIF tags named in
#'   `keep_metadata`; GPS tags, serial numbers, maker notes and owner names are refused even when named.
#'
#'   Images of one folder taken at most `burst_gap` apart form one subject of at most `images_per_subject`
#'   images. Manifest columns: `image_1`, `image_2`, ... (the subject's files) and hidden columns that
#'   volunteers never see but Zooniverse's exports return: `#folder`, `#original_1`, ... (paths in the
#'   shareable folder, the same as in the original folder), `#capture_time_1`, ... (EXIF DateTimeOriginal)
#'   and `#blurred_1`, ... (`true`/`false`).
#' @param share The shareable folder (the `output` of [blur_people()] or [anonymise()]).
#' @param out New folder for the subject sets. An earlier Zooniverse export there is replaced; any other
#'   non-empty folder is refused.
#' @param max_bytes Largest file in bytes (default 1,000,000; at most 1,048,576, which panoptes-cli refuses
#'   to exceed).
#' @param max_side Longest side in pixels (default 1600).
#' @param set_size Subjects per subject set (default 10,000, the most Zooniverse advises).
#' @param burst_gap Seconds between two images of one burst: a number, or a string like `"10s"`, `"2s"`,
#'   `"500ms"`, `"1m"`.
#' @param images_per_subject Most images in one subject (default 3); longer bursts are split. `1` shows
#'   every image as its own subject.
#' @param exclude_people If `TRUE`, leave out every image with a person detection at or above the run's
#'   threshold, and every image copied without detector results.
#' @param keep_metadata EXIF tag names to keep, such as `"DateTimeOriginal"`.
#' @param min_quality Lowest JPEG quality tried (1 to 95, default 50).
#' @param workers Number of parallel workers, or `NULL` to choose automatically.
#' @param quiet If `TRUE`, show no progress bar or summary.
#' @return A data frame with one row per image of the shareable folder: `image` (its path there),
#'   `action` (`exported`, `excluded`, `withheld` or `not shared`), `set`, `file` (relative to `out`),
#'   `width`, `height`, `quality`, `bytes` and `reason`. The attribute `"export"` holds a list with
#'   `output`, `manifests`, `subjects`, `counts` and `upload_commands` (one panoptes-cli command per set).
#'   Withheld images are reported with a warning of class `trapblur_withheld_warning`. Errors have class
#'   `trapblur_error`, with `trapblur_export_error` when `share` is not a finished trapblur folder.
#' @seealso [export_camtrap_dp()] for open data, [blur_people()] to make the shareable folder.
#' @export
#' @examples
#' ex <- trapblur_example()
#' if (trapblur_available()) {
#'   blur_people(ex$images, results = ex$results, output = ex$output, quiet = TRUE)
#'   upload <- file.path(tempdir(), "zooniverse")
#'   res <- export_zooniverse(ex$output, upload, max_side = 800)
#'   table(res$action)
#'   attr(res, "export")$upload_commands
#' }
export_zooniverse <- function(share, out, max_bytes = 1e6, max_side = 1600, set_size = 10000,
                              burst_gap = "10s", images_per_subject = 3, exclude_people = FALSE,
                              keep_metadata = character(), min_quality = 50, workers = NULL, quiet = FALSE) {
  call <- sys.call()[1]
  share <- check_existing_dir(share, call = call)
  out <- check_string(out, call = call)
  args <- list(
    max_bytes = check_whole(max_bytes, 2000, 1048576, "max_bytes", call),
    max_side = check_whole(max_side, 16, 20000, "max_side", call),
    set_size = check_whole(set_size, 1, 1e7, "set_size", call),
    burst_gap = check_burst_gap(burst_gap, call),
    images_per_subject = check_whole(images_per_subject, 1, 20, "images_per_subject", call),
    exclude_people = check_flag(exclude_people, call = call),
    keep_metadata = check_tag_names(keep_metadata, call),
    min_quality = check_whole(min_quality, 1, 95, "min_quality", call),
    workers = check_workers(workers, call = call)
  )
  quiet <- check_flag(quiet, call = call)
  tb <- trapblur_module(call = call)
  args <- c(list(share, enc2utf8(path.expand(out))), args,
            list(progress = progress_callback(quiet, "Exporting", envir = environment())))
  result <- with_python_errors(do.call(tb$export_zooniverse, args), call = call)
  info <- export_info(result, c("output", "report_csv", "manifests", "subjects", "counts", "upload_commands"))
  frame <- utils::read.csv(info$report_csv, check.names = FALSE, na.strings = "", fileEncoding = "UTF-8",
                           stringsAsFactors = FALSE,
                           colClasses = c(image = "character", action = "character", set = "character",
                                          file = "character", reason = "character"))
  frame$action <- factor(frame$action, levels = c("exported", "excluded", "withheld", "not shared"))
  attr(frame, "export") <- info
  counts <- info$counts
  if (!quiet) {
    cli::cli_inform(c(
      v = "Exported {counts[['exported']]} image{?s} in {info$subjects} subject{?s} ({length(info$manifests)} subject set{?s}); {counts[['excluded']]} excluded.",
      i = "Upload each set with {.code {info$upload_commands[1]}} (SET_ID: the subject set's number)."
    ), class = "trapblur_summary_message")
  }
  if (counts[["withheld"]] > 0) {
    cli::cli_warn(c(
      "{counts[['withheld']]} image{?s} could not be exported (too large even at quality {min_quality}, or unreadable).",
      i = "See the {.field reason} column: {.code res[res$action == \"withheld\", ]}."
    ), class = "trapblur_withheld_warning")
  }
  frame
}

#' Export a blurred folder as a Camtrap DP package
#'
#' Writes a new Camtrap DP 1.0 package from one that describes the images trapblur blurred: its media point
#' at the blurred copies (copied into the new package, without GPS positions or serial numbers), images
#' trapblur withheld are marked `filePublic = false` and not copied, the people found are added as
#' observations of type `human` (and vehicles, when they were blurred), and the package's description says
#' what was done. Existing observations, deployments and identifiers are kept unchanged.
#'
#' @details Media rows are matched to the shareable folder, which mirrors the folder that was blurred, by
#'   `filePath` (its trailing parts, longest first, so the package's media folder or a folder above it may
#'   have been blurred), then by `fileName` when exactly one image has that name.
#' @param share The shareable folder (the `output` of [blur_people()] or [anonymise()]).
#' @param package Path of the package's `datapackage.json`. A package that is not valid Camtrap DP is
#'   refused with an error of class `trapblur_package_format_error` naming the file, row and field.
#' @param out New folder for the new package (an earlier Camtrap DP export there is replaced).
#' @param unmatched What to do with media rows that no image of `share` matches: `"private"` (default:
#'   `filePublic = false`, because nobody checked them for people), `"keep"` (unchanged) or `"error"`.
#' @param quiet If `TRUE`, show no summary.
#' @return A data frame with one row per media row: `mediaID`, `filePath` (as it was), `image` (its path in
#'   the shareable folder), `outcome` (`blurred`, `copied`, `not public` or `unmatched`), `filePublic` (as
#'   written), `observations_added` and `reason`. The attribute `"export"` holds a list with `output`,
#'   `datapackage`, `counts` and `observations_added`. Media made private are reported with a warning of
#'   class `trapblur_withheld_warning`.
#' @seealso [export_zooniverse()] for citizen science.
#' @export
#' @examples
#' \dontrun{
#' blur_people("camtrap/media", results = "md.json", output = "shareable")
#' res <- export_camtrap_dp("shareable", "camtrap/datapackage.json", "camtrap-blurred")
#' table(res$outcome)
#' }
export_camtrap_dp <- function(share, package, out, unmatched = c("private", "keep", "error"), quiet = FALSE) {
  call <- sys.call()[1]
  share <- check_existing_dir(share, call = call)
  package <- check_string(package, call = call)
  if (!file.exists(path.expand(package)) || dir.exists(path.expand(package))) {
    options_error(sprintf("`package` must be the path of an existing datapackage.json; \"%s\" %s.", package,
                          if (dir.exists(path.expand(package))) "is a folder" else "does not exist"), call = call)
  }
  out <- check_string(out, call = call)
  unmatched <- check_choice(unmatched, c("private", "keep", "error"), call = call)
  quiet <- check_flag(quiet, call = call)
  tb <- trapblur_module(call = call)
  result <- with_python_errors(
    tb$export_camtrap_dp(share, enc2utf8(path.expand(package)), enc2utf8(path.expand(out)), unmatched = unmatched),
    call = call
  )
  info <- export_info(result, c("output", "datapackage", "report_csv", "counts", "observations_added"))
  frame <- utils::read.csv(info$report_csv, check.names = FALSE, na.strings = "", fileEncoding = "UTF-8",
                           stringsAsFactors = FALSE, colClasses = c(mediaID = "character", filePath = "character",
                                                                    image = "character", reason = "character"))
  attr(frame, "export") <- info
  counts <- info$counts
  if (!quiet) {
    cli::cli_inform(c(
      v = "Wrote a Camtrap DP package with {counts[['public']]} public media and {info$observations_added} human/vehicle observation{?s} added.",
      i = "Package: {.path {info$datapackage}}."
    ), class = "trapblur_summary_message")
  }
  private <- counts[["not public"]] + if (identical(unmatched, "private")) counts[["unmatched"]] else 0L
  if (private > 0) {
    cli::cli_warn(c(
      "{private} media file{?s} {?is/are} not public (withheld by trapblur, or not found in the shareable folder).",
      i = "See the {.field reason} column: {.code res[res$filePublic == FALSE, ]}."
    ), class = "trapblur_withheld_warning")
  }
  frame
}

# The plain fields of an export's result record, with counts as a named integer vector.
export_info <- function(result, fields) {
  info <- lapply(fields, function(name) reticulate::py_to_r(reticulate::py_get_attr(result, name)))
  names(info) <- fields
  if ("counts" %in% fields) {
    counts <- unlist(info$counts)
    storage.mode(counts) <- "integer"
    info$counts <- counts
  }
  for (name in intersect(c("manifests", "upload_commands"), fields)) {
    info[[name]] <- as.character(unlist(info[[name]]))
  }
  info
}

check_whole <- function(x, lower, upper, arg, call = NULL) {
  if (!is_number(x) || x != round(x) || x < lower || x > upper) {
    arg_error(arg, sprintf("a whole number from %s to %s", format(lower, big.mark = ",", scientific = FALSE),
                           format(upper, big.mark = ",", scientific = FALSE)), x, call)
  }
  as.integer(x)
}

check_burst_gap <- function(x, call = NULL) {
  if (is_number(x) && x >= 0) {
    return(as.double(x))
  }
  if (is.character(x) && length(x) == 1 && !is.na(x) && nzchar(x)) {
    return(x) # the core parses "10s", "500ms", "1m" and names what it cannot read
  }
  arg_error("burst_gap", "a number of seconds or a string like \"10s\"", x, call)
}

check_tag_names <- function(x, call = NULL) {
  if (is.null(x) || length(x) == 0) {
    return(list())
  }
  if (!is.character(x) || anyNA(x) || any(!nzchar(x))) {
    arg_error("keep_metadata", "a character vector of EXIF tag names, like \"DateTimeOriginal\"", x, call)
  }
  as.list(unique(x)) # a list: a single name must reach Python as a list, not a string
}
