# install_trapblur() from a local checkout, twice (it must be re-runnable), then discovery of the
# "r-trapblur" virtualenv from a fresh session. Slow (makes a virtualenv and installs the core's
# dependencies), so it runs only with TRAPBLUR_TEST_INSTALL=true and TRAPBLUR_SOURCE=<checkout>
# (scripts/test_r.sh sets both when asked to).

test_that("install_trapblur() installs from a checkout, re-runs, and is then found without RETICULATE_PYTHON", {
  skip_if_not(identical(Sys.getenv("TRAPBLUR_TEST_INSTALL"), "true"), "set TRAPBLUR_TEST_INSTALL=true to test installing")
  source <- Sys.getenv("TRAPBLUR_SOURCE")
  skip_if_not(nzchar(source) && file.exists(file.path(source, "pyproject.toml")), "TRAPBLUR_SOURCE is no checkout")
  skip_if_not(installed_trapblur(), "trapblur is not installed (only loaded): cannot test a fresh session")
  starter <- Sys.getenv("TRAPBLUR_VENV_STARTER", unname(Sys.which("python3")))
  if (file.exists("/usr/bin/python3") && !nzchar(Sys.getenv("TRAPBLUR_VENV_STARTER"))) starter <- "/usr/bin/python3"
  workon <- tempfile("venvs-")
  env <- c("RETICULATE_PYTHON=", sprintf("WORKON_HOME=%s", shQuote(workon)))
  install <- sprintf("p <- trapblur::install_trapblur(source = '%s', python = '%s'); cat('installed:', p, '\\n')",
                     source, starter)
  first <- run_r(install, env = env)
  expect_identical(first$status, 0L, label = paste(first$output, collapse = "\n"))
  again <- run_r(install, env = env)
  expect_identical(again$status, 0L, label = paste(again$output, collapse = "\n"))
  expect_true(any(grepl("is installed in virtualenv", again$output)))

  found <- run_r(c("library(trapblur)", "cfg <- trapblur_config()",
                   "cat('available:', cfg$available, '\\n'); cat('source:', cfg$python_source, '\\n')",
                   "ex <- trapblur_example()",
                   "res <- suppressWarnings(blur_people(ex$images, ex$results, ex$output, quiet = TRUE))",
                   "cat('blurred:', sum(res$action == 'blurred'), '\\n')"), env = env)
  out <- paste(found$output, collapse = "\n")
  expect_match(out, "available: TRUE", fixed = TRUE)
  expect_match(out, "source: virtualenv \"r-trapblur\"", fixed = TRUE)
  expect_match(out, "blurred: 1", fixed = TRUE)
})
