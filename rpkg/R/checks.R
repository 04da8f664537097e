# Argument checks, done in R before anything reaches Python, with messages in R terms:
#   "`threshold` must be a number between 0 and 1, not 2."
# Each returns the value in the plain type Python should receive.

describe_value <- function(x) {
  if (is.null(x)) {
    return("NULL")
  }
  if (is.data.frame(x)) {
    return("a data frame")
  }
  if (is.function(x)) {
    return("a function")
  }
  if (is.list(x)) {
    return(sprintf("a list of length %d", length(x)))
  }
  if (is.atomic(x) && length(x) == 1) {
    if (is.na(x)) {
      return(if (is.logical(x)) "NA" else sprintf("NA (%s)", typeof(x)))
    }
    if (is.character(x)) {
      return(sprintf("the string \"%s\"", x))
    }
    if (is.factor(x)) {
      return(sprintf("a factor (\"%s\")", as.character(x)))
    }
    return(format(x))
  }
  if (is.atomic(x) && length(x) == 0) {
    return(sprintf("an empty %s vector", typeof(x)))
  }
  sprintf("a %s vector of length %d", typeof(x), length(x))
}

arg_error <- function(arg, must, x, call = NULL) {
  options_error(sprintf("`%s` must be %s, not %s.", arg, must, describe_value(x)), call = call)
}

is_number <- function(x) {
  is.numeric(x) && length(x) == 1 && !is.na(x) && is.finite(x)
}

check_flag <- function(x, arg = deparse(substitute(x)), call = NULL) {
  force(arg)
  if (!is.logical(x) || length(x) != 1 || is.na(x)) {
    arg_error(arg, "`TRUE` or `FALSE`", x, call)
  }
  x
}

check_string <- function(x, arg = deparse(substitute(x)), call = NULL, null_ok = FALSE) {
  force(arg)
  if (null_ok && is.null(x)) {
    return(NULL)
  }
  if (!is.character(x) || length(x) != 1 || is.na(x) || !nzchar(x)) {
    arg_error(arg, if (null_ok) "a single non-empty string or `NULL`" else "a single non-empty string", x, call)
  }
  enc2utf8(x)
}

check_number_between <- function(x, lower, upper, arg = deparse(substitute(x)), call = NULL,
                                 lower_open = FALSE) {
  force(arg)
  ok <- is_number(x) && (if (lower_open) x > lower else x >= lower) && x <= upper
  if (!ok) {
    must <- if (lower_open) {
      sprintf("a number greater than %s and at most %s", format(lower), format(upper))
    } else {
      sprintf("a number between %s and %s", format(lower), format(upper))
    }
    arg_error(arg, must, x, call)
  }
  as.double(x)
}

# `threshold` is one number for every category, or a named vector/list such as c(person = 0.2, vehicle = 0.5).
check_threshold <- function(x, arg = "threshold", call = NULL) {
  must <- "a number between 0 and 1 or a named vector of them, like `c(person = 0.2)`"
  if (is.list(x) && !is.data.frame(x) && length(x) > 0 && all(vapply(x, is_number, logical(1)))) {
    x <- unlist(x)
  }
  if (!is.numeric(x) || length(x) == 0) {
    arg_error(arg, must, x, call)
  }
  if (is.null(names(x))) {
    if (length(x) != 1) {
      arg_error(arg, must, x, call)
    }
    return(check_number_between(x, 0, 1, arg = arg, call = call))
  }
  nms <- names(x)
  if (anyNA(nms) || any(!nzchar(nms)) || anyDuplicated(nms)) {
    options_error(sprintf("Every value of `%s` must be named by a category, once, like `c(person = 0.2)`.", arg),
                  call = call)
  }
  for (i in seq_along(x)) {
    check_number_between(unname(x[[i]]), 0, 1, arg = sprintf("%s[[\"%s\"]]", arg, nms[[i]]), call = call)
  }
  # A named list becomes a Python dict {category: float}.
  out <- as.list(as.double(x))
  names(out) <- nms
  out
}

check_categories <- function(x, arg = "categories", call = NULL) {
  if (!is.character(x) || length(x) == 0 || anyNA(x) || any(!nzchar(x))) {
    arg_error(arg, "a character vector of category names, like `c(\"person\", \"vehicle\")`", x, call)
  }
  # as.list(): a length-1 character vector would otherwise reach Python as a str, not a list.
  as.list(unique(enc2utf8(x)))
}

check_choice <- function(x, choices, arg = deparse(substitute(x)), call = NULL) {
  force(arg)
  if (identical(x, choices)) {
    return(choices[[1]])
  }
  if (!is.character(x) || length(x) != 1 || is.na(x) || !x %in% choices) {
    arg_error(arg, paste0("one of ", paste0("\"", choices, "\"", collapse = ", ")), x, call)
  }
  x
}

check_workers <- function(x, arg = "workers", call = NULL) {
  if (is.null(x)) {
    return(NULL)
  }
  if (!is_number(x) || x < 1 || x != round(x)) {
    arg_error(arg, "a whole number of at least 1 or `NULL` (automatic)", x, call)
  }
  as.integer(x)
}

check_existing_dir <- function(x, arg = deparse(substitute(x)), call = NULL) {
  force(arg)
  x <- check_string(x, arg = arg, call = call)
  path <- path.expand(x)
  if (!dir.exists(path)) {
    what <- if (file.exists(path)) "is a file, not a folder" else "does not exist"
    options_error(sprintf("`%s` must be an existing folder of images; \"%s\" %s.", arg, x, what), call = call)
  }
  enc2utf8(path)
}

check_existing_file <- function(x, arg = deparse(substitute(x)), call = NULL) {
  force(arg)
  x <- check_string(x, arg = arg, call = call)
  path <- path.expand(x)
  if (!file.exists(path) || dir.exists(path)) {
    what <- if (dir.exists(path)) "is a folder, not a file" else "does not exist"
    options_error(sprintf("`%s` must be an existing results file; \"%s\" %s.", arg, x, what), call = call)
  }
  enc2utf8(path)
}

check_output_dir <- function(x, images, arg = "output", call = NULL) {
  x <- check_string(x, arg = arg, call = call)
  path <- enc2utf8(path.expand(x))
  if (file.exists(path) && !dir.exists(path)) {
    options_error(sprintf("`%s` must be a folder; \"%s\" is a file.", arg, x), call = call)
  }
  same <- tryCatch(
    normalizePath(path, winslash = "/", mustWork = FALSE) == normalizePath(images, winslash = "/", mustWork = FALSE),
    error = function(e) FALSE
  )
  if (isTRUE(same)) {
    options_error(sprintf("`%s` must be a different folder from `images` (both are \"%s\"): originals are never overwritten.",
                          arg, x), call = call)
  }
  path
}
