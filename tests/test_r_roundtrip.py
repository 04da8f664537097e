"""Python -> R -> Python round trip through the R package (rpkg/).

Python makes a small dataset, the R package's ``blur_people()`` blurs it (R calling back into the Python
core through reticulate), and Python checks the R data frame, the files and the pixels, and reads the
results file R's run wrote with ``trapblur.read_results``.

Two drivers:
- rpy2 (``rpy2>=3.5.13,<3.6``; 3.6 needs R >= 4.5): R embedded in a Python process, and reticulate inside
  that R using the *same* Python interpreter. It runs in a child process because embedded R with
  reticulate crashes at interpreter exit (R's shutdown releases Python objects); the child reports its
  result as JSON and leaves with ``os._exit``.
- ``Rscript``: R in its own process, starting this Python through reticulate.

Both skip when R (or rpy2, or the R packages pkgload/reticulate/jsonlite) is missing, unless
``TRAPBLUR_REQUIRE_R=true``, which turns those skips into failures (CI).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

np = pytest.importorskip("numpy")
Image = pytest.importorskip("PIL.Image")

import trapblur  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RPKG = ROOT / "rpkg"
REQUIRE_R = os.environ.get("TRAPBLUR_REQUIRE_R", "").lower() == "true"
PERSON_BOX = (0.25, 0.2, 0.3, 0.6)  # x, y, width, height as fractions


def skip_or_fail(reason: str) -> None:
    if REQUIRE_R:
        pytest.fail(f"{reason} (TRAPBLUR_REQUIRE_R=true turns this skip into a failure)")
    pytest.skip(reason)


def r_environment() -> dict[str, str]:
    """Environment for R: reticulate must use this very Python, with its own libpython first."""
    env = dict(os.environ)
    env["RETICULATE_PYTHON"] = sys.executable
    libdir = sysconfig.get_config_var("LIBDIR") or ""
    if libdir and libdir not in ("/usr/lib", "/usr/lib/x86_64-linux-gnu") and shutil.which("R"):
        r_home = subprocess.run(["R", "RHOME"], capture_output=True, text=True, check=True).stdout.strip()
        env["R_LD_LIBRARY_PATH"] = f"{libdir}:{r_home}/lib:/usr/lib/x86_64-linux-gnu"
    return env


def require_r_packages() -> None:
    if not shutil.which("Rscript"):
        skip_or_fail("R (Rscript) is not installed")
    probe = subprocess.run(
        ["Rscript", "--vanilla", "-e",
         "for (p in c('pkgload', 'reticulate', 'jsonlite', 'cli')) if (!requireNamespace(p, quietly = TRUE)) "
         "{ cat(p); quit(status = 1) }"],
        capture_output=True, text=True,
    )
    if probe.returncode != 0:
        skip_or_fail(f"R package {probe.stdout.strip() or '?'} is not installed")


@pytest.fixture()
def dataset(tmp_path: Path) -> dict[str, str]:
    """Three textured JPEGs (one with a person, one empty, one unlisted) in a folder with a space and
    non-ASCII characters, and their MegaDetector results."""
    images = tmp_path / "caméra piège" / "images"
    (images / "site A").mkdir(parents=True)
    y, x = np.mgrid[0:120, 0:160]
    for i, name in enumerate(["site A/personne été.jpg", "site A/empty.jpg", "unlisted.jpg"]):
        pixels = np.stack([(x * (7 + i)) % 256, (y * 11) % 256, ((x // 8 + y // 8) % 2) * 200 + 30], axis=-1)
        Image.fromarray(pixels.astype("uint8")).save(images / name, quality=95)
    results = tmp_path / "caméra piège" / "md results.json"
    results.write_text(json.dumps({
        "info": {"format_version": "1.4"},
        "detection_categories": {"1": "animal", "2": "person"},
        "images": [
            {"file": "site A\\personne été.jpg",  # Windows separator, as some tools write it
             "detections": [{"category": "2", "conf": 0.8, "bbox": list(PERSON_BOX)}]},
            {"file": "site A/empty.jpg", "detections": []},
        ],
    }, ensure_ascii=False), encoding="utf-8")
    return {"images": str(images), "results": str(results), "output": str(tmp_path / "partagé")}


R_BLUR = """
res <- withCallingHandlers(
  blur_people(args$images, args$results, args$output, threshold = 0.5, strength = 2, quiet = TRUE),
  trapblur_withheld_warning = function(w) { warned <<- conditionMessage(w); invokeRestart("muffleWarning") })
out <- list(input = res$input, output = res$output, action = as.character(res$action),
            regions = res$regions, classes = lapply(res, function(col) class(col)[1]),
            results_json = attr(res, "report")$results_json, warned = warned)
"""


def check_round_trip(ds: dict[str, str], out: dict) -> None:
    actions = dict(zip(out["input"], out["action"]))
    assert actions == {"site A/personne été.jpg": "blurred", "site A/empty.jpg": "copied",
                       "unlisted.jpg": "withheld"}
    assert out["classes"]["action"] == "factor"
    assert out["classes"]["regions"] == "integer"
    assert "1 image was not written" in out["warned"]

    output = Path(ds["output"])
    source = Path(ds["images"])
    assert not (output / "unlisted.jpg").exists()
    assert (output / "site A/empty.jpg").read_bytes() == (source / "site A/empty.jpg").read_bytes()
    before = np.asarray(Image.open(source / "site A/personne été.jpg").convert("RGB")).astype(int)
    after = np.asarray(Image.open(output / "site A/personne été.jpg").convert("RGB")).astype(int)
    diff = np.abs(before - after).mean(axis=2)
    h, w = diff.shape
    x0, y0 = int(PERSON_BOX[0] * w), int(PERSON_BOX[1] * h)
    x1, y1 = int((PERSON_BOX[0] + PERSON_BOX[2]) * w), int((PERSON_BOX[1] + PERSON_BOX[3]) * h)
    inside = diff[y0 + 4:y1 - 4, x0 + 4:x1 - 4].mean()
    outside = np.concatenate([diff[:, : max(x0 - 20, 1)].ravel(), diff[:, x1 + 20:].ravel()]).mean()
    assert inside > 20 and outside < inside / 4, (inside, outside)

    # back in Python: the results file the R run wrote is a valid MegaDetector file for the output
    written = trapblur.read_results(out["results_json"])
    files = {entry.file for entry in written.images}
    assert "unlisted.jpg" not in files
    assert any(f.endswith("personne été.jpg") for f in files)


def test_round_trip_through_rscript(dataset: dict[str, str], tmp_path: Path) -> None:
    require_r_packages()
    args_file = tmp_path / "args.json"
    out_file = tmp_path / "out.json"
    args_file.write_text(json.dumps(dataset, ensure_ascii=False), encoding="utf-8")
    script = tmp_path / "roundtrip.R"
    script.write_text(textwrap.dedent(f"""
        pkgload::load_all({json.dumps(str(RPKG))}, quiet = TRUE, export_all = FALSE)
        args <- jsonlite::read_json({json.dumps(str(args_file))})
        warned <- NA_character_
        {R_BLUR}
        jsonlite::write_json(out, {json.dumps(str(out_file))}, auto_unbox = TRUE)
    """), encoding="utf-8")
    run = subprocess.run(["Rscript", "--vanilla", str(script)], capture_output=True, text=True,
                         env=r_environment(), timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    check_round_trip(dataset, json.loads(out_file.read_text(encoding="utf-8")))


RPY2_CHILD = """
import json, os, sys
os.environ["RETICULATE_PYTHON"] = sys.executable
status = 1
try:
    import rpy2.robjects as ro
    ds = json.loads(sys.argv[1])
    ro.globalenv["args"] = ro.ListVector({k: ro.StrVector([v]) for k, v in ds.items()})
    ro.r('args <- lapply(args, function(x) x[[1]])')
    ro.globalenv["rpkg"] = sys.argv[2]
    ro.r('pkgload::load_all(rpkg, quiet = TRUE, export_all = FALSE)')
    ro.r('warned <- NA_character_')
    ro.r(sys.argv[3])
    # R data back into Python objects through rpy2's conversion
    out = {name: list(ro.r('out')[i]) for i, name in enumerate(ro.r('names(out)'))}
    out["classes"] = {name: ro.r('out$classes')[i][0] for i, name in enumerate(ro.r('names(out$classes)'))}
    out["results_json"], out["warned"] = out["results_json"][0], out["warned"][0]
    out["pid_seen_by_r"] = int(ro.r('reticulate::import("os")$getpid()')[0])
    out["pid"] = os.getpid()
    print("\\nROUNDTRIP" + json.dumps(out, ensure_ascii=False, default=lambda value: None))  # NA -> null
    status = 0
except Exception as exc:
    print(f"rpy2 child failed: {type(exc).__name__}: {exc}", file=sys.stderr)
finally:
    sys.stdout.flush()
    sys.stderr.flush()
    # Embedded R holding reticulate objects crashes at interpreter exit: leave without finalising.
    os._exit(status)
"""


def test_round_trip_through_rpy2(dataset: dict[str, str]) -> None:
    require_r_packages()
    try:
        import rpy2  # noqa: F401
    except ImportError:
        skip_or_fail("rpy2 is not installed (pip install 'rpy2>=3.5.13,<3.6')")
    # rpy2 releases the GIL while R runs, and reticulate 1.28 (Debian 12's) finalises the Python objects R
    # drops without taking it back: an R garbage collection during the call then crashes the process
    # ("PyThreadState_Get: ... the GIL is released"; rstudio/reticulate#208). Start the embedded R with a
    # heap large enough that this short run never collects.
    env = {**r_environment(), "R_NSIZE": "20000000", "R_VSIZE": "2000M"}
    run = subprocess.run([sys.executable, "-c", RPY2_CHILD, json.dumps(dataset, ensure_ascii=False), str(RPKG), R_BLUR],
                         capture_output=True, text=True, env=env, timeout=300)
    lines = [line.strip() for line in run.stdout.splitlines() if line.strip().startswith("ROUNDTRIP")]
    assert run.returncode == 0 and lines, run.stdout + run.stderr
    out = json.loads(lines[-1][len("ROUNDTRIP"):])
    # reticulate inside the embedded R used this very Python process, not a second interpreter
    assert out["pid_seen_by_r"] == out["pid"]
    check_round_trip(dataset, out)
