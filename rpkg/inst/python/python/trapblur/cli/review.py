"""``trapblur review SHARE``: write the offline review page of a finished run (and open nothing)."""

from __future__ import annotations

import argparse
from typing import Any

from ..review import DEFAULT_MAX_CARDS, DEFAULT_PAGE_SIZE, review
from .common import EXIT_OK

REVIEW_EXAMPLES = """\
examples:
  trapblur review shareable/
  trapblur review shareable/ --floor 0.02
  trapblur blur cameras/ --results md.json --out shareable/ --corrections shareable.review/corrections.csv

The page (shareable.review/index.html, beside the shareable folder, never inside it) shows the ORIGINAL
images with people unblurred: it is for the data owner only. Open it in any browser; it works offline.
Mark what the detector missed, press "Save corrections", and pass the saved corrections.csv to the same
blur command with --corrections: only the images it touches are redone.
"""


def register(subparsers: Any) -> None:
    """Add ``review`` to an argparse sub-parsers object."""
    parser = subparsers.add_parser(
        "review", help="write an offline HTML page to check a finished run before sharing it",
        description="Write SHARE.review/index.html: a summary of the run, the images to check first (people "
        "below the blur threshold), withheld and failed images, and the blurred images, with corrections "
        "that can be saved for a re-run.",
        epilog=REVIEW_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("share", metavar="SHARE", help="the shareable folder a trapblur blur/run wrote")
    parser.add_argument("--images", metavar="FOLDER", default=None,
                        help="the original image folder (default: the one the run recorded)")
    parser.add_argument("--out", metavar="FOLDER", default=None,
                        help="where to write the review (default: SHARE.review beside SHARE)")
    parser.add_argument("--floor", type=float, default=None, metavar="F",
                        help="lowest person confidence to show under 'check these first' (default: the model's "
                        "conservative threshold from the results, else 0.05)")
    parser.add_argument("--page-size", type=int, default=DEFAULT_PAGE_SIZE, metavar="N",
                        help=f"images per section on each page (default {DEFAULT_PAGE_SIZE})")
    parser.add_argument("--max-cards", type=int, default=DEFAULT_MAX_CARDS, metavar="N",
                        help=f"images shown per section in all (default {DEFAULT_MAX_CARDS:,}; the report CSV "
                        "lists every image)")
    parser.add_argument("--workers", type=int, default=None, metavar="N", help="thumbnail threads")
    parser.add_argument("-v", "--verbose", action="store_true", help="log each step")
    parser.set_defaults(handler=run_review)


def run_review(args: argparse.Namespace) -> int:
    page = review(args.share, images=args.images, output=args.out, floor=args.floor, page_size=args.page_size,
                  max_cards=args.max_cards, workers=args.workers)
    shown = ", ".join(f"{key} {shown:,} of {total:,}" for key, (total, shown) in page.sections.items())
    print(f"review: {page.path}\n{len(page.pages)} pages, {page.thumbnails} thumbnails in {page.elapsed_s:.1f} s "
          f"(images shown: {shown})\nit shows the original images with people in them: do not share it")
    return EXIT_OK
