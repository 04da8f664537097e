"""Save a side-by-side picture of an image before and after trapblur (for the README and the quick start).

Usage: python examples/before_after.py ORIGINAL.jpg BLURRED.jpg OUT.jpg
"""

import sys

import cv2
import numpy as np
from PIL import Image, ImageOps


def upright(path: str) -> np.ndarray:
    return np.asarray(ImageOps.exif_transpose(Image.open(path)).convert("RGB"))


def main(original: str, blurred: str, out: str, width: int = 1000) -> None:
    pair = np.hstack([upright(original), np.full((upright(original).shape[0], 12, 3), 255, np.uint8), upright(blurred)])
    scale = width / pair.shape[1]
    small = cv2.resize(pair, (width, int(pair.shape[0] * scale)), interpolation=cv2.INTER_AREA)
    Image.fromarray(small).save(out, quality=85)
    print(f"before | after: {out}")


if __name__ == "__main__":
    main(*sys.argv[1:4])
