"""How a run's images are cut into Dask tasks: consecutive images in folder order, a task per folder, bounded.

Why tasks of many images: the scheduler spends on the order of a millisecond per task (see
``benchmarks/bench_cluster.py``), while copying an image takes 1-4 ms and blurring one 20-200 ms. One task
per image would make the scheduler the bottleneck at a million images; a task of a few hundred makes its
cost a fraction of a percent, and still leaves thousands of tasks to balance across workers.

The rule (:class:`TaskSize`): a task holds consecutive images of one folder, at most ``images`` of them
and at most ``bytes`` of input; a folder with more is split. Small folders are packed together: a task
that holds fewer than ``pack_below`` images when its folder ends takes the next folder's images too, so a
dataset of many tiny folders does not become one task per folder. The byte bound keeps a task's duration
(and what a killed worker's rerun costs) bounded when images are large: 256 MiB is about 40 12-megapixel
JPEGs. Everything here is pure: the driver feeds it (folder, size) pairs and it says where tasks end.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from ..errors import OptionsError


@dataclass(frozen=True)
class TaskSize:
    """The bounds of one task. ``images`` and ``bytes`` are maxima; ``pack_below`` (see module docs)."""

    images: int = 256
    bytes: int = 256 * 2**20
    pack_below: int = 64

    def __post_init__(self) -> None:
        for name in ("images", "bytes", "pack_below"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise OptionsError(f"task size: {name} must be a whole number of at least 1, not {value!r}")


class TaskCutter:
    """Says, image by image, whether the image starts a new task (see the module docs for the rule)."""

    def __init__(self, size: TaskSize) -> None:
        self.size = size
        self._folder: str | None = None
        self._images = 0
        self._bytes = 0

    def starts_task(self, relative: str, nbytes: int) -> bool:
        """True when the image ``relative`` (POSIX path in the image folder) of ``nbytes`` must open a new
        task; either way it is counted in the task it belongs to."""
        folder = posixpath.dirname(relative)
        new = self._images == 0 or (
            self._images >= self.size.images
            or self._bytes + nbytes > self.size.bytes
            or (folder != self._folder and self._images >= self.size.pack_below)
        )
        if new:
            self._images, self._bytes = 0, 0
        self._folder = folder
        self._images += 1
        self._bytes += max(0, nbytes)
        return new
