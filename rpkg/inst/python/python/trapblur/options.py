"""What to hide and how strongly: the user's choices, checked once, in one record.

Defaults and why
----------------
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

import math
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping, Sequence, Union

from .errors import OptionsError

Shape = Literal["rectangle", "ellipse"]
Method = Literal["gaussian", "pixelate", "fill"]
SHAPES: tuple[str, ...] = ("rectangle", "ellipse")
METHODS: tuple[str, ...] = ("gaussian", "pixelate", "fill")
DEFAULT_THRESHOLD = 0.1
MAX_STRENGTH = 10.0
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
        _check_number("strength", self.strength, low=0.0, high=MAX_STRENGTH, low_open=True)
        _check_number("padding", self.padding, low=0.0, high=1.0)
        _check_number("edge_snap", self.edge_snap, low=0.0, high=0.25)
        _check_choice("shape", self.shape, SHAPES)
        _check_choice("method", self.method, METHODS)

    def threshold_for(self, category: str) -> float:
        return self.thresholds[category]

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
        names.append(name.strip().lower())
    return tuple(dict.fromkeys(names))


def _check_thresholds(threshold: Any, categories: tuple[str, ...]) -> dict[str, float]:
    if isinstance(threshold, Mapping):
        given = {str(k).strip().lower(): v for k, v in threshold.items()}
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
) -> None:
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    too_low = is_number and (value <= low if low_open else value < low)
    if not is_number or too_low or value > high:
        bound = f"greater than {low:g}" if low_open else f"at least {low:g}"
        raise OptionsError(f"{name} must be a number {bound} and at most {high:g}, not {value!r}",
                           argument=name.split()[0])


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise OptionsError(f"{name} must be one of {', '.join(choices)}, not {value!r}", argument=name)
