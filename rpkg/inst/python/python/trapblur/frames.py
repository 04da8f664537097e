"""Which frame a results file's boxes are in: decided per image from the tool that made them and the file's
orientation evidence.

A box is a fraction of *the picture the detector was given*. Whether that picture was the pixels as stored
or the pixels turned by the EXIF Orientation tag (or by XMP) depends on the detector's image loader, not on
any field of the MegaDetector format. What the loaders do (read from their code):

* **MegaDetector** (``visualization_utils.open_image``, since April 2021): rotates by EXIF 3, 6 and 8 only;
  mirrored values (2, 4, 5, 7) fail an ``assert`` inside ``try/except`` and the picture stays as stored;
  greyscale and RGBA pictures are converted first and lose ``_getexif``, so they stay as stored; TIFFs
  have no ``_getexif``, but Pillow 13 turns them upright while loading (older Pillow does not); with
  Pillow's XMP fallback a JPEG with EXIF but no tag is rotated by XMP. Before April 2021 (MegaDetector v4
  and earlier) nothing was rotated. Its ``run_inference_with_yolov5_val`` path reads with OpenCV, which
  applies every EXIF value, mirrored ones included.
* **PyTorch-Wildlife**: ``Image.open(...).convert("RGB")`` (no rotation) for MegaDetector v5, Ultralytics'
  OpenCV loader (EXIF applied) for its YOLOv8/v9 models; its default ``info`` says ``megadetector_v5``.
* **animl-py**: ``Image.open(...).convert("RGB")``: no rotation (TIFF: as Pillow loads it).
* **trapblur** ``detect``/``run``: applies the EXIF orientation exactly as :mod:`.orientation` reads it
  (values 1-8, mirrored included, XMP ignored) and says so in ``info["trapblur_box_frame"]``. Results
  written before that marker existed decoded with OpenCV.

Decision table (each candidate is an EXIF Orientation value: the transform from the stored pixels to the
detector's picture; 1 = as stored, *d* = the EXIF orientation viewers apply)
-------------------------------------------------------------------------------------------------------------
==========================================  =================================================  =============
tool (from ``info``)                        evidence                                           candidates
==========================================  =================================================  =============
trapblur, with its frame marker             anything                                           {d}
any other                                   d = 1 and no other statement                       {1}
trapblur before the marker                  JPEG                                               {d}
trapblur before the marker                  PNG, TIFF (OpenCV versions differ)                 {1, d}
MegaDetector v5 or later, format >= 1.2     colour JPEG, d in 3, 6, 8                          {d}
MegaDetector v5 or later, format >= 1.2     mirrored d, greyscale or CMYK JPEG, PNG, TIFF      {1, d}
animl-py (format 3.x or classifier Animl)   JPEG, PNG                                          {1}
animl-py                                    TIFF                                               {1, d}
MegaDetector v4 or older, PyTorch-Wildlife,
unknown tool                                d != 1                                             {1, d}
every tool but trapblur-with-marker         XMP orientation, a second EXIF block, PNG raw      add 1 and
                                            profile, TIFF EXIF sub-IFD, or an irregular tag    those values
                                            stating another value
==========================================  =================================================  =============

EXIF values outside 1-8 (0, 9, 65535) count as 1: every reader above ignores them. With more than one
candidate, every candidate place is blurred (:func:`trapblur.regions.regions_to_hide` takes the union) and
the report says so; an EXIF block too broken to read withholds the image (:mod:`.orientation`).
This module decides; :mod:`.regions` maps. Pure functions: no files, no pixels.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping

from .orientation import OrientationEvidence

#: ``info`` key trapblur's detector writes, and the value saying which frame its boxes are in.
FRAME_MARKER_KEY = "trapblur_box_frame"
FRAME_MARKER: dict[str, Any] = {
    "rule": "exif-orientation",
    "version": 1,
    "meaning": "boxes are fractions of the picture turned by the EXIF Orientation tag (JPEG APP1, PNG eXIf, "
               "TIFF IFD0; 1-8, mirrored values included; XMP and other values ignored)",
}
#: Version of the decision table below; part of a run's resume fingerprint, so that outputs made under other
#: rules are redone, not kept.
FRAME_RULES_VERSION = 1
#: How the report's reason starts for an image blurred at more than one candidate place.
AMBIGUOUS_PREFIX = "orientation ambiguous"
_MD_NAME = re.compile(r"(?:^|[^a-z0-9])(?:md_?v?|megadetector[_ -]?v?)(\d+)")
_ROTATIONS_MEGADETECTOR_APPLIES = (3, 6, 8)


@dataclass(frozen=True)
class BoxSource:
    """The tool that made a results file's boxes, as far as its ``info`` tells."""

    tool: str  # "trapblur", "trapblur-old", "megadetector", "megadetector-old", "pytorch-wildlife", "animl", "unknown"
    label: str  # for reports: "MegaDetector (md_v5a.0.0.pt)"


UNKNOWN_SOURCE = BoxSource("unknown", "an unknown tool")


@dataclass(frozen=True)
class BoxFrames:
    """The candidate frames of one image's boxes, and why there is more than one."""

    orientations: tuple[int, ...]
    note: str = ""

    @property
    def ambiguous(self) -> bool:
        return len(self.orientations) > 1


def identify_box_source(info: Mapping[str, Any] | None) -> BoxSource:
    """Which tool wrote a results file, from its ``info`` block (see the module docstring)."""
    info = info or {}
    if is_frame_marker(info.get(FRAME_MARKER_KEY)):
        return BoxSource("trapblur", f"trapblur's detector ({info.get('detector', 'unknown model')})")
    if "trapblur_version" in info and "trapblur_confidence_floor" in info:
        version = info.get("trapblur_version")
        return BoxSource("trapblur-old", f"trapblur {version}'s detector (before its frame marker)")
    detector = str(info.get("detector") or "")
    name = detector.lower()
    version = _format_version(info.get("format_version"))
    if str(info.get("classifier", "")).lower() == "animl" or (version is not None and version >= (3, 0)):
        return BoxSource("animl", f"animl-py ({detector or 'unknown detector'})")
    if name == "megadetector_v5" or "pytorchwildlife" in name.replace("-", "").replace("_", ""):
        return BoxSource("pytorch-wildlife", f"PyTorch-Wildlife ({detector})")
    metadata = info.get("detector_metadata") if isinstance(info.get("detector_metadata"), Mapping) else {}
    md_version = _megadetector_generation(name, str(metadata.get("megadetector_version", "")).lower())
    if md_version is not None:
        modern = md_version >= 5 and version is not None and version >= (1, 2)
        label = f"MegaDetector ({detector or metadata.get('megadetector_version')})"
        return BoxSource("megadetector" if modern else "megadetector-old", label)
    if not detector and (version is None or version < (1, 2)):
        # MegaDetector's format notes: a file without 'detector' was almost surely made by v4
        return BoxSource("megadetector-old", "MegaDetector v4 or older (no detector named)")
    short = detector if len(detector) <= 60 else detector[:57] + "..."
    return BoxSource("unknown", f"an unknown tool ({short})" if detector else "an unknown tool")


def box_frames(
    source: BoxSource, evidence: OrientationEvidence, image_format: str, colour_components: int | None = None
) -> BoxFrames:
    """The candidate frames for one image's boxes (see the decision table in the module docstring).

    ``image_format`` is "JPEG", "PNG" or "TIFF"; ``colour_components`` a JPEG's component count.
    """
    shown = evidence.display
    if source.tool == "trapblur":
        return BoxFrames((shown,))
    candidates, why = _tool_candidates(source.tool, shown, image_format, colour_components)
    if evidence.alternatives:
        candidates |= {1, *evidence.alternatives}
        why = why or "the file states more than one orientation"
    if len(candidates) == 1:
        return BoxFrames(tuple(candidates))
    ordered = tuple(sorted(candidates))
    places = ", ".join(describe_frame(o) for o in ordered)
    note = (f"{AMBIGUOUS_PREFIX} ({evidence.describe()}; boxes from {source.label}: {why}): "
            f"blurred every candidate place ({places})")
    return BoxFrames(ordered, note)


def describe_frame(orientation: int) -> str:
    return "as stored" if orientation == 1 else f"turned by orientation {orientation}"


def _tool_candidates(tool: str, shown: int, image_format: str, components: int | None) -> tuple[set[int], str]:
    if shown == 1:
        return {1}, ""
    if tool == "animl":
        if image_format == "TIFF":
            return {1, shown}, "it loads TIFFs as Pillow does: Pillow 13 turns them upright, older versions do not"
        return {1}, ""
    if tool == "trapblur-old":
        if image_format == "JPEG":
            return {shown}, ""
        return {1, shown}, "it decoded with OpenCV, whose versions differ on PNG and TIFF orientation"
    if tool == "megadetector":
        if image_format == "JPEG" and components == 3 and shown in _ROTATIONS_MEGADETECTOR_APPLIES:
            return {shown}, ""
        if shown not in _ROTATIONS_MEGADETECTOR_APPLIES:
            return {1, shown}, "its Pillow loader keeps mirrored pictures as stored, its OpenCV loader mirrors them"
        kind = "greyscale or CMYK JPEG" if image_format == "JPEG" else image_format
        return {1, shown}, f"its loaders and Pillow versions do not turn {kind} pictures alike"
    if tool == "megadetector-old":
        return {1, shown}, "MegaDetector only applies EXIF orientation since April 2021"
    if tool == "pytorch-wildlife":
        return {1, shown}, "its MegaDetector v5 loader ignores EXIF orientation, its Ultralytics loader applies it"
    return {1, shown}, "no known tool: it may or may not have applied the EXIF orientation"


def is_frame_marker(value: Any) -> bool:
    """Whether ``value`` (from ``info[FRAME_MARKER_KEY]``) is this version's frame marker."""
    return (isinstance(value, Mapping) and value.get("rule") == FRAME_MARKER["rule"]
            and value.get("version") == FRAME_MARKER["version"])


def _format_version(value: Any) -> tuple[int, ...] | None:
    if value is None:
        return None
    parts = re.findall(r"\d+", str(value))
    return tuple(int(p) for p in parts[:2]) if parts else None


def _megadetector_generation(name: str, metadata_version: str) -> int | None:
    """5 for "md_v5a.0.0.pt", 1000 for "md_v1000.0.0-redwood.pt", 4 for "megadetector_v4.1", ..."""
    for text in (name, "md" + metadata_version if metadata_version and metadata_version != "unknown" else ""):
        match = _MD_NAME.search(text)
        if match:
            return int(match.group(1))
    return None
