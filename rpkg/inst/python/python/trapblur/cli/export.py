"""``trapblur export zooniverse`` and ``trapblur export camtrap-dp``: share a shareable folder onward.

Exit status as in :mod:`.common`: 0 every image exported (or deliberately excluded) / every media row public;
1 the export was written but some images were withheld (cannot fit, unreadable) or media made private;
2 it could not run (not a finished trapblur folder, invalid package, bad option).
"""

from __future__ import annotations

import argparse
from typing import Any

from ..export import export_camtrap_dp, export_zooniverse
from ..export.camtrap_dp import UNMATCHED_POLICIES
from ..export.zooniverse import ADVISED_SET_SIZE
from .common import EXIT_INCOMPLETE, EXIT_OK, progress_bar

ZOONIVERSE_EXAMPLES = """\
examples:
  trapblur export zooniverse shareable/ --out upload/
  trapblur export zooniverse shareable/ --out upload/ --burst-gap 5s --images-per-subject 3 \\
      --keep-metadata DateTimeOriginal --exclude-people

what is written:
  upload/set_001/manifest.csv and its images (set_002/ ... when there are more than --set-size subjects),
  upload/export_report.csv (every image: exported where, excluded, withheld, why). Images are read from the
  shareable folder only; withheld and failed images are never exported. No metadata is kept except the EXIF
  tags named with --keep-metadata; GPS positions and serial numbers never are.
  Then, for each set: panoptes subject-set upload-subjects SET_ID upload/set_001/manifest.csv

exit status: 0 every image exported or excluded; 1 some withheld (see the report); 2 could not run.
"""

CAMTRAP_EXAMPLES = """\
examples:
  trapblur export camtrap-dp shareable/ --package camtrap/datapackage.json --out camtrap-blurred/

what is written:
  camtrap-blurred/ holds the new package: media.csv pointing at the blurred copies (copied in, without GPS
  or serial numbers), filePublic false for images trapblur withheld (not copied), person detections added as
  human observations, the other tables unchanged, and a note in the description. camtrap-blurred.report.csv
  beside it says what happened to each media row.

exit status: 0 every media row public; 1 some not public (withheld, failed or unmatched); 2 could not run.
"""


def register(subparsers: Any) -> None:
    """Add ``export zooniverse`` and ``export camtrap-dp`` to an argparse sub-parsers object."""
    export = subparsers.add_parser(
        "export", help="share a blurred folder onward: Zooniverse subject sets, Camtrap DP packages",
        description="Turn the shareable folder trapblur wrote into what a destination accepts.",
    )
    destinations = export.add_subparsers(dest="destination", metavar="DESTINATION", required=True)

    zoo = destinations.add_parser(
        "zooniverse", help="subject sets (small JPEGs + manifest.csv) for panoptes-cli",
        description="Write Zooniverse subject sets from a shareable folder: downscaled JPEGs that fit the "
        "upload limit, without metadata, bursts grouped into multi-image subjects, one manifest per set.",
        epilog=ZOONIVERSE_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    zoo.add_argument("share", metavar="SHARE", help="the shareable folder (--out of trapblur blur or run)")
    zoo.add_argument("--out", required=True, metavar="UPLOAD", help="new folder for the subject sets")
    zoo.add_argument("--max-bytes", type=int, default=1_000_000, metavar="N",
                     help="largest file, in bytes (default 1000000; panoptes-cli refuses more than 1 MiB)")
    zoo.add_argument("--max-side", type=int, default=1600, metavar="PX",
                     help="longest side in pixels (default 1600; smaller images are not enlarged)")
    zoo.add_argument("--min-quality", type=int, default=50, metavar="Q",
                     help="lowest JPEG quality tried (default 50); an image that does not fit --max-bytes "
                     "even at Q is withheld")
    zoo.add_argument("--set-size", type=int, default=ADVISED_SET_SIZE, metavar="N",
                     help=f"subjects per subject set (default {ADVISED_SET_SIZE}, the most Zooniverse advises)")
    zoo.add_argument("--burst-gap", default="10s", metavar="TIME",
                     help="images of one folder taken at most TIME apart form one subject (default 10s; "
                     "e.g. 2s, 500ms, 1m)")
    zoo.add_argument("--images-per-subject", type=int, default=3, metavar="N",
                     help="at most N images per subject; longer bursts are split (default 3; 1: no grouping)")
    zoo.add_argument("--exclude-people", action="store_true",
                     help="leave out every image with a person detection at or above the run's threshold "
                     "(and every image copied without detector results)")
    zoo.add_argument("--keep-metadata", action="append", default=[], metavar="TAG",
                     help="EXIF tag to keep, by name (repeat or comma-separate: DateTimeOriginal,Make); "
                     "GPS tags and serial numbers are refused")
    zoo.add_argument("--workers", type=int, default=None, metavar="N", help="images encoded in parallel")
    zoo.add_argument("-q", "--quiet", action="store_true", help="no progress bar, only the summary")
    zoo.add_argument("-v", "--verbose", action="store_true", help="log each step")
    zoo.set_defaults(handler=run_zooniverse)

    camtrap = destinations.add_parser(
        "camtrap-dp", help="a Camtrap DP package whose media are the blurred copies",
        description="Write a new Camtrap DP package from one describing the images trapblur blurred: media "
        "pointing at the blurred copies, withheld ones not public, people added as observations.",
        epilog=CAMTRAP_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    camtrap.add_argument("share", metavar="SHARE", help="the shareable folder (--out of trapblur blur or run)")
    camtrap.add_argument("--package", required=True, metavar="DATAPACKAGE",
                         help="datapackage.json of the Camtrap DP package describing the blurred images")
    camtrap.add_argument("--out", required=True, metavar="OUT_PACKAGE", help="new folder for the new package")
    camtrap.add_argument("--unmatched", choices=UNMATCHED_POLICIES, default="private",
                         help="media rows no image of SHARE matches: private (default: filePublic false, nobody "
                         "checked them for people), keep (unchanged) or error")
    camtrap.add_argument("-v", "--verbose", action="store_true", help="log each step")
    camtrap.set_defaults(handler=run_camtrap)


def run_zooniverse(args: argparse.Namespace) -> int:
    keep = [name.strip() for item in args.keep_metadata for name in item.split(",") if name.strip()]
    update, close = progress_bar(args.quiet, "exporting")
    try:
        result = export_zooniverse(
            args.share, args.out, max_bytes=args.max_bytes, max_side=args.max_side, set_size=args.set_size,
            burst_gap=args.burst_gap, images_per_subject=args.images_per_subject,
            exclude_people=args.exclude_people, keep_metadata=keep, min_quality=args.min_quality,
            workers=args.workers, progress=update,
        )
    finally:
        close()
    print(result.summary(), end="")
    return EXIT_OK if result.ok else EXIT_INCOMPLETE


def run_camtrap(args: argparse.Namespace) -> int:
    result = export_camtrap_dp(args.share, args.package, args.out, unmatched=args.unmatched)
    print(result.summary(), end="")
    return EXIT_OK if result.ok else EXIT_INCOMPLETE
