"""Share a shareable folder onward: Zooniverse subject sets and Camtrap DP packages.

Both read the folder ``trapblur blur`` / ``trapblur run`` wrote (:mod:`.share`) and never the originals.
"""

from .camtrap_dp import CamtrapExport, export_camtrap_dp
from .camtrap_package import CamtrapPackage, read_package
from .share import Share, SharedImage, read_share
from .zooniverse import ZooniverseExport, ZooniverseOptions, export_zooniverse

__all__ = [
    "CamtrapExport",
    "CamtrapPackage",
    "Share",
    "SharedImage",
    "ZooniverseExport",
    "ZooniverseOptions",
    "export_camtrap_dp",
    "export_zooniverse",
    "read_package",
    "read_share",
]
