# The trapblur_run that blur_people() returns: a data frame with print(), summary() and plot(), whose
# `file` key joins read_md_results(), and pictures drawn without writing into the shareable folder.

# Results written on Windows (backslashes), by a tool with absolute paths from another machine (animl),
# and plain ones, for the same folder.
# Results made on a Windows machine: relative paths with backslashes, and absolute ones under the other
# machine's folder (one folder, as one MegaDetector run writes; the core refuses to guess between several).
windows_results <- function(ex) {
  doc <- jsonlite::read_json(ex$results, simplifyVector = FALSE)
  for (i in seq_along(doc$images)) {
    file <- doc$images[[i]]$file
    doc$images[[i]]$file <- switch(as.character(i %% 3),
      "0" = gsub("/", "\\\\", file),                            # site A\IMG_0001.jpg
      "1" = paste0("D:\\cameras\\2024\\", gsub("/", "\\\\", file)), # D:\cameras\2024\site A\IMG_0002.jpg
      "2" = paste0("D:/cameras/2024/", file)                     # D:/cameras/2024/site B/IMG_0001.jpg
    )
  }
  path <- file.path(dirname(ex$results), "md_windows.json")
  jsonlite::write_json(doc, path, auto_unbox = TRUE, null = "null", digits = NA, pretty = TRUE)
  path
}

test_that("blur_people() returns a trapblur_run data frame with the report and settings as attributes", {
  skip_if_no_blur()
  ex <- trapblur_example()
  res <- suppressWarnings(blur_people(ex$images, ex$results, ex$output, threshold = 0.2, quiet = TRUE))
  expect_s3_class(res, c("trapblur_run", "data.frame"), exact = TRUE)
  expect_identical(names(res)[[1]], "file")
  expect_identical(res$file, res$input)
  expect_identical(as.vector(table(res$action)[c("blurred", "copied", "withheld")]), c(1L, 3L, 1L))
  report <- attr(res, "report")
  expect_identical(report$counts[["blurred"]], 1L)
  expect_identical(report$total, 5L)
  expect_true(file.exists(report$report_csv))
  expect_identical(normalizePath(report$output), normalizePath(ex$output))
  settings <- attr(res, "settings")
  expect_identical(settings[["function"]], "blur_people")
  expect_identical(settings$threshold, 0.2)
  expect_identical(settings$jpeg_mode, "lossless")
  # row subsets stay a trapblur_run and print what they hold
  blurred <- res[res$action == "blurred", ]
  expect_s3_class(blurred, "trapblur_run")
  expect_output(print(blurred), "1 file: 1 blurred", fixed = TRUE)
  # dplyr-style and base operations see a plain data frame underneath
  expect_identical(nrow(as.data.frame(res)), 5L)
  expect_identical(class(as.data.frame(res)), "data.frame")
})

test_that("print() and summary() say what happened in a few lines", {
  skip_if_no_blur()
  ex <- trapblur_example()
  res <- suppressWarnings(blur_people(ex$images, ex$results, ex$output, threshold = 0.2, quiet = TRUE))
  out <- capture.output(print(res))
  expect_match(out[[1]], "<trapblur_run from blur_people()> 5 files: 1 blurred, 3 copied, 1 withheld", fixed = TRUE)
  expect_match(out[[2]], paste("Output:  ", attr(res, "report")$output), fixed = TRUE)
  expect_match(out[[3]], "trapblur_report.csv", fixed = TRUE)
  expect_match(out[[4]], "Settings: threshold 0.2 for person | strength 1 | gaussian rectangle, padding 0.1", fixed = TRUE)
  expect_match(out[[5]], "Not written: 1", fixed = TRUE)
  expect_true(any(grepl("site A/IMG_0001.jpg +blurred", out)))
  capture.output(shown <- withVisible(print(res)))
  expect_identical(shown$visible, FALSE)
  expect_identical(shown$value, res)

  s <- summary(res)
  expect_s3_class(s, "summary.trapblur_run")
  expect_identical(s$counts[["blurred"]], 1L)
  expect_identical(s$counts[["withheld"]], 1L)
  expect_identical(s$regions, 1L)
  expect_identical(names(s$reasons), "the detector could not process it (image access failure)")
  expect_identical(as.vector(s$encoding[c("copy", "lossless")]), c(3L, 1L))
  text <- capture.output(print(s))
  expect_true(any(grepl("1 x the detector could not process it", text, fixed = TRUE)))
  expect_true(any(grepl("^Time: ", text)))
})

test_that("run files join read_md_results() files, also for results made on Windows", {
  skip_if_no_blur()
  ex <- trapblur_example()
  res <- suppressWarnings(blur_people(ex$images, ex$results, ex$output, threshold = 0.2, quiet = TRUE))
  dets <- read_md_results(ex$results)
  joined <- merge(res[c("file", "action")], dets, by = "file")
  expect_identical(nrow(joined), nrow(dets))
  expect_identical(unique(as.character(joined$action[joined$conf >= 0.2 & joined$category == "person"])), "blurred")

  windows <- windows_results(ex)
  res_w <- suppressWarnings(blur_people(ex$images, windows, tempfile("shared-"), threshold = 0.2, quiet = TRUE))
  expect_setequal(res_w$file, res$file)
  expect_identical(as.character(res_w$action[order(res_w$file)]), as.character(res$action[order(res$file)]))
  dets_w <- read_md_results(windows, include_empty = TRUE, images = ex$images)
  expect_false(any(grepl("\\\\", dets_w$file)))
  expect_setequal(dets_w$file, res_w$file)
  expect_true(any(grepl("^D:", dets_w$file_in_results)))
  joined_w <- merge(res_w, dets_w, by = "file")
  expect_identical(nrow(joined_w), nrow(dets_w))
  # without `images`, relative backslash paths still become the run's form; absolute ones stay absolute
  plain <- read_md_results(windows, include_empty = TRUE)
  expect_true("site A/IMG_0003.jpg" %in% plain$file)
  absolute <- plain$file[grepl("^D:", plain$file_in_results)]
  expect_true(length(absolute) >= 2 && all(startsWith(absolute, "D:/cameras/2024/")))
  expect_true("D:/cameras/2024/IMG_0004.jpg" %in% plain$file)
})

test_that("plot() draws before/after and near-threshold pictures to a file, writing nothing into the folders", {
  skip_if_no_blur()
  skip_if_not_installed("png")
  ex <- trapblur_example()
  res <- suppressWarnings(blur_people(ex$images, ex$results, ex$output, threshold = 0.2, quiet = TRUE))
  listing <- function(dir) {
    files <- list.files(dir, recursive = TRUE, all.files = TRUE, full.names = TRUE)
    data.frame(file = files, md5 = unname(tools::md5sum(files)), mtime = file.mtime(files))
  }
  before_out <- listing(ex$output)
  before_in <- listing(ex$images)

  picture <- tempfile(fileext = ".png")
  grDevices::png(picture, width = 600, height = 600)
  shown <- plot(res, n = 4)
  grDevices::dev.off()
  expect_true(file.exists(picture))
  expect_gt(file.size(picture), 10000)
  drawn <- png::readPNG(picture)
  expect_gt(stats::sd(as.vector(drawn[, , 1])), 0.05) # pictures, not a blank page
  # what it shows: the blurred image, and the copied image whose person (0.06) is under the threshold
  expect_identical(shown$file, c("site A/IMG_0001.jpg", "site A/IMG_0002.jpg"))
  expect_identical(shown$shown, c("blurred", "near threshold"))
  expect_equal(shown$conf, c(0.91, 0.06))
  expect_identical(listing(ex$output), before_out)
  expect_identical(listing(ex$images), before_in)

  chosen <- tempfile(fileext = ".png")
  grDevices::png(chosen)
  shown <- preview_blur(res, files = "IMG_0005.jpg", seed = 1)
  grDevices::dev.off()
  expect_identical(shown$action, "withheld")
  expect_true(file.exists(chosen))
  expect_error(preview_blur(res, files = "nope.jpg"), class = "trapblur_options_error")
  expect_error(preview_blur(as.data.frame(res)), class = "trapblur_options_error")
  expect_error(preview_blur(res, n = -1), class = "trapblur_options_error")
})

test_that("pictures are drawn upright, from rotated originals too", {
  skip_if_no_blur()
  skip_if_not_installed("png")
  images <- file.path(shared_md_dir(), "..", "images")
  rotated <- file.path(images, "animal_stn_african_elephants_with_exif_orientation.jpg")
  skip_if_not(file.exists(rotated), "../shared/data/images is not beside the project")
  dir <- tempfile("rotated-")
  dir.create(file.path(dir, "in"), recursive = TRUE)
  file.copy(rotated, file.path(dir, "in", "rotated.jpg"))
  file.copy(file.path(images, "animal_stn_african_elephants.jpg"), file.path(dir, "in", "upright.jpg"))
  box <- list(category = "2", conf = 0.9, bbox = list(0.565, 0.42, 0.08, 0.16))
  doc <- list(info = list(format_version = "1.4"), detection_categories = list("2" = "person"),
              images = list(list(file = "rotated.jpg", detections = list(box)),
                            list(file = "upright.jpg", detections = list(box))))
  jsonlite::write_json(doc, file.path(dir, "md.json"), auto_unbox = TRUE, digits = NA)
  res <- blur_people(file.path(dir, "in"), file.path(dir, "md.json"), file.path(dir, "out"), quiet = TRUE)
  sizes <- list()
  for (name in c("rotated.jpg", "upright.jpg")) {
    f <- tempfile(fileext = ".png")
    grDevices::png(f, width = 400, height = 200)
    preview_blur(res, files = name, max_size = 200)
    grDevices::dev.off()
    sizes[[name]] <- png::readPNG(f)
  }
  # the same upright scene: the two drawings match closely
  expect_lt(mean(abs(sizes[[1]] - sizes[[2]])), 0.05)
})
