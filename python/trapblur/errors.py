"""Exceptions trapblur raises for problems in what the user gave it.

Every message names the file (and, where there is one, the image entry or option) and says what is wrong,
so that the command line and the R package can show it.

How messages name settings
--------------------------
The library speaks Python: a message (or a report reason) that suggests a setting spells it as the keyword
argument, ``overwrite=True``, ``copy_unlisted=True``, ``resume=False``, and a function as
``trapblur.fetch_model('md-v5a')``; installing packages as ``pip install ...``. It never spells command-line
flags. Each front end re-spells these for its own users with one rule, not per message: the CLI as
``--overwrite`` / ``--no-resume`` / ``trapblur models fetch md-v5a`` (:func:`trapblur.cli.common.for_cli`),
the R package as ``overwrite = TRUE`` / ``fetch_model("md-v5a")`` / ``install_trapblur()``. An
:class:`OptionsError` also carries the keyword argument it is about in ``argument``, for front ends to map
to their own argument names.
"""

from __future__ import annotations

import errno


class TrapblurError(Exception):
    """Base class of every error trapblur raises on purpose."""


class OptionsError(TrapblurError, ValueError):
    """An argument is out of range or of the wrong kind (for example a threshold of 2).

    ``argument`` is the keyword argument's name (``"threshold"``) when the problem is about one.
    """

    def __init__(self, message: str, *, argument: str | None = None) -> None:
        super().__init__(message)
        self.argument = argument


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


class PreviewError(ImageError):
    """An image embedded in the metadata (a thumbnail, a preview) could not be proved re-rendered or removed.

    It may still show the person unblurred, so the image is withheld rather than written.
    """


class TrapblurWarning(UserWarning):
    """Base class of the warnings trapblur gives (the command line shows them as one line on stderr)."""


class WeakBlurWarning(TrapblurWarning):
    """A blur ``strength`` below 1.0: weaker than the privacy-grade default."""


_OS_ERROR_HINTS = {
    "EACCES": "permission denied (is the folder read-only, or owned by someone else?)",
    "EPERM": "operation not permitted (is the folder read-only or locked?)",
    "EROFS": "the file system is read-only",
    "ENOSPC": "no space left on the disk",
    "EDQUOT": "disk quota exceeded",
    "EFBIG": "file too large for this file system or over the file-size limit",
    "ENAMETOOLONG": "file name too long for this file system",
    "ENOTDIR": "a part of the path is a file, not a folder",
    "EISDIR": "it is a folder, not a file",
    "ENOENT": "no such file or folder",
    "EEXIST": "something with that name already exists",
    "EIO": "input/output error (a failing disk or a disconnected card or share?)",
}


def os_error_reason(exc: OSError) -> str:
    """What went wrong, in words a user can act on, without the path (callers name the path)."""
    name = errno.errorcode.get(exc.errno or -1, "")
    return _OS_ERROR_HINTS.get(name) or (exc.strerror or str(exc)).rstrip(".").lower()


class ClusterError(TrapblurError):
    """A run on a Dask cluster cannot go on: no scheduler or workers, a worker that cannot see the image or
    output folder (no shared storage), or the connection lost. What was finished is in the journal: running
    the same command again resumes."""


class TaskFailed(Exception):
    """A task of many images could not run on the cluster (its workers kept dying, or it raised): every
    image in it is reported failed with this reason and nothing of it is left in the output.

    Not a :class:`TrapblurError`: the batch never lets it out, it becomes the images' rows."""
