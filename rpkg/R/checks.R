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

check_existing_path <- function(x, arg = deparse(substitute(x)), call = NULL) {
  force(arg)
  x <- check_string(x, arg = arg, call = call)
  path <- path.expand(x)
  if (!file.exists(path)) {
    options_error(sprintf("`%s` must be an existing folder of images (or one image); \"%s\" does not exist.", arg, x),
                  call = call)
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

# `...` of the user-facing functions: every argument after the required ones must be named, so that a
# value given by position never lands in the wrong argument (detect_people(images, "det.json") would
# otherwise pass a results file as the model). `guess(value)` may name the argument the value was
# probably meant for. Checked in R, before Python is started.
check_dots_unnamed <- function(dots, after, guess = function(value) NULL, call = NULL) {
  if (length(dots) == 0) {
    return(dots)
  }
  nms <- names(dots) %||% rep("", length(dots))
  unnamed <- which(!nzchar(nms))
  if (length(unnamed) > 0) {
    value <- dots[[unnamed[[1]]]]
    meant <- guess(value)
    shown <- if (is.atomic(value) && length(value) == 1) deparse(value) else NULL
    options_error(c(
      sprintf("Every argument after `%s` must be named, but %s is not.", after, describe_value(value)),
      i = if (!is.null(meant) && !is.null(shown)) {
        sprintf("Did you mean `%s = %s`?", meant, shown)
      } else {
        "Name it, like `name = value`; the function's help page lists the names."
      }
    ), call = call)
  }
  lapply(dots, plain_python_value)
}

# An R value as Python should get it: NA as None (reticulate would pass the string "NA"), and a whole
# number such as `batch_size = 4` (a double in R) as a Python int; Python accepts an int wherever a float
# is expected, not the other way round.
plain_python_value <- function(v) {
  if (length(v) == 1 && is.atomic(v) && is.na(v)) {
    return(NULL)
  }
  if (is.double(v) && length(v) == 1 && is.finite(v) && v == round(v) && abs(v) < .Machine$integer.max) {
    return(as.integer(v))
  }
  v
}

# Named `...` must be keyword arguments of the Python function `fn` that the R function does not set
# itself; an unknown name is an R error (not Python's TypeError), with the nearest argument suggested.
check_dots_known <- function(dots, fn, r_name, taken = character(), call = NULL) {
  if (length(dots) == 0) {
    return(dots)
  }
  params <- python_parameters(fn)
  known <- setdiff(params$names, taken)
  r_formals <- setdiff(names(formals(get(r_name, mode = "function"))), "...")
  for (name in names(dots)) {
    if (name %in% taken || name %in% r_formals) {
      options_error(sprintf("`%s` is given twice, or is set by `%s()` itself.", name, r_name), call = call)
    }
    if (!params$any_keyword && !name %in% known) {
      near <- c(r_formals, known)
      near <- near[startsWith(near, name) | utils::adist(name, near)[1, ] <= max(2, nchar(name) %/% 3)]
      options_error(c(
        sprintf("`%s` is not an argument of `%s()`.", name, r_name),
        i = if (length(near) > 0) sprintf("Did you mean `%s`?", near[[1]]) else sprintf("See `?%s` for its arguments.", r_name)
      ), call = call)
    }
  }
  dots
}

# Keyword parameter names of a Python function, and whether it takes **kwargs.
python_parameters <- function(fn) {
  code <- "
def trapblur_r_parameters(fn):
    import inspect
    params = inspect.signature(fn).parameters.values()
    names = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    return {'names': names, 'any_keyword': any(p.kind == p.VAR_KEYWORD for p in params)}
"
  if (is.null(.trapblur$parameters)) {
    .trapblur$parameters <- reticulate::py_run_string(code, local = TRUE, convert = TRUE)$trapblur_r_parameters
  }
  out <- .trapblur$parameters(fn)
  list(names = as.character(unlist(out$names)), any_keyword = isTRUE(out$any_keyword))
}
