# The result of blur_people() and anonymise(): a data frame of the run's report, one row per file, with
# class c("trapblur_run", "data.frame") and the attributes "report" (the core's RunReport, as a list) and
# "settings" (what the run was asked to do). Subsetting rows keeps both; print() and summary() count
# from the rows, so a subset prints truthfully.

report_actions <- c("blurred", "copied", "withheld", "failed", "missing", "refused", "malformed", "ignored")

report_col_classes <- c(input = "character", output = "character", action = "character",
                        regions = "integer", max_person_conf = "numeric", encoding = "character",
                        reason = "character", correction = "character", input_sha256 = "character",
                        entry_sha256 = "character")

# The per-image data frame, read from the CSV the core wrote (not passed as big lists through reticulate).
# Columns this package does not know are kept, with the type read.csv() gives them.
# `encoding = "UTF-8"`, not `fileEncoding`: a file name that is not valid UTF-8 (possible on Linux) is
# written as its raw bytes, and re-encoding through fileEncoding would stop reading at that row.
read_report_csv <- function(path) {
  header <- names(utils::read.csv(path, nrows = 1, check.names = FALSE, encoding = "UTF-8"))
  col_classes <- rep("character", length(header))
  names(col_classes) <- header
  known <- intersect(header, names(report_col_classes))
  col_classes[known] <- report_col_classes[known]
  frame <- utils::read.csv(path, colClasses = col_classes, check.names = FALSE, na.strings = "",
                           encoding = "UTF-8", stringsAsFactors = FALSE)
  for (name in setdiff(header, names(report_col_classes))) {
    frame[[name]] <- utils::type.convert(frame[[name]], as.is = TRUE, na.strings = "")
  }
  if ("action" %in% names(frame)) {
    frame$action <- factor(frame$action, levels = union(report_actions, unique(frame$action[!is.na(frame$action)])))
  }
  if ("reason" %in% names(frame)) {
    frame$reason <- r_wording(frame$reason)
  }
  if ("input" %in% names(frame) && !"file" %in% names(frame)) {
    frame <- cbind(file = results_key(frame$input), frame, stringsAsFactors = FALSE)
  }
  frame
}

# The core's RunReport as a plain R list: every field of the dataclass (new ones included), plus the
# properties R users expect.
report_list <- function(report) {
  fields <- tryCatch(reticulate::import("dataclasses", convert = TRUE)$asdict(report), error = function(e) list())
  plain <- function(v) {
    if (inherits(v, "python.builtin.object")) v <- tryCatch(reticulate::py_to_r(v), error = function(e) NULL)
    if (inherits(v, "python.builtin.object")) v <- tryCatch(as.character(reticulate::py_str(v)), error = function(e) NULL)
    v
  }
  fields <- lapply(fields, plain)
  for (name in c("images_per_second", "ok")) {
    value <- tryCatch(plain(reticulate::py_get_attr(report, name, silent = TRUE)), error = function(e) NULL)
    if (!is.null(value)) fields[[name]] <- value
  }
  counts <- unlist(fields$counts %||% list())
  if (length(counts) > 0) storage.mode(counts) <- "integer"
  fields$counts <- counts
  reasons <- unlist(fields$reasons %||% list())
  if (length(reasons) > 0) {
    storage.mode(reasons) <- "integer"
    names(reasons) <- r_wording(names(reasons))
  }
  fields$reasons <- reasons
  fields$warnings <- r_wording(as.character(unlist(fields$warnings %||% list())))
  fields
}

new_trapblur_run <- function(report, settings, quiet) {
  info <- report_list(report)
  frame <- read_report_csv(info$report_csv)
  run <- structure(frame, class = c("trapblur_run", "data.frame"), report = info, settings = settings)
  count <- function(action) sum(frame$action %in% action)
  # The core's own warnings first: they say whether the results fit the folder at all.
  for (message in info$warnings) {
    cli::cli_warn("{message}", class = "trapblur_run_warning")
  }
  if (!quiet) {
    cli::cli_inform(c(
      v = "{format_counts(run)} in {format(round(info$elapsed_s %||% NA_real_, 1), nsmall = 1)} s.",
      i = "Output: {.path {info$output}}; report: {.path {info$report_csv}}."
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
  run
}

# "6 images: 2 blurred, 3 copied, 1 withheld" (from the rows, so that subsets are counted truthfully).
format_counts <- function(x) {
  action <- if ("action" %in% names(x)) as.character(x$action) else character()
  counts <- table(factor(action, levels = union(report_actions, unique(action))))
  counts <- counts[counts > 0]
  files <- sum(counts)
  parts <- if (length(counts) > 0) paste(sprintf("%d %s", counts, names(counts)), collapse = ", ") else "nothing"
  sprintf("%d file%s: %s", files, if (files == 1) "" else "s", parts)
}

format_threshold <- function(threshold, categories) {
  if (is.null(threshold)) {
    return("?")
  }
  if (is.list(threshold) || !is.null(names(threshold))) {
    values <- unlist(threshold)
    return(paste(sprintf("%s %s", names(values), format(values)), collapse = ", "))
  }
  sprintf("%s for %s", format(threshold), paste(unlist(categories), collapse = ", "))
}

format_settings <- function(settings) {
  if (is.null(settings)) {
    return(character())
  }
  get <- function(name, default = "?") if (is.null(settings[[name]])) default else format(settings[[name]])
  c(
    sprintf("threshold %s", format_threshold(settings$threshold, settings$categories)),
    sprintf("strength %s", get("strength")),
    sprintf("%s %s, padding %s", get("method"), get("shape"), get("padding")),
    sprintf("jpeg_mode %s", get("jpeg_mode")),
    if (isTRUE(settings$copy_unlisted)) "copy_unlisted = TRUE",
    if (!is.null(settings$model) && !is.na(settings$model)) sprintf("model %s", settings$model)
  )
}

#' @export
format.trapblur_run <- function(x, ...) {
  report <- attr(x, "report")
  settings <- attr(x, "settings")
  what <- if (!is.null(settings[["function"]])) sprintf(" from %s()", settings[["function"]]) else ""
  lines <- sprintf("<trapblur_run%s> %s", what, format_counts(x))
  if (!is.null(report$output)) lines <- c(lines, sprintf("Output:   %s", report$output))
  if (!is.null(report$report_csv)) lines <- c(lines, sprintf("Report:   %s", report$report_csv))
  if (!is.null(settings)) lines <- c(lines, sprintf("Settings: %s", paste(format_settings(settings), collapse = " | ")))
  if ("action" %in% names(x)) {
    problems <- sum(x$action %in% c("withheld", "failed"))
    if (problems > 0) {
      lines <- c(lines, sprintf("Not written: %d (withheld or failed); their `reason` says why: x[x$action %%in%% c(\"withheld\", \"failed\"), ]",
                                problems))
    }
  }
  lines
}

#' Print, summarise and plot the result of a blurring run
#'
#' `print()` says what happened in a few lines (the counts by action, the output folder, the report's
#' path and the settings), then shows the first rows. `summary()` adds the reasons images were withheld
#' or failed, how the written files were encoded, and the speed. `plot()` draws before/after pictures
#' (see [preview_blur()]).
#'
#' @param x,object A `trapblur_run` from [blur_people()] or [anonymise()].
#' @param n Number of rows to show.
#' @param ... Passed to [preview_blur()] by `plot()`; unused otherwise.
#' @return `x` invisibly (`print()`); a `summary.trapblur_run` list with `counts`, `reasons`,
#'   `encoding`, `regions`, `report` and `settings` (`summary()`).
#' @seealso [blur_people()], [preview_blur()].
#' @name trapblur_run
#' @examples
#' ex <- trapblur_example()
#' if (trapblur_available()) {
#'   res <- suppressWarnings(blur_people(ex$images, ex$results, ex$output, quiet = TRUE))
#'   res
#'   summary(res)
#'   res[res$action == "blurred", ]
#' }
NULL

#' @rdname trapblur_run
#' @export
print.trapblur_run <- function(x, n = 10, ...) {
  cat(format(x), sep = "\n")
  frame <- as.data.frame(x)
  shown <- intersect(c("file", "action", "regions", "max_person_conf", "encoding", "reason"), names(frame))
  if (length(shown) == 0) shown <- names(frame)
  if (nrow(frame) > 0) {
    cat("\n")
    rows <- utils::head(frame[shown], n)
    for (name in names(rows)) { # long reasons would wrap the table: the whole text is in x$reason
      if (is.character(rows[[name]])) {
        long <- !is.na(rows[[name]]) & nchar(rows[[name]]) > 48
        rows[[name]][long] <- paste0(substr(rows[[name]][long], 1, 46), "...")
      }
    }
    print(rows, row.names = FALSE, right = FALSE)
  }
  more <- c(
    if (nrow(frame) > n) sprintf("%d more rows", nrow(frame) - n),
    if (length(setdiff(names(frame), shown)) > 0) sprintf("other columns: %s", paste(setdiff(names(frame), shown), collapse = ", "))
  )
  if (length(more) > 0) cat(sprintf("# ... %s\n", paste(more, collapse = "; ")))
  invisible(x)
}

#' @rdname trapblur_run
#' @export
summary.trapblur_run <- function(object, ...) {
  action <- if ("action" %in% names(object)) as.character(object$action) else character()
  problems <- action %in% c("withheld", "failed")
  reasons <- if ("reason" %in% names(object) && any(problems)) {
    sort(table(object$reason[problems], dnn = NULL), decreasing = TRUE)
  } else {
    table(character(), dnn = NULL)
  }
  written <- action %in% c("blurred", "copied")
  structure(list(
    counts = table(factor(action, levels = union(report_actions, unique(action))), dnn = NULL),
    reasons = reasons,
    encoding = if ("encoding" %in% names(object)) table(object$encoding[written], dnn = NULL) else NULL,
    regions = if ("regions" %in% names(object)) sum(object$regions, na.rm = TRUE) else NA_integer_,
    report = attr(object, "report"),
    settings = attr(object, "settings"),
    header = format_counts(object)
  ), class = "summary.trapblur_run")
}

#' @export
print.summary.trapblur_run <- function(x, ...) {
  cat(sprintf("trapblur run: %s\n", x$header))
  counts <- x$counts[x$counts > 0 | names(x$counts) %in% c("blurred", "copied", "withheld", "failed")]
  cat("\nActions:\n")
  print(counts)
  if (!is.na(x$regions)) cat(sprintf("\nRegions hidden: %d\n", x$regions))
  if (length(x$reasons) > 0) {
    cat("\nWhy images were not written:\n")
    for (i in seq_along(x$reasons)) cat(sprintf("  %5d x %s\n", x$reasons[[i]], names(x$reasons)[[i]]))
  }
  if (!is.null(x$encoding) && length(x$encoding) > 0) {
    cat("\nHow written files were made:\n")
    print(x$encoding)
  }
  if (!is.null(x$settings)) cat(sprintf("\nSettings: %s\n", paste(format_settings(x$settings), collapse = " | ")))
  report <- x$report
  if (!is.null(report$elapsed_s)) {
    cat(sprintf("Time: %.1f s (%.1f images/s)\n", report$elapsed_s, report$images_per_second %||% NA_real_))
  }
  if (!is.null(report$output)) cat(sprintf("Output: %s\nReport: %s\n", report$output, report$report_csv))
  invisible(x)
}

#' @rdname trapblur_run
#' @export
plot.trapblur_run <- function(x, ...) {
  preview_blur(x, ...)
}
