"""Load a detector file and run its forward pass: PyTorch (``.pt``) or ONNX Runtime (``.onnx``).

Both backends hand back the model's raw first output as a NumPy array plus everything pre- and
post-processing need (layout, class names, input size, stride), so both share one letterbox and one NMS.
Nothing here calls Ultralytics' ``predict()`` or torchvision: checkpoints are unpickled and the network's
forward pass is called directly.

``.pt`` files are pickles: loading one runs code named by the file, as with MegaDetector and Ultralytics.
Load only model files you trust.
"""

from __future__ import annotations

import ast
import logging
import os
import pickle
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from . import postprocess
from .models import COCO_NAMES, MD_CATEGORIES, ModelError, ModelInfo, category_map
from .onnx_twin import OnnxTwins, onnx_available

log = logging.getLogger(__name__)

#: NMS IoU threshold per layout: Ultralytics' predict default, MegaDetector v5's runner, YOLOX's demo.
IOU_THRESHOLDS = {"ultralytics": 0.7, "end2end": 0.7, "yolov5": 0.6, "yolox": 0.45}
LETTERBOX_MODES = {"ultralytics": "ultralytics", "end2end": "ultralytics", "yolov5": "megadetector",
                   "yolox": "yolox"}
#: MegaDetector's own defaults for a model it does not know.
UNKNOWN_THRESHOLDS = (0.2, 0.1)


@dataclass
class LoadedModel:
    """A detector ready to run on pre-processed batches."""

    info: ModelInfo
    backend: str  # "torch" or "onnxruntime"
    device: str
    layout: str
    names: dict[int, str]
    image_size: int
    stride: int
    fixed_input: tuple[int, int] | None  # (h, w) for ONNX files with a static input shape
    max_batch: int | None  # 1 for ONNX files with a static batch of one
    forward: Callable[[np.ndarray], np.ndarray] = field(repr=False)

    @property
    def mapping(self) -> postprocess.ClassMapping:
        return postprocess.ClassMapping.from_mapping(category_map(self.names))

    @property
    def letterbox_mode(self) -> str:
        return LETTERBOX_MODES[self.layout]

    @property
    def rgb_scaled(self) -> bool:
        """True for RGB input scaled to 0..1; False for YOLOX's BGR 0..255."""
        return self.layout != "yolox"

    @property
    def iou_threshold(self) -> float:
        return IOU_THRESHOLDS[self.layout]

    @property
    def thresholds(self) -> tuple[float, float]:
        spec = self.info.spec
        if spec is not None:
            return spec.typical_threshold, spec.conservative_threshold
        return UNKNOWN_THRESHOLDS

    @property
    def label(self) -> str:
        return f"{self.info.name} ({self.info.filename}, {self.backend} on {self.device}, {self.image_size} px)"


def load_model(
    info: ModelInfo, device: str | None = None, image_size: int | None = None, backend: str = "auto"
) -> LoadedModel:
    """Load ``info``'s weights with the backend its file type needs. Raises :class:`ModelError`.

    ``backend="auto"`` runs an Ultralytics ``.pt`` model on the CPU through cached ONNX copies of it, one
    per input shape (:mod:`.onnx_twin`: 1.4-1.9x faster, same boxes) when onnx and onnxruntime are
    installed; ``"torch"`` always uses PyTorch for ``.pt`` files.
    """
    assert info.path is not None
    if backend not in ("auto", "torch"):
        raise ValueError(f"backend must be 'auto' or 'torch', not {backend!r}")
    suffix = info.path.suffix.lower()
    if suffix == ".onnx":
        model = _load_onnx(info, device)
    elif suffix == ".pt":
        model = _load_torch(info, device, allow_onnx=backend == "auto")
    else:
        raise ModelError(f"{info.path}: not a model file trapblur can load (expected .pt or .onnx)")
    if image_size is not None:
        if model.fixed_input is not None and image_size != max(model.fixed_input):
            raise ModelError(f"{info.path}: this ONNX file has a fixed input of {model.fixed_input}; "
                             f"it cannot run at {image_size} px")
        if image_size % model.stride:
            raise ModelError(f"image size {image_size} must be a multiple of the model's stride {model.stride}")
        model.image_size = image_size
    usable = category_map(model.names)
    if not usable:
        shown = ", ".join(list(model.names.values())[:10])
        raise ModelError(
            f"{info.path}: none of this model's classes ({shown}) maps to a MegaDetector category "
            f"({', '.join(MD_CATEGORIES)}): it cannot find people, animals or vehicles"
        )
    log.info("loaded %s; classes used: %s", model.label,
             ", ".join(f"{model.names[i]}->{c}" for i, c in sorted(usable.items())))
    return model


def _names(raw: Any) -> dict[int, str]:
    if isinstance(raw, dict):
        return {int(k): str(v) for k, v in raw.items()}
    if isinstance(raw, (list, tuple)):
        return {i: str(v) for i, v in enumerate(raw)}
    raise ModelError(f"model class names are not a list or mapping: {raw!r}")


# ----------------------------------------------------------------------------------------------------------
# PyTorch


def _load_torch(info: ModelInfo, device: str | None, allow_onnx: bool = False) -> LoadedModel:
    try:
        import torch
    except ImportError:
        raise ModelError(
            f"{info.path}: .pt models need PyTorch, one of the detection packages: `pip install 'trapblur[detect]'` "
            "(or use an .onnx model)"
        ) from None
    from . import _yolov5

    path = info.path
    assert path is not None
    if not zipfile.is_zipfile(path):
        raise ModelError(f"{path}: not a PyTorch checkpoint (not a zip archive); is it a model file?")
    try:
        with _legacy_ultralytics_names():
            checkpoint = torch.load(path, map_location="cpu", weights_only=False,
                                    pickle_module=_yolov5.pickle_module)
    except _yolov5.UnsupportedLayer as exc:
        raise ModelError(f"{path}: a YOLOv5 checkpoint with a layer trapblur cannot run ({exc})") from None
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("ultralytics"):
            raise ModelError(f"{path}: an Ultralytics model; it needs ultralytics-opencv-headless, one of the "
                             "detection packages: `pip install 'trapblur[detect]'`") from None
        raise ModelError(f"{path}: this checkpoint needs the Python module {exc.name!r}, which trapblur does "
                         "not use; it is not a model trapblur can load") from None
    except (pickle.UnpicklingError, EOFError, RuntimeError, zipfile.BadZipFile, AttributeError) as exc:
        raise ModelError(f"{path}: cannot be loaded as a PyTorch model ({type(exc).__name__}: {exc})") from None
    if isinstance(checkpoint, dict):
        module = checkpoint.get("ema") or checkpoint.get("model")
    else:
        module = checkpoint
    if not isinstance(module, torch.nn.Module):
        raise ModelError(f"{path}: a PyTorch file without a detection model in it (found {type(module).__name__})")
    module = module.float().eval()
    for m in module.modules():
        if isinstance(m, torch.nn.Upsample) and not hasattr(m, "recompute_scale_factor"):
            m.recompute_scale_factor = None  # checkpoints saved by older PyTorch
    names = getattr(module, "names", None)
    if names is None:
        raise ModelError(f"{path}: the model has no class names; it is not a detector trapblur can use")
    head = module.model[-1] if hasattr(module, "model") and len(module.model) else None
    if _yolov5.is_yolov5_model(module):
        layout = "yolov5"
        default_size = 1280  # MegaDetector's choice for YOLOv5 files without metadata (MDv5)
    elif head is not None and hasattr(head, "nc") and hasattr(head, "stride"):
        layout = "end2end" if getattr(head, "end2end", False) else "ultralytics"
        args = getattr(module, "args", None) or (checkpoint.get("train_args") if isinstance(checkpoint, dict) else None)
        imgsz = args.get("imgsz", 640) if isinstance(args, dict) else 640
        default_size = int(max(imgsz) if isinstance(imgsz, (list, tuple)) else imgsz)
        if getattr(module, "task", "detect") not in ("detect", "pose", "segment", None):
            raise ModelError(f"{path}: an Ultralytics {module.task} model, not a detector")
    else:
        raise ModelError(f"{path}: a PyTorch model of an unknown kind ({type(module).__name__}); "
                         "trapblur runs YOLOv5 (MegaDetector v5) and Ultralytics YOLO detectors")
    device = _torch_device(device, torch)
    module = module.to(device)
    stride = int(max(getattr(module, "stride", torch.tensor([32])).max().item(), 32))
    image_size = info.spec.image_size if info.spec else default_size

    def forward(batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            out = module(torch.from_numpy(batch).to(device))
        if isinstance(out, (list, tuple)):
            out = out[0]
        return out.float().cpu().numpy()

    if allow_onnx and device == "cpu" and layout == "ultralytics" and onnx_available():
        # Same letterbox, same tensor, same boxes; onnxruntime runs it 1.4-1.9x faster on a CPU.
        twins = OnnxTwins(path, module, _names(names), stride, fallback=forward)
        return LoadedModel(info, "onnxruntime", device, layout, _names(names), image_size, stride, None, None, twins)
    return LoadedModel(info, "torch", device, layout, _names(names), image_size, stride, None, None, forward)


def _torch_device(device: str | None, torch: Any) -> str:
    if device in (None, "auto"):
        return "cuda:0" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ModelError(f"device {device!r} was asked for, but PyTorch sees no CUDA GPU here")
    return device


class _legacy_ultralytics_names:
    """Ultralytics' own mapping of module names that moved (old checkpoints), when Ultralytics is installed."""

    def __enter__(self) -> None:
        self._context = None
        try:
            from ultralytics.nn.tasks import temporary_modules
        except Exception:  # noqa: BLE001 - Ultralytics absent or broken: plain loading
            return
        self._context = temporary_modules(
            modules={"ultralytics.yolo.utils": "ultralytics.utils", "ultralytics.yolo.v8": "ultralytics.models.yolo",
                     "ultralytics.yolo.data": "ultralytics.data"},
            attributes={"pathlib.WindowsPath": "pathlib.PosixPath"} if os.name != "nt" else {},
        )
        self._context.__enter__()

    def __exit__(self, *exc: Any) -> None:
        if self._context is not None:
            self._context.__exit__(*exc)


# ----------------------------------------------------------------------------------------------------------
# ONNX Runtime


def _load_onnx(info: ModelInfo, device: str | None) -> LoadedModel:
    try:
        import onnxruntime as ort
    except ImportError:
        raise ModelError(f"{info.path}: .onnx models need onnxruntime: `pip install onnxruntime`") from None
    path = info.path
    assert path is not None
    available = ort.get_available_providers()
    if device and device.startswith("cuda"):
        if "CUDAExecutionProvider" not in available:
            raise ModelError(f"device {device!r} was asked for, but onnxruntime has no CUDA provider here "
                             "(install onnxruntime-gpu)")
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    elif device in (None, "auto") and "CUDAExecutionProvider" in available:
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    else:
        providers = ["CPUExecutionProvider"]
    try:
        session = ort.InferenceSession(str(path), providers=providers)
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own opaque kinds
        raise ModelError(f"{path}: cannot be loaded as an ONNX model ({exc})") from None
    used = session.get_providers()[0]
    inputs = session.get_inputs()
    if len(inputs) != 1 or len(inputs[0].shape) != 4:
        raise ModelError(f"{path}: expected one image input (N x 3 x H x W), found "
                         f"{[(i.name, i.shape) for i in inputs]}")
    input_name = inputs[0].name
    n, _, h, w = inputs[0].shape
    fixed = (int(h), int(w)) if isinstance(h, int) and isinstance(w, int) else None
    meta = session.get_modelmeta().custom_metadata_map
    names_raw = meta.get("names")
    names = _names(ast.literal_eval(names_raw)) if names_raw else None
    stride = int(ast.literal_eval(meta["stride"])) if "stride" in meta else 32
    if fixed is not None:
        probe_hw = fixed
    else:
        imgsz = ast.literal_eval(meta["imgsz"]) if "imgsz" in meta else 640
        side = int(max(imgsz) if isinstance(imgsz, (list, tuple)) else imgsz)
        probe_hw = (side, side)
    probe = np.zeros((1, 3, *probe_hw), dtype=np.float32)
    try:
        out = np.asarray(session.run(None, {input_name: probe})[0])
    except Exception as exc:  # noqa: BLE001
        raise ModelError(f"{path}: the ONNX model failed on a test input ({exc})") from None
    layout, num_classes = _onnx_layout(out, probe_hw, names, stride, path)
    if names is None:
        if num_classes == len(COCO_NAMES):
            names = dict(enumerate(COCO_NAMES))
        elif num_classes == 3:
            names = dict(enumerate(MD_CATEGORIES))
        else:
            raise ModelError(f"{path}: an ONNX model with {num_classes} classes and no class names in its "
                             "metadata; trapblur cannot tell what it detects")
    if layout == "yolox" and stride < 32:
        stride = 32
    image_size = info.spec.image_size if info.spec else max(probe_hw)

    def forward(batch: np.ndarray) -> np.ndarray:
        return np.asarray(session.run(None, {input_name: batch})[0])

    return LoadedModel(info, "onnxruntime", used.replace("ExecutionProvider", "").lower(), layout, names,
                       image_size if fixed is None else max(fixed), stride, fixed,
                       1 if n == 1 else None, forward)


def _onnx_layout(out: np.ndarray, input_hw: tuple[int, int], names: dict[int, str] | None, stride: int,
                 path: Path) -> tuple[str, int]:
    if out.ndim != 3:
        raise ModelError(f"{path}: output of shape {out.shape} is not a detector output trapblur knows")
    _, d1, d2 = out.shape
    yolox_cells = sum((input_hw[0] // s) * (input_hw[1] // s) for s in (8, 16, 32))
    if names is not None and d2 == 6 and d1 != 6 + len(names):
        return "end2end", len(names)
    if names is not None and d1 == 4 + len(names) or (names is not None and d1 < d2 and d1 >= 4 + len(names)):
        return "ultralytics", len(names)
    if d2 > 5 and d1 == yolox_cells:
        return "yolox", d2 - 5
    if d2 > 5 and d1 > d2:
        return "yolov5", d2 - 5
    raise ModelError(f"{path}: output of shape {out.shape} is not a YOLOv5, YOLOX or Ultralytics detector head")
