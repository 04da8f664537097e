"""trapblur: blur people in camera-trap images before sharing a dataset."""

from .errors import ImageError, OptionsError, OutputFolderError, ResultsFormatError, TrapblurError
from .results import Detection, ImageEntry, Results, read_results, write_results

__version__ = "0.1.0"

__all__ = [
    "Detection",
    "ImageEntry",
    "ImageError",
    "OptionsError",
    "OutputFolderError",
    "Results",
    "ResultsFormatError",
    "TrapblurError",
    "read_results",
    "write_results",
]
