# A cli progress bar fed by the Python core's `progress(done, total)` callback. The core calls it from
# the thread that called it (never from a worker thread), so calling back into R is safe. The bar
# belongs to `envir` (the frame of the user-facing function): it closes when it is complete or when that
# function returns, so that one function can show several bars in turn (detection, then blurring).
# `unit = "bytes"` shows sizes and rates in bytes (downloads); `total` may then be unknown (NULL).
progress_callback <- function(quiet, label, envir = parent.frame(), unit = c("images", "bytes")) {
  unit <- match.arg(unit)
  if (isTRUE(quiet)) {
    return(NULL)
  }
  format <- if (unit == "bytes") {
    "{cli::pb_name} {cli::pb_bar} {cli::pb_current_bytes}/{cli::pb_total_bytes} | {cli::pb_rate_bytes} | ETA {cli::pb_eta}"
  } else {
    "{cli::pb_name} {cli::pb_bar} {cli::pb_current}/{cli::pb_total} | {cli::pb_rate} | ETA {cli::pb_eta}"
  }
  state <- new.env(parent = emptyenv())
  function(done, total = NULL) {
    done <- as.double(done)
    total <- if (is.null(total) || length(total) == 0) NA_real_ else as.double(total)
    if (isTRUE(state$finished)) {
      return(invisible(NULL))
    }
    if (is.null(state$bar)) {
      state$bar <- cli::cli_progress_bar(
        name = label, total = if (is.na(total) || total <= 0) NA else total, .envir = envir,
        format = format,
        format_done = paste(label, if (unit == "bytes") "{cli::pb_total_bytes}" else "{cli::pb_total}",
                            "done in {cli::pb_elapsed}"),
        clear = FALSE
      )
    }
    cli::cli_progress_update(id = state$bar, set = done, .envir = envir)
    if (!is.na(total) && total > 0 && done >= total) {
      cli::cli_progress_done(id = state$bar, .envir = envir)
      state$finished <- TRUE
    }
    invisible(NULL)
  }
}
