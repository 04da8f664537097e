"""Offline detection of people, animals and vehicles, producing MegaDetector batch results.

Public entry points (re-exported from :mod:`trapblur`): :func:`detect`, :func:`anonymise`,
:func:`list_models`, :func:`fetch_model`, :func:`check_detection`, and the :class:`ModelInfo` /
:class:`ModelError` records.
Torch, Ultralytics and onnxruntime are imported only when a model is loaded (extra ``trapblur[detect]``).
"""

from .anonymise import anonymise
from .fetch import FetchError, fetch_model
from .models import ModelError, ModelInfo, ModelSpec, cache_dir, list_models, resolve_model
from .readiness import check_detection
from .runner import detect

__all__ = [
    "FetchError",
    "ModelError",
    "ModelInfo",
    "ModelSpec",
    "anonymise",
    "cache_dir",
    "check_detection",
    "detect",
    "fetch_model",
    "list_models",
    "resolve_model",
]
