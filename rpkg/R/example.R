#' Make a small example camera-trap dataset
#'
#' Draws a few small JPEG images in R (no Python needed) and writes a MegaDetector results file for them,
#' so that the examples, the vignette and your own experiments have something to work on. The dataset
#' has one image with a "person" (confidence 0.91), one with a person found with low confidence (0.06),
#' one with an "animal", one empty image, and one image on which the detector "failed" (which
#' [blur_people()] therefore withholds).
#'
#' @param dir Folder to create the dataset in.
#' @return A list with `images` (folder of images), `results` (the results file) and `output` (a
#'   folder name inside `dir` to write the anonymised copy to; not created).
#' @export
#' @examples
#' ex <- trapblur_example()
#' list.files(ex$images, recursive = TRUE)
#' read_md_results(ex$results)
trapblur_example <- function(dir = tempfile("trapblur-example-")) {
  dir <- check_string(dir, arg = "dir")
  images <- file.path(dir, "images")
  dir.create(file.path(images, "site A"), recursive = TRUE, showWarnings = FALSE)
  entries <- list(
    list(file = "site A/IMG_0001.jpg", dets = list(list(category = "2", conf = 0.91, bbox = c(0.25, 0.2, 0.3, 0.6)))),
    list(file = "site A/IMG_0002.jpg", dets = list(list(category = "2", conf = 0.06, bbox = c(0.6, 0.5, 0.2, 0.3)),
                                                   list(category = "1", conf = 0.84, bbox = c(0.1, 0.4, 0.3, 0.3)))),
    list(file = "site A/IMG_0003.jpg", dets = list(list(category = "1", conf = 0.97, bbox = c(0.4, 0.3, 0.35, 0.4)))),
    list(file = "IMG_0004.jpg", dets = list()),
    list(file = "IMG_0005.jpg", failure = "image access failure")
  )
  for (i in seq_along(entries)) {
    draw_example_image(file.path(images, entries[[i]]$file), seed = i)
  }
  doc <- list(
    info = list(format_version = "1.4", detector = "trapblur_example() (made-up detections, not a model run)"),
    detection_categories = list("1" = "animal", "2" = "person", "3" = "vehicle"),
    images = lapply(entries, function(e) {
      if (!is.null(e$failure)) {
        return(list(file = e$file, failure = e$failure, detections = NULL))
      }
      list(file = e$file, detections = lapply(e$dets, function(d) {
        list(category = d$category, conf = d$conf, bbox = as.list(d$bbox))
      }))
    })
  )
  results <- file.path(dir, "md_results.json")
  jsonlite::write_json(doc, results, auto_unbox = TRUE, null = "null", pretty = TRUE, digits = NA)
  list(images = images, results = results, output = file.path(dir, "shared"))
}

# A 160 x 120 JPEG with texture everywhere (a blur then visibly changes the pixels in a box).
draw_example_image <- function(path, seed, width = 160L, height = 120L) {
  x <- seq_len(width)
  y <- seq_len(height)
  r <- outer(y, x, function(y, x) (sin(x / (3 + seed)) + cos(y / 4)) / 4 + 0.5)
  g <- outer(y, x, function(y, x) ((x %/% 8 + y %/% 8) %% 2) * 0.6 + 0.2)
  b <- outer(y, x, function(y, x) (x + y * seed) %% 17 / 17)
  img <- grDevices::rgb(r, g, b)
  dim(img) <- c(height, width)
  grDevices::jpeg(path, width = width, height = height, quality = 95)
  on.exit(grDevices::dev.off())
  graphics::par(mar = c(0, 0, 0, 0)) # on this new device only
  graphics::plot.new()
  graphics::plot.window(xlim = c(0, 1), ylim = c(0, 1), xaxs = "i", yaxs = "i")
  graphics::rasterImage(img, 0, 0, 1, 1, interpolate = FALSE)
  invisible(path)
}
