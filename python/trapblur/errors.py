"""Exceptions trapblur raises for problems in what the user gave it.

Every message names the file (and, where there is one, the image entry or option) and says what is wrong,
so that the command line and the R package can show it as it is.
"""

from __future__ import annotations

import errno


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
