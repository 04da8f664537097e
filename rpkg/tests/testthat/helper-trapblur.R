# Skips that must not hide a broken set-up in CI: with TRAPBLUR_REQUIRE_PYTHON=true, a missing Python
# core is a test failure, not a skip (scripts/test_r.sh sets it).

require_python <- function() identical(tolower(Sys.getenv("TRAPBLUR_REQUIRE_PYTHON")), "true")

skip_or_fail <- function(message, required) {
  if (required) {
    testthat::fail(paste(message, "(TRAPBLUR_REQUIRE_PYTHON=true turns this skip into a failure)"))
    testthat::skip("failed above")
  }
  testthat::skip(message)
}

skip_if_no_trapblur <- function() {
  if (!trapblur_available()) {
    skip_or_fail(paste("trapblur Python core not available:", trapblur_config()$error), require_python())
  }
  invisible(TRUE)
}

# blur_dataset() is the core of the core: in CI it must be there.
skip_if_no_blur <- function() {
  skip_if_no_trapblur()
  if (!trapblur:::has_python_function(trapblur:::trapblur_module(), "blur_dataset")) {
    skip_or_fail("the trapblur Python core has no blur_dataset()", require_python())
  }
  invisible(TRUE)
}

# Detection is a later part of the core: its tests skip with a message until it is there,
# unless TRAPBLUR_REQUIRE_DETECTION=true.
skip_if_no_detection <- function() {
  skip_if_no_trapblur()
  if (!trapblur_available(detection = TRUE)) {
    skip_or_fail("the trapblur Python core has no detection (trapblur.detect) yet",
                 identical(tolower(Sys.getenv("TRAPBLUR_REQUIRE_DETECTION")), "true"))
  }
  invisible(TRUE)
}

# The real MegaDetector files kept next to the repository (../shared/data/md), when present.
shared_md_dir <- function() {
  candidates <- c(Sys.getenv("TRAPBLUR_SHARED_MD", ""), "../../../../shared/data/md", "../../../shared/data/md",
                  "/work/shared/data/md")
  hit <- candidates[nzchar(candidates) & dir.exists(candidates)]
  if (length(hit) == 0) "" else normalizePath(hit[[1]])
}

write_json_text <- function(text, dir = tempfile("md-")) {
  dir.create(dir, showWarnings = FALSE, recursive = TRUE)
  path <- file.path(dir, "results.json")
  writeLines(enc2utf8(text), path, useBytes = TRUE)
  path
}

# An R subprocess with this package, for what must be seen from a fresh session (nothing starts at
# library(), discovery without Python).
installed_trapblur <- function() {
  "trapblur" %in% rownames(utils::installed.packages(lib.loc = .libPaths()))
}

run_r <- function(code, env = character()) {
  script <- tempfile(fileext = ".R")
  writeLines(code, script)
  out <- suppressWarnings(system2(file.path(R.home("bin"), "Rscript"), c("--vanilla", shQuote(script)),
                                  stdout = TRUE, stderr = TRUE,
                                  env = c(sprintf("R_LIBS=%s", paste(.libPaths(), collapse = .Platform$path.sep)), env)))
  list(status = attr(out, "status") %||% 0L, output = out)
}

`%||%` <- function(x, y) if (is.null(x)) y else x
