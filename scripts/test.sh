#!/usr/bin/env bash
# Set up everything the tests need on a fresh machine, then run the Python and the R test suites.
# Needs root (or sudo) the first time on a machine without R: R comes from Debian's packages.
set -euo pipefail
cd "$(dirname "$0")/.."
export YOLO_OFFLINE=1
# Detection is installed below: its R tests must run, not skip.
export TRAPBLUR_REQUIRE_DETECTION=true
# The distributed extra is installed below: the Dask tests (Python and R) must run, not skip.
export TRAPBLUR_REQUIRE_DISTRIBUTED=true
# Also install the R package from zero as README says, install_trapblur() from the copy of the core it
# carries, and blur from a new R session (scripts/test_r_install.sh; makes a venv, pip installs: ~3-5 min).
export TRAPBLUR_TEST_INSTALL=true
bash scripts/setup_python.sh test,examples,distributed detection
# System packages the tests use, from Debian (each is what a user of that feature has too):
#   libturbojpeg0            libjpeg-turbo's TurboJPEG: the fast back end of lossless JPEG editing
#   libimage-exiftool-perl   exiftool: the independent metadata reader that checks previews, GPS and serials
#   libmagic1                panoptes-client detects an upload's media type with it (export tests)
#   chromium chromium-driver headless browser for the review page's tests (selenium comes with the test extra)
apt_needed=()
ldconfig -p 2>/dev/null | grep -q 'libturbojpeg\.so\.0' || apt_needed+=(libturbojpeg0)
command -v exiftool >/dev/null 2>&1 || apt_needed+=(libimage-exiftool-perl)
ldconfig -p 2>/dev/null | grep -q 'libmagic\.so\.1' || apt_needed+=(libmagic1)
{ command -v chromium && command -v chromedriver; } >/dev/null 2>&1 || apt_needed+=(chromium chromium-driver)
if [ ${#apt_needed[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${apt_needed[@]}" >/dev/null
fi
# ... so none of those tests may skip for want of them.
export TRAPBLUR_REQUIRE_TURBOJPEG=1 TRAPBLUR_REQUIRE_EXIFTOOL=1 TRAPBLUR_REQUIRE_BROWSER=1
# The R suite (installs R from Debian when missing; testthat against the real core; R CMD check).
bash scripts/test_r.sh
# rpy2 compiles against R's headers, so it comes after R; it drives the Python -> R -> Python test.
.venv/bin/python -m pip install --quiet --disable-pip-version-check 'rpy2>=3.5.13,<3.6'
# In CI nothing may silently skip for want of R, rpy2 or the detection packages.
TRAPBLUR_REQUIRE_R=true .venv/bin/python -m pytest -q -p no:cacheprovider -ra tests
