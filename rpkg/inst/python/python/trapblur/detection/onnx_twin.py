"""Cached ONNX copies of an Ultralytics PyTorch model, so that CPU inference runs on onnxruntime.

Why: on a 2-core CPU, onnxruntime runs the built-in person model's forward pass in about 49 ms where
PyTorch takes 68-91 ms at 640 px (216 vs 374 ms at 1280 px). The copies are made on this machine from the
``.pt`` file (nothing is downloaded) and kept in the per-user cache (``<cache>/onnx/``), named by the
``.pt`` file's SHA-256, so a changed model file gets new ones.

One copy per input shape: Ultralytics' detection head computes its anchor grid from the input's height and
width, which an ONNX trace freezes, and a dynamic-shape export ran no faster than PyTorch. Images are
letterboxed exactly as for PyTorch (a 4:3 photograph becomes 640 x 480), so the model sees the same
tensor and finds the same boxes; a dataset has only a few shapes, each exported once (a few seconds).

Anything going wrong (no ``onnx`` package, an export or load error, a read-only cache) only means PyTorch
runs that shape instead: this is a speed-up, never a requirement.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .models import cache_dir

log = logging.getLogger(__name__)

EXPORT_VERSION = 2  # bump when the export settings change, so old copies are not reused
OPSET = 17
Forward = Callable[[np.ndarray], np.ndarray]


def onnx_available() -> bool:
    try:
        import onnx  # noqa: F401 - writes the copies
        import onnxruntime  # noqa: F401 - runs them
    except ImportError:
        return False
    return True


class OnnxTwins:
    """A forward function that runs each input shape through its own cached ONNX copy of ``module``."""

    def __init__(self, source: Path, module: Any, names: dict[int, str], stride: int, fallback: Forward) -> None:
        self.source, self.module, self.names, self.stride, self.fallback = source, module, names, stride, fallback
        self._digest: str | None = None
        self._sessions: dict[tuple[int, int], Any] = {}
        self._lock = threading.Lock()

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        height, width = batch.shape[2:]
        session = self._session((int(height), int(width)))
        if session is None:
            return self.fallback(batch)
        return np.asarray(session.run(None, {"images": np.ascontiguousarray(batch, np.float32)})[0])

    def _session(self, shape: tuple[int, int]) -> Any:
        with self._lock:
            if shape not in self._sessions:
                self._sessions[shape] = self._load(shape)
            return self._sessions[shape]

    def _load(self, shape: tuple[int, int]) -> Any:
        try:
            import onnxruntime as ort

            if self._digest is None:
                self._digest = _sha256(self.source)[:16]
            height, width = shape
            path = cache_dir() / "onnx" / f"{self.source.stem}-{self._digest}-{height}x{width}-v{EXPORT_VERSION}.onnx"
            if not path.is_file():
                _export(self.module, self.names, self.stride, shape, path)
                log.info("made an ONNX copy of %s for %d x %d inputs: %s", self.source.name, width, height, path)
            return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - any failure falls back to PyTorch for this shape
            log.warning("no ONNX copy of %s for %s inputs (%s: %s); running it with PyTorch",
                        self.source.name, shape, type(exc).__name__, exc)
            return None


def _export(module: Any, names: dict[int, str], stride: int, shape: tuple[int, int], target: Path) -> None:
    import onnx
    import torch

    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    os.close(handle)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer and exporter deprecation notices
            torch.onnx.export(module, torch.zeros(1, 3, *shape), temporary, input_names=["images"],
                              output_names=["output0"], opset_version=OPSET, dynamo=False,
                              dynamic_axes={"images": {0: "batch"}, "output0": {0: "batch"}})
        model = onnx.load(temporary)
        for key, value in {"names": str(names), "stride": str(stride), "imgsz": str(list(shape)),
                           "description": "trapblur's ONNX copy of an Ultralytics model"}.items():
            entry = model.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.save(model, temporary)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
