"""Can :func:`trapblur.detect` run here? Checked without loading a model, so that front ends can say so
truthfully (``trapblur_available(detection = TRUE)`` in R) in a second or two instead of guessing from
which functions exist.
"""

from __future__ import annotations

import importlib
import os

from .models import ModelError, ModelInfo, resolve_model


def modules_needed(info: ModelInfo) -> tuple[str, ...]:
    """The Python modules the back end for ``info``'s weights imports."""
    assert info.path is not None
    if info.path.suffix.lower() == ".onnx":
        return ("onnxruntime",)
    if info.spec is not None and info.spec.family == "ultralytics":
        return ("torch", "ultralytics")
    return ("torch",)


def check_detection(model: str | os.PathLike[str] | None = None) -> ModelInfo:
    """The model ``detect(model=model)`` would use, after checking that its weights file is on this machine
    and that the modules its back end needs import. Raises :class:`ModelError` saying what is missing.
    Nothing is downloaded and the weights are not loaded.
    """
    info = resolve_model(model)
    for name in modules_needed(info):
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - a broken install raises more than ImportError
            raise ModelError(
                f"model {info.name!r} ({info.path}) needs the Python module {name}, which cannot be imported "
                f"({type(exc).__name__}: {exc}); install the detection packages: `pip install 'trapblur[detect]'`"
            ) from None
    return info
