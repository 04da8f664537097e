# Arguments are checked in R, before Python is needed, with messages in R terms.

ex <- trapblur_example()

test_that("bad blur options are trapblur_options_error with R-terms messages", {
  blur <- function(...) blur_people(ex$images, ex$results, tempfile(), ...)
  expect_error(blur(threshold = 2), class = "trapblur_options_error",
               regexp = "`threshold` must be a number between 0 and 1, not 2.", fixed = TRUE)
  expect_error(blur(threshold = "0.2"), class = "trapblur_options_error", regexp = "not the string \"0.2\"")
  expect_error(blur(threshold = c(0.1, 0.2)), class = "trapblur_options_error", regexp = "`threshold`")
  expect_error(blur(threshold = NA_real_), class = "trapblur_options_error", regexp = "not NA")
  expect_error(blur(threshold = c(person = 1.5)), class = "trapblur_options_error",
               regexp = "`threshold[[\"person\"]]` must be a number between 0 and 1, not 1.5.", fixed = TRUE)
  expect_error(blur(threshold = c(person = 0.1, 0.2)), class = "trapblur_options_error", regexp = "named")
  expect_error(blur(strength = 0), class = "trapblur_options_error",
               regexp = "`strength` must be a number greater than 0 and at most 10, not 0.", fixed = TRUE)
  expect_error(blur(strength = 11), class = "trapblur_options_error", regexp = "not 11")
  expect_error(blur(padding = -0.1), class = "trapblur_options_error", regexp = "`padding`")
  expect_error(blur(shape = "circle"), class = "trapblur_options_error",
               regexp = "`shape` must be one of \"rectangle\", \"ellipse\", not the string \"circle\".", fixed = TRUE)
  expect_error(blur(method = "smudge"), class = "trapblur_options_error", regexp = "`method`")
  expect_error(blur(categories = character()), class = "trapblur_options_error", regexp = "`categories`")
  expect_error(blur(categories = NA_character_), class = "trapblur_options_error", regexp = "`categories`")
  expect_error(blur(copy_unlisted = "yes"), class = "trapblur_options_error", regexp = "`copy_unlisted` must be `TRUE` or `FALSE`")
  expect_error(blur(overwrite = NA), class = "trapblur_options_error", regexp = "`overwrite`")
  expect_error(blur(workers = 0), class = "trapblur_options_error", regexp = "`workers`")
  expect_error(blur(workers = 1.5), class = "trapblur_options_error", regexp = "`workers`")
  expect_error(blur(quiet = 1), class = "trapblur_options_error", regexp = "`quiet`")
})

test_that("bad paths are caught in R and name the argument", {
  expect_error(blur_people(file.path(tempdir(), "no such folder"), ex$results, tempfile()),
               class = "trapblur_options_error", regexp = "`images` must be an existing folder")
  expect_error(blur_people(ex$results, ex$results, tempfile()),
               class = "trapblur_options_error", regexp = "is a file, not a folder")
  expect_error(blur_people(ex$images, file.path(tempdir(), "none.json"), tempfile()),
               class = "trapblur_options_error", regexp = "`results` must be an existing results file")
  expect_error(blur_people(ex$images, ex$results, ex$images),
               class = "trapblur_options_error", regexp = "must be a different folder from `images`")
  expect_error(blur_people(ex$images, ex$results, ex$results),
               class = "trapblur_options_error", regexp = "`output` must be a folder")
  expect_error(blur_people(c(ex$images, ex$images), ex$results, tempfile()),
               class = "trapblur_options_error", regexp = "`images` must be a single non-empty string")
  expect_error(read_md_results(NULL), class = "trapblur_options_error", regexp = "`path`")
})

test_that("every error is also a trapblur_error, catchable with tryCatch()", {
  caught <- tryCatch(blur_people(ex$images, ex$results, tempfile(), threshold = 2),
                     trapblur_error = function(e) "caught")
  expect_identical(caught, "caught")
  err <- tryCatch(blur_people(ex$images, ex$results, tempfile(), threshold = 2), error = identity)
  expect_s3_class(err, "trapblur_options_error")
  expect_s3_class(err, "trapblur_error")
  expect_identical(conditionCall(err), quote(blur_people()))
})

test_that("detection wrappers check their arguments too", {
  expect_error(detect_people(file.path(tempdir(), "nope")), class = "trapblur_options_error", regexp = "`images`")
  expect_error(detect_people(ex$images, model = 3), class = "trapblur_options_error", regexp = "`model`")
  expect_error(detect_people(ex$images, recursive = "no"), class = "trapblur_options_error", regexp = "`recursive`")
  expect_error(detect_people(ex$images, 1, 2), class = "trapblur_options_error")
  expect_error(detect_people(ex$images, model = NULL, output_json = NULL, recursive = TRUE, device = NULL,
                             include_empty = FALSE, quiet = TRUE, 4),
               class = "trapblur_options_error", regexp = "must be named")
  expect_error(anonymise(ex$images, tempfile(), strength = -1), class = "trapblur_options_error", regexp = "`strength`")
  expect_error(anonymise(ex$images, ex$images), class = "trapblur_options_error", regexp = "different folder")
})

test_that("install_trapblur() checks its source before touching any environment", {
  expect_error(install_trapblur(source = file.path(tempdir(), "no checkout here"), quiet = TRUE),
               class = "trapblur_options_error", regexp = "does not exist")
  empty <- tempfile("checkout-")
  dir.create(empty)
  expect_error(install_trapblur(source = empty, quiet = TRUE),
               class = "trapblur_options_error", regexp = "pyproject.toml")
  expect_error(install_trapblur(envname = "", quiet = TRUE), class = "trapblur_options_error", regexp = "`envname`")
})

test_that("release versions of R and Python match across dev suffixes", {
  expect_identical(trapblur:::release_version("0.1.0.9000"), "0.1.0")
  expect_identical(trapblur:::release_version("0.1.0.dev3"), "0.1.0")
  expect_identical(trapblur:::release_version("0.1.0rc1"), "0.1.0")
  expect_identical(trapblur:::release_version("1.2"), "1.2")
})

test_that("a strength below 1 warns that the blur is weaker than privacy-grade", {
  options <- function(strength) {
    trapblur:::blur_options(threshold = 0.1, strength = strength, categories = "person", padding = 0.1,
                            shape = "rectangle", method = "gaussian", copy_unlisted = FALSE,
                            link_unchanged = FALSE, overwrite = FALSE, workers = NULL, jpeg_mode = "lossless")
  }
  expect_warning(opts <- options(0.5), class = "trapblur_weak_blur_warning",
                 regexp = "`strength` = 0.5 is weaker than the privacy-grade default of 1")
  expect_identical(opts$strength, 0.5)
  expect_no_warning(options(1))
  expect_no_warning(options(2L))
  # A bad value is an error, not a warning.
  expect_error(options(-1), class = "trapblur_options_error")
})

test_that("report CSVs with file names that are not valid UTF-8 are read to the last row", {
  path <- tempfile(fileext = ".csv")
  con <- file(path, "wb")
  writeBin(c(charToRaw("input,output,action,regions,max_person_conf,encoding,reason,input_sha256,entry_sha256\n"),
             charToRaw("caf"), as.raw(0xe9), charToRaw(".jpg,,withheld,0,,,not in the results,,\n"),
             charToRaw("b.jpg,b.jpg,copied,0,,copy,,123e4,\n")), con)
  close(con)
  frame <- trapblur:::read_report_csv(path)
  expect_identical(nrow(frame), 2L)
  expect_identical(as.character(frame$action), c("withheld", "copied"))
  expect_type(frame$input_sha256, "character")
  expect_identical(frame$input_sha256[[2]], "123e4") # a hash is never read as a number
})
