#!/usr/bin/env bash
# From zero, the way README's "From R" section says, with nothing from this machine's set-up:
#
#   1. a folder holding only the R package (rpkg/: it carries the Python core), an empty R library,
#      no Python environment, no RETICULATE_PYTHON;
#   2. README's install block, run word for word by Rscript in that folder: R CMD build (vignette
#      built), install.packages(<tarball>), install_trapblur(detection = TRUE) with no `source`;
#   3. "restart R": a new Rscript runs README's usage block word for word, then blurs the real images of
#      ../shared/data (generated ones when it is absent) and checks the outcome, the pixels, the vignette,
#      the picture, and detection in the new environment.
#
#   bash scripts/test_r_install.sh        # ~3-6 min (pip downloads are cached in pip's usual cache)
#
# scripts/test_r.sh runs it when TRAPBLUR_TEST_INSTALL=true (CI). Needs R with the packages of the
# top-level DESCRIPTION, a Python >= 3.10 with venv, and the package registry (PyPI).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
say() { printf '\n== %s\n' "$*"; }
die() { printf 'test_r_install.sh: %s\n' "$*" >&2; exit 1; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/trapblur-r-install-XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/checkout" "$WORK/library" "$WORK/run"
cp -R "$ROOT/rpkg" "$WORK/checkout/rpkg"
rm -f "$WORK/checkout/rpkg/"*.tar.gz

# README's code blocks, between their markers.
readme_block() {
  awk -v name="$1" '
    $0 ~ "<!-- readme-r-" name ": start -->" { on = 1; next }
    $0 ~ "<!-- readme-r-" name ": end -->" { on = 0 }
    on && !/^```/ { print }' "$ROOT/README.md"
}
readme_block install > "$WORK/install.R"
readme_block use > "$WORK/use.R"
[ -s "$WORK/install.R" ] && [ -s "$WORK/use.R" ] || die "README.md has no readme-r-install / readme-r-use blocks"

# A user's environment: an empty library first, our own virtualenv root, no Python chosen, nothing of
# this repository's test set-up (RETICULATE_PYTHON, R_LD_LIBRARY_PATH, TRAPBLUR_* variables).
clean_env=(env -u RETICULATE_PYTHON -u R_LD_LIBRARY_PATH -u TRAPBLUR_SOURCE -u TRAPBLUR_PYTHON
           -u TRAPBLUR_CACHE_DIR -u TRAPBLUR_MODEL_DIR -u R_PROFILE_USER -u R_LIBS_USER
           R_LIBS="$WORK/library" WORKON_HOME="$WORK/virtualenvs" TRAPBLUR_CACHE_DIR="$WORK/cache"
           YOLO_OFFLINE=1 YOLO_CONFIG_DIR="$WORK/yolo")
"${clean_env[@]}" Rscript --vanilla -e 'if (nzchar(system.file(package = "trapblur"))) stop("trapblur is already installed: ", system.file(package = "trapblur"))' \
  || die "the R library is not empty of trapblur"

say "README install block (R CMD build, install.packages, install_trapblur) in a folder with only rpkg/"
cat "$WORK/install.R"
(cd "$WORK/checkout" && "${clean_env[@]}" Rscript --no-echo "$WORK/install.R") || die "README's install block failed"
[ -d "$WORK/virtualenvs/r-trapblur" ] || die "install_trapblur() made no environment r-trapblur"

say "README usage block, in a new R session"
# Opening the vignette would start a browser: print its address instead.
printf 'options(browser = function(url) cat("vignette:", url, "\\n"))\n' > "$WORK/Rprofile"
(cd "$WORK/run" && "${clean_env[@]}" R_PROFILE_USER="$WORK/Rprofile" Rscript "$WORK/use.R") || die "README's usage block failed"
[ -s "$WORK/run/Rplots.pdf" ] || die "plot(res) drew nothing"

say "Real images, blurred from the new environment (another new R session)"
SHARED="${TRAPBLUR_SHARED_DATA:-$ROOT/../shared/data}"
[ -d "$SHARED/images" ] && SHARED="$(cd "$SHARED" && pwd)" || SHARED=""
(cd "$WORK/run" && "${clean_env[@]}" TRAPBLUR_SHARED_DATA="$SHARED" Rscript --vanilla "$ROOT/scripts/after_install.R") \
  || die "blurring from the freshly installed package failed"
echo "install from the R package alone: OK"
