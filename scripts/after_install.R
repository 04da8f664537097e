# Run by scripts/test_r_install.sh in a new R session after installing as README says: the package and
# its Python environment must work as a user gets them. Fails (stop()) on any wrong outcome.
library(trapblur)
`%||%` <- function(x, y) if (is.null(x)) y else x
check <- function(ok, what) if (!isTRUE(ok)) stop("not as expected: ", what, call. = FALSE) else cat("ok:", what, "\n")

check(!reticulate::py_available(initialize = FALSE), "library(trapblur) started no Python")
cfg <- trapblur_config()
print(cfg)
check(cfg$available, "the Python core is available")
check(identical(cfg$python_source, "virtualenv \"r-trapblur\""), "Python came from the r-trapblur environment")
check(startsWith(normalizePath(dirname(cfg$python)), normalizePath(Sys.getenv("WORKON_HOME"))), "that environment is the new one")
check(identical(cfg$core_version, cfg$bundled_core), "the core installed is the one the R package carries")
check(startsWith(normalizePath(cfg$core_path), normalizePath(file.path(Sys.getenv("WORKON_HOME"), "r-trapblur"))),
      "the core is imported from the environment, not from a checkout")
check(isTRUE(cfg$detection) && trapblur_available(detection = TRUE), "detection works (imports and a model file)")

v <- vignette("anonymise-dataset", package = "trapblur")
check(inherits(v, "vignette") && file.exists(file.path(v$Dir, "doc", v$PDF)), "the vignette is installed, built")

shared <- Sys.getenv("TRAPBLUR_SHARED_DATA")
if (nzchar(shared)) {
  images <- file.path(shared, "images")
  results <- file.path(shared, "md", "shared_images.md.json")
  people <- c("person_animlpy_B012_2021-05-27_human.jpg", "person_animlr_Peru_S90_SDZG2_EK000008.JPG",
              "hard_animlr_Peru_S90_SDZG1_EK000002.JPG")
  box <- c(0.02, 0.677, 0.33, 0.319) # B012's person
  close_person <- "person_animlr_Peru_S90_SDZG2_EK000008.JPG" # the built-in model finds this one
  cat("real images from", images, "\n")
} else {
  ex <- trapblur_example()
  images <- ex$images
  results <- ex$results
  people <- "site A/IMG_0001.jpg"
  box <- c(0.25, 0.2, 0.3, 0.6)
  close_person <- NULL # drawn images: there is nobody for a real detector to find
  cat("no ../shared/data: generated images\n")
}
before <- tools::md5sum(list.files(images, recursive = TRUE, full.names = TRUE))
output <- file.path(tempfile("shared-"), "share 2024")
res <- withCallingHandlers(blur_people(images, results, output, threshold = 0.2),
                           trapblur_withheld_warning = function(w) invokeRestart("muffleWarning"))
print(res)
print(summary(res))
action <- stats::setNames(as.character(res$action), res$file)
check(all(action[people] == "blurred"), "every image with a person at or above 0.2 is blurred")
check(!any(file.exists(file.path(output, res$input[res$action %in% c("withheld", "failed")]))),
      "withheld and failed images are not written")
copied <- res$file[res$action == "copied"]
check(all(tools::md5sum(file.path(output, copied)) == tools::md5sum(file.path(images, copied))),
      "copied images are byte for byte the originals")
check(identical(tools::md5sum(list.files(images, recursive = TRUE, full.names = TRUE)), before), "the input is untouched")
dets <- read_md_results(results, images = images)
joined <- merge(res[c("file", "action")], dets, by = "file")
check(nrow(joined) == nrow(dets), "the run joins read_md_results() on `file`")

# pixels, measured by the environment's own Python: blurred inside the box, untouched well outside
measure <- reticulate::py_run_string("
def difference(a, b, box):
    import numpy as np
    from PIL import Image, ImageOps
    ia = np.asarray(ImageOps.exif_transpose(Image.open(a)).convert('L'), dtype=float)
    ib = np.asarray(ImageOps.exif_transpose(Image.open(b)).convert('L'), dtype=float)
    h, w = ia.shape
    y0, y1 = int((box[1] + box[3] * 0.25) * h), int((box[1] + box[3] * 0.75) * h)
    x0, x1 = int((box[0] + box[2] * 0.25) * w), int((box[0] + box[2] * 0.75) * w)
    detail = lambda m: float(np.abs(np.diff(m[y0:y1, x0:x1], axis=1)).mean())
    corner = np.abs(ia - ib)[: h // 8, w - w // 8 :]
    return {'inside_detail_before': detail(ia), 'inside_detail_after': detail(ib), 'far_corner_max': float(corner.max())}
", local = TRUE)
d <- measure$difference(file.path(images, people[[1]]), file.path(output, people[[1]]), as.list(box))
str(d)
check(d$inside_detail_after < d$inside_detail_before / 2, "the person's box lost most of its detail")
check(d$far_corner_max <= 8, "pixels far from the box are (nearly) unchanged")

grDevices::png(picture <- tempfile(fileext = ".png"), width = 700, height = 700)
shown <- plot(res, n = 2)
invisible(grDevices::dev.off())
check(file.size(picture) > 10000 && nrow(shown) >= 1, "plot(res) draws before/after pictures")

# detection, in the new environment
one <- file.path(tempfile("one-"), "cams")
dir.create(one, recursive = TRUE)
invisible(file.copy(file.path(images, close_person %||% people[[1]]), one))
run <- anonymise(one, output = file.path(dirname(one), "out"))
print(run)
if (is.null(close_person)) {
  check(nrow(run) == 1 && run$action %in% c("blurred", "copied"), "anonymise() runs with the built-in model")
} else {
  check(identical(as.character(run$action), "blurred"), "anonymise() finds and blurs the person with the built-in model")
}
cat("after_install.R: all checks passed\n")
