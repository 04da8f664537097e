#' trapblur: blur people in camera-trap images before sharing
#'
#' Anonymise a camera-trap dataset from R: [blur_people()] blurs the people MegaDetector found and
#' writes a shareable copy, [read_md_results()] reads MegaDetector results files (pure R),
#' [detect_people()] and [anonymise()] run trapblur's own offline detector, [preview_blur()] (or
#' `plot()` on a run) shows before/after pictures, [list_models()] and [fetch_model()] manage detection
#' models. The work is done by the trapblur Python core, which this package carries and
#' [install_trapblur()] installs once; [trapblur_available()] and [trapblur_config()] say whether it was
#' found and whether detection works. Python starts only when a function needs it, never at
#' `library(trapblur)`.
#'
#' Every argument after the first ones (the folders and files) must be given by name, so that a value
#' never lands in the wrong argument; arguments are checked in R before Python is started.
#'
#' Errors are conditions of class `trapblur_error` with a subclass per kind (for example
#' `trapblur_options_error`, `trapblur_results_format_error`, `trapblur_output_folder_error`,
#' `trapblur_python_missing_error`, `trapblur_install_error`, `trapblur_fetch_error`), so they can be
#' caught with [tryCatch()]. Messages from the Python core are shown in R terms (`overwrite = TRUE`,
#' `fetch_model("md-v5a")`); the original is in the condition's `python_message`.
#'
#' @keywords internal
"_PACKAGE"
