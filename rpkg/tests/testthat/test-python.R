# Finding Python, and Python errors arriving as classed R conditions (against the real core).

test_that("library(trapblur) starts no Python", {
  skip_if_not(installed_trapblur(), "trapblur is not installed (only loaded): cannot test a fresh session")
  res <- run_r(c("library(trapblur)", "cat('started:', reticulate::py_available(initialize = FALSE))"))
  expect_identical(res$status, 0L)
  expect_true(any(grepl("started: FALSE", res$output, fixed = TRUE)), label = paste(res$output, collapse = "\n"))
})

test_that("without any Python the user is told to run install_trapblur()", {
  skip_if_not(installed_trapblur(), "trapblur is not installed (only loaded): cannot test a fresh session")
  res <- run_r(c(
    "library(trapblur)",
    "cat('available:', trapblur_available(), '\\n')",
    "ex <- trapblur_example()",
    "e <- tryCatch(blur_people(ex$images, ex$results, tempfile()), error = identity)",
    "cat('class:', class(e), '\\n'); cat(conditionMessage(e), '\\n')",
    "print(trapblur_config())"
  ), env = c("RETICULATE_PYTHON=", sprintf("WORKON_HOME=%s", shQuote(tempfile("no-venvs-")))))
  out <- paste(res$output, collapse = "\n")
  expect_identical(res$status, 0L, label = out)
  expect_match(out, "available: FALSE")
  expect_match(out, "class: trapblur_python_missing_error trapblur_error", fixed = TRUE)
  expect_match(out, "install_trapblur()", fixed = TRUE)
  expect_match(out, "trapblur core       not available", fixed = TRUE)
})

test_that("a Python without the trapblur package is reported, not crashed on", {
  skip_if_not(installed_trapblur(), "trapblur is not installed (only loaded): cannot test a fresh session")
  lacks_trapblur <- function(p) {
    nzchar(p) && file.exists(p) &&
      !identical(suppressWarnings(system2(p, c("-c", shQuote("import trapblur")), stdout = FALSE, stderr = FALSE)), 0L)
  }
  candidates <- c("/usr/bin/python3", Sys.which("python3"), Sys.which("python"))
  bare <- Filter(lacks_trapblur, candidates)
  skip_if(length(bare) == 0, "no Python without trapblur found to test with")
  bare <- bare[[1]]
  res <- run_r(c(
    "library(trapblur)",
    "e <- tryCatch(trapblur:::trapblur_module(), error = identity)",
    "cat('class:', class(e)[1], '\\n'); cat(conditionMessage(e), '\\n')"
  ), env = sprintf("RETICULATE_PYTHON=%s", bare))
  out <- paste(res$output, collapse = "\n")
  expect_match(out, "class: trapblur_python_missing_error", fixed = TRUE)
  expect_match(out, "cannot import trapblur|could not be started")
})

test_that("trapblur_config() reports the core it found", {
  skip_if_no_trapblur()
  cfg <- trapblur_config()
  expect_s3_class(cfg, "trapblur_config")
  expect_true(cfg$available)
  expect_true(file.exists(cfg$python))
  expect_identical(trapblur:::release_version(cfg$core_version),
                   trapblur:::release_version(as.character(packageVersion("trapblur"))))
  expect_type(cfg$detection, "logical")
  expect_output(print(cfg), "trapblur core")
  if (nzchar(Sys.getenv("RETICULATE_PYTHON"))) {
    expect_identical(normalizePath(cfg$python), normalizePath(Sys.getenv("RETICULATE_PYTHON")))
  }
})

test_that("Python exceptions become R errors classed by their Python class", {
  skip_if_no_trapblur()
  tb <- trapblur:::trapblur_module()
  # (a fault of the file as a whole: one bad image entry only fails that image)
  bad <- write_json_text('{"detection_categories": {"1": "animal"}, "images": {"file": 3}}')
  err <- tryCatch(trapblur:::with_python_errors(tb$read_results(bad)), error = identity)
  expect_s3_class(err, c("trapblur_results_format_error", "trapblur_python_error", "trapblur_error",
                         "rlang_error", "error", "condition"), exact = TRUE)
  expect_match(conditionMessage(err), "'images' must be a list", fixed = TRUE)
  expect_identical(err$python_type, "ResultsFormatError")

  # a Python error that is not trapblur's own still arrives as a trapblur_python_error
  other <- tryCatch(trapblur:::with_python_errors(reticulate::py_eval("1/0")), error = identity)
  expect_s3_class(other, "trapblur_python_error")
  expect_match(conditionMessage(other), "ZeroDivisionError")

  # R errors are not mistaken for the last Python error
  r_err <- tryCatch(trapblur:::with_python_errors(stop("plain R")), error = identity)
  expect_false(inherits(r_err, "trapblur_error"))
  expect_identical(conditionMessage(r_err), "plain R")
})
