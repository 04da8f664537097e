"""Boxes to pixel regions: padding, edge snapping and EXIF orientation."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageOps

from trapblur import BlurOptions, OptionsError
from trapblur.regions import padded_box, regions_to_hide, select_detections, to_pixels, upright_to_stored
from trapblur.results import Detection


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_mapping_agrees_with_pillow_exif_transpose(orientation: int) -> None:
    # Mark a stored-frame rectangle, let Pillow rotate the image upright, find the mark there, and check
    # that mapping the upright box back lands on the stored mark.
    stored_w, stored_h = 60, 40
    stored = np.zeros((stored_h, stored_w), np.uint8)
    stored[5:15, 10:30] = 255
    exif = Image.Exif()
    exif[0x0112] = orientation
    image = Image.fromarray(stored)
    image.info["exif"] = exif.tobytes()
    image.getexif()[0x0112] = orientation
    upright = np.asarray(ImageOps.exif_transpose(image))
    ys, xs = np.nonzero(upright)
    up_h, up_w = upright.shape
    box = (xs.min() / up_w, ys.min() / up_h, (xs.max() + 1) / up_w, (ys.max() + 1) / up_h)
    mapped = to_pixels(upright_to_stored(box, orientation), stored_w, stored_h)
    assert (mapped.x0, mapped.y0, mapped.x1, mapped.y1) == (10, 5, 30, 15)


def test_padding_grows_each_side_and_snaps_to_the_frame_edge() -> None:
    assert padded_box((0.4, 0.4, 0.2, 0.2), padding=0.1, edge_snap=0.0) == pytest.approx((0.38, 0.38, 0.62, 0.62))
    # A box stopping 2% short of the left edge (B012's) is extended to it.
    x0, _, _, y1 = padded_box((0.02, 0.677, 0.33, 0.319), padding=0.0, edge_snap=0.02)
    assert x0 == 0.0 and y1 == 1.0


def test_threshold_is_inclusive_and_per_category() -> None:
    detections = [Detection("person", 0.1, (0, 0, 0.1, 0.1)), Detection("person", 0.09, (0, 0, 0.1, 0.1)),
                  Detection("vehicle", 0.25, (0, 0, 0.1, 0.1)), Detection("animal", 0.99, (0, 0, 0.1, 0.1))]
    chosen = select_detections(detections, BlurOptions(threshold=0.1))
    assert [d.conf for d in chosen] == [0.1]
    options = BlurOptions(threshold={"person": 0.05, "vehicle": 0.3}, categories=["person", "vehicle"])
    assert [d.category for d in select_detections(detections, options)] == ["person", "person"]


def test_sigma_scales_with_the_box() -> None:
    options = BlurOptions(padding=0.0, strength=1.0)
    small, = regions_to_hide([Detection("person", 0.9, (0.1, 0.1, 0.05, 0.1))], options, 1000, 1000)
    large, = regions_to_hide([Detection("person", 0.9, (0.1, 0.1, 0.4, 0.8))], options, 1000, 1000)
    assert small.sigma == pytest.approx(100 / 8)
    assert large.sigma == pytest.approx(800 / 8)
    double, = regions_to_hide([Detection("person", 0.9, (0.1, 0.1, 0.4, 0.8))], BlurOptions(padding=0.0, strength=2), 1000, 1000)
    assert double.sigma == pytest.approx(2 * large.sigma)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"threshold": 2}, "threshold for person must be a number at least 0 and at most 1, not 2"),
        ({"threshold": -0.1}, "at least 0"),
        ({"strength": 0}, "strength must be a number greater than 0"),
        ({"strength": 11}, "at most 10"),
        ({"padding": 1.5}, "padding must be"),
        ({"shape": "circle"}, "shape must be one of rectangle, ellipse, not 'circle'"),
        ({"method": "blur"}, "method must be one of gaussian, pixelate, fill"),
        ({"categories": []}, "categories must be a non-empty list"),
        ({"threshold": {"vehicle": 0.2}}, "threshold is given for vehicle, which is not among the categories"),
        ({"threshold": True}, "not True"),
    ],
)
def test_bad_options_are_refused_with_a_clear_message(kwargs: dict, message: str) -> None:
    with pytest.raises(OptionsError, match=message.replace("(", r"\(").replace(")", r"\)")):
        BlurOptions(**kwargs)
