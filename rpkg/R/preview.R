#' Look at blurred images before sharing them
#'
#' Draws, for a few images of a run, the original with its detection boxes next to what is in the
#' shareable folder: blurred images (sampled, or the ones you choose), and the images most worth a
#' second look: those written *unblurred* although a person (or another selected category) was detected
#' just under the threshold. Boxes that were blurred are drawn in red, boxes under the threshold in
#' dashed orange with their confidence, so you can see whether a lower `threshold` is needed before the
#' data leaves your hands.
#'
#' It reads the originals and the output and writes nothing into either folder (small temporary copies
#' are made in R's temporary folder, upright as the camera meant them, and deleted afterwards). It needs
#' the Python core (to decode the images) and the R package png (`install.packages("png")`, or
#' `apt install r-cran-png` on Debian and Ubuntu).
#'
#' @param run A `trapblur_run` from [blur_people()] or [anonymise()].
#' @param n How many blurred images to show (chosen at random among them, unless `files` is given).
#' @param files Images to show, as in `run$file`, instead of a random choice.
#' @param near How many images with a detection under the threshold to show as well (the most confident
#'   first); `0` for none.
#' @param seed Seed for the random choice, for the same pictures next time; `NULL` for a new choice.
#' @param max_size Longest side, in pixels, of the pictures drawn (larger is sharper and slower).
#' @return Invisibly, a data frame of what was drawn: `file`, `shown` (`"blurred"`, `"near threshold"`
#'   or `"chosen"`), `action`, and `conf` (the highest confidence of a box drawn).
#' @seealso [blur_people()], [anonymise()]; `plot(run)` does the same.
#' @export
#' @examples
#' ex <- trapblur_example()
#' if (trapblur_available() && requireNamespace("png", quietly = TRUE)) {
#'   res <- suppressWarnings(blur_people(ex$images, ex$results, ex$output, quiet = TRUE))
#'   plot(res, n = 1)
#' }
preview_blur <- function(run, n = 4, files = NULL, near = 2, seed = NULL, max_size = 800) {
  call <- sys.call()[1]
  if (!inherits(run, "trapblur_run") || is.null(attr(run, "settings")) || is.null(attr(run, "report"))) {
    options_error("`run` must be the result of `blur_people()` or `anonymise()` (its rows, not only some columns).",
                  call = call)
  }
  if (!is_number(n) || n < 0 || n != round(n)) arg_error("n", "a whole number of at least 0", n, call)
  if (!is_number(near) || near < 0 || near != round(near)) arg_error("near", "a whole number of at least 0", near, call)
  if (!is_number(max_size) || max_size < 32) arg_error("max_size", "a number of pixels of at least 32", max_size, call)
  if (!is.null(files) && (!is.character(files) || anyNA(files))) arg_error("files", "a character vector of files from `run$file`", files, call)
  if (!requireNamespace("png", quietly = TRUE)) {
    trapblur_abort(c("`preview_blur()` needs the R package png.",
                     i = "Install it with `install.packages(\"png\")` (Debian, Ubuntu: `apt install r-cran-png`)."),
                   class = "trapblur_missing_package_error", call = call)
  }
  settings <- attr(run, "settings")
  report <- attr(run, "report")
  boxes <- run_boxes(run, settings, report)

  chosen <- if (!is.null(files)) {
    unknown <- setdiff(files, run$file)
    if (length(unknown) > 0) {
      options_error(sprintf("`files` must be files of the run (as in `run$file`); not: %s.",
                            paste0("\"", utils::head(unknown, 3), "\"", collapse = ", ")), call = call)
    }
    data.frame(file = files, shown = "chosen", stringsAsFactors = FALSE)
  } else {
    blurred <- run$file[run$action %in% "blurred"]
    if (!is.null(seed)) {
      old <- if (exists(".Random.seed", envir = globalenv())) get(".Random.seed", envir = globalenv()) else NULL
      on.exit(if (is.null(old)) rm(".Random.seed", envir = globalenv()) else assign(".Random.seed", old, envir = globalenv()),
              add = TRUE)
      set.seed(seed)
    }
    picked <- if (length(blurred) > n) blurred[sort(sample.int(length(blurred), n))] else blurred
    under <- boxes[!boxes$selected & boxes$file %in% run$file[run$action %in% "copied"], , drop = FALSE]
    under <- under[order(-under$conf), , drop = FALSE]
    close <- utils::head(unique(under$file), near)
    data.frame(file = c(picked, close), shown = rep(c("blurred", "near threshold"), c(length(picked), length(close))),
               stringsAsFactors = FALSE)
  }
  if (nrow(chosen) == 0) {
    cli::cli_inform(c(i = "Nothing to show: no blurred image, and no image with a detection under the threshold."))
    return(invisible(data.frame(file = character(), shown = character(), action = character(), conf = numeric(),
                                stringsAsFactors = FALSE)))
  }
  rows <- match(chosen$file, run$file)
  chosen$action <- as.character(run$action[rows])
  chosen$conf <- vapply(chosen$file, function(f) {
    conf <- boxes$conf[boxes$file == f]
    if (length(conf) == 0) NA_real_ else max(conf)
  }, numeric(1), USE.NAMES = FALSE)

  trapblur_module(call = call) # Python, started from the environment trapblur uses
  helper <- r_helpers()
  scratch <- tempfile("trapblur-preview-")
  dir.create(scratch)
  on.exit(unlink(scratch, recursive = TRUE), add = TRUE)
  picture <- function(path, name) {
    if (is.na(path) || !file.exists(path)) {
      return(NULL)
    }
    target <- file.path(scratch, sprintf("%s.png", name))
    size <- helper$render(enc2utf8(path), enc2utf8(target), as.integer(max_size))
    if (is.character(size)) NULL else png::readPNG(target)
  }

  old_par <- graphics::par(mfrow = c(nrow(chosen), 2), mar = c(0.2, 0.2, 1.6, 0.2), oma = c(0, 0, 0, 0))
  on.exit(graphics::par(old_par), add = TRUE)
  for (i in seq_len(nrow(chosen))) {
    row <- rows[[i]]
    original <- picture(file.path(settings$images, run$input[[row]]), sprintf("%d-before", i))
    written <- if (is.na(run$output[[row]])) NULL else picture(file.path(report$output, run$output[[row]]), sprintf("%d-after", i))
    mine <- boxes[boxes$file == chosen$file[[i]], , drop = FALSE]
    draw_picture(original, mine, sprintf("%s: before", chosen$file[[i]]))
    after_title <- switch(chosen$action[[i]],
      blurred = "shared (blurred)",
      copied = if (chosen$shown[[i]] == "near threshold") "shared UNBLURRED (under the threshold)" else "shared (unchanged)",
      sprintf("not shared (%s)", chosen$action[[i]])
    )
    draw_picture(written, mine[0, , drop = FALSE], after_title,
                 empty = if (is.na(run$output[[row]])) "not written" else "cannot be shown")
  }
  invisible(chosen)
}

# Every box of the run's images, in the images' (upright) frame: file (as run$file), conf, category,
# box, and whether the run blurred it (`selected`).
run_boxes <- function(run, settings, report) {
  results <- report$results_json
  none <- data.frame(file = character(), category = character(), conf = numeric(), x_min = numeric(),
                     y_min = numeric(), width = numeric(), height = numeric(), selected = logical(),
                     stringsAsFactors = FALSE)
  if (is.null(results) || !file.exists(results)) {
    return(none)
  }
  # The output's results file lists every written image by its output path, with all its detections.
  dets <- suppressWarnings(read_md_results(results))
  dets$file <- run$file[match(dets$file, results_key(run$output))]
  dets <- dets[!is.na(dets$file) & !is.na(dets$category), , drop = FALSE]
  categories <- unlist(settings$categories %||% "person")
  dets <- dets[dets$category %in% categories, , drop = FALSE]
  limit <- vapply(dets$category, threshold_for, numeric(1), threshold = settings$threshold, USE.NAMES = FALSE)
  dets$selected <- dets$conf >= limit
  dets[c("file", "category", "conf", "x_min", "y_min", "width", "height", "selected")]
}

threshold_for <- function(category, threshold) {
  if (is.null(threshold)) {
    return(0.1)
  }
  if (is.list(threshold) || !is.null(names(threshold))) {
    value <- unlist(threshold)[category]
    return(if (is.na(value)) 0.1 else unname(value)) # the core's default for a category without one
  }
  threshold
}

draw_picture <- function(picture, boxes, title, empty = "cannot be shown") {
  graphics::plot.new()
  if (is.null(picture)) {
    graphics::plot.window(xlim = c(0, 1), ylim = c(0, 1))
    graphics::text(0.5, 0.5, empty, col = "grey40")
    graphics::title(main = title, cex.main = 0.8, font.main = 1)
    return(invisible())
  }
  h <- dim(picture)[[1]]
  w <- dim(picture)[[2]]
  graphics::plot.window(xlim = c(0, w), ylim = c(h, 0), asp = 1, xaxs = "i", yaxs = "i")
  graphics::rasterImage(picture, 0, h, w, 0, interpolate = TRUE)
  for (k in seq_len(nrow(boxes))) {
    b <- boxes[k, ]
    chosen <- isTRUE(b$selected)
    graphics::rect(b$x_min * w, b$y_min * h, (b$x_min + b$width) * w, (b$y_min + b$height) * h,
                   border = if (chosen) "red" else "orange", lty = if (chosen) 1 else 2, lwd = 2)
    graphics::text(b$x_min * w, b$y_min * h, sprintf("%s %.2f", b$category, b$conf), adj = c(0, -0.3),
                   col = if (chosen) "red" else "orange", cex = 0.7, xpd = NA)
  }
  graphics::title(main = title, cex.main = 0.8, font.main = 1)
  invisible()
}
