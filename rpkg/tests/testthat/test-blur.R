# blur_people() against the real Python core: the data frame, the files and the pixels.

# A dataset in a folder with spaces and non-ASCII characters, with a non-ASCII file name too, and
# results that use Windows separators for one image.
make_dataset <- function() {
  root <- file.path(tempfile("tb-"), "cam\u00e9ra pi\u00e8ge 2024")
  ex <- trapblur_example(root)
  extra <- "site A/for\u00eat \u00e9t\u00e9 1.jpg"
  file.copy(file.path(ex$images, "site A/IMG_0001.jpg"), file.path(ex$images, extra))
  doc <- jsonlite::read_json(ex$results, simplifyVector = FALSE)
  doc$images[[length(doc$images) + 1]] <- list(file = "site A\\for\u00eat \u00e9t\u00e9 1.jpg",
    detections = list(list(category = "2", conf = 0.5, bbox = list(0.25, 0.2, 0.3, 0.6))))
  jsonlite::write_json(doc, ex$results, auto_unbox = TRUE, null = "null", digits = NA, pretty = TRUE)
  ex$extra <- extra
  ex
}

# Mean absolute pixel difference between two images inside and well outside a box (fractions of the
# image), computed by Python (Pillow) so no R image package is needed.
pixel_difference <- function(a, b, box, margin = 20L) {
  code <- "
def pixel_difference(a, b, box, margin):
    from PIL import Image
    ia, ib = Image.open(a).convert('RGB'), Image.open(b).convert('RGB')
    if ia.size != ib.size:
        return {'same_size': False, 'inside': -1.0, 'outside': -1.0}
    w, h = ia.size
    x0, y0 = int(box[0] * w), int(box[1] * h)
    x1, y1 = int((box[0] + box[2]) * w), int((box[1] + box[3]) * h)
    pa, pb = ia.load(), ib.load()
    inside, outside = [], []
    for y in range(h):
        for x in range(w):
            d = sum(abs(pa[x, y][c] - pb[x, y][c]) for c in range(3)) / 3.0
            if x0 + 4 <= x < x1 - 4 and y0 + 4 <= y < y1 - 4:
                inside.append(d)
            elif x < x0 - margin or x >= x1 + margin or y < y0 - margin or y >= y1 + margin:
                outside.append(d)
    return {'same_size': True, 'inside': sum(inside) / len(inside), 'outside': sum(outside) / len(outside),
            'outside_max': max(outside)}
"
  env <- reticulate::py_run_string(code, local = TRUE, convert = TRUE)
  env$pixel_difference(a, b, as.list(box), as.integer(margin))
}

md5 <- function(path) unname(tools::md5sum(path))

test_that("blur_people() blurs people, copies the rest, withholds the unknown, and reports it all", {
  skip_if_no_blur()
  ex <- make_dataset()
  expect_warning(
    res <- blur_people(ex$images, ex$results, ex$output, threshold = 0.2, quiet = TRUE),
    class = "trapblur_withheld_warning", regexp = "1 image was not written"
  )

  expect_s3_class(res, "data.frame")
  expect_true(all(c("file", "input", "output", "action", "regions", "max_person_conf", "encoding", "reason") %in% names(res)))
  expect_type(res$input, "character")
  expect_type(res$output, "character")
  expect_s3_class(res$action, "factor")
  expect_type(res$regions, "integer")
  expect_type(res$max_person_conf, "double")
  expect_identical(nrow(res), 6L)

  action <- setNames(as.character(res$action), res$input)
  expect_identical(action[["site A/IMG_0001.jpg"]], "blurred")
  expect_identical(action[[ex$extra]], "blurred")
  expect_identical(action[["site A/IMG_0002.jpg"]], "copied") # its person (0.06) is under the threshold
  expect_identical(action[["site A/IMG_0003.jpg"]], "copied")
  expect_identical(action[["IMG_0004.jpg"]], "copied")
  expect_identical(action[["IMG_0005.jpg"]], "withheld") # the detector failed on it
  expect_match(res$reason[res$input == "IMG_0005.jpg"], "image access failure")
  expect_true(is.na(res$output[res$input == "IMG_0005.jpg"]))
  expect_equal(res$max_person_conf[res$input == "site A/IMG_0001.jpg"], 0.91)

  run <- attr(res, "report")
  expect_identical(run$counts[["blurred"]], 2L)
  expect_identical(run$counts[["withheld"]], 1L)
  expect_identical(run$total, 6L)
  expect_true(file.exists(run$report_csv))
  expect_true(file.exists(run$results_json))

  # files: written ones exist, the withheld one does not, copies are byte-identical, blurs are not
  written <- res[res$action %in% c("blurred", "copied"), ]
  expect_true(all(file.exists(file.path(ex$output, written$output))))
  expect_false(file.exists(file.path(ex$output, "IMG_0005.jpg")))
  copied <- res$input[res$action == "copied"]
  expect_identical(md5(file.path(ex$output, copied)), md5(file.path(ex$images, copied)))
  blurred <- res$input[res$action == "blurred"]
  expect_false(any(md5(file.path(ex$output, blurred)) == md5(file.path(ex$images, blurred))))
  expect_true(file.exists(file.path(ex$output, ex$extra))) # non-ASCII name written under its own name

  # pixels: changed inside the person's box, (nearly) unchanged well outside it
  d <- pixel_difference(file.path(ex$images, "site A/IMG_0001.jpg"),
                        file.path(ex$output, "site A/IMG_0001.jpg"), c(0.25, 0.2, 0.3, 0.6))
  expect_true(d$same_size)
  expect_gt(d$inside, 20)
  expect_lt(d$outside, d$inside / 4)

  # results written for the output folder are readable by read_md_results()
  dets <- read_md_results(run$results_json, include_empty = TRUE)
  expect_false("IMG_0005.jpg" %in% dets$file)
})

test_that("by default (jpeg_mode = \"lossless\") every pixel outside the blurred blocks is kept", {
  skip_if_no_blur()
  ex <- make_dataset()
  res <- suppressWarnings(blur_people(ex$images, ex$results, ex$output, padding = 0, quiet = TRUE))
  expect_identical(res$encoding[res$input == "site A/IMG_0001.jpg"], "lossless")
  d <- pixel_difference(file.path(ex$images, "site A/IMG_0001.jpg"),
                        file.path(ex$output, "site A/IMG_0001.jpg"), c(0.25, 0.2, 0.3, 0.6))
  expect_gt(d$inside, 20)
  expect_identical(d$outside_max, 0)
  expect_error(blur_people(ex$images, ex$results, tempfile(), jpeg_mode = "fast"),
               class = "trapblur_options_error")
})

test_that("per-category thresholds, categories and methods reach the core", {
  skip_if_no_blur()
  ex <- trapblur_example()
  res <- suppressWarnings(blur_people(ex$images, ex$results, ex$output, threshold = c(person = 0.05),
                                      method = "pixelate", shape = "ellipse", quiet = TRUE))
  expect_identical(as.character(res$action[res$input == "site A/IMG_0002.jpg"]), "blurred")
  res2 <- suppressWarnings(blur_people(ex$images, ex$results, tempfile(), categories = c("person", "animal"),
                                       threshold = c(person = 0.5, animal = 0.9), quiet = TRUE))
  expect_identical(as.character(res2$action[res2$input == "site A/IMG_0003.jpg"]), "blurred")
  expect_identical(as.character(res2$action[res2$input == "site A/IMG_0002.jpg"]), "copied")
  res3 <- blur_people(ex$images, ex$results, tempfile(), copy_unlisted = TRUE, quiet = TRUE,
                      strength = 2, padding = 0, workers = 1) |> suppressWarnings()
  expect_identical(sum(res3$action == "blurred"), 1L)
})

test_that("Python-side errors arrive as classed R errors with the Python message", {
  skip_if_no_blur()
  ex <- trapblur_example()
  bad <- write_json_text('{"detection_categories": {"2": "person"}, "images": {"a.jpg": []}}')
  err <- tryCatch(blur_people(ex$images, bad, tempfile(), quiet = TRUE), error = identity)
  expect_s3_class(err, "trapblur_results_format_error")
  expect_s3_class(err, "trapblur_error")
  expect_match(conditionMessage(err), "'images' must be a list", fixed = TRUE)
  expect_identical(conditionCall(err), quote(blur_people()))

  expect_error(blur_people(ex$images, ex$results, file.path(ex$images, "out"), quiet = TRUE),
               class = "trapblur_output_folder_error", regexp = "must not be inside the image folder")

  expect_error(blur_people(ex$images, ex$results, tempfile(), threshold = c(vehicle = 0.3), quiet = TRUE),
               class = "trapblur_options_error", regexp = "not among the categories")

  caught <- tryCatch(blur_people(ex$images, bad, tempfile(), quiet = TRUE),
                     trapblur_results_format_error = function(e) "format problem")
  expect_identical(caught, "format problem")
})

test_that("category names go through synonyms; names the results do not define are options errors", {
  skip_if_no_blur()
  ex <- trapblur_example()
  res <- suppressWarnings(blur_people(ex$images, ex$results, ex$output, categories = "people", quiet = TRUE))
  expect_gt(sum(res$action == "blurred"), 0L)
  expect_error(blur_people(ex$images, ex$results, tempfile(), categories = c("person", "dogs"), quiet = TRUE),
               class = "trapblur_options_error", regexp = "no category in this results file means 'dogs'")
  elsewhere <- write_json_text('{"detection_categories": {"2": "person"}, "images": [{"file": "x/none.jpg", "detections": []}]}')
  expect_error(blur_people(ex$images, elsewhere, tempfile(), quiet = TRUE),
               class = "trapblur_results_mismatch_error", regexp = "Wrong results file, or wrong image folder")
})

test_that("the core's run warnings become R warnings of class trapblur_run_warning", {
  skip_if_no_blur()
  ex <- trapblur_example()
  doc <- jsonlite::read_json(ex$results, simplifyVector = FALSE)
  expect_gte(length(doc$images), 5L)
  doc$images <- doc$images[1:2] # two of the five images listed: under half
  few <- file.path(tempfile("md-"), "few.json")
  dir.create(dirname(few))
  jsonlite::write_json(doc, few, auto_unbox = TRUE, null = "null", digits = NA)
  run_warnings <- list()
  res <- withCallingHandlers(
    blur_people(ex$images, few, ex$output, quiet = TRUE),
    trapblur_run_warning = function(w) {
      run_warnings[[length(run_warnings) + 1]] <<- w
      invokeRestart("muffleWarning")
    },
    trapblur_withheld_warning = function(w) invokeRestart("muffleWarning")
  )
  expect_length(run_warnings, 1L)
  flat <- function(x) gsub("\\s+", " ", x) # cli may wrap long messages
  expect_match(flat(conditionMessage(run_warnings[[1]])), "only 2 of the 5 images", fixed = TRUE)
  expect_length(attr(res, "report")$warnings, 1L)
  expect_match(attr(res, "report")$warnings, "only 2 of the 5 images", fixed = TRUE)
  expect_identical(sum(res$action == "withheld"), 3L)
})

test_that("progress and the summary show unless quiet = TRUE", {
  skip_if_no_blur()
  ex <- trapblur_example()
  withr::local_options(cli.progress_show_after = 0)
  msgs <- character()
  suppressWarnings(withCallingHandlers(
    blur_people(ex$images, ex$results, ex$output),
    message = function(m) {
      msgs <<- c(msgs, conditionMessage(m))
      invokeRestart("muffleMessage")
    }
  ))
  expect_true(any(grepl("5 files: 1 blurred, 3 copied, 1 withheld", msgs, fixed = TRUE)))
  expect_no_message(suppressWarnings(blur_people(ex$images, ex$results, tempfile(), quiet = TRUE)))

  # the callback the core calls drives a cli progress bar
  cb <- trapblur:::progress_callback(FALSE, "Testing")
  expect_silent(suppressMessages({
    for (i in 1:3) cb(i, 3L)
  }))
  expect_null(trapblur:::progress_callback(TRUE, "Testing"))
})

test_that("a weak blur gives one R warning, and the report says what each output was made from", {
  skip_if_no_blur()
  ex <- trapblur_example(tempfile("tb-weak-"))
  warnings <- character()
  res <- withCallingHandlers(
    blur_people(ex$images, ex$results, ex$output, strength = 0.5, quiet = TRUE),
    warning = function(w) {
      warnings <<- c(warnings, paste(class(w)[[1]], conditionMessage(w)))
      invokeRestart("muffleWarning")
    }
  )
  weak <- grep("weaker than the privacy-grade", warnings, value = TRUE)
  expect_length(weak, 1)
  expect_match(weak, "^trapblur_weak_blur_warning")
  written <- res[res$action %in% c("blurred", "copied"), ]
  expect_type(res$input_sha256, "character")
  expect_true(all(nchar(written$input_sha256) == 64))
  hashlib <- reticulate::import("hashlib")
  pathlib <- reticulate::import("pathlib")
  file <- file.path(ex$images, written$input[[1]])
  expect_identical(written$input_sha256[[1]], hashlib$sha256(pathlib$Path(file)$read_bytes())$hexdigest())
})
