# Anonymise a camera-trap dataset before sharing it: blur every person MegaDetector found.
# Adapt the four paths and settings below, then run the whole script (in RStudio: Ctrl+Shift+Enter).
# Requires the trapblur R package and, once, trapblur::install_trapblur().

library(trapblur)

images    <- "D:/cameras/2024"            # folder of images (sub-folders are included)
results   <- "D:/cameras/md_2024.json"    # MegaDetector results for that folder
output    <- "D:/share/2024"              # where the shareable copy goes (created; originals untouched)
threshold <- 0.1                          # lower = blur more boxes (safer); MDv5 "conservative" is 0.05

if (!file.exists(results)) {
  # No data of your own yet? Try it on a small generated dataset.
  ex <- trapblur_example()
  images <- ex$images; results <- ex$results; output <- ex$output
}
if (!trapblur_available()) {
  stop("The trapblur Python core is not installed: run trapblur::install_trapblur() once, then restart R.")
}

# 1. Look before you blur: people per confidence band.
dets <- read_md_results(results)
people <- dets[dets$category == "person", ]
cat(nrow(people), "person boxes;", sum(people$conf >= threshold), "at or above the threshold", threshold, "\n")

# 2. Blur. Add "vehicle" to hide number plates: categories = c("person", "vehicle").
res <- blur_people(images, results = results, output = output,
                   threshold = threshold, strength = 1, categories = "person")
print(res)        # counts by action, output folder, report, settings
summary(res)      # ... and why images were not written

# 3. Images not written (withheld: not known to be safe; failed: could not be processed).
#    Check them by hand before deciding to share them.
problems <- res[res$action %in% c("withheld", "failed"), c("file", "action", "reason")]
if (nrow(problems) > 0) print(problems)

# 4. Look before you share: blurred images next to their originals, and images with a person
#    detected just under the threshold (written unblurred): lower the threshold if they hold people.
if (requireNamespace("png", quietly = TRUE)) plot(res, n = 4)

# The report is also saved next to the images, for the people you share with.
cat("Report:", attr(res, "report")$report_csv, "\n")
