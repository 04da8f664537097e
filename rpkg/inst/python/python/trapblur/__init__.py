"""trapblur: blur people in camera-trap images before sharing a dataset.

The public API is small: :func:`blur_dataset` for a folder, :func:`blur_image` for one image's bytes,
:func:`read_results` / :func:`write_results` for MegaDetector files, :func:`export_zooniverse` and
:func:`export_camtrap_dp` to share the blurred folder onward, :func:`connect_cluster` to run on a Dask
cluster (``client=``), and the records they use.
"""

from ._version import __version__
from .cluster import connect as connect_cluster
from .detection import ModelError, ModelInfo, anonymise, detect, fetch_model, list_models
from .errors import (
    ClusterError,
    CorrectionsFormatError,
    ExportError,
    ImageError,
    OptionsError,
    OutputFolderError,
    PackageFormatError,
    PreviewError,
    ResultsFormatError,
    TrapblurError,
    TrapblurWarning,
    WeakBlurWarning,
)
from .example import ExampleDataset, make_example_dataset
from .export import CamtrapExport, ZooniverseExport, export_camtrap_dp, export_zooniverse
from .options import BlurOptions
from .pipeline import blur_dataset
from .report import ImageResult, RunReport
from .results import Detection, ImageEntry, Results, read_results, write_results
from .review import ReviewPage, review
from .single import blur_image

__all__ = [
    "BlurOptions",
    "CamtrapExport",
    "ClusterError",
    "CorrectionsFormatError",
    "Detection",
    "ExampleDataset",
    "ExportError",
    "ImageEntry",
    "ImageError",
    "ImageResult",
    "ModelError",
    "ModelInfo",
    "OptionsError",
    "OutputFolderError",
    "PackageFormatError",
    "PreviewError",
    "Results",
    "ResultsFormatError",
    "ReviewPage",
    "RunReport",
    "TrapblurError",
    "TrapblurWarning",
    "WeakBlurWarning",
    "ZooniverseExport",
    "__version__",
    "anonymise",
    "blur_dataset",
    "blur_image",
    "connect_cluster",
    "detect",
    "export_camtrap_dp",
    "export_zooniverse",
    "fetch_model",
    "list_models",
    "make_example_dataset",
    "read_results",
    "review",
    "write_results",
]
