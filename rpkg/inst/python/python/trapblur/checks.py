"""Argument checks for every public entry point: one function per kind of value, one message style.

Callers are Python code, the command line and R (through reticulate, whose numbers may arrive as NumPy
scalars). Each function returns the value in a plain Python type or raises :class:`OptionsError` naming the
argument and what was given. Truthiness is never trusted: ``copy_unlisted="false"`` is an error, not True.
"""

from __future__ import annotations

import inspect
import math
import numbers
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .errors import OptionsError


def _is_real(value: Any) -> bool:
    # numbers.Real covers float, int, fractions and NumPy's float/int scalars; bool (and numpy.bool_,
    # which is not registered) are flags, not numbers.
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def check_number(name: str, value: Any, *, low: float, high: float, low_open: bool = False) -> float:
    """A finite number in [low, high] (or (low, high] with ``low_open``), as a float."""
    ok = _is_real(value) and (value > low if low_open else value >= low) and value <= high
    if not ok:
        bound = f"greater than {low:g}" if low_open else f"at least {low:g}"
        raise OptionsError(f"{name} must be a number {bound} and at most {high:g}, not {value!r}",
                           argument=_argument(name))
    return float(value)


def check_whole(name: str, value: Any, *, low: int = 1, none_means: str | None = None) -> int | None:
    """A whole number >= ``low`` as an int; None is allowed when ``none_means`` says what it means."""
    if value is None and none_means is not None:
        return None
    if not (isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= low):
        alternative = f" or None ({none_means})" if none_means is not None else ""
        raise OptionsError(f"{name} must be a whole number of at least {low}{alternative}, not {value!r}",
                           argument=_argument(name))
    return int(value)


def check_flag(name: str, value: Any) -> bool:
    """True or False (NumPy's bool too), never a string or a number standing for one."""
    if isinstance(value, bool):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    raise OptionsError(f"{name} must be True or False, not {value!r}", argument=_argument(name))


def check_path(name: str, value: Any, *, none_ok: bool = False) -> Path | None:
    """A file-system path given as a str or os.PathLike of str, as a Path."""
    if value is None and none_ok:
        return None
    if isinstance(value, (str, os.PathLike)):
        text = os.fspath(value)
        if isinstance(text, str) and text:
            return Path(text)
    if value is None:
        what = "None"
    elif isinstance(value, (str, bytes)) and not value:
        what = "an empty path"
    else:
        what = f"{type(value).__name__} {value!r}"
    extra = " (decode bytes with os.fsdecode() first)" if isinstance(value, bytes) else ""
    allowed = " or None" if none_ok else ""
    raise OptionsError(f"{name} must be a path (a str or pathlib.Path){allowed}, not {what}{extra}",
                       argument=_argument(name))


def check_text(name: str, value: Any, *, none_ok: bool = False) -> str | None:
    """A non-empty string (None allowed with ``none_ok``)."""
    if value is None and none_ok:
        return None
    if isinstance(value, str) and value.strip():
        return value
    raise OptionsError(f"{name} must be a non-empty string{' or None' if none_ok else ''}, not {value!r}",
                       argument=_argument(name))


def check_callback(name: str, value: Any) -> Callable[..., Any] | None:
    """None, or something that can be called with two numbers (a progress callback): a function that
    cannot take them would fail after the first image, not here."""
    if value is None:
        return value
    if callable(value):
        try:
            inspect.signature(value).bind(0, 0)
        except TypeError:
            pass  # cannot take (done, total): refused below
        except ValueError:
            return value  # no signature to check (some built-ins, foreign wrappers): called as it is
        else:
            return value
    raise OptionsError(f"{name} must be a function called as {name}(done, total), or None, not {value!r}",
                       argument=_argument(name))


def _argument(name: str) -> str:
    """The keyword argument a checked value belongs to ("threshold for person" -> "threshold")."""
    return name.split()[0]
