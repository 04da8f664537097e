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
