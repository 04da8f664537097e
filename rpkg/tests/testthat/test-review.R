# review_run() and the `corrections` argument, against the real Python core.

# Mean absolute difference of two images inside a box (fractions of the image) and well outside it.
box_difference <- function(a, b, box) {
  env <- reticulate::py_run_string("
def box_difference(a, b, box):
    import numpy as np
    from PIL import Image
    pa = np.asarray(Image.open(a).convert('L'), dtype=float)
    pb = np.asarray(Image.open(b).convert('L'), dtype=float)
    h, w = pa.shape
    x0, y0, x1, y1 = int(box[0] * w), int(box[1] * h), int((box[0] + box[2]) * w), int((box[1] + box[3]) * h)
    inside = np.abs(pa - pb)[y0 + 4:y1 - 4, x0 + 4:x1 - 4].mean()
    outside = np.abs(pa - pb)[:, :max(1, x0 - 40)].mean()
    return {'inside': float(inside), 'outside': float(outside)}
", convert = TRUE)
  env$box_difference(a, b, as.list(box))
}

test_that("review_run() writes the page beside the shareable folder and returns its path", {
  skip_if_no_blur()
  ex <- trapblur_example(tempfile("tb-review-"))
  res <- suppressWarnings(blur_people(ex$images, results = ex$results, output = ex$output, quiet = TRUE))
  expect_message(page <- review_run(res, open = FALSE), class = "trapblur_summary_message")
  expect_equal(normalizePath(dirname(page)), normalizePath(paste0(ex$output, ".review")))
  expect_false(any(grepl("review", list.files(ex$output, recursive = TRUE, all.files = TRUE))))
  html <- paste(readLines(page, encoding = "UTF-8", warn = FALSE), collapse = "\n")
  expect_match(html, "this page shows the original images, with the people in them not blurred", fixed = TRUE)
  expect_match(html, "Check these first", fixed = TRUE)
  expect_match(html, 'data-file="site A/IMG_0002.jpg"', fixed = TRUE) # person 0.06: below the threshold
  expect_match(html, "Blurred images, per folder", fixed = TRUE)
  expect_identical(review_run(ex$output, open = FALSE, quiet = TRUE), page)
})

test_that("review_run() checks its arguments in R", {
  expect_error(review_run(42, open = FALSE), class = "trapblur_options_error")
  expect_error(review_run(data.frame(a = 1), open = FALSE), "result of blur_people", class = "trapblur_options_error")
  expect_error(review_run(file.path(tempdir(), "no-such-run"), open = FALSE), class = "trapblur_options_error")
  expect_error(review_run(tempdir(), floor = 2, open = FALSE), class = "trapblur_options_error")
})

test_that("corrections add a box the detector scored too low, and say so in the correction column", {
  skip_if_no_blur()
  ex <- trapblur_example(tempfile("tb-corrections-"))
  first <- suppressWarnings(blur_people(ex$images, results = ex$results, output = ex$output, quiet = TRUE))
  expect_equal(as.character(first$action[first$input == "site A/IMG_0002.jpg"]), "copied")
  box <- c(0.6, 0.5, 0.2, 0.3)
  csv <- file.path(tempfile("tb-fix-"), "corrections.csv")
  dir.create(dirname(csv))
  writeLines(c("file,action,box,note", "site A/IMG_0002.jpg,box,\"[0.6, 0.5, 0.2, 0.3]\",a hiker"), csv)
  again <- suppressWarnings(blur_people(ex$images, results = ex$results, output = ex$output,
                                        corrections = csv, quiet = TRUE))
  row <- again[again$input == "site A/IMG_0002.jpg", ]
  expect_equal(as.character(row$action), "blurred")
  expect_equal(row$correction, "box [0.6, 0.5, 0.2, 0.3] (note: a hiker)")
  expect_true(is.na(again$correction[again$input == "site A/IMG_0001.jpg"]))
  d <- box_difference(file.path(ex$images, "site A/IMG_0002.jpg"), file.path(ex$output, "site A/IMG_0002.jpg"), box)
  expect_gt(d$inside, 10)
  expect_lt(d$outside, d$inside / 4)
  expect_error(blur_people(ex$images, results = ex$results, output = ex$output, corrections = "no-such.csv"),
               "corrections", class = "trapblur_options_error")
  writeLines("name,what", csv)
  expect_error(suppressWarnings(blur_people(ex$images, results = ex$results, output = ex$output,
                                            corrections = csv, quiet = TRUE)),
               class = "trapblur_corrections_format_error")
})
