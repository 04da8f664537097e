"""``trapblur blur`` (blur from MegaDetector results) and ``trapblur example`` (a dataset to try it on)."""

from __future__ import annotations

import argparse
from typing import Any

from ..example import make_example_dataset
from ..pipeline import REPORT_NAME, RESULTS_NAME, blur_dataset
from .common import (
    EXIT_OK, add_blur_arguments, add_cluster_arguments, blur_keywords, cluster_from_args, finish, print_job_script,
    progress_bar,
)

BLUR_EXAMPLES = f"""\
examples:
  trapblur blur cameras/ --results md_results.json --out shareable/
  trapblur blur cameras/ --results md.json --out shareable/ --threshold 0.05 --strength 2
  trapblur blur cameras/ --results md.json --out shareable/ --categories person,vehicle \\
      --threshold person=0.05,vehicle=0.2

what is written:
  shareable/ mirrors cameras/. Images with a person (conf >= threshold) are blurred; images with
  nothing to hide are copied byte for byte; images that are not known to be safe (not in the results,
  the detector failed on them, unreadable) are withheld. shareable/{REPORT_NAME} lists every image
  with what was done and why; shareable/{RESULTS_NAME} is a MegaDetector file for the new folder.
  Re-running the same command resumes where an interrupted run stopped.

on a cluster (the folders on storage every worker sees; see README "Many images: a cluster"):
  trapblur blur cameras/ --results md.json --out shareable/ --scheduler tcp://10.0.0.5:8786
  trapblur blur cameras/ --results md.json --out shareable/ --cluster slurm --jobs 20 --cores 8 --memory 32GB

exit status: 0 every image written; 1 some withheld or failed (see the report); 2 could not run.
"""



def register(subparsers: Any) -> None:
    """Add ``blur`` and ``example`` to an argparse sub-parsers object."""
    blur = subparsers.add_parser(
        "blur",
        help="blur people in a folder of images, using MegaDetector results",
        description="Write a shareable copy of a folder of camera-trap images with every person blurred, "
        "using the boxes of a MegaDetector results file.",
        epilog=BLUR_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_blur_arguments(blur)
    add_cluster_arguments(blur)
    blur.add_argument("images", metavar="IMAGES", help="folder of images (searched recursively); never modified")
    blur.add_argument("--results", required=True, metavar="FILE",
                      help="MegaDetector batch-output JSON for IMAGES (any format version)")
    blur.add_argument("--out", required=True, metavar="FOLDER",
                      help="folder for the shareable copy; must not be inside IMAGES")
    blur.set_defaults(handler=run_blur)

    example = subparsers.add_parser(
        "example",
        help="write a small example dataset (images + MegaDetector results) to try trapblur on",
        description="Write FOLDER/cameras (five JPEGs with a person near and far, and empty frames) and "
        "FOLDER/md_results.json, built offline from installed packages.",
    )
    example.add_argument("folder", metavar="FOLDER")
    example.set_defaults(handler=run_example)


def run_blur(args: argparse.Namespace) -> int:
    if args.job_script:
        return print_job_script(args)
    with cluster_from_args(args) as cluster:
        update, close = progress_bar(args.quiet, "blurring", cluster.status_line if cluster else None)
        try:
            report = blur_dataset(args.images, args.results, args.out, progress=update, client=cluster,
                                  **blur_keywords(args))
        finally:
            close()
        return finish(report, cluster)


def run_example(args: argparse.Namespace) -> int:
    dataset = make_example_dataset(args.folder)
    print(f"images: {dataset.images}\nresults: {dataset.results}\n"
          f"try: trapblur blur {dataset.images} --results {dataset.results} --out SHAREABLE_FOLDER")
    return EXIT_OK
