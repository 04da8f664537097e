"""Blur the people in a camera-trap folder from Python, then look at what was withheld.

Run it as it is to try it on the example dataset; change the three paths for your own data.
"""

import logging

import trapblur

logging.basicConfig(level=logging.INFO)

example = trapblur.make_example_dataset("example_output")  # your own: a folder and its MegaDetector JSON
report = trapblur.blur_dataset(
    example.images,
    example.results,
    "example_output/shareable_from_python",
    threshold=0.1,  # blur detections with conf >= 0.1
    strength=1.0,  # 2.0 blurs twice as strongly
    categories=["person", "vehicle"],
)
print(report.summary())
for row in report.images():
    if row.action in ("withheld", "failed"):
        print(f"{row.input}: {row.action} ({row.reason})")
