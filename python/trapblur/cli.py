"""The ``trapblur`` command line: parse arguments, call the public API, format progress and the summary.

Exit status: 0 when every image was written (blurred or copied); 1 when the run finished but some images
were withheld or failed (see the report); 2 when it could not run (bad arguments, unreadable results file,
unusable output folder).
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Callable, Sequence

from tqdm import tqdm

from ._version import __version__
from .errors import TrapblurError
from .example import make_example_dataset
from .options import DEFAULT_THRESHOLD, METHODS, SHAPES
from .pipeline import REPORT_NAME, RESULTS_NAME, blur_dataset
from .report import RunReport

EXIT_OK, EXIT_INCOMPLETE, EXIT_CANNOT_RUN = 0, 1, 2

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

exit status: 0 every image written; 1 some withheld or failed (see the report); 2 could not run.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trapblur",
        description="Blur people in camera-trap images before sharing a dataset.",
    )
    parser.add_argument("--version", action="version", version=f"trapblur {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    blur = commands.add_parser(
        "blur",
        help="blur people in a folder of images, using MegaDetector results",
        description="Write a shareable copy of a folder of camera-trap images with every person blurred, "
        "using the boxes of a MegaDetector results file.",
        epilog=BLUR_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_blur_arguments(blur)
    blur.add_argument("images", metavar="IMAGES", help="folder of images (searched recursively); never modified")
    blur.add_argument("--results", required=True, metavar="FILE",
                      help="MegaDetector batch-output JSON for IMAGES (any format version)")
    blur.add_argument("--out", required=True, metavar="FOLDER",
                      help="folder for the shareable copy; must not be inside IMAGES")
    blur.set_defaults(handler=run_blur)

    example = commands.add_parser(
        "example",
        help="write a small example dataset (images + MegaDetector results) to try trapblur on",
        description="Write FOLDER/cameras (five JPEGs with a person near and far, and empty frames) and "
        "FOLDER/md_results.json, built offline from installed packages.",
    )
    example.add_argument("folder", metavar="FOLDER")
    example.set_defaults(handler=run_example)
    from .cli_detection import add_detection_commands  # detect, run, models (torch etc. imported lazily)

    add_detection_commands(commands)
    return parser


def add_blur_arguments(parser: argparse.ArgumentParser) -> None:
    """Options that say what is hidden and how; shared with the commands that detect first."""
    what = parser.add_argument_group("what is blurred")
    what.add_argument(
        "--threshold", default=str(DEFAULT_THRESHOLD), metavar="T",
        help=f"blur detections with confidence >= T (0-1; default {DEFAULT_THRESHOLD}: between MegaDetector's "
        "conservative 0.05 and typical 0.2, erring towards blurring). Per category: person=0.05,vehicle=0.2",
    )
    what.add_argument(
        "--categories", default="person", metavar="LIST",
        help="comma-separated categories to blur (default: person; add vehicle to hide number plates)",
    )
    what.add_argument(
        "--padding", type=float, default=0.1, metavar="P",
        help="grow each box by P x its width/height on every side (0-1; default 0.1): detector boxes are "
        "often tight around hair, elbows and feet",
    )
    how = parser.add_argument_group("how it is blurred")
    how.add_argument(
        "--strength", type=float, default=1.0, metavar="S",
        help="blur strength, scaled to each box: Gaussian sigma = S x the box's longest side / 8 "
        "(default 1.0: faces and clothing become unrecognisable, a blurred silhouette remains; "
        "2 is twice as strong)",
    )
    how.add_argument("--method", choices=METHODS, default="gaussian",
                     help="gaussian blur (default), pixelate (mosaic of 2 x sigma cells) or fill (black)")
    how.add_argument("--shape", choices=SHAPES, default="rectangle",
                     help="hide the whole box (default) or the ellipse inscribed in it")
    how.add_argument("--jpeg-mode", choices=("lossless", "reencode"), default="lossless",
                     help="lossless (default): rewrite only the JPEG blocks a blurred region touches, so the rest "
                     "of the photograph keeps its exact image data (the blurred area rounds out to whole 8 or "
                     "16 px blocks; files that cannot be edited so are re-encoded); reencode: decode and "
                     "re-encode the whole photograph with its own quantisation tables and subsampling")
    run = parser.add_argument_group("how the run goes")
    run.add_argument("--copy-unlisted", action="store_true",
                     help="copy images the results do not mention (default: withhold them, nobody checked them)")
    run.add_argument("--link", action="store_true",
                     help="hard-link images with nothing to blur instead of copying them (saves disk space; "
                     "do not edit those output files in place: the originals would change too)")
    run.add_argument("--overwrite", action="store_true",
                     help="redo every image, even those an earlier run finished")
    run.add_argument("--workers", type=int, default=None, metavar="N",
                     help="images processed in parallel (default: number of CPU cores)")
    run.add_argument("-q", "--quiet", action="store_true", help="no progress bar, only the summary")
    run.add_argument("-v", "--verbose", action="store_true", help="log each step")


def parse_threshold(text: str) -> float | dict[str, float]:
    """``0.1`` or ``person=0.05,vehicle=0.2``."""
    try:
        if "=" not in text:
            return float(text)
        pairs = (item.split("=", 1) for item in text.split(",") if item.strip())
        return {name.strip(): float(value) for name, value in pairs}
    except ValueError:
        raise TrapblurError(f"--threshold: expected a number like 0.1 or person=0.05,vehicle=0.2, got {text!r}") from None


def blur_keywords(args: argparse.Namespace) -> dict:
    """Keyword arguments for the public API from the shared blur options."""
    threshold = parse_threshold(args.threshold)
    categories = [c.strip() for c in args.categories.split(",") if c.strip()]
    if isinstance(threshold, dict):
        categories = list(dict.fromkeys([*categories, *threshold]))
    return dict(
        threshold=threshold, categories=categories, padding=args.padding, strength=args.strength,
        method=args.method, shape=args.shape, copy_unlisted=args.copy_unlisted,
        link_unchanged=args.link, overwrite=args.overwrite, workers=args.workers, jpeg_mode=args.jpeg_mode,
    )


def progress_bar(quiet: bool, description: str) -> tuple[Callable[[int, int], None], Callable[[], None]]:
    """A progress callback drawing a bar on stderr (when it is a terminal), and a function to close it."""
    bar: list[tqdm] = []

    def update(done: int, total: int) -> None:
        if quiet:
            return
        if not bar:
            bar.append(tqdm(total=total, desc=description, unit="img", file=sys.stderr, disable=None))
        bar[0].n = done
        bar[0].refresh() if done == total or done % 16 == 0 else None

    def close() -> None:
        if bar:
            bar[0].close()

    return update, close


def run_blur(args: argparse.Namespace) -> int:
    update, close = progress_bar(args.quiet, "blurring")
    try:
        report = blur_dataset(args.images, args.results, args.out, progress=update, **blur_keywords(args))
    finally:
        close()
    return finish(report)


def run_example(args: argparse.Namespace) -> int:
    dataset = make_example_dataset(args.folder)
    print(f"images: {dataset.images}\nresults: {dataset.results}\n"
          f"try: trapblur blur {dataset.images} --results {dataset.results} --out SHAREABLE_FOLDER")
    return EXIT_OK


def finish(report: RunReport) -> int:
    print(report.summary(), end="")
    return EXIT_OK if report.ok else EXIT_INCOMPLETE


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if getattr(args, "verbose", False) else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return args.handler(args)
    except TrapblurError as exc:
        print(f"trapblur: error: {exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    except KeyboardInterrupt:
        print("\ntrapblur: interrupted; run the same command again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
