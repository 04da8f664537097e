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

test_that("trapblur_available(detection = TRUE) and trapblur_config() agree with what detection can do", {
  skip_if_no_trapblur()
  cfg <- trapblur_config()
  status <- trapblur:::detection_status(trapblur:::trapblur_module())
  expect_identical(trapblur_available(detection = TRUE), status$ok)
  expect_identical(cfg$detection, status$ok)
  if (status$ok) {
    expect_true(cfg$detection_model %in% list_models()$name[list_models()$available])
    expect_output(print(cfg), sprintf("detection           works (model %s)", cfg$detection_model), fixed = TRUE)
  } else {
    expect_output(print(cfg), "detection           does not work:", fixed = TRUE)
  }
  # a model that is not here makes detection with it unavailable, and says how to get it
  withr::local_envvar(TRAPBLUR_CACHE_DIR = tempfile("empty-cache-"), TRAPBLUR_MODEL_DIR = "")
  missing <- trapblur:::detection_status(trapblur:::trapblur_module(), "md-v5b")
  expect_false(missing$ok)
  expect_match(missing$problem, "fetch_model(\"md-v5b\")", fixed = TRUE)
})

test_that("anonymise() shows a progress bar while detecting, then one while blurring", {
  skip_if_no_detection()
  ex <- trapblur_example()
  # cli's "logger" handler writes each bar's life as lines: "<time> <id> 0/5 created", "... 5/5 terminated (done)"
  withr::local_options(cli.progress_show_after = 0, cli.progress_handlers_only = "logger")
  log <- capture.output(res <- suppressMessages(suppressWarnings(anonymise(ex$images, tempfile("shared-")))),
                        type = "output")
  expect_s3_class(res, "trapblur_run")
  events <- regmatches(log, regexpr("(cli-[0-9-]+) ([0-9]+)/([0-9]+) (created|terminated \\(done\\))$", log))
  bars <- unique(sub(" .*$", "", events))
  expect_length(bars, 2) # detection, then blurring
  first_done <- grep(paste(bars[[1]], "5/5 terminated"), events, fixed = TRUE)
  second_made <- grep(paste(bars[[2]], "0/5 created"), events, fixed = TRUE)
  expect_length(first_done, 1)
  expect_length(second_made, 1)
  expect_lt(first_done, second_made)
  expect_identical(attr(res, "settings")[["function"]], "anonymise")
  expect_true(file.exists(attr(res, "settings")$results))
})

test_that("list_models() and fetch_model(): a table, a progress bar, the checksum, and a clear offline error", {
  skip_if_no_trapblur()
  models <- list_models()
  expect_s3_class(models, "data.frame")
  expect_true(all(c("name", "available", "path", "description", "downloadable") %in% names(models)))
  expect_true("md-v5a" %in% models$name)
  expect_true(models$downloadable[models$name == "md-v5a"])

  # offline (nothing listens there): a trapblur_fetch_error that says what to do, in R terms
  err <- tryCatch(fetch_model("md-v5a", url = "http://127.0.0.1:9/md_v5a.0.0.pt", destination = tempfile(), quiet = TRUE),
                  error = identity)
  expect_s3_class(err, c("trapblur_fetch_error", "trapblur_model_error", "trapblur_error"))
  expect_match(conditionMessage(err), "looks offline", fixed = TRUE)
  expect_match(conditionMessage(err), "`model = \"<path>\"`", fixed = TRUE)
  expect_no_match(conditionMessage(err), "--model")

  # a download that does not match the published checksum is never put in place
  wrong <- tempfile(fileext = ".pt")
  writeBin(as.raw(rep(1:255, 4000)), wrong)
  destination <- tempfile("models-")
  withr::local_options(cli.progress_show_after = 0, cli.progress_handlers_only = "logger")
  warned <- character()
  log <- capture.output(
    err <- withCallingHandlers(
      tryCatch(fetch_model("md-v5a", url = paste0("file://", normalizePath(wrong)), destination = destination),
               error = identity),
      trapblur_python_warning = function(w) {
        warned <<- c(warned, conditionMessage(w))
        invokeRestart("muffleWarning")
      }),
    type = "output"
  )
  # the core's log warnings (one per attempt) arrive as R warnings
  expect_length(grep("has MD5 .* \\(attempt [12] of 2\\)", warned), 2)
  expect_s3_class(err, "trapblur_fetch_error")
  expect_match(conditionMessage(err), "expected ec1d7603ec8cf642d6e0cd008ba2be8c; nothing was installed", fixed = TRUE)
  expect_length(list.files(destination), 0)
  # a byte progress bar ran to the file's size (1020000 bytes)
  expect_true(any(grepl("1020000/1020000 terminated (done)", log, fixed = TRUE)), label = paste(log, collapse = "\n"))
})
