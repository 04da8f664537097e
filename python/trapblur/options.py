"""What to hide and how strongly: the user's choices, checked once, in one record.

Defaults and why
----------------
* ``categories = ("person",)``: names are read through :mod:`trapblur.categories`, so ``people``,
  ``Humans`` or ``homo sapiens`` mean ``person`` and ``cars`` means ``vehicle``; the batch then refuses a
  category the results file does not define (see :func:`trapblur.categories.check_defined`).
* ``threshold = 0.1``: a detection is hidden when ``conf >= threshold``. MegaDetector v5 recommends 0.2 as
  its *typical* threshold and 0.05 as its *conservative* one. A privacy tool should err towards blurring:
  a missed person cannot be un-shared, an animal blurred by mistake can be re-checked. 0.1 sits between
  the two. Use 0.05 (or lower) for public releases, 0.2 if false alarms on animals cost you too much.
* ``strength = 1.0``: the Gaussian's sigma is ``strength x longest side of the padded box / 8``, so the
  blur scales with the person: a hiker 80 px tall gets sigma 10 px, a face filling the frame sigma in the
  hundreds. At 1.0, faces, clothing patterns and body shape details are gone; the silhouette remains a blob.
  ``pixelate`` uses cells of ``2 x sigma``; ``fill`` paints the region black whatever the strength.
* ``padding = 0.1``: each box grows by 10% of its width on the left and right and 10% of its height on top
  and bottom, because detector boxes are often a few percent tight (hair, elbows, feet).
* ``edge_snap = 0.02``: a padded box that stops within 2% of the frame's edge is extended to the edge, so
  that a person cut by the frame is blurred to the edge even when the detector's box stops short.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping, Sequence, Union

from .categories import canonical_category, requested_category
from .checks import check_number
from .errors import OptionsError, WeakBlurWarning

Shape = Literal["rectangle", "ellipse"]
Method = Literal["gaussian", "pixelate", "fill"]
SHAPES: tuple[str, ...] = ("rectangle", "ellipse")
METHODS: tuple[str, ...] = ("gaussian", "pixelate", "fill")
DEFAULT_THRESHOLD = 0.1
MAX_STRENGTH = 10.0
PRIVACY_GRADE_STRENGTH = 1.0
ThresholdArg = Union[float, Mapping[str, float]]


@dataclass(frozen=True)
class BlurOptions:
    """The policy for one run. Build it with keyword arguments; it checks every value."""

    threshold: ThresholdArg = DEFAULT_THRESHOLD
    strength: float = 1.0
    categories: Sequence[str] = ("person",)
    padding: float = 0.1
    shape: str = "rectangle"
    method: str = "gaussian"
    edge_snap: float = 0.02
    thresholds: Mapping[str, float] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        categories = _check_categories(self.categories)
        object.__setattr__(self, "categories", categories)
        object.__setattr__(self, "thresholds", _check_thresholds(self.threshold, categories))
        for name, low, high, low_open in (("strength", 0.0, MAX_STRENGTH, True), ("padding", 0.0, 1.0, False),
                                          ("edge_snap", 0.0, 0.25, False)):
            # Plain floats from here on, whatever number type was given (NumPy scalars from R or numpy).
            object.__setattr__(self, name, _check_number(name, getattr(self, name), low=low, high=high,
                                                         low_open=low_open))
        if self.strength < PRIVACY_GRADE_STRENGTH:
            warnings.warn(weak_blur_message(self.strength), WeakBlurWarning, stacklevel=3)
        _check_choice("shape", self.shape, SHAPES)
        _check_choice("method", self.method, METHODS)

    def threshold_for(self, category: str) -> float:
        return self.thresholds[canonical_category(category)]

    def describe(self) -> dict[str, Any]:
        """Plain values that define the output's pixels; a re-run must match them to resume."""
        return {
            "thresholds": dict(sorted(self.thresholds.items())),
            "strength": float(self.strength),
            "padding": float(self.padding),
            "shape": self.shape,
            "method": self.method,
            "edge_snap": float(self.edge_snap),
        }


def _check_categories(categories: Any) -> tuple[str, ...]:
    if isinstance(categories, str):
        categories = [categories]
    if not isinstance(categories, Sequence) or not categories:
        raise OptionsError("categories must be a non-empty list of category names, like ['person']",
                           argument="categories")
    names = []
    for name in categories:
        if not isinstance(name, str) or not name.strip():
            raise OptionsError(f"categories must be names like 'person' or 'vehicle', got {name!r}",
                               argument="categories")
        names.append(requested_category(name, "categories"))
    return tuple(dict.fromkeys(names))


def _check_thresholds(threshold: Any, categories: tuple[str, ...]) -> dict[str, float]:
    if isinstance(threshold, Mapping):
        given: dict[str, Any] = {}
        for key, value in threshold.items():
            name = requested_category(str(key), "threshold")
            if name in given and given[name] != value:
                raise OptionsError(
                    f"two thresholds are given for {name} ({given[name]!r} and {value!r}, the second as "
                    f"{str(key)!r}); give one", argument="threshold",
                )
            given[name] = value
        unknown = sorted(set(given) - set(categories))
        if unknown:
            raise OptionsError(
                f"a threshold is given for {', '.join(unknown)}, which is not among the categories to blur "
                f"({', '.join(categories)}); add it to categories or remove its threshold",
                argument="threshold",
            )
        thresholds = {c: given.get(c, DEFAULT_THRESHOLD) for c in categories}
    else:
        thresholds = {c: threshold for c in categories}
    for category, value in thresholds.items():
        _check_number(f"threshold for {category}", value, low=0.0, high=1.0)
    return {c: float(v) for c, v in thresholds.items()}


def _check_number(
    name: str, value: Any, *, low: float, high: float, low_open: bool = False
) -> float:
    return check_number(name, value, low=low, high=high, low_open=low_open)


def weak_blur_message(strength: float) -> str:
    return (
        f"strength {strength:g} is weaker than the privacy-grade default of {PRIVACY_GRADE_STRENGTH:g}: weak blurs "
        "can be undone by learned models, so faces and clothing may stay recognisable; use 1 or more for "
        "shared data"
    )


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise OptionsError(f"{name} must be one of {', '.join(choices)}, not {value!r}", argument=name)
