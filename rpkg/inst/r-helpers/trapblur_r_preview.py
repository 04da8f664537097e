"""Small upright PNG copies of images, for the R package's preview_blur().

R's png package reads PNG but applies no EXIF orientation and cannot decode a 12 MP JPEG at reduced size;
Pillow does both. The copies go to a temporary folder R chooses, never beside the images or into the
shareable folder. Part of the R package (not of the Python core).
"""

from __future__ import annotations

from PIL import Image, ImageOps


def render(source: str, target: str, max_size: int) -> list[int] | str:
    """Write ``source`` upright, at most ``max_size`` px on its longer side, as a PNG at ``target``.

    Returns [width, height] of the copy, or the reason it cannot be shown.
    """
    try:
        with Image.open(source) as image:
            image.draft("RGB", (max_size, max_size))  # JPEG: decode at 1/2, 1/4 or 1/8 size
            upright = ImageOps.exif_transpose(image)
            picture = upright.convert("RGB")
        picture.thumbnail((max_size, max_size))
        picture.save(target, format="PNG")
        return [picture.width, picture.height]
    except Exception as exc:  # noqa: BLE001 - a preview of a broken file says so instead of stopping
        return f"{type(exc).__name__}: {exc}"
