"""``trapblur detect``, ``trapblur run`` and ``trapblur models [fetch NAME]``.

The detection packages (torch, onnxruntime) are imported only when one of these commands runs, so that
``trapblur blur`` starts fast and works without them. Exit status as in :mod:`.common`.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from .common import (
    EXIT_INCOMPLETE, EXIT_OK, add_blur_arguments, add_cluster_arguments, blur_keywords, cluster_from_args, finish,
    print_job_script, progress_bar,
)

DETECT_EXAMPLES = """\
examples:
  trapblur detect cameras/ -o md_results.json
  trapblur detect cameras/ -o md_results.json --model md-v5a --checkpoint-every 1000
  trapblur detect cameras/ -o md_results.json --model /path/to/model.onnx

The file is MegaDetector batch output (format 1.5), usable by trapblur blur, Timelapse and MegaDetector's tools.
Detections down to --confidence-floor (0.005) are kept so that thresholds can be chosen later.
"""

RUN_EXAMPLES = """\
examples:
  trapblur run cameras/ --out shareable/
  trapblur run cameras/ --out shareable/ --model md-v5a --threshold 0.2 --strength 1.5

The detections used are kept beside the output as shareable.detections.json (not inside the folder that
gets shared). Images that could not be checked are withheld. Re-running the same command resumes: images
whose bytes changed (even with their old modification time) are detected and blurred again.

on a cluster (the folders on storage every worker sees; see README "Many images: a cluster"):
  trapblur run cameras/ --out shareable/ --cluster slurm --jobs 20 --cores 8 --memory 32GB \
      --walltime 04:00:00 --gpus 1
  trapblur run cameras/ --out shareable/ --cluster local --processes 4
"""


def register(subparsers: Any) -> None:
    """Add ``detect``, ``run`` and ``models`` to an argparse sub-parsers object."""
    detect = subparsers.add_parser(
        "detect", help="find people, animals and vehicles; write MegaDetector results",
        description="Run a detector over a folder of images and write MegaDetector batch results.",
        epilog=DETECT_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    detect.add_argument("images", metavar="IMAGES", help="folder of images (or one image); never modified")
    detect.add_argument("-o", "--output", required=True, metavar="FILE", help="results JSON file to write")
    _add_model_arguments(detect)
    detect.add_argument("--no-recursive", dest="recursive", action="store_false",
                        help="only the images directly in IMAGES (default: all sub-folders too)")
    detect.add_argument("--recursive", dest="recursive", action="store_true", help=argparse.SUPPRESS)
    detect.add_argument("--confidence-floor", type=float, default=0.005, metavar="P",
                        help="keep detections above this confidence (default 0.005, as MegaDetector)")
    detect.add_argument("--checkpoint-every", type=int, default=None, metavar="N",
                        help="write partial results every N images (FILE's name + .checkpoint.json)")
    detect.add_argument("--no-resume", dest="resume", action="store_false",
                        help="detect every image again (by default a checkpoint, or an earlier FILE made by the "
                        "same model, is reused for the images whose bytes are unchanged)")
    detect.add_argument("--workers", type=int, default=None, metavar="N", help="image-decoding threads")
    detect.add_argument("-q", "--quiet", action="store_true", help="no progress bar, only the summary")
    detect.add_argument("-v", "--verbose", action="store_true", help="log each step")
    add_cluster_arguments(detect)
    detect.set_defaults(handler=run_detect)

    run = subparsers.add_parser(
        "run", help="detect people and blur them in one step",
        description="Detect people (offline) and write a blurred, shareable copy of the image folder.",
        epilog=RUN_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("images", metavar="IMAGES", help="folder of images (searched recursively); never modified")
    run.add_argument("--out", required=True, metavar="FOLDER", help="the shareable copy to write")
    run.add_argument("--detections", metavar="FILE", default=None,
                     help="where to keep the detections (default: FOLDER.detections.json beside FOLDER)")
    _add_model_arguments(run)
    add_blur_arguments(run)
    add_cluster_arguments(run)
    run.set_defaults(handler=run_run)

    models = subparsers.add_parser("models", help="list detection models; `models fetch NAME` downloads one",
                                   description="Which detection models trapblur knows and where they are.")
    models_commands = models.add_subparsers(dest="models_command", metavar="SUBCOMMAND")
    fetch = models_commands.add_parser("fetch", help="download a model's published weights into the cache")
    fetch.add_argument("name", metavar="NAME", help="a model name from `trapblur models`, e.g. md-v5a")
    fetch.add_argument("--url", default=None, help="download from this address instead (a mirror)")
    fetch.add_argument("--to", dest="destination", default=None, metavar="FOLDER",
                       help="folder to put it in (default: the per-user cache)")
    fetch.add_argument("--force", action="store_true", help="download again even if it is already there")
    fetch.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    fetch.set_defaults(handler=run_fetch)
    models.set_defaults(handler=run_models)


def _add_model_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("detector")
    group.add_argument("--model", default=None, metavar="NAME_OR_PATH",
                       help="a name from `trapblur models` or a .pt/.onnx file (default: md-v5a when its "
                       "weights are here, else the built-in person model)")
    group.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: a GPU when there is one)")
    group.add_argument("--batch-size", type=int, default=None, metavar="N",
                       help="images per inference call (default 1 on CPU, 8 on GPU)")


def _model_line(results_info: dict[str, Any]) -> str:
    meta = results_info.get("detector_metadata", {})
    return (f"model: {meta.get('model_name', '?')} ({results_info.get('detector', '?')}, {meta.get('backend', '?')}, "
            f"{meta.get('image_size', '?')} px)")


def run_detect(args: argparse.Namespace) -> int:
    from ..detection import detect

    if args.job_script:
        return print_job_script(args)
    started = time.perf_counter()
    with cluster_from_args(args) as cluster:
        update, close = progress_bar(args.quiet, "detecting", cluster.status_line if cluster else None)
        try:
            results = detect(args.images, model=args.model, output_json=args.output, recursive=args.recursive,
                             confidence_floor=args.confidence_floor, device=args.device, batch_size=args.batch_size,
                             workers=args.workers, checkpoint_every=args.checkpoint_every, resume=args.resume,
                             progress=update, client=cluster)
        finally:
            close()
        if cluster is not None:
            print(cluster.summary(), end="")
    elapsed = time.perf_counter() - started
    failed = [e for e in results.images if not e.processed]
    people = sum(1 for e in results.images if (e.max_conf("person") or 0) >= _typical(results.info))
    n = len(results.images)
    print(f"{n} images checked in {elapsed:.1f} s ({n / elapsed if elapsed > 0 else 0:.2f} images/s); "
          f"{people} with a person at the model's typical threshold ({_typical(results.info)}); "
          f"{len(failed)} could not be checked")
    print(_model_line(results.info))
    for entry in failed[:20]:
        print(f"  not checked: {results.info.get('trapblur_failures', {}).get(entry.file, entry.failure)}")
    if len(failed) > 20:
        print(f"  ... and {len(failed) - 20} more (see info.trapblur_failures in the results file)")
    print(f"results: {args.output}")
    return EXIT_INCOMPLETE if failed else EXIT_OK


def _typical(info: dict[str, Any]) -> float:
    return float(info.get("detector_metadata", {}).get("typical_detection_threshold", 0.2))


def run_run(args: argparse.Namespace) -> int:
    from ..detection import anonymise
    from ..detection.anonymise import detections_path_for
    from ..results import read_results

    if args.job_script:
        return print_job_script(args)
    started = time.perf_counter()
    detections = args.detections or detections_path_for(args.out)
    with cluster_from_args(args) as cluster:
        status = cluster.status_line if cluster else None
        detect_update, detect_close = progress_bar(args.quiet, "detecting", status)
        blur_update, blur_close = progress_bar(args.quiet, "blurring", status)
        try:
            report = anonymise(args.images, args.out, model=args.model, device=args.device,
                               detections_json=detections, batch_size=args.batch_size, progress=blur_update,
                               detect_progress=detect_update, client=cluster, **blur_keywords(args))
        finally:
            detect_close()
            blur_close()
        code = finish(report, cluster)
    elapsed = time.perf_counter() - started
    info = read_results(detections).info
    share = 1 - report.elapsed_s / elapsed if elapsed > 0 else 0.0
    print(_model_line(info))
    print(f"detections kept in {detections}; total {elapsed:.1f} s, of which detection about {share:.0%}")
    return code


def run_models(args: argparse.Namespace) -> int:
    from ..detection import cache_dir, list_models, resolve_model

    try:
        default = resolve_model(None).name
    except Exception:  # noqa: BLE001 - no model at all: say so in the listing
        default = None
    print(f"{'name':<18} {'here':<5} {'file':<26} description")
    for info in list_models():
        mark = "yes" if info.available else "no"
        star = " (default)" if info.name == default else ""
        print(f"{info.name:<18} {mark:<5} {info.filename:<26} {info.description}{star}")
        if info.available:
            print(f"{'':<18} {'':<5} at {info.path}")
    print(f"\ncache folder: {cache_dir() / 'models'} (TRAPBLUR_CACHE_DIR); also searched: TRAPBLUR_MODEL_DIR")
    print("any Ultralytics .pt, YOLOv5 .pt or YOLO/YOLOX .onnx file can be given with --model PATH")
    return EXIT_OK


def run_fetch(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ..detection import fetch_model

    bar: list[tqdm] = []

    def progress(done: int, total: int | None) -> None:
        if args.quiet:
            return
        if not bar:
            bar.append(tqdm(total=total, unit="B", unit_scale=True, desc=args.name, file=sys.stderr))
        bar[0].n = done
        bar[0].refresh()

    try:
        path = fetch_model(args.name, destination=args.destination, url=args.url, force=args.force,
                           progress=progress)
    finally:
        if bar:
            bar[0].close()
    print(f"{args.name}: {path}")
    return EXIT_OK
