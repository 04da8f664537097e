# Detection comes from a later part of the Python core: these tests skip with a message until
# trapblur.detect exists (TRAPBLUR_REQUIRE_DETECTION=true makes that a failure).

test_that("without detection in the core, detect_people() and anonymise() say so with a classed error", {
  skip_if_no_trapblur()
  skip_if(trapblur_available(detection = TRUE), "the core has detection")
  ex <- trapblur_example()
  expect_error(detect_people(ex$images, quiet = TRUE), class = "trapblur_detection_unavailable_error",
               regexp = "has no detection")
  expect_error(anonymise(ex$images, tempfile(), quiet = TRUE), class = "trapblur_detection_unavailable_error")
})

test_that("detect_people() returns one row per detection and writes a results file", {
  skip_if_no_detection()
  ex <- trapblur_example()
  json <- file.path(tempfile("det "), "d\u00e9tections.json")
  dir.create(dirname(json))
  found <- detect_people(ex$images, output_json = json, quiet = TRUE)
  expect_s3_class(found, "data.frame")
  expect_true(file.exists(json))
  expect_identical(attr(found, "results_json"), json)
  expect_true(all(c("file", "category", "conf", "x_min", "y_min", "width", "height") %in% names(found)))
  expect_identical(names(read_md_results(json)), names(found))
  all <- detect_people(ex$images, include_empty = TRUE, quiet = TRUE)
  expect_setequal(unique(all$file), unique(read_md_results(ex$results, include_empty = TRUE)$file))
})

test_that("anonymise() detects and blurs in one step", {
  skip_if_no_detection()
  ex <- trapblur_example()
  res <- suppressWarnings(anonymise(ex$images, ex$output, quiet = TRUE))
  expect_s3_class(res$action, "factor")
  expect_true(all(as.character(res$action) %in% levels(res$action)))
  expect_identical(nrow(res), 5L)
})
