#' Read a MegaDetector results file into a data frame
#'
#' Pure R (no Python needed). Reads every variant of MegaDetector's batch-output format that users have:
#' format versions 1.0 to 1.6 with or without `info.format_version`, files written by PyTorch-Wildlife
#' (other category ids, `max_detection_conf: ""`) and by animl (format "3.0", an extra `"empty"`
#' category, `frame` fields, absolute paths), video results with `frame_number`, and `failure` entries
#' whose `detections` are `null` or absent. Categories are looked up by *name* in
#' `detection_categories`, never by id, because tools number them differently.
#'
#' Image paths are given in the `file` column in the form [blur_people()] uses for its `file` column:
#' relative to the image folder, with forward slashes (`"site A/IMG_0001.jpg"`), also for results
#' written on Windows (`"site A\\IMG_0001.jpg"`), so the detections and a run's report join with
#' `merge(res, dets, by = "file")`. Absolute paths (animl writes them, and MegaDetector without
#' `--output_relative_filenames`) become relative when `images` is given: a path inside `images` is made
#' relative to it, and a path from another machine (`"D:/cams/A/x.jpg"`) is matched by its longest
#' trailing part that names a file in `images` (`"cams/A/x.jpg"`, then `"A/x.jpg"`, then `"x.jpg"`), as
#' [blur_people()] matches them; a match that differs only in letter case is used when it is unique.
#'
#' @param path Path of the JSON file.
#' @param include_empty If `FALSE` (default) the result has one row per detection. If `TRUE` it also has
#'   one row for each image with no detections or a failure (with `category` `NA`), so that every image
#'   of the file appears.
#' @param images Optional: the folder of images the results describe. When given, absolute paths and
#'   paths from another machine are matched to the files in it (see Details), so `file` is relative.
#' @return A data frame with one row per detection and columns `file` (the image's path as described
#'   above), `category`
#'   (name, lower case), `conf`, `x_min`, `y_min`, `width`, `height` (box as fractions of the upright image,
#'   from its top-left corner), `category_id` (id as in the file), `frame` (video frame or `NA`),
#'   `classification` and `classification_conf` (the most confident classification, or `NA`) and `failure`
#'   (the detector's failure message, or `NA`) and `file_in_results` (the path exactly as written in the
#'   file). Attributes `info`, `detection_categories` and
#'   `classification_categories` keep the file's metadata. Malformed files raise an error of class
#'   `trapblur_results_format_error`.
#' @seealso [blur_people()], [detect_people()].
#' @export
#' @examples
#' ex <- trapblur_example()
#' dets <- read_md_results(ex$results)
#' dets
#' # the people a threshold of 0.2 would blur
#' dets[dets$category == "person" & dets$conf >= 0.2, ]
#' # every image, including those with nothing found
#' read_md_results(ex$results, include_empty = TRUE)
read_md_results <- function(path, include_empty = FALSE, images = NULL) {
  call <- sys.call()[1]
  path <- check_existing_file(path, arg = "path", call = call)
  include_empty <- check_flag(include_empty, call = call)
  folder <- if (is.null(images)) NULL else check_existing_dir(images, call = call)
  fail <- function(...) {
    trapblur_abort(sprintf("%s: %s", path, sprintf(...)), class = "trapblur_results_format_error", call = call)
  }
  doc <- tryCatch(
    jsonlite::read_json(path, simplifyVector = FALSE),
    error = function(e) fail("not valid JSON (%s)", first_line(conditionMessage(e)))
  )
  if (!is.list(doc) || is.null(names(doc))) fail("the top level must be a JSON object")
  categories <- doc$detection_categories
  if (is.null(categories)) fail("required field 'detection_categories' is missing")
  if (!is.list(categories) || (length(categories) > 0 && is.null(names(categories))) ||
      !all(vapply(categories, function(v) is.character(v) && length(v) == 1, logical(1)))) {
    fail("'detection_categories' must map ids to names, like {\"2\": \"person\"}")
  }
  category_names <- tolower(trimws(unlist(categories)))
  names(category_names) <- names(categories)
  images <- doc$images
  if (is.null(images) && !"images" %in% names(doc)) fail("required field 'images' is missing")
  if (!is.list(images) || (length(images) > 0 && !is.null(names(images)))) fail("'images' must be a list")
  info <- doc$info %||% list()
  classification_categories <- unlist(doc$classification_categories %||% list())

  files <- character(length(images))
  failures <- rep(NA_character_, length(images))
  dets <- vector("list", length(images))
  for (i in seq_along(images)) {
    im <- images[[i]]
    if (!is.list(im) || is.null(names(im))) fail("images[%d] must be an object", i - 1L)
    file <- im$file
    if (!is.character(file) || length(file) != 1 || !nzchar(file)) {
      fail("images[%d]: 'file' must be a non-empty string", i - 1L)
    }
    files[[i]] <- file
    if (!is.null(im$failure)) failures[[i]] <- as.character(im$failure)[1]
    d <- im$detections
    if (!is.na(failures[[i]])) {
      d <- list() # like the core: a failed image has no usable detections
    } else if (is.null(d)) {
      # null or absent detections: the detector did not look at this image.
      if (is.na(failures[[i]])) failures[[i]] <- "no detections in results"
      d <- list()
    } else if (!is.list(d) || (length(d) > 0 && !is.null(names(d)))) {
      fail("images[%d] ('%s'): 'detections' must be a list or null", i - 1L, file)
    }
    dets[[i]] <- d
  }

  n <- lengths(dets)
  flat <- unlist(dets, recursive = FALSE)
  owner <- rep(seq_along(images), n)
  where <- function(k) sprintf("images[%d] ('%s'): detections[%d]", owner[k] - 1L, files[owner[k]],
                               k - c(0L, cumsum(n))[owner[k]] - 1L)
  num <- function(x) is.numeric(x) && length(x) == 1 && !is.na(x)
  category_id <- character(length(flat))
  conf <- numeric(length(flat))
  bbox <- matrix(NA_real_, nrow = length(flat), ncol = 4)
  frame <- rep(NA_integer_, length(flat))
  cls <- rep(NA_character_, length(flat))
  cls_conf <- rep(NA_real_, length(flat))
  for (k in seq_along(flat)) {
    det <- flat[[k]]
    if (!is.list(det) || is.null(names(det))) fail("%s must be an object", where(k))
    id <- det$category
    if (!(is.character(id) || is.numeric(id)) || length(id) != 1) {
      fail("%s: 'category' must be a category id string", where(k))
    }
    category_id[[k]] <- as.character(id)
    if (!num(det$conf) || det$conf < 0 || det$conf > 1 + 1e-6) {
      fail("%s: 'conf' must be a number between 0 and 1", where(k))
    }
    conf[[k]] <- min(det$conf, 1)
    box <- det$bbox
    if (!is.list(box) || length(box) != 4 || !all(vapply(box, num, logical(1)))) {
      fail("%s: 'bbox' must be 4 numbers [x, y, width, height]", where(k))
    }
    bbox[k, ] <- unlist(box)
    f <- det$frame %||% det$frame_number
    if (num(f)) frame[[k]] <- as.integer(f)
    cl <- det$classifications
    if (is.list(cl) && length(cl) > 0) {
      ok <- Filter(function(p) is.list(p) && length(p) == 2 && num(p[[2]]), cl)
      if (length(ok) > 0) {
        best <- ok[[which.max(vapply(ok, function(p) p[[2]], numeric(1)))]]
        id_c <- as.character(best[[1]])
        cls[[k]] <- if (id_c %in% names(classification_categories)) classification_categories[[id_c]] else id_c
        cls_conf[[k]] <- best[[2]]
      }
    }
  }
  category <- unname(category_names[category_id])
  if (anyNA(category)) {
    unknown <- unique(category_id[is.na(category)])
    cli::cli_warn(c(
      "{.path {path}} uses categor{?y/ies} {.val {unknown}} that {?is/are} not in {.field detection_categories}.",
      i = "{?Its/Their} rows have {.field category} {.val {NA}}."
    ), class = "trapblur_results_warning")
  }
  keys <- results_key(files)
  if (!is.null(folder)) keys <- match_to_folder(keys, folder)
  out <- data.frame(
    file = keys[owner],
    category = category,
    conf = conf,
    x_min = bbox[, 1], y_min = bbox[, 2], width = bbox[, 3], height = bbox[, 4],
    category_id = category_id,
    frame = frame,
    classification = cls,
    classification_conf = cls_conf,
    failure = failures[owner],
    file_in_results = files[owner],
    stringsAsFactors = FALSE
  )
  if (include_empty) {
    empty <- which(n == 0)
    if (length(empty) > 0) {
      extra <- out[rep(NA_integer_, length(empty)), , drop = FALSE]
      extra$file <- keys[empty]
      extra$failure <- failures[empty]
      extra$file_in_results <- files[empty]
      out <- rbind(out, extra)
      out <- out[order(c(owner, empty)), , drop = FALSE]
    }
  }
  rownames(out) <- NULL
  attr(out, "info") <- info
  attr(out, "detection_categories") <- category_names
  attr(out, "classification_categories") <- classification_categories
  out
}

# A results path in the form of a run's `file` column: forward slashes, no leading "./".
results_key <- function(x) {
  # useBytes: a file name that is not valid UTF-8 (possible on Linux) is kept as its bytes, not an error
  x <- gsub("\\", "/", x, fixed = TRUE, useBytes = TRUE)
  sub("^(\\./)+", "", x, useBytes = TRUE)
}

# `keys` (from results_key()) matched to the files under `images`, as the core matches results entries:
# exact relative path, else a unique case-insensitive match; absolute paths inside `images` made
# relative; other absolute paths by their longest trailing part that names a file. Unmatched keys are
# returned unchanged.
match_to_folder <- function(keys, images) {
  found <- list.files(images, recursive = TRUE, all.files = TRUE, no.. = TRUE)
  lower <- tolower(found)
  ambiguous <- unique(lower[duplicated(lower)])
  resolve <- function(candidates) {
    hit <- found[match(candidates, found)]
    miss <- is.na(hit) & !is.na(candidates)
    if (any(miss)) {
      lc <- tolower(candidates[miss])
      hit[miss] <- ifelse(lc %in% ambiguous, NA_character_, found[match(lc, lower)])
    }
    hit
  }
  out <- keys
  absolute <- grepl("^/", keys) | grepl("^[A-Za-z]:/", keys)
  relative <- !absolute & !grepl("(^|/)\\.\\.(/|$)", keys)
  hit <- resolve(ifelse(relative, keys, NA_character_))
  out[!is.na(hit)] <- hit[!is.na(hit)]
  if (any(absolute)) {
    root <- paste0(normalizePath(images, winslash = "/"), "/")
    inside <- absolute & startsWith(keys, root)
    hit <- resolve(ifelse(inside, substring(keys, nchar(root) + 1L), NA_character_))
    done <- !is.na(hit)
    out[done] <- hit[done]
    todo <- which(absolute & !done)
    parts <- lapply(strsplit(keys[todo], "/", fixed = TRUE), function(p) p[nzchar(p) & p != "." & !grepl("^[A-Za-z]:$", p)])
    ok <- !vapply(parts, function(p) ".." %in% p, logical(1))
    todo <- todo[ok]
    parts <- parts[ok]
    depth <- lengths(parts)
    for (start in seq_len(max(c(0L, depth)))) {
      open <- which(depth >= start)
      if (length(open) == 0) break
      candidates <- vapply(parts[open], function(p) paste(p[start:length(p)], collapse = "/"), character(1))
      hit <- resolve(candidates)
      matched <- open[!is.na(hit)]
      out[todo[matched]] <- hit[!is.na(hit)]
      depth[matched] <- 0L # resolved: stop looking at shorter parts
    }
  }
  out
}
