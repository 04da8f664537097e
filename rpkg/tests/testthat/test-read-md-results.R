# read_md_results() is pure R: these tests need no Python.

expected_columns <- c("file", "category", "conf", "x_min", "y_min", "width", "height", "category_id",
                      "frame", "classification", "classification_conf", "failure", "file_in_results")

test_that("the example dataset reads as one row per detection with sensible types", {
  ex <- trapblur_example()
  d <- read_md_results(ex$results)
  expect_s3_class(d, "data.frame")
  expect_identical(names(d), expected_columns)
  expect_identical(nrow(d), 4L)
  expect_type(d$file, "character")
  expect_type(d$conf, "double")
  expect_type(d$frame, "integer")
  expect_identical(d$category, c("person", "person", "animal", "animal"))
  expect_equal(unlist(d[1, c("x_min", "y_min", "width", "height")], use.names = FALSE), c(0.25, 0.2, 0.3, 0.6))
  all <- read_md_results(ex$results, include_empty = TRUE)
  expect_identical(nrow(all), 6L)
  expect_setequal(unique(all$file), c("site A/IMG_0001.jpg", "site A/IMG_0002.jpg", "site A/IMG_0003.jpg",
                                      "IMG_0004.jpg", "IMG_0005.jpg"))
  expect_identical(all$failure[all$file == "IMG_0005.jpg"], "image access failure")
  expect_true(is.na(all$category[all$file == "IMG_0004.jpg"]))
  expect_identical(attr(d, "info")$format_version, "1.4")
})

test_that("categories are looked up by name, whatever the ids (PyTorch-Wildlife)", {
  path <- write_json_text('{
    "info": {"detector": "MegaDetectorV6"},
    "detection_categories": {"0": "animal", "1": "person", "2": "vehicle"},
    "images": [
      {"file": "a.jpg", "max_detection_conf": "", "detections": [
        {"category": "1", "conf": 0.8, "bbox": [0.1, 0.2, 0.3, 0.4]},
        {"category": 0, "conf": 0.5, "bbox": [0, 0, 1, 1]}]},
      {"file": "b.jpg", "max_detection_conf": "", "detections": []}
    ]}')
  d <- read_md_results(path)
  expect_identical(d$category, c("person", "animal"))
  expect_identical(d$category_id, c("1", "0"))
})

test_that("animl-py files: format 3.0, empty category, frame, classifications, absolute paths", {
  path <- write_json_text('{
    "info": {"format_version": "3.0", "detector": "MegaDetector v5a", "classifier": "Animl"},
    "detection_categories": {"0": "empty", "1": "animal", "2": "person", "3": "vehicle"},
    "classification_categories": {"0": "cougar", "1": "deer"},
    "images": [{"file": "/home/someone/Southwest/IMAG1065.JPG", "detections": [
      {"category": "2", "conf": 0.74, "frame": 3, "bbox": [0.1, 0.7, 0.2, 0.2],
       "classifications": [["0", 0.2], ["1", 0.7]]}]}]}')
  d <- read_md_results(path)
  expect_identical(d$file, "/home/someone/Southwest/IMAG1065.JPG")
  expect_identical(d$category, "person")
  expect_identical(d$frame, 3L)
  expect_identical(d$classification, "deer")
  expect_equal(d$classification_conf, 0.7)
  expect_identical(attr(d, "info")$format_version, "3.0")
})

test_that("failures with null or absent detections, video frame_number, Windows paths", {
  path <- write_json_text('{
    "detection_categories": {"1": "animal", "2": "person"},
    "images": [
      {"file": "cam1\\\\IMG 1.JPG", "failure": "image access failure", "detections": null},
      {"file": "cam1/IMG 2.JPG", "failure": "inference failure"},
      {"file": "cam1/IMG 3.JPG"},
      {"file": "cam1/v.mp4", "frame_rate": 30, "frames_processed": [0, 30],
       "detections": [{"category": "2", "conf": 0.3, "bbox": [0, 0, 0.5, 0.5], "frame_number": 30}]}
    ]}')
  d <- read_md_results(path)
  expect_identical(nrow(d), 1L)
  expect_identical(d$frame, 30L)
  all <- read_md_results(path, include_empty = TRUE)
  # `file` in the run's form (forward slashes), `file_in_results` as written
  expect_identical(all$file, c("cam1/IMG 1.JPG", "cam1/IMG 2.JPG", "cam1/IMG 3.JPG", "cam1/v.mp4"))
  expect_identical(all$file_in_results, c("cam1\\IMG 1.JPG", "cam1/IMG 2.JPG", "cam1/IMG 3.JPG", "cam1/v.mp4"))
  expect_identical(all$failure, c("image access failure", "inference failure", "no detections in results", NA))
})

test_that("an empty images list gives a zero-row data frame with all columns", {
  d <- read_md_results(write_json_text('{"info": {"format_version": "1.5"}, "detection_categories": {}, "images": []}'))
  expect_identical(nrow(d), 0L)
  expect_identical(names(d), expected_columns)
})

test_that("non-ASCII and spaces in file names and in the path of the file itself", {
  dir <- file.path(tempfile("md-"), "r\u00e9sultats d\u00e9j\u00e0 vu")
  path <- write_json_text(paste0('{"detection_categories": {"2": "person"}, "images": [',
                                 '{"file": "for\u00eat/\u00e9t\u00e9 1.jpg", "detections": [',
                                 '{"category": "2", "conf": 0.9, "bbox": [0, 0, 0.1, 0.1]}]}]}'), dir = dir)
  d <- read_md_results(path)
  expect_identical(d$file, "for\u00eat/\u00e9t\u00e9 1.jpg")
  expect_identical(Encoding(d$file), "UTF-8")
})

test_that("malformed files raise trapblur_results_format_error naming the file and the place", {
  expect_format_error <- function(text, pattern) {
    expect_error(read_md_results(write_json_text(text)), class = "trapblur_results_format_error", regexp = pattern)
  }
  expect_format_error("{not json", "not valid JSON")
  expect_format_error("[1, 2]", "top level must be a JSON object")
  expect_format_error('{"images": []}', "'detection_categories' is missing")
  expect_format_error('{"detection_categories": {"1": "animal"}}', "'images' is missing")
  expect_format_error('{"detection_categories": {"1": "animal"}, "images": [{"detections": []}]}',
                      "images\\[0\\]: 'file'")
  expect_format_error('{"detection_categories": {"1": "animal"}, "images": [{"file": "a.jpg",
                        "detections": [{"category": "1", "conf": 2, "bbox": [0, 0, 1, 1]}]}]}',
                      "images\\[0\\] \\('a.jpg'\\): detections\\[0\\]: 'conf'")
  expect_format_error('{"detection_categories": {"1": "animal"}, "images": [{"file": "a.jpg",
                        "detections": [{"category": "1", "conf": 0.5, "bbox": [0, 0, 1]}]}]}', "'bbox'")
  err <- tryCatch(read_md_results(write_json_text("{")), error = identity)
  expect_s3_class(err, "trapblur_error")
})

test_that("categories missing from detection_categories warn and give NA", {
  path <- write_json_text('{"detection_categories": {"1": "animal"}, "images": [{"file": "a.jpg",
                           "detections": [{"category": "7", "conf": 0.5, "bbox": [0, 0, 1, 1]}]}]}')
  expect_warning(d <- read_md_results(path), class = "trapblur_results_warning")
  expect_true(is.na(d$category))
})

test_that("the real MegaDetector files in ../shared/data/md all read", {
  dir <- shared_md_dir()
  skip_if(!nzchar(dir), "no ../shared/data/md next to the repository")
  files <- list.files(dir, pattern = "\\.json$", full.names = TRUE)
  skip_if(length(files) == 0, "no JSON files in ../shared/data/md")
  for (f in files) {
    d <- read_md_results(f, include_empty = TRUE)
    doc <- jsonlite::read_json(f, simplifyVector = FALSE)
    n_dets <- sum(vapply(doc$images, function(im) if (is.null(im$failure)) length(im$detections) else 0L,
                         integer(1)))
    expect_identical(sum(!is.na(d$category)), n_dets, label = basename(f))
    expect_identical(length(unique(d$file)), length(unique(vapply(doc$images, `[[`, "", "file"))),
                     label = basename(f))
    expect_true(all(d$conf >= 0 & d$conf <= 1, na.rm = TRUE), label = basename(f))
    expect_true(all(d$category %in% c("animal", "person", "vehicle", "empty", NA)), label = basename(f))
  }
})

test_that("with `images`, absolute and other machines' paths become relative, as blur_people() matches them", {
  dir <- tempfile("cams-")
  dir.create(file.path(dir, "site A", "cam1"), recursive = TRUE)
  for (f in c("site A/cam1/a.jpg", "site A/cam1/B.JPG", "c.jpg")) writeLines("x", file.path(dir, f))
  here <- normalizePath(file.path(dir, "site A", "cam1", "a.jpg"), winslash = "/")
  doc <- list(detection_categories = list("2" = "person"), images = list(
    list(file = here, detections = list()),                                            # this machine
    list(file = "D:\\cameras\\site A\\cam1\\B.JPG", detections = list()),            # another machine
    list(file = "/home/kyra/cams/site a/cam1/b.jpg", detections = list()),               # other case, unique
    list(file = ".\\c.jpg", detections = list()),                                       # relative, Windows
    list(file = "/elsewhere/nothing.jpg", detections = list()),                          # no such file
    list(file = "../outside.jpg", detections = list())                                   # climbs out
  ))
  path <- file.path(dir, "md.json")
  jsonlite::write_json(doc, path, auto_unbox = TRUE)
  d <- read_md_results(path, include_empty = TRUE, images = dir)
  expect_identical(d$file, c("site A/cam1/a.jpg", "site A/cam1/B.JPG", "site A/cam1/B.JPG", "c.jpg",
                             "/elsewhere/nothing.jpg", "../outside.jpg"))
  expect_identical(d$file_in_results[[2]], "D:\\cameras\\site A\\cam1\\B.JPG")
  expect_error(read_md_results(path, images = file.path(dir, "none")), class = "trapblur_options_error",
               regexp = "`images`")
})
