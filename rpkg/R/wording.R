# Python's messages in R's words.
#
# The Python core spells the settings it suggests as Python keyword arguments (`overwrite=True`), functions
# as `trapblur.fetch_model('md-v5a')` and installs as `pip install ...` (see errors.py in the core); the
# command line re-spells them as flags. r_wording() re-spells them for R users by the same few rules, so
# that no message needs patching one by one and new messages come out right:
#
#   overwrite=True                   -> `overwrite = TRUE`
#   model=PATH                       -> `model = "<path>"`
#   trapblur.fetch_model('md-v5a')   -> `fetch_model("md-v5a")`
#   pip install ...                  -> `trapblur::install_trapblur(...)`
#   --copy-unlisted, --no-resume     -> `copy_unlisted = TRUE`, `resume = FALSE` (older messages, CLI text)
#
# It is applied to every Python error and warning shown from R, and to the report's `reason` column.

# Python function -> the R function that calls it.
r_function_names <- c(
  blur_dataset = "blur_people", detect = "detect_people", anonymise = "anonymise",
  fetch_model = "fetch_model", list_models = "list_models", read_results = "read_md_results",
  check_detection = "trapblur_available"
)

# Python keyword argument -> R argument, where they differ (CLI flag names that are not keyword names too).
r_argument_names <- c(link = "link_unchanged", out = "output", to = "destination")

py_literal <- "True|False|None|'[^']*'|\"[^\"]*\"|-?[0-9]+(?:\\.[0-9]+)?|[A-Z][A-Z_]*"
py_setting <- sprintf("(?<![[:alnum:]_./=`-])([a-z][a-z0-9_]*)=(%s)(?![[:alnum:]_=])", py_literal)

r_literal <- function(value) {
  switch(value,
    True = "TRUE", False = "FALSE", None = "NULL",
    if (grepl("^['\"]", value)) {
      sprintf("\"%s\"", substr(value, 2, nchar(value) - 1))
    } else if (grepl("^[A-Z][A-Z_]*$", value)) {
      sprintf("\"<%s>\"", tolower(value)) # a placeholder such as PATH
    } else {
      value
    }
  )
}

r_argument <- function(name) {
  name <- gsub("-", "_", name, fixed = TRUE)
  if (name %in% names(r_argument_names)) r_argument_names[[name]] else name
}

# Replace every match of `pattern` in each element of `text` by `f(groups)` (a character vector of the
# match's groups, the whole match first).
gsub_with <- function(pattern, text, f) {
  vapply(text, function(one) {
    if (is.na(one)) {
      return(one)
    }
    hits <- gregexpr(pattern, one, perl = TRUE)[[1]]
    if (hits[[1]] == -1) {
      return(one)
    }
    starts <- attr(hits, "capture.start")
    lengths <- attr(hits, "capture.length")
    out <- ""
    last <- 1L
    for (i in seq_along(hits)) {
      groups <- c(
        substr(one, hits[[i]], hits[[i]] + attr(hits, "match.length")[[i]] - 1L),
        if (!is.null(starts) && ncol(starts) > 0) {
          vapply(seq_len(ncol(starts)), function(g) {
            substr(one, starts[i, g], starts[i, g] + lengths[i, g] - 1L)
          }, character(1))
        }
      )
      out <- paste0(out, substr(one, last, hits[[i]] - 1L), f(groups))
      last <- hits[[i]] + attr(hits, "match.length")[[i]]
    }
    paste0(out, substr(one, last, nchar(one)))
  }, character(1), USE.NAMES = FALSE)
}

r_call <- function(name, args) {
  r_name <- if (name %in% names(r_function_names)) r_function_names[[name]] else name
  args <- trimws(args)
  if (nzchar(args)) {
    args <- gsub_with(sprintf("^(%s)$", py_literal), args, function(g) r_literal(g[[2]]))
    args <- gsub_with(py_setting, args, function(g) sprintf("%s = %s", r_argument(g[[2]]), r_literal(g[[3]])))
  }
  sprintf("%s(%s)", r_name, args)
}

r_install_advice <- function(command) {
  detection <- grepl("detect|torch|yolo|ultralytics|onnx", command)
  if (detection) "trapblur::install_trapblur(detection = TRUE)" else "trapblur::install_trapblur()"
}

#' Python's wording of settings, functions and installs, re-spelled for R users.
#' @noRd
r_wording <- function(text) {
  if (length(text) == 0) {
    return(text)
  }
  text <- as.character(text)
  # A Python spelling followed by the CLI's spelling of the same setting: keep one.
  text <- gsub(sprintf("(%s) ?(?:/ ?|\\()--[a-z][a-z-]*\\)?", py_setting), "\\1", text, perl = TRUE)
  text <- gsub("\\b([a-z][a-z0-9_]*) / --[a-z][a-z-]*", "\\1=True", text, perl = TRUE)
  # pip install ... (up to the closing backtick, or the end of the clause)
  text <- gsub_with("`pip install [^`]*`", text, function(g) sprintf("`%s`", r_install_advice(g[[1]])))
  text <- gsub_with("\\bpip install [^,;)`]*", text, function(g) sprintf("`%s`", r_install_advice(g[[1]])))
  # trapblur.f(...) and the CLI's `trapblur models [fetch NAME]`
  text <- gsub_with("trapblur\\.([a-z_]+)\\(([^()]*)\\)", text, function(g) r_call(g[[2]], g[[3]]))
  text <- gsub_with("trapblur models fetch ([A-Za-z0-9._-]+)", text,
                    function(g) sprintf("fetch_model(\"%s\")", g[[2]]))
  text <- gsub("trapblur models\\b", "list_models()", text, perl = TRUE)
  # keyword=value, inside backticks already or not
  text <- gsub_with(sprintf("(`?)%s", py_setting), text, function(g) {
    inner <- sprintf("%s = %s", r_argument(g[[3]]), r_literal(g[[4]]))
    if (nzchar(g[[2]])) paste0("`", inner) else sprintf("`%s`", inner)
  })
  # CLI flags left over from messages written for the command line
  text <- gsub_with("(^|[[:space:](])--(no-)?([a-z][a-z0-9-]*)( [A-Z][A-Z_]*\\b)?(?![[:alnum:]_-])", text, function(g) {
    value <- if (nzchar(g[[5]])) r_literal(trimws(g[[5]])) else if (nzchar(g[[3]])) "FALSE" else "TRUE"
    sprintf("%s`%s = %s`", g[[2]], r_argument(g[[4]]), value)
  })
  text
}
