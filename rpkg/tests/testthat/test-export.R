# export_zooniverse() and export_camtrap_dp() against the real Python core: files, manifests, packages.

shared_camtrap_dir <- function() {
  md <- shared_md_dir()
  candidates <- c(if (nzchar(md)) file.path(dirname(md), "camtrap-dp"), "../../../../shared/data/camtrap-dp",
                  "/work/shared/data/camtrap-dp")
  hit <- candidates[dir.exists(file.path(candidates, "example"))]
  if (length(hit) == 0) "" else normalizePath(hit[[1]])
}

blurred_example <- function() {
  ex <- trapblur_example(tempfile("tb-export-"))
  suppressWarnings(blur_people(ex$images, results = ex$results, output = ex$output, quiet = TRUE))
  ex
}

test_that("export_zooniverse() writes sets that fit, with the manifest columns, and reports every image", {
  skip_if_no_blur()
  ex <- blurred_example()
  upload <- file.path(tempfile("tb-zoo-"), "upload")
  res <- export_zooniverse(ex$output, upload, max_bytes = 200000, max_side = 640, images_per_subject = 2,
                           keep_metadata = "DateTimeOriginal", quiet = TRUE)
  expect_s3_class(res, "data.frame")
  expect_true(all(c("image", "action", "set", "file", "quality", "bytes", "reason") %in% names(res)))
  exported <- res[res$action == "exported", ]
  expect_gt(nrow(exported), 0)
  files <- file.path(upload, exported$file)
  expect_true(all(file.exists(files)))
  expect_true(all(file.size(files) <= 200000))
  info <- attr(res, "export")
  expect_equal(info$counts[["exported"]], nrow(exported))
  expect_match(info$upload_commands[[1]], "panoptes subject-set upload-subjects")
  manifest <- utils::read.csv(file.path(upload, "set_001", "manifest.csv"), check.names = FALSE,
                              stringsAsFactors = FALSE)
  expect_true(all(c("image_1", "#folder", "#original_1", "#capture_time_1", "#blurred_1") %in% names(manifest)))
  originals <- unlist(manifest[grepl("^#original_", names(manifest))], use.names = FALSE)
  expect_setequal(originals[!is.na(originals) & nzchar(originals)], exported$image)
  report <- utils::read.csv(file.path(ex$output, "trapblur_report.csv"), stringsAsFactors = FALSE)
  not_written <- report$input[report$action %in% c("withheld", "failed")]
  expect_false(any(not_written %in% exported$image))
})

test_that("export_zooniverse() checks its arguments in R and refuses GPS and serial numbers", {
  skip_if_no_blur()
  ex <- blurred_example()
  upload <- tempfile("tb-zoo-")
  expect_error(export_zooniverse(ex$output, upload, max_bytes = 5e6), class = "trapblur_options_error")
  expect_error(export_zooniverse(ex$output, upload, images_per_subject = 1.5), "whole number")
  expect_error(export_zooniverse(ex$output, upload, burst_gap = TRUE), class = "trapblur_options_error")
  expect_error(export_zooniverse(ex$output, upload, keep_metadata = "GPSLatitude", quiet = TRUE),
               "never exported", class = "trapblur_options_error")
  expect_error(export_zooniverse(ex$images, upload, quiet = TRUE), "not a trapblur output folder",
               class = "trapblur_export_error")
  expect_false(dir.exists(upload))
})

test_that("export_zooniverse() warns about images that cannot fit", {
  skip_if_no_blur()
  ex <- blurred_example()
  expect_warning(res <- export_zooniverse(ex$output, tempfile("tb-zoo-"), max_bytes = 2000, quiet = TRUE),
                 class = "trapblur_withheld_warning")
  expect_true(all(grepl("quality 50", res$reason[res$action == "withheld"])))
})

test_that("export_camtrap_dp() writes a package with the blurred media public and people added", {
  skip_if_no_blur()
  camtrap <- shared_camtrap_dir()
  skip_if(!nzchar(camtrap), "../shared/data/camtrap-dp is not present")
  media <- file.path(camtrap, "example", "media")
  names <- sort(list.files(media))
  md <- list(info = list(format_version = "1.4", detector = "md_v5a.0.0.pt"),
             detection_categories = list("1" = "animal", "2" = "person", "3" = "vehicle"),
             images = lapply(seq_along(names), function(i) {
               if (i == 1) {
                 list(file = names[[i]], detections = list(list(category = "2", conf = 0.9,
                                                                 bbox = list(0.1, 0.2, 0.2, 0.5))))
               } else if (i == 2) {
                 list(file = names[[i]], failure = "inference failure", detections = NULL)
               } else {
                 list(file = names[[i]], detections = list())
               }
             }))
  results <- tempfile(fileext = ".json")
  jsonlite::write_json(md, results, auto_unbox = TRUE, null = "null", digits = NA)
  share <- tempfile("tb-share-")
  suppressWarnings(blur_people(media, results = results, output = share, quiet = TRUE))
  out <- file.path(tempfile("tb-cdp-"), "package")
  expect_warning(res <- export_camtrap_dp(share, file.path(camtrap, "example", "datapackage.json"), out,
                                          quiet = TRUE),
                 class = "trapblur_withheld_warning")
  expect_true(file.exists(file.path(out, "datapackage.json")))
  expect_equal(attr(res, "export")$observations_added, 1L)
  expect_equal(sum(res$outcome %in% c("blurred", "copied")), 9L)
  media_out <- utils::read.csv(file.path(out, "media.csv"), colClasses = "character")
  failed <- media_out[media_out$fileName == names[[2]], ]
  expect_equal(failed$filePublic, "false")
  expect_equal(media_out$filePublic[media_out$fileName == names[[1]]], "true")
  expect_false(file.exists(file.path(out, "media", names[[2]])))
  expect_true(file.exists(file.path(out, "media", names[[1]])))
  obs <- utils::read.csv(file.path(out, "observations.csv"), stringsAsFactors = FALSE)
  human <- obs[grepl("_trapblur_", obs$observationID), ]
  expect_equal(human$observationType, "human")
  expect_equal(human$classificationMethod, "machine")
  expect_equal(human$bboxX, 0.1)
})

test_that("export_camtrap_dp() names the file and field of an invalid package", {
  skip_if_no_blur()
  camtrap <- shared_camtrap_dir()
  skip_if(!nzchar(camtrap), "../shared/data/camtrap-dp is not present")
  ex <- blurred_example()
  package <- file.path(tempfile("tb-pkg-"), "datapackage.json")
  dir.create(dirname(package))
  doc <- jsonlite::read_json(file.path(camtrap, "example", "datapackage.json"))
  doc$project <- NULL
  jsonlite::write_json(doc, package, auto_unbox = TRUE)
  expect_error(export_camtrap_dp(ex$output, package, tempfile("tb-cdp-"), quiet = TRUE),
               "datapackage.json: not a valid Camtrap DP package: required field 'project'",
               class = "trapblur_package_format_error")
  expect_error(export_camtrap_dp(ex$output, file.path(tempdir(), "nope.json"), tempfile()),
               class = "trapblur_options_error")
  expect_error(export_camtrap_dp(ex$output, package, tempfile(), unmatched = "drop"),
               class = "trapblur_options_error")
})
