"""Exceptions trapblur raises for problems in what the user gave it.

Every message names the file (and, where there is one, the image entry or option) and says what is wrong,
so that the command line and the R package can show it as it is.
"""

from __future__ import annotations


class TrapblurError(Exception):
    """Base class of every error trapblur raises on purpose."""


class OptionsError(TrapblurError, ValueError):
    """An argument is out of range or of the wrong kind (for example a threshold of 2)."""


class ResultsFormatError(TrapblurError):
    """A results file is missing, is not JSON, or does not follow the MegaDetector batch-output format."""


class OutputFolderError(TrapblurError):
    """The output folder cannot be used: it overlaps the input, or holds a run made with other settings."""


class ImageError(TrapblurError):
    """One image cannot be read, decoded, edited or written. The batch withholds it and goes on."""


class ResultsMismatchError(OptionsError):
    """The results file does not describe the image folder: not one image in it is listed."""


class CorrectionsFormatError(TrapblurError):
    """A reviewer's corrections file is missing, unreadable, or lacks the columns it needs.

    Problems in single rows (an unknown image, a box out of range) do not raise: they are reported per row.
    """


class ExportError(TrapblurError):
    """An export cannot run: the shareable folder is not a finished trapblur output, or the destination is unusable."""


class PackageFormatError(ExportError):
    """A Camtrap DP package is missing, unreadable or not valid: the message names the file, row and field."""


class ClusterError(TrapblurError):
    """A run on a Dask cluster cannot go on: no scheduler or workers, a worker that cannot see the image or
    output folder (no shared storage), or the connection lost. What was finished is in the journal: running
    the same command again resumes."""


class TaskFailed(Exception):
    """A task of many images could not run on the cluster (its workers kept dying, or it raised): every
    image in it is reported failed with this reason and nothing of it is left in the output.

    Not a :class:`TrapblurError`: the batch never lets it out, it becomes the images' rows."""
