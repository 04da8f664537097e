#!/usr/bin/env bash
# Test the R package (rpkg/) against the real Python core.
#
#   scripts/test_r.sh            # from anywhere; CI runs it after creating .venv with trapblur installed
#
# 1. installs R from Debian when it is missing (the packages listed in Config/trapblur/apt of the
#    top-level DESCRIPTION; CRAN is not needed), and checks every R package that DESCRIPTION names;
# 2. fails if NAMESPACE or man/ are not what roxygen2 generates from the sources, or if rpkg/inst/python
#    is not the copy of python/ that scripts/sync_r_python.sh makes;
# 3. R CMD build (this builds the vignette, running it against Python);
# 4. runs the testthat suite against the built package, installed in a temporary library;
# 5. with TRAPBLUR_TEST_INSTALL=true: scripts/test_r_install.sh, the install from zero as README says
#    (empty library, install_trapblur() with no `source`, a new R session blurring real images);
# 6. R CMD check --no-manual on the built tarball (vignette rebuilt); fails unless Status: OK.
#
# Environment:
#   TRAPBLUR_PYTHON   Python with trapblur installed (default: <repo>/.venv/bin/python)
#   TRAPBLUR_TEST_INSTALL=true  also run step 5 (slow: makes a Python environment, pip installs)
#   SKIP_R_CHECK=true           stop before R CMD check
# Python being missing is a failure here, never a skip (TRAPBLUR_REQUIRE_PYTHON=true).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PKG_DIR="$ROOT/rpkg"
say() { printf '\n== %s\n' "$*"; }
die() { printf 'test_r.sh: %s\n' "$*" >&2; exit 1; }

# DCF field of the top-level DESCRIPTION (continuation lines joined), without needing R.
dcf_field() {
  awk -v key="$1" '
    $0 ~ "^"key":" { sub("^"key":[ \t]*", ""); value = $0; grab = 1; next }
    grab && /^[ \t]/ { sub("^[ \t]+", " "); value = value $0; next }
    { grab = 0 }
    END { print value }' "$ROOT/DESCRIPTION"
}
r_packages() { # package names of Imports + Suggests, without version constraints
  { dcf_field Imports; echo ","; dcf_field Suggests; } | tr ',' '\n' | sed 's/(.*)//; s/[[:space:]]//g' | grep -v '^$'
}

# ---------------------------------------------------------------------------------------------- 1. R
R_PKGS="$(r_packages | paste -sd' ' -)"
need_r() {
  command -v Rscript >/dev/null 2>&1 || return 0
  Rscript --vanilla -e "p <- strsplit('$R_PKGS', ' ')[[1]]; miss <- p[!vapply(p, requireNamespace, TRUE, quietly = TRUE)]; if (length(miss)) { cat('missing R packages:', miss, '\n'); quit(status = 1) }" \
    >/dev/null 2>&1 && return 1 || return 0
}
if need_r; then
  APT_PKGS="$(dcf_field Config/trapblur/apt)"
  say "Installing R from Debian: $APT_PKGS"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  # shellcheck disable=SC2086
  $SUDO apt-get install -y -qq --no-install-recommends $APT_PKGS >/dev/null
  need_r && die "R packages still missing after apt-get: $R_PKGS"
fi
say "$(R --version | head -1); reticulate $(Rscript --vanilla -e 'cat(format(packageVersion("reticulate")))')"

# ----------------------------------------------------------------------------------------- Python
PYTHON="${TRAPBLUR_PYTHON:-$ROOT/.venv/bin/python}"
[ -x "$PYTHON" ] || die "no Python at $PYTHON: create the venv (python3 -m venv .venv && .venv/bin/pip install -e .) or set TRAPBLUR_PYTHON"
"$PYTHON" -c 'import trapblur' || die "$PYTHON cannot import trapblur: run $PYTHON -m pip install -e $ROOT"
say "Python $PYTHON: trapblur $("$PYTHON" -c 'import trapblur; print(trapblur.__version__, trapblur.__file__)')"
export RETICULATE_PYTHON="$PYTHON"
export TRAPBLUR_REQUIRE_PYTHON=true
export NOT_CRAN=true
# R puts Debian's library folder first on LD_LIBRARY_PATH (etc/ldpaths), so a Python built elsewhere
# (pyenv) would load Debian's libpython when embedded in R. Put this Python's own LIBDIR first.
PY_LIBDIR="$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_config_var("LIBDIR") or "")')"
if [ -n "$PY_LIBDIR" ] && [ "$PY_LIBDIR" != "/usr/lib" ] && [ "$PY_LIBDIR" != "/usr/lib/x86_64-linux-gnu" ]; then
  R_HOME_DIR="$(R RHOME)"
  export R_LD_LIBRARY_PATH="$PY_LIBDIR:$R_HOME_DIR/lib:/usr/lib/x86_64-linux-gnu"
fi
[ -d "$ROOT/../shared/data/md" ] && export TRAPBLUR_SHARED_MD="$(cd "$ROOT/../shared/data/md" && pwd)"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/trapblur-r-XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
# An empty local package repository: R CMD check then never tries to reach CRAN.
mkdir -p "$WORK/repo/src/contrib" && : > "$WORK/repo/src/contrib/PACKAGES"
printf 'options(repos = c(CRAN = "file://%s/repo"))\n' "$WORK" > "$WORK/Rprofile"
export R_PROFILE_USER="$WORK/Rprofile"
# Keep the user's virtualenvs out of the tests' way (install_trapblur() test, discovery tests).
export WORKON_HOME="$WORK/virtualenvs"
# ... and the user's model cache (ONNX copies the detection tests make).
export TRAPBLUR_CACHE_DIR="$WORK/cache"

# ------------------------------------------------------------------------------- 2. roxygen up to date
say "roxygen2: NAMESPACE and man/ up to date?"
cp -R "$PKG_DIR" "$WORK/roxy"
(cd "$WORK/roxy" && Rscript --vanilla -e 'suppressMessages(roxygen2::roxygenise())' >/dev/null)
if ! diff -ru "$PKG_DIR/NAMESPACE" "$WORK/roxy/NAMESPACE" || ! diff -ru "$PKG_DIR/man" "$WORK/roxy/man"; then
  die "NAMESPACE or man/ is out of date: run  Rscript -e 'roxygen2::roxygenise(\"rpkg\")'  and commit the result"
fi
echo "up to date"
bash "$ROOT/scripts/sync_r_python.sh" --check

# ------------------------------------------------------------------------------------------ 3. build
say "R CMD build"
(cd "$WORK" && R CMD build "$PKG_DIR")
TARBALL="$(ls "$WORK"/trapblur_*.tar.gz)"

# -------------------------------------------------------------------------------------- 4. testthat
say "testthat suite (installed package, real Python core)"
mkdir -p "$WORK/lib"
R CMD INSTALL --no-test-load --library="$WORK/lib" "$TARBALL" >/dev/null
(cd "$PKG_DIR/tests/testthat" && R_LIBS="$WORK/lib" Rscript --vanilla -e '
  library(testthat)
  res <- as.data.frame(test_dir(".", package = "trapblur", load_package = "installed",
                                reporter = ProgressReporter$new(show_praise = FALSE), stop_on_failure = FALSE))
  cat(sprintf("\ntestthat: %d tests, %d expectations passed, %d failed, %d errors, %d skipped\n",
              nrow(res), sum(res$passed), sum(res$failed), sum(res$error), sum(res$skipped)))
  if (sum(res$failed) > 0 || any(res$error)) quit(status = 1)')

# ------------------------------------------------------------------------- 5. install as README says
if [ "${TRAPBLUR_TEST_INSTALL:-}" = "true" ]; then
  say "Install from the R package alone, as README says (scripts/test_r_install.sh)"
  bash "$ROOT/scripts/test_r_install.sh"
fi

[ "${SKIP_R_CHECK:-}" = "true" ] && { say "SKIP_R_CHECK=true: not running R CMD check"; exit 0; }

# -------------------------------------------------------------------------------------- 6. R CMD check
say "R CMD check --no-manual"
(cd "$WORK" && R CMD check --no-manual "$TARBALL") || true
LOG="$WORK/trapblur.Rcheck/00check.log"
[ -f "$LOG" ] || die "R CMD check wrote no log"
STATUS="$(grep '^Status:' "$LOG" || true)"
echo "R CMD check $STATUS"
if [ "$STATUS" != "Status: OK" ]; then
  grep -B2 -A12 -E '\.\.\. (NOTE|WARNING|ERROR)$' "$LOG" || true
  cat "$WORK/trapblur.Rcheck/tests/testthat.Rout.fail" 2>/dev/null || true
  die "R CMD check: $STATUS (anything but OK fails: fix the NOTE, or say in the script why it cannot be)"
fi
