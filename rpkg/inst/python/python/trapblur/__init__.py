"""trapblur: blur people in camera-trap images before sharing a dataset.

The public API is small: :func:`blur_dataset` for a folder, :func:`blur_image` for one image's bytes,
:func:`read_results` / :func:`write_results` for MegaDetector files, and the records they use.
"""

from ._version import __version__
from .detection import ModelError, ModelInfo, anonymise, detect, fetch_model, list_models
from .errors import ImageError, OptionsError, OutputFolderError, ResultsFormatError, TrapblurError
from .example import ExampleDataset, make_example_dataset
from .options import BlurOptions
from .pipeline import blur_dataset
from .report import ImageResult, RunReport
from .results import Detection, ImageEntry, Results, read_results, write_results
from .single import blur_image

__all__ = [
    "BlurOptions",
    "Detection",
    "ExampleDataset",
    "ImageEntry",
    "ImageError",
    "ImageResult",
    "ModelError",
    "ModelInfo",
    "OptionsError",
    "OutputFolderError",
    "Results",
    "ResultsFormatError",
    "RunReport",
    "TrapblurError",
    "__version__",
    "anonymise",
    "blur_dataset",
    "blur_image",
    "detect",
    "fetch_model",
    "list_models",
    "make_example_dataset",
    "read_results",
    "write_results",
]
