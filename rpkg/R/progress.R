# A cli progress bar fed by the Python core's `progress(done, total)` callback. The core calls it from
# the thread that called it (never from a worker thread), so calling back into R is safe. The bar
# belongs to `envir` (the frame of the user-facing function) and closes when that function returns.
progress_callback <- function(quiet, label, envir = parent.frame()) {
  if (isTRUE(quiet)) {
    return(NULL)
  }
  state <- new.env(parent = emptyenv())
  function(done, total) {
    done <- as.integer(done)
    total <- as.integer(total)
    if (is.null(state$bar)) {
      state$bar <- cli::cli_progress_bar(
        name = label, total = if (is.na(total) || total <= 0) NA else total, .envir = envir,
        format = "{cli::pb_name} {cli::pb_bar} {cli::pb_current}/{cli::pb_total} | {cli::pb_rate} | ETA {cli::pb_eta}"
      )
    }
    cli::cli_progress_update(id = state$bar, set = done, .envir = envir)
    invisible(NULL)
  }
}
