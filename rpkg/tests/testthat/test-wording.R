# What R users read names R arguments and R functions, never Python keywords or command-line flags,
# and mistakes in how arguments are given are caught in R before Python runs.

test_that("r_wording() re-spells Python settings, calls, installs and CLI flags by rule", {
  w <- trapblur:::r_wording
  expect_identical(w("use overwrite=True to redo every image"), "use `overwrite = TRUE` to redo every image")
  expect_identical(w("use overwrite=True (--overwrite) to redo"), "use `overwrite = TRUE` to redo")
  expect_identical(w("(copy_unlisted / --copy-unlisted copies such images)"), "(`copy_unlisted = TRUE` copies such images)")
  expect_identical(w("pass resume=False to start again"), "pass `resume = FALSE` to start again")
  expect_identical(w("with `trapblur.fetch_model('md-v5a')`"), "with `fetch_model(\"md-v5a\")`")
  expect_identical(w("with `trapblur models fetch md-v5b`"), "with `fetch_model(\"md-v5b\")`")
  expect_identical(w("`trapblur.list_models()` lists them"), "`list_models()` lists them")
  expect_identical(w("needs onnxruntime: `pip install onnxruntime`"),
                   "needs onnxruntime: `trapblur::install_trapblur(detection = TRUE)`")
  expect_identical(w("give its path as model=PATH"), "give its path as `model = \"<path>\"`")
  expect_identical(w("hard links (--link) and --no-recursive"), "hard links (`link_unchanged = TRUE`) and `recursive = FALSE`")
  # paths and other text are left alone
  untouched <- c("D:/cams/a=True.jpg", "site-A/--odd--name.jpg", "x==True", "strength must be at most 10, not 11", NA)
  expect_identical(w(untouched), untouched)
})

test_that("errors from the Python core name R arguments, not Python keywords or flags", {
  skip_if_no_blur()
  ex <- trapblur_example()
  suppressWarnings(blur_people(ex$images, ex$results, ex$output, quiet = TRUE))
  err <- tryCatch(blur_people(ex$images, ex$results, ex$output, strength = 2, quiet = TRUE), error = identity)
  expect_s3_class(err, "trapblur_output_folder_error")
  expect_match(conditionMessage(err), "`overwrite = TRUE`", fixed = TRUE)
  expect_no_match(conditionMessage(err), "overwrite=True|--overwrite")
  expect_match(err$python_message, "overwrite=True", fixed = TRUE) # the original is kept

  # a folder trapblur did not make
  other <- tempfile("not-ours-")
  dir.create(other)
  writeLines("notes", file.path(other, "notes.txt"))
  err <- tryCatch(blur_people(ex$images, ex$results, other, quiet = TRUE), error = identity)
  expect_match(conditionMessage(err), "`overwrite = TRUE`", fixed = TRUE)
  expect_no_match(conditionMessage(err), "=True|--")

  # an OptionsError from Python says which R argument it is about
  err <- tryCatch(blur_people(ex$images, ex$results, tempfile(), threshold = c(vehicle = 0.3), quiet = TRUE),
                  error = identity)
  expect_s3_class(err, "trapblur_options_error")
  expect_identical(err$argument, "threshold")
})

test_that("report reasons seen from R name R arguments", {
  skip_if_no_blur()
  ex <- trapblur_example()
  # an image the results do not list
  file.copy(file.path(ex$images, "IMG_0004.jpg"), file.path(ex$images, "unlisted.jpg"))
  res <- suppressWarnings(blur_people(ex$images, ex$results, ex$output, quiet = TRUE))
  reason <- res$reason[res$file == "unlisted.jpg"]
  expect_match(reason, "`copy_unlisted = TRUE` copies such images", fixed = TRUE)
  expect_no_match(reason, "--copy-unlisted|copy_unlisted=True")
  expect_true(any(grepl("copy_unlisted = TRUE", names(attr(res, "report")$reasons), fixed = TRUE)))
  expect_output(print(summary(res)), "copy_unlisted = TRUE", fixed = TRUE)
  # the CSV itself is left as the core wrote it, for the people the data is shared with
  csv <- utils::read.csv(attr(res, "report")$report_csv, stringsAsFactors = FALSE)
  expect_match(csv$reason[csv$input == "unlisted.jpg"], "copy_unlisted=True", fixed = TRUE)
})

test_that("detection problems are told in R terms", {
  skip_if_no_detection()
  ex <- trapblur_example()
  withr::local_envvar(TRAPBLUR_CACHE_DIR = tempfile("empty-cache-"), TRAPBLUR_MODEL_DIR = "")
  err <- tryCatch(detect_people(ex$images, model = "md-v5a", quiet = TRUE), error = identity)
  expect_s3_class(err, "trapblur_detection_unavailable_error")
  expect_match(conditionMessage(err), "fetch_model(\"md-v5a\")", fixed = TRUE)
  expect_no_match(conditionMessage(err), "trapblur models|pip install|--model|fetch_model\\('")
  expect_false(trapblur:::detection_status(trapblur:::trapblur_module(), "md-v5a")$ok)

  err <- tryCatch(fetch_model("no-such-model", quiet = TRUE), error = identity)
  expect_s3_class(err, "trapblur_model_error")
  expect_match(conditionMessage(err), "`list_models()`", fixed = TRUE)
  err <- tryCatch(fetch_model("builtin-person", quiet = TRUE), error = identity)
  expect_match(conditionMessage(err), "install_trapblur(detection = TRUE)", fixed = TRUE)
})

test_that("values given by position after the required arguments are caught in R, with a guess", {
  ex <- trapblur_example()
  # detect_people(images, "det.json") would have passed the file as the model
  err <- tryCatch(detect_people(ex$images, "det.json"), error = identity)
  expect_s3_class(err, "trapblur_options_error")
  expect_match(conditionMessage(err), "Every argument after `images` must be named", fixed = TRUE)
  expect_match(conditionMessage(err), "Did you mean `output_json = \"det.json\"`?", fixed = TRUE)
  expect_match(conditionMessage(tryCatch(detect_people(ex$images, "md-v5a"), error = identity)),
               "`model = \"md-v5a\"`", fixed = TRUE)
  err <- tryCatch(blur_people(ex$images, ex$results, tempfile(), 0.2), error = identity)
  expect_s3_class(err, "trapblur_options_error")
  expect_match(conditionMessage(err), "after `output` must be named", fixed = TRUE)
  expect_match(conditionMessage(err), "`threshold = 0.2`", fixed = TRUE)
  err <- tryCatch(anonymise(ex$images, tempfile(), "/models/md_v5a.0.0.pt"), error = identity)
  expect_match(conditionMessage(err), "`model = \"/models/md_v5a.0.0.pt\"`", fixed = TRUE)
  # a results file given as the model, by name
  err <- tryCatch(detect_people(ex$images, model = "det.json"), error = identity)
  expect_s3_class(err, "trapblur_options_error")
  expect_match(conditionMessage(err), "not a results file", fixed = TRUE)
  expect_match(conditionMessage(err), "output_json", fixed = TRUE)
})

test_that("unknown argument names are an R error naming the R function, never Python's TypeError", {
  skip_if_no_blur()
  ex <- trapblur_example()
  err <- tryCatch(blur_people(ex$images, ex$results, tempfile(), thresh = 0.3), error = identity)
  expect_s3_class(err, "trapblur_options_error")
  expect_match(conditionMessage(err), "`thresh` is not an argument of `blur_people()`", fixed = TRUE)
  expect_match(conditionMessage(err), "Did you mean `threshold`?", fixed = TRUE)
  expect_no_match(conditionMessage(err), "TypeError|keyword")
  err <- tryCatch(anonymise(ex$images, tempfile(), foo = 1), error = identity)
  expect_match(conditionMessage(err), "`foo` is not an argument of `anonymise()`", fixed = TRUE)
  err <- tryCatch(detect_people(ex$images, foo = 1), error = identity)
  expect_match(conditionMessage(err), "`foo` is not an argument of `detect_people()`", fixed = TRUE)
  expect_no_match(conditionMessage(err), "TypeError")
  # arguments the R function sets itself cannot be given again through `...`
  err <- tryCatch(blur_people(ex$images, ex$results, tempfile(), progress = NULL), error = identity)
  expect_match(conditionMessage(err), "set by `blur_people()` itself", fixed = TRUE)
})

test_that("named options of the Python function that R does not list still reach it", {
  skip_if_no_detection()
  ex <- trapblur_example()
  found <- detect_people(ex$images, batch_size = 2, confidence_floor = 0.5, quiet = TRUE)
  expect_true(all(found$conf >= 0.5))
  err <- tryCatch(detect_people(ex$images, confidence_floor = 2, quiet = TRUE), error = identity)
  expect_s3_class(err, "trapblur_options_error")
  expect_identical(err$argument, "confidence_floor")
})
