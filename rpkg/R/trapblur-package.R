#' trapblur: blur people in camera-trap images before sharing
#'
#' Anonymise a camera-trap dataset from R: [blur_people()] blurs the people MegaDetector found,
#' [read_md_results()] reads MegaDetector results files (pure R), [detect_people()] and [anonymise()]
#' run the core's own detector. The work is done by the `trapblur` Python package, which
#' [install_trapblur()] installs once; [trapblur_available()] and [trapblur_config()] say whether it
#' was found. Python starts only when a function needs it, never at `library(trapblur)`.
#'
#' Errors are conditions of class `trapblur_error` with a subclass per kind (for example
#' `trapblur_options_error`, `trapblur_results_format_error`, `trapblur_output_folder_error`,
#' `trapblur_python_missing_error`), so they can be caught with [tryCatch()].
#'
#' @keywords internal
"_PACKAGE"
