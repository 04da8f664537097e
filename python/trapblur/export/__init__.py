"""Share a shareable folder onward: Zooniverse subject sets and Camtrap DP packages.

Both read the folder ``trapblur blur`` / ``trapblur run`` wrote (:mod:`.share`) and never the originals.
"""

from .share import Share, SharedImage, read_share
from .zooniverse import ZooniverseExport, ZooniverseOptions, export_zooniverse

__all__ = [
    "Share",
    "SharedImage",
    "ZooniverseExport",
    "ZooniverseOptions",
    "export_zooniverse",
    "read_share",
]
